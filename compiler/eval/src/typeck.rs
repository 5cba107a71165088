//! Static checking of template and schema bodies: the kinds of expressions are inferred from
//! field types, literals, schema records and builtin signatures, so operator, interpolation,
//! condition and iteration mistakes are reported even in a package that declares no app.
//!
//! The inference is deliberately conservative: anything not known for sure is `Unknown` and
//! accepted; evaluation checks the rest. Messages are the evaluator's own, word for word, so a
//! mistake found both here and while evaluating an app is reported once (`normalize` removes
//! exact duplicates).
//!
//! The same checker, walking an emitted object literal along its Kubernetes schema, also
//! proves once per template which parts of it conform for every instance ([`emit_plans`]), so
//! the evaluator checks only the rest.

use std::sync::Arc;

use kdep_diag::{Code, Diagnostic, FileId, Span, TextRange};
use kdep_sema::db::{Db, Project, SourceFile};
use kdep_sema::hir::{file_hir, BinaryOp, Clause, Expr, ExprKind, InterpPart, KeySeg, MemberHir, Name, ObjEntry};
use kdep_sema::model::{resolve_template, template_model, TemplateModel};
use kdep_sema::ops::{self, OpKind};
use kdep_sema::scope::{Callee, Resolution, Resolver};
use kdep_sema::ty::{ListIdentity, Lit, StrTy, Ty};

use crate::interp::is_constant;
use rustc_hash::FxHashMap;

use kdep_sema::builtins::Kind;

/// A statically known kind of value.
#[derive(Clone, Debug)]
enum K {
    Unknown,
    Null,
    Bool,
    Int,
    Float,
    Str,
    Quantity,
    Duration,
    List(Box<K>),
    Map(Box<K>),
    Record(Arc<TemplateModel>),
}

impl K {
    /// The evaluator's `Value::type_name` for values of this kind.
    fn name(&self) -> &'static str {
        match self {
            K::Unknown => "value",
            K::Null => "null",
            K::Bool => "bool",
            K::Int => "int",
            K::Float => "float",
            K::Str => "string",
            K::Quantity => "quantity",
            K::Duration => "duration",
            K::List(_) => "list",
            K::Map(_) | K::Record(_) => "map",
        }
    }

    /// The operand kind of `kdep_sema::ops`; `None` when unknown (nothing is reported then).
    fn op_kind(&self) -> Option<OpKind> {
        Some(match self {
            K::Unknown => return None,
            K::Null => OpKind::Null,
            K::Bool => OpKind::Bool,
            K::Int => OpKind::Int,
            K::Float => OpKind::Float,
            K::Str => OpKind::Str,
            K::Quantity => OpKind::Quantity,
            K::Duration => OpKind::Duration,
            K::List(_) => OpKind::List,
            K::Map(_) | K::Record(_) => OpKind::Map,
        })
    }

    /// The kind an operator's result has (items and values of collections unknown).
    fn of_op(k: OpKind) -> K {
        match k {
            OpKind::Null => K::Null,
            OpKind::Bool => K::Bool,
            OpKind::Int => K::Int,
            OpKind::Float => K::Float,
            OpKind::Str => K::Str,
            OpKind::Quantity => K::Quantity,
            OpKind::Duration => K::Duration,
            OpKind::List => K::List(Box::new(K::Unknown)),
            OpKind::Map => K::Map(Box::new(K::Unknown)),
        }
    }

    fn known(&self) -> bool {
        !matches!(self, K::Unknown)
    }

    fn is_num(&self) -> bool {
        matches!(self, K::Int | K::Float)
    }

    fn same(&self, other: &K) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
            && !matches!(self, K::List(_) | K::Map(_) | K::Record(_))
    }
}

fn of_ty(db: &dyn Db, project: Project, ty: &Ty, depth: u32) -> K {
    if depth > 16 {
        return K::Unknown;
    }
    match ty {
        Ty::Bool => K::Bool,
        Ty::Int(_) => K::Int,
        Ty::Float(_) => K::Float,
        Ty::Str(_) => K::Str,
        Ty::Quantity(_) => K::Quantity,
        Ty::Duration(_) => K::Duration,
        Ty::List(item, ..) => K::List(Box::new(of_ty(db, project, item, depth + 1))),
        Ty::Map(v, ..) => K::Map(Box::new(of_ty(db, project, v, depth + 1))),
        Ty::Union(members) if members.iter().all(|m| matches!(m, Lit::Str(_))) => K::Str,
        Ty::Union(members) if members.iter().all(|m| matches!(m, Lit::Int(_))) => K::Int,
        Ty::Schema(s) => template_model(db, project, s.file, s.name.clone()).map_or(K::Unknown, K::Record),
        _ => K::Unknown,
    }
}

fn of_builtin(kind: Kind) -> K {
    match kind {
        Kind::Str => K::Str,
        Kind::Int => K::Int,
        Kind::Float => K::Float,
        Kind::Bool => K::Bool,
        Kind::Quantity => K::Quantity,
        Kind::Duration => K::Duration,
        Kind::List => K::List(Box::new(K::Unknown)),
        Kind::Map => K::Map(Box::new(K::Unknown)),
        _ => K::Unknown,
    }
}

/// Deepest recursion of the checker (expressions, and expected types along them).
const MAX_DEPTH: u32 = 300;

/// `T?` is checked as `T` (a `null` constant is conformed with the whole type).
fn strip_optional(ty: &Ty) -> &Ty {
    match ty {
        Ty::Optional(inner) => inner,
        other => other,
    }
}

/// Whether some value of kind `k` is a value of `ty` (as the evaluator's conformance converts:
/// ints to floats and quantities, strings to quantities and durations). Unknown kinds fit.
fn accepts(ty: &Ty, k: &K, depth: u32) -> bool {
    if depth > 16 || matches!(k, K::Unknown | K::Null) {
        return true;
    }
    match ty {
        Ty::Any | Ty::Error => true,
        Ty::Optional(inner) => accepts(inner, k, depth + 1),
        Ty::Bool => matches!(k, K::Bool),
        Ty::Int(_) => matches!(k, K::Int),
        Ty::Float(_) => k.is_num(),
        Ty::Str(_) => matches!(k, K::Str),
        Ty::Quantity(_) => matches!(k, K::Quantity | K::Str | K::Int),
        Ty::Duration(_) => matches!(k, K::Duration | K::Str),
        Ty::List(..) => matches!(k, K::List(_)),
        Ty::Map(..) | Ty::Schema(_) => matches!(k, K::Map(_) | K::Record(_)),
        Ty::Union(members) => members.iter().any(|m| match m {
            Lit::Str(_) => matches!(k, K::Str),
            // A float equal to an int member is that member.
            Lit::Int(_) | Lit::Float(_) => k.is_num(),
            Lit::Bool(_) => matches!(k, K::Bool),
        }),
        Ty::OneOf(members) => members.iter().any(|m| accepts(m, k, depth + 1)),
    }
}

/// A literal scalar (what a key field can be compared by without evaluating).
fn scalar(e: &ExprKind) -> Option<&ExprKind> {
    matches!(e, ExprKind::Str(_) | ExprKind::Int(_) | ExprKind::Bool(_) | ExprKind::Float(_)).then_some(e)
}

/// A literal scalar as the evaluator renders it in messages.
fn lit_text(e: &ExprKind) -> Option<String> {
    match e {
        ExprKind::Str(s) => {
            let mut text = String::with_capacity(s.len() + 2);
            kdep_sema::ty::write_string_literal(&mut text, s);
            Some(text)
        }
        ExprKind::Int(i) => Some(i.to_string()),
        ExprKind::Bool(b) => Some(b.to_string()),
        ExprKind::Float(x) => Some(x.to_string()),
        _ => None,
    }
}

/// The key of a record literal in a `key(...)` list: each key field's literal value, `None`
/// where it is absent (or `null`); `None` overall when a key may be computed.
fn key_of<'e>(entries: &'e [ObjEntry], fields: &[Name]) -> Option<Vec<Option<&'e ExprKind>>> {
    let mut out = vec![None; fields.len()];
    for en in entries {
        let ObjEntry::Field { key, value, .. } = en else { return None };
        let Some(KeySeg::Static(k, _)) = key.first() else { return None };
        let Some(slot) = fields.iter().position(|f| f == k).and_then(|i| out.get_mut(i)) else { continue };
        if key.len() > 1 {
            return None;
        }
        *slot = match &value.kind {
            ExprKind::Null => None,
            other => Some(scalar(other)?),
        };
    }
    Some(out)
}

