//! The evaluator: expressions of the semantic IR to [`Value`]s, template instances with layered
//! fields (default → extending template → app → environment) and provenance on every field.
//!
//! Invariants:
//! - Evaluation is pure and bounded: nesting depth, total steps and value sizes have limits that
//!   produce K0404, never a stack overflow or an unbounded allocation.
//! - An error is reported once where it happens; the failed value becomes [`Poison`], which
//!   propagates silently so one mistake does not cascade into many diagnostics.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use indexmap::IndexMap;
use kdep_diag::{Code, Diagnostic, FileId, Span, TextRange};
use kdep_sema::db::{Db, Project, SourceFile};
use kdep_sema::duration::Duration;
use kdep_sema::hir::{
    file_hir, BinaryOp, Clause, Expr, ExprKind, FileHir, InterpPart, KeySeg, Name, ObjEntry, UnaryOp,
};
use kdep_sema::lets::let_cycles;
use kdep_sema::model::{resolve_template, template_model, TemplateModel};
use kdep_sema::ops::{self, OpKind};
use kdep_sema::quantity::Quantity;
use kdep_sema::scope::{Callee, Resolution, Resolver};
use kdep_sema::suggest;
use kdep_sema::ty::Ty;
use rustc_hash::FxHashMap;

use crate::conform::Path;
use crate::value::{own_key, string_work, Layer, Map, Origin, Value};

/// Where an object produced by an `emit` came from, for reporting a bad one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Emitted {
    /// The `emit`'s whole value.
    Whole,
    /// An element written in the emitted list literal or comprehension, at this expression.
    Written(Span),
    /// Item `n` of a list computed elsewhere (a `let`, a field).
    Item(usize),
}

/// A value that could not be computed; the reason was already reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Poison;

pub type R<T = Value> = Result<T, Poison>;

/// Budget for nested evaluation on one thread, in weighted units: an expression costs
/// [`EXPR_COST`], a field or template `let` reference [`REF_COST`], a top-level `let` (a salsa
/// query boundary with many frames) [`LET_COST`]. The weights follow the stack each step uses,
/// so the budget fits a 2 MiB thread even in debug builds.
pub const MAX_DEPTH: u32 = 1024;
pub const EXPR_COST: u32 = 1;
pub const REF_COST: u32 = 20;
pub const LET_COST: u32 = 96;
/// A call of a user function: like a field reference, a few evaluator frames per level.
pub const CALL_COST: u32 = REF_COST;
/// Stack left below which a nested expression continues on a fresh heap-allocated segment.
pub const STACK_RED_ZONE: usize = 128 << 10;
/// Size of each such segment.
pub const STACK_SEGMENT: usize = 2 << 20;
/// Most evaluation steps one query may take.
pub const MAX_STEPS: u64 = 20_000_000;
/// Largest string (bytes) a program may build.
pub const MAX_SIZE: usize = 16 << 20;
/// Longest list a program may build (the builtins use the same bound).
pub const MAX_ITEMS: usize = crate::builtins::MAX_ITEMS;
/// Deepest nesting of lists and maps a program may build.
pub use crate::value::MAX_VALUE_DEPTH;

thread_local! {
    /// Weighted evaluation depth on this thread, across query boundaries (see [`MAX_DEPTH`]).
    static DEPTH: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    /// Top-level `let`s being evaluated on this thread, to stop cycles the static let graph
    /// cannot see (through schema defaults) before they become salsa query cycles.
    static LET_STACK: RefCell<Vec<(SourceFile, Name)>> = const { RefCell::new(Vec::new()) };
}

/// Values of constant list and object literals, shared across instances.
///
/// Keys are expression addresses (plus the file, which decides spans). Addresses are only used
/// inside expressions whose root `Arc` the cache holds in `roots`, so no key can be reused by a
/// different expression while its entry exists. A constant literal's value depends only on its
/// text, so a cache hit and a fresh evaluation are indistinguishable: queries stay pure.
///
/// A value is kept from a literal's second evaluation on: a literal evaluated once (an app's
/// own `env = { ... }`, one per instance) would otherwise stay in memory for the whole build,
/// where a template's literals, evaluated for every instance, are what the cache is for.
#[derive(Default)]
struct ConstCache {
    roots: FxHashMap<usize, Arc<Expr>>,
    values: FxHashMap<(usize, FileId), Option<Value>>,
    /// Constant literals evaluated once, whose value is not kept yet.
    seen: rustc_hash::FxHashSet<(usize, FileId)>,
    /// Addresses of the maps inside the kept values (at any depth): the maps every instance of
    /// a template shares, which [`ConformCache`] may remember the checked record of. The kept
    /// values hold them, so an address here names the same map while its entry exists.
    shared_maps: rustc_hash::FxHashSet<usize>,
    /// Addresses of the lists inside the kept values, likewise.
    shared_lists: rustc_hash::FxHashSet<usize>,
}

impl ConstCache {
    fn retain(&mut self, root: &Arc<Expr>) {
        // Bound memory in long-running processes (the editor): start over when large.
        if self.roots.len() > 50_000 || self.values.len() > 1_000_000 || self.seen.len() > 1_000_000 {
            self.roots.clear();
            self.values.clear();
            self.seen.clear();
            self.shared_maps.clear();
            self.shared_lists.clear();
        }
        self.roots.entry(Arc::as_ptr(root) as usize).or_insert_with(|| root.clone());
    }

    /// Keeps the value of a constant literal, noting the maps and lists inside it.
    fn keep(&mut self, key: (usize, FileId), value: &Value) {
        fn note(v: &Value, maps: &mut rustc_hash::FxHashSet<usize>, lists: &mut rustc_hash::FxHashSet<usize>) {
            match v {
                Value::Map(m) => {
                    maps.insert(Arc::as_ptr(m) as usize);
                    m.values().for_each(|v| note(v, maps, lists));
                }
                Value::List(items) => {
                    lists.insert(Arc::as_ptr(items) as usize);
                    items.iter().for_each(|v| note(v, maps, lists));
                }
                _ => {}
            }
        }
        note(value, &mut self.shared_maps, &mut self.shared_lists);
        self.values.insert(key, Some(value.clone()));
    }
}

/// Whether the map or list at `addr` is part of a constant literal's value this thread keeps
/// ([`ConstCache`]): the same value, unchanged, in every instance of the template that writes
/// the literal. The writers keep the text of such a subtree (`emit::SubtreeTexts`); they hold
/// the value while they do, so its address cannot name another one meanwhile.
pub(crate) fn is_shared_constant(addr: usize, list: bool) -> bool {
    CONSTS.with(|c| {
        c.try_borrow().is_ok_and(|c| if list { c.shared_lists.contains(&addr) } else { c.shared_maps.contains(&addr) })
    })
}

/// Keeps `value` as if it were the value of a constant literal, for the writers' unit tests.
#[cfg(test)]
pub(crate) fn keep_as_constant(value: &Value) {
    CONSTS.with(|c| {
        let mut c = c.borrow_mut();
        let key = (usize::MAX - c.values.len(), FileId(u32::MAX));
        c.keep(key, value);
    });
}

/// Checked records of the maps of constant literals, per schema, for one run of `check` or
/// `build` ([`RunCache`]): every instance of a template emits the same probe, security context
/// or port list, and checking it against its Kubernetes schema gives the same record each time.
///
/// Only results that cannot depend on anything but the map and the schema are kept: the check
/// succeeded, reported nothing and built only plain records ([`is_plain`]: no defaults, lets or
/// checks that could read `env` or a module `let`). A hit charges the steps the check took and
/// is taken only where the check would have stayed within the step and depth budgets, so a hit
/// and a fresh check are indistinguishable: same value, origins, diagnostics and limits.
/// Entries hold the map and the model, so their addresses cannot be reused while the cache
/// lives; the cache lives for one run (one database revision), so the models cannot change.
#[derive(Default)]
struct ConformCache {
    entries: FxHashMap<(usize, usize), Conformed>,
}

struct Conformed {
    _given: Arc<Map>,
    _model: Arc<TemplateModel>,
    value: Value,
    /// Evaluation steps the check took.
    steps: u64,
    /// The depth budget in use when it was checked; a check starting no deeper also succeeds.
    depth: u32,
    /// The schemas the check read ([`Eval::schema_model`]), read again by every reuse.
    reads: Arc<Vec<(SourceFile, Name)>>,
}

/// Most entries of a [`ConformCache`]: the maps of a package's constant literals times the
/// schemas they are checked against, which is small; the bound only keeps a pathological
/// package from growing it without limit.
const MAX_CONFORMED: usize = 100_000;

thread_local! {
    static CONFORMED: RefCell<Option<ConformCache>> = const { RefCell::new(None) };
}

/// While alive, this thread keeps a [`ConformCache`] (a run of `check` or `build` on it);
/// dropping it (also when unwinding) discards the cache. Nested guards share the outer cache.
pub(crate) struct RunCache {
    owner: bool,
}

impl RunCache {
    pub(crate) fn install() -> Self {
        let owner = CONFORMED.with(|c| {
            let mut c = c.borrow_mut();
            if c.is_some() {
                false
            } else {
                *c = Some(ConformCache::default());
                true
            }
        });
        RunCache { owner }
    }
}

impl Drop for RunCache {
    fn drop(&mut self) {
        if self.owner {
            // `try_with`: the thread's locals may already be gone when a worker unwinds.
            let _ = CONFORMED.try_with(|c| c.borrow_mut().take());
        }
    }
}

thread_local! {
    static CONSTS: RefCell<ConstCache> = RefCell::new(ConstCache::default());
}

/// Forgets this thread's constant literals and the expressions they pin: a batched build calls
/// it when the database drops a finished batch's lowered files, which the pinned roots (every
/// app's own assignments among them) would otherwise keep alive.
pub(crate) fn forget_constants() {
    CONSTS.with(|c| *c.borrow_mut() = ConstCache::default());
    // The writers' texts of those values hold them too.
    crate::emit::forget_subtree_texts();
}

/// Whether an expression has no free names, calls or comprehensions: its value is fixed.
pub(crate) fn is_constant(e: &Expr, depth: u32) -> bool {
    if depth > 64 {
        return false;
    }
    let d = depth + 1;
    match &e.kind {
        ExprKind::Null | ExprKind::Bool(_) | ExprKind::Int(_) | ExprKind::Float(_) | ExprKind::Str(_) => true,
        ExprKind::Interp(parts) => parts.iter().all(|p| match p {
            InterpPart::Text(_) => true,
            InterpPart::Expr(x) => is_constant(x, d),
        }),
        ExprKind::Unary(_, a) => is_constant(a, d),
        ExprKind::Binary(_, a, b) | ExprKind::Index(a, b) => is_constant(a, d) && is_constant(b, d),
        ExprKind::List(items) => items.iter().all(|i| is_constant(i, d)),
        ExprKind::Object(entries) => entries.iter().all(|en| match en {
            ObjEntry::Field { key, value, .. } => {
                key.iter().all(|k| matches!(k, KeySeg::Static(..))) && is_constant(value, d)
            }
            ObjEntry::Comp { .. } => false,
        }),
        _ => false,
    }
}

/// Units of the depth budget taken by [`enter`], given back when dropped. Salsa cancels a query
/// by unwinding, so returning them in `Drop` (not after the call) keeps the thread's budget
/// right for whatever it evaluates next.
#[must_use]
struct DepthGuard(u32);

impl Drop for DepthGuard {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get().saturating_sub(self.0)));
    }
}

/// Takes `cost` units of the depth budget; `None` (taking nothing) when it is exhausted.
fn enter(cost: u32) -> Option<DepthGuard> {
    DEPTH.with(|d| {
        let next = d.get().saturating_add(cost);
        if next > MAX_DEPTH {
            None
        } else {
            d.set(next);
            Some(DepthGuard(cost))
        }
    })
}

/// A top-level `let` on [`LET_STACK`] while it is evaluated; popped when dropped, also when a
/// cancelled query unwinds, so a later evaluation on this thread sees no stale entry (which
/// would read as a cycle).
struct LetGuard;

impl LetGuard {
    fn push(key: (SourceFile, Name)) -> Self {
        LET_STACK.with(|s| s.borrow_mut().push(key));
        LetGuard
    }
}

impl Drop for LetGuard {
    fn drop(&mut self) {
        LET_STACK.with(|s| {
            s.borrow_mut().pop();
        });
    }
}

/// This thread's evaluation state: the depth budget in use and the number of top-level `let`s
/// being evaluated. Both are zero between evaluations, including after a cancelled one; tests
/// assert that.
#[doc(hidden)]
pub fn thread_state() -> (u32, usize) {
    (DEPTH.with(std::cell::Cell::get), LET_STACK.with(|s| s.borrow().len()))
}

/// The value of a top-level `let` and the problems found computing it.
#[derive(Clone, Debug)]
pub struct LetOutcome {
    pub value: R,
    pub diagnostics: Vec<Diagnostic>,
}

/// Evaluates one top-level `let`, once per revision, shared by every app that uses it.
#[salsa::tracked(returns(clone), no_eq)]
pub fn module_let_value(db: &dyn Db, project: Project, file: SourceFile, name: Name) -> Arc<LetOutcome> {
    let mut ev = Eval::new(db, project);
    let value = ev.module_let_inline(file, &name);
    Arc::new(LetOutcome { value, diagnostics: ev.diags })
}

/// How a field got its value in one instance.
#[derive(Clone)]
pub(crate) enum Assign {
    /// An expression written in an app body or `in` block; evaluated in the module scope of `file`.
    Expr { expr: Arc<Expr>, file: SourceFile, origin: Origin },
    /// An already evaluated value (record literals of schema types).
    Value { value: Value, origin: Origin },
}

/// A dotted assignment (`resources.limits.cpu = "1"`) applied on top of a field's value.
#[derive(Clone)]
pub(crate) struct Patch {
    pub path: Vec<Name>,
    pub expr: Arc<Expr>,
    pub file: SourceFile,
    pub origin: Origin,
}

#[derive(Clone)]
enum Slot {
    /// Not asked for yet.
    Unset,
    InProgress,
    Done(Value, Origin),
    Failed,
}

