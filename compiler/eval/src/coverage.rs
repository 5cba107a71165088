//! Policy coverage of templates: does a template of the checked package permit an instance that
//! violates an active policy? Warns (K0605) with one counterexample instance.
//!
//! The candidate values of each settable field come from its type in sema's model: both ends of
//! an int, float, quantity or duration range, the int values just below, at and above each
//! number an active policy compares with (inside the range), every member of a literal union,
//! both bools, an optional left unset. String fields are decided against the patterns the
//! active policies test (`matches`, `starts_with`, `ends_with`, `contains` with a literal): for
//! each, the shortest string the field's own pattern accepts that the policy's pattern rejects,
//! and one it accepts, found by a DFA product search ([`crate::witness`]). A required string
//! also gets a typical sample its pattern accepts (a DNS name, a pinned image reference); when
//! a pattern has no DFA (Unicode word boundaries) the report says the search only sampled.
//! Other fields keep their defaults. Each combination (at most [`MAX_COMBINATIONS`], the report
//! says when the search was cut) is instantiated and evaluated by the ordinary evaluator in each
//! declared environment (or, when the package declares none, in an unprotected and a protected
//! stand-in), and its objects are checked by the same code as apps' (`policy::check_policy`).
//! One semantic model: nothing here interprets a template or a policy on its own.

use std::sync::Arc;

use kdep_diag::{Code, Diagnostic, Severity, Span};
use kdep_sema::db::{Db, Project, SourceFile};
use kdep_sema::hir::{file_hir, Expr, ExprKind, Name};
use kdep_sema::model::{template_model, TemplateModel};
use kdep_sema::policy::active_policies;
use kdep_sema::policy::{PolicyExpr, PolicyModel};
use kdep_sema::ty::{Lit, Ty};

use crate::witness::{witness, Witness};

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
    let probes = policy_probes(db, &policies);
    let mut out = Vec::new();
    for (name, t) in &file_hir(db, file).templates {
        if t.is_schema {
            continue;
        }
        let Some(model) = template_model(db, project, file, name.clone()) else { continue };
        out.extend(search(db, project, &model, &probes));
    }
    out
}

