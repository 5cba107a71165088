//! Template and schema models: the merged view of a template after extension (fields with types,
//! defaults, locks and the layer that declared each), and the narrowing rules that guard it.

use std::sync::Arc;

use indexmap::IndexMap;
use kdep_diag::{Code, Diagnostic, Span, TextRange};

use crate::db::{Db, Project, SourceFile};
use crate::hir::{file_hir, Expr, MemberHir, Name};
use crate::index::{item_index, project_index, resolve_path, ItemKind, Resolved};
use crate::suggest;
use crate::ty::{check_narrowing, Ty, TypeLowering};

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
    pub fields: IndexMap<Name, Arc<FieldModel>>,
    pub lets: IndexMap<Name, Arc<LetModel>>,
    pub checks: Vec<Arc<CheckModel>>,
    pub emits: Vec<Arc<EmitModel>>,
    /// Qualified names from this template down to the base-most one.
    pub chain: Vec<Name>,
    /// The declarations of [`TemplateModel::chain`], in the same order.
    pub chain_decls: Vec<(SourceFile, Name)>,
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
    let span = Span::new(from.id(db), range);
    let display = path.iter().map(|s| &**s).collect::<Vec<_>>().join(".");
    match resolve_path(db, project, from, path) {
        Resolved::BrokenImport => Err(None),
        Resolved::Item { file, name, kind: ItemKind::Template } if path.len() <= 2 => Ok((file, name)),
        Resolved::Item { file, name, kind: ItemKind::Schema } if allow_schema && path.len() <= 2 => Ok((file, name)),
        Resolved::Item { kind, .. } => Err(Some(Box::new(
            Diagnostic::error(Code::NOT_A_TEMPLATE, format!("`{display}` is {}, not a template", kind.describe()))
                .with_primary(span, "expected a template"),
        ))),
        Resolved::Module(_) => Err(Some(Box::new(
            Diagnostic::error(Code::NOT_A_TEMPLATE, format!("`{display}` is a module, not a template"))
                .with_primary(span, "expected a template")
                .with_help(format!("name a template inside it: `{display}.<Template>`")),
        ))),
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
            .with_primary(span, "not found");
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
            let mut d = Diagnostic::error(Code::UNRESOLVED_NAME, format!("unresolved name `{display}`"))
                .with_primary(span, "not defined or imported");
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

/// Where following `template X = Base` headers from a template leads.
enum Extension {
    /// To a template that extends nothing (or to something that is not a template).
    Ends,
    /// Back to a template already seen: the chain is a cycle.
    Cycle,
    /// On for more than [`MAX_EXTENSION_DEPTH`] links.
    TooDeep,
}

fn extension_chain(db: &dyn Db, project: Project, file: SourceFile, name: &Name) -> Extension {
    let mut cur = (file, name.clone());
    let mut seen = rustc_hash::FxHashSet::default();
    seen.insert(cur.clone());
    for _ in 0..=MAX_EXTENSION_DEPTH {
        let items = item_index(db, cur.0);
        let Some(target) = items.items.get(&cur.1).and_then(|h| h.target.clone()) else { return Extension::Ends };
        match resolve_path(db, project, cur.0, &target) {
            Resolved::Item { file: f, name: n, kind: ItemKind::Template } => {
                cur = (f, n);
                if !seen.insert(cur.clone()) {
                    return Extension::Cycle;
                }
            }
            _ => return Extension::Ends,
        }
    }
    Extension::TooDeep
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
    let mut types = TypeLowering { db, project, file, diagnostics: Vec::new() };

    let mut model = TemplateModel {
        qualified: qualified.clone(),
        file,
        name_span: span(t.name_range),
        is_schema: t.is_schema,
        fields: IndexMap::new(),
        lets: IndexMap::new(),
        checks: Vec::new(),
        emits: Vec::new(),
        chain: vec![qualified.clone()],
        chain_decls: vec![(file, name.clone())],
    };
    let mut extending = false;
    if let Some(base) = &t.base {
        match resolve_template(db, project, file, &base.segments, base.range, false) {
            Ok((bf, bn)) => {
                let chain = extension_chain(db, project, file, &name);
                if let Extension::Cycle = chain {
                    diags.push(
                        Diagnostic::error(Code::CYCLIC_DEFINITION, format!("template `{name}` extends itself"))
                            .with_primary(span(base.range), "this extension leads back to the template"),
                    );
                } else if let Extension::TooDeep = chain {
                    diags.push(
                        Diagnostic::error(
                            Code::EXTENSION_TOO_DEEP,
                            format!("template `{name}` extends a chain of more than {MAX_EXTENSION_DEPTH} templates"),
                        )
                        .with_primary(span(base.range), "the chain from here is too long")
                        .with_help("merge some of the intermediate templates"),
                    );
                } else if let Some(bm) = template_model(db, project, bf, bn) {
                    extending = true;
                    model.fields = bm.fields.clone();
                    model.lets = bm.lets.clone();
                    model.checks = bm.checks.clone();
                    model.emits = bm.emits.clone();
                    model.chain.extend(bm.chain.iter().cloned());
                    model.chain_decls.extend(bm.chain_decls.iter().cloned());
                }
            }
            Err(d) => diags.extend(d.map(|d| *d)),
        }
    }
    let base_field_names: Vec<Name> = model.fields.keys().cloned().collect();
    // Names declared in this body, for duplicate detection.
    let mut own: IndexMap<Name, TextRange> = IndexMap::new();
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
                diags.extend(shadowed_base_read(db, project, &model, &mname, span(mrange)));
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
    diags.extend(types.diagnostics);
    Arc::new(TemplateResult { model: Some(Arc::new(model)), diagnostics: diags })
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
) -> Option<Diagnostic> {
    for (bf, bn) in model.chain_decls.iter().skip(1) {
        let reads = crate::scope::outer_reads(db, project, *bf, bn.clone());
        if let Some(range) = reads.get(name) {
            let index = project_index(db, project);
            let base = format!("{}.{bn}", index.module_display(*bf));
            return Some(
                Diagnostic::error(
                    Code::SHADOWS_BASE_NAME,
                    format!("`{name}` is already a name that template `{base}` reads"),
                )
                .with_primary(at, "declared here")
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
pub type LetTypes = (IndexMap<Name, Arc<Ty>>, Vec<Diagnostic>);

/// Types of top-level `let`s with annotations, lowered once per file.
#[salsa::tracked(returns(clone))]
pub fn top_let_types(db: &dyn Db, project: Project, file: SourceFile) -> Arc<LetTypes> {
    let hir = file_hir(db, file);
    let mut types = TypeLowering { db, project, file, diagnostics: Vec::new() };
    let mut out = IndexMap::new();
    for (name, l) in &hir.lets {
        if let Some(te) = &l.ty {
            out.insert(name.clone(), Arc::new(types.lower(te)));
        }
    }
    Arc::new((out, types.diagnostics))
}
