//! Running `test` declarations: lets and assertions evaluated in the test's module scope, with
//! `build(env)` giving the package's built objects, and a failed assertion's sub-values.
//!
//! `build("production")` is the same evaluation as `kdep build --env production`: every root
//! app through the memoised [`crate::app::eval_app`] query, finalised by
//! [`crate::manifest::finalize`] (namespace, kdep's labels, duplicates); each object is a map,
//! so tests read it with the language's own field access, comprehensions and builtins.
//! `expect_error` blocks are left to the caller, which can make the module variant they are
//! checked in (see `kdep_compiler::Workspace::run_tests`): the compiler crates create no
//! inputs of their own.

use kdep_diag::{Code, Diagnostic, Span, TextRange};
use kdep_sema::db::{Db, Project, SourceFile};
use kdep_sema::hir::{file_hir, Expr, ExprKind, Name, TestHir, TestStep};
use kdep_sema::index::project_index;

use crate::interp::{Eval, Poison, R};
use crate::value::Value;

/// The name under which a test body reads the package's objects.
pub const BUILD_FN: &str = kdep_sema::scope::TEST_BUILD_FN;

/// How a test ended, apart from its `expect_error` blocks.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Passed,
    /// An assertion was false (or an `expect_error` block not met): its span, its message, and
    /// detail lines, `source text = value` for the parts of a failed condition.
    Failed {
        at: Span,
        message: String,
        details: Vec<String>,
    },
    /// The test could not run to its end; the diagnostics say why.
    Errored(Vec<Diagnostic>),
}

/// An `expect_error` block the test reached, to be checked by the caller.
#[derive(Clone, Debug, PartialEq)]
pub struct ExpectBlock {
    pub code: Name,
    pub code_span: Span,
    /// The block's braces.
    pub body: TextRange,
}

/// The result of the test's own statements.
#[derive(Clone, Debug, PartialEq)]
pub struct TestRun {
    pub outcome: Outcome,
    /// The blocks reached before the test ended, in order.
    pub expect: Vec<ExpectBlock>,
}

/// Runs the lets and assertions of `test` (written in `file`) in order; the first false
/// assertion or error ends it.
pub fn run_test(db: &dyn Db, project: Project, file: SourceFile, test: &TestHir) -> TestRun {
    let fid = file.id(db);
    let mut ev = Eval::new(db, project);
    let mut ctx = ev.ctx(file, None, None);
    // The test scope: the module plus `build(env)`, as the static check resolves it.
    ctx.scope = std::rc::Rc::new(kdep_sema::scope::Resolver::test(db, project, file));
    let mut expect = Vec::new();
    let errored = |ev: &mut Eval, expect: Vec<ExpectBlock>| {
        let mut diags = std::mem::take(&mut ev.diags);
        crate::finish_diagnostics(db, project, &mut diags);
        TestRun { outcome: Outcome::Errored(diags), expect }
    };
    for step in &test.steps {
        match step {
            TestStep::Let(l) => match ev.expr(&l.value, &mut ctx) {
                Ok(v) => ctx.locals.push((l.name.clone(), v)),
                Err(Poison) => return errored(&mut ev, expect),
            },
            TestStep::Assert(a) => {
                let at = Span::new(fid, a.range);
                match ev.expr(&a.cond, &mut ctx) {
                    Ok(Value::Bool(true)) => {}
                    Ok(Value::Bool(false)) => {
                        let text = file.text(db);
                        let details = sub_values(&mut ev, &a.cond, &mut ctx, text)
                            .into_iter()
                            .map(|(source, value)| format!("{source} = {value}"))
                            .collect();
                        let message = a.message.as_deref().unwrap_or("assertion failed").to_owned();
                        return TestRun { outcome: Outcome::Failed { at, message, details }, expect };
                    }
                    Ok(other) => {
                        ev.diags.push(
                            Diagnostic::error(
                                Code::TEST_ERROR,
                                format!(
                                    "an assertion must be a bool, got {} `{}`",
                                    other.type_name(),
                                    other.render_short()
                                ),
                            )
                            .with_primary(Span::new(fid, a.cond.range), "not a bool"),
                        );
                        return errored(&mut ev, expect);
                    }
                    Err(Poison) => return errored(&mut ev, expect),
                }
            }
            TestStep::ExpectError { code, code_range, body, .. } => {
                expect.push(ExpectBlock { code: code.clone(), code_span: Span::new(fid, *code_range), body: *body })
            }
        }
    }
    // An error reported without stopping the test (none today) still fails it.
    if kdep_diag::has_errors(&ev.diags) {
        return errored(&mut ev, expect);
    }
    TestRun { outcome: Outcome::Passed, expect }
}

