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

    /// Whether the store is the server `scripts/s3` runs here (not one named by
    /// `TIDEMILL_S3_ENDPOINT`), which a test may stop and start.
    pub fn is_local() -> bool {
        std::env::var_os("TIDEMILL_S3_ENDPOINT").is_none()
    }

    /// Stops the local server (`scripts/s3 stop`); it keeps its data. The returned
    /// guard starts it again when dropped, also when the test panics, so that the
    /// tests after it find a store.
    pub fn stop_local() -> Outage {
        run_script("stop");
        Outage { started: false }
    }
}

/// The local S3 server stopped by [`S3Store::stop_local`].
#[derive(Debug)]
pub struct Outage {
    started: bool,
}

impl Outage {
    /// Starts the server again (`scripts/s3 start`, which returns once it answers).
    pub fn end(mut self) {
        run_script("start");
        self.started = true;
    }
}

impl Drop for Outage {
    fn drop(&mut self) {
        if !self.started {
            run_script("start");
        }
    }
}

fn run_script(command: &str) {
    let out = std::process::Command::new(crate::repo_root().join("scripts/s3"))
        .arg(command)
        .output()
        .unwrap_or_else(|e| panic!("run scripts/s3 {command}: {e}"));
    assert!(out.status.success(), "scripts/s3 {command} failed: {}", String::from_utf8_lossy(&out.stderr));
}
