//! Evaluation of apps and environments as salsa queries, and the static checks of defaults.

use std::sync::Arc;

use kdep_diag::{Code, Diagnostic, Span};
use kdep_sema::check::{app_template, environment_index, AppFacts};
use kdep_sema::db::{Db, Project, SourceFile};
use kdep_sema::hir::{file_hir, AppHir, Name};
use kdep_sema::model::{template_model, TemplateModel};
use kdep_sema::suggest;

use crate::interp::{Emitted, Eval, Instance};
use crate::manifest::{Manifest, ObjectError};
use crate::reads::SharedReads;
use crate::value::{Layer, Map, Origin, Value};

/// The result of evaluating one app in one environment.
#[derive(Clone, Debug, Default)]
pub struct AppEval {
    /// Emitted objects, before namespaces and kdep's labels are stamped (`manifest::finalize`).
    pub objects: Vec<Manifest>,
    /// The instance's fields with the origin (layer and span) of each value.
    pub fields: Map,
    pub diagnostics: Vec<Diagnostic>,
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: u32) -> usize {
    let end = (offset as usize).min(text.len());
    text.as_bytes().get(..end).map_or(0, |b| b.iter().filter(|c| **c == b'\n').count()) + 1
}

/// `path:line` of app `app` of `file`, for the `kdep.dev/source` annotation of its objects.
/// Read where the objects leave the compiler (the app's evaluation keeps positions anchored to
/// the app, so it does not depend on the lines above it).
pub fn source_display(db: &dyn Db, file: SourceFile, app: &Name) -> String {
    // The line of `app` itself, after any attributes (which the declaration's range includes).
    let start =
        file_hir(db, file).apps.get(app).map_or(0, |a| kdep_sema::anchors::resolve_in(db, file, a.name_range).start);
    display_at(db, file, start)
}

/// `path:line` of file offset `start` of `file`.
fn display_at(db: &dyn Db, file: SourceFile, start: u32) -> String {
    format!("{}:{}", file.path(db), line_of(file.text(db), start))
}

/// Evaluates app `app` of `file` for environment `env` (None: no `in` blocks), memoised.
#[salsa::tracked(returns(clone), no_eq)]
pub fn eval_app(db: &dyn Db, project: Project, file: SourceFile, app: Name, env: Option<Name>) -> Arc<AppEval> {
    Arc::new(evaluate(db, project, file, app, env, true))
}

/// The body of [`eval_app`], callable without memoising the result: `build` consumes each
/// app's objects once, so keeping them in the database would only double the memory. Its
/// [`AppEval::fields`] is empty: `build` and `check` read the objects and diagnostics only,
/// so the instance's fields are computed and checked as for [`eval_app`] but not collected
/// into a record (a map and an entry per field, built and dropped for every app).
pub fn evaluate_app(db: &dyn Db, project: Project, file: SourceFile, app: Name, env: Option<Name>) -> AppEval {
    evaluate(db, project, file, app, env, false)
}

/// [`evaluate_app`] on the app's facts already fetched (its declaration and template, from the
/// file's lowering a build holds), with the thread's table of shared reads (`reads`): a
/// build's per-file work, outside any tracked query (see [`crate::reads`]).
pub(crate) fn evaluate_facts(
    db: &dyn Db,
    project: Project,
    file: SourceFile,
    facts: &AppFacts,
    module: &kdep_sema::scope::Resolver,
    env: Option<Name>,
    reads: Option<&mut SharedReads>,
) -> AppEval {
    let Ok(model) = &facts.template else { return AppEval::default() };
    evaluate_on(db, project, file, facts.name.clone(), &facts.hir, model, env, false, Some(module), reads)
}

/// [`eval_app`]'s evaluation; `fields`: whether the instance's record is collected. Its
/// declaration and template are read through their queries, so a tracked caller depends on
/// the app alone (not on the rest of its file).
fn evaluate(db: &dyn Db, project: Project, file: SourceFile, app: Name, env: Option<Name>, fields: bool) -> AppEval {
    let Some(a) = kdep_sema::hir::app_hir(db, file, app.clone()) else { return AppEval::default() };
    let Ok(model) = app_template(db, project, file, app.clone()) else { return AppEval::default() };
    evaluate_on(db, project, file, app, &a, &model, env, fields, None, None)
}

