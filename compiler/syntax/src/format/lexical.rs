//! Token-level spelling for the formatter: identifiers, keywords and string escapes.
//!
//! These must agree with the lexer: a key is printed bare only if the lexer reads it back as the
//! same identifier, and an escape is only emitted if the lexer decodes it to the same text.

/// Words the lexer reserves (`Tok::is_keyword`); a quoted key with one of these texts stays
/// quoted. Some are accepted as bare keys in some positions, but not all of them everywhere.
const KEYWORDS: &[&str] = &[
    "app",
    "as",
    "check",
    "else",
    "emit",
    "environment",
    "false",
    "for",
    "if",
    "import",
    "in",
    "let",
    "locked",
    "null",
    "open",
    "policy",
    "schema",
    "template",
    "test",
    "true",
    "waive",
    "with",
];

/// Whether the lexer reserves `text` (soft keywords such as `with` included), for tools that
/// generate kdep names and must avoid every keyword.
pub fn is_keyword(text: &str) -> bool {
    KEYWORDS.contains(&text)
}

/// `true` when `text` can be written bare as a field name in a schema or template body: one
/// identifier or keyword token, except `for` and `if` (which would start a clause there).
pub(super) fn is_field_name(text: &str) -> bool {
    let mut chars = text.chars();
    let Some(first) = chars.next() else { return false };
    (first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && text != "for"
        && text != "if"
}

/// Writes a field name or the first key of an entry: bare when [`is_field_name`] allows it,
/// else as a string literal. For tools that generate kdep (importers, the type generator), so
/// the rule of GRAMMAR.md "Keywords as names" is written once.
pub fn write_key(out: &mut String, key: &str) {
    if is_field_name(key) {
        out.push_str(key);
    } else {
        write_string_literal(out, key);
    }
}

/// `true` when `text` lexes as one identifier token (and not as a keyword).
pub(super) fn is_plain_ident(text: &str) -> bool {
    let mut chars = text.chars();
    let Some(first) = chars.next() else { return false };
    (first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !KEYWORDS.contains(&text)
}

/// Escapes decoded string text so that the lexer decodes it back to exactly `text`.
///
/// Canonical escapes: `\\`, `\"`, `\n`, `\r`, `\t`, `\${` for a literal `${` (so it does not
/// start an interpolation), and `\u{XX}` for any other control character. Everything else,
/// including non-ASCII text, is printed as is.
///
/// This is the one spelling of kdep string text: the formatter, the rendering of values
/// (`kdep-eval`) and of literal types in diagnostics (`kdep-sema`) all go through it. YAML and
/// TOML output have their own escapes, because those formats differ (`\x..`, `\N`, `\uXXXX`).
pub(super) fn escape_str(text: &str, out: &mut String) {
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' if chars.peek() == Some(&'{') => out.push_str("\\$"),
            c if c.is_control() => {
                out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
}

/// Writes `text` as a complete kdep string literal: double quotes around [`escape_str`].
pub fn write_string_literal(out: &mut String, text: &str) {
    out.push('"');
    escape_str(text, out);
    out.push('"');
}
