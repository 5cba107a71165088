//! Policies through the real binary: violations and waivers in `check` (human and JSON) and
//! `build`, on a scratch copy of the bundled example, and the examples of docs/policies.md.

#![expect(clippy::unwrap_used, reason = "a test fails loudly on a broken scratch package")]

mod common;

use std::path::{Path, PathBuf};

use common::kdep;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A scratch copy of `examples/platform-and-teams`, with `edit` applied to one of its files.
fn example_with(file: &str, from: &str, to: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("platform-and-teams");
    copy_dir(&repo().join("examples/platform-and-teams"), &root);
    let path = root.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{file} has no `{from}`");
    std::fs::write(&path, text.replace(from, to)).unwrap();
    (tmp, root)
}

const CHECKOUT_IMAGE: &str = "registry.example.com/shop/checkout:1.4.2";

#[test]
fn a_latest_image_fails_check_and_build_at_the_apps_line() {
    let (_tmp, root) = example_with("shop/checkout.kdep", CHECKOUT_IMAGE, "registry.example.com/shop/checkout:latest");
    let check = kdep(&root, &["check", "shop"]);
    assert_eq!(check.code, 1, "{}", check.stderr);
    insta::assert_snapshot!("latest_image_check_human", check.stderr);
    let json = kdep(&root, &["check", "shop", "--message-format", "json"]);
    assert_eq!(json.code, 1);
    let parsed: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    insta::assert_json_snapshot!("latest_image_check_json", parsed);
    let build = kdep(&root, &["build", "shop", "--env", "production"]);
    assert_eq!(build.code, 1, "{}", build.stderr);
    assert!(build.stdout.is_empty(), "a failed build writes nothing:\n{}", build.stdout);
    assert!(
        build.stderr.contains("[K0601] Error") && build.stderr.contains("shop/checkout.kdep:10:5"),
        "{}",
        build.stderr
    );
}

#[test]
fn a_warning_policy_reports_but_does_not_fail() {
    let (_tmp, root) = example_with(
        "platform/policies.kdep",
        "policy images_pinned = policies.images_pinned {}",
        "policy images_pinned = policies.images_pinned { severity = \"warning\" }",
    );
    std::fs::write(
        root.join("shop/checkout.kdep"),
        std::fs::read_to_string(root.join("shop/checkout.kdep"))
            .unwrap()
            .replace(CHECKOUT_IMAGE, "registry.example.com/shop/checkout:latest"),
    )
    .unwrap();
    let build = kdep(&root, &["build", "shop", "--env", "production"]);
    assert_eq!(build.code, 0, "{}", build.stderr);
    assert!(
        build.stderr.contains("[K0601] Warning: image `registry.example.com/shop/checkout:latest` is not pinned"),
        "{}",
        build.stderr
    );
    assert!(!build.stdout.is_empty());
}

#[test]
fn a_team_policy_of_the_same_name_does_not_replace_the_platforms() {
    let (_tmp, root) = example_with("shop/checkout.kdep", CHECKOUT_IMAGE, "registry.example.com/shop/checkout:latest");
    std::fs::write(
        root.join("shop/policies.kdep"),
        "// The team's attempt to switch the platform's rule off.\npolicy images_pinned {\n    check = true\n    severity = \"warning\"\n}\n",
    )
    .unwrap();
    let check = kdep(&root, &["check", "shop"]);
    assert_eq!(check.code, 1, "{}", check.stderr);
    assert!(
        check.stderr.contains("[K0601] Error: image `registry.example.com/shop/checkout:latest` is not pinned"),
        "{}",
        check.stderr
    );
}

#[test]
fn check_json_lists_the_waivers() {
    let run = kdep(&repo().join("examples/platform-and-teams"), &["check", "payments", "--message-format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let parsed: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    insta::assert_json_snapshot!("payments_check_json_waivers", parsed);
}

/// The ```` ```kdep ```` blocks of docs/policies.md, each with the expectation on its first line
/// (`// ok` or `// fails: K0604`).
fn guide_blocks() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo().join("docs/policies.md")).unwrap();
    let mut out = Vec::new();
    let mut block: Option<String> = None;
    for line in text.lines() {
        match (&mut block, line.trim_end()) {
            (None, "```kdep") => block = Some(String::new()),
            (Some(b), "```") => {
                let b = std::mem::take(b);
                let expect = b.lines().next().unwrap_or_default().trim_start_matches("// ").to_owned();
                out.push((expect, b));
                block = None;
            }
            (Some(b), _) => {
                b.push_str(line);
                b.push('\n');
            }
            (None, _) => {}
        }
    }
    out
}