pub(crate) struct Instance {
    pub model: Arc<TemplateModel>,
    /// The assignment of each field, by its position in `model.fields` (taken when the field
    /// is computed, which happens once).
    sets: Vec<Option<Assign>>,
    pub patches: FxHashMap<Name, Vec<Patch>>,
    /// The state of each field (by its position in `model.fields`) and then of each `let` (by
    /// `model.fields.len()` plus its position in `model.lets`): positions, not a table keyed by
    /// name, since every instance's model says which names it has (a record of a Kubernetes
    /// schema took six hashed inserts and two table growths per field).
    slots: Vec<Slot>,
    /// Where a missing required field is reported (record literals); apps report it statically.
    pub missing_at: Option<Span>,
    /// The app name and its declaration, for check failures.
    pub app: Option<(Name, Span)>,
    /// For a record: where its value was written and how to name it (`ports[2]`), so a failed
    /// check points at the offending record rather than only at the schema's `check`.
    pub element: Option<(Span, String)>,
    /// For a record: the source region of its literal (the `Schema { ... }` expression, or the
    /// entry whose value it is). Problems that typeck reported inside it are not repeated
    /// ([`Eval::reported_statically`]).
    pub region: Option<Span>,
}

impl Instance {
    pub fn new(model: Arc<TemplateModel>) -> Self {
        let fields = model.fields.len();
        let slots = fields + model.lets.len();
        Instance {
            model,
            sets: std::iter::repeat_with(|| None).take(fields).collect(),
            patches: FxHashMap::default(),
            slots: std::iter::repeat_with(|| Slot::Unset).take(slots).collect(),
            missing_at: None,
            app: None,
            element: None,
            region: None,
        }
    }

    /// Applies one layer's assignment: a whole-field set replaces earlier sets and patches.
    pub fn assign(&mut self, key: &[(Name, TextRange)], expr: Arc<Expr>, file: SourceFile, origin: Origin) {
        let Some((field, _)) = key.first() else { return };
        if key.len() == 1 {
            if !self.patches.is_empty() {
                self.patches.remove(field);
            }
            // A name the model does not declare has no slot and is never read.
            if let Some(index) = self.model.fields.get_index_of(field) {
                self.set(index, Assign::Expr { expr, file, origin });
            }
        } else {
            let path = key.iter().skip(1).map(|(n, _)| n.clone()).collect();
            self.patches.entry(field.clone()).or_default().push(Patch { path, expr, file, origin });
        }
    }

    /// Sets the field at `index` of `model.fields`, replacing an earlier set.
    pub(crate) fn set(&mut self, index: usize, assign: Assign) {
        if let Some(s) = self.sets.get_mut(index) {
            *s = Some(assign);
        }
    }

    /// The slot of field or `let` `name` (their names never collide; checked in sema).
    fn slot_of(&self, name: &str) -> Option<&Slot> {
        let index = match self.model.fields.get_index_of(name) {
            Some(i) => i,
            None => self.model.fields.len() + self.model.lets.get_index_of(name)?,
        };
        self.slots.get(index)
    }

    /// The slot of field `name`.
    fn field_slot(&self, name: &str) -> Option<&Slot> {
        self.slots.get(self.model.fields.get_index_of(name)?)
    }
}

struct FileCtx<'db> {
    /// Lent by salsa (`file_hir` is read by reference), not an `Arc` cloned per evaluator.
    hir: &'db FileHir,
}

/// Where an expression is evaluated: the scope it was written in (which decides what its
/// names mean), the instance whose field values it reads, and its locals.
pub(crate) struct Ctx {
    pub file: SourceFile,
    pub fid: FileId,
    pub inst: Option<usize>,
    pub scope: Rc<Resolver>,
    pub locals: Vec<(Name, Value)>,
}

/// A scope of an evaluator: the file, the template whose body it is, whether it is an app body.
type ScopeKey = (SourceFile, Option<Name>, bool);

pub(crate) struct Eval<'db> {
    pub db: &'db dyn Db,
    pub project: Project,
    pub diags: Vec<Diagnostic>,
    steps: u64,
    limit_reported: bool,
    /// Nesting of [`Eval::root_expr`]; literals are cached only inside a retained root.
    in_root: u32,
    pub insts: Vec<Instance>,
    files: FxHashMap<SourceFile, FileCtx<'db>>,
    /// Scopes by (file, writing template, app body); built once per evaluator. An evaluator
    /// uses a handful (the app's, its template's and their ancestors'), so they are found by a
    /// scan that compares the key in place rather than by hashing a copy of it for every field.
    /// Each with the file's id, read once per scope rather than once per expression: the
    /// evaluator lives inside one query, which recorded the read the first time.
    scopes: Vec<(ScopeKey, Rc<Resolver>, FileId)>,
    /// Scopes of policy entries by the file that declares them.
    policy_scopes: FxHashMap<SourceFile, Rc<Resolver>>,
    /// The environment being evaluated for, with its value (what `env` reads); `None` when
    /// building without one.
    pub env: Option<(Name, Value)>,
    /// The app being evaluated, for "no environment selected" (reported once per app).
    pub app_site: Option<(Name, Span)>,
    env_missing_reported: bool,
    /// Whether problems of record literals that the static checks (typeck) reported are left
    /// to them ([`Eval::reported_statically`]); off inside those checks themselves.
    pub(crate) defer_to_static: bool,
    /// Records built the general way (not [`Eval::plain_record`]) so far: a check that built
    /// none depends only on the value and the schema ([`ConformCache`]).
    general_records: u64,
    /// Check-only conformance ([`Eval::without_building`]): records and converted values are not
    /// built, only their diagnostics and steps are produced.
    pub(crate) check_only: bool,
    /// While a record is checked for the run's [`ConformCache`]: the schemas the check read.
    pub(crate) schemas_read: Option<Vec<(SourceFile, Name)>>,
    /// What this evaluator has read through salsa already, so it asks once. An evaluator lives
    /// inside one query of one revision (each query makes its own), so a second read would
    /// return the same value and add a read the query already has: the top-level `let` values
    /// (an instance reads `tiers` once per field that uses it), the let cycles, and the schemas
    /// replayed for reused checked records ([`Eval::schema_record`]).
    let_values: FxHashMap<(SourceFile, Name), R>,
    let_cycles: Option<&'db kdep_sema::lets::LetCycles>,
    replayed: rustc_hash::FxHashSet<(SourceFile, Name)>,
}

/// A type violation found while checking a value against a type.
pub(crate) struct Violation {
    /// The value's path from the checked root (`labels.team`, `ports[2]`).
    pub what: String,
    pub code: Code,
    pub message: String,
    pub label: String,
    pub decl_label: String,
    pub help: Option<String>,
}

impl<'db> Eval<'db> {
    pub fn new(db: &'db dyn Db, project: Project) -> Self {
        Eval {
            db,
            project,
            diags: Vec::new(),
            steps: 0,
            limit_reported: false,
            in_root: 0,
            insts: Vec::new(),
            files: FxHashMap::default(),
            scopes: Vec::new(),
            policy_scopes: FxHashMap::default(),
            env: None,
            app_site: None,
            env_missing_reported: false,
            defer_to_static: true,
            general_records: 0,
            check_only: false,
            schemas_read: None,
            let_values: FxHashMap::default(),
            let_cycles: None,
            replayed: rustc_hash::FxHashSet::default(),
        }
    }

    /// A context for an expression written in `file`, in the body of template `owner` when it
    /// reads the members of instance `inst`, or at module level (`owner` and `inst` `None`).
    pub fn ctx(&mut self, file: SourceFile, inst: Option<usize>, owner: Option<&Name>) -> Ctx {
        self.ctx_in(file, inst, owner, false)
    }

    /// A context for an entry of a policy declared in `file` (its module and the environment;
    /// the caller binds the policy's locals).
    pub(crate) fn policy_ctx(&mut self, file: SourceFile) -> Ctx {
        let scope = match self.policy_scopes.get(&file) {
            Some(s) => s.clone(),
            None => {
                let s = Rc::new(Resolver::policy(self.db, self.project, file));
                self.policy_scopes.insert(file, s.clone());
                s
            }
        };
        Ctx { file, fid: file.id(self.db), inst: None, scope, locals: Vec::new() }
    }

    /// A context for a constant expression ([`is_constant`]: no names) written in `file`. Such
    /// an expression never consults its scope, so any scope this evaluator built serves: a
    /// schema's locked `apiVersion` and `kind`, evaluated for every object checked against it,
    /// do not build a scope of the schema's body (its imports, item indexes and model).
    fn constant_ctx(&mut self, file: SourceFile, inst: Option<usize>) -> Ctx {
        match self.scopes.first().map(|(_, s, _)| s.clone()) {
            Some(scope) => Ctx { file, fid: self.file_id(file), inst, scope, locals: Vec::new() },
            None => self.ctx(file, inst, None),
        }
    }

    /// `file`'s id: from a scope of the file this evaluator built, else read.
    fn file_id(&self, file: SourceFile) -> FileId {
        match self.scopes.iter().find(|((f, _, _), _, _)| *f == file) {
            Some((_, _, fid)) => *fid,
            None => file.id(self.db),
        }
    }

    /// Hands this evaluator the module scope of an app's file already fetched (a build's, see
    /// `app::evaluate_facts`), as the scope of that file's app bodies: the same scope
    /// [`Eval::app_ctx`] would otherwise fetch again.
    pub(crate) fn seed_app_scope(&mut self, module: &Resolver) {
        let file = module.file;
        if !self.scopes.iter().any(|((f, o, a), _, _)| *f == file && *a && o.is_none()) {
            let fid = file.id(self.db);
            self.scopes.push(((file, None, true), Rc::new(module.for_apps()), fid));
        }
    }

    /// A context for an expression of an app body or `in` block written in `file`.
    fn app_ctx(&mut self, file: SourceFile) -> Ctx {
        self.ctx_in(file, None, None, true)
    }

    fn ctx_in(&mut self, file: SourceFile, inst: Option<usize>, owner: Option<&Name>, app: bool) -> Ctx {
        let found = self.scopes.iter().find(|((f, o, a), _, _)| *f == file && *a == app && o.as_ref() == owner);
        let (scope, fid) = match found {
            Some((_, s, fid)) => (s.clone(), *fid),
            None => {
                let s = Rc::new(match owner {
                    Some(o) => Resolver::body(self.db, self.project, file, o),
                    None if app => Resolver::app(self.db, self.project, file),
                    None => Resolver::module(self.db, self.project, file),
                });
                let fid = file.id(self.db);
                self.scopes.push(((file, owner.cloned(), app), s.clone(), fid));
                (s, fid)
            }
        };
        Ctx { file, fid, inst, scope, locals: Vec::new() }
    }

