//! The dry run that `diff`, `drift`, `plan` and a no-op `apply` skip for objects provably
//! unchanged since kdep applied them (cli/cluster/src/skip.rs): skipped then, and never
//! hiding a change.
//!
//! Attacks first, each after an apply (when the skip would be taken): a `kubectl edit` of a
//! field kdep sets, another manager forcing a field to its own value, the object deleted and
//! recreated under the same name, and managedFields forged so that kdep still seems to own a
//! field whose value was changed. Each must still show in `diff` and `drift`. On a real
//! cluster (`KDEP_TEST_CLUSTER`) the request-log checks that the skip was taken are left out;
//! the outputs are checked the same.

#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a failed unwrap fails the test; JSON is read with `serde_json::Value[key]`, which yields Null"
)]

mod common;

use common::cluster::{kdep, needs_emulator, stable, writes, Writes, DEV, TEMPLATES};
use kdep_tests::cluster::{Cluster, LogEntry};
use serde_json::json;

const APPS: &str = r#"app a = templates.Config { name = "a", data = { k = "v" } }
app b = templates.Config { name = "b", data = { k = "v" } }
app web = templates.Web { name = "web", replicas = 2, container = "app", args = ["-g", "daemon off;"], port = 80, cpu = "100m" }
app pw = templates.Password { name = "pw", password = "hunter2" }
"#;

/// The emulator, or with `KDEP_TEST_CLUSTER` the real cluster it names (namespace `demo`
/// emptied first).
fn start() -> Cluster {
    common::cluster::start()
}

/// A cluster with [`APPS`] applied.
fn applied() -> (Cluster, tempfile::TempDir) {
    let cluster = start();
    cluster.seed("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n").unwrap();
    let pkg = common::cluster::package(DEV, TEMPLATES, APPS);
    let a = kdep(&cluster, pkg.path(), &["apply", "--env", "dev", "--wait=false"]);
    assert_eq!(a.code, 0, "{}", a.stderr);
    (cluster, pkg)
}

/// The objects kdep dry-ran (PATCH with dryRun) since the log was cleared.
fn dry_runs(log: &[LogEntry]) -> Vec<String> {
    log.iter().filter(|e| e.method == "PATCH" && e.dry_run).map(|e| e.path.clone()).collect()
}

#[test]
fn objects_unchanged_since_the_apply_are_not_dry_run() {
    let (cluster, pkg) = applied();
    let since = Writes::since_now(&cluster);
    let d = kdep(&cluster, pkg.path(), &["diff", "--env", "dev"]);
    assert_eq!((d.code, d.stdout.as_str()), (0, "0 to create, 0 to update, 0 to prune, 4 unchanged\n"), "{}", d.stderr);
    let dr = kdep(&cluster, pkg.path(), &["drift", "--env", "dev"]);
    assert_eq!((dr.code, dr.stdout.as_str()), (0, "0 modified, 0 missing, 0 extra, 4 in sync\n"), "{}", dr.stderr);
    let a = kdep(&cluster, pkg.path(), &["apply", "--env", "dev", "--wait=false"]);
    assert_eq!(a.code, 0, "{}", a.stderr);
    assert_eq!(since.list(&cluster), Vec::<String>::new(), "a no-op apply wrote");
    if !needs_emulator(&cluster, "objects_unchanged_since_the_apply_are_not_dry_run", "request log (to see no dry run)")
    {
        let log = cluster.request_log().unwrap();
        // Nothing is dry-run, the Secret included: its `stringData` is compared with the
        // base64 `data` the server folded it into (cli/cluster/src/skip.rs).
        assert_eq!(dry_runs(&log), Vec::<String>::new());
        assert_eq!(writes(&log), Vec::<String>::new(), "a no-op apply wrote");
    }
}