/// What a value in a typed position is checked as: its name in messages (`replicas`,
/// `containers[0]`, `labels.app`; a record restarts it at its field, as the evaluator's
/// conformance does), where to report it, and the declaration of its type.
#[derive(Clone)]
struct Site {
    what: String,
    /// The entry (or list item) that writes the value.
    at: Span,
    decl: Option<Span>,
    /// Whether the value is the whole of `at`; otherwise (an `if` branch) a mistake in the
    /// value is reported at the value itself.
    direct: bool,
}

struct Checker<'a> {
    db: &'a dyn Db,
    project: Project,
    file: SourceFile,
    fid: FileId,
    model: Option<Arc<TemplateModel>>,
    /// What names mean in the body being checked (the one resolver the evaluator uses too).
    scope: Resolver,
    locals: Vec<(Name, K)>,
    lets: FxHashMap<Name, K>,
    /// Template lets being inferred, to stop on cycles (reported by evaluation).
    in_progress: Vec<Name>,
    /// The template whose body is checked, when planning an emit ([`emit_plans`]): the `let`s
    /// it declares are followed where they are used.
    owner: Option<Name>,
    /// Whether to report problems (off while inferring a `let` used by name: it is checked
    /// where it is declared).
    report: bool,
    out: Vec<Diagnostic>,
    /// The editor's question "which record literal is at this offset" ([`record_at`]): the
    /// offset, and the innermost record literal around it met so far.
    probe: Option<u32>,
    found: Option<RecordAt>,
}

/// A record literal checked against a schema or template, as [`record_at`] finds it.
#[derive(Clone, Debug)]
pub struct RecordAt {
    /// The schema (or template) the literal is a record of: its fields, types and docs.
    pub model: Arc<TemplateModel>,
    /// The keys the literal sets (their first segment), with their ranges.
    pub keys: Vec<(Name, TextRange)>,
    /// The literal (or the entry whose value it is).
    pub range: TextRange,
}

impl<'a> Checker<'a> {
    fn new(db: &'a dyn Db, project: Project, file: SourceFile, scope: Resolver, locals: Vec<(Name, K)>) -> Self {
        let model = scope.members().cloned();
        Checker {
            db,
            project,
            file,
            fid: file.id(db),
            model,
            scope,
            locals,
            lets: FxHashMap::default(),
            in_progress: Vec::new(),
            owner: None,
            report: true,
            out: Vec::new(),
            probe: None,
            found: None,
        }
    }

    fn span(&self, e: &Expr) -> Span {
        Span::new(self.fid, e.range)
    }

    fn error(&mut self, code: Code, message: String, span: Span, label: impl Into<String>) {
        if self.report {
            self.out.push(Diagnostic::error(code, message).with_primary(span, label));
        }
    }

    fn name(&mut self, n: &Name) -> K {
        if let Some((_, k)) = self.locals.iter().rev().find(|(l, _)| l == n) {
            return k.clone();
        }
        let Some(model) = self.model.clone() else { return K::Unknown };
        let res = self.scope.resolve(n);
        if let (Resolution::Field, Some(f)) = (res, model.fields.get(n)) {
            return of_ty(self.db, self.project, &f.ty, 0);
        }
        if let (Resolution::TemplateLet, Some(l)) = (res, model.lets.get(n)) {
            if let Some(ty) = &l.ty {
                return of_ty(self.db, self.project, ty, 0);
            }
            if let Some(k) = self.lets.get(n) {
                return k.clone();
            }
            if self.in_progress.contains(n) || self.in_progress.len() > 32 || l.file != self.file {
                return K::Unknown;
            }
            self.in_progress.push(n.clone());
            let report = std::mem::replace(&mut self.report, false);
            let locals = std::mem::take(&mut self.locals);
            let k = self.expr(&l.expr, 0);
            self.locals = locals;
            self.report = report;
            self.in_progress.pop();
            self.lets.insert(n.clone(), k.clone());
            return k;
        }
        K::Unknown
    }

    fn clause(&mut self, c: &Clause, depth: u32) -> usize {
        let source = self.expr(&c.source, depth);
        let (first, second) = match &source {
            K::List(t) => match c.second {
                None => ((**t).clone(), K::Unknown),
                Some(_) => (K::Int, (**t).clone()),
            },
            K::Map(t) => (K::Str, (**t).clone()),
            K::Record(_) => (K::Str, K::Unknown),
            K::Unknown => (K::Unknown, K::Unknown),
            other => {
                let name = other.name();
                self.error(
                    Code::TYPE_MISMATCH,
                    format!("cannot iterate over a {name}"),
                    self.span(&c.source),
                    "expected a list or map",
                );
                (K::Unknown, K::Unknown)
            }
        };
        let base = self.locals.len();
        self.locals.push((c.first.clone(), first));
        if let Some(s) = &c.second {
            self.locals.push((s.clone(), second));
        }
        if let Some(cond) = &c.cond {
            let k = self.expr(cond, depth);
            if k.known() && !matches!(k, K::Bool) {
                self.error(
                    Code::TYPE_MISMATCH,
                    format!("a comprehension filter must be a bool, got {}", k.name()),
                    self.span(cond),
                    "not a bool",
                );
            }
        }
        base
    }

    fn expr(&mut self, e: &Expr, depth: u32) -> K {
        // The IR bounds nesting; this guards the inference's own recursion through lets.
        if depth > MAX_DEPTH {
            return K::Unknown;
        }
        // As in the evaluator: the bound decides, not the embedding thread's stack.
        stacker::maybe_grow(crate::interp::STACK_RED_ZONE, crate::interp::STACK_SEGMENT, || self.expr_inner(e, depth))
    }

    fn expr_inner(&mut self, e: &Expr, depth: u32) -> K {
        let d = depth + 1;
        match &e.kind {
            ExprKind::Null => K::Null,
            ExprKind::Bool(_) => K::Bool,
            ExprKind::Int(_) => K::Int,
            ExprKind::Float(_) => K::Float,
            ExprKind::Str(_) => K::Str,
            ExprKind::Error => K::Unknown,
            ExprKind::Interp(parts) => {
                for p in parts {
                    if let InterpPart::Expr(x) = p {
                        let k = self.expr(x, d);
                        if let Some(Err(err)) = k.op_kind().map(ops::interpolation) {
                            self.op_error(err, self.span(x));
                        }
                    }
                }
                K::Str
            }
            ExprKind::Name(n) => self.name(n),
            ExprKind::Field(base, field, frange) => {
                let is_import = matches!(&base.kind, ExprKind::Name(n)
                    if !self.locals.iter().any(|(l, _)| l == n)
                        && matches!(self.scope.resolve(n), Resolution::Module(_)));
                if is_import {
                    return K::Unknown;
                }
                match self.expr(base, d) {
                    K::Record(model) => match model.fields.get(field) {
                        // Optional fields may be absent from the record: only required or
                        // defaulted non-optional fields are certain.
                        Some(f) if !matches!(*f.ty, Ty::Optional(_)) => of_ty(self.db, self.project, &f.ty, 0),
                        _ => K::Unknown,
                    },
                    K::Map(v) => *v,
                    K::Unknown => K::Unknown,
                    other => {
                        let name = other.name();
                        self.error(
                            Code::TYPE_MISMATCH,
                            format!("cannot read field `{field}` of a {name}"),
                            Span::new(self.fid, *frange),
                            format!("this is a {name}"),
                        );
                        K::Unknown
                    }
                }
            }
            ExprKind::Index(base, idx) => {
                let b = self.expr(base, d);
                let i = self.expr(idx, d);
                match (&b, &i) {
                    (K::List(t), K::Int) => (**t).clone(),
                    (K::Map(t), K::Str) => (**t).clone(),
                    (K::Record(_), K::Str) => K::Unknown,
                    (b, i) if b.known() && i.known() => {
                        let (bn, inn) = (b.name(), i.name());
                        self.error(
                            Code::TYPE_MISMATCH,
                            format!("cannot index a {bn} with a {inn}"),
                            self.span(e),
                            "invalid index",
                        );
                        K::Unknown
                    }
                    _ => K::Unknown,
                }
            }
            ExprKind::Call(name, _, args) => {
                for a in args {
                    self.expr(a, d);
                }
                let head = name.split('.').next().unwrap_or_default();
                match self.scope.callee(name, self.locals.iter().any(|(l, _)| &**l == head)) {
                    Callee::Function { file, name: fname } => return self.call_function(file, &fname, args.len(), e),
                    Callee::Builtin => {}
                    Callee::BrokenImport | Callee::NotInModule { .. } | Callee::TestBuild => return K::Unknown,
                }
                let Some(b) = kdep_sema::builtins::lookup(name) else { return K::Unknown };
                // The evaluator's own message (the same function makes it).
                if let Some(msg) = b.arity_error(args.len()) {
                    self.error(Code::WRONG_ARGUMENTS, msg, self.span(e), "called here");
                }
                of_builtin(b.ret)
            }
            ExprKind::Unary(op, a) => {
                let k = self.expr(a, d);
                match k.op_kind().map(|k| ops::unary(*op, k)) {
                    None => K::Unknown,
                    Some(Ok(_)) => k,
                    Some(Err(err)) => {
                        self.op_error(err, self.span(e));
                        K::Unknown
                    }
                }
            }
            ExprKind::Binary(op, a, b) => self.binary(*op, a, b, e, d),
            ExprKind::If(c, t, f) => {
                self.condition(c, d);
                let tk = self.expr(t, d);
                // Without `else` the value may be absent; lowering checked where that is allowed.
                let Some(f) = f else { return K::Unknown };
                let fk = self.expr(f, d);
                if tk.same(&fk) {
                    tk
                } else {
                    K::Unknown
                }
            }
            ExprKind::List(items) => {
                for i in items {
                    self.expr(i, d);
                }
                K::List(Box::new(K::Unknown))
            }
            ExprKind::ListComp(item, clause) => {
                let base = self.clause(clause, d);
                let k = self.expr(item, d);
                self.locals.truncate(base);
                K::List(Box::new(k))
            }
            ExprKind::Object(entries) => {
                self.entries(entries, d);
                K::Map(Box::new(K::Unknown))
            }
            ExprKind::Instantiate(path, entries) => {
                let model = match resolve_template(self.db, self.project, self.file, &path.segments, path.range, true) {
                    Ok((f, n)) => template_model(self.db, self.project, f, n),
                    Err(_) => None,
                };
                match model {
                    Some(model) => {
                        self.record_literal(&model, entries, e, d);
                        K::Record(model)
                    }
                    None => {
                        self.entries(entries, d);
                        K::Unknown
                    }
                }
            }
        }
    }

