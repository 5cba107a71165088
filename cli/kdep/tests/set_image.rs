//! `kdep set image`: the source before and after (comments kept, formatted), the report, and
//! every refusal (unknown app or environment, locked, computed, rejected by the field's type,
//! unknown field) with the file left byte for byte as it was.

#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a failed unwrap fails the test; JSON is read with `serde_json::Value[key]`, which yields Null"
)]

mod common;

use std::path::Path;

use common::kdep;

const TOML: &str = "[package]\nname = \"shop\"\nversion = \"0.1.0\"\n";

const ENVS: &str = "\
environment staging { namespace = \"shop-staging\" }
environment production { namespace = \"shop\" }
";

/// A package with the given `main.kdep` (and the two environments); returns its folder.
fn package(main: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("kdep.toml"), TOML).unwrap();
    std::fs::write(dir.path().join("envs.kdep"), ENVS).unwrap();
    std::fs::write(dir.path().join("main.kdep"), main).unwrap();
    dir
}

fn main_kdep(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("main.kdep")).unwrap()
}

/// Runs `kdep set image ARGS` in the package and renders the whole exchange for a snapshot.
fn set(dir: &Path, args: &[&str]) -> String {
    let before = main_kdep(dir);
    let mut all = vec!["set", "image"];
    all.extend_from_slice(args);
    let run = kdep(dir, &all);
    let after = main_kdep(dir);
    let file =
        if after == before { "(main.kdep unchanged)".to_owned() } else { format!("--- main.kdep after\n{after}") };
    format!(
        "$ kdep set image {}\nexit {}\n--- stderr\n{}--- stdout\n{}{file}",
        args.join(" "),
        run.code,
        run.stderr,
        run.stdout
    )
}

const WEB: &str = "\
// The checkout service.
import std.workloads

app checkout = workloads.WebService {
    name = \"checkout\"
    // bumped by CI
    image = \"registry.example.com/shop/checkout:1.4.2\" // the release
    replicas = 2

    in production {
        replicas = 4 // busy
    }
}
";

#[test]
fn replaces_the_image_keeping_comments() {
    let dir = package(WEB);
    insta::assert_snapshot!(set(dir.path(), &["checkout=registry.example.com/shop/checkout:1.5.0"]));
    // The edited package still checks and builds with the new image.
    let build = kdep(dir.path(), &["build", "--env", "staging"]);
    assert_eq!(build.code, 0, "{}", build.stderr);
    assert!(build.stdout.contains("image: registry.example.com/shop/checkout:1.5.0"));
    // Setting it again changes nothing and says so.
    insta::assert_snapshot!("already_set", set(dir.path(), &["checkout=registry.example.com/shop/checkout:1.5.0"]));
}

#[test]
fn per_environment_adds_the_assignment_to_the_in_block() {
    let dir = package(WEB);
    insta::assert_snapshot!(set(
        dir.path(),
        &["checkout=registry.example.com/shop/checkout:1.6.0-rc.1", "--env", "production"]
    ));
    let prod = kdep(dir.path(), &["build", "--env", "production"]);
    assert!(prod.stdout.contains("image: registry.example.com/shop/checkout:1.6.0-rc.1"), "{}", prod.stdout);
    let staging = kdep(dir.path(), &["build", "--env", "staging"]);
    assert!(staging.stdout.contains("image: registry.example.com/shop/checkout:1.4.2"), "{}", staging.stdout);
    // A new `in` block when the app has none for that environment, and a note on the body
    // edit that production keeps its own image.
    insta::assert_snapshot!(
        "new_in_block",
        set(dir.path(), &["checkout=registry.example.com/shop/checkout:1.5.0", "--env", "staging"])
    );
    insta::assert_snapshot!("note_other_env", set(dir.path(), &["checkout=registry.example.com/shop/checkout:1.5.0"]));
}

