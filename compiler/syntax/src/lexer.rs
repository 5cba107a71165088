//! The lexer: logos rules for plain tokens plus a small driver for the context-dependent parts
//! (strings with `${...}` interpolation, regex literals, comments, malformed numbers).
//!
//! The driver never fails: malformed input becomes a diagnostic and, where the parser needs
//! something to stand on, a best-effort token (an unterminated string is closed at the end
//! of its line, an out-of-range integer becomes `0`). Comments go to a side table, never to
//! the parser.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use kdep_diag::{Code, Diagnostic, FileId, Span, TextRange};
use logos::Logos;

use crate::ast::Doc;
use crate::{Comment, CommentKind};

/// A token as the grammar sees it. Ranges live beside it in the `(start, Tok, end)` triple.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok<'a> {
    Ident(&'a str),
    Int(i64),
    Float(f64),
    /// The opening `"` of a string literal.
    StrStart,
    /// Decoded literal text between the quotes (never empty). Boxed to keep tokens small.
    StrText(Box<str>),
    /// `${` inside a string.
    InterpStart,
    /// The `}` that closes an interpolation.
    InterpEnd,
    /// The closing `"` (zero-width when the string was unterminated).
    StrEnd,
    /// A whole string without interpolation, `"` to `"` (closed on its line), with its decoded
    /// text (empty for `""`): what `StrStart [StrText] StrEnd` would say, so most strings cost
    /// the lexer one token and the parser one shift instead of three plus two reductions.
    /// Error messages still count and place it as those three tokens ([`unfolded`]).
    Str(Box<str>),
    /// `/pattern/` with `\/` already unescaped.
    Regex(Box<str>),

    Import,
    As,
    Let,
    Schema,
    Template,
    With,
    Locked,
    Check,
    Emit,
    App,
    In,
    Environment,
    Fn,
    If,
    Else,
    For,
    True,
    False,
    Null,
    Policy,
    Test,
    Open,
    Assert,
    ExpectError,
    Waive,

    LBrace,
    RBrace,
    LBracket,
    RBracket,
    LParen,
    RParen,
    Comma,
    Dot,
    DotDot,
    Colon,
    Eq,
    EqEq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Bang,
    AndAnd,
    OrOr,
    Pipe,
    Question,
    /// `->`, between a function's parameters and its return type.
    Arrow,
    /// `@`, which starts an item attribute (`@resource(...)`, `@open`).
    At,

    /// Stands for the contents of a bracket nested deeper than [`crate::MAX_NESTING`].
    Deep,
    /// `else` used as a key or field name: an `else` directly followed by `=`, `.` or `:`,
    /// which can never continue an `if`. Giving it its own token keeps `if` without `else`
    /// unambiguous: `a = if c { 1 }` followed by an entry `else = 2` on the next line.
    ElseKey,
    /// `if` directly after the `emit` keyword (not after `.emit`): its branches may hold the
    /// emitted record's entries without inner braces (see the grammar's `EmitIf`).
    EmitIf,
}

