//! Real headless Chromium (Debian's `chromium`, which `scripts/test` installs):
//! a page's DOM after its scripts ran, and a screenshot.

use std::path::{Path, PathBuf};
use std::process::Command;

/// How long, in Chromium's virtual time, the page's scripts may run (polls and
/// redraws) before the DOM is read or the picture taken.
const SCRIPT_TIME_MS: u32 = 8_000;

/// The Chromium binary: `TIDEMILL_CHROMIUM`, else `chromium`. Panics with how to
/// install it if it is missing: a browser test must not pass without a browser.
pub fn chromium() -> PathBuf {
    let binary = std::env::var("TIDEMILL_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let found = Command::new(&binary).arg("--version").output().is_ok_and(|o| o.status.success());
    assert!(found, "no {binary}: install Debian's chromium (scripts/test does) or set TIDEMILL_CHROMIUM");
    PathBuf::from(binary)
}

/// A Chromium command with a profile folder of its own (two browsers may not
/// share one), removed when the returned folder is dropped.
fn headless() -> (Command, tempfile::TempDir) {
    let profile = tempfile::tempdir().expect("profile folder");
    let mut c = Command::new(chromium());
    c.args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars"])
        .args(["--no-first-run", "--disable-extensions", "--window-size=1500,1100"])
        .arg(format!("--virtual-time-budget={SCRIPT_TIME_MS}"))
        .arg(format!("--user-data-dir={}", profile.path().display()));
    (c, profile)
}

/// The DOM of `url` after its scripts ran, as HTML.
pub fn dom(url: &str) -> String {
    let (mut command, _profile) = headless();
    let out = command.arg("--dump-dom").arg(url).output().expect("run chromium");
    assert!(out.status.success(), "chromium --dump-dom {url}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A PNG of `url` after its scripts ran, written to `path`.
pub fn screenshot(url: &str, path: &Path) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("screenshot folder");
    }
    let (mut command, _profile) = headless();
    let out = command.arg(format!("--screenshot={}", path.display())).arg(url).output().expect("run chromium");
    assert!(
        out.status.success() && path.exists(),
        "chromium --screenshot {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Where tests keep what they produce for people to look at: `TIDEMILL_TEST_OUTPUT`,
/// else `test-output` in the build's target folder.
pub fn test_output() -> PathBuf {
    if let Ok(dir) = std::env::var("TIDEMILL_TEST_OUTPUT") {
        return PathBuf::from(dir);
    }
    let target =
        std::env::var("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|_| crate::repo_root().join("target"));
    target.join("test-output")
}

/// The attribute `name` of the first element whose opening tag contains `marker`.
pub fn attribute<'a>(html: &'a str, marker: &str, name: &str) -> Option<&'a str> {
    let at = html.find(marker)?;
    let tag_start = html[..at].rfind('<')?;
    let tag = &html[tag_start..at + html[at..].find('>')?];
    let key = format!("{name}=\"");
    let from = tag.find(&key)? + key.len();
    Some(&tag[from..from + tag[from..].find('"')?])
}
