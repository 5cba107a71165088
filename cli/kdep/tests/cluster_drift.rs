//! `kdep drift` against the API-server emulator: the real binary, real managedFields.
//!
//! Attacks first: a field another manager changed is drift and names that manager and when;
//! a server default, an equivalent quantity, another manager's own field and an autoscaler's
//! `replicas` are not; drift never writes (checked in the request log); an API error during
//! `--watch` is survived with backoff and the webhook hears only of state changes.

#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a failed unwrap fails the test; JSON is read with `serde_json::Value[key]`, which yields Null"
)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::cluster::{kdep, needs_emulator, stable, start, templates, Writes, DEV};
use kdep_tests::cluster::{Cluster, Fault, FaultAction};
use serde_json::{json, Value};

/// This file's own template: a workload an autoscaler scales (the package leaves `replicas`
/// to it), beside the shared ones.
const SCALED: &str = r#"template Scaled {
    name: string
    emit {
        apiVersion = "apps/v1"
        kind = "Deployment"
        metadata = { name = name }
        spec.selector.matchLabels = { app = name }
        spec.template.metadata.labels = { app = name }
        spec.template.spec.containers = [{ name = "app", image = "nginx:1.27" }]
    }
}
"#;

const V1: &str = r#"app a = templates.Config { name = "a", data = { k = "v" } }
app b = templates.Config { name = "b" }
app web = templates.Web { name = "web", replicas = 2, container = "app", cpu = "1000m" }
app auto = templates.Scaled { name = "auto" }
"#;

fn package(apps: &str) -> tempfile::TempDir {
    common::cluster::package(DEV, &templates(SCALED), apps)
}

fn write_package(dir: &Path, apps: &str) {
    common::cluster::write_package(dir, DEV, &templates(SCALED), apps);
}

/// A cluster with the package `apps` applied.
fn applied(apps: &str) -> (Cluster, tempfile::TempDir) {
    let cluster = start();
    cluster.seed("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n").unwrap();
    let pkg = package(apps);
    let a = kdep(&cluster, pkg.path(), &["apply", "--env", "dev", "--wait=false"]);
    assert_eq!(a.code, 0, "{}", a.stderr);
    (cluster, pkg)
}

/// Drift never writes: no write in the emulator's request log (the harness's own edits
/// left out), or on a real cluster no resourceVersion changed since `since`.
fn assert_read_only(cluster: &Cluster, since: &Writes) {
    assert_eq!(since.list(cluster), Vec::<String>::new(), "drift wrote to the cluster");
}

#[test]
fn a_kubectl_edit_of_a_field_kdep_sets_is_drift_naming_the_manager_and_time() {
    let (cluster, pkg) = applied(V1);
    let d = kdep(&cluster, pkg.path(), &["drift", "--env", "dev"]);
    assert_eq!((d.code, d.stdout.as_str()), (0, "0 modified, 0 missing, 0 extra, 4 in sync\n"), "{}", d.stderr);

    if cluster.is_emulated() {
        cluster.advance_clock(Duration::from_secs(3600)).unwrap();
    }
    cluster
        .edit_as("kubectl-edit", "apps/v1", "Deployment", Some("demo"), "web", &json!({"spec": {"replicas": 7}}))
        .unwrap();
    cluster
        .edit_as(
            "kubectl-edit",
            "apps/v1",
            "Deployment",
            Some("demo"),
            "web",
            &json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.28", "resources": {"requests": {"cpu": "1"}}}]}}}}),
        )
        .unwrap();
    cluster.edit_as("ops-script", "v1", "ConfigMap", Some("demo"), "a", &json!({"data": {"k": "changed"}})).unwrap();
    let writes = Writes::since_now(&cluster);
    let d = kdep(&cluster, pkg.path(), &["drift", "--env", "dev"]);
    assert_eq!(d.code, 3, "{}", d.stderr);
    insta::assert_snapshot!("drift_modified", stable(&d.stdout));

    let j = kdep(&cluster, pkg.path(), &["drift", "--env", "dev", "-o", "json"]);
    assert_eq!(j.code, 3, "{}", j.stderr);
    let v: Value = serde_json::from_str(&j.stdout).unwrap();
    assert_eq!(v["inSync"], false);
    assert_eq!(v["summary"], json!({"modified": 2, "missing": 0, "extra": 0, "inSync": 2}));
    let web = v["objects"].as_array().unwrap().iter().find(|o| o["name"] == "web").unwrap();
    assert_eq!(web["state"], "modified");
    let mut replicas =
        web["fields"].as_array().unwrap().iter().find(|f| f["path"] == ".spec.replicas").unwrap().clone();
    // When: the emulator's clock, an hour on; a real cluster's own time.
    let when = replicas["changedBy"].as_object_mut().unwrap().remove("time").unwrap();
    if cluster.is_emulated() {
        assert_eq!(when, "2030-01-01T01:00:00Z");
    } else {
        assert!(when.as_str().is_some_and(|t| t.ends_with('Z')), "{when}");
    }
    assert_eq!(
        replicas,
        json!({"path": ".spec.replicas", "live": 7, "desired": 2,
            "changedBy": {"manager": "kubectl-edit", "operation": "Update"}})
    );
    assert_read_only(&cluster, &writes);
}

