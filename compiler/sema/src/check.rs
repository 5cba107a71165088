//! Static checks of instances and environments: the permission rules an `app` and its `in <env>`
//! blocks must obey, required fields, declared environments, and unresolved names in bodies.

use std::sync::Arc;

use indexmap::IndexMap;
use kdep_diag::{Code, Diagnostic, Span, TextRange};
use rustc_hash::FxHashSet;

use crate::db::{Db, Project, SourceFile};
use crate::hir::{file_hir, Clause, Expr, ExprKind, InterpPart, KeySeg, Name, ObjEntry, SetHir};
use crate::index::{file_imports, item_index, project_index};
use crate::model::{resolve_template, template_model, template_result, TemplateModel};
use crate::suggest;

/// One declared environment (names only; values are evaluated by `kdep-eval`).
#[derive(Clone, Debug, PartialEq)]
pub struct EnvDecl {
    pub name: Name,
    pub file: SourceFile,
    pub span: Span,
}

/// Environments are global to the root package: every `environment` in any of its modules.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct EnvIndex {
    pub envs: IndexMap<Name, EnvDecl>,
    pub diagnostics: Vec<Diagnostic>,
}

#[salsa::tracked(returns(clone))]
pub fn environment_index(db: &dyn Db, project: Project) -> Arc<EnvIndex> {
    let index = project_index(db, project);
    let mut out = EnvIndex::default();
    for file in index.root_files() {
        let items = item_index(db, file);
        if !items.items.values().any(|h| h.kind == crate::index::ItemKind::Environment) {
            continue;
        }
        let hir = file_hir(db, file);
        for (name, env) in &hir.environments {
            let span = Span::new(file.id(db), env.name_range);
            if let Some(first) = out.envs.get(name) {
                out.diagnostics.push(
                    Diagnostic::error(Code::DUPLICATE_ENVIRONMENT, format!("environment `{name}` is declared twice"))
                        .with_primary(span, "declared again here")
                        .with_secondary(first.span, "first declared here"),
                );
                continue;
            }
            out.envs.insert(name.clone(), EnvDecl { name: name.clone(), file, span });
        }
    }
    Arc::new(out)
}

/// The template an app instantiates, resolved, or the diagnostic explaining why not.
#[salsa::tracked(returns(clone))]
pub fn app_template(
    db: &dyn Db,
    project: Project,
    file: SourceFile,
    app: Name,
) -> Result<Arc<TemplateModel>, Option<Box<Diagnostic>>> {
    let hir = file_hir(db, file);
    let Some(a) = hir.apps.get(&app) else { return Err(None) };
    match resolve_template(db, project, file, &a.template.segments, a.template.range, false) {
        Ok((tf, tn)) => template_model(db, project, tf, tn).ok_or(None),
        Err(d) => Err(d),
    }
}

