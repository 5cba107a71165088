//! Running the active policies over the objects an app emits (one environment at a time).
//!
//! The models come from `kdep_sema::policy`; this module selects each policy's subjects in an
//! object (`at` selectors), evaluates `when`, `check` and `message` with the ordinary evaluator
//! in the policy's own module, and reports a violation at the origin of the offending value:
//! the map entry the selector reached carries the span of the assignment that set it (the
//! team's `image = "...:latest"`, through any number of template layers). A missing value is
//! reported at the app, naming the missing path. Objects are checked before kdep stamps its
//! namespace, labels and annotation, so a policy sees what the sources wrote.

use kdep_diag::{Code, Diagnostic, Severity, Span};
use kdep_sema::db::SourceFile;
use kdep_sema::hir::{AppHir, Name};
use kdep_sema::policy::{active_policies, waiver_target, PolicyExpr, PolicyModel, Selector, SelectorSeg};

use crate::interp::{Eval, R};
use crate::manifest::Manifest;
use crate::value::{Map, Origin, Value};

/// One value a policy checks: where it is in the object and who set it.
struct Subject {
    /// `spec.template.spec.containers[0].image`; empty for the object itself.
    path: String,
    /// `None` when the selected field is missing (the check then reads `null`).
    value: Option<Value>,
    /// The origin of the entry that holds the value (or, for a list item, the list).
    origin: Option<Origin>,
}

/// Checks `objects`, emitted by `app` (declared in `file` at `app_span`), against every active
/// policy the app does not (validly) waive. Violations and evaluation problems go to `ev.diags`.
pub(crate) fn check_app(ev: &mut Eval, objects: &[Manifest], file: SourceFile, app: &AppHir, app_span: Span) {
    let policies = active_policies(ev.db, ev.project);
    if policies.is_empty() || objects.is_empty() {
        return;
    }
    let waived: Vec<(SourceFile, Name)> = app
        .waivers
        .iter()
        .filter(|w| w.reason.as_ref().is_some_and(|(r, _)| !r.trim().is_empty()))
        .filter_map(|w| waiver_target(ev.db, ev.project, file, &w.policy))
        .collect();
    for policy in policies.iter() {
        let is_waived = waived.iter().any(|(f, n)| *f == policy.file && *n == policy.name);
        if is_waived && policy.waivable {
            continue;
        }
        check_policy(ev, policy, objects, &app.name, app_span);
    }
}

/// Checks `objects` (emitted for `app`, reported at `app_span`) against one policy.
pub(crate) fn check_policy(ev: &mut Eval, policy: &PolicyModel, objects: &[Manifest], app: &Name, app_span: Span) {
    for m in objects {
        if policy.kinds.as_ref().is_some_and(|k| !k.contains(&m.kind)) {
            continue;
        }
        check_object(ev, policy, m, app, app_span);
    }
}

fn check_object(ev: &mut Eval, policy: &PolicyModel, m: &Manifest, app: &Name, app_span: Span) {
    let object = m.object.clone();
    let Ok(params) = params(ev, policy, &object) else { return };
    let locals = |value: Value| {
        vec![
            (Name::from("object"), object.clone()),
            (Name::from("value"), value),
            (Name::from("params"), params.clone()),
        ]
    };
    if let Some(when) = &policy.when {
        match eval_bool(ev, when, locals(object.clone()), "when") {
            Ok(true) => {}
            Ok(false) | Err(_) => return,
        }
    }
    let subjects = if policy.at.is_empty() {
        vec![Subject { path: String::new(), value: Some(object.clone()), origin: None }]
    } else {
        let mut out = Vec::new();
        for sel in &policy.at {
            select(sel, &object, &mut out);
        }
        out
    };
    let Some(check) = &policy.check else { return };
    for s in subjects {
        let value = s.value.clone().unwrap_or(Value::Null);
        match eval_bool(ev, check, locals(value.clone()), "check") {
            Ok(true) | Err(_) => continue,
            Ok(false) => {}
        }
        let message = match &policy.message {
            Some(msg) => match eval_message(ev, msg, locals(value)) {
                Ok(text) => text,
                Err(_) => continue,
            },
            None => format!("violates policy `{}`", policy.qualified),
        };
        ev.diags.push(violation(policy, m, app, app_span, &s, message));
    }
}

/// The violation diagnostic: at the value's origin when it has one in the sources, else at the
/// app, with the policy as secondary label.
fn violation(
    policy: &PolicyModel,
    m: &Manifest,
    app: &Name,
    app_span: Span,
    s: &Subject,
    message: String,
) -> Diagnostic {
    let what = if s.path.is_empty() { m.describe() } else { format!("`{}` of {}", s.path, m.describe()) };
    let mut d = match policy.severity {
        Severity::Warning => Diagnostic::warning(Code::POLICY_VIOLATION, message),
        _ => Diagnostic::error(Code::POLICY_VIOLATION, message),
    };
    let site = s.origin.as_ref().and_then(|o| o.span);
    d = match (&s.value, site) {
        (None, _) => d.with_primary(app_span, format!("{what} is missing (app `{app}`)")),
        (Some(_), Some(span)) => {
            let d = d.with_primary(span, format!("{what} is set here"));
            if span == app_span {
                d
            } else {
                d.with_secondary(app_span, format!("in app `{app}`"))
            }
        }
        (Some(_), None) => d.with_primary(app_span, format!("{what} (app `{app}`)")),
    };
    d = d.with_secondary(policy.name_span, format!("policy `{}` declared here", policy.name));
    if policy.waivable {
        // How an app in another module names it: the module's alias, by default its last segment.
        let module = policy.qualified.rsplit_once('.').map_or("", |(m, _)| m);
        let alias = module.rsplit('.').next().unwrap_or(module);
        d = d.with_help(format!(
            "change the value, or waive the policy in the app with a reason: `waive {alias}.{} : \"why\"` \
             (with `import {module}`)",
            policy.name
        ));
    } else {
        d = d.with_help("this policy cannot be waived: change the value");
    }
    d
}

