//! The semantic IR: declarations and expressions lowered from the AST, one file at a time.
//!
//! Lowering drops syntax-only detail (parentheses, string pieces without interpolation, error
//! nodes between items), keeps byte ranges for diagnostics (ranges are relative to the file the
//! IR was lowered from), and bounds nesting so later recursive passes cannot overflow the stack.
//! Names are not resolved here: a name can refer to a field inherited from a template in another
//! package, which is only known once the template model is built.

use std::sync::Arc;

use indexmap::IndexMap;
use kdep_diag::{Code, Diagnostic, Span, TextRange};
use kdep_syntax::ast;

use crate::db::{Db, SourceFile};

/// Interned-by-value names: cheap to clone, hash and compare.
pub type Name = Arc<str>;

/// A map keyed by names, in insertion order. Hashed with FxHash rather than the standard
/// SipHash: the keys are names from the package being compiled, whose author gains nothing by
/// making them collide (a slower build of their own package), and SipHash was about 4% of
/// `kdep check`. The hasher has no per-process seed, which also keeps the maps' behaviour the
/// same from run to run (iteration order is insertion order either way).
pub type NameMap<V> = IndexMap<Name, V, rustc_hash::FxBuildHasher>;

/// A map keyed by names, in insertion order, built once and then only read: a lowered file's
/// declarations of one kind, an item index's headers and imports. Salsa keeps one per kind per
/// file for a whole build, and most files declare one app and one import, so it is sized for
/// that: an empty table is 16 bytes and holds no block (an empty [`NameMap`] is 56), one entry is
/// one block of the entry (a [`NameMap`] of one entry holds two, with room for three). Up to
/// [`NameTable::SCAN_MAX`] names are found by comparing them in turn; a longer table keeps a hash
/// index of positions beside its entries, so a long file stays linear.
#[derive(Clone)]
pub struct NameTable<V>(Table<V>);

#[derive(Clone)]
enum Table<V> {
    Short(Box<[(Name, V)]>),
    Long(Box<LongTable<V>>),
}

#[derive(Clone)]
struct LongTable<V> {
    entries: Box<[(Name, V)]>,
    index: rustc_hash::FxHashMap<Name, usize>,
}

impl<V> Default for NameTable<V> {
    fn default() -> Self {
        NameTable(Table::Short(Box::default()))
    }
}

impl<V> NameTable<V> {
    /// Longest table searched by comparing names in turn.
    pub const SCAN_MAX: usize = 8;

    /// A table of `entries`, in their order; a name given twice keeps its first entry's place
    /// and its last value, as inserting them in turn into a map would.
    pub fn from_entries(entries: Vec<(Name, V)>) -> Self {
        if entries.len() <= Self::SCAN_MAX {
            let mut kept: Vec<(Name, V)> = Vec::with_capacity(entries.len());
            for (name, value) in entries {
                match kept.iter_mut().find(|(n, _)| *n == name) {
                    Some(slot) => slot.1 = value,
                    None => kept.push((name, value)),
                }
            }
            return NameTable(Table::Short(kept.into_boxed_slice()));
        }
        let mut index: rustc_hash::FxHashMap<Name, usize> =
            rustc_hash::FxHashMap::with_capacity_and_hasher(entries.len(), Default::default());
        let mut kept: Vec<(Name, V)> = Vec::with_capacity(entries.len());
        for (name, value) in entries {
            match index.get(&name).and_then(|&i| kept.get_mut(i)) {
                Some(slot) => slot.1 = value,
                None => {
                    index.insert(name.clone(), kept.len());
                    kept.push((name, value));
                }
            }
        }
        index.shrink_to_fit();
        NameTable(Table::Long(Box::new(LongTable { entries: kept.into_boxed_slice(), index })))
    }

    fn entries(&self) -> &[(Name, V)] {
        match &self.0 {
            Table::Short(entries) => entries,
            Table::Long(long) => &long.entries,
        }
    }

    /// The position of `name`.
    pub fn get_index_of<Q>(&self, name: &Q) -> Option<usize>
    where
        Name: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        use std::borrow::Borrow;
        match &self.0 {
            Table::Long(long) => long.index.get(name).copied(),
            Table::Short(entries) => entries.iter().position(|(n, _)| <Name as Borrow<Q>>::borrow(n) == name),
        }
    }

    pub fn get<Q>(&self, name: &Q) -> Option<&V>
    where
        Name: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        self.get_index_of(name).and_then(|i| self.entries().get(i)).map(|(_, v)| v)
    }

    pub fn contains_key<Q>(&self, name: &Q) -> bool
    where
        Name: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        self.get_index_of(name).is_some()
    }

    /// The entry at `index`, in insertion order.
    pub fn get_index(&self, index: usize) -> Option<(&Name, &V)> {
        self.entries().get(index).map(|(n, v)| (n, v))
    }

    pub fn len(&self) -> usize {
        self.entries().len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries().is_empty()
    }

    pub fn iter(&self) -> NameTableIter<'_, V> {
        NameTableIter(self.entries().iter())
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &Name> + ExactSizeIterator + Clone {
        self.entries().iter().map(|(n, _)| n)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> + ExactSizeIterator + Clone {
        self.entries().iter().map(|(_, v)| v)
    }

    /// The bytes of the table's blocks, without those its names and values own (see
    /// [`crate::heap`]).
    pub fn heap_bytes(&self) -> usize {
        let index = match &self.0 {
            Table::Short(_) => 0,
            Table::Long(long) => {
                std::mem::size_of::<LongTable<V>>() + long.index.capacity() * (std::mem::size_of::<(Name, usize)>() + 1)
            }
        };
        std::mem::size_of_val(self.entries()) + index
    }
}

/// The entries of a [`NameTable`] in insertion order, as `(name, value)`.
#[derive(Clone)]
pub struct NameTableIter<'a, V>(std::slice::Iter<'a, (Name, V)>);

impl<'a, V> Iterator for NameTableIter<'a, V> {
    type Item = (&'a Name, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(n, v)| (n, v))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl<V> DoubleEndedIterator for NameTableIter<'_, V> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back().map(|(n, v)| (n, v))
    }
}

impl<V> ExactSizeIterator for NameTableIter<'_, V> {}

impl<'a, V> IntoIterator for &'a NameTable<V> {
    type Item = (&'a Name, &'a V);
    type IntoIter = NameTableIter<'a, V>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<V> FromIterator<(Name, V)> for NameTable<V> {
    fn from_iter<I: IntoIterator<Item = (Name, V)>>(iter: I) -> Self {
        NameTable::from_entries(iter.into_iter().collect())
    }
}

/// Equal entries in the same order (the index follows from them).
impl<V: PartialEq> PartialEq for NameTable<V> {
    fn eq(&self, other: &Self) -> bool {
        self.entries() == other.entries()
    }
}

impl<V: Eq> Eq for NameTable<V> {}

impl<V: std::fmt::Debug> std::fmt::Debug for NameTable<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// Slots of a thread's table of shared names ([`shared_name`]).
const SHARED_NAME_SLOTS: usize = 1024;

/// Longest name [`shared_name`] shares; longer ones are rare as keys and paths, and each is
/// copied.
const SHARED_NAME_MAX: usize = 32;

