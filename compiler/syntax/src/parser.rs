//! The parse driver: runs the lexer, the nesting check and the generated LR parser, and turns
//! lalrpop's error recoveries into diagnostics. Also holds the small AST-building helpers the
//! grammar actions call.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::fmt;

use kdep_diag::{Code, Diagnostic, FileId, Span, TextRange};
use lalrpop_util::{ErrorRecovery, ParseError};

use crate::ast::{self, BinaryOp, UnaryOp};
use crate::lexer::{self, Tok};
use crate::{limits, nesting, Parse};

lalrpop_util::lalrpop_mod!(
    #[allow(clippy::all, clippy::pedantic, clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used)]
    #[allow(unused_qualifications, unused_parens, dead_code)]
    grammar
);

/// The parser's error type for lexer failures; the lexer never fails, so it has no values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Void {}

impl fmt::Display for Void {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {}
    }
}

pub(crate) type Recovery<'a> = ErrorRecovery<u32, Tok<'a>, Void>;

/// State shared by the grammar actions.
pub struct Ctx<'a> {
    file: FileId,
    docs: Vec<(u32, ast::Doc)>,
    errors: Vec<Recovery<'a>>,
    /// Recoveries dropped beyond the cap.
    suppressed: usize,
    diags: Vec<Diagnostic>,
}

pub(crate) fn rng(l: u32, r: u32) -> TextRange {
    TextRange::new(l, r.max(l))
}

pub(crate) fn ident(text: &str, l: u32, r: u32) -> ast::Ident {
    ast::Ident { text: text.to_owned(), range: rng(l, r) }
}

pub(crate) fn unary(op: UnaryOp, operand: ast::Expr, l: u32, r: u32) -> ast::Expr {
    ast::Expr::Unary { op, operand: Box::new(operand), range: rng(l, r) }
}

pub(crate) fn field_decl(
    doc: Option<ast::Doc>,
    locked: Option<TextRange>,
    name: ast::Ident,
    ty: Option<ast::TypeExpr>,
    default: Option<ast::Expr>,
    l: u32,
    r: u32,
) -> ast::FieldDecl {
    ast::FieldDecl { doc, locked, name, ty, default, range: rng(l, r) }
}

impl<'a> Ctx<'a> {
    fn span(&self, range: TextRange) -> Span {
        Span::new(self.file, range)
    }

    pub(crate) fn recover(&mut self, error: Recovery<'a>) {
        if self.errors.len() < crate::MAX_SYNTAX_DIAGNOSTICS {
            self.errors.push(error);
        } else {
            self.suppressed += 1;
        }
    }

    /// The doc comment block directly above the token starting at `at`, if any.
    pub(crate) fn doc(&self, at: u32) -> Option<ast::Doc> {
        let i = self.docs.binary_search_by_key(&at, |(k, _)| *k).ok()?;
        self.docs.get(i).map(|(_, d)| d.clone())
    }

    /// Arranges `first op rhs op rhs ...` by operator precedence, left-associatively, with an
    /// explicit stack (no recursion). Comparisons do not associate: `a < b < c` is reported.
    pub(crate) fn binary_chain(&mut self, first: ast::Expr, rest: Vec<(u32, BinaryOp, u32, ast::Expr)>) -> ast::Expr {
        if rest.is_empty() {
            return first;
        }
        let mut operands: Vec<ast::Expr> = Vec::with_capacity(rest.len() + 1);
        operands.push(first);
        let mut ops: Vec<BinaryOp> = Vec::with_capacity(rest.len());
        for (l, op, r, rhs) in rest {
            while let Some(&top) = ops.last() {
                if precedence(top) < precedence(op) {
                    break;
                }
                if precedence(top) == COMPARISON && precedence(op) == COMPARISON {
                    let diag = Diagnostic::error(
                        Code::UNEXPECTED_TOKEN,
                        format!("comparison operators cannot be chained: `{}` after `{}`", op.as_str(), top.as_str()),
                    )
                    .with_primary(self.span(rng(l, r)), "second comparison")
                    .with_help("combine comparisons with `&&`, as in `a < b && b < c`");
                    self.diags.push(diag);
                }
                ops.pop();
                reduce_top(&mut operands, top);
            }
            ops.push(op);
            operands.push(rhs);
        }
        while let Some(top) = ops.pop() {
            reduce_top(&mut operands, top);
        }
        operands.pop().unwrap_or(ast::Expr::Error(rng(0, 0)))
    }