#[test]
fn a_kubectl_edit_of_a_field_kdep_sets_still_shows() {
    let (cluster, pkg) = applied();
    cluster.edit_as("kubectl-edit", "v1", "ConfigMap", Some("demo"), "a", &json!({"data": {"k": "edited"}})).unwrap();
    cluster
        .edit_as(
            "kubectl-edit",
            "apps/v1",
            "Deployment",
            Some("demo"),
            "web",
            &json!({"spec": {"template": {"spec": {"containers": [{
                "name": "app", "image": "nginx:1.27", "args": ["-g", "daemon on;"],
                "ports": [{"containerPort": 80, "protocol": "TCP"}], "resources": {"requests": {"cpu": "100m"}}
            }]}}}}),
        )
        .unwrap();
    // The edits took the fields from kdep: a conflict (exit 2) naming `kubectl-edit`.
    let d = kdep(&cluster, pkg.path(), &["diff", "--env", "dev"]);
    assert_eq!(d.code, 2, "{}", d.stderr);
    insta::assert_snapshot!("edit_diff", format!("{}\n--- stderr\n{}", d.stdout, d.stderr));
    let dr = kdep(&cluster, pkg.path(), &["drift", "--env", "dev"]);
    assert_eq!(dr.code, 3, "{}", dr.stderr);
    insta::assert_snapshot!("edit_drift", stable(&dr.stdout));
    // Taking them back puts the values back; then nothing shows again.
    let a = kdep(&cluster, pkg.path(), &["apply", "--env", "dev", "--wait=false", "--force-conflicts"]);
    assert_eq!(a.code, 0, "{}", a.stderr);
    let d = kdep(&cluster, pkg.path(), &["diff", "--env", "dev"]);
    assert_eq!((d.code, d.stdout.as_str()), (0, "0 to create, 0 to update, 0 to prune, 4 unchanged\n"), "{}", d.stderr);
}

#[test]
fn a_field_another_manager_forced_still_shows_as_a_conflict() {
    let (cluster, pkg) = applied();
    let web = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "demo"}, "spec": {"replicas": 5}});
    cluster.apply_as("autoscaler-script", &web, true).unwrap();
    // diff exits 2 on a conflict, as an apply would fail; the conflict names the manager.
    let d = kdep(&cluster, pkg.path(), &["diff", "--env", "dev"]);
    assert_eq!(d.code, 2, "{}", d.stderr);
    insta::assert_snapshot!("forced_diff", format!("{}\n--- stderr\n{}", d.stdout, d.stderr));

    // Forced to the value kdep sets: kdep shares the field, nothing to change.
    let web = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "demo"}, "spec": {"replicas": 2}});
    let (cluster, pkg) = applied();
    cluster.apply_as("other", &web, true).unwrap();
    let d = kdep(&cluster, pkg.path(), &["diff", "--env", "dev"]);
    assert_eq!((d.code, d.stdout.as_str()), (0, "0 to create, 0 to update, 0 to prune, 4 unchanged\n"), "{}", d.stderr);
}

#[test]
fn an_object_deleted_and_recreated_under_the_same_name_still_shows() {
    let (cluster, pkg) = applied();
    assert!(cluster.delete("v1", "ConfigMap", Some("demo"), "b").unwrap());
    // Recreated by someone else with kdep's very values (but not its set label).
    let b = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "b", "namespace": "demo"}, "data": {"k": "v"}});
    cluster.apply_as("someone", &b, false).unwrap();
    let d = kdep(&cluster, pkg.path(), &["diff", "--env", "dev"]);
    assert_eq!(d.code, 1, "{}", d.stderr);
    insta::assert_snapshot!("recreated_diff", stable(&d.stdout));
}

#[test]
fn forged_managed_fields_do_not_hide_a_changed_value() {
    let (cluster, pkg) = applied();
    // Someone with write access changes a value kdep set (the server gives the field to
    // them), then writes managedFields back as they were, so kdep's entry claims it again.
    let live = cluster.get("v1", "ConfigMap", Some("demo"), "a").unwrap().unwrap();
    let fields = live["metadata"]["managedFields"].clone();
    cluster.edit_as("forger", "v1", "ConfigMap", Some("demo"), "a", &json!({"data": {"k": "forged"}})).unwrap();
    cluster
        .edit_as("forger", "v1", "ConfigMap", Some("demo"), "a", &json!({"metadata": {"managedFields": fields}}))
        .unwrap();
    let after = cluster.get("v1", "ConfigMap", Some("demo"), "a").unwrap().unwrap();
    assert_eq!(after["data"]["k"], "forged");
    let managers: Vec<&str> =
        after["metadata"]["managedFields"].as_array().unwrap().iter().map(|e| e["manager"].as_str().unwrap()).collect();
    assert_eq!(managers, vec!["kdep"], "the forgery must leave kdep's entry alone for this attack");
    // kdep keeps no record of its own to forge (an annotation, the ApplySet parent): the
    // live value against the manifest decides.
    let d = kdep(&cluster, pkg.path(), &["diff", "--env", "dev"]);
    assert_eq!(d.code, 1, "{}", d.stderr);
    insta::assert_snapshot!("forged_diff", d.stdout);
    let dr = kdep(&cluster, pkg.path(), &["drift", "--env", "dev"]);
    assert_eq!(dr.code, 3, "{}", dr.stderr);
}