    /// A call of user function `name` of `file`: the arity is checked (with the evaluator's
    /// diagnostic) and the result has the declared return type.
    fn call_function(&mut self, file: SourceFile, name: &Name, n_args: usize, e: &Expr) -> K {
        let sigs = kdep_sema::func::fn_signatures(self.db, self.project, file);
        let Some(sig) = sigs.0.get(name) else { return K::Unknown };
        if let Some(msg) = sig.arity_error(name, n_args) {
            if self.report {
                let decl = Span::new(file.id(self.db), sig.name_range);
                self.out.push(
                    Diagnostic::error(Code::WRONG_ARGUMENTS, msg)
                        .with_primary(self.span(e), "called here")
                        .with_secondary(decl, "function declared here"),
                );
            }
        }
        of_ty(self.db, self.project, &sig.ret, 0)
    }

    /// A record literal `Schema { ... }`: see [`Checker::record_entries`]. The evaluator leaves
    /// what this check reports to it (`instantiate_record_checked`), so each problem is reported
    /// once, with no app needed.
    fn record_literal(&mut self, model: &Arc<TemplateModel>, entries: &[ObjEntry], e: &Expr, d: u32) {
        self.record_entries(model, entries, self.span(e), None, &[], d);
    }

    /// An emitted value: an object literal whose `apiVersion` and `kind` are string literals
    /// naming a Kubernetes kind with a schema (`kdep_sema::resources`) is checked as a record of
    /// that schema, as the evaluator checks every emitted object; lists, comprehensions and
    /// `if` branches of an `emit` are followed to their objects.
    fn emit_value(&mut self, e: &Expr, d: u32) {
        if d > MAX_DEPTH {
            return;
        }
        let d1 = d + 1;
        match &e.kind {
            ExprKind::If(c, t, f) => {
                self.condition(c, d1);
                self.emit_value(t, d1);
                if let Some(f) = f {
                    self.emit_value(f, d1);
                }
            }
            ExprKind::List(items) => {
                for it in items {
                    self.emit_value(it, d1);
                }
            }
            ExprKind::ListComp(item, clause) => {
                let base = self.clause(clause, d1);
                self.emit_value(item, d1);
                self.locals.truncate(base);
            }
            ExprKind::Object(entries) => match self.resource_model(entries) {
                Some(model) => {
                    // They match the schema's locked values (that is how it was found). Labels
                    // name fields from the object's root, as for `emit apps.Deployment { ... }`.
                    let whole = self.span(e);
                    self.record_entries(&model, entries, whole, None, &["apiVersion", "kind"], d1);
                }
                None => {
                    self.expr(e, d);
                }
            },
            _ => {
                self.expr(e, d);
            }
        }
    }

    /// The schema of an untyped object literal's `(apiVersion, kind)`, when both are string
    /// literals and the kind has one.
    fn resource_model(&self, entries: &[ObjEntry]) -> Option<Arc<TemplateModel>> {
        self.resource_schema(entries).map(|(.., model)| model)
    }

    /// The entries of a record literal of `model`, nested (`parent` names the record in labels,
    /// `spec` or `containers[0]`, as the evaluator's conformance does) or not: literal keys must
    /// be fields (K0202, with did-you-mean) and not locked (K0301), values are checked along the
    /// field types ([`Checker::keyed_value`]), and when every key is literal, required fields
    /// must be given (K0203 at `whole`).
    fn record_entries(
        &mut self,
        model: &Arc<TemplateModel>,
        entries: &[ObjEntry],
        whole: Span,
        parent: Option<&str>,
        skip: &[&str],
        d: u32,
    ) {
        if let Some(offset) = self.probe {
            let inner = self.found.as_ref().is_none_or(|f| whole.range.len() <= f.range.len());
            if whole.range.start <= offset && offset <= whole.range.end && inner {
                let keys = entries
                    .iter()
                    .filter_map(|en| match en {
                        ObjEntry::Field { key, .. } => match key.first() {
                            Some(KeySeg::Static(k, r)) => Some((k.clone(), *r)),
                            _ => None,
                        },
                        ObjEntry::Comp { .. } => None,
                    })
                    .collect();
                self.found = Some(RecordAt { model: model.clone(), keys, range: whole.range });
            }
        }
        let mut given: Vec<&Name> = Vec::new();
        let mut all_literal = true;
        for en in entries {
            let (key, value, range) = match en {
                ObjEntry::Field { key, value, range } => (key, value, range),
                ObjEntry::Comp { .. } => {
                    all_literal = false;
                    self.entries(std::slice::from_ref(en), d);
                    continue;
                }
            };
            let Some(KeySeg::Static(k, _)) = key.first() else {
                all_literal = false;
                self.entries(std::slice::from_ref(en), d);
                continue;
            };
            for seg in key.iter().skip(1) {
                if let KeySeg::Computed(x) = seg {
                    self.expr(x, d);
                }
            }
            given.push(k);
            if skip.contains(&&**k) && key.len() == 1 {
                self.expr(value, d);
                continue;
            }
            let site = Span::new(self.fid, *range);
            let Some(fm) = model.fields.get(k) else {
                // An `@open` schema keeps fields it does not declare (typed `any`).
                if model.open {
                    self.expr(value, d);
                    continue;
                }
                let label = match parent {
                    Some(p) => format!("{p}.{k}"),
                    None => k.to_string(),
                };
                self.push(crate::interp::unknown_record_field(model, k, &label, site));
                self.expr(value, d);
                continue;
            };
            if let Some(lock) = &fm.locked {
                self.push(crate::interp::locked_record_field(k, lock, site));
                self.expr(value, d);
                continue;
            }
            let fm = fm.clone();
            let at = Site { what: k.to_string(), at: site, decl: fm.ty_span.or(Some(fm.decl_span)), direct: true };
            self.keyed_value(&fm.ty, key.get(1..).unwrap_or_default(), value, &at, d);
        }
        if all_literal {
            for fm in model.fields.values() {
                // Optional fields without a default are simply absent when not given.
                let optional = matches!(*fm.ty, Ty::Optional(_));
                if fm.default.is_none() && !optional && !given.contains(&&fm.name) {
                    self.push(
                        Diagnostic::error(
                            Code::MISSING_FIELD,
                            format!("required field `{}` of `{}` is not set", fm.name, model.qualified),
                        )
                        .with_primary(whole, format!("`{}` missing", fm.name))
                        .with_secondary(fm.decl_span, "required field declared here"),
                    );
                }
            }
        }
    }