    /// The parts of a folded plain string `"text"` spanning `l..r`: one text part between the
    /// quotes, none for `""` (exactly what `STR_START STR_TEXT? STR_END` gives).
    pub(crate) fn plain_string(&self, text: Box<str>, l: u32, r: u32) -> Vec<ast::StrPart> {
        if r > l.saturating_add(2) {
            vec![ast::StrPart::Text { text: text.into_string(), range: rng(l + 1, r - 1) }]
        } else {
            Vec::new()
        }
    }

    /// A placeholder for a declaration name that is missing, with its diagnostic.
    pub(crate) fn missing_name(&mut self, at: u32) -> ast::Ident {
        let diag = Diagnostic::error(Code::UNEXPECTED_TOKEN, "expected a name for this declaration")
            .with_primary(self.span(rng(at, at)), "name missing here");
        self.diags.push(diag);
        ast::Ident { text: String::new(), range: rng(at, at) }
    }

    /// `@a @b schema ...` (or `template`, `app`): the attributes join the declaration, whose doc comment (attached to
    /// the token after it) is found at the first `@` and whose range starts there.
    pub(crate) fn attach_attributes(&mut self, attrs: Vec<ast::Attribute>, mut item: Box<ast::Item>) -> Box<ast::Item> {
        let Some(start) = attrs.first().map(|a| a.range.start) else {
            return item;
        };
        let doc = self.doc(start);
        match &mut *item {
            ast::Item::Schema(decl) => {
                decl.doc = doc.or(decl.doc.take());
                decl.attrs = attrs;
                decl.range = TextRange::new(start, decl.range.end);
            }
            ast::Item::Template(decl) => {
                decl.doc = doc.or(decl.doc.take());
                decl.attrs = attrs;
                decl.range = TextRange::new(start, decl.range.end);
            }
            ast::Item::App(decl) => {
                decl.doc = doc.or(decl.doc.take());
                decl.attrs = attrs;
                decl.range = TextRange::new(start, decl.range.end);
            }
            _ => self.misplaced(&attrs),
        }
        item
    }

    /// Attributes before a member: reported, the member kept.
    pub(crate) fn misplaced_attributes(
        &mut self,
        attrs: &[ast::Attribute],
        member: Box<ast::Member>,
    ) -> Box<ast::Member> {
        self.misplaced(attrs);
        member
    }

    fn misplaced(&mut self, attrs: &[ast::Attribute]) {
        let (Some(first), Some(last)) = (attrs.first(), attrs.last()) else { return };
        let range = TextRange::new(first.range.start, last.range.end);
        let diag = Diagnostic::error(
            Code::UNEXPECTED_TOKEN,
            "attributes apply only to `schema`, `template` and `app` declarations",
        )
        .with_primary(self.span(range), "attribute not allowed here")
        .with_help("write `@name(...)` on the line before `schema`, `template` or `app`");
        self.diags.push(diag);
    }

    /// A quoted field name (`"x-foo": string?`). It must be a plain, non-empty string: a field
    /// name is part of a type and cannot be computed.
    pub(crate) fn quoted_name(&mut self, lit: ast::StringLit) -> ast::Ident {
        match lit.as_plain() {
            Some(text) if !text.is_empty() => ast::Ident { text, range: lit.range },
            _ => {
                let diag =
                    Diagnostic::error(Code::UNEXPECTED_TOKEN, "a quoted field name must be plain, non-empty text")
                        .with_primary(self.span(lit.range), "interpolated or empty")
                        .with_help("field names are part of the type; write the name out, as in `\"x-foo\": string`");
                self.diags.push(diag);
                ast::Ident { text: String::new(), range: lit.range }
            }
        }
    }

