//! Parser tests: AST snapshots of valid fixtures, rendered-diagnostic snapshots of invalid
//! ones, and targeted checks of recovery, limits, comments and the token API.

#![expect(
    clippy::disallowed_methods,
    reason = "tests read their fixtures from disk; the compiler under test does no IO"
)]

use kdep_diag::render::{render_to_string, Sources};
use kdep_diag::{Code, FileId};
use kdep_syntax::ast::{Entry, Expr, Item, Key, Member};
use kdep_syntax::{dump::dump, parse, CommentKind, Parse, TokenKind};

const FILE: FileId = FileId(0);

struct One<'a> {
    path: &'a str,
    text: &'a str,
}

impl Sources for One<'_> {
    fn path(&self, _: FileId) -> String {
        self.path.to_owned()
    }
    fn text(&self, _: FileId) -> &str {
        self.text
    }
}

fn render(path: &str, text: &str, parse: &Parse) -> String {
    let sources = One { path, text };
    parse.diagnostics.iter().map(|d| render_to_string(d, &sources)).collect()
}

fn file_name(path: &std::path::Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

#[test]
fn ok_fixtures() {
    insta::glob!("../test_data/ok", "*.kdep", |path| {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let parsed = parse(FILE, &text);
        let name = file_name(path);
        assert!(parsed.diagnostics.is_empty(), "{name} has diagnostics:\n{}", render(&name, &text, &parsed));
        insta::with_settings!({ omit_expression => true }, {
            insta::assert_snapshot!(dump(&parsed.file));
        });
    });
}

/// The dump without lines nested deeper than 12 levels, which only the nesting fixtures reach.
fn shallow(dump: &str) -> String {
    let mut out = String::new();
    let mut omitted = 0;
    for line in dump.lines() {
        if line.len() - line.trim_start().len() > 24 {
            omitted += 1;
            continue;
        }
        if omitted > 0 {
            out.push_str(&format!("  ({omitted} deeper lines omitted)\n"));
            omitted = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    if omitted > 0 {
        out.push_str(&format!("  ({omitted} deeper lines omitted)\n"));
    }
    out
}

#[test]
fn err_fixtures() {
    insta::glob!("../test_data/err", "*.kdep", |path| {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let parsed = parse(FILE, &text);
        let name = file_name(path);
        assert!(!parsed.diagnostics.is_empty(), "{name} has no diagnostics");
        let out = format!("{}\n{}", render(&name, &text, &parsed), shallow(&dump(&parsed.file)));
        insta::with_settings!({ omit_expression => true }, {
            insta::assert_snapshot!(out);
        });
    });
}

/// Every syntax code has at least one fixture that produces it.
#[test]
fn err_fixtures_cover_every_syntax_code() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("test_data/err");
    let mut seen = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        seen.extend(parse(FILE, &text).diagnostics.iter().map(|d| d.code.id));
    }
    for code in kdep_diag::ALL_CODES.iter().filter(|c| c.id.starts_with("K00")) {
        assert!(seen.contains(code.id), "no err fixture produces {} ({})", code.id, code.name);
    }
}

fn check_clean(text: &str) -> Parse {
    let parsed = parse(FILE, text);
    assert!(parsed.diagnostics.is_empty(), "unexpected diagnostics:\n{}", render("input", text, &parsed));
    parsed
}

fn codes(text: &str) -> Vec<&'static str> {
    parse(FILE, text).diagnostics.iter().map(|d| d.code.id).collect()
}

fn assert_ranges_inside(text: &str, parsed: &Parse) {
    let len = u32::try_from(text.len()).unwrap_or(u32::MAX);
    for d in &parsed.diagnostics {
        for label in d.primary.iter().chain(&d.secondary) {
            assert!(label.span.range.start <= label.span.range.end && label.span.range.end <= len, "{d:?}");
        }
    }
}

// ---- Limits -------------------------------------------------------------------------------------

