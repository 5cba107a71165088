//! What a lowered file and its item index keep on the heap, counted block by block.
//!
//! A large build holds every root file's lowering from `prepare` to the file's batch and its item
//! index longer (docs/performance.md, Memory): their size per file is most of the peak at
//! N = 100,000. This count is what the tests pin (`compiler/sema/tests/lowered_size.rs`), so a
//! change that makes a plain app file's lowering larger fails a test instead of a benchmark.
//!
//! The count is of the bytes each block asks the allocator for (an `Arc`'s two counts included,
//! the allocator's rounding not), by what holds them. A block reached twice (a name shared by two
//! holders, within one file or across files counted with the same [`HeapCount`]) is counted once,
//! so counting a second file after a first gives what the second adds. The syntax kept for a type
//! ([`crate::hir::TypeRef`]) is counted by its inline size only: app files have no types.

use std::collections::BTreeMap;
use std::mem::size_of;
use std::sync::Arc;

use rustc_hash::FxHashSet;

use crate::hir::{
    AppHir, Clause, EnvBlockHir, Expr, ExprKind, FileHir, InterpPart, KeySeg, LetHir, MemberHir, Name, NameTable,
    ObjEntry, PathRef, SetHir, TemplateHir, TestStep,
};
use crate::index::ItemIndex;

/// Bytes by what holds them, and the shared blocks already counted.
#[derive(Default)]
pub struct HeapCount {
    seen: FxHashSet<usize>,
    /// Bytes per kind of holder (see the `add` calls); the total is [`HeapCount::total`].
    pub by: BTreeMap<&'static str, usize>,
}

/// An `Arc`'s block: its two counts, then the value.
const ARC_COUNTS: usize = 2 * size_of::<usize>();

impl HeapCount {
    pub fn total(&self) -> usize {
        self.by.values().sum()
    }

    fn add(&mut self, what: &'static str, bytes: usize) {
        if bytes > 0 {
            *self.by.entry(what).or_default() += bytes;
        }
    }

    /// Whether the block at `ptr` is counted for the first time.
    fn first<T: ?Sized>(&mut self, ptr: *const T) -> bool {
        self.seen.insert(ptr.cast::<u8>() as usize)
    }

    fn name(&mut self, what: &'static str, name: &Name) {
        if self.first(Arc::as_ptr(name)) {
            self.add(what, ARC_COUNTS + name.len());
        }
    }

    fn names(&mut self, what: &'static str, names: &[Name]) {
        for n in names {
            self.name(what, n);
        }
    }

    /// A list's block: its capacity in elements of `T` (the elements' own blocks are not in it).
    fn list<T>(&mut self, what: &'static str, capacity: usize) {
        self.add(what, capacity * size_of::<T>());
    }

    /// A name table's blocks (entries, and the index of a long one) and its names.
    fn map<V>(&mut self, what: &'static str, map: &NameTable<V>) {
        self.add(what, map.heap_bytes());
        for key in map.keys() {
            self.name("names", key);
        }
    }

    fn path(&mut self, p: &PathRef) {
        self.list::<Name>("paths", p.segments.len());
        self.names("names", &p.segments);
    }

    fn expr_root(&mut self, e: &Arc<Expr>) {
        if self.first(Arc::as_ptr(e)) {
            self.add("expressions", ARC_COUNTS + size_of::<Expr>());
            self.expr(e);
        }
    }

    /// The blocks an expression node owns (the node itself is counted by its holder).
    pub fn expr(&mut self, e: &Expr) {
        match &e.kind {
            ExprKind::Null | ExprKind::Bool(_) | ExprKind::Int(_) | ExprKind::Float(_) | ExprKind::Error => {}
            ExprKind::Str(s) => self.name("strings", s),
            ExprKind::Name(n) => self.name("names", n),
            ExprKind::Interp(parts) => {
                self.list::<InterpPart>("expressions", parts.capacity());
                for p in parts {
                    match p {
                        InterpPart::Text(t) => self.name("strings", t),
                        InterpPart::Expr(e) => self.expr(e),
                    }
                }
            }
            ExprKind::Field(base, name, _) => {
                self.boxed(base);
                self.name("names", name);
            }
            ExprKind::Index(a, b) | ExprKind::Binary(_, a, b) => {
                self.boxed(a);
                self.boxed(b);
            }
            ExprKind::Unary(_, a) => self.boxed(a),
            ExprKind::Call(callee, _, args) => {
                self.name("names", callee);
                self.exprs(args);
            }
            ExprKind::If(c, t, o) => {
                self.boxed(c);
                self.boxed(t);
                if let Some(o) = o {
                    self.boxed(o);
                }
            }
            ExprKind::List(items) => self.exprs(items),
            ExprKind::ListComp(item, clause) => {
                self.boxed(item);
                self.add("expressions", size_of::<Clause>());
                self.clause(clause);
            }
            ExprKind::Object(entries) => self.entries(entries),
            ExprKind::Instantiate(path, entries) => {
                self.add("paths", size_of::<PathRef>());
                self.path(path);
                self.entries(entries);
            }
        }
    }

