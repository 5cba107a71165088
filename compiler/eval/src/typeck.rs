//! Static checking of template and schema bodies: the kinds of expressions are inferred from
//! field types, literals, schema records and builtin signatures, so operator, interpolation,
//! condition and iteration mistakes are reported even in a package that declares no app.
//!
//! The inference is deliberately conservative: anything not known for sure is `Unknown` and
//! accepted; evaluation checks the rest. Messages are the evaluator's own, word for word, so a
//! mistake found both here and while evaluating an app is reported once (`normalize` removes
//! exact duplicates).

use std::sync::Arc;

use kdep_diag::{Code, Diagnostic, FileId, Span};
use kdep_sema::db::{Db, Project, SourceFile};
use kdep_sema::hir::{
    file_hir, BinaryOp, Clause, Expr, ExprKind, InterpPart, KeySeg, MemberHir, Name, ObjEntry, UnaryOp,
};
use kdep_sema::model::{resolve_template, template_model, TemplateModel};
use kdep_sema::scope::{Callee, Resolution, Resolver};
use kdep_sema::ty::{Lit, Ty};
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
    /// Whether to report problems (off while inferring a `let` used by name: it is checked
    /// where it is declared).
    report: bool,
    out: Vec<Diagnostic>,
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
            report: true,
            out: Vec::new(),
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
        if depth > 300 {
            return K::Unknown;
        }
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
                        if matches!(k, K::List(_) | K::Map(_) | K::Record(_) | K::Null) {
                            let name = k.name();
                            self.error(
                                Code::TYPE_MISMATCH,
                                format!("cannot interpolate a {name} into a string"),
                                self.span(x),
                                format!("this is a {name}"),
                            );
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
                    Callee::BrokenImport | Callee::NotInModule { .. } => return K::Unknown,
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
                match (op, &k) {
                    (_, K::Unknown) => K::Unknown,
                    (UnaryOp::Not, K::Bool) => K::Bool,
                    (UnaryOp::Neg, K::Int | K::Float | K::Quantity | K::Duration) => k,
                    _ => {
                        let sym = op.as_str();
                        self.error(
                            Code::INVALID_OPERAND,
                            format!("`{sym}` cannot be applied to a {}", k.name()),
                            self.span(e),
                            "invalid operand",
                        );
                        K::Unknown
                    }
                }
            }
            ExprKind::Binary(op, a, b) => self.binary(*op, a, b, e, d),
            ExprKind::If(c, t, f) => {
                let ck = self.expr(c, d);
                if ck.known() && !matches!(ck, K::Bool) {
                    self.error(
                        Code::TYPE_MISMATCH,
                        format!("an `if` condition must be a bool, got {}", ck.name()),
                        self.span(c),
                        "not a bool",
                    );
                }
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

    /// A record literal `Schema { ... }`: literal keys must be fields (K0202, with did-you-mean)
    /// and not locked (K0301); values of known kinds must fit the field's type (K0201); when every
    /// key is literal, required fields must be given (K0203). The evaluator leaves exactly these
    /// to this check (`instantiate_record_checked`), so each is reported once, with no app needed.
    fn record_literal(&mut self, model: &Arc<TemplateModel>, entries: &[ObjEntry], e: &Expr, d: u32) {
        let mut given: Vec<&Name> = Vec::new();
        let mut all_literal = true;
        for en in entries {
            let ObjEntry::Field { key, value, range } = en else {
                all_literal = false;
                self.entries(std::slice::from_ref(en), d);
                continue;
            };
            for k in key {
                if let KeySeg::Computed(x) = k {
                    self.expr(x, d);
                }
            }
            self.expr(value, d);
            let Some(KeySeg::Static(k, _)) = key.first() else {
                all_literal = false;
                continue;
            };
            given.push(k);
            let site = Span::new(self.fid, *range);
            match model.fields.get(k) {
                // An `@open` schema keeps fields it does not declare.
                None if model.open => {}
                None => self.push(crate::interp::unknown_record_field(model, k, k, site)),
                Some(fm) => {
                    if let Some(lock) = &fm.locked {
                        self.push(crate::interp::locked_record_field(k, lock, site));
                    } else if key.len() == 1 && crate::interp::is_constant(value, 0) {
                        // A constant value is checked by the evaluator's own conformance, so the
                        // report is the one an app would get (and is merged with it).
                        let mut ev = crate::interp::Eval::new(self.db, self.project);
                        let mut ctx = ev.ctx(self.file, None, None);
                        if let Ok(v) = ev.expr(value, &mut ctx) {
                            let decl = fm.ty_span.or(Some(fm.decl_span));
                            let _ = ev.conform_reported(v, &fm.ty, k, site, decl, Code::TYPE_MISMATCH, None);
                        }
                        for diag in ev.diags {
                            self.push(diag);
                        }
                    }
                }
            }
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
                        .with_primary(self.span(e), format!("`{}` missing", fm.name))
                        .with_secondary(fm.decl_span, "required field declared here"),
                    );
                }
            }
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
                if k.known() && !matches!(k, K::Bool) {
                    let name = k.name();
                    self.error(
                        Code::INVALID_OPERAND,
                        format!("`{}` needs bool operands, got {name}", op.as_str()),
                        self.span(x),
                        "invalid operands",
                    );
                    return K::Bool;
                }
            }
            return K::Bool;
        }
        if !l.known() || !r.known() {
            return match op {
                BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => K::Bool,
                _ => K::Unknown,
            };
        }
        // Mirrors `Eval::binary`, including strings read as quantities/durations next to one.
        let qty_like = |k: &K| matches!(k, K::Quantity | K::Str | K::Int);
        let dur_like = |k: &K| matches!(k, K::Duration | K::Str);
        let result = match op {
            BinaryOp::Eq | BinaryOp::Ne => Some(K::Bool),
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
                let ok = (l.is_num() && r.is_num())
                    || (matches!(l, K::Str) && matches!(r, K::Str))
                    || ((matches!(l, K::Quantity) || matches!(r, K::Quantity)) && qty_like(&l) && qty_like(&r))
                    || ((matches!(l, K::Duration) || matches!(r, K::Duration)) && dur_like(&l) && dur_like(&r));
                ok.then_some(K::Bool)
            }
            BinaryOp::Add | BinaryOp::Sub => match (&l, &r) {
                (K::Int, K::Int) => Some(K::Int),
                (x, y) if x.is_num() && y.is_num() => Some(K::Float),
                (K::Str, K::Str) if op == BinaryOp::Add => Some(K::Str),
                (K::List(_), K::List(_)) if op == BinaryOp::Add => Some(K::List(Box::new(K::Unknown))),
                (K::Map(_) | K::Record(_), K::Map(_) | K::Record(_)) if op == BinaryOp::Add => {
                    Some(K::Map(Box::new(K::Unknown)))
                }
                (x, y) if (matches!(x, K::Quantity) || matches!(y, K::Quantity)) && qty_like(x) && qty_like(y) => {
                    // A string that is not a quantity fails at evaluation; here it may be one.
                    Some(K::Quantity)
                }
                (x, y) if (matches!(x, K::Duration) || matches!(y, K::Duration)) && dur_like(x) && dur_like(y) => {
                    Some(K::Duration)
                }
                _ => None,
            },
            BinaryOp::Mul => match (&l, &r) {
                (K::Int, K::Int) => Some(K::Int),
                (x, y) if x.is_num() && y.is_num() => Some(K::Float),
                (K::Quantity, K::Int) | (K::Int, K::Quantity) => Some(K::Quantity),
                (K::Duration, K::Int) | (K::Int, K::Duration) => Some(K::Duration),
                _ => None,
            },
            BinaryOp::Div | BinaryOp::Rem => match (&l, &r) {
                (K::Int, K::Int) => Some(K::Int),
                (x, y) if x.is_num() && y.is_num() => Some(K::Float),
                _ => None,
            },
            BinaryOp::And | BinaryOp::Or => Some(K::Bool),
        };
        match result {
            Some(k) => k,
            None => {
                let (ln, rn) = (l.name(), r.name());
                self.error(
                    Code::INVALID_OPERAND,
                    format!("`{}` is not defined for {ln} and {rn}", op.as_str()),
                    self.span(e),
                    "invalid operands",
                );
                K::Unknown
            }
        }
    }
}

