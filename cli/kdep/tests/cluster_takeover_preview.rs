//! `kdep diff` previews exactly what taking over a client-side `kubectl apply` object does:
//! every field only that manager set and the package does not is removed (labels,
//! annotations, map keys, keyed list items), and what the server then defaults again shows its
//! default, not a removal; what another manager also owns stays. The attack: a preview that
//! shows other than the apply does would mislead the reviewer, so each test applies the
//! preview's diff to the object as it was and compares the result, line for line, with the
//! object the real apply leaves; a second `diff` then finds nothing. The writes as other field
//! managers are ordinary API requests, so the same tests run on a real cluster
//! (`KDEP_TEST_CLUSTER`).

#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a failed unwrap fails the test; JSON is read with `serde_json::Value[key]`, which yields Null"
)]

mod common;

use common::cluster::{kdep, needs_emulator, stable, Writes, DEV};
use kdep_tests::cluster::Cluster;
use serde_json::{json, Map, Value};

const TEMPLATES: &str = r#"template Settings {
    emit {
        apiVersion = "v1"
        kind = "ConfigMap"
        metadata.name = "settings"
        data = { mode = "new", shared = "1" }
    }
}

template Web {
    emit {
        apiVersion = "apps/v1"
        kind = "Deployment"
        metadata.name = "web"
        spec.replicas = 1
        spec.selector.matchLabels = { app = "web" }
        spec.template.metadata.labels = { app = "web" }
        spec.template.spec.containers = [{
            name = "web"
            image = "nginx:1.27"
            env = [{ name = "MODE", value = "new" }]
            ports = [{ containerPort = 8080, protocol = "TCP" }]
        }]
    }
}
"#;

/// What a client-side `kubectl apply` leaves: the object created with an Update entry of
/// `kubectl-client-side-apply` owning everything it sent.
fn create_as_client_side_apply(cluster: &Cluster, obj: &Value) {
    let kind = obj["kind"].as_str().unwrap();
    let path = cluster.object_path(obj["apiVersion"].as_str().unwrap(), kind, Some("demo"), "").unwrap();
    let r = cluster
        .request(
            "POST",
            &format!("{path}?fieldManager=kubectl-client-side-apply"),
            Some("application/json"),
            Some(&obj.to_string()),
        )
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.text);
    if kind == "Deployment" {
        // A real cluster's controller annotates the revision right after the create; the
        // preview must be compared with the object after that, on both kinds of cluster.
        common::cluster::revision_written(cluster, obj["metadata"]["name"].as_str().unwrap());
    }
}

/// An object as `kdep diff` shows it: without status, managedFields, resourceVersion and
/// generation, `apiVersion`, `kind` and `metadata` first, in the server's order.
fn shown(obj: &Value) -> String {
    let mut out = Map::new();
    for k in ["apiVersion", "kind"] {
        out.insert(k.into(), obj[k].clone());
    }
    let mut meta = obj["metadata"].as_object().unwrap().clone();
    // As kdep's normal form drops them (each removal moves the last field into its place).
    for k in ["managedFields", "resourceVersion", "generation"] {
        meta.swap_remove(k);
    }
    out.insert("metadata".into(), Value::Object(meta));
    for (k, v) in obj.as_object().unwrap() {
        if !["apiVersion", "kind", "metadata", "status"].contains(&k.as_str()) {
            out.insert(k.clone(), v.clone());
        }
    }
    serde_yaml::to_string(&Value::Object(out)).unwrap()
}

