//! `kdep diff`, `plan` and `apply` against a real API server (the emulator, or a real cluster
//! with `KDEP_TEST_CLUSTER=kubeconfig`): the real binary, real requests, whole outputs.
//!
//! Attacks first: an object the set does not own survives prune whatever its name, a stale
//! plan is refused, a secret value never appears in any output.

#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a failed unwrap fails the test; JSON is read with `serde_json::Value[key]`, which yields Null"
)]

mod common;

use std::path::Path;

use common::cluster::{flat, kdep, needs_emulator, revision_written, stable, writes, Writes, DEV, TEMPLATES};
use kdep_tests::cluster::{Cluster, Fault, FaultAction, Rollout};
use serde_json::json;

/// The emulator, or with `KDEP_TEST_CLUSTER` the real cluster it names (namespace `demo`
/// emptied first).
fn start() -> Cluster {
    common::cluster::start()
}

/// [`DEV`] and this file's own environments.
const OTHER_ENVS: &str = r#"environment prod { namespace = "demo", protected = true }
environment elsewhere { context = "no-such-context", namespace = "demo" }
"#;

/// A package `demo` whose `apps.kdep` is `apps`.
fn package(apps: &str) -> tempfile::TempDir {
    common::cluster::package(&format!("{DEV}{OTHER_ENVS}"), TEMPLATES, apps)
}

fn write_package(dir: &Path, apps: &str) {
    common::cluster::write_package(dir, &format!("{DEV}{OTHER_ENVS}"), TEMPLATES, apps);
}

const V1: &str = r#"app a = templates.Config { name = "a", data = { k = "v" } }
app b = templates.Config { name = "b" }
app web = templates.Web { name = "web", replicas = 2, cpu = "1" }
"#;

fn seed_namespace(cluster: &Cluster) {
    cluster.seed("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n").unwrap();
}

#[test]
fn diff_apply_and_a_second_apply_that_writes_nothing() {
    let cluster = start();
    seed_namespace(&cluster);
    let pkg = package(V1);
    let d = kdep(&cluster, pkg.path(), &["diff", "--env", "dev"]);
    assert_eq!(d.code, 1, "{}", d.stderr);
    insta::assert_snapshot!("diff_create", stable(&d.stdout));

    let a = kdep(&cluster, pkg.path(), &["apply", "--env", "dev", "--wait=false"]);
    assert_eq!(a.code, 0, "{}", a.stderr);
    insta::assert_snapshot!("apply_create", a.stdout);
    let web = cluster.get("apps/v1", "Deployment", Some("demo"), "web").unwrap().unwrap();
    assert_eq!(web["spec"]["replicas"], 2);
    assert!(web["metadata"]["labels"]["applyset.kubernetes.io/part-of"].as_str().unwrap().starts_with("applyset-"));
    let parent = cluster.get("v1", "ConfigMap", Some("demo"), "kdep-applyset-demo").unwrap().unwrap();
    assert_eq!(
        parent["metadata"]["annotations"]["applyset.kubernetes.io/contains-group-kinds"],
        "ConfigMap,Deployment.apps"
    );

    // Server defaults (revisionHistoryLimit, imagePullPolicy, ...) and the canonical quantity
    // (`cpu: "1"`) never show as changes.
    let d = kdep(&cluster, pkg.path(), &["diff", "--env", "dev"]);
    assert_eq!((d.code, d.stdout.as_str()), (0, "0 to create, 0 to update, 0 to prune, 3 unchanged\n"), "{}", d.stderr);

    // From the request log on the emulator, by resourceVersions on a real cluster.
    let since = Writes::since_now(&cluster);
    let a = kdep(&cluster, pkg.path(), &["apply", "--env", "dev", "--wait=false"]);
    assert_eq!(a.code, 0, "{}", a.stderr);
    assert_eq!(since.list(&cluster), Vec::<String>::new(), "a no-op apply wrote");
}

