//! Semantic highlighting: the tokens of `kdep_syntax::lex` (the lexer the parser uses), with
//! names classified by what they resolve to (`scope::walk_file`) and declarations by the
//! lowered file.

use std::collections::HashMap;

use kdep_compiler::Snapshot;
use kdep_diag::{FileId, TextRange};
use kdep_sema::hir::{file_hir, MemberHir};
use kdep_sema::scope::{walk_file, Callee, NameUse, Resolution};
use kdep_syntax::TokenKind;

/// What a highlighted token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenType {
    Keyword,
    String,
    Number,
    Regexp,
    Operator,
    Comment,
    Variable,
    Property,
    Namespace,
    Function,
    Type,
    Parameter,
}

impl TokenType {
    /// Every type, in the order of their indices (the protocol's legend).
    pub const ALL: [TokenType; 12] = [
        TokenType::Keyword,
        TokenType::String,
        TokenType::Number,
        TokenType::Regexp,
        TokenType::Operator,
        TokenType::Comment,
        TokenType::Variable,
        TokenType::Property,
        TokenType::Namespace,
        TokenType::Function,
        TokenType::Type,
        TokenType::Parameter,
    ];
}

/// One highlighted range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HighlightToken {
    pub range: TextRange,
    pub ty: TokenType,
    /// The name being declared here (not a use).
    pub declaration: bool,
    /// A `///` doc comment.
    pub documentation: bool,
}

/// The highlighted tokens of `file`, in source order.
pub fn semantic_tokens(snap: &Snapshot, file: FileId) -> Vec<HighlightToken> {
    let text = snap.text(file);
    let mut names: HashMap<u32, (TokenType, bool)> = HashMap::new();
    if let Some(input) = snap.input(file) {
        let db = snap.db();
        let hir = file_hir(db, input);
        // Name uses and declarations are HIR ranges (anchored inside declarations); tokens are
        // file ranges, so each HIR position is resolved before it keys the table.
        let start = |r: TextRange| hir.anchors.resolve(r.start);
        walk_file(db, snap.project(), input, &|_| true, &mut |u| {
            let (range, ty) = match u {
                NameUse::Name { range, res, .. } | NameUse::Member { range, res, .. } => (range, resolution_type(res)),
                NameUse::Call { range, callee: Callee::Function { .. } | Callee::Builtin, .. } => {
                    (range, TokenType::Function)
                }
                NameUse::EnvField { range, .. } | NameUse::AppField { range, .. } => (range, TokenType::Property),
                _ => return,
            };
            names.entry(start(range)).or_insert((ty, false));
        });
        let mut decls: Vec<(TextRange, TokenType)> = Vec::new();
        let mut decl = |range: TextRange, ty| decls.push((range, ty));
        for imp in &hir.imports {
            decl(imp.alias_range, TokenType::Namespace);
        }
        for l in hir.lets.values() {
            decl(l.name_range, TokenType::Variable);
        }
        for f in hir.functions.values() {
            decl(f.name_range, TokenType::Function);
            for p in &f.params {
                decl(p.name_range, TokenType::Parameter);
            }
        }
        for t in hir.templates.values() {
            decl(t.name_range, TokenType::Type);
            for m in &t.members {
                match m {
                    MemberHir::Field(f) => decl(f.name_range, TokenType::Property),
                    MemberHir::Let(l) => decl(l.name_range, TokenType::Variable),
                    MemberHir::Check(_) | MemberHir::Emit(_) => {}
                }
            }
        }
        for a in hir.apps.values() {
            decl(a.name_range, TokenType::Variable);
        }
        for e in hir.environments.values() {
            decl(e.name_range, TokenType::Variable);
        }
        for (range, ty) in decls {
            names.insert(start(range), (ty, true));
        }
        for a in hir.apps.values() {
            for s in a.sets.iter().chain(a.envs.iter().flat_map(|b| b.sets.iter())) {
                for (_, r) in &s.key {
                    names.entry(start(*r)).or_insert((TokenType::Property, false));
                }
            }
        }
    }
    let mut out = Vec::new();
    for tok in kdep_syntax::lex(text) {
        let (ty, declaration, documentation) = match tok.kind {
            TokenKind::Keyword => (TokenType::Keyword, false, false),
            TokenKind::String | TokenKind::Interpolation => (TokenType::String, false, false),
            TokenKind::Int | TokenKind::Float => (TokenType::Number, false, false),
            TokenKind::Regex => (TokenType::Regexp, false, false),
            // Brackets and separators are left to the editor's grammar.
            TokenKind::Punct if text.get(tok.range.as_usize_range()).is_some_and(|t| "{}[](),.:".contains(t)) => {
                continue
            }
            TokenKind::Punct => (TokenType::Operator, false, false),
            TokenKind::Comment => (TokenType::Comment, false, false),
            TokenKind::DocComment => (TokenType::Comment, false, true),
            TokenKind::Ident => match names.get(&tok.range.start) {
                Some((ty, decl)) => (*ty, *decl, false),
                None => continue,
            },
        };
        out.push(HighlightToken { range: tok.range, ty, declaration, documentation });
    }
    out
}

fn resolution_type(res: Resolution) -> TokenType {
    match res {
        Resolution::Local => TokenType::Parameter,
        Resolution::Field => TokenType::Property,
        Resolution::TemplateLet | Resolution::ModuleLet(_) | Resolution::Env => TokenType::Variable,
        Resolution::Module(_) => TokenType::Namespace,
        Resolution::Function(_) => TokenType::Function,
        Resolution::Item(_) => TokenType::Type,
        Resolution::App(_) | Resolution::ForeignApp(_) | Resolution::Unresolved => TokenType::Variable,
    }
}
