//! A test's child process (a job binary) whose log lines (stderr) are collected
//! as they come, so that the test can wait for an event the process logs, read
//! fields of its `tracing` lines, and send it signals.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// A running child process and the lines of its stderr so far. Dropping it kills
/// the process (SIGKILL, which also ends a stopped one) and reaps it.
pub struct LoggedChild {
    name: String,
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<JoinHandle<()>>,
    status: Option<ExitStatus>,
}

impl LoggedChild {
    /// Starts `command` with stdout discarded and stderr collected; `name` is how
    /// messages call it.
    pub fn spawn(name: impl Into<String>, mut command: Command) -> Self {
        let name = name.into();
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let stderr = child.stderr.take().expect("stderr is piped");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap_or_else(|p| p.into_inner()).push(line);
            }
        });
        LoggedChild { name, child, lines, reader: Some(reader), status: None }
    }

    /// The name given at [`spawn`](Self::spawn).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Every line logged so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The lines so far that contain `needle`.
    pub fn lines_with(&self, needle: &str) -> Vec<String> {
        self.lines().into_iter().filter(|l| l.contains(needle)).collect()
    }

    /// The last `n` lines, one string (for failure messages).
    pub fn tail(&self, n: usize) -> String {
        let lines = self.lines();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// The exit status if the process has ended (then every line it wrote has
    /// been collected).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().unwrap_or_else(|e| panic!("poll {}: {e}", self.name));
            if self.status.is_some() {
                // The pipe is at its end once the process is gone: read it all.
                if let Some(reader) = self.reader.take() {
                    let _ = reader.join();
                }
            }
        }
        self.status
    }

    /// `Err` (with the end of the log) once the process has exited.
    pub fn alive(&mut self) -> Result<(), String> {
        match self.exited() {
            None => Ok(()),
            Some(status) => Err(format!("{} exited ({status}); log:\n{}", self.name, self.tail(60))),
        }
    }

    /// Waits (up to `timeout`) until `found` returns `Some` for the lines so far,
    /// and returns that. Fails at once, with the end of the log, if the process
    /// exits first; `what` names the awaited event in failure messages.
    pub fn await_lines<T>(
        &mut self,
        timeout: Duration,
        what: &str,
        mut found: impl FnMut(&[String]) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            // Check for an exit before reading: lines written before it count.
            let status = self.exited();
            if let Some(t) = found(&self.lines()) {
                return t;
            }
            if let Some(status) = status {
                panic!("{} exited ({status}) while the test waited for {what}; log:\n{}", self.name, self.tail(60));
            }
            if Instant::now() >= deadline {
                panic!("{} did not log {what} within {timeout:?}; log:\n{}", self.name, self.tail(60));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until a line contains every one of `needles`, and returns it.
    pub fn await_line(&mut self, timeout: Duration, needles: &[&str]) -> String {
        let what = format!("a line with {needles:?}");
        self.await_lines(timeout, &what, |lines| lines.iter().find(|l| needles.iter().all(|n| l.contains(n))).cloned())
    }

    /// Sends `signal` (a name `kill` knows: `STOP`, `CONT`, `TERM`) to the process.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.id().to_string())
            .status()
            .unwrap_or_else(|e| panic!("run kill -{signal}: {e}"));
        assert!(status.success(), "kill -{signal} {} ({}) failed", self.id(), self.name);
    }

    /// Stops the process with SIGSTOP and waits until every one of its threads
    /// is stopped: from then on none of its system calls completes (a thread in
    /// the middle of one, an fsync say, stops only once it returns).
    pub fn freeze(&self) {
        self.signal("STOP");
        let tasks = format!("/proc/{}/task", self.id());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let states: Vec<char> = std::fs::read_dir(&tasks)
                .unwrap_or_else(|e| panic!("{tasks}: {e}"))
                .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("stat")).ok())
                // `tid (comm) state ...`; comm may hold spaces and parentheses.
                .filter_map(|stat| stat.rsplit_once(')')?.1.split_whitespace().next()?.chars().next())
                .collect();
            if !states.is_empty() && states.iter().all(|s| *s == 'T') {
                return;
            }
            assert!(Instant::now() < deadline, "{} did not stop: thread states {states:?}", self.name);
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits up to `timeout` for the process to exit by itself and returns its
    /// status; on timeout the test fails with the end of the log.
    pub fn wait_timeout(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exited() {
                return status;
            }
            if Instant::now() >= deadline {
                panic!("{} still running after {timeout:?}; log:\n{}", self.name, self.tail(60));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits up to `timeout` for the process to exit, and fails the test (with
    /// the end of the log) unless it exited with status 0.
    pub fn wait_success(&mut self, timeout: Duration) {
        let status = self.wait_timeout(timeout);
        assert!(status.success(), "{} exited with {status}; log:\n{}", self.name, self.tail(80));
    }

    /// Kills the process (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.exited();
    }
}

impl Drop for LoggedChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of `key=value` in a `tracing` log line (quotes removed), e.g.
/// `field(line, "epoch")`. The key must start a word: `epoch` does not match
/// `first_epoch=`.
pub fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let pattern = format!(" {key}=");
    let start = line.find(&pattern)? + pattern.len();
    let rest = &line[start..];
    let value = match rest.strip_prefix('"') {
        Some(quoted) => &quoted[..quoted.find('"').unwrap_or(quoted.len())],
        None => &rest[..rest.find(char::is_whitespace).unwrap_or(rest.len())],
    };
    Some(value)
}

/// When a `tracing` log line was written: its leading RFC 3339 timestamp.
pub fn line_time(line: &str) -> Option<DateTime<Utc>> {
    let stamp = line.split_whitespace().next()?;
    DateTime::parse_from_rfc3339(stamp).ok().map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_times_of_a_tracing_line() {
        let line = "2026-12-04T16:56:36.236092Z  INFO a::b: fence checkpoint written job=order-aggregates.p0 \
                    resumed=2 fence=3 group=\"g 1\" first_epoch=9 epoch=4";
        assert_eq!(field(line, "job"), Some("order-aggregates.p0"));
        assert_eq!(field(line, "fence"), Some("3"));
        assert_eq!(field(line, "group"), Some("g 1"));
        assert_eq!(field(line, "epoch"), Some("4"));
        assert_eq!(field(line, "missing"), None);
        assert_eq!(line_time(line).map(|t| t.timestamp_subsec_micros()), Some(236_092));
    }
}
