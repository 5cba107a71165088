//! A public, coarse view of the token stream for editors (semantic tokens, highlighting).

use kdep_diag::{FileId, TextRange};

use crate::lexer::{self, Tok};
use crate::CommentKind;

/// What a token is, at the granularity a highlighter needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenKind {
    Ident,
    Keyword,
    Int,
    Float,
    /// The quotes and literal text of a string.
    String,
    /// `${` and the `}` closing an interpolation.
    Interpolation,
    Regex,
    /// Operators and brackets.
    Punct,
    Comment,
    DocComment,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Token {
    pub kind: TokenKind,
    pub range: TextRange,
}

/// Every token and comment of `text` in source order. Invalid characters are skipped;
/// zero-width tokens the lexer inserts for recovery are left out.
pub fn lex(text: &str) -> Vec<Token> {
    let lexed = lexer::lex(FileId(0), text);
    let mut out: Vec<Token> = Vec::with_capacity(lexed.tokens.len() + lexed.comments.len());
    let mut comments = lexed.comments.iter().peekable();
    for (l, tok, r) in &lexed.tokens {
        if l == r {
            continue;
        }
        while let Some(c) = comments.next_if(|c| c.range.start < *l) {
            out.push(comment_token(c.kind, c.range));
        }
        let kind = match tok {
            Tok::Ident(_) => TokenKind::Ident,
            Tok::Int(_) => TokenKind::Int,
            Tok::Float(_) => TokenKind::Float,
            Tok::StrStart | Tok::StrText(_) | Tok::StrEnd | Tok::Str(_) => TokenKind::String,
            Tok::InterpStart | Tok::InterpEnd => TokenKind::Interpolation,
            Tok::Regex(_) => TokenKind::Regex,
            other if other.is_keyword() => TokenKind::Keyword,
            _ => TokenKind::Punct,
        };
        // A plain string is one token to the parser; here it is its quotes and its text.
        lexer::unfolded(*l, tok, *r, |l, r| out.push(Token { kind, range: TextRange::new(l, r) }));
    }
    out.extend(comments.map(|c| comment_token(c.kind, c.range)));
    out
}

fn comment_token(kind: CommentKind, range: TextRange) -> Token {
    let kind = match kind {
        CommentKind::Line => TokenKind::Comment,
        CommentKind::Doc => TokenKind::DocComment,
    };
    Token { kind, range }
}