/// Permission and shape checks of one app; see the README for the rules.
#[salsa::tracked(returns(clone))]
pub fn app_diagnostics(db: &dyn Db, project: Project, file: SourceFile, app: Name) -> Arc<Vec<Diagnostic>> {
    let hir = file_hir(db, file);
    let Some(a) = hir.apps.get(&app).cloned() else { return Arc::new(Vec::new()) };
    let fid = file.id(db);
    let span = |r: TextRange| Span::new(fid, r);
    let mut out = Vec::new();
    let model = match app_template(db, project, file, app.clone()) {
        Ok(m) => m,
        Err(d) => {
            out.extend(d.map(|d| *d));
            return Arc::new(out);
        }
    };
    if model.is_schema {
        out.push(
            Diagnostic::error(Code::NOT_A_TEMPLATE, format!("`{}` is a schema, not a template", model.qualified))
                .with_primary(span(a.template.range), "an app must instantiate a template")
                .with_secondary(model.name_span, "schema declared here"),
        );
        return Arc::new(out);
    }
    check_sets(&model, &a.sets, span, &mut out);
    let envs = environment_index(db, project);
    for block in &a.envs {
        if !envs.envs.contains_key(&block.env) {
            let mut d = Diagnostic::error(Code::UNKNOWN_ENVIRONMENT, format!("unknown environment `{}`", block.env))
                .with_primary(span(block.env_range), "not declared");
            if let Some(best) = suggest::best(&block.env, envs.envs.keys().map(|k| &**k)) {
                d = d.with_help(format!("did you mean `{best}`?"));
            } else if envs.envs.is_empty() {
                d = d.with_help("declare it: `environment NAME { context = \"...\", namespace = \"...\" }`");
            }
            out.push(d);
        }
        check_sets(&model, &block.sets, span, &mut out);
    }
    let mut dup_blocks: IndexMap<&Name, TextRange> = IndexMap::new();
    for block in &a.envs {
        if let Some(first) = dup_blocks.get(&block.env) {
            out.push(
                Diagnostic::error(Code::DUPLICATE_OVERRIDE, format!("`in {}` appears twice in app `{app}`", block.env))
                    .with_primary(span(block.env_range), "second block")
                    .with_secondary(span(*first), "first block")
                    .with_help("merge the two blocks"),
            );
        } else {
            dup_blocks.insert(&block.env, block.env_range);
        }
    }
    // Required fields must be set in the app body itself (an `in` block alone would leave the
    // field unset in every other environment and in an environment-less build).
    let set_here: FxHashSet<&str> = a.sets.iter().filter_map(|s| s.key.first().map(|k| &*k.0)).collect();
    for field in model.fields.values() {
        if field.default.is_none() && !set_here.contains(&*field.name) {
            out.push(
                Diagnostic::error(
                    Code::MISSING_FIELD,
                    format!("app `{app}` does not set required field `{}`", field.name),
                )
                .with_primary(span(a.name_range), format!("`{}` missing", field.name))
                .with_secondary(field.decl_span, format!("required by `{}` here", model.qualified))
                .with_help(format!("add `{} = <{}>` to the app body", field.name, field.ty)),
            );
        }
    }
    Arc::new(out)
}

fn check_sets(model: &TemplateModel, sets: &[SetHir], span: impl Fn(TextRange) -> Span, out: &mut Vec<Diagnostic>) {
    let mut seen: Vec<&SetHir> = Vec::new();
    for set in sets {
        let Some((field_name, field_range)) = set.key.first() else { continue };
        // Same path, or one path a prefix of the other, in one block (`zip` stops at the shorter).
        if let Some(first) = seen.iter().find(|s| s.key.iter().zip(set.key.iter()).all(|(a, b)| a.0 == b.0)) {
            let key = set.key_display();
            out.push(
                Diagnostic::error(Code::DUPLICATE_OVERRIDE, format!("`{key}` is set twice"))
                    .with_primary(span(set.key_range()), "set again here")
                    .with_secondary(span(first.key_range()), "first set here")
                    .with_help("remove one of the assignments"),
            );
            continue;
        }
        seen.push(set);
        match model.fields.get(field_name) {
            Some(field) => {
                if let Some(lock) = &field.locked {
                    out.push(
                        Diagnostic::error(
                            Code::LOCKED_OVERRIDE,
                            format!("`{field_name}` is locked by template `{}`", lock.template),
                        )
                        .with_primary(span(set.range), "override not permitted here")
                        .with_secondary(lock.span, "locked here")
                        .with_help(format!(
                            "ask the owners of {}, or use a template that leaves `{field_name}` open",
                            lock.path
                        )),
                    );
                }
            }
            None => {
                if let Some(l) = model.lets.get(field_name) {
                    out.push(
                        Diagnostic::error(
                            Code::NOT_OVERRIDABLE,
                            format!("`{field_name}` is a `let` of template `{}`, not a field", model.qualified),
                        )
                        .with_primary(span(*field_range), "cannot be set by an instance")
                        .with_secondary(l.span, "computed here"),
                    );
                } else {
                    let mut d = Diagnostic::error(
                        Code::UNKNOWN_FIELD,
                        format!("template `{}` has no field `{field_name}`", model.qualified),
                    )
                    .with_primary(span(*field_range), "unknown field");
                    if let Some(best) = suggest::best(field_name, model.fields.keys().map(|k| &**k)) {
                        d = d.with_help(format!("did you mean `{best}`?"));
                    }
                    out.push(d.with_secondary(model.name_span, "template declared here"));
                }
            }
        }
    }
}

/// What names an expression may see besides its locals.
pub struct Scope<'a> {
    /// Fields and lets of the enclosing template (empty outside templates).
    pub members: &'a dyn Fn(&str) -> bool,
    /// Top-level declarations and import aliases of the module.
    pub module: &'a dyn Fn(&str) -> bool,
    /// Names of the builtin functions (the evaluator's table).
    pub builtins: &'a [&'a str],
}