#[test]
fn ten_thousand_nested_brackets_give_one_diagnostic() {
    for (open, close) in [("[", "]"), ("{", "}"), ("(", ")")] {
        let text = format!("let x = {}1{}\nlet y = 2\n", open.repeat(10_000), close.repeat(10_000));
        let parsed = parse(FILE, &text);
        let deep: Vec<_> = parsed.diagnostics.iter().filter(|d| d.code == Code::NESTING_TOO_DEEP).collect();
        assert_eq!(deep.len(), 1, "{open}: {:#?}", parsed.diagnostics);
        assert!(parsed.file.items.iter().any(|i| matches!(i, Item::Let(l) if l.name.text == "y")));
        assert_ranges_inside(&text, &parsed);
    }
}

#[test]
fn ten_thousand_unclosed_brackets_do_not_overflow() {
    for open in ["[", "{", "(", "{a=", "f(", "\"${"] {
        let text = format!("let x = {}", open.repeat(10_000));
        let parsed = parse(FILE, &text);
        assert!(parsed.diagnostics.iter().any(|d| d.code == Code::NESTING_TOO_DEEP), "{open}");
        assert_ranges_inside(&text, &parsed);
    }
}

#[test]
fn long_chains_without_brackets_are_cut() {
    let chains = [
        format!("let x = {}1", "-".repeat(100_000)),
        format!("let x = {}a", "!".repeat(100_000)),
        format!("let x = a{}", ".b".repeat(100_000)),
        format!("let x = 1{}", " + 1".repeat(100_000)),
        format!("let x = a{}", "[0]".repeat(100_000)),
        format!("let x = f{}", "()".repeat(100_000)),
        format!("schema S {{ x: int{} }}", "?".repeat(100_000)),
        format!("let x = {} 1 {}", "if a { 1 } else".repeat(20_000), ""),
        // The same chains with a syntax error after them, so the parser drops them mid-parse.
        format!("let x = a{} )", ".b".repeat(100_000)),
        format!("let x = 1{} )", " + 1".repeat(100_000)),
    ];
    for text in &chains {
        let parsed = parse(FILE, text);
        assert!(
            parsed.diagnostics.iter().any(|d| d.code == Code::NESTING_TOO_DEEP),
            "{}: {:?}",
            text.get(..40).unwrap_or(""),
            parsed.diagnostics
        );
        assert_ranges_inside(text, &parsed);
    }
}

#[test]
fn deep_but_legal_nesting_is_fine() {
    let text = format!("let x = {}1{}", "[".repeat(100), "]".repeat(100));
    check_clean(&text);
    let text = format!("let x = a{}", ".b".repeat(200));
    check_clean(&text);
    let text = format!("let x = {}1{}", "{ a = ".repeat(128), " }".repeat(128));
    check_clean(&text);
    let text = format!("let x = {}1{}", "f(-x + [".repeat(40), "])".repeat(40));
    check_clean(&text);
}

// ---- Syntax decisions ---------------------------------------------------------------------------

#[test]
fn newlines_or_commas_separate_entries() {
    let parsed = check_clean("let a = { x = 1 y = 2, z = 3\n w = 4, }");
    let Some(Item::Let(l)) = parsed.file.items.first() else { panic!("no let") };
    let Expr::Object { entries, .. } = &l.value else { panic!("not an object") };
    assert_eq!(entries.len(), 4);
}

#[test]
fn keywords_are_names_where_unambiguous() {
    check_clean("let x = { template = 1, app = 2, in = 3, true = 4 }");
    check_clean("let y = spec.template.if.for.in");
    check_clean("template T { template: string\n app: int = 1\n in = 2 }");
    check_clean("app app = T { in staging { in = 1 } }");
    // `for` and `if` would start a comprehension clause after a value.
    assert_eq!(codes("let x = { a = 1, for = 2 }"), ["K0001"]);
}

