//! The canonical formatter (`kdep fmt`): prints an AST plus its comments in one fixed layout.
//!
//! # Layout rules
//!
//! There is exactly one layout for every tree; the user's whitespace is ignored except for
//! single blank lines, which are kept where the user had one or more.
//!
//! - Indentation is 4 spaces; lines end with `\n`, never with trailing spaces; the file ends with
//!   exactly one newline (an empty file stays empty).
//! - Top-level items are separated by one blank line. The one exception: two consecutive items of
//!   the same kind that each print on one line (imports, short `let`s, one-line `environment`s)
//!   keep the user's choice of zero or one blank line, so groups such as a block of imports stay
//!   together.
//! - Items are never reordered, imports included: moving them would change nothing semantically
//!   but would surprise readers and make `kdep fmt` diffs noisy.
//! - Inside template, schema, app, `in` and broken object/list bodies, members and entries are
//!   one per line; a single blank line is kept where the user had at least one, never after an
//!   opening or before a closing brace (except before trailing comments of the block).
//! - Template, schema and app bodies and `in <env>` blocks are always multi-line (`{}` when
//!   empty). Object literals, `Type { ... }` instantiations and `environment` bodies are printed
//!   inline, `{ a = 1, b = "x" }`, when the whole literal fits in [`MAX_WIDTH`] columns at its
//!   position and holds no comment; otherwise one entry per line, without commas. An object
//!   mixing a map comprehension (`k = v for k, v in m`) with other entries always breaks.
//! - Lists follow the same rule: `[1, 2]` inline, otherwise one item per line with a trailing
//!   comma. A list whose only item is an object literal or instantiation that must break hugs it:
//!   `[{` ... `}]`. `if`/`else` is inline when it fits, otherwise each branch goes on its own
//!   indented line (`} else if c {` chains stay flat). Calls, binary operators, field access and
//!   comprehension clauses never break by themselves; an object or list inside them can.
//! - Binary operators have one space on each side; unary operators none. Parentheses are kept
//!   exactly where the user wrote them (`Expr::Paren`), and no others are added.
//! - Declarations: `name: type = default`, `locked name: type = value`, `let name: type = value`,
//!   `check cond : "message"`, `emit value`, `import a.b as c`, `template New = Base {`,
//!   `app name = Template {`. Types print without inner padding: `{string: T}`, `[T]`, `T?`,
//!   `int(1..20)`, `"a" | "b"`. Nothing is column-aligned: alignment makes one-line changes
//!   rewrite neighbouring lines.
//! - Strings are re-printed from their decoded text with canonical escapes (see
//!   [`lexical::escape_str`]) and interpolations printed from their expressions. Number literals
//!   and regex refinements keep their source spelling, so `1.5e3` or an escaped `/` survive.
//! - A quoted key stays quoted only when its text is not a plain identifier or is a keyword:
//!   `"name" = 1` becomes `name = 1`; `"app.kubernetes.io/name" = 1` and `"app" = 1` stay.
//!
//! # Comments
//!
//! No comment is ever lost, and comments keep their order. Each comment is attached to the
//! innermost block (file, body, object, list) that contains it, see [`comments`]:
//! - on the same line after an item, member, entry or list item: trailing, printed after it
//!   (` // ...`, after the list comma);
//! - on its own line(s) before one: leading, printed above it at its indentation, keeping a
//!   single blank line where the user had one;
//! - after the last child of a block: dangling, printed before the closing brace;
//! - anywhere inside a child (between `a +` and `b`, inside a type, after a keyword): in place,
//!   ending its line, with the rest of the construct continuing one level deeper. Moving such a
//!   comment above the declaration instead could slip it between a `///` doc and its
//!   declaration, which detaches the doc.
//!
//! A node with a comment inside it is never put on one line. Doc comments (`///`) are printed
//! from the comment table like any other comment, so they stay directly above their
//! declaration; comment text is kept verbatim apart from trailing whitespace.
//!
//! # Safety net
//!
//! [`format`] refuses to format input with syntax errors, and after printing it re-parses its own
//! output and checks that it has no errors, the same comments and the same tree modulo ranges
//! ([`canonical_tree`]). If that ever fails (a formatter bug), it returns an error instead of
//! rewriting the user's file.

mod canon;
mod comments;
mod lexical;
mod printer;

use kdep_diag::{Code, Diagnostic, FileId};

pub use canon::canonical_tree;
pub use lexical::{is_keyword, write_key, write_string_literal};

/// The column limit for inline objects, lists and `if` expressions.
pub const MAX_WIDTH: usize = 100;

/// Formats one file in the canonical layout described in the module docs.
///
/// Returns the syntax errors instead when the file does not parse: broken code is never
/// reformatted, so no text can be lost.
pub fn format(file: FileId, text: &str) -> Result<String, Vec<Diagnostic>> {
    let parsed = crate::parse(file, text);
    if kdep_diag::has_errors(&parsed.diagnostics) {
        return Err(parsed.diagnostics.into_iter().filter(Diagnostic::is_error).collect());
    }
    let out = printer::print(text, &parsed);
    verify(file, text, &parsed, &out)?;
    Ok(out)
}

/// Checks that `out` means exactly what `text` meant; see "Safety net" in the module docs.
fn verify(file: FileId, text: &str, before: &crate::Parse, out: &str) -> Result<(), Vec<Diagnostic>> {
    let after = crate::parse(file, out);
    let problem = if kdep_diag::has_errors(&after.diagnostics) {
        Some("the formatted output does not parse")
    } else if comment_texts(text, &before.comments) != comment_texts(out, &after.comments) {
        Some("the formatted output does not keep every comment")
    } else if canonical_tree(&before.file) != canonical_tree(&after.file) {
        Some("the formatted output does not have the same syntax tree")
    } else {
        None
    };
    match problem {
        None => Ok(()),
        Some(what) => Err(vec![Diagnostic::error(Code::UNEXPECTED_TOKEN, format!("internal formatter error: {what}"))
            .with_help("the file was left unchanged; please report this input as a `kdep fmt` bug")]),
    }
}

/// The text of each comment without trailing whitespace, in source order.
fn comment_texts<'a>(text: &'a str, comments: &[crate::Comment]) -> Vec<&'a str> {
    comments.iter().map(|c| text.get(c.range.as_usize_range()).unwrap_or("").trim_end()).collect()
}
