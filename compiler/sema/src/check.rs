//! Static checks of instances and environments: the permission rules an `app` and its `in <env>`
//! blocks must obey, required fields, declared environments, and unresolved names in bodies.

use std::sync::Arc;

use indexmap::IndexMap;
use kdep_diag::{Code, Diagnostic, Span, TextRange};
use rustc_hash::FxHashSet;

use crate::db::{Db, Project, SourceFile};
use crate::hir::{file_hir, AppHir, FileHir, Name, NameMap, SetHir};
use crate::index::{item_index, project_index};
use crate::model::{resolve_template, template_model, template_result, TemplateModel};
use crate::scope::{walk_fn, walk_names, Callee, NameUse, Resolution, Resolver};
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
    pub envs: NameMap<EnvDecl>,
    /// Custom attributes declared by any environment (`attributes = { tier = "gold" }` or
    /// `attributes.tier = "gold"`), readable as `env.tier`; written out, so known statically.
    pub attributes: Vec<Name>,
    pub diagnostics: Vec<Diagnostic>,
}

/// The entries every environment value has (`env.name`, ...), besides declared attributes.
pub const ENV_BUILTIN_FIELDS: [&str; 5] = ["name", "context", "kubeconfig", "namespace", "protected"];

/// The entry of an environment body that declares custom attributes.
pub const ENV_ATTRIBUTES: &str = "attributes";

/// The attribute names an environment's `attributes` entry declares: the written keys of an
/// object literal (`attributes = { tier = "gold" }`) or the second segment of a dotted entry
/// (`attributes.tier = "gold"`). Anything else declares none (the evaluator reports it).
pub fn attribute_names(set: &SetHir) -> Vec<Name> {
    match &*set.key {
        [(first, _)] if &**first == ENV_ATTRIBUTES => match &set.value.kind {
            crate::hir::ExprKind::Object(entries) => entries
                .iter()
                .filter_map(|en| match en {
                    crate::hir::ObjEntry::Field { key, .. } => match key.first() {
                        Some(crate::hir::KeySeg::Static(n, _)) => Some(n.clone()),
                        _ => None,
                    },
                    crate::hir::ObjEntry::Comp { .. } => None,
                })
                .collect(),
            _ => Vec::new(),
        },
        [(first, _), (attr, _), ..] if &**first == ENV_ATTRIBUTES => vec![attr.clone()],
        _ => Vec::new(),
    }
}

#[salsa::tracked(returns(ref))]
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
            for set in &env.sets {
                for attr in attribute_names(set) {
                    if !out.attributes.contains(&attr) {
                        out.attributes.push(attr);
                    }
                }
            }
        }
    }
    Arc::new(out)
}

/// The template an app instantiates, resolved, or the diagnostic explaining why not.
// `lru = 0`: bounded by a batched build only (see `kdep_eval::build_rendered_in_batches`).
#[salsa::tracked(returns(clone), lru = 0)]
pub fn app_template(db: &dyn Db, project: Project, file: SourceFile, app: Name) -> AppTemplate {
    let hir = file_hir(db, file);
    let Some(a) = hir.apps.get(&app) else { return Err(None) };
    app_template_of(db, project, file, a)
}

/// What [`app_template`] gives: the resolved template's model, or why there is none.
pub type AppTemplate = Result<Arc<TemplateModel>, Option<Box<Diagnostic>>>;

/// The body of [`app_template`], on an app declaration already fetched: the one rule for which
/// template an app instantiates, read through the query by the editor and the project-wide
/// queries, and called directly by a build, which fetches each app file's lowering once.
pub fn app_template_of(db: &dyn Db, project: Project, file: SourceFile, a: &AppHir) -> AppTemplate {
    match resolve_template(db, project, file, &a.template.segments, a.template.range, false) {
        Ok((tf, tn)) => template_model(db, project, tf, tn).ok_or(None),
        Err(d) => Err(d),
    }
}