#[test]
fn only_an_emit_if_takes_bare_entries() {
    check_clean("template T { emit if c { kind = \"A\" } else if d { kind = \"B\" } }");
    // A field called `emit` followed by a comprehension's `if` is not an `emit if`.
    check_clean("let x = [a for a in b.emit if a]");
    assert_eq!(codes("let x = if c { a = 1 } else { b }"), ["K0001"]);
    assert_eq!(codes("template T { check if c { a = 1 } else { true } }").first(), Some(&"K0001"));
    // The first key must be a key.
    assert_eq!(codes("template T { emit if c { a + 1 = 2 } }"), ["K0001"]);
}

#[test]
fn instantiation_is_not_allowed_bare_in_if_conditions() {
    check_clean("let x = if (a.B { c = 1 }).d { 1 } else { 2 }");
    check_clean("let x = if a.b { c } else { d }");
    assert_eq!(codes("let x = if a.B { c = 1 }.d { 1 } else { 2 }"), ["K0001"]);
}

#[test]
fn regex_only_after_paren_or_comma() {
    let parsed = check_clean("schema S { a: string(/a\\/b/, 1..3) }\nlet d = a / b / c");
    let Some(Item::Schema(s)) = parsed.file.items.first() else { panic!("no schema") };
    let Some(Member::Field(f)) = s.members.first() else { panic!("no field") };
    let dumped = format!("{:?}", f.ty);
    assert!(dumped.contains("pattern: \"a/b\""), "{dumped}");
}

#[test]
fn comprehension_key_is_an_expression() {
    let parsed = check_clean("let m = { \"${k}-x\" = v for k, v in src if k != \"a\" }");
    let Some(Item::Let(l)) = parsed.file.items.first() else { panic!("no let") };
    let Expr::Object { entries, .. } = &l.value else { panic!("not an object") };
    let Some(Entry::Comprehension(c)) = entries.first() else { panic!("not a comprehension") };
    assert!(matches!(c.key, Expr::Str(_)));
    assert!(c.clause.condition.is_some());
    assert_eq!(c.clause.second.as_ref().map(|s| s.text.as_str()), Some("v"));
}