#[test]
fn diff_shows_only_what_kdep_changes_and_other_managers_fields_stay() {
    let cluster = start();
    seed_namespace(&cluster);
    let pkg = package(V1);
    assert_eq!(kdep(&cluster, pkg.path(), &["apply", "--env", "dev", "--wait=false"]).code, 0);
    revision_written(&cluster, "web");
    // Another manager adds an annotation kdep does not set: not a change for kdep.
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
    write_package(pkg.path(), &V1.replace("replicas = 2", "replicas = 3"));
    let d = kdep(&cluster, pkg.path(), &["diff", "--env", "dev"]);
    assert_eq!(d.code, 1, "{}", d.stderr);
    insta::assert_snapshot!("diff_update", stable(&d.stdout));
    let j = kdep(&cluster, pkg.path(), &["diff", "--env", "dev", "-o", "json"]);
    assert_eq!(j.code, 1);
    let v: serde_json::Value = serde_json::from_str(&j.stdout).unwrap();
    assert_eq!(v["summary"], json!({"create": 0, "update": 1, "prune": 0, "unchanged": 2}));
    assert_eq!(v["objects"][0]["name"], "web");
    assert_eq!(v["objects"][0]["action"], "update");
}

#[test]
fn secret_values_never_appear_in_output() {
    let cluster = start();
    seed_namespace(&cluster);
    let pkg = package(r#"app db = templates.Password { name = "db", password = "hunter2-first" }"#);
    let d = kdep(&cluster, pkg.path(), &["diff", "--env", "dev"]);
    assert!(!d.stdout.contains("hunter2") && !d.stderr.contains("hunter2"), "{}", d.stdout);
    assert!(d.stdout.contains("password: <changed>"), "{}", d.stdout);
    assert_eq!(kdep(&cluster, pkg.path(), &["apply", "--env", "dev", "--wait=false"]).code, 0);
    write_package(pkg.path(), r#"app db = templates.Password { name = "db", password = "hunter2-second" }"#);
    let plan_file = pkg.path().join("plan.json");
    let md = pkg.path().join("plan.md");
    for args in [
        vec!["diff", "--env", "dev"],
        vec!["diff", "--env", "dev", "-o", "json"],
        vec!["plan", "--env", "dev", "--out", plan_file.to_str().unwrap(), "--markdown", md.to_str().unwrap()],
    ] {
        let r = kdep(&cluster, pkg.path(), &args);
        assert!(r.code <= 1, "{args:?}: {}", r.stderr);
        for leaked in ["hunter2", "aHVudGVyMi1", "data:\n-  password: aH"] {
            assert!(
                !r.stdout.contains(leaked) && !r.stderr.contains(leaked),
                "{args:?} leaked {leaked}:\n{}",
                r.stdout
            );
        }
    }
    let d = kdep(&cluster, pkg.path(), &["diff", "--env", "dev"]);
    insta::assert_snapshot!("diff_secret", stable(&d.stdout));
    let markdown = std::fs::read_to_string(&md).unwrap();
    assert!(!markdown.contains("hunter2") && !markdown.contains("aHVudGVy"), "{markdown}");
    // The plan's human parts are masked; only its manifests (what will be applied) hold the value.
    let plan: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&plan_file).unwrap()).unwrap();
    assert!(!plan["objects"].to_string().contains("aHVudGVy"));
    assert!(!plan["objects"].to_string().contains("hunter2"));
}

