//! The dependency graph of top-level `let` bindings across modules, so cyclic definitions are
//! reported once (K0408) and the evaluator's per-`let` queries never form a salsa cycle.

use std::hash::Hash;
use std::sync::Arc;

use kdep_diag::{Code, Diagnostic, Span};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::db::{Db, Project, SourceFile};
use crate::hir::{file_hir, Expr, Name};
use crate::scope::{walk_names, NameUse, Resolution, Resolver};

#[derive(Clone, Debug, PartialEq, Default)]
pub struct LetCycles {
    /// Every top-level `let` that is part of, or depends on, a cycle.
    pub poisoned: FxHashSet<(SourceFile, Name)>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Top-level lets referenced by one expression written at module level in `file`.
fn references(scope: &Resolver, e: &Expr, out: &mut Vec<(SourceFile, Name)>) {
    walk_names(e, scope, &mut |u| match u {
        NameUse::Name { name, res: Resolution::ModuleLet(f), .. } => out.push((f, name.clone())),
        NameUse::Member { module, member, .. } => out.push((module, member.clone())),
        _ => {}
    });
}

#[salsa::tracked(returns(clone))]
pub fn let_cycles(db: &dyn Db, project: Project) -> Arc<LetCycles> {
    let mut nodes: Vec<(SourceFile, Name)> = Vec::new();
    let mut edges: FxHashMap<(SourceFile, Name), Vec<(SourceFile, Name)>> = FxHashMap::default();
    for file in crate::index::reachable_files(db, project).iter().copied() {
        let hir = file_hir(db, file);
        if hir.lets.is_empty() {
            continue;
        }
        let scope = Resolver::module(db, project, file);
        for (name, l) in &hir.lets {
            let mut refs = Vec::new();
            references(&scope, &l.value, &mut refs);
            nodes.push((file, name.clone()));
            edges.insert((file, name.clone()), refs);
        }
    }
    let mut out = LetCycles::default();
    let (cycles, poisoned) = find_cycles(&nodes, &edges);
    for members in cycles {
        let chain = members.iter().chain(members.first()).map(|(_, n)| n.to_string()).collect::<Vec<_>>().join(" → ");
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
    }
    out.poisoned = poisoned;
    Arc::new(out)
}

/// Every cycle of a dependency graph (each once, as the path from where the search entered it),
/// and the nodes that are part of one or depend on one. An iterative depth-first search: a back
/// edge is a cycle; anything reaching a poisoned node is poisoned. Nodes without an entry in
/// `edges` are leaves.
pub fn find_cycles<N: Clone + Eq + Hash>(nodes: &[N], edges: &FxHashMap<N, Vec<N>>) -> (Vec<Vec<N>>, FxHashSet<N>) {
    let mut cycles = Vec::new();
    let mut poisoned: FxHashSet<N> = FxHashSet::default();
    let mut state: FxHashMap<N, u8> = FxHashMap::default();
    for start in nodes {
        if state.contains_key(start) {
            continue;
        }
        let mut stack: Vec<(N, usize)> = vec![(start.clone(), 0)];
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
                        let members: Vec<N> = stack.iter().skip(pos).map(|(n, _)| n.clone()).collect();
                        poisoned.extend(members.iter().cloned());
                        cycles.push(members);
                    }
                    Some(2) if poisoned.contains(&target) => {
                        poisoned.insert(node.clone());
                    }
                    _ => {}
                },
                None => {
                    state.insert(node.clone(), 2);
                    stack.pop();
                    // Poison flows to dependents.
                    if let Some((parent, _)) = stack.last() {
                        if poisoned.contains(&node) {
                            poisoned.insert(parent.clone());
                        }
                    }
                }
            }
        }
    }
    (cycles, poisoned)
}
