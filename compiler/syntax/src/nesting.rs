//! Bracket matching on the token stream, before parsing: reports unclosed delimiters (and
//! closes them so the parser can finish the construct), and replaces anything nested deeper
//! than [`MAX_NESTING`] by a single `Deep` token so no later stage sees absurd depth.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use kdep_diag::{Code, Diagnostic, FileId, Span, TextRange};

use crate::lexer::{Tok, Triple};

/// Deepest bracket nesting the parser accepts (`{`, `[`, `(` and `${` all count).
pub const MAX_NESTING: usize = 128;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Brace,
    Bracket,
    Paren,
    Interp,
}

impl Kind {
    fn open_text(self) -> &'static str {
        match self {
            Kind::Brace => "{",
            Kind::Bracket => "[",
            Kind::Paren => "(",
            Kind::Interp => "${",
        }
    }

    fn close_text(self) -> &'static str {
        match self {
            Kind::Brace | Kind::Interp => "}",
            Kind::Bracket => "]",
            Kind::Paren => ")",
        }
    }

    fn closer(self) -> Tok<'static> {
        match self {
            Kind::Brace => Tok::RBrace,
            Kind::Bracket => Tok::RBracket,
            Kind::Paren => Tok::RParen,
            Kind::Interp => Tok::InterpEnd,
        }
    }
}

fn opener(tok: &Tok<'_>) -> Option<Kind> {
    match tok {
        Tok::LBrace => Some(Kind::Brace),
        Tok::LBracket => Some(Kind::Bracket),
        Tok::LParen => Some(Kind::Paren),
        Tok::InterpStart => Some(Kind::Interp),
        _ => None,
    }
}

fn closer(tok: &Tok<'_>) -> Option<Kind> {
    match tok {
        Tok::RBrace => Some(Kind::Brace),
        Tok::RBracket => Some(Kind::Bracket),
        Tok::RParen => Some(Kind::Paren),
        Tok::InterpEnd => Some(Kind::Interp),
        _ => None,
    }
}

struct Open {
    kind: Kind,
    start: u32,
    end: u32,
}

/// The most operators, dots and brackets an expression may chain on one path from the top of
/// the file (counting from the last `=`, `,`, `:` or declaration keyword at each level).
/// Chains nest in the tree without brackets (`a.b.c...`, `- - x`, `T???`), so they need a
/// limit of their own.
pub const MAX_CHAIN: usize = 256;

/// Ops counted at one bracket level since its last boundary, and the absolute index (in the
/// output stream) of the first token after that boundary, so an over-long chain can be cut
/// back to it.
struct Level {
    ops: usize,
    boundary: usize,
}

fn is_boundary(tok: &Tok<'_>) -> bool {
    matches!(
        tok,
        Tok::Comma
            | Tok::Eq
            | Tok::Colon
            | Tok::Let
            | Tok::Check
            | Tok::Emit
            | Tok::Locked
            | Tok::Import
            | Tok::Schema
            | Tok::Template
            | Tok::App
            | Tok::Environment
            | Tok::Fn
            | Tok::In
            | Tok::For
    )
}

fn is_chain_op(tok: &Tok<'_>) -> bool {
    matches!(
        tok,
        Tok::Plus
            | Tok::Minus
            | Tok::Star
            | Tok::Slash
            | Tok::Percent
            | Tok::EqEq
            | Tok::Ne
            | Tok::Lt
            | Tok::Le
            | Tok::Gt
            | Tok::Ge
            | Tok::AndAnd
            | Tok::OrOr
            | Tok::Bang
            | Tok::Dot
            | Tok::Question
            | Tok::Else
    )
}

/// The checker is one pass over the lexer's token vector into a new one (the parser's input).
/// A chain cut retracts output back to the current level's last boundary, which is a plain
/// `truncate`; holding tokens back in a queue until no cut could reach them, as an iterator
/// between lexer and parser would have to, cost more than the whole check.
pub(crate) struct Checker<'a> {
    file: FileId,
    text_len: u32,
    input: std::iter::Peekable<std::vec::IntoIter<Triple<'a>>>,
    /// Checked tokens, in order: what the parser reads.
    out: Vec<Triple<'a>>,
    stack: Vec<Open>,
    levels: Vec<Level>,
    /// Sum of `ops` over `levels`: the chain weight of the current path.
    chain: usize,
    chain_reported: bool,
    diagnostics: Vec<Diagnostic>,
}