    /// `key(f1, f2)` or `unique` inside a type's refinement list; anything else is reported
    /// and dropped.
    pub(crate) fn list_constraint(
        &mut self,
        name: ast::Ident,
        fields: Option<Vec<ast::Ident>>,
        range: TextRange,
    ) -> Option<ast::Refinement> {
        match (name.text.as_str(), fields) {
            ("key", Some(fields)) if !fields.is_empty() => Some(ast::Refinement::Key { fields, range }),
            ("unique", None) => Some(ast::Refinement::Unique { range }),
            (word, _) => {
                let (message, help) = match word {
                    "key" => (
                        "`key` needs the fields that identify an item".to_owned(),
                        "write `key(name)` or `key(containerPort, protocol)`",
                    ),
                    "unique" => ("`unique` takes no arguments".to_owned(), "write `[string](unique)`"),
                    _ => (
                        format!("unknown type constraint `{word}`"),
                        "a refinement is a range `lo..hi`, a `/regex/`, `key(field, ...)` or `unique`",
                    ),
                };
                let diag = Diagnostic::error(Code::UNEXPECTED_TOKEN, message)
                    .with_primary(self.span(range), "not a valid refinement")
                    .with_help(help);
                self.diags.push(diag);
                None
            }
        }
    }

    /// `target { entries }`: the target must be a name or a dotted path.
    pub(crate) fn instantiate(
        &mut self,
        target: ast::Expr,
        entries: Vec<ast::Entry>,
        body_range: TextRange,
        range: TextRange,
    ) -> ast::Expr {
        let target_range = target.range();
        match expr_to_path(target) {
            Some(path) => ast::Expr::Instantiate { path, entries, body_range, range },
            None => {
                let diag = Diagnostic::error(Code::UNEXPECTED_TOKEN, "expected a type name before `{`")
                    .with_primary(self.span(target_range), "only a name or dotted path can be instantiated")
                    .with_help("write the type being built, as in `apps.Deployment { ... }`");
                self.diags.push(diag);
                ast::Expr::Error(range)
            }
        }
    }

    /// `{ key = value ... }` as an `emit if` branch: the record itself, without the inner braces
    /// of `{ { key = value } }` (the object's range is the branch's braces).
    pub(crate) fn bare_object(&mut self, first: ast::Entry, rest: Vec<ast::Entry>, range: TextRange) -> ast::Expr {
        let mut entries = Vec::with_capacity(rest.len() + 1);
        entries.push(first);
        entries.extend(rest);
        ast::Expr::Object { entries, range }
    }

    /// One entry of a bare branch: the key arrived as an expression (see the grammar's `Block`)
    /// and must be what an entry key can be: a name, a dotted name or a string.
    pub(crate) fn bare_entry(
        &mut self,
        key: ast::Expr,
        value: ast::Expr,
        clause: Option<ast::ForClause>,
        l: u32,
        r: u32,
    ) -> ast::Entry {
        let key_range = key.range();
        let Some(keys) = expr_to_keys(key) else {
            let diag = Diagnostic::error(Code::UNEXPECTED_TOKEN, "expected a key before `=`")
                .with_primary(self.span(key_range), "not a name, dotted name or string")
                .with_help("an entry is `key = value`; compare with `==`");
            self.diags.push(diag);
            return ast::Entry::Error(rng(l, r));
        };
        match clause {
            Some(clause) => self.map_comprehension(keys, value, clause, l, r),
            None => ast::Entry::Field(ast::FieldEntry { key: keys, value, range: rng(l, r) }),
        }
    }