    /// The value of an entry whose key goes on with `rest` after the part `site` names
    /// (`selector.matchLabels = ...` after `selector`): the path is followed through schemas
    /// and maps, reporting unknown and locked fields and keys that break a map's key type on the
    /// way, and the value is checked against the type at its end.
    fn keyed_value(&mut self, ty: &Ty, rest: &[KeySeg], value: &Expr, site: &Site, d: u32) {
        let Some((seg, rest)) = rest.split_first() else {
            self.expect(value, ty, site, d);
            return;
        };
        let KeySeg::Static(name, nrange) = seg else {
            self.expr(value, d);
            return;
        };
        if d > MAX_DEPTH {
            return;
        }
        match strip_optional(ty) {
            Ty::Schema(sref) => {
                let Some(model) = template_model(self.db, self.project, sref.file, sref.name.clone()) else {
                    self.expr(value, d);
                    return;
                };
                let Some(fm) = model.fields.get(name) else {
                    if model.open {
                        self.expr(value, d);
                        return;
                    }
                    let label = format!("{}.{name}", site.what);
                    self.push(crate::interp::unknown_record_field(&model, name, &label, site.at));
                    self.expr(value, d);
                    return;
                };
                if let Some(lock) = &fm.locked {
                    self.push(crate::interp::locked_record_field(name, lock, site.at));
                    self.expr(value, d);
                    return;
                }
                let fm = fm.clone();
                let next =
                    Site { what: name.to_string(), at: site.at, decl: fm.ty_span.or(Some(fm.decl_span)), direct: true };
                self.keyed_value(&fm.ty, rest, value, &next, d + 1);
            }
            Ty::Map(vty, _, key_ty) => {
                self.map_key(name, *nrange, key_ty.as_deref(), site);
                let next = Site { what: format!("{}.{name}", site.what), at: site.at, decl: site.decl, direct: true };
                self.keyed_value(vty, rest, value, &next, d + 1);
            }
            _ => {
                self.expr(value, d);
            }
        }
    }

    /// A literal key of a map whose keys are refined (`{string(/re/): T}`): the evaluator's
    /// report, at the key.
    fn map_key(&mut self, name: &str, range: TextRange, key_ty: Option<&StrTy>, site: &Site) {
        let Some(p) = key_ty.and_then(|k| k.pattern.as_ref()) else { return };
        if p.regex.is_match(name) {
            return;
        }
        let mut d = Diagnostic::error(
            Code::PATTERN_MISMATCH,
            format!("key \"{name}\" of `{}` does not match /{}/", site.what, p.escaped()),
        )
        .with_primary(Span::new(self.fid, range), format!("key \"{name}\" does not match the pattern"));
        if let Some(decl) = site.decl {
            d = d.with_secondary(decl, "key pattern declared here");
        }
        self.push(d);
    }

    /// Checks `value`, written where a value of `ty` is expected, and returns its kind. Object
    /// and list literals, comprehension items and `if` branches are followed along the type, so
    /// a mistake deep inside an emitted object is reported where it is written, in templates no
    /// app uses too. Constants go through the evaluator's own conformance (the report an app
    /// would get); other expressions are checked by kind. Anything unsure is accepted.
    fn expect(&mut self, value: &Expr, ty: &Ty, site: &Site, d: u32) -> K {
        if d > MAX_DEPTH {
            return K::Unknown;
        }
        let d1 = d + 1;
        if let ExprKind::If(c, t, f) = &value.kind {
            self.condition(c, d1);
            // A branch is reported where it is written, not at the whole entry.
            let inner = Site { direct: false, ..site.clone() };
            let tk = self.expect(t, ty, &inner, d1);
            let Some(f) = f else { return K::Unknown };
            let fk = self.expect(f, ty, &inner, d1);
            return if tk.same(&fk) { tk } else { K::Unknown };
        }
        if matches!(strip_optional(ty), Ty::Any | Ty::Error) {
            return self.expr(value, d);
        }
        if crate::interp::is_constant(value, 0) {
            self.probe_constant(value, ty, site, d1);
            let at = if site.direct { site.at } else { self.span(value) };
            self.conform_constant(value, ty, &site.what, at, site.decl);
            return self.expr(value, d);
        }
        let ty = strip_optional(ty);
        match (&value.kind, ty) {
            (ExprKind::Object(entries), Ty::Schema(sref)) => {
                match template_model(self.db, self.project, sref.file, sref.name.clone()) {
                    Some(model) => self.record_entries(&model, entries, self.span(value), Some(&site.what), &[], d1),
                    None => self.entries(entries, d1),
                }
                K::Map(Box::new(K::Unknown))
            }
            (ExprKind::Object(entries), Ty::Map(vty, _, key_ty)) => {
                self.map_entries(entries, vty, key_ty.as_deref(), site, d1);
                K::Map(Box::new(K::Unknown))
            }
            (ExprKind::List(items), Ty::List(item_ty, list)) => {
                self.list_identity(items, &list.identity, site);
                for (i, it) in items.iter().enumerate() {
                    let at =
                        Site { what: format!("{}[{i}]", site.what), at: self.span(it), decl: site.decl, direct: true };
                    self.expect(it, item_ty, &at, d1);
                }
                K::List(Box::new(K::Unknown))
            }
            (ExprKind::ListComp(item, clause), Ty::List(item_ty, _)) => {
                let base = self.clause(clause, d1);
                let at = Site { what: format!("{}[*]", site.what), at: self.span(item), decl: site.decl, direct: true };
                let k = self.expect(item, item_ty, &at, d1);
                self.locals.truncate(base);
                K::List(Box::new(k))
            }
            (ExprKind::Object(_) | ExprKind::List(_) | ExprKind::ListComp(..), Ty::OneOf(members)) => {
                // Followed only when exactly one member can hold this literal: with several, the
                // evaluator decides which one the value is.
                let is_object = matches!(value.kind, ExprKind::Object(_));
                let mut fits = members.iter().map(strip_optional).filter(|m| match m {
                    Ty::Schema(_) | Ty::Map(..) => is_object,
                    Ty::List(..) => !is_object,
                    _ => false,
                });
                match (fits.next(), fits.next()) {
                    (Some(m), None) => self.expect(value, m, site, d1),
                    (None, _) => {
                        let k = self.expr(value, d1);
                        self.kind_check(&k, ty, value, site);
                        k
                    }
                    _ => self.expr(value, d1),
                }
            }
            _ => {
                let k = self.expr(value, d1);
                self.kind_check(&k, ty, value, site);
                k
            }
        }
    }

    /// For [`record_at`] only: a constant literal is checked as a whole by conformance, so the
    /// record literals inside it are walked here (reporting nothing) when the probed offset is
    /// in it.
    fn probe_constant(&mut self, value: &Expr, ty: &Ty, site: &Site, d: u32) {
        let Some(offset) = self.probe else { return };
        if !(value.range.start <= offset && offset <= value.range.end) || d > MAX_DEPTH {
            return;
        }
        match (&value.kind, strip_optional(ty)) {
            (ExprKind::Object(entries), Ty::Schema(sref)) => {
                if let Some(model) = template_model(self.db, self.project, sref.file, sref.name.clone()) {
                    let report = std::mem::replace(&mut self.report, false);
                    let out = self.out.len();
                    self.record_entries(&model, entries, self.span(value), Some(&site.what), &[], d + 1);
                    self.out.truncate(out);
                    self.report = report;
                }
            }
            (ExprKind::List(items), Ty::List(item_ty, _)) => {
                for it in items {
                    self.probe_constant(it, item_ty, site, d + 1);
                }
            }
            _ => {}
        }
    }

    /// The entries of an object literal where a map of `vty` is expected.
    fn map_entries(&mut self, entries: &[ObjEntry], vty: &Ty, key_ty: Option<&StrTy>, site: &Site, d: u32) {
        for en in entries {
            match en {
                ObjEntry::Field { key, value, range } => {
                    let Some(KeySeg::Static(k, krange)) = key.first() else {
                        self.entries(std::slice::from_ref(en), d);
                        continue;
                    };
                    for seg in key.iter().skip(1) {
                        if let KeySeg::Computed(x) = seg {
                            self.expr(x, d);
                        }
                    }
                    self.map_key(k, *krange, key_ty, site);
                    let at = Site {
                        what: format!("{}.{k}", site.what),
                        at: Span::new(self.fid, *range),
                        decl: site.decl,
                        direct: true,
                    };
                    self.keyed_value(vty, key.get(1..).unwrap_or_default(), value, &at, d);
                }
                ObjEntry::Comp { key, value, clause, .. } => {
                    let base = self.clause(clause, d);
                    self.expr(key, d);
                    let at =
                        Site { what: format!("{}.*", site.what), at: self.span(value), decl: site.decl, direct: true };
                    self.expect(value, vty, &at, d);
                    self.locals.truncate(base);
                }
            }
        }
    }