/// What the check hands to the parser.
pub(crate) struct Checked<'a> {
    /// The tokens the parser reads.
    pub tokens: Vec<Triple<'a>>,
    pub diagnostics: Vec<Diagnostic>,
    /// Whether delimiters were still open at the end of the file (closed there by
    /// zero-width synthetic tokens, after a diagnostic).
    pub unclosed_at_eof: bool,
}

/// Checks bracket nesting and chain length over `tokens` (see the module docs).
pub(crate) fn check(file: FileId, tokens: Vec<Triple<'_>>, text_len: u32) -> Checked<'_> {
    let capacity = tokens.len() + 16;
    let mut checker = Checker {
        file,
        text_len,
        input: tokens.into_iter().peekable(),
        out: Vec::with_capacity(capacity),
        stack: Vec::new(),
        levels: vec![Level { ops: 0, boundary: 0 }],
        chain: 0,
        chain_reported: false,
        diagnostics: Vec::new(),
    };
    while let Some((l, tok, r)) = checker.input.next() {
        checker.step(l, tok, r);
    }
    let unclosed_at_eof = checker.finish();
    Checked { tokens: checker.out, diagnostics: checker.diagnostics, unclosed_at_eof }
}

/// The ranges of checked `tokens`, in order, as error messages count and locate them: a plain
/// string stands for its quote, text and quote here.
pub(crate) fn ranges(tokens: &[Triple<'_>]) -> Vec<(u32, u32)> {
    let mut ranges = Vec::with_capacity(tokens.len() + 16);
    for (l, tok, r) in tokens {
        crate::lexer::unfolded(*l, tok, *r, |l, r| ranges.push((l, r)));
    }
    ranges
}

impl<'a> Checker<'a> {
    /// Index the next pushed token gets.
    fn next_index(&self) -> usize {
        self.out.len()
    }

    fn pop_level(&mut self) {
        // The outermost level stays: it belongs to the file, not to a bracket.
        if self.levels.len() > 1 {
            if let Some(level) = self.levels.pop() {
                self.chain -= level.ops;
            }
        }
    }

    /// Consumes input tokens up to (not including) the closer matching a bracket whose
    /// opener was just taken, or, with `until_boundary`, up to the next boundary at the
    /// current level; returns the end of the last consumed token.
    fn skip(&mut self, mut depth: usize, until_boundary: bool, mut end: u32) -> u32 {
        while let Some((_, next, _)) = self.input.peek() {
            if depth == 0 && until_boundary && (is_boundary(next) || closer(next).is_some()) {
                break;
            }
            if opener(next).is_some() {
                depth += 1;
            } else if closer(next).is_some() {
                if depth <= 1 && !until_boundary {
                    break;
                }
                depth = depth.saturating_sub(1);
            }
            if let Some((_, _, e)) = self.input.next() {
                end = e;
            }
        }
        end
    }

    /// Processes one input token into `out`.
    fn step(&mut self, l: u32, tok: Tok<'a>, r: u32) {
        if is_chain_op(&tok) || opener(&tok).is_some() {
            self.chain += 1;
            if let Some(level) = self.levels.last_mut() {
                level.ops += 1;
            }
            if self.chain > MAX_CHAIN {
                self.cut_chain(l, &tok, r);
                return;
            }
        } else if is_boundary(&tok) {
            let next = self.next_index() + 1;
            if let Some(level) = self.levels.last_mut() {
                self.chain -= level.ops;
                level.ops = 0;
                level.boundary = next;
            }
        }
        if let Some(kind) = opener(&tok) {
            self.out.push((l, tok, r));
            self.stack.push(Open { kind, start: l, end: r });
            let boundary = self.next_index();
            self.levels.push(Level { ops: 0, boundary });
            if self.stack.len() > MAX_NESTING {
                // Keep the bracket pair but swallow everything between them, without recursion.
                let deep_end = self.skip(1, false, r);
                self.out.push((r, Tok::Deep, deep_end));
                let diag = Diagnostic::error(
                    Code::NESTING_TOO_DEEP,
                    format!("brackets are nested more than {MAX_NESTING} levels deep"),
                )
                .with_primary(Span::new(self.file, TextRange::new(l, r)), "this bracket is too deep")
                .with_help("split the value into `let` bindings");
                self.diagnostics.push(diag);
            }
        } else if let Some(kind) = closer(&tok) {
            if self.stack.last().is_some_and(|o| o.kind == kind) {
                self.stack.pop();
                self.pop_level();
            } else if let Some(pos) = self.stack.iter().rposition(|o| o.kind == kind) {
                // Brackets opened after the matching one were never closed: close them here.
                let inner = self.stack.split_off(pos + 1);
                self.stack.pop();
                report_unclosed(self.file, &inner, TextRange::new(l, r), false, &mut self.diagnostics);
                for open in inner.iter().rev() {
                    self.out.push((l, open.kind.closer(), l));
                    self.pop_level();
                }
                self.pop_level();
            }
            // A closer that matches nothing is left for the parser to report.
            self.out.push((l, tok, r));
        } else {
            self.out.push((l, tok, r));
        }
    }

    /// Replaces the chain since the current level's last boundary by one `Deep` token.
    fn cut_chain(&mut self, l: u32, tok: &Tok<'a>, r: u32) {
        if !self.chain_reported {
            self.chain_reported = true;
            let diag =
                Diagnostic::error(Code::NESTING_TOO_DEEP, format!("expression chains more than {MAX_CHAIN} operators"))
                    .with_primary(Span::new(self.file, TextRange::new(l, r)), "the expression is too deep here")
                    .with_help("split the expression into `let` bindings");
            self.diagnostics.push(diag);
        }
        let Some(level) = self.levels.last_mut() else { return };
        let keep = level.boundary;
        self.chain -= level.ops;
        level.ops = 0;
        let start = self.out.get(keep).map_or(l, |(s, _, _)| *s);
        self.out.truncate(keep);
        let depth = usize::from(opener(tok).is_some());
        let end = self.skip(depth, true, r);
        self.out.push((start, Tok::Deep, end));
    }

    /// Closes what is still open at the end of the file; returns whether anything was.
    fn finish(&mut self) -> bool {
        let unclosed = !self.stack.is_empty();
        if unclosed {
            let at = TextRange::new(self.text_len, self.text_len);
            report_unclosed(self.file, &self.stack, at, true, &mut self.diagnostics);
            for open in self.stack.iter().rev() {
                self.out.push((self.text_len, open.kind.closer(), self.text_len));
            }
            self.stack.clear();
        }
        unclosed
    }
}

fn report_unclosed(file: FileId, open: &[Open], at: TextRange, at_eof: bool, diags: &mut Vec<Diagnostic>) {
    let Some(innermost) = open.last() else { return };
    let message = if open.len() == 1 {
        format!("unclosed delimiter `{}`", innermost.kind.open_text())
    } else {
        format!("{} unclosed delimiters", open.len())
    };
    let label = if at_eof {
        format!("the file ends before `{}` is closed", innermost.kind.open_text())
    } else {
        format!("expected `{}` before this", innermost.kind.close_text())
    };
    let mut diag = Diagnostic::error(Code::UNCLOSED_DELIMITER, message).with_primary(Span::new(file, at), label);
    const SHOWN: usize = 3;
    for o in open.iter().rev().take(SHOWN) {
        diag = diag.with_secondary(
            Span::new(file, TextRange::new(o.start, o.end)),
            format!("`{}` opened here", o.kind.open_text()),
        );
    }
    if open.len() > SHOWN {
        diag = diag.with_note(format!("and {} more unclosed delimiters further out", open.len() - SHOWN));
    }
    diags.push(diag);
}
