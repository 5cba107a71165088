//! Tests of the canonical formatter: snapshots of messy fixtures, plus idempotence, meaning and
//! comment preservation over every `.kdep` file in the repository.

#![expect(
    clippy::disallowed_methods,
    reason = "tests read their fixtures from disk; the compiler under test does no IO"
)]

use std::path::{Path, PathBuf};

use kdep_diag::FileId;
use kdep_syntax::format::{canonical_tree, format};

const FILE: FileId = FileId(0);

/// Formats `input` and checks the properties every formatted file must have; returns the output.
fn format_checked(input: &str, name: &str) -> String {
    let out = match format(FILE, input) {
        Ok(out) => out,
        Err(diags) => panic!("{name}: does not format: {diags:#?}"),
    };
    assert_properties(input, &out, name);
    out
}

fn assert_properties(input: &str, out: &str, name: &str) {
    let again = format(FILE, out).unwrap_or_else(|diags| panic!("{name}: output does not format: {diags:#?}"));
    assert_eq!(again, out, "{name}: formatting is not idempotent");

    let before = kdep_syntax::parse(FILE, input);
    let after = kdep_syntax::parse(FILE, out);
    assert!(after.diagnostics.is_empty(), "{name}: output has diagnostics: {:#?}", after.diagnostics);
    assert_eq!(canonical_tree(&before.file), canonical_tree(&after.file), "{name}: formatting changed the tree");

    assert_eq!(comment_texts(input, &before), comment_texts(out, &after), "{name}: comments were not preserved");

    for (n, line) in out.lines().enumerate() {
        assert_eq!(line, line.trim_end(), "{name}: trailing whitespace on output line {}", n + 1);
        assert!(!line.contains('\t'), "{name}: tab on output line {}", n + 1);
    }
    assert!(out.is_empty() || (out.ends_with('\n') && !out.ends_with("\n\n")), "{name}: bad final newline");
    assert!(!out.contains("\n\n\n"), "{name}: more than one blank line in a row");
    assert!(!out.starts_with('\n'), "{name}: leading blank line");
}

fn comment_texts(text: &str, parse: &kdep_syntax::Parse) -> Vec<String> {
    parse
        .comments
        .iter()
        .map(|c| text.get(c.range.as_usize_range()).unwrap_or("<bad range>").trim_end().to_owned())
        .collect()
}

/// `input` formats to exactly `expected`, and `expected` is stable.
#[track_caller]
fn check(input: &str, expected: &str) {
    let out = format_checked(input, "inline fixture");
    assert_eq!(out, expected, "\n--- got ---\n{out}--- expected ---\n{expected}");
}

// ---- Snapshots ---------------------------------------------------------------------------------

#[test]
fn fmt_fixtures() {
    insta::glob!("../test_data/fmt", "*.kdep", |path| {
        let input = std::fs::read_to_string(path).unwrap_or_default();
        let name = path.display().to_string();
        let out = format_checked(&input, &name);
        insta::with_settings!({ description => input.as_str(), omit_expression => true }, {
            insta::assert_snapshot!(out);
        });
    });
}

// ---- Every fixture in the repository -----------------------------------------------------------

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn kdep_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            // Build output and hidden directories hold no fixtures of ours.
            if name != "target" && !name.starts_with('.') {
                kdep_files(&path, out);
            }
        } else if name.ends_with(".kdep") {
            out.push(path);
        }
    }
}

/// The fixture directories the brief names, walked at test time so new fixtures are covered.
fn repo_fixtures() -> Vec<PathBuf> {
    let root = repo_root();
    let mut files = Vec::new();
    for dir in ["compiler/syntax/test_data", "compiler/sema/test_data", "examples", "stdlib"] {
        kdep_files(&root.join(dir), &mut files);
    }
    files
}

#[test]
fn every_repo_fixture_is_stable_and_keeps_its_meaning() {
    let mut formatted = 0;
    let mut skipped = Vec::new();
    for path in repo_fixtures() {
        let Ok(input) = std::fs::read_to_string(&path) else { continue };
        if kdep_diag::has_errors(&kdep_syntax::parse(FILE, &input).diagnostics) {
            // `err/` fixtures and other deliberately broken files: `format` must refuse them.
            assert!(format(FILE, &input).is_err(), "{}: formatted despite syntax errors", path.display());
            skipped.push(path);
            continue;
        }
        format_checked(&input, &path.display().to_string());
        formatted += 1;
    }
    // The examples alone hold more than twenty files that parse; the syntax fixtures add more.
    assert!(formatted >= 20, "only {formatted} fixtures formatted (skipped {skipped:#?})");
}

