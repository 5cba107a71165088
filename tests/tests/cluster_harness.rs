//! Tests of the test-cluster harness itself: start, seed, read back, out-of-band edits,
//! conflicts, rollout simulation, fault injection, read-only 403, request log, shutdown.

#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a failed unwrap fails the test; JSON is read with `serde_json::Value[key]`, which yields Null"
)]

use std::time::{Duration, Instant};

use kdep_tests::cluster::{Cluster, Fault, FaultAction, Options, Rollout};
use serde_json::json;

const DEPLOYMENT: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
"#;

#[test]
fn start_seed_and_read_back() {
    let cluster = Cluster::start().expect("start");
    assert!(cluster.kubeconfig().exists());
    assert!(cluster.server().starts_with("https://127.0.0.1:"));
    let seeded = cluster.seed(DEPLOYMENT).expect("seed");
    assert_eq!(seeded.len(), 2);
    let dep = cluster.get("apps/v1", "Deployment", Some("shop"), "web").expect("get").expect("exists");
    assert_eq!(dep["spec"]["replicas"], 2);
    // Server-side defaults are visible.
    assert_eq!(dep["spec"]["revisionHistoryLimit"], 10);
    assert_eq!(dep["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"], "IfNotPresent");
    assert_eq!(dep["metadata"]["managedFields"][0]["manager"], "kdep-test-seed");
    let listed = cluster.list("apps/v1", "Deployment", None, Some("app=web")).expect("list");
    assert_eq!(listed.len(), 1);
    assert!(cluster.get("v1", "ConfigMap", Some("shop"), "missing").expect("get").is_none());
    // Re-seeding the same objects changes nothing (no-op apply).
    let rv = dep["metadata"]["resourceVersion"].clone();
    cluster.seed(DEPLOYMENT).expect("reseed");
    let again = cluster.get("apps/v1", "Deployment", Some("shop"), "web").unwrap().unwrap();
    assert_eq!(again["metadata"]["resourceVersion"], rv);
}

#[test]
fn out_of_band_edit_then_conflict_and_rollout() {
    let cluster = Cluster::start().expect("start");
    cluster.seed(DEPLOYMENT).expect("seed");
    let objs = kdep_tests::cluster::parse_documents(DEPLOYMENT).unwrap();
    let dep = &objs[1];
    cluster.apply_as("kdep", dep, true).expect("apply");
    cluster
        .edit_as("kubectl-edit", "apps/v1", "Deployment", Some("shop"), "web", &json!({"spec": {"replicas": 5}}))
        .expect("edit");
    let mut changed = dep.clone();
    changed["spec"]["replicas"] = json!(3);
    let err = cluster.apply_as("kdep", &changed, false).unwrap_err();
    match err {
        kdep_tests::cluster::Error::Api { status, body } => {
            assert_eq!(status, 409);
            assert_eq!(
                body["message"],
                "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using apps/v1: .spec.replicas"
            );
        }
        other => panic!("expected a conflict, got {other}"),
    }
    cluster.set_rollout("apps/v1", "Deployment", "shop", "web", Rollout::Complete).expect("rollout");
    let live = cluster.get("apps/v1", "Deployment", Some("shop"), "web").unwrap().unwrap();
    assert_eq!(live["status"]["availableReplicas"], 5);
    assert_eq!(live["status"]["conditions"][0]["type"], "Available");
    cluster.set_rollout("apps/v1", "Deployment", "shop", "web", Rollout::Stalled).expect("stall");
    let live = cluster.get("apps/v1", "Deployment", Some("shop"), "web").unwrap().unwrap();
    assert_eq!(live["status"]["conditions"][1]["reason"], "ProgressDeadlineExceeded");
}

#[test]
fn fault_injection() {
    let cluster = Cluster::start().expect("start");
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "default"}});
    cluster
        .inject_fault(&Fault::new(
            Some("PATCH"),
            Some("/configmaps/"),
            FaultAction::Status { code: 429, retry_after: Some(1) },
        ))
        .unwrap();
    let path = "/api/v1/namespaces/default/configmaps/a?fieldManager=kdep";
    let r = cluster.request("PATCH", path, Some("application/apply-patch+yaml"), Some(&cm.to_string())).unwrap();
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(r.body["reason"], "TooManyRequests");
    // The fault fired once; the retry succeeds.
    cluster.apply_as("kdep", &cm, false).expect("retry");

    cluster
        .inject_fault(&Fault::new(None, Some("/configmaps/b$"), FaultAction::Status { code: 500, retry_after: None }))
        .unwrap();
    let mut b = cm.clone();
    b["metadata"]["name"] = json!("b");
    let err = cluster.apply_as("kdep", &b, false).unwrap_err();
    assert!(err.to_string().contains("HTTP 500"), "{err}");

    // Dropped connection on the second write of a "multi-object apply".
    cluster
        .inject_fault(&Fault::new(Some("PATCH"), None, FaultAction::Drop { after_processing: false }).skip(1))
        .unwrap();
    let mut c = cm.clone();
    c["metadata"]["name"] = json!("c");
    let mut d = cm.clone();
    d["metadata"]["name"] = json!("d");
    cluster.apply_as("kdep", &c, false).expect("first write");
    let err = cluster.apply_as("kdep", &d, false).unwrap_err();
    assert!(matches!(err, kdep_tests::cluster::Error::Transport(_)), "{err}");
    assert!(cluster.get("v1", "ConfigMap", Some("default"), "d").unwrap().is_none());

    // Slow responses.
    cluster
        .inject_fault(&Fault::new(Some("GET"), Some("/configmaps/c$"), FaultAction::Delay(Duration::from_millis(300))))
        .unwrap();
    let t = Instant::now();
    assert!(cluster.get("v1", "ConfigMap", Some("default"), "c").unwrap().is_some());
    assert!(t.elapsed() >= Duration::from_millis(300));
    cluster.clear_faults().unwrap();

    let faults: Vec<String> = cluster.request_log().unwrap().into_iter().filter_map(|e| e.fault).collect();
    assert_eq!(faults, ["status 429", "status 500", "drop", "delay 300ms"]);
}