/// One app's own facts, fetched once where a build handles its file and handed to each
/// per-app step (its static checks, its evaluation) instead of each step asking the database
/// again: the declaration (from the file's lowering the build holds) and its template
/// ([`app_template_of`]). Only for work outside any tracked query: a tracked query reads
/// [`crate::hir::app_hir`] and [`app_template`], so its dependencies stay those of the app.
#[derive(Clone, Debug)]
pub struct AppFacts {
    pub name: Name,
    pub hir: Arc<AppHir>,
    pub template: AppTemplate,
}

impl AppFacts {
    /// The facts of every app of `file` (lowered as `hir`), in declaration order.
    pub fn of_file(db: &dyn Db, project: Project, file: SourceFile, hir: &FileHir) -> Vec<AppFacts> {
        hir.apps
            .iter()
            .map(|(name, a)| AppFacts {
                name: name.clone(),
                hir: Arc::clone(a),
                template: app_template_of(db, project, file, a),
            })
            .collect()
    }
}

/// Apps that read other apps (`url = "http://${payments.name}"`), as a graph over the root
/// package, with its cycles reported statically (K0408) so evaluating an app never asks for its
/// own value through the memoised per-app query (a salsa cycle).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct AppCycles {
    /// Every app that is part of, or reads, a cycle: the evaluator leaves its reads silent.
    pub poisoned: FxHashSet<(SourceFile, Name)>,
    pub diagnostics: Vec<Diagnostic>,
}

#[salsa::tracked(returns(clone))]
pub fn app_cycles(db: &dyn Db, project: Project) -> Arc<AppCycles> {
    type AppId = (SourceFile, Name);
    let mut nodes: Vec<AppId> = Vec::new();
    let mut edges: rustc_hash::FxHashMap<AppId, Vec<AppId>> = Default::default();
    // First read of each target, to label the chain where it is formed.
    let mut sites: rustc_hash::FxHashMap<(AppId, AppId), TextRange> = Default::default();
    let index = project_index(db, project);
    let roots = index.root_files();
    for &file in &roots {
        let items = item_index(db, file);
        // Apps read apps of their own module by name and of the package's other modules through
        // an import (`data.orders_db`). Most modules hold one app that reads none: those need no
        // scope, and keeping this query's dependencies few keeps every later query cheap (salsa
        // clears a dependency table sized by the largest query before it). So the test is on
        // the file's item index alone (its `app_reads`: the names the apps' settings mention
        // that are an app of the module or an import alias), with the imports that name a
        // module of the package (found in the project index, already a dependency). The
        // lowered file is read only past it, so a large build can drop it before its batch.
        let is_app = |n: &Name| items.items.get(n).is_some_and(|h| h.kind == crate::index::ItemKind::App);
        let package_alias = |n: &Name| {
            items
                .imports
                .get(n)
                .is_some_and(|path| index.resolve_module(file, path).is_some_and(|m| roots.contains(&m)))
        };
        let mentions_app = items.app_reads.iter().any(|n| is_app(n) || package_alias(n));
        if !mentions_app {
            for (name, _) in items.items.iter().filter(|(_, h)| h.kind == crate::index::ItemKind::App) {
                let node = (file, name.clone());
                nodes.push(node.clone());
                edges.insert(node, Vec::new());
            }
            continue;
        }
        let hir = file_hir(db, file);
        let scope = Resolver::app(db, project, file);
        for (name, a) in &hir.apps {
            let node = (file, name.clone());
            let mut refs = Vec::new();
            for set in a.sets.iter().chain(a.envs.iter().flat_map(|b| b.sets.iter())) {
                walk_names(&set.value, &scope, &mut |u| {
                    let (target, range, tf) = match u {
                        NameUse::Name { name, range, res: Resolution::App(tf) } => (name, range, tf),
                        NameUse::Member { member, range, res: Resolution::App(tf), .. } => (member, range, tf),
                        _ => return,
                    };
                    let t = (tf, target.clone());
                    sites.entry((node.clone(), t.clone())).or_insert(range);
                    if !refs.contains(&t) {
                        refs.push(t);
                    }
                });
            }
            nodes.push(node.clone());
            edges.insert(node, refs);
        }
    }
    let (cycles, poisoned) = crate::lets::find_cycles(&nodes, &edges);
    let mut out = AppCycles { poisoned, diagnostics: Vec::new() };
    for members in cycles {
        // Apps of one module by name; a cycle across modules names each app with its module.
        let across = members.iter().any(|(f, _)| members.first().is_some_and(|(g, _)| f != g));
        let show = |(f, n): &AppId| if across { format!("{}.{n}", index.module_display(*f)) } else { n.to_string() };
        let chain = members.iter().chain(members.first()).map(show).collect::<Vec<_>>().join(" → ");
        let mut d = Diagnostic::error(Code::CYCLIC_DEFINITION, format!("app cycle: {chain}"));
        for (k, from) in members.iter().enumerate() {
            let to = members.get(k + 1).or(members.first());
            let Some(range) = to.and_then(|to| sites.get(&(from.clone(), to.clone()))) else { continue };
            let span = Span::new(from.0.id(db), *range);
            let to_name = to.map_or_else(String::new, show);
            d = if k == 0 {
                d.with_primary(span, format!("`{}` reads `{to_name}`", show(from)))
            } else {
                d.with_secondary(span, format!("`{}` reads `{to_name}`", show(from)))
            };
        }
        out.diagnostics
            .push(d.with_help("an app may read another app's fields only if that app does not read it back"));
    }
    Arc::new(out)
}