    /// `key = value for ...` inside `{ }`: the key becomes an expression evaluated per element.
    pub(crate) fn map_comprehension(
        &mut self,
        key: Vec<ast::Key>,
        value: ast::Expr,
        clause: ast::ForClause,
        l: u32,
        r: u32,
    ) -> ast::Entry {
        let mut keys = key.into_iter();
        let mut key_expr = match keys.next() {
            Some(ast::Key::Ident(id)) => ast::Expr::Name(id),
            Some(ast::Key::Str(s)) => ast::Expr::Str(s),
            None => ast::Expr::Error(rng(l, l)),
        };
        for segment in keys {
            let start = key_expr.range().start;
            key_expr = match segment {
                ast::Key::Ident(field) => {
                    let range = TextRange::new(start, field.range.end);
                    ast::Expr::Field { base: Box::new(key_expr), field, range }
                }
                ast::Key::Str(s) => {
                    let diag = Diagnostic::error(Code::UNEXPECTED_TOKEN, "a comprehension key cannot be a dotted path")
                        .with_primary(self.span(s.range), "quoted segment not allowed here")
                        .with_help("compute the key as one string, e.g. `\"${a}.${b}\" = v for ...`");
                    self.diags.push(diag);
                    ast::Expr::Error(TextRange::new(start, s.range.end))
                }
            };
        }
        ast::Entry::Comprehension(Box::new(ast::MapComprehension { key: key_expr, value, clause, range: rng(l, r) }))
    }
}

const COMPARISON: u8 = 3;

fn precedence(op: BinaryOp) -> u8 {
    match op {
        BinaryOp::Or => 1,
        BinaryOp::And => 2,
        BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => COMPARISON,
        BinaryOp::Add | BinaryOp::Sub => 4,
        BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => 5,
    }
}

/// Replaces the two topmost operands by `lhs op rhs`.
fn reduce_top(operands: &mut Vec<ast::Expr>, op: BinaryOp) {
    let (Some(rhs), Some(lhs)) = (operands.pop(), operands.pop()) else { return };
    let range = lhs.range().cover(rhs.range());
    operands.push(ast::Expr::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs), range });
}

/// Turns the key of a bare entry (`a`, `a.b`, `"x"`, `true`) back into the keys the entry
/// grammar would have built; anything else is not a key.
fn expr_to_keys(expr: ast::Expr) -> Option<Vec<ast::Key>> {
    let mut keys = Vec::new();
    let mut current = expr;
    loop {
        match current {
            ast::Expr::Field { base, field, .. } => {
                keys.push(ast::Key::Ident(field));
                current = *base;
            }
            ast::Expr::Name(id) => {
                keys.push(ast::Key::Ident(id));
                break;
            }
            ast::Expr::Str(s) => {
                keys.push(ast::Key::Str(s));
                break;
            }
            ast::Expr::Bool { value, range } => {
                keys.push(ast::Key::Ident(ident(if value { "true" } else { "false" }, range.start, range.end)));
                break;
            }
            ast::Expr::Null { range } => {
                keys.push(ast::Key::Ident(ident("null", range.start, range.end)));
                break;
            }
            _ => return None,
        }
    }
    keys.reverse();
    Some(keys)
}

/// Turns `a`, `a.b.c` into a path; anything else is not a path. Iterative, so long chains are fine.
fn expr_to_path(expr: ast::Expr) -> Option<ast::Path> {
    let range = expr.range();
    let mut segments = Vec::new();
    let mut current = expr;
    loop {
        match current {
            ast::Expr::Name(id) => {
                segments.push(id);
                break;
            }
            ast::Expr::Field { base, field, .. } => {
                segments.push(field);
                current = *base;
            }
            _ => return None,
        }
    }
    segments.reverse();
    Some(ast::Path { segments, range })
}