/// The syntax fixtures that parse without errors, with their text.
fn parsing_syntax_fixtures() -> Vec<(String, String)> {
    let mut files = Vec::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("test_data");
    kdep_files(&root.join("ok"), &mut files);
    kdep_files(&root.join("fmt"), &mut files);
    files
        .into_iter()
        .filter_map(|path| Some((path.display().to_string(), std::fs::read_to_string(&path).ok()?)))
        .filter(|(_, text)| kdep_syntax::parse(FILE, text).diagnostics.is_empty())
        .collect()
}

/// Inserting `// cN` plus a newline after any token gives a comment in every possible place:
/// trailing, own-line, inside expressions, types, key paths and clauses. Wherever it lands,
/// the file must still format, stably, with the comment and the tree intact.
#[test]
fn a_comment_after_any_token_is_kept() {
    let mut checked = 0;
    for (name, text) in parsing_syntax_fixtures() {
        let tokens = kdep_syntax::lex(&text);
        // Large fixtures are sampled so the test stays fast in debug builds.
        let stride = tokens.len() / 400 + 1;
        for (n, token) in tokens.iter().enumerate().step_by(stride) {
            let at = token.range.end as usize;
            let (Some(before), Some(after)) = (text.get(..at), text.get(at..)) else { continue };
            let mutated = format!("{before} // c{n}\n{after}");
            if !kdep_syntax::parse(FILE, &mutated).diagnostics.is_empty() {
                // Inside a string or interpolation the newline ends the string: not valid code.
                continue;
            }
            format_checked(&mutated, &format!("{name} with a comment after token {n}"));
            checked += 1;
        }
    }
    assert!(checked > 1000, "only {checked} mutated files checked");
}

/// Every fixture squeezed onto as few lines as possible (whitespace runs become one space,
/// except around comments) formats to exactly what the original formats to, when the original
/// has no blank lines to preserve.
#[test]
fn squeezed_whitespace_formats_like_the_original() {
    let mut checked = 0;
    for (name, text) in parsing_syntax_fixtures() {
        let squeezed = squeeze(&text);
        let from_squeezed = format_checked(&squeezed, &format!("{name} squeezed"));
        let from_original = format_checked(&text, &name);
        if !from_original.contains("\n\n") {
            assert_eq!(from_squeezed, from_original, "{name}: layout depends on the input's whitespace");
        }
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} fixtures squeezed");
}

/// Collapses whitespace between tokens to one space, keeping the newline that ends a comment.
fn squeeze(text: &str) -> String {
    let tokens = kdep_syntax::lex(text);
    let mut out = String::new();
    let mut last_end = 0;
    let mut after_comment = false;
    for token in &tokens {
        let (start, end) = (token.range.start as usize, token.range.end as usize);
        let gap = text.get(last_end..start).unwrap_or("");
        let is_comment = matches!(token.kind, kdep_syntax::TokenKind::Comment | kdep_syntax::TokenKind::DocComment);
        if after_comment || (is_comment && gap.contains('\n')) {
            // A comment ends its line, and an own-line comment must not become a trailing one.
            out.push('\n');
        } else if !gap.is_empty() {
            out.push(' ');
        }
        out.push_str(text.get(start..end).unwrap_or(""));
        after_comment = is_comment;
        last_end = end;
    }
    out
}

// ---- Layout rules ------------------------------------------------------------------------------

#[test]
fn empty_and_comment_only_files() {
    check("", "");
    check("\n\n   \n", "");
    check("// only a comment   \n\n\n// and another", "// only a comment\n\n// and another\n");
}

#[test]
fn short_objects_inline_and_long_ones_break() {
    check("let a = {x=1,\n  y = \"s\"}", "let a = { x = 1, y = \"s\" }\n");
    check("let a = {\n}", "let a = {}\n");
    let long = "let labels = { app = \"storefront\", team = \"shop\", tier = \"frontend\", cost = \"marketing-department-1234567890\" }";
    check(
        long,
        "let labels = {\n    app = \"storefront\"\n    team = \"shop\"\n    tier = \"frontend\"\n    cost = \"marketing-department-1234567890\"\n}\n",
    );
}

#[test]
fn width_limit_is_exactly_one_hundred_columns() {
    // `let x = ` is 8 columns; an object of 92 columns fits, 93 does not.
    let value = |n: usize| format!("{{ k = \"{}\" }}", "v".repeat(n - 10));
    let fits = format!("let x = {}", value(92));
    assert_eq!(fits.len(), 100);
    check(&fits, &format!("{fits}\n"));
    let too_long = format!("let x = {}", value(93));
    let out = format_checked(&too_long, "too long");
    assert!(out.starts_with("let x = {\n    k = "), "{out}");
}