impl Tok<'_> {
    /// How the token is shown in "found ..." messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Ident(name) => format!("`{name}`"),
            Tok::Int(_) | Tok::Float(_) => "a number".to_owned(),
            Tok::StrStart | Tok::Str(_) => "a string".to_owned(),
            Tok::StrText(_) => "string text".to_owned(),
            Tok::InterpStart => "`${`".to_owned(),
            Tok::InterpEnd => "`}`".to_owned(),
            Tok::StrEnd => "`\"`".to_owned(),
            Tok::Regex(_) => "a regex literal".to_owned(),
            Tok::Deep => "deeply nested code".to_owned(),
            Tok::ElseKey => "`else`".to_owned(),
            Tok::EmitIf => "`if`".to_owned(),
            other => match other.punct_or_keyword() {
                Some(text) => format!("`{text}`"),
                None => "a token".to_owned(),
            },
        }
    }

    pub(crate) fn punct_or_keyword(&self) -> Option<&'static str> {
        Some(match self {
            Tok::Import => "import",
            Tok::As => "as",
            Tok::Let => "let",
            Tok::Schema => "schema",
            Tok::Template => "template",
            Tok::With => "with",
            Tok::Locked => "locked",
            Tok::Check => "check",
            Tok::Emit => "emit",
            Tok::App => "app",
            Tok::In => "in",
            Tok::Environment => "environment",
            Tok::Fn => "fn",
            Tok::If => "if",
            Tok::Else => "else",
            Tok::For => "for",
            Tok::True => "true",
            Tok::False => "false",
            Tok::Null => "null",
            Tok::Policy => "policy",
            Tok::Test => "test",
            Tok::Open => "open",
            Tok::Assert => "assert",
            Tok::ExpectError => "expect_error",
            Tok::Waive => "waive",
            Tok::LBrace => "{",
            Tok::RBrace => "}",
            Tok::LBracket => "[",
            Tok::RBracket => "]",
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::Comma => ",",
            Tok::Dot => ".",
            Tok::DotDot => "..",
            Tok::Colon => ":",
            Tok::Eq => "=",
            Tok::EqEq => "==",
            Tok::Ne => "!=",
            Tok::Lt => "<",
            Tok::Le => "<=",
            Tok::Gt => ">",
            Tok::Ge => ">=",
            Tok::Plus => "+",
            Tok::Minus => "-",
            Tok::Star => "*",
            Tok::Slash => "/",
            Tok::Percent => "%",
            Tok::Bang => "!",
            Tok::AndAnd => "&&",
            Tok::OrOr => "||",
            Tok::Pipe => "|",
            Tok::Question => "?",
            Tok::Arrow => "->",
            Tok::At => "@",
            _ => return None,
        })
    }

    pub(crate) fn is_keyword(&self) -> bool {
        matches!(
            self,
            Tok::Import
                | Tok::As
                | Tok::Let
                | Tok::Schema
                | Tok::Template
                | Tok::With
                | Tok::Locked
                | Tok::Check
                | Tok::Emit
                | Tok::App
                | Tok::In
                | Tok::Environment
                | Tok::Fn
                | Tok::If
                | Tok::Else
                | Tok::ElseKey
                | Tok::EmitIf
                | Tok::For
                | Tok::True
                | Tok::False
                | Tok::Null
                | Tok::Policy
                | Tok::Test
                | Tok::Open
                | Tok::Assert
                | Tok::ExpectError
                | Tok::Waive
        )
    }
}

/// The plain tokens logos recognises directly. Strings, regexes and comments are only
/// *started* here; the driver scans their bodies by hand because they need context.
#[derive(Logos, Clone, Copy, Debug, PartialEq, Eq)]
#[logos(skip r"[ \t\r\n\f]+")]
#[logos(skip "\u{feff}")]
enum Raw {
    #[token("import")]
    Import,
    #[token("as")]
    As,
    #[token("let")]
    Let,
    #[token("schema")]
    Schema,
    #[token("template")]
    Template,
    #[token("with")]
    With,
    #[token("locked")]
    Locked,
    #[token("check")]
    Check,
    #[token("emit")]
    Emit,
    #[token("app")]
    App,
    #[token("in")]
    In,
    #[token("environment")]
    Environment,
    #[token("fn")]
    Fn,
    #[token("if")]
    If,
    #[token("else")]
    Else,
    #[token("for")]
    For,
    #[token("true")]
    True,
    #[token("false")]
    False,
    #[token("null")]
    Null,
    #[token("policy")]
    Policy,
    #[token("test")]
    Test,
    #[token("open")]
    Open,
    #[token("assert")]
    Assert,
    #[token("expect_error")]
    ExpectError,
    #[token("waive")]
    Waive,

    #[regex("[A-Za-z_][A-Za-z0-9_]*")]
    Ident,
    #[regex("[0-9]+")]
    Int,
    // A dot must be followed by a digit, so `1..20` stays `Int DotDot Int`.
    #[regex(r"[0-9]+\.[0-9]+([eE][+-]?[0-9]+)?")]
    #[regex(r"[0-9]+[eE][+-]?[0-9]+")]
    Float,
    #[token("\"")]
    Quote,
    #[regex("//[^\n]*", allow_greedy = true)]
    Comment,

    #[token("{")]
    LBrace,
    #[token("}")]
    RBrace,
    #[token("[")]
    LBracket,
    #[token("]")]
    RBracket,
    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token(",")]
    Comma,
    #[token(".")]
    Dot,
    #[token("..")]
    DotDot,
    #[token(":")]
    Colon,
    #[token("=")]
    Eq,
    #[token("==")]
    EqEq,
    #[token("!=")]
    Ne,
    #[token("<")]
    Lt,
    #[token("<=")]
    Le,
    #[token(">")]
    Gt,
    #[token(">=")]
    Ge,
    #[token("+")]
    Plus,
    #[token("-")]
    Minus,
    #[token("*")]
    Star,
    #[token("/")]
    Slash,
    #[token("%")]
    Percent,
    #[token("!")]
    Bang,
    #[token("&&")]
    AndAnd,
    #[token("||")]
    OrOr,
    #[token("|")]
    Pipe,
    #[token("?")]
    Question,
    #[token("->")]
    Arrow,
    #[token("@")]
    At,
}