pub(crate) fn parse(file: FileId, text: &str) -> Parse {
    let lexed = lexer::lex(file, text);
    let mut diagnostics = lexed.diagnostics;
    let checked = nesting::check(file, lexed.tokens, lexer::loc(text.len()));
    let mut ctx = Ctx { file, docs: lexed.docs, errors: Vec::new(), suppressed: 0, diags: Vec::new() };
    let whole = rng(0, lexer::loc(text.len()));
    let parser = grammar::FileParser::new();
    let mut items = match parser.parse(&mut ctx, checked.tokens.into_iter().map(Ok)) {
        Ok(items) => items,
        Err(error) => {
            ctx.errors.push(ErrorRecovery { error, dropped_tokens: Vec::new() });
            vec![ast::Item::Error(whole)]
        }
    };
    diagnostics.extend(checked.diagnostics);
    let errors = std::mem::take(&mut ctx.errors);
    diagnostics.append(&mut ctx.diags);
    // The parser consumed the tokens; the error reporter needs their ranges. Most files have no
    // syntax error, so the ranges are not kept for every file: a file with errors is lexed and
    // checked again (both are deterministic, so the tokens are the same ones).
    let ranges = if errors.is_empty() {
        Vec::new()
    } else {
        nesting::ranges(&nesting::check(file, lexer::lex(file, text).tokens, lexer::loc(text.len())).tokens)
    };
    let mut reporter = ErrorReporter {
        file,
        text,
        tokens: &ranges,
        unclosed_at_eof: checked.unclosed_at_eof,
        quiet_until: None,
        invalid_chars: diagnostics
            .iter()
            .filter(|d| d.code == Code::INVALID_CHARACTER)
            .filter_map(|d| d.primary.as_ref().map(|p| p.span.range.start))
            .collect(),
    };
    for recovery in errors {
        if let Some(diag) = reporter.report(recovery) {
            diagnostics.push(diag);
        }
    }
    limits::limit_depth(file, &mut items, &mut diagnostics);
    diagnostics.sort_by_key(|d| d.primary.as_ref().map(|l| (l.span.range.start, l.span.range.end)));
    let suppressed =
        lexed.suppressed + ctx.suppressed + diagnostics.len().saturating_sub(crate::MAX_SYNTAX_DIAGNOSTICS);
    diagnostics.truncate(crate::MAX_SYNTAX_DIAGNOSTICS);
    if suppressed > 0 {
        if let Some(last) = diagnostics.last_mut() {
            last.notes.push(format!("{suppressed} more syntax errors in this file are not shown"));
        }
    }
    Parse { file: ast::File { items, range: whole }, comments: lexed.comments, diagnostics }
}

/// After an error, this many tokens must pass before another error is reported at a new place
/// (as in yacc): errors right after a recovery are almost always its echo.
const QUIET_TOKENS: usize = 3;

struct ErrorReporter<'t> {
    file: FileId,
    text: &'t str,
    /// Ranges of every token given to the parser, in order.
    tokens: &'t [(u32, u32)],
    /// Whether the nesting check already reported delimiters left open at the end of the
    /// file (and closed them there); an unexpected end of file would only repeat that.
    unclosed_at_eof: bool,
    /// Errors starting before this offset are echoes of the previous one.
    quiet_until: Option<u32>,
    /// Start offsets of the invalid characters the lexer reported, in order.
    invalid_chars: Vec<u32>,
}

