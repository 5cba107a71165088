//! End-to-end tests of the governance commands: `kdep explain OBJECT FIELD` (provenance),
//! `kdep build --source-map`, `kdep test` and `kdep impact`, run against scratch copies of the
//! bundled example and packages the tests write.

#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "test code: a panic is a failed test, and JSON documents are read by key"
)]

use std::path::{Path, PathBuf};

mod common;

use common::kdep;

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// A scratch copy of `examples/platform-and-teams` (builds write `kdep.lock`).
fn example() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("platform-and-teams");
    copy_tree(&examples_dir().join("platform-and-teams"), &root);
    (tmp, root)
}

// ---------------------------------------------------------------------------------------------
// kdep explain OBJECT FIELD

#[test]
fn explain_shows_the_chain_of_a_value() {
    let (_tmp, root) = example();
    let run = kdep(&root, &["explain", "Deployment/checkout", "spec.replicas", "--env", "production", "shop"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    insta::assert_snapshot!("explain_replicas_production", run.stdout);
    // Without the environment's block the app's own value wins; staging has no block.
    let run = kdep(&root, &["explain", "deployment/checkout", "spec.replicas", "--env", "staging", "shop"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.starts_with("Deployment/checkout spec.replicas = 3"), "{}", run.stdout);
    assert!(run.stdout.contains("set by app `checkout` at shop/checkout.kdep:10:5: replicas = 3"), "{}", run.stdout);
}

#[test]
fn explain_follows_list_indices_and_reports_computed_values() {
    let (_tmp, root) = example();
    let image = kdep(
        &root,
        &["explain", "Deployment/checkout", "spec.template.spec.containers[0].image", "--env", "production", "shop"],
    );
    assert_eq!(image.code, 0, "{}", image.stderr);
    insta::assert_snapshot!("explain_image", image.stdout);
    let label = kdep(
        &root,
        &[
            "explain",
            "Deployment/checkout",
            "metadata.labels[\"app.kubernetes.io/managed-by\"]",
            "--env",
            "production",
            "shop",
        ],
    );
    assert_eq!(label.code, 0, "{}", label.stderr);
    assert!(label.stdout.contains("= \"kdep\"") && label.stdout.contains("set by kdep"), "{}", label.stdout);
}

#[test]
fn explain_as_json() {
    let (_tmp, root) = example();
    let run = kdep(
        &root,
        &["explain", "Deployment/checkout", "spec.replicas", "--env", "production", "--format", "json", "shop"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["value"], 8);
    assert_eq!(doc["layer"], "environment");
    assert_eq!(doc["at"]["file"], "shop/checkout.kdep");
    assert_eq!(doc["at"]["line"], 16);
    let settings = doc["field"]["settings"].as_array().unwrap();
    assert_eq!(settings[0]["wins"], true);
    assert_eq!(settings[1]["layer"], "app");
    assert_eq!(settings[1]["written"], "3");
    let constraints = doc["field"]["constraints"].as_array().unwrap();
    assert_eq!(constraints.last().unwrap()["type"], "int(1..20)");
}

#[test]
fn explain_unknown_object_or_field_suggests_and_exits_1() {
    let (_tmp, root) = example();
    let object = kdep(&root, &["explain", "Deployment/chekout", "spec.replicas", "--env", "production", "shop"]);
    assert_eq!(object.code, 1);
    assert!(object.stdout.is_empty());
    let field = kdep(&root, &["explain", "Deployment/checkout", "spec.replcas", "--env", "production", "shop"]);
    assert_eq!(field.code, 1);
    let list = kdep(
        &root,
        &["explain", "Deployment/checkout", "spec.template.spec.containers[3]", "--env", "production", "shop"],
    );
    assert_eq!(list.code, 1);
    insta::assert_snapshot!(
        "explain_not_found",
        format!("{}\n---\n{}\n---\n{}", object.stderr, field.stderr, list.stderr)
    );
}

#[test]
fn explain_usage_errors_exit_2_and_codes_still_work() {
    let (_tmp, root) = example();
    let bad_path = kdep(&root, &["explain", "Deployment/checkout", "spec..replicas", "shop"]);
    assert_eq!(bad_path.code, 2, "{}", bad_path.stderr);
    assert!(bad_path.stderr.contains("empty segment"), "{}", bad_path.stderr);
    let no_field = kdep(&root, &["explain", "Deployment/checkout"]);
    assert_eq!(no_field.code, 2);
    assert!(no_field.stderr.contains("which field"), "{}", no_field.stderr);
    let code = kdep(&root, &["explain", "K0301"]);
    assert_eq!(code.code, 0);
    assert!(code.stdout.starts_with("# K0301 `locked-override`"), "{}", code.stdout);
    let unknown = kdep(&root, &["explain", "K9999"]);
    assert_eq!(unknown.code, 2);
}

#[test]
fn explain_of_a_failing_build_shows_the_errors_and_exits_1() {
    let (_tmp, root) = example();
    // Without an environment the platform template reads `environment`: K0506.
    let run = kdep(&root, &["explain", "Deployment/checkout", "spec.replicas", "shop"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("K0506"), "{}", run.stderr);
    assert!(run.stdout.is_empty());
}

// ---------------------------------------------------------------------------------------------
// kdep build --source-map

#[test]
fn source_map_maps_every_emitted_field() {
    let (_tmp, root) = example();
    let map_path = root.join("map.json");
    let run =
        kdep(&root, &["build", "shop", "--env", "production", "--source-map", map_path.to_str().unwrap(), "-o", "out"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = std::fs::read_to_string(&map_path).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["environment"], "production");
    let objects = doc["objects"].as_array().unwrap();
    let checkout = objects.iter().find(|o| o["kind"] == "Deployment" && o["name"] == "checkout").unwrap();
    let fields = checkout["fields"].as_array().unwrap();
    let replicas = fields.iter().find(|f| f["path"] == "spec.replicas").unwrap();
    insta::assert_snapshot!("source_map_replicas", serde_json::to_string_pretty(replicas).unwrap());
    let image = fields.iter().find(|f| f["path"] == "spec.template.spec.containers[0].image").unwrap();
    assert_eq!(image["layer"], "app");
    assert_eq!(image["file"], "shop/checkout.kdep");
    // Stamped by kdep, for the app declared at checkout.kdep:6.
    let managed = fields.iter().find(|f| f["path"] == "metadata.labels[\"app.kubernetes.io/managed-by\"]").unwrap();
    assert_eq!(managed["layer"], "builtin");
    assert_eq!((&managed["file"], &managed["line"]), (&"shop/checkout.kdep".into(), &6.into()));
    // Byte ranges point at the text that set the value.
    let src = std::fs::read_to_string(root.join("shop/checkout.kdep")).unwrap();
    let (start, end) = (replicas["start"].as_u64().unwrap() as usize, replicas["end"].as_u64().unwrap() as usize);
    assert_eq!(&src[start..end], "replicas = 8");
    // Every object of the build is in the map, and a second build writes the same bytes.
    let built = std::fs::read_dir(root.join("out"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".yaml"));
    assert_eq!(objects.len(), built.count());
    let again = kdep(&root, &["build", "shop", "--env", "production", "--source-map", map_path.to_str().unwrap()]);
    assert_eq!(again.code, 0);
    assert_eq!(std::fs::read_to_string(&map_path).unwrap(), text);
}

#[test]
fn source_map_is_not_written_when_the_build_fails() {
    let (_tmp, root) = example();
    let map_path = root.join("map.json");
    std::fs::write(&map_path, "previous").unwrap();
    let run = kdep(&root, &["build", "shop", "--source-map", map_path.to_str().unwrap()]);
    assert_eq!(run.code, 1);
    assert_eq!(std::fs::read_to_string(&map_path).unwrap(), "previous");
}