fn simple_tok<'a>(raw: Raw, slice: &'a str) -> Tok<'a> {
    match raw {
        Raw::Import => Tok::Import,
        Raw::As => Tok::As,
        Raw::Let => Tok::Let,
        Raw::Schema => Tok::Schema,
        Raw::Template => Tok::Template,
        Raw::With => Tok::With,
        Raw::Locked => Tok::Locked,
        Raw::Check => Tok::Check,
        Raw::Emit => Tok::Emit,
        Raw::App => Tok::App,
        Raw::In => Tok::In,
        Raw::Environment => Tok::Environment,
        Raw::Fn => Tok::Fn,
        Raw::If => Tok::If,
        Raw::Else => Tok::Else,
        Raw::For => Tok::For,
        Raw::True => Tok::True,
        Raw::False => Tok::False,
        Raw::Null => Tok::Null,
        Raw::Policy => Tok::Policy,
        Raw::Test => Tok::Test,
        Raw::Open => Tok::Open,
        Raw::Assert => Tok::Assert,
        Raw::ExpectError => Tok::ExpectError,
        Raw::Waive => Tok::Waive,
        Raw::Ident => Tok::Ident(slice),
        Raw::LBrace => Tok::LBrace,
        Raw::RBrace => Tok::RBrace,
        Raw::LBracket => Tok::LBracket,
        Raw::RBracket => Tok::RBracket,
        Raw::LParen => Tok::LParen,
        Raw::RParen => Tok::RParen,
        Raw::Comma => Tok::Comma,
        Raw::Dot => Tok::Dot,
        Raw::DotDot => Tok::DotDot,
        Raw::Colon => Tok::Colon,
        Raw::Eq => Tok::Eq,
        Raw::EqEq => Tok::EqEq,
        Raw::Ne => Tok::Ne,
        Raw::Lt => Tok::Lt,
        Raw::Le => Tok::Le,
        Raw::Gt => Tok::Gt,
        Raw::Ge => Tok::Ge,
        Raw::Plus => Tok::Plus,
        Raw::Minus => Tok::Minus,
        Raw::Star => Tok::Star,
        Raw::Slash => Tok::Slash,
        Raw::Percent => Tok::Percent,
        Raw::Bang => Tok::Bang,
        Raw::AndAnd => Tok::AndAnd,
        Raw::OrOr => Tok::OrOr,
        Raw::Pipe => Tok::Pipe,
        Raw::Question => Tok::Question,
        Raw::Arrow => Tok::Arrow,
        Raw::At => Tok::At,
        // Handled by the driver before this function is reached.
        Raw::Int | Raw::Float | Raw::Quote | Raw::Comment => Tok::Deep,
    }
}

/// The ranges of the tokens `(l, tok, r)` stands for as the language describes them: a plain
/// string ([`Tok::Str`]) is its opening quote, its text (when not empty) and its closing quote;
/// any other token is itself. Error messages count and place tokens this way (and the public
/// token list shows them), so folding a string changes no message.
#[inline]
pub(crate) fn unfolded(l: u32, tok: &Tok<'_>, r: u32, mut each: impl FnMut(u32, u32)) {
    if let Tok::Str(_) = tok {
        each(l, l + 1);
        if r > l + 2 {
            each(l + 1, r - 1);
        }
        each(r - 1, r);
    } else {
        each(l, r);
    }
}

/// A token with its byte range. Offsets are `u32` (files are capped far below 4 GiB) so a
/// triple is 32 bytes; the token vector of a large file is the parser's biggest allocation.
pub(crate) type Triple<'a> = (u32, Tok<'a>, u32);

/// Converts a byte offset to the parser's location type, saturating (never reached in practice).
pub(crate) fn loc(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Everything the lexer produces for one file.
pub(crate) struct Lexed<'a> {
    pub tokens: Vec<Triple<'a>>,
    pub comments: Vec<Comment>,
    /// Doc comment blocks, keyed by the start offset of the token that follows them.
    pub docs: Vec<(u32, Doc)>,
    pub diagnostics: Vec<Diagnostic>,
    /// Diagnostics dropped beyond the cap.
    pub suppressed: usize,
}

