//! Deterministic YAML and JSON writers for manifests (YAML 1.1-safe quoting, stable key order).
//!
//! # Key order
//!
//! In each emitted object the top-level keys `apiVersion`, `kind`, `metadata` come first, then
//! the others in insertion (declaration) order; inside the top-level `metadata`, `name` and
//! `namespace` come first, then insertion order. Everything deeper keeps insertion order.
//! [`to_yaml_value`] (the `to_yaml` builtin) never reorders.
//!
//! # YAML layout
//!
//! Block style with two-space indentation, the way `kubectl` prints: a list that is a map
//! value sits at the key's indentation (`containers:` / `- name: web`), maps inside list items
//! start on the dash line, empty collections are `{}` and `[]`. Documents of a stream are
//! separated by `---` lines (no leading `---`, no trailing `...`); an empty stream is empty.
//!
//! # Scalars
//!
//! Strings are written plain only when every YAML 1.1 and 1.2 parser reads them back as the
//! same string; otherwise they are double-quoted with escapes. A string is quoted when it:
//!
//! * is empty, starts or ends with whitespace, or contains a tab, a line break or any
//!   character YAML does not allow unescaped (controls, DEL, C1 controls, U+2028/2029, BOM,
//!   U+FFFE/U+FFFF);
//! * starts with an indicator character ``- ? : , [ ] { } # & * ! | > ' " % @ ` ``;
//! * starts with `...` (a document end marker at the start of a line);
//! * contains `: ` or ` #`, or ends with `:`;
//! * is, ignoring ASCII case, one of `true false yes no y n on off null ~ = <<` or (after an
//!   optional sign) `inf infinity nan .inf .nan`;
//! * after an optional sign starts with a digit or `.` and consists only of characters that can
//!   occur in a YAML 1.1/1.2 number or timestamp (digits, `_ . : + -`, `e x o b`, hex letters,
//!   `t z` and spaces). This covers `0755`, `0x1F`, `1e3`, `.5`, `1_000`, `12:30`, `2024-01-01`
//!   and `2001-12-14t21:59:43.10-05:00`, and is deliberately broad: quoting a string
//!   needlessly is harmless, failing to quote one is not. `500m` and `1Gi` stay plain.
//!
//! A multi-line string whose lines need no escapes is written as a literal block (`|` when it
//! ends with exactly one newline, `|-` when it ends with none), the way ConfigMap files are
//! usually read; other multi-line strings are double-quoted with `\n` escapes. Keys follow the
//! same rules (never block scalars), and keys longer than 1000 characters use the explicit
//! `? key` form because YAML limits implicit keys to 1024 characters.
//!
//! Floats always read back as floats: `1.0`, `0.25`, `1.0e+20` (YAML 1.1 needs the point and
//! the exponent sign), `.inf`, `-.inf`, `.nan`. Quantities and durations are strings, written as
//! the user wrote them ([`Quantity::as_written`](kdep_sema::quantity::Quantity::as_written)).
//!
//! # JSON
//!
//! [`to_json`] writes one object as itself and zero or several objects as a `v1` `List`
//! (`{"apiVersion": "v1", "kind": "List", "items": [...]}`), like `kubectl get -o json`,
//! pretty-printed with two-space indentation and a final newline. JSON has no non-finite
//! numbers, so a NaN or infinite float is written as `null` (the evaluator should have rejected
//! it before emission).

use std::cell::RefCell;
use std::fmt::Write as _;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::manifest::Stamp;
use crate::value::{List, Map, Value};

/// The manifest formats.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// A YAML stream, documents separated by `---` lines.
    #[default]
    Yaml,
    /// One object as itself, several as a `v1` `List`.
    Json,
}

/// Which keys a map puts first, and what kdep stamps on it while it is written.
#[derive(Clone, Copy)]
enum Order<'a> {
    /// The root of an emitted object.
    Object(Option<&'a Stamp<'a>>),
    /// The `metadata` of an emitted object.
    Metadata(Option<&'a Stamp<'a>>),
    Insertion,
}

const OBJECT_FIRST: [&str; 3] = ["apiVersion", "kind", "metadata"];

impl<'a> Order<'a> {
    fn child(self, key: &str) -> Order<'a> {
        match self {
            Order::Object(stamp) if key == "metadata" => Order::Metadata(stamp),
            _ => Order::Insertion,
        }
    }
}

/// One map entry's value as it is written: a value of the tree, or one kdep stamps on it
/// without copying the tree ([`Stamp`]).
#[derive(Clone, Copy)]
enum Item<'a> {
    Value(&'a Value),
    Str(&'a str),
    /// A map made of an existing one (if any) with these entries set: existing keys keep their
    /// position, new ones are appended in order.
    Stamped(Option<&'a Map>, &'a [(&'static str, &'a str)]),
}

/// A written key's text as the writer may remember its quoting by: the map's own shared key
/// (see [`is_plain_shared`]), or a key of kdep's own stamps, a constant of the program.
#[derive(Clone, Copy)]
enum KeyText<'a> {
    Shared(&'a Arc<str>),
    Static(&'static str),
}

/// Where a written map's entries come from.
#[derive(Clone, Copy)]
enum MapSrc<'a> {
    Map(&'a Map, Order<'a>),
    Stamped(Option<&'a Map>, &'a [(&'static str, &'a str)]),
}

impl<'a> MapSrc<'a> {
    fn child(self, key: &str) -> Order<'a> {
        match self {
            MapSrc::Map(_, order) => order.child(key),
            MapSrc::Stamped(..) => Order::Insertion,
        }
    }

    /// Calls `f` on every entry in output order, with the key's shared text when the map holds
    /// one (see [`is_plain_shared`]). No list of entries is built: ordering is a few lookups of
    /// the keys that go first, then one pass skipping them.
    fn for_each(self, f: &mut dyn FnMut(&'a str, KeyText<'a>, Item<'a>)) {
        match self {
            MapSrc::Map(map, Order::Insertion) => {
                map.entries().for_each(|(k, e)| f(k, KeyText::Shared(k), Item::Value(&e.value)));
            }
            MapSrc::Map(map, Order::Object(_)) => {
                // The map's own key, not the constant: its text is shared (an object literal's
                // keys are this thread's copies, see `value::own_key`), so its quoting is
                // remembered.
                for key in OBJECT_FIRST {
                    if let Some((k, v)) = map.get_key_value(key) {
                        f(k, KeyText::Shared(k), Item::Value(v));
                    }
                }
                for (k, e) in map.entries() {
                    if !OBJECT_FIRST.contains(&&**k) {
                        f(k, KeyText::Shared(k), Item::Value(&e.value));
                    }
                }
            }
            MapSrc::Map(map, Order::Metadata(stamp)) => {
                if let Some((k, v)) = map.get_key_value("name") {
                    f(k, KeyText::Shared(k), Item::Value(v));
                }
                match (map.get_key_value("namespace"), stamp.and_then(|s| s.namespace)) {
                    (Some((k, v)), _) => f(k, KeyText::Shared(k), Item::Value(v)),
                    (None, Some(ns)) => f("namespace", KeyText::Static("namespace"), Item::Str(ns)),
                    (None, None) => {}
                }
                let stamped =
                    |key: &str| stamp.map(|s| if key == "labels" { &s.labels[..] } else { &s.annotations[..] });
                for (k, e) in map.entries() {
                    let v = &e.value;
                    match &**k {
                        "name" | "namespace" => {}
                        // A stamped key that is not a map is replaced by a new map after the
                        // other keys, as `manifest::finalize` does.
                        "labels" | "annotations" if stamp.is_some() => {
                            if let (Some(m), Some(extra)) = (v.as_map(), stamped(k)) {
                                f(k, KeyText::Shared(k), Item::Stamped(Some(m), extra));
                            }
                        }
                        _ => f(k, KeyText::Shared(k), Item::Value(v)),
                    }
                }
                for key in ["labels", "annotations"] {
                    if let Some(extra) = stamped(key) {
                        if map.get(key).and_then(Value::as_map).is_none() {
                            f(key, KeyText::Static(key), Item::Stamped(None, extra));
                        }
                    }
                }
            }
            MapSrc::Stamped(existing, extra) => {
                if let Some(map) = existing {
                    for (k, e) in map.entries() {
                        match extra.iter().find(|(key, _)| *key == &**k) {
                            Some((_, s)) => f(k, KeyText::Shared(k), Item::Str(s)),
                            None => f(k, KeyText::Shared(k), Item::Value(&e.value)),
                        }
                    }
                }
                for (k, s) in extra {
                    if !existing.is_some_and(|m| m.contains_key(k)) {
                        f(k, KeyText::Static(k), Item::Str(s));
                    }
                }
            }
        }
    }
}

/// Writes Kubernetes objects as a YAML stream, documents separated by `---` lines.
pub fn to_yaml_stream(objects: &[Value]) -> String {
    let mut out = String::new();
    for (i, object) in objects.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        write_document(&mut out, object, Order::Object(None));
    }
    out
}