#[test]
fn lists_inline_break_with_trailing_commas_and_hug_single_objects() {
    check("let a = [ 1,2 ,3 ]", "let a = [1, 2, 3]\n");
    check("let a = [\n]", "let a = []\n");
    let items = (0..12).map(|i| format!("\"item-number-{i}\"")).collect::<Vec<_>>().join(", ");
    let out = format_checked(&format!("let a = [{items}]"), "long list");
    assert!(out.starts_with("let a = [\n    \"item-number-0\",\n"), "{out}");
    assert!(out.ends_with("    \"item-number-11\",\n]\n"), "{out}");
    let object = (0..8).map(|i| format!("field{i} = \"value-{i}\"")).collect::<Vec<_>>().join(", ");
    let out = format_checked(&format!("let a = [{{ {object} }}]"), "hug");
    assert!(out.starts_with("let a = [{\n    field0 = \"value-0\"\n"), "{out}");
    assert!(out.ends_with("    field7 = \"value-7\"\n}]\n"), "{out}");
}

#[test]
fn blank_lines_between_items_and_members() {
    check("import a\nimport b\n\n\n\nimport c\nlet x = 1", "import a\nimport b\n\nimport c\n\nlet x = 1\n");
    check(
        "template T {\n\n\n    a: int\n    b: int\n\n\n\n    c: int\n\n}\nschema S {}",
        "template T {\n    a: int\n    b: int\n\n    c: int\n}\n\nschema S {}\n",
    );
}

#[test]
fn declarations_print_canonically() {
    check(
        "template   T=base.B{locked   port:int=8080\nreplicas : int( 1 .. 20 )=2\nsize:\"a\"|\"b\" = \"a\"\nopt: [string]?\nm: {string:int} = {}\ncheck replicas>1:\"too few\"\nlet  r=  1}",
        "template T = base.B {\n    locked port: int = 8080\n    replicas: int(1..20) = 2\n    size: \"a\" | \"b\" = \"a\"\n    opt: [string]?\n    m: {string: int} = {}\n    check replicas > 1 : \"too few\"\n    let r = 1\n}\n",
    );
    check("import  a.b   as  c", "import a.b as c\n");
}

#[test]
fn functions_print_canonically() {
    check("fn  f( a:int,b : string? , )->[ string ]=[b]", "fn f(a: int, b: string?) -> [string] = [b]\n");
    check("fn none()->int=1", "fn none() -> int = 1\n");
    // A long body breaks like a `let` value; the signature stays on the first line.
    check(
        "fn labels(name: string, team: string) -> {string: string} = { app = name, team = team, owner = \"platform-team\" }",
        "fn labels(name: string, team: string) -> {string: string} = {\n    app = name\n    team = team\n    owner = \"platform-team\"\n}\n",
    );
    // `fn` stays a key and a field name.
    check("let a = { fn = 1 }", "let a = { fn = 1 }\n");
}

#[test]
fn extension_and_composition_headers_print_canonically() {
    check(
        "template  Api=web.WebService   with sidecar.Sidecar,metrics . Scraped{replicas=3}",
        "template Api = web.WebService with sidecar.Sidecar, metrics.Scraped {\n    replicas = 3\n}\n",
    );
    check(
        "schema Strict=base.Probe{locked scheme=\"HTTPS\"}",
        "schema Strict = base.Probe {\n    locked scheme = \"HTTPS\"\n}\n",
    );
    // `with` stays a key, a field name and a bare name.
    check("let a = { with = with.x }", "let a = { with = with.x }\n");
    check(
        "template T {\n    with: int = 1\n    let w = with\n}",
        "template T {\n    with: int = 1\n    let w = with\n}\n",
    );
}

#[test]
fn quoted_keys_unquote_only_when_they_are_identifiers() {
    check(
        "let a = { \"name\" = 1, \"app.kubernetes.io/name\" = 2, \"if\" = 3, \"app\" = 4, \"x-y\" = 5 }",
        "let a = { name = 1, \"app.kubernetes.io/name\" = 2, \"if\" = 3, \"app\" = 4, \"x-y\" = 5 }\n",
    );
}

#[test]
fn strings_use_canonical_escapes_and_keep_interpolations() {
    check("let s = \"a\\\"b\\\\c\\td ${ name }-${f( 1,2 )}\"", "let s = \"a\\\"b\\\\c\\td ${name}-${f(1, 2)}\"\n");
}