/// An open `${` whose closing `}` has not been seen yet.
struct InterpFrame {
    /// Unmatched `{` seen inside the interpolation, so its own `}` can be told apart.
    braces: u32,
    /// Offset of the `"` that opened the string containing this interpolation.
    quote: usize,
}

struct Driver<'a> {
    file: FileId,
    text: &'a str,
    out: Lexed<'a>,
    interps: Vec<InterpFrame>,
    /// Doc comment lines waiting for the next token: (range, text).
    pending_doc: Vec<(TextRange, String)>,
    /// Whether the last emitted token allows a regex literal to start (`(` or `,`).
    regex_allowed: bool,
}

fn range(start: usize, end: usize) -> TextRange {
    TextRange::from_usize(start, end)
}

pub(crate) fn lex(file: FileId, text: &str) -> Lexed<'_> {
    let mut driver = Driver {
        file,
        text,
        // Typical sources have a token every four to six bytes; reserving generously avoids
        // copying the largest allocation of the parse while it grows (untouched pages are free).
        out: Lexed {
            tokens: Vec::with_capacity(text.len() / 3 + 16),
            comments: Vec::new(),
            docs: Vec::new(),
            diagnostics: Vec::new(),
            suppressed: 0,
        },
        interps: Vec::new(),
        pending_doc: Vec::new(),
        regex_allowed: false,
    };
    driver.run();
    driver.out
}

impl<'a> Driver<'a> {
    fn span(&self, start: usize, end: usize) -> Span {
        Span::new(self.file, range(start, end))
    }

    /// Records a diagnostic, up to [`crate::MAX_SYNTAX_DIAGNOSTICS`]; beyond that only counts
    /// them, so a pathological file cannot make the diagnostics outgrow the source.
    fn report(&mut self, diag: Diagnostic) {
        if self.out.diagnostics.len() < crate::MAX_SYNTAX_DIAGNOSTICS {
            self.out.diagnostics.push(diag);
        } else {
            self.out.suppressed += 1;
        }
    }

    fn error(&mut self, code: Code, message: String, start: usize, end: usize, label: &str) {
        let diag = Diagnostic::error(code, message).with_primary(self.span(start, end), label);
        self.report(diag);
    }

    fn push(&mut self, start: usize, tok: Tok<'a>, end: usize) {
        if !self.pending_doc.is_empty() {
            self.flush_doc(Some(start));
        }
        self.regex_allowed = matches!(tok, Tok::LParen | Tok::Comma);
        if matches!(tok, Tok::Eq | Tok::Dot | Tok::Colon) {
            if let Some((_, prev @ Tok::Else, _)) = self.out.tokens.last_mut() {
                *prev = Tok::ElseKey;
            }
        }
        let emit_if = matches!(tok, Tok::If)
            && match self.out.tokens.as_slice() {
                [.., (_, before, _), (_, Tok::Emit, _)] => !matches!(before, Tok::Dot),
                [(_, Tok::Emit, _)] => true,
                _ => false,
            };
        let tok = if emit_if { Tok::EmitIf } else { tok };
        self.out.tokens.push((loc(start), tok, loc(end)));
    }

    /// Turns the pending doc lines into a [`Doc`] for the token at `next` (or drops them).
    fn flush_doc(&mut self, next: Option<usize>) {
        let lines = std::mem::take(&mut self.pending_doc);
        let (Some(first), Some(last), Some(next)) = (lines.first(), lines.last(), next) else { return };
        let doc_range = first.0.cover(last.0);
        let text = lines.iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>().join("\n");
        self.out.docs.push((loc(next), Doc { text, range: doc_range }));
    }

