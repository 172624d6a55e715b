//! Where a Delta table lives: a local folder, or a URL on an S3-compatible store.

use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};

use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError};
use serde::{Deserialize, Serialize};
use url::Url;

use super::s3_store;

/// The schemes a table location may have besides a plain path.
const REMOTE_SCHEMES: [&str; 2] = ["s3", "s3a"];

/// Where a Delta table lives, as a user writes it: a plain path or `file://` URL
/// for a local folder, or `s3://bucket/prefix` (also `s3a://`) for a table on an
/// S3-compatible object store, reached with the standard `AWS_*` variables.
///
/// ```
/// use tidemill_delta::TableLocation;
///
/// let local = TableLocation::parse("/data/out").unwrap();
/// assert_eq!(local.join("orders").to_string(), "/data/out/orders");
/// let remote = TableLocation::parse("s3://tidemill/out/").unwrap();
/// assert_eq!(remote.join("orders").to_string(), "s3://tidemill/out/orders");
/// assert!(TableLocation::parse("gs://bucket/out").is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum TableLocation {
    /// A folder on the local filesystem.
    Local(PathBuf),
    /// A prefix on an object store (`s3://bucket/prefix`, no trailing slash).
    Remote(Url),
}

/// Why a string is not a table location.
#[derive(Debug, thiserror::Error)]
pub enum TableLocationError {
    /// The URL's scheme is not one Tidemill writes tables to.
    #[error("{location:?}: tables are written to local paths, file:// or s3:// (s3a://) URLs, not {scheme}://")]
    UnsupportedScheme {
        /// The location as given.
        location: String,
        /// Its scheme.
        scheme: String,
    },
    /// The location looks like a URL but does not parse as one.
    #[error("{location:?} is not a valid URL")]
    BadUrl {
        /// The location as given.
        location: String,
        /// What the URL parser said.
        #[source]
        source: url::ParseError,
    },
    /// An object-store URL names no bucket.
    #[error("{location:?} names no bucket (s3://bucket/prefix)")]
    NoBucket {
        /// The location as given.
        location: String,
    },
}

impl TableLocation {
    /// Parses a plain path, a `file://` URL or an `s3://` / `s3a://` URL.
    pub fn parse(location: &str) -> Result<Self, TableLocationError> {
        let Some((scheme, rest)) = location.split_once("://") else {
            return Ok(TableLocation::Local(PathBuf::from(location)));
        };
        if scheme == "file" {
            return Ok(TableLocation::Local(PathBuf::from(rest)));
        }
        if !REMOTE_SCHEMES.contains(&scheme) {
            let scheme = scheme.to_string();
            return Err(TableLocationError::UnsupportedScheme { location: location.into(), scheme });
        }
        let trimmed = location.trim_end_matches('/');
        let url =
            Url::parse(trimmed).map_err(|source| TableLocationError::BadUrl { location: location.into(), source })?;
        if url.host_str().is_none_or(str::is_empty) {
            return Err(TableLocationError::NoBucket { location: location.into() });
        }
        Ok(TableLocation::Remote(url))
    }

    /// The location of `name` inside this one (a table under an output folder).
    pub fn join(&self, name: &str) -> TableLocation {
        match self {
            TableLocation::Local(path) => TableLocation::Local(path.join(name)),
            TableLocation::Remote(url) => {
                let mut url = url.clone();
                let path = format!("{}/{}", url.path().trim_end_matches('/'), name.trim_matches('/'));
                url.set_path(&path);
                TableLocation::Remote(url)
            }
        }
    }

    /// The table's URL for deltalake (`file://` for a local folder, whose path must
    /// be UTF-8), with the `s3://` scheme registered.
    pub fn url(&self) -> Result<Url, DeltaTableError> {
        match self {
            TableLocation::Local(path) => {
                let uri = path.to_str().ok_or_else(|| DeltaTableError::InvalidTableLocation(self.to_string()))?;
                deltalake::ensure_table_uri(uri)
            }
            TableLocation::Remote(url) => {
                s3_store::register();
                Ok(url.clone())
            }
        }
    }

    /// Loads the existing table here (reading only; nothing is created). A
    /// location without a Delta log is [`DeltaTableError::NotATable`].
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let location = tidemill_delta::TableLocation::from(dir.path());
    /// assert!(location.open().await.is_err(), "an empty folder is no table");
    /// # });
    /// ```
    pub async fn open(&self) -> Result<DeltaTable, DeltaTableError> {
        let not_a_table = || DeltaTableError::NotATable(format!("{self} holds no Delta log"));
        // Checked before making the URL, which creates a missing local folder.
        if self.local_path().is_some_and(|path| !path.join("_delta_log").is_dir()) {
            return Err(not_a_table());
        }
        let mut table = DeltaTableBuilder::from_url(self.url()?)?.build()?;
        // Loading a location without a log makes delta-kernel log an ERROR ("No
        // files in log segment"): look first.
        if !table.log_store().is_delta_table_location().await? {
            return Err(not_a_table());
        }
        table.load().await?;
        Ok(table)
    }

