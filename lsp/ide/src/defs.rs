//! What the cursor is on and where it is declared: the shared first step of hover, go to
//! definition and find references.
//!
//! Names in bodies come from `kdep_sema::scope::use_at` (the resolver every consumer reads);
//! the places that are not expressions (import paths, the template an app or template names,
//! the keys an app sets, `in` blocks, field declarations) from the lowered file and the
//! template models.

use std::sync::Arc;

use kdep_compiler::Snapshot;
use kdep_diag::{FileId, TextRange};
use kdep_sema::check::{app_template, environment_index, EnvDecl};
use kdep_sema::db::SourceFile;
use kdep_sema::hir::{file_hir, MemberHir, Name, PathRef};
use kdep_sema::index::project_index;
use kdep_sema::model::{resolve_template, template_model, FieldModel, LetModel, TemplateModel};
use kdep_sema::scope::{use_at, walk_file, Callee, NameUse, Resolution, UseAt};

use crate::NavTarget;

/// A declaration the cursor refers to.
#[derive(Clone, Debug)]
pub(crate) enum Def {
    /// A field of a template or schema, as merged into `model` (inherited locks and defaults).
    /// `app`: the app whose field it is, where the cursor is on an app's key or an `app.field`
    /// use (hover then shows what it evaluates to in each environment).
    Field {
        model: Arc<TemplateModel>,
        field: Arc<FieldModel>,
        app: Option<(SourceFile, Name)>,
    },
    TemplateLet(Arc<LetModel>),
    ModuleLet {
        file: SourceFile,
        name: Name,
    },
    Module(SourceFile),
    Function {
        file: SourceFile,
        name: Name,
    },
    /// A template, schema, app or environment declared in `file`.
    Decl {
        file: SourceFile,
        name: Name,
    },
    Env(EnvDecl),
    /// `env.x`: a built-in entry or attribute of the environment.
    EnvField(Name),
}

/// The declaration at `offset` of `file`, with the range of the name under the cursor.
pub(crate) fn def_at(snap: &Snapshot, file: FileId, offset: u32) -> Option<(TextRange, Def)> {
    let db = snap.db();
    let project = snap.project();
    let input = snap.input(file)?;
    let hir = file_hir(db, input);
    // Compared with HIR ranges, which are anchored inside declarations; the ranges returned
    // are HIR ranges too (callers resolve what they show).
    let offset = crate::anchored(snap, input, offset);
    let hit = |r: TextRange| r.start <= offset && offset <= r.end;

    for imp in &hir.imports {
        if hit(imp.path.range) || hit(imp.alias_range) {
            let target = project_index(db, project).resolve_module(input, &imp.path.segments)?;
            return Some((imp.path.range, Def::Module(target)));
        }
    }
    for a in hir.apps.values() {
        if !hit(a.range) {
            continue;
        }
        if hit(a.name_range) {
            return Some((a.name_range, Def::Decl { file: input, name: a.name.clone() }));
        }
        if hit(a.template.range) {
            return header_path(snap, input, &a.template, false);
        }
        let model = app_template(db, project, input, a.name.clone()).ok();
        let sets = a.sets.iter().chain(a.envs.iter().flat_map(|b| b.sets.iter()));
        for set in sets {
            if let Some((key, range)) = set.key.first().filter(|(_, r)| hit(*r)) {
                let field = model.as_ref().and_then(|m| Some((m.clone(), m.fields.get(key)?.clone())));
                let app = Some((input, a.name.clone()));
                return field.map(|(model, field)| (*range, Def::Field { model, field, app }));
            }
        }
        for block in &a.envs {
            if hit(block.env_range) {
                let decl = environment_index(db, project).envs.get(&block.env)?.clone();
                return Some((block.env_range, Def::Env(decl)));
            }
        }
    }
    // The name of a top-level `let` or function where it is declared.
    for (name, l) in &hir.lets {
        if hit(l.name_range) {
            return Some((l.name_range, Def::ModuleLet { file: input, name: name.clone() }));
        }
    }
    for (name, f) in &hir.functions {
        if hit(f.name_range) {
            return Some((f.name_range, Def::Function { file: input, name: name.clone() }));
        }
    }
    // The name of an `environment` declaration (the root package's environments are global).
    for env in hir.environments.values() {
        if hit(env.name_range) {
            let decl = environment_index(db, project).envs.get(&env.name)?.clone();
            return Some((env.name_range, Def::Env(decl)));
        }
    }
    for t in hir.templates.values() {
        if !hit(t.range) {
            continue;
        }
        if hit(t.name_range) {
            return Some((t.name_range, Def::Decl { file: input, name: t.name.clone() }));
        }
        for path in t.base.iter().chain(&t.mixins) {
            if hit(path.range) {
                return header_path(snap, input, path, t.is_schema);
            }
        }
        for m in &t.members {
            if let MemberHir::Field(f) = m {
                if hit(f.name_range) {
                    let model = template_model(db, project, input, t.name.clone())?;
                    let field = model.fields.get(&f.name)?.clone();
                    return Some((f.name_range, Def::Field { model, field, app: None }));
                }
            }
        }
    }
    // A key of a record literal the static check follows along a schema (a Kubernetes field
    // inside `emit apps.Deployment { ... }`): that schema's field.
    if let Some(record) = kdep_eval::typeck::record_at(db, project, input, offset) {
        if let Some((key, range)) = record.keys.iter().find(|(_, r)| hit(*r)) {
            if let Some(field) = record.model.fields.get(key) {
                return Some((*range, Def::Field { model: record.model.clone(), field: field.clone(), app: None }));
            }
        }
    }
    let found = use_at(db, project, input, offset)?;
    resolve_use(snap, input, offset, found)
}