/// The unified diff of `object` (`Kind ns/name`) in `diff`'s output, applied to `before`:
/// what the preview says the object will be. Every context and removed line must be the
/// live object's, at the hunk's line numbers.
fn preview_of(stdout: &str, object: &str, before: &str) -> String {
    let section = stdout.split_once(&format!("~ update {object}\n")).unwrap_or_else(|| panic!("{stdout}")).1;
    let old: Vec<&str> = before.lines().collect();
    let mut out: Vec<String> = Vec::new();
    let mut at = 0usize;
    for line in section.lines().skip_while(|l| !l.starts_with("@@")) {
        if let Some(header) = line.strip_prefix("@@ -") {
            let start: usize = header.split([',', ' ']).next().unwrap().parse().unwrap();
            let start = start.saturating_sub(1).max(at);
            out.extend(old[at..start].iter().map(|l| (*l).to_owned()));
            at = start;
        } else if let Some(l) = line.strip_prefix(' ') {
            assert_eq!(old.get(at), Some(&l), "context line {} of {object}:\n{stdout}", at + 1);
            out.push(l.to_owned());
            at += 1;
        } else if let Some(l) = line.strip_prefix('-') {
            assert_eq!(old.get(at), Some(&l), "removed line {} of {object}:\n{stdout}", at + 1);
            at += 1;
        } else if let Some(l) = line.strip_prefix('+') {
            out.push(l.to_owned());
        } else {
            break;
        }
    }
    out.extend(old[at..].iter().map(|l| (*l).to_owned()));
    out.iter().map(|l| format!("{l}\n")).collect()
}

/// Runs `diff`, then `apply`, and checks that the preview was exactly what the apply left,
/// and that nothing is left to apply. Returns the diff's output and the object after.
fn preview_then_apply(
    cluster: &Cluster,
    pkg: &std::path::Path,
    api_version: &str,
    kind: &str,
    name: &str,
) -> (String, Value) {
    let before = cluster.get(api_version, kind, Some("demo"), name).unwrap().unwrap();
    if cluster.is_emulated() {
        cluster.clear_request_log().unwrap();
    }
    let d = kdep(cluster, pkg, &["diff", "--env", "dev"]);
    assert_eq!(d.code, 1, "{}\n{}", d.stdout, d.stderr);
    if !needs_emulator(
        cluster,
        &format!("takeover preview of {kind} {name}"),
        "request log (one dry-run PUT, no write)",
    ) {
        // The takeover's preview costs one dry-run update; the diff writes nothing.
        let path = cluster.object_path(api_version, kind, Some("demo"), name).unwrap();
        assert_eq!(kdep_requests(cluster, "PUT"), vec![format!("PUT {path} dryRun")]);
        assert!(kdep_requests(cluster, "").iter().all(|r| r.ends_with(" dryRun")), "the diff wrote");
    }
    let previewed = preview_of(&d.stdout, &format!("{kind} demo/{name}"), &shown(&before));

    let a = kdep(cluster, pkg, &["apply", "--env", "dev", "--wait=false"]);
    assert_eq!(a.code, 0, "{}\n{}", a.stdout, a.stderr);
    let mut after = cluster.get(api_version, kind, Some("demo"), name).unwrap().unwrap();
    // The Deployment revision a controller writes after the apply is not the apply's doing,
    // so not the preview's: compared as it was before.
    const REVISION: &str = "deployment.kubernetes.io/revision";
    let revision = before["metadata"]["annotations"].get(REVISION).cloned();
    if let Some(a) = after["metadata"]["annotations"].as_object_mut() {
        match revision {
            Some(r) => a.insert(REVISION.into(), r),
            None => a.shift_remove(REVISION),
        };
    }
    assert_eq!(previewed, shown(&after), "the preview differs from what the apply left:\n{}", d.stdout);
    let again = kdep(cluster, pkg, &["diff", "--env", "dev"]);
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    (d.stdout, after)
}

