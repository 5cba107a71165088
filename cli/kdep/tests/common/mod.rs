//! What every CLI test file shares: running the `kdep` binary and reading what it did.

use std::path::{Path, PathBuf};
use std::process::Command;

pub mod cluster;

/// One finished run of the binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `kdep ARGS` in `cwd` with colours off and backtraces unset, so output is stable.
#[allow(dead_code, reason = "shared by the test crates; some need more settings (`kdep_with`)")]
pub fn kdep(cwd: &Path, args: &[&str]) -> Run {
    kdep_with(cwd, args, |_| {})
}

/// [`kdep`] with more settings of the command (environment variables) made by `configure`.
pub fn kdep_with(cwd: &Path, args: &[&str], configure: impl FnOnce(&mut Command)) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kdep"));
    cmd.args(args).current_dir(cwd).env("NO_COLOR", "1").env_remove("RUST_BACKTRACE");
    configure(&mut cmd);
    let out = cmd.output().expect("kdep runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[allow(dead_code, reason = "shared by the test crates; not every one copies the examples")]
pub fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

#[allow(dead_code, reason = "shared by the test crates; not every one copies the examples")]
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// A scratch copy of `examples/platform-and-teams`, so tests never write into the repo.
#[allow(dead_code, reason = "shared by the test crates; not every one copies the examples")]
pub fn example_copy() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("platform-and-teams");
    copy_dir(&examples_dir().join("platform-and-teams"), &root);
    (tmp, root)
}
