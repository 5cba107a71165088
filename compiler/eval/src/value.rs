//! Runtime values of kdep programs, with per-entry provenance (source span and layer).
//!
//! Invariants and choices:
//!
//! * Cloning a [`Value`] is cheap: strings, lists and maps sit behind `Arc`, so the evaluator can
//!   share a template's defaults between thousands of instances. Mutation goes through
//!   [`Arc::make_mut`] (copy on write) in [`Value::map_mut`].
//! * Lists and maps record how deeply they nest ([`Value::depth`]) when they are built, so the
//!   evaluator can bound nesting ([`MAX_VALUE_DEPTH`]) in constant time per value: values shared
//!   through chains of `let`s would otherwise nest without limit, and every recursive walk
//!   (writers, equality, dropping) would follow.
//! * Records and maps are both [`Map`]: string keys in insertion order (what the user wrote is
//!   what the manifest shows), each entry carrying an [`Origin`] so `kdep explain` can tell which
//!   layer and line set a field. Layer names are `Arc<str>` so stamping an origin on every entry
//!   of every instance does not copy strings.
//! * Equality is by value: quantities and durations compare numerically (`1Gi == 1024Mi`), maps
//!   compare as sets of entries regardless of order, origins are ignored, and `Int(1)` is not
//!   `Float(1.0)` (the type checker keeps them apart; conversions are explicit).
//! * Every type here is `Send + Sync`.

use std::fmt::{self, Write as _};
use std::ops::Deref;
use std::sync::Arc;

use kdep_diag::Span;
use kdep_sema::duration::Duration;
use kdep_sema::model::TemplateModel;
use kdep_sema::quantity::Quantity;
use kdep_sema::ty::write_string_literal;

/// A runtime value.
#[derive(Clone, Debug)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Arc<str>),
    /// Boxed: a quantity is three times the size of the other variants, and every map entry
    /// holds a `Value`, so keeping it inline would triple the size of every entry.
    Quantity(Box<Quantity>),
    Duration(Duration),
    List(Arc<List>),
    /// Records (schema instances, emitted objects) and `{string: T}` maps alike.
    Map(Arc<Map>),
}

/// Which layer of the template hierarchy set a value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Layer {
    /// A default or locked value in the template that declares the field.
    TemplateDefault { template: Arc<str> },
    /// A default or locked value set by a template that extends another (`template A = B { ... }`).
    ExtendingTemplate { template: Arc<str> },
    /// A value set in an app instance body (`app checkout = WebService { ... }`).
    App { app: Arc<str> },
    /// A value set in an `in <env> { ... }` block of an app.
    Environment { app: Arc<str>, env: Arc<str> },
    /// Produced by an expression (`let`, `emit` bodies, operators) rather than set by a layer.
    Computed,
    /// Set by kdep itself: builtin results, `kdep import`ed data, and the namespace, labels and
    /// annotation stamped by [`crate::manifest::finalize`].
    Builtin,
}

impl Layer {
    /// A short human description, e.g. "app `checkout`" or "`production` values of app `checkout`".
    pub fn describe(&self) -> String {
        match self {
            Layer::TemplateDefault { template } => format!("template `{template}`"),
            Layer::ExtendingTemplate { template } => format!("extending template `{template}`"),
            Layer::App { app } => format!("app `{app}`"),
            Layer::Environment { app, env } => format!("`{env}` values of app `{app}`"),
            Layer::Computed => "computed".to_owned(),
            Layer::Builtin => "set by kdep".to_owned(),
        }
    }
}

/// Where a map entry's value came from.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Origin {
    /// The source range of the assignment or expression, if it has one.
    pub span: Option<Span>,
    pub layer: Layer,
}

impl Origin {
    pub fn new(span: Option<Span>, layer: Layer) -> Self {
        Origin { span, layer }
    }

    /// A computed value with no particular source range.
    pub fn computed() -> Self {
        Origin { span: None, layer: Layer::Computed }
    }

    /// A value set by kdep itself.
    pub fn builtin() -> Self {
        Origin { span: None, layer: Layer::Builtin }
    }
}

/// One map entry: the value and where it came from.
#[derive(Clone, Debug)]
pub struct Entry {
    pub value: Value,
    pub origin: Origin,
}

/// The deepest nesting of lists and maps a program may build: a scalar is 0 deep, `[1]` and
/// `{ a = 1 }` are 1 deep. Kubernetes objects stay below 20; the bound keeps every recursive
/// walk over values (writers, equality, conformance, dropping) shallow and the indentation of
/// written YAML small.
pub const MAX_VALUE_DEPTH: u32 = 200;

/// The items of a list value, with its nesting depth computed once when it is built.
#[derive(Clone, Debug, Default)]
pub struct List {
    items: Vec<Value>,
    depth: u32,
}

impl List {
    pub fn new(items: Vec<Value>) -> Self {
        let depth = 1 + items.iter().map(Value::depth).max().unwrap_or(0);
        List { items, depth }
    }
}

impl Deref for List {
    type Target = Vec<Value>;

    fn deref(&self) -> &Vec<Value> {
        &self.items
    }
}

/// The slot of a table of `slots` entries for the allocation at `addr`, for the per-thread
/// tables indexed by a text's address ([`own_key`], the writer's remembered quoting).
///
/// The address's low bits alone (as these tables first used) collide: the allocator carves
/// each size class from its own pages, and its pages are aligned alike, so the first texts of
/// different lengths sit at the same offsets in their pages, took the same slot and threw each
/// other out at every use (at N = 1000, 47 of the 110 keys and strings an app writes were
/// decided again; 23 with this slot, mostly the app's own texts, written once). Multiplying by
/// a large odd constant (Fibonacci hashing) lets every bit of the address decide the slot.
#[inline]
pub(crate) fn address_slot(addr: usize, slots: usize) -> usize {
    // Allocations are at least 8-byte aligned: the three low bits say nothing.
    let mixed = ((addr as u64) >> 3).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
    (mixed as usize) % slots.max(1)
}

/// Slots of a thread's table of own keys ([`own_key`]): keys written in sources are few (the
/// benchmark's three objects use about 40), and a key whose slot another takes is copied again.
const OWN_KEY_SLOTS: usize = 512;

/// A slot of the table: the lowered key, held so its address names it, and once it was seen
/// twice, this thread's own copy.
type OwnKeySlot = Option<(Arc<str>, Option<Arc<str>>)>;

std::thread_local! {
    /// This thread's own copies of the map keys taken from a program's text (see [`own_key`]).
    static OWN_KEYS: std::cell::RefCell<[OwnKeySlot; OWN_KEY_SLOTS]> =
        const { std::cell::RefCell::new([const { None }; OWN_KEY_SLOTS]) };
}