/// The one body of an app's evaluation, on its declaration `a` and template `model`; with
/// `module` (the module scope of `file`) its app bodies are read in it; with `reads` (a
/// build's, outside tracked queries only) the emit plans and rules come from the thread's
/// table instead of the database.
#[allow(clippy::too_many_arguments)]
fn evaluate_on(
    db: &dyn Db,
    project: Project,
    file: SourceFile,
    app: Name,
    a: &AppHir,
    model: &Arc<TemplateModel>,
    env: Option<Name>,
    fields: bool,
    module: Option<&kdep_sema::scope::Resolver>,
    reads: Option<&mut SharedReads>,
) -> AppEval {
    if model.is_schema {
        return AppEval::default();
    }
    let fid = file.id(db);
    let app_span = Span::new(fid, a.name_range);
    let mut inst = Instance::new(Arc::clone(model));
    inst.app = Some((app.clone(), app_span));
    // Invalid assignments (unknown or locked fields) were reported statically; skip them here.
    let settable = |key: &[(Name, kdep_diag::TextRange)]| {
        key.first().and_then(|(n, _)| model.fields.get(n)).is_some_and(|f| f.locked.is_none())
    };
    for set in a.sets.iter().filter(|s| settable(&s.key)) {
        let origin = Origin::new(Some(Span::new(fid, set.range)), Layer::App { app: app.clone() });
        inst.assign(&set.key, set.value.clone(), file, origin);
    }
    if let Some(env) = &env {
        for block in a.envs.iter().filter(|b| &b.env == env) {
            for set in block.sets.iter().filter(|s| settable(&s.key)) {
                let origin = Origin::new(
                    Some(Span::new(fid, set.range)),
                    Layer::Environment { app: app.clone(), env: env.clone() },
                );
                inst.assign(&set.key, set.value.clone(), file, origin);
            }
        }
    }
    let mut ev = Eval::new(db, project);
    if let Some(module) = module {
        ev.seed_app_scope(module);
    }
    ev.app_site = Some((app.clone(), app_span));
    // The environment's value (what `env` reads) and namespace, from one fetch.
    let mut env_ns = None;
    ev.env = env.as_ref().and_then(|e| {
        let infos = environment_infos(db, project);
        let info = infos.list.iter().find(|i| *i.name == **e)?;
        env_ns.clone_from(&info.namespace);
        Some((e.clone(), info.value()))
    });
    let i = ev.push_instance(inst);
    let fields = if fields {
        ev.record(i).unwrap_or_else(|partial| partial)
    } else {
        ev.compute_fields(i);
        Map::new()
    };
    ev.run_checks(i);
    // `kdep.dev/source` names the app's line, which moves with text typed above the app; it is
    // filled in where the objects leave the compiler (`source_display`), so the evaluation
    // does not depend on the file's text.
    let source_display = String::new();
    let apply_after = if a.after.is_empty() {
        String::new()
    } else {
        let names = kdep_sema::order::apply_order(db, project).after_names(file, &app);
        names.iter().map(|n| &**n).collect::<Vec<_>>().join(",")
    };
    let mut objects = Vec::new();
    // What is left to check of each emitted object literal (`conform_emitted`), planned once
    // per template (only object literals have plans: typed emits are checked as they are built).
    let literal = model.emits.iter().any(|e| matches!(e.value.kind, kdep_sema::hir::ExprKind::Object(_)));
    let reads: Option<&SharedReads> = reads.map(|r| {
        r.fetch(db, project, model, literal);
        &*r
    });
    let fetched_plans;
    let plans: Option<&crate::typeck::EmitPlans> = match (literal, model.sources.first()) {
        (true, Some((tf, tn))) => match reads.and_then(|r| r.plans(*tf, tn)) {
            Some(p) => Some(p),
            None => {
                fetched_plans = crate::typeck::emit_plans(db, project, *tf, tn.clone());
                Some(&*fetched_plans)
            }
        },
        _ => None,
    };
    // The emit rules of the file that writes the emits: a template's emits are written in one
    // file (or a few, with extending templates), so the rules are fetched once per file.
    let mut file_rules: Option<(SourceFile, &kdep_sema::permit::EmitRules)> = None;
    for (index, emit) in model.emits.iter().enumerate() {
        let plan = plans.and_then(|p| p.get(index));
        let mut ctx = ev.ctx(emit.file, Some(i), Some(&emit.owner));
        let Ok(values) = ev.emitted(&emit.value, &mut ctx) else { continue };
        if !matches!(&file_rules, Some((file, _)) if *file == emit.file) {
            let rules = match reads.and_then(|r| r.rules(emit.file)) {
                Some(r) => r,
                None => &**kdep_sema::permit::emit_rules(db, project, emit.file),
            };
            file_rules = Some((emit.file, rules));
        }
        let Some((_, rules)) = file_rules else { continue };
        for (value, from) in values {
            // A list element is reported where it is written (or, computed elsewhere, at the
            // `emit` with its index); a single object at the `emit`.
            let (at, label) = match from {
                Emitted::Whole => (emit.span, "emitted here".to_owned()),
                Emitted::Written(site) => (site, "emitted here".to_owned()),
                Emitted::Item(n) => (emit.span, format!("item [{n}] of the emitted list")),
            };
            // The plan is of the literal: an object it evaluated to whole.
            let plan = plan.filter(|_| matches!(from, Emitted::Whole));
            let resource = conform_emitted(&mut ev, &value, at, plan);
            match Manifest::from_object(value, &app, app_span, &source_display) {
                Ok(mut m) => {
                    m.apply_after.clone_from(&apply_after);
                    // Kinds without a schema are namespaced.
                    let cluster_scoped = resource.is_some_and(|r| r.cluster);
                    m.cluster_scoped = cluster_scoped;
                    match rules.check(&m.kind, cluster_scoped, m.namespace.as_deref(), env_ns.as_deref()) {
                        None => objects.push(m),
                        Some(v) => ev.diags.push(
                            Diagnostic::error(v.code, v.message)
                                .with_primary(at, label)
                                .with_secondary(app_span, format!("for app `{app}`"))
                                .with_help(v.help),
                        ),
                    }
                }
                Err(ObjectError::Invalid(problem)) => ev.diags.push(
                    Diagnostic::error(Code::INVALID_EMIT, problem)
                        .with_primary(at, label)
                        .with_secondary(app_span, format!("for app `{app}`"))
                        .with_help("an emitted object needs string fields `apiVersion`, `kind` and `metadata.name`"),
                ),
                Err(ObjectError::TooLarge(problem)) => ev.diags.push(
                    Diagnostic::error(Code::EVALUATION_LIMIT, problem)
                        .with_primary(at, label)
                        .with_secondary(app_span, format!("for app `{app}`"))
                        .with_help("a value reused in many places is written out in full at each of them"),
                ),
            }
        }
    }
    crate::policy::check_app(&mut ev, &objects, file, a, app_span);
    AppEval { objects, fields, diagnostics: ev.diags }
}