    /// The local folder, when the table is on the local filesystem.
    pub fn local_path(&self) -> Option<&Path> {
        match self {
            TableLocation::Local(path) => Some(path),
            TableLocation::Remote(_) => None,
        }
    }

    /// How logs and errors name the table: the canonical folder when it exists
    /// locally, else the location as given.
    pub fn shown(&self) -> String {
        match self {
            TableLocation::Local(path) => {
                std::fs::canonicalize(path).unwrap_or_else(|_| path.clone()).display().to_string()
            }
            TableLocation::Remote(url) => url.to_string(),
        }
    }
}

impl fmt::Display for TableLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TableLocation::Local(path) => write!(f, "{}", path.display()),
            TableLocation::Remote(url) => write!(f, "{url}"),
        }
    }
}

/// The location as a program argument: the path, or the URL's text (readers
/// such as `tests/python/read_delta.py` take either).
impl AsRef<OsStr> for TableLocation {
    fn as_ref(&self) -> &OsStr {
        match self {
            TableLocation::Local(path) => path.as_os_str(),
            TableLocation::Remote(url) => OsStr::new(url.as_str()),
        }
    }
}

impl From<PathBuf> for TableLocation {
    fn from(path: PathBuf) -> Self {
        TableLocation::Local(path)
    }
}

impl From<&TableLocation> for TableLocation {
    fn from(location: &TableLocation) -> Self {
        location.clone()
    }
}

impl From<&Path> for TableLocation {
    fn from(path: &Path) -> Self {
        TableLocation::Local(path.to_path_buf())
    }
}

impl From<&PathBuf> for TableLocation {
    fn from(path: &PathBuf) -> Self {
        TableLocation::Local(path.clone())
    }
}

impl TryFrom<String> for TableLocation {
    type Error = TableLocationError;

    fn try_from(location: String) -> Result<Self, Self::Error> {
        TableLocation::parse(&location)
    }
}

impl TryFrom<&str> for TableLocation {
    type Error = TableLocationError;

    fn try_from(location: &str) -> Result<Self, Self::Error> {
        TableLocation::parse(location)
    }
}

impl From<TableLocation> for String {
    fn from(location: TableLocation) -> Self {
        location.to_string()
    }
}

impl std::str::FromStr for TableLocation {
    type Err = TableLocationError;

    fn from_str(location: &str) -> Result<Self, Self::Err> {
        TableLocation::parse(location)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_and_file_urls_are_local_folders() {
        assert_eq!(TableLocation::parse("out/t").unwrap(), TableLocation::Local(PathBuf::from("out/t")));
        assert_eq!(TableLocation::parse("file:///data/t").unwrap(), TableLocation::Local(PathBuf::from("/data/t")));
        assert_eq!(TableLocation::parse("/data/t").unwrap().local_path(), Some(Path::new("/data/t")));
    }

    #[test]
    fn s3_urls_keep_bucket_and_prefix_without_a_trailing_slash() {
        for given in ["s3://bucket/a/b", "s3://bucket/a/b/", "s3a://bucket/a/b"] {
            let location = TableLocation::parse(given).unwrap();
            assert_eq!(location.local_path(), None);
            assert!(location.to_string().ends_with("://bucket/a/b"), "{given} -> {location}");
            assert!(location.join("dlq").to_string().ends_with("://bucket/a/b/dlq"));
        }
        assert_eq!(TableLocation::parse("s3://bucket").unwrap().join("t").to_string(), "s3://bucket/t");
    }

    #[test]
    fn other_schemes_and_urls_without_a_bucket_are_refused_with_the_location() {
        let gs = TableLocation::parse("gs://b/t").unwrap_err();
        assert!(matches!(&gs, TableLocationError::UnsupportedScheme { scheme, .. } if scheme == "gs"), "{gs}");
        assert!(gs.to_string().contains("gs://b/t"));
        let bucketless = TableLocation::parse("s3:///t").unwrap_err();
        assert!(matches!(bucketless, TableLocationError::NoBucket { .. }), "{bucketless}");
    }

    #[test]
    fn a_location_round_trips_through_serde_as_its_text() {
        for given in ["/data/t", "s3://bucket/t"] {
            let location = TableLocation::parse(given).unwrap();
            let json = serde_json::to_string(&location).unwrap();
            assert_eq!(json, format!("\"{given}\""));
            assert_eq!(serde_json::from_str::<TableLocation>(&json).unwrap(), location);
        }
    }
}