/// `key` (a key as lowered from a program's text) as an `Arc<str>` whose reference count only
/// this thread writes, once this thread has used it before.
///
/// The keys of a literal (`metadata`, `name`, `labels`) are `Arc<str>`s of the lowered file,
/// and a template's file is lowered once for every app: every object of every app used to
/// clone and drop the same few `Arc`s, so both threads of a build wrote the same reference
/// counts, and the cache line holding each count (and the key's text, which every lookup of
/// the key compares) moved between the cores at each write. The table is direct-mapped by the
/// key's address and holds the lowered key, so an address names the same text for as long as
/// it is there; a key met once (an app's own field) is returned as it is, a key met again gets
/// this thread's copy. Equal text, equal key: a map's keys, order and output do not depend on
/// which copy it holds.
pub fn own_key(key: &Arc<str>) -> Arc<str> {
    OWN_KEYS.with(|slots| {
        let mut slots = slots.borrow_mut();
        let i = address_slot(Arc::as_ptr(key).cast::<u8>() as usize, OWN_KEY_SLOTS);
        let Some(slot) = slots.get_mut(i) else { return Arc::clone(key) };
        match slot {
            Some((lowered, own)) if Arc::ptr_eq(lowered, key) => {
                Arc::clone(own.get_or_insert_with(|| Arc::from(&**key)))
            }
            slot => {
                *slot = Some((Arc::clone(key), None));
                Arc::clone(key)
            }
        }
    })
}

/// The most entries a [`Map`] keeps in a plain vector, found by comparing keys in turn.
///
/// Nearly every map a program builds is small: an emitted object's records and label maps
/// have 1 to 8 keys. A hash table per map cost a second allocation (aligned, the slow path of
/// the allocator), a hash of every key inserted or looked up, and its index bytes; comparing
/// at most this many keys, most of them told apart by their length, costs less. A map that
/// grows past it gets a hash index of its keys' positions, so a lookup is never slower than
/// a short scan (a comprehension building 100,000 keys is not quadratic).
pub(crate) const SMALL_MAP: usize = 8;

/// The entries of a [`Map`] in insertion order, and past [`SMALL_MAP`] entries a hash index
/// of their positions. Iterating is walking the vector whatever the size (the writers and
/// the sizing walk iterate every map of every object).
#[derive(Clone, Debug, Default)]
struct Entries {
    list: Vec<(Arc<str>, Entry)>,
    /// The position of every key, once the map has had more than [`SMALL_MAP`] entries.
    index: Option<Box<rustc_hash::FxHashMap<Arc<str>, usize>>>,
}

impl Entries {
    #[inline]
    fn with_capacity(n: usize) -> Self {
        Entries { list: Vec::with_capacity(n), index: None }
    }

    #[inline]
    fn len(&self) -> usize {
        self.list.len()
    }

    #[inline]
    fn position(&self, key: &str) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(key).copied(),
            None => self.list.iter().position(|(k, _)| **k == *key),
        }
    }

    #[inline]
    fn get(&self, key: &str) -> Option<&Entry> {
        let i = self.position(key)?;
        self.list.get(i).map(|(_, e)| e)
    }

    #[inline]
    fn get_mut(&mut self, key: &str) -> Option<&mut Entry> {
        let i = self.position(key)?;
        self.list.get_mut(i).map(|(_, e)| e)
    }

    /// Appends an entry whose key is not in the map, indexing the map when it grows past
    /// [`SMALL_MAP`].
    #[inline]
    fn push(&mut self, key: Arc<str>, entry: Entry) {
        if self.index.is_some() || self.list.len() >= SMALL_MAP {
            self.index_next(&key);
        }
        self.list.push((key, entry));
    }

    /// Notes the position of `key`, about to be appended, in the index, which is built the
    /// first time the map grows past [`SMALL_MAP`].
    #[cold]
    fn index_next(&mut self, key: &Arc<str>) {
        let at = self.list.len();
        let list = &self.list;
        let index = self.index.get_or_insert_with(|| {
            let mut index = rustc_hash::FxHashMap::with_capacity_and_hasher(2 * (at + 1), Default::default());
            for (i, (k, _)) in list.iter().enumerate() {
                index.insert(Arc::clone(k), i);
            }
            Box::new(index)
        });
        index.insert(Arc::clone(key), at);
    }

    /// Sets `key` as `IndexMap::insert` does: an existing key keeps its position (and its
    /// `Arc`), a new one is appended.
    #[inline]
    fn insert(&mut self, key: Arc<str>, entry: Entry) -> Option<Entry> {
        if let Some(i) = self.position(&key) {
            return self.list.get_mut(i).map(|(_, old)| std::mem::replace(old, entry));
        }
        self.push(key, entry);
        None
    }

    /// Appends `key` unless it is present; `false` (and nothing changed) when it is.
    #[inline]
    fn insert_new(&mut self, key: &str, make: impl FnOnce() -> (Arc<str>, Entry)) -> bool {
        if self.position(key).is_some() {
            return false;
        }
        let (k, e) = make();
        self.push(k, e);
        true
    }

    /// Removes `key`, keeping the order of the others (as `IndexMap::shift_remove`).
    #[inline]
    fn shift_remove(&mut self, key: &str) -> Option<Entry> {
        let i = self.position(key)?;
        if let Some(index) = &mut self.index {
            index.remove(key);
            for at in index.values_mut() {
                if *at > i {
                    *at -= 1;
                }
            }
        }
        Some(self.list.remove(i).1)
    }

    #[inline]
    fn iter(&self) -> std::iter::Map<std::slice::Iter<'_, (Arc<str>, Entry)>, EntryRef> {
        self.list.iter().map(entry_ref)
    }
}

/// A key and its entry, borrowed from a map's vector.
type EntryRef = for<'a> fn(&'a (Arc<str>, Entry)) -> (&'a Arc<str>, &'a Entry);

#[inline]
fn entry_ref(pair: &(Arc<str>, Entry)) -> (&Arc<str>, &Entry) {
    (&pair.0, &pair.1)
}

/// An insertion-ordered map from string keys to [`Entry`]s.
///
/// Replacing the value of an existing key keeps the key's position.
#[derive(Clone, Debug, Default)]
pub struct Map {
    entries: Entries,
    /// The deepest value inserted so far (removals leave it, so it is an upper bound).
    inner_depth: u32,
    /// The schema this map is a checked record of, set when a record is built and cleared by
    /// every change, so a value carrying it has passed that schema's (narrower) checks as it
    /// is. Conformance accepts it as is where that schema or one it extends or composes is
    /// expected. Equality ignores it.
    record: Option<Arc<TemplateModel>>,
}