impl ErrorReporter<'_> {
    fn report(&mut self, recovery: Recovery<'_>) -> Option<Diagnostic> {
        let resume = recovery.dropped_tokens.last().map(|(_, _, r)| *r);
        match recovery.error {
            ParseError::UnrecognizedToken { token: (l, tok, r), expected } => {
                let (r, expected) = (unfolded_end(l, &tok, r), without_folded(expected));
                let quiet = self.quiet_until.is_some_and(|q| l < q) || self.after_invalid_char(l);
                // Recovery resumes at the first token the parser can continue with. At a keyword
                // that starts a declaration or member, or at a `}`, that is solid ground; at
                // anything else (often a name inside the broken code) the next errors are
                // usually echoes of this one.
                let resume_at = resume.unwrap_or(l);
                self.quiet_until =
                    if self.is_solid(resume_at) { None } else { self.offset_after_tokens(resume_at, QUIET_TOKENS) };
                // A zero-width closer was inserted by the nesting check, which reported it.
                if quiet || tok == Tok::Deep || (l == r && is_closer(&tok)) {
                    return None;
                }
                Some(self.unexpected(l, r, &tok, &expected))
            }
            ParseError::UnrecognizedEof { location, expected } => {
                let expected = without_folded(expected);
                if self.unclosed_at_eof || self.quiet_until.is_some_and(|q| location < q) {
                    return None;
                }
                let at = location.min(lexer::loc(self.text.len()));
                let after = self.previous_token_text(at).map(|t| format!(" after `{t}`")).unwrap_or_default();
                let message = match describe_expected(&expected) {
                    Some(exp) => format!("unexpected end of file, expected {exp}{after}"),
                    None => "unexpected end of file".to_owned(),
                };
                Some(
                    Diagnostic::error(Code::UNEXPECTED_EOF, message)
                        .with_primary(Span::new(self.file, rng(at, at)), "the file ends here"),
                )
            }
            ParseError::ExtraToken { token: (l, tok, r) } => Some({
                let r = unfolded_end(l, &tok, r);
                Diagnostic::error(Code::UNEXPECTED_TOKEN, format!("unexpected {}", self.found(l, r, &tok)))
                    .with_primary(Span::new(self.file, rng(l, r)), "not expected here")
            }),
            ParseError::InvalidToken { location } => Some(
                Diagnostic::error(Code::UNEXPECTED_TOKEN, "invalid token")
                    .with_primary(Span::new(self.file, rng(location, location)), "here"),
            ),
            ParseError::User { error } => match error {},
        }
    }

    /// Whether the first token at or after `at` is a declaration keyword or a closing brace.
    fn is_solid(&self, at: u32) -> bool {
        let i = self.tokens.partition_point(|(l, _)| *l < at);
        let Some((l, r)) = self.tokens.get(i) else { return true };
        matches!(
            self.text.get(*l as usize..*r as usize),
            Some(
                "import"
                    | "let"
                    | "fn"
                    | "schema"
                    | "template"
                    | "app"
                    | "environment"
                    | "test"
                    | "assert"
                    | "expect_error"
                    | "check"
                    | "emit"
                    | "locked"
                    | "}"
            )
        )
    }

    /// The start of the `n`th token after offset `from` (or the end of the file).
    fn offset_after_tokens(&self, from: u32, n: usize) -> Option<u32> {
        let i = self.tokens.partition_point(|(l, _)| *l < from);
        Some(self.tokens.get(i + n).map_or(u32::MAX, |(l, _)| *l))
    }

    /// Whether an invalid character was skipped just before the token at `at`: the parse
    /// error there is a consequence of the character already reported.
    fn after_invalid_char(&self, at: u32) -> bool {
        let i = self.tokens.partition_point(|(l, _)| *l < at);
        let prev_end = i.checked_sub(1).and_then(|p| self.tokens.get(p)).map_or(0, |(_, r)| *r);
        let j = self.invalid_chars.partition_point(|s| *s < prev_end);
        self.invalid_chars.get(j).is_some_and(|s| *s < at)
    }

    /// The source text of the token ending at or before `at`, if it is short enough to quote.
    fn previous_token_text(&self, at: u32) -> Option<&str> {
        let i = self.tokens.partition_point(|(l, _)| *l < at);
        let (l, r) = *self.tokens.get(i.checked_sub(1)?)?;
        let text = self.text.get(l as usize..r as usize)?;
        (!text.is_empty() && text.len() <= 24 && !text.contains('\n') && !text.starts_with('"')).then_some(text)
    }

    /// `x.` at the end of a line swallows the first name of the next line as its field, and
    /// the error only shows up one token later. Blame the dot instead.
    fn dangling_dot(&self, at: u32) -> Option<Diagnostic> {
        let i = self.tokens.partition_point(|(l, _)| *l < at);
        let (dot_l, dot_r) = *self.tokens.get(i.checked_sub(2)?)?;
        let (name_l, _) = *self.tokens.get(i.checked_sub(1)?)?;
        let is_dot = self.text.get(dot_l as usize..dot_r as usize) == Some(".");
        let gap = self.text.get(dot_r as usize..name_l as usize)?;
        if !is_dot || !gap.contains('\n') {
            return None;
        }
        Some(
            Diagnostic::error(Code::UNEXPECTED_TOKEN, "expected a field name after `.`")
                .with_primary(Span::new(self.file, rng(dot_l, dot_r)), "nothing follows this `.` on its line")
                .with_help(
                    "the name on the next line was read as the field; complete the expression or remove the `.`",
                ),
        )
    }

    /// How a found token is named in messages: its own text when short, else its kind.
    fn found(&self, l: u32, r: u32, tok: &Tok<'_>) -> String {
        match tok {
            Tok::StrStart | Tok::Str(_) | Tok::StrText(_) | Tok::Regex(_) | Tok::Deep => tok.describe(),
            _ => match self.text.get(l as usize..r as usize) {
                Some(t) if !t.is_empty() && t.len() <= 24 => format!("`{t}`"),
                _ => tok.describe(),
            },
        }
    }

    fn unexpected(&self, l: u32, r: u32, tok: &Tok<'_>, expected: &[String]) -> Diagnostic {
        if let Some(diag) = self.dangling_dot(l) {
            return diag;
        }
        let found = self.found(l, r, tok);
        let set: Vec<&str> = expected.iter().map(String::as_str).collect();
        let has = |t: &str| set.contains(&t);
        let context = if has("\":\"") && has("\"=\"") && set.len() == 2 {
            " after field name".to_owned()
        } else if has("\".\"") && has("\"=\"") && !has("\":\"") && set.len() == 2 {
            " after key".to_owned()
        } else if has("IDENT") && has("INT") {
            // An expression was expected: say what it should follow.
            self.previous_token_text(l).map(|t| format!(" after `{t}`")).unwrap_or_default()
        } else {
            String::new()
        };
        let message = match describe_expected(expected) {
            Some(exp) => format!("expected {exp}{context}, found {found}"),
            None => format!("unexpected {found}"),
        };
        let mut diag = Diagnostic::error(Code::UNEXPECTED_TOKEN, message).with_primary(
            Span::new(self.file, rng(l, r)),
            if found.starts_with('`') { format!("unexpected {found}") } else { "not expected here".to_owned() },
        );
        if let Some(help) = help_for(tok, &set) {
            diag = diag.with_help(help);
        }
        diag
    }
}