/// Reports names used but never defined (K0106) and calls of unknown functions (K0215) in
/// every body of a file. `builtins` come from the evaluator's builtin table.
pub fn name_diagnostics(db: &dyn Db, project: Project, file: SourceFile, builtins: &[&str]) -> Vec<Diagnostic> {
    let hir = file_hir(db, file);
    let items = item_index(db, file);
    let imports = file_imports(db, project, file);
    let module = |n: &str| items.items.contains_key(n) || imports.map.contains_key(n);
    let mut walker = NameWalker { file: file.id(db), out: Vec::new(), locals: Vec::new(), used: FxHashSet::default() };
    let no_members = |_: &str| false;
    let top = Scope { members: &no_members, module: &module, builtins };
    for l in hir.lets.values() {
        walker.expr(&l.value, &top);
        if let Some(t) = &l.ty {
            walker.type_expr(t, 0);
        }
    }
    for a in hir.apps.values() {
        walker.path(&a.template.segments);
        for s in a.sets.iter().chain(a.envs.iter().flat_map(|b| b.sets.iter())) {
            walker.expr(&s.value, &top);
        }
    }
    for e in hir.environments.values() {
        for s in &e.sets {
            walker.expr(&s.value, &top);
        }
    }
    for (name, t) in &hir.templates {
        let Some(model) = template_model(db, project, file, name.clone()) else { continue };
        let members = |n: &str| model.fields.contains_key(n) || model.lets.contains_key(n);
        let scope = Scope { members: &members, module: &module, builtins };
        if let Some(base) = &t.base {
            walker.path(&base.segments);
        }
        for m in &t.members {
            match m {
                crate::hir::MemberHir::Field(f) => {
                    if let Some(d) = &f.default {
                        walker.expr(d, &scope)
                    }
                    if let Some(ty) = &f.ty {
                        walker.type_expr(ty, 0);
                    }
                }
                crate::hir::MemberHir::Let(l) => {
                    walker.expr(&l.value, &scope);
                    if let Some(ty) = &l.ty {
                        walker.type_expr(ty, 0);
                    }
                }
                crate::hir::MemberHir::Check(c) => walker.expr(&c.cond, &scope),
                crate::hir::MemberHir::Emit(e) => walker.expr(&e.value, &scope),
            }
        }
    }
    for imp in &hir.imports {
        // An import that does not resolve is already an error (K0101).
        let resolved = imports.map.get(&imp.alias).is_some_and(Option::is_some);
        // An alias that clashes with another declaration (K0103) shares its uses with it, so
        // whether the import is used cannot be told; the clash is the one report.
        if resolved && !imp.clashes && !walker.used.contains(&imp.alias) {
            walker.out.push(
                Diagnostic::warning(Code::UNUSED_IMPORT, format!("unused import `{}`", imp.alias))
                    .with_primary(Span::new(walker.file, imp.range), "never used in this module")
                    .with_help("remove the import"),
            );
        }
    }
    walker.out
}

struct NameWalker {
    file: kdep_diag::FileId,
    out: Vec<Diagnostic>,
    locals: Vec<Name>,
    /// First segments of names and paths used outside local scopes (for unused imports).
    used: FxHashSet<Name>,
}

impl NameWalker {
    fn path(&mut self, segments: &[Name]) {
        if let Some(first) = segments.first() {
            self.used.insert(first.clone());
        }
    }

    fn type_expr(&mut self, t: &kdep_syntax::ast::TypeExpr, depth: u32) {
        use kdep_syntax::ast::TypeExpr;
        if depth > 64 {
            return;
        }
        match t {
            TypeExpr::Named(p) => {
                if let Some(first) = p.segments.first() {
                    self.used.insert(Name::from(first.text.as_str()));
                }
            }
            TypeExpr::Refined { base, .. } => self.type_expr(base, depth + 1),
            TypeExpr::List { item, .. } => self.type_expr(item, depth + 1),
            TypeExpr::Map { key, value, .. } => {
                self.type_expr(key, depth + 1);
                self.type_expr(value, depth + 1);
            }
            TypeExpr::Optional { inner, .. } => self.type_expr(inner, depth + 1),
            TypeExpr::LiteralUnion { .. } | TypeExpr::Error(_) => {}
        }
    }