impl Map {
    pub fn new() -> Self {
        Map::default()
    }

    pub fn with_capacity(n: usize) -> Self {
        Map { entries: Entries::with_capacity(n), inner_depth: 0, record: None }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.len() == 0
    }

    #[inline]
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries.get(key).map(|e| &e.value)
    }

    /// The map's own key equal to `key`, and its value.
    #[inline]
    pub fn get_key_value(&self, key: &str) -> Option<(&Arc<str>, &Value)> {
        let (k, e) = self.entries.list.get(self.entries.position(key)?)?;
        Some((k, &e.value))
    }

    #[inline]
    pub fn get_entry(&self, key: &str) -> Option<&Entry> {
        self.entries.get(key)
    }

    /// Mutable access to an entry. The map's depth is not updated: a caller that may nest a
    /// value deeper uses [`Map::update`].
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Entry> {
        self.record = None;
        self.entries.get_mut(key)
    }

    /// Runs `f` on the entry of `key`, then accounts for the depth of its new value.
    pub fn update<R>(&mut self, key: &str, f: impl FnOnce(&mut Entry) -> R) -> Option<R> {
        self.record = None;
        let entry = self.entries.get_mut(key)?;
        let out = f(entry);
        self.inner_depth = self.inner_depth.max(entry.value.depth());
        Some(out)
    }

    /// How deeply this map nests: 1 plus the depth of its deepest value.
    pub fn depth(&self) -> u32 {
        self.inner_depth.saturating_add(1)
    }

    #[inline]
    pub fn contains_key(&self, key: &str) -> bool {
        self.entries.get(key).is_some()
    }

    /// Sets `key`, keeping its position if present (appending otherwise); returns the old entry.
    pub fn insert(&mut self, key: impl Into<Arc<str>>, value: Value, origin: Origin) -> Option<Entry> {
        self.record = None;
        self.inner_depth = self.inner_depth.max(value.depth());
        self.entries.insert(key.into(), Entry { value, origin })
    }

    pub fn insert_entry(&mut self, key: impl Into<Arc<str>>, entry: Entry) -> Option<Entry> {
        self.record = None;
        self.inner_depth = self.inner_depth.max(entry.value.depth());
        self.entries.insert(key.into(), entry)
    }

    /// Appends `key` with `value` unless the map has it already: `false`, and nothing changed,
    /// when it does. The key is made only when it is appended (one scan, where
    /// [`Map::contains_key`] and [`Map::insert`] make two).
    #[inline]
    pub fn insert_new(&mut self, key: &str, make_key: impl FnOnce() -> Arc<str>, value: Value, origin: Origin) -> bool {
        let depth = value.depth();
        let added = self.entries.insert_new(key, || (make_key(), Entry { value, origin }));
        if added {
            self.record = None;
            self.inner_depth = self.inner_depth.max(depth);
        }
        added
    }

    /// Removes `key`, keeping the order of the remaining entries.
    pub fn remove(&mut self, key: &str) -> Option<Entry> {
        self.record = None;
        self.entries.shift_remove(key)
    }

    /// The schema this map is a checked record of (see the field's docs), if unchanged since.
    pub fn record(&self) -> Option<&Arc<TemplateModel>> {
        self.record.as_ref()
    }

    /// Marks this map as a record of `model` that has passed its checks.
    pub fn set_record(&mut self, model: Arc<TemplateModel>) {
        self.record = Some(model);
    }

    /// Keys and values in insertion order.
    #[inline]
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &Value)> + '_ {
        self.entries.iter().map(|(k, e)| (&**k, &e.value))
    }

    /// Keys and entries (with origins) in insertion order.
    #[inline]
    pub fn entries(&self) -> impl ExactSizeIterator<Item = (&Arc<str>, &Entry)> + '_ {
        self.entries.iter()
    }

    #[inline]
    pub fn keys(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.entries.iter().map(|(k, _)| &**k)
    }

    #[inline]
    pub fn values(&self) -> impl ExactSizeIterator<Item = &Value> + '_ {
        self.entries.iter().map(|(_, e)| &e.value)
    }

    /// Right-biased shallow merge (`self + other`): keys of `self` keep their position, values
    /// and origins from `other` win, keys only in `other` are appended in its order.
    pub fn merge(&self, other: &Map) -> Map {
        let mut out = self.clone();
        out.record = None;
        for (k, e) in other.entries.iter() {
            out.entries.insert(k.clone(), e.clone());
        }
        out.inner_depth = out.inner_depth.max(other.inner_depth);
        out
    }
}

impl PartialEq for Map {
    /// Maps are equal when they have the same keys with equal values, in any order.
    fn eq(&self, other: &Self) -> bool {
        maps_equal(self, other, &mut SharedPairs::default())
    }
}

/// Pairs of shared lists or maps (by address) already found equal during one comparison.
///
/// Values share their lists and maps, so a few `let`s that each pair up the previous value
/// build a tree with 2^n leaves in n nodes; comparing two such trees built separately visited
/// every leaf. Remembering equal pairs makes each pair of nodes compare once. The set is only
/// allocated when two distinct collections are compared.
/// It also counts the work done (values visited, plus string bytes compared in
/// [`STRING_BYTES_PER_UNIT`] units), which the evaluator charges to its step budget.
#[derive(Default)]
struct SharedPairs(Option<rustc_hash::FxHashSet<(usize, usize)>>, u64);

impl SharedPairs {
    fn contains(&self, pair: (usize, usize)) -> bool {
        self.0.as_ref().is_some_and(|set| set.contains(&pair))
    }

    fn insert(&mut self, pair: (usize, usize)) {
        self.0.get_or_insert_with(Default::default).insert(pair);
    }
}

/// How many bytes of string work count as one unit of work (one evaluation step): copying,
/// scanning or hashing 16 bytes takes about as long as evaluating one small expression.
pub const STRING_BYTES_PER_UNIT: usize = 16;

/// Units of work for handling `n` bytes of string (see [`STRING_BYTES_PER_UNIT`]).
pub fn string_work(n: usize) -> u64 {
    (n / STRING_BYTES_PER_UNIT) as u64
}

fn maps_equal(a: &Map, b: &Map, seen: &mut SharedPairs) -> bool {
    a.len() == b.len() && a.entries.iter().all(|(k, e)| b.get(k).is_some_and(|v| values_equal(&e.value, v, seen)))
}