    fn run(&mut self) {
        let mut lexer = Raw::lexer(self.text);
        let mut last_end = 0usize;
        while let Some(next) = lexer.next() {
            let span = lexer.span();
            if !self.interps.is_empty() && self.text.get(last_end..span.start).is_some_and(|gap| gap.contains('\n')) {
                // Strings are single-line, interpolations included: a newline inside `${...}`
                // means the string was never closed. Closing it here keeps the damage local.
                self.close_open_strings(last_end);
            }
            let raw = match next {
                Ok(raw) => raw,
                Err(()) => {
                    self.invalid_chars(&mut lexer);
                    last_end = lexer.span().end;
                    continue;
                }
            };
            let slice = lexer.slice();
            match raw {
                Raw::Comment => self.comment(span.start, span.end),
                Raw::Int | Raw::Float => {
                    let extra = self.number(raw, span.start, span.end);
                    if extra > 0 {
                        lexer.bump(extra);
                    }
                }
                Raw::Quote => {
                    let end = self.string_body(span.end, span.start, true);
                    lexer.bump(end - span.end);
                }
                Raw::Slash if self.regex_allowed => {
                    let end = self.regex(span.start);
                    lexer.bump(end - span.end);
                }
                Raw::LBrace => {
                    if let Some(frame) = self.interps.last_mut() {
                        frame.braces += 1;
                    }
                    self.push(span.start, Tok::LBrace, span.end);
                }
                Raw::RBrace => match self.interps.last_mut() {
                    Some(frame) if frame.braces == 0 => {
                        let quote = frame.quote;
                        self.interps.pop();
                        self.push(span.start, Tok::InterpEnd, span.end);
                        let end = self.string_body(span.end, quote, false);
                        lexer.bump(end - span.end);
                    }
                    Some(frame) => {
                        frame.braces -= 1;
                        self.push(span.start, Tok::RBrace, span.end);
                    }
                    None => self.push(span.start, Tok::RBrace, span.end),
                },
                _ => self.push(span.start, simple_tok(raw, slice), span.end),
            }
            last_end = lexer.span().end;
        }
        if !self.interps.is_empty() {
            self.close_open_strings(self.text.len());
        }
        self.flush_doc(None);
    }

    /// Reports a run of characters no token starts with as one diagnostic and skips it.
    fn invalid_chars(&mut self, lexer: &mut logos::Lexer<'a, Raw>) {
        let start = lexer.span().start;
        if self.text.get(start..).is_some_and(|rest| rest.starts_with('\'')) {
            self.single_quoted(lexer, start);
            return;
        }
        let mut end = lexer.span().end;
        // Swallow directly adjacent invalid characters so `@@@` is one error, not three.
        let rest = self.text.get(end..).unwrap_or("");
        let extra: usize = rest.chars().take_while(|c| is_invalid_start(*c)).map(char::len_utf8).sum();
        if extra > 0 {
            lexer.bump(extra);
            end += extra;
        }
        let shown = self.text.get(start..end).unwrap_or("");
        let (message, help) = match shown.chars().next() {
            Some('\'') => ("invalid character `'`".to_owned(), Some("strings use double quotes: `\"...\"`")),
            Some('#') => ("invalid character `#`".to_owned(), Some("comments start with `//`")),
            Some('&') => ("invalid character `&`".to_owned(), Some("logical and is written `&&`")),
            Some(c) if shown.chars().count() == 1 => (format!("invalid character `{}`", c.escape_debug()), None),
            _ => (format!("invalid characters `{}`", shown.escape_debug()), None),
        };
        let mut diag = Diagnostic::error(Code::INVALID_CHARACTER, message)
            .with_primary(self.span(start, end), "no token starts with this");
        if let Some(help) = help {
            diag = diag.with_help(help);
        }
        self.report(diag);
    }

    /// `'text'`: reported once and lexed as a string, so the parser sees what was meant.
    fn single_quoted(&mut self, lexer: &mut logos::Lexer<'a, Raw>, start: usize) {
        let rest = self.text.get(start + 1..).unwrap_or("");
        let line = rest.split(['\n', '\r']).next().unwrap_or("");
        let Some(close) = line.find('\'') else {
            let diag = Diagnostic::error(Code::INVALID_CHARACTER, "invalid character `'`")
                .with_primary(self.span(start, start + 1), "no token starts with this")
                .with_help("strings use double quotes: `\"...\"`");
            self.report(diag);
            return;
        };
        let end = start + 1 + close + 1;
        let diag = Diagnostic::error(Code::INVALID_CHARACTER, "invalid character `'`")
            .with_primary(self.span(start, end), "single quotes do not make a string")
            .with_help("strings use double quotes: `\"...\"`");
        self.report(diag);
        let body = line.get(..close).unwrap_or("");
        self.push(start, Tok::Str(body.into()), end);
        lexer.bump(end - lexer.span().end);
    }