/// Checks an emitted object against the schema of its `(apiVersion, kind)`, if one exists
/// (`kdep_sema::resources`): typed or not, every such object is a valid record of its kind,
/// whatever computed its `apiVersion` and `kind`. A record already built and checked as that
/// schema (`emit apps.Deployment { ... }`) is not checked again, so typed emission costs
/// nothing here; objects of kinds without a schema cost one lookup. The object itself is
/// emitted as written: the check adds no defaults and reorders nothing.
///
/// With the `plan` of the emit's object literal ([`crate::typeck::emit_plans`]), only the parts
/// the static proof left open are checked; should one of them not conform, the object is
/// checked in full as without a plan, so what is reported does not depend on the plan.
fn conform_emitted(
    ev: &mut Eval,
    value: &Value,
    at: Span,
    plan: Option<&crate::typeck::EmitPlan>,
) -> Option<kdep_sema::resources::ResourceEntry> {
    let map = value.as_map()?;
    let (Some(Value::Str(api_version)), Some(Value::Str(kind))) = (map.get("apiVersion"), map.get("kind")) else {
        return None;
    };
    // The literal's `apiVersion` and `kind` are the plan's (it was made for them): its schema,
    // found once per template, is the one a lookup would find.
    let plan = plan.filter(|p| *p.api_version == **api_version && *p.kind == **kind);
    if let Some(plan) = plan {
        if map.record().is_none() && ev.residuals_conform(map, plan, at) {
            return Some(plan.resource.clone());
        }
    }
    let entry = match plan {
        Some(plan) => plan.resource.clone(),
        None => kdep_sema::resources::resource_schema(ev.db, ev.project, api_version, kind)?,
    };
    if map.record().is_some_and(|r| ev.record_is_value_of(r, entry.file, &entry.name)) {
        return Some(entry);
    }
    let model = template_model(ev.db, ev.project, entry.file, entry.name.clone())?;
    // They matched the schema's locked values to find it; giving them again is not an override.
    let mut given = (*map).clone();
    given.remove("apiVersion");
    given.remove("kind");
    // Only the diagnostics count: the record is not built (`Eval::without_building`).
    let _ = ev.without_building(|ev| ev.instantiate_record(model, &given, at, None));
    Some(entry)
}

/// A declared deployment target.
#[derive(Clone, Debug, PartialEq)]
pub struct EnvironmentInfo {
    pub name: String,
    pub context: Option<String>,
    /// The kubeconfig file to read (`kubeconfig = "clusters/prod.yaml"`), as written: the CLI
    /// resolves it against the package root (the compiler does no IO).
    pub kubeconfig: Option<String>,
    pub namespace: Option<String>,
    pub protected: bool,
    pub span: Span,
    /// Declared custom attributes (`attributes = { tier = "gold" }`), with their origins.
    pub attributes: Map,
}