/// Writes one value as a YAML document in insertion order (the `to_yaml` builtin).
pub fn to_yaml_value(value: &Value) -> String {
    let mut out = String::new();
    write_document(&mut out, value, Order::Insertion);
    out
}

/// One value as JSON in insertion order (`kdep explain --format json`, `kdep test`).
pub fn to_json_value(value: &Value) -> serde_json::Value {
    // Rare and small (one value per explanation or test): reuse the streaming writer rather
    // than keep a second JSON conversion beside it.
    let mut out = String::new();
    write_json(&mut out, Item::Value(value), Order::Insertion, 0);
    serde_json::from_str(&out).unwrap_or(serde_json::Value::Null)
}

/// Writes Kubernetes objects as JSON: one object as itself, otherwise a `v1` `List`.
pub fn to_json(objects: &[Value]) -> String {
    let mut out = String::new();
    let texts: Vec<String> = objects.iter().map(|o| object_text(o, None, Format::Json)).collect();
    let _ = join_stream(texts.iter().map(String::as_str), Format::Json, |piece| {
        out.push_str(piece);
        Ok::<(), std::convert::Infallible>(())
    });
    out
}

/// One emitted object written on its own, with kdep's labels, annotation and namespace
/// stamped on as it is written (`stamp`, see [`Stamp`]): what `kdep build -o DIR` puts in the
/// object's file, and the piece [`join_stream`] joins into a stream.
pub fn object_text(object: &Value, stamp: Option<&Stamp<'_>>, format: Format) -> String {
    // A build keeps every object's text until it is written in order, so each text is held at
    // its exact length: written into a buffer reused by the thread, then copied once. A
    // `String` grown while writing holds up to twice its length, and shrinking it in place
    // (`shrink_to_fit`) gives nothing back to an allocator that keeps the block.
    OBJECT_BUFFER.with(|buffer| {
        let mut out = buffer.take();
        out.clear();
        match format {
            Format::Yaml => write_document(&mut out, object, Order::Object(stamp)),
            Format::Json => {
                write_json(&mut out, Item::Value(object), Order::Object(stamp), 0);
                out.push('\n');
            }
        }
        let text = String::from(out.as_str());
        buffer.replace(out);
        text
    })
}

thread_local! {
    /// [`object_text`]'s buffer, as large as the largest object the thread has written.
    static OBJECT_BUFFER: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Joins texts of [`object_text`] into the bytes [`to_yaml_stream`] or [`to_json`] give for
/// the same objects, handing them to `write` piece by piece so a build can stream its output
/// without assembling it.
pub fn join_stream<'t, E>(
    texts: impl ExactSizeIterator<Item = &'t str>,
    format: Format,
    mut write: impl FnMut(&str) -> Result<(), E>,
) -> Result<(), E> {
    let mut joiner = Joiner::new(format, texts.len());
    joiner.start(&mut write)?;
    for text in texts {
        joiner.object(text, &mut write)?;
    }
    joiner.finish(&mut write)
}

/// [`join_stream`] one object at a time, for a caller whose texts are not all at hand at once
/// (a build's held texts are read back from compressed blocks, one block per run at a time):
/// [`Joiner::start`], [`Joiner::object`] for each of the `total` texts, [`Joiner::finish`].
#[derive(Debug)]
pub struct Joiner {
    format: Format,
    total: usize,
    written: usize,
}

impl Joiner {
    /// A stream of `total` objects (a JSON stream of one object is that object alone).
    pub fn new(format: Format, total: usize) -> Joiner {
        Joiner { format, total, written: 0 }
    }

    /// Whether the stream is a JSON `List` around its objects.
    fn json_list(&self) -> bool {
        self.format == Format::Json && self.total != 1
    }

    /// What comes before the first object.
    pub fn start<E>(&mut self, mut write: impl FnMut(&str) -> Result<(), E>) -> Result<(), E> {
        if self.json_list() {
            write("{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"List\",\n  \"items\": [")?;
        }
        Ok(())
    }

    /// One object's text, after those before it.
    pub fn object<E>(&mut self, text: &str, mut write: impl FnMut(&str) -> Result<(), E>) -> Result<(), E> {
        let first = self.written == 0;
        self.written += 1;
        match self.format {
            Format::Yaml => {
                if !first {
                    write("---\n")?;
                }
                write(text)
            }
            Format::Json if !self.json_list() => write(text),
            Format::Json => {
                write(if first { "\n    " } else { ",\n    " })?;
                // An item sits four spaces deeper than the object written alone; JSON strings
                // hold no raw line breaks, so every line break is a place to indent.
                let body = text.strip_suffix('\n').unwrap_or(text);
                for (j, line) in body.split('\n').enumerate() {
                    if j > 0 {
                        write("\n    ")?;
                    }
                    write(line)?;
                }
                Ok(())
            }
        }
    }

    /// What comes after the last object.
    pub fn finish<E>(&mut self, mut write: impl FnMut(&str) -> Result<(), E>) -> Result<(), E> {
        if self.json_list() {
            write(if self.written > 0 { "\n  ]\n}\n" } else { "]\n}\n" })?;
        }
        Ok(())
    }
}

/// Writes a value as pretty-printed JSON (the layout of `serde_json::to_string_pretty`:
/// two-space indentation, `": "` after keys, `{}` and `[]` for empty collections).
fn write_json(out: &mut String, item: Item<'_>, order: Order<'_>, indent: usize) {
    let value = match item {
        Item::Str(s) => return write_json_string(out, s),
        Item::Stamped(existing, extra) => return write_json_map(out, MapSrc::Stamped(existing, extra), indent),
        Item::Value(v) => v,
    };
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(n) => {
            let _ = write!(out, "{n}");
        }
        // serde_json spells finite floats (shortest round-trip form) and has no non-finite ones.
        Value::Float(x) => out.push_str(&serde_json::to_string(x).unwrap_or_else(|_| "null".to_owned())),
        Value::Str(s) => write_json_string(out, s),
        Value::Quantity(q) => match q.written_int() {
            Some(n) => {
                let _ = write!(out, "{n}");
            }
            None => write_json_string(out, &q.as_written()),
        },
        Value::Duration(d) => write_json_string(out, &d.as_written()),
        Value::List(items) if items.is_empty() => out.push_str("[]"),
        Value::List(items) => with_subtree_text(out, Subtree::List(items), Place::Json { indent }, |out| {
            out.push('[');
            for (i, it) in items.iter().enumerate() {
                out.push_str(if i > 0 { ",\n" } else { "\n" });
                pad(out, indent + 2);
                write_json(out, Item::Value(it), Order::Insertion, indent + 2);
            }
            out.push('\n');
            pad(out, indent);
            out.push(']');
        }),
        Value::Map(map) if matches!(order, Order::Insertion) && !map.is_empty() => {
            with_subtree_text(out, Subtree::Map(map), Place::Json { indent }, |out| {
                write_json_map(out, MapSrc::Map(map, order), indent);
            });
        }
        Value::Map(map) => write_json_map(out, MapSrc::Map(map, order), indent),
    }
}

fn write_json_map(out: &mut String, src: MapSrc<'_>, indent: usize) {
    out.push('{');
    let mut any = false;
    src.for_each(&mut |key, _, item| {
        out.push_str(if any { ",\n" } else { "\n" });
        any = true;
        pad(out, indent + 2);
        write_json_string(out, key);
        out.push_str(": ");
        write_json(out, item, src.child(key), indent + 2);
    });
    if any {
        out.push('\n');
        pad(out, indent);
    }
    out.push('}');
}

/// A JSON string with serde_json's escapes: `\"`, `\\`, the short forms of backspace, form
/// feed, line feed, carriage return and tab, `\u00xx` for other controls; nothing else.
fn write_json_string(out: &mut String, s: &str) {
    out.push('"');
    let mut plain_from = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(s.get(plain_from..i).unwrap_or_default());
        plain_from = i + 1;
        if escape.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(escape);
        }
    }
    out.push_str(s.get(plain_from..).unwrap_or_default());
    out.push('"');
}

/// What the text of a subtree depends on besides the subtree: the format, its indentation and,
/// in YAML, whether its first line continues a list's dash line (`- name: web`) or starts a
/// line of its own. A map's keys are ordered by insertion wherever it is kept (the object's root
/// and its `metadata`, reordered and stamped as they are written, are never kept).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Place {
    YamlMap { indent: usize, on_dash: bool },
    YamlList { indent: usize, on_dash: bool },
    Json { indent: usize },
}

