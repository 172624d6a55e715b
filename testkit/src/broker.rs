//! [`PrivateBroker`]: a Kafka broker of one test's own, for faults that must not
//! touch the shared broker on 127.0.0.1:9092 (stopping it would break every
//! other test running against it in parallel).
//!
//! It is `scripts/kafka` with its own ports and state folder (`KAFKA_PORT`,
//! `KAFKA_CONTROLLER_PORT`, `KAFKA_SECURE_PORT`, `KAFKA_STATE_DIR`); the jars
//! are the shared cache's.
//! Starting one takes 6 to 10 s. It is stopped and its folder deleted when the
//! value is dropped (a test that panics included; only a test process killed
//! with SIGKILL leaves the broker running: `KAFKA_STATE_DIR=... scripts/kafka stop`).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// What went wrong with a private broker.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// No free local port, or no temporary folder.
    #[error("cannot set up a private broker: {0}")]
    Setup(#[from] std::io::Error),
    /// `scripts/kafka <command>` failed.
    #[error("scripts/kafka {command} ({bootstrap}) failed ({status}):\n{output}")]
    Script {
        /// The script's command (`start`, `stop`).
        command: &'static str,
        /// The broker's address.
        bootstrap: String,
        /// How the script exited.
        status: std::process::ExitStatus,
        /// Its stdout and stderr.
        output: String,
    },
}

/// A single-node Kafka broker (KRaft) on free local ports with a temporary state
/// folder; topics and data survive [`stop`](Self::stop) and
/// [`start_again`](Self::start_again).
#[derive(Debug)]
pub struct PrivateBroker {
    state: tempfile::TempDir,
    port: u16,
    controller_port: u16,
    /// The SASL_SSL listener's port (the script opens one on every broker).
    secure_port: u16,
}

impl PrivateBroker {
    /// Starts a broker on three free ports and waits until it answers.
    pub fn start() -> Result<Self, BrokerError> {
        let state = tempfile::Builder::new().prefix("tidemill-kafka-").tempdir()?;
        // All held at once, so that they differ; released just before the
        // broker binds them (another process could take one in between: rare,
        // and the start then fails saying so).
        let held =
            [TcpListener::bind("127.0.0.1:0")?, TcpListener::bind("127.0.0.1:0")?, TcpListener::bind("127.0.0.1:0")?];
        let [port, controller_port, secure_port] =
            [held[0].local_addr()?.port(), held[1].local_addr()?.port(), held[2].local_addr()?.port()];
        drop(held);
        let mut broker = PrivateBroker { state, port, controller_port, secure_port };
        broker.start_again()?;
        Ok(broker)
    }

    /// The bootstrap servers: `127.0.0.1:<port>`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The state folder (data, logs: `logs/server.log`).
    pub fn state_dir(&self) -> &Path {
        self.state.path()
    }

    /// Stops the broker (SIGTERM: a clean shutdown; the script waits until the
    /// process is gone). Clients see their connections close.
    pub fn stop(&mut self) -> Result<(), BrokerError> {
        self.script("stop").map(drop)
    }

    /// Starts the broker again on the same ports with the same state, and waits
    /// until it answers.
    pub fn start_again(&mut self) -> Result<(), BrokerError> {
        self.script("start").map(drop)
    }

    fn script(&self, command: &'static str) -> Result<Output, BrokerError> {
        let output = Command::new(script_path())
            .arg(command)
            .env("KAFKA_PORT", self.port.to_string())
            .env("KAFKA_CONTROLLER_PORT", self.controller_port.to_string())
            .env("KAFKA_SECURE_PORT", self.secure_port.to_string())
            .env("KAFKA_STATE_DIR", self.state.path())
            // A small heap: it holds a few topics of one test.
            .env("KAFKA_HEAP_OPTS", "-Xms128m -Xmx512m")
            // scripts/test exports it for the shared broker; with it set the
            // script would treat this broker as external and do nothing.
            .env_remove("KAFKA_BOOTSTRAP_SERVERS")
            .output()?;
        if output.status.success() {
            return Ok(output);
        }
        Err(BrokerError::Script {
            command,
            bootstrap: self.bootstrap(),
            status: output.status,
            output: format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)),
        })
    }
}

impl Drop for PrivateBroker {
    /// Stops the broker (a no-op if it is not running, also after a start that
    /// timed out); the state folder goes with the `TempDir`.
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("private Kafka broker {}: {e}", self.bootstrap());
        }
    }
}

fn script_path() -> PathBuf {
    crate::repo_root().join("scripts/kafka")
}
