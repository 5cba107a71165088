//! Snapshot tests over `compiler/sema/test_data/**/*.kdep`: each snapshot holds the fixture's
//! sources, every diagnostic of `check` rendered as users see it, and (with a `//! build: ENV`
//! directive, `-` for no environment, `a, b` for several) the built objects as YAML.

#![expect(
    clippy::disallowed_methods,
    reason = "tests read their fixtures from disk; the compiler under test does no IO"
)]

mod common;

use common::{load, TestDb};

fn check(text: &str) -> String {
    let fx = load(TestDb::default(), text);
    let mut out = String::new();
    out.push_str(text.trim_end());
    out.push_str("\n\n=== check ===\n");
    let diags = kdep_eval::check(&fx.db, fx.project);
    out.push_str(&fx.render(&diags));
    // `//! build: a, b` builds once per listed environment, to compare them.
    let envs = fx.directives.get("build").map(|v| v.split(',').map(str::trim).collect::<Vec<_>>()).unwrap_or_default();
    for env in envs {
        let env = if env == "-" { None } else { Some(env) };
        let built = kdep_eval::build(&fx.db, fx.project, env);
        out.push_str(&format!("\n=== build {} ===\n", env.unwrap_or("(no environment)")));
        out.push_str(&fx.render(&built.diagnostics));
        let objects: Vec<_> = built.manifests.iter().map(|m| m.object.clone()).collect();
        out.push_str(&kdep_eval::emit::to_yaml_stream(&objects));
    }
    out
}

#[test]
fn diagnostic_fixtures() {
    insta::glob!("../../sema/test_data", "diagnostics/*.kdep", |path| {
        let text = std::fs::read_to_string(path).unwrap();
        insta::assert_snapshot!(check(&text));
    });
}

#[test]
fn evaluation_fixtures() {
    insta::glob!("../../sema/test_data", "eval/*.kdep", |path| {
        let text = std::fs::read_to_string(path).unwrap();
        insta::assert_snapshot!(check(&text));
    });
}

/// What the static proof of emitted objects (`kdep_eval::typeck::emit_plans`) leaves to check
/// per instance, for each template of the fixtures that exercise it: the benchmark's template
/// (only its four quantity strings) and the attacks of `static_conformance.kdep` (each
/// non-conforming value sits in a part left to check).
#[test]
fn emit_plans_of_fixtures() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../sema/test_data/eval");
    let mut out = String::new();
    for (fixture, module) in
        [("bench_webservice.kdep", "platform/webservice.kdep"), ("static_conformance.kdep", "platform/web.kdep")]
    {
        let mut text = std::fs::read_to_string(root.join(fixture)).unwrap();
        // The generated Kubernetes schemas the benchmark's objects are checked against.
        let stdlib = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../stdlib/k8s");
        for module in ["apps/v1", "core/v1", "meta/v1"] {
            let source = std::fs::read_to_string(stdlib.join(format!("{module}.kdep"))).unwrap();
            text.push_str(&format!("//- std:k8s/{module}.kdep\n{source}"));
        }
        let fx = load(TestDb::default(), &text);
        let file = fx.file(module);
        for name in kdep_sema::hir::file_hir(&fx.db, file).templates.keys() {
            out.push_str(&format!("{fixture} {name}\n"));
            for line in kdep_eval::typeck::emit_plans(&fx.db, fx.project, file, name.clone()).describe(&fx.db) {
                out.push_str(&format!("  {line}\n"));
            }
        }
    }
    insta::assert_snapshot!(out);
}

/// Attacks on the permission model from a lower layer (an extending template, an app, another
/// package): each snapshot shows the diagnostics and, where it builds, that the platform's
/// values hold in the output.
#[test]
fn permission_attacks() {
    insta::glob!("../../sema/test_data", "attacks/*.kdep", |path| {
        let text = std::fs::read_to_string(path).unwrap();
        insta::assert_snapshot!(check(&text));
    });
}

/// `kdep check` and the editor's per-file query give the same diagnostics on every fixture:
/// check is the union of `file_diagnostics` over the files it analyses, and every diagnostic
/// located in a file is among that file's own.
#[test]
fn check_equals_the_union_of_file_diagnostics() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../sema/test_data");
    let mut n = 0;
    for dir in ["diagnostics", "eval", "attacks"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap().flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap();
            let fx = load(TestDb::default(), &text);
            let checked = kdep_eval::check(&fx.db, fx.project);
            let files = kdep_sema::index::reachable_files(&fx.db, fx.project);
            let mut union: Vec<_> =
                files.iter().flat_map(|f| kdep_eval::file_diagnostics(&fx.db, fx.project, *f)).collect();
            kdep_diag::normalize(&mut union);
            assert_eq!(checked, union, "{}", entry.path().display());
            n += 1;
        }
    }
    assert!(n > 60, "only {n} fixtures found");
}

/// Every diagnostic code the semantic layer and the evaluator can emit has a snapshot fixture
/// (`test_data/diagnostics/<ID>_*.kdep`) showing its source and rendered message.
#[test]
fn every_emitted_code_has_a_fixture() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let sources = [
        "sema/src/check.rs",
        "sema/src/hir.rs",
        "sema/src/index.rs",
        "sema/src/lets.rs",
        "sema/src/model.rs",
        "sema/src/policy.rs",
        "sema/src/scope.rs",
        "sema/src/ty.rs",
        "eval/src/app.rs",
        "eval/src/conform.rs",
        "eval/src/interp.rs",
        "eval/src/coverage.rs",
        "eval/src/lib.rs",
        "eval/src/policy.rs",
        "eval/src/typeck.rs",
    ];
    let fixtures: Vec<String> = std::fs::read_dir(root.join("sema/test_data/diagnostics"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let mut missing = Vec::new();
    for src in sources {
        let text = std::fs::read_to_string(root.join(src)).unwrap();
        for (i, _) in text.match_indices("Code::") {
            let ident: String = text[i + 6..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            if ident.is_empty() {
                continue;
            }
            let code = kdep_diag::Code::lookup(&ident.to_lowercase().replace('_', "-"))
                .unwrap_or_else(|| panic!("{src}: unknown code constant {ident}"));
            if !fixtures.iter().any(|f| f.starts_with(code.id)) && !missing.contains(&code.id) {
                missing.push(code.id);
            }
        }
    }
    assert!(missing.is_empty(), "codes without a fixture: {missing:?}");
}