    fn comment(&mut self, start: usize, end: usize) {
        let raw = self.text.get(start..end).unwrap_or("");
        let trimmed = raw.trim_end_matches('\r');
        let end = start + trimmed.len();
        // Editors end a line at a lone `\r`, but a comment runs to `\n`: code after the `\r`
        // would look live while kdep ignores it.
        if let Some(cr) = trimmed.find('\r') {
            let at = start + cr;
            let diag = Diagnostic::error(Code::INVALID_CHARACTER, "carriage return inside a comment")
                .with_primary(self.span(at, at + 1), "editors end the line here; kdep reads on to the next `\\n`")
                .with_help("save the file with `\\n` or `\\r\\n` line endings");
            self.report(diag);
        }
        let is_doc = trimmed.starts_with("///") && !trimmed.starts_with("////");
        let kind = if is_doc { CommentKind::Doc } else { CommentKind::Line };
        self.out.comments.push(Comment { kind, range: range(start, end) });
        if is_doc {
            let body = trimmed.get(3..).unwrap_or("");
            let body = body.strip_prefix(' ').unwrap_or(body);
            self.pending_doc.push((range(start, end), body.to_owned()));
        }
        // A plain comment between doc lines and the declaration leaves the doc attached (as
        // in Rust): it is usually a note about the code, not the end of the documentation.
    }

    /// Lexes a number; returns how many extra bytes (a glued-on suffix) were consumed.
    fn number(&mut self, raw: Raw, start: usize, end: usize) -> usize {
        let digits = self.text.get(start..end).unwrap_or("");
        let rest = self.text.get(end..).unwrap_or("");
        let suffix: usize =
            rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').map(char::len_utf8).sum();
        if suffix > 0 {
            let whole = self.text.get(start..end + suffix).unwrap_or("");
            let mut diag = Diagnostic::error(Code::INVALID_NUMBER, format!("invalid number `{whole}`"))
                .with_primary(self.span(start, end + suffix), "not a valid number");
            if whole.chars().any(|c| c.is_ascii_alphabetic()) {
                diag = diag.with_help(format!("quantities and durations are written as strings: `\"{whole}\"`"));
            }
            self.report(diag);
            self.push(start, Tok::Int(0), end + suffix);
            return suffix;
        }
        if raw == Raw::Float {
            match digits.parse::<f64>() {
                Ok(value) if value.is_finite() => self.push(start, Tok::Float(value), end),
                _ => {
                    self.error(
                        Code::INVALID_NUMBER,
                        format!("float literal `{digits}` is out of range"),
                        start,
                        end,
                        "too large",
                    );
                    self.push(start, Tok::Float(0.0), end);
                }
            }
        } else {
            match digits.parse::<i64>() {
                Ok(value) => self.push(start, Tok::Int(value), end),
                Err(_) => {
                    let diag =
                        Diagnostic::error(Code::INVALID_NUMBER, format!("integer literal `{digits}` is out of range"))
                            .with_primary(self.span(start, end), "does not fit in a 64-bit integer")
                            .with_help("integers range from -9223372036854775808 to 9223372036854775807");
                    self.report(diag);
                    self.push(start, Tok::Int(0), end);
                }
            }
        }
        0
    }

    /// Scans string content from `pos` up to the closing quote, an interpolation start or the
    /// end of the line; returns the offset where normal lexing resumes. `opened` says the body
    /// follows the opening quote at `quote` (not an interpolation's `}`): a body that reaches
    /// the closing quote is then one [`Tok::Str`], and otherwise the `StrStart` is pushed first.
    fn string_body(&mut self, mut pos: usize, quote: usize, opened: bool) -> usize {
        let bytes = self.text.as_bytes();
        let text_start = pos;
        // Most strings hold neither escapes nor interpolations: their text is one exact copy.
        if opened {
            let rest = bytes.get(pos..).unwrap_or(&[]);
            if let Some(n) = rest.iter().position(|b| matches!(b, b'"' | b'\n' | b'\r' | b'$' | b'\\')) {
                if rest.get(n) == Some(&b'"') {
                    let text = self.text.get(pos..pos + n).unwrap_or("");
                    self.push(quote, Tok::Str(text.into()), pos + n + 1);
                    return pos + n + 1;
                }
            }
        }
        let mut text = String::new();
        loop {
            let Some(&byte) = bytes.get(pos) else {
                self.open_string(opened, quote);
                self.flush_text(&mut text, text_start, pos);
                self.unterminated(quote, pos);
                return pos;
            };
            match byte {
                b'"' => {
                    if opened {
                        self.push(quote, Tok::Str(text.into_boxed_str()), pos + 1);
                    } else {
                        self.flush_text(&mut text, text_start, pos);
                        self.push(pos, Tok::StrEnd, pos + 1);
                    }
                    return pos + 1;
                }
                b'\n' | b'\r' if byte == b'\n' || bytes.get(pos + 1) == Some(&b'\n') => {
                    self.open_string(opened, quote);
                    self.flush_text(&mut text, text_start, pos);
                    self.unterminated(quote, pos);
                    return pos;
                }
                b'$' if bytes.get(pos + 1) == Some(&b'{') => {
                    self.open_string(opened, quote);
                    self.flush_text(&mut text, text_start, pos);
                    self.push(pos, Tok::InterpStart, pos + 2);
                    self.interps.push(InterpFrame { braces: 0, quote });
                    return pos + 2;
                }
                b'\\' => pos = self.escape(pos, &mut text),
                _ => {
                    // Copy a run of ordinary characters at once. Runs end only at ASCII bytes,
                    // so every cut lies on a char boundary.
                    let run_end = if matches!(byte, b'$' | b'\r') {
                        pos + 1
                    } else {
                        bytes
                            .get(pos + 1..)
                            .and_then(|rest| rest.iter().position(|b| matches!(b, b'"' | b'\n' | b'\r' | b'$' | b'\\')))
                            .map_or(bytes.len(), |n| pos + 1 + n)
                    };
                    text.push_str(self.text.get(pos..run_end).unwrap_or(""));
                    pos = run_end;
                }
            }
        }
    }