/// A map or list of the value being written.
#[derive(Clone, Copy)]
enum Subtree<'a> {
    Map(&'a Arc<Map>),
    List(&'a Arc<List>),
}

impl Subtree<'_> {
    fn addr(self) -> usize {
        match self {
            Subtree::Map(m) => Arc::as_ptr(m) as usize,
            Subtree::List(l) => Arc::as_ptr(l) as usize,
        }
    }

    /// Whether the subtree is a constant part of a template, shared by its instances: held
    /// by the evaluator's constant cache (so held twice at least) and noted there.
    fn is_shared_constant(self) -> bool {
        match self {
            Subtree::Map(m) => Arc::strong_count(m) > 1 && crate::interp::is_shared_constant(self.addr(), false),
            Subtree::List(l) => Arc::strong_count(l) > 1 && crate::interp::is_shared_constant(self.addr(), true),
        }
    }

    /// The subtree as a value a kept text holds, so that its address names the same unchanged
    /// value while the entry exists: a held `Arc` is not freed (its address is not reused) and,
    /// shared, not changed in place (`Arc::make_mut` copies a shared value).
    fn hold(self) -> Value {
        match self {
            Subtree::Map(m) => Value::Map(m.clone()),
            Subtree::List(l) => Value::List(l.clone()),
        }
    }
}

/// The texts of the constant subtrees this thread has written, by the subtree's address and its
/// [`Place`]. Every instance of a template emits the same probes, security contexts and port
/// lists (one shared value per thread from the second instance on, see
/// `interp::ConstCache`), and writing one is a pure function of the value and its place: the
/// first write keeps the text, later ones copy it. Entries hold their subtree
/// ([`Subtree::hold`]).
#[derive(Default)]
struct SubtreeTexts {
    entries: FxHashMap<(usize, Place), (Value, Box<str>)>,
    bytes: usize,
}

/// Most texts kept per thread: a package's constant subtrees times the places they are written
/// at, which is small; the bounds only keep a pathological package from growing the cache.
const MAX_SUBTREE_TEXTS: usize = 10_000;
/// Most bytes of text kept per thread.
const MAX_SUBTREE_TEXT_BYTES: usize = 8 << 20;
/// Longest text kept: a larger subtree is rare, and copying it saves little next to its size.
const MAX_SUBTREE_TEXT: usize = 64 << 10;

thread_local! {
    static SUBTREE_TEXTS: RefCell<SubtreeTexts> = RefCell::new(SubtreeTexts::default());
}

/// Forgets this thread's subtree texts and the values they hold (with the constant cache, see
/// `interp::forget_constants`).
pub(crate) fn forget_subtree_texts() {
    let _ = SUBTREE_TEXTS.try_with(|t| *t.borrow_mut() = SubtreeTexts::default());
}

/// Writes `subtree` at `place` with `write`, or copies the text an earlier write of the same
/// shared constant subtree at the same place left.
fn with_subtree_text(out: &mut String, subtree: Subtree<'_>, place: Place, write: impl FnOnce(&mut String)) {
    if !subtree.is_shared_constant() {
        return write(out);
    }
    let key = (subtree.addr(), place);
    let copied = SUBTREE_TEXTS
        .try_with(|t| match t.try_borrow().ok().and_then(|t| t.entries.get(&key).map(|(_, text)| out.push_str(text))) {
            Some(()) => true,
            None => false,
        })
        .unwrap_or(false);
    if copied {
        return;
    }
    let start = out.len();
    write(out);
    let Some(text) = out.get(start..) else { return };
    if text.len() > MAX_SUBTREE_TEXT {
        return;
    }
    let _ = SUBTREE_TEXTS.try_with(|t| {
        let Ok(mut t) = t.try_borrow_mut() else { return };
        if t.entries.len() >= MAX_SUBTREE_TEXTS || t.bytes + text.len() > MAX_SUBTREE_TEXT_BYTES {
            *t = SubtreeTexts::default();
        }
        t.bytes += text.len();
        t.entries.insert(key, (subtree.hold(), text.into()));
    });
}

fn write_document(out: &mut String, value: &Value, order: Order<'_>) {
    match value {
        Value::Map(map) if !map.is_empty() => write_map(out, MapSrc::Map(map, order), 0, false),
        Value::List(items) if !items.is_empty() => write_list(out, items, 0, false),
        _ => write_scalar_line(out, value, 2),
    }
}

/// Indentation is copied from a run of spaces rather than pushed one `char` at a time.
fn pad(out: &mut String, indent: usize) {
    const SPACES: &str = "                                                                ";
    let mut left = indent;
    while left > 0 {
        let n = left.min(SPACES.len());
        out.push_str(SPACES.get(..n).unwrap_or_default());
        left -= n;
    }
}

/// Keys longer than this use the explicit `? key` form (YAML caps implicit keys at 1024 chars).
const MAX_IMPLICIT_KEY: usize = 1000;

/// Writes a block mapping at `indent`; with `inline_first` the first key continues the
/// current line (after a list dash).
fn write_map(out: &mut String, src: MapSrc<'_>, indent: usize, inline_first: bool) {
    let mut first = true;
    src.for_each(&mut |key, shared, item| {
        if !(first && inline_first) {
            pad(out, indent);
        }
        first = false;
        // The key is written straight into the output; the rare key too long for the implicit
        // form gets its `? ` afterwards.
        let start = out.len();
        let plain = match shared {
            KeyText::Shared(text) => is_plain_shared(key, Some(text)),
            KeyText::Static(text) => is_plain_static(text),
        };
        if plain {
            out.push_str(key);
        } else {
            write_double_quoted(out, key);
        }
        if out.len() - start > MAX_IMPLICIT_KEY {
            out.insert_str(start, "? ");
            out.push('\n');
            pad(out, indent);
        }
        out.push(':');
        write_map_value(out, item, indent, src.child(key));
    });
}

/// Writes what follows `key:`.
fn write_map_value(out: &mut String, item: Item<'_>, indent: usize, order: Order<'_>) {
    match item {
        Item::Value(Value::Map(map)) if !map.is_empty() => {
            out.push('\n');
            if matches!(order, Order::Insertion) {
                let place = Place::YamlMap { indent: indent + 2, on_dash: false };
                with_subtree_text(out, Subtree::Map(map), place, |out| {
                    write_map(out, MapSrc::Map(map, order), indent + 2, false);
                });
            } else {
                write_map(out, MapSrc::Map(map, order), indent + 2, false);
            }
        }
        Item::Stamped(existing, extra) => {
            out.push('\n');
            write_map(out, MapSrc::Stamped(existing, extra), indent + 2, false);
        }
        // kubectl style: a list under a key is not indented further.
        Item::Value(Value::List(items)) if !items.is_empty() => {
            out.push('\n');
            with_subtree_text(out, Subtree::List(items), Place::YamlList { indent, on_dash: false }, |out| {
                write_list(out, items, indent, false);
            });
        }
        Item::Value(value) => {
            out.push(' ');
            write_scalar_line(out, value, indent + 2);
        }
        Item::Str(s) => {
            out.push(' ');
            write_string(out, s, indent + 2);
            out.push('\n');
        }
    }
}

/// Writes a block sequence at `indent`; with `inline_first` the first dash continues the
/// current line (a list inside a list).
fn write_list(out: &mut String, items: &[Value], indent: usize, inline_first: bool) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 || !inline_first {
            pad(out, indent);
        }
        out.push_str("- ");
        match item {
            Value::Map(map) if !map.is_empty() => {
                let place = Place::YamlMap { indent: indent + 2, on_dash: true };
                with_subtree_text(out, Subtree::Map(map), place, |out| {
                    write_map(out, MapSrc::Map(map, Order::Insertion), indent + 2, true);
                });
            }
            Value::List(inner) if !inner.is_empty() => {
                let place = Place::YamlList { indent: indent + 2, on_dash: true };
                with_subtree_text(out, Subtree::List(inner), place, |out| write_list(out, inner, indent + 2, true));
            }
            _ => write_scalar_line(out, item, indent + 2),
        }
    }
}

/// Writes a scalar (or empty collection) and the end of its line; block scalar content goes
/// on the following lines at `block_indent`.
fn write_scalar_line(out: &mut String, value: &Value, block_indent: usize) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Float(x) => out.push_str(&yaml_float(*x)),
        // Decided once: a string that may not be plain goes straight to the other forms.
        Value::Str(s) if is_plain_shared(s, Some(s)) => out.push_str(s),
        Value::Str(s) => write_not_plain(out, s, block_indent),
        Value::Quantity(q) => match q.written_int() {
            Some(n) => {
                let _ = write!(out, "{n}");
            }
            None => write_string(out, &q.as_written(), block_indent),
        },
        Value::Duration(d) => write_string(out, &d.as_written(), block_indent),
        Value::List(_) => out.push_str("[]"),
        Value::Map(_) => out.push_str("{}"),
    }
    out.push('\n');
}

