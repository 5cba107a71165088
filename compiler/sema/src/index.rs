//! Module index: per-file item index (the incremental firewall), the project's module map, import
//! resolution across packages and import-cycle detection.

use std::collections::BTreeMap;
use std::sync::Arc;

use kdep_diag::{Code, Diagnostic, Span};
use rustc_hash::FxHashMap;

use crate::db::{Db, Package, Project, SourceFile};
use crate::hir::{file_hir, Name, NameTable, ResourceAttr};
use crate::suggest;

/// What kind of declaration a top-level name is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ItemKind {
    Let,
    Fn,
    Schema,
    Template,
    App,
    Environment,
    Policy,
}

impl ItemKind {
    pub fn describe(self) -> &'static str {
        match self {
            ItemKind::Let => "a `let` binding",
            ItemKind::Fn => "a function",
            ItemKind::Schema => "a schema",
            ItemKind::Template => "a template",
            ItemKind::App => "an app",
            ItemKind::Environment => "an environment",
            ItemKind::Policy => "a policy",
        }
    }
}

/// The header of a declaration: what other queries may depend on without seeing bodies.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ItemHeader {
    pub kind: ItemKind,
    /// `template New = base` / `app x = template`: the referenced path.
    pub target: Option<Box<[Name]>>,
    /// `template New = base with a.A, b.B`: the composed declarations' paths, in order. With
    /// [`ItemHeader::target`] they are the edges of the extension graph (cycles, subtyping).
    pub mixins: Box<[Box<[Name]>]>,
    /// `@resource(...)` of a schema: the Kubernetes kind it is, so the (apiVersion, kind) →
    /// schema registry reads item indexes only. Boxed: few declarations are schemas of a
    /// kind, and every file's index is kept for the whole run.
    pub resource: Option<Box<ResourceAttr>>,
    /// An app declares `@after(...)`: `order::apply_order` reads its body (the lowered file)
    /// only then.
    pub after: bool,
}

impl ItemHeader {
    fn plain(kind: ItemKind) -> ItemHeader {
        ItemHeader { kind, target: None, mixins: Box::default(), resource: None, after: false }
    }
}

/// Names, kinds and imports of one file — no bodies, no offsets. Editing inside a body leaves it
/// equal, so queries that depend only on it are not re-run.
///
/// It is also each file's summary for the project-wide queries (`let_cycles`, `app_cycles`,
/// `apply_order`, `active_policies`, `environment_index`, the imports): they read a file's
/// lowering only when its index says it has something for them. A large build can then drop a
/// lowered app file between `prepare` and the file's own batch (docs/performance.md, Memory).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ItemIndex {
    pub items: NameTable<ItemHeader>,
    /// Import alias → module path as written.
    pub imports: NameTable<Box<[Name]>>,
    /// The names the apps' settings mention (in any environment block too) that are an app of
    /// this module or an import alias, each once, in first-use order: `check::app_cycles`
    /// resolves the apps' reads only in a file where one of them may name an app.
    pub app_reads: Box<[Name]>,
}