#[test]
fn adds_the_image_when_the_app_leaves_the_default() {
    let dir = package(
        "\
template Web {
    name: string
    image: string = \"registry.example.com/base:1.0\"
    emit { apiVersion = \"v1\", kind = \"ConfigMap\", metadata.name = name, data.image = image }
}

app web = Web {
    name = \"web\"
}
",
    );
    insta::assert_snapshot!(set(dir.path(), &["web=registry.example.com/web:2.0"]));
}

#[test]
fn refuses_a_locked_image() {
    let dir = package(
        "\
template Pinned {
    name: string
    locked image = \"registry.example.com/platform/proxy:2.0.0\"
    emit { apiVersion = \"v1\", kind = \"ConfigMap\", metadata.name = name, data.image = image }
}

app proxy = Pinned {
    name = \"proxy\"
}
",
    );
    insta::assert_snapshot!(set(dir.path(), &["proxy=registry.example.com/platform/proxy:2.1.0"]));
}

#[test]
fn refuses_a_computed_image() {
    let dir = package(
        "\
import std.workloads

let version = \"1.4.2\"

app checkout = workloads.WebService {
    name = \"checkout\"
    image = \"registry.example.com/shop/checkout:${version}\"
}
",
    );
    insta::assert_snapshot!(set(dir.path(), &["checkout=registry.example.com/shop/checkout:1.5.0"]));
}

#[test]
fn refuses_what_the_field_type_rejects_and_unknown_fields() {
    let dir = package(WEB);
    insta::assert_snapshot!("bad_reference", set(dir.path(), &["checkout=Registry Example/checkout:latest!"]));
    insta::assert_snapshot!("unknown_container", set(dir.path(), &["checkout.sidecar=envoy:1.30"]));
}

#[test]
fn refuses_unknown_apps_environments_and_bad_arguments() {
    let dir = package(WEB);
    insta::assert_snapshot!("unknown_app", set(dir.path(), &["chekout=registry.example.com/shop/checkout:1.5.0"]));
    insta::assert_snapshot!(
        "unknown_env",
        set(dir.path(), &["checkout=registry.example.com/shop/checkout:1.5.0", "--env", "prod"])
    );
    insta::assert_snapshot!("no_equals", set(dir.path(), &["checkout"]));
    insta::assert_snapshot!("empty_reference", set(dir.path(), &["checkout="]));
}

#[test]
fn json_diagnostics_for_ci() {
    let dir = package(WEB);
    let run = kdep(dir.path(), &["set", "image", "nope=x:1", "--message-format", "json"]);
    assert_eq!(run.code, 1);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["diagnostics"][0]["code"], "K0670");
}

#[test]
fn refuses_a_file_with_syntax_errors() {
    let dir = package(&WEB.replace("replicas = 2", "replicas = = 2"));
    let before = main_kdep(dir.path());
    let run = kdep(dir.path(), &["set", "image", "checkout=registry.example.com/shop/checkout:1.5.0"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("[K0672] Error: `main.kdep` has syntax errors"), "{}", run.stderr);
    assert_eq!(main_kdep(dir.path()), before);
}

/// Attack: the reference is data, never source. Quotes, `${…}` and newlines in it end up
/// escaped inside the one string literal, so they can neither close the string and add
/// fields nor interpolate a name.
#[test]
fn the_reference_cannot_inject_source() {
    let dir = package(
        "\
let secret = \"s3cret\"

template Web {
    name: string
    image: string
    emit { apiVersion = \"v1\", kind = \"ConfigMap\", metadata.name = name, data.image = image }
}

app web = Web {
    name = \"web\"
    image = \"registry.example.com/web:1.0\"
}
",
    );
    let evil = "x:1\"\n    name = \"pwned\" // ${secret}";
    let run = kdep(dir.path(), &["set", "image", &format!("web={evil}")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let build = kdep(dir.path(), &["build"]);
    assert_eq!(build.code, 0, "{}", build.stderr);
    assert!(build.stdout.contains("name: web\n"), "{}", build.stdout);
    assert!(!build.stdout.contains("pwned\n") && !build.stdout.contains("s3cret"), "{}", build.stdout);
    let docs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&build.stdout)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    assert_eq!(docs[0]["data"]["image"].as_str(), Some(evil), "the image is exactly the reference given");
}