/// `web.WebService` in a header: the template or schema it names.
fn header_path(snap: &Snapshot, from: SourceFile, path: &PathRef, schema: bool) -> Option<(TextRange, Def)> {
    let (file, name) = resolve_template(snap.db(), snap.project(), from, &path.segments, path.range, schema).ok()?;
    Some((path.range, Def::Decl { file, name }))
}

fn resolve_use(snap: &Snapshot, input: SourceFile, offset: u32, found: UseAt) -> Option<(TextRange, Def)> {
    let db = snap.db();
    let project = snap.project();
    match found {
        UseAt::Name { name, range, res } => {
            let def = match res {
                Resolution::Field | Resolution::TemplateLet => {
                    let hir = file_hir(db, input);
                    let t = hir.templates.values().find(|t| t.range.contains(offset) || t.range.end == offset)?;
                    let model = template_model(db, project, input, t.name.clone())?;
                    match res {
                        Resolution::Field => {
                            let field = model.fields.get(&name)?.clone();
                            Def::Field { model, field, app: None }
                        }
                        _ => Def::TemplateLet(model.lets.get(&name)?.clone()),
                    }
                }
                Resolution::ModuleLet(file) => Def::ModuleLet { file, name },
                Resolution::Module(target) => Def::Module(target?),
                Resolution::Function(file) => Def::Function { file, name },
                Resolution::Item(_) | Resolution::App(_) => Def::Decl { file: input, name },
                Resolution::Local | Resolution::Env | Resolution::ForeignApp(_) | Resolution::Unresolved => {
                    return None
                }
            };
            Some((range, def))
        }
        UseAt::Member { module, member, range, res } => {
            let def = match res {
                Resolution::ModuleLet(_) => Def::ModuleLet { file: module, name: member },
                Resolution::Function(_) => Def::Function { file: module, name: member },
                Resolution::App(_) | Resolution::ForeignApp(_) | Resolution::Item(_) => {
                    Def::Decl { file: module, name: member }
                }
                _ => return None,
            };
            Some((range, def))
        }
        UseAt::Call { range, callee: Callee::Function { file, name }, .. } => {
            Some((range, Def::Function { file, name }))
        }
        UseAt::Call { .. } => None,
        UseAt::EnvField { member, range } => Some((range, Def::EnvField(member))),
        UseAt::AppField { file, app, member, range } => {
            let model = app_template(db, project, file, app.clone()).ok()?;
            let field = model.fields.get(&member)?.clone();
            Some((range, Def::Field { model, field, app: Some((file, app)) }))
        }
    }
}

/// Where a declaration is written.
pub(crate) fn def_target(snap: &Snapshot, def: &Def) -> Option<NavTarget> {
    let db = snap.db();
    let nav = |file: SourceFile, range: TextRange| NavTarget { file: file.id(db), range };
    let target = match def {
        Def::Field { field, .. } => Some(NavTarget { file: field.decl_span.file, range: field.decl_span.range }),
        Def::TemplateLet(l) => Some(NavTarget { file: l.span.file, range: l.span.range }),
        Def::ModuleLet { file, name } => Some(nav(*file, file_hir(db, *file).lets.get(name)?.name_range)),
        Def::Module(file) => Some(nav(*file, TextRange::empty(0))),
        Def::Function { file, name } => Some(nav(*file, file_hir(db, *file).functions.get(name)?.name_range)),
        Def::Decl { file, name } => decl_range(snap, *file, name).map(|r| nav(*file, r)),
        Def::Env(decl) => Some(NavTarget { file: decl.span.file, range: decl.span.range }),
        Def::EnvField(_) => None,
    };
    target.map(|t| NavTarget { range: crate::resolve(snap, t.file, t.range), file: t.file })
}