fn values_equal(a: &Value, b: &Value, seen: &mut SharedPairs) -> bool {
    seen.1 += 1;
    match (a, b) {
        (Value::List(x), Value::List(y)) => {
            let pair = (Arc::as_ptr(x) as usize, Arc::as_ptr(y) as usize);
            if Arc::ptr_eq(x, y) || seen.contains(pair) {
                return true;
            }
            let equal = x.len() == y.len() && x.iter().zip(y.iter()).all(|(a, b)| values_equal(a, b, seen));
            if equal {
                seen.insert(pair);
            }
            equal
        }
        (Value::Map(x), Value::Map(y)) => {
            let pair = (Arc::as_ptr(x) as usize, Arc::as_ptr(y) as usize);
            if Arc::ptr_eq(x, y) || seen.contains(pair) {
                return true;
            }
            let equal = maps_equal(x, y, seen);
            if equal {
                seen.insert(pair);
            }
            equal
        }
        (Value::Str(x), Value::Str(y)) => {
            if x.len() == y.len() {
                seen.1 += string_work(x.len());
            }
            x == y
        }
        _ => a == b,
    }
}

impl FromIterator<(Arc<str>, Entry)> for Map {
    fn from_iter<I: IntoIterator<Item = (Arc<str>, Entry)>>(iter: I) -> Self {
        let mut entries = Entries::default();
        for (k, e) in iter {
            entries.insert(k, e);
        }
        // The depth of the values kept, as collecting into an `IndexMap` counted it (a value
        // replaced by a later one of the same key does not count).
        let inner_depth = entries.iter().map(|(_, e)| e.value.depth()).max().unwrap_or(0);
        Map { entries, inner_depth, record: None }
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a == b,
            (Value::Str(a), Value::Str(b)) => a == b,
            (Value::Quantity(a), Value::Quantity(b)) => a == b,
            (Value::Duration(a), Value::Duration(b)) => a == b,
            (Value::List(_), Value::List(_)) | (Value::Map(_), Value::Map(_)) => {
                values_equal(self, other, &mut SharedPairs::default())
            }
            _ => false,
        }
    }
}

/// Largest [`Value::written_size`] of one emitted object: far above what the Kubernetes API
/// server stores in one object (about 1.5 MiB), far below what exhausts memory.
pub const MAX_OBJECT_BYTES: usize = 64 * 1024 * 1024;

impl Value {
    pub fn str(s: impl Into<Arc<str>>) -> Value {
        Value::Str(s.into())
    }

    /// `self == other`, and the work the comparison did (values visited, string bytes in
    /// [`STRING_BYTES_PER_UNIT`] units), for callers that bound work.
    pub fn eq_counting(&self, other: &Value) -> (bool, u64) {
        let mut seen = SharedPairs::default();
        let equal = values_equal(self, other, &mut seen);
        (equal, seen.1)
    }

    /// This value without map entries whose value is null, at any depth; `None` when it has
    /// none (nothing is copied then). kdep never writes `key: null`: an unset optional field is
    /// absent from the output, as it is from records. List items are kept, null or not: their
    /// position is data. Visits every node, so run it only on values whose written size is
    /// bounded (shared subtrees are visited once per place they appear), or through
    /// [`Value::without_null_entries_within`], which bounds it.
    pub fn without_null_entries(&self) -> Option<Value> {
        self.sized_without_nulls(&mut 0, usize::MAX, 0)
    }

    /// [`Value::without_null_entries`] of a value whose [`Value::written_size`] is at most
    /// `limit`, or `Err` with the size counted so far (past `limit`) when it is larger: both
    /// questions answered in one walk, which stops as soon as the count passes `limit` (every
    /// emitted object is sized and cleaned of nulls; two walks cost twice).
    pub fn without_null_entries_within(&self, limit: usize) -> Result<Option<Value>, usize> {
        let mut acc = 0;
        let out = self.sized_without_nulls(&mut acc, limit, 0);
        if acc > limit {
            Err(acc)
        } else {
            Ok(out)
        }
    }

    /// [`Value::sized_without_nulls`] of a list item or map value: a scalar is counted here,
    /// as that walk counts it, without a call per leaf (most of an object's nodes are leaves).
    #[inline]
    fn sized_without_nulls_inner(&self, acc: &mut usize, limit: usize, level: usize) -> Option<Value> {
        match self {
            Value::Str(s) => {
                *acc = acc.saturating_add(s.len() + 2);
                None
            }
            Value::List(_) | Value::Map(_) => self.sized_without_nulls(acc, limit, level),
            _ => {
                *acc = acc.saturating_add(8);
                None
            }
        }
    }

    /// The walk of [`Value::without_null_entries`], counting into `acc` what
    /// [`Value::add_written_size`] counts, in the same order and with the same early stop, so
    /// that `acc` passes `limit` exactly when the written size does.
    fn sized_without_nulls(&self, acc: &mut usize, limit: usize, level: usize) -> Option<Value> {
        let line = 2 * (level + 1) + 4;
        match self {
            Value::Str(s) => {
                *acc = acc.saturating_add(s.len() + 2);
                None
            }
            Value::List(items) => {
                *acc = acc.saturating_add(2 + line);
                let mut out: Option<Vec<Value>> = None;
                for (i, item) in items.iter().enumerate() {
                    if *acc > limit {
                        return None;
                    }
                    *acc = acc.saturating_add(line);
                    if let Some(new) = item.sized_without_nulls_inner(acc, limit, level + 1) {
                        let out = out.get_or_insert_with(|| items.to_vec());
                        if let Some(slot) = out.get_mut(i) {
                            *slot = new;
                        }
                    }
                }
                out.map(Value::list)
            }
            Value::Map(map) => {
                *acc = acc.saturating_add(2 + line);
                let mut out: Option<Map> = None;
                for (i, (key, entry)) in map.entries().enumerate() {
                    if *acc > limit {
                        return None;
                    }
                    *acc = acc.saturating_add(key.len() + 2 + line);
                    // A null value is a short token to the count and has nothing inside.
                    let new = entry.value.sized_without_nulls_inner(acc, limit, level + 1);
                    if entry.value.is_null() || new.is_some() {
                        let out = out.get_or_insert_with(|| {
                            let mut m = Map::with_capacity(map.len());
                            for (k, e) in map.entries().take(i) {
                                m.insert_entry(k.clone(), e.clone());
                            }
                            m
                        });
                        if let Some(value) = new {
                            out.insert(key.clone(), value, entry.origin.clone());
                        }
                    } else if let Some(out) = &mut out {
                        out.insert_entry(key.clone(), entry.clone());
                    }
                }
                out.map(Value::map)
            }
            // Numbers, quantities and durations: a short token each.
            _ => {
                *acc = acc.saturating_add(8);
                None
            }
        }
    }