// `lru = 0`: unbounded and untracked, until a batched build bounds it (`set_item_index_lru`):
// `prepare` computes every file's index, the project-wide queries read them all, and after a
// file's batch nothing reads an app file's index again (it would be computed anew).
#[salsa::tracked(returns(ref), lru = 0)]
pub fn item_index(db: &dyn Db, file: SourceFile) -> Arc<ItemIndex> {
    let hir = file_hir(db, file);
    // The paths are boxed slices, exact and 8 bytes smaller than a `Vec`: every file's index is
    // kept for the whole run.
    let imports: Vec<(Name, Box<[Name]>)> =
        hir.imports.iter().map(|imp| (imp.alias.clone(), imp.path.segments.clone())).collect();
    let imports = NameTable::from_entries(imports);
    let count = hir.lets.len()
        + hir.functions.len()
        + hir.templates.len()
        + hir.apps.len()
        + hir.environments.len()
        + hir.policies.len();
    let mut items: Vec<(Name, ItemHeader)> = Vec::with_capacity(count);
    let mut app_reads: Vec<Name> = Vec::new();
    for name in hir.lets.keys() {
        items.push((name.clone(), ItemHeader::plain(ItemKind::Let)));
    }
    for name in hir.functions.keys() {
        items.push((name.clone(), ItemHeader::plain(ItemKind::Fn)));
    }
    for (name, t) in &hir.templates {
        let kind = if t.is_schema { ItemKind::Schema } else { ItemKind::Template };
        let target = t.base.as_ref().map(|b| b.segments.clone());
        let mixins = t.mixins.iter().map(|m| m.segments.clone()).collect();
        let resource = t.attrs.resource.as_ref().map(|(r, _)| Box::new(r.clone()));
        items.push((name.clone(), ItemHeader { kind, target, mixins, resource, after: false }));
    }
    for (name, a) in &hir.apps {
        items.push((
            name.clone(),
            ItemHeader {
                target: Some(a.template.segments.clone()),
                after: !a.after.is_empty(),
                ..ItemHeader::plain(ItemKind::App)
            },
        ));
        for set in a.sets.iter().chain(a.envs.iter().flat_map(|b| b.sets.iter())) {
            crate::hir::visit_names(&set.value, &mut |n| {
                let may_name_app = hir.apps.contains_key(n) || imports.contains_key(n);
                if may_name_app && !app_reads.contains(n) {
                    app_reads.push(n.clone());
                }
            });
        }
    }
    for name in hir.environments.keys() {
        items.push((name.clone(), ItemHeader::plain(ItemKind::Environment)));
    }
    for (name, p) in &hir.policies {
        let target = p.base.as_ref().map(|b| b.segments.clone());
        items.push((name.clone(), ItemHeader { target, ..ItemHeader::plain(ItemKind::Policy) }));
    }
    // Kept for the whole run, one per file: no room beyond the entries (see `FileHir`).
    Arc::new(ItemIndex { items: NameTable::from_entries(items), imports, app_reads: app_reads.into_boxed_slice() })
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackageInfo {
    pub package: Package,
    pub name: String,
    pub modules: BTreeMap<String, SourceFile>,
    /// Dependency name → index into [`ProjectIndex::packages`].
    pub deps: BTreeMap<String, usize>,
    pub is_root: bool,
    pub is_stdlib: bool,
}

/// Every package reachable from the project and every module in them.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ProjectIndex {
    pub packages: Vec<PackageInfo>,
    /// File → (package index, dotted module path).
    pub file_module: FxHashMap<SourceFile, (usize, String)>,
    pub stdlib: Option<usize>,
}

impl ProjectIndex {
    /// The qualified module name used in messages: module path inside the root package and the
    /// stdlib, `<package>.<module>` for dependencies (which is how they are imported).
    pub fn module_display(&self, file: SourceFile) -> String {
        match self.file_module.get(&file) {
            Some((pkg, module)) => match self.packages.get(*pkg) {
                Some(p) if !p.is_root && !p.is_stdlib => format!("{}.{}", p.name, module),
                _ => module.clone(),
            },
            None => String::from("?"),
        }
    }

    /// Resolves an import path as seen from `from`; see the crate README for the rules.
    pub fn resolve_module(&self, from: SourceFile, path: &[Name]) -> Option<SourceFile> {
        let joined = path.iter().map(|s| &**s).collect::<Vec<_>>().join(".");
        let (pkg_idx, _) = self.file_module.get(&from)?;
        let pkg = self.packages.get(*pkg_idx)?;
        if let (Some(first), true) = (path.first(), path.len() >= 2) {
            if let Some(dep) = pkg.deps.get(&**first).and_then(|i| self.packages.get(*i)) {
                let rest = path.get(1..).unwrap_or_default().iter().map(|s| &**s).collect::<Vec<_>>().join(".");
                return dep.modules.get(&rest).copied();
            }
        }
        if let Some(f) = pkg.modules.get(&joined) {
            return Some(*f);
        }
        if matches!(path.first().map(|s| &**s), Some("std" | "k8s")) {
            let std = self.packages.get(self.stdlib?)?;
            return std.modules.get(&joined).copied();
        }
        None
    }