std::thread_local! {
    /// The names this thread lowered last, by a hash of their text (see [`shared_name`]).
    static SHARED_NAMES: std::cell::RefCell<Vec<Option<Name>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A name of a key, a path or a reference, shared with the files this thread lowered before.
///
/// Every app file of a package names the same keys and paths (`name`, `image`, `ws`,
/// `WebService`), and a large build holds every file's lowering from `prepare` to its batch: a
/// copy of each name in each file was about 300 of the 2,500 bytes of a plain app file's
/// lowering (docs/performance.md, Memory). The table is direct-mapped by the text's hash, so it
/// never grows: a name whose slot another took is copied again, which only shares less. Names
/// are equal by text, so which copy a file holds changes nothing it says. String values are not
/// shared: the evaluator clones them into values, and one `Arc` written from both threads of a
/// build would move its cache line between the cores.
fn shared_name(text: &str) -> Name {
    use std::hash::BuildHasher;
    if text.len() > SHARED_NAME_MAX {
        return Name::from(text);
    }
    let slot = (rustc_hash::FxBuildHasher.hash_one(text) as usize) % SHARED_NAME_SLOTS;
    SHARED_NAMES.with(|slots| {
        let mut slots = slots.borrow_mut();
        if slots.is_empty() {
            slots.resize(SHARED_NAME_SLOTS, None);
        }
        match slots.get_mut(slot) {
            Some(Some(name)) if **name == *text => Name::clone(name),
            Some(held) => {
                let name = Name::from(text);
                *held = Some(Name::clone(&name));
                name
            }
            None => Name::from(text),
        }
    })
}

/// Deepest expression nesting the IR keeps; deeper parts become [`ExprKind::Error`] with a
/// diagnostic. Every recursive pass over the IR relies on this bound.
pub const MAX_EXPR_DEPTH: u32 = 256;

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub range: TextRange,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// A string without interpolation.
    Str(Name),
    /// A string with `${...}` parts.
    Interp(Vec<InterpPart>),
    Name(Name),
    Field(Box<Expr>, Name, TextRange),
    Index(Box<Expr>, Box<Expr>),
    /// A call; the callee is the dotted name as written (`upper`, `strings.upper`).
    Call(Name, TextRange, Vec<Expr>),
    Unary(UnaryOp, Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    /// `if c { a } else { b }`; without `else` (`None`) the value is *absent* when `c` is
    /// false. Lowering allows that only where an absent value can be left out (see
    /// [`Expr::absent_if`]); elsewhere it is reported.
    If(Box<Expr>, Box<Expr>, Option<Box<Expr>>),
    List(Vec<Expr>),
    ListComp(Box<Expr>, Box<Clause>),
    Object(Vec<ObjEntry>),
    /// `path { entries }`: a record of a schema (or template) type. The path is boxed so this
    /// variant is not the largest: every expression node is as large as the largest variant,
    /// and salsa keeps every file's HIR for the whole run.
    Instantiate(Box<PathRef>, Vec<ObjEntry>),
    /// Unparsable or too deeply nested; already reported.
    Error,
}

impl Expr {
    /// The `if` without `else` that can make this expression absent, looking through the
    /// branches of `if`s: `if a { x }` and `if a { x } else if b { y }` can be absent, `if a
    /// { x } else { y }` cannot. Absent values are left out of object entries, list items and
    /// `emit`s; a field value that can be absent leaves an optional field unset.
    pub fn absent_if(&self) -> Option<TextRange> {
        let mut cur = self;
        // Iterative along `else if` chains; recursion only into `then` branches, which the IR's
        // nesting bound limits.
        loop {
            let ExprKind::If(_, then, otherwise) = &cur.kind else { return None };
            if let Some(r) = then.absent_if() {
                return Some(r);
            }
            match otherwise {
                Some(e) => cur = e,
                None => return Some(cur.range),
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    /// `-x`
    Neg,
    /// `!x`
    Not,
}

impl UnaryOp {
    pub fn as_str(self) -> &'static str {
        match self {
            UnaryOp::Neg => "-",
            UnaryOp::Not => "!",
        }
    }
}

impl From<ast::UnaryOp> for UnaryOp {
    fn from(op: ast::UnaryOp) -> Self {
        match op {
            ast::UnaryOp::Neg => UnaryOp::Neg,
            ast::UnaryOp::Not => UnaryOp::Not,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
}

impl BinaryOp {
    pub fn as_str(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Rem => "%",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::And => "&&",
            BinaryOp::Or => "||",
        }
    }
}

impl From<ast::BinaryOp> for BinaryOp {
    fn from(op: ast::BinaryOp) -> Self {
        match op {
            ast::BinaryOp::Add => BinaryOp::Add,
            ast::BinaryOp::Sub => BinaryOp::Sub,
            ast::BinaryOp::Mul => BinaryOp::Mul,
            ast::BinaryOp::Div => BinaryOp::Div,
            ast::BinaryOp::Rem => BinaryOp::Rem,
            ast::BinaryOp::Eq => BinaryOp::Eq,
            ast::BinaryOp::Ne => BinaryOp::Ne,
            ast::BinaryOp::Lt => BinaryOp::Lt,
            ast::BinaryOp::Le => BinaryOp::Le,
            ast::BinaryOp::Gt => BinaryOp::Gt,
            ast::BinaryOp::Ge => BinaryOp::Ge,
            ast::BinaryOp::And => BinaryOp::And,
            ast::BinaryOp::Or => BinaryOp::Or,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum InterpPart {
    Text(Name),
    Expr(Expr),
}

/// `for first[, second] in source [if cond]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Clause {
    pub first: Name,
    pub second: Option<Name>,
    pub source: Expr,
    pub cond: Option<Expr>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ObjEntry {
    Field {
        /// A boxed slice: an object's entries are 80 bytes each rather than 88 with a `Vec`.
        key: Box<[KeySeg]>,
        value: Expr,
        range: TextRange,
    },
    /// Boxed parts: comprehensions are rare, and inline they made every entry of every
    /// object 144 bytes rather than 88 (and every expression 64 rather than 56 with
    /// `Instantiate`'s path inline).
    Comp { key: Box<Expr>, value: Box<Expr>, clause: Box<Clause>, range: TextRange },
}

#[derive(Clone, Debug, PartialEq)]
pub enum KeySeg {
    Static(Name, TextRange),
    /// Boxed: keys are almost always static, and inline the expression made every segment of
    /// every key 56 bytes rather than 24.
    Computed(Box<Expr>),
}

impl KeySeg {
    pub fn range(&self) -> TextRange {
        match self {
            KeySeg::Static(_, r) => *r,
            KeySeg::Computed(e) => e.range,
        }
    }
}

/// A dotted reference to a declaration (`web.WebService`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PathRef {
    /// A boxed slice: every app and import holds one for the whole of a large build's `prepare`.
    pub segments: Box<[Name]>,
    pub range: TextRange,
}

impl PathRef {
    pub fn display(&self) -> String {
        self.segments.iter().map(|s| &**s).collect::<Vec<_>>().join(".")
    }
}

/// A type as written (`int(1..20)`, `[string]?`). It stays syntax until sema lowers it to a
/// [`crate::ty::Ty`] with the declaring module's imports; layers above sema only see its range.
///
/// The syntax keeps the file offsets it was parsed with; [`TypeRef::range`] and
/// [`TypePlace::map`] give ranges in the HIR's coordinates (anchored to the declaration, see
/// [`kdep_diag::anchor`]). Equality is by text and HIR position, so a type that only moved in
/// the file (text above it changed length) compares equal, as the rest of the HIR does.
#[derive(Clone, Debug)]
pub struct TypeRef {
    syntax: ast::TypeExpr,
    place: TypePlace,
}

/// Where a [`TypeRef`] is: its text, and how its syntax's file ranges map to HIR ranges.
#[derive(Clone, Debug, PartialEq)]
pub struct TypePlace {
    /// The type's source text.
    text: Name,
    /// Where the syntax's ranges start in the file.
    from: u32,
    /// The type's range in HIR coordinates.
    at: TextRange,
}

impl TypePlace {
    /// A range of the type's syntax (a file range) in HIR coordinates.
    pub fn map(&self, range: TextRange) -> TextRange {
        let shift = |o: u32| self.at.start.saturating_add(o.saturating_sub(self.from));
        TextRange::new(shift(range.start), shift(range.end).max(shift(range.start)))
    }

    /// The source text of `range`, a range of the type's syntax.
    pub fn text_of(&self, range: TextRange) -> &str {
        let (s, e) = (range.start.saturating_sub(self.from) as usize, range.end.saturating_sub(self.from) as usize);
        self.text.get(s..e).unwrap_or("")
    }
}

impl PartialEq for TypeRef {
    fn eq(&self, other: &TypeRef) -> bool {
        self.place == other.place
    }
}

impl TypeRef {
    pub fn range(&self) -> TextRange {
        self.place.at
    }

    pub fn place(&self) -> &TypePlace {
        &self.place
    }

    /// The syntax, with file ranges: turn them into HIR ranges with [`TypePlace::map`] and
    /// read their text with [`TypePlace::text_of`], never by indexing the file.
    pub(crate) fn syntax(&self) -> &ast::TypeExpr {
        &self.syntax
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct LetHir {
    pub name: Name,
    pub name_range: TextRange,
    pub ty: Option<TypeRef>,
    pub value: Arc<Expr>,
    pub range: TextRange,
}

/// One parameter of a function: a local of its body.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamHir {
    pub name: Name,
    pub name_range: TextRange,
    pub ty: TypeRef,
}

/// `fn name(params) -> ret = body`, a top-level function.
#[derive(Clone, Debug, PartialEq)]
pub struct FnHir {
    pub name: Name,
    pub name_range: TextRange,
    pub params: Vec<ParamHir>,
    pub ret: TypeRef,
    pub body: Arc<Expr>,
    pub range: TextRange,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FieldHir {
    pub name: Name,
    pub name_range: TextRange,
    pub doc: Option<String>,
    pub locked: Option<TextRange>,
    pub ty: Option<TypeRef>,
    pub default: Option<Arc<Expr>>,
    pub range: TextRange,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CheckHir {
    pub cond: Arc<Expr>,
    pub message: Option<Name>,
    pub range: TextRange,
}

#[derive(Clone, Debug, PartialEq)]
pub struct EmitHir {
    pub value: Arc<Expr>,
    pub range: TextRange,
}

#[derive(Clone, Debug, PartialEq)]
pub enum MemberHir {
    Field(FieldHir),
    Let(LetHir),
    Check(CheckHir),
    Emit(EmitHir),
}

/// `@resource(apiVersion, kind, scope)`: the schema is this Kubernetes object kind. Recorded in
/// the item index (it is header, not body), so it carries no offsets.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ResourceAttr {
    pub api_version: Name,
    pub kind: Name,
    /// `scope = "Cluster"`; `"Namespaced"` is `false`.
    pub cluster: bool,
}

/// The attributes of a schema or template that lowered without error.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct DeclAttrs {
    /// `@resource(...)` and the attribute's range.
    pub resource: Option<(ResourceAttr, TextRange)>,
    /// `@open`: the schema keeps fields it does not declare (typed `any`).
    pub open: bool,
}

/// A schema or a template body.
#[derive(Clone, Debug, PartialEq)]
pub struct TemplateHir {
    pub name: Name,
    pub name_range: TextRange,
    pub is_schema: bool,
    /// `= Base`: the declaration this one narrows (a schema's base is a schema, a template's a
    /// template).
    pub base: Option<PathRef>,
    /// `with A, B`: declarations of the same kind whose members are merged in (composition).
    pub mixins: Vec<PathRef>,
    pub members: Vec<MemberHir>,
    pub attrs: DeclAttrs,
    pub range: TextRange,
}

/// `key.path = value` in an app body, `in` block or environment.
#[derive(Clone, Debug, PartialEq)]
pub struct SetHir {
    pub key: KeyPath,
    pub value: Arc<Expr>,
    pub range: TextRange,
}

/// The segments of a setting's key (`a.b.c = ...`), read as a slice. One segment, nearly every
/// key, is held inline: a large build holds every setting of every app from `prepare` to its
/// batch, and a block of one segment cost 24 bytes and an allocation per setting.
#[derive(Clone, PartialEq)]
pub struct KeyPath(KeyRepr);

#[derive(Clone, PartialEq)]
enum KeyRepr {
    One((Name, TextRange)),
    Many(Box<[(Name, TextRange)]>),
}

impl From<Vec<(Name, TextRange)>> for KeyPath {
    fn from(mut segments: Vec<(Name, TextRange)>) -> Self {
        match segments.pop() {
            Some(one) if segments.is_empty() => KeyPath(KeyRepr::One(one)),
            Some(last) => {
                segments.push(last);
                KeyPath(KeyRepr::Many(segments.into_boxed_slice()))
            }
            None => KeyPath(KeyRepr::Many(Box::default())),
        }
    }
}

impl std::ops::Deref for KeyPath {
    type Target = [(Name, TextRange)];

    fn deref(&self) -> &[(Name, TextRange)] {
        match &self.0 {
            KeyRepr::One(one) => std::slice::from_ref(one),
            KeyRepr::Many(many) => many,
        }
    }
}

impl KeyPath {
    /// The bytes of the key's block (none for a key held inline; see [`crate::heap`]).
    pub fn heap_bytes(&self) -> usize {
        match &self.0 {
            KeyRepr::One(_) => 0,
            KeyRepr::Many(many) => std::mem::size_of_val::<[(Name, TextRange)]>(many),
        }
    }
}

impl<'a> IntoIterator for &'a KeyPath {
    type Item = &'a (Name, TextRange);
    type IntoIter = std::slice::Iter<'a, (Name, TextRange)>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// As the list of segments it stands for.
impl std::fmt::Debug for KeyPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl SetHir {
    pub fn key_display(&self) -> String {
        self.key.iter().map(|(n, _)| &**n).collect::<Vec<_>>().join(".")
    }

    pub fn key_range(&self) -> TextRange {
        match (self.key.first(), self.key.last()) {
            (Some(a), Some(b)) => a.1.cover(b.1),
            _ => self.range,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct EnvBlockHir {
    pub env: Name,
    pub env_range: TextRange,
    /// A boxed slice, as the app's own settings are.
    pub sets: Box<[SetHir]>,
    pub range: TextRange,
}

/// `test "name" { ... }`: its statements in order (see `kdep_eval::testing`).
#[derive(Clone, Debug, PartialEq)]
pub struct TestHir {
    pub name: Name,
    pub name_range: TextRange,
    pub steps: Vec<TestStep>,
    pub range: TextRange,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TestStep {
    /// A local of the test, visible to the statements after it.
    Let(LetHir),
    Assert(CheckHir),
    /// `expect_error CODE { items }`: `body` is the braces' range in the file; the items are
    /// checked as declarations of the test's module (by the driver, which can make a module).
    ExpectError {
        code: Name,
        /// First segments of the template paths its declarations name: they use the imports.
        uses: Vec<Name>,
        code_range: TextRange,
        body: TextRange,
        range: TextRange,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct AppHir {
    pub name: Name,
    pub name_range: TextRange,
    pub template: PathRef,
    // The lists are boxed slices: a large build holds every app's lowering from `prepare` to its
    // batch, and most apps have no `in` block, waiver or `@after` (a `Vec` is 8 bytes more).
    pub sets: Box<[SetHir]>,
    pub envs: Box<[EnvBlockHir]>,
    /// `waive policy : "reason"` entries, in source order.
    pub waivers: Box<[WaiverHir]>,
    /// The apps named by `@after(app = "db", ...)`, in source order, without the malformed
    /// ones (K0680). Resolved and checked by `check::apply_order`.
    pub after: Box<[AfterHir]>,
    pub range: TextRange,
}

/// One app named by `@after`: `"db"` (an app of this module) or `"alias.app"` (an app of
/// another module of the package, through an import), split into segments.
#[derive(Clone, Debug, PartialEq)]
pub struct AfterHir {
    pub path: Vec<Name>,
    /// The string literal, for labels.
    pub range: TextRange,
}

/// `waive path : "reason"` in an app body. `reason` is `None` when none was written, and
/// `Some("")` when it is empty or interpolated (both are reported by the policy checks).
#[derive(Clone, Debug, PartialEq)]
pub struct WaiverHir {
    pub policy: PathRef,
    pub reason: Option<(String, TextRange)>,
    pub range: TextRange,
}

/// `policy name [= base] { entries }`: the entries as written (see `policy.rs` for their keys).
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyHir {
    pub name: Name,
    pub name_range: TextRange,
    pub base: Option<PathRef>,
    pub sets: Vec<SetHir>,
    pub range: TextRange,
}

#[derive(Clone, Debug, PartialEq)]
pub struct EnvHir {
    pub name: Name,
    pub name_range: TextRange,
    pub sets: Vec<SetHir>,
    pub range: TextRange,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ImportHir {
    pub path: PathRef,
    pub alias: Name,
    pub alias_range: TextRange,
    pub range: TextRange,
    /// A later top-level declaration has the same name (reported as K0103).
    pub clashes: bool,
}

/// Every declaration of one file, lowered. The first declaration of a name wins; later ones are
/// reported as duplicates (K0103) and dropped.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct FileHir {
    // The lists are boxed slices, exact and 8 bytes smaller than `Vec`s: a large build holds
    // every file's lowering from `prepare` to its batch.
    pub imports: Box<[ImportHir]>,
    pub lets: NameTable<Arc<LetHir>>,
    pub functions: NameTable<Arc<FnHir>>,
    pub templates: NameTable<Arc<TemplateHir>>,
    pub apps: NameTable<Arc<AppHir>>,
    pub environments: NameTable<Arc<EnvHir>>,
    /// `test` declarations in file order (they are not names: nothing refers to a test).
    pub tests: Box<[Arc<TestHir>]>,
    pub policies: NameTable<Arc<PolicyHir>>,
    pub diagnostics: Box<[Diagnostic]>,
    /// Where the anchored declarations are: turns this HIR's anchored ranges into file offsets.
    pub anchors: kdep_diag::anchor::AnchorMap,
}

/// The declarations of a file being lowered, in order, before they become its [`NameTable`]s.
#[derive(Default)]
struct DeclLists {
    imports: Vec<ImportHir>,
    tests: Vec<Arc<TestHir>>,
    lets: Vec<(Name, Arc<LetHir>)>,
    functions: Vec<(Name, Arc<FnHir>)>,
    templates: Vec<(Name, Arc<TemplateHir>)>,
    apps: Vec<(Name, Arc<AppHir>)>,
    environments: Vec<(Name, Arc<EnvHir>)>,
    policies: Vec<(Name, Arc<PolicyHir>)>,
}

impl DeclLists {
    /// Moves the lists into `out`'s tables, and gives back what `out`'s own lists grew into
    /// beyond their length: salsa keeps every file's lowering until its batch
    /// (docs/performance.md, Memory).
    fn finish(self, out: &mut FileHir, diagnostics: Vec<Diagnostic>) {
        out.imports = self.imports.into_boxed_slice();
        out.tests = self.tests.into_boxed_slice();
        out.diagnostics = diagnostics.into_boxed_slice();
        out.lets = NameTable::from_entries(self.lets);
        out.functions = NameTable::from_entries(self.functions);
        out.templates = NameTable::from_entries(self.templates);
        out.apps = NameTable::from_entries(self.apps);
        out.environments = NameTable::from_entries(self.environments);
        out.policies = NameTable::from_entries(self.policies);
        out.anchors.shrink_to_fit();
    }
}

/// Parses and lowers a whole file; syntax diagnostics are part of the result. Per-declaration
/// queries read their part from here; a body edit changes this result but their own results
/// stay equal unless their declaration changed.
///
/// The tree is parsed here rather than read from [`crate::db::parse_file`] so a build does not
/// keep every file's syntax tree alive in the database (the formatter and the editor use
/// `parse_file`, which memoises the tree).
// `lru = 0`: unbounded and untracked, until a batched build bounds it (`set_file_hir_lru`).
// Read by reference (`returns(ref)`): a template's file is read by every app on every thread,
// and cloning its `Arc` at each read wrote one count from both cores (docs/performance.md, "Two
// threads without shared writes").
#[salsa::tracked(returns(ref), lru = 0)]
pub fn file_hir(db: &dyn Db, file: SourceFile) -> Arc<FileHir> {
    // Each read of an input field is a salsa lookup: the id and the text are read once.
    let (id, text) = (file.id(db), file.text(db));
    let parse = kdep_syntax::parse(id, text);
    let mut lower = Lower {
        file: id,
        text,
        diagnostics: parse.diagnostics.clone(),
        deep_reported: false,
        anchor: None,
        strings: Vec::new(),
    };
    // Ordinals of the declarations of each anchor kind seen so far (see `anchor_kind`).
    let mut ordinals = [0u32; 8];
    let mut out = FileHir::default();
    let mut decls = DeclLists::default();
    // Spans of the first declaration of each top-level name, for duplicate reports.
    let mut seen = Declared::default();
    for item in &parse.file.items {
        lower.anchor = None;
        if let Some((kind, slot)) = anchor_kind(item).and_then(|k| Some((k, ordinals.get_mut(k as usize)?))) {
            let ir = item.range();
            let anchor =
                kdep_diag::anchor::Anchor::new(kind, *slot).filter(|_| ir.len() <= kdep_diag::anchor::MAX_RELATIVE);
            *slot = slot.saturating_add(1);
            if let Some(a) = anchor {
                out.anchors.push(a, ir);
                lower.anchor = Some((ir.start, a));
            }
        }
        let (name, range) = match item {
            ast::Item::Import(it) => {
                let alias = it.alias.as_ref().or(it.path.segments.last());
                let Some(alias) = alias.filter(|a| !a.is_missing()) else { continue };
                (shared_name(alias.text.as_str()), alias.range)
            }
            ast::Item::Let(it) => (Name::from(it.name.text.as_str()), it.name.range),
            ast::Item::Fn(it) => (Name::from(it.name.text.as_str()), it.name.range),
            ast::Item::Schema(it) => (Name::from(it.name.text.as_str()), it.name.range),
            ast::Item::Template(it) => (Name::from(it.name.text.as_str()), it.name.range),
            ast::Item::App(it) => (Name::from(it.name.text.as_str()), it.name.range),
            ast::Item::Environment(it) => (Name::from(it.name.text.as_str()), it.name.range),
            ast::Item::Test(it) => {
                let test = lower.test(it, &decls.tests);
                decls.tests.push(Arc::new(test));
                continue;
            }
            ast::Item::Policy(it) => (Name::from(it.name.text.as_str()), it.name.range),
            ast::Item::Error(_) => continue,
        };
        if name.is_empty() {
            continue;
        }
        if let Some(first) = seen.get(&name) {
            // An import alias clashing with a declaration has a way out that keeps both: an
            // import can be renamed (`import a.b as c`), a declaration often cannot (an app's
            // name is its objects' name). Say so, with the import path to copy.
            let mut import_path = None;
            if let Some(imp) = decls.imports.iter_mut().find(|i| i.alias == name) {
                imp.clashes = true;
                import_path = Some(imp.path.display());
            }
            if let ast::Item::Import(it) = item {
                import_path = Some(it.path.segments.iter().map(|s| s.text.as_str()).collect::<Vec<_>>().join("."));
            }
            let mut d = Diagnostic::error(Code::DUPLICATE_DEFINITION, format!("`{name}` is defined more than once"))
                .with_primary(lower.span(range), "defined again here")
                .with_secondary(lower.span(first), "first defined here");
            if let Some(path) = import_path {
                let other_is_app = matches!(item, ast::Item::App(_)) || decls.apps.iter().any(|(n, _)| *n == name);
                let renamed = format!("{name}_{}", if other_is_app { "tpl" } else { "mod" });
                // The app's own template path, when it names the clashing module, shows the edit.
                let member = match item {
                    ast::Item::App(it) if it.template.segments.first().is_some_and(|s| *s.text == *name) => {
                        it.template.segments.get(1).map_or("Name", |s| s.text.as_str())
                    }
                    _ => "Name",
                };
                d = d.with_help(format!(
                    "an import and a declaration share one namespace; rename the import: \
                     `import {path} as {renamed}`, and write `{renamed}.{member}` where the module is used"
                ));
            }
            lower.diagnostics.push(d);
            continue;
        }
        seen.insert(name.clone(), range);
        match item {
            ast::Item::Import(it) => decls.imports.push(ImportHir {
                path: lower.path(&it.path),
                alias: name,
                alias_range: lower.rel(range),
                range: lower.rel(it.range),
                clashes: false,
            }),
            ast::Item::Let(it) => {
                decls.lets.push((name, Arc::new(lower.let_decl(it))));
            }
            ast::Item::Fn(it) => {
                decls.functions.push((name, Arc::new(lower.fn_decl(it))));
            }
            ast::Item::Schema(it) => {
                let members = lower.members(&it.members, true);
                let attrs = lower.attributes(&it.attrs, true);
                decls.templates.push((
                    name.clone(),
                    Arc::new(TemplateHir {
                        name,
                        name_range: lower.rel(it.name.range),
                        is_schema: true,
                        base: it.base.as_ref().map(|p| lower.path(p)),
                        mixins: it.mixins.iter().map(|p| lower.path(p)).collect(),
                        members,
                        attrs,
                        range: lower.rel(it.range),
                    }),
                ));
            }
            ast::Item::Template(it) => {
                let members = lower.members(&it.members, false);
                let attrs = lower.attributes(&it.attrs, false);
                decls.templates.push((
                    name.clone(),
                    Arc::new(TemplateHir {
                        name,
                        name_range: lower.rel(it.name.range),
                        is_schema: false,
                        base: it.base.as_ref().map(|p| lower.path(p)),
                        mixins: it.mixins.iter().map(|p| lower.path(p)).collect(),
                        members,
                        attrs,
                        range: lower.rel(it.range),
                    }),
                ));
            }
            ast::Item::App(it) => {
                // Sized from the syntax: the HIR is kept for the whole run, and a list grown
                // by pushing keeps room for up to twice its entries (docs/performance.md).
                let mut sets = Vec::with_capacity(it.body.len());
                let mut envs = Vec::new();
                let mut waivers = Vec::new();
                for entry in &it.body {
                    match entry {
                        ast::InstanceEntry::Set(e) => lower.set(e, &mut sets, true),
                        ast::InstanceEntry::InEnv(block) => {
                            let mut block_sets = Vec::with_capacity(block.entries.len());
                            for e in &block.entries {
                                lower.set(e, &mut block_sets, true);
                            }
                            envs.push(EnvBlockHir {
                                env: shared_name(block.env.text.as_str()),
                                env_range: lower.rel(block.env.range),
                                sets: block_sets.into_boxed_slice(),
                                range: lower.rel(block.range),
                            });
                        }
                        ast::InstanceEntry::Waive(w) => waivers.push(WaiverHir {
                            policy: lower.path(&w.policy),
                            reason: w.reason.as_ref().map(|r| (r.as_plain().unwrap_or_default(), lower.rel(r.range))),
                            range: lower.rel(w.range),
                        }),
                    }
                }
                let after = lower.app_attributes(&it.attrs).into_boxed_slice();
                decls.apps.push((
                    name.clone(),
                    Arc::new(AppHir {
                        name,
                        name_range: lower.rel(it.name.range),
                        template: lower.path(&it.template),
                        sets: sets.into_boxed_slice(),
                        envs: envs.into_boxed_slice(),
                        waivers: waivers.into_boxed_slice(),
                        after,
                        range: lower.rel(it.range),
                    }),
                ));
            }
            ast::Item::Environment(it) => {
                let mut sets = Vec::new();
                for e in &it.entries {
                    lower.set(e, &mut sets, false);
                }
                decls.environments.push((
                    name.clone(),
                    Arc::new(EnvHir { name, name_range: lower.rel(it.name.range), sets, range: lower.rel(it.range) }),
                ));
            }
            ast::Item::Policy(it) => {
                let mut sets = Vec::new();
                for e in &it.entries {
                    lower.set(e, &mut sets, false);
                }
                decls.policies.push((
                    name.clone(),
                    Arc::new(PolicyHir {
                        name,
                        name_range: lower.rel(it.name.range),
                        base: it.base.as_ref().map(|p| lower.path(p)),
                        sets,
                        range: lower.rel(it.range),
                    }),
                ));
            }
            ast::Item::Test(_) | ast::Item::Error(_) => {}
        }
    }
    decls.finish(&mut out, lower.diagnostics);
    Arc::new(out)
}

/// The top-level names a file has declared so far, for duplicate reports: a list while short (an
/// app file declares two names, and a map of them cost more than lowering the import), a map
/// past [`Declared::LIST_MAX`] names so a long file stays linear.
#[derive(Default)]
struct Declared {
    list: Vec<(Name, TextRange)>,
    map: Option<NameMap<TextRange>>,
}

impl Declared {
    const LIST_MAX: usize = 16;

    /// Where `name` was first declared, if it was.
    fn get(&self, name: &str) -> Option<TextRange> {
        match &self.map {
            Some(map) => map.get(name).copied(),
            None => self.list.iter().find(|(n, _)| **n == *name).map(|(_, r)| *r),
        }
    }

    /// Records the first declaration of `name` (not declared before).
    fn insert(&mut self, name: Name, range: TextRange) {
        match &mut self.map {
            Some(map) => {
                map.insert(name, range);
            }
            None => {
                self.list.push((name, range));
                if self.list.len() > Self::LIST_MAX {
                    self.map = Some(std::mem::take(&mut self.list).into_iter().collect());
                }
            }
        }
    }
}

/// App `name` of `file`: the one declaration an app's evaluation reads, apart from the file's
/// lowering so that it stays equal (and salsa reuses the evaluation) when the rest of the file
/// changes or moves — its ranges are anchored to the app.
// `lru = 0` like `file_hir`'s: bounded by a batched build only (`set_app_hir_lru`).
#[salsa::tracked(returns(clone), lru = 0)]
pub fn app_hir(db: &dyn Db, file: SourceFile, name: Name) -> Option<Arc<AppHir>> {
    file_hir(db, file).apps.get(&name).cloned()
}

/// Bounds how many lowered files the database keeps at its next eviction (the most recently
/// read ones; 0: all, and reads are no longer tracked). Only `kdep_eval`'s batched build sets
/// it: salsa makes the setter private to this module.
pub fn set_file_hir_lru(db: &mut dyn Db, capacity: usize) {
    file_hir::set_lru_capacity(db, capacity);
}

/// Like [`set_file_hir_lru`], for `app_hir`.
pub fn set_app_hir_lru(db: &mut dyn Db, capacity: usize) {
    app_hir::set_lru_capacity(db, capacity);
}

/// How many of a file's first plain strings [`Lower::file_string`] shares.
const FILE_STRINGS: usize = 32;

struct Lower<'t> {
    file: kdep_diag::FileId,
    text: &'t str,
    diagnostics: Vec<Diagnostic>,
    /// Whether the current top-level expression already reported K0004.
    deep_reported: bool,
    /// The first plain strings of the file, shared by their repeats in it (see
    /// [`Lower::file_string`]).
    strings: Vec<Name>,
    /// The declaration being lowered, when it is anchored: its start in the file and its anchor.
    /// Its HIR ranges are then anchored offsets ([`Lower::rel`]).
    anchor: Option<(u32, kdep_diag::anchor::Anchor)>,
}

/// The anchor kind of a top-level declaration (see [`kdep_diag::anchor`]); `None` for tests,
/// which keep file offsets (the driver cuts their `expect_error` bodies out of the file text).
fn anchor_kind(item: &ast::Item) -> Option<u32> {
    match item {
        ast::Item::Import(_) => Some(0),
        ast::Item::Let(_) => Some(1),
        ast::Item::Fn(_) => Some(2),
        ast::Item::Schema(_) => Some(3),
        ast::Item::Template(_) => Some(4),
        ast::Item::Environment(_) => Some(5),
        ast::Item::Policy(_) => Some(6),
        ast::Item::App(_) => Some(7),
        ast::Item::Test(_) | ast::Item::Error(_) => None,
    }
}

impl Lower<'_> {
    /// A diagnostic's span for a file range or a range of the HIR being built (lowering
    /// diagnostics are per file, so they carry file offsets).
    fn span(&self, range: TextRange) -> Span {
        let range = match (self.anchor, kdep_diag::anchor::is_anchored(range)) {
            (Some((start, _)), true) => {
                let abs = |o: u32| kdep_diag::anchor::split(o).map_or(o, |(_, rel)| start.saturating_add(rel));
                TextRange::new(abs(range.start), abs(range.end).max(abs(range.start)))
            }
            _ => range,
        };
        Span::new(self.file, range)
    }

    /// A file range of the declaration being lowered in HIR coordinates: anchored when the
    /// declaration is, so its HIR does not change when the text above it does.
    fn rel(&self, range: TextRange) -> TextRange {
        let Some((start, anchor)) = self.anchor else { return range };
        let at = |o: u32| anchor.offset(o.saturating_sub(start)).unwrap_or(o);
        TextRange::new(at(range.start), at(range.end).max(at(range.start)))
    }

    fn type_ref(&self, t: &ast::TypeExpr) -> TypeRef {
        let r = t.range();
        let text = Name::from(self.text.get(r.as_usize_range()).unwrap_or(""));
        TypeRef { syntax: t.clone(), place: TypePlace { text, from: r.start, at: self.rel(r) } }
    }

    fn path(&self, path: &ast::Path) -> PathRef {
        PathRef {
            segments: path.segments.iter().map(|s| shared_name(s.text.as_str())).collect(),
            range: self.rel(path.range),
        }
    }

    /// Checks and lowers the attributes of a schema (`schema` true) or template: only
    /// `@resource(apiVersion = "g/v", kind = "K", scope = "Namespaced" | "Cluster")` and `@open`
    /// exist, both on schemas only. Unknown names are K0221, everything else wrong K0222; a
    /// rejected attribute is left out.
    fn attributes(&mut self, attrs: &[ast::Attribute], schema: bool) -> DeclAttrs {
        let mut out = DeclAttrs::default();
        let mut seen: Vec<(&str, TextRange)> = Vec::new();
        for attr in attrs {
            let name = attr.name.text.as_str();
            if name == "after" {
                self.diagnostics.push(
                    Diagnostic::error(Code::INVALID_APPLY_ORDER, "`@after` applies only to apps")
                        .with_primary(self.span(attr.range), if schema { "on a schema" } else { "on a template" })
                        .with_help(
                            "an apply order is declared by the app that waits: `@after(app = \"db\")` before `app`",
                        ),
                );
                continue;
            }
            if !matches!(name, "resource" | "open") {
                let mut d = Diagnostic::error(Code::UNKNOWN_ATTRIBUTE, format!("unknown attribute `@{name}`"))
                    .with_primary(self.span(attr.name.range), "not an attribute kdep knows");
                if let Some(best) = crate::suggest::best(name, ["resource", "open"]) {
                    d = d.with_help(format!("did you mean `@{best}`?"));
                } else {
                    d = d.with_help(
                        "the attributes are `@resource(apiVersion = ..., kind = ..., scope = ...)` and `@open`",
                    );
                }
                self.diagnostics.push(d);
                continue;
            }
            if let Some((_, first)) = seen.iter().find(|(n, _)| *n == name) {
                let d = Diagnostic::error(Code::INVALID_ATTRIBUTE, format!("`@{name}` is given twice"))
                    .with_primary(self.span(attr.range), "given again here")
                    .with_secondary(self.span(*first), "first given here");
                self.diagnostics.push(d);
                continue;
            }
            seen.push((name, attr.range));
            if !schema {
                let d = Diagnostic::error(Code::INVALID_ATTRIBUTE, format!("`@{name}` applies only to schemas"))
                    .with_primary(self.span(attr.range), "on a template")
                    .with_help(match name {
                        "resource" => "declare the Kubernetes kind as a schema and emit it from the template: `emit apps.Deployment { ... }`",
                        _ => "a template's fields are its interface; declare every field it takes",
                    });
                self.diagnostics.push(d);
                continue;
            }
            match name {
                "open" => {
                    if let Some(args) = &attr.args {
                        let d = Diagnostic::error(Code::INVALID_ATTRIBUTE, "`@open` takes no arguments")
                            .with_primary(self.span(attr.range), format!("{} argument(s) given", args.len()))
                            .with_help("write `@open`");
                        self.diagnostics.push(d);
                        continue;
                    }
                    out.open = true;
                }
                _ => {
                    if let Some(resource) = self.resource(attr) {
                        out.resource = Some((resource, self.rel(attr.range)));
                    }
                }
            }
        }
        out
    }

    /// Checks and lowers the attributes of an app: only `@after(app = "name", ...)` exists there
    /// (once, with at least one `app`, each a plain `name` or `alias.name`, none twice). Unknown
    /// attributes are K0221, schema attributes on an app K0222, everything else wrong K0680;
    /// what is rejected is left out.
    fn app_attributes(&mut self, attrs: &[ast::Attribute]) -> Vec<AfterHir> {
        const USAGE: &str = "write `@after(app = \"db\")`, or `@after(app = \"db\", app = \"cache\")` for several";
        let mut out: Vec<AfterHir> = Vec::new();
        let mut first_after: Option<TextRange> = None;
        for attr in attrs {
            let name = attr.name.text.as_str();
            match name {
                "after" => {}
                "resource" | "open" => {
                    self.diagnostics.push(
                        Diagnostic::error(Code::INVALID_ATTRIBUTE, format!("`@{name}` applies only to schemas"))
                            .with_primary(self.span(attr.range), "on an app")
                            .with_help("the attribute of an app is `@after(app = \"...\")`, its apply order"),
                    );
                    continue;
                }
                _ => {
                    let mut d = Diagnostic::error(Code::UNKNOWN_ATTRIBUTE, format!("unknown attribute `@{name}`"))
                        .with_primary(self.span(attr.name.range), "not an attribute kdep knows");
                    d = match crate::suggest::best(name, ["after"]) {
                        Some(best) => d.with_help(format!("did you mean `@{best}`?")),
                        None => d.with_help("the attribute of an app is `@after(app = \"...\")`, its apply order"),
                    };
                    self.diagnostics.push(d);
                    continue;
                }
            }
            if let Some(first) = first_after {
                self.diagnostics.push(
                    Diagnostic::error(Code::INVALID_APPLY_ORDER, "`@after` is given twice")
                        .with_primary(self.span(attr.range), "given again here")
                        .with_secondary(self.span(first), "first given here")
                        .with_help("name every app in one attribute: `@after(app = \"db\", app = \"cache\")`"),
                );
                continue;
            }
            first_after = Some(attr.range);
            let args = attr.args.as_deref().unwrap_or_default();
            if args.is_empty() {
                self.diagnostics.push(
                    Diagnostic::error(Code::INVALID_APPLY_ORDER, "`@after` names no app")
                        .with_primary(self.span(attr.range), "no `app = ...` argument")
                        .with_help(USAGE),
                );
                continue;
            }
            for arg in args {
                if arg.key.text != "app" {
                    let mut d = Diagnostic::error(
                        Code::INVALID_APPLY_ORDER,
                        format!("`@after` has no argument `{}`", arg.key.text),
                    )
                    .with_primary(self.span(arg.key.range), "unknown argument");
                    d = match crate::suggest::best(&arg.key.text, ["app"]) {
                        Some(best) => d.with_help(format!("did you mean `{best}`? {USAGE}")),
                        None => d.with_help(USAGE),
                    };
                    self.diagnostics.push(d);
                    continue;
                }
                let text = match &arg.value {
                    ast::Expr::Str(s) => s.as_plain(),
                    _ => None,
                };
                let path: Option<Vec<Name>> = text.as_deref().and_then(|t| {
                    let segments: Vec<&str> = t.split('.').collect();
                    let ok = (1..=2).contains(&segments.len()) && segments.iter().all(|s| is_identifier(s));
                    ok.then(|| segments.into_iter().map(Name::from).collect())
                });
                let Some(path) = path else {
                    self.diagnostics.push(
                        Diagnostic::error(
                            Code::INVALID_APPLY_ORDER,
                            "`app` of `@after` must name an app: `\"db\"` or `\"module.db\"`",
                        )
                        .with_primary(self.span(arg.value.range()), "not an app name")
                        .with_help("write the app's name as a plain string; an app of another module of the package is `\"alias.app\"` through its import"),
                    );
                    continue;
                };
                let range = arg.value.range();
                if let Some(first) = out.iter().find(|a| a.path == path) {
                    let first = first.range;
                    self.diagnostics.push(
                        Diagnostic::error(
                            Code::INVALID_APPLY_ORDER,
                            format!("`@after` names `{}` twice", text.unwrap_or_default()),
                        )
                        .with_primary(self.span(range), "named again here")
                        .with_secondary(self.span(first), "first named here"),
                    );
                    continue;
                }
                out.push(AfterHir { path, range: self.rel(range) });
            }
        }
        out
    }

    /// `@resource(apiVersion = "apps/v1", kind = "Deployment", scope = "Namespaced")`.
    fn resource(&mut self, attr: &ast::Attribute) -> Option<ResourceAttr> {
        const KEYS: [&str; 3] = ["apiVersion", "kind", "scope"];
        let usage = "write `@resource(apiVersion = \"apps/v1\", kind = \"Deployment\", scope = \"Namespaced\")`";
        let mut values: [Option<(String, TextRange)>; 3] = [None, None, None];
        let mut ok = true;
        for arg in attr.args.iter().flatten() {
            let key = arg.key.text.as_str();
            let Some(slot) = KEYS.iter().position(|k| *k == key).and_then(|i| values.get_mut(i)) else {
                let mut d = Diagnostic::error(Code::INVALID_ATTRIBUTE, format!("`@resource` has no argument `{key}`"))
                    .with_primary(self.span(arg.key.range), "unknown argument");
                if let Some(best) = crate::suggest::best(key, KEYS) {
                    d = d.with_help(format!("did you mean `{best}`?"));
                }
                self.diagnostics.push(d);
                ok = false;
                continue;
            };
            if let Some((_, first)) = slot {
                let d = Diagnostic::error(Code::INVALID_ATTRIBUTE, format!("`{key}` is given twice"))
                    .with_primary(self.span(arg.range), "given again here")
                    .with_secondary(self.span(*first), "first given here");
                self.diagnostics.push(d);
                ok = false;
                continue;
            }
            let text = match &arg.value {
                ast::Expr::Str(s) => s.as_plain(),
                _ => None,
            };
            let valid = match (key, text.as_deref()) {
                (_, None) => Err("a plain string"),
                ("apiVersion", Some(v)) if is_api_version(v) => Ok(()),
                ("apiVersion", Some(_)) => Err("`version` or `group/version`, as in \"v1\" or \"apps/v1\""),
                ("kind", Some(k)) if is_kind(k) => Ok(()),
                ("kind", Some(_)) => Err("a kind name such as \"Deployment\""),
                ("scope", Some("Namespaced" | "Cluster")) => Ok(()),
                _ => Err("\"Namespaced\" or \"Cluster\""),
            };
            match (valid, text) {
                (Ok(()), Some(text)) => *slot = Some((text, self.rel(arg.range))),
                (valid, _) => {
                    let expected = valid.err().unwrap_or("a plain string");
                    let d = Diagnostic::error(
                        Code::INVALID_ATTRIBUTE,
                        format!("`{key}` of `@resource` must be {expected}"),
                    )
                    .with_primary(self.span(arg.value.range()), "not valid here");
                    self.diagnostics.push(d);
                    ok = false;
                }
            }
        }
        let [api_version, kind, scope] = values;
        let missing: Vec<&str> =
            KEYS.iter().zip([&api_version, &kind, &scope]).filter(|(_, v)| v.is_none()).map(|(k, _)| *k).collect();
        if ok && !missing.is_empty() {
            let list = missing.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ");
            let d = Diagnostic::error(Code::INVALID_ATTRIBUTE, format!("`@resource` is missing {list}"))
                .with_primary(self.span(attr.range), "incomplete")
                .with_help(usage);
            self.diagnostics.push(d);
        }
        Some(ResourceAttr {
            api_version: Name::from(api_version?.0.as_str()),
            kind: Name::from(kind?.0.as_str()),
            cluster: scope?.0 == "Cluster",
        })
        .filter(|_| ok)
    }

    /// Lowers a `test`; `earlier` are the file's tests before it (a second test of one name is
    /// K0633, so `kdep test --filter` and JUnit reports can name each test unambiguously).
    fn test(&mut self, it: &ast::TestDecl, earlier: &[Arc<TestHir>]) -> TestHir {
        let name = match it.name.as_plain() {
            Some(text) => Name::from(text.as_str()),
            None => {
                self.diagnostics.push(
                    Diagnostic::error(Code::DUPLICATE_TEST, "a test name must be plain text")
                        .with_primary(self.span(it.name.range), "interpolation here")
                        .with_help("write the name without `${...}`: it names the test in reports"),
                );
                Name::from("")
            }
        };
        if let Some(first) = earlier.iter().find(|t| t.name == name && !name.is_empty()) {
            self.diagnostics.push(
                Diagnostic::error(Code::DUPLICATE_TEST, format!("test `{name}` is declared twice in this module"))
                    .with_primary(self.span(it.name.range), "declared again here")
                    .with_secondary(self.span(first.name_range), "first declared here"),
            );
        }
        let mut steps = Vec::with_capacity(it.members.len());
        for m in &it.members {
            match m {
                ast::TestMember::Let(l) => steps.push(TestStep::Let(self.let_decl(l))),
                ast::TestMember::Assert(a) => steps.push(TestStep::Assert(CheckHir {
                    cond: Arc::new(self.expr(&a.condition, 0)),
                    message: a.message.as_ref().map(|m| match m.as_plain() {
                        Some(text) => Name::from(text.as_str()),
                        None => Name::from("assertion failed"),
                    }),
                    range: self.rel(a.range),
                })),
                ast::TestMember::ExpectError(b) => {
                    let code = Name::from(b.code.text.as_str());
                    if kdep_diag::Code::lookup(&code).is_none() && !b.code.is_missing() {
                        let mut d = Diagnostic::error(
                            Code::UNKNOWN_EXPECTED_CODE,
                            format!("`{code}` is not a diagnostic code"),
                        )
                        .with_primary(self.span(b.code.range), "unknown code");
                        let ids = kdep_diag::ALL_CODES.iter().map(|c| c.id);
                        if let Some(best) = crate::suggest::best(&code, ids) {
                            d = d.with_help(format!("did you mean `{best}`?"));
                        }
                        self.diagnostics.push(d.with_help("`kdep explain` lists every code"));
                    }
                    let mut uses = Vec::new();
                    for item in &b.items {
                        let paths: Vec<&ast::Path> = match item {
                            ast::Item::App(a) => vec![&a.template],
                            ast::Item::Template(t) => t.base.iter().chain(&t.mixins).collect(),
                            ast::Item::Schema(t) => t.base.iter().chain(&t.mixins).collect(),
                            _ => Vec::new(),
                        };
                        uses.extend(
                            paths.iter().filter_map(|p| p.segments.first()).map(|s| Name::from(s.text.as_str())),
                        );
                    }
                    steps.push(TestStep::ExpectError {
                        code,
                        uses,
                        code_range: self.rel(b.code.range),
                        body: self.rel(b.body_range),
                        range: self.rel(b.range),
                    });
                }
                ast::TestMember::Error(_) => {}
            }
        }
        TestHir { name, name_range: self.rel(it.name.range), steps, range: self.rel(it.range) }
    }

    fn let_decl(&mut self, it: &ast::LetDecl) -> LetHir {
        LetHir {
            name: Name::from(it.name.text.as_str()),
            name_range: self.rel(it.name.range),
            ty: it.ty.as_ref().map(|t| self.type_ref(t)),
            value: Arc::new(self.expr(&it.value, 0)),
            range: self.rel(it.range),
        }
    }

    /// K0201 for an `if` without `else` where a value is required.
    fn no_value(&mut self, range: TextRange) {
        self.diagnostics.push(no_value_diagnostic(self.span(range)));
    }

    fn fn_decl(&mut self, it: &ast::FnDecl) -> FnHir {
        let mut params: Vec<ParamHir> = Vec::with_capacity(it.params.len());
        for p in &it.params {
            let name = Name::from(p.name.text.as_str());
            if let Some(first) = params.iter().find(|q| q.name == name) {
                self.diagnostics.push(
                    Diagnostic::error(Code::DUPLICATE_DEFINITION, format!("parameter `{name}` is declared twice"))
                        .with_primary(self.span(p.name.range), "declared again here")
                        .with_secondary(self.span(first.name_range), "first declared here"),
                );
            }
            // A duplicate is kept so the arity stays what the signature says.
            params.push(ParamHir { name, name_range: self.rel(p.name.range), ty: self.type_ref(&p.ty) });
        }
        FnHir {
            name: Name::from(it.name.text.as_str()),
            name_range: self.rel(it.name.range),
            params,
            ret: self.type_ref(&it.ret),
            body: Arc::new(self.expr(&it.body, 0)),
            range: self.rel(it.range),
        }
    }

    fn members(&mut self, members: &[ast::Member], is_schema: bool) -> Vec<MemberHir> {
        let mut out = Vec::new();
        for m in members {
            match m {
                ast::Member::Field(f) => {
                    if f.name.is_missing() {
                        continue;
                    }
                    out.push(MemberHir::Field(FieldHir {
                        name: Name::from(f.name.text.as_str()),
                        name_range: self.rel(f.name.range),
                        doc: f.doc.as_ref().map(|d| d.text.clone()),
                        locked: f.locked.map(|r| self.rel(r)),
                        ty: f.ty.as_ref().map(|t| self.type_ref(t)),
                        // An absent default leaves an optional field unset; whether the field
                        // is optional is known once the template model is built.
                        default: f.default.as_ref().map(|d| Arc::new(self.expr_in(d, 0, true))),
                        range: self.rel(f.range),
                    }))
                }
                ast::Member::Let(l) => {
                    if l.name.is_missing() {
                        continue;
                    }
                    out.push(MemberHir::Let(self.let_decl(l)))
                }
                ast::Member::Check(c) => out.push(MemberHir::Check(CheckHir {
                    cond: Arc::new(self.expr(&c.condition, 0)),
                    message: c.message.as_ref().map(|m| match m.as_plain() {
                        Some(text) => Name::from(text.as_str()),
                        None => Name::from("check failed"),
                    }),
                    range: self.rel(c.range),
                })),
                ast::Member::Emit(e) => {
                    if is_schema {
                        self.diagnostics.push(
                            Diagnostic::error(Code::EMIT_IN_SCHEMA, "a schema cannot emit objects")
                                .with_primary(self.span(e.range), "`emit` is only allowed in templates")
                                .with_help("declare a `template` to emit objects"),
                        );
                        continue;
                    }
                    out.push(MemberHir::Emit(EmitHir {
                        value: Arc::new(self.expr_in(&e.value, 0, true)),
                        range: self.rel(e.range),
                    }))
                }
                ast::Member::Error(_) => {}
            }
        }
        out
    }

    /// Lowers one entry of an app body or `in` block (`absent_ok`: an absent value leaves the
    /// field unset or skips the patch) or of an environment (a value is required).
    fn set(&mut self, entry: &ast::Entry, out: &mut Vec<SetHir>, absent_ok: bool) {
        match entry {
            ast::Entry::Field(f) => {
                let mut key = Vec::with_capacity(f.key.len());
                for k in &f.key {
                    match k {
                        ast::Key::Ident(id) => key.push((shared_name(id.text.as_str()), self.rel(id.range))),
                        ast::Key::Str(s) => match s.plain_text() {
                            Some(text) => key.push((shared_name(&text), self.rel(s.range))),
                            None => {
                                self.diagnostics.push(
                                    Diagnostic::error(Code::TYPE_MISMATCH, "a field name cannot be computed here")
                                        .with_primary(self.span(s.range), "interpolated key")
                                        .with_help("field names of instances and environments are fixed identifiers"),
                                );
                                return;
                            }
                        },
                    }
                }
                if key.is_empty() || key.iter().any(|(n, _)| n.is_empty()) {
                    return;
                }
                out.push(SetHir {
                    key: KeyPath::from(key),
                    value: Arc::new(self.expr_in(&f.value, 0, absent_ok)),
                    range: self.rel(f.range),
                });
            }
            ast::Entry::Comprehension(c) => self.diagnostics.push(
                Diagnostic::error(Code::TYPE_MISMATCH, "a comprehension cannot set fields here")
                    .with_primary(self.span(c.range), "comprehension in an instance body")
                    .with_help("wrap it in a field: `env = { k = v for k, v in m }`"),
            ),
            ast::Entry::Error(_) => {}
        }
    }

    fn too_deep(&mut self, range: TextRange) -> Expr {
        // One report per top-level expression: every branch below the limit would repeat it.
        if std::mem::replace(&mut self.deep_reported, true) {
            return Expr { kind: ExprKind::Error, range: self.rel(range) };
        }
        self.diagnostics.push(
            Diagnostic::error(Code::NESTING_TOO_DEEP, "expression is nested too deeply")
                .with_primary(self.span(range), format!("more than {MAX_EXPR_DEPTH} levels of nesting"))
                .with_help("split the expression into `let` bindings"),
        );
        Expr { kind: ExprKind::Error, range: self.rel(range) }
    }

    /// Lowers an expression whose value is required.
    fn expr(&mut self, e: &ast::Expr, depth: u32) -> Expr {
        self.expr_in(e, depth, false)
    }

    /// Lowers an expression; `absent_ok` says whether it stands where an absent value is left
    /// out (an object entry, a list item, an `emit`, a field value). An `if` without `else`
    /// anywhere else is K0201: reporting it by position, not only when its condition happens
    /// to be false, makes the mistake visible in every environment.
    fn expr_in(&mut self, e: &ast::Expr, depth: u32, absent_ok: bool) -> Expr {
        let range = e.range();
        if depth == 0 {
            self.deep_reported = false;
        }
        if depth > MAX_EXPR_DEPTH {
            return self.too_deep(range);
        }
        let d = depth + 1;
        let kind = match e {
            ast::Expr::Int { value, .. } => ExprKind::Int(*value),
            ast::Expr::Float { value, .. } => ExprKind::Float(value.0),
            ast::Expr::Bool { value, .. } => ExprKind::Bool(*value),
            ast::Expr::Null { .. } => ExprKind::Null,
            ast::Expr::Str(s) => self.string(s, d),
            ast::Expr::Name(id) => {
                if id.is_missing() {
                    ExprKind::Error
                } else {
                    ExprKind::Name(shared_name(id.text.as_str()))
                }
            }
            ast::Expr::Field { base, field, .. } => {
                if field.is_missing() {
                    ExprKind::Error
                } else {
                    ExprKind::Field(
                        Box::new(self.expr(base, d)),
                        shared_name(field.text.as_str()),
                        self.rel(field.range),
                    )
                }
            }
            ast::Expr::Index { base, index, .. } => {
                ExprKind::Index(Box::new(self.expr(base, d)), Box::new(self.expr(index, d)))
            }
            ast::Expr::Call { callee, args, .. } => match callee_name(callee) {
                Some(name) => ExprKind::Call(
                    shared_name(name.as_str()),
                    self.rel(callee.range()),
                    args.iter().map(|a| self.expr(a, d)).collect(),
                ),
                None => {
                    self.diagnostics.push(
                        Diagnostic::error(Code::UNKNOWN_FUNCTION, "only named functions can be called")
                            .with_primary(self.span(callee.range()), "not a function name"),
                    );
                    ExprKind::Error
                }
            },
            ast::Expr::Unary { op, operand, .. } => ExprKind::Unary((*op).into(), Box::new(self.expr(operand, d))),
            ast::Expr::Binary { op, lhs, rhs, .. } => {
                ExprKind::Binary((*op).into(), Box::new(self.expr(lhs, d)), Box::new(self.expr(rhs, d)))
            }
            ast::Expr::If { cond, then, otherwise, .. } => {
                if otherwise.is_none() && !absent_ok {
                    self.no_value(range);
                }
                ExprKind::If(
                    Box::new(self.expr(cond, d)),
                    Box::new(self.expr_in(then, d, absent_ok)),
                    otherwise.as_ref().map(|o| Box::new(self.expr_in(o, d, absent_ok))),
                )
            }
            ast::Expr::List { items, .. } => ExprKind::List(items.iter().map(|i| self.expr_in(i, d, true)).collect()),
            ast::Expr::ListComprehension { item, clause, .. } => {
                let item = self.expr_in(item, d, true);
                match self.clause(clause, d) {
                    Some(c) => ExprKind::ListComp(Box::new(item), Box::new(c)),
                    None => ExprKind::Error,
                }
            }
            ast::Expr::Object { entries, .. } => ExprKind::Object(self.entries(entries, d)),
            ast::Expr::Instantiate { path, entries, .. } => {
                ExprKind::Instantiate(Box::new(self.path(path)), self.entries(entries, d))
            }
            ast::Expr::Paren { inner, .. } => return self.expr_in(inner, depth, absent_ok),
            ast::Expr::Error(_) => ExprKind::Error,
        };
        Expr { kind, range: self.rel(range) }
    }

    /// A plain string's text, shared with an equal one earlier in the file: an app often says
    /// the same thing twice (`name = "svc-0001"`, `SERVICE_NAME = "svc-0001"`), and a large
    /// build holds the lowering until the app's batch. Only within one file (unlike
    /// [`shared_name`]): the evaluator clones string values, and a file's apps are evaluated on
    /// one thread. The first [`FILE_STRINGS`] strings are kept, so a long file costs at most
    /// that many comparisons a string.
    fn file_string(&mut self, text: &str) -> Name {
        if let Some(seen) = self.strings.iter().find(|s| ***s == *text) {
            return Name::clone(seen);
        }
        let name = Name::from(text);
        if self.strings.len() < FILE_STRINGS {
            self.strings.push(Name::clone(&name));
        }
        name
    }

    fn string(&mut self, s: &ast::StringLit, d: u32) -> ExprKind {
        if let Some(text) = s.plain_text() {
            return ExprKind::Str(self.file_string(&text));
        }
        let parts = s
            .parts
            .iter()
            .map(|p| match p {
                ast::StrPart::Text { text, .. } => InterpPart::Text(Name::from(text.as_str())),
                ast::StrPart::Interp(e) => InterpPart::Expr(self.expr(e, d)),
            })
            .collect();
        ExprKind::Interp(parts)
    }

    fn clause(&mut self, c: &ast::ForClause, d: u32) -> Option<Clause> {
        if c.first.is_missing() {
            return None;
        }
        Some(Clause {
            first: Name::from(c.first.text.as_str()),
            second: c.second.as_ref().filter(|s| !s.is_missing()).map(|s| Name::from(s.text.as_str())),
            source: self.expr(&c.source, d),
            cond: c.condition.as_ref().map(|e| self.expr(e, d)),
        })
    }

    fn entries(&mut self, entries: &[ast::Entry], d: u32) -> Vec<ObjEntry> {
        // Sized from the syntax, as an app's settings are.
        let mut out = Vec::with_capacity(entries.len());
        for entry in entries {
            match entry {
                ast::Entry::Field(f) => {
                    let key = f
                        .key
                        .iter()
                        .map(|k| match k {
                            ast::Key::Ident(id) => KeySeg::Static(shared_name(id.text.as_str()), self.rel(id.range)),
                            ast::Key::Str(s) => match s.plain_text() {
                                Some(text) => KeySeg::Static(shared_name(&text), self.rel(s.range)),
                                None => KeySeg::Computed(Box::new(Expr {
                                    kind: self.string(s, d),
                                    range: self.rel(s.range),
                                })),
                            },
                        })
                        .collect::<Box<[_]>>();
                    if key.is_empty() {
                        continue;
                    }
                    out.push(ObjEntry::Field { key, value: self.expr_in(&f.value, d, true), range: self.rel(f.range) });
                }
                ast::Entry::Comprehension(c) => {
                    let key = self.expr(&c.key, d);
                    let value = self.expr_in(&c.value, d, true);
                    if let Some(clause) = self.clause(&c.clause, d) {
                        out.push(ObjEntry::Comp {
                            key: Box::new(key),
                            value: Box::new(value),
                            clause: Box::new(clause),
                            range: self.rel(c.range),
                        });
                    }
                }
                ast::Entry::Error(_) => {}
            }
        }
        out
    }
}

/// K0201 for an `if` without `else` whose value is required at `at`; lowering, the static body
/// check and the evaluator use this one text, so a mistake found twice is reported once.
pub fn no_value_diagnostic(at: Span) -> Diagnostic {
    Diagnostic::error(Code::TYPE_MISMATCH, "`if` without `else` has no value here")
        .with_primary(at, "no value when the condition is false")
        .with_help(
            "add an `else` branch, or use it where an absent value is left out \
             (an object entry, a list item, an `emit`, an optional field)",
        )
}

/// The dotted name of a call's callee (`f`, `strings.upper`), if it is one.
fn callee_name(e: &ast::Expr) -> Option<String> {
    let mut parts = Vec::new();
    let mut cur = e;
    // The loop is bounded by the callee's own nesting, which the parser bounds.
    loop {
        match cur {
            ast::Expr::Name(id) => {
                parts.push(id.text.clone());
                break;
            }
            ast::Expr::Field { base, field, .. } => {
                parts.push(field.text.clone());
                cur = base;
            }
            _ => return None,
        }
    }
    parts.reverse();
    Some(parts.join("."))
}

/// Calls `f` with every bare name in `e` (no scopes: a cheap pre-check before resolution).
/// Nesting is bounded by lowering ([`MAX_EXPR_DEPTH`]), so the recursion is too.
pub fn visit_names(e: &Expr, f: &mut dyn FnMut(&Name)) {
    let entries = |entries: &[ObjEntry], f: &mut dyn FnMut(&Name)| {
        for en in entries {
            match en {
                ObjEntry::Field { key, value, .. } => {
                    for k in key {
                        if let KeySeg::Computed(x) = k {
                            visit_names(x, f);
                        }
                    }
                    visit_names(value, f);
                }
                ObjEntry::Comp { key, value, clause, .. } => {
                    visit_clause(clause, f);
                    visit_names(key, f);
                    visit_names(value, f);
                }
            }
        }
    };
    match &e.kind {
        ExprKind::Name(n) => f(n),
        ExprKind::Field(base, _, _) => visit_names(base, f),
        ExprKind::Index(a, b) | ExprKind::Binary(_, a, b) => {
            visit_names(a, f);
            visit_names(b, f);
        }
        ExprKind::Unary(_, a) => visit_names(a, f),
        ExprKind::If(c, t, other) => {
            visit_names(c, f);
            visit_names(t, f);
            if let Some(o) = other {
                visit_names(o, f);
            }
        }
        ExprKind::Interp(parts) => {
            for p in parts {
                if let InterpPart::Expr(x) = p {
                    visit_names(x, f);
                }
            }
        }
        ExprKind::Call(_, _, args) | ExprKind::List(args) => args.iter().for_each(|a| visit_names(a, f)),
        ExprKind::ListComp(item, clause) => {
            visit_clause(clause, f);
            visit_names(item, f);
        }
        ExprKind::Object(es) | ExprKind::Instantiate(_, es) => entries(es, f),
        _ => {}
    }
}

fn visit_clause(c: &Clause, f: &mut dyn FnMut(&Name)) {
    visit_names(&c.source, f);
    if let Some(cond) = &c.cond {
        visit_names(cond, f);
    }
}

/// An identifier as the lexer reads one (`[A-Za-z_][A-Za-z0-9_]*`): an app's name.
fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `v1`, `apps/v1`, `cert-manager.io/v1alpha2`: an optional DNS-like group, then a version.
fn is_api_version(text: &str) -> bool {
    let (group, version) = text.rsplit_once('/').unwrap_or(("", text));
    let group_ok = group.split('.').all(|label| {
        !label.is_empty() && label.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    }) || group.is_empty() && !text.contains('/');
    group_ok
        && version.starts_with('v')
        && version.len() > 1
        && version.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

/// A Kubernetes kind: an identifier starting with an upper-case letter.
fn is_kind(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase()) && chars.all(|c| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Salsa keeps every file's HIR for the whole run, and each expression node is as large
    /// as its largest variant: a new variant with a large inline payload would make every
    /// node of every file larger. Box the payload instead (see `Instantiate`, `Comp`).
    #[test]
    fn expression_nodes_stay_small() {
        assert_eq!(std::mem::size_of::<Expr>(), 56);
        assert_eq!(std::mem::size_of::<ObjEntry>(), 80);
        // A key segment is a name and its range; a computed one is boxed.
        assert_eq!(std::mem::size_of::<KeySeg>(), 24);
        // A setting holds a key of one segment inline.
        assert_eq!(std::mem::size_of::<KeyPath>(), 24);
        assert_eq!(std::mem::size_of::<SetHir>(), 40);
        // An empty table holds no block and is 16 bytes, against 56 for an empty `NameMap`.
        assert_eq!(std::mem::size_of::<NameTable<Arc<AppHir>>>(), 16);
    }

    /// A table answers as the insertion-ordered map it replaced, short (names compared in turn)
    /// and long (hashed): the same positions, values and order, a name given twice keeping its
    /// first place and its last value, lookups by `&str` and by `&Name`, absent names absent.
    #[test]
    fn a_name_table_answers_as_an_ordered_map() {
        for len in [0usize, 1, 2, 7, 8, 9, 17, 100] {
            // Every third name is given again later with another value.
            let mut entries: Vec<(Name, usize)> = (0..len).map(|i| (Name::from(format!("n{i}")), i)).collect();
            entries.extend((0..len).step_by(3).map(|i| (Name::from(format!("n{i}")), 1000 + i)));
            let mut map: NameMap<usize> = NameMap::default();
            for (n, v) in &entries {
                map.insert(n.clone(), *v);
            }
            let table = NameTable::from_entries(entries);
            assert_eq!(table.len(), map.len());
            assert_eq!(table.is_empty(), map.is_empty());
            let listed: Vec<(&Name, &usize)> = table.iter().collect();
            assert_eq!(listed, map.iter().collect::<Vec<_>>(), "len {len}");
            assert_eq!(table.keys().collect::<Vec<_>>(), map.keys().collect::<Vec<_>>());
            assert_eq!(table.values().collect::<Vec<_>>(), map.values().collect::<Vec<_>>());
            for (i, (n, v)) in map.iter().enumerate() {
                assert_eq!(table.get(&**n), Some(v));
                assert_eq!(table.get(n), Some(v));
                assert_eq!(table.get_index_of(&**n), Some(i));
                assert_eq!(table.get_index(i), Some((n, v)));
                assert!(table.contains_key(&**n));
            }
            for absent in ["", "n", "x1", "n1000"] {
                assert_eq!(table.get(absent), map.get(absent), "{absent}");
                assert_eq!(table.get_index_of(absent), map.get_index_of(absent));
            }
            assert_eq!(table.get_index(map.len()), None);
            assert_eq!(format!("{table:?}"), format!("{map:?}"));
        }
    }

    /// A shared name is its text, whatever took its slot before: a thousand names over 1,024
    /// slots collide, and each must still come back as written (a slot matched by hash alone
    /// would give another name's text). A name met again while its slot holds it is the same
    /// block; a name longer than the shared ones is its own copy.
    #[test]
    fn a_shared_name_is_its_text() {
        let texts: Vec<String> = (0..5000).map(|i| format!("k{}", i * 7919 % 10007)).collect();
        for _ in 0..2 {
            for t in &texts {
                assert_eq!(&*shared_name(t), t.as_str());
            }
        }
        let a = shared_name("metadata");
        let b = shared_name("metadata");
        assert!(Arc::ptr_eq(&a, &b));
        let long = "x".repeat(SHARED_NAME_MAX + 1);
        assert_eq!(&*shared_name(&long), long.as_str());
        assert!(!Arc::ptr_eq(&shared_name(&long), &shared_name(&long)));
        assert_eq!(&*shared_name(""), "");
    }
}