impl EnvironmentInfo {
    /// What `env` evaluates to in template and app bodies: `name`, `context`, `kubeconfig`,
    /// `namespace` (null when not declared), `protected`, then the attributes.
    pub fn value(&self) -> Value {
        let origin = Origin::new(Some(self.span), Layer::Computed);
        let opt = |s: &Option<String>| s.as_deref().map_or(Value::Null, Value::from);
        let mut m = Map::with_capacity(5 + self.attributes.len());
        m.insert("name", Value::from(self.name.as_str()), origin.clone());
        m.insert("context", opt(&self.context), origin.clone());
        m.insert("kubeconfig", opt(&self.kubeconfig), origin.clone());
        m.insert("namespace", opt(&self.namespace), origin.clone());
        m.insert("protected", Value::Bool(self.protected), origin);
        for (k, e) in self.attributes.entries() {
            m.insert_entry(k.clone(), e.clone());
        }
        Value::map(m)
    }
}

#[derive(Clone, Debug, Default)]
pub struct EnvInfos {
    pub list: Vec<EnvironmentInfo>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Evaluates the bodies of every declared environment.
#[salsa::tracked(returns(ref), no_eq)]
pub fn environment_infos(db: &dyn Db, project: Project) -> Arc<EnvInfos> {
    let index = environment_index(db, project);
    let mut out = EnvInfos { list: Vec::new(), diagnostics: index.diagnostics.clone() };
    let mut ev = Eval::new(db, project);
    for (name, decl) in &index.envs {
        let hir = file_hir(db, decl.file);
        let Some(env) = hir.environments.get(name) else { continue };
        let fid = decl.file.id(db);
        let mut info = EnvironmentInfo {
            name: name.to_string(),
            context: None,
            kubeconfig: None,
            namespace: None,
            protected: false,
            span: decl.span,
            attributes: Map::new(),
        };
        for set in &env.sets {
            let key = set.key_display();
            let kspan = Span::new(fid, set.key_range());
            if set.key.first().is_some_and(|(k, _)| &**k == kdep_sema::check::ENV_ATTRIBUTES) {
                attributes(&mut ev, set, fid, decl.file, &mut info.attributes);
                continue;
            }
            let mut ctx = ev.ctx(decl.file, None, None);
            let Ok(v) = ev.expr(&set.value, &mut ctx) else { continue };
            let vspan = Span::new(fid, set.value.range);
            match (key.as_str(), &v) {
                ("context", Value::Str(s)) => info.context = Some(s.to_string()),
                ("kubeconfig", Value::Str(s)) => info.kubeconfig = Some(s.to_string()),
                ("namespace", Value::Str(s)) => info.namespace = Some(s.to_string()),
                ("protected", Value::Bool(b)) => info.protected = *b,
                ("context" | "kubeconfig" | "namespace" | "protected", other) => {
                    let expected = if key == "protected" { "bool" } else { "string" };
                    ev.error(
                        Code::TYPE_MISMATCH,
                        format!(
                            "environment `{key}` expects {expected}, got {} `{}`",
                            other.type_name(),
                            other.render_short()
                        ),
                        vspan,
                        format!("expected {expected}"),
                    );
                }
                _ => {
                    let mut d = Diagnostic::error(Code::UNKNOWN_FIELD, format!("an environment has no field `{key}`"))
                        .with_primary(kspan, "unknown field");
                    if let Some(best) =
                        suggest::best(&key, ["context", "kubeconfig", "namespace", "protected", "attributes"])
                    {
                        d = d.with_help(format!("did you mean `{best}`?"));
                    }
                    ev.diags.push(d.with_help(
                        "environment fields are `context`, `kubeconfig`, `namespace` and `protected`; declare your own \
                         under `attributes = { name = value }`",
                    ));
                }
            }
        }
        out.list.push(info);
    }
    out.diagnostics.extend(ev.diags);
    Arc::new(out)
}

/// Evaluates an environment's `attributes` entry into `out`: an object literal with written-out
/// keys (`attributes = { tier = "gold" }`) or one dotted entry (`attributes.tier = "gold"`), so
/// the names `env.tier` may read are known without evaluating anything.
fn attributes(
    ev: &mut Eval<'_>,
    set: &kdep_sema::hir::SetHir,
    fid: kdep_diag::FileId,
    file: SourceFile,
    out: &mut Map,
) {
    use kdep_sema::hir::{ExprKind, KeySeg, ObjEntry};
    let written = match (set.key.len(), &set.value.kind) {
        (1, ExprKind::Object(entries)) => entries
            .iter()
            .all(|en| matches!(en, ObjEntry::Field { key, .. } if matches!(key.first(), Some(KeySeg::Static(..))))),
        (2, _) => true,
        _ => false,
    };
    if !written {
        ev.error(
            Code::TYPE_MISMATCH,
            "environment attributes must be written out: `attributes = { name = value }`",
            Span::new(fid, set.range),
            "not an object literal with written keys",
        );
        return;
    }
    let mut ctx = ev.ctx(file, None, None);
    let Ok(v) = ev.expr(&set.value, &mut ctx) else { return };
    let origin = Origin::new(Some(Span::new(fid, set.range)), Layer::Computed);
    let given: Vec<(Arc<str>, crate::value::Entry)> = match (set.key.get(1), v) {
        (Some((attr, _)), v) => vec![(attr.clone(), crate::value::Entry { value: v, origin })],
        (None, Value::Map(m)) => m.entries().map(|(k, e)| (k.clone(), e.clone())).collect(),
        (None, _) => return,
    };
    for (k, e) in given {
        let span = e.origin.span.unwrap_or(Span::new(fid, set.range));
        if kdep_sema::check::ENV_BUILTIN_FIELDS.contains(&&*k) {
            ev.error(
                Code::DUPLICATE_DEFINITION,
                format!("attribute `{k}` would hide the environment's own `env.{k}`"),
                span,
                "choose another name",
            );
        } else if out.contains_key(&k) {
            ev.error(Code::DUPLICATE_KEY, format!("attribute `{k}` is set twice"), span, "set again here");
        } else {
            out.insert_entry(k, e);
        }
    }
}

/// K0309: constant defaults (and locked values) of the templates and schemas declared in `file`
/// checked against their field types, including inherited defaults under a narrowed type.
// `lru = 0`: bounded by a batched build only (see `kdep_eval::build_rendered_in_batches`).
#[salsa::tracked(returns(clone), lru = 0)]
pub fn default_diagnostics(db: &dyn Db, project: Project, file: SourceFile) -> Arc<Vec<Diagnostic>> {
    Arc::new(default_diagnostics_of(db, project, file, file_hir(db, file)))
}

/// The body of [`default_diagnostics`], on the file's lowering already fetched (a build's
/// per-file checks: read once, the memo would only cost a claim, a key and an entry).
pub fn default_diagnostics_of(
    db: &dyn Db,
    project: Project,
    file: SourceFile,
    hir: &kdep_sema::hir::FileHir,
) -> Vec<Diagnostic> {
    let fid = file.id(db);
    let mut ev = Eval::new(db, project);
    for name in hir.templates.keys() {
        let Some(model) = template_model(db, project, file, name.clone()) else { continue };
        for fm in model.fields.values() {
            let Some(d) = &fm.default else { continue };
            let narrowed_here = fm.ty_span.is_some_and(|s| s.file == fid);
            if d.file != file && !narrowed_here {
                continue;
            }
            if !crate::interp::is_constant(&d.expr, 0) {
                continue;
            }
            let mut ctx = ev.ctx(d.file, None, None);
            let Ok(v) = ev.expr(&d.expr, &mut ctx) else { continue };
            let mut violations = Vec::new();
            let _ = ev.conform(v, &fm.ty, &fm.name, d.span, &mut violations);
            for v in violations {
                let mut diag = Diagnostic::error(Code::INVALID_DEFAULT, v.message);
                if d.file == file {
                    diag = diag.with_primary(d.span, v.label);
                    if let Some(ts) = fm.ty_span {
                        diag = diag.with_secondary(ts, v.decl_label);
                    }
                } else if let Some(ts) = fm.ty_span {
                    diag = diag
                        .with_primary(ts, "the narrowed type rejects the inherited default")
                        .with_secondary(d.span, "default set here")
                        .with_help(format!("give `{}` a new default that fits the narrowed type", fm.name));
                }
                if let Some(h) = v.help {
                    diag = diag.with_help(h);
                }
                ev.diags.push(diag);
            }
        }
    }
    ev.diags
}

/// Bounds how many values of `default_diagnostics` the database keeps at its next eviction (the most
/// recently read; 0: all, and reads are no longer tracked). Set by `kdep_eval`'s batched
/// build only; salsa makes the setter private to this module.
pub fn set_default_diagnostics_lru(db: &mut dyn Db, capacity: usize) {
    default_diagnostics::set_lru_capacity(db, capacity);
}