    /// Every module path importable from `from`, for "did you mean".
    pub fn importable(&self, from: SourceFile) -> Vec<String> {
        let mut out = Vec::new();
        let Some((pkg_idx, _)) = self.file_module.get(&from) else { return out };
        let Some(pkg) = self.packages.get(*pkg_idx) else { return out };
        out.extend(pkg.modules.keys().cloned());
        for (dep_name, idx) in &pkg.deps {
            if let Some(dep) = self.packages.get(*idx) {
                out.extend(dep.modules.keys().map(|m| format!("{dep_name}.{m}")));
            }
        }
        if let Some(std) = self.stdlib.and_then(|i| self.packages.get(i)) {
            out.extend(std.modules.keys().cloned());
        }
        out
    }

    pub fn root_files(&self) -> Vec<SourceFile> {
        self.packages.iter().filter(|p| p.is_root).flat_map(|p| p.modules.values().copied()).collect()
    }
}

#[salsa::tracked(returns(ref))]
pub fn project_index(db: &dyn Db, project: Project) -> Arc<ProjectIndex> {
    let mut out = ProjectIndex::default();
    let mut ids: FxHashMap<Package, usize> = FxHashMap::default();
    let mut queue = vec![project.root(db)];
    // Breadth-first over dependencies; a package reached twice is indexed once.
    let mut order = Vec::new();
    while let Some(pkg) = queue.pop() {
        if ids.contains_key(&pkg) {
            continue;
        }
        ids.insert(pkg, order.len());
        order.push(pkg);
        for dep in pkg.deps(db).values().rev() {
            queue.push(*dep);
        }
    }
    let stdlib = project.stdlib(db);
    if let std::collections::hash_map::Entry::Vacant(slot) = ids.entry(stdlib) {
        slot.insert(order.len());
        order.push(stdlib);
    }
    for (i, pkg) in order.iter().enumerate() {
        let deps = pkg.deps(db).iter().filter_map(|(name, p)| ids.get(p).map(|i| (name.clone(), *i))).collect();
        out.packages.push(PackageInfo {
            package: *pkg,
            name: pkg.name(db).clone(),
            modules: pkg.modules(db).clone(),
            deps,
            is_root: i == 0,
            is_stdlib: *pkg == stdlib,
        });
        for (module, file) in pkg.modules(db) {
            out.file_module.entry(*file).or_insert((i, module.clone()));
        }
    }
    out.stdlib = ids.get(&stdlib).copied();
    Arc::new(out)
}

/// The files a build or check analyses: every module of the root package and every module of a
/// (non-stdlib) dependency that declares a `policy` (policies bind every package that depends on
/// theirs, imported or not), then every module they import, transitively, in discovery order.
/// Other modules nobody imports (most of the Kubernetes stdlib) are never lowered.
#[salsa::tracked(returns(clone))]
pub fn reachable_files(db: &dyn Db, project: Project) -> Arc<Vec<SourceFile>> {
    let index = project_index(db, project);
    let mut out = index.root_files();
    for p in index.packages.iter().filter(|p| !p.is_root && !p.is_stdlib) {
        out.extend(
            p.modules.values().filter(|f| item_index(db, **f).items.values().any(|h| h.kind == ItemKind::Policy)),
        );
    }
    let mut seen: rustc_hash::FxHashSet<SourceFile> = out.iter().copied().collect();
    let mut next = 0;
    while let Some(file) = out.get(next).copied() {
        next += 1;
        let imports = file_imports(db, project, file);
        for target in imports.map.values().flatten() {
            if seen.insert(*target) {
                out.push(*target);
            }
        }
    }
    Arc::new(out)
}