#[test]
fn readonly_token_gets_403_on_writes() {
    let cluster = Cluster::start().expect("start");
    assert!(cluster.readonly_kubeconfig().unwrap().exists());
    let r = cluster.request_readonly("GET", "/api/v1/namespaces", None, None).unwrap();
    assert_eq!(r.status, 200);
    let r = cluster
        .request_readonly(
            "PATCH",
            "/api/v1/namespaces/default/configmaps/x?fieldManager=kdep",
            Some("application/apply-patch+yaml"),
            Some(r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}"#),
        )
        .unwrap();
    assert_eq!(r.status, 403);
    assert_eq!(r.body["reason"], "Forbidden");
    assert_eq!(
        r.body["message"],
        "configmaps \"x\" is forbidden: User \"kube-emulator-readonly\" cannot patch resource \"configmaps\" in API group \"\" in the namespace \"default\""
    );
}

#[test]
fn request_log_and_deterministic_metadata() {
    let cluster = Cluster::start_with(Options {
        clock: Some("2030-01-01T00:00:00Z".into()),
        sequential_uids: true,
        ..Options::default()
    })
    .expect("start");
    let out = cluster
        .seed("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: default}\ndata: {a: b}\n")
        .unwrap();
    assert_eq!(out[0]["metadata"]["creationTimestamp"], "2030-01-01T00:00:00Z");
    assert_eq!(out[0]["metadata"]["uid"], "00000000-0000-4000-8000-000000000001");
    let log = cluster.request_log().unwrap();
    let patch = log.iter().find(|e| e.method == "PATCH").expect("patch logged");
    assert_eq!(patch.path, "/api/v1/namespaces/default/configmaps/x");
    assert_eq!(patch.field_manager, "kdep-test-seed");
    assert_eq!(patch.status, 201);
    let text = std::fs::read_to_string(cluster.request_log_file().unwrap()).unwrap();
    assert!(text.contains("PATCH /api/v1/namespaces/default/configmaps/x?fieldManager=kdep-test-seed"), "{text}");
    cluster.clear_request_log().unwrap();
    assert!(cluster.request_log().unwrap().is_empty());
}

#[test]
fn shutdown_is_clean_and_frees_the_port() {
    let mut cluster = Cluster::start().expect("start");
    let server = cluster.server().to_owned();
    let addr = server.trim_start_matches("https://").to_owned();
    assert!(std::net::TcpStream::connect(&addr).is_ok());
    assert!(cluster.stop(), "emulator should exit cleanly");
    assert!(std::net::TcpStream::connect(&addr).is_err());
    // Stopping twice (and the Drop after it) is harmless.
    assert!(cluster.stop());
}

#[test]
fn crd_establish_delay_and_terminating_namespace() {
    let cluster = Cluster::start().expect("start");
    cluster.set_crd_establish_delay(Duration::from_millis(300)).unwrap();
    cluster
        .seed(
            r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, properties: {size: {type: integer, default: 1}}}
"#,
        )
        .unwrap();
    let established = |c: &Cluster| {
        let crd =
            c.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", None, "widgets.example.com").unwrap().unwrap();
        crd["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Established" && c["status"] == "True")
    };
    assert!(!established(&cluster));
    let deadline = Instant::now() + Duration::from_secs(5);
    while !established(&cluster) {
        assert!(Instant::now() < deadline, "CRD never became Established");
        std::thread::sleep(Duration::from_millis(50));
    }
    let w = cluster
        .seed("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: default}\nspec: {}\n")
        .unwrap();
    assert_eq!(w[0]["spec"]["size"], 1);

    cluster.set_namespace_deletion_delay(Duration::from_millis(300)).unwrap();
    cluster.seed("apiVersion: v1\nkind: Namespace\nmetadata: {name: tmp}\n").unwrap();
    assert!(cluster.delete("v1", "Namespace", None, "tmp").unwrap());
    let err = cluster.seed("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: tmp}\n").unwrap_err();
    assert!(err.to_string().contains("HTTP 403"), "{err}");
}