    /// Roughly how many bytes writing this value out takes, counting a shared list, map or
    /// string at every place it appears, as the writers do, and the indentation of every line
    /// (two spaces per level, as YAML and pretty JSON indent), which grows with the square of
    /// the depth. Lists and maps share their contents, so a few `let`s that each double the
    /// previous value have an exponential written size in linear memory; counting stops as
    /// soon as it passes `limit`, which keeps this check linear too. The result is only
    /// meaningful up to `limit`.
    pub fn written_size(&self, limit: usize) -> usize {
        let mut acc = 0;
        self.add_written_size(&mut acc, limit, 0);
        acc
    }

    fn add_written_size(&self, acc: &mut usize, limit: usize, level: usize) {
        // Each item or entry takes a line: indentation, a dash or `: ` and a comma, a line
        // break; so does a closing bracket in JSON.
        let line = 2 * (level + 1) + 4;
        match self {
            Value::Str(s) => *acc = acc.saturating_add(s.len() + 2),
            Value::List(items) => {
                *acc = acc.saturating_add(2 + line);
                for item in items.iter() {
                    if *acc > limit {
                        return;
                    }
                    *acc = acc.saturating_add(line);
                    item.add_written_size(acc, limit, level + 1);
                }
            }
            Value::Map(map) => {
                *acc = acc.saturating_add(2 + line);
                for (key, value) in map.iter() {
                    if *acc > limit {
                        return;
                    }
                    *acc = acc.saturating_add(key.len() + 2 + line);
                    value.add_written_size(acc, limit, level + 1);
                }
            }
            // Numbers, quantities and durations: a short token each.
            _ => *acc = acc.saturating_add(8),
        }
    }

    pub fn list(items: Vec<Value>) -> Value {
        Value::List(Arc::new(List::new(items)))
    }

    /// How deeply lists and maps nest in this value (0 for scalars); see [`MAX_VALUE_DEPTH`].
    pub fn depth(&self) -> u32 {
        match self {
            Value::List(items) => items.depth,
            Value::Map(map) => map.depth(),
            _ => 0,
        }
    }

    pub fn map(map: Map) -> Value {
        Value::Map(Arc::new(map))
    }

    pub fn empty_map() -> Value {
        Value::map(Map::new())
    }

    /// The type's name as the language spells it, for messages ("expected int, found string").
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "string",
            Value::Quantity(_) => "quantity",
            Value::Duration(_) => "duration",
            Value::List(_) => "list",
            Value::Map(_) => "map",
        }
    }

    /// A map entry's value; `None` for missing keys and for non-maps.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_map()?.get(key)
    }

    /// Follows a path of map keys (`["metadata", "name"]`).
    pub fn get_path(&self, path: &[&str]) -> Option<&Value> {
        path.iter().try_fold(self, |v, k| v.get(k))
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&Map> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// Mutable access to a map value, copying it first if it is shared.
    pub fn map_mut(&mut self) -> Option<&mut Map> {
        match self {
            Value::Map(m) => Some(Arc::make_mut(m)),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// `self + other` for two maps (right-biased shallow merge); `None` unless both are maps.
    pub fn merge(&self, other: &Value) -> Option<Value> {
        Some(Value::map(self.as_map()?.merge(other.as_map()?)))
    }

    /// A one-line rendering of at most about `max` characters, eliding the rest with `…`:
    /// `25`, `"huge"`, `{ name = "web", replicas = 3, … }`. Callers add backticks.
    pub fn render_short(&self) -> String {
        self.render_bounded(60)
    }

    /// Like [`Value::render_short`] with an explicit budget.
    pub fn render_bounded(&self, max: usize) -> String {
        let mut out = String::new();
        render_bounded(self, max.max(8), &mut out);
        out
    }

    /// A plain-data JSON view (insertion order kept). Quantities and durations become the
    /// strings Kubernetes expects ([`Quantity::as_written`]); non-finite floats are an error.
    pub fn to_json(&self) -> Result<serde_json::Value, String> {
        to_json(self)
    }
}

/// Converts to JSON data; see [`Value::to_json`].
pub fn to_json(value: &Value) -> Result<serde_json::Value, String> {
    Ok(match value {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Int(n) => serde_json::Value::from(*n),
        Value::Float(x) => serde_json::Number::from_f64(*x)
            .map(serde_json::Value::Number)
            .ok_or_else(|| format!("the float `{x}` has no JSON representation"))?,
        Value::Str(s) => serde_json::Value::String(s.to_string()),
        Value::Quantity(q) => match q.written_int() {
            Some(n) => serde_json::Value::from(n),
            None => serde_json::Value::String(q.as_written()),
        },
        Value::Duration(d) => serde_json::Value::String(d.as_written()),
        Value::List(items) => serde_json::Value::Array(items.iter().map(to_json).collect::<Result<_, _>>()?),
        Value::Map(map) => {
            let mut obj = serde_json::Map::with_capacity(map.len());
            for (k, v) in map.iter() {
                obj.insert(k.to_owned(), to_json(v)?);
            }
            serde_json::Value::Object(obj)
        }
    })
}

/// Converts JSON data to a value (numbers become `Int` when they fit an `i64`, `Float`
/// otherwise); every entry gets `origin`.
pub fn from_json(json: &serde_json::Value, origin: &Origin) -> Value {
    match json {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Value::str(s.as_str()),
        serde_json::Value::Array(items) => Value::list(items.iter().map(|v| from_json(v, origin)).collect()),
        serde_json::Value::Object(obj) => {
            let mut map = Map::with_capacity(obj.len());
            for (k, v) in obj {
                map.insert(k.as_str(), from_json(v, origin), origin.clone());
            }
            Value::map(map)
        }
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Value::Int(n)
    }
}

impl From<f64> for Value {
    fn from(x: f64) -> Self {
        Value::Float(x)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(Arc::from(s))
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(Arc::from(s))
    }
}

impl From<Quantity> for Value {
    fn from(q: Quantity) -> Self {
        Value::Quantity(Box::new(q))
    }
}

impl From<Duration> for Value {
    fn from(d: Duration) -> Self {
        Value::Duration(d)
    }
}

impl From<Vec<Value>> for Value {
    fn from(items: Vec<Value>) -> Self {
        Value::list(items)
    }
}

impl From<Map> for Value {
    fn from(map: Map) -> Self {
        Value::map(map)
    }
}

/// Whether `key` can be written unquoted as a kdep identifier.
fn is_identifier(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn write_float(out: &mut String, x: f64) {
    // Debug keeps a decimal point (`1.0`), so the rendering reads back as a float.
    let _ = write!(out, "{x:?}");
}

fn write_key(out: &mut String, key: &str) {
    if is_identifier(key) {
        out.push_str(key);
    } else {
        write_string_literal(out, key);
    }
}

/// Full rendering in kdep literal syntax.
fn render_full(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Float(x) => write_float(out, *x),
        Value::Str(s) => write_string_literal(out, s),
        // Quantities and durations are written as string literals in kdep sources.
        Value::Quantity(q) => write_string_literal(out, &q.as_written()),
        Value::Duration(d) => write_string_literal(out, &d.as_written()),
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                render_full(item, out);
            }
            out.push(']');
        }
        Value::Map(map) if map.is_empty() => out.push_str("{}"),
        Value::Map(map) => {
            out.push_str("{ ");
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_key(out, k);
                out.push_str(" = ");
                render_full(v, out);
            }
            out.push_str(" }");
        }
    }
}