    fn clause_in<F: FnOnce(&mut Self)>(&mut self, c: &Clause, scope: &Scope<'_>, body: F) {
        self.expr(&c.source, scope);
        let depth = self.locals.len();
        self.locals.push(c.first.clone());
        if let Some(s) = &c.second {
            self.locals.push(s.clone());
        }
        if let Some(cond) = &c.cond {
            self.expr(cond, scope);
        }
        body(self);
        self.locals.truncate(depth);
    }

    fn entries(&mut self, entries: &[ObjEntry], scope: &Scope<'_>) {
        for e in entries {
            match e {
                ObjEntry::Field { key, value, .. } => {
                    for k in key {
                        if let KeySeg::Computed(e) = k {
                            self.expr(e, scope);
                        }
                    }
                    self.expr(value, scope);
                }
                ObjEntry::Comp { key, value, clause, .. } => self.clause_in(clause, scope, |w| {
                    w.expr(key, scope);
                    w.expr(value, scope);
                }),
            }
        }
    }

    fn expr(&mut self, e: &Expr, scope: &Scope<'_>) {
        match &e.kind {
            ExprKind::Name(n) => {
                if !self.locals.contains(n) && !(scope.members)(n) {
                    self.used.insert(n.clone());
                }
                if !self.locals.contains(n) && !(scope.members)(n) && !(scope.module)(n) {
                    self.out.push(
                        Diagnostic::error(Code::UNRESOLVED_NAME, format!("unresolved name `{n}`"))
                            .with_primary(Span::new(self.file, e.range), "not defined in this scope"),
                    );
                }
            }
            ExprKind::Null | ExprKind::Bool(_) | ExprKind::Int(_) | ExprKind::Float(_) | ExprKind::Str(_) => {}
            ExprKind::Error => {}
            ExprKind::Interp(parts) => {
                for p in parts {
                    if let InterpPart::Expr(e) = p {
                        self.expr(e, scope);
                    }
                }
            }
            ExprKind::Field(base, _, _) => self.expr(base, scope),
            ExprKind::Index(a, b) | ExprKind::Binary(_, a, b) => {
                self.expr(a, scope);
                self.expr(b, scope);
            }
            ExprKind::Call(name, range, args) => {
                if !scope.builtins.contains(&&**name) {
                    let mut d = Diagnostic::error(Code::UNKNOWN_FUNCTION, format!("unknown function `{name}`"))
                        .with_primary(Span::new(self.file, *range), "no such builtin");
                    if let Some(best) = suggest::best(name, scope.builtins.iter().copied()) {
                        d = d.with_help(format!("did you mean `{best}`?"));
                    }
                    self.out.push(d);
                }
                for a in args {
                    self.expr(a, scope);
                }
            }
            ExprKind::Unary(_, a) => self.expr(a, scope),
            ExprKind::If(a, b, c) => {
                self.expr(a, scope);
                self.expr(b, scope);
                self.expr(c, scope);
            }
            ExprKind::List(items) => {
                for i in items {
                    self.expr(i, scope);
                }
            }
            ExprKind::ListComp(item, clause) => self.clause_in(clause, scope, |w| w.expr(item, scope)),
            ExprKind::Object(entries) => self.entries(entries, scope),
            ExprKind::Instantiate(path, entries) => {
                self.path(&path.segments);
                self.entries(entries, scope)
            }
        }
    }
}

/// Diagnostics of the declarations of one file that need no evaluation: syntax, duplicates,
/// imports, template/schema models, apps, environments, names.
pub fn static_diagnostics(db: &dyn Db, project: Project, file: SourceFile, builtins: &[&str]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let hir = file_hir(db, file);
    out.extend(hir.diagnostics.iter().cloned());
    out.extend(crate::index::import_diagnostics(db, project, file));
    for name in hir.templates.keys() {
        out.extend(template_result(db, project, file, name.clone()).diagnostics.iter().cloned());
    }
    out.extend(crate::model::top_let_types(db, project, file).1.iter().cloned());
    for name in hir.apps.keys() {
        out.extend(app_diagnostics(db, project, file, name.clone()).iter().cloned());
    }
    let envs = environment_index(db, project);
    out.extend(
        envs.diagnostics.iter().filter(|d| d.primary.as_ref().is_some_and(|p| p.span.file == file.id(db))).cloned(),
    );
    out.extend(name_diagnostics(db, project, file, builtins));
    out
}