#[test]
fn server_defaults_quantities_other_managers_fields_and_an_autoscaler_are_not_drift() {
    let (cluster, pkg) = applied(V1);
    // The package says `cpu: 1000m`; the server stores the canonical `1`.
    let web = cluster.get("apps/v1", "Deployment", Some("demo"), "web").unwrap().unwrap();
    assert_eq!(web["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"], "1");
    // Server defaults the package never set are in the live object.
    assert_eq!(web["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"], "IfNotPresent");
    // Another manager's own fields: an annotation and a label kdep does not set.
    cluster
        .edit_as(
            "kubectl-annotate",
            "apps/v1",
            "Deployment",
            Some("demo"),
            "web",
            &json!({"metadata": {"annotations": {"team": "x"}, "labels": {"extra": "y"}}}),
        )
        .unwrap();
    // An autoscaler scales the workload whose replicas the package leaves alone.
    let path = cluster.object_path("apps/v1", "Deployment", Some("demo"), "auto").unwrap();
    let r = cluster
        .request(
            "PATCH",
            &format!("{path}/scale?fieldManager=horizontal-pod-autoscaler"),
            Some("application/merge-patch+json"),
            Some(r#"{"spec":{"replicas":5}}"#),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text);
    // A field kdep sets, also set to the same value by someone else: shared, not drift.
    cluster.edit_as("kubectl-edit", "v1", "ConfigMap", Some("demo"), "a", &json!({"data": {"k": "v"}})).unwrap();
    let writes = Writes::since_now(&cluster);
    let d = kdep(&cluster, pkg.path(), &["drift", "--env", "dev"]);
    assert_eq!((d.code, d.stdout.as_str()), (0, "0 modified, 0 missing, 0 extra, 4 in sync\n"), "{}", d.stderr);
    assert_read_only(&cluster, &writes);
}

#[test]
fn missing_objects_and_extra_members_of_the_set() {
    let (cluster, pkg) = applied(V1);
    assert!(cluster.delete("v1", "ConfigMap", Some("demo"), "b").unwrap());
    let a = cluster.get("v1", "ConfigMap", Some("demo"), "a").unwrap().unwrap();
    let set_id = a["metadata"]["labels"]["applyset.kubernetes.io/part-of"].as_str().unwrap().to_owned();
    // A member of the set the package does not emit, and two objects that are not members.
    cluster
        .seed(&format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: leftover\n  namespace: demo\n  labels:\n    applyset.kubernetes.io/part-of: {set_id}\n---\n\
             apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: not-ours\n  namespace: demo\n---\n\
             apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other-set\n  namespace: demo\n  labels:\n    applyset.kubernetes.io/part-of: applyset-someone-else-v1\n"
        ))
        .unwrap();
    let writes = Writes::since_now(&cluster);
    let d = kdep(&cluster, pkg.path(), &["drift", "--env", "dev"]);
    assert_eq!(d.code, 3, "{}", d.stderr);
    insta::assert_snapshot!("drift_missing_extra", d.stdout);
    assert_read_only(&cluster, &writes);
    // Applying again brings the cluster back in sync (and prunes the leftover).
    assert_eq!(kdep(&cluster, pkg.path(), &["apply", "--env", "dev", "--wait=false"]).code, 0);
    let d = kdep(&cluster, pkg.path(), &["drift", "--env", "dev"]);
    assert_eq!((d.code, d.stdout.as_str()), (0, "0 modified, 0 missing, 0 extra, 4 in sync\n"), "{}", d.stderr);
}

#[test]
fn changed_sources_and_secret_values_are_reported_masked() {
    let apps = format!("{V1}app db = templates.Password {{ name = \"db\", password = \"hunter2-first\" }}\n");
    let (cluster, pkg) = applied(&apps);
    cluster
        .edit_as(
            "kubectl-edit",
            "v1",
            "Secret",
            Some("demo"),
            "db",
            &json!({"stringData": {"password": "hunter2-stolen"}}),
        )
        .unwrap();
    write_package(pkg.path(), &apps.replace("replicas = 2", "replicas = 3"));
    let writes = Writes::since_now(&cluster);
    for args in [["drift", "--env", "dev", "-o", "human"], ["drift", "--env", "dev", "-o", "json"]] {
        let d = kdep(&cluster, pkg.path(), &args);
        assert_eq!(d.code, 3, "{}", d.stderr);
        for leaked in ["hunter2", "aHVudGVyMi1"] {
            assert!(!d.stdout.contains(leaked) && !d.stderr.contains(leaked), "{leaked} leaked:\n{}", d.stdout);
        }
        if args[4] == "human" {
            insta::assert_snapshot!("drift_sources_and_secret", stable(&d.stdout));
        }
    }
    assert_read_only(&cluster, &writes);
}

#[test]
fn errors_exit_2_and_say_what_failed() {
    let (cluster, pkg) = applied(V1);
    let r = kdep(&cluster, pkg.path(), &["drift", "--env", "nowhere"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("unknown environment `nowhere`"), "{}", r.stderr);
    let r = kdep(&cluster, pkg.path(), &["drift", "--env", "dev", "--interval", "5s"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--watch"), "{}", r.stderr);
    if needs_emulator(&cluster, "errors_exit_2_and_say_what_failed", "fault injection (a read that keeps failing)") {
        return;
    }
    // Every retry of one object's read fails: the answer is an error, never "in sync".
    cluster
        .inject_fault(
            &Fault::new(Some("GET"), Some("/configmaps/a$"), FaultAction::Status { code: 500, retry_after: None })
                .times(100),
        )
        .unwrap();
    let r = kdep(&cluster, pkg.path(), &["drift", "--env", "dev"]);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.stdout, "");
    assert!(r.stderr.contains("could not be checked"), "{}", r.stderr);
}

/// A webhook receiver: every POST body arrives on the channel, answered 200.
fn webhook() -> (String, mpsc::Receiver<Value>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut len = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; len];
            if reader.read_exact(&mut body).is_ok() {
                let _ = tx.send(serde_json::from_slice(&body).unwrap_or(Value::Null));
            }
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
        }
    });
    (url, rx)
}

