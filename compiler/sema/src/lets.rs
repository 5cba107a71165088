//! The dependency graph of top-level `let` bindings across modules, so cyclic definitions are
//! reported once (K0408) and the evaluator's per-`let` queries never form a salsa cycle.

use std::sync::Arc;

use kdep_diag::{Code, Diagnostic, Span};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::db::{Db, Project, SourceFile};
use crate::hir::{file_hir, Clause, Expr, ExprKind, InterpPart, KeySeg, Name, ObjEntry};
use crate::index::file_imports;

#[derive(Clone, Debug, PartialEq, Default)]
pub struct LetCycles {
    /// Every top-level `let` that is part of, or depends on, a cycle.
    pub poisoned: FxHashSet<(SourceFile, Name)>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Top-level lets referenced by one expression: `(file, name)` pairs.
fn references(
    db: &dyn Db,
    project: Project,
    file: SourceFile,
    e: &Expr,
    out: &mut Vec<(SourceFile, Name)>,
    locals: &mut Vec<Name>,
) {
    let hir = file_hir(db, file);
    let imports = file_imports(db, project, file);
    let mut walk = Walk { hir: &hir, imports: &imports, file, out, locals };
    walk.expr(e);
}

struct Walk<'a> {
    hir: &'a crate::hir::FileHir,
    imports: &'a crate::index::Imports,
    file: SourceFile,
    out: &'a mut Vec<(SourceFile, Name)>,
    locals: &'a mut Vec<Name>,
}

impl Walk<'_> {
    fn clause(&mut self, c: &Clause, body: &[&Expr]) {
        self.expr(&c.source);
        let depth = self.locals.len();
        self.locals.push(c.first.clone());
        if let Some(s) = &c.second {
            self.locals.push(s.clone());
        }
        if let Some(cond) = &c.cond {
            self.expr(cond);
        }
        for b in body {
            self.expr(b);
        }
        self.locals.truncate(depth);
    }

    fn expr(&mut self, e: &Expr) {
        match &e.kind {
            ExprKind::Name(n) => {
                if !self.locals.contains(n) && self.hir.lets.contains_key(n) {
                    self.out.push((self.file, n.clone()));
                }
            }
            ExprKind::Field(base, field, _) => {
                if let ExprKind::Name(alias) = &base.kind {
                    if !self.locals.contains(alias) {
                        if let Some(Some(target)) = self.imports.map.get(alias) {
                            self.out.push((*target, field.clone()));
                            return;
                        }
                    }
                }
                self.expr(base)
            }
            ExprKind::Null | ExprKind::Bool(_) | ExprKind::Int(_) | ExprKind::Float(_) | ExprKind::Str(_) => {}
            ExprKind::Error => {}
            ExprKind::Interp(parts) => {
                for p in parts {
                    if let InterpPart::Expr(e) = p {
                        self.expr(e);
                    }
                }
            }
            ExprKind::Index(a, b) | ExprKind::Binary(_, a, b) => {
                self.expr(a);
                self.expr(b);
            }
            ExprKind::Call(_, _, args) => args.iter().for_each(|a| self.expr(a)),
            ExprKind::Unary(_, a) => self.expr(a),
            ExprKind::If(a, b, c) => {
                self.expr(a);
                self.expr(b);
                self.expr(c);
            }
            ExprKind::List(items) => items.iter().for_each(|i| self.expr(i)),
            ExprKind::ListComp(item, clause) => self.clause(clause, &[item]),
            ExprKind::Object(entries) | ExprKind::Instantiate(_, entries) => {
                for en in entries {
                    match en {
                        ObjEntry::Field { key, value, .. } => {
                            for k in key {
                                if let KeySeg::Computed(k) = k {
                                    self.expr(k);
                                }
                            }
                            self.expr(value);
                        }
                        ObjEntry::Comp { key, value, clause, .. } => self.clause(clause, &[key, value]),
                    }
                }
            }
        }
    }
}

#[salsa::tracked(returns(clone))]
pub fn let_cycles(db: &dyn Db, project: Project) -> Arc<LetCycles> {
    let mut nodes: Vec<(SourceFile, Name)> = Vec::new();
    let mut edges: FxHashMap<(SourceFile, Name), Vec<(SourceFile, Name)>> = FxHashMap::default();
    for file in crate::index::reachable_files(db, project).iter().copied() {
        let hir = file_hir(db, file);
        for (name, l) in &hir.lets {
            let mut refs = Vec::new();
            references(db, project, file, &l.value, &mut refs, &mut Vec::new());
            nodes.push((file, name.clone()));
            edges.insert((file, name.clone()), refs);
        }
    }
    let mut out = LetCycles::default();
    // Iterative DFS; a back edge reports a cycle; anything reaching a poisoned node is poisoned.
    let mut state: FxHashMap<(SourceFile, Name), u8> = FxHashMap::default();
    for start in &nodes {
        if state.contains_key(start) {
            continue;
        }
        let mut stack: Vec<((SourceFile, Name), usize)> = vec![(start.clone(), 0)];
        state.insert(start.clone(), 1);
        while let Some((node, i)) = stack.last().cloned() {
            let next = edges.get(&node).and_then(|e| e.get(i)).cloned();
            if let Some(top) = stack.last_mut() {
                top.1 += 1;
            }
            match next {
                Some(target) => match state.get(&target).copied() {
                    None if edges.contains_key(&target) => {
                        state.insert(target.clone(), 1);
                        stack.push((target, 0));
                    }
                    Some(1) => {
                        let pos = stack.iter().position(|(n, _)| *n == target).unwrap_or(0);
                        let members: Vec<(SourceFile, Name)> = stack.iter().skip(pos).map(|(n, _)| n.clone()).collect();
                        let chain = members
                            .iter()
                            .chain(members.first())
                            .map(|(_, n)| n.to_string())
                            .collect::<Vec<_>>()
                            .join(" → ");
                        let mut d = Diagnostic::error(Code::CYCLIC_DEFINITION, format!("`let` cycle: {chain}"));
                        for (k, (f, n)) in members.iter().enumerate() {
                            let hir = file_hir(db, *f);
                            let Some(l) = hir.lets.get(n) else { continue };
                            let span = Span::new(f.id(db), l.name_range);
                            d = if k == 0 {
                                d.with_primary(span, "this value depends on itself")
                            } else {
                                d.with_secondary(span, "through this binding")
                            };
                        }
                        out.diagnostics.push(d);
                        out.poisoned.extend(members);
                    }
                    Some(2) if out.poisoned.contains(&target) => {
                        out.poisoned.insert(node.clone());
                    }
                    _ => {}
                },
                None => {
                    state.insert(node.clone(), 2);
                    stack.pop();
                    // Poison flows to dependents.
                    if let Some((parent, _)) = stack.last() {
                        if out.poisoned.contains(&node) {
                            out.poisoned.insert(parent.clone());
                        }
                    }
                }
            }
        }
    }
    Arc::new(out)
}
