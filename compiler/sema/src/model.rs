//! Template and schema models: the merged view of a template after extension (fields with types,
//! defaults, locks and the layer that declared each), and the narrowing rules that guard it.

use std::sync::Arc;

use kdep_diag::{Code, Diagnostic, Span, TextRange};

use crate::db::{Db, Project, SourceFile};
use crate::hir::{file_hir, Expr, ExprKind, MemberHir, Name, NameMap, PathRef, ResourceAttr};
use crate::index::{item_index, project_index, resolve_path, ItemKind, Resolved};
use crate::suggest;
use crate::ty::{check_narrowing, Lit, Ty, TypeLowering};

/// Where a field default was written.
#[derive(Clone, Debug, PartialEq)]
pub struct DefaultModel {
    pub expr: Arc<Expr>,
    /// The file the expression is written in: names in it resolve in that module.
    pub file: SourceFile,
    pub span: Span,
    /// `true` when an extending template (not the base-most one) set it.
    pub extending: bool,
    /// Qualified name of the template that set it.
    pub template: Name,
    /// The declaration (in `file`) whose body holds the expression: names in it resolve in
    /// that template's scope ([`crate::scope::Resolver::body`]), never in an extending one's.
    pub owner: Name,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LockModel {
    /// The `locked` keyword.
    pub span: Span,
    /// Qualified name of the template that locked the field.
    pub template: Name,
    /// Display path of the file holding that template (for "ask the owners of ...").
    pub path: Name,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FieldModel {
    pub name: Name,
    pub ty: Arc<Ty>,
    /// The type expression that gives the field its (narrowest) type, if written.
    pub ty_span: Option<Span>,
    /// The field's first declaration (its name).
    pub decl_span: Span,
    pub doc: Option<String>,
    pub default: Option<DefaultModel>,
    pub locked: Option<LockModel>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LetModel {
    pub name: Name,
    pub expr: Arc<Expr>,
    pub ty: Option<Arc<Ty>>,
    pub file: SourceFile,
    /// The declaration whose body holds it (see [`DefaultModel::owner`]).
    pub owner: Name,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CheckModel {
    pub cond: Arc<Expr>,
    pub message: Option<Name>,
    pub file: SourceFile,
    /// The declaration whose body holds it (see [`DefaultModel::owner`]).
    pub owner: Name,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct EmitModel {
    pub value: Arc<Expr>,
    pub file: SourceFile,
    /// The declaration whose body holds it (see [`DefaultModel::owner`]).
    pub owner: Name,
    pub span: Span,
}

/// A template or schema with its whole extension chain merged.
#[derive(Clone, Debug, PartialEq)]
pub struct TemplateModel {
    /// Qualified name, e.g. `platform.web.WebService`.
    pub qualified: Name,
    pub file: SourceFile,
    pub name_span: Span,
    pub is_schema: bool,
    pub fields: NameMap<Arc<FieldModel>>,
    pub lets: NameMap<Arc<LetModel>>,
    pub checks: Vec<Arc<CheckModel>>,
    pub emits: Vec<Arc<EmitModel>>,
    /// Qualified names from this template down to the base-most one (the `= Base` line only).
    pub chain: Vec<Name>,
    /// Every declaration merged into this model: itself first, then its base's sources, then
    /// each mixin's, each once (a declaration reached twice, as in a diamond, is listed once).
    /// The names they read are guarded by K0312, and a record of this schema is a value of each.
    pub sources: Vec<(SourceFile, Name)>,
    /// `@open` on it or on a declaration it extends or composes: a record keeps fields the
    /// schema does not declare (typed `any`) instead of rejecting them (K0202).
    pub open: bool,
    /// `@resource(...)` on it or inherited from its base: the Kubernetes kind its records are.
    pub resource: Option<ResourceAttr>,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct TemplateResult {
    pub model: Option<Arc<TemplateModel>>,
    /// Problems of this declaration (types, extension rules); reported in its file.
    pub diagnostics: Vec<Diagnostic>,
}

/// The model of a template or schema, if `name` is one in `file`. Dependents should use this
/// query rather than [`template_result`], so changes to diagnostics alone do not re-run them.
#[salsa::tracked(returns(clone))]
pub fn template_model(db: &dyn Db, project: Project, file: SourceFile, name: Name) -> Option<Arc<TemplateModel>> {
    template_result(db, project, file, name).model.clone()
}

/// Resolves `path` (as written in `from`) to a template or schema declaration, or explains why
/// not. `Err(None)` means the path goes through an import that failed and was reported there.
pub fn resolve_template(
    db: &dyn Db,
    project: Project,
    from: SourceFile,
    path: &[Name],
    range: TextRange,
    allow_schema: bool,
) -> Result<(SourceFile, Name), Option<Box<Diagnostic>>> {
    // The span and the path's text are for diagnostics only: every app resolves its template
    // here, and almost all of them resolve.
    let span = || Span::new(from.id(db), range);
    let display = || path.iter().map(|s| &**s).collect::<Vec<_>>().join(".");
    match resolve_path(db, project, from, path) {
        Resolved::BrokenImport => Err(None),
        Resolved::Item { file, name, kind: ItemKind::Template } if path.len() <= 2 => Ok((file, name)),
        Resolved::Item { file, name, kind: ItemKind::Schema } if allow_schema && path.len() <= 2 => Ok((file, name)),
        Resolved::Item { kind, .. } => Err(Some(Box::new(
            Diagnostic::error(Code::NOT_A_TEMPLATE, format!("`{}` is {}, not a template", display(), kind.describe()))
                .with_primary(span(), "expected a template"),
        ))),
        Resolved::Module(_) => {
            let display = display();
            Err(Some(Box::new(
                Diagnostic::error(Code::NOT_A_TEMPLATE, format!("`{display}` is a module, not a template"))
                    .with_primary(span(), "expected a template")
                    .with_help(format!("name a template inside it: `{display}.<Template>`")),
            )))
        }
        Resolved::NotInModule { module, name } => {
            let items = item_index(db, module);
            let candidates = items
                .items
                .iter()
                .filter(|(_, h)| matches!(h.kind, ItemKind::Template | ItemKind::Schema))
                .map(|(n, _)| &**n);
            let index = project_index(db, project);
            let mut d = Diagnostic::error(
                Code::UNRESOLVED_NAME,
                format!("module `{}` has no template `{name}`", index.module_display(module)),
            )
            .with_primary(span(), "not found");
            if let Some(best) = suggest::best(&name, candidates) {
                d = d.with_help(format!("did you mean `{best}`?"));
            }
            Err(Some(Box::new(d)))
        }
        Resolved::Unresolved => {
            let items = item_index(db, from);
            let candidates: Vec<&str> = items
                .items
                .iter()
                .filter(|(_, h)| matches!(h.kind, ItemKind::Template | ItemKind::Schema))
                .map(|(n, _)| &**n)
                .chain(items.imports.keys().map(|k| &**k))
                .collect();
            let mut d = Diagnostic::error(Code::UNRESOLVED_NAME, format!("unresolved name `{}`", display()))
                .with_primary(span(), "not defined or imported");
            if let Some(first) = path.first() {
                if let Some(best) = suggest::best(first, candidates) {
                    d = d.with_help(format!("did you mean `{best}`?"));
                }
            }
            Err(Some(Box::new(d)))
        }
    }
}

/// Most `template X = Base` links one template's extension chain may have. A model is built
/// by recursing once per link (through salsa queries); a test proves the longest chain fits
/// the 2 MiB stack of a test thread in a debug build. Real hierarchies are a few links deep.
pub const MAX_EXTENSION_DEPTH: usize = 256;

/// Where following the `= Base with A, B` headers from a declaration leads.
enum Extension {
    /// To declarations that extend nothing (or to something that is not a template or schema).
    /// The declarations met, each after the ones it extends (a depth-first post-order).
    Ends(Vec<Decl>),
    /// Back to the declaration itself, through its direct parent number `.0` (base first, then
    /// the mixins in order).
    Cycle(usize),
    /// On for more than [`MAX_EXTENSION_DEPTH`] links.
    TooDeep,
}

type Decl = (SourceFile, Name);

/// The direct parents of a declaration as its header names them: the base, then the mixins;
/// `None` where a path does not name a template or schema (reported by the model).
fn parent_edges(db: &dyn Db, project: Project, file: SourceFile, name: &Name) -> Vec<Option<Decl>> {
    let items = item_index(db, file);
    let Some(h) = items.items.get(name) else { return Vec::new() };
    if !matches!(h.kind, ItemKind::Template | ItemKind::Schema) {
        return Vec::new();
    }
    h.target
        .iter()
        .chain(h.mixins.iter())
        .map(|p| match resolve_path(db, project, file, p) {
            Resolved::Item { file, name, kind: ItemKind::Template | ItemKind::Schema } if p.len() <= 2 => {
                Some((file, name))
            }
            _ => None,
        })
        .collect()
}

/// Follows the extension graph (bases and mixins, from the item index only) depth-first from
/// `file.name`: whether it comes back to the start, and whether its longest path is too long.
/// A cycle elsewhere in the graph is the business of the declarations on it.
fn extension_graph(db: &dyn Db, project: Project, file: SourceFile, name: &Name) -> Extension {
    let start: Decl = (file, name.clone());
    // Links below a finished declaration (its longest path down), so a diamond is walked once
    // and still measured by its longest path.
    let mut height: rustc_hash::FxHashMap<Decl, usize> = rustc_hash::FxHashMap::default();
    let mut finished: Vec<Decl> = Vec::new();
    for (i, direct) in parent_edges(db, project, file, name).into_iter().enumerate() {
        let Some(direct) = direct else { continue };
        if direct == start {
            return Extension::Cycle(i);
        }
        if let Some(h) = height.get(&direct) {
            if 1 + h > MAX_EXTENSION_DEPTH {
                return Extension::TooDeep;
            }
            continue;
        }
        // (declaration, its parents, next parent to visit, longest path below so far)
        let parents = parent_edges(db, project, direct.0, &direct.1);
        let mut stack: Vec<(Decl, Vec<Option<Decl>>, usize, usize)> = vec![(direct, parents, 0, 0)];
        while let Some(top) = stack.last_mut() {
            let next = top.1.get(top.2).cloned();
            top.2 += 1;
            match next {
                Some(Some(p)) => {
                    if p == start {
                        return Extension::Cycle(i);
                    }
                    if stack.iter().any(|s| s.0 == p) {
                        continue;
                    }
                    let depth = stack.len() + 1;
                    if let Some(h) = height.get(&p).copied() {
                        if depth + h > MAX_EXTENSION_DEPTH {
                            return Extension::TooDeep;
                        }
                        if let Some(top) = stack.last_mut() {
                            top.3 = top.3.max(h + 1);
                        }
                        continue;
                    }
                    if depth > MAX_EXTENSION_DEPTH {
                        return Extension::TooDeep;
                    }
                    let parents = parent_edges(db, project, p.0, &p.1);
                    stack.push((p, parents, 0, 0));
                }
                Some(None) => {}
                None => {
                    let Some((done, _, _, h)) = stack.pop() else { break };
                    if let Some(parent) = stack.last_mut() {
                        parent.3 = parent.3.max(h + 1);
                    }
                    finished.push(done.clone());
                    height.insert(done, h);
                }
            }
        }
    }
    Extension::Ends(finished)
}

/// Every declaration `file.name` extends or composes, directly or not (itself excluded), from
/// the item index only. A record of `file.name` is a value of each of them (subtyping).
#[salsa::tracked(returns(clone))]
pub fn schema_ancestors(db: &dyn Db, project: Project, file: SourceFile, name: Name) -> Arc<Vec<(SourceFile, Name)>> {
    let start: Decl = (file, name.clone());
    let mut out: Vec<Decl> = Vec::new();
    let mut queue = vec![start.clone()];
    while let Some((f, n)) = queue.pop() {
        for p in parent_edges(db, project, f, &n).into_iter().flatten() {
            if p != start && !out.contains(&p) {
                out.push(p.clone());
                queue.push(p);
            }
        }
    }
    Arc::new(out)
}

/// Resolves the base (`mixin` false) or a mixin of a schema (`schema` true) or template: a
/// schema extends and composes only schemas, a template only templates (K0107 otherwise).
fn resolve_parent(
    db: &dyn Db,
    project: Project,
    from: SourceFile,
    path: &PathRef,
    schema: bool,
    mixin: bool,
) -> Result<(SourceFile, Name), Option<Box<Diagnostic>>> {
    let (f, n) = resolve_template(db, project, from, &path.segments, path.range, true)?;
    let is_schema = item_index(db, f).items.get(&n).is_some_and(|h| h.kind == ItemKind::Schema);
    if is_schema == schema {
        return Ok((f, n));
    }
    let display = path.display();
    let (own, other) = if schema { ("schema", "template") } else { ("template", "schema") };
    let verb = if mixin { "compose" } else { "extend" };
    let help = match (schema, mixin) {
        (false, false) => format!("to narrow the schema, declare `schema Name = {display} {{ ... }}`"),
        (true, false) => "a schema narrows a schema; reuse a template's fields by declaring them in a schema".into(),
        _ => format!("compose {own}s with {own}s: move the shared members into a {own}"),
    };
    Err(Some(Box::new(
        Diagnostic::error(
            Code::NOT_A_TEMPLATE,
            format!("`{display}` is a {other}, and a {own} can only {verb} {own}s"),
        )
        .with_primary(Span::new(from.id(db), path.range), format!("expected a {own}"))
        .with_help(help),
    )))
}

#[salsa::tracked(returns(clone))]
pub fn template_result(db: &dyn Db, project: Project, file: SourceFile, name: Name) -> Arc<TemplateResult> {
    let hir = file_hir(db, file);
    let Some(t) = hir.templates.get(&name).cloned() else { return Arc::new(TemplateResult::default()) };
    let fid = file.id(db);
    let span = |r: TextRange| Span::new(fid, r);
    let index = project_index(db, project);
    let qualified = Name::from(format!("{}.{}", index.module_display(file), name).as_str());
    let path = Name::from(file.path(db).as_str());
    let mut diags = Vec::new();
    let mut types = TypeLowering { db, project, file, diagnostics: Vec::new(), current: None };

    let mut model = TemplateModel {
        qualified: qualified.clone(),
        file,
        name_span: span(t.name_range),
        is_schema: t.is_schema,
        fields: Default::default(),
        lets: Default::default(),
        checks: Vec::new(),
        emits: Vec::new(),
        chain: vec![qualified.clone()],
        sources: vec![(file, name.clone())],
        open: t.attrs.open,
        resource: None,
    };
    let kind = if t.is_schema { "schema" } else { "template" };
    let mut extending = false;
    // `@open` on an extension of a closed declaration (K0317): the model stays closed.
    let mut opened_closed = false;
    let mut merge = Merge::default();
    let parents: Vec<(&PathRef, bool)> =
        t.base.iter().map(|b| (b, false)).chain(t.mixins.iter().map(|m| (m, true))).collect();
    let first_range = parents.first().map_or(t.name_range, |p| p.0.range);
    match extension_graph(db, project, file, &name) {
        _ if parents.is_empty() => {}
        Extension::Cycle(i) => {
            let (range, mixin) = parents.get(i).map_or((first_range, false), |(p, m)| (p.range, *m));
            let (how, what) = if mixin { ("composes", "mixin") } else { ("extends", "extension") };
            diags.push(
                Diagnostic::error(Code::CYCLIC_DEFINITION, format!("{kind} `{name}` {how} itself"))
                    .with_primary(span(range), format!("this {what} leads back to the {kind}")),
            );
        }
        Extension::TooDeep => {
            diags.push(
                Diagnostic::error(
                    Code::EXTENSION_TOO_DEEP,
                    format!("{kind} `{name}` extends a chain of more than {MAX_EXTENSION_DEPTH} {kind}s"),
                )
                .with_primary(span(first_range), "the chain from here is too long")
                .with_help("merge some of the intermediate templates"),
            );
        }
        Extension::Ends(ancestors) => {
            // A model is built by recursing into its parents' models through salsa, one deep
            // frame per link (about 24 KB in a debug build). Asking for the ancestors' models
            // first, each after the ones it extends, leaves every parent already built when
            // its child recurses into it, so the stack holds two links whatever the order in
            // which the declarations are asked for (a chain of 256 asked for from its end
            // overflowed a test thread's stack). Each of them is read anyway below.
            if ancestors.len() > 1 {
                for (f, n) in ancestors {
                    let _ = template_model(db, project, f, n);
                }
            }
            for (at, mixin) in &parents {
                let (pf, pn) = match resolve_parent(db, project, file, at, t.is_schema, *mixin) {
                    Ok(decl) => decl,
                    Err(d) => {
                        diags.extend(d.map(|d| *d));
                        continue;
                    }
                };
                let Some(pm) = template_model(db, project, pf, pn) else { continue };
                if !mixin {
                    model.chain.extend(pm.chain.iter().cloned());
                    model.resource = pm.resource.clone();
                }
                if t.attrs.open && !pm.open {
                    // A record of this schema is a value of `pm`: opening it would let fields
                    // `pm` rejects through wherever `pm` is expected (K0317); it stays closed.
                    model.open = false;
                    opened_closed = true;
                    diags.push(
                        Diagnostic::error(
                            Code::OPENED_SCHEMA,
                            format!("`@open` on {kind} `{name}` would open `{}`, which is closed", pm.qualified),
                        )
                        .with_primary(span(t.name_range), "marked `@open`")
                        .with_secondary(pm.name_span, "closed here")
                        .with_help("declare the fields it needs instead, or extend an `@open` schema"),
                    );
                }
                model.open |= pm.open && !opened_closed;
                merge.source(db, project, &mut model, &pm, span(at.range), &mut diags);
                extending = true;
            }
        }
    }
    if let Some((resource, at)) = &t.attrs.resource {
        let lock = LockModel { span: span(*at), template: qualified.clone(), path: path.clone() };
        resource_fields(&mut model, resource, lock, &name, extending);
    }
    let base_field_names: Vec<Name> = model.fields.keys().cloned().collect();
    // Names declared in this body, for duplicate detection.
    let mut own: NameMap<TextRange> = Default::default();
    for member in &t.members {
        let (mname, mrange) = match member {
            MemberHir::Field(f) => (f.name.clone(), f.name_range),
            MemberHir::Let(l) => (l.name.clone(), l.name_range),
            _ => (Name::from(""), TextRange::default()),
        };
        if !mname.is_empty() {
            if let Some(first) = own.get(&mname) {
                diags.push(
                    Diagnostic::error(Code::DUPLICATE_DEFINITION, format!("`{mname}` is declared more than once"))
                        .with_primary(span(mrange), "declared again here")
                        .with_secondary(span(*first), "first declared here"),
                );
                continue;
            }
            own.insert(mname.clone(), mrange);
            if extending && !model.fields.contains_key(&mname) && !model.lets.contains_key(&mname) {
                diags.extend(shadowed_base_read(db, project, &model, &mname, span(mrange), "declared here"));
            }
        }
        match member {
            MemberHir::Field(f) => {
                let new_ty = f.ty.as_ref().map(|te| (types.lower(te), span(te.range())));
                let lock =
                    f.locked.map(|r| LockModel { span: span(r), template: qualified.clone(), path: path.clone() });
                let default = f.default.as_ref().map(|e| DefaultModel {
                    expr: e.clone(),
                    file,
                    span: span(e.range),
                    extending,
                    template: qualified.clone(),
                    owner: name.clone(),
                });
                if f.locked.is_some() && f.default.is_none() {
                    diags.push(
                        Diagnostic::error(
                            Code::LOCKED_WITHOUT_VALUE,
                            format!("locked field `{}` has no value", f.name),
                        )
                        .with_primary(span(f.range), "`locked` needs `= value`")
                        .with_help(format!("write `locked {} = <value>`", f.name)),
                    );
                }
                if let Some((_, at)) = t.attrs.resource.as_ref().filter(|_| RESOURCE_FIELDS.contains(&&*f.name)) {
                    diags.push(
                        Diagnostic::error(
                            Code::DUPLICATE_DEFINITION,
                            format!("`{}` is declared by the schema's `@resource` attribute", f.name),
                        )
                        .with_primary(span(f.name_range), "declared again here")
                        .with_secondary(span(*at), "`@resource` gives the schema a locked `apiVersion` and `kind`")
                        .with_help(format!("remove `{}`; `@resource` fills it", f.name)),
                    );
                    continue;
                }
                if model.lets.contains_key(&f.name) {
                    diags.push(
                        Diagnostic::error(
                            Code::DUPLICATE_DEFINITION,
                            format!("`{}` is a `let` binding of the base template", f.name),
                        )
                        .with_primary(span(f.name_range), "declared as a field here")
                        .with_secondary(
                            model.lets.get(&f.name).map(|l| l.span).unwrap_or(span(f.name_range)),
                            "`let` here",
                        ),
                    );
                    continue;
                }
                match model.fields.get(&f.name).cloned() {
                    Some(base) if extending => {
                        if let Some(l) = &base.locked {
                            diags.push(
                                Diagnostic::error(
                                    Code::LOCKED_OVERRIDE,
                                    format!("`{}` is locked by template `{}`", f.name, l.template),
                                )
                                .with_primary(span(f.range), "override not permitted here")
                                .with_secondary(l.span, "locked here")
                                .with_help(format!(
                                    "ask the owners of {}, or extend a template that leaves `{}` open",
                                    l.path, f.name
                                )),
                            );
                            continue;
                        }
                        let mut merged = (*base).clone();
                        if let Some((ty, ty_span)) = new_ty {
                            match check_narrowing(&base.ty, &ty) {
                                Ok(()) => {
                                    merged.ty = Arc::new(ty);
                                    merged.ty_span = Some(ty_span);
                                }
                                Err(w) => {
                                    let mut d = Diagnostic::error(
                                        w.code,
                                        format!("`{}` cannot be widened: {}", f.name, w.detail),
                                    )
                                    .with_primary(ty_span, format!("`{ty}` is not a narrowing"));
                                    d = d.with_secondary(
                                        base.ty_span.unwrap_or(base.decl_span),
                                        format!("declared here as `{}`", base.ty),
                                    );
                                    if w.code == Code::WIDENED_PATTERN {
                                        d = d.with_help(
                                            "keep the base pattern and tighten it with a `check` such as `check matches(x, \"...\")`",
                                        );
                                    } else {
                                        d = d.with_help("an extending template may only narrow a field's type");
                                    }
                                    diags.push(d);
                                }
                            }
                        }
                        if default.is_some() {
                            merged.default = default;
                        }
                        if lock.is_some() {
                            merged.locked = lock;
                        }
                        model.fields.insert(f.name.clone(), Arc::new(merged));
                    }
                    _ => {
                        if extending && f.ty.is_none() {
                            let mut d = Diagnostic::error(
                                Code::UNKNOWN_FIELD,
                                format!(
                                    "template `{}` has no field `{}`",
                                    model.chain.get(1).cloned().unwrap_or_default(),
                                    f.name
                                ),
                            )
                            .with_primary(span(f.name_range), "a new default for a field that does not exist");
                            if let Some(best) = suggest::best(&f.name, base_field_names.iter().map(|n| &**n)) {
                                d = d.with_help(format!("did you mean `{best}`?"));
                            }
                            diags.push(d.with_help("a new field needs a type: `name: type = default`"));
                            continue;
                        }
                        // A new field one edit away from a base field is most likely a misspelt
                        // redeclaration, which would silently add a field beside the base one.
                        let near = base_field_names.iter().find(|b| extending && suggest::one_edit_apart(b, &f.name));
                        if let Some(base) = near.and_then(|b| model.fields.get(b)) {
                            diags.push(
                                Diagnostic::warning(
                                    Code::PROBABLE_TYPO_FIELD,
                                    format!("new field `{}` is one edit away from base field `{}`", f.name, base.name),
                                )
                                .with_primary(span(f.name_range), "declares a new field")
                                .with_secondary(base.decl_span, format!("`{}` declared here", base.name))
                                .with_help(format!(
                                    "did you mean `{}`? Otherwise choose a more distinct name",
                                    base.name
                                )),
                            );
                        }
                        let (ty, ty_span) = match new_ty {
                            Some((ty, s)) => (ty, Some(s)),
                            None => (Ty::Any, None),
                        };
                        model.fields.insert(
                            f.name.clone(),
                            Arc::new(FieldModel {
                                name: f.name.clone(),
                                ty: Arc::new(ty),
                                ty_span,
                                decl_span: span(f.name_range),
                                doc: f.doc.clone(),
                                default,
                                locked: lock,
                            }),
                        );
                    }
                }
            }
            MemberHir::Let(l) => {
                if let Some(prev) =
                    model.lets.get(&l.name).map(|p| p.span).or_else(|| model.fields.get(&l.name).map(|f| f.decl_span))
                {
                    diags.push(
                        Diagnostic::error(Code::DUPLICATE_DEFINITION, format!("`{}` is already declared", l.name))
                            .with_primary(span(l.name_range), "declared again here")
                            .with_secondary(prev, "first declared here"),
                    );
                    continue;
                }
                let ty = l.ty.as_ref().map(|te| Arc::new(types.lower(te)));
                model.lets.insert(
                    l.name.clone(),
                    Arc::new(LetModel {
                        name: l.name.clone(),
                        expr: l.value.clone(),
                        ty,
                        file,
                        owner: name.clone(),
                        span: span(l.name_range),
                    }),
                );
            }
            MemberHir::Check(c) => model.checks.push(Arc::new(CheckModel {
                cond: c.cond.clone(),
                message: c.message.clone(),
                file,
                owner: name.clone(),
                span: span(c.range),
            })),
            MemberHir::Emit(e) => model.emits.push(Arc::new(EmitModel {
                value: e.value.clone(),
                file,
                owner: name.clone(),
                span: span(e.range),
            })),
        }
    }
    // Two sources with different defaults for one field are a conflict unless this body sets
    // the default itself, which says which one is meant.
    for (field, d) in merge.pending_defaults {
        let own_default = model
            .fields
            .get(&field)
            .and_then(|f| f.default.as_ref())
            .is_some_and(|d| d.owner == name && d.file == file);
        if !own_default {
            diags.push(d);
        }
    }
    diags.extend(types.diagnostics);
    Arc::new(TemplateResult { model: Some(Arc::new(model)), diagnostics: diags })
}

/// The fields `@resource` declares, in this order, first in the schema.
const RESOURCE_FIELDS: [&str; 2] = ["apiVersion", "kind"];

/// Gives a `@resource` schema its two locked fields, `apiVersion` and `kind`, typed as their
/// literal values and placed first (so records and emitted objects start with them). The lock
/// and the value point at the attribute: overriding them is K0301 like any lock.
fn resource_fields(model: &mut TemplateModel, resource: &ResourceAttr, lock: LockModel, owner: &Name, extending: bool) {
    model.resource = Some(resource.clone());
    let at = lock.span;
    for (i, (field, value)) in RESOURCE_FIELDS.iter().zip([&resource.api_version, &resource.kind]).enumerate() {
        let fname = Name::from(*field);
        let expr = Arc::new(Expr { kind: ExprKind::Str(value.clone()), range: at.range });
        let fm = FieldModel {
            name: fname.clone(),
            ty: Arc::new(Ty::Union(vec![Lit::Str(value.clone())])),
            ty_span: Some(at),
            decl_span: at,
            doc: Some(format!("Filled by `@resource`: always \"{value}\".")),
            default: Some(DefaultModel {
                expr,
                file: model.file,
                span: at,
                extending,
                template: model.qualified.clone(),
                owner: owner.clone(),
            }),
            locked: Some(lock.clone()),
        };
        model.fields.shift_remove(&fname);
        model.fields.shift_insert(i.min(model.fields.len()), fname, Arc::new(fm));
    }
}

/// Merges the models of a declaration's base and mixins, in order, into its model: the union of
/// their fields, `let`s, checks and emits, each member keeping its `owner` (so its names resolve
/// where it is written). A member two sources declare must be declared alike (K0315), a lock of
/// any source stays (K0301 for a source that sets the locked value), and no source may bring a
/// member named like something another source reads from its module (K0312).
#[derive(Default)]
struct Merge {
    /// Which source (qualified name) brought each member, for messages.
    from: rustc_hash::FxHashMap<Name, Name>,
    /// Fields two sources give different defaults, with the diagnostic to report unless the
    /// composing body sets the default itself.
    pending_defaults: NameMap<Diagnostic>,
}

impl Merge {
    fn source(
        &mut self,
        db: &dyn Db,
        project: Project,
        model: &mut TemplateModel,
        src: &TemplateModel,
        at: Span,
        diags: &mut Vec<Diagnostic>,
    ) {
        let this = src.qualified.clone();
        // Names a source of `src` reads from its module that the merged model already has as a
        // member: that source keeps reading its module, whatever the member says.
        let mut reported: Vec<Name> = Vec::new();
        for (sf, sn) in &src.sources {
            if model.sources.contains(&(*sf, sn.clone())) {
                continue;
            }
            for (read, range) in crate::scope::outer_reads(db, project, *sf, sn.clone()).iter() {
                let member = model.fields.contains_key(read) || model.lets.contains_key(read);
                if member && !src.fields.contains_key(read) && !src.lets.contains_key(read) && !reported.contains(read)
                {
                    reported.push(read.clone());
                    let reader = format!("{}.{sn}", project_index(db, project).module_display(*sf));
                    let owner = self.from.get(read).cloned().unwrap_or_default();
                    let decl =
                        model.fields.get(read).map(|f| f.decl_span).or_else(|| model.lets.get(read).map(|l| l.span));
                    let mut d = Diagnostic::error(
                        Code::SHADOWS_BASE_NAME,
                        format!("`{read}` is already a name that template `{reader}` reads"),
                    )
                    .with_primary(at, format!("`{this}` composed here"))
                    .with_secondary(Span::new(sf.id(db), *range), format!("`{reader}` reads `{read}` here"));
                    if let Some(decl) = decl {
                        d = d.with_secondary(decl, format!("`{owner}` declares `{read}` here"));
                    }
                    diags.push(d.with_help(format!(
                        "names in a template resolve where they are written, so `{reader}` keeps reading its own `{read}`; rename one of them"
                    )));
                }
            }
        }
        for (fname, f) in &src.fields {
            if let Some(l) = model.lets.get(fname) {
                let other = self.from.get(fname).cloned().unwrap_or_default();
                diags.push(
                    conflict(
                        fname,
                        format!("a `let` of `{other}` and a field of `{this}`"),
                        at,
                        &this,
                        l.span,
                        f.decl_span,
                    )
                    .with_help("rename it in one of the sources; each source's body keeps reading its own"),
                );
                continue;
            }
            let Some(e) = model.fields.get(fname).cloned() else {
                if let Some(d) = shadowed_base_read(db, project, model, fname, at, &format!("`{this}` composed here")) {
                    diags.push(d.with_secondary(f.decl_span, format!("`{this}` declares `{fname}` here")));
                }
                self.from.insert(fname.clone(), this.clone());
                model.fields.insert(fname.clone(), f.clone());
                continue;
            };
            if *e == **f {
                continue;
            }
            let other = self.from.get(fname).cloned().unwrap_or_default();
            if e.ty != f.ty {
                diags.push(
                    conflict(
                        fname,
                        format!("declared by `{other}` as `{}` and by `{this}` as `{}`", e.ty, f.ty),
                        at,
                        &this,
                        e.ty_span.unwrap_or(e.decl_span),
                        f.ty_span.unwrap_or(f.decl_span),
                    )
                    .with_help(
                        "declare a composed field with the same type in every source, or rename it in one of them",
                    ),
                );
                continue;
            }
            let same_default = |a: &Option<DefaultModel>, b: &Option<DefaultModel>| match (a, b) {
                (Some(a), Some(b)) => a.span == b.span || same_constant(&a.expr, &b.expr, 0),
                (None, None) => true,
                _ => false,
            };
            let mut merged = (*e).clone();
            match (&e.locked, &f.locked) {
                // Locked by the same declaration (a diamond) or to the same constant.
                (Some(a), Some(b)) if a.span == b.span || same_default(&e.default, &f.default) => {}
                // An earlier source locked it: a later one may only require it (no value).
                (Some(l), _) => {
                    if f.default.is_some() && !same_default(&e.default, &f.default) {
                        let site = f.default.as_ref().map_or(f.decl_span, |d| d.span);
                        diags.push(
                            Diagnostic::error(
                                Code::LOCKED_OVERRIDE,
                                format!("`{fname}` is locked by template `{}`", l.template),
                            )
                            .with_primary(at, format!("`{this}` composed here"))
                            .with_secondary(site, format!("`{this}` sets `{fname}` here"))
                            .with_secondary(l.span, "locked here")
                            .with_help(format!(
                                "a lock of any composed template stays; remove the value from `{this}` or ask the owners of {}",
                                l.path
                            )),
                        );
                    }
                    continue;
                }
                // A later source locks a field an earlier one only requires: the lock narrows.
                (None, Some(l)) => {
                    if e.default.is_some() {
                        diags.push(
                            conflict(
                                fname,
                                format!("locked by `{this}` but given a default by `{other}`"),
                                at,
                                &this,
                                e.default.as_ref().map_or(e.decl_span, |d| d.span),
                                l.span,
                            )
                            .with_help("lock the field in one source only, and drop the default from the others"),
                        );
                        continue;
                    }
                    merged = (**f).clone();
                }
                (None, None) => match (&e.default, &f.default) {
                    (Some(a), Some(b)) if !same_default(&e.default, &f.default) => {
                        self.pending_defaults.entry(fname.clone()).or_insert_with(|| {
                            conflict(
                                fname,
                                format!("given different defaults by `{other}` and `{this}`"),
                                at,
                                &this,
                                a.span,
                                b.span,
                            )
                            .with_help(format!(
                                "set the default in this body (`{fname} = ...`) to say which one is meant"
                            ))
                        });
                    }
                    (None, Some(_)) => merged.default = f.default.clone(),
                    _ => {}
                },
            }
            model.fields.insert(fname.clone(), Arc::new(merged));
        }
        for (lname, l) in &src.lets {
            let prev = model
                .lets
                .get(lname)
                .map(|p| (p.span, "`let`"))
                .or_else(|| model.fields.get(lname).map(|f| (f.decl_span, "field")));
            match prev {
                Some((span, _)) if span == l.span => {}
                Some((span, what)) => {
                    let other = self.from.get(lname).cloned().unwrap_or_default();
                    diags.push(
                        conflict(
                            lname,
                            format!("a {what} of `{other}` and a `let` of `{this}`"),
                            at,
                            &this,
                            span,
                            l.span,
                        )
                        .with_help("rename it in one of the sources; each source's body keeps reading its own"),
                    );
                }
                None => {
                    if let Some(d) =
                        shadowed_base_read(db, project, model, lname, at, &format!("`{this}` composed here"))
                    {
                        diags.push(d.with_secondary(l.span, format!("`{this}` declares `{lname}` here")));
                    }
                    self.from.insert(lname.clone(), this.clone());
                    model.lets.insert(lname.clone(), l.clone());
                }
            }
        }
        for c in &src.checks {
            if !model.checks.iter().any(|x| x.span == c.span) {
                model.checks.push(c.clone());
            }
        }
        for e in &src.emits {
            if !model.emits.iter().any(|x| x.span == e.span) {
                model.emits.push(e.clone());
            }
        }
        for decl in &src.sources {
            if !model.sources.contains(decl) {
                model.sources.push(decl.clone());
            }
        }
    }
}

/// Whether two expressions are the same constant as written (literals, lists and objects of
/// them). Names are never the same: in two modules one name can mean two things.
fn same_constant(a: &Expr, b: &Expr, depth: u32) -> bool {
    use crate::hir::{ExprKind as K, KeySeg, ObjEntry};
    if depth > 32 {
        return false;
    }
    match (&a.kind, &b.kind) {
        (K::Null, K::Null) => true,
        (K::Bool(x), K::Bool(y)) => x == y,
        (K::Int(x), K::Int(y)) => x == y,
        (K::Float(x), K::Float(y)) => x == y,
        (K::Str(x), K::Str(y)) => x == y,
        (K::Unary(op, x), K::Unary(op2, y)) => op == op2 && same_constant(x, y, depth + 1),
        (K::List(xs), K::List(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| same_constant(x, y, depth + 1))
        }
        (K::Object(xs), K::Object(ys)) => {
            xs.len() == ys.len()
                && xs.iter().zip(ys).all(|(x, y)| match (x, y) {
                    (ObjEntry::Field { key: kx, value: vx, .. }, ObjEntry::Field { key: ky, value: vy, .. }) => {
                        kx.len() == ky.len()
                            && kx
                                .iter()
                                .zip(ky)
                                .all(|(a, b)| matches!((a, b), (KeySeg::Static(a, _), KeySeg::Static(b, _)) if a == b))
                            && same_constant(vx, vy, depth + 1)
                    }
                    _ => false,
                })
        }
        _ => false,
    }
}

/// K0315 for member `name` that two composed sources declare differently (`how`), labelled at
/// the composition and at both declarations.
fn conflict(name: &Name, how: String, at: Span, this: &Name, first: Span, second: Span) -> Diagnostic {
    Diagnostic::error(Code::CONFLICTING_COMPOSITION, format!("`{name}` is {how}"))
        .with_primary(at, format!("`{this}` composed here"))
        .with_secondary(first, "declared here")
        .with_secondary(second, "and declared differently here")
}

/// K0312: a new field or `let` of an extending template named like something a base template
/// reads from its module. Names resolve where they are written, so the base keeps reading its
/// module's binding; the new member only looks as if it replaced it.
fn shadowed_base_read(
    db: &dyn Db,
    project: Project,
    model: &TemplateModel,
    name: &Name,
    at: Span,
    label: &str,
) -> Option<Diagnostic> {
    for (bf, bn) in model.sources.iter().skip(1) {
        let reads = crate::scope::outer_reads(db, project, *bf, bn.clone());
        if let Some(range) = reads.get(name) {
            let index = project_index(db, project);
            let base = format!("{}.{bn}", index.module_display(*bf));
            return Some(
                Diagnostic::error(
                    Code::SHADOWS_BASE_NAME,
                    format!("`{name}` is already a name that template `{base}` reads"),
                )
                .with_primary(at, label)
                .with_secondary(Span::new(bf.id(db), *range), format!("`{base}` reads `{name}` here"))
                .with_help(format!(
                    "names in a template resolve where they are written, so `{base}` keeps reading its own `{name}`; give this member another name"
                )),
            );
        }
    }
    None
}

/// Annotated types of a file's top-level `let`s, and the problems lowering them.
pub type LetTypes = (NameMap<Arc<Ty>>, Vec<Diagnostic>);

/// Types of top-level `let`s with annotations, lowered once per file.
#[salsa::tracked(returns(clone))]
pub fn top_let_types(db: &dyn Db, project: Project, file: SourceFile) -> Arc<LetTypes> {
    let hir = file_hir(db, file);
    let mut types = TypeLowering { db, project, file, diagnostics: Vec::new(), current: None };
    let mut out: NameMap<Arc<Ty>> = Default::default();
    for (name, l) in &hir.lets {
        if let Some(te) = &l.ty {
            out.insert(name.clone(), Arc::new(types.lower(te)));
        }
    }
    Arc::new((out, types.diagnostics))
}

/// The key fields of every `[T](key(...))` a declaration of `file` writes must be fields of the
/// item schema `T` (K0202, with did-you-mean; an `@open` schema accepts any), and `T` must be a
/// record type (K0201). Checked here rather than while lowering the type, where the item
/// schema's model may not exist yet (a schema listing itself).
pub fn list_key_diagnostics(db: &dyn Db, project: Project, file: SourceFile, name: &Name) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let Some(model) = template_model(db, project, file, name.clone()) else { return out };
    let fid = file.id(db);
    for field in model.fields.values() {
        // Each type is checked where it is written, once.
        let Some(at) = field.ty_span.filter(|s| s.file == fid) else { continue };
        if !declared_in(db, file, name, &field.name) {
            continue;
        }
        key_fields(db, project, &field.ty, at, &mut out, 0);
    }
    out
}

/// Whether `file.name`'s own body declares field `field` with a type.
fn declared_in(db: &dyn Db, file: SourceFile, name: &Name, field: &Name) -> bool {
    let hir = file_hir(db, file);
    hir.templates.get(name).is_some_and(|t| {
        t.members.iter().any(|m| matches!(m, MemberHir::Field(f) if f.name == *field && f.ty.is_some()))
    })
}

fn key_fields(db: &dyn Db, project: Project, ty: &Ty, at: Span, out: &mut Vec<Diagnostic>, depth: u32) {
    if depth > 32 {
        return;
    }
    match ty {
        Ty::Optional(inner) => key_fields(db, project, inner, at, out, depth + 1),
        Ty::Map(value, ..) => key_fields(db, project, value, at, out, depth + 1),
        Ty::OneOf(members) => members.iter().for_each(|m| key_fields(db, project, m, at, out, depth + 1)),
        Ty::List(item, list) => {
            if let crate::ty::ListIdentity::Key(fields) = &list.identity {
                let item_ty = match &**item {
                    Ty::Optional(inner) => &**inner,
                    other => other,
                };
                match item_ty {
                    Ty::Schema(sref) => {
                        let Some(item_model) = template_model(db, project, sref.file, sref.name.clone()) else {
                            return;
                        };
                        for f in fields.iter().filter(|f| !item_model.open && !item_model.fields.contains_key(*f)) {
                            let mut d = Diagnostic::error(
                                Code::UNKNOWN_FIELD,
                                format!("`key({f})`: `{}` has no field `{f}`", item_model.qualified),
                            )
                            .with_primary(at, "key field not declared by the item schema")
                            .with_secondary(item_model.name_span, "schema declared here");
                            if let Some(best) = suggest::best(f, item_model.fields.keys().map(|k| &**k)) {
                                d = d.with_help(format!("did you mean `{best}`?"));
                            }
                            out.push(d);
                        }
                    }
                    Ty::Any | Ty::Error => {}
                    other => out.push(
                        Diagnostic::error(
                            Code::TYPE_MISMATCH,
                            format!("`{}` identifies records by fields, but `{other}` has none", list.identity),
                        )
                        .with_primary(at, "key on a list of non-records")
                        .with_help("use `unique` for lists of plain values"),
                    ),
                }
            }
            key_fields(db, project, item, at, out, depth + 1);
        }
        _ => {}
    }
}