    /// The opening quote of a string that turned out not to be plain (see [`Self::string_body`]).
    fn open_string(&mut self, opened: bool, quote: usize) {
        if opened {
            self.push(quote, Tok::StrStart, quote + 1);
        }
    }

    fn flush_text(&mut self, text: &mut String, start: usize, end: usize) {
        if end > start {
            self.push(start, Tok::StrText(std::mem::take(text).into_boxed_str()), end);
        }
    }

    /// Decodes one escape at `pos` (the backslash) into `text`; returns the offset after it.
    fn escape(&mut self, pos: usize, text: &mut String) -> usize {
        let rest = self.text.get(pos + 1..).unwrap_or("");
        let Some(c) = rest.chars().next() else { return pos + 1 };
        let simple = match c {
            'n' => Some('\n'),
            't' => Some('\t'),
            'r' => Some('\r'),
            '"' => Some('"'),
            '\\' => Some('\\'),
            '$' => Some('$'),
            '0' => Some('\0'),
            _ => None,
        };
        if let Some(decoded) = simple {
            text.push(decoded);
            return pos + 2;
        }
        if c == 'u' {
            return self.unicode_escape(pos, text);
        }
        if c == '\n' || c == '\r' {
            // Leave the newline to the caller, which reports the unterminated string.
            self.error(Code::INVALID_ESCAPE, "invalid escape `\\` at end of line".to_owned(), pos, pos + 1, "here");
            return pos + 1;
        }
        let end = pos + 1 + c.len_utf8();
        let mut diag = Diagnostic::error(Code::INVALID_ESCAPE, format!("unknown escape `\\{}`", c.escape_debug()))
            .with_primary(self.span(pos, end), "not a valid escape")
            .with_help("valid escapes are `\\n`, `\\t`, `\\r`, `\\\"`, `\\\\`, `\\$`, `\\0` and `\\u{...}`");
        if c == '/' {
            diag = diag.with_note("`\\/` is only needed inside regex literals");
        }
        self.report(diag);
        text.push(c);
        end
    }

    /// `\u{1F600}`: one to six hex digits naming a Unicode scalar value.
    fn unicode_escape(&mut self, pos: usize, text: &mut String) -> usize {
        let rest = self.text.get(pos + 2..).unwrap_or("");
        let Some(body) = rest.strip_prefix('{') else {
            self.error(
                Code::INVALID_ESCAPE,
                "invalid unicode escape".to_owned(),
                pos,
                pos + 2,
                "expected `{` after `\\u`",
            );
            return pos + 2;
        };
        let digits: usize = body.chars().take_while(char::is_ascii_hexdigit).count();
        let closed = body.get(digits..).is_some_and(|r| r.starts_with('}'));
        let hex = body.get(..digits).unwrap_or("");
        let end = pos + 3 + digits + usize::from(closed);
        let value = if closed && (1..=6).contains(&digits) { u32::from_str_radix(hex, 16).ok() } else { None };
        match value.and_then(char::from_u32) {
            Some(ch) => text.push(ch),
            None => {
                let label =
                    if closed { "not a Unicode scalar value" } else { "expected 1 to 6 hex digits and a closing `}`" };
                self.error(Code::INVALID_ESCAPE, "invalid unicode escape".to_owned(), pos, end, label);
            }
        }
        end
    }