#[test]
fn prune_deletes_only_members_of_this_set() {
    let cluster = start();
    seed_namespace(&cluster);
    let pkg = package(V1);
    assert_eq!(kdep(&cluster, pkg.path(), &["apply", "--env", "dev", "--wait=false"]).code, 0);
    let b = cluster.get("v1", "ConfigMap", Some("demo"), "b").unwrap().unwrap();
    let set_id = b["metadata"]["labels"]["applyset.kubernetes.io/part-of"].as_str().unwrap().to_owned();
    // Objects the set does not own: same kind, same namespace, one with kdep's name pattern and
    // one carrying another set's label, and one named like a member in another namespace.
    cluster
        .seed(&format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: not-ours\n  namespace: demo\n---\n\
             apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other-set\n  namespace: demo\n  labels:\n    applyset.kubernetes.io/part-of: applyset-someone-else-v1\n---\n\
             apiVersion: v1\nkind: Namespace\nmetadata:\n  name: other\n---\n\
             apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  namespace: other\n  labels:\n    applyset.kubernetes.io/part-of: {set_id}x\n"
        ))
        .unwrap();
    // What a real cluster can show instead of the request log: each object outside the set, and
    // the member that stays, keeps its UID (not deleted and recreated) and its resourceVersion
    // (not written at all).
    let survivors = [("demo", "not-ours"), ("demo", "other-set"), ("other", "b"), ("demo", "a")];
    let identity = |ns: &str, name: &str| {
        cluster
            .get("v1", "ConfigMap", Some(ns), name)
            .unwrap()
            .map(|o| (o["metadata"]["uid"].as_str().unwrap().to_owned(), o["metadata"]["resourceVersion"].clone()))
    };
    let before: Vec<_> = survivors.iter().map(|(ns, name)| identity(ns, name)).collect();
    assert!(before.iter().all(Option::is_some), "{before:?}");
    // `b` leaves the package.
    // (a comment keeps the other apps on their lines, so their `kdep.dev/source` stays the same)
    write_package(pkg.path(), &V1.replace("app b = templates.Config { name = \"b\" }", "// b is gone"));
    let d = kdep(&cluster, pkg.path(), &["diff", "--env", "dev"]);
    assert_eq!(d.code, 1);
    assert!(d.stdout.contains("- prune ConfigMap demo/b\n"), "{}", d.stdout);
    let n = kdep(&cluster, pkg.path(), &["diff", "--env", "dev", "--prune=false"]);
    assert_eq!((n.code, n.stdout.as_str()), (0, "0 to create, 0 to update, 0 to prune, 2 unchanged\n"));
    if cluster.is_emulated() {
        cluster.clear_request_log().unwrap();
    }
    let a = kdep(&cluster, pkg.path(), &["apply", "--env", "dev", "--wait=false"]);
    assert_eq!(a.code, 0, "{}", a.stderr);
    insta::assert_snapshot!("apply_prune", a.stdout);
    assert!(cluster.get("v1", "ConfigMap", Some("demo"), "b").unwrap().is_none());
    for ((ns, name), was) in survivors.iter().zip(&before) {
        assert_eq!(&identity(ns, name), was, "{ns}/{name} was deleted, recreated or written");
    }
    if !needs_emulator(&cluster, "prune_deletes_only_members_of_this_set", "request log (exactly one DELETE)") {
        let deletes: Vec<String> =
            writes(&cluster.request_log().unwrap()).into_iter().filter(|w| w.starts_with("DELETE ")).collect();
        assert_eq!(deletes, ["DELETE /api/v1/namespaces/demo/configmaps/b"]);
    }
}