/// Static problems in the bodies of the templates and schemas declared in `file`.
#[salsa::tracked(returns(clone))]
pub fn type_diagnostics(db: &dyn Db, project: Project, file: SourceFile) -> Arc<Vec<Diagnostic>> {
    let hir = file_hir(db, file);
    let mut out = Vec::new();
    for (name, t) in &hir.templates {
        let mut ck = Checker::new(db, project, file, Resolver::body(db, project, file, name), Vec::new());
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
                    ck.expr(&e.value, 0);
                }
            }
        }
        out.extend(ck.out);
    }
    // Module-level bodies (top-level `let`s, apps, `in` blocks, environments) see no template
    // members; their record literals are checked here too, since the evaluator leaves literal
    // keys to this check wherever they are written.
    let mut ck = Checker::new(db, project, file, Resolver::module(db, project, file), Vec::new());
    for l in hir.lets.values() {
        ck.expr(&l.value, 0);
    }
    // App bodies also see the environment and the module's other apps.
    let module_scope = std::mem::replace(&mut ck.scope, Resolver::app(db, project, file));
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
    out.extend(ck.out);

    // Function bodies: the parameters are the only locals, with their declared kinds.
    let sigs = kdep_sema::func::fn_signatures(db, project, file);
    for (name, f) in &hir.functions {
        let locals = match sigs.0.get(name) {
            Some(sig) => sig.params.iter().map(|p| (p.name.clone(), of_ty(db, project, &p.ty, 0))).collect(),
            None => Vec::new(),
        };
        let mut ck = Checker::new(db, project, file, Resolver::module(db, project, file), locals);
        ck.expr(&f.body, 0);
        out.extend(ck.out);
    }
    Arc::new(out)
}
