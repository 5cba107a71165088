//! Document symbols (the outline: declarations and their members) and workspace symbols (every
//! declaration of the analysed modules whose name contains the query).

use kdep_compiler::Snapshot;
use kdep_diag::{FileId, TextRange};
use kdep_sema::hir::{file_hir, FileHir, MemberHir};

/// What a symbol is, for the editor's icon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SymbolKind {
    Module,
    Template,
    Schema,
    App,
    Environment,
    Let,
    Function,
    Field,
}

/// One entry of the outline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Symbol {
    pub name: String,
    pub kind: SymbolKind,
    pub file: FileId,
    /// The whole declaration.
    pub range: TextRange,
    /// Its name.
    pub selection: TextRange,
    /// For templates: a short description (`= web.WebService`).
    pub detail: Option<String>,
    pub children: Vec<Symbol>,
}

fn symbols_of(file: FileId, hir: &FileHir) -> Vec<Symbol> {
    // HIR ranges are anchored inside declarations; symbols carry file offsets.
    let at = |r: TextRange| hir.anchors.resolve_range(r);
    let sym = |name: &str, kind, range, selection| Symbol {
        name: name.to_owned(),
        kind,
        file,
        range: at(range),
        selection: at(selection),
        detail: None,
        children: Vec::new(),
    };
    let mut out = Vec::new();
    for imp in &hir.imports {
        out.push(sym(&imp.alias, SymbolKind::Module, imp.range, imp.alias_range));
    }
    for l in hir.lets.values() {
        out.push(sym(&l.name, SymbolKind::Let, l.range, l.name_range));
    }
    for f in hir.functions.values() {
        out.push(sym(&f.name, SymbolKind::Function, f.range, f.name_range));
    }
    for t in hir.templates.values() {
        let kind = if t.is_schema { SymbolKind::Schema } else { SymbolKind::Template };
        let mut s = sym(&t.name, kind, t.range, t.name_range);
        s.detail =
            t.base.as_ref().map(|b| format!("= {}", b.segments.iter().map(|x| &**x).collect::<Vec<_>>().join(".")));
        for m in &t.members {
            match m {
                MemberHir::Field(f) => s.children.push(sym(&f.name, SymbolKind::Field, f.range, f.name_range)),
                MemberHir::Let(l) => s.children.push(sym(&l.name, SymbolKind::Let, l.range, l.name_range)),
                MemberHir::Check(_) | MemberHir::Emit(_) => {}
            }
        }
        out.push(s);
    }
    for a in hir.apps.values() {
        let mut s = sym(&a.name, SymbolKind::App, a.range, a.name_range);
        s.detail = Some(format!("= {}", a.template.segments.iter().map(|x| &**x).collect::<Vec<_>>().join(".")));
        for b in &a.envs {
            s.children.push(sym(&format!("in {}", b.env), SymbolKind::Environment, b.range, b.env_range));
        }
        out.push(s);
    }
    for e in hir.environments.values() {
        out.push(sym(&e.name, SymbolKind::Environment, e.range, e.name_range));
    }
    out.sort_by_key(|s| s.range.start);
    out
}

/// The outline of `file`, in source order.
pub fn document_symbols(snap: &Snapshot, file: FileId) -> Vec<Symbol> {
    let Some(input) = snap.input(file) else { return Vec::new() };
    symbols_of(file, file_hir(snap.db(), input))
}

/// Top-level declarations (and template fields) of the analysed modules whose name contains
/// `query` (case-insensitive), the root package first, at most `limit`.
pub fn workspace_symbols(snap: &Snapshot, query: &str, limit: usize) -> Vec<Symbol> {
    let db = snap.db();
    let query = query.to_lowercase();
    let mut out = Vec::new();
    let mut files = kdep_sema::index::reachable_files(db, snap.project()).to_vec();
    files.sort_by_key(|f| (!snap.is_root_module(f.id(db)), f.id(db)));
    for input in files {
        let fid = input.id(db);
        for s in symbols_of(fid, file_hir(db, input)) {
            if s.kind == SymbolKind::Module {
                continue;
            }
            let children: Vec<Symbol> =
                s.children.iter().filter(|c| c.name.to_lowercase().contains(&query)).cloned().collect();
            if s.name.to_lowercase().contains(&query) {
                out.push(Symbol { children: Vec::new(), ..s });
            }
            out.extend(children.into_iter().filter(|c| c.kind == SymbolKind::Field));
            if out.len() >= limit {
                out.truncate(limit);
                return out;
            }
        }
    }
    out
}