    fn file_ctx(&mut self, file: SourceFile) -> &FileCtx<'db> {
        let db = self.db;
        self.files.entry(file).or_insert_with(|| FileCtx { hir: file_hir(db, file) })
    }

    pub fn error(&mut self, code: Code, message: impl Into<String>, span: Span, label: impl Into<String>) -> Poison {
        self.diags.push(Diagnostic::error(code, message).with_primary(span, label));
        Poison
    }

    fn limit(&mut self, span: Span, what: &str) -> Poison {
        if !self.limit_reported {
            self.limit_reported = true;
            self.diags.push(
                Diagnostic::error(Code::EVALUATION_LIMIT, format!("evaluation exceeded the {what} limit"))
                    .with_primary(span, "while evaluating this")
                    .with_help(
                        "simplify the expression or split the data; kdep bounds evaluation so it always terminates",
                    ),
            );
        }
        Poison
    }

    /// Charges `units` evaluation steps for work done in one go (copying, scanning, comparing
    /// large values), so that work counts against [`MAX_STEPS`] like evaluating expressions.
    pub(crate) fn charge(&mut self, units: u64, span: Span) -> R<()> {
        self.steps = self.steps.saturating_add(units);
        if self.steps > MAX_STEPS {
            return Err(self.limit(span, "step"));
        }
        Ok(())
    }

    // ----- top-level lets -------------------------------------------------------------------

    /// Looks up a top-level `let` through the per-let query, guarding against cycles.
    pub fn module_let(&mut self, file: SourceFile, name: &Name, use_span: Span) -> R {
        let key = (file, name.clone());
        // Lent by salsa (`returns(ref)`): every app reads the same value, and cloning its
        // `Arc` wrote one count from both threads.
        let cycles: &'db kdep_sema::lets::LetCycles = match self.let_cycles {
            Some(c) => c,
            None => {
                let read: &'db kdep_sema::lets::LetCycles = let_cycles(self.db, self.project);
                self.let_cycles = Some(read);
                read
            }
        };
        if cycles.poisoned.contains(&key) {
            return Err(Poison);
        }
        let reentrant = LET_STACK.with(|s| s.borrow().contains(&key));
        if reentrant {
            return Err(self.error(
                Code::CYCLIC_DEFINITION,
                format!("`{name}` depends on itself"),
                use_span,
                "cyclic reference",
            ));
        }
        let Some(depth) = enter(LET_COST) else {
            return Err(self.limit(use_span, "nesting depth"));
        };
        if let Some(v) = self.let_values.get(&key) {
            return v.clone();
        }
        let out = module_let_value(self.db, self.project, file, name.clone());
        drop(depth);
        // Diagnostics of the let belong to the let's own file (reported by its file's checks).
        self.let_values.insert(key, out.value.clone());
        out.value.clone()
    }

    fn module_let_inline(&mut self, file: SourceFile, name: &Name) -> R {
        let Some(l) = self.file_ctx(file).hir.lets.get(name).cloned() else { return Err(Poison) };
        let key = (file, name.clone());
        let on_stack = LetGuard::push(key);
        let mut ctx = self.ctx(file, None, None);
        let value = self.root_expr(&l.value, &mut ctx);
        drop(on_stack);
        let value = value?;
        let types = kdep_sema::model::top_let_types(self.db, self.project, file);
        match types.0.get(name) {
            Some(ty) => {
                let span = Span::new(ctx.fid, l.value.range);
                let ty_span = l.ty.as_ref().map(|t| Span::new(ctx.fid, t.range()));
                self.conform_reported(value, ty, name, span, ty_span, Code::TYPE_MISMATCH, None)
            }
            None => Ok(value),
        }
    }

    // ----- instances ------------------------------------------------------------------------

    pub fn push_instance(&mut self, inst: Instance) -> usize {
        self.insts.push(inst);
        self.insts.len() - 1
    }

    fn inst(&self, i: usize) -> Option<&Instance> {
        self.insts.get(i)
    }

    /// The value of field `name` of instance `i`, computed on first use.
    pub fn field(&mut self, i: usize, name: &Name, use_span: Span) -> R<(Value, Origin)> {
        let Some(index) = self.inst(i).and_then(|inst| inst.model.fields.get_index_of(name)) else {
            return Err(Poison);
        };
        self.field_at(i, index, name, use_span)
    }

    /// [`Eval::field`] of the field at `index` of the instance's model, named `name`.
    fn field_at(&mut self, i: usize, index: usize, name: &Name, use_span: Span) -> R<(Value, Origin)> {
        let Some(inst) = self.inst(i) else { return Err(Poison) };
        match inst.slots.get(index) {
            Some(Slot::Done(v, o)) => return Ok((v.clone(), o.clone())),
            Some(Slot::Failed) => return Err(Poison),
            Some(Slot::InProgress) => {
                let decl = inst.model.fields.get_index(index).map(|(_, f)| f.decl_span);
                let mut d = Diagnostic::error(Code::CYCLIC_DEFINITION, format!("field `{name}` depends on itself"))
                    .with_primary(use_span, "cyclic reference");
                if let Some(decl) = decl {
                    d = d.with_secondary(decl, "field declared here");
                }
                self.diags.push(d);
                self.set_slot(i, index, Slot::Failed);
                return Err(Poison);
            }
            Some(Slot::Unset) | None => {}
        }
        let model = inst.model.clone();
        // Borrowed from the model held above: a field model carries its documentation, and the
        // generated Kubernetes schemas document every field.
        let Some((_, fm)) = model.fields.get_index(index) else { return Err(Poison) };
        let missing_at = inst.missing_at;
        let region = inst.region;
        let Some(depth) = enter(REF_COST) else {
            return Err(self.limit(use_span, "nesting depth"));
        };
        // Computed once (the slot is in progress, then done or failed): the assignment and
        // patches are taken, not copied.
        let (assign, patches) = match self.insts.get_mut(i) {
            Some(inst) => (
                inst.sets.get_mut(index).and_then(Option::take),
                if inst.patches.is_empty() { Vec::new() } else { inst.patches.remove(name).unwrap_or_default() },
            ),
            None => (None, Vec::new()),
        };
        self.set_slot(i, index, Slot::InProgress);
        let reported = self.diags.len();
        let result = self.compute_field(i, &model, fm, assign, patches, missing_at);
        drop(depth);
        // A record field's problem that typeck reported in the record's literal (a missing
        // field, a value of the wrong kind or outside its type) is its report, not repeated here.
        if let Some(region) = region.filter(|_| self.diags.len() > reported) {
            let own: Vec<Diagnostic> = self.diags.drain(reported..).collect();
            for d in own {
                if !self.reported_statically(&d, region) {
                    self.diags.push(d);
                }
            }
        }
        match result {
            Ok((v, o)) => {
                self.set_slot(i, index, Slot::Done(v.clone(), o.clone()));
                Ok((v, o))
            }
            Err(p) => {
                self.set_slot(i, index, Slot::Failed);
                Err(p)
            }
        }
    }

    /// Writes slot `index` of instance `i` (see [`Instance::slots`]).
    fn set_slot(&mut self, i: usize, index: usize, slot: Slot) {
        if let Some(s) = self.insts.get_mut(i).and_then(|inst| inst.slots.get_mut(index)) {
            *s = slot;
        }
    }

    fn compute_field(
        &mut self,
        i: usize,
        model: &TemplateModel,
        fm: &kdep_sema::model::FieldModel,
        assign: Option<Assign>,
        patches: Vec<Patch>,
        missing_at: Option<Span>,
    ) -> R<(Value, Origin)> {
        let locked = fm.locked.is_some();
        let optional = matches!(*fm.ty, Ty::Optional(_));
        let (mut value, mut origin, site, is_default) = match assign.filter(|_| !locked) {
            Some(Assign::Expr { expr, file, origin }) => {
                let mut ctx = self.app_ctx(file);
                let v = self.field_value(&expr, &mut ctx, optional)?;
                let site = Span::new(ctx.fid, expr.range);
                (v, origin, site, false)
            }
            Some(Assign::Value { value, origin }) => {
                let site = origin.span.unwrap_or(fm.decl_span);
                (value, origin, site, false)
            }
            None => match &fm.default {
                Some(d) => {
                    let mut ctx = if is_constant(&d.expr, 0) {
                        self.constant_ctx(d.file, Some(i))
                    } else {
                        self.ctx(d.file, Some(i), Some(&d.owner))
                    };
                    let v = self.field_value(&d.expr, &mut ctx, optional)?;
                    let layer = if d.extending {
                        Layer::ExtendingTemplate { template: d.template.clone() }
                    } else {
                        Layer::TemplateDefault { template: d.template.clone() }
                    };
                    (v, Origin::new(Some(d.span), layer), d.span, true)
                }
                // An optional field nobody set is null: records and emitted objects leave it out.
                None if optional => {
                    (Value::Null, Origin::new(Some(fm.decl_span), Layer::Computed), fm.decl_span, false)
                }
                None => {
                    if let Some(at) = missing_at {
                        self.diags.push(
                            Diagnostic::error(
                                Code::MISSING_FIELD,
                                format!("required field `{}` of `{}` is not set", fm.name, model.qualified),
                            )
                            .with_primary(at, format!("`{}` missing", fm.name))
                            .with_secondary(fm.decl_span, "required field declared here"),
                        );
                    }
                    return Err(Poison);
                }
            },
        };
        let decl = fm.ty_span.or(Some(fm.decl_span));
        // A constant default is checked once per template (`app::default_diagnostics`), so here
        // its violations stay silent: reporting them again would repeat the report for every
        // app and environment.
        let constant_default = is_default && fm.default.as_ref().is_some_and(|d| is_constant(&d.expr, 0));
        if constant_default {
            value = self.conform_silently(value, &fm.ty, &fm.name, site)?;
        }
        let patches: Vec<&Patch> = patches.iter().filter(|_| !locked).collect();
        if patches.is_empty() && constant_default {
            return Ok((value, origin));
        }
        // Each patch's value path (`labels.team`) and site, to report a violation where the
        // patch that caused it is written.
        let mut patch_sites: Vec<(String, Span)> = Vec::with_capacity(patches.len());
        for p in patches {
            let mut ctx = self.app_ctx(p.file);
            // An absent patch value leaves the entry out, as in an object literal.
            let Some(v) = self.root_expr_opt(&p.expr, &mut ctx)? else { continue };
            let span = Span::new(ctx.fid, p.expr.range);
            if value.is_null() {
                value = Value::empty_map();
            }
            if !set_path(&mut value, &p.path, v, p.origin.clone()) {
                return Err(self.error(
                    Code::TYPE_MISMATCH,
                    format!("`{}.{}` cannot be set: `{}` is not a map", fm.name, join(&p.path), fm.name),
                    span,
                    "nested assignment into a non-map value",
                ));
            }
            origin = p.origin.clone();
            patch_sites.push((format!("{}.{}", fm.name, join(&p.path)), span));
        }
        let code = if is_default { Code::INVALID_DEFAULT } else { Code::TYPE_MISMATCH };
        let app = self.inst(i).and_then(|inst| inst.app.clone());
        if patch_sites.is_empty() {
            let v = self.conform_reported(value, &fm.ty, &fm.name, site, decl, code, app)?;
            return Ok((v, origin));
        }
        // A violation inside (or around) a patched path is the patch's: it is reported at the
        // patch's value as a type violation, even when the rest of the value is a default.
        let record_site = patch_sites.last().map_or(site, |(_, s)| *s);
        let mut violations = Vec::new();
        let out = self.conform(value, &fm.ty, &fm.name, record_site, &mut violations);
        if violations.is_empty() {
            return out.map(|v| (v, origin));
        }
        for v in violations {
            let by_patch = patch_sites.iter().rev().find(|(path, _)| overlaps(path, &v.what));
            match by_patch {
                Some((_, span)) => self.report_violation(v, *span, decl, Code::TYPE_MISMATCH, None),
                None => self.report_violation(v, site, decl, code, app.clone()),
            }
        }
        Err(Poison)
    }

    /// Evaluates a field's value (an assignment or default). An absent value leaves an optional
    /// field unset (null); a field that is not optional needs a value, so an `if` without
    /// `else` there is K0201 whatever its condition says (the same report as `typeck`'s).
    fn field_value(&mut self, expr: &Arc<Expr>, ctx: &mut Ctx, optional: bool) -> R {
        if optional {
            return Ok(self.root_expr_opt(expr, ctx)?.unwrap_or(Value::Null));
        }
        if let Some(at) = expr.absent_if() {
            self.diags.push(kdep_sema::hir::no_value_diagnostic(Span::new(ctx.fid, at)));
            return Err(Poison);
        }
        self.root_expr(expr, ctx)
    }

    /// Conforms `value` to `ty` without reporting: for values whose violations were reported
    /// elsewhere. Fails when there are any.
    fn conform_silently(&mut self, value: Value, ty: &Ty, what: &str, site: Span) -> R {
        let reported = self.diags.len();
        let mut violations = Vec::new();
        let out = self.conform(value, ty, what, site, &mut violations);
        self.diags.truncate(reported);
        if violations.is_empty() {
            out
        } else {
            Err(Poison)
        }
    }

    /// Checks `value` against `ty`, reporting violations at `site` with the type's declaration
    /// as secondary label. `default_code` is K0309 for template defaults: a default that breaks
    /// its (possibly narrowed) type is reported as an invalid default, whatever the violation.
    #[allow(clippy::too_many_arguments)]
    pub fn conform_reported(
        &mut self,
        value: Value,
        ty: &Ty,
        what: &str,
        site: Span,
        decl: Option<Span>,
        default_code: Code,
        app: Option<(Name, Span)>,
    ) -> R {
        let mut violations = Vec::new();
        let out = self.conform(value, ty, what, site, &mut violations);
        if violations.is_empty() {
            return out;
        }
        for v in violations {
            self.report_violation(v, site, decl, default_code, app.clone());
        }
        Err(Poison)
    }

    /// Reports one violation at `site`; see [`Eval::conform_reported`] for `default_code`.
    fn report_violation(
        &mut self,
        v: Violation,
        site: Span,
        decl: Option<Span>,
        default_code: Code,
        app: Option<(Name, Span)>,
    ) {
        let code = if default_code == Code::INVALID_DEFAULT { Code::INVALID_DEFAULT } else { v.code };
        let mut d = Diagnostic::error(code, v.message).with_primary(site, v.label);
        if let Some(decl) = decl {
            d = d.with_secondary(decl, v.decl_label);
        }
        if let Some((app, span)) = &app {
            if code == Code::INVALID_DEFAULT {
                d = d.with_secondary(*span, format!("in app `{app}`"));
            }
        }
        if let Some(h) = v.help {
            d = d.with_help(h);
        }
        self.diags.push(d);
    }

    /// The value of `let name` of instance `i`.
    fn instance_let(&mut self, i: usize, name: &Name, use_span: Span) -> R {
        let Some(inst) = self.inst(i) else { return Err(Poison) };
        // Lets follow the fields in the slot table.
        let Some(index) = inst.model.lets.get_index_of(name).map(|l| inst.model.fields.len() + l) else {
            return Err(Poison);
        };
        match inst.slots.get(index) {
            Some(Slot::Done(v, _)) => return Ok(v.clone()),
            Some(Slot::Failed) => return Err(Poison),
            Some(Slot::InProgress) => {
                self.set_slot(i, index, Slot::Failed);
                return Err(self.error(
                    Code::CYCLIC_DEFINITION,
                    format!("`{name}` depends on itself"),
                    use_span,
                    "cyclic reference",
                ));
            }
            Some(Slot::Unset) | None => {}
        }
        let Some(l) = inst.model.lets.get(name).cloned() else { return Err(Poison) };
        let Some(depth) = enter(REF_COST) else {
            return Err(self.limit(use_span, "nesting depth"));
        };
        self.set_slot(i, index, Slot::InProgress);
        let mut ctx = self.ctx(l.file, Some(i), Some(&l.owner));
        let mut result = self.root_expr(&l.expr, &mut ctx);
        drop(depth);
        if let (Ok(v), Some(ty)) = (&result, &l.ty) {
            let site = Span::new(ctx.fid, l.expr.range);
            result = self.conform_reported(v.clone(), ty, name, site, Some(l.span), Code::TYPE_MISMATCH, None);
        }
        match &result {
            Ok(v) => self.set_slot(i, index, Slot::Done(v.clone(), Origin::computed())),
            Err(_) => self.set_slot(i, index, Slot::Failed),
        }
        result
    }

    /// Evaluates every field of instance `i` into a record, in declaration order. Fields that
    /// failed are left out and make the result `Err` carrying the partial record.
    pub fn record(&mut self, i: usize) -> Result<Map, Map> {
        // A check-only walk (`Eval::without_building`) reads no record it checks: each field is
        // computed and checked as in a full check, and not collected.
        let collect = !self.check_only;
        self.record_in(i, collect)
    }

    /// Computes and checks every field of instance `i` as [`Eval::record`] does, in the same
    /// order, without collecting them: for a caller that reads the instance's objects only.
    pub(crate) fn compute_fields(&mut self, i: usize) {
        let _ = self.record_in(i, false);
    }

    fn record_in(&mut self, i: usize, collect: bool) -> Result<Map, Map> {
        let Some(inst) = self.inst(i) else { return Err(Map::new()) };
        let model = inst.model.clone();
        let mut out = if collect { Map::with_capacity(model.fields.len()) } else { Map::new() };
        let mut failed = false;
        for (index, (name, fm)) in model.fields.iter().enumerate() {
            match self.field_at(i, index, name, fm.decl_span) {
                Ok((v, o)) => {
                    if collect && !v.is_null() {
                        out.insert(own_key(name), v, o);
                    }
                }
                Err(_) => failed = true,
            }
        }
        if failed {
            Err(out)
        } else {
            Ok(out)
        }
    }

    /// Runs the checks of instance `i`.
    pub fn run_checks(&mut self, i: usize) {
        let Some(inst) = self.inst(i) else { return };
        let model = inst.model.clone();
        let app = inst.app.clone();
        let element = inst.element.clone();
        for check in &model.checks {
            let mut ctx = self.ctx(check.file, Some(i), Some(&check.owner));
            let Ok(v) = self.root_expr(&check.cond, &mut ctx) else { continue };
            match v {
                Value::Bool(true) => {}
                Value::Bool(false) => {
                    let mut msg = check.message.as_deref().unwrap_or("check failed").to_string();
                    let values = self.check_values(i, &check.cond);
                    if !values.is_empty() {
                        msg = format!("{msg} ({values})");
                    }
                    let mut d = Diagnostic::error(Code::CHECK_FAILED, msg);
                    d = match &element {
                        // A record's checks run once per record: the record's own site tells
                        // the four bad items of a list apart, the `check` is the reason.
                        Some((site, what)) => d
                            .with_primary(*site, format!("`{what}` fails this check"))
                            .with_secondary(check.span, "check declared here"),
                        None => d.with_primary(check.span, "this check is false"),
                    };
                    if let Some((name, span)) = &app {
                        d = d.with_secondary(*span, format!("for app `{name}`"));
                    }
                    self.diags.push(d);
                }
                other => {
                    self.error(
                        Code::TYPE_MISMATCH,
                        format!("a check must be a bool, got {}", other.type_name()),
                        check.span,
                        "not a condition",
                    );
                }
            }
        }
    }

    /// `name = value` for the fields and lets of instance `i` that `cond` reads and that have
    /// been computed, in the order the condition names them: what made a check false.
    fn check_values(&self, i: usize, cond: &Expr) -> String {
        let Some(inst) = self.inst(i) else { return String::new() };
        let mut names = Vec::new();
        names_read(cond, &mut names, 0);
        let mut parts: Vec<String> = Vec::new();
        for n in names {
            if let Some(Slot::Done(v, _)) = inst.slot_of(&n) {
                let part = format!("{n} = {}", v.render_bounded(40));
                if !parts.contains(&part) {
                    parts.push(part);
                }
            }
        }
        parts.join(", ")
    }

    // ----- expressions ----------------------------------------------------------------------

    /// One evaluation step at `span`: counts it and takes its share of the depth budget (given
    /// back when the guard drops), or reports the limit it would exceed.
    fn step_into(&mut self, span: Span) -> R<DepthGuard> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err(self.limit(span, "step"));
        }
        match enter(EXPR_COST) {
            Some(depth) => Ok(depth),
            None => Err(self.limit(span, "nesting depth")),
        }
    }

    pub fn expr(&mut self, e: &Expr, ctx: &mut Ctx) -> R {
        let span = Span::new(ctx.fid, e.range);
        let depth = self.step_into(span)?;
        // The depth budget bounds recursion; `maybe_grow` makes sure that bound, not the
        // embedding thread's stack (2 MiB test threads, debug frames of several KiB), decides.
        let out = stacker::maybe_grow(STACK_RED_ZONE, STACK_SEGMENT, || self.expr_inner(e, ctx, span));
        drop(depth);
        // Checked on every result, so the expression that first nests too deep is the one
        // reported; a value nests one level deeper than its parts, so checking is O(1).
        match out {
            Ok(v) if v.depth() > MAX_VALUE_DEPTH => Err(self.limit(span, "value depth")),
            out => out,
        }
    }

    /// Evaluates `e` where an absent value is left out (an object entry, a list item, an
    /// `emit`, a field value): an `if` without `else` whose condition is false is `None`.
    /// Lowering allows such an `if` only in these positions, so [`Eval::expr`] never sees one
    /// it has to turn into a value.
    pub fn expr_opt(&mut self, e: &Expr, ctx: &mut Ctx) -> R<Option<Value>> {
        let ExprKind::If(c, t, f) = &e.kind else { return self.expr(e, ctx).map(Some) };
        let depth = self.step_into(Span::new(ctx.fid, e.range))?;
        let out = match (self.condition(c, ctx), f) {
            (Ok(true), _) => self.expr_opt(t, ctx),
            (Ok(false), Some(f)) => self.expr_opt(f, ctx),
            (Ok(false), None) => Ok(None),
            (Err(p), _) => Err(p),
        };
        drop(depth);
        out
    }

    /// The condition of an `if`, which must be a bool.
    fn condition(&mut self, c: &Expr, ctx: &mut Ctx) -> R<bool> {
        match self.expr(c, ctx)? {
            Value::Bool(b) => Ok(b),
            other => Err(self.error(
                Code::TYPE_MISMATCH,
                format!("an `if` condition must be a bool, got {}", other.type_name()),
                Span::new(ctx.fid, c.range),
                "not a bool",
            )),
        }
    }

    /// A list or object literal, evaluated.
    fn literal(&mut self, e: &Expr, ctx: &mut Ctx) -> R {
        match &e.kind {
            ExprKind::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut failed = false;
                for it in items {
                    match self.expr_opt(it, ctx) {
                        Ok(Some(v)) => out.push(v),
                        Ok(None) => {}
                        Err(_) => failed = true,
                    }
                }
                if failed {
                    Err(Poison)
                } else {
                    Ok(Value::list(out))
                }
            }
            ExprKind::Object(entries) => Ok(Value::map(self.object(entries, ctx)?)),
            _ => Err(Poison),
        }
    }

    /// A list or object literal: from the constant cache when it has no free names.
    fn cached_literal(&mut self, e: &Expr, ctx: &mut Ctx) -> R {
        let key = (e as *const Expr as usize, ctx.fid);
        let hit = CONSTS.with(|c| c.borrow().values.get(&key).cloned());
        match hit {
            Some(Some(v)) => return Ok(v),
            Some(None) => {}
            None => {
                if is_constant(e, 0) {
                    // Children of a cached literal need no entries of their own.
                    self.in_root -= 1;
                    let v = self.literal(e, ctx);
                    self.in_root += 1;
                    if let Ok(v) = &v {
                        CONSTS.with(|c| {
                            let mut c = c.borrow_mut();
                            if !c.seen.insert(key) {
                                c.seen.remove(&key);
                                c.keep(key, v);
                            }
                        });
                    }
                    return v;
                }
                CONSTS.with(|c| c.borrow_mut().values.insert(key, None));
            }
        }
        self.literal(e, ctx)
    }

    fn expr_inner(&mut self, e: &Expr, ctx: &mut Ctx, span: Span) -> R {
        match &e.kind {
            ExprKind::Null => Ok(Value::Null),
            ExprKind::Bool(b) => Ok(Value::Bool(*b)),
            ExprKind::Int(i) => Ok(Value::Int(*i)),
            ExprKind::Float(x) => Ok(Value::Float(*x)),
            ExprKind::Str(s) => Ok(Value::Str(s.clone())),
            ExprKind::Interp(parts) => {
                let mut out = String::new();
                for p in parts {
                    match p {
                        InterpPart::Text(t) => out.push_str(t),
                        InterpPart::Expr(x) => {
                            let v = self.expr(x, ctx)?;
                            let xs = Span::new(ctx.fid, x.range);
                            if let Err(err) = ops::interpolation(op_kind(&v)) {
                                return Err(self.op_error(err, xs));
                            }
                            out.push_str(&interpolate(&v));
                        }
                    }
                    if out.len() > MAX_SIZE {
                        return Err(self.limit(span, "string size"));
                    }
                }
                self.charge(string_work(out.len()), span)?;
                Ok(Value::str(out))
            }
            ExprKind::Name(n) => self.name(n, ctx, span),
            ExprKind::Field(base, field, frange) => {
                // `alias.app.field`: an app of another module of the package, read like a bare app
                // (an unset optional field is null, not a missing key).
                if let ExprKind::Field(head, app, _) = &base.kind {
                    if let ExprKind::Name(alias) = &head.kind {
                        if let Some(target) = self.module_alias(alias, ctx) {
                            if ctx.scope.member(alias, app) == Resolution::App(target) {
                                return self.app_field(target, app, field, span);
                            }
                        }
                    }
                }
                if let ExprKind::Name(alias) = &base.kind {
                    if let Some(target) = self.module_alias(alias, ctx) {
                        let res = ctx.scope.member(alias, field);
                        return self.module_member(target, field, res, Span::new(ctx.fid, *frange), span);
                    }
                    if let Some(v) = self.env_or_app_field(alias, field, Span::new(ctx.fid, *frange), ctx, span) {
                        return v;
                    }
                }
                let v = self.expr(base, ctx)?;
                self.get_field(&v, field, Span::new(ctx.fid, *frange))
            }
            ExprKind::Index(base, idx) => {
                let b = self.expr(base, ctx)?;
                let k = self.expr(idx, ctx)?;
                let ispan = Span::new(ctx.fid, idx.range);
                match (&b, &k) {
                    (Value::List(items), Value::Int(n)) => {
                        let got = usize::try_from(*n).ok().and_then(|u| items.get(u));
                        match got {
                            Some(v) => Ok(v.clone()),
                            None => Err(self.error(
                                Code::INDEX_OUT_OF_BOUNDS,
                                format!("index {n} is out of bounds for a list of {} items", items.len()),
                                ispan,
                                "no such index",
                            )),
                        }
                    }
                    (Value::Map(_), Value::Str(key)) => self.get_field(&b, key, ispan),
                    _ => Err(self.error(
                        Code::TYPE_MISMATCH,
                        format!("cannot index a {} with a {}", b.type_name(), k.type_name()),
                        span,
                        "invalid index",
                    )),
                }
            }
            ExprKind::Call(name, crange, args) => self.call(name, Span::new(ctx.fid, *crange), args, ctx, span),
            ExprKind::Unary(op, a) => {
                let v = self.expr(a, ctx)?;
                match (op, &v) {
                    (UnaryOp::Not, Value::Bool(b)) => Ok(Value::Bool(!b)),
                    (UnaryOp::Neg, Value::Int(i)) => match i.checked_neg() {
                        Some(n) => Ok(Value::Int(n)),
                        None => {
                            Err(self.error(Code::INTEGER_OVERFLOW, "integer overflow in negation", span, "overflows"))
                        }
                    },
                    (UnaryOp::Neg, Value::Float(x)) => Ok(Value::Float(-x)),
                    (UnaryOp::Neg, Value::Quantity(q)) => q
                        .checked_neg()
                        .map(Value::from)
                        .map_err(|e| self.error(Code::INTEGER_OVERFLOW, e.to_string(), span, "overflows")),
                    (UnaryOp::Neg, Value::Duration(d)) => d
                        .checked_neg()
                        .map(Value::Duration)
                        .map_err(|e| self.error(Code::INTEGER_OVERFLOW, e.to_string(), span, "overflows")),
                    // Kinds `ops::unary` accepts are all handled above.
                    _ => match ops::unary(*op, op_kind(&v)) {
                        Err(err) => Err(self.op_error(err, span)),
                        Ok(_) => Err(Poison),
                    },
                }
            }
            ExprKind::Binary(op, a, b) => self.binary(*op, a, b, ctx, span),
            ExprKind::If(c, t, f) => match (self.condition(c, ctx)?, f) {
                (true, _) => self.expr(t, ctx),
                (false, Some(f)) => self.expr(f, ctx),
                // An `if` without `else` where a value is required; lowering reported it.
                (false, None) => Err(Poison),
            },
            ExprKind::List(_) | ExprKind::Object(_) if self.in_root > 0 => self.cached_literal(e, ctx),
            ExprKind::List(_) | ExprKind::Object(_) => self.literal(e, ctx),
            ExprKind::ListComp(item, clause) => {
                let mut out = Vec::new();
                self.comprehension(clause, ctx, span, &mut |ev, ctx| {
                    let Some(v) = ev.expr_opt(item, ctx)? else { return Ok(()) };
                    out.push(v);
                    if out.len() > MAX_ITEMS {
                        return Err(ev.limit(span, "list size"));
                    }
                    Ok(())
                })?;
                Ok(Value::list(out))
            }
            ExprKind::Instantiate(path, entries) => {
                let given = self.object(entries, ctx)?;
                let model = match resolve_template(self.db, self.project, ctx.file, &path.segments, path.range, true) {
                    Ok((f, n)) => template_model(self.db, self.project, f, n).ok_or(Poison)?,
                    Err(d) => {
                        self.diags.extend(d.map(|d| *d));
                        return Err(Poison);
                    }
                };
                // Keys written literally were checked statically (typeck: unknown, locked and, when
                // every key is literal, missing fields); they are not reported twice.
                let literal: Vec<Name> = entries
                    .iter()
                    .filter_map(|en| match en {
                        ObjEntry::Field { key, .. } => match key.first() {
                            Some(KeySeg::Static(k, _)) => Some(k.clone()),
                            _ => None,
                        },
                        ObjEntry::Comp { .. } => None,
                    })
                    .collect();
                let all_literal = literal.len() == entries.len();
                self.instantiate_record_checked(model, &given, span, None, Some((&literal, all_literal)))
                    .map(Value::map)
            }
            ExprKind::Error => Err(Poison),
        }
    }

    /// Builds a record of a schema (or template) type from given field values: unknown and
    /// locked fields are reported, defaults filled, field types and checks enforced.
    pub fn instantiate_record(
        &mut self,
        model: Arc<TemplateModel>,
        given: &Map,
        at: Span,
        path: Option<&str>,
    ) -> R<Map> {
        self.instantiate_record_checked(model, given, at, path.map(Path::Root).as_ref(), None)
    }

    /// A record of a plain schema (see [`is_plain`]) built straight from the given map: each value
    /// conformed to its field's type, kept in declaration order, the record tagged as checked.
    /// `None` when anything is wrong (an unknown key, a missing required field, a violation, the
    /// depth budget): the caller then takes the general path, which reports it. The generated
    /// Kubernetes schemas are plain below an object's root, so a typed or checked object costs
    /// what its given fields cost, not what its schemas declare (a `Container` has 40 fields).
    fn plain_record(&mut self, model: &Arc<TemplateModel>, given: &Map, at: Span) -> Option<Map> {
        // The general path takes this much per nested record (one field evaluation).
        let _depth = enter(REF_COST)?;
        let reported_before = self.diags.len();
        let check_only = self.check_only;
        let mut fields: Vec<(usize, Arc<str>, Value, Origin)> =
            Vec::with_capacity(if check_only { 0 } else { given.len() });
        let mut extra = Vec::new();
        let mut violations = Vec::new();
        for (k, entry) in given.entries() {
            match model.fields.get_full(&**k) {
                Some((index, _, fm)) => {
                    let site = entry.origin.span.unwrap_or(at);
                    let v = self.conform(entry.value.clone(), &fm.ty, k, site, &mut violations).ok()?;
                    if !violations.is_empty() {
                        return None;
                    }
                    if !v.is_null() && !check_only {
                        fields.push((index, k.clone(), v, entry.origin.clone()));
                    }
                }
                None if model.open => {
                    if !check_only {
                        extra.push((k.clone(), entry.clone()));
                    }
                }
                None => return None,
            }
        }
        let required_missing = model
            .fields
            .values()
            .any(|fm| !matches!(*fm.ty, Ty::Optional(_)) && given.get(&fm.name).is_none_or(|v| v.is_null()));
        // A nested record reported something (a check of a non-plain schema): not clean.
        if required_missing || self.diags.len() != reported_before {
            return None;
        }
        if check_only {
            // Valid, and nobody reads the record: a placeholder the caller never looks at
            // (`schema_record` answers with the given map in this mode).
            return Some(Map::new());
        }
        fields.sort_unstable_by_key(|(index, ..)| *index);
        let mut out = Map::with_capacity(fields.len() + extra.len());
        for (_, k, v, o) in fields {
            out.insert(k, v, o);
        }
        for (k, entry) in extra {
            out.insert_entry(k, entry);
        }
        out.set_record(model.clone());
        Some(out)
    }

    /// [`Eval::instantiate_record`] for a record literal whose literal keys (and, when every key
    /// is literal, its missing fields) the static checks already reported.
    fn instantiate_record_checked(
        &mut self,
        model: Arc<TemplateModel>,
        given: &Map,
        at: Span,
        path: Option<&Path<'_>>,
        checked: Option<(&[Name], bool)>,
    ) -> R<Map> {
        let reported_before = self.diags.len();
        if is_plain(&model) {
            if let Some(m) = self.plain_record(&model, given, at) {
                return Ok(m);
            }
            // Something is wrong with it: the general path below says what, exactly as before.
            self.diags.truncate(reported_before);
        }
        self.general_records += 1;
        // Check-only conformance goes on through a record whose values nothing reads (no lets,
        // checks, emits or computed defaults): its slots are dropped with it. Anything that
        // reads a field must see it converted and built, as in a full check.
        let check_only = self.check_only;
        if check_only && !reads_no_fields(&model) {
            self.check_only = false;
        }
        let reported = |k: &Name| checked.is_some_and(|(keys, _)| keys.contains(k));
        let mut inst = Instance::new(model.clone());
        inst.missing_at = if checked.is_some_and(|(_, all)| all) { None } else { Some(at) };
        inst.element =
            Some((record_site(given, at), path.map_or_else(|| model.qualified.to_string(), ToString::to_string)));
        inst.region = Some(at);
        let mut failed = false;
        // Fields an `@open` schema does not declare: kept as given (typed `any`), after the
        // declared ones.
        let mut extra = Vec::new();
        for (k, entry) in given.entries() {
            let site = entry.origin.span.unwrap_or(at);
            match model.fields.get_full(&**k) {
                None if model.open => extra.push((k.clone(), entry.clone())),
                None if reported(k) => failed = true,
                None => {
                    let what = match path {
                        Some(p) => format!("{p}.{k}"),
                        None => k.to_string(),
                    };
                    let d = unknown_record_field(&model, k, &what, site);
                    if !self.reported_statically(&d, at) {
                        self.diags.push(d);
                    }
                    failed = true;
                }
                Some((index, _, fm)) => {
                    if fm.locked.is_some() && reported(k) {
                        failed = true;
                        continue;
                    }
                    if let Some(lock) = &fm.locked {
                        let d = locked_record_field(k, lock, site);
                        if !self.reported_statically(&d, at) {
                            self.diags.push(d);
                        }
                        failed = true;
                        continue;
                    }
                    inst.set(index, Assign::Value { value: entry.value.clone(), origin: entry.origin.clone() });
                }
            }
        }
        let i = self.push_instance(inst);
        // In a check-only walk `record` collects nothing: the empty map it answers is never a
        // checked record, so it is not tagged as one below.
        let collected = !self.check_only;
        let rec = self.record(i).map_err(|_| Poison);
        self.run_checks(i);
        self.check_only = check_only;
        // Nested instances are done; drop them so long lists of records stay linear in memory.
        self.insts.truncate(i);
        if failed {
            return Err(Poison);
        }
        // Tagged only when nothing was reported for it, so the tag means "checked and valid".
        let clean = self.diags.len() == reported_before;
        rec.map(|mut m| {
            for (k, entry) in extra {
                m.insert_entry(k, entry);
            }
            if clean && collected {
                m.set_record(model);
            }
            m
        })
    }

    /// Checks the map `given` (held by `value`) as a record of `model`, through the run's
    /// [`ConformCache`] when `given` is a map of a constant literal.
    pub(crate) fn schema_record(
        &mut self,
        given: &Arc<Map>,
        model: Arc<TemplateModel>,
        site: Span,
        what: &Path<'_>,
    ) -> R {
        let key = (Arc::as_ptr(given) as usize, Arc::as_ptr(&model) as usize);
        let shared =
            CONFORMED.with(|c| c.borrow().is_some()) && CONSTS.with(|c| c.borrow().shared_maps.contains(&key.0));
        if !shared {
            if self.check_only {
                // Valid or not, the value checked is the one given; only the diagnostics count.
                return self
                    .instantiate_record_checked(model, given, site, Some(what), None)
                    .map(|_| Value::Map(given.clone()));
            }
            return self.instantiate_record_checked(model, given, site, Some(what), None).map(Value::map);
        }
        let depth = DEPTH.with(std::cell::Cell::get);
        let hit = CONFORMED.with(|c| {
            let c = c.borrow();
            let e = c.as_ref()?.entries.get(&key)?;
            (depth <= e.depth && self.steps.saturating_add(e.steps) <= MAX_STEPS)
                .then(|| (e.value.clone(), e.steps, e.reads.clone()))
        });
        if let Some((v, steps, reads)) = hit {
            self.steps += steps;
            // What the check read, read again here: salsa records it for the query reusing the
            // record (same revision, so the same models), as if it had checked it itself.
            // Once per evaluator is enough (see `Eval::replayed`); an enclosing record being
            // checked for the cache still lists each.
            for (file, name) in reads.iter() {
                if let Some(outer) = &mut self.schemas_read {
                    outer.push((*file, name.clone()));
                }
                if self.replayed.insert((*file, name.clone())) {
                    template_model(self.db, self.project, *file, name.clone());
                }
            }
            return Ok(v);
        }
        let (steps, reported, general) = (self.steps, self.diags.len(), self.general_records);
        // A kept record must be the real one: built in full even during a check-only walk.
        let check_only = std::mem::replace(&mut self.check_only, false);
        let outer_reads = self.schemas_read.replace(Vec::new());
        let out = self.instantiate_record_checked(model.clone(), given, site, Some(what), None).map(Value::map);
        let mut reads = std::mem::replace(&mut self.schemas_read, outer_reads).unwrap_or_default();
        if let Some(outer) = &mut self.schemas_read {
            outer.extend(reads.iter().cloned());
        }
        self.check_only = check_only;
        if let Ok(v) = &out {
            if self.diags.len() == reported && self.general_records == general {
                // Few schemas per record: a linear dedup keeps the first-read order.
                let mut unique: Vec<(SourceFile, Name)> = Vec::with_capacity(reads.len());
                for r in reads.drain(..) {
                    if !unique.contains(&r) {
                        unique.push(r);
                    }
                }
                let reads = unique;
                let entry = Conformed {
                    _given: given.clone(),
                    _model: model,
                    value: v.clone(),
                    steps: self.steps - steps,
                    depth,
                    reads: Arc::new(reads),
                };
                CONFORMED.with(|c| {
                    if let Some(c) = c.borrow_mut().as_mut() {
                        if c.entries.len() < MAX_CONFORMED {
                            c.entries.insert(key, entry);
                        }
                    }
                });
            }
        }
        out
    }

    /// Whether a constant value conforms to `ty` with nothing reported and only plain records
    /// built: then every evaluation of it conforms (the static proof of emitted objects,
    /// [`crate::typeck::emit_plans`]). Run on an evaluator of its own.
    pub(crate) fn constant_conforms(&mut self, value: Value, ty: &Ty, site: Span) -> bool {
        let mut violations = Vec::new();
        let out = self.without_building(|ev| ev.conform(value, ty, "", site, &mut violations));
        out.is_ok() && violations.is_empty() && self.diags.is_empty() && self.general_records == 0
    }

    /// Checks the parts of emitted object `object` that its template's plan left to each
    /// instance ([`crate::typeck::EmitPlan`]), with the conformance the full check uses at each
    /// place; `true` when every one conforms, and then so does the object (the rest is proven).
    /// Otherwise nothing of the attempt remains (diagnostics, steps, the limit's report) and the
    /// caller checks the object in full, which reports exactly what it always did.
    ///
    /// The proven parts are not walked, so they cost no steps: a valid object costs less of the
    /// step budget than before (a package just over the budget may now pass). The depth budget
    /// is held as the full check holds it around each part (one reference per enclosing record).
    pub(crate) fn residuals_conform(&mut self, object: &Map, plan: &crate::typeck::EmitPlan, at: Span) -> bool {
        let (steps, reported, general, limit) =
            (self.steps, self.diags.len(), self.general_records, self.limit_reported);
        let ok = self.without_building(|ev| {
            plan.residuals.iter().all(|r| {
                let Some(value) = residual_at(object, &r.path) else { return false };
                if r.required && value.is_null() {
                    return false;
                }
                let Some(_depth) = enter(REF_COST.saturating_mul(r.records)) else { return false };
                let mut violations = Vec::new();
                let before = ev.diags.len();
                ev.conform(value.clone(), &r.ty, "", at, &mut violations).is_ok()
                    && violations.is_empty()
                    && ev.diags.len() == before
            })
        });
        if !ok {
            self.steps = steps;
            self.diags.truncate(reported);
            self.general_records = general;
            self.limit_reported = limit;
        }
        ok
    }

    /// Whether typeck reported `d` already, inside `region` of a record literal: the same code
    /// against the same declarations (the secondary labels: the schema, the field, its type)
    /// and the same message, up to what typeck cannot know ([`crate::typeck::message_covers`]).
    /// The static report is at the entry where the mistake is written; the evaluator's may be
    /// at the provenance of a value (an app's assignment), or name a list index the static
    /// check cannot know. A second, identical mistake in a value computed elsewhere and fed
    /// into the same literal is then shown once the first is fixed; it is never accepted, as
    /// the record still fails. Only consulted when a problem was found: valid programs pay
    /// nothing.
    fn reported_statically(&self, d: &Diagnostic, region: Span) -> bool {
        if !self.defer_to_static {
            return false;
        }
        let index = kdep_sema::index::project_index(self.db, self.project);
        let Some(file) = index.file_module.keys().find(|f| f.id(self.db) == region.file).copied() else {
            return false;
        };
        // Only what typeck's record checks report, and always against a declaration.
        let record_problem = matches!(
            d.code,
            Code::UNKNOWN_FIELD
                | Code::LOCKED_OVERRIDE
                | Code::MISSING_FIELD
                | Code::TYPE_MISMATCH
                | Code::OUT_OF_RANGE
                | Code::PATTERN_MISMATCH
                | Code::NOT_ALLOWED_VALUE
                | Code::LENGTH_MISMATCH
                | Code::INVALID_QUANTITY
                | Code::INVALID_DURATION
                | Code::DUPLICATE_LIST_KEY
        );
        if !record_problem || d.secondary.is_empty() {
            return false;
        }
        // The static report may label more (the earlier of two duplicate items).
        let same_decls = |s: &Diagnostic| d.secondary.iter().all(|b| s.secondary.iter().any(|a| a.span == b.span));
        crate::typeck::type_diagnostics(self.db, self.project, file).iter().any(|s| {
            s.code == d.code
                && s.primary.as_ref().is_some_and(|p| {
                    p.span.file == region.file
                        && region.range.start <= p.span.range.start
                        && p.span.range.end <= region.range.end
                })
                && same_decls(s)
                && crate::typeck::message_covers(&s.message, &d.message)
        })
    }

    fn module_alias(&mut self, alias: &Name, ctx: &Ctx) -> Option<SourceFile> {
        if ctx.locals.iter().any(|(n, _)| n == alias) {
            return None;
        }
        ctx.scope.module_alias(alias)
    }

    /// `alias.name` of imported `module`, resolved by the scope ([`kdep_sema::scope::Resolver::member`]): a `let`,
    /// an app of the package (in app bodies: the map of its fields), or the static check's error.
    fn module_member(&mut self, module: SourceFile, name: &Name, res: Resolution, nspan: Span, span: Span) -> R {
        match res {
            Resolution::ModuleLet(_) => self.module_let(module, name, span),
            Resolution::App(file) => self.app_fields(file, name, span).map(|(fields, _)| Value::map(fields)),
            _ => {
                self.diags.extend(kdep_sema::check::member_error(self.db, self.project, module, name, res, nspan));
                Err(Poison)
            }
        }
    }

    fn name(&mut self, n: &Name, ctx: &mut Ctx, span: Span) -> R {
        if let Some((_, v)) = ctx.locals.iter().rev().find(|(k, _)| k == n) {
            return Ok(v.clone());
        }
        match ctx.scope.resolve(n) {
            Resolution::Field => match ctx.inst {
                Some(i) => self.field(i, n, span).map(|(v, _)| v),
                None => Err(Poison),
            },
            Resolution::TemplateLet => match ctx.inst {
                Some(i) => self.instance_let(i, n, span),
                None => Err(Poison),
            },
            Resolution::ModuleLet(file) => self.module_let(file, n, span),
            // An import that did not resolve was reported where it is written; every use of
            // it would only repeat that error, so uses are silent.
            Resolution::Module(None) => Err(Poison),
            Resolution::Module(Some(_)) => Err(self.error(
                Code::TYPE_MISMATCH,
                format!("`{n}` is a module, not a value"),
                span,
                "use `module.name`",
            )),
            Resolution::Function(_) => Err(self.error(
                Code::TYPE_MISMATCH,
                format!("`{n}` is a function, not a value"),
                span,
                "call it: `name(arguments)`",
            )),
            Resolution::Env => self.env_value(span),
            Resolution::App(file) => self.app_fields(file, n, span).map(|(fields, _)| Value::map(fields)),
            // Only `alias.app` resolves so (`module_member`); a bare name never does.
            Resolution::ForeignApp(_) => Err(Poison),
            Resolution::Item(kind) => {
                let mut d =
                    Diagnostic::error(Code::TYPE_MISMATCH, format!("`{n}` is {}, not a value", kind.describe()))
                        .with_primary(span, "not a value");
                if kind == kdep_sema::index::ItemKind::App {
                    d = d.with_help("only app bodies read other apps; a template gets such values through its fields");
                }
                self.diags.push(d);
                Err(Poison)
            }
            // Reported by the static name check with the same text; normalisation removes the twin.
            Resolution::Local | Resolution::Unresolved => {
                self.diags.push(kdep_sema::check::unresolved_name(n, span, &ctx.scope));
                Err(Poison)
            }
        }
    }

    /// The environment's value, or K0506 (once per app) when building without one.
    fn env_value(&mut self, span: Span) -> R {
        if let Some((_, v)) = &self.env {
            return Ok(v.clone());
        }
        if !std::mem::replace(&mut self.env_missing_reported, true) {
            let envs = kdep_sema::check::environment_index(self.db, self.project);
            let declared: Vec<&str> = envs.envs.keys().map(|k| &**k).collect();
            let mut d = Diagnostic::error(Code::NO_ENVIRONMENT, "no environment selected: `env` has no value")
                .with_primary(span, "reads the environment");
            if let Some((app, site)) = &self.app_site {
                d = d.with_secondary(*site, format!("for app `{app}`"));
            }
            d = d.with_help(if declared.is_empty() {
                "declare an environment (`environment NAME { namespace = \"...\" }`) and build with `--env NAME`"
                    .to_string()
            } else {
                format!("build with `--env NAME`; declared environments: {}", declared.join(", "))
            });
            self.diags.push(d);
        }
        Err(Poison)
    }

    /// `env.field` and `app.field` (where `base` is not a local): the environment's entry, with a
    /// message naming the environment, or another app's field. `None` for any other base.
    fn env_or_app_field(&mut self, base: &Name, field: &Name, fspan: Span, ctx: &Ctx, span: Span) -> Option<R> {
        if ctx.locals.iter().any(|(n, _)| n == base) {
            return None;
        }
        match ctx.scope.resolve(base) {
            Resolution::Env => Some(self.env_value(span).and_then(|v| match v.get(field) {
                Some(x) => Ok(x.clone()),
                // Not declared by any environment: reported statically (K0202).
                None if !kdep_sema::check::environment_index(self.db, self.project).attributes.contains(field) => {
                    Err(Poison)
                }
                None => {
                    let env = self.env.as_ref().map_or_else(String::new, |(n, _)| n.to_string());
                    self.diags.push(
                        Diagnostic::error(
                            Code::MISSING_KEY,
                            format!("environment `{env}` does not declare attribute `{field}`"),
                        )
                        .with_primary(fspan, "not declared by this environment")
                        .with_help(format!(
                            "add `attributes.{field} = ...` to environment `{env}`, or read it with \
                             `get(env, \"{field}\", default)`"
                        )),
                    );
                    Err(Poison)
                }
            })),
            Resolution::App(file) => Some(self.app_field(file, base, field, span)),
            _ => None,
        }
    }

    /// Field `field` of app `app` of `file` (read from another app's body).
    fn app_field(&mut self, file: SourceFile, app: &Name, field: &Name, span: Span) -> R {
        self.app_fields(file, app, span).and_then(|(fields, failed)| match fields.get(field) {
            Some(v) => Ok(v.clone()),
            // Unknown fields are reported statically; a field that failed is reported for its
            // own app; an unset optional field is null.
            None if failed => Err(Poison),
            None => {
                let known = kdep_sema::check::app_template(self.db, self.project, file, app.clone())
                    .is_ok_and(|m| m.fields.contains_key(field));
                if known {
                    Ok(Value::Null)
                } else {
                    Err(Poison)
                }
            }
        })
    }

    /// The fields of app `app` of `file` in the environment being evaluated, and whether its
    /// evaluation reported errors. Apps in a cycle (reported statically) are silent poison.
    fn app_fields(&mut self, file: SourceFile, app: &Name, span: Span) -> R<(Map, bool)> {
        let cycles = kdep_sema::check::app_cycles(self.db, self.project);
        if cycles.poisoned.contains(&(file, app.clone())) {
            return Err(Poison);
        }
        let Some(depth) = enter(LET_COST) else {
            return Err(self.limit(span, "nesting depth"));
        };
        let env = self.env.as_ref().map(|(n, _)| n.clone());
        let out = crate::app::eval_app(self.db, self.project, file, app.clone(), env);
        drop(depth);
        let failed = out.diagnostics.iter().any(|d| d.severity == kdep_diag::Severity::Error);
        Ok((out.fields.clone(), failed))
    }

    fn get_field(&mut self, v: &Value, field: &str, fspan: Span) -> R {
        match v {
            Value::Map(m) => match m.get(field) {
                Some(x) => Ok(x.clone()),
                None => {
                    let mut d = Diagnostic::error(Code::MISSING_KEY, format!("no key `{field}` in this map"))
                        .with_primary(fspan, "missing key");
                    if let Some(best) = suggest::best(field, m.keys()) {
                        d = d.with_help(format!("did you mean `{best}`?"));
                    } else {
                        d = d.with_help(format!("use `get(map, \"{field}\", default)` where the key may be absent"));
                    }
                    self.diags.push(d);
                    Err(Poison)
                }
            },
            other => Err(self.error(
                Code::TYPE_MISMATCH,
                format!("cannot read field `{field}` of a {}", other.type_name()),
                fspan,
                format!("this is a {}", other.type_name()),
            )),
        }
    }

    fn call(&mut self, name: &Name, cspan: Span, args: &[Expr], ctx: &mut Ctx, span: Span) -> R {
        let mut values = Vec::with_capacity(args.len());
        let mut failed = false;
        for a in args {
            match self.expr(a, ctx) {
                Ok(v) => values.push(v),
                Err(_) => failed = true,
            }
        }
        if failed {
            return Err(Poison);
        }
        let head = name.split('.').next().unwrap_or_default();
        let callee = ctx.scope.callee(name, ctx.locals.iter().any(|(l, _)| &**l == head));
        if let Callee::Function { file, name: fname } = &callee {
            return self.call_function(*file, fname, values, args, ctx.fid, span);
        }
        // Only a `test` body's scope resolves `build` so ([`Resolver::test`]).
        if callee == Callee::TestBuild {
            return crate::testing::build_value(self, &values, span);
        }
        if callee != Callee::Builtin || kdep_sema::builtins::lookup(name).is_none() {
            // The static name check's own diagnostic, so normalisation keeps one of the two.
            let unknown = kdep_sema::check::unknown_function(self.db, self.project, &ctx.scope, name, &callee, cspan);
            self.diags.extend(unknown);
            return Err(Poison);
        }
        let (out, used) = crate::builtins_glue::call(name, &values, MAX_STEPS.saturating_sub(self.steps));
        self.steps = self.steps.saturating_add(used);
        match out {
            crate::builtins_glue::CallResult::Ok(v) => Ok(v),
            crate::builtins_glue::CallResult::OutOfSteps => Err(self.limit(span, "step")),
            crate::builtins_glue::CallResult::Unknown => Err(Poison),
            crate::builtins_glue::CallResult::WrongArgs(msg) => {
                Err(self.error(Code::WRONG_ARGUMENTS, msg, span, "called here"))
            }
            crate::builtins_glue::CallResult::Failed(msg) => {
                Err(self.error(Code::BUILTIN_FAILED, format!("`{name}` failed: {msg}"), span, "called here"))
            }
        }
    }

    /// Calls user function `name` of `file`: arguments are checked against the parameter types
    /// (at the argument, the parameter's type as secondary label), the body is evaluated in the
    /// function's module with the parameters as its only locals, and the result is checked
    /// against the return type (at the body). Recursion is impossible (call cycles are K0408,
    /// found statically); a long chain of calls ends at the depth budget.
    fn call_function(
        &mut self,
        file: SourceFile,
        name: &Name,
        values: Vec<Value>,
        args: &[Expr],
        caller: FileId,
        span: Span,
    ) -> R {
        if let_cycles(self.db, self.project).poisoned.contains(&(file, name.clone())) {
            return Err(Poison);
        }
        let Some(f) = self.file_ctx(file).hir.functions.get(name).cloned() else { return Err(Poison) };
        let sigs = kdep_sema::func::fn_signatures(self.db, self.project, file);
        let Some(sig) = sigs.0.get(name).cloned() else { return Err(Poison) };
        let fid = file.id(self.db);
        if let Some(msg) = sig.arity_error(name, values.len()) {
            self.diags.push(
                Diagnostic::error(Code::WRONG_ARGUMENTS, msg)
                    .with_primary(span, "called here")
                    .with_secondary(Span::new(fid, sig.name_range), "function declared here"),
            );
            return Err(Poison);
        }
        let mut locals = Vec::with_capacity(values.len());
        let mut failed = false;
        for ((value, param), arg) in values.into_iter().zip(&sig.params).zip(args) {
            let site = Span::new(caller, arg.range);
            let decl = Some(Span::new(fid, param.ty_range));
            match self.conform_reported(value, &param.ty, &param.name, site, decl, Code::TYPE_MISMATCH, None) {
                Ok(v) => locals.push((param.name.clone(), v)),
                Err(_) => failed = true,
            }
        }
        if failed {
            return Err(Poison);
        }
        let Some(depth) = enter(CALL_COST) else {
            return Err(self.limit(span, "nesting depth"));
        };
        let mut ctx = self.ctx(file, None, None);
        ctx.locals = locals;
        let out = self.root_expr(&f.body, &mut ctx);
        drop(depth);
        let site = Span::new(fid, f.body.range);
        let decl = Some(Span::new(fid, sig.ret_range));
        self.conform_reported(out?, &sig.ret, &format!("{name}()"), site, decl, Code::TYPE_MISMATCH, None)
    }

    fn comprehension(
        &mut self,
        clause: &Clause,
        ctx: &mut Ctx,
        span: Span,
        body: &mut dyn FnMut(&mut Self, &mut Ctx) -> R<()>,
    ) -> R<()> {
        let source = self.expr(&clause.source, ctx)?;
        let pairs: Vec<(Value, Value)> = match &source {
            Value::List(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| (Value::Int(i64::try_from(i).unwrap_or(i64::MAX)), v.clone()))
                .collect(),
            Value::Map(m) => m.iter().map(|(k, v)| (Value::str(k), v.clone())).collect(),
            other => {
                return Err(self.error(
                    Code::TYPE_MISMATCH,
                    format!("cannot iterate over a {}", other.type_name()),
                    Span::new(ctx.fid, clause.source.range),
                    "expected a list or map",
                ))
            }
        };
        let is_list = matches!(source, Value::List(_));
        let base = ctx.locals.len();
        for (k, v) in pairs {
            self.steps += 1;
            if self.steps > MAX_STEPS {
                return Err(self.limit(span, "step"));
            }
            match (&clause.second, is_list) {
                (None, true) => ctx.locals.push((clause.first.clone(), v)),
                (None, false) => ctx.locals.push((clause.first.clone(), k)),
                (Some(second), _) => {
                    ctx.locals.push((clause.first.clone(), k));
                    ctx.locals.push((second.clone(), v));
                }
            }
            let keep = match &clause.cond {
                Some(c) => match self.expr(c, ctx) {
                    Ok(Value::Bool(b)) => Ok(b),
                    Ok(other) => Err(self.error(
                        Code::TYPE_MISMATCH,
                        format!("a comprehension filter must be a bool, got {}", other.type_name()),
                        Span::new(ctx.fid, c.range),
                        "not a bool",
                    )),
                    Err(p) => Err(p),
                },
                None => Ok(true),
            };
            let r = match keep {
                Ok(true) => body(self, ctx),
                Ok(false) => Ok(()),
                Err(p) => Err(p),
            };
            ctx.locals.truncate(base);
            r?;
        }
        Ok(())
    }

    /// Evaluates object entries; dotted keys nest, and setting one leaf twice is K0212.
    pub fn object(&mut self, entries: &[ObjEntry], ctx: &mut Ctx) -> R<Map> {
        let mut out = Map::with_capacity(entries.len());
        let mut failed = false;
        for (idx, entry) in entries.iter().enumerate() {
            match entry {
                ObjEntry::Field { key, value, range } => {
                    // Fast path: one static key, the overwhelmingly common case.
                    if let [KeySeg::Static(name, krange)] = &**key {
                        let (v, origin) = match self.entry_value(value, ctx, *range) {
                            Ok(Some(entry)) => entry,
                            // An absent value leaves the entry out.
                            Ok(None) => continue,
                            Err(_) => {
                                failed = true;
                                continue;
                            }
                        };
                        // This thread's copy of the key (see `own_key`), made when it is added.
                        if !out.insert_new(name, || own_key(name), v, origin) {
                            self.duplicate_key(entries, idx, std::slice::from_ref(name), Span::new(ctx.fid, *krange));
                            failed = true;
                        }
                        continue;
                    }
                    let mut path: Vec<Name> = Vec::with_capacity(key.len());
                    for k in key {
                        match k {
                            KeySeg::Static(n, _) => path.push(own_key(n)),
                            KeySeg::Computed(e) => match self.expr(e, ctx) {
                                Ok(Value::Str(s)) => path.push(s),
                                Ok(other) => {
                                    self.error(
                                        Code::TYPE_MISMATCH,
                                        format!("a key must be a string, got {}", other.type_name()),
                                        Span::new(ctx.fid, e.range),
                                        "not a string",
                                    );
                                    failed = true;
                                }
                                Err(_) => failed = true,
                            },
                        }
                    }
                    if path.len() != key.len() {
                        continue;
                    }
                    let (v, origin) = match self.entry_value(value, ctx, *range) {
                        Ok(Some(entry)) => entry,
                        Ok(None) => continue,
                        Err(_) => {
                            failed = true;
                            continue;
                        }
                    };
                    if insert_path(&mut out, &path, v, origin).is_err() {
                        self.duplicate_key(entries, idx, &path, Span::new(ctx.fid, key_range(key)));
                        failed = true;
                    }
                }
                ObjEntry::Comp { key, value, clause, range } => {
                    let span = Span::new(ctx.fid, *range);
                    let mut seen_dup = false;
                    let r = self.comprehension(clause, ctx, span, &mut |ev, ctx| {
                        let k = ev.expr(key, ctx)?;
                        let Value::Str(k) = k else {
                            return Err(ev.error(
                                Code::TYPE_MISMATCH,
                                format!("a map key must be a string, got {}", k.type_name()),
                                Span::new(ctx.fid, key.range),
                                "not a string",
                            ));
                        };
                        let Some(v) = ev.expr_opt(value, ctx)? else { return Ok(()) };
                        if out.insert(k.clone(), v, Origin::new(Some(span), Layer::Computed)).is_some() && !seen_dup {
                            seen_dup = true;
                            ev.diags.push(
                                Diagnostic::error(
                                    Code::DUPLICATE_KEY,
                                    format!("the comprehension produces key `{k}` twice"),
                                )
                                .with_primary(span, "duplicate key"),
                            );
                        }
                        Ok(())
                    });
                    if r.is_err() || seen_dup {
                        failed = true;
                    }
                }
            }
        }
        if failed {
            Err(Poison)
        } else {
            Ok(out)
        }
    }

    /// K0212 for entry `idx` of a literal whose key `path` collides with an earlier entry (same
    /// path, or one a prefix of the other); the earlier entry is found by its static key.
    fn duplicate_key(&mut self, entries: &[ObjEntry], idx: usize, path: &[Name], span: Span) {
        let prev = entries.iter().take(idx).find_map(|e| match e {
            ObjEntry::Field { key, .. } => {
                let names: Vec<&str> =
                    key.iter().map_while(|k| if let KeySeg::Static(n, _) = k { Some(&**n) } else { None }).collect();
                let overlap = names.iter().zip(path.iter()).all(|(a, b)| *a == &**b) && !names.is_empty();
                overlap.then(|| Span::new(span.file, key_range(key)))
            }
            ObjEntry::Comp { .. } => None,
        });
        let mut d = Diagnostic::error(Code::DUPLICATE_KEY, format!("`{}` is set twice", join(path)))
            .with_primary(span, "set again here");
        if let Some(prev) = prev {
            d = d.with_secondary(prev, "first set here");
        }
        self.diags.push(d);
    }

    /// Evaluates a root expression (a default, `let`, check, emit or assignment owned by an
    /// `Arc`). Constant object and list literals inside roots are evaluated once per thread and
    /// shared by every instance afterwards (see [`CONSTS`]).
    pub fn root_expr(&mut self, root: &Arc<Expr>, ctx: &mut Ctx) -> R {
        CONSTS.with(|c| c.borrow_mut().retain(root));
        self.in_root += 1;
        let out = self.expr(root, ctx);
        self.in_root -= 1;
        out
    }

    /// [`Eval::root_expr`] where an absent value is allowed (see [`Eval::expr_opt`]).
    pub fn root_expr_opt(&mut self, root: &Arc<Expr>, ctx: &mut Ctx) -> R<Option<Value>> {
        CONSTS.with(|c| c.borrow_mut().retain(root));
        self.in_root += 1;
        let out = self.expr_opt(root, ctx);
        self.in_root -= 1;
        out
    }

    /// The objects an `emit` produces: nothing when its value is absent, each element when it
    /// is a list, else the value itself, each with where it came from (see [`Emitted`]).
    pub fn emitted(&mut self, root: &Arc<Expr>, ctx: &mut Ctx) -> R<Vec<(Value, Emitted)>> {
        CONSTS.with(|c| c.borrow_mut().retain(root));
        self.in_root += 1;
        let out = self.emitted_in(root, ctx);
        self.in_root -= 1;
        out
    }

    fn emitted_in(&mut self, e: &Expr, ctx: &mut Ctx) -> R<Vec<(Value, Emitted)>> {
        match &e.kind {
            ExprKind::If(c, t, f) => {
                let span = Span::new(ctx.fid, e.range);
                let Some(depth) = enter(EXPR_COST) else {
                    return Err(self.limit(span, "nesting depth"));
                };
                let out = match (self.condition(c, ctx), f) {
                    (Ok(true), _) => self.emitted_in(t, ctx),
                    (Ok(false), Some(f)) => self.emitted_in(f, ctx),
                    (Ok(false), None) => Ok(Vec::new()),
                    (Err(p), _) => Err(p),
                };
                drop(depth);
                out
            }
            ExprKind::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut failed = false;
                for it in items {
                    match self.expr_opt(it, ctx) {
                        Ok(Some(v)) => out.push((v, Emitted::Written(Span::new(ctx.fid, it.range)))),
                        Ok(None) => {}
                        Err(_) => failed = true,
                    }
                }
                if failed {
                    Err(Poison)
                } else {
                    Ok(out)
                }
            }
            ExprKind::ListComp(item, clause) => {
                let span = Span::new(ctx.fid, e.range);
                let at = Emitted::Written(Span::new(ctx.fid, item.range));
                let mut out = Vec::new();
                self.comprehension(clause, ctx, span, &mut |ev, ctx| {
                    if let Some(v) = ev.expr_opt(item, ctx)? {
                        out.push((v, at));
                        if out.len() > MAX_ITEMS {
                            return Err(ev.limit(span, "list size"));
                        }
                    }
                    Ok(())
                })?;
                Ok(out)
            }
            _ => Ok(match self.expr(e, ctx)? {
                Value::List(items) => items.iter().enumerate().map(|(i, v)| (v.clone(), Emitted::Item(i))).collect(),
                v => vec![(v, Emitted::Whole)],
            }),
        }
    }

    /// An object entry's value and origin: a computed field or `let` named bare read from its
    /// slot ([`Self::member_entry`]), anything else evaluated. `Ok(None)`: the value is absent,
    /// which leaves the entry out.
    fn entry_value(&mut self, value: &Expr, ctx: &mut Ctx, range: TextRange) -> R<Option<(Value, Origin)>> {
        if let Some(entry) = self.member_entry(value, ctx, range) {
            return entry.map(Some);
        }
        let origin = self.origin_of(value, ctx, range);
        let Some(v) = self.expr_opt(value, ctx)? else { return Ok(None) };
        let origin = self.branch_origin(value, &v, ctx).unwrap_or(origin);
        Ok(Some((v, origin)))
    }

    /// An object entry whose value is a bare name of a field or `let` of the instance that is
    /// computed already (in `build` and `check`, every field is computed before the `emit`s):
    /// its value and origin read from the slot in one lookup, where [`Eval::origin_of`] and
    /// [`Eval::expr_opt`] resolve the name and find the slot twice. `None` for anything else,
    /// which takes that general path. The step and the depth budget are charged as
    /// [`Eval::expr`] charges them, and the value depth checked as it checks it; the origin is
    /// the one `origin_of` gives (the field's own, computed for a `let`), and `branch_origin`
    /// gives none for a name.
    fn member_entry(&mut self, value: &Expr, ctx: &Ctx, range: TextRange) -> Option<R<(Value, Origin)>> {
        let ExprKind::Name(n) = &value.kind else { return None };
        let i = ctx.inst?;
        if ctx.locals.iter().any(|(k, _)| k == n) {
            return None;
        }
        let inst = self.inst(i)?;
        let (v, origin) = match ctx.scope.resolve(n) {
            Resolution::Field => match inst.slots.get(inst.model.fields.get_index_of(n)?)? {
                Slot::Done(v, o) => (v.clone(), o.clone()),
                _ => return None,
            },
            Resolution::TemplateLet => {
                let index = inst.model.fields.len() + inst.model.lets.get_index_of(n)?;
                match inst.slots.get(index)? {
                    Slot::Done(v, _) => (v.clone(), Origin::new(Some(Span::new(ctx.fid, range)), Layer::Computed)),
                    _ => return None,
                }
            }
            _ => return None,
        };
        let span = Span::new(ctx.fid, value.range);
        Some(match self.step_into(span) {
            Err(p) => Err(p),
            Ok(depth) => {
                drop(depth);
                if v.depth() > MAX_VALUE_DEPTH {
                    Err(self.limit(span, "value depth"))
                } else {
                    Ok((v, origin))
                }
            }
        })
    }

    /// Provenance of an entry: a direct field reference keeps the field's origin (so an emitted
    /// `replicas = replicas` still says which layer set it); anything else is computed here.
    fn origin_of(&mut self, value: &Expr, ctx: &Ctx, range: TextRange) -> Origin {
        // `if c { field }` without `else` has a value only when the branch was taken, so the
        // value is the field's (`replicas = if autoscaling == null { replicas }`).
        let mut value = value;
        while let ExprKind::If(_, then, None) = &value.kind {
            value = then;
        }
        if let (ExprKind::Name(n), Some(i)) = (&value.kind, ctx.inst) {
            if !ctx.locals.iter().any(|(k, _)| k == n) && ctx.scope.resolve(n) == Resolution::Field {
                if let Some(Slot::Done(_, o)) = self.inst(i).and_then(|inst| inst.field_slot(n)) {
                    return o.clone();
                }
            }
        }
        Origin::new(Some(Span::new(ctx.fid, range)), Layer::Computed)
    }

    /// Provenance through a conditional: `replicas = if autoscaling == null { replicas }` emits
    /// the field's value unchanged, so `kdep explain` should name the layer that set the field,
    /// not the `if`. Only when `value` is an `if` and exactly one of its branches is a direct
    /// field reference whose value is the one emitted; otherwise the entry stays computed.
    fn branch_origin(&self, value: &Expr, emitted: &Value, ctx: &Ctx) -> Option<Origin> {
        let ExprKind::If(_, then, otherwise) = &value.kind else { return None };
        let i = ctx.inst?;
        let mut found = None;
        for branch in std::iter::once(then).chain(otherwise) {
            let ExprKind::Name(n) = &branch.kind else { continue };
            if ctx.locals.iter().any(|(k, _)| k == n) || ctx.scope.resolve(n) != Resolution::Field {
                continue;
            }
            if let Some(Slot::Done(v, o)) = self.inst(i).and_then(|inst| inst.field_slot(n)) {
                if v == emitted {
                    if found.is_some() {
                        return None;
                    }
                    found = Some(o.clone());
                }
            }
        }
        found
    }

    fn binary(&mut self, op: BinaryOp, a: &Expr, b: &Expr, ctx: &mut Ctx, span: Span) -> R {
        if matches!(op, BinaryOp::And | BinaryOp::Or) {
            let l = self.expr(a, ctx)?;
            let Value::Bool(lb) = l else {
                return Err(self.operand_error(op, &l, None, Span::new(ctx.fid, a.range)));
            };
            if (op == BinaryOp::And && !lb) || (op == BinaryOp::Or && lb) {
                return Ok(Value::Bool(lb));
            }
            let r = self.expr(b, ctx)?;
            return match r {
                Value::Bool(rb) => Ok(Value::Bool(rb)),
                other => Err(self.operand_error(op, &other, None, Span::new(ctx.fid, b.range))),
            };
        }
        let l = self.expr(a, ctx)?;
        let r = self.expr(b, ctx)?;
        // The rule typeck applies to the kinds it infers, here on the values' kinds: a mistake
        // found by both reads the same.
        if let Err(err) = ops::binary(op, op_kind(&l), op_kind(&r)) {
            return Err(self.op_error(err, span));
        }
        let overflow = |ev: &mut Self| {
            ev.error(Code::INTEGER_OVERFLOW, format!("integer overflow in `{}`", op.as_str()), span, "overflows")
        };
        use Value as V;
        match op {
            BinaryOp::Eq | BinaryOp::Ne => {
                let (equal, work) = loose_eq(&l, &r);
                self.charge(work, span)?;
                return Ok(V::Bool(equal == (op == BinaryOp::Eq)));
            }
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
                if let (V::Str(x), V::Str(y)) = (&l, &r) {
                    self.charge(string_work(x.len().min(y.len())), span)?;
                }
                let Some(ord) = compare(&l, &r) else {
                    return Err(self.operand_error(op, &l, Some(&r), span));
                };
                let res = match op {
                    BinaryOp::Lt => ord.is_lt(),
                    BinaryOp::Le => ord.is_le(),
                    BinaryOp::Gt => ord.is_gt(),
                    _ => ord.is_ge(),
                };
                return Ok(V::Bool(res));
            }
            _ => {}
        }
        // `"500m" + cpu` reads the string as a quantity; `*` keeps its int operand an int.
        let (l, r) = if matches!(op, BinaryOp::Add | BinaryOp::Sub) {
            let l2 = coerce_pair(&l, &r);
            let r2 = coerce_pair(&r, &l2);
            (l2, r2)
        } else {
            (l, r)
        };
        match (op, &l, &r) {
            (BinaryOp::Add, V::Int(x), V::Int(y)) => x.checked_add(*y).map(V::Int).ok_or_else(|| overflow(self)),
            (BinaryOp::Sub, V::Int(x), V::Int(y)) => x.checked_sub(*y).map(V::Int).ok_or_else(|| overflow(self)),
            (BinaryOp::Mul, V::Int(x), V::Int(y)) => x.checked_mul(*y).map(V::Int).ok_or_else(|| overflow(self)),
            (BinaryOp::Div | BinaryOp::Rem, V::Int(_), V::Int(0)) => {
                Err(self.error(Code::DIVISION_BY_ZERO, "division by zero", span, "the divisor is zero"))
            }
            (BinaryOp::Div, V::Int(x), V::Int(y)) => x.checked_div(*y).map(V::Int).ok_or_else(|| overflow(self)),
            (BinaryOp::Rem, V::Int(x), V::Int(y)) => x.checked_rem(*y).map(V::Int).ok_or_else(|| overflow(self)),
            (_, V::Float(_) | V::Int(_), V::Float(_) | V::Int(_)) => {
                let (x, y) = (as_f64(&l), as_f64(&r));
                if matches!(op, BinaryOp::Div | BinaryOp::Rem) && y == 0.0 {
                    return Err(self.error(Code::DIVISION_BY_ZERO, "division by zero", span, "the divisor is zero"));
                }
                let z = match op {
                    BinaryOp::Add => x + y,
                    BinaryOp::Sub => x - y,
                    BinaryOp::Mul => x * y,
                    BinaryOp::Div => x / y,
                    _ => x % y,
                };
                Ok(V::Float(z))
            }
            (BinaryOp::Add, V::Str(x), V::Str(y)) => {
                if x.len() + y.len() > MAX_SIZE {
                    return Err(self.limit(span, "string size"));
                }
                // `+` copies both operands: building a long string or list in a loop is charged
                // by size, like the builtins.
                self.charge(string_work(x.len() + y.len()), span)?;
                Ok(V::str(format!("{x}{y}")))
            }
            (BinaryOp::Add, V::List(x), V::List(y)) => {
                if x.len() + y.len() > MAX_ITEMS {
                    return Err(self.limit(span, "list size"));
                }
                self.charge((x.len() + y.len()) as u64, span)?;
                let mut out = Vec::with_capacity(x.len() + y.len());
                out.extend(x.iter().cloned());
                out.extend(y.iter().cloned());
                Ok(V::list(out))
            }
            (BinaryOp::Add, V::Map(x), V::Map(y)) => {
                self.charge((x.len() + y.len()) as u64, span)?;
                Ok(V::map(x.merge(y)))
            }
            (BinaryOp::Add, V::Quantity(x), V::Quantity(y)) => x
                .checked_add(y)
                .map(V::from)
                .map_err(|e| self.error(Code::INTEGER_OVERFLOW, e.to_string(), span, "overflows")),
            (BinaryOp::Sub, V::Quantity(x), V::Quantity(y)) => x
                .checked_sub(y)
                .map(V::from)
                .map_err(|e| self.error(Code::INTEGER_OVERFLOW, e.to_string(), span, "overflows")),
            (BinaryOp::Mul, V::Quantity(x), V::Int(y)) | (BinaryOp::Mul, V::Int(y), V::Quantity(x)) => x
                .checked_mul_int(*y)
                .map(V::from)
                .map_err(|e| self.error(Code::INTEGER_OVERFLOW, e.to_string(), span, "overflows")),
            (BinaryOp::Add, V::Duration(x), V::Duration(y)) => x
                .checked_add(y)
                .map(V::Duration)
                .map_err(|e| self.error(Code::INTEGER_OVERFLOW, e.to_string(), span, "overflows")),
            (BinaryOp::Sub, V::Duration(x), V::Duration(y)) => x
                .checked_sub(y)
                .map(V::Duration)
                .map_err(|e| self.error(Code::INTEGER_OVERFLOW, e.to_string(), span, "overflows")),
            (BinaryOp::Mul, V::Duration(x), V::Int(y)) | (BinaryOp::Mul, V::Int(y), V::Duration(x)) => x
                .checked_mul_int(*y)
                .map(V::Duration)
                .map_err(|e| self.error(Code::INTEGER_OVERFLOW, e.to_string(), span, "overflows")),
            _ => Err(self.operand_error(op, &l, Some(&r), span)),
        }
    }

    /// An operand that does not fit `op`, worded by `kdep_sema::ops` (`r` is `None` for an
    /// operand of `&&`/`||`). Also reached by operands `ops` accepts by kind but the value
    /// refuses (a string next to a quantity that does not parse as one).
    fn operand_error(&mut self, op: BinaryOp, l: &Value, r: Option<&Value>, span: Span) -> Poison {
        let err = match r {
            Some(r) => ops::not_defined(op, op_kind(l), op_kind(r)),
            None => match ops::logical_operand(op, op_kind(l)) {
                Err(err) => err,
                Ok(()) => return Poison,
            },
        };
        self.op_error(err, span)
    }

    fn op_error(&mut self, err: ops::OpError, span: Span) -> Poison {
        self.error(err.code, err.message, span, err.label)
    }
}

