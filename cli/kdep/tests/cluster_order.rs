//! The declared apply order (`@after(app = "db")`) against the emulator: `diff` and `plan` show
//! the waves, `apply` applies wave by wave and waits for each wave's rollouts before the next,
//! and a wave that does not become ready stops the apply with a report of what was and was not
//! applied. The request log is the proof of order.
//!
//! Attacks first: the api must not be written while db is not ready (checked while kdep is
//! still waiting, then in the request log), and a failed first wave must leave the second
//! wave's objects out of the cluster.

#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a failed unwrap fails the test; JSON is read with `serde_json::Value[key]`, which yields Null"
)]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::cluster::kdep;
use kdep_tests::cluster::{Cluster, LogEntry, Rollout};
use serde_json::Value;

const ENVS: &str = "environment dev { namespace = \"demo\" }\n";

const TEMPLATES: &str = r#"template Web {
    name: string
    emit {
        apiVersion = "v1"
        kind = "ConfigMap"
        metadata.name = "${name}-config"
        data = { app = name }
    }
    emit {
        apiVersion = "apps/v1"
        kind = "Deployment"
        metadata = { name = name, labels = { app = name } }
        spec.replicas = 1
        spec.selector.matchLabels = { app = name }
        spec.template.metadata.labels = { app = name }
        spec.template.spec.containers = [{ name = name, image = "nginx:1.27" }]
    }
}
"#;

const APPS: &str = r#"app db = templates.Web { name = "db" }

/// The API starts once its database is ready.
@after(app = "db")
app api = templates.Web { name = "api" }
"#;

fn start() -> Option<Cluster> {
    // The proofs read the emulator's request log and drive its rollouts.
    if std::env::var("KDEP_TEST_CLUSTER").is_ok() {
        eprintln!("skipped: needs the emulator's request log and rollout simulation");
        return None;
    }
    let cluster = common::cluster::start();
    cluster.seed("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n").unwrap();
    cluster.clear_request_log().unwrap();
    Some(cluster)
}