    /// K0220 in a list literal (a constant one is checked by conformance): two record literals
    /// whose key fields (`key(name)`) are all constants or absent with equal values, or two equal
    /// constant items of a `unique` list. The later item is reported, labelling the earlier one.
    /// Items whose key is computed (or may be: a comprehension entry, a computed key, an `if`
    /// item) are left to the evaluator.
    fn list_identity(&mut self, items: &[Expr], identity: &ListIdentity, site: &Site) {
        if items.len() < 2 || matches!(identity, ListIdentity::Plain) || !self.report {
            return;
        }
        let mut seen: Vec<(usize, Vec<Option<&ExprKind>>)> = Vec::new();
        for (i, it) in items.iter().enumerate() {
            let id = match identity {
                ListIdentity::Key(fields) => match &it.kind {
                    ExprKind::Object(entries) => key_of(entries, fields),
                    _ => None,
                },
                _ => scalar(&it.kind).map(|k| vec![Some(k)]),
            };
            let Some(id) = id else { continue };
            let Some((first, _)) = seen.iter().find(|(_, other)| *other == id) else {
                seen.push((i, id));
                continue;
            };
            let first = *first;
            let what = &site.what;
            let (message, label, help) = match identity {
                ListIdentity::Key(fields) => {
                    let shown: Vec<String> = fields
                        .iter()
                        .zip(&id)
                        .map(|(f, v)| match v.and_then(lit_text) {
                            Some(text) => format!("{f} = {text}"),
                            None => format!("{f} absent"),
                        })
                        .collect();
                    (
                        format!("`{what}[{i}]` has the same key as `{what}[{first}]`: {}", shown.join(", ")),
                        format!("items [{first}] and [{i}] share a key"),
                        format!("items of this list are identified by {identity}; give each item its own"),
                    )
                }
                _ => (
                    format!(
                        "`{what}[{i}]` repeats `{what}[{first}]`: {}",
                        id.first().copied().flatten().and_then(lit_text).unwrap_or_default()
                    ),
                    format!("items [{first}] and [{i}] are equal"),
                    "the items of a `unique` list must be distinct; remove the repeated one".to_string(),
                ),
            };
            let Some(earlier) = items.get(first) else { continue };
            let mut d = Diagnostic::error(Code::DUPLICATE_LIST_KEY, message)
                .with_primary(self.span(it), label)
                .with_secondary(self.span(earlier), format!("item [{first}]"));
            if let Some(decl) = site.decl {
                d = d.with_secondary(decl, format!("`{identity}` declared here"));
            }
            self.push(d.with_help(help));
        }
    }

    /// A constant `value` against `ty`, through the evaluator's own conformance, so the report
    /// is word for word the one an app would get.
    fn conform_constant(&mut self, value: &Expr, ty: &Ty, what: &str, at: Span, decl: Option<Span>) {
        if !self.report {
            return;
        }
        let mut ev = crate::interp::Eval::new(self.db, self.project);
        // This is the static check the evaluator defers to; it must not consult itself.
        ev.defer_to_static = false;
        let mut ctx = ev.ctx(self.file, None, None);
        if let Ok(v) = ev.expr(value, &mut ctx) {
            let _ = ev.conform_reported(v, ty, what, at, decl, Code::TYPE_MISMATCH, None);
        }
        for diag in ev.diags {
            self.push(diag);
        }
    }

    /// A value of kind `k` where `ty` is expected: K0201 when no value of that kind fits. The
    /// message is the evaluator's without the value, which is unknown here.
    fn kind_check(&mut self, k: &K, ty: &Ty, value: &Expr, site: &Site) {
        if accepts(ty, k, 0) {
            return;
        }
        let expected = ty.kind_name();
        let at = if site.direct { site.at } else { self.span(value) };
        let mut d =
            Diagnostic::error(Code::TYPE_MISMATCH, format!("`{}` expects {expected}, got {}", site.what, k.name()))
                .with_primary(at, format!("expected {expected}"));
        if let Some(decl) = site.decl {
            d = d.with_secondary(decl, format!("type `{ty}` declared here"));
        }
        self.push(d);
    }

    /// An `if` condition, which must be a bool.
    fn condition(&mut self, c: &Expr, d: u32) {
        let ck = self.expr(c, d);
        if ck.known() && !matches!(ck, K::Bool) {
            self.error(
                Code::TYPE_MISMATCH,
                format!("an `if` condition must be a bool, got {}", ck.name()),
                self.span(c),
                "not a bool",
            );
        }
    }

    fn push(&mut self, d: Diagnostic) {
        if self.report {
            self.out.push(d);
        }
    }

    fn entries(&mut self, entries: &[ObjEntry], d: u32) {
        for en in entries {
            match en {
                ObjEntry::Field { key, value, .. } => {
                    for k in key {
                        if let KeySeg::Computed(x) = k {
                            self.expr(x, d);
                        }
                    }
                    self.expr(value, d);
                }
                ObjEntry::Comp { key, value, clause, .. } => {
                    let base = self.clause(clause, d);
                    self.expr(key, d);
                    self.expr(value, d);
                    self.locals.truncate(base);
                }
            }
        }
    }

    fn binary(&mut self, op: BinaryOp, a: &Expr, b: &Expr, e: &Expr, d: u32) -> K {
        let l = self.expr(a, d);
        let r = self.expr(b, d);
        if matches!(op, BinaryOp::And | BinaryOp::Or) {
            for (k, x) in [(&l, a), (&r, b)] {
                if let Some(Err(err)) = k.op_kind().map(|k| ops::logical_operand(op, k)) {
                    self.op_error(err, self.span(x));
                    return K::Bool;
                }
            }
            return K::Bool;
        }
        let (Some(lk), Some(rk)) = (l.op_kind(), r.op_kind()) else {
            return match op {
                BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => K::Bool,
                _ => K::Unknown,
            };
        };
        // The evaluator decides by the same rule (`kdep_sema::ops`) on the values' kinds.
        match ops::binary(op, lk, rk) {
            Ok(k) => K::of_op(k),
            Err(err) => {
                self.op_error(err, self.span(e));
                K::Unknown
            }
        }
    }

    fn op_error(&mut self, err: ops::OpError, at: Span) {
        self.error(err.code, err.message, at, err.label);
    }
}

/// Whether the evaluator's `message` says what typeck's `pattern` says: it starts with it, where
/// a `*` in the pattern (a comprehension item `[*]` or map value `.*`, whose index or key typeck
/// cannot know) stands for any text without a backtick. The evaluator may add the value typeck
/// did not know (`` got string `"3"` ``).
pub(crate) fn message_covers(pattern: &str, message: &str) -> bool {
    let mut parts = pattern.split('*');
    let Some(first) = parts.next() else { return true };
    let Some(mut rest) = message.strip_prefix(first) else { return false };
    for part in parts {
        let Some(at) = rest.find(part) else { return false };
        match rest.get(..at) {
            Some(skipped) if !skipped.contains('`') => {}
            _ => return false,
        }
        rest = rest.get(at + part.len()..).unwrap_or_default();
    }
    true
}

/// Static problems in the bodies of the templates and schemas declared in `file`.
// `lru = 0`: bounded by a batched build only (see `kdep_eval::build_rendered_in_batches`).
#[salsa::tracked(returns(clone), lru = 0)]
pub fn type_diagnostics(db: &dyn Db, project: Project, file: SourceFile) -> Arc<Vec<Diagnostic>> {
    Arc::new(type_diagnostics_of(db, project, file, file_hir(db, file), &Resolver::module(db, project, file)))
}

/// The body of [`type_diagnostics`], on the file's lowering and module scope already fetched
/// (a build's per-file checks: read once, the memo would only cost a claim, a key and an entry).
pub fn type_diagnostics_of(
    db: &dyn Db,
    project: Project,
    file: SourceFile,
    hir: &kdep_sema::hir::FileHir,
    module: &Resolver,
) -> Vec<Diagnostic> {
    check_file(db, project, file, hir, module, None).0
}

/// Bounds how many values of `type_diagnostics` the database keeps at its next eviction (the most
/// recently read; 0: all, and reads are no longer tracked). Set by `kdep_eval`'s batched
/// build only; salsa makes the setter private to this module.
pub fn set_type_diagnostics_lru(db: &mut dyn Db, capacity: usize) {
    type_diagnostics::set_lru_capacity(db, capacity);
}