#[test]
fn protected_environment_takes_fresh_reviewed_plans_only() {
    let cluster = start();
    seed_namespace(&cluster);
    let pkg = package(V1);
    let a = kdep(&cluster, pkg.path(), &["apply", "--env", "prod"]);
    assert_eq!(a.code, 2);
    insta::assert_snapshot!("protected_without_plan", a.stderr);
    let plan = pkg.path().join("plan.json");
    let p = kdep(&cluster, pkg.path(), &["plan", "--env", "prod", "--out", "plan.json"]);
    assert_eq!(p.code, 0, "{}", p.stderr);
    let a = kdep(&cluster, pkg.path(), &["apply", "--env", "prod", "--plan", "plan.json", "--wait=false"]);
    assert_eq!(a.code, 0, "{}", a.stderr);

    // The live object changes after the plan was written: the plan is stale.
    write_package(pkg.path(), &V1.replace("replicas = 2", "replicas = 4"));
    assert_eq!(kdep(&cluster, pkg.path(), &["plan", "--env", "prod", "--out", "plan.json"]).code, 0);
    cluster.edit_as("someone", "v1", "ConfigMap", Some("demo"), "a", &json!({"data": {"extra": "1"}})).unwrap();
    let a = kdep(&cluster, pkg.path(), &["apply", "--env", "prod", "--plan", "plan.json", "--wait=false"]);
    assert_eq!(a.code, 2, "{}", a.stderr);
    insta::assert_snapshot!("stale_plan", stable(&a.stderr));
    assert_eq!(cluster.get("apps/v1", "Deployment", Some("demo"), "web").unwrap().unwrap()["spec"]["replicas"], 2);

    // The sources change after the plan was written: refused as well.
    assert_eq!(kdep(&cluster, pkg.path(), &["plan", "--env", "prod", "--out", "plan.json"]).code, 0);
    write_package(pkg.path(), &V1.replace("replicas = 2", "replicas = 5"));
    let a = kdep(&cluster, pkg.path(), &["apply", "--env", "prod", "--plan", "plan.json", "--wait=false"]);
    assert_eq!(a.code, 2);
    assert!(flat(&a.stderr).contains("the sources changed since `plan.json` was written"), "{}", a.stderr);
    assert!(flat(&a.stderr).contains("kdep plan --env prod --out"), "{}", a.stderr);

    // A plan for another environment, or a damaged one.
    write_package(pkg.path(), V1);
    assert_eq!(kdep(&cluster, pkg.path(), &["plan", "--env", "dev", "--out", "dev.json"]).code, 0);
    let a = kdep(&cluster, pkg.path(), &["apply", "--env", "prod", "--plan", "dev.json"]);
    assert_eq!(a.code, 2);
    assert!(
        flat(&a.stderr).contains("is a plan for package `demo`, environment `dev`, not `demo`, `prod`"),
        "{}",
        a.stderr
    );
    let text = std::fs::read_to_string(&plan).unwrap();
    std::fs::write(&plan, &text[..text.len() / 2]).unwrap();
    let a = kdep(&cluster, pkg.path(), &["apply", "--env", "prod", "--plan", "plan.json"]);
    assert_eq!(a.code, 2);
    assert!(flat(&a.stderr).contains("`plan.json` is not a kdep plan"), "{}", a.stderr);
    let tampered = text.replace("\"k\": \"v\"", "\"k\": \"w\"");
    assert_ne!(tampered, text);
    std::fs::write(&plan, tampered).unwrap();
    let a = kdep(&cluster, pkg.path(), &["apply", "--env", "prod", "--plan", "plan.json"]);
    assert_eq!(a.code, 2);
    assert!(flat(&a.stderr).contains("was modified after it was written"), "{}", a.stderr);
}

/// Applies [`V1`] to `prod` through a plan, then writes a plan that scales `web` to 4.
fn planned_scale_up(cluster: &Cluster) -> tempfile::TempDir {
    seed_namespace(cluster);
    let pkg = package(V1);
    assert_eq!(kdep(cluster, pkg.path(), &["plan", "--env", "prod", "--out", "plan.json"]).code, 0);
    let a = kdep(cluster, pkg.path(), &["apply", "--env", "prod", "--plan", "plan.json", "--wait=false"]);
    assert_eq!(a.code, 0, "{}", a.stderr);
    write_package(pkg.path(), &V1.replace("replicas = 2", "replicas = 4"));
    replan(cluster, pkg.path());
    pkg
}

fn replan(cluster: &Cluster, dir: &Path) {
    let p = kdep(cluster, dir, &["plan", "--env", "prod", "--out", "plan.json"]);
    assert_eq!(p.code, 0, "{}", p.stderr);
}

fn apply_plan(cluster: &Cluster, dir: &Path) -> common::Run {
    kdep(cluster, dir, &["apply", "--env", "prod", "--plan", "plan.json", "--wait=false"])
}

fn replicas(cluster: &Cluster) -> serde_json::Value {
    cluster.get("apps/v1", "Deployment", Some("demo"), "web").unwrap().unwrap()["spec"]["replicas"].clone()
}

