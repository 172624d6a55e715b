//! [`JobProcess`]: a job binary running as a child process, its stderr (the log)
//! collected line by line so that a test can await and assert log lines.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::metrics::poll_until;

/// A running process and the lines of its stderr so far; killed (SIGKILL) when
/// dropped if it still runs.
#[derive(Debug)]
pub struct JobProcess {
    name: String,
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    /// Reads stderr until EOF; joined once the process has exited.
    reader: Option<JoinHandle<()>>,
}

impl JobProcess {
    /// Spawns `command` (stdout discarded, stderr collected); `name` names it in
    /// failure messages.
    pub fn spawn(name: &str, mut command: Command) -> Self {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("stderr is piped");
        let sink = lines.clone();
        // Ends at the process's end (EOF on the pipe).
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap_or_else(|p| p.into_inner()).push(line);
            }
        });
        JobProcess { name: name.to_string(), child, lines, reader: Some(reader) }
    }

    /// Every stderr line so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The stderr lines containing `needle`.
    pub fn lines_with(&self, needle: &str) -> Vec<String> {
        self.lines().into_iter().filter(|l| l.contains(needle)).collect()
    }

    /// The last `n` stderr lines, for failure messages.
    pub fn log_tail(&self, n: usize) -> String {
        let lines = self.lines();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// `Err` (with the end of the log) once the process has exited.
    pub fn alive(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!("{} exited ({status}); log:\n{}", self.name, self.log_tail(60))),
            Err(e) => Err(format!("cannot poll {}: {e}", self.name)),
        }
    }

    /// SIGKILL, and reaps the process.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits up to `timeout` for the process to exit (and for the last lines of
    /// its log); panics (with the end of the log) if it does not.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> ExitStatus {
        let name = self.name.clone();
        let status = poll_until(timeout, || match self.child.try_wait() {
            Ok(Some(status)) => Ok(status),
            Ok(None) => Err(format!("{name} is still running")),
            Err(e) => Err(format!("cannot poll {name}: {e}")),
        });
        let status = status.unwrap_or_else(|e| panic!("{e}; log:\n{}", self.log_tail(60)));
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        status
    }

    /// Waits up to `timeout` for a successful exit; panics otherwise.
    pub fn wait_success(&mut self, timeout: Duration) {
        let status = self.wait_for_exit(timeout);
        assert!(status.success(), "{} exited with {status}; log:\n{}", self.name, self.log_tail(60));
    }
}

impl Drop for JobProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.kill();
        }
    }
}