    fn boxed(&mut self, e: &Expr) {
        self.add("expressions", size_of::<Expr>());
        self.expr(e);
    }

    fn exprs(&mut self, items: &Vec<Expr>) {
        self.list::<Expr>("expressions", items.capacity());
        for e in items {
            self.expr(e);
        }
    }

    fn clause(&mut self, c: &Clause) {
        self.name("names", &c.first);
        if let Some(s) = &c.second {
            self.name("names", s);
        }
        self.expr(&c.source);
        if let Some(e) = &c.cond {
            self.expr(e);
        }
    }

    fn entries(&mut self, entries: &Vec<ObjEntry>) {
        self.list::<ObjEntry>("object entries", entries.capacity());
        for entry in entries {
            match entry {
                ObjEntry::Field { key, value, .. } => {
                    self.list::<KeySeg>("object keys", key.len());
                    for seg in key {
                        match seg {
                            KeySeg::Static(n, _) => self.name("names", n),
                            KeySeg::Computed(e) => self.boxed(e),
                        }
                    }
                    self.expr(value);
                }
                ObjEntry::Comp { key, value, clause, .. } => {
                    self.boxed(key);
                    self.boxed(value);
                    self.add("expressions", size_of::<Clause>());
                    self.clause(clause);
                }
            }
        }
    }

    fn sets(&mut self, sets: &[SetHir]) {
        self.list::<SetHir>("settings", sets.len());
        for s in sets {
            self.add("setting keys", s.key.heap_bytes());
            for (n, _) in &s.key {
                self.name("names", n);
            }
            self.expr_root(&s.value);
        }
    }

    fn app(&mut self, a: &Arc<AppHir>) {
        if !self.first(Arc::as_ptr(a)) {
            return;
        }
        self.add("apps", ARC_COUNTS + size_of::<AppHir>());
        self.name("names", &a.name);
        self.path(&a.template);
        self.sets(&a.sets);
        self.list::<EnvBlockHir>("apps", a.envs.len());
        for b in &a.envs {
            self.name("names", &b.env);
            self.sets(&b.sets);
        }
        self.list::<crate::hir::WaiverHir>("apps", a.waivers.len());
        for w in &a.waivers {
            self.path(&w.policy);
            if let Some((r, _)) = &w.reason {
                self.add("strings", r.capacity());
            }
        }
        self.list::<crate::hir::AfterHir>("apps", a.after.len());
        for after in &a.after {
            self.list::<Name>("paths", after.path.capacity());
            self.names("names", &after.path);
        }
    }

    fn let_decl(&mut self, l: &LetHir) {
        self.name("names", &l.name);
        self.expr_root(&l.value);
    }

    fn template(&mut self, t: &TemplateHir) {
        self.name("names", &t.name);
        if let Some(b) = &t.base {
            self.path(b);
        }
        self.list::<PathRef>("templates", t.mixins.capacity());
        for m in &t.mixins {
            self.path(m);
        }
        self.list::<MemberHir>("templates", t.members.capacity());
        for m in &t.members {
            match m {
                MemberHir::Field(f) => {
                    self.name("names", &f.name);
                    if let Some(d) = &f.doc {
                        self.add("strings", d.capacity());
                    }
                    if let Some(d) = &f.default {
                        self.expr_root(d);
                    }
                }
                MemberHir::Let(l) => self.let_decl(l),
                MemberHir::Check(c) => {
                    self.expr_root(&c.cond);
                    if let Some(m) = &c.message {
                        self.name("strings", m);
                    }
                }
                MemberHir::Emit(e) => self.expr_root(&e.value),
            }
        }
    }

