//! The `order-aggregates` binary, for tests that run it as a process.

use std::path::PathBuf;
use std::process::Command;

/// Path of the debug `order-aggregates` binary of this workspace.
pub fn order_aggregates() -> PathBuf {
    example_binary("order-aggregates")
}

/// Path of the debug `order-producer` binary of this workspace.
pub fn order_producer() -> PathBuf {
    example_binary("order-producer")
}

/// Path of the debug `nexmark` binary of this workspace.
pub fn nexmark() -> PathBuf {
    example_binary("nexmark")
}

/// A binary of `tidemill-job-examples`, built first if it is not there yet (the
/// tests of this crate do not build other crates' binaries).
fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let dir = exe.parent().and_then(|d| d.parent()).expect("target profile folder").to_path_buf();
    let bin = dir.join(name);
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-q", "-p", "tidemill-job-examples", "--bin", name])
            .status()
            .expect("run cargo build");
        assert!(status.success(), "building {name} failed");
    }
    bin
}