/// A float spelled so that YAML 1.1 and 1.2 both read it back as the same float.
pub fn yaml_float(x: f64) -> String {
    if x.is_nan() {
        return ".nan".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { ".inf" } else { "-.inf" }.to_owned();
    }
    // `Debug` is the shortest text that round-trips and keeps a point for whole numbers (`1.0`);
    // it writes exponents as `1e20` / `1.5e-7`, which YAML 1.1 reads only as `1.0e+20`.
    let text = format!("{x:?}");
    match text.split_once('e') {
        None => text,
        Some((mantissa, exp)) => {
            let point = if mantissa.contains('.') { "" } else { ".0" };
            let sign = if exp.starts_with('-') { "" } else { "+" };
            format!("{mantissa}{point}e{sign}{exp}")
        }
    }
}

/// Characters YAML forbids unescaped, plus the YAML 1.1 line breaks and the BOM, which some
/// parsers mishandle, and tabs, which are legal but easy to mangle.
fn needs_escape(c: char) -> bool {
    matches!(c, '\0'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}')
}

const INDICATORS: &[char] =
    &['-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`'];

/// Words some YAML 1.1 or 1.2 parser reads as a bool, null or special value.
const RESERVED: &[&str] = &["true", "false", "yes", "no", "y", "n", "on", "off", "null", "~", "=", "<<"];

/// Words that are special numbers after an optional sign (YAML `.inf`, Rust/Go-style `inf`).
const RESERVED_NUMBERS: &[&str] = &["inf", "infinity", "nan", ".inf", ".nan"];

/// The bytes that may start a [`RESERVED`] word or, after an optional sign, a
/// [`RESERVED_NUMBERS`] word (either case), as a bit set over ASCII. Derived from the lists, so
/// it cannot disagree with them.
const MAY_START_RESERVED: u128 = first_bytes(RESERVED, first_bytes(RESERVED_NUMBERS, (1 << b'+') | (1 << b'-')));

const fn first_bytes(words: &[&str], mut set: u128) -> u128 {
    let mut rest = words;
    while let [word, tail @ ..] = rest {
        if let Some(&b) = word.as_bytes().first() {
            if b < 128 {
                set |= (1 << b.to_ascii_lowercase()) | (1 << b.to_ascii_uppercase());
            }
        }
        rest = tail;
    }
    set
}

/// Whether `s` may be one of the reserved words (see [`MAY_START_RESERVED`]).
fn may_start_reserved(s: &str) -> bool {
    s.as_bytes().first().is_some_and(|&b| b < 128 && (MAY_START_RESERVED >> b) & 1 == 1)
}

/// Whether `s` (at most 9 bytes, the longest reserved word being `+infinity`) is, ignoring
/// ASCII case, one of [`RESERVED`] or, after an optional sign, one of [`RESERVED_NUMBERS`].
/// Lowercased once into a buffer on the stack, then compared as bytes.
fn is_reserved(s: &[u8]) -> bool {
    let mut buf = [0u8; 9];
    let Some(word) = buf.get_mut(..s.len()) else {
        return false;
    };
    word.copy_from_slice(s);
    word.make_ascii_lowercase();
    let word = &*word;
    let unsigned = word.strip_prefix(b"+").or_else(|| word.strip_prefix(b"-")).unwrap_or(word);
    RESERVED.iter().any(|w| w.as_bytes() == word) || RESERVED_NUMBERS.iter().any(|w| w.as_bytes() == unsigned)
}

/// Byte classes for [`is_plain_safe`]'s single pass (see [`BYTE_CLASSES`]).
/// The byte can occur in a YAML 1.1/1.2 number or timestamp: digits, hex letters, `_ . : + -`,
/// `x o t z` in either case and the space.
const NUMERIC: u8 = 1;
/// The byte needs a closer look ([`plain_safe_bytes`]): a control, DEL, any byte of a
/// non-ASCII character, or one of `' '`, `#`, `:` (which matter only next to each other).
const CLOSER: u8 = 2;
/// The byte may not start a plain scalar: an indicator ([`INDICATORS`]) or the space.
const NO_START: u8 = 4;

/// The class bits of every byte value, derived from the character lists above so they cannot
/// disagree with them (`plain_scalar_test_agrees_with_its_specification` checks the whole rule).
static BYTE_CLASSES: [u8; 256] = byte_classes();

// Evaluated at compile time, where an index out of bounds is a build error, not a panic.
#[allow(clippy::indexing_slicing)]
const fn byte_classes() -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut b = 0u8;
    loop {
        let mut class = 0;
        if b.is_ascii_hexdigit()
            || matches!(
                b,
                b'_' | b'.' | b':' | b'+' | b'-' | b'x' | b'X' | b'o' | b'O' | b't' | b'T' | b'z' | b'Z' | b' '
            )
        {
            class |= NUMERIC;
        }
        if b < 0x20 || b >= 0x7f || matches!(b, b' ' | b'#' | b':') {
            class |= CLOSER;
        }
        if b == b' ' {
            class |= NO_START;
        }
        let mut rest = INDICATORS;
        while let [c, tail @ ..] = rest {
            if *c as u32 == b as u32 {
                class |= NO_START;
            }
            rest = tail;
        }
        table[b as usize] = class;
        if b == u8::MAX {
            return table;
        }
        b += 1;
    }
}

/// The [`BYTE_CLASSES`] of `b`.
fn class_of(b: u8) -> u8 {
    BYTE_CLASSES.get(usize::from(b)).copied().unwrap_or(0)
}

/// The part of [`is_plain_safe`] for strings holding a byte of class [`CLOSER`]: no control
/// byte or character YAML needs escaped, no `: ` and no ` #`.
fn plain_safe_bytes(s: &str) -> bool {
    let mut prev = 0u8;
    let mut ascii = true;
    for &b in s.as_bytes() {
        if b < 0x20 || b == 0x7f || (b == b' ' && prev == b':') || (b == b'#' && prev == b' ') {
            return false;
        }
        ascii &= b < 0x80;
        prev = b;
    }
    ascii || !s.chars().any(needs_escape)
}

/// Whether `s` can be written as a plain scalar that every YAML 1.1/1.2 parser reads back as
/// this exact string.
///
/// It runs for every key and string of the output, so it is one pass over the bytes with a
/// table lookup each (the union of their [`BYTE_CLASSES`]); the rarer strings with a space,
/// `#`, `:`, a control or a non-ASCII character get a second look, and only strings that
/// start like a number are checked for number characters.
pub fn is_plain_safe(s: &str) -> bool {
    let bytes = s.as_bytes();
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    // An ASCII first or last byte is the character; a non-ASCII one may be Unicode whitespace.
    // (ASCII whitespace other than the space is a control, refused below.)
    let ends_blank = if first < 0x80 && last < 0x80 {
        first == b' ' || last == b' '
    } else {
        s.chars().next().is_some_and(char::is_whitespace) || s.chars().next_back().is_some_and(char::is_whitespace)
    };
    // `...` at the start of a line ends a document (`---` is caught by the `-` indicator).
    if ends_blank || class_of(first) & NO_START != 0 || last == b':' || (first == b'.' && bytes.starts_with(b"...")) {
        return false;
    }
    let any = bytes.iter().fold(0u8, |any, &b| any | class_of(b));
    if any & CLOSER != 0 && !plain_safe_bytes(s) {
        return false;
    }
    // Most short strings (keys like `name`, `cpu`) cannot start like a reserved word, which
    // one table lookup tells before the words are compared.
    if bytes.len() <= 9 && may_start_reserved(s) && is_reserved(bytes) {
        return false;
    }
    // Looks like a number or timestamp: after an optional sign a digit or `.`, and only
    // number/timestamp characters (the sign is one of them).
    let unsigned = match first {
        b'+' | b'-' => bytes.get(1),
        _ => Some(&first),
    };
    let numeric =
        unsigned.is_some_and(|&b| b.is_ascii_digit() || b == b'.') && bytes.iter().all(|&b| class_of(b) & NUMERIC != 0);
    !numeric
}

