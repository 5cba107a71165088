//! Policy coverage of templates: does a template of the checked package permit an instance that
//! violates an active policy? Warns (K0605) with one counterexample instance.
//!
//! The candidate values of each settable field come from its type in sema's model: both ends of
//! an int range, every member of a literal union, both bools, an optional left unset. Other
//! fields keep their defaults; a required string gets a sample value its pattern accepts (and the
//! report says the search sampled); with none, or another required type, it is not searched.
//! Each combination (at most [`MAX_COMBINATIONS`], the report says when the search was cut) is
//! instantiated and evaluated by the ordinary evaluator in each declared environment (or, when
//! the package declares none, in an unprotected and a protected stand-in), and its objects are
//! checked by the same code as apps' (`policy::check_policy`). One semantic model: nothing here
//! interprets a template or a policy on its own.

use std::sync::Arc;

use kdep_diag::{Code, Diagnostic, Severity, Span};
use kdep_sema::db::{Db, Project, SourceFile};
use kdep_sema::hir::{file_hir, Expr, ExprKind, Name};
use kdep_sema::model::{template_model, TemplateModel};
use kdep_sema::policy::active_policies;
use kdep_sema::ty::{Lit, Ty};

use crate::app::environment_infos;
use crate::interp::{Eval, Instance};
use crate::manifest::Manifest;
use crate::value::{Layer, Map, Origin, Value};

/// The most field combinations tried per template.
pub const MAX_COMBINATIONS: usize = 256;

/// A candidate value: a literal expression to assign, or `None` to leave the field unset.
type Candidate = Option<ExprKind>;

/// Each settable field with its candidates.
type Fields = Vec<(Name, Vec<Candidate>)>;

/// K0605 for the templates of `file` (only for files of the root package).
pub(crate) fn template_coverage(db: &dyn Db, project: Project, file: SourceFile) -> Vec<Diagnostic> {
    let policies = active_policies(db, project);
    if policies.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (name, t) in &file_hir(db, file).templates {
        if t.is_schema {
            continue;
        }
        let Some(model) = template_model(db, project, file, name.clone()) else { continue };
        out.extend(search(db, project, &model));
    }
    out
}

/// The candidates of each settable field, whether some were sampled, or `None` when a required
/// field has no value to try.
fn candidates(model: &TemplateModel) -> Option<(Fields, bool)> {
    let mut out = Vec::new();
    let mut sampled = false;
    for (name, f) in &model.fields {
        if f.locked.is_some() {
            continue;
        }
        let has_default = f.default.is_some();
        let (ty, optional) = match &*f.ty {
            Ty::Optional(inner) => (&**inner, true),
            other => (other, false),
        };
        let mut values: Vec<Candidate> = match ty {
            Ty::Int(b) => b.lo.iter().chain(b.hi.iter()).map(|v| Some(ExprKind::Int(*v))).collect(),
            Ty::Bool => vec![Some(ExprKind::Bool(false)), Some(ExprKind::Bool(true))],
            Ty::Union(lits) => lits
                .iter()
                .map(|l| {
                    Some(match l {
                        Lit::Str(s) => ExprKind::Str(s.clone()),
                        Lit::Int(i) => ExprKind::Int(*i),
                        Lit::Float(x) => ExprKind::Float(*x),
                        Lit::Bool(b) => ExprKind::Bool(*b),
                    })
                })
                .collect(),
            _ => Vec::new(),
        };
        values.dedup();
        if optional && !has_default {
            values.insert(0, None);
        }
        if values.is_empty() {
            if has_default || optional {
                continue;
            }
            match ty {
                Ty::Str(s) => {
                    // A pattern cannot be enumerated: try a few typical values (a DNS name, a
                    // pinned image reference) and take the first the pattern accepts.
                    let samples = [format!("sample-{name}"), format!("registry.example.com/sample/{name}:1.0.0")];
                    let ok = |v: &String| s.pattern.as_ref().is_none_or(|p| p.regex.is_match(v));
                    let v = samples.into_iter().find(ok)?;
                    sampled = true;
                    values.push(Some(ExprKind::Str(Name::from(v))));
                }
                _ => return None,
            }
        }
        out.push((name.clone(), values));
    }
    Some((out, sampled))
}

/// The environments to evaluate in: the declared ones, or stand-ins.
fn environments(db: &dyn Db, project: Project, at: Span) -> Vec<(Name, Value)> {
    let infos = environment_infos(db, project);
    if !infos.list.is_empty() {
        return infos.list.iter().map(|i| (Name::from(i.name.as_str()), i.value())).collect();
    }
    [("unprotected", false), ("protected", true)]
        .into_iter()
        .map(|(n, protected)| {
            let origin = Origin::new(Some(at), Layer::Computed);
            let mut m = Map::with_capacity(5);
            m.insert("name", Value::from(n), origin.clone());
            m.insert("context", Value::Null, origin.clone());
            m.insert("kubeconfig", Value::Null, origin.clone());
            m.insert("namespace", Value::Null, origin.clone());
            m.insert("protected", Value::Bool(protected), origin);
            (Name::from(n), Value::map(m))
        })
        .collect()
}