/// Waits for a line of the watcher's stderr that contains `what`; returns the lines read.
fn wait_for(lines: &mpsc::Receiver<String>, what: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines.recv_timeout(left) {
            Ok(l) => {
                let hit = l.contains(what);
                seen.push(l);
                if hit {
                    return seen;
                }
            }
            Err(_) => panic!("no line containing {what:?}; saw:\n{}", seen.join("\n")),
        }
    }
}

#[test]
fn watch_survives_api_errors_and_calls_the_webhook_only_on_state_changes() {
    let (cluster, pkg) = applied(V1);
    let writes = Writes::since_now(&cluster);
    let (url, hooks) = webhook();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kdep"))
        .args(["drift", "--env", "dev", "--watch", "--interval", "200ms", "--webhook", &url])
        .current_dir(pkg.path())
        .env("NO_COLOR", "1")
        .env("KUBECONFIG", cluster.kubeconfig())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    wait_for(&lines, "check 2: in sync");
    let test = "watch_survives_api_errors_and_calls_the_webhook_only_on_state_changes";
    if !needs_emulator(&cluster, test, "fault injection (the part with API errors)") {
        // The API fails for longer than one check retries: the check fails, the watch goes on.
        cluster
            .inject_fault(
                &Fault::new(Some("GET"), Some("/configmaps/a$"), FaultAction::Status { code: 500, retry_after: None })
                    .times(5),
            )
            .unwrap();
        let seen = wait_for(&lines, "failed: ");
        assert!(seen.last().unwrap().contains("trying again in 400ms"), "{seen:?}");
        wait_for(&lines, ": in sync");
    }
    cluster
        .edit_as("kubectl-scale", "apps/v1", "Deployment", Some("demo"), "web", &json!({"spec": {"replicas": 9}}))
        .unwrap();
    wait_for(&lines, "notified");
    let before = wait_for(&lines, "drift: 1 modified");
    wait_for(&lines, "drift: 1 modified");
    cluster
        .edit_as("kubectl-scale", "apps/v1", "Deployment", Some("demo"), "web", &json!({"spec": {"replicas": 2}}))
        .unwrap();
    let after = wait_for(&lines, "notified");
    wait_for(&lines, ": in sync");
    let _ = child.kill();
    let _ = child.wait();
    assert!(!before.iter().any(|l| l.contains("notified")), "the same drift was notified twice: {before:?}");
    assert!(after.iter().any(|l| l.contains("in sync")), "{after:?}");

    let first = hooks.try_recv().unwrap();
    assert_eq!(first["event"], "drift");
    assert_eq!(first["summary"], json!({"modified": 1, "missing": 0, "extra": 0, "inSync": 3}));
    assert_eq!(first["objects"][0]["fields"][0]["changedBy"]["manager"], "kubectl-scale");
    insta::assert_snapshot!("drift_webhook_text", first["text"].as_str().unwrap());
    let second = hooks.try_recv().unwrap();
    assert_eq!(second["event"], "in-sync");
    assert_eq!(second["text"], "kdep drift: package `demo`, environment `dev`: in sync again");
    assert!(hooks.try_recv().is_err(), "more webhook calls than state changes");
    if cluster.is_emulated() {
        let faults = cluster.request_log().unwrap().into_iter().filter(|e| e.fault.is_some()).count();
        assert_eq!(faults, 5);
        assert_read_only(&cluster, &writes);
    } else {
        // Without a request log: the only object written is the one the test itself scaled.
        assert_eq!(writes.list(&cluster), vec!["changed Deployment web"], "drift wrote to the cluster");
    }
}

