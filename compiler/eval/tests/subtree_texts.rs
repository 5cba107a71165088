//! The writers keep the text of each constant subtree per thread and copy it after
//! (`SubtreeTexts` in `compiler/eval/src/emit.rs`). One thread builds the same package in YAML
//! and JSON, in two environments, one after the other: a text kept for one format or one
//! environment must never be copied into another's output. The snapshot was written by the
//! writer before it kept any text (and equals `kdep build` of the fixture as a package).

#![expect(
    clippy::disallowed_methods,
    reason = "tests read their fixtures from disk; the compiler under test does no IO"
)]

mod common;

use common::{joined, load, TestDb};
use kdep_eval::emit::Format;

fn written(fx: &common::Fixture, env: &str, format: Format) -> String {
    let built = kdep_eval::build_rendered(&fx.db, fx.project, Some(env), format);
    assert!(built.diagnostics.is_empty(), "{}", fx.render(&built.diagnostics));
    joined(&built, format)
}

#[test]
fn one_thread_writes_each_format_and_environment_as_itself() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../sema/test_data/eval/shared_constant_texts.kdep");
    let text = std::fs::read_to_string(path).unwrap_or_default();
    // One thread: every build below shares the thread's constants and texts.
    let fx = load(TestDb::default(), &text);
    let mut out = String::new();
    let mut first = Vec::new();
    for round in 0..2 {
        let mut i = 0;
        for env in ["dev", "prod"] {
            for format in [Format::Yaml, Format::Json] {
                let text = written(&fx, env, format);
                if round == 0 {
                    out.push_str(&format!("=== {env} {format:?} ===\n{text}"));
                    first.push(text);
                } else {
                    // The second round copies every constant's text: it must not differ.
                    assert_eq!(Some(&text), first.get(i), "{env} {format:?}");
                }
                i += 1;
            }
        }
    }
    insta::assert_snapshot!(out);
}
