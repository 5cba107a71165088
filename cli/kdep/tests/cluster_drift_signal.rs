//! `kdep drift --watch` stops cleanly on SIGTERM and SIGINT: the real binary, watching the
//! emulator, gets the signal from `kill`; it finishes, prints a one-line summary and exits with
//! the last state's code (0 in sync, 3 drift), never killed mid-way by the signal's default.
//!
//! It runs on a real cluster (`KDEP_TEST_CLUSTER`) as well: it needs nothing of the emulator's,
//! the out-of-band edit that makes the drift is an ordinary merge patch.

#![cfg(unix)]
#![expect(clippy::unwrap_used, reason = "a failed unwrap fails the test")]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::cluster::{kdep, DEV, TEMPLATES};
use kdep_tests::cluster::Cluster;
use serde_json::json;

const APPS: &str = "app a = templates.Config { name = \"a\", data = { k = \"v\" } }\n";

/// Starts `kdep drift --watch`, waits for its first check to report `first` on stderr, sends
/// `signal` with `kill`, and returns the exit code, stdout and the stderr lines.
fn watch_then_signal(
    cluster: &Cluster,
    dir: &std::path::Path,
    first: &str,
    signal: &str,
) -> (i32, String, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kdep"))
        .args(["drift", "--env", "dev", "--watch", "--interval", "200ms"])
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("KUBECONFIG", cluster.kubeconfig())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line.clone());
            lines.push(line);
        }
        lines
    });
    // Bounded, so a watch that never checks fails the test instead of hanging it.
    loop {
        let line = rx.recv_timeout(Duration::from_secs(120)).expect("the watch reports its first check");
        if line == format!("check 1: {first}") {
            break;
        }
    }
    let status = Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let lines = reader.join().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), lines)
}

#[test]
fn watch_stops_on_sigterm_and_sigint_with_a_summary_and_the_last_states_code() {
    let cluster = common::cluster::start();
    cluster.seed("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n").unwrap();
    let pkg = common::cluster::package(DEV, TEMPLATES, APPS);
    let a = kdep(&cluster, pkg.path(), &["apply", "--env", "dev"]);
    assert_eq!(a.code, 0, "{}", a.stderr);
    assert!(a.stdout.contains("created ConfigMap demo/a"), "{}", a.stdout);

    // In sync, then SIGTERM: exit 0, the summary is the last line.
    let (code, stdout, lines) = watch_then_signal(&cluster, pkg.path(), "in sync", "TERM");
    assert_eq!(code, 0, "{lines:?}");
    assert_eq!(stdout, "0 modified, 0 missing, 0 extra, 1 in sync\n");
    let last = lines.last().unwrap();
    let summary = regex::Regex::new(r"^stopped by SIGTERM after \d+ checks?; last state: in sync$").unwrap();
    assert!(summary.is_match(last), "{lines:?}");
    assert!(lines.iter().all(|l| l.starts_with("check ") || l == last), "{lines:?}");

    // Drifted, then SIGINT (Ctrl-C): exit 3, the drift's code.
    cluster.edit_as("ops-script", "v1", "ConfigMap", Some("demo"), "a", &json!({"data": {"k": "changed"}})).unwrap();
    let (code, stdout, lines) =
        watch_then_signal(&cluster, pkg.path(), "drift: 1 modified, 0 missing, 0 extra, 0 in sync", "INT");
    assert_eq!(code, 3, "{lines:?}");
    assert!(stdout.contains("~ modified ConfigMap demo/a"), "{stdout}");
    let summary = regex::Regex::new(r"^stopped by SIGINT after \d+ checks?; last state: drift$").unwrap();
    assert!(summary.is_match(lines.last().unwrap()), "{lines:?}");
}