/// Where a found token ends as the lexer made it: a folded string ([`Tok::Str`]) is reported at
/// its opening quote, as `STR_START` was.
fn unfolded_end(l: u32, tok: &Tok<'_>, r: u32) -> u32 {
    match tok {
        Tok::Str(_) => l.saturating_add(1).min(r),
        _ => r,
    }
}

/// lalrpop's expected terminals without `STR`: it is expected exactly where `STR_START` is, and
/// messages are worded from `STR_START`.
fn without_folded(mut expected: Vec<String>) -> Vec<String> {
    expected.retain(|e| e != "STR");
    expected
}

fn is_closer(tok: &Tok<'_>) -> bool {
    matches!(tok, Tok::RBrace | Tok::RBracket | Tok::RParen | Tok::InterpEnd | Tok::StrEnd)
}

fn help_for(tok: &Tok<'_>, expected: &[&str]) -> Option<&'static str> {
    let has = |t: &str| expected.contains(&t);
    match tok {
        Tok::Colon if has("\"=\"") && !has("\":\"") => {
            Some("entries assign with `=`; `:` introduces a type and is only used in schema and template fields")
        }
        Tok::Regex(_) => Some("regex literals are only allowed in type refinements such as `string(/^[a-z]+$/)`"),
        _ if tok.is_keyword() && has("IDENT") && has("\")\"") && !has("INT") => {
            Some("a keyword cannot name a function parameter, since the body could not read it; choose another name")
        }
        Tok::Open => Some("`open` is reserved for future versions of kdep"),
        Tok::Lt | Tok::Le | Tok::Gt | Tok::Ge | Tok::EqEq | Tok::Ne if !has("\"<\"") => {
            Some("comparisons do not chain; combine them with `&&`, as in `a < b && b < c`")
        }
        Tok::Eq if has("\"}\"") && !has("\",\"") => Some(
            "the braces of an `if` branch hold one expression: write an object as `{ { a = 1 } }`, \
             and wrap `Path { ... }` in parentheses inside a condition",
        ),
        Tok::RBrace | Tok::RBracket | Tok::RParen | Tok::Comma | Tok::Eq | Tok::Colon => None,
        _ if has("\",\"") && has("\"]\"") => Some("list items are separated by commas"),
        _ if has("\",\"") && has("\")\"") => Some("arguments are separated by commas"),
        _ => None,
    }
}

/// Tokens that can continue an expression; when they are expected, the expression could have
/// ended too, so they are left out of the message.
const CONTINUATIONS: &[&str] = &[
    "\"+\"", "\"-\"", "\"*\"", "\"/\"", "\"%\"", "\"==\"", "\"!=\"", "\"<\"", "\"<=\"", "\">\"", "\">=\"", "\"&&\"",
    "\"||\"", "\".\"", "\"[\"", "\"(\"", "\"{\"", "\"?\"", "\"|\"",
];

const DECLARATION_KEYWORDS: &[&str] = &[
    "\"import\"",
    "\"let\"",
    "\"fn\"",
    "\"schema\"",
    "\"template\"",
    "\"app\"",
    "\"environment\"",
    "\"test\"",
    "\"policy\"",
];

/// Renders lalrpop's expected-terminal list as prose, collapsing the many terminals that can
/// start a name or an expression.
fn describe_expected(expected: &[String]) -> Option<String> {
    // `else` as a key is its own terminal (`ELSE_KEY`); to the reader it is the word `else`.
    let mut terminals: Vec<String> = Vec::with_capacity(expected.len());
    for e in expected {
        let e = match e.as_str() {
            "ELSE_KEY" => "\"else\"".to_owned(),
            "EMIT_IF" => "\"if\"".to_owned(),
            _ => e.clone(),
        };
        if !terminals.contains(&e) {
            terminals.push(e);
        }
    }
    let expected = terminals.as_slice();
    let has = |t: &str| expected.iter().any(|e| e == t);
    let expr_start = has("IDENT") && has("INT") && has("STR_START");
    let name = has("IDENT");
    let continuing = has("\"+\"") || has("\"?\"") || has("\"|\"");
    let declaration = !name && DECLARATION_KEYWORDS.iter().all(|d| has(d));
    let mut parts: Vec<String> = Vec::new();
    if expr_start {
        parts.push("an expression".to_owned());
    } else if name {
        parts.push("a name".to_owned());
    }
    for e in expected {
        let shown = match e.as_str() {
            "IDENT" | "DEEP" | "STR_TEXT" | "\"${\"" => continue,
            "INT" | "FLOAT" if expr_start => continue,
            "INT" | "FLOAT" => "a number",
            "STR_START" if expr_start => continue,
            "STR_START" => "a string",
            "STR_END" => "`\"`",
            "INTERP_END" => "`}`",
            "REGEX" => "a regex",
            quoted if continuing && CONTINUATIONS.contains(&quoted) => continue,
            quoted if declaration && DECLARATION_KEYWORDS.contains(&quoted) => continue,
            quoted => {
                let inner = quoted.trim_matches('"');
                let is_word = inner.chars().all(|c| c.is_ascii_alphabetic() || c == '_');
                let hard = matches!(inner, "if" | "else" | "for" | "true" | "false" | "null");
                if is_word && !hard && (name || expr_start) {
                    // Keywords usable as names are covered by "a name".
                    continue;
                }
                if expr_start && matches!(inner, "(" | "[" | "{" | "-" | "!" | "if" | "true" | "false" | "null") {
                    continue;
                }
                parts.push(format!("`{inner}`"));
                continue;
            }
        };
        if !parts.iter().any(|p| p == shown) {
            parts.push(shown.to_owned());
        }
    }
    if declaration {
        parts.push(
            "a declaration (`import`, `let`, `fn`, `schema`, `template`, `app`, `environment`, `test` or `policy`)"
                .to_owned(),
        );
    }
    if parts.is_empty() && continuing {
        parts.push("an operator".to_owned());
    }
    match parts.len() {
        0 => None,
        1 => parts.pop(),
        n if n > 6 => Some(format!("{} or another token", parts.get(..5).unwrap_or(&[]).join(", "))),
        _ => {
            let last = parts.pop().unwrap_or_default();
            Some(format!("{} or {last}", parts.join(", ")))
        }
    }
}
