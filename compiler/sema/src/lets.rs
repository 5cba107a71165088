//! The dependency graph of top-level `let` bindings and functions across modules, so cyclic
//! definitions and recursive calls (direct or mutual) are reported once (K0408) and the
//! evaluator's per-`let` queries never form a salsa cycle. A `let` and a function can be part
//! of one cycle (`let a = f(1)`, `fn f(x: int) -> int = a + x`); top-level names are unique per
//! module, so `(file, name)` identifies either.

use std::hash::Hash;
use std::sync::Arc;

use kdep_diag::{Code, Diagnostic, Span};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::db::{Db, Project, SourceFile};
use crate::hir::{file_hir, Expr, KeySeg, MemberHir, Name, ObjEntry};
use crate::scope::{walk_fn, walk_names, Callee, NameUse, Resolution, Resolver};

#[derive(Clone, Debug, PartialEq, Default)]
pub struct LetCycles {
    /// Every top-level `let` and function that is part of, or depends on, a cycle.
    pub poisoned: FxHashSet<(SourceFile, Name)>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Where the graph's uses are written: for following `Path { ... }` to the defaults it runs.
#[derive(Clone, Copy)]
struct Site<'a> {
    db: &'a dyn Db,
    project: Project,
    file: SourceFile,
}

/// The graph node of the default of field `field` written in the body of `owner`: top-level
/// names have no dot, so `owner.field` never collides with a `let` or function.
fn default_node(file: SourceFile, owner: &str, field: &str) -> (SourceFile, Name) {
    (file, Name::from(format!("{owner}.{field}")))
}

/// The top-level lets and functions one use of a name depends on, and for a record of a schema
/// or template (`S { a = 1 }`) the defaults it leaves to the declaration: a function that builds
/// `S {}` runs `S`'s defaults, so a default calling that function is a cycle, not a deep chain.
fn reference(site: Site<'_>, u: NameUse<'_>, out: &mut Vec<(SourceFile, Name)>) {
    match u {
        NameUse::Name { name, res: Resolution::ModuleLet(f), .. } => out.push((f, name.clone())),
        NameUse::Member { module, member, .. } => out.push((module, member.clone())),
        NameUse::Call { callee: Callee::Function { file, name }, .. } => out.push((file, name)),
        NameUse::PathHead { path, entries, .. } => {
            let Ok((file, name)) =
                crate::model::resolve_template(site.db, site.project, site.file, &path.segments, path.range, true)
            else {
                return;
            };
            let Some(model) = crate::model::template_model(site.db, site.project, file, name) else { return };
            let set: Vec<&Name> = entries
                .iter()
                .filter_map(|e| match e {
                    ObjEntry::Field { key, .. } => match key.first() {
                        Some(KeySeg::Static(n, _)) => Some(n),
                        _ => None,
                    },
                    ObjEntry::Comp { .. } => None,
                })
                .collect();
            for (field, f) in &model.fields {
                if let (Some(d), false) = (&f.default, set.contains(&field)) {
                    out.push(default_node(d.file, &d.owner, field));
                }
            }
        }
        _ => {}
    }
}

/// Top-level lets and functions referenced by one expression written at module level.
fn references(site: Site<'_>, scope: &Resolver, e: &Expr, out: &mut Vec<(SourceFile, Name)>) {
    walk_names(e, scope, &mut |u| reference(site, u, out));
}