/// [`is_plain_safe`] of a key or string value, remembered per thread for texts that are shared
/// (`shared`, the text's `Arc` when the value holds one and something else holds it too: a key
/// or string written in a template's literal, or an app's field written at several places, is
/// one text in every instance or place). The memo is a small table indexed by the text's
/// address; each slot holds its text, so an address names the same text while its slot keeps
/// it, and a slot another text takes is simply written over. Only short texts are kept, so the
/// memo holds a few hundred KiB at most.
fn is_plain_shared(s: &str, shared: Option<&Arc<str>>) -> bool {
    let Some(text) = shared.filter(|t| t.len() <= MAX_PLAIN_KEY && Arc::strong_count(t) > 1) else {
        return is_plain_safe(s);
    };
    let addr = Arc::as_ptr(text) as *const u8 as usize;
    let slot = crate::value::address_slot(addr, PLAIN_KEY_SLOTS);
    let known = PLAIN_KEYS
        .try_with(|memo| {
            let memo = memo.try_borrow().ok()?;
            let (held, plain) = memo.get(slot)?.as_ref()?;
            Arc::ptr_eq(held, text).then_some(*plain)
        })
        .ok()
        .flatten();
    if let Some(plain) = known {
        return plain;
    }
    let plain = is_plain_safe(s);
    let _ = PLAIN_KEYS.try_with(|memo| {
        if let Ok(mut memo) = memo.try_borrow_mut() {
            if memo.is_empty() {
                memo.resize(PLAIN_KEY_SLOTS, None);
            }
            if let Some(entry) = memo.get_mut(slot) {
                *entry = Some((text.clone(), plain));
            }
        }
    });
    plain
}

/// [`is_plain_safe`] of a key of kdep's stamps (`labels`, `annotations`, the label and
/// annotation names), remembered per thread by the text's address: a `&'static str` is never
/// freed, so its address names its text for the life of the program. A handful of such keys
/// exist; past [`STATIC_KEY_SLOTS`] the others are decided afresh each time.
fn is_plain_static(text: &'static str) -> bool {
    let at = (text.as_ptr() as usize, text.len());
    let known = STATIC_KEYS
        .try_with(|memo| memo.try_borrow().ok()?.iter().find(|(addr, _)| *addr == at).map(|(_, plain)| *plain))
        .ok()
        .flatten();
    if let Some(plain) = known {
        return plain;
    }
    let plain = is_plain_safe(text);
    let _ = STATIC_KEYS.try_with(|memo| {
        if let Ok(mut memo) = memo.try_borrow_mut() {
            if memo.len() < STATIC_KEY_SLOTS {
                memo.push((at, plain));
            }
        }
    });
    plain
}

/// Most static keys [`is_plain_static`] remembers per thread.
const STATIC_KEY_SLOTS: usize = 16;

thread_local! {
    /// [`is_plain_static`]'s memo: (address, length) of a static text, and its decision.
    static STATIC_KEYS: RefCell<Vec<((usize, usize), bool)>> = const { RefCell::new(Vec::new()) };
}

/// Slots of [`is_plain_shared`]'s memo.
const PLAIN_KEY_SLOTS: usize = 512;
/// Longest text [`is_plain_shared`] remembers.
const MAX_PLAIN_KEY: usize = 256;

/// A slot of [`PLAIN_KEYS`]: a text and whether it may be written plain.
type PlainSlot = Option<(Arc<str>, bool)>;

thread_local! {
    /// [`is_plain_shared`]'s memo: slot by address, each holding its text.
    static PLAIN_KEYS: RefCell<Vec<PlainSlot>> = const { RefCell::new(Vec::new()) };
}

