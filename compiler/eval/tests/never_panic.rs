//! The checker never panics: random token soup and mutated fixtures go through `check`,
//! `build` and `file_diagnostics` without crashing.

mod common;

use common::{load, TestDb};
use proptest::prelude::*;

const TOKENS: &[&str] = &[
    "template",
    "schema",
    "app",
    "let",
    "import",
    "environment",
    "in",
    "emit",
    "check",
    "locked",
    "fn",
    "->",
    "f(x)",
    "if",
    "else",
    "for",
    "true",
    "false",
    "null",
    "=",
    ":",
    ".",
    ",",
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    "+",
    "-",
    "*",
    "/",
    "%",
    "==",
    "!=",
    "<",
    ">=",
    "&&",
    "||",
    "!",
    "?",
    "|",
    "..",
    "x",
    "y",
    "Web",
    "web",
    "name",
    "replicas",
    "port",
    "string",
    "int",
    "quantity",
    "duration",
    "\"a\"",
    "\"500m\"",
    "\"${x}\"",
    "0",
    "1",
    "20",
    "9223372036854775807",
    "/^a$/",
    "\n",
    "\n//- other.kdep\n",
    "\n//- b.kdep\nimport other\n",
];

fn run(text: &str) {
    let fx = load(TestDb::default(), text);
    let _ = kdep_eval::check(&fx.db, fx.project);
    let _ = kdep_eval::build(&fx.db, fx.project, None);
    for (_, file) in &fx.files {
        let _ = kdep_eval::file_diagnostics(&fx.db, fx.project, *file);
    }
}

fn fixtures() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../sema/test_data");
    let mut out = Vec::new();
    for sub in ["diagnostics", "eval"] {
        let mut entries: Vec<_> = std::fs::read_dir(dir.join(sub)).unwrap().flatten().map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            out.push(std::fs::read_to_string(p).unwrap());
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn token_soup_never_panics(tokens in prop::collection::vec(prop::sample::select(TOKENS), 0..80)) {
        let body = tokens.join(" ");
        run(&format!("//- a.kdep\n{body}\n"));
    }

    #[test]
    fn mutated_fixtures_never_panic(
        which in 0usize..64,
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0usize..3, prop::sample::select(TOKENS)), 1..6),
    ) {
        let all = fixtures();
        let mut text = all[which % all.len()].clone();
        for (at, op, tok) in edits {
            let mut pos = at.index(text.len() + 1);
            while !text.is_char_boundary(pos) {
                pos -= 1;
            }
            match op {
                0 => text.insert_str(pos, tok),
                1 => {
                    let mut end = (pos + tok.len()).min(text.len());
                    while !text.is_char_boundary(end) {
                        end -= 1;
                    }
                    text.replace_range(pos..end, "");
                }
                _ => text.replace_range(pos..pos, &format!(" {tok} ")),
            }
        }
        run(&text);
    }
}

fn check_text(text: &str) -> Vec<kdep_diag::Diagnostic> {
    let fx = load(TestDb::default(), text);
    kdep_eval::check(&fx.db, fx.project)
}

#[test]
fn long_operator_chains_are_bounded() {
    let chain = vec!["1"; 5000].join(" + ");
    let diags = check_text(&format!("//- a.kdep\nlet big = {chain}\n"));
    assert!(diags.iter().any(|d| d.code == kdep_diag::Code::NESTING_TOO_DEEP), "{diags:?}");
}

#[test]
fn limits_leave_stack_headroom() {
    // The limits keep the deepest evaluation within 1.5 MiB of stack in a debug build, a
    // margin below the 2 MiB of a test thread.
    let handle = std::thread::Builder::new()
        .stack_size(3 << 19)
        .spawn(|| {
            long_field_reference_chains_are_bounded();
            long_let_chains_are_bounded();
            function_call_chain();
        })
        .unwrap();
    handle.join().unwrap();
}

/// A chain of 10,000 functions, each calling the next (no recursion, so no K0408): evaluation
/// must end in K0404 at the depth budget, never overflow the 2 MiB stack of a test thread, and
/// the static passes over the call graph must not recurse either.
#[test]
fn long_function_call_chains_are_bounded() {
    let handle = std::thread::Builder::new().stack_size(2 << 20).spawn(function_call_chain).unwrap();
    handle.join().unwrap();
}

fn function_call_chain() {
    let mut fns = String::new();
    for i in 0..10_000 {
        fns.push_str(&format!("fn f{i}(x: int) -> int = f{}(x + 1)\n", i + 1));
    }
    fns.push_str("fn f10000(x: int) -> int = x\nlet result = f0(0)\n");
    let diags = check_text(&format!("//- a.kdep\n{fns}"));
    assert!(diags.iter().any(|d| d.code == kdep_diag::Code::EVALUATION_LIMIT), "{diags:?}");
    assert!(!diags.iter().any(|d| d.code == kdep_diag::Code::CYCLIC_DEFINITION), "{diags:?}");
}

#[test]
fn long_field_reference_chains_are_bounded() {
    let mut fields = String::new();
    for i in 0..600 {
        fields.push_str(&format!("    f{i}: int = f{} + 1\n", i + 1));
    }
    fields.push_str("    f600: int = 0\n");
    let text = format!(
        "//- a.kdep\ntemplate T {{\n{fields}    emit {{ apiVersion = \"v1\", kind = \"ConfigMap\", metadata.name = \"x\", data.n = \"${{f0}}\" }}\n}}\napp t = T {{\n}}\n"
    );
    let diags = check_text(&text);
    assert!(diags.iter().any(|d| d.code == kdep_diag::Code::EVALUATION_LIMIT), "{diags:?}");
}

#[test]
fn long_let_chains_are_bounded() {
    let mut lets = String::new();
    for i in 0..600 {
        lets.push_str(&format!("let l{i} = l{} + 1\n", i + 1));
    }
    lets.push_str("let l600 = 0\n");
    let diags = check_text(&format!("//- a.kdep\n{lets}"));
    assert!(diags.iter().any(|d| d.code == kdep_diag::Code::EVALUATION_LIMIT), "{diags:?}");
}