/// Import alias → resolved module (None when the module does not exist).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Imports {
    pub map: NameTable<Option<SourceFile>>,
}

// `lru = 0`: bounded by a batched build only (see `kdep_eval::build_rendered_in_batches`).
#[salsa::tracked(returns(clone), lru = 0)]
pub fn file_imports(db: &dyn Db, project: Project, file: SourceFile) -> Arc<Imports> {
    let index = project_index(db, project);
    let items = item_index(db, file);
    let map = items.imports.iter().map(|(alias, path)| (alias.clone(), index.resolve_module(file, path))).collect();
    Arc::new(Imports { map })
}

/// Bounds how many item indexes the database keeps at its next eviction (the most recently
/// read; 0: all, and reads are no longer tracked). Set by `kdep_eval`'s batched build only,
/// from its first batch on (after the project-wide queries read every index); salsa makes the
/// setter private to this module.
pub fn set_item_index_lru(db: &mut dyn Db, capacity: usize) {
    item_index::set_lru_capacity(db, capacity);
}

/// Bounds how many values of `file_imports` the database keeps at its next eviction (the most
/// recently read; 0: all, and reads are no longer tracked). Set by `kdep_eval`'s batched
/// build only; salsa makes the setter private to this module.
pub fn set_file_imports_lru(db: &mut dyn Db, capacity: usize) {
    file_imports::set_lru_capacity(db, capacity);
}

/// What a dotted path names, as seen from a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolved {
    /// A top-level declaration of `file`.
    Item { file: SourceFile, name: Name, kind: ItemKind },
    /// An imported module.
    Module(SourceFile),
    /// The first segment names nothing.
    Unresolved,
    /// The first segments resolved to a module that has no item named by the next segment.
    NotInModule { module: SourceFile, name: Name },
    /// The first segment is an import that did not resolve; that import is already reported,
    /// so uses of it must not be reported again.
    BrokenImport,
}

/// Resolves `a` (a local declaration) or `alias.Item` (a declaration of an imported module).
pub fn resolve_path(db: &dyn Db, project: Project, from: SourceFile, path: &[Name]) -> Resolved {
    let Some(first) = path.first() else { return Resolved::Unresolved };
    let items = item_index(db, from);
    if path.len() == 1 {
        if let Some(h) = items.items.get(first) {
            return Resolved::Item { file: from, name: first.clone(), kind: h.kind };
        }
    }
    let imports = file_imports(db, project, from);
    match imports.map.get(first) {
        Some(None) => Resolved::BrokenImport,
        Some(Some(module)) => match path.get(1) {
            None => Resolved::Module(*module),
            Some(second) => {
                let target = item_index(db, *module);
                match target.items.get(second) {
                    Some(h) => Resolved::Item { file: *module, name: second.clone(), kind: h.kind },
                    None => Resolved::NotInModule { module: *module, name: second.clone() },
                }
            }
        },
        _ => {
            if path.len() == 1 {
                Resolved::Unresolved
            } else if let Some(h) = items.items.get(first) {
                // `localItem.x`: a path into a local declaration is not a type or template path.
                Resolved::Item { file: from, name: first.clone(), kind: h.kind }
            } else {
                Resolved::Unresolved
            }
        }
    }
}