/// Writes `s` double-quoted with YAML escapes. Not kdep's string spelling
/// (`kdep_sema::ty::write_string_literal`): YAML has `\x..`, `\N`, `\L`, `\P` and `\0`, escapes
/// more characters (C1 controls, BOM) and has no `${` interpolation to guard.
pub fn write_double_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            '\u{85}' => out.push_str("\\N"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if needs_escape(c) => {
                let n = u32::from(c);
                if n <= 0xff {
                    let _ = write!(out, "\\x{n:02X}");
                } else {
                    let _ = write!(out, "\\u{n:04X}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Whether a multi-line string can be a literal block scalar that reads back exactly: no
/// escapes needed, no tabs, a first line that does not start with a space (that would need an
/// indentation indicator), no whitespace-only lines, and at most one final newline.
fn literal_block_ok(s: &str) -> bool {
    let body = s.strip_suffix('\n').unwrap_or(s);
    body.contains('\n')
        && !body.ends_with('\n')
        && !body.starts_with([' ', '\n'])
        && !s.chars().any(|c| needs_escape(c) && c != '\n' || c == '\t')
        && body.split('\n').all(|line| line.is_empty() || !line.trim_start_matches(' ').is_empty())
}

/// Writes a string value: plain, literal block or double-quoted.
fn write_string(out: &mut String, s: &str, block_indent: usize) {
    if is_plain_safe(s) {
        out.push_str(s);
    } else {
        write_not_plain(out, s, block_indent);
    }
}

/// [`write_string`] of a string that [`is_plain_safe`] refused: a literal block when its text
/// allows one, else double-quoted.
fn write_not_plain(out: &mut String, s: &str, block_indent: usize) {
    if literal_block_ok(s) {
        let (body, chomp) = match s.strip_suffix('\n') {
            Some(body) => (body, "|"),
            None => (s, "|-"),
        };
        out.push_str(chomp);
        for line in body.split('\n') {
            out.push('\n');
            if !line.is_empty() {
                pad(out, block_indent);
                out.push_str(line);
            }
        }
    } else {
        write_double_quoted(out, s);
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;
    use std::sync::Arc;

    use kdep_sema::duration::Duration;
    use kdep_sema::quantity::Quantity;
    use proptest::prelude::*;

    use super::*;
    use crate::value::Origin;

    #[test]
    fn written_size_covers_indentation() {
        // Every line of a deep value is indented by its depth, so what is written grows with
        // the square of the depth; the object size limit must see that, not just the content.
        let mut v = Value::from("x");
        for _ in 0..150 {
            v = map(vec![("k", v), ("l", Value::list(vec![Value::Int(1), Value::from("y")]))]);
        }
        let size = v.written_size(usize::MAX);
        assert!(to_yaml_value(&v).len() <= size, "{} > {size}", to_yaml_value(&v).len());
        assert!(to_yaml_stream(std::slice::from_ref(&v)).len() <= size);
        assert!(to_json(std::slice::from_ref(&v)).len() <= size, "{} > {size}", to_json(&[v.clone()]).len());
        // The estimate stays within a small factor of the truth.
        assert!(size < 4 * to_json(std::slice::from_ref(&v)).len());
    }

    /// Quantities are written as the user wrote them: `"100m"` stays `100m`, `"1Gi"` stays
    /// `1Gi`, an int stays an int (`cpu = 2` is `2`, not `"2"`); computed ones are canonical.
    #[test]
    fn quantities_keep_their_spelling() {
        let sum = Quantity::from_int(2).checked_add(&Quantity::from_int(1)).unwrap_or_else(|e| panic!("{e}"));
        let v = map(vec![
            ("cpu", qty("100m")),
            ("memory", qty("1Gi")),
            ("cores", Value::from(Quantity::from_int(2))),
            ("text", qty("2")),
            ("sum", Value::from(sum)),
        ]);
        let yaml = to_yaml_value(&v);
        assert_eq!(yaml, "cpu: 100m\nmemory: 1Gi\ncores: 2\ntext: \"2\"\nsum: \"3\"\n");
        let json: serde_json::Value =
            serde_json::from_str(&to_json(std::slice::from_ref(&v))).unwrap_or_else(|e| panic!("{e}"));
        let first = json.get(0).unwrap_or(&json);
        assert_eq!(first.get("cores"), Some(&serde_json::Value::from(2)));
        assert_eq!(first.get("cpu"), Some(&serde_json::Value::from("100m")));
        assert_eq!(first.get("text"), Some(&serde_json::Value::from("2")));
        assert_eq!(v.to_json().ok().and_then(|j| j.get("cores").cloned()), Some(serde_json::Value::from(2)));
    }

    fn map(entries: Vec<(&str, Value)>) -> Value {
        let mut m = Map::new();
        for (k, v) in entries {
            m.insert(k, v, Origin::computed());
        }
        Value::map(m)
    }

    fn s(text: &str) -> Value {
        Value::from(text)
    }

    fn qty(text: &str) -> Value {
        Value::from(Quantity::parse(text).unwrap_or_else(|e| panic!("{e}")))
    }

    /// Every string a careless emitter gets wrong.
    const TRAPS: &[&str] = &[
        "on",
        "off",
        "On",
        "OFF",
        "yes",
        "no",
        "Yes",
        "NO",
        "y",
        "n",
        "Y",
        "N",
        "true",
        "false",
        "True",
        "FALSE",
        "null",
        "Null",
        "NULL",
        "~",
        "=",
        "<<",
        "0755",
        "0x1F",
        "0o17",
        "0b101",
        "1e3",
        "1E3",
        "+1",
        "-1",
        ".5",
        "5.",
        "1_000",
        "12:30",
        "1:20:30",
        "190:20:30.15",
        ".inf",
        "-.inf",
        "+.inf",
        ".nan",
        ".NaN",
        "inf",
        "NaN",
        "Infinity",
        "2024-01-01",
        "2001-12-14t21:59:43.10-05:00",
        "2001-12-14 21:59:43.10 -5",
        "",
        " ",
        " lead",
        "trail ",
        "-",
        "- item",
        "?",
        "? q",
        ":",
        ":x",
        ",",
        "[a]",
        "]",
        "{a}",
        "}",
        "#c",
        "&a",
        "*a",
        "!tag",
        "|",
        ">",
        "'q'",
        "\"q\"",
        "%x",
        "@x",
        "`x`",
        "a: b",
        "a:",
        "a #b",
        "a#b",
        "line\nbreak",
        "two\nlines\n",
        "ends\n\n",
        "\nlead",
        "tab\there",
        "cr\rlf",
        "nul\0",
        "bell\u{7}",
        "del\u{7f}",
        "nel\u{85}x",
        "ls\u{2028}x",
        "bom\u{feff}",
        "\u{fffe}",
        "back\\slash",
        "quote\"mid",
        "it's",
        "---",
        "...",
        "... x",
        "...xOn",
        "1.2.3",
        "123",
        "0",
        "-0",
        "00",
        "1Gi",
        "500m",
        "nginx:1.25",
        "http://x",
        "a b",
        "ünïcödé",
        "emoji 🎉",
        "  indented\nblock",
        "a\n  more\nless",
    ];

    /// Converts what serde_yaml parsed back into a value for comparison.
    fn from_yaml(y: &serde_yaml::Value) -> Result<Value, String> {
        Ok(match y {
            serde_yaml::Value::Null => Value::Null,
            serde_yaml::Value::Bool(b) => Value::Bool(*b),
            serde_yaml::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().ok_or("number out of range")?),
            },
            serde_yaml::Value::String(text) => Value::from(text.as_str()),
            serde_yaml::Value::Sequence(items) => Value::list(items.iter().map(from_yaml).collect::<Result<_, _>>()?),
            serde_yaml::Value::Mapping(m) => {
                let mut out = Map::new();
                for (k, v) in m {
                    let serde_yaml::Value::String(k) = k else { return Err(format!("non-string key {k:?}")) };
                    out.insert(k.as_str(), from_yaml(v)?, Origin::computed());
                }
                Value::map(out)
            }
            serde_yaml::Value::Tagged(t) => return Err(format!("unexpected tag {:?}", t.tag)),
        })
    }

    /// What the YAML should read back as: quantities and durations become strings.
    fn expected(v: &Value) -> Value {
        match v {
            Value::Quantity(q) => q.written_int().map_or_else(|| Value::from(q.as_written()), Value::Int),
            Value::Duration(d) => Value::from(d.as_written()),
            Value::List(items) => Value::list(items.iter().map(expected).collect()),
            Value::Map(m) => {
                let mut out = Map::new();
                for (k, v) in m.iter() {
                    out.insert(k, expected(v), Origin::computed());
                }
                Value::map(out)
            }
            other => other.clone(),
        }
    }

    /// Equality that also requires the same key order (and treats NaN as equal to NaN).
    fn same(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Float(x), Value::Float(y)) => x == y || (x.is_nan() && y.is_nan()),
            (Value::List(x), Value::List(y)) => x.len() == y.len() && x.iter().zip(y.iter()).all(|(a, b)| same(a, b)),
            (Value::Map(x), Value::Map(y)) => {
                x.len() == y.len() && x.iter().zip(y.iter()).all(|((ka, va), (kb, vb))| ka == kb && same(va, vb))
            }
            _ => a == b,
        }
    }

    fn round_trip(v: &Value) -> Result<(), String> {
        let yaml = to_yaml_value(v);
        let parsed: serde_yaml::Value = serde_yaml::from_str(&yaml).map_err(|e| format!("{e}\n{yaml}"))?;
        let back = from_yaml(&parsed)?;
        if same(&back, &expected(v)) {
            Ok(())
        } else {
            Err(format!("round trip changed the value\nyaml:\n{yaml}\nback: {back}\nwant: {}", expected(v)))
        }
    }

    #[test]
    fn trap_strings_round_trip_as_values_keys_and_list_items() {
        for trap in TRAPS {
            let as_value = map(vec![("k", s(trap))]);
            let as_key = map(vec![(trap, s("v"))]);
            let as_item = Value::list(vec![s(trap), Value::list(vec![s(trap)])]);
            let nested = map(vec![("outer", map(vec![("inner", s(trap))])), ("list", as_item.clone())]);
            for v in [&as_value, &as_key, &as_item, &nested, &s(trap)] {
                if let Err(e) = round_trip(v) {
                    panic!("trap {trap:?}: {e}");
                }
            }
        }
    }

    #[test]
    fn trap_strings_snapshot() {
        let mut table = String::new();
        for trap in TRAPS {
            let mut line = String::new();
            write_string(&mut line, trap, 2);
            let _ = writeln!(table, "{trap:?} => {line}");
        }
        insta::assert_snapshot!(table);
    }

    #[test]
    fn floats_read_back_as_floats() {
        for (x, text) in [
            (1.0, "1.0"),
            (0.25, "0.25"),
            (-2.5, "-2.5"),
            (1e20, "1.0e+20"),
            (1.5e-7, "1.5e-7"),
            (f64::INFINITY, ".inf"),
            (f64::NEG_INFINITY, "-.inf"),
            (f64::NAN, ".nan"),
        ] {
            assert_eq!(yaml_float(x), text);
            if let Err(e) = round_trip(&Value::list(vec![Value::Float(x)])) {
                panic!("{x}: {e}");
            }
        }
    }

    fn deployment_and_service() -> Vec<Value> {
        let labels = || map(vec![("app", s("checkout"))]);
        let deployment = map(vec![
            (
                "spec",
                map(vec![
                    ("replicas", Value::Int(3)),
                    ("selector", map(vec![("matchLabels", labels())])),
                    (
                        "template",
                        map(vec![
                            ("metadata", map(vec![("labels", labels())])),
                            (
                                "spec",
                                map(vec![(
                                    "containers",
                                    Value::list(vec![map(vec![
                                        ("name", s("checkout")),
                                        ("image", s("registry.example.com/shop/checkout:1.4.2")),
                                        ("args", Value::list(vec![s("--port"), s("8080"), s("--verbose")])),
                                        ("ports", Value::list(vec![map(vec![("containerPort", Value::Int(8080))])])),
                                        (
                                            "env",
                                            Value::list(vec![
                                                map(vec![("name", s("PAYMENT_URL")), ("value", s("http://payments"))]),
                                                map(vec![("name", s("FEATURE_X")), ("value", s("on"))]),
                                                map(vec![("name", s("RATIO")), ("value", s("0.5"))]),
                                            ]),
                                        ),
                                        (
                                            "resources",
                                            map(vec![
                                                ("requests", map(vec![("cpu", qty("500m")), ("memory", qty("512Mi"))])),
                                                ("limits", map(vec![("memory", qty("1Gi"))])),
                                            ]),
                                        ),
                                        (
                                            "securityContext",
                                            map(vec![
                                                ("runAsNonRoot", Value::Bool(true)),
                                                ("readOnlyRootFilesystem", Value::Bool(true)),
                                            ]),
                                        ),
                                        ("volumeMounts", Value::list(vec![])),
                                    ])]),
                                )]),
                            ),
                        ]),
                    ),
                    ("progressDeadline", Value::Duration(Duration::parse("10m").unwrap_or_else(|e| panic!("{e}")))),
                ]),
            ),
            (
                "metadata",
                map(vec![
                    ("labels", labels()),
                    ("namespace", s("shop")),
                    ("name", s("checkout")),
                    ("annotations", map(vec![("kdep.dev/source", s("teams/shop/checkout.kdep:3"))])),
                ]),
            ),
            ("kind", s("Deployment")),
            ("apiVersion", s("apps/v1")),
        ]);
        let service = map(vec![
            ("apiVersion", s("v1")),
            ("kind", s("Service")),
            ("metadata", map(vec![("name", s("checkout")), ("namespace", s("shop"))])),
            (
                "spec",
                map(vec![
                    ("selector", labels()),
                    ("ports", Value::list(vec![map(vec![("port", Value::Int(80)), ("targetPort", Value::Int(8080))])])),
                    ("sessionAffinityConfig", Value::empty_map()),
                ]),
            ),
        ]);
        let config = map(vec![
            ("apiVersion", s("v1")),
            ("kind", s("ConfigMap")),
            ("metadata", map(vec![("name", s("checkout-config"))])),
            (
                "data",
                map(vec![
                    ("app.properties", s("mode=prod\nport: 8080\n\n# comment\n  indented\n")),
                    ("no-newline", s("a\nb")),
                    ("ratio", Value::Float(0.75)),
                ]),
            ),
        ]);
        vec![deployment, service, config]
    }

    #[test]
    fn deployment_and_service_stream_snapshot() {
        let objects = deployment_and_service();
        let yaml = to_yaml_stream(&objects);
        insta::assert_snapshot!(yaml);
        // Separator lines are the only unindented `---` lines this writer produces.
        let docs: Vec<serde_yaml::Value> =
            yaml.split("\n---\n").map(|d| serde_yaml::from_str(d).unwrap_or(serde_yaml::Value::Null)).collect();
        assert_eq!(docs.len(), objects.len());
        for (doc, object) in docs.iter().zip(&objects) {
            assert_eq!(from_yaml(doc).ok(), Some(expected(object)));
        }
    }

    #[test]
    fn json_output() {
        let objects = deployment_and_service();
        let one = to_json(objects.get(1..2).unwrap_or_default());
        insta::assert_snapshot!(one);
        let all = to_json(&objects);
        assert!(all.starts_with("{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"List\",\n  \"items\": ["), "{all}");
        let parsed: serde_json::Value = serde_json::from_str(&all).unwrap_or_default();
        assert_eq!(parsed.get("items").and_then(|i| i.as_array()).map(Vec::len), Some(3));
        // The Deployment's keys were reordered.
        let first_key = parsed.pointer("/items/0").and_then(|d| d.as_object()).and_then(|o| o.keys().next().cloned());
        assert_eq!(first_key.as_deref(), Some("apiVersion"));
        assert_eq!(to_json(&[]), "{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"List\",\n  \"items\": []\n}\n");
    }

    #[test]
    fn empty_stream_and_scalar_documents() {
        assert_eq!(to_yaml_stream(&[]), "");
        assert_eq!(to_yaml_value(&Value::Int(3)), "3\n");
        assert_eq!(to_yaml_value(&Value::empty_map()), "{}\n");
        assert_eq!(to_yaml_value(&Value::list(vec![])), "[]\n");
        assert_eq!(to_yaml_value(&s("a\nb")), "|-\n  a\n  b\n");
    }

    #[test]
    fn nested_lists_and_long_keys() {
        let v = Value::list(vec![Value::list(vec![Value::Int(1), Value::list(vec![s("x")])]), Value::list(vec![])]);
        assert_eq!(to_yaml_value(&v), "- - 1\n  - - x\n- []\n");
        let long = "k".repeat(1500);
        let v = map(vec![(long.as_str(), map(vec![("a", Value::Int(1))])), ("b", Value::list(vec![Value::Null]))]);
        let yaml = to_yaml_value(&v);
        assert!(yaml.starts_with("? kkk"), "{yaml}");
        if let Err(e) = round_trip(&v) {
            panic!("{e}");
        }
        let in_list = Value::list(vec![v]);
        if let Err(e) = round_trip(&in_list) {
            panic!("{e}");
        }
    }

    /// Every reserved word in every mix of letter case, signed where a sign is allowed, is
    /// quoted: the first-byte table in front of the word lists must never let one through.
    #[test]
    fn reserved_words_in_every_case_are_quoted() {
        let words = RESERVED.iter().map(|w| (*w, false)).chain(RESERVED_NUMBERS.iter().map(|w| (*w, true)));
        for (word, signed) in words {
            for mask in 0u32..(1 << word.len()) {
                let cased: String = word
                    .chars()
                    .enumerate()
                    .map(|(i, c)| if mask & (1 << i) != 0 { c.to_ascii_uppercase() } else { c })
                    .collect();
                let signs: &[&str] = if signed { &["", "+", "-"] } else { &[""] };
                for sign in signs {
                    let text = format!("{sign}{cased}");
                    assert!(!is_plain_safe(&text), "{text:?} must be quoted");
                    assert!(!plain_safe_as_specified(&text), "{text:?}");
                }
            }
        }
    }

    fn arb_string() -> impl Strategy<Value = String> {
        prop_oneof![
            proptest::sample::select(TRAPS).prop_map(str::to_owned),
            "[a-z0-9 :#.\\-_/]{0,12}",
            "[-+.0-9eExXoO_:]{1,8}",
            // Every printable ASCII character, so indicators and flow characters show up anywhere.
            "[ -~]{0,10}",
            "[ -~\t\n\r]{0,10}",
            any::<String>(),
            proptest::collection::vec(proptest::sample::select(TRAPS), 1..4).prop_map(|parts| parts.join("")),
            proptest::collection::vec("[a-z ]{0,6}", 1..5).prop_map(|lines| lines.join("\n")),
        ]
    }

    fn arb_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::Int),
            any::<f64>().prop_map(Value::Float),
            arb_string().prop_map(Value::from),
            proptest::sample::select(&["500m", "1.5Gi", "1e3", "2", "0.5"][..])
                .prop_map(|t| Value::from(Quantity::parse(t).unwrap_or_else(|_| Quantity::from_int(0)))),
            proptest::sample::select(&["1h30m", "10s", "0"][..])
                .prop_map(|t| Value::Duration(Duration::parse(t).unwrap_or_else(|_| Duration::from_nanos(0)))),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::list),
                proptest::collection::vec((arb_string(), inner), 0..6).prop_map(|entries| {
                    let mut m = Map::new();
                    for (k, v) in entries {
                        m.insert(Arc::<str>::from(k), v, Origin::computed());
                    }
                    Value::map(m)
                }),
            ]
        })
    }

    /// Whether a string that starts like a number consists only of number/timestamp characters
    /// (the specification's wording, for [`plain_safe_as_specified`]).
    fn looks_numeric(s: &str) -> bool {
        let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
        unsigned.starts_with(|c: char| c.is_ascii_digit() || c == '.')
            && unsigned.chars().all(|c| {
                c.is_ascii_hexdigit()
                    || matches!(c, '_' | '.' | ':' | '+' | '-' | 'x' | 'X' | 'o' | 'O' | 't' | 'T' | 'z' | 'Z' | ' ')
            })
    }

    /// The plain-scalar rule as the module documentation states it, written the obvious
    /// (allocating) way: the oracle [`is_plain_safe`] must agree with on every string.
    fn plain_safe_as_specified(s: &str) -> bool {
        let (Some(first), Some(last)) = (s.chars().next(), s.chars().next_back()) else {
            return false;
        };
        if first.is_whitespace()
            || last.is_whitespace()
            || INDICATORS.contains(&first)
            || last == ':'
            || s.starts_with("...")
        {
            return false;
        }
        if s.chars().any(|c| needs_escape(c) || c == '\t') || s.contains(": ") || s.contains(" #") {
            return false;
        }
        let lower = s.to_ascii_lowercase();
        let unsigned = lower.strip_prefix(['+', '-']).unwrap_or(&lower);
        if RESERVED.contains(&lower.as_str()) || RESERVED_NUMBERS.contains(&unsigned) {
            return false;
        }
        !looks_numeric(s)
    }

    /// The JSON the writer must produce, built the obvious way: a `serde_json` tree printed by
    /// `serde_json::to_string_pretty` (keys in output order, as `Order` states it).
    fn json_oracle(value: &Value, top: bool) -> serde_json::Value {
        match value {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(n) => serde_json::Value::from(*n),
            Value::Float(x) => {
                serde_json::Number::from_f64(*x).map_or(serde_json::Value::Null, serde_json::Value::Number)
            }
            Value::Str(s) => serde_json::Value::String(s.to_string()),
            Value::Quantity(q) => q.written_int().map_or_else(|| q.as_written().into(), serde_json::Value::from),
            Value::Duration(d) => serde_json::Value::String(d.as_written()),
            Value::List(items) => serde_json::Value::Array(items.iter().map(|v| json_oracle(v, false)).collect()),
            Value::Map(map) => {
                let mut out = serde_json::Map::new();
                let first: &[&str] = if top { &OBJECT_FIRST } else { &[] };
                for key in first {
                    if let Some(v) = map.get(key) {
                        let v = if *key == "metadata" { metadata_oracle(v) } else { json_oracle(v, false) };
                        out.insert((*key).to_owned(), v);
                    }
                }
                for (k, v) in map.iter().filter(|(k, _)| !first.contains(k)) {
                    out.insert(k.to_owned(), json_oracle(v, false));
                }
                serde_json::Value::Object(out)
            }
        }
    }

    fn metadata_oracle(value: &Value) -> serde_json::Value {
        let Value::Map(map) = value else { return json_oracle(value, false) };
        let mut out = serde_json::Map::new();
        for key in ["name", "namespace"] {
            if let Some(v) = map.get(key) {
                out.insert(key.to_owned(), json_oracle(v, false));
            }
        }
        for (k, v) in map.iter().filter(|(k, _)| !["name", "namespace"].contains(k)) {
            out.insert(k.to_owned(), json_oracle(v, false));
        }
        serde_json::Value::Object(out)
    }

    fn to_json_oracle(objects: &[Value]) -> String {
        let json = match objects {
            [one] => json_oracle(one, true),
            _ => serde_json::json!({
                "apiVersion": "v1",
                "kind": "List",
                "items": objects.iter().map(|o| json_oracle(o, true)).collect::<Vec<_>>(),
            }),
        };
        let mut text = serde_json::to_string_pretty(&json).unwrap_or_default();
        text.push('\n');
        text
    }

    #[test]
    fn json_writer_matches_serde_json_on_manifests() {
        let objects = deployment_and_service();
        for n in 0..=objects.len() {
            let some = objects.get(..n).unwrap_or_default();
            assert_eq!(to_json(some), to_json_oracle(some), "{n} objects");
        }
    }

    /// An object with a `metadata` map, so the object and metadata orders are exercised.
    fn arb_object() -> impl Strategy<Value = Value> {
        (arb_value(), arb_value(), arb_string()).prop_map(|(spec, meta, name)| {
            let mut metadata = match meta {
                Value::Map(m) => (*m).clone(),
                other => {
                    let mut m = Map::new();
                    m.insert("labels", other, Origin::computed());
                    m
                }
            };
            metadata.insert("name", Value::from(name), Origin::computed());
            map(vec![("spec", spec), ("metadata", Value::map(metadata)), ("kind", s("X")), ("apiVersion", s("v1"))])
        })
    }

    /// The attack on remembering the quoting of kdep's static keys by address: static texts
    /// that start at one address (a text and its prefix) are told apart by their length, so
    /// `key` stays plain after `key: value` was refused and the other way round, in any order;
    /// and past the memo's slots every key is still decided as itself.
    #[test]
    fn remembered_static_key_quoting_is_each_keys_own() {
        const BOTH: &str = "key: value";
        let head: &'static str = &BOTH[..3];
        assert!(std::ptr::eq(head.as_ptr(), BOTH.as_ptr()));
        for _ in 0..2 {
            assert!(is_plain_static(head), "{head:?} is plain");
            assert!(!is_plain_static(BOTH), "{BOTH:?} must be quoted");
        }
        const MANY: [&str; 24] = [
            "a", "b:", "c", "- d", "e", "#f", "g", "true", "h", "1.5", "i", "j ", "k", "null", "l", "m: n", "o", "p",
            "'q", "r", "s", "@t", "u", "v",
        ];
        for _ in 0..2 {
            for text in MANY {
                assert_eq!(is_plain_static(text), is_plain_safe(text), "{text:?}");
            }
        }
    }

    /// Keys and strings whose text is shared take their quoting from a memo by address:
    /// thousands of them, plain and quoted mixed (so slots are taken over many times), written
    /// twice, give the text the same keys and strings give unshared (never remembered).
    #[test]
    fn remembered_key_quoting_is_each_keys_own() {
        let texts: Vec<String> = (0..3000)
            // Three kinds: slots repeat with a power of two of allocations, so texts of
            // different kinds meet in a slot.
            .map(|i| match i % 3 {
                0 => format!("key{i}"),
                1 => format!("- {i}"),
                _ => format!("{i}"),
            })
            .collect();
        let shared: Vec<Arc<str>> = texts.iter().map(|t| Arc::<str>::from(t.as_str())).collect();
        let mut with_shared = Map::new();
        let mut unshared = Map::new();
        for (text, key) in texts.iter().zip(&shared) {
            with_shared.insert(key.clone(), Value::Str(key.clone()), Origin::computed());
            unshared.insert(Arc::<str>::from(text.as_str()), Value::from(text.as_str()), Origin::computed());
        }
        let expected = to_yaml_value(&Value::map(unshared));
        let with_shared = Value::map(with_shared);
        for _ in 0..2 {
            assert_eq!(to_yaml_value(&with_shared), expected);
        }
    }

    /// `object` written by a thread that shares nothing: no subtree is a constant there, so
    /// every byte is written afresh. The oracle of the subtree texts' tests.
    fn written_afresh(object: &Value, stamp: Option<(&str, &str)>, format: Format) -> String {
        let object = object.clone();
        let stamp = stamp.map(|(app, source)| (app.to_owned(), source.to_owned()));
        std::thread::spawn(move || {
            let stamp = stamp.as_ref().map(|(app, source)| test_stamp(app, source));
            object_text(&object, stamp.as_ref(), format)
        })
        .join()
        .unwrap_or_default()
    }

    fn test_stamp<'a>(app: &'a str, source: &'a str) -> Stamp<'a> {
        Stamp {
            namespace: Some(app),
            labels: [("kdep.dev/app", app), ("team", source)],
            annotations: vec![("src", source)],
        }
    }

    /// `value` at every kind of place: a map value at two indentations, a list item, a list in
    /// a list, a list under a key, the root and the `metadata` of an object.
    fn everywhere(value: &Value) -> Value {
        map(vec![
            ("apiVersion", s("v1")),
            ("kind", s("X")),
            ("metadata", map(vec![("name", s("n")), ("labels", value.clone()), ("extra", value.clone())])),
            ("top", value.clone()),
            (
                "spec",
                map(vec![
                    ("deep", map(vec![("value", value.clone())])),
                    ("items", Value::list(vec![value.clone(), Value::list(vec![value.clone(), value.clone()])])),
                ]),
            ),
        ])
    }

    /// A shared constant subtree's text is kept by where it is written: its indentation,
    /// whether it starts on a dash line, the format, and never for an object's root or
    /// `metadata`, which are reordered and stamped per object. Every write, first or copied,
    /// is the text a thread without shared values writes.
    #[test]
    fn shared_constant_subtrees_are_written_as_at_their_place() {
        let probe = map(vec![
            ("httpGet", map(vec![("path", s("/healthz")), ("port", s("http"))])),
            ("note", s("first\nsecond\n")),
            ("caps", Value::list(vec![s("ALL"), s("on")])),
        ]);
        let metadata = map(vec![("name", s("shared")), ("labels", map(vec![("team", s("x"))]))]);
        let object = map(vec![
            ("apiVersion", s("v1")),
            ("kind", s("X")),
            ("metadata", metadata),
            ("spec", map(vec![("probe", probe.clone()), ("copy", everywhere(&probe))])),
        ]);
        // The whole object is a constant: its root and `metadata` are shared too.
        crate::interp::keep_as_constant(&object);
        for _ in 0..2 {
            for format in [Format::Yaml, Format::Json] {
                for stamp in [Some(("a", "a.kdep:1")), Some(("b", "b.kdep:2")), None] {
                    let written = object_text(&object, stamp.map(|(a, s)| test_stamp(a, s)).as_ref(), format);
                    assert_eq!(written, written_afresh(&object, stamp, format), "{format:?} {stamp:?}");
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

        #[test]
        fn yaml_round_trips_through_serde_yaml(v in arb_value()) {
            if let Err(e) = round_trip(&v) {
                prop_assert!(false, "{}", e);
            }
        }

        #[test]
        fn plain_scalar_test_agrees_with_its_specification(text in arb_string()) {
            prop_assert_eq!(is_plain_safe(&text), plain_safe_as_specified(&text), "{:?}", text);
        }

        #[test]
        fn json_writer_agrees_with_serde_json(objects in proptest::collection::vec(arb_object(), 0..3), v in arb_value()) {
            prop_assert_eq!(to_json(&objects), to_json_oracle(&objects));
            prop_assert_eq!(to_json(std::slice::from_ref(&v)), to_json_oracle(std::slice::from_ref(&v)));
        }

        #[test]
        fn joined_object_texts_are_the_stream(objects in proptest::collection::vec(arb_object(), 0..4)) {
            for format in [Format::Yaml, Format::Json] {
                let texts: Vec<String> = objects.iter().map(|o| object_text(o, None, format)).collect();
                let mut joined = String::new();
                let _ = join_stream(texts.iter().map(String::as_str), format, |p| {
                    joined.push_str(p);
                    Ok::<(), ()>(())
                });
                let whole = match format {
                    Format::Yaml => to_yaml_stream(&objects),
                    Format::Json => to_json_oracle(&objects),
                };
                prop_assert_eq!(joined, whole);
            }
        }

        /// Any value kept as a constant is written, at every place and in both formats, as a
        /// thread that shares nothing writes it, the first time and when copied.
        #[test]
        fn shared_constant_subtrees_are_written_as_afresh(v in arb_value()) {
            crate::interp::keep_as_constant(&v);
            let object = everywhere(&v);
            for format in [Format::Yaml, Format::Json] {
                let fresh = written_afresh(&object, Some(("a", "a.kdep:1")), format);
                for _ in 0..2 {
                    prop_assert_eq!(&object_text(&object, Some(&test_stamp("a", "a.kdep:1")), format), &fresh);
                }
            }
        }

        #[test]
        fn any_string_round_trips(text in any::<String>()) {
            let v = map(vec![(text.as_str(), Value::list(vec![Value::from(text.as_str())]))]);
            if let Err(e) = round_trip(&v) {
                prop_assert!(false, "{}", e);
            }
        }
    }
}
