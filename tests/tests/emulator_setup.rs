//! A fresh machine: `tests/kube-emulator/setup.sh` (run by `build.sh`, hence by `serve`)
//! installs the Go toolchain and libraries as root or through sudo, or prints exactly what to
//! run. The package tools are replaced by recording fakes on `PATH`, so these tests exercise
//! every branch without touching the machine.

#![expect(clippy::unwrap_used, reason = "a failed unwrap fails the test")]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use kdep_tests::cluster::emulator_dir;

/// A folder of fake commands: `dpkg-query` says every package is missing (or installed),
/// `id -u` prints `uid`, `sudo` allows `-n` or refuses it, `apt-get` records its arguments.
struct Fakes {
    dir: tempfile::TempDir,
}

impl Fakes {
    fn new(installed: bool, uid: u32, sudo_ok: bool, apt_ok: bool) -> Fakes {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("calls.log");
        let status = if installed { "install ok installed" } else { "unknown ok not-installed" };
        let write = |name: &str, body: String| {
            let p = dir.path().join(name);
            std::fs::write(&p, format!("#!/bin/bash\n{body}\n")).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        };
        write("dpkg-query", format!("printf '%s' '{status}'"));
        write("id", format!("echo {uid}"));
        let sudo = if sudo_ok {
            format!(
                "echo \"sudo $*\" >> '{}'; [[ $1 == -n ]] && shift; [[ $1 == true ]] && exit 0; exec \"$@\"",
                log.display()
            )
        } else {
            "echo 'sudo: a password is required' >&2; exit 1".to_owned()
        };
        write("sudo", sudo);
        write("apt-get", format!("echo \"apt-get $*\" >> '{}'; exit {}", log.display(), if apt_ok { 0 } else { 100 }));
        Fakes { dir }
    }

    fn run(&self, script: &Path, args: &[&str]) -> (i32, String, String) {
        let path = format!("{}:/usr/bin:/bin", self.dir.path().display());
        let out = Command::new("bash").arg(script).args(args).env("PATH", path).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    }

    fn calls(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("calls.log")).unwrap_or_default()
    }
}

const PKGS: &str = "golang-go golang-k8s-sigs-structured-merge-diff-dev golang-k8s-kube-openapi-dev";

#[test]
fn without_root_or_sudo_it_prints_the_command_to_run() {
    let fakes = Fakes::new(false, 1000, false, true);
    let (code, stdout, stderr) = fakes.run(&emulator_dir().join("setup.sh"), &[]);
    assert_eq!(code, 2);
    assert_eq!(stdout, "");
    assert_eq!(
        stderr,
        format!(
            "kube-emulator: missing Debian packages: {PKGS}\n\
             kube-emulator: install them with:\n  sudo apt-get update && sudo apt-get install -y {PKGS}\n"
        )
    );
    assert_eq!(fakes.calls(), "", "nothing may be installed without permission");
}

#[test]
fn serve_on_a_fresh_machine_says_what_to_run_instead_of_go_not_found() {
    let fakes = Fakes::new(false, 1000, false, true);
    let (code, stdout, stderr) = fakes.run(&emulator_dir().join("serve"), &["--kubeconfig", "/nonexistent/kc"]);
    assert_eq!(code, 2);
    assert_eq!(stdout, "", "`ready` must not be printed");
    assert!(stderr.contains(&format!("sudo apt-get install -y {PKGS}")), "{stderr}");
    assert!(!stderr.contains("command not found"), "{stderr}");
}

#[test]
fn as_root_it_installs_the_missing_packages() {
    let fakes = Fakes::new(false, 0, false, true);
    let (code, _, stderr) = fakes.run(&emulator_dir().join("setup.sh"), &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(fakes.calls(), format!("apt-get update -qq\napt-get install -y -qq --no-install-recommends {PKGS}\n"));
}

#[test]
fn with_passwordless_sudo_it_installs_through_sudo() {
    let fakes = Fakes::new(false, 1000, true, true);
    let (code, _, stderr) = fakes.run(&emulator_dir().join("setup.sh"), &[]);
    assert_eq!(code, 0, "{stderr}");
    let calls = fakes.calls();
    assert!(calls.contains(&format!("apt-get install -y -qq --no-install-recommends {PKGS}\n")), "{calls}");
    assert!(calls.contains("sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install"), "{calls}");
}

#[test]
fn a_failed_install_says_what_to_run_by_hand() {
    let fakes = Fakes::new(false, 0, false, false);
    let (code, _, stderr) = fakes.run(&emulator_dir().join("setup.sh"), &[]);
    assert_eq!(code, 2);
    assert!(stderr.ends_with(&format!(
        "kube-emulator: installing {PKGS} failed; run by hand:\n  sudo apt-get update && sudo apt-get install -y {PKGS}\n"
    )));
}

#[test]
fn when_everything_is_installed_it_does_nothing() {
    let fakes = Fakes::new(true, 1000, false, true);
    let (code, stdout, stderr) = fakes.run(&emulator_dir().join("setup.sh"), &[]);
    assert_eq!((code, stdout.as_str(), stderr.as_str()), (0, "", ""));
    assert_eq!(fakes.calls(), "");
}