fn ctx_for(ev: &mut Eval, e: &PolicyExpr, locals: Vec<(Name, Value)>) -> crate::interp::Ctx {
    let mut ctx = ev.policy_ctx(e.file);
    ctx.locals = locals;
    ctx
}

fn eval_bool(ev: &mut Eval, e: &PolicyExpr, locals: Vec<(Name, Value)>, what: &str) -> R<bool> {
    let mut ctx = ctx_for(ev, e, locals);
    match ev.root_expr(&e.value, &mut ctx)? {
        Value::Bool(b) => Ok(b),
        other => {
            let span = Span::new(e.file.id(ev.db), e.value.range);
            Err(ev.error(
                Code::TYPE_MISMATCH,
                format!("a policy's `{what}` must be a bool, got {}", other.type_name()),
                span,
                "not a bool",
            ))
        }
    }
}

fn eval_message(ev: &mut Eval, e: &PolicyExpr, locals: Vec<(Name, Value)>) -> R<String> {
    let mut ctx = ctx_for(ev, e, locals);
    match ev.root_expr(&e.value, &mut ctx)? {
        Value::Str(s) => Ok(s.to_string()),
        other => {
            let span = Span::new(e.file.id(ev.db), e.value.range);
            Err(ev.error(
                Code::TYPE_MISMATCH,
                format!("a policy's `message` must be a string, got {}", other.type_name()),
                span,
                "not a string",
            ))
        }
    }
}

/// The merged `params` map, evaluated for `object` (entries may read it and `env`).
fn params(ev: &mut Eval, policy: &PolicyModel, object: &Value) -> R<Value> {
    let mut map = Value::map(Map::new());
    for p in &policy.params {
        let locals = vec![(Name::from("object"), object.clone()), (Name::from("value"), object.clone())];
        let mut ctx = ctx_for(ev, &p.expr, locals);
        let v = ev.root_expr(&p.expr.value, &mut ctx)?;
        if p.path.is_empty() {
            if v.as_map().is_some() {
                map = v;
            }
        } else {
            crate::interp::set_path(
                &mut map,
                &p.path,
                v,
                Origin::new(Some(p.expr.span), crate::value::Layer::Computed),
            );
        }
    }
    Ok(map)
}

/// Adds the subjects `sel` selects in `object`. The part up to the last `[*]` must exist;
/// past it a missing field is a subject with no value.
fn select(sel: &Selector, object: &Value, out: &mut Vec<Subject>) {
    let anchor = sel.segments.iter().rposition(|s| *s == SelectorSeg::Each);
    // Iterative walk: (segment index, value, path, origin of the entry holding it).
    let mut stack: Vec<(usize, Value, String, Option<Origin>)> = vec![(0, object.clone(), String::new(), None)];
    while let Some((i, v, path, origin)) = stack.pop() {
        let Some(seg) = sel.segments.get(i) else {
            out.push(Subject { path, value: Some(v), origin });
            continue;
        };
        let join = |k: &str| if path.is_empty() { k.to_owned() } else { format!("{path}.{k}") };
        match seg {
            SelectorSeg::Key(k) => match v.as_map().and_then(|m| m.get_entry(k)) {
                Some(e) => stack.push((i + 1, e.value.clone(), join(k), Some(e.origin.clone()))),
                None if anchor.is_none_or(|a| i > a) => {
                    let rest: Vec<String> = sel.segments.get(i..).unwrap_or_default().iter().map(seg_text).collect();
                    out.push(Subject { path: join(&rest.join(".").replace(".[*]", "[*]")), value: None, origin });
                }
                None => {}
            },
            SelectorSeg::Each => {
                // Pushed in reverse so subjects come out in document order.
                if let Some(items) = v.as_list() {
                    for (n, item) in items.iter().enumerate().rev() {
                        stack.push((i + 1, item.clone(), format!("{path}[{n}]"), origin.clone()));
                    }
                } else if let Some(m) = v.as_map() {
                    let entries: Vec<_> = m.entries().collect();
                    for (k, e) in entries.into_iter().rev() {
                        stack.push((i + 1, e.value.clone(), join(k), Some(e.origin.clone())));
                    }
                }
            }
        }
    }
}

fn seg_text(s: &SelectorSeg) -> String {
    match s {
        SelectorSeg::Key(k) => k.to_string(),
        SelectorSeg::Each => "[*]".to_owned(),
    }
}
