//! Delta tables on S3-compatible stores, committed with conditional writes.
//!
//! deltalake's own S3 support (the `s3` feature, crate `deltalake-aws`) brings the
//! AWS SDK with DynamoDB and STS, for a commit lock that S3 no longer needs: since
//! 2024 S3 (and SeaweedFS, MinIO, R2) honour `If-None-Match: *`, so a commit file
//! `_delta_log/<version>.json` written with `PutMode::Create` is created by exactly
//! one writer and every other writer of that version is refused and retries on the
//! next. deltalake's default log store already commits that way; all it lacks is a
//! way to open `s3://` URLs. This module registers one, built on the `object_store`
//! S3 client the checkpoint store uses, configured by the standard `AWS_*`
//! variables. See docs/object-storage.md.

use std::sync::{Arc, Once};

use deltalake::logstore::{
    default_logstore, logstore_factories, object_store_factories, LogStore, LogStoreFactory, ObjectStoreFactory,
    ObjectStoreRef, StorageConfig,
};
use deltalake::{DeltaResult, DeltaTableError, Path};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use url::Url;

/// Registers the `s3://` and `s3a://` schemes with deltalake, once per process.
/// Called before any table is opened.
pub(crate) fn register() {
    static REGISTERED: Once = Once::new();
    REGISTERED.call_once(|| {
        for scheme in ["s3://", "s3a://"] {
            let url = Url::parse(scheme).expect("a scheme URL");
            object_store_factories().insert(url.clone(), Arc::new(S3StoreFactory));
            logstore_factories().insert(url, Arc::new(ConditionalPutLogStoreFactory));
        }
    });
}

/// Opens the bucket of an `s3://bucket/prefix` URL from the `AWS_*` variables;
/// table options with `object_store` S3 keys (`aws_endpoint_url`, ...) override them.
struct S3StoreFactory;

impl ObjectStoreFactory for S3StoreFactory {
    fn parse_url_opts(&self, url: &Url, config: &StorageConfig) -> DeltaResult<(ObjectStoreRef, Path)> {
        let mut builder = AmazonS3Builder::from_env().with_url(url.as_str());
        for (key, value) in &config.raw {
            if let Ok(key) = key.to_ascii_lowercase().parse::<AmazonS3ConfigKey>() {
                builder = builder.with_config(key, value);
            }
        }
        let store = builder.build().map_err(|e| DeltaTableError::ObjectStore { source: e })?;
        let prefix = Path::from_url_path(url.path()).map_err(|e| DeltaTableError::GenericError { source: e.into() })?;
        Ok((Arc::new(store), prefix))
    }
}

/// deltalake's default log store: commit files are written with `PutMode::Create`,
/// which the S3 client sends as a conditional write.
struct ConditionalPutLogStoreFactory;

impl LogStoreFactory for ConditionalPutLogStoreFactory {
    fn with_options(
        &self,
        prefixed_store: ObjectStoreRef,
        root_store: ObjectStoreRef,
        location: &Url,
        options: &StorageConfig,
    ) -> DeltaResult<Arc<dyn LogStore>> {
        Ok(default_logstore(prefixed_store, root_store, location, options))
    }
}