/// The writes kdep sent (all of them with `method` empty): `METHOD path`, ` dryRun` appended
/// for dry runs. Emulator only (its request log).
fn kdep_requests(cluster: &Cluster, method: &str) -> Vec<String> {
    cluster
        .request_log()
        .unwrap()
        .iter()
        .filter(|e| matches!(e.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE"))
        .filter(|e| (method.is_empty() || e.method == method) && !e.user_agent.starts_with("kdep-tests"))
        .filter(|e| !e.path.contains("selfsubject"))
        .map(|e| format!("{} {}{}", e.method, e.path, if e.dry_run { " dryRun" } else { "" }))
        .collect()
}

fn start() -> (Cluster, tempfile::TempDir) {
    let cluster = common::cluster::start();
    cluster.seed("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n").unwrap();
    let pkg = common::cluster::package(DEV, TEMPLATES, "app settings = templates.Settings {}\n");
    (cluster, pkg)
}

#[test]
fn released_labels_annotations_and_data_keys_go_and_what_another_manager_owns_stays() {
    let (cluster, pkg) = start();
    // `legacy` (annotation and data key): only client-side apply set them, the package no
    // longer does. `shared`: client-side apply set it, and another tool applied the same value
    // (both own it).
    create_as_client_side_apply(
        &cluster,
        &json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "settings", "namespace": "demo", "annotations": {"legacy": "yes"}},
            "data": {"mode": "old", "legacy": "1", "shared": "1"}}),
    );
    cluster
        .apply_as(
            "other-tool",
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "demo"},
                "data": {"shared": "1", "theirs": "x"}}),
            false,
        )
        .unwrap();
    // Another manager's annotation: it stays.
    cluster
        .edit_as(
            "kubectl-annotate",
            "v1",
            "ConfigMap",
            Some("demo"),
            "settings",
            &json!({"metadata": {"annotations": {"team": "x"}}}),
        )
        .unwrap();
    let (diff, after) = preview_then_apply(&cluster, pkg.path(), "v1", "ConfigMap", "settings");
    insta::assert_snapshot!("takeover_preview", stable(&diff));
    assert!(diff.contains("-  legacy: '1'\n"), "{diff}");
    assert_eq!(after["data"], json!({"mode": "new", "shared": "1", "theirs": "x"}));
    let annotations = after["metadata"]["annotations"].as_object().unwrap();
    assert_eq!(annotations.keys().collect::<Vec<_>>(), vec!["kdep.dev/source", "team"], "{annotations:?}");

    // A plan goes through the same preview.
    let (cluster, pkg) = start();
    create_as_client_side_apply(
        &cluster,
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "demo"},
            "data": {"mode": "old", "legacy": "1"}}),
    );
    let plan = pkg.path().join("plan.json");
    let md = pkg.path().join("plan.md");
    let p = kdep(
        &cluster,
        pkg.path(),
        &["plan", "--env", "dev", "--out", plan.to_str().unwrap(), "--markdown", md.to_str().unwrap()],
    );
    assert!(p.code == 0 || p.code == 1, "{}\n{}", p.stdout, p.stderr);
    let plan: Value = serde_json::from_str(&std::fs::read_to_string(&plan).unwrap()).unwrap();
    let text = plan.to_string();
    assert!(text.contains(r"-  legacy: '1'\n"), "{text}");
    assert!(std::fs::read_to_string(&md).unwrap().contains("-  legacy: '1'"));
}

#[test]
fn a_released_field_the_server_defaults_shows_its_default_and_released_list_items_go() {
    let (cluster, pkg) = start();
    common::cluster::write_package(pkg.path(), DEV, TEMPLATES, "app web = templates.Web {}\n");
    // Client-side apply set a non-default `revisionHistoryLimit`, an env var and a port the
    // package no longer has.
    create_as_client_side_apply(
        &cluster,
        &json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "demo"},
            "spec": {"replicas": 1, "revisionHistoryLimit": 3, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{
                    "name": "web", "image": "nginx:1.27",
                    "env": [{"name": "LEGACY", "value": "1"}, {"name": "MODE", "value": "old"}],
                    "ports": [{"containerPort": 8080, "protocol": "TCP"}, {"containerPort": 9090, "protocol": "TCP"}]}]}}}}),
    );
    let (diff, after) = preview_then_apply(&cluster, pkg.path(), "apps/v1", "Deployment", "web");
    insta::assert_snapshot!("takeover_preview_defaults", stable(&diff));
    // The old value goes to the server's default: not a removal.
    assert!(diff.contains("-  revisionHistoryLimit: 3\n+  revisionHistoryLimit: 10\n"), "{diff}");
    assert_eq!(after["spec"]["revisionHistoryLimit"], 10);
    let c = &after["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["env"], json!([{"name": "MODE", "value": "new"}]));
    assert_eq!(c["ports"], json!([{"containerPort": 8080, "protocol": "TCP"}]));
}

