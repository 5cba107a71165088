//! The platform standard library (`stdlib/std`) through the `kdep` binary: its example packages
//! (`stdlib/examples/*`) build to the snapshotted manifests, its attack package fails with
//! exactly the expected diagnostics, and every `///` example in it is taken from an example.

use std::path::{Path, PathBuf};

mod common;

use common::kdep;

fn stdlib_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../stdlib")
}

/// The example packages that must build, with the environments each is built for. Their
/// manifests are the snapshots `stdlib__<package>_<env>.snap`, which the Kubernetes schema
/// validation in CI reads (see stdlib/README.md).
const EXAMPLES: &[(&str, &[&str])] = &[("shop", &["staging", "production"])];

#[test]
fn examples_check_clean_and_build() {
    for (package, envs) in EXAMPLES {
        let dir = stdlib_dir().join("examples").join(package);
        let check = kdep(&dir, &["check", "."]);
        assert_eq!(check.code, 0, "{package}: {}", check.stderr);
        assert!(!check.stderr.contains("Warning"), "{package}: {}", check.stderr);
        for env in *envs {
            let run = kdep(&dir, &["build", ".", "--env", env]);
            assert_eq!(run.code, 0, "{package} --env {env}: {}", run.stderr);
            insta::assert_snapshot!(format!("{package}_{env}"), run.stdout);
        }
    }
}

/// Setting a locked security field, unapproved storage, sizes out of bounds, an unknown log
/// sink, a strategy a template does not offer: each a compile error at the offending line.
#[test]
fn attacks_are_compile_errors() {
    let run = kdep(&stdlib_dir().join("examples/broken"), &["check", "."]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    insta::assert_snapshot!("broken_check", run.stderr);
}

#[test]
fn stdlib_and_examples_are_formatted() {
    let run = kdep(&stdlib_dir(), &["fmt", "--check", "."]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
}

/// Each ```` ```kdep ```` block in a `///` comment of the stdlib appears in an example: its lines
/// (but `...`) in this order, so the documented examples are the ones the tests build.
#[test]
fn documented_examples_come_from_the_examples() {
    let sources = |dir: &Path| -> Vec<String> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
            if entry.path().extension().is_some_and(|e| e == "kdep") {
                out.push(std::fs::read_to_string(entry.path()).expect("read"));
            }
        }
        out
    };
    let examples: Vec<Vec<String>> = EXAMPLES
        .iter()
        .flat_map(|(p, _)| sources(&stdlib_dir().join("examples").join(p)))
        .map(|text| text.lines().map(|l| l.trim().to_owned()).collect())
        .collect();
    let mut blocks = 0;
    for text in sources(&stdlib_dir().join("std")) {
        let mut block: Option<Vec<String>> = None;
        for line in text.lines() {
            let Some(doc) = line.trim().strip_prefix("///") else { continue };
            let doc = doc.trim();
            match (&mut block, doc) {
                (None, "```kdep") => block = Some(Vec::new()),
                (Some(lines), "```") => {
                    let found = examples.iter().any(|ex| {
                        let mut at = ex.iter();
                        lines.iter().filter(|l| *l != "...").all(|l| at.any(|e| e == l))
                    });
                    assert!(found, "documented example not in stdlib/examples:\n{}", lines.join("\n"));
                    blocks += 1;
                    block = None;
                }
                (Some(lines), _) => lines.push(doc.to_owned()),
                (None, _) => {}
            }
        }
    }
    assert!(blocks >= 6, "one example per template, found {blocks}");
}
