//! kdep's syntax layer: lexer, error-tolerant parser, AST, comment table and formatter.
//!
//! Entry point: [`parse`]. It never fails and never panics: it returns a tree (with error
//! nodes where the input could not be parsed), the comments, and every syntax diagnostic.

pub mod ast;
pub mod dump;
pub mod format;
mod lexer;
mod limits;
mod nesting;
mod parser;
mod tokens;

pub use limits::MAX_TREE_DEPTH;
pub use nesting::{MAX_CHAIN, MAX_NESTING};
pub use tokens::{lex, Token, TokenKind};

/// At most this many syntax diagnostics are reported per file; the last one notes how many
/// more were found. Keeps memory proportional to the source on pathological input.
pub const MAX_SYNTAX_DIAGNOSTICS: usize = 1000;

use kdep_diag::{Diagnostic, FileId, TextRange};

/// A comment kept beside the tree for the formatter.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Comment {
    pub kind: CommentKind,
    /// Covers the whole comment including its `//` or `///` marker, excluding the newline.
    pub range: TextRange,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CommentKind {
    /// `// ...`
    Line,
    /// `/// ...` (also attached to the following declaration as [`ast::Doc`]).
    Doc,
}

/// The result of parsing one file.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Parse {
    pub file: ast::File,
    /// Every comment, in source order.
    pub comments: Vec<Comment>,
    /// Every syntax error found (not just the first), in source order.
    pub diagnostics: Vec<Diagnostic>,
}

/// Parses one file. Never panics; see the module docs.
pub fn parse(file: FileId, text: &str) -> Parse {
    parser::parse(file, text)
}