/// The innermost record literal around `offset` in `file` that the static check follows along
/// its expected schema (`emit apps.Deployment { ... }`, `spec = { ... }` inside it, records in
/// lists, typed `let`s), for the editor's completion and hover of its keys. The same walk as
/// [`type_diagnostics`], so the editor and the check agree on what a literal is a record of.
///
/// `offset` is a file offset (or already anchored); the key ranges found are HIR ranges.
pub fn record_at(db: &dyn Db, project: Project, file: SourceFile, offset: u32) -> Option<RecordAt> {
    let offset = kdep_sema::anchors::anchor_offset(db, file, offset);
    check_file(db, project, file, file_hir(db, file), &Resolver::module(db, project, file), Some(offset)).1
}

/// `module`: the module scope of `file` (lowered as `hir`), from which every body's scope of
/// the file is made.
fn check_file(
    db: &dyn Db,
    project: Project,
    file: SourceFile,
    hir: &kdep_sema::hir::FileHir,
    module: &Resolver,
    probe: Option<u32>,
) -> (Vec<Diagnostic>, Option<RecordAt>) {
    let mut out = Vec::new();
    let mut found: Option<RecordAt> = None;
    let mut keep = |f: Option<RecordAt>| {
        if let Some(f) = f {
            if found.as_ref().is_none_or(|g| f.range.len() <= g.range.len()) {
                found = Some(f);
            }
        }
    };
    for (name, t) in &hir.templates {
        let mut ck = Checker::new(db, project, file, module.for_template(db, project, name), Vec::new());
        ck.probe = probe;
        for m in &t.members {
            match m {
                MemberHir::Field(f) => {
                    if let Some(d) = &f.default {
                        ck.expr(d, 0);
                        // A default that can be absent needs an optional field (the evaluator
                        // reports the same per app; this covers templates no app uses).
                        let ty = ck.model.as_ref().and_then(|m| m.fields.get(&f.name)).map(|fm| fm.ty.clone());
                        if let (Some(at), Some(ty)) = (d.absent_if(), ty) {
                            if !matches!(*ty, Ty::Optional(_)) {
                                ck.out.push(kdep_sema::hir::no_value_diagnostic(Span::new(ck.fid, at)));
                            }
                        }
                    }
                }
                MemberHir::Let(l) => {
                    ck.expr(&l.value, 0);
                }
                MemberHir::Check(c) => {
                    let k = ck.expr(&c.cond, 0);
                    if k.known() && !matches!(k, K::Bool) {
                        let span = Span::new(ck.fid, c.range);
                        ck.error(
                            Code::TYPE_MISMATCH,
                            format!("a check must be a bool, got {}", k.name()),
                            span,
                            "not a condition",
                        );
                    }
                }
                MemberHir::Emit(e) => {
                    ck.emit_value(&e.value, 0);
                }
            }
        }
        keep(ck.found.take());
        out.extend(ck.out);
    }
    // Module-level bodies (top-level `let`s, apps, `in` blocks, environments) see no template
    // members; their record literals are checked here too, since the evaluator leaves literal
    // keys to this check wherever they are written.
    let mut ck = Checker::new(db, project, file, module.clone(), Vec::new());
    ck.probe = probe;
    for l in hir.lets.values() {
        ck.expr(&l.value, 0);
    }
    // App bodies also see the environment and the module's other apps.
    let module_scope = std::mem::replace(&mut ck.scope, module.for_apps());
    for a in hir.apps.values() {
        for set in a.sets.iter().chain(a.envs.iter().flat_map(|b| b.sets.iter())) {
            ck.expr(&set.value, 0);
        }
    }
    ck.scope = module_scope;
    for e in hir.environments.values() {
        for set in &e.sets {
            ck.expr(&set.value, 0);
        }
    }
    keep(ck.found.take());
    out.extend(ck.out);

    // Function bodies: the parameters are the only locals, with their declared kinds.
    // Not asked for without functions: the memo would stay for the whole run (sema's
    // `static_diagnostics` skips it likewise).
    let sigs =
        if hir.functions.is_empty() { Default::default() } else { kdep_sema::func::fn_signatures(db, project, file) };
    for (name, f) in &hir.functions {
        let locals = match sigs.0.get(name) {
            Some(sig) => sig.params.iter().map(|p| (p.name.clone(), of_ty(db, project, &p.ty, 0))).collect(),
            None => Vec::new(),
        };
        let mut ck = Checker::new(db, project, file, module.clone(), locals);
        ck.probe = probe;
        ck.expr(&f.body, 0);
        keep(ck.found.take());
        out.extend(ck.out);
    }
    // Test statements: each `let` is a local of the statements after it, with its inferred kind.
    for t in &hir.tests {
        let mut ck = Checker::new(db, project, file, module.for_tests(), Vec::new());
        ck.probe = probe;
        for step in &t.steps {
            match step {
                kdep_sema::hir::TestStep::Let(l) => {
                    let k = ck.expr(&l.value, 0);
                    ck.locals.push((l.name.clone(), k));
                }
                kdep_sema::hir::TestStep::Assert(a) => {
                    let k = ck.expr(&a.cond, 0);
                    if k.known() && !matches!(k, K::Bool) {
                        let span = Span::new(ck.fid, a.cond.range);
                        ck.error(
                            Code::TYPE_MISMATCH,
                            format!("an assertion must be a bool, got {}", k.name()),
                            span,
                            "not a bool",
                        );
                    }
                }
                kdep_sema::hir::TestStep::ExpectError { .. } => {}
            }
        }
        keep(ck.found.take());
        out.extend(ck.out);
    }
    (out, found)
}

// ----- static conformance of emitted objects ------------------------------------------------

/// One step of a path into an emitted object: a key of a record or map, or an item of a list.
#[derive(Clone, Debug)]
pub(crate) enum Step {
    Key(Name),
    Item(usize),
}

/// A part of an emitted object whose conformance the static proof did not settle: checked for
/// each instance, against the type the full check applies at that place.
#[derive(Clone, Debug)]
pub(crate) struct Residual {
    /// From the object's root.
    pub path: Vec<Step>,
    pub ty: Ty,
    /// A field of a record that must be set: `null` there is a missing field, not a value.
    pub required: bool,
    /// Records enclosing it, the object itself included: the full check holds one unit of
    /// [`crate::interp::REF_COST`] of the depth budget for each while it checks this part.
    pub records: u32,
}

/// What is left to check of an emitted object literal once per instance: the object is a valid
/// record of the `resource`'s schema whenever each residual part conforms (see [`emit_plans`]).
#[derive(Clone, Debug)]
pub(crate) struct EmitPlan {
    /// The literal's `apiVersion` and `kind`.
    pub api_version: Name,
    pub kind: Name,
    /// Their schema, as `kdep_sema::resources::resource_schema` finds it (read by the plan's
    /// query, so an app that reads the plan depends on it too).
    pub resource: kdep_sema::resources::ResourceEntry,
    pub residuals: Vec<Residual>,
}

/// The plans of a template's emits, in the order of its model's `emits` (`None`: checked in
/// full, as before).
#[derive(Debug, Default)]
pub struct EmitPlans(pub(crate) Vec<Option<EmitPlan>>);

impl EmitPlans {
    pub(crate) fn get(&self, index: usize) -> Option<&EmitPlan> {
        self.0.get(index).and_then(Option::as_ref)
    }

    /// One line per emit, for tests: `checked in full`, or the schema and what is left to check
    /// per instance (`spec.ports[0].port: int(1..65535)`; `(required)` where `null` is missing).
    pub fn describe(&self, db: &dyn Db) -> Vec<String> {
        self.0
            .iter()
            .map(|plan| {
                let Some(plan) = plan else { return "checked in full".to_string() };
                let left: Vec<String> = plan
                    .residuals
                    .iter()
                    .map(|r| {
                        let mut path = String::new();
                        for step in &r.path {
                            match step {
                                Step::Key(k) if path.is_empty() => path.push_str(k),
                                Step::Key(k) => {
                                    path.push('.');
                                    path.push_str(k);
                                }
                                Step::Item(i) => path.push_str(&format!("[{i}]")),
                            }
                        }
                        let required = if r.required { " (required)" } else { "" };
                        format!("{path}: {}{required}", r.ty)
                    })
                    .collect();
                let schema = format!("{}.{}", plan.resource.file.path(db), plan.resource.name);
                if left.is_empty() {
                    format!("{schema}: proven")
                } else {
                    format!("{schema}: left {}", left.join(", "))
                }
            })
            .collect()
    }
}

