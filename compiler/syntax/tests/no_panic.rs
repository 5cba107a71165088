//! Property tests: `parse` never panics, on arbitrary text or on arbitrary sequences of valid
//! tokens, and every diagnostic and node range lies inside the input.

use kdep_diag::FileId;
use kdep_syntax::parse;
use proptest::prelude::*;

fn check(text: &str) {
    let parsed = parse(FileId(0), text);
    let len = u32::try_from(text.len()).unwrap_or(u32::MAX);
    for d in &parsed.diagnostics {
        for label in d.primary.iter().chain(&d.secondary) {
            let r = label.span.range;
            assert!(r.start <= r.end && r.end <= len, "diagnostic range {r} outside 0..{len}: {d:?}");
            assert!(text.is_char_boundary(r.start as usize) && text.is_char_boundary(r.end as usize), "{d:?}");
        }
    }
    for item in &parsed.file.items {
        let r = item.range();
        assert!(r.start <= r.end && r.end <= len, "item range {r} outside 0..{len}");
    }
    for c in &parsed.comments {
        assert!(c.range.end <= len);
    }
    let _ = kdep_syntax::lex(text);
}

/// Tokens of the language, including the awkward ones (unterminated strings, regexes, `${`).
const TOKENS: &[&str] = &[
    "import",
    "as",
    "let",
    "schema",
    "template",
    "locked",
    "check",
    "emit",
    "app",
    "in",
    "environment",
    "if",
    "else",
    "for",
    "true",
    "false",
    "null",
    "policy",
    "test",
    "open",
    "with",
    "x",
    "name",
    "web",
    "0",
    "42",
    "1.5",
    "2e3",
    "\"s\"",
    "\"a${",
    "}\"",
    "\"",
    "\"\\n\"",
    "\"\\q",
    "/re/",
    "/",
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    ",",
    ".",
    "..",
    ":",
    "=",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "+",
    "-",
    "*",
    "%",
    "!",
    "&&",
    "||",
    "|",
    "?",
    "\n",
    "// c\n",
    "/// d\n",
    "@",
    "'",
    "12abc",
    "\u{e9}",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        check(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn random_token_sequences_never_panic(
        picks in proptest::collection::vec((0..TOKENS.len(), any::<bool>()), 0..200)
    ) {
        let mut text = String::new();
        for (i, glue) in picks {
            text.push_str(TOKENS.get(i).copied().unwrap_or(""));
            if !glue {
                text.push(' ');
            }
        }
        check(&text);
    }

    #[test]
    fn truncated_valid_files_never_panic(cut in 0usize..4000) {
        let text = include_str!("../test_data/ok/language_taste_web.kdep");
        let mut end = cut.min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        check(text.get(..end).unwrap_or(""));
    }
}