#[test]
fn string_escapes_and_interpolation_decode() {
    let parsed = check_clean(r#"let s = "a\tb\${x}\u{41}${ "in${1}" }""#);
    let Some(Item::Let(l)) = parsed.file.items.first() else { panic!("no let") };
    let Expr::Str(s) = &l.value else { panic!("not a string") };
    assert_eq!(s.parts.len(), 2);
    assert!(matches!(&s.parts[0], kdep_syntax::ast::StrPart::Text { text, .. } if text == "a\tb${x}A"));
    let quoted = check_clean(r#"let o = { "a.b/c" = 1 }"#);
    let Some(Item::Let(l)) = quoted.file.items.first() else { panic!("no let") };
    let Expr::Object { entries, .. } = &l.value else { panic!("not an object") };
    let Some(Entry::Field(f)) = entries.first() else { panic!("no entry") };
    assert!(matches!(f.key.as_slice(), [Key::Str(s)] if s.as_plain().as_deref() == Some("a.b/c")));
}

// ---- Comments and docs --------------------------------------------------------------------------

#[test]
fn comments_are_kept_in_order_with_kinds() {
    let text = "// one\n/// two\nlet x = 1 // three\n//// four\n";
    let parsed = check_clean(text);
    let got: Vec<(CommentKind, &str)> =
        parsed.comments.iter().map(|c| (c.kind, text.get(c.range.as_usize_range()).unwrap_or(""))).collect();
    assert_eq!(
        got,
        [
            (CommentKind::Line, "// one"),
            (CommentKind::Doc, "/// two"),
            (CommentKind::Line, "// three"),
            (CommentKind::Line, "//// four"),
        ]
    );
    let Some(Item::Let(l)) = parsed.file.items.first() else { panic!("no let") };
    assert_eq!(l.doc.as_ref().map(|d| d.text.as_str()), Some("two"));
}

#[test]
fn crlf_comments_exclude_the_carriage_return() {
    let text = "// a\r\nlet x = 1\r\n";
    let parsed = check_clean(text);
    assert_eq!(parsed.comments.first().map(|c| c.range.end), Some(4));
}

// ---- Token API ----------------------------------------------------------------------------------

#[test]
fn lex_exposes_tokens_and_comments() {
    let text = "let x = \"a${b}\" // c\n";
    let kinds: Vec<TokenKind> = kdep_syntax::lex(text).iter().map(|t| t.kind).collect();
    use TokenKind::*;
    assert_eq!(kinds, [Keyword, Ident, Punct, String, String, Interpolation, Ident, Interpolation, String, Comment]);
}

// ---- Recovery -----------------------------------------------------------------------------------

#[test]
fn recovery_keeps_the_good_declarations() {
    let text = "let a = \nlet b = 2\ntemplate T { x: = 1\n y: int }\nlet c = [1 2]\nlet d = 4";
    let parsed = parse(FILE, text);
    let names: Vec<&str> = parsed
        .file
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Let(l) => Some(l.name.text.as_str()),
            Item::Template(t) => Some(t.name.text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(names, ["b", "T", "c", "d"], "{:#?}", parsed.diagnostics);
    assert_eq!(parsed.diagnostics.len(), 3, "{:#?}", parsed.diagnostics);
}

#[test]
fn empty_and_whitespace_files_parse() {
    for text in ["", "\n\n", "// only a comment", "\u{feff}let x = 1"] {
        check_clean(text);
    }
}

#[test]
fn diagnostics_are_capped_per_file() {
    for unit in ["let = ", "\"\n", "# x ", "let x = [1 2]\n"] {
        let text = unit.repeat(5_000);
        let parsed = parse(FILE, &text);
        assert!(parsed.diagnostics.len() <= kdep_syntax::MAX_SYNTAX_DIAGNOSTICS, "{unit:?}");
        let last = parsed.diagnostics.last().map(|d| d.notes.join(" ")).unwrap_or_default();
        assert!(last.contains("more syntax errors"), "{unit:?}: {last}");
    }
}

/// Every pair of binary operators, and each behind a prefix operator, written without
/// parentheses and shown fully parenthesised, with the codes of any diagnostics. Pins the
/// precedence and associativity table of GRAMMAR.md, so a change in how the parser collects
/// operator chains cannot reorder anything (the snapshot was made before such a change).
#[test]
fn operator_pairs_keep_precedence_and_associativity() {
    use kdep_syntax::ast::{BinaryOp, UnaryOp};
    const OPS: [BinaryOp; 13] = [
        BinaryOp::Or,
        BinaryOp::And,
        BinaryOp::Eq,
        BinaryOp::Ne,
        BinaryOp::Lt,
        BinaryOp::Le,
        BinaryOp::Gt,
        BinaryOp::Ge,
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Rem,
    ];
    fn shown(e: &Expr) -> String {
        match e {
            Expr::Name(id) => id.text.clone(),
            Expr::Binary { op, lhs, rhs, .. } => format!("({} {} {})", shown(lhs), op.as_str(), shown(rhs)),
            Expr::Unary { op, operand, .. } => {
                let op = match op {
                    UnaryOp::Neg => "-",
                    UnaryOp::Not => "!",
                };
                format!("({op}{})", shown(operand))
            }
            other => format!("<{other:?}>"),
        }
    }
    let mut table = String::new();
    let mut row = |source: String| {
        let parsed = parse(FILE, &format!("let x = {source}\n"));
        let value = match parsed.file.items.first() {
            Some(Item::Let(l)) => shown(&l.value),
            other => format!("<{other:?}>"),
        };
        let codes: Vec<&str> = parsed.diagnostics.iter().map(|d| d.code.id).collect();
        table.push_str(&format!("{source:<20} => {value} {codes:?}\n"));
    };
    for a in OPS {
        for b in OPS {
            row(format!("a {} b {} c", a.as_str(), b.as_str()));
        }
    }
    for a in OPS {
        row(format!("-a {} !b", a.as_str()));
        row(format!("a {} - - b {} c", a.as_str(), a.as_str()));
    }
    insta::assert_snapshot!(table);
}