/// Decides, once per template and revision, which parts of each emitted object literal conform
/// to the Kubernetes schema of its `(apiVersion, kind)` whatever instance emits it, from the
/// declared types of what they read: `replicas = replicas` with `replicas: int(1..20)` into an
/// `int?` field, `labels = labels` whose `let` is a map literal of strings, `image = image`
/// into a plain string. The evaluator then checks only the rest ([`EmitPlan::residuals`]); a
/// residual that fails sends the object through the full check, so every report is the one it
/// always was. The field types are those of `file`'s template `template` (the instance's
/// model): an extending template may only narrow them, and each instance's field values are
/// conformed to them. A salsa query, so an edit to a template or schema re-plans.
#[salsa::tracked(returns(clone), no_eq)]
pub fn emit_plans(db: &dyn Db, project: Project, file: SourceFile, template: Name) -> Arc<EmitPlans> {
    let Some(model) = template_model(db, project, file, template) else { return Arc::default() };
    let plans = model
        .emits
        .iter()
        .map(|emit| {
            let ExprKind::Object(entries) = &emit.value.kind else { return None };
            let scope = Resolver::body(db, project, emit.file, &emit.owner);
            let mut ck = Checker::new(db, project, emit.file, scope, Vec::new());
            ck.report = false;
            // Names resolve in the body the emit is written in; their types are the instance's.
            ck.model = Some(model.clone());
            ck.owner = Some(emit.owner.clone());
            let (api_version, kind, resource, root) = ck.resource_schema(entries)?;
            let entries = field_entries(entries)?;
            let mut residuals = Vec::new();
            let proven =
                ck.plan_record(&root, &entries, &["apiVersion", "kind"], &mut Vec::new(), 1, &mut residuals, 0);
            proven.then_some(EmitPlan { api_version, kind, resource, residuals })
        })
        .collect();
    Arc::new(EmitPlans(plans))
}

/// The entries of an object literal as (key, value), when none is a comprehension.
fn field_entries(entries: &[ObjEntry]) -> Option<Vec<(&[KeySeg], &Expr)>> {
    entries
        .iter()
        .map(|en| match en {
            ObjEntry::Field { key, value, .. } => Some((&**key, value)),
            ObjEntry::Comp { .. } => None,
        })
        .collect()
}

/// Whether every value of `src` (a declared type the value was conformed to) is a value of
/// `dst`: [`kdep_sema::ty::check_narrowing`], the rule extending templates follow, where it
/// answers the evaluator's question exactly. Not where it is looser than conformance: a type
/// that accepts anything (`any`, a type that failed to lower) holds any value; a record of a
/// schema extending the target may carry fields the target rejects; the narrowing rule does
/// not compare the lengths of a map's keys, so a target with a key constraint is not proven.
fn narrows(dst: &Ty, src: &Ty) -> bool {
    sound_for_conformance(dst, src, 0) && kdep_sema::ty::check_narrowing(dst, src).is_ok()
}

fn sound_for_conformance(dst: &Ty, src: &Ty, depth: u32) -> bool {
    if depth > 16 {
        return false;
    }
    let d = depth + 1;
    match (dst, src) {
        (_, Ty::Any | Ty::Error | Ty::Schema(_)) => false,
        (Ty::Optional(t), Ty::Optional(s)) => sound_for_conformance(t, s, d),
        (Ty::Optional(t), s) => sound_for_conformance(t, s, d),
        (_, Ty::Optional(_)) => false,
        (_, Ty::OneOf(members)) => members.iter().all(|s| sound_for_conformance(dst, s, d)),
        (Ty::Any | Ty::Error, _) => true,
        (Ty::Map(t, _, key), Ty::Map(s, ..)) => key.is_none() && sound_for_conformance(t, s, d),
        (Ty::List(t, _), Ty::List(s, _)) => sound_for_conformance(t, s, d),
        // The member a value converts to is decided at run time: only scalars are followed.
        (Ty::OneOf(_), s) => is_scalar(s),
        _ => true,
    }
}

fn is_scalar(ty: &Ty) -> bool {
    matches!(ty, Ty::Bool | Ty::Int(_) | Ty::Float(_) | Ty::Str(_) | Ty::Quantity(_) | Ty::Duration(_) | Ty::Union(_))
}

