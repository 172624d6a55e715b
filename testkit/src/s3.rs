//! The tests' S3-compatible object store: the SeaweedFS server `scripts/s3 start`
//! runs (or the one `TIDEMILL_S3_ENDPOINT` names), with its credentials.

/// The variables clients of the store read (the AWS SDKs' and `object_store`'s).
const VARIABLES: [&str; 5] =
    ["AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_ALLOW_HTTP"];

/// How to reach the object store.
#[derive(Clone, Debug)]
pub struct S3Store {
    /// `AWS_*` variables and their values.
    pub env: Vec<(String, String)>,
    /// The bucket the tests use.
    pub bucket: String,
}

impl S3Store {
    /// The `AWS_*` variables of this process when `AWS_ENDPOINT_URL` is set (as
    /// `scripts/test` exports them), or what `scripts/s3 env` prints. Panics with
    /// the script's message when there is no store: a test of object storage
    /// must not pass without one.
    pub fn get() -> Self {
        if std::env::var("AWS_ENDPOINT_URL").is_ok() {
            let env = VARIABLES.iter().filter_map(|v| Some((v.to_string(), std::env::var(v).ok()?))).collect();
            let bucket = std::env::var("TIDEMILL_S3_BUCKET").unwrap_or_else(|_| "tidemill".into());
            return S3Store { env, bucket };
        }
        let mut env = crate::script_exports("s3", "env", "start one with scripts/s3 start");
        let bucket = match env.iter().position(|(name, _)| name == "TIDEMILL_S3_BUCKET") {
            Some(i) => env.remove(i).1,
            None => "tidemill".to_string(),
        };
        S3Store { env, bucket }
    }

    /// `s3://<bucket>/<prefix>`.
    pub fn url(&self, prefix: &str) -> String {
        format!("s3://{}/{}", self.bucket, prefix.trim_start_matches('/'))
    }

    /// The settings as `object_store` configuration keys (`aws_endpoint_url`, ...).
    pub fn options(&self) -> Vec<(String, String)> {
        self.env.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.clone())).collect()
    }
}