/// The name range of the template, schema, app or environment `name` of `file`.
fn decl_range(snap: &Snapshot, file: SourceFile, name: &Name) -> Option<TextRange> {
    let hir = file_hir(snap.db(), file);
    if let Some(t) = hir.templates.get(name) {
        return Some(t.name_range);
    }
    if let Some(a) = hir.apps.get(name) {
        return Some(a.name_range);
    }
    hir.environments.get(name).map(|e| e.name_range)
}

/// Go to definition: where the name at `offset` is declared (across modules, packages and into
/// the stdlib).
pub fn definition(snap: &Snapshot, file: FileId, offset: u32) -> Option<NavTarget> {
    let (_, def) = def_at(snap, file, offset)?;
    def_target(snap, &def)
}

/// Every use of the declaration at `offset` in the analysed files, and the declaration itself:
/// names and members in bodies (from `scope::walk_file`), template paths in headers, and for
/// fields the keys apps set. Sorted by file and offset.
pub fn references(snap: &Snapshot, file: FileId, offset: u32) -> Vec<NavTarget> {
    let Some((_, def)) = def_at(snap, file, offset) else { return Vec::new() };
    let Some(decl) = def_target(snap, &def) else { return Vec::new() };
    let db = snap.db();
    let project = snap.project();
    let mut out = vec![decl.clone()];
    for input in kdep_sema::index::reachable_files(db, project).iter().copied() {
        let fid = input.id(db);
        // Every name use whose declaration is `decl`. Resolving each candidate through
        // `def_at` keeps one definition of "what this name means".
        let mut candidates: Vec<TextRange> = Vec::new();
        let wanted_name = def_name(&def);
        walk_file(db, project, input, &|_| true, &mut |u| {
            let (name, range) = match u {
                NameUse::Name { name, range, .. } => (name, range),
                NameUse::Member { member, range, .. } => (member, range),
                NameUse::Call { name, range, .. } => (name, range),
                NameUse::AppField { member, range, .. } => (member, range),
                NameUse::EnvField { .. } | NameUse::PathHead { .. } => return,
            };
            if name.rsplit('.').next() == Some(&*wanted_name) {
                candidates.push(range);
            }
        });
        let hir = file_hir(db, input);
        for a in hir.apps.values() {
            candidates.push(a.template.range);
            for set in a.sets.iter().chain(a.envs.iter().flat_map(|b| b.sets.iter())) {
                if let Some((key, range)) = set.key.first() {
                    if *key == wanted_name {
                        candidates.push(*range);
                    }
                }
            }
            // `in production { ... }`: a use of the environment.
            candidates.extend(a.envs.iter().filter(|b| b.env == wanted_name).map(|b| b.env_range));
        }
        for env in hir.environments.values().filter(|e| e.name == wanted_name) {
            candidates.push(env.name_range);
        }
        for t in hir.templates.values() {
            candidates.extend(t.base.iter().chain(&t.mixins).map(|p| p.range));
            for m in &t.members {
                if let MemberHir::Field(f) = m {
                    if f.name == wanted_name {
                        candidates.push(f.name_range);
                    }
                }
            }
        }
        for range in candidates {
            let Some((at, other)) = def_at(snap, fid, range.end) else { continue };
            if def_target(snap, &other).as_ref() == Some(&decl) {
                let at = crate::resolve(snap, fid, at);
                let hit = NavTarget { file: fid, range: last_segment(snap, fid, at) };
                if !out.contains(&hit) {
                    out.push(hit);
                }
            }
        }
    }
    out.sort_by_key(|t| (t.file, t.range.start));
    out
}

/// The name a declaration is written under (the last segment of a path).
fn def_name(def: &Def) -> Name {
    match def {
        Def::Field { field, .. } => field.name.clone(),
        Def::TemplateLet(l) => l.name.clone(),
        Def::ModuleLet { name, .. } | Def::Function { name, .. } | Def::Decl { name, .. } => name.clone(),
        Def::Module(_) => Name::from(""),
        Def::Env(d) => d.name.clone(),
        Def::EnvField(n) => n.clone(),
    }
}

/// The range of the last `.`-separated segment of `range` (`web.WebService` → `WebService`), so
/// a rename replaces the name only.
fn last_segment(snap: &Snapshot, file: FileId, range: TextRange) -> TextRange {
    let text = snap.text(file).get(range.as_usize_range()).unwrap_or_default();
    match text.rfind('.') {
        Some(dot) => TextRange::new(range.start + dot as u32 + 1, range.end),
        None => range,
    }
}