impl Checker<'_> {
    /// The schema of an untyped object literal's `(apiVersion, kind)` with its declaration and
    /// the two literals, when both are string literals and the kind has one.
    #[allow(clippy::type_complexity)]
    fn resource_schema(
        &self,
        entries: &[ObjEntry],
    ) -> Option<(Name, Name, kdep_sema::resources::ResourceEntry, Arc<TemplateModel>)> {
        let literal = |name: &str| {
            entries.iter().find_map(|en| match en {
                ObjEntry::Field { key, value, .. } => match (&**key, &value.kind) {
                    ([KeySeg::Static(k, _)], ExprKind::Str(v)) if &**k == name => Some(v.clone()),
                    _ => None,
                },
                ObjEntry::Comp { .. } => None,
            })
        };
        let (api_version, kind) = (literal("apiVersion")?, literal("kind")?);
        let entry = kdep_sema::resources::resource_schema(self.db, self.project, &api_version, &kind)?;
        let model = template_model(self.db, self.project, entry.file, entry.name.clone())?;
        Some((api_version, kind, entry, model))
    }

    /// The entries of a record literal of `model` at `path` (`skip`: keys the caller removes
    /// before checking). `false` when the record as a whole is not proven: something beyond
    /// its given values could be reported (a check, a computed default, a missing, unknown,
    /// locked or repeated key). Otherwise each given value is proven or left in `out`.
    #[allow(clippy::too_many_arguments)]
    fn plan_record(
        &mut self,
        model: &Arc<TemplateModel>,
        entries: &[(&[KeySeg], &Expr)],
        skip: &[&str],
        path: &mut Vec<Step>,
        records: u32,
        out: &mut Vec<Residual>,
        d: u32,
    ) -> bool {
        if d > MAX_DEPTH || !model.lets.is_empty() || !model.checks.is_empty() || !model.emits.is_empty() {
            return false;
        }
        let mut given: Vec<&Name> = Vec::with_capacity(entries.len());
        for (key, _) in entries {
            // A key written twice (or a dotted key beside its prefix) is the evaluator's to judge.
            let Some(KeySeg::Static(k, _)) = key.first() else { return false };
            if given.contains(&k) || key.iter().any(|s| !matches!(s, KeySeg::Static(..))) {
                return false;
            }
            given.push(k);
        }
        for fm in model.fields.values() {
            if given.contains(&&fm.name) {
                continue;
            }
            match &fm.default {
                None if matches!(*fm.ty, Ty::Optional(_)) => {}
                None => return false,
                Some(dm) => {
                    let required = !matches!(*fm.ty, Ty::Optional(_));
                    if !is_constant(&dm.expr, 0) || !self.constant_fits(dm.file, &dm.expr, &fm.ty, required) {
                        return false;
                    }
                }
            }
        }
        for (key, value) in entries {
            let Some((KeySeg::Static(k, _), rest)) = key.split_first() else { return false };
            if rest.is_empty() && skip.contains(&&**k) {
                continue;
            }
            let Some(fm) = model.fields.get(k) else {
                // An `@open` schema keeps what it does not declare, unchecked.
                if model.open {
                    continue;
                }
                return false;
            };
            if fm.locked.is_some() {
                return false;
            }
            let ty = fm.ty.clone();
            path.push(Step::Key(k.clone()));
            let required = !matches!(*ty, Ty::Optional(_));
            self.plan_value(&ty, rest, value, required, path, records, out, d + 1);
            path.pop();
        }
        true
    }

    /// A value at `path` where `ty` is expected (`rest`: the key segments after the field's, a
    /// dotted key): proven, or followed into a literal, or left for the evaluator.
    #[allow(clippy::too_many_arguments)]
    fn plan_value(
        &mut self,
        ty: &Ty,
        rest: &[KeySeg],
        value: &Expr,
        required: bool,
        path: &mut Vec<Step>,
        records: u32,
        out: &mut Vec<Residual>,
        d: u32,
    ) {
        let before = out.len();
        if !self.plan_inner(ty, rest, value, required, path, records, out, d) {
            out.truncate(before);
            out.push(Residual { path: path.clone(), ty: ty.clone(), required, records });
        }
    }

    /// [`Checker::plan_value`]; `false` when the whole value is left to the evaluator.
    #[allow(clippy::too_many_arguments)]
    fn plan_inner(
        &mut self,
        ty: &Ty,
        rest: &[KeySeg],
        value: &Expr,
        required: bool,
        path: &mut Vec<Step>,
        records: u32,
        out: &mut Vec<Residual>,
        d: u32,
    ) -> bool {
        if d > MAX_DEPTH {
            return false;
        }
        let d1 = d + 1;
        if let Some((KeySeg::Static(name, _), tail)) = rest.split_first() {
            // `selector.matchLabels = x`: a literal `{ matchLabels = x }` at `selector`.
            return match strip_optional(ty) {
                Ty::Schema(sref) => match template_model(self.db, self.project, sref.file, sref.name.clone()) {
                    Some(model) => self.plan_record(&model, &[(rest, value)], &[], path, records + 1, out, d1),
                    None => false,
                },
                Ty::Map(vty, len, key) => {
                    if !len.contains(&1) || !key_fits(key.as_deref(), name) {
                        return false;
                    }
                    path.push(Step::Key(name.clone()));
                    self.plan_value(vty, tail, value, false, path, records, out, d1);
                    path.pop();
                    true
                }
                _ => false,
            };
        }
        if !rest.is_empty() {
            return false;
        }
        if self.proves(value, ty, required, d1) {
            return true;
        }
        match (&value.kind, strip_optional(ty)) {
            (ExprKind::Name(n), _) => match self.let_to_expand(n) {
                Some(expr) => {
                    self.in_progress.push(n.clone());
                    let before = out.len();
                    let ok = self.plan_inner(ty, &[], &expr, required, path, records, out, d1);
                    if !ok {
                        out.truncate(before);
                    }
                    self.in_progress.pop();
                    ok
                }
                None => false,
            },
            (ExprKind::Object(entries), Ty::Schema(sref)) => {
                let Some(model) = template_model(self.db, self.project, sref.file, sref.name.clone()) else {
                    return false;
                };
                let Some(entries) = field_entries(entries) else { return false };
                self.plan_record(&model, &entries, &[], path, records + 1, out, d1)
            }
            (ExprKind::Object(entries), Ty::Map(vty, len, key)) => {
                let Some(entries) = field_entries(entries) else { return false };
                let mut keys: Vec<&Name> = Vec::with_capacity(entries.len());
                for (k, _) in &entries {
                    let Some(KeySeg::Static(name, _)) = k.first() else { return false };
                    if keys.contains(&name) || !key_fits(key.as_deref(), name) {
                        return false;
                    }
                    keys.push(name);
                }
                if !len.contains(&(keys.len() as u64)) {
                    return false;
                }
                for (k, v) in entries {
                    let Some((KeySeg::Static(name, _), rest)) = k.split_first() else { return false };
                    path.push(Step::Key(name.clone()));
                    self.plan_value(vty, rest, v, false, path, records, out, d1);
                    path.pop();
                }
                true
            }
            (ExprKind::List(items), Ty::List(item_ty, list)) => {
                // An item that may be absent would move the ones after it.
                if items.iter().any(|it| it.absent_if().is_some())
                    || !list.len.contains(&(items.len() as u64))
                    || (items.len() > 1 && !matches!(list.identity, ListIdentity::Plain))
                {
                    return false;
                }
                for (i, it) in items.iter().enumerate() {
                    path.push(Step::Item(i));
                    self.plan_value(item_ty, &[], it, false, path, records, out, d1);
                    path.pop();
                }
                true
            }
            _ => false,
        }
    }

    /// Whether the value of `value` (always present) is a value of `ty`, and not `null` where a
    /// value is `required`, for every instance: a constant that conforms, a field or typed
    /// `let` whose declared type narrows `ty`, a string interpolation into a plain string, the
    /// merge of two proven maps into a map type that bounds neither its length nor nested values.
    fn proves(&mut self, value: &Expr, ty: &Ty, required: bool, d: u32) -> bool {
        if d > MAX_DEPTH {
            return false;
        }
        if is_constant(value, 0) {
            return self.constant_fits(self.file, value, ty, required);
        }
        match &value.kind {
            ExprKind::Name(n) => self.declared_ty(n).is_some_and(|src| narrows(ty, &src)),
            ExprKind::Interp(_) => match strip_optional(ty) {
                Ty::Any => true,
                Ty::Str(s) => s.pattern.is_none() && s.len.is_unbounded(),
                _ => false,
            },
            ExprKind::Binary(BinaryOp::Add, a, b) => match strip_optional(ty) {
                Ty::Map(vty, len, _) if len.is_unbounded() && (is_scalar(vty) || matches!(**vty, Ty::Any)) => {
                    let map = strip_optional(ty);
                    self.proves_map(a, map, d + 1) && self.proves_map(b, map, d + 1)
                }
                _ => false,
            },
            _ => false,
        }
    }

    /// [`Checker::proves`] for an operand of a map merge, expanding untyped `let`s.
    fn proves_map(&mut self, value: &Expr, map: &Ty, d: u32) -> bool {
        if d > MAX_DEPTH {
            return false;
        }
        if self.proves(value, map, true, d) {
            return true;
        }
        let ExprKind::Name(n) = &value.kind else { return false };
        match self.let_to_expand(n) {
            Some(expr) => {
                self.in_progress.push(n.clone());
                let ok = self.proves_map(&expr, map, d + 1);
                self.in_progress.pop();
                ok
            }
            None => false,
        }
    }

    /// The type a name's value is guaranteed to have: the declared type of a field of the
    /// instance (which its value was conformed to) or of a typed template `let`.
    fn declared_ty(&self, n: &Name) -> Option<Ty> {
        if self.locals.iter().any(|(l, _)| l == n) {
            return None;
        }
        let model = self.model.as_ref()?;
        match self.scope.resolve(n) {
            Resolution::Field => model.fields.get(n).map(|f| (*f.ty).clone()),
            Resolution::TemplateLet => model.lets.get(n).and_then(|l| l.ty.as_deref().cloned()),
            _ => None,
        }
    }

    /// The expression of an untyped `let` a name reads, to follow it where its value is used:
    /// a `let` of the body being planned (its names resolve in the same scope), or a top-level
    /// `let` of this module whose value is a constant.
    fn let_to_expand(&self, n: &Name) -> Option<Arc<Expr>> {
        if self.locals.iter().any(|(l, _)| l == n) || self.in_progress.contains(n) || self.in_progress.len() > 32 {
            return None;
        }
        match self.scope.resolve(n) {
            Resolution::TemplateLet => {
                let l = self.model.as_ref()?.lets.get(n)?;
                (l.ty.is_none() && l.file == self.file && self.owner.as_ref() == Some(&l.owner)).then(|| l.expr.clone())
            }
            Resolution::ModuleLet(file) if file == self.file => {
                let hir = file_hir(self.db, file);
                let l = hir.lets.get(n)?;
                (l.ty.is_none() && is_constant(&l.value, 0)).then(|| l.value.clone())
            }
            _ => None,
        }
    }

    /// Whether constant `value` (written in `file`) conforms to `ty` through the evaluator's own
    /// conformance, with nothing reported and only plain records built (which depend on the
    /// value and the schema alone, as for the run's cache of checked constant records).
    fn constant_fits(&self, file: SourceFile, value: &Expr, ty: &Ty, required: bool) -> bool {
        let mut ev = crate::interp::Eval::new(self.db, self.project);
        ev.defer_to_static = false;
        let mut ctx = ev.ctx(file, None, None);
        let Ok(v) = ev.expr(value, &mut ctx) else { return false };
        if required && v.is_null() {
            return false;
        }
        ev.constant_conforms(v, ty, Span::new(file.id(self.db), value.range))
    }
}

/// Whether a literal key satisfies a map's key type.
fn key_fits(key: Option<&StrTy>, name: &str) -> bool {
    key.is_none_or(|k| {
        k.pattern.as_ref().is_none_or(|p| p.regex.is_match(name)) && k.len.contains(&(name.chars().count() as u64))
    })
}

#[cfg(test)]
mod tests {
    use super::message_covers;

    #[test]
    fn message_covers_what_typeck_cannot_know() {
        let kind = "`replicas` expects int, got string";
        assert!(message_covers(kind, "`replicas` expects int, got string `\"3\"`"));
        assert!(!message_covers(kind, "`replica` expects int, got string `\"3\"`"));
        let item = "`args[*]` expects string, got int";
        assert!(message_covers(item, "`args[12]` expects string, got int `2`"));
        assert!(!message_covers(item, "`args[1]` expects int, got string"));
        assert!(message_covers("`labels.*` expects string, got int", "`labels.app` expects string, got int `1`"));
        // A wildcard never crosses a backtick: another field is another problem.
        assert!(!message_covers("`a[*]` is 1", "`a[0]` and `b` is 1"));
        let key = "`kube.Container` has no field `nam`";
        assert!(message_covers(key, key));
        assert!(!message_covers(key, "`kube.Container` has no field `name2`"));
    }
}
