//! A Secret the package writes with `stringData`: the server folds it into `data` (base64) and
//! never returns it, so `diff` compares the package's values with the live `data` they became.
//! Unchanged, it shows nothing and is not even dry-run; a value edited through `data` (a
//! `kubectl edit` of the base64) still shows as a change, masked, and the apply restores it.

#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a failed unwrap fails the test; JSON is read with `serde_json::Value[key]`, which yields Null"
)]

mod common;

use common::cluster::{kdep, needs_emulator, stable, DEV};
use serde_json::json;

const TEMPLATES: &str = r#"template Password {
    password: string
    emit {
        apiVersion = "v1"
        kind = "Secret"
        metadata.name = "db"
        stringData = { password = password, user = "admin" }
    }
}
"#;

const APPS: &str = "app db = templates.Password { password = \"hunter2\" }\n";

/// Neither the value nor its base64 appears.
fn assert_masked(out: &str) {
    for leaked in ["hunter2", "aHVudGVyMg", "stolen", "c3RvbGVu", "YWRtaW4"] {
        assert!(!out.contains(leaked), "leaked {leaked}:\n{out}");
    }
}

#[test]
fn string_data_matching_the_live_data_is_unchanged_and_an_edit_of_data_shows_masked() {
    let cluster = common::cluster::start();
    cluster.seed("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n").unwrap();
    let pkg = common::cluster::package(DEV, TEMPLATES, APPS);
    let a = kdep(&cluster, pkg.path(), &["apply", "--env", "dev", "--wait=false"]);
    assert_eq!(a.code, 0, "{}\n{}", a.stdout, a.stderr);
    // What the server keeps: `data`, base64; no `stringData`.
    let live = cluster.get("v1", "Secret", Some("demo"), "db").unwrap().unwrap();
    assert_eq!(live["data"], json!({"password": "aHVudGVyMg==", "user": "YWRtaW4="}));
    assert!(live.get("stringData").is_none(), "{live}");

    if cluster.is_emulated() {
        cluster.clear_request_log().unwrap();
    }
    let d = kdep(&cluster, pkg.path(), &["diff", "--env", "dev"]);
    assert_eq!((d.code, d.stdout.as_str()), (0, "0 to create, 0 to update, 0 to prune, 1 unchanged\n"), "{}", d.stderr);
    if !needs_emulator(&cluster, "string_data_matching_the_live_data_is_unchanged", "request log (to see no dry run)") {
        // Proved unchanged from the live object: no dry run.
        let dry: Vec<String> =
            cluster.request_log().unwrap().iter().filter(|e| e.dry_run).map(|e| e.path.clone()).collect();
        assert_eq!(dry, Vec::<String>::new());
    }

    // `kubectl edit` of the base64 in `data`.
    cluster
        .edit_as("kubectl-edit", "v1", "Secret", Some("demo"), "db", &json!({"data": {"password": "c3RvbGVu"}}))
        .unwrap();
    let d = kdep(&cluster, pkg.path(), &["diff", "--env", "dev"]);
    assert_eq!(d.code, 1, "{}\n{}", d.stdout, d.stderr);
    assert_masked(&d.stdout);
    assert_masked(&d.stderr);
    insta::assert_snapshot!("secret_edited_through_data", stable(&d.stdout));
    let dr = kdep(&cluster, pkg.path(), &["drift", "--env", "dev"]);
    assert_eq!(dr.code, 3, "{}\n{}", dr.stdout, dr.stderr);
    assert_masked(&dr.stdout);
    assert!(dr.stdout.contains(".data.password"), "{}", dr.stdout);

    let a = kdep(&cluster, pkg.path(), &["apply", "--env", "dev", "--wait=false"]);
    assert_eq!(a.code, 0, "{}\n{}", a.stdout, a.stderr);
    assert_masked(&a.stdout);
    let live = cluster.get("v1", "Secret", Some("demo"), "db").unwrap().unwrap();
    assert_eq!(live["data"]["password"], "aHVudGVyMg==");
    let d = kdep(&cluster, pkg.path(), &["diff", "--env", "dev"]);
    assert_eq!(d.code, 0, "{}\n{}", d.stdout, d.stderr);
}