#[test]
fn parentheses_are_kept() {
    check("let a = ( 1+2 )*3", "let a = (1 + 2) * 3\n");
    check("let b = -x + !(y)", "let b = -x + !(y)\n");
}

#[test]
fn trailing_and_leading_comments_stay_in_place() {
    check(
        "template T { // opens\n  a: int // why a\n\n  // about b\n  b: int\n  // end\n}",
        "template T {\n    // opens\n    a: int // why a\n\n    // about b\n    b: int\n    // end\n}\n",
    );
}

#[test]
fn comments_inside_expressions_stay_in_place() {
    check("let a = 1 +   // odd place\n 2\n", "let a = 1 + // odd place\n    2\n");
    // In front of a declaration's keyword the comment would detach the `///` doc above it.
    check("/// Doc.\nlet // odd\n a = 1", "/// Doc.\nlet // odd\n    a = 1\n");
    check(
        "template T {\n    f: int( // why\n  1..5) = 2\n}",
        "template T {\n    f: int( // why\n        1..5) = 2\n}\n",
    );
}

#[test]
fn if_without_else_prints_canonically_and_keeps_comments() {
    check("let a = [main,if  on{side} ,last]", "let a = [main, if on { side }, last]\n");
    check("let b = if a {1} else if b {2}", "let b = if a { 1 } else if b { 2 }\n");
    // An entry keyed `else` after an `if` without `else` stays an entry (the `=` says so).
    check("let c = { t = if p { 1 }\n else = 2 }", "let c = { t = if p { 1 }, else = 2 }\n");
    check(
        "template T {\n  emit if pdb { // only in production\n { kind = \"PodDisruptionBudget\" } }\n}",
        "template T {\n    emit if pdb {\n        // only in production\n        { kind = \"PodDisruptionBudget\" }\n    }\n}\n",
    );
    check(
        "template T {\n  emit [ { kind = \"ConfigMap\", data = d } for n, d in configs ]\n  emit if a {x}\n  else { y }\n}",
        "template T {\n    emit [{ kind = \"ConfigMap\", data = d } for n, d in configs]\n    emit if a { x } else { y }\n}\n",
    );
    check("let d = if c { x // why\n}", "let d = if c {\n    x // why\n}\n");
}

#[test]
fn emit_if_with_bare_entries_stays_bare() {
    // Short: one line, the branch's braces are the record's.
    check(
        "template T {\n  emit if on {kind=\"A\" , x = 1}\n}",
        "template T {\n    emit if on { kind = \"A\", x = 1 }\n}\n",
    );
    // Long: entries one per line inside the branch's braces, no inner pair added.
    check(
        "template T {\n emit if pdb { apiVersion = \"policy/v1\", kind = \"PodDisruptionBudget\", metadata.name = name, spec.minAvailable = 1 }\n}",
        "template T {\n    emit if pdb {\n        apiVersion = \"policy/v1\"\n        kind = \"PodDisruptionBudget\"\n        metadata.name = name\n        spec.minAvailable = 1\n    }\n}\n",
    );
    // `else` branches and `else if` chains keep their own form; the braced form is not rewritten.
    check(
        "template T {\n  emit if a { kind = \"A\" } else if b {{ kind = \"B\" }} else {kind = \"C\"}\n}",
        "template T {\n    emit if a { kind = \"A\" } else if b { { kind = \"B\" } } else { kind = \"C\" }\n}\n",
    );
    // A comment inside the bare branch stays there.
    check(
        "template T {\n  emit if a { // why\n kind = \"A\" }\n}",
        "template T {\n    emit if a {\n        // why\n        kind = \"A\"\n    }\n}\n",
    );
}

#[test]
fn a_comment_forces_an_object_to_break() {
    check("let a = { x = 1, // one\n y = 2 }", "let a = {\n    x = 1 // one\n    y = 2\n}\n");
}

#[test]
fn syntax_errors_are_returned_not_formatted() {
    let errs = format(FILE, "template {\n  a: = \n").expect_err("broken code must not format");
    assert!(!errs.is_empty());
    assert!(errs.iter().all(|d| d.is_error()));
}

#[test]
fn canonical_tree_still_tells_different_programs_apart() {
    let tree = |text: &str| canonical_tree(&kdep_syntax::parse(FILE, text).file);
    assert_eq!(tree("let a = {x=1}"), tree("let a = { x = 1 }"));
    assert_ne!(tree("let a = 1"), tree("let a = 2"));
    assert_ne!(tree("let a = (1 + 2) * 3"), tree("let a = 1 + 2 * 3"));
    assert_ne!(tree("let a = { \"a.b\" = 1 }"), tree("let a = { a.b = 1 }"));
}