#[test]
fn many_objects_of_a_kind_are_read_with_one_list_and_compare_the_same() {
    let apps: String = (0..12)
        .map(|i| format!("app c{i} = templates.Config {{ name = \"c{i}\", data = {{ k = \"v\" }} }}\n"))
        .collect();
    let (cluster, pkg) = applied(&apps);
    let writes = Writes::since_now(&cluster);
    let d = kdep(&cluster, pkg.path(), &["drift", "--env", "dev"]);
    assert_eq!((d.code, d.stdout.as_str()), (0, "0 modified, 0 missing, 0 extra, 12 in sync\n"), "{}", d.stderr);
    let test = "many_objects_of_a_kind_are_read_with_one_list_and_compare_the_same";
    if !needs_emulator(&cluster, test, "request log (to count the GETs)") {
        let log = cluster.request_log().unwrap();
        let gets: Vec<&str> = log
            .iter()
            .filter(|e| e.method == "GET" && e.path.contains("/configmaps/c"))
            .map(|e| e.path.as_str())
            .collect();
        assert_eq!(gets, Vec::<&str>::new(), "objects read one by one");
    }
    assert_read_only(&cluster, &writes);
    cluster.edit_as("kubectl-edit", "v1", "ConfigMap", Some("demo"), "c7", &json!({"data": {"k": "w"}})).unwrap();
    assert!(cluster.delete("v1", "ConfigMap", Some("demo"), "c3").unwrap());
    let d = kdep(&cluster, pkg.path(), &["drift", "--env", "dev", "-o", "json"]);
    assert_eq!(d.code, 3, "{}", d.stderr);
    let v: Value = serde_json::from_str(&d.stdout).unwrap();
    assert_eq!(v["summary"], json!({"modified": 1, "missing": 1, "extra": 0, "inSync": 10}));
    assert_eq!(v["objects"][0]["name"], "c3");
    assert_eq!(v["objects"][1]["fields"][0]["path"], ".data.k");
}