/// Appends `s` cut to `max` characters, ending in `…` when cut.
fn push_truncated(out: &mut String, s: &str, max: usize) {
    if s.chars().count() <= max {
        out.push_str(s);
    } else {
        out.extend(s.chars().take(max.saturating_sub(1)));
        out.push('…');
    }
}

fn render_bounded(value: &Value, max: usize, out: &mut String) {
    match value {
        Value::List(items) if !items.is_empty() => {
            out.push('[');
            let mut used = 2;
            for (i, item) in items.iter().enumerate() {
                let sep = if i > 0 { ", " } else { "" };
                let mut part = String::new();
                render_bounded(item, max.saturating_sub(used + sep.len() + 3).max(4), &mut part);
                let n = part.chars().count() + sep.len();
                if used + n > max {
                    out.push_str(sep);
                    out.push('…');
                    break;
                }
                out.push_str(sep);
                out.push_str(&part);
                used += n;
            }
            out.push(']');
        }
        Value::Map(map) if !map.is_empty() => {
            out.push_str("{ ");
            let mut used = 4;
            for (i, (k, v)) in map.iter().enumerate() {
                let sep = if i > 0 { ", " } else { "" };
                let mut part = String::new();
                write_key(&mut part, k);
                part.push_str(" = ");
                let room = max.saturating_sub(used + sep.len() + part.chars().count() + 3).max(4);
                render_bounded(v, room, &mut part);
                let n = part.chars().count() + sep.len();
                if used + n > max {
                    out.push_str(sep);
                    out.push('…');
                    break;
                }
                out.push_str(sep);
                out.push_str(&part);
                used += n;
            }
            out.push_str(" }");
        }
        _ => {
            let mut full = String::new();
            render_full(value, &mut full);
            push_truncated(out, &full, max);
        }
    }
}

impl fmt::Display for Value {
    /// The complete value in kdep literal syntax (`{ a = 1, "b.c" = [true] }`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        render_full(self, &mut out);
        f.write_str(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use indexmap::IndexMap;
    use rustc_hash::FxBuildHasher;

    fn q(s: &str) -> Value {
        Value::from(Quantity::parse(s).unwrap_or_else(|e| panic!("{e}")))
    }

    fn map(entries: &[(&str, Value)]) -> Value {
        let mut m = Map::new();
        for (k, v) in entries {
            m.insert(*k, v.clone(), Origin::computed());
        }
        Value::map(m)
    }

    #[test]
    fn values_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Value>();
        check::<Map>();
        check::<Origin>();
    }

    #[test]
    fn null_entries_are_left_out_at_any_depth_and_list_items_kept() {
        let clean = map(&[("a", 1.into()), ("l", Value::list(vec![map(&[("x", 2.into())])]))]);
        assert!(clean.without_null_entries().is_none(), "nothing to remove: nothing is copied");
        let v = map(&[
            ("a", Value::Null),
            ("b", 1.into()),
            ("c", map(&[("d", Value::Null), ("e", 2.into())])),
            ("l", Value::list(vec![Value::Null, map(&[("f", Value::Null), ("g", 3.into())])])),
        ]);
        let out = v.without_null_entries().unwrap_or(Value::Null);
        let expected = map(&[
            ("b", 1.into()),
            ("c", map(&[("e", 2.into())])),
            ("l", Value::list(vec![Value::Null, map(&[("g", 3.into())])])),
        ]);
        assert_eq!(out, expected);
        let keys: Vec<&str> = out.as_map().map(|m| m.keys().collect()).unwrap_or_default();
        assert_eq!(keys, ["b", "c", "l"], "order is kept");
    }

    #[test]
    fn equality_is_by_value() {
        assert_eq!(q("1Gi"), q("1024Mi"));
        assert_ne!(Value::Int(1), Value::Float(1.0));
        assert_eq!(map(&[("a", 1.into()), ("b", 2.into())]), map(&[("b", 2.into()), ("a", 1.into())]));
        assert_ne!(map(&[("a", 1.into())]), map(&[("a", 1.into()), ("b", 2.into())]));
        let mut with_origin = Map::new();
        with_origin.insert("a", Value::Int(1), Origin::new(None, Layer::App { app: "x".into() }));
        assert_eq!(Value::map(with_origin), map(&[("a", 1.into())]));
    }

    #[test]
    fn equality_of_shared_trees_is_fast() {
        // Two separately built trees of 2^60 leaves in 60 nodes each: comparing them used to
        // visit every leaf.
        let doubling = |leaf: &str| {
            let mut v = Value::list(vec![Value::from(leaf)]);
            for i in 0..60 {
                let mut m = Map::new();
                m.insert("l", v.clone(), Origin::computed());
                m.insert("r", v, Origin::computed());
                v = if i % 2 == 0 { Value::map(m) } else { Value::list(vec![Value::map(m.clone()), Value::map(m)]) };
            }
            v
        };
        assert_eq!(doubling("x"), doubling("x"));
        assert_ne!(doubling("x"), doubling("y"));
    }

    #[test]
    fn map_keeps_insertion_order_and_position_on_replace() {
        let mut m = Map::new();
        m.insert("z", 1.into(), Origin::computed());
        m.insert("a", 2.into(), Origin::computed());
        m.insert("z", 3.into(), Origin::builtin());
        assert_eq!(m.keys().collect::<Vec<_>>(), ["z", "a"]);
        assert_eq!(m.get("z"), Some(&Value::Int(3)));
        assert_eq!(m.get_entry("z").map(|e| &e.origin.layer), Some(&Layer::Builtin));
        m.remove("z");
        assert_eq!(m.keys().collect::<Vec<_>>(), ["a"]);
    }