// ---- Arbitrary input ---------------------------------------------------------------------------

/// Token soup drawn from kdep's vocabulary, comments and line breaks included: mostly broken
/// code, sometimes valid. `format` must never panic, must refuse what does not parse, and must
/// format what does with every property intact.
fn token_soup() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let words = prop::sample::select(vec![
        "let",
        "x",
        "y",
        "=",
        "1",
        "2.5",
        "\"s\"",
        "\"${x}\"",
        "{",
        "}",
        "[",
        "]",
        "(",
        ")",
        ",",
        ".",
        ":",
        "+",
        "-",
        "*",
        "==",
        "&&",
        "!",
        "if",
        "else",
        "for",
        "in",
        "template",
        "T",
        "schema",
        "app",
        "environment",
        "emit",
        "check",
        "locked",
        "int",
        "string(/a/)",
        "int(1..5)",
        "?",
        "|",
        "import",
        "as",
        "\n",
        "\n\n",
        "// c\n",
        "/// d\n",
        "\"k.k\"",
    ]);
    prop::collection::vec(words, 0..60).prop_map(|words| words.join(" "))
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 512, ..Default::default() })]

    #[test]
    fn arbitrary_input_never_panics(input in token_soup()) {
        let parsed = kdep_syntax::parse(FILE, &input);
        match format(FILE, &input) {
            Ok(out) => assert_properties(&input, &out, &input),
            Err(diags) => {
                assert!(kdep_diag::has_errors(&parsed.diagnostics), "refused valid input {input:?}: {diags:#?}");
            }
        }
    }
}

/// The token soup above is mostly invalid; these hand-picked generators only produce valid
/// programs, so the layout rules get exercised on many shapes.
fn valid_program() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let leaf = prop::sample::select(vec!["1", "x", "\"a b\"", "true", "null", "-2", "y.z", "f(1)", "\"${x}-y\""])
        .prop_map(str::to_owned);
    let expr = leaf.prop_recursive(4, 48, 6, |inner| {
        let entry = (prop::sample::select(vec!["a", "\"b.c\"", "d.e", "\"f\""]), inner.clone(), any::<bool>())
            .prop_map(|(k, v, comment)| if comment { format!("{k} = {v} // note\n") } else { format!("{k} = {v}") });
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(|items| format!("[{}]", items.join(", "))),
            prop::collection::vec(entry, 0..5).prop_map(|entries| format!("{{{}}}", entries.join("\n"))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} + {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("if c {{ {a} }} else {{ {b} }}")),
            inner.clone().prop_map(|a| format!("[if c {{ {a} }}, {{ k = if d {{ {a} }}\nelse = 1 }}]")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("[{a} for x in {b}]")),
            inner.clone().prop_map(|a| format!("({a})")),
            (inner.clone(), inner).prop_map(|(a, b)| format!("// lead\nk.T {{ v = {a}, w = {b} }}")),
        ]
    });
    prop::collection::vec(expr, 1..4)
        .prop_map(|values| values.iter().enumerate().map(|(i, v)| format!("let v{i} = {v}\n")).collect::<String>())
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, ..Default::default() })]

    #[test]
    fn generated_programs_format_stably(input in valid_program()) {
        let parsed = kdep_syntax::parse(FILE, &input);
        assert!(parsed.diagnostics.is_empty(), "generator produced invalid code {input:?}: {:#?}", parsed.diagnostics);
        format_checked(&input, &input);
    }
}

#[test]
fn attributes_list_keys_and_quoted_field_names_print_canonically() {
    check(
        "@resource( apiVersion=\"v1\",kind=\"Namespace\" ,)  @open schema N {}",
        "@resource(apiVersion = \"v1\", kind = \"Namespace\")\n@open\nschema N {}\n",
    );
    check("@open() template T {}", "@open()\ntemplate T {}\n");
    check(
        "schema S { a: [C]( key( name,port ) )? b: [string](unique , 1..3) }",
        "schema S {\n    a: [C](key(name, port))?\n    b: [string](unique, 1..3)\n}\n",
    );
    check(
        "schema S { \"x-foo\": string? \"plain\": int \"for\": int? \"a\\\"b\": int }",
        "schema S {\n    \"x-foo\": string?\n    plain: int\n    \"for\": int?\n    \"a\\\"b\": int\n}\n",
    );
    check("schema S { p: \"A\" | \"B\" ? }", "schema S {\n    p: \"A\" | \"B\"?\n}\n");
}
