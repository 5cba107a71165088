//! Taking over objects that client-side `kubectl apply` or Helm created, with values that
//! differ from the package's: no conflict, kdep owns what they set (fields the package does
//! not set are removed, the `last-applied-configuration` annotation too), and the fields of
//! every other manager stay.
//!
//! The client-side objects are made by the real `/usr/bin/kubectl apply` against the emulator;
//! the Helm ones by an Update with field manager `helm`, as Helm 3 writes them.

#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a failed unwrap fails the test; JSON is read with `serde_json::Value[key]`, which yields Null"
)]

mod common;

use std::path::Path;
use std::process::Command;

use common::cluster::{kdep, Writes, DEV, TEMPLATES};
use kdep_tests::cluster::Cluster;
use serde_json::{json, Value};

fn start() -> Cluster {
    let cluster = common::cluster::start();
    cluster.seed("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n").unwrap();
    cluster
}

const APPS: &str = r#"app web = templates.Web { name = "web", replicas = 2, container = "app" }
app settings = templates.Config { name = "settings", data = { mode = "kdep" } }
"#;

fn package() -> tempfile::TempDir {
    common::cluster::package(DEV, TEMPLATES, APPS)
}

/// The managers of an object's managedFields: `manager/operation`. Entries of subresources
/// are left out: on a real cluster controllers write `status` through them.
fn managers(obj: &Value) -> Vec<String> {
    let mut all: Vec<String> = obj["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["subresource"].as_str().is_none_or(str::is_empty))
        // A real Deployment controller's Update (its revision annotation), on a real cluster.
        .filter(|e| e["manager"] != "kube-controller-manager")
        .map(|e| format!("{}/{}", e["manager"].as_str().unwrap(), e["operation"].as_str().unwrap()))
        .collect();
    all.sort();
    all
}

/// The legacy objects: applied client-side by kubectl (values differ from the package's, and
/// an annotation the package does not set), then annotated by another manager.
fn kubectl_apply_client_side(cluster: &Cluster, dir: &Path) {
    let legacy = dir.join("legacy.yaml");
    std::fs::write(
        &legacy,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: demo\n  labels: {app: web}\n  \
         annotations: {legacy: \"yes\"}\nspec:\n  replicas: 3\n  selector:\n    matchLabels: {app: web}\n  template:\n    \
         metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: app\n        image: nginx:1.25\n",
    )
    .unwrap();
    let out = Command::new("kubectl")
        .args(["apply", "-f", legacy.to_str().unwrap()])
        .env("KUBECONFIG", cluster.kubeconfig())
        .output()
        .unwrap();
    assert!(out.status.success(), "kubectl apply: {}", String::from_utf8_lossy(&out.stderr));
    cluster
        .edit_as(
            "kubectl-annotate",
            "apps/v1",
            "Deployment",
            Some("demo"),
            "web",
            &json!({"metadata": {"annotations": {"team": "x"}}}),
        )
        .unwrap();
}

#[test]
fn objects_from_client_side_kubectl_apply_are_taken_over_without_conflicts() {
    let cluster = start();
    let pkg = package();
    kubectl_apply_client_side(&cluster, pkg.path());
    let before = cluster.get("apps/v1", "Deployment", Some("demo"), "web").unwrap().unwrap();
    assert_eq!(managers(&before), vec!["kubectl-annotate/Update", "kubectl-client-side-apply/Update"]);
    assert!(before["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"].is_string());

    // The values differ (replicas 3 → 2, image 1.25 → 1.27): a preview, not a conflict.
    let d = kdep(&cluster, pkg.path(), &["diff", "--env", "dev"]);
    assert_eq!(d.code, 1, "{}", d.stderr);
    assert!(
        d.stdout.contains("note: taken over from kubectl-client-side-apply: kdep will own the fields they set"),
        "{}",
        d.stdout
    );
    assert!(d.stdout.contains("-  replicas: 3\n+  replicas: 2\n"), "{}", d.stdout);

    let a = kdep(&cluster, pkg.path(), &["apply", "--env", "dev", "--wait=false"]);
    assert_eq!(a.code, 0, "{}", a.stderr);
    let after = cluster.get("apps/v1", "Deployment", Some("demo"), "web").unwrap().unwrap();
    assert_eq!(after["spec"]["replicas"], 2);
    assert_eq!(after["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.27");
    let annotations = after["metadata"]["annotations"].as_object().unwrap();
    // What only client-side apply set and the package does not is gone; the other manager's
    // annotation stays (and on a real cluster the Deployment controller's revision).
    let keys: Vec<_> = annotations.keys().filter(|k| *k != "deployment.kubernetes.io/revision").collect();
    assert_eq!(keys, vec!["kdep.dev/source", "team"], "{annotations:?}");
    assert_eq!(managers(&after), vec!["kdep/Apply", "kubectl-annotate/Update"]);

    // In sync afterwards, and a second apply writes nothing.
    let d = kdep(&cluster, pkg.path(), &["diff", "--env", "dev"]);
    assert_eq!(d.code, 0, "{}\n{}", d.stdout, d.stderr);
    let d = kdep(&cluster, pkg.path(), &["drift", "--env", "dev"]);
    assert_eq!(d.code, 0, "{}\n{}", d.stdout, d.stderr);
    let writes = Writes::since_now(&cluster);
    assert_eq!(kdep(&cluster, pkg.path(), &["apply", "--env", "dev", "--wait=false"]).code, 0);
    assert_eq!(writes.list(&cluster), Vec::<String>::new());
}

#[test]
fn objects_helm_created_are_taken_over_and_a_real_conflict_still_stops_the_apply() {
    let cluster = start();
    let pkg = package();
    // Helm 3 writes with Update operations under the field manager `helm`.
    let helm_made = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": "demo",
            "labels": {"app.kubernetes.io/managed-by": "Helm"},
            "annotations": {"meta.helm.sh/release-name": "settings"}},
        "data": {"mode": "helm", "old": "1"}});
    let r = cluster
        .request(
            "POST",
            "/api/v1/namespaces/demo/configmaps?fieldManager=helm",
            Some("application/json"),
            Some(&helm_made.to_string()),
        )
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.text);
    kubectl_apply_client_side(&cluster, pkg.path());
    // Someone else scaled the Deployment: that is a real conflict, not a takeover.
    cluster
        .edit_as("kubectl-scale", "apps/v1", "Deployment", Some("demo"), "web", &json!({"spec": {"replicas": 5}}))
        .unwrap();
    let a = kdep(&cluster, pkg.path(), &["apply", "--env", "dev", "--wait=false"]);
    assert_eq!(a.code, 1, "{}", a.stderr);
    assert!(a.stderr.contains("with \"kubectl-scale\""), "{}", a.stderr);
    assert!(!a.stderr.contains("with \"helm\""), "{}", a.stderr);
    assert_eq!(cluster.get("v1", "ConfigMap", Some("demo"), "settings").unwrap().unwrap()["data"]["mode"], "helm");

    let a = kdep(&cluster, pkg.path(), &["apply", "--env", "dev", "--wait=false", "--force-conflicts"]);
    assert_eq!(a.code, 0, "{}", a.stderr);
    let cm = cluster.get("v1", "ConfigMap", Some("demo"), "settings").unwrap().unwrap();
    assert_eq!(cm["data"], json!({"mode": "kdep"}));
    // Helm's marks are gone: kdep's own labels say who manages the object now.
    assert_eq!(cm["metadata"]["labels"]["app.kubernetes.io/managed-by"], "kdep");
    assert!(cm["metadata"]["annotations"].get("meta.helm.sh/release-name").is_none(), "{cm}");
    assert_eq!(managers(&cm), vec!["kdep/Apply"]);
}
