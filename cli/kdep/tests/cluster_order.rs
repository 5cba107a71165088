//! The declared apply order (`@after(app = "db")`): `diff` and `plan` show the waves, `apply`
//! applies wave by wave and waits for each wave's rollouts before the next, and a wave that
//! does not become ready stops the apply with a report of what was and was not applied.
//!
//! Attacks first: the api must not be written while db is not ready (checked while kdep is
//! still waiting, then in the request log), and a failed first wave must leave the second
//! wave's objects out of the cluster.
//!
//! The same tests run on a real cluster (`KDEP_TEST_CLUSTER`). There the deployment controller
//! makes db ready (the emulator has none: the test plays it with the rollout hook), a wave that
//! never becomes ready is an image that cannot be pulled, and the proof of order is the objects'
//! creationTimestamps and kdep's own lines about the waves instead of the request log.

#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a failed unwrap fails the test; JSON is read with `serde_json::Value[key]`, which yields Null"
)]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::cluster::{flat, kdep, needs_emulator, ready, write_entries, Writes, DEV, TEMPLATES};
use kdep_tests::cluster::{Cluster, LogEntry, Rollout};
use serde_json::Value;

const APPS: &str = r#"app db = templates.Web { name = "db", config = { app = "db" } }

/// The API starts once its database is ready.
@after(app = "db")
app api = templates.Web { name = "api", config = { app = "api" } }
"#;

/// The emulator, or `KDEP_TEST_CLUSTER`'s cluster, with namespace `demo`.
fn start() -> Cluster {
    let cluster = common::cluster::start();
    cluster.seed("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n").unwrap();
    cluster
}

/// When the Deployment became available: its `Available=True` condition's transition time.
fn available_since(deployment: &Value) -> String {
    let conditions = deployment["status"]["conditions"].as_array().cloned().unwrap_or_default();
    let available = conditions.iter().find(|c| c["type"] == "Available" && c["status"] == "True");
    available.and_then(|c| c["lastTransitionTime"].as_str()).unwrap_or_default().to_owned()
}

fn created(object: &Value) -> String {
    object["metadata"]["creationTimestamp"].as_str().unwrap().to_owned()
}

/// Runs `kdep ARGS` while playing the deployment controller on the emulator: once `name` is
/// written with a spec its status has not seen, its rollout completes, unless its image is one
/// no node could pull (`registry.invalid/`). A real cluster's own controller does that; there
/// the command just runs.
fn with_controller(cluster: &Cluster, name: &str, run: impl FnOnce() -> common::Run) -> common::Run {
    if !cluster.is_emulated() {
        return run();
    }
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let live = cluster.get("apps/v1", "Deployment", Some("demo"), name).unwrap();
                if live.is_some_and(|d| !ready(&d) && !d["spec"].to_string().contains("registry.invalid/")) {
                    cluster.set_rollout("apps/v1", "Deployment", "demo", name, Rollout::Complete).unwrap();
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let out = run();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        out
    })
}

fn first_write(log: &[LogEntry], path_end: &str) -> Option<u64> {
    write_entries(log).find(|e| e.path.ends_with(path_end)).map(|e| e.seq)
}

#[test]
fn diff_and_plan_show_the_waves() {
    let cluster = start();
    let pkg = common::cluster::package(DEV, TEMPLATES, APPS);
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
    let since = Writes::since_now(&cluster);
    let a = kdep(&cluster, pkg.path(), &["apply", "--env", "dev", "--dry-run", "-o", "json"]);
    assert_eq!(a.code, 0, "{}", a.stderr);
    let shown: Value = serde_json::from_str(&a.stdout).unwrap();
    assert_eq!(shown["waves"], plan["waves"]);
    assert_eq!(since.list(&cluster), Vec::<String>::new());
}