    fn unterminated(&mut self, quote: usize, at: usize) {
        let diag = Diagnostic::error(Code::UNTERMINATED_STRING, "unterminated string")
            .with_primary(self.span(quote, quote + 1), "this string is never closed")
            .with_help("strings end on the line they start; close it with `\"`");
        self.report(diag);
        self.push(at, Tok::StrEnd, at);
    }

    /// Closes every string whose interpolation is still open at `at` (a newline or EOF).
    fn close_open_strings(&mut self, at: usize) {
        let Some(outer) = self.interps.first().map(|f| f.quote) else { return };
        let n = self.interps.len();
        self.interps.clear();
        for _ in 0..n {
            self.push(at, Tok::InterpEnd, at);
            self.push(at, Tok::StrEnd, at);
        }
        let diag = Diagnostic::error(Code::UNTERMINATED_STRING, "unterminated string interpolation")
            .with_primary(self.span(outer, outer + 1), "this string is never closed")
            .with_help("an interpolation `${...}` must be closed with `}` and the string with `\"` on the same line");
        self.report(diag);
    }

    /// Scans a regex literal starting at the `/` at `start`; returns the offset after it.
    fn regex(&mut self, start: usize) -> usize {
        let bytes = self.text.as_bytes();
        let mut pos = start + 1;
        let mut pattern = String::new();
        let mut in_class = false;
        let mut seg_start = pos;
        loop {
            match bytes.get(pos) {
                None | Some(b'\n') | Some(b'\r') => {
                    // Most likely the closing `/` is missing before the refinement's `)`:
                    // leave that `)` to the parser so the type still closes.
                    let line = self.text.get(seg_start..pos).unwrap_or("");
                    if let Some(paren) = line.rfind(')') {
                        pos = seg_start + paren;
                    }
                    pattern.push_str(self.text.get(seg_start..pos).unwrap_or(""));
                    let diag = Diagnostic::error(Code::INVALID_REGEX, "unterminated regex literal")
                        .with_primary(self.span(start, start + 1), "this regex is never closed")
                        .with_help("close the pattern with `/` on the same line; write a literal slash as `\\/`");
                    self.report(diag);
                    self.push(start, Tok::Regex(pattern.into_boxed_str()), pos);
                    return pos;
                }
                Some(b'/') if !in_class => {
                    pattern.push_str(self.text.get(seg_start..pos).unwrap_or(""));
                    let end = pos + 1;
                    self.validate_regex(&pattern, start, end);
                    self.push(start, Tok::Regex(pattern.into_boxed_str()), end);
                    return end;
                }
                Some(b'\\') if bytes.get(pos + 1) == Some(&b'/') => {
                    pattern.push_str(self.text.get(seg_start..pos).unwrap_or(""));
                    pattern.push('/');
                    pos += 2;
                    seg_start = pos;
                }
                Some(b'\\') => {
                    // Any other escape is kept verbatim for the regex engine; skipping the
                    // escaped byte stops `\]` or `\[` from toggling the class state. A
                    // non-ASCII escaped char is skipped whole to stay on a char boundary.
                    let next_len = self.text.get(pos + 1..).and_then(|r| r.chars().next()).map_or(0, char::len_utf8);
                    pos += 1 + next_len;
                }
                Some(b'[') => {
                    in_class = true;
                    pos += 1;
                }
                Some(b']') => {
                    in_class = false;
                    pos += 1;
                }
                Some(_) => pos += 1,
            }
        }
    }

    fn validate_regex(&mut self, pattern: &str, start: usize, end: usize) {
        if let Err(err) = regex_syntax::Parser::new().parse(pattern) {
            let detail = match &err {
                regex_syntax::Error::Parse(e) => e.kind().to_string(),
                regex_syntax::Error::Translate(e) => e.kind().to_string(),
                _ => "invalid pattern".to_owned(),
            };
            let diag = Diagnostic::error(Code::INVALID_REGEX, format!("invalid regex: {detail}"))
                .with_primary(self.span(start, end), "this pattern does not compile")
                .with_help("patterns use Rust `regex` syntax (no look-around or backreferences)");
            self.report(diag);
        }
    }
}

fn is_invalid_start(c: char) -> bool {
    !(c.is_ascii_alphanumeric()
        || c.is_ascii_whitespace()
        || matches!(
            c,
            '_' | '"'
                | '/'
                | '{'
                | '}'
                | '['
                | ']'
                | '('
                | ')'
                | ','
                | '.'
                | ':'
                | '='
                | '!'
                | '<'
                | '>'
                | '+'
                | '-'
                | '*'
                | '%'
                | '|'
                | '?'
                | '\u{feff}'
        ))
}