/// Import problems of one file: modules that do not exist (K0101) and cycles through this
/// file's imports (K0102, reported at the import of the cycle's first module in sort order).
pub fn import_diagnostics(db: &dyn Db, project: Project, file: SourceFile) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let hir = file_hir(db, file);
    let index = project_index(db, project);
    let imports = file_imports(db, project, file);
    let fid = file.id(db);
    for imp in &hir.imports {
        if let Some(None) = imports.map.get(&imp.alias) {
            let path = imp.path.display();
            let mut d = Diagnostic::error(Code::MODULE_NOT_FOUND, format!("module `{path}` not found"))
                .with_primary(Span::new(fid, imp.path.range), "no such module");
            let candidates = index.importable(file);
            if let Some(best) = suggest::best(&path, candidates.iter().map(String::as_str)) {
                d = d.with_help(format!("did you mean `{best}`?"));
            }
            out.push(d);
        }
    }
    for cycle in import_cycles(db, project).iter() {
        if cycle.first().map(|c| c.0) != Some(file) {
            continue;
        }
        let chain = cycle
            .iter()
            .map(|(f, _)| index.module_display(*f))
            .chain(cycle.first().map(|(f, _)| index.module_display(*f)))
            .collect::<Vec<_>>()
            .join(" → ");
        let mut d = Diagnostic::error(Code::IMPORT_CYCLE, format!("import cycle: {chain}"));
        for (i, (f, alias)) in cycle.iter().enumerate() {
            let hir = file_hir(db, *f);
            let Some(imp) = hir.imports.iter().find(|i| &i.alias == alias) else { continue };
            let span = Span::new(f.id(db), imp.range);
            if i == 0 {
                d = d.with_primary(span, "this import starts the cycle");
            } else {
                d = d.with_secondary(
                    span,
                    format!("`{}` imports `{}` here", index.module_display(*f), imp.path.display()),
                );
            }
        }
        out.push(d.with_help("move the shared declarations into a module that both can import"));
    }
    out
}

/// Every import cycle among the project's modules, each as (file, import alias) steps, rotated
/// to start at the file with the smallest module path so each cycle is reported once.
#[salsa::tracked(returns(clone))]
pub fn import_cycles(db: &dyn Db, project: Project) -> Arc<Vec<Vec<(SourceFile, Name)>>> {
    let index = project_index(db, project);
    let files = reachable_files(db, project);
    // Edges: file → [(alias, target)], from the firewall queries only.
    let mut edges: FxHashMap<SourceFile, Vec<(Name, SourceFile)>> = FxHashMap::default();
    for f in files.iter() {
        let imports = file_imports(db, project, *f);
        edges.insert(*f, imports.map.iter().filter_map(|(a, t)| t.map(|t| (a.clone(), t))).collect());
    }
    // Iterative DFS with colours; every back edge closes one cycle.
    let mut colour: FxHashMap<SourceFile, u8> = FxHashMap::default();
    let mut cycles = Vec::new();
    for start in files.iter() {
        if colour.contains_key(start) {
            continue;
        }
        // Stack of (file, next edge index); `path` mirrors it with the alias taken.
        let mut stack: Vec<(SourceFile, usize)> = vec![(*start, 0)];
        let mut path: Vec<(SourceFile, Name)> = Vec::new();
        colour.insert(*start, 1);
        while let Some((f, i)) = stack.last().copied() {
            let next = edges.get(&f).and_then(|e| e.get(i)).cloned();
            if let Some(top) = stack.last_mut() {
                top.1 += 1;
            }
            match next {
                Some((alias, target)) => match colour.get(&target).copied() {
                    None => {
                        colour.insert(target, 1);
                        path.push((f, alias));
                        stack.push((target, 0));
                    }
                    Some(1) => {
                        let mut cycle: Vec<(SourceFile, Name)> = Vec::new();
                        let pos = stack.iter().position(|(s, _)| *s == target).unwrap_or(0);
                        for (k, (sf, _)) in stack.iter().enumerate().skip(pos) {
                            let alias = if k + 1 < stack.len() {
                                path.get(k).map(|p| p.1.clone()).unwrap_or_else(|| alias.clone())
                            } else {
                                alias.clone()
                            };
                            cycle.push((*sf, alias));
                        }
                        let min = cycle
                            .iter()
                            .enumerate()
                            .min_by_key(|(_, (f, _))| index.module_display(*f))
                            .map(|(k, _)| k)
                            .unwrap_or(0);
                        cycle.rotate_left(min);
                        cycles.push(cycle);
                    }
                    _ => {}
                },
                None => {
                    colour.insert(f, 2);
                    stack.pop();
                    path.pop();
                }
            }
        }
    }
    Arc::new(cycles)
}
