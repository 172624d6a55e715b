//! A small file system of its own for a test (a tmpfs mount, which needs root),
//! and a filler that makes it full and keeps it full.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A tmpfs of a fixed size mounted on a fresh temporary folder; unmounted when
/// dropped (also when the test panics). Drop the processes that write into it
/// first: a busy mount is detached lazily instead.
pub struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `mib` MiB. Fails the test (it needs root) if `mount` does.
    pub fn mount(mib: u64) -> Self {
        let dir = tempfile::tempdir().expect("mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m,mode=0700"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "mount -t tmpfs on {} failed (this test needs root): {}",
            dir.path().display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs { dir }
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Bytes free for unprivileged writes, as `stat -f` reports them.
    pub fn available(&self) -> u64 {
        let out = Command::new("stat").args(["-f", "--format=%a %S"]).arg(self.path()).output().expect("run stat -f");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut numbers = text.split_whitespace().map(|n| n.parse::<u64>().expect("stat -f number"));
        let (blocks, size) = (numbers.next().expect("free blocks"), numbers.next().expect("block size"));
        blocks * size
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount").arg(self.path()).status().is_ok_and(|s| s.success());
        if !unmounted {
            // Still in use (a process the test could not stop): detach it now, the
            // kernel frees it when the last user is gone.
            let _ = Command::new("umount").arg("-l").arg(self.path()).status();
        }
    }
}

/// Fills the file system of a file with it until writes fail with "no space left
/// on device", and keeps it full: space freed later (a failed writer deleting
/// its temporary file) is taken again within milliseconds, so nobody else can
/// write there until [`release`](DiskFiller::release). Released when dropped.
pub struct DiskFiller {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    full: Arc<AtomicBool>,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl DiskFiller {
    /// Starts filling with the file `path` (created; it must not exist).
    pub fn start(path: &Path) -> Self {
        let mut file = std::fs::OpenOptions::new().create_new(true).write(true).open(path).expect("filler file");
        let (stop, full) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
        let (stopping, filled) = (stop.clone(), full.clone());
        let thread = std::thread::spawn(move || {
            let chunk = vec![0xA5u8; 1 << 20];
            while !stopping.load(Ordering::Acquire) {
                // `write`, not `write_all`: a short write takes the last free bytes.
                match file.write(&chunk) {
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::StorageFull => {
                        filled.store(true, Ordering::Release);
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        });
        DiskFiller { path: path.to_path_buf(), stop, full, thread: Some(thread) }
    }

    /// Waits until the file system was full once (fails the test after `timeout`).
    pub fn await_full(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.full.load(Ordering::Acquire) {
            assert!(Instant::now() < deadline, "{} did not fill its file system in {timeout:?}", self.path.display());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops filling and deletes the file: the space is back.
    pub fn release(mut self) {
        self.stop_and_remove();
    }

    fn stop_and_remove(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let result = thread.join().expect("filler thread");
            let _ = std::fs::remove_file(&self.path);
            result.unwrap_or_else(|e| panic!("filling {} failed: {e}", self.path.display()));
        }
    }
}

impl Drop for DiskFiller {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
