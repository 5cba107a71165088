//! `kdep diff` previews the labels and annotations that taking over a client-side `kubectl
//! apply` object removes: those only that manager set and the package does not (they go once
//! kdep owns them, `last-applied-configuration` among them), not those another manager owns.
//! The attack: a preview that shows other than the apply does would mislead the reviewer, so
//! the preview is compared with the object the apply leaves. Outside labels and annotations
//! the preview still shows the dry run's answer (see the FIXME below).

#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a failed unwrap fails the test; JSON is read with `serde_json::Value[key]`, which yields Null"
)]

mod common;

use common::cluster::kdep;
use serde_json::json;

const ENVS: &str = "environment dev { namespace = \"demo\" }\n";

const TEMPLATES: &str = r#"template Settings {
    emit {
        apiVersion = "v1"
        kind = "ConfigMap"
        metadata.name = "settings"
        data = { mode = "new" }
    }
}
"#;

const APPS: &str = "app settings = templates.Settings {}\n";

#[test]
fn diff_shows_the_fields_a_takeover_removes_and_the_apply_removes_exactly_those() {
    if std::env::var("KDEP_TEST_CLUSTER").is_ok() {
        eprintln!("skipped: writes as other field managers through the emulator");
        return;
    }
    let cluster = common::cluster::start();
    cluster.seed("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n").unwrap();
    // What `kubectl apply` (client-side) leaves: an Update entry of `kubectl-client-side-apply`
    // owning everything it sent, a field the package no longer sets (`legacy`) among them.
    let legacy = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": "demo", "annotations": {"legacy": "yes"}},
        "data": {"mode": "old", "legacy": "1"}});
    let r = cluster
        .request(
            "POST",
            "/api/v1/namespaces/demo/configmaps?fieldManager=kubectl-client-side-apply",
            Some("application/json"),
            Some(&legacy.to_string()),
        )
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.text);
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
    let pkg = common::cluster::package(ENVS, TEMPLATES, APPS);
    let d = kdep(&cluster, pkg.path(), &["diff", "--env", "dev"]);
    assert_eq!(d.code, 1, "{}", d.stderr);
    insta::assert_snapshot!("takeover_preview", d.stdout);
    let d_before = d.stdout.clone();
    assert!(d.stdout.contains("-    legacy: \"yes\"\n") || d.stdout.contains("-    legacy: yes\n"), "{}", d.stdout);

    let a = kdep(&cluster, pkg.path(), &["apply", "--env", "dev", "--wait=false"]);
    assert_eq!(a.code, 0, "{}", a.stderr);
    let after = cluster.get("v1", "ConfigMap", Some("demo"), "settings").unwrap().unwrap();
    // What the preview showed: the annotation only client-side apply set is gone, the other
    // manager's stays.
    // FIXME: the apply also removes `data.legacy` (only client-side apply set it), but the
    // preview still shows it: outside labels and annotations a released field may be defaulted
    // again by the server, and the dry run (made before the takeover, the server does not chain
    // dry runs) cannot say which, so the preview leaves those fields as the dry run shows them.
    assert!(d_before.contains("   legacy: '1'\n"), "{d_before}");
    assert_eq!(after["data"], json!({"mode": "new"}));
    let annotations = after["metadata"]["annotations"].as_object().unwrap();
    assert_eq!(annotations.keys().collect::<Vec<_>>(), vec!["kdep.dev/source", "team"], "{annotations:?}");
    let d = kdep(&cluster, pkg.path(), &["diff", "--env", "dev"]);
    assert_eq!(d.code, 0, "{}\n{}", d.stdout, d.stderr);
}
