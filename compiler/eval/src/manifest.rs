//! Emitted Kubernetes objects: namespace assignment, kdep labels and annotations, stable ordering.
//!
//! [`Manifest::from_object`] leaves out map entries whose value is null (an optional field left
//! unset) at any depth ([`Value::without_null_entries`]): kdep writes absent, never `key: null`.
//!
//! [`finalize`] turns the objects every app emitted into the build's output:
//!
//! 1. **Namespace.** A namespaced object without `metadata.namespace` gets the environment's
//!    namespace. Whether a kind is cluster-scoped is [`Manifest::cluster_scoped`], which the
//!    evaluator takes from the `@resource(scope = ...)` of the kind's schema
//!    (`kdep_sema::resources`); a kind without a schema is treated as namespaced.
//! 2. **Ownership stamps.** kdep owns the labels `app.kubernetes.io/managed-by: kdep` and
//!    `app.kubernetes.io/instance: <app>` and the annotation `kdep.dev/source: <file:line>`
//!    (and `kdep.dev/apply-after: <apps>` for an app declared `@after` others).
//!    They are always set, overwriting a value the user wrote, because `kdep apply` prunes by
//!    exactly these labels: letting a template change them would let it hide objects from
//!    pruning or claim another app's objects. New keys go after the existing ones.
//! 3. **Duplicates.** Two objects with the same API group, kind, namespace and name would
//!    overwrite each other in the cluster; the second and later ones are reported as
//!    `K0407 duplicate-object` (labelled with both sources) and dropped.
//! 4. **Order.** Namespaces first (so a fresh cluster can take the stream in one `kubectl
//!    apply`), then by kind, namespace (cluster-scoped first) and name, comparing bytes; the
//!    sort is stable, so objects equal in all three keep their emission order.

use kdep_diag::{Code, Diagnostic, Span};
use rustc_hash::FxHashMap;

use crate::value::{Layer, Map, Origin, Value, MAX_OBJECT_BYTES};

/// The label saying which tool manages an object.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// The label naming the app an object belongs to.
pub const INSTANCE_LABEL: &str = "app.kubernetes.io/instance";
/// The annotation naming the source of the app that emitted the object.
pub const SOURCE_ANNOTATION: &str = "kdep.dev/source";
/// The annotation listing the apps (their instance labels, comma-separated) the app that
/// emitted the object is applied after (`@after`); absent when it declares none. `kdep apply`
/// reads it to apply in waves.
pub const APPLY_AFTER_ANNOTATION: &str = "kdep.dev/apply-after";
/// The value of [`MANAGED_BY_LABEL`].
pub const MANAGER: &str = "kdep";