/// The candidates of each settable field, whether some were sampled, or `None` when a required
/// field has no value to try.
fn candidates(model: &TemplateModel, probes: &Probes) -> Option<(Fields, bool)> {
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
            Ty::Int(b) => {
                let mut v: Vec<i64> = b.lo.iter().chain(b.hi.iter()).copied().collect();
                // Just below, at and above each number a policy compares with, inside the range.
                for c in &probes.numbers {
                    let c = c.floor() as i64;
                    v.extend([c.saturating_sub(1), c, c.saturating_add(1)].into_iter().filter(|x| b.contains(x)));
                }
                v.sort_unstable();
                v.dedup();
                v.into_iter().map(|x| Some(ExprKind::Int(x))).collect()
            }
            Ty::Float(b) => {
                let mut v: Vec<f64> = b.lo.iter().chain(b.hi.iter()).copied().collect();
                v.extend(probes.numbers.iter().copied().filter(|x| b.contains(x)));
                v.sort_by(f64::total_cmp);
                v.dedup();
                v.into_iter().map(|x| Some(ExprKind::Float(x))).collect()
            }
            Ty::Quantity(b) => {
                b.lo.iter().chain(b.hi.iter()).map(|q| Some(ExprKind::Str(Name::from(q.to_string())))).collect()
            }
            Ty::Duration(b) => {
                b.lo.iter().chain(b.hi.iter()).map(|d| Some(ExprKind::Str(Name::from(d.to_string())))).collect()
            }
            Ty::Str(s) if !probes.patterns.is_empty() => {
                // Decided against each policy pattern: a string the field's pattern accepts that
                // the policy's rejects, and one it accepts.
                let own = s.pattern.as_ref().map(|p| &*p.source);
                let mut v = Vec::new();
                for p in &probes.patterns {
                    for matches in [false, true] {
                        match witness(own, Some(p), matches) {
                            Witness::Found(w) if s.len.contains(&(w.chars().count() as u64)) => v.push(w),
                            Witness::Found(_) | Witness::Empty => {}
                            Witness::Undecided => sampled = true,
                        }
                    }
                }
                v.dedup();
                v.into_iter().map(|w| Some(ExprKind::Str(Name::from(w)))).collect()
            }
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
        let is_str = matches!(ty, Ty::Str(_));
        if (optional && !has_default) || (has_default && is_str && !values.is_empty()) {
            // Unset: the default (or nothing) is a candidate too.
            values.insert(0, None);
        }
        if let (Ty::Str(s), false) = (ty, has_default || optional) {
            // A typical value first (a DNS name, a pinned image reference), the first the
            // pattern accepts: the shortest string of a pattern is rarely a valid name.
            let samples = [format!("sample-{name}"), format!("registry.example.com/sample/{name}:1.0.0")];
            let ok = |v: &String| s.pattern.as_ref().is_none_or(|p| p.regex.is_match(v));
            match samples.into_iter().find(ok) {
                Some(v) => values.insert(0, Some(ExprKind::Str(Name::from(v)))),
                None if values.is_empty() => {
                    // No sample fits: the shortest string the pattern accepts, if decidable.
                    match witness(s.pattern.as_ref().map(|p| &*p.source), None, false) {
                        Witness::Found(w) => values.push(Some(ExprKind::Str(Name::from(w)))),
                        Witness::Empty | Witness::Undecided => return None,
                    }
                }
                None => {}
            }
            values.dedup();
            if probes.patterns.is_empty() {
                sampled = true;
            }
        }
        if values.is_empty() {
            if has_default || optional {
                continue;
            }
            return None;
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

fn search(db: &dyn Db, project: Project, model: &Arc<TemplateModel>, probes: &Probes) -> Vec<Diagnostic> {
    let Some((fields, sampled)) = candidates(model, probes) else { return Vec::new() };
    let total: usize = fields.iter().map(|(_, v)| v.len().max(1)).fold(1usize, |a, n| a.saturating_mul(n));
    let tried = total.min(MAX_COMBINATIONS);
    let envs = environments(db, project, model.name_span);
    let policies = active_policies(db, project);
    let mut found: Vec<(usize, Diagnostic)> = Vec::new();
    for picks in combinations(&fields, tried) {
        let choice: Vec<(&Name, Option<ExprKind>)> =
            fields.iter().zip(&picks).map(|((name, values), k)| (name, values.get(*k).cloned().flatten())).collect();
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
                    format!("{EXACT}; string fields were sampled, other fields kept their defaults")
                } else {
                    format!("{EXACT}; other fields kept their defaults")
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

/// The combinations to try, as one candidate index per field, at most `limit`: the first
/// candidates, then every change of one field from them (so when the product is cut, each
/// field's every value was still tried), then the product, first field varying slowest.
fn combinations(fields: &Fields, limit: usize) -> Vec<Vec<usize>> {
    let base = vec![0; fields.len()];
    let mut out = vec![base.clone()];
    let mut seen: rustc_hash::FxHashSet<Vec<usize>> = rustc_hash::FxHashSet::default();
    seen.insert(base.clone());
    for (i, (_, values)) in fields.iter().enumerate() {
        for k in 1..values.len() {
            let mut c = base.clone();
            if let Some(slot) = c.get_mut(i) {
                *slot = k;
            }
            if out.len() < limit && seen.insert(c.clone()) {
                out.push(c);
            }
        }
    }
    let mut n = 0usize;
    while out.len() < limit {
        let mut rest = n;
        let mut c = vec![0; fields.len()];
        for (i, (_, values)) in fields.iter().enumerate().rev() {
            let k = values.len().max(1);
            if let Some(slot) = c.get_mut(i) {
                *slot = rest % k;
            }
            rest /= k;
        }
        if rest > 0 {
            break;
        }
        if seen.insert(c.clone()) {
            out.push(c);
        }
        n += 1;
    }
    out
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

/// What the search is exact over, for the report.
const EXACT: &str = "exact over range bounds (int, float, quantity, duration) and the numbers the policies compare \
with, literal unions, bools, unset optionals and string patterns against the policies' patterns";

/// What the active policies compare values with: numbers (`value >= 2`) and string patterns
/// (`matches(value, "re")`, `starts_with(value, "x")`, ...), gathered from their `when` and
/// `check` and the bodies of the functions of their module they call.
#[derive(Default)]
struct Probes {
    numbers: Vec<f64>,
    patterns: Vec<String>,
}

fn policy_probes(db: &dyn Db, policies: &[Arc<PolicyModel>]) -> Probes {
    let mut out = Probes::default();
    for p in policies {
        for e in [&p.when, &p.check].into_iter().flatten() {
            probe_expr(db, e, &e.value, &mut out, 0);
        }
        // `params.min = 2`: a number the check compares with through `params`.
        for param in &p.params {
            probe_expr(db, &param.expr, &param.expr.value, &mut out, 0);
        }
    }
    out.numbers.sort_by(f64::total_cmp);
    out.numbers.dedup();
    out.patterns.sort();
    out.patterns.dedup();
    out
}

/// Adds the literals `e` compares or matches with. Bounded in depth (expressions and function
/// bodies are user input); reads the expression tree only for literals, names resolve nowhere.
fn probe_expr(db: &dyn Db, at: &PolicyExpr, e: &Expr, out: &mut Probes, depth: u32) {
    if depth > 32 || out.patterns.len() > 16 || out.numbers.len() > 16 {
        return;
    }
    let lit = |e: &Expr| match &e.kind {
        ExprKind::Str(s) => Some(s.to_string()),
        _ => None,
    };
    match &e.kind {
        ExprKind::Int(i) => out.numbers.push(*i as f64),
        ExprKind::Float(x) => out.numbers.push(*x),
        ExprKind::Binary(_, a, b) => {
            probe_expr(db, at, a, out, depth + 1);
            probe_expr(db, at, b, out, depth + 1);
        }
        ExprKind::Unary(_, a) => probe_expr(db, at, a, out, depth + 1),
        ExprKind::If(c, t, other) => {
            for x in [Some(&**c), Some(&**t), other.as_deref()].into_iter().flatten() {
                probe_expr(db, at, x, out, depth + 1);
            }
        }
        ExprKind::List(items) => items.iter().for_each(|x| probe_expr(db, at, x, out, depth + 1)),
        ExprKind::Call(name, _, args) => {
            let pattern = match (&**name, args.get(1).and_then(lit)) {
                ("matches", Some(p)) => Some(p),
                ("starts_with", Some(p)) => Some(format!("^{}", regex::escape(&p))),
                ("ends_with", Some(p)) => Some(format!("{}$", regex::escape(&p))),
                ("contains", Some(p)) => Some(regex::escape(&p)),
                _ => None,
            };
            out.patterns.extend(pattern);
            args.iter().for_each(|x| probe_expr(db, at, x, out, depth + 1));
            // A function of the policy's module (`pinned(value)` in std.policies).
            if let Some(f) = file_hir(db, at.file).functions.get(name) {
                probe_expr(db, at, &f.body, out, depth + 1);
            }
        }
        _ => {}
    }
}