/// Writes (not dry runs) the CLI sent, with their sequence numbers.
fn writes(log: &[LogEntry]) -> Vec<(u64, String)> {
    log.iter()
        .filter(|e| matches!(e.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE") && !e.dry_run)
        .filter(|e| !e.path.contains("selfsubject"))
        .map(|e| (e.seq, format!("{} {}", e.method, e.path)))
        .collect()
}

fn first_write(log: &[LogEntry], path_end: &str) -> Option<u64> {
    writes(log).into_iter().find(|(_, w)| w.ends_with(path_end)).map(|(seq, _)| seq)
}

/// Error text without miette's line wrapping (its width depends on the message).
fn flat(text: &str) -> String {
    text.replace('│', " ").split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn diff_and_plan_show_the_waves() {
    let Some(cluster) = start() else { return };
    let pkg = common::cluster::package(ENVS, TEMPLATES, APPS);
    let d = kdep(&cluster, pkg.path(), &["diff", "--env", "dev"]);
    assert_eq!(d.code, 1, "{}", d.stderr);
    let tail: Vec<&str> = d.stdout.lines().rev().take(2).collect();
    assert_eq!(tail, ["4 to create, 0 to update, 0 to prune, 0 unchanged", "apply order: 1. db → 2. api"]);

    let p = kdep(&cluster, pkg.path(), &["plan", "--env", "dev", "--out", "plan.json", "--markdown", "plan.md"]);
    assert_eq!(p.code, 0, "{}", p.stderr);
    let plan: Value = serde_json::from_str(&std::fs::read_to_string(pkg.path().join("plan.json")).unwrap()).unwrap();
    insta::assert_json_snapshot!("plan_waves", plan["waves"]);
    let md = std::fs::read_to_string(pkg.path().join("plan.md")).unwrap();
    assert!(md.contains("Apply order: 1. db → 2. api"), "{md}");

    // The dry run shows them too, and writes nothing.
    let a = kdep(&cluster, pkg.path(), &["apply", "--env", "dev", "--dry-run", "-o", "json"]);
    assert_eq!(a.code, 0, "{}", a.stderr);
    let shown: Value = serde_json::from_str(&a.stdout).unwrap();
    assert_eq!(shown["waves"], plan["waves"]);
    assert_eq!(writes(&cluster.request_log().unwrap()), []);
}

#[test]
fn api_is_written_only_after_db_is_ready() {
    let Some(cluster) = start() else { return };
    let pkg = common::cluster::package(ENVS, TEMPLATES, APPS);
    cluster.clear_request_log().unwrap();
    // `--wait=false`: the wait between waves is the package's order, not the final wait.
    let child = Command::new(env!("CARGO_BIN_EXE_kdep"))
        .args(["apply", "--env", "dev", "--wait=false", "--timeout", "120s"])
        .current_dir(pkg.path())
        .env("NO_COLOR", "1")
        .env("KUBECONFIG", cluster.kubeconfig())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the first wave is written (bounded, so a broken apply fails instead of hanging).
    let deadline = Instant::now() + Duration::from_secs(120);
    while cluster.get("apps/v1", "Deployment", Some("demo"), "db").unwrap().is_none() {
        assert!(Instant::now() < deadline, "the first wave was never applied");
        std::thread::sleep(Duration::from_millis(50));
    }
    // db exists and is not ready: kdep must be waiting, with nothing of api written.
    assert_eq!(cluster.get("apps/v1", "Deployment", Some("demo"), "api").unwrap(), None);
    assert_eq!(cluster.get("v1", "ConfigMap", Some("demo"), "api-config").unwrap(), None);
    let before_ready = cluster.request_log().unwrap().last().map_or(0, |e| e.seq);
    cluster.set_rollout("apps/v1", "Deployment", "demo", "db", Rollout::Complete).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("wave 1 of 2 applied (db): waiting for its rollouts"), "{stderr}");
    assert!(stderr.contains("ready Deployment demo/db"), "{stderr}");

    let log = cluster.request_log().unwrap();
    let db = first_write(&log, "/namespaces/demo/deployments/db").unwrap();
    let db_config = first_write(&log, "/namespaces/demo/configmaps/db-config").unwrap();
    let api = first_write(&log, "/namespaces/demo/deployments/api").unwrap();
    let api_config = first_write(&log, "/namespaces/demo/configmaps/api-config").unwrap();
    assert!(db < before_ready && db_config < before_ready, "db's objects are written first: {db}, {db_config}");
    assert!(
        api > before_ready && api_config > before_ready,
        "api's objects are written only once db is ready (log #{before_ready}): {api}, {api_config}"
    );
    // Unchanged sources: a second apply writes nothing (db is ready, so no wait either).
    cluster.clear_request_log().unwrap();
    let again = kdep(&cluster, pkg.path(), &["apply", "--env", "dev", "--wait=false"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(writes(&cluster.request_log().unwrap()), []);
}

#[test]
fn a_first_wave_that_does_not_become_ready_stops_the_apply() {
    let Some(cluster) = start() else { return };
    let pkg = common::cluster::package(ENVS, TEMPLATES, APPS);
    let a = kdep(&cluster, pkg.path(), &["apply", "--env", "dev", "--wait=false", "--timeout", "1s"]);
    assert_eq!(a.code, 1, "{}", a.stderr);
    let err = flat(&a.stderr);
    assert!(err.contains("Deployment demo/db did not become ready: not ready after 1s"), "{err}");
    assert!(
        err.contains(
            "the apply did not complete: 2 of 4 objects are applied; stopped at wave 1 of 2 (db); not attempted \
             (2): Deployment demo/api, ConfigMap demo/api- config"
        ),
        "{err}"
    );
    assert_eq!(
        a.stdout,
        "created Deployment demo/db\ncreated ConfigMap demo/db-config\n2 created, 0 updated, 0 pruned, 0 unchanged\n"
    );
    assert_eq!(cluster.get("apps/v1", "Deployment", Some("demo"), "api").unwrap(), None);
    assert_eq!(cluster.get("v1", "ConfigMap", Some("demo"), "api-config").unwrap(), None);
    let log = cluster.request_log().unwrap();
    assert!(
        writes(&log).iter().all(|(_, w)| !w.ends_with("/api") && !w.ends_with("/api-config")),
        "{:?}",
        writes(&log)
    );

    // The same in JSON, for CI.
    let j = kdep(&cluster, pkg.path(), &["apply", "--env", "dev", "--wait=false", "--timeout", "1s", "-o", "json"]);
    assert_eq!(j.code, 1, "{}", j.stderr);
    let report: Value = serde_json::from_str(&j.stdout).unwrap();
    assert_eq!(report["applied"], false);
    assert_eq!(report["report"]["stoppedAtWave"], 1);
    assert_eq!(report["report"]["notReady"][0][0]["name"], "db");
    assert_eq!(report["report"]["notAttempted"].as_array().map(Vec::len), Some(2));

    // Once db is ready, running the same command again converges.
    cluster.set_rollout("apps/v1", "Deployment", "demo", "db", Rollout::Complete).unwrap();
    let again = kdep(&cluster, pkg.path(), &["apply", "--env", "dev", "--wait=false", "--timeout", "30s"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(cluster.get("apps/v1", "Deployment", Some("demo"), "api").unwrap().is_some());
}

#[test]
fn an_order_the_compiler_refuses_sends_nothing() {
    let Some(cluster) = start() else { return };
    let apps = r#"@after(app = "api")
app db = templates.Web { name = "db" }

@after(app = "db")
app api = templates.Web { name = "api" }
"#;
    let pkg = common::cluster::package(ENVS, TEMPLATES, apps);
    cluster.clear_request_log().unwrap();
    let a = kdep(&cluster, pkg.path(), &["apply", "--env", "dev"]);
    assert_eq!(a.code, 2, "{}", a.stderr);
    assert!(a.stderr.contains("[K0683]") || a.stderr.contains("K0683"), "{}", a.stderr);
    assert!(flat(&a.stderr).contains("apply order cycle: db → api → db"), "{}", a.stderr);
    assert!(flat(&a.stderr).contains("the package does not build; nothing was sent to the cluster"), "{}", a.stderr);
    assert_eq!(cluster.request_log().unwrap().len(), 0);
}