/// One emitted Kubernetes object with what the build needs to know about it.
#[derive(Clone, Debug)]
pub struct Manifest {
    /// The object itself, always a [`Value::Map`].
    pub object: Value,
    pub api_version: String,
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace` after [`finalize`]; `None` for cluster-scoped kinds.
    pub namespace: Option<String>,
    /// The kind lives outside namespaces (`@resource(scope = "Cluster")` of its schema); set
    /// by the evaluator, `false` from [`Manifest::from_object`].
    pub cluster_scoped: bool,
    /// The app that emitted it.
    pub app: String,
    /// The app declaration.
    pub source: Span,
    /// `<path>:<line>` of the app declaration, e.g. `teams/shop/checkout.kdep:3`.
    pub source_display: String,
    /// The value of [`APPLY_AFTER_ANNOTATION`] (`db,cache`), empty when the app declares no
    /// `@after`; set by the evaluator.
    pub apply_after: String,
}

/// Why an emitted value cannot become a manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ObjectError {
    /// Not an object with string `apiVersion`, `kind` and `metadata.name` (`K0406 invalid-emit`).
    Invalid(String),
    /// Too large to write out (`K0404 evaluation-limit`).
    TooLarge(String),
}

impl std::fmt::Display for ObjectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ObjectError::Invalid(m) | ObjectError::TooLarge(m) => f.write_str(m),
        }
    }
}

impl From<String> for ObjectError {
    fn from(message: String) -> Self {
        ObjectError::Invalid(message)
    }
}

impl Manifest {
    /// Builds a manifest from an emitted object, reading `apiVersion`, `kind`, `metadata.name`
    /// and `metadata.namespace` from it. The error says what is wrong.
    pub fn from_object(object: Value, app: &str, source: Span, source_display: &str) -> Result<Manifest, ObjectError> {
        let Some(map) = object.as_map() else {
            return Err(ObjectError::Invalid(format!(
                "an emitted value must be an object, found {}",
                object.type_name()
            )));
        };
        // The dotted path is only spelled out for a message.
        let field = |path: &[&str]| -> Result<String, String> {
            let dotted = || path.join(".");
            match object.get_path(path) {
                Some(Value::Str(s)) if !s.is_empty() => Ok(s.to_string()),
                Some(Value::Str(_)) => Err(format!("`{}` of an emitted object is empty", dotted())),
                Some(other) => {
                    Err(format!("`{}` of an emitted object must be a string, found {}", dotted(), other.type_name()))
                }
                None => Err(format!("an emitted object has no `{}`", dotted())),
            }
        };
        let api_version = field(&["apiVersion"])?;
        let kind = field(&["kind"])?;
        if map.get("metadata").and_then(Value::as_map).is_none() {
            return Err(ObjectError::Invalid("an emitted object has no `metadata` object".to_owned()));
        }
        let name = field(&["metadata", "name"])?;
        let namespace = object.get_path(&["metadata", "namespace"]).and_then(Value::as_str).map(str::to_owned);
        // One walk sizes the object (bounded: it stops past the limit) and drops its null
        // entries. Null entries cannot hold the identity read above, so removing them changes
        // none of it.
        let object = match object.without_null_entries_within(MAX_OBJECT_BYTES) {
            Ok(cleaned) => cleaned.unwrap_or(object),
            Err(_) => {
                return Err(ObjectError::TooLarge(format!(
                    "an emitted object is too large: written out, it would exceed {} MiB (values shared \
                     between fields count once per place they appear)",
                    MAX_OBJECT_BYTES / (1024 * 1024)
                )))
            }
        };
        Ok(Manifest {
            object,
            api_version,
            kind,
            name,
            namespace,
            cluster_scoped: false,
            app: app.to_owned(),
            source,
            source_display: source_display.to_owned(),
            apply_after: String::new(),
        })
    }

    /// The API group (`apps` for `apps/v1`, empty for the core group's `v1`).
    pub fn group(&self) -> &str {
        api_group(&self.api_version)
    }

    /// `Kind namespace/name` or `Kind name`, for messages.
    pub fn describe(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} `{}/{}`", self.kind, ns, self.name),
            None => format!("{} `{}`", self.kind, self.name),
        }
    }
}

/// The group part of an `apiVersion`.
pub fn api_group(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(group, _)| group)
}

/// An emitted object's identity, what [`finalize`] orders and deduplicates by: a whole
/// [`Manifest`], or a [`RenderedObject`] whose value is already written out.
pub trait Emitted {
    fn api_version(&self) -> &str;
    fn kind(&self) -> &str;
    fn namespace(&self) -> Option<&str>;
    fn name(&self) -> &str;
    fn app(&self) -> &str;
    fn source(&self) -> Span;
}

/// Both kinds of emitted object carry their identity in fields of the same names.
macro_rules! impl_emitted {
    ($($t:ty),*) => {$(
        impl Emitted for $t {
            fn api_version(&self) -> &str {
                &self.api_version
            }
            fn kind(&self) -> &str {
                &self.kind
            }
            fn namespace(&self) -> Option<&str> {
                self.namespace.as_deref()
            }
            fn name(&self) -> &str {
                &self.name
            }
            fn app(&self) -> &str {
                &self.app
            }
            fn source(&self) -> Span {
                self.source
            }
        }
    )*};
}

impl_emitted!(Manifest, ObjectIdentity);

/// What `kdep check` keeps of an emitted object: its identity once stamped, enough to find
/// duplicates ([`order_and_deduplicate`]) without holding the object's value or text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectIdentity {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    /// `metadata.namespace` once stamped; `None` for cluster-scoped kinds.
    pub namespace: Option<String>,
    pub app: String,
    pub source: Span,
}

impl ObjectIdentity {
    /// The identity `m` has once stamped for an environment with namespace `env_namespace`:
    /// the same as its [`RenderedObject`]'s or its [`finalize`]d manifest's.
    pub fn of(m: &Manifest, env_namespace: Option<&str>) -> ObjectIdentity {
        ObjectIdentity {
            api_version: m.api_version.clone(),
            kind: m.kind.clone(),
            name: m.name.clone(),
            namespace: Stamp::new(m, env_namespace).object_namespace(m),
            app: m.app.clone(),
            source: m.source,
        }
    }
}

/// An emitted object already finalised and written out (YAML or JSON) on its own; its value
/// was dropped once written, so a build holds text, not value trees. See
/// [`crate::build_rendered`].
///
/// A build keeps one of these per object until the last app is written (the output is in
/// global order), so its identity is one exact-length allocation rather than five `String`s
/// (120 bytes of headers and five small blocks an object, about 60 MB at 300,000 objects).
#[derive(Clone, Debug)]
pub struct RenderedObject {
    /// api version, kind, name, namespace and app, one after another (lengths in `ends`).
    identity: Box<str>,
    /// Where each part of `identity` ends.
    ends: [u32; 5],
    /// Whether the object has a namespace (an empty one is still one).
    namespaced: bool,
    pub source: Span,
    /// [`crate::emit::object_text`] of the stamped object, at its exact length (a `Box<str>`
    /// has no capacity to keep; it turns into a `String` without copying).
    pub text: Box<str>,
}

impl RenderedObject {
    /// Writes a manifest out with kdep's stamps applied while writing (the tree is not copied).
    pub fn render(m: &Manifest, env_namespace: Option<&str>, format: crate::emit::Format) -> RenderedObject {
        let stamp = Stamp::new(m, env_namespace);
        let namespace = stamp.object_namespace(m);
        let parts = [&m.api_version[..], &m.kind, &m.name, namespace.as_deref().unwrap_or(""), &m.app];
        let mut identity = String::with_capacity(parts.iter().map(|p| p.len()).sum());
        let mut ends = [0u32; 5];
        for (end, part) in ends.iter_mut().zip(parts) {
            identity.push_str(part);
            // An object's text is bounded by `MAX_OBJECT_BYTES`, its identity far below 4 GiB.
            *end = u32::try_from(identity.len()).unwrap_or(u32::MAX);
        }
        RenderedObject {
            identity: identity.into_boxed_str(),
            ends,
            namespaced: namespace.is_some(),
            source: m.source,
            text: crate::emit::object_text(&m.object, Some(&stamp), format).into_boxed_str(),
        }
    }

    /// Part `k` of the identity (see `ends`).
    fn part(&self, k: usize) -> &str {
        let start = if k == 0 { 0 } else { self.ends.get(k - 1).copied().unwrap_or(0) as usize };
        let end = self.ends.get(k).copied().unwrap_or(0) as usize;
        self.identity.get(start..end).unwrap_or("")
    }
}

impl Emitted for RenderedObject {
    fn api_version(&self) -> &str {
        self.part(0)
    }
    fn kind(&self) -> &str {
        self.part(1)
    }
    fn namespace(&self) -> Option<&str> {
        self.namespaced.then(|| self.part(3))
    }
    fn name(&self) -> &str {
        self.part(2)
    }
    fn app(&self) -> &str {
        self.part(4)
    }
    fn source(&self) -> Span {
        self.source
    }
}

/// What kdep sets on every emitted object (module documentation, step 2): the one statement of
/// these rules, applied to a value by [`finalize`] and while writing by
/// [`crate::emit::object_text`], which must give the same bytes (a test checks it).
#[derive(Clone, Debug)]
pub struct Stamp<'a> {
    /// Set as `metadata.namespace` when the object has none and its kind is namespaced.
    pub namespace: Option<&'a str>,
    /// Set in `metadata.labels`, overwriting; a missing or non-map `labels` becomes a new map
    /// after the other keys.
    pub labels: [(&'static str, &'a str); 2],
    /// Set in `metadata.annotations`, likewise: the source, then the apply order when the app
    /// declares one.
    pub annotations: Vec<(&'static str, &'a str)>,
}

impl<'a> Stamp<'a> {
    pub fn new(m: &'a Manifest, env_namespace: Option<&'a str>) -> Stamp<'a> {
        let has_namespace = m.object.get_path(&["metadata", "namespace"]).is_some();
        Stamp {
            namespace: if m.cluster_scoped || has_namespace { None } else { env_namespace },
            labels: [(MANAGED_BY_LABEL, MANAGER), (INSTANCE_LABEL, &m.app)],
            annotations: if m.apply_after.is_empty() {
                vec![(SOURCE_ANNOTATION, &m.source_display)]
            } else {
                vec![(SOURCE_ANNOTATION, &m.source_display), (APPLY_AFTER_ANNOTATION, &m.apply_after)]
            },
        }
    }

    /// The object's namespace once stamped.
    fn object_namespace(&self, m: &Manifest) -> Option<String> {
        if m.cluster_scoped {
            return None;
        }
        match m.object.get_path(&["metadata", "namespace"]) {
            Some(v) => v.as_str().map(str::to_owned),
            None => self.namespace.map(str::to_owned),
        }
    }
}

/// Sets namespaces, stamps kdep's labels and annotation, drops and reports duplicates, and
/// sorts; see the module documentation. `namespace` is the environment's, if any.
pub fn finalize(mut manifests: Vec<Manifest>, namespace: Option<&str>) -> (Vec<Manifest>, Vec<Diagnostic>) {
    for m in &mut manifests {
        stamp_manifest(m, namespace);
    }
    order_and_deduplicate(manifests)
}

/// Steps 3 and 4 of [`finalize`] for objects already stamped.
pub fn order_and_deduplicate<T: Emitted>(objects: Vec<T>) -> (Vec<T>, Vec<Diagnostic>) {
    let (keep, diagnostics) = find_duplicates(&objects.iter().collect::<Vec<_>>());
    let mut keep = keep.into_iter();
    let out: Vec<T> = objects.into_iter().filter(|_| keep.next().unwrap_or(true)).collect();
    (in_output_order(out), diagnostics)
}

/// The diagnostics of [`order_and_deduplicate`] alone (what `check` reports), without ordering
/// the objects: `check` keeps no output, and sorting every identity of a package was most of
/// its one-thread duplicate check.
pub fn duplicate_diagnostics<T: Emitted>(objects: &[&T]) -> Vec<Diagnostic> {
    find_duplicates(objects).1
}

/// Which objects to keep (the first of each (group, kind, namespace, name)) and a diagnostic
/// for every later one, in input order.
fn find_duplicates<T: Emitted>(objects: &[&T]) -> (Vec<bool>, Vec<Diagnostic>) {
    find_duplicates_hashed(objects, hash_key)
}

/// [`find_duplicates`] with the hash given, so a test can make every key collide.
fn find_duplicates_hashed<T: Emitted>(objects: &[&T], hash: fn(&Key<'_>) -> u64) -> (Vec<bool>, Vec<Diagnostic>) {
    let mut diagnostics = Vec::new();
    let mut keep = vec![true; objects.len()];
    // Hash of (group, kind, namespace, name) → index of the first object with it. A build
    // holds this map beside every object's text; keyed by the four strings it was 72 bytes
    // an entry (38 MB at 300,000 objects), keyed by their hash 16. Two different keys with
    // one hash are told apart by comparing the keys; the later one goes to `spilled`.
    let mut seen: FxHashMap<u64, usize> = FxHashMap::default();
    seen.reserve(objects.len());
    let mut spilled: FxHashMap<Key<'_>, usize> = FxHashMap::default();
    for (i, m) in objects.iter().enumerate() {
        let k = key(*m);
        let first = match seen.entry(hash(&k)) {
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(i);
                None
            }
            std::collections::hash_map::Entry::Occupied(slot) => {
                let at = *slot.get();
                if objects.get(at).is_some_and(|o| key(*o) == k) {
                    Some(at)
                } else {
                    match spilled.entry(k) {
                        std::collections::hash_map::Entry::Vacant(slot) => {
                            slot.insert(i);
                            None
                        }
                        std::collections::hash_map::Entry::Occupied(slot) => Some(*slot.get()),
                    }
                }
            }
        };
        if let Some(first) = first.and_then(|f| objects.get(f)) {
            diagnostics.push(duplicate(*first, *m));
            if let Some(k) = keep.get_mut(i) {
                *k = false;
            }
        }
    }
    (keep, diagnostics)
}

/// What makes two objects the same object: (API group, kind, namespace, name).
type Key<'a> = (&'a str, &'a str, Option<&'a str>, &'a str);

fn key<T: Emitted>(m: &T) -> Key<'_> {
    (api_group(m.api_version()), m.kind(), m.namespace(), m.name())
}

/// The hash [`find_duplicates`] keys its map with.
fn hash_key(key: &Key<'_>) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault};
    BuildHasherDefault::<rustc_hash::FxHasher>::default().hash_one(key)
}

/// Namespaces first, then by kind, namespace and name; equal keys keep their input order.
/// The keys are computed once per object rather than at every comparison, and made cheap to
/// compare: kinds and namespaces (a few distinct ones among thousands of objects) by their
/// rank among the distinct values, names by their first 16 bytes as one integer before the
/// whole names. Sorting string tuples compared three strings per step, most of the sequential
/// work of ordering a large build's output.
fn in_output_order<T: Emitted>(objects: Vec<T>) -> Vec<T> {
    let positions = output_positions(&objects);
    // Moved into place by swaps along each cycle of the permutation, rather than into a
    // second list: a build holds every object until this point, and a second list of them
    // was the largest allocation at its end.
    let mut objects = objects;
    let mut placed = vec![false; positions.len()];
    for start in 0..positions.len() {
        let mut at = start;
        while !placed.get(at).copied().unwrap_or(true) {
            if let Some(p) = placed.get_mut(at) {
                *p = true;
            }
            let from = positions.get(at).copied().unwrap_or(start);
            if from == start {
                break;
            }
            objects.swap(at, from);
            at = from;
        }
    }
    objects
}

/// The order of [`in_output_order`] as positions: the `k`th object of the output is
/// `objects[positions[k]]`. A total order on each object's identity and its position among
/// `objects` only (ranks order as the strings do), so any part of a build's objects, sorted
/// by it, is in the order the whole output gives that part (`crate::held` keeps each batch's
/// texts in this order and reads them back once each).
pub(crate) fn output_positions<T: Emitted>(objects: &[T]) -> Vec<usize> {
    let kinds = ranks(objects.iter().map(|m| m.kind()));
    let namespaces = ranks(objects.iter().filter_map(|m| m.namespace()));
    let mut order: Vec<(u64, u128, &str, usize)> = objects
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let is_ns = m.kind() == "Namespace" && api_group(m.api_version()).is_empty();
            let kind = kinds.get(m.kind()).copied().unwrap_or(0);
            // No namespace sorts before any namespace, as `None` before `Some`.
            let namespace = m.namespace().and_then(|n| namespaces.get(n)).map_or(0, |r| u64::from(*r) + 1);
            let group = (u64::from(!is_ns) << 63) | (u64::from(kind) << 32) | namespace;
            (group, name_prefix(m.name()), m.name(), i)
        })
        .collect();
    // The index last makes every key distinct, so an unstable sort keeps input order on ties.
    order.sort_unstable();
    order.into_iter().map(|(.., i)| i).collect()
}

/// Each distinct string's rank in the sorted list of the distinct strings (below 2^31, so a
/// rank and a flag fit the top half of a `u64`).
fn ranks<'a>(values: impl Iterator<Item = &'a str>) -> FxHashMap<&'a str, u32> {
    let mut distinct: Vec<&str> = values.collect::<rustc_hash::FxHashSet<&str>>().into_iter().collect();
    distinct.sort_unstable();
    distinct
        .into_iter()
        .enumerate()
        .map(|(i, v)| (v, u32::try_from(i).unwrap_or(u32::MAX >> 1).min(u32::MAX >> 1)))
        .collect()
}

/// The first 16 bytes of `name` as a big-endian integer, zero-padded: two names whose prefixes
/// differ compare as their prefixes do (a shorter name is padded with zeros, which sort first),
/// and names with equal prefixes are compared whole.
fn name_prefix(name: &str) -> u128 {
    let mut bytes = [0u8; 16];
    let n = name.len().min(16);
    if let (Some(to), Some(from)) = (bytes.get_mut(..n), name.as_bytes().get(..n)) {
        to.copy_from_slice(from);
    }
    u128::from_be_bytes(bytes)
}

fn duplicate(first: &impl Emitted, again: &impl Emitted) -> Diagnostic {
    let describe = |m: &dyn Emitted| match m.namespace() {
        Some(ns) => format!("{} `{}/{}`", m.kind(), ns, m.name()),
        None => format!("{} `{}`", m.kind(), m.name()),
    };
    let by = |m: &dyn Emitted| format!("by app `{}`", m.app());
    Diagnostic::error(Code::DUPLICATE_OBJECT, format!("{} is emitted twice", describe(again)))
        .with_primary(again.source(), format!("emitted again here ({})", by(again)))
        .with_secondary(first.source(), format!("first emitted here ({})", by(first)))
        .with_help("give one of the objects a different `metadata.name` or namespace, or emit it from one app only")
}

/// Applies the namespace and kdep's labels and annotation ([`Stamp`]) to one manifest.
pub fn stamp_manifest(m: &mut Manifest, env_namespace: Option<&str>) {
    let origin = Origin::new(Some(m.source), Layer::Builtin);
    let (set_namespace, labels, annotations, namespace) = {
        let stamp = Stamp::new(m, env_namespace);
        (
            stamp.namespace.map(Value::str),
            stamp.labels.map(|(k, v)| (k, Value::str(v))),
            stamp.annotations.iter().map(|&(k, v)| (k, Value::str(v))).collect::<Vec<_>>(),
            stamp.object_namespace(m),
        )
    };
    if let Some(object) = m.object.map_mut() {
        with_child_map(object, "metadata", &origin, |metadata| {
            if let Some(ns) = set_namespace {
                metadata.insert("namespace", ns, origin.clone());
            }
            with_child_map(metadata, "labels", &origin, |map| {
                for (k, v) in labels {
                    map.insert(k, v, origin.clone());
                }
            });
            with_child_map(metadata, "annotations", &origin, |map| {
                for (k, v) in annotations {
                    map.insert(k, v, origin.clone());
                }
            });
        });
    }
    m.namespace = namespace;
}

/// Runs `f` on the map under `key`; a missing (or non-map) entry is replaced by a new map,
/// appended after the existing keys. An existing map keeps its position and origin.
fn with_child_map(map: &mut Map, key: &str, origin: &Origin, f: impl FnOnce(&mut Map)) {
    match map.get_mut(key).and_then(|e| e.value.map_mut()) {
        Some(child) => f(child),
        None => {
            let mut child = Map::new();
            f(&mut child);
            map.remove(key);
            map.insert(key, Value::map(child), origin.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use kdep_diag::{FileId, TextRange};

    use super::*;
    use crate::emit::to_yaml_stream;

    fn span(file: u32, start: u32) -> Span {
        Span::new(FileId(file), TextRange::new(start, start + 5))
    }

    fn obj(api_version: &str, kind: &str, name: &str, extra: &[(&str, Value)]) -> Value {
        let mut metadata = Map::new();
        metadata.insert("name", Value::from(name), Origin::computed());
        for (k, v) in extra {
            metadata.insert(*k, v.clone(), Origin::computed());
        }
        let mut m = Map::new();
        m.insert("apiVersion", Value::from(api_version), Origin::computed());
        m.insert("kind", Value::from(kind), Origin::computed());
        m.insert("metadata", Value::map(metadata), Origin::computed());
        Value::map(m)
    }

    fn manifest(object: Value, app: &str, file: u32, line: u32) -> Manifest {
        let display = format!("teams/{app}.kdep:{line}");
        Manifest::from_object(object, app, span(file, line * 10), &display).unwrap_or_else(|e| panic!("{e}"))
    }

    /// What the evaluator sets for a kind whose schema says `scope = "Cluster"`.
    fn cluster(mut m: Manifest) -> Manifest {
        m.cluster_scoped = true;
        m
    }

    fn labels(extra: &[(&str, &str)]) -> Value {
        let mut m = Map::new();
        for (k, v) in extra {
            m.insert(*k, Value::from(*v), Origin::computed());
        }
        Value::map(m)
    }

    /// Many objects, some the same object twice (within and across apps, namespaced and not,
    /// the same name in another group or namespace, which is not a duplicate).
    fn crowd() -> Vec<Manifest> {
        let mut out = Vec::new();
        for i in 0..40u32 {
            let name = format!("n{}", i % 13);
            let ns = Value::from(if i % 3 == 0 { "a" } else { "b" });
            let (api, kind) = [("apps/v1", "Deployment"), ("v1", "Service"), ("example.com/v1", "Service")]
                .get(i as usize % 3)
                .copied()
                .unwrap_or(("v1", "ConfigMap"));
            out.push(manifest(obj(api, kind, &name, &[("namespace", ns)]), &format!("app{}", i % 7), i % 5, i));
        }
        out.push(cluster(manifest(obj("v1", "Namespace", "a", &[]), "ns", 9, 1)));
        out.push(cluster(manifest(obj("v1", "Namespace", "a", &[]), "ns2", 9, 2)));
        out
    }

    /// What a build holds per object beside its text (see [`RenderedObject`]): 160 bytes and
    /// six blocks before the identity became one block.
    #[test]
    fn a_rendered_object_is_72_bytes() {
        assert!(std::mem::size_of::<RenderedObject>() <= 72, "{}", std::mem::size_of::<RenderedObject>());
    }

    /// Duplicates are found through a hash of each object's identity, the keys compared on a
    /// hit: with a hash that makes every key collide the same objects are kept and the same
    /// diagnostics given, in the same order.
    #[test]
    fn duplicates_are_the_same_when_every_identity_hash_collides() {
        let objects = crowd();
        let refs: Vec<&Manifest> = objects.iter().collect();
        let (keep, diags) = find_duplicates(&refs);
        assert!(keep.iter().any(|k| !k) && keep.iter().any(|k| *k), "the crowd has duplicates and originals");
        let (keep_colliding, diags_colliding) = find_duplicates_hashed(&refs, |_| 7);
        assert_eq!(keep, keep_colliding);
        assert_eq!(diags, diags_colliding);
    }

    /// A rendered object keeps its identity in one allocation: it reads back as the stamped
    /// manifest's, and ordering and deduplicating rendered objects (moved into order in place)
    /// gives the manifests' order and diagnostics.
    #[test]
    fn rendered_objects_order_and_deduplicate_like_their_manifests() {
        let objects = crowd();
        let rendered: Vec<RenderedObject> =
            objects.iter().map(|m| RenderedObject::render(m, Some("env"), crate::emit::Format::Yaml)).collect();
        let (manifests, want) = finalize(objects, Some("env"));
        let (rendered, got) = order_and_deduplicate(rendered);
        assert_eq!(got, want);
        let id = |m: &dyn Emitted| {
            (
                m.api_version().to_owned(),
                m.kind().to_owned(),
                m.namespace().map(str::to_owned),
                m.name().to_owned(),
                m.app().to_owned(),
                m.source(),
            )
        };
        let want: Vec<_> = manifests.iter().map(|m| id(m)).collect();
        let got: Vec<_> = rendered.iter().map(|m| id(m)).collect();
        assert_eq!(got, want);
        let texts: Vec<String> =
            manifests.iter().map(|m| crate::emit::object_text(&m.object, None, crate::emit::Format::Yaml)).collect();
        let rendered_texts: Vec<&str> = rendered.iter().map(|r| &*r.text).collect();
        assert_eq!(rendered_texts, texts.iter().map(String::as_str).collect::<Vec<_>>());
    }

    #[test]
    fn from_object_reads_identity_and_reports_what_is_missing() {
        let m = manifest(obj("apps/v1", "Deployment", "web", &[("namespace", "ns".into())]), "web", 0, 1);
        assert_eq!(
            (m.group(), m.kind.as_str(), m.name.as_str(), m.namespace.as_deref()),
            ("apps", "Deployment", "web", Some("ns"))
        );
        let err = |v: Value| {
            Manifest::from_object(v, "a", span(0, 0), "a.kdep:1").err().map(|e| e.to_string()).unwrap_or_default()
        };
        assert_eq!(err(Value::Int(1)), "an emitted value must be an object, found int");
        assert_eq!(err(Value::empty_map()), "an emitted object has no `apiVersion`");
        let mut no_meta = Map::new();
        no_meta.insert("apiVersion", "v1".into(), Origin::computed());
        no_meta.insert("kind", "Service".into(), Origin::computed());
        assert_eq!(err(Value::map(no_meta)), "an emitted object has no `metadata` object");
        assert_eq!(err(obj("v1", "Service", "", &[])), "`metadata.name` of an emitted object is empty");
        let mut bad_kind = obj("v1", "Service", "x", &[]);
        if let Some(m) = bad_kind.map_mut() {
            m.insert("kind", Value::Int(3), Origin::computed());
        }
        assert_eq!(err(bad_kind), "`kind` of an emitted object must be a string, found int");
    }

    #[test]
    fn namespaces_are_set_only_on_namespaced_kinds_without_one() {
        let input = vec![
            manifest(obj("apps/v1", "Deployment", "web", &[]), "web", 0, 1),
            manifest(obj("v1", "Service", "web", &[("namespace", "other".into())]), "web", 0, 1),
            cluster(manifest(obj("rbac.authorization.k8s.io/v1", "ClusterRole", "reader", &[]), "web", 0, 1)),
            cluster(manifest(obj("v1", "Namespace", "shop", &[]), "web", 0, 1)),
        ];
        let (out, diags) = finalize(input, Some("shop"));
        assert!(diags.is_empty());
        let ns: Vec<_> = out.iter().map(|m| (m.kind.as_str(), m.namespace.as_deref())).collect();
        assert_eq!(
            ns,
            [("Namespace", None), ("ClusterRole", None), ("Deployment", Some("shop")), ("Service", Some("other"))]
        );
        let cr = out.get(1).map(|m| m.object.get_path(&["metadata", "namespace"]).is_none());
        assert_eq!(cr, Some(true));
        let (out, _) = finalize(vec![manifest(obj("apps/v1", "Deployment", "web", &[]), "web", 0, 1)], None);
        assert_eq!(out.first().and_then(|m| m.namespace.clone()), None);
    }

    #[test]
    fn kdep_owns_its_labels_and_annotation() {
        let object = obj(
            "v1",
            "ConfigMap",
            "cfg",
            &[
                ("labels", labels(&[(MANAGED_BY_LABEL, "helm"), ("team", "shop")])),
                ("annotations", labels(&[("a", "b")])),
            ],
        );
        let (out, _) = finalize(vec![manifest(object, "checkout", 0, 3)], Some("shop"));
        let Some(m) = out.first() else { panic!("no output") };
        let md = m.object.get("metadata").and_then(Value::as_map).map(|md| md.keys().collect::<Vec<_>>());
        assert_eq!(md, Some(vec!["name", "labels", "annotations", "namespace"]));
        let labels = m.object.get_path(&["metadata", "labels"]).map(|l| l.to_string());
        assert_eq!(
            labels.as_deref(),
            Some(
                r#"{ "app.kubernetes.io/managed-by" = "kdep", team = "shop", "app.kubernetes.io/instance" = "checkout" }"#
            )
        );
        let source = m.object.get_path(&["metadata", "annotations", SOURCE_ANNOTATION]);
        assert_eq!(source, Some(&Value::from("teams/checkout.kdep:3")));
        let origin = m.object.get("metadata").and_then(Value::as_map).and_then(|md| md.get_entry("namespace"));
        assert_eq!(origin.map(|e| &e.origin.layer), Some(&Layer::Builtin));
    }

    #[test]
    fn duplicates_are_reported_with_both_sources_and_dropped() {
        let input = vec![
            manifest(obj("apps/v1", "Deployment", "web", &[]), "a", 0, 1),
            manifest(obj("apps/v1", "Deployment", "web", &[]), "b", 1, 2),
            // Different group: not a duplicate.
            manifest(obj("extensions.example.com/v1", "Deployment", "web", &[]), "c", 2, 3),
            // Different namespace: not a duplicate.
            manifest(obj("apps/v1", "Deployment", "web", &[("namespace", "x".into())]), "d", 3, 4),
            // Same group, other version: a duplicate.
            manifest(obj("apps/v1beta1", "Deployment", "web", &[]), "e", 4, 5),
        ];
        let (out, diags) = finalize(input, Some("shop"));
        assert_eq!(out.len(), 3);
        assert_eq!(diags.len(), 2);
        let Some(d) = diags.first() else { panic!("no diagnostic") };
        assert_eq!(d.code, Code::DUPLICATE_OBJECT);
        assert_eq!(d.message, "Deployment `shop/web` is emitted twice");
        assert_eq!(
            d.primary.as_ref().map(|l| (l.span, l.message.as_str())),
            Some((span(1, 20), "emitted again here (by app `b`)"))
        );
        assert_eq!(
            d.secondary.first().map(|l| (l.span, l.message.as_str())),
            Some((span(0, 10), "first emitted here (by app `a`)"))
        );
    }

    #[test]
    fn order_is_namespaces_then_kind_namespace_name() {
        let input = vec![
            manifest(obj("v1", "Service", "b", &[("namespace", "n2".into())]), "x", 0, 1),
            manifest(obj("v1", "Service", "a", &[("namespace", "n2".into())]), "x", 0, 1),
            manifest(obj("v1", "Service", "z", &[("namespace", "n1".into())]), "x", 0, 1),
            manifest(obj("apps/v1", "Deployment", "z", &[]), "x", 0, 1),
            manifest(obj("v1", "Namespace", "n2", &[]), "x", 0, 1),
            manifest(obj("v1", "Namespace", "n1", &[]), "x", 0, 1),
            manifest(obj("v1", "ConfigMap", "c", &[]), "x", 0, 1),
        ];
        let (out, _) = finalize(input, None);
        let order: Vec<String> = out.iter().map(Manifest::describe).collect();
        assert_eq!(
            order,
            [
                "Namespace `n1`",
                "Namespace `n2`",
                "ConfigMap `c`",
                "Deployment `z`",
                "Service `n1/z`",
                "Service `n2/a`",
                "Service `n2/b`"
            ]
        );
    }

    /// The output order as its rule states it, compared on the strings themselves.
    fn output_order_as_specified(objects: &[ObjectIdentity]) -> Vec<usize> {
        let mut keys: Vec<(bool, &str, Option<&str>, &str, usize)> = objects
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let is_ns = m.kind == "Namespace" && api_group(&m.api_version).is_empty();
                (!is_ns, m.kind.as_str(), m.namespace.as_deref(), m.name.as_str(), i)
            })
            .collect();
        keys.sort();
        keys.into_iter().map(|(.., i)| i).collect()
    }

    proptest::proptest! {
        /// Ranks and name prefixes order exactly as the strings do: names sharing 16 or more
        /// bytes, names that are prefixes of others, bytes above 0x7f, no namespace, ties.
        #[test]
        fn output_order_by_ranks_and_prefixes_is_the_string_order(
            objects in proptest::collection::vec(
                (
                    proptest::sample::select(&["v1", "apps/v1", "example.com/v1"][..]),
                    proptest::sample::select(&["Namespace", "Service", "ConfigMap", "Deployment", "S", ""][..]),
                    proptest::option::of(proptest::sample::select(&["", "a", "shop", "shop-2", "ü"][..])),
                    "(abcdefghijklmnop|abcdefghijklmnopq|x)?[a-c\\-é\\x00]{0,20}",
                ),
                0..40,
            )
        ) {
            let objects: Vec<ObjectIdentity> = objects
                .into_iter()
                .enumerate()
                .map(|(i, (api_version, kind, namespace, name))| ObjectIdentity {
                    api_version: api_version.into(),
                    kind: kind.into(),
                    name,
                    namespace: namespace.map(str::to_owned),
                    app: format!("app{i}"),
                    source: span(0, 0),
                })
                .collect();
            let expected: Vec<String> =
                output_order_as_specified(&objects).into_iter().map(|i| objects[i].app.clone()).collect();
            let got: Vec<String> = in_output_order(objects).into_iter().map(|m| m.app).collect();
            proptest::prop_assert_eq!(got, expected);
        }
    }

    #[test]
    fn finalized_stream_snapshot() {
        let mut deployment = obj("apps/v1", "Deployment", "checkout", &[("labels", labels(&[("app", "checkout")]))]);
        if let Some(m) = deployment.map_mut() {
            m.insert("spec", Value::map(Map::new()), Origin::computed());
        }
        let input = vec![
            manifest(obj("v1", "Service", "checkout", &[]), "checkout", 0, 3),
            manifest(deployment, "checkout", 0, 3),
            cluster(manifest(obj("v1", "Namespace", "shop", &[]), "platform", 1, 1)),
        ];
        let (out, diags) = finalize(input, Some("shop"));
        assert!(diags.is_empty());
        let objects: Vec<Value> = out.into_iter().map(|m| m.object).collect();
        insta::assert_snapshot!(to_yaml_stream(&objects));
    }

    /// Stamping while writing ([`RenderedObject::render`]) and stamping the value
    /// ([`finalize`]) must give the same bytes and namespace for every shape of `metadata`:
    /// labels and annotations missing, empty, holding kdep's keys, or not maps at all, a
    /// namespace set, unset or not a string, namespaced and cluster-scoped kinds.
    #[test]
    fn stamping_while_writing_is_stamping_the_value() {
        use crate::emit::{object_text, Format};
        let shapes: Vec<Vec<(&str, Value)>> = vec![
            vec![],
            vec![("labels", labels(&[]))],
            vec![("labels", labels(&[(MANAGED_BY_LABEL, "helm"), ("team", "shop"), (INSTANCE_LABEL, "x")]))],
            vec![("labels", Value::from("not a map")), ("annotations", labels(&[("a", "b")]))],
            vec![("annotations", Value::Int(3)), ("labels", labels(&[("z", "1")])), ("uid", Value::from("u"))],
            vec![("annotations", labels(&[(SOURCE_ANNOTATION, "mine"), ("b", "yes")]))],
            vec![("namespace", Value::from("other"))],
            vec![("namespace", Value::Int(7)), ("labels", Value::list(vec![]))],
        ];
        for extra in &shapes {
            for cluster_scoped in [false, true] {
                for env_ns in [None, Some("shop"), Some("on")] {
                    let mut m = manifest(obj("v1", "ConfigMap", "cfg", extra), "checkout", 0, 3);
                    m.cluster_scoped = cluster_scoped;
                    for format in [Format::Yaml, Format::Json] {
                        let rendered = RenderedObject::render(&m, env_ns, format);
                        let mut stamped = m.clone();
                        stamp_manifest(&mut stamped, env_ns);
                        let case = format!("{extra:?} cluster={cluster_scoped} env={env_ns:?} {format:?}");
                        assert_eq!(&*rendered.text, object_text(&stamped.object, None, format), "{case}");
                        assert_eq!(rendered.namespace(), stamped.namespace.as_deref(), "{case}");
                    }
                }
            }
        }
    }

    /// A list holding two references to the previous one, `depth` times: `2^depth` leaves
    /// written out, from a few lines of source.
    fn doubling(depth: usize) -> Value {
        let mut v = Value::list(vec![Value::from("x")]);
        for _ in 0..depth {
            v = Value::list(vec![v.clone(), v]);
        }
        v
    }

    #[test]
    fn objects_too_large_to_write_are_rejected() {
        // Shared parts are written out at every place they appear, so 60 doublings used to make
        // `kdep build` allocate until the process was killed.
        let object = obj("v1", "ConfigMap", "bomb", &[("data", doubling(60))]);
        let err = Manifest::from_object(object, "a", span(0, 0), "a.kdep:1").err();
        assert!(matches!(err, Some(ObjectError::TooLarge(_))), "{err:?}");
        let err = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("too large"), "{err}");
        let fine = obj("v1", "ConfigMap", "ok", &[("data", doubling(10))]);
        assert!(Manifest::from_object(fine, "a", span(0, 0), "a.kdep:1").is_ok());
    }
}