/// The value at `path` inside an emitted object; `None` where it is absent.
fn residual_at<'v>(object: &'v Map, path: &[crate::typeck::Step]) -> Option<&'v Value> {
    use crate::typeck::Step;
    let (first, rest) = path.split_first()?;
    let Step::Key(k) = first else { return None };
    let mut cur = object.get(k)?;
    for step in rest {
        cur = match (step, cur) {
            (Step::Key(k), Value::Map(m)) => m.get(k)?,
            (Step::Item(i), Value::List(items)) => items.get(*i)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// K0202 for key `k` (shown as `what`) of a record of `model`; the evaluator and the static
/// record check (typeck) both report it through here.
/// A schema whose records are exactly their given fields: no `let`s, checks, emits, defaults or
/// locks, so building one needs no instance (the generated Kubernetes types below the root).
/// Whether building a record of `model` evaluates nothing that reads its fields: no lets,
/// checks or emits, and defaults (locked values too) that are constants. Its field values are
/// then only collected into the record, so a check-only walk ([`Eval::without_building`]) may leave
/// them unbuilt.
fn reads_no_fields(model: &TemplateModel) -> bool {
    model.lets.is_empty()
        && model.checks.is_empty()
        && model.emits.is_empty()
        && model.fields.values().all(|f| f.default.as_ref().is_none_or(|d| is_constant(&d.expr, 0)))
}

fn is_plain(model: &TemplateModel) -> bool {
    model.lets.is_empty()
        && model.checks.is_empty()
        && model.emits.is_empty()
        && model.fields.values().all(|f| f.default.is_none() && f.locked.is_none())
}

pub(crate) fn unknown_record_field(model: &TemplateModel, k: &str, what: &str, site: Span) -> Diagnostic {
    let mut d = Diagnostic::error(Code::UNKNOWN_FIELD, format!("`{}` has no field `{k}`", model.qualified))
        .with_primary(site, format!("unknown field `{what}`"));
    if let Some(best) = suggest::best(k, model.fields.keys().map(|n| &**n)) {
        d = d.with_help(format!("did you mean `{best}`?"));
    }
    d.with_secondary(model.name_span, "schema declared here")
}

/// K0301 for a record literal setting locked field `k`.
pub(crate) fn locked_record_field(k: &str, lock: &kdep_sema::model::LockModel, site: Span) -> Diagnostic {
    Diagnostic::error(Code::LOCKED_OVERRIDE, format!("`{k}` is locked by template `{}`", lock.template))
        .with_primary(site, "override not permitted here")
        .with_secondary(lock.span, "locked here")
        .with_help(format!("ask the owners of {}, or use a type that leaves `{k}` open", lock.path))
}

fn key_range(key: &[KeySeg]) -> TextRange {
    match (key.first(), key.last()) {
        (Some(a), Some(b)) => a.range().cover(b.range()),
        _ => TextRange::default(),
    }
}

/// Where a record literal was written: the entries' spans covered, when they lie inside `at`
/// (the site of the whole value, e.g. an app's `ports = [...]`); otherwise `at`.
fn record_site(given: &Map, at: Span) -> Span {
    let mut range: Option<TextRange> = None;
    for (_, e) in given.entries() {
        match e.origin.span {
            Some(s) if s.file == at.file && at.range.start <= s.range.start && s.range.end <= at.range.end => {
                range = Some(range.map_or(s.range, |r| r.cover(s.range)));
            }
            _ => return at,
        }
    }
    range.map_or(at, |r| Span::new(at.file, r))
}

/// Names a condition reads (outside nothing: shadowing by comprehension variables is ignored,
/// which at worst shows one value too many), in order of appearance.
fn names_read(e: &Expr, out: &mut Vec<Name>, depth: u32) {
    if depth > 64 {
        return;
    }
    let d = depth + 1;
    match &e.kind {
        ExprKind::Name(n) => out.push(n.clone()),
        ExprKind::Field(base, ..) | ExprKind::Unary(_, base) => names_read(base, out, d),
        ExprKind::Index(a, b) | ExprKind::Binary(_, a, b) => {
            names_read(a, out, d);
            names_read(b, out, d);
        }
        ExprKind::If(c, t, f) => {
            names_read(c, out, d);
            names_read(t, out, d);
            if let Some(f) = f {
                names_read(f, out, d);
            }
        }
        ExprKind::Call(_, _, args) | ExprKind::List(args) => args.iter().for_each(|a| names_read(a, out, d)),
        ExprKind::Interp(parts) => {
            for p in parts {
                if let InterpPart::Expr(x) = p {
                    names_read(x, out, d);
                }
            }
        }
        ExprKind::ListComp(item, clause) => {
            names_read(&clause.source, out, d);
            names_read(item, out, d);
        }
        _ => {}
    }
}

/// Whether value paths `a` and `b` (`labels.team`, `ports[2]`) are equal or one lies inside
/// the other.
fn overlaps(a: &str, b: &str) -> bool {
    let inside = |outer: &str, inner: &str| {
        inner.strip_prefix(outer).is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
    };
    inside(a, b) || inside(b, a)
}

pub(crate) fn join(path: &[Name]) -> String {
    path.iter().map(|s| &**s).collect::<Vec<_>>().join(".")
}

/// Inserts `value` at a dotted `path`, creating or extending nested maps. Fails (returning the
/// earlier entry's span) when the leaf is already set or a prefix is not a map.
fn insert_path(map: &mut Map, path: &[Name], value: Value, origin: Origin) -> Result<(), Option<Span>> {
    let Some((first, rest)) = path.split_first() else { return Ok(()) };
    if rest.is_empty() {
        if let Some(prev) = map.get_entry(first) {
            return Err(prev.origin.span);
        }
        map.insert(first.clone(), value, origin);
        return Ok(());
    }
    if map.contains_key(first) {
        // Through `update`, so the map accounts for the depth its entry may have gained.
        return map
            .update(first, |entry| match entry.value.map_mut() {
                Some(inner) => insert_path(inner, rest, value, origin),
                None => Err(entry.origin.span),
            })
            .unwrap_or(Ok(()));
    }
    let mut inner = Map::new();
    let o = Origin::new(origin.span, Layer::Computed);
    insert_path(&mut inner, rest, value, origin)?;
    map.insert(first.clone(), Value::map(inner), o);
    Ok(())
}

/// Sets `value` at `path` inside `target` (a map), overriding what is there. Returns `false`
/// when a prefix is not a map.
pub(crate) fn set_path(target: &mut Value, path: &[Name], value: Value, origin: Origin) -> bool {
    let Some((first, rest)) = path.split_first() else {
        *target = value;
        return true;
    };
    let Some(map) = target.map_mut() else { return false };
    if rest.is_empty() {
        map.insert(first.clone(), value, origin);
        return true;
    }
    if map.get(first).is_none_or(Value::is_null) {
        map.insert(first.clone(), Value::empty_map(), Origin::new(origin.span, Layer::Computed));
    }
    map.update(first, |entry| set_path(&mut entry.value, rest, value, origin)).unwrap_or(false)
}

/// The text of a value `ops::interpolation` accepts (the others have none).
fn interpolate(v: &Value) -> String {
    match v {
        Value::Str(s) => s.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(x) => x.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Quantity(q) => q.as_written(),
        Value::Duration(d) => d.as_written(),
        Value::Null | Value::List(_) | Value::Map(_) => String::new(),
    }
}

/// A value's operand kind for `kdep_sema::ops`.
fn op_kind(v: &Value) -> OpKind {
    match v {
        Value::Null => OpKind::Null,
        Value::Bool(_) => OpKind::Bool,
        Value::Int(_) => OpKind::Int,
        Value::Float(_) => OpKind::Float,
        Value::Str(_) => OpKind::Str,
        Value::Quantity(_) => OpKind::Quantity,
        Value::Duration(_) => OpKind::Duration,
        Value::List(_) => OpKind::List,
        Value::Map(_) => OpKind::Map,
    }
}

fn as_f64(v: &Value) -> f64 {
    match v {
        Value::Int(i) => *i as f64,
        Value::Float(x) => *x,
        _ => 0.0,
    }
}

/// A string next to a quantity or duration is read as one (`limits.memory >= "1Gi"`).
fn coerce_pair(v: &Value, other: &Value) -> Value {
    match (v, other) {
        (Value::Str(s), Value::Quantity(_)) => Quantity::parse(s).map(Value::from).unwrap_or_else(|_| v.clone()),
        (Value::Str(s), Value::Duration(_)) => Duration::parse(s).map(Value::Duration).unwrap_or_else(|_| v.clone()),
        (Value::Int(i), Value::Quantity(_)) => Value::from(Quantity::from_int(*i)),
        _ => v.clone(),
    }
}

/// Whether `l == r`, and the work the comparison did (see [`Value::eq_counting`]).
fn loose_eq(l: &Value, r: &Value) -> (bool, u64) {
    let l2 = coerce_pair(l, r);
    let r2 = coerce_pair(r, l);
    match (&l2, &r2) {
        (Value::Int(a), Value::Float(b)) | (Value::Float(b), Value::Int(a)) => ((*a as f64) == *b, 1),
        _ => l2.eq_counting(&r2),
    }
}

fn compare(l: &Value, r: &Value) -> Option<std::cmp::Ordering> {
    let l = coerce_pair(l, r);
    let r = coerce_pair(&r.clone(), &l);
    match (&l, &r) {
        (Value::Int(a), Value::Int(b)) => Some(a.cmp(b)),
        (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => as_f64(&l).partial_cmp(&as_f64(&r)),
        (Value::Str(a), Value::Str(b)) => Some(a.cmp(b)),
        (Value::Quantity(a), Value::Quantity(b)) => Some(a.cmp(b)),
        (Value::Duration(a), Value::Duration(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

/// Convenience for callers outside: the record of fields of an app instance.
pub type Fields = IndexMap<Name, (Value, Origin)>;