/// What a Deployment's controller writes during and after a rollout: status through the
/// subresource, and its revision annotation. Nothing the plan computed against.
fn controller_writes(cluster: &Cluster) {
    let status = json!({"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 1});
    cluster.patch_status("apps/v1", "Deployment", Some("demo"), "web", &status).unwrap();
    let revision = json!({"metadata": {"annotations": {"deployment.kubernetes.io/revision": "7"}}});
    cluster.edit_as("kube-controller-manager", "apps/v1", "Deployment", Some("demo"), "web", &revision).unwrap();
}

#[test]
fn a_plan_is_not_stale_from_controller_status_writes() {
    let cluster = start();
    let pkg = planned_scale_up(&cluster);
    // No wait for web's rollout: on a real cluster its controller is still writing now.
    controller_writes(&cluster);
    let a = apply_plan(&cluster, pkg.path());
    assert_eq!(a.code, 0, "{}", a.stderr);
    assert_eq!(replicas(&cluster), 4);
}

#[test]
fn a_plan_is_stale_after_another_managers_edit() {
    let cluster = start();
    let pkg = planned_scale_up(&cluster);
    // The scale last: after it `web` is another manager's to size, and a plan would show
    // that conflict instead.
    let edits: [(&str, &str, &str, &str, serde_json::Value); 3] = [
        ("kubectl-label", "v1", "ConfigMap", "a", json!({"metadata": {"labels": {"team": "x"}}})),
        ("kubectl-annotate", "v1", "ConfigMap", "b", json!({"metadata": {"annotations": {"note": "x"}}})),
        ("kubectl-scale", "apps/v1", "Deployment", "web", json!({"spec": {"replicas": 3}})),
    ];
    let mut out = String::new();
    for (manager, api_version, kind, name, patch) in &edits {
        replan(&cluster, pkg.path());
        // The controller's writes come on top: they must not hide the edit.
        controller_writes(&cluster);
        cluster.edit_as(manager, api_version, kind, Some("demo"), name, patch).unwrap();
        let a = apply_plan(&cluster, pkg.path());
        assert_eq!(a.code, 2, "{manager}: {}", a.stderr);
        out.push_str(&format!("--- {manager}\n{}", stable(&a.stderr)));
        assert_ne!(replicas(&cluster), 4, "{manager}: the stale plan was applied");
    }
    insta::assert_snapshot!("stale_after_edits", out);
}

#[test]
fn a_plan_is_stale_after_delete_and_recreate_with_the_same_content() {
    let cluster = start();
    let pkg = planned_scale_up(&cluster);
    let mut same = cluster.get("v1", "ConfigMap", Some("demo"), "a").unwrap().unwrap();
    for k in ["uid", "resourceVersion", "creationTimestamp", "managedFields"] {
        same["metadata"].as_object_mut().unwrap().remove(k);
    }
    assert!(cluster.delete("v1", "ConfigMap", Some("demo"), "a").unwrap());
    cluster.apply_as("kdep", &same, true).unwrap();
    let a = apply_plan(&cluster, pkg.path());
    assert_eq!(a.code, 2, "{}", a.stderr);
    insta::assert_snapshot!("stale_after_recreate", stable(&a.stderr));
    assert_eq!(replicas(&cluster), 2);
}

#[test]
fn a_plan_with_edited_or_missing_digests_cannot_pass_a_changed_object() {
    let cluster = start();
    let pkg = planned_scale_up(&cluster);
    let path = pkg.path().join("plan.json");
    let written: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    cluster.edit_as("someone", "v1", "ConfigMap", Some("demo"), "a", &json!({"data": {"extra": "1"}})).unwrap();
    // Every recorded digest replaced: the edit is still seen, the digest is compared with
    // the object as it is now, never trusted.
    let mut forged = written.clone();
    for o in forged["objects"].as_array_mut().unwrap() {
        o["liveDigest"] = json!("0".repeat(64));
    }
    std::fs::write(&path, forged.to_string()).unwrap();
    let a = apply_plan(&cluster, pkg.path());
    assert_eq!(a.code, 2, "{}", a.stderr);
    assert!(flat(&a.stderr).contains("ConfigMap demo/a changed since the plan"), "{}", a.stderr);
    // A plan without digests (an older kdep's) is judged by resourceVersion alone: a
    // controller's write makes it stale, with the reason.
    let mut old = written;
    for o in old["objects"].as_array_mut().unwrap() {
        o.as_object_mut().unwrap().remove("liveDigest");
    }
    std::fs::write(&path, old.to_string()).unwrap();
    controller_writes(&cluster);
    let a = apply_plan(&cluster, pkg.path());
    assert_eq!(a.code, 2, "{}", a.stderr);
    insta::assert_snapshot!("stale_old_plan", stable(&a.stderr));
    assert_eq!(replicas(&cluster), 2);
}

#[test]
fn conflicts_name_the_manager_and_fields_until_forced() {
    let cluster = start();
    seed_namespace(&cluster);
    let pkg = package(V1);
    assert_eq!(kdep(&cluster, pkg.path(), &["apply", "--env", "dev", "--wait=false"]).code, 0);
    cluster
        .edit_as("kubectl-scale", "apps/v1", "Deployment", Some("demo"), "web", &json!({"spec": {"replicas": 7}}))
        .unwrap();
    write_package(pkg.path(), &V1.replace("replicas = 2", "replicas = 3"));
    let a = kdep(&cluster, pkg.path(), &["apply", "--env", "dev", "--wait=false"]);
    assert_eq!(a.code, 1, "{}", a.stderr);
    insta::assert_snapshot!("conflict", a.stderr);
    assert_eq!(cluster.get("apps/v1", "Deployment", Some("demo"), "web").unwrap().unwrap()["spec"]["replicas"], 7);
    let a = kdep(&cluster, pkg.path(), &["apply", "--env", "dev", "--wait=false", "--force-conflicts"]);
    assert_eq!(a.code, 0, "{}", a.stderr);
    assert_eq!(cluster.get("apps/v1", "Deployment", Some("demo"), "web").unwrap().unwrap()["spec"]["replicas"], 3);
}

#[test]
fn rollouts_are_waited_for_and_failures_named() {
    let cluster = start();
    if needs_emulator(&cluster, "rollouts_are_waited_for_and_failures_named", "rollout simulation") {
        return;
    }
    seed_namespace(&cluster);
    let pkg = package(V1);
    assert_eq!(kdep(&cluster, pkg.path(), &["apply", "--env", "dev", "--wait=false"]).code, 0);
    cluster.set_rollout("apps/v1", "Deployment", "demo", "web", Rollout::Stalled).unwrap();
    let a = kdep(&cluster, pkg.path(), &["apply", "--env", "dev", "--timeout", "5s"]);
    assert_eq!(a.code, 1, "{}", a.stderr);
    assert!(
        flat(&a.stderr).contains("Deployment demo/web did not become ready: ProgressDeadlineExceeded"),
        "{}",
        a.stderr
    );
    cluster.set_rollout("apps/v1", "Deployment", "demo", "web", Rollout::Complete).unwrap();
    let a = kdep(&cluster, pkg.path(), &["apply", "--env", "dev", "--timeout", "5s"]);
    assert_eq!(a.code, 0, "{}", a.stderr);
    assert!(flat(&a.stderr).contains("ready Deployment demo/web"), "{}", a.stderr);
    cluster.set_rollout("apps/v1", "Deployment", "demo", "web", Rollout::Progressing).unwrap();
    let a = kdep(&cluster, pkg.path(), &["apply", "--env", "dev", "--timeout", "1s"]);
    assert_eq!(a.code, 1);
    assert!(flat(&a.stderr).contains("Deployment demo/web did not become ready: not ready after 1s"), "{}", a.stderr);
}

#[test]
fn throttling_and_server_errors_are_retried() {
    let cluster = start();
    if needs_emulator(&cluster, "throttling_and_server_errors_are_retried", "fault injection") {
        return;
    }
    seed_namespace(&cluster);
    let pkg = package(V1);
    cluster
        .inject_fault(
            &Fault::new(Some("PATCH"), None, FaultAction::Status { code: 429, retry_after: Some(1) }).times(2),
        )
        .unwrap();
    cluster
        .inject_fault(&Fault::new(Some("GET"), None, FaultAction::Status { code: 503, retry_after: None }).times(2))
        .unwrap();
    let a = kdep(&cluster, pkg.path(), &["apply", "--env", "dev", "--wait=false"]);
    assert_eq!(a.code, 0, "{}", a.stderr);
    let faults = cluster.request_log().unwrap().into_iter().filter(|e| e.fault.is_some()).count();
    assert_eq!(faults, 4);
}

#[test]
fn a_lost_connection_mid_apply_is_reported_and_a_rerun_converges() {
    let cluster = start();
    if needs_emulator(&cluster, "a_lost_connection_mid_apply_is_reported_and_a_rerun_converges", "fault injection") {
        return;
    }
    seed_namespace(&cluster);
    let apps: String = (0..50).map(|i| format!("app c{i} = templates.Config {{ name = \"c{i}\" }}\n")).collect();
    let pkg = package(&apps);
    // After 20 real applies every PATCH connection is dropped (more often than kdep retries).
    cluster
        .inject_fault(
            &Fault::new(Some("PATCH"), None, FaultAction::Drop { after_processing: false })
                .skip(20 + 50 + 1)
                .times(1000),
        )
        .unwrap();
    let a = kdep(&cluster, pkg.path(), &["apply", "--env", "dev", "--wait=false"]);
    assert_eq!(a.code, 1, "{}", a.stderr);
    assert!(flat(&a.stderr).contains("the apply did not complete: "), "{}", a.stderr);
    assert!(flat(&a.stderr).contains("connection lost"), "{}", a.stderr);
    let created = a.stdout.lines().filter(|l| l.starts_with("created ")).count();
    let listed = cluster.list("v1", "ConfigMap", Some("demo"), Some("applyset.kubernetes.io/part-of")).unwrap().len();
    assert_eq!(created, listed, "the report must say exactly what was applied:\n{}", a.stdout);
    assert!(created < 50);
    cluster.clear_faults().unwrap();
    let a = kdep(&cluster, pkg.path(), &["apply", "--env", "dev", "--wait=false"]);
    assert_eq!(a.code, 0, "{}", a.stderr);
    let listed = cluster.list("v1", "ConfigMap", Some("demo"), Some("applyset.kubernetes.io/part-of")).unwrap().len();
    assert_eq!(listed, 50);
}

#[test]
fn a_read_only_identity_changes_nothing() {
    let cluster = start();
    if needs_emulator(&cluster, "a_read_only_identity_changes_nothing", "read-only identity") {
        return;
    }
    seed_namespace(&cluster);
    let pkg = package(V1);
    cluster.clear_request_log().unwrap();
    let ro = cluster.readonly_kubeconfig().unwrap().to_str().unwrap().to_owned();
    let a = kdep(&cluster, pkg.path(), &["apply", "--env", "dev", "--kubeconfig", &ro]);
    assert_eq!(a.code, 2, "{}", a.stderr);
    assert!(flat(&a.stderr).contains("nothing was changed"), "{}", a.stderr);
    assert!(flat(&a.stderr).contains("403"), "{}", a.stderr);
    assert_eq!(writes(&cluster.request_log().unwrap()), Vec::<String>::new());
}

#[test]
fn bad_input_is_a_clear_error_with_exit_2() {
    let cluster = start();
    let pkg = package(V1);
    let r = kdep(&cluster, pkg.path(), &["diff", "--env", "staging"]);
    assert_eq!(r.code, 2);
    insta::assert_snapshot!("unknown_env", r.stderr);
    let r = kdep(&cluster, pkg.path(), &["diff", "--env", "elsewhere"]);
    assert_eq!(r.code, 2);
    insta::assert_snapshot!("missing_context", r.stderr);
    let dead = pkg.path().join("dead-kubeconfig");
    let kc = std::fs::read_to_string(cluster.kubeconfig()).unwrap();
    let server = cluster.server().to_owned();
    std::fs::write(&dead, kc.replace(&server, "https://127.0.0.1:9")).unwrap();
    let r = kdep(&cluster, pkg.path(), &["diff", "--env", "dev", "--kubeconfig", dead.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(flat(&r.stderr).contains("https://127.0.0.1:9"), "{}", r.stderr);
    assert!(flat(&r.stderr).contains("check that the cluster is reachable"), "{}", r.stderr);
    let r = kdep(&cluster, pkg.path(), &["diff", "--env", "dev", "--kubeconfig", "/nonexistent/kubeconfig"]);
    assert_eq!(r.code, 2);
    assert!(flat(&r.stderr).contains("cannot read kubeconfig `/nonexistent/kubeconfig`"), "{}", r.stderr);
}