    #[test]
    fn depth_is_tracked_as_values_are_built() {
        assert_eq!(Value::Int(1).depth(), 0);
        assert_eq!(Value::list(vec![]).depth(), 1);
        let inner = map(&[("a", Value::list(vec![Value::list(vec![Value::Int(1)])]))]);
        assert_eq!(inner.depth(), 3);
        let mut outer = map(&[("x", Value::Int(1)), ("y", Value::empty_map())]);
        assert_eq!(outer.depth(), 2);
        // Nesting a deeper value into an existing entry is seen through `update`.
        let m = outer.map_mut().unwrap();
        m.update("y", |e| e.value.map_mut().unwrap().insert("z", inner.clone(), Origin::computed()));
        assert_eq!(outer.depth(), 5);
        assert_eq!(map(&[]).merge(&outer).map(|v| v.depth()), Some(5));
    }

    #[test]
    fn merge_is_right_biased_and_shallow() {
        let left = map(&[("a", 1.into()), ("b", map(&[("x", 1.into())])), ("c", 3.into())]);
        let right = map(&[("b", map(&[("y", 2.into())])), ("d", 4.into())]);
        let merged = left.merge(&right).unwrap_or(Value::Null);
        assert_eq!(merged.to_string(), "{ a = 1, b = { y = 2 }, c = 3, d = 4 }");
        assert_eq!(Value::Int(1).merge(&right), None);
    }

    #[test]
    fn copy_on_write() {
        let a = map(&[("a", 1.into())]);
        let mut b = a.clone();
        if let Some(m) = b.map_mut() {
            m.insert("b", 2.into(), Origin::computed());
        }
        assert_eq!(a.as_map().map(Map::len), Some(1));
        assert_eq!(b.as_map().map(Map::len), Some(2));
    }

    #[test]
    fn display_uses_kdep_syntax() {
        let v = map(&[
            ("name", "web".into()),
            ("app.kubernetes.io/name", "x\"y\n${z}".into()),
            ("cpu", q("500m")),
            ("ratio", 1.0.into()),
            ("tags", Value::list(vec![true.into(), Value::Null])),
            ("empty", Value::empty_map()),
        ]);
        assert_eq!(
            v.to_string(),
            r#"{ name = "web", "app.kubernetes.io/name" = "x\"y\n\${z}", cpu = "500m", ratio = 1.0, tags = [true, null], empty = {} }"#
        );
    }

    #[test]
    fn render_short_truncates() {
        assert_eq!(Value::Int(25).render_short(), "25");
        assert_eq!(Value::from("huge").render_short(), "\"huge\"");
        let long: Vec<Value> = (0..100).map(Value::Int).collect();
        let s = Value::list(long).render_short();
        assert!(s.chars().count() <= 64, "{s}");
        assert!(s.ends_with(", …]"), "{s}");
        let m = map(&[("name", "a".repeat(100).into()), ("b", 1.into())]);
        let s = m.render_short();
        assert!(s.chars().count() <= 64, "{s}");
        assert!(s.starts_with("{ name = \"aaa"), "{s}");
        let s = Value::from("x".repeat(200)).render_short();
        assert_eq!(s.chars().count(), 60);
        assert!(s.ends_with('…'));
    }