    /// Every block a lowered file holds, the file's own `Arc` included.
    pub fn file(&mut self, hir: &Arc<FileHir>) {
        if !self.first(Arc::as_ptr(hir)) {
            return;
        }
        self.add("file", ARC_COUNTS + size_of::<FileHir>());
        self.list::<crate::hir::ImportHir>("imports", hir.imports.len());
        for imp in &hir.imports {
            self.path(&imp.path);
            self.name("names", &imp.alias);
        }
        self.map("declaration maps", &hir.lets);
        for l in hir.lets.values() {
            if self.first(Arc::as_ptr(l)) {
                self.add("lets", ARC_COUNTS + size_of::<LetHir>());
                self.let_decl(l);
            }
        }
        self.map("declaration maps", &hir.functions);
        for f in hir.functions.values() {
            if self.first(Arc::as_ptr(f)) {
                self.add("functions", ARC_COUNTS + size_of::<crate::hir::FnHir>());
                self.name("names", &f.name);
                self.list::<crate::hir::ParamHir>("functions", f.params.capacity());
                self.expr_root(&f.body);
            }
        }
        self.map("declaration maps", &hir.templates);
        for t in hir.templates.values() {
            if self.first(Arc::as_ptr(t)) {
                self.add("templates", ARC_COUNTS + size_of::<TemplateHir>());
                self.template(t);
            }
        }
        self.map("declaration maps", &hir.apps);
        for a in hir.apps.values() {
            self.app(a);
        }
        self.map("declaration maps", &hir.environments);
        for e in hir.environments.values() {
            if self.first(Arc::as_ptr(e)) {
                self.add("environments", ARC_COUNTS + size_of::<crate::hir::EnvHir>());
                self.name("names", &e.name);
                self.sets(&e.sets);
            }
        }
        self.list::<Arc<crate::hir::TestHir>>("tests", hir.tests.len());
        for t in &hir.tests {
            if self.first(Arc::as_ptr(t)) {
                self.add("tests", ARC_COUNTS + size_of::<crate::hir::TestHir>());
                self.name("names", &t.name);
                self.list::<TestStep>("tests", t.steps.capacity());
                for s in &t.steps {
                    match s {
                        TestStep::Let(l) => self.let_decl(l),
                        TestStep::Assert(c) => self.expr_root(&c.cond),
                        TestStep::ExpectError { code, uses, .. } => {
                            self.name("names", code);
                            self.list::<Name>("tests", uses.capacity());
                            self.names("names", uses);
                        }
                    }
                }
            }
        }
        self.map("declaration maps", &hir.policies);
        for p in hir.policies.values() {
            if self.first(Arc::as_ptr(p)) {
                self.add("policies", ARC_COUNTS + size_of::<crate::hir::PolicyHir>());
                self.name("names", &p.name);
                if let Some(b) = &p.base {
                    self.path(b);
                }
                self.sets(&p.sets);
            }
        }
        self.list::<kdep_diag::Diagnostic>("diagnostics", hir.diagnostics.len());
        self.add("anchors", hir.anchors.heap_bytes());
    }

    /// Every block an item index holds, its own `Arc` included.
    pub fn index(&mut self, index: &Arc<ItemIndex>) {
        if !self.first(Arc::as_ptr(index)) {
            return;
        }
        self.add("item index", ARC_COUNTS + size_of::<ItemIndex>());
        self.map("item index", &index.items);
        for h in index.items.values() {
            if let Some(t) = &h.target {
                self.list::<Name>("item index", t.len());
                self.names("names", t);
            }
            self.list::<Box<[Name]>>("item index", h.mixins.len());
            for m in &h.mixins {
                self.list::<Name>("item index", m.len());
                self.names("names", m);
            }
            if let Some(r) = &h.resource {
                self.add("item index", size_of::<crate::hir::ResourceAttr>());
                self.name("names", &r.api_version);
                self.name("names", &r.kind);
            }
        }
        self.map("item index", &index.imports);
        for path in index.imports.values() {
            self.list::<Name>("item index", path.len());
            self.names("names", path);
        }
        self.list::<Name>("item index", index.app_reads.len());
        self.names("names", &index.app_reads);
    }
}