fn search(db: &dyn Db, project: Project, model: &Arc<TemplateModel>) -> Vec<Diagnostic> {
    let Some((fields, sampled)) = candidates(model) else { return Vec::new() };
    let total: usize = fields.iter().map(|(_, v)| v.len().max(1)).fold(1usize, |a, n| a.saturating_mul(n));
    let tried = total.min(MAX_COMBINATIONS);
    let envs = environments(db, project, model.name_span);
    let policies = active_policies(db, project);
    let mut found: Vec<(usize, Diagnostic)> = Vec::new();
    for n in 0..tried {
        // The n-th combination, first field varying slowest.
        let mut rest = n;
        let mut choice = Vec::with_capacity(fields.len());
        for (name, values) in fields.iter().rev() {
            let k = values.len().max(1);
            choice.push((name, values.get(rest % k).cloned().flatten()));
            rest /= k;
        }
        choice.reverse();
        for (env_name, env_value) in &envs {
            let Some(objects) = instantiate(db, project, model, &choice, (env_name, env_value)) else { continue };
            for (pi, policy) in policies.iter().enumerate() {
                if found.iter().any(|(i, _)| *i == pi) {
                    continue;
                }
                let mut ev = Eval::new(db, project);
                ev.env = Some((env_name.clone(), env_value.clone()));
                crate::policy::check_policy(&mut ev, policy, &objects, &Name::from("(instance)"), model.name_span);
                let Some(v) = ev.diags.iter().find(|d| d.code == Code::POLICY_VIOLATION) else { continue };
                // Optionals left unset are not listed: an app that omits them writes the same.
                let instance = choice
                    .iter()
                    .filter_map(|(name, c)| c.as_ref().map(|k| format!("{name} = {}", literal(k))))
                    .collect::<Vec<_>>()
                    .join(", ");
                let mut d = Diagnostic::warning(
                    Code::TEMPLATE_PERMITS_VIOLATION,
                    format!(
                        "template `{}` permits instances that violate policy `{}`",
                        model.qualified, policy.qualified
                    ),
                )
                .with_primary(model.name_span, "permits a violation")
                .with_secondary(policy.name_span, "policy declared here")
                .with_note(format!("counterexample in environment `{env_name}`: {{ {instance} }}: {}", v.message));
                d = d.with_note(if sampled {
                    "exact over int range bounds, literal unions, bools and unset optionals; string fields were sampled, other fields kept their defaults".to_owned()
                } else {
                    "exact over int range bounds, literal unions, bools and unset optionals; other fields kept their defaults".to_owned()
                });
                if tried < total {
                    d = d.with_note(format!("the search was cut after {tried} of {total} combinations"));
                }
                d = d.with_help("narrow the field's type or lock it so every instance complies, or make the policy's `when` exclude it");
                let severity_warning = policy.severity == Severity::Warning;
                if severity_warning {
                    d = d.with_note("the policy is a warning: instances violating it still build");
                }
                found.push((pi, d));
            }
        }
        if found.len() == policies.len() {
            break;
        }
    }
    found.into_iter().map(|(_, d)| d).collect()
}

fn literal(k: &ExprKind) -> String {
    match k {
        ExprKind::Int(i) => i.to_string(),
        ExprKind::Float(x) => x.to_string(),
        ExprKind::Bool(b) => b.to_string(),
        ExprKind::Str(s) => format!("{s:?}"),
        _ => "?".to_owned(),
    }
}

/// Evaluates one instance of `model` and returns its objects, or `None` when the instance is
/// not valid (a check fails, a value does not conform): such an instance cannot be written.
fn instantiate(
    db: &dyn Db,
    project: Project,
    model: &Arc<TemplateModel>,
    choice: &[(&Name, Option<ExprKind>)],
    env: (&Name, &Value),
) -> Option<Vec<Manifest>> {
    let mut inst = Instance::new(model.clone());
    let site = model.name_span;
    for (name, value) in choice {
        let Some(kind) = value.clone() else { continue };
        let expr = Arc::new(Expr { kind, range: site.range });
        inst.assign(&[((*name).clone(), site.range)], expr, model.file, Origin::new(Some(site), Layer::Computed));
    }
    let mut ev = Eval::new(db, project);
    ev.env = Some((env.0.clone(), env.1.clone()));
    let i = ev.push_instance(inst);
    ev.record(i).ok()?;
    ev.run_checks(i);
    let mut objects = Vec::new();
    for emit in &model.emits {
        let mut ctx = ev.ctx(emit.file, Some(i), Some(&emit.owner));
        let values = ev.emitted(&emit.value, &mut ctx).ok()?;
        for (value, _) in values {
            objects.push(Manifest::from_object(value, "(instance)", site, "").ok()?);
        }
    }
    if ev.diags.iter().any(|d| d.severity == Severity::Error) {
        return None;
    }
    Some(objects)
}