/// Permission and shape checks of one app; see the README for the rules.
// `lru = 0`: bounded by a batched build only (see `kdep_eval::build_rendered_in_batches`).
#[salsa::tracked(returns(clone), lru = 0)]
pub fn app_diagnostics(db: &dyn Db, project: Project, file: SourceFile, app: Name) -> Arc<Vec<Diagnostic>> {
    let hir = file_hir(db, file);
    let Some(a) = hir.apps.get(&app) else { return Arc::new(Vec::new()) };
    let template = app_template(db, project, file, app.clone());
    Arc::new(app_diagnostics_of(db, project, file, &app, a, &template))
}

/// The body of [`app_diagnostics`], on the app's declaration `a` and its `template`
/// ([`app_template`]) already fetched (a build's [`AppFacts`]).
pub fn app_diagnostics_of(
    db: &dyn Db,
    project: Project,
    file: SourceFile,
    app: &Name,
    a: &AppHir,
    template: &AppTemplate,
) -> Vec<Diagnostic> {
    // Spans are made for diagnostics only, and most apps have none: the file id (a read) and
    // the environment index (a query) are fetched when needed.
    let span = |r: TextRange| Span::new(file.id(db), r);
    let mut out = Vec::new();
    let model = match template {
        Ok(m) => m,
        Err(d) => {
            out.extend(d.as_deref().cloned());
            return out;
        }
    };
    if model.is_schema {
        out.push(
            Diagnostic::error(Code::NOT_A_TEMPLATE, format!("`{}` is a schema, not a template", model.qualified))
                .with_primary(span(a.template.range), "an app must instantiate a template")
                .with_secondary(model.name_span, "schema declared here"),
        );
        return out;
    }
    check_sets(model, &a.sets, span, &mut out);
    let envs = if a.envs.is_empty() { Arc::default() } else { environment_index(db, project).clone() };
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
        check_sets(model, &block.sets, span, &mut out);
    }
    let mut dup_blocks: IndexMap<&Name, TextRange, rustc_hash::FxBuildHasher> = Default::default();
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
    // Most fields have a default, and an app body sets a handful of fields: a short body is
    // scanned for the few required ones instead of hashing every setting into a set first (a
    // long one still is hashed, so the check stays linear).
    let first_keys = || a.sets.iter().filter_map(|s| s.key.first().map(|k| &*k.0));
    let hashed: Option<FxHashSet<&str>> = (a.sets.len() > 16).then(|| first_keys().collect());
    let set_here = |name: &str| match &hashed {
        Some(set) => set.contains(name),
        None => first_keys().any(|k| k == name),
    };
    for field in model.fields.values() {
        // An optional field (`T?`) without a default is simply unset (absent from the output).
        let optional = matches!(*field.ty, crate::ty::Ty::Optional(_));
        if field.default.is_none() && !optional && !set_here(&field.name) {
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
    out
}

/// Bounds how many values of `app_template` and `app_diagnostics` the database keeps at its next eviction (the most
/// recently read; 0: all, and reads are no longer tracked). Set by `kdep_eval`'s batched
/// build only; salsa makes the setter private to this module.
pub fn set_app_check_lru(db: &mut dyn Db, capacity: usize) {
    app_template::set_lru_capacity(db, capacity);
    app_diagnostics::set_lru_capacity(db, capacity);
}

fn check_sets(model: &TemplateModel, sets: &[SetHir], span: impl Fn(TextRange) -> Span, out: &mut Vec<Diagnostic>) {
    let mut seen: Vec<&SetHir> = Vec::with_capacity(sets.len());
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

/// Reports names used but never defined (K0106), calls of unknown functions (K0215) and unused
/// imports (K0109) in every body of a file, from the resolutions of [`crate::scope`].
pub fn name_diagnostics(db: &dyn Db, project: Project, file: SourceFile) -> Vec<Diagnostic> {
    name_diagnostics_of(db, project, file, file_hir(db, file), &Resolver::module(db, project, file))
}

/// The body of [`name_diagnostics`], on the file's lowering and module scope already fetched.
pub fn name_diagnostics_of(
    db: &dyn Db,
    project: Project,
    file: SourceFile,
    hir: &FileHir,
    module: &Resolver,
) -> Vec<Diagnostic> {
    let fid = file.id(db);
    // Only `env.field` reads need the environments (most files have none).
    let envs = std::cell::OnceCell::new();
    let mut out = Vec::new();
    // First segments of names and paths that resolve to imports (for unused imports). A list,
    // sorted once at the end: most files use one alias a few times, which a hash set paid
    // an allocation and a rehash for.
    let mut used: Vec<Name> = Vec::new();
    // Unresolved names wait here until the walk that found them is over, so the "did you mean"
    // can offer the names of the scope they were written in.
    let pending: std::cell::RefCell<Vec<(Name, TextRange)>> = std::cell::RefCell::default();
    let mut unresolved = Vec::new();
    let flush = |scope: &Resolver, unresolved: &mut Vec<Diagnostic>| {
        for (name, range) in pending.borrow_mut().drain(..) {
            unresolved.push(unresolved_name(&name, Span::new(fid, range), scope));
        }
    };
    let mut visit = |u: NameUse<'_>| match u {
        NameUse::Name { name, range, res } => match res {
            Resolution::Unresolved => pending.borrow_mut().push((name.clone(), range)),
            Resolution::Module(_) => {
                used.push(name.clone());
            }
            _ => {}
        },
        NameUse::Call { name, range, callee } => {
            if let (Some((alias, _)), false) = (name.split_once('.'), callee == Callee::Builtin) {
                used.push(Name::from(alias));
            }
            if let Some(d) = unknown_function(db, project, module, name, &callee, Span::new(fid, range)) {
                out.push(d);
            }
        }
        NameUse::PathHead { name, .. } => {
            used.push(name.clone());
        }
        NameUse::Member { module, member, range, res } => {
            // Other non-values (`lib.Template`) are the evaluator's: only read values fail.
            if matches!(res, Resolution::Unresolved | Resolution::ForeignApp(_)) {
                out.extend(member_error(db, project, module, member, res, Span::new(fid, range)));
            }
        }
        NameUse::EnvField { member, range } => {
            let envs: &Arc<EnvIndex> = envs.get_or_init(|| environment_index(db, project));
            let known = ENV_BUILTIN_FIELDS.iter().copied().chain(envs.attributes.iter().map(|a| &**a));
            if !known.clone().any(|k| k == &**member) {
                let mut d = Diagnostic::error(Code::UNKNOWN_FIELD, format!("an environment has no field `{member}`"))
                    .with_primary(Span::new(fid, range), "unknown field");
                if let Some(best) = suggest::best(member, known.clone()) {
                    d = d.with_help(format!("did you mean `{best}`?"));
                }
                let list = known.map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ");
                out.push(d.with_help(format!(
                    "environments have {list}; declare more with `attributes = {{ {member} = ... }}` in every \
                     environment, or read an optional one with `get(env, \"{member}\", default)`"
                )));
            }
        }
        NameUse::AppField { file: app_file, app, member, range } => {
            if let Ok(model) = app_template(db, project, app_file, app.clone()) {
                if !model.fields.contains_key(member) {
                    let mut d = Diagnostic::error(
                        Code::UNKNOWN_FIELD,
                        format!("app `{app}` has no field `{member}` (template `{}`)", model.qualified),
                    )
                    .with_primary(Span::new(fid, range), "unknown field");
                    if let Some(best) = suggest::best(member, model.fields.keys().map(|k| &**k)) {
                        d = d.with_help(format!("did you mean `{best}`?"));
                    }
                    if model.lets.contains_key(member) {
                        d = d.with_help("only an app's fields are readable, not its template's `let`s");
                    }
                    out.push(d.with_secondary(model.name_span, "template declared here"));
                }
            }
        }
    };
    for l in hir.lets.values() {
        walk_names(&l.value, module, &mut visit);
    }
    for f in hir.functions.values() {
        walk_fn(f, module, &mut visit);
    }
    for e in hir.environments.values() {
        for s in &e.sets {
            walk_names(&s.value, module, &mut visit);
        }
    }
    flush(module, &mut unresolved);
    // Every body of the file starts from the one module scope fetched above.
    let apps = module.for_apps();
    for a in hir.apps.values() {
        for s in a.sets.iter().chain(a.envs.iter().flat_map(|b| b.sets.iter())) {
            walk_names(&s.value, &apps, &mut visit);
        }
    }
    flush(&apps, &mut unresolved);
    let policy_scope = module.for_policies();
    for p in hir.policies.values() {
        for s in &p.sets {
            crate::scope::walk_policy(&s.value, &policy_scope, &mut visit);
        }
    }
    flush(&policy_scope, &mut unresolved);
    // Test statements, statically like every other body (the runner reports the same text).
    let test_scope = module.for_tests();
    for t in &hir.tests {
        crate::scope::walk_test(t, &test_scope, &mut visit);
        // The test's own `let`s are candidates too ("did you mean `count`?").
        let lets: Vec<(&str, TextRange)> = t
            .steps
            .iter()
            .filter_map(|s| match s {
                crate::hir::TestStep::Let(l) => Some((&*l.name, l.range)),
                _ => None,
            })
            .collect();
        for (name, range) in pending.borrow_mut().drain(..) {
            let mut d = unresolved_name(&name, Span::new(fid, range), &test_scope);
            // Only the `let`s before the use: a later one is not visible there.
            let before = lets.iter().filter(|(_, r)| r.end <= range.start).map(|(n, _)| *n);
            if d.help.is_empty() {
                if let Some(best) = suggest::best(&name, before) {
                    d = d.with_help(format!("did you mean `{best}`?"));
                }
            }
            unresolved.push(d);
        }
    }
    for (name, t) in &hir.templates {
        let scope = module.for_template(db, project, name);
        for m in &t.members {
            match m {
                crate::hir::MemberHir::Field(f) => {
                    if let Some(d) = &f.default {
                        walk_names(d, &scope, &mut visit)
                    }
                }
                crate::hir::MemberHir::Let(l) => walk_names(&l.value, &scope, &mut visit),
                crate::hir::MemberHir::Check(c) => walk_names(&c.cond, &scope, &mut visit),
                crate::hir::MemberHir::Emit(e) => walk_names(&e.value, &scope, &mut visit),
            }
        }
        flush(&scope, &mut unresolved);
    }
    out.extend(unresolved);
    // Declaration paths and type names that name an import.
    for a in hir.apps.values() {
        used.extend(a.template.segments.first().cloned());
        // `waive alias.policy` names the import too.
        used.extend(
            a.waivers.iter().filter(|w| w.policy.segments.len() > 1).filter_map(|w| w.policy.segments.first().cloned()),
        );
        // So does `@after(app = "alias.app")`.
        used.extend(a.after.iter().filter(|x| x.path.len() > 1).filter_map(|x| x.path.first().cloned()));
    }
    for p in hir.policies.values() {
        used.extend(p.base.iter().filter_map(|b| b.segments.first().cloned()));
    }
    for t in hir.templates.values() {
        for parent in t.base.iter().chain(t.mixins.iter()) {
            used.extend(parent.segments.first().cloned());
        }
        for m in &t.members {
            match m {
                crate::hir::MemberHir::Field(f) => f.ty.iter().for_each(|ty| type_names(ty.syntax(), 0, &mut used)),
                crate::hir::MemberHir::Let(l) => l.ty.iter().for_each(|ty| type_names(ty.syntax(), 0, &mut used)),
                _ => {}
            }
        }
    }
    for l in hir.lets.values() {
        l.ty.iter().for_each(|ty| type_names(ty.syntax(), 0, &mut used));
    }
    for t in &hir.tests {
        for step in &t.steps {
            if let crate::hir::TestStep::ExpectError { uses, .. } = step {
                used.extend(uses.iter().cloned());
            }
        }
    }
    for f in hir.functions.values() {
        f.params.iter().for_each(|p| type_names(p.ty.syntax(), 0, &mut used));
        type_names(f.ret.syntax(), 0, &mut used);
    }
    used.sort_unstable();
    used.dedup();
    for imp in &hir.imports {
        // An import that does not resolve is already an error (K0101).
        let resolved = module.imports().map.get(&imp.alias).is_some_and(Option::is_some);
        // An alias that clashes with another declaration (K0103) shares its uses with it, so
        // whether the import is used cannot be told; the clash is the one report.
        if resolved && !imp.clashes && used.binary_search(&imp.alias).is_err() {
            out.push(
                Diagnostic::warning(Code::UNUSED_IMPORT, format!("unused import `{}`", imp.alias))
                    .with_primary(Span::new(fid, imp.range), "never used in this module")
                    .with_help("remove the import"),
            );
        }
    }
    out
}

/// K0215 for a call whose callee names no function, `None` when it names one (or names a broken
/// import, already reported). The evaluator reports the same text, so one of the two is kept.
/// `scope` is the module scope of the call's file (candidates for "did you mean").
pub fn unknown_function(
    db: &dyn Db,
    project: Project,
    scope: &Resolver,
    name: &str,
    callee: &Callee,
    span: Span,
) -> Option<Diagnostic> {
    let builtins: Vec<&str> = crate::builtins::all().iter().map(|b| b.name).collect();
    match callee {
        Callee::Function { .. } | Callee::BrokenImport | Callee::TestBuild => None,
        Callee::Builtin if builtins.contains(&name) => None,
        Callee::Builtin => {
            let mut d = Diagnostic::error(Code::UNKNOWN_FUNCTION, format!("unknown function `{name}`"))
                .with_primary(span, "no such function");
            let candidates = builtins.iter().copied().chain(scope.functions().map(|n| &**n));
            if let Some(best) = suggest::best(name, candidates) {
                d = d.with_help(format!("did you mean `{best}`?"));
            }
            Some(d)
        }
        Callee::NotInModule { module, name: member } => {
            let index = project_index(db, project);
            let mut d = Diagnostic::error(
                Code::UNKNOWN_FUNCTION,
                format!("module `{}` has no function `{member}`", index.module_display(*module)),
            )
            .with_primary(span, "no such function");
            let items = item_index(db, *module);
            let fns = items.items.iter().filter(|(_, h)| h.kind == crate::index::ItemKind::Fn).map(|(n, _)| &**n);
            if let Some(best) = suggest::best(member, fns) {
                d = d.with_help(format!("did you mean `{best}`?"));
            }
            Some(d)
        }
    }
}

/// The error for reading `alias.member` (at `span`, the member) of imported `module`, given its
/// resolution ([`Resolver::member`]); `None` when it is a value (a `let`, or an app read from an
/// app body). The evaluator reports the same text, so one is kept.
pub fn member_error(
    db: &dyn Db,
    project: Project,
    module: SourceFile,
    member: &str,
    res: Resolution,
    span: Span,
) -> Option<Diagnostic> {
    let index = project_index(db, project);
    let shown = index.module_display(module);
    match res {
        Resolution::ModuleLet(_) | Resolution::App(_) => None,
        Resolution::ForeignApp(_) => Some(
            Diagnostic::error(
                Code::TYPE_MISMATCH,
                format!("`{member}` is an app of another package (`{shown}`), not a value"),
            )
            .with_primary(span, "not a value here")
            .with_help(
                "only apps of the same package are values: a dependency's apps are never built with this \
                 package, so there is nothing to read",
            ),
        ),
        Resolution::Unresolved => {
            let mut d = Diagnostic::error(Code::UNRESOLVED_NAME, format!("module `{shown}` has no `{member}`"))
                .with_primary(span, "not defined there");
            let items = item_index(db, module);
            if let Some(best) = suggest::best(member, items.items.keys().map(|k| &**k)) {
                d = d.with_help(format!("did you mean `{best}`?"));
            }
            Some(d)
        }
        Resolution::Function(_) => Some(not_a_value(member, crate::index::ItemKind::Fn, span)),
        Resolution::Item(kind) => Some(not_a_value(member, kind, span)),
        Resolution::Local | Resolution::Field | Resolution::TemplateLet | Resolution::Module(_) | Resolution::Env => {
            None
        }
    }
}

fn not_a_value(member: &str, kind: crate::index::ItemKind, span: Span) -> Diagnostic {
    let d = Diagnostic::error(Code::TYPE_MISMATCH, format!("`{member}` is {}, not a value", kind.describe()))
        .with_primary(span, "not a value");
    if kind == crate::index::ItemKind::App {
        return d.with_help("only app bodies read other apps; a template gets such values through its fields");
    }
    d
}

/// K0106 for `name` used at `span` in `scope`; the evaluator reports the same text, so one is
/// kept.
pub fn unresolved_name(name: &str, span: Span, scope: &Resolver) -> Diagnostic {
    let mut d = Diagnostic::error(Code::UNRESOLVED_NAME, format!("unresolved name `{name}`"))
        .with_primary(span, "not defined in this scope");
    if let Some(best) = suggest::best(name, scope.value_names()) {
        d = d.with_help(format!("did you mean `{best}`?"));
    }
    if name == crate::scope::ENV_NAME || name == crate::scope::ENV_KEYWORD {
        return d.with_help(
            "the environment is readable in template and app bodies only: top-level `let`s and environments \
             are shared by every environment",
        );
    }
    d
}

/// First segments of the named types in a type expression.
fn type_names(t: &kdep_syntax::ast::TypeExpr, depth: u32, used: &mut Vec<Name>) {
    use kdep_syntax::ast::TypeExpr;
    if depth > 64 {
        return;
    }
    match t {
        TypeExpr::Named(p) => {
            if let Some(first) = p.segments.first() {
                used.push(Name::from(first.text.as_str()));
            }
        }
        TypeExpr::Refined { base, .. } => type_names(base, depth + 1, used),
        TypeExpr::List { item, .. } => type_names(item, depth + 1, used),
        TypeExpr::Map { key, value, .. } => {
            type_names(key, depth + 1, used);
            type_names(value, depth + 1, used);
        }
        TypeExpr::Optional { inner, .. } => type_names(inner, depth + 1, used),
        TypeExpr::Union { members, .. } => members.iter().for_each(|m| type_names(m, depth + 1, used)),
        TypeExpr::LiteralUnion { .. } | TypeExpr::Error(_) => {}
    }
}

/// Diagnostics of the declarations of one file that need no evaluation: syntax, duplicates,
/// imports, template/schema models, apps, environments, names.
pub fn static_diagnostics(db: &dyn Db, project: Project, file: SourceFile) -> Vec<Diagnostic> {
    static_diagnostics_of(db, project, file, file_hir(db, file), &Resolver::module(db, project, file), None)
}

/// The body of [`static_diagnostics`], on the file's lowering and module scope already
/// fetched. With `apps` (a build's [`AppFacts`] of the file's apps, in declaration order) each
/// app's checks run on them ([`app_diagnostics_of`]) instead of through the [`app_diagnostics`]
/// query: a build reads them once, so their memo would only cost a claim, a key and an entry.
pub fn static_diagnostics_of(
    db: &dyn Db,
    project: Project,
    file: SourceFile,
    hir: &FileHir,
    module: &Resolver,
    apps: Option<&[AppFacts]>,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    out.extend(hir.diagnostics.iter().cloned());
    out.extend(crate::index::import_diagnostics(db, project, file));
    for name in hir.templates.keys() {
        out.extend(template_result(db, project, file, name.clone()).diagnostics.iter().cloned());
        out.extend(crate::model::list_key_diagnostics(db, project, file, name));
    }
    // Only asked for when there is something to lower: each query asked for leaves a memo for
    // the whole run, and most files of a large package (one app each) declare neither.
    if hir.lets.values().any(|l| l.ty.is_some()) {
        out.extend(crate::model::top_let_types(db, project, file).1.iter().cloned());
    }
    if !hir.functions.is_empty() {
        out.extend(crate::func::fn_signatures(db, project, file).1.iter().cloned());
    }
    match apps {
        Some(apps) => {
            for facts in apps {
                out.extend(app_diagnostics_of(db, project, file, &facts.name, &facts.hir, &facts.template));
            }
        }
        None => {
            for name in hir.apps.keys() {
                out.extend(app_diagnostics(db, project, file, name.clone()).iter().cloned());
            }
        }
    }
    for name in hir.policies.keys() {
        out.extend(crate::policy::policy_result(db, project, file, name.clone()).diagnostics.iter().cloned());
    }
    out.extend(crate::policy::waiver_diagnostics(db, project, file));
    let envs = environment_index(db, project);
    out.extend(
        envs.diagnostics.iter().filter(|d| d.primary.as_ref().is_some_and(|p| p.span.file == file.id(db))).cloned(),
    );
    out.extend(
        app_cycles(db, project)
            .diagnostics
            .iter()
            .filter(|d| d.primary.as_ref().is_some_and(|p| p.span.file == file.id(db)))
            .cloned(),
    );
    if hir.apps.values().any(|a| !a.after.is_empty()) {
        out.extend(
            crate::order::apply_order(db, project)
                .diagnostics
                .iter()
                .filter(|d| d.primary.as_ref().is_some_and(|p| p.span.file == file.id(db)))
                .cloned(),
        );
    }
    out.extend(name_diagnostics_of(db, project, file, hir, module));
    out
}