#[test]
fn a_takeover_that_releases_nothing_costs_no_extra_request() {
    let (cluster, pkg) = start();
    // Client-side apply set exactly the package's data: nothing is released.
    create_as_client_side_apply(
        &cluster,
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "demo"},
            "data": {"mode": "new", "shared": "1"}}),
    );
    if cluster.is_emulated() {
        cluster.clear_request_log().unwrap();
    }
    let d = kdep(&cluster, pkg.path(), &["diff", "--env", "dev"]);
    assert_eq!(d.code, 1, "{}\n{}", d.stdout, d.stderr);
    assert!(d.stdout.contains("note: taken over from kubectl-client-side-apply"), "{}", d.stdout);
    if !needs_emulator(&cluster, "a_takeover_that_releases_nothing_costs_no_extra_request", "request log") {
        assert_eq!(kdep_requests(&cluster, "PUT"), Vec::<String>::new());
    }
    let a = kdep(&cluster, pkg.path(), &["apply", "--env", "dev", "--wait=false"]);
    assert_eq!(a.code, 0, "{}\n{}", a.stdout, a.stderr);
    let d = kdep(&cluster, pkg.path(), &["diff", "--env", "dev"]);
    assert_eq!(d.code, 0, "{}\n{}", d.stdout, d.stderr);
}

#[test]
fn a_takeover_that_would_leave_an_invalid_object_fails_in_the_preview_and_writes_nothing() {
    let (cluster, pkg) = start();
    // The package no longer sets the pod template's `tier` label, which only client-side
    // apply set, but still selects on it: the apply after the takeover would remove the label,
    // and the server refuses a Deployment whose selector does not match its template. The
    // preview says so before anything is taken over.
    let templates = TEMPLATES.replace(
        "spec.selector.matchLabels = { app = \"web\" }",
        "spec.selector.matchLabels = { app = \"web\", tier = \"x\" }",
    );
    common::cluster::write_package(pkg.path(), DEV, &templates, "app web = templates.Web {}\n");
    create_as_client_side_apply(
        &cluster,
        &json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "demo"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web", "tier": "x"}},
                "template": {"metadata": {"labels": {"app": "web", "tier": "x"}}, "spec": {"containers": [{
                    "name": "web", "image": "nginx:1.27", "env": [{"name": "MODE", "value": "new"}],
                    "ports": [{"containerPort": 8080, "protocol": "TCP"}]}]}}}}),
    );
    let d = kdep(&cluster, pkg.path(), &["diff", "--env", "dev"]);
    assert_eq!(d.code, 2, "{}\n{}", d.stdout, d.stderr);
    insta::assert_snapshot!("takeover_preview_invalid", stable(&format!("{}{}", d.stdout, d.stderr)));
    // Not the resourceVersion: on a real cluster the deployment controller keeps writing the
    // object's status; `Writes` leaves those out.
    let since = Writes::since_now(&cluster);
    let a = kdep(&cluster, pkg.path(), &["apply", "--env", "dev", "--wait=false"]);
    assert_eq!(a.code, 2, "{}\n{}", a.stdout, a.stderr);
    assert_eq!(since.list(&cluster), Vec::<String>::new(), "the apply wrote");
}