    #[test]
    fn json_view() {
        let v = map(&[("b", 1.into()), ("a", q("1.5Gi")), ("f", 2.5.into()), ("l", Value::list(vec![Value::Null]))]);
        let json = v.to_json().unwrap_or_default();
        assert_eq!(json.to_string(), r#"{"b":1,"a":"1.5Gi","f":2.5,"l":[null]}"#);
        assert!(Value::Float(f64::NAN).to_json().is_err());
        assert_eq!(
            from_json(&json, &Origin::builtin()),
            map(&[("b", 1.into()), ("a", "1.5Gi".into()), ("f", 2.5.into()), ("l", Value::list(vec![Value::Null]))])
        );
    }

    /// A key met twice on a thread becomes that thread's own copy, and stays the same copy:
    /// the reference counts a thread then writes are its own.
    #[test]
    fn a_key_met_again_is_this_threads_own_copy() {
        let lowered: Arc<str> = Arc::from("metadata");
        let first = own_key(&lowered);
        assert!(Arc::ptr_eq(&first, &lowered), "a key met once is returned as it is");
        let own = own_key(&lowered);
        assert_eq!(&*own, "metadata");
        assert!(!Arc::ptr_eq(&own, &lowered), "a key met again is copied");
        assert!(Arc::ptr_eq(&own, &own_key(&lowered)), "one copy per thread");
        // Another thread gets its own copy of the same lowered key.
        let shared = Arc::clone(&lowered);
        let (theirs, again) = std::thread::spawn(move || {
            own_key(&shared);
            (own_key(&shared), own_key(&shared))
        })
        .join()
        .unwrap();
        assert_eq!(&*theirs, "metadata");
        assert!(Arc::ptr_eq(&theirs, &again));
        assert!(!Arc::ptr_eq(&theirs, &own) && !Arc::ptr_eq(&theirs, &lowered));
    }

    /// The attack on a table keyed by address: keys dropped and allocated again land at the
    /// addresses of earlier ones (the allocator reuses a freed block of the same size at once),
    /// with other text. A table that remembered only the address would hand out the earlier
    /// key's copy; holding the lowered key keeps its address from being reused.
    #[test]
    fn a_key_at_the_address_of_a_dropped_one_keeps_its_own_text() {
        for i in 0..2000 {
            let text = format!("key{i:05}");
            let lowered: Arc<str> = Arc::from(text.as_str());
            assert_eq!(&*own_key(&lowered), text);
            assert_eq!(&*own_key(&lowered), text);
            assert_eq!(&*own_key(&lowered), text);
        }
    }

    /// One operation on a map, for the model test below.
    #[derive(Clone, Debug)]
    enum Op {
        Insert(usize, i64, bool),
        InsertNew(usize, i64),
        Remove(usize),
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        // Keys of one length and of several, so scans compare equal lengths too.
        let key = 0..(2 * SMALL_MAP + 4);
        prop_oneof![
            4 => (key.clone(), any::<i64>(), any::<bool>()).prop_map(|(k, v, b)| Op::Insert(k, v, b)),
            2 => (key.clone(), any::<i64>()).prop_map(|(k, v)| Op::InsertNew(k, v)),
            1 => key.prop_map(Op::Remove),
        ]
    }

    fn key_text(k: usize) -> String {
        if k.is_multiple_of(3) {
            format!("k{k:02}")
        } else {
            format!("key-{k}")
        }
    }

    proptest::proptest! {
        /// The attack on keeping small maps in a vector: every sequence of inserts, replaces,
        /// conditional inserts and removals, crossing the size where a map moves to a hash
        /// table and back under it, leaves the keys, their order, values, origins, lookups
        /// and equality exactly as an `IndexMap` (the representation before) leaves them. A
        /// replace that appended, a move that lost the order, a removal that swapped the last
        /// entry in, or a conditional insert that replaced fails it.
        #[test]
        fn a_map_behaves_as_an_insertion_ordered_hash_map(ops in proptest::collection::vec(op(), 0..80)) {
            let mut map = Map::new();
            let mut model: IndexMap<String, (i64, bool), FxBuildHasher> = IndexMap::default();
            for op in &ops {
                match *op {
                    Op::Insert(k, v, builtin) => {
                        let origin = if builtin { Origin::builtin() } else { Origin::computed() };
                        let old = map.insert(key_text(k), Value::Int(v), origin).map(|e| e.value);
                        let expected = model.insert(key_text(k), (v, builtin)).map(|(v, _)| Value::Int(v));
                        proptest::prop_assert_eq!(old, expected);
                    }
                    Op::InsertNew(k, v) => {
                        let text = key_text(k);
                        let added = map.insert_new(&text, || Arc::from(text.as_str()), Value::Int(v), Origin::computed());
                        let absent = !model.contains_key(&text);
                        if absent {
                            model.insert(text, (v, false));
                        }
                        proptest::prop_assert_eq!(added, absent);
                    }
                    Op::Remove(k) => {
                        let old = map.remove(&key_text(k)).map(|e| e.value);
                        let expected = model.shift_remove(&key_text(k)).map(|(v, _)| Value::Int(v));
                        proptest::prop_assert_eq!(old, expected);
                    }
                }
                proptest::prop_assert_eq!(map.len(), model.len());
                let keys: Vec<&str> = map.keys().collect();
                let expected: Vec<&str> = model.keys().map(String::as_str).collect();
                proptest::prop_assert_eq!(keys, expected);
            }
            for k in 0..(2 * SMALL_MAP + 4) {
                let text = key_text(k);
                let got = map.get_entry(&text).map(|e| (e.value.clone(), e.origin.layer == Layer::Builtin));
                let expected = model.get(&text).map(|&(v, b)| (Value::Int(v), b));
                proptest::prop_assert_eq!(got, expected);
                proptest::prop_assert_eq!(map.contains_key(&text), model.contains_key(&text));
            }
            let values: Vec<Value> = map.values().cloned().collect();
            let expected: Vec<Value> = model.values().map(|&(v, _)| Value::Int(v)).collect();
            proptest::prop_assert_eq!(values, expected);
            // Collected from its entries in reverse: equal as a value, with the reverse order.
            let reversed: Map = map.entries().rev_collect();
            proptest::prop_assert_eq!(Value::map(reversed.clone()), Value::map(map.clone()));
            let mut back: Vec<&str> = reversed.keys().collect();
            back.reverse();
            proptest::prop_assert_eq!(back, map.keys().collect::<Vec<_>>());
        }
    }

    fn value_tree() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<i64>().prop_map(Value::Int),
            any::<bool>().prop_map(Value::Bool),
            "[a-z]{0,12}".prop_map(Value::str),
        ];
        leaf.prop_recursive(4, 64, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::list),
                proptest::collection::vec(("[a-c]{1,3}", inner), 0..10).prop_map(|entries| {
                    let mut m = Map::new();
                    for (k, v) in entries {
                        m.insert(k, v, Origin::computed());
                    }
                    Value::map(m)
                }),
            ]
        })
    }

    proptest::proptest! {
        /// Sizing an emitted object while dropping its null entries counts what
        /// `written_size` counts, leaf by leaf, and stops where it stops: an object is refused
        /// exactly when its written size passes the bound, with the same count, and one that
        /// is kept loses exactly its null entries. A walk that counted a leaf differently (a
        /// string as a short token, a null as its text) fails it.
        #[test]
        fn sizing_without_nulls_counts_as_the_written_size(v in value_tree(), limit in 0usize..400) {
            let size = v.written_size(limit);
            match v.without_null_entries_within(limit) {
                Err(counted) => {
                    proptest::prop_assert!(size > limit);
                    proptest::prop_assert_eq!(counted, size);
                }
                Ok(out) => {
                    proptest::prop_assert!(size <= limit, "{} > {}", size, limit);
                    proptest::prop_assert_eq!(out.is_some(), v.without_null_entries().is_some());
                    if let Some(out) = out {
                        proptest::prop_assert_eq!(Some(out), v.without_null_entries());
                    }
                }
            }
        }
    }

    /// Collecting the entries of an iterator in reverse order (for the model test).
    trait RevCollect<'a> {
        fn rev_collect(self) -> Map;
    }

    impl<'a, I: Iterator<Item = (&'a Arc<str>, &'a Entry)>> RevCollect<'a> for I {
        fn rev_collect(self) -> Map {
            let mut all: Vec<(Arc<str>, Entry)> = self.map(|(k, e)| (k.clone(), e.clone())).collect();
            all.reverse();
            all.into_iter().collect()
        }
    }

    /// Collecting entries with a key given twice keeps the first position and the last value,
    /// and the depth of the values kept, as collecting into an `IndexMap` did.
    #[test]
    fn collecting_a_key_twice_keeps_its_first_place_and_last_value() {
        let deep = Value::list(vec![Value::list(vec![Value::Int(1)])]);
        let entry = |v: Value| Entry { value: v, origin: Origin::computed() };
        let mut items: Vec<(Arc<str>, Entry)> = vec![("a".into(), entry(deep)), ("b".into(), entry(Value::Int(2)))];
        for i in 0..(SMALL_MAP + 2) {
            items.push((format!("x{i}").into(), entry(Value::Int(0))));
        }
        items.push(("a".into(), entry(Value::Int(3))));
        let small: Map = items.iter().take(2).cloned().chain(items.last().cloned()).collect();
        assert_eq!(small.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(small.get("a"), Some(&Value::Int(3)));
        assert_eq!(small.depth(), 1, "the replaced list does not count");
        let large: Map = items.into_iter().collect();
        assert_eq!(large.len(), SMALL_MAP + 4);
        assert_eq!(large.keys().next(), Some("a"));
        assert_eq!(large.get("a"), Some(&Value::Int(3)));
        assert_eq!(large.depth(), 1);
    }
}
