//! End to end from a real editor: headless Neovim (Debian's `neovim`, installed by
//! `lsp/editors/nvim/setup.sh`) starts `kdep lsp`, opens the example's broken file, receives
//! the disallowed-override diagnostic at the right range and gets a hover.
#![expect(clippy::unwrap_used, reason = "a test: a failed step is a failed test")]

use std::path::Path;
use std::process::Command;

#[test]
fn neovim_shows_the_locked_override_and_a_hover() {
    let nvim = Command::new("nvim").arg("--version").output();
    assert!(
        nvim.as_ref().is_ok_and(|o| o.status.success()),
        "this test needs Neovim: run `bash lsp/editors/nvim/setup.sh` (CI does)"
    );
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let tmp = tempfile::tempdir().unwrap();
    // A copy of the example, so nothing (kdep.lock) is written into the repository.
    let ws = tmp.path().join("ex");
    copy_dir(&repo.join("examples/platform-and-teams"), &ws);
    let file = ws.join("broken/locked_port.kdep");
    let out = tmp.path().join("out.txt");
    let status = Command::new("nvim")
        .args(["--headless", "--clean", "-c"])
        .arg(format!("luafile {}", repo.join("lsp/editors/nvim/e2e.lua").display()))
        .env("KDEP_E2E_FILE", &file)
        .env("KDEP_E2E_OUT", &out)
        .env("KDEP_E2E_BIN", env!("CARGO_BIN_EXE_kdep"))
        // On `port` of `port = 9090` (line 6 of the file, 0-based 5).
        .env("KDEP_E2E_HOVER", "5:5")
        .env("XDG_CACHE_HOME", tmp.path().join("cache"))
        .env("XDG_CONFIG_HOME", tmp.path().join("config"))
        .env("XDG_STATE_HOME", tmp.path().join("state"))
        .env("XDG_DATA_HOME", tmp.path().join("data"))
        .status()
        .expect("nvim runs");
    assert!(status.success(), "{status:?}");
    let seen = std::fs::read_to_string(&out).expect("the script wrote its report");
    insta::assert_snapshot!(seen);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