const PLATFORM_WEB: &str = r#"// A minimal web template for the guide's examples.
template Web {
    name: string
    image: string
    emit {
        // A kind without a schema, so the example needs no full Deployment.
        apiVersion = "example.com/v1"
        kind = "Workload"
        metadata.name = name
        spec.template.spec.containers = [{ name = name, image = image }]
    }
}
"#;

const PLATFORM_POLICIES: &str = r#"// The guide's platform policies.
policy images_pinned {
    at = "spec.template.spec.containers[*].image"
    check = value != null && !ends_with(value, ":latest")
}

policy no_host_network {
    at = "spec.template.spec.hostNetwork"
    check = value != true
    waivable = false
}
"#;

#[test]
fn the_guides_examples_compile_as_they_say() {
    let blocks = guide_blocks();
    assert!(blocks.len() >= 4, "found only {} examples in docs/policies.md", blocks.len());
    for (expect, code) in blocks {
        let tmp = tempfile::tempdir().unwrap();
        let platform = tmp.path().join("platform");
        let team = tmp.path().join("team");
        std::fs::create_dir_all(&platform).unwrap();
        std::fs::create_dir_all(&team).unwrap();
        std::fs::write(platform.join("kdep.toml"), "[package]\nname = \"platform\"\nversion = \"0.1.0\"\n").unwrap();
        std::fs::write(platform.join("web.kdep"), PLATFORM_WEB).unwrap();
        std::fs::write(platform.join("policies.kdep"), PLATFORM_POLICIES).unwrap();
        std::fs::write(
            team.join("kdep.toml"),
            "[package]\nname = \"team\"\nversion = \"0.1.0\"\n\n[dependencies]\nplatform = { path = \"../platform\" }\n",
        )
        .unwrap();
        std::fs::write(team.join("main.kdep"), &code).unwrap();
        let run = kdep(&team, &["check", "."]);
        match expect.strip_prefix("fails: ") {
            None => {
                assert_eq!(expect, "ok", "unknown expectation in:\n{code}");
                assert_eq!(run.code, 0, "this example should compile:\n{code}\n{}", run.stderr);
            }
            Some(codes) => {
                assert_eq!(run.code, 1, "this example should fail:\n{code}\n{}", run.stderr);
                for c in codes.split(", ") {
                    assert!(run.stderr.contains(&format!("[{c}]")), "expected {c}:\n{code}\n{}", run.stderr);
                }
            }
        }
    }
}

/// Attack: a platform enables a policy whose selector is misspelt (`hostNetwrk`), or names a
/// kind that does not exist. Against the real Kubernetes library, `check` fails at the
/// segment with the field's right name, instead of the policy silently checking nothing.
#[test]
fn a_misspelt_policy_selector_or_kind_fails_check_against_the_kubernetes_library() {
    let (_tmp, root) = example_with(
        "platform/policies.kdep",
        "policy images_pinned = policies.images_pinned {}",
        "policy images_pinned = policies.images_pinned {}\n\n\
         policy no_host_network {\n    kinds = [\"Deployment\", \"CronJob\"]\n    \
         at = [\"spec.template.spec.hostNetwrk\", \"spec.jobTemplate.spec.template.spec.containers.image\"]\n    \
         check = value != true\n}\n\n\
         policy replicas_everywhere {\n    kinds = [\"Deploymnet\"]\n    at = \"spec.replicas\"\n    check = value != null\n}\n",
    );
    let check = kdep(&root, &["check", "shop"]);
    assert_eq!(check.code, 1, "{}", check.stderr);
    insta::assert_snapshot!("misspelt_selector_check_human", check.stderr);
}