#[test]
fn api_is_written_only_after_db_is_ready() {
    let cluster = start();
    let pkg = common::cluster::package(DEV, TEMPLATES, APPS);
    if cluster.is_emulated() {
        cluster.clear_request_log().unwrap();
    }
    // `--wait=false`: the wait between waves is the package's order, not the final wait. A real
    // cluster pulls nginx first: minutes, not seconds, on a cold node.
    let mut child = Command::new(env!("CARGO_BIN_EXE_kdep"))
        .args(["apply", "--env", "dev", "--wait=false", "--timeout", "300s"])
        .current_dir(pkg.path())
        .env("NO_COLOR", "1")
        .env("KUBECONFIG", cluster.kubeconfig())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Watch until kdep exits (bounded, so a broken apply fails instead of hanging). Each round
    // reads api before db: api present while db, read after it, is not ready yet would be an
    // api written before db was ready.
    let deadline = Instant::now() + Duration::from_secs(330);
    let mut waited = false;
    let mut before_ready = 0;
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the apply did not finish");
        let api = cluster.get("apps/v1", "Deployment", Some("demo"), "api").unwrap();
        let api_config = cluster.get("v1", "ConfigMap", Some("demo"), "api-config").unwrap();
        let db = cluster.get("apps/v1", "Deployment", Some("demo"), "db").unwrap();
        if db.is_some_and(|db| !ready(&db)) {
            assert_eq!((api, api_config), (None, None), "api was written while db was not ready");
            // db exists and is not ready: kdep must be waiting. On the emulator the test is the
            // controller that makes db ready, once, after looking.
            if !waited && cluster.is_emulated() {
                before_ready = cluster.request_log().unwrap().last().map_or(0, |e| e.seq);
                cluster.set_rollout("apps/v1", "Deployment", "demo", "db", Rollout::Complete).unwrap();
            }
            waited = true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(waited, "db was never seen written and not ready: the test proved nothing");
    assert!(stderr.contains("wave 1 of 2 applied (db): waiting for its rollouts"), "{stderr}");
    assert!(stderr.contains("ready Deployment demo/db"), "{stderr}");

    // What any cluster shows afterwards: api's objects were created no earlier than db became
    // available (both are whole seconds; the emulator's clock is fixed, so equal there).
    let db = cluster.get("apps/v1", "Deployment", Some("demo"), "db").unwrap().unwrap();
    let since = available_since(&db);
    assert!(!since.is_empty(), "db has no Available=True condition: {}", db["status"]);
    for (kind, name) in [("Deployment", "api"), ("ConfigMap", "api-config")] {
        let api_version = if kind == "Deployment" { "apps/v1" } else { "v1" };
        let object = cluster.get(api_version, kind, Some("demo"), name).unwrap().unwrap();
        assert!(
            created(&object) >= since,
            "{kind} {name} created {} before db was available {since}",
            created(&object)
        );
    }

    if !needs_emulator(&cluster, "api_is_written_only_after_db_is_ready", "request log (the order of the writes)") {
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
    }
    // Unchanged sources: a second apply writes nothing (db is ready, so no wait either).
    let since = Writes::since_now(&cluster);
    let again = kdep(&cluster, pkg.path(), &["apply", "--env", "dev", "--wait=false"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(since.list(&cluster), Vec::<String>::new());
}

#[test]
fn a_first_wave_that_does_not_become_ready_stops_the_apply() {
    let cluster = start();
    // An image no node can pull: db never becomes ready, on the emulator (no controller) as on
    // a real cluster (ErrImagePull).
    let broken = APPS.replacen("name = \"db\",", "name = \"db\", image = \"registry.invalid/none:0\",", 1);
    let pkg = common::cluster::package(DEV, TEMPLATES, &broken);
    let since = Writes::since_now(&cluster);
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
    let written = since.list(&cluster);
    assert!(
        written.iter().all(|w| !w.ends_with("/api") && !w.ends_with(" api") && !w.contains("api-config")),
        "{written:?}"
    );

    // The same in JSON, for CI.
    let j = kdep(&cluster, pkg.path(), &["apply", "--env", "dev", "--wait=false", "--timeout", "1s", "-o", "json"]);
    assert_eq!(j.code, 1, "{}", j.stderr);
    let report: Value = serde_json::from_str(&j.stdout).unwrap();
    assert_eq!(report["applied"], false);
    assert_eq!(report["report"]["stoppedAtWave"], 1);
    assert_eq!(report["report"]["notReady"][0][0]["name"], "db");
    assert_eq!(report["report"]["notAttempted"].as_array().map(Vec::len), Some(2));
    assert_eq!(cluster.get("apps/v1", "Deployment", Some("demo"), "api").unwrap(), None);

    // Once db's image is fixed and db becomes ready, running the same command again converges.
    let fixed = common::cluster::package(DEV, TEMPLATES, APPS);
    let again = with_controller(&cluster, "db", || {
        kdep(&cluster, fixed.path(), &["apply", "--env", "dev", "--wait=false", "--timeout", "300s"])
    });
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stdout.contains("updated Deployment demo/db\n"), "{}", again.stdout);
    assert!(again.stdout.contains("created Deployment demo/api\n"), "{}", again.stdout);
    assert!(cluster.get("apps/v1", "Deployment", Some("demo"), "api").unwrap().is_some());
}

#[test]
fn an_order_the_compiler_refuses_sends_nothing() {
    let cluster = start();
    let apps = r#"@after(app = "api")
app db = templates.Web { name = "db", config = { app = "db" } }

@after(app = "db")
app api = templates.Web { name = "api", config = { app = "api" } }
"#;
    let pkg = common::cluster::package(DEV, TEMPLATES, apps);
    let since = Writes::since_now(&cluster);
    let a = kdep(&cluster, pkg.path(), &["apply", "--env", "dev"]);
    assert_eq!(a.code, 2, "{}", a.stderr);
    assert!(a.stderr.contains("[K0683]") || a.stderr.contains("K0683"), "{}", a.stderr);
    assert!(flat(&a.stderr).contains("apply order cycle: db → api → db"), "{}", a.stderr);
    assert!(flat(&a.stderr).contains("the package does not build; nothing was sent to the cluster"), "{}", a.stderr);
    assert_eq!(since.list(&cluster), Vec::<String>::new());
    if !needs_emulator(&cluster, "an_order_the_compiler_refuses_sends_nothing", "request log (not even a read)") {
        assert_eq!(cluster.request_log().unwrap().len(), 0);
    }
}