/// `source text = value` for the parts of a failed condition a reader needs, as pytest shows
/// them: the operands of comparisons and logical operators, calls and their arguments, names
/// and field reads; literals are left out. At most 8, each once, outermost first.
fn sub_values(ev: &mut Eval, cond: &Expr, ctx: &mut crate::interp::Ctx, text: &str) -> Vec<(String, String)> {
    let mut parts: Vec<&Expr> = Vec::new();
    // Explicit stack with a depth bound: conditions are user input.
    let mut stack: Vec<(&Expr, u32)> = vec![(cond, 0)];
    while let Some((e, depth)) = stack.pop() {
        if parts.len() >= 8 || depth > 4 {
            continue;
        }
        let mut children: Vec<&Expr> = Vec::new();
        match &e.kind {
            ExprKind::Binary(_, a, b) => children.extend([&**a, &**b]),
            ExprKind::Unary(_, a) => children.push(a),
            ExprKind::Call(_, _, args) => {
                if depth > 0 {
                    parts.push(e);
                }
                children.extend(args.iter());
            }
            ExprKind::Name(_) | ExprKind::Field(..) | ExprKind::Index(..) if depth > 0 => parts.push(e),
            ExprKind::Null | ExprKind::Bool(_) | ExprKind::Int(_) | ExprKind::Float(_) | ExprKind::Str(_) => {}
            _ if depth > 0 => parts.push(e),
            _ => {}
        }
        stack.extend(children.into_iter().rev().map(|c| (c, depth + 1)));
    }
    let mut out: Vec<(String, String)> = Vec::new();
    let before = ev.diags.len();
    for e in parts {
        let source = text.get(e.range.as_usize_range()).unwrap_or_default().to_owned();
        if source.is_empty() || out.iter().any(|(s, _)| *s == source) {
            continue;
        }
        if let Ok(v) = ev.expr(e, ctx) {
            out.push((source, v.render_short()));
        }
    }
    // Evaluating again is pure; anything it reported was reported the first time.
    ev.diags.truncate(before);
    out
}

/// `build()` (no environment) or `build("production")`: the package's objects as a list of
/// maps, exactly what `kdep build` emits. Problems of the build are the test's errors.
pub(crate) fn build_value(ev: &mut Eval, args: &[Value], span: Span) -> R {
    let env: Option<Name> = match args {
        [] => None,
        [Value::Str(e)] => Some(Name::from(&**e)),
        _ => {
            return Err(ev.error(
                Code::WRONG_ARGUMENTS,
                "`build` takes an environment name (`build(\"production\")`) or nothing",
                span,
                "called here",
            ))
        }
    };
    let (db, project) = (ev.db, ev.project);
    let infos = crate::app::environment_infos(db, project);
    let mut namespace = None;
    if let Some(e) = &env {
        match infos.list.iter().find(|i| *i.name == **e) {
            Some(info) => namespace = info.namespace.clone(),
            None => {
                let mut d =
                    Diagnostic::error(Code::ENVIRONMENT_NOT_FOUND, format!("environment `{e}` is not declared"))
                        .with_primary(span, "built here");
                if let Some(best) = kdep_sema::suggest::best(e, infos.list.iter().map(|i| i.name.as_str())) {
                    d = d.with_help(format!("did you mean `{best}`?"));
                }
                ev.diags.push(d);
                return Err(Poison);
            }
        }
    }
    let mut objects = Vec::new();
    let mut problems = Vec::new();
    for file in project_index(db, project).root_files() {
        for app in file_hir(db, file).apps.keys() {
            let out = crate::app::eval_app(db, project, file, app.clone(), env.clone());
            let display = crate::app::source_display(db, file, app);
            objects.extend(out.objects.iter().cloned().map(|mut m| {
                m.source_display.clone_from(&display);
                m
            }));
            problems.extend(out.diagnostics.iter().filter(|d| d.severity == kdep_diag::Severity::Error).cloned());
        }
    }
    let (manifests, dups) = crate::manifest::finalize(objects, namespace.as_deref());
    problems.extend(dups);
    if !problems.is_empty() {
        ev.diags.extend(problems);
        let which = env.as_deref().map_or("without an environment".to_owned(), |e| format!("of `{e}`"));
        ev.diags.push(
            Diagnostic::error(Code::TEST_ERROR, format!("the build {which} fails, so the test cannot inspect it"))
                .with_primary(span, "built here"),
        );
        return Err(Poison);
    }
    Ok(Value::list(manifests.into_iter().map(|m| m.object).collect()))
}