#[salsa::tracked(returns(ref))]
pub fn let_cycles(db: &dyn Db, project: Project) -> Arc<LetCycles> {
    let mut nodes: Vec<(SourceFile, Name)> = Vec::new();
    let mut edges: FxHashMap<(SourceFile, Name), Vec<(SourceFile, Name)>> = FxHashMap::default();
    for file in crate::index::reachable_files(db, project).iter().copied() {
        // The item index first: a file without lets, functions, schemas or templates (an app
        // module) has no node, and its lowering is not read (a large build drops it before
        // the file's batch).
        use crate::index::ItemKind;
        let items = crate::index::item_index(db, file);
        if !items
            .items
            .values()
            .any(|h| matches!(h.kind, ItemKind::Let | ItemKind::Fn | ItemKind::Schema | ItemKind::Template))
        {
            continue;
        }
        let hir = file_hir(db, file);
        let site = Site { db, project, file };
        let scope = Resolver::module(db, project, file);
        for (name, l) in &hir.lets {
            let mut refs = Vec::new();
            references(site, &scope, &l.value, &mut refs);
            nodes.push((file, name.clone()));
            edges.insert((file, name.clone()), refs);
        }
        for (name, f) in &hir.functions {
            let mut refs = Vec::new();
            walk_fn(f, &scope, &mut |u| reference(site, u, &mut refs));
            nodes.push((file, name.clone()));
            edges.insert((file, name.clone()), refs);
        }
        // Field defaults are nodes too: a default can call a function (or read a `let`) that
        // builds the record again.
        for (owner, t) in &hir.templates {
            // Most schemas (the Kubernetes ones) have no defaults: build no scope for them.
            if !t.members.iter().any(|m| matches!(m, MemberHir::Field(f) if f.default.is_some())) {
                continue;
            }
            let body = Resolver::body(db, project, file, owner);
            for m in &t.members {
                let MemberHir::Field(f) = m else { continue };
                let Some(default) = &f.default else { continue };
                let mut refs = Vec::new();
                references(site, &body, default, &mut refs);
                let node = default_node(file, owner, &f.name);
                nodes.push(node.clone());
                edges.insert(node, refs);
            }
        }
    }
    let mut out = LetCycles::default();
    let (cycles, poisoned) = find_cycles(&nodes, &edges);
    for members in cycles {
        let chain = members.iter().chain(members.first()).map(|(_, n)| n.to_string()).collect::<Vec<_>>().join(" → ");
        out.diagnostics.push(cycle_diagnostic(db, &members, &chain));
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

/// K0408 for one cycle, labelling every `let`, function and field default on it.
fn cycle_diagnostic(db: &dyn Db, members: &[(SourceFile, Name)], chain: &str) -> Diagnostic {
    let is_fn = |(f, n): &(SourceFile, Name)| file_hir(db, *f).functions.contains_key(n);
    let is_default = |(_, n): &(SourceFile, Name)| n.contains('.');
    let fns = members.iter().filter(|m| is_fn(m)).count();
    let defaults = members.iter().filter(|m| is_default(m)).count();
    let message = match (fns, defaults) {
        (0, 0) => format!("`let` cycle: {chain}"),
        (n, 0) if n == members.len() => format!("recursive function: {chain}"),
        (_, 0) => format!("cycle through `let` and function: {chain}"),
        (0, _) => format!("cycle through a field default: {chain}"),
        _ => format!("cycle through a field default and a function: {chain}"),
    };
    let mut d = Diagnostic::error(Code::CYCLIC_DEFINITION, message);
    for (k, (f, n)) in members.iter().enumerate() {
        let hir = file_hir(db, *f);
        let (range, what) = match (hir.lets.get(n), hir.functions.get(n), n.split_once('.')) {
            (Some(l), _, _) => (l.name_range, ("this value depends on itself", "through this binding")),
            (None, Some(func), _) => (func.name_range, ("this function calls itself", "through this function")),
            (None, None, Some((owner, field))) => {
                let decl = hir.templates.get(owner);
                let field = decl.and_then(|t| {
                    t.members.iter().find_map(|m| match m {
                        MemberHir::Field(fh) if &*fh.name == field => Some(fh.name_range),
                        _ => None,
                    })
                });
                let Some(range) = field else { continue };
                (range, ("this default depends on itself", "through this default"))
            }
            (None, None, None) => continue,
        };
        let span = Span::new(f.id(db), range);
        d = if k == 0 { d.with_primary(span, what.0) } else { d.with_secondary(span, what.1) };
    }
    if defaults > 0 && fns > 0 {
        d = d.with_help(
            "a default runs whenever its record is built without the field: set the field where the function builds the record",
        );
    } else if fns > 0 {
        d = d.with_help("functions cannot call themselves, directly or through others: evaluation must end");
    } else if defaults > 0 {
        d = d.with_help("set the field where the record is built, or compute the value without building it");
    }
    d
}
