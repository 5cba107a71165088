//! The pure builtin function library (string, list, map, quantity, encoding, hashing, serialisation).
//!
//! Every builtin is a plain function from argument values to a value or an error message; the
//! evaluator wraps messages in `K0405 builtin-failed` diagnostics (prefixing the builtin's
//! name, which messages here do not repeat). The static description ([`Builtin::params`],
//! [`Builtin::ret`]) lets the type checker check calls before evaluation; the functions still
//! check their arguments themselves, so a call that slipped past the checker fails with a
//! message instead of a panic.
//!
//! Every builtin charges the work it does to a [`Meter`] — one unit per list item or map entry
//! it reads or builds, one per [`STRING_BYTES_PER_UNIT`] bytes of string it scans, copies or
//! hashes, more where its work grows faster than its input (`sort`, `unique`, `matches`) — and
//! stops as soon as the meter runs out. The evaluator adds the units to its step budget, so
//! builtins on large values in a comprehension end in K0404 instead of running for hours.
//!
//! Invariants: no IO, no clock, no randomness; results depend only on the arguments. Where an
//! order would otherwise be undefined it is fixed: maps keep insertion order (so `keys` and
//! `values` follow it), `sort` is stable, `unique` keeps first occurrences. Results are capped
//! ([`MAX_ITEMS`] list items, [`MAX_STRING_BYTES`] string bytes) so nested calls cannot exhaust
//! memory.

use std::cmp::Ordering;
use std::fmt::Write as _;

use base64::Engine as _;
use kdep_sema::duration::Duration;
use kdep_sema::quantity::Quantity;
use rustc_hash::FxHashSet;
use sha2::{Digest, Sha256};

use crate::emit;
use crate::value::{string_work, Map, Value, STRING_BYTES_PER_UNIT};

/// Work done by one builtin call, in units of evaluation steps, against what the caller
/// allows. Charging past the limit fails with a message, so a builtin stops early; the caller
/// tells that apart from other failures with [`Meter::exhausted`].
pub struct Meter {
    used: u64,
    limit: u64,
}

impl Meter {
    pub fn new(limit: u64) -> Self {
        Meter { used: 0, limit }
    }

    /// Adds `units` of work; fails once the total passes the limit.
    pub fn charge(&mut self, units: u64) -> Result<(), String> {
        self.used = self.used.saturating_add(units);
        if self.exhausted() {
            Err("the evaluation step limit was reached".to_owned())
        } else {
            Ok(())
        }
    }

    /// Charges for handling `n` bytes of string.
    pub fn bytes(&mut self, n: usize) -> Result<(), String> {
        self.charge(string_work(n))
    }

    /// Charges for handling `n` list items or map entries.
    pub fn items(&mut self, n: usize) -> Result<(), String> {
        self.charge(n as u64)
    }

    pub fn used(&self) -> u64 {
        self.used
    }

    pub fn exhausted(&self) -> bool {
        self.used > self.limit
    }
}

/// The largest list a builtin produces.
pub const MAX_ITEMS: usize = 1_000_000;
/// The largest string (in bytes) a builtin produces.
pub const MAX_STRING_BYTES: usize = 16 * 1024 * 1024;

pub use kdep_sema::builtins::{Kind, Signature};

/// Whether `value` is acceptable for a parameter of this kind.
pub fn kind_matches(kind: Kind, value: &Value) -> bool {
    match kind {
        Kind::Any => true,
        Kind::Str => matches!(value, Value::Str(_)),
        Kind::Int => matches!(value, Value::Int(_)),
        Kind::Float => matches!(value, Value::Float(_)),
        Kind::Number => matches!(value, Value::Int(_) | Value::Float(_)),
        Kind::Bool => matches!(value, Value::Bool(_)),
        Kind::Quantity => matches!(value, Value::Quantity(_)),
        Kind::Duration => matches!(value, Value::Duration(_)),
        Kind::List => matches!(value, Value::List(_)),
        Kind::Map => matches!(value, Value::Map(_)),
        Kind::StrOrList => matches!(value, Value::Str(_) | Value::List(_)),
        Kind::Sized => matches!(value, Value::Str(_) | Value::List(_) | Value::Map(_)),
    }
}

type Impl = fn(&[Value], &mut Meter) -> Result<Value, String>;

/// A builtin: its signature (from `kdep-sema`, the one table) and its implementation.
#[derive(Clone, Copy)]
pub struct Builtin {
    pub sig: &'static Signature,
    pub call: Impl,
}

impl std::fmt::Debug for Builtin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.sig.display())
    }
}

impl Builtin {
    /// Checks arity and argument kinds, with the messages users see.
    pub fn check_args(&self, args: &[Value]) -> Result<(), String> {
        if let Some(msg) = self.sig.arity_error(args.len()) {
            return Err(msg);
        }
        for (i, arg) in args.iter().enumerate() {
            if let Some(kind) = self.sig.param_kind(i) {
                if !kind_matches(kind, arg) {
                    return Err(format!(
                        "argument {} of `{}` must be {}, found {} `{}`",
                        i + 1,
                        self.sig.name,
                        kind.name(),
                        arg.type_name(),
                        arg.render_short()
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The builtin called `name`.
pub fn lookup(name: &str) -> Option<Builtin> {
    let sig = kdep_sema::builtins::lookup(name)?;
    let call = IMPLS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)?;
    Some(Builtin { sig, call })
}

/// Implementations by name, in the order of `kdep_sema::builtins::all()`.
static IMPLS: &[(&str, Impl)] = &[
    ("abs", abs),
    ("all", all_true),
    ("any", any_true),
    ("base64_decode", base64_decode),
    ("base64_encode", base64_encode),
    ("concat", concat),
    ("contains", contains),
    ("duration", duration),
    ("ends_with", ends_with),
    ("flatten", flatten),
    ("format", format),
    ("get", get),
    ("has", has),
    ("join", join),
    ("keys", keys),
    ("len", len),
    ("lower", lower),
    ("matches", matches),
    ("max", max),
    ("merge", merge),
    ("milli_value", milli_value),
    ("min", min),
    ("omit", omit),
    ("quantity", quantity),
    ("range", range),
    ("replace", replace),
    ("reverse", reverse),
    ("seconds", seconds),
    ("sha256", sha256),
    ("sort", sort),
    ("split", split),
    ("starts_with", starts_with),
    ("substr", substr),
    ("sum", sum),
    ("to_float", to_float),
    ("to_int", to_int),
    ("to_json", to_json),
    ("to_string", to_string),
    ("to_yaml", to_yaml),
    ("trim", trim),
    ("trim_prefix", trim_prefix),
    ("trim_suffix", trim_suffix),
    ("unique", unique),
    ("upper", upper),
    ("values", values),
];

// Argument access. The checker and `check_args` normally guarantee the kinds; these helpers
// turn a violated guarantee into an error rather than a panic.

fn arg(args: &[Value], i: usize) -> Result<&Value, String> {
    args.get(i).ok_or_else(|| format!("missing argument {}", i + 1))
}

fn wrong(i: usize, want: &str, got: &Value) -> String {
    format!("argument {} must be {want}, found {}", i + 1, got.type_name())
}

fn str_arg(args: &[Value], i: usize) -> Result<&str, String> {
    match arg(args, i)? {
        Value::Str(s) => Ok(s),
        other => Err(wrong(i, "a string", other)),
    }
}

fn int_arg(args: &[Value], i: usize) -> Result<i64, String> {
    match arg(args, i)? {
        Value::Int(n) => Ok(*n),
        other => Err(wrong(i, "an int", other)),
    }
}

fn list_arg(args: &[Value], i: usize) -> Result<&[Value], String> {
    match arg(args, i)? {
        Value::List(items) => Ok(items),
        other => Err(wrong(i, "a list", other)),
    }
}

fn map_arg(args: &[Value], i: usize) -> Result<&Map, String> {
    match arg(args, i)? {
        Value::Map(m) => Ok(m),
        other => Err(wrong(i, "a map", other)),
    }
}

fn checked_string(s: String) -> Result<Value, String> {
    if s.len() > MAX_STRING_BYTES {
        Err(format!("the result would be {} bytes long, more than the limit of {MAX_STRING_BYTES}", s.len()))
    } else {
        Ok(Value::from(s))
    }
}

fn checked_list(items: Vec<Value>) -> Result<Value, String> {
    if items.len() > MAX_ITEMS {
        Err(format!("the result would have {} items, more than the limit of {MAX_ITEMS}", items.len()))
    } else {
        Ok(Value::list(items))
    }
}

fn int_of_usize(n: usize) -> Value {
    Value::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

// Strings.

fn len(args: &[Value], m: &mut Meter) -> Result<Value, String> {
    match arg(args, 0)? {
        Value::Str(s) => {
            m.bytes(s.len())?;
            Ok(int_of_usize(s.chars().count()))
        }
        Value::List(items) => Ok(int_of_usize(items.len())),
        Value::Map(m) => Ok(int_of_usize(m.len())),
        other => Err(wrong(0, "a string, list or map", other)),
    }
}

fn upper(args: &[Value], m: &mut Meter) -> Result<Value, String> {
    let s = str_arg(args, 0)?;
    m.bytes(2 * s.len())?;
    checked_string(s.to_uppercase())
}

fn lower(args: &[Value], m: &mut Meter) -> Result<Value, String> {
    let s = str_arg(args, 0)?;
    m.bytes(2 * s.len())?;
    checked_string(s.to_lowercase())
}

fn trim(args: &[Value], m: &mut Meter) -> Result<Value, String> {
    let s = str_arg(args, 0)?;
    m.bytes(s.len())?;
    Ok(Value::from(s.trim()))
}

fn trim_prefix(args: &[Value], m: &mut Meter) -> Result<Value, String> {
    let s = str_arg(args, 0)?;
    m.bytes(s.len())?;
    Ok(Value::from(s.strip_prefix(str_arg(args, 1)?).unwrap_or(s)))
}

fn trim_suffix(args: &[Value], m: &mut Meter) -> Result<Value, String> {
    let s = str_arg(args, 0)?;
    m.bytes(s.len())?;
    Ok(Value::from(s.strip_suffix(str_arg(args, 1)?).unwrap_or(s)))
}

fn starts_with(args: &[Value], m: &mut Meter) -> Result<Value, String> {
    let prefix = str_arg(args, 1)?;
    m.bytes(prefix.len())?;
    Ok(Value::Bool(str_arg(args, 0)?.starts_with(prefix)))
}

fn ends_with(args: &[Value], m: &mut Meter) -> Result<Value, String> {
    let suffix = str_arg(args, 1)?;
    m.bytes(suffix.len())?;
    Ok(Value::Bool(str_arg(args, 0)?.ends_with(suffix)))
}

fn replace(args: &[Value], m: &mut Meter) -> Result<Value, String> {
    let (s, from, to) = (str_arg(args, 0)?, str_arg(args, 1)?, str_arg(args, 2)?);
    if from.is_empty() {
        return Err("the substring to replace is empty".to_owned());
    }
    // Counting the matches scans once, replacing scans again and copies.
    m.bytes(3 * s.len())?;
    // Bound the result before building it: each match grows the string by `to - from` bytes.
    let growth = to.len().saturating_sub(from.len());
    if growth > 0 && s.len().saturating_add(s.matches(from).count().saturating_mul(growth)) > MAX_STRING_BYTES {
        return Err(format!("the result would be longer than the limit of {MAX_STRING_BYTES} bytes"));
    }
    let out = s.replace(from, to);
    m.bytes(out.len())?;
    checked_string(out)
}

fn split(args: &[Value], m: &mut Meter) -> Result<Value, String> {
    let (s, sep) = (str_arg(args, 0)?, str_arg(args, 1)?);
    m.bytes(s.len())?;
    let parts: Vec<Value> = if sep.is_empty() {
        s.chars().map(|c| Value::from(c.to_string())).collect()
    } else {
        s.split(sep).map(Value::from).collect()
    };
    m.items(parts.len())?;
    checked_list(parts)
}

fn join(args: &[Value], m: &mut Meter) -> Result<Value, String> {
    let (items, sep) = (list_arg(args, 0)?, str_arg(args, 1)?);
    m.items(items.len())?;
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        let Value::Str(s) = item else {
            return Err(format!(
                "item {} of the list is {} `{}`, not a string; convert it with `to_string`",
                i + 1,
                item.type_name(),
                item.render_short()
            ));
        };
        if i > 0 {
            out.push_str(sep);
        }
        out.push_str(s);
        if out.len() > MAX_STRING_BYTES {
            return checked_string(out);
        }
    }
    m.bytes(out.len())?;
    checked_string(out)
}

fn contains(args: &[Value], m: &mut Meter) -> Result<Value, String> {
    let needle = arg(args, 1)?;
    match arg(args, 0)? {
        Value::Str(s) => match needle {
            Value::Str(sub) => {
                m.bytes(s.len())?;
                Ok(Value::Bool(s.contains(&**sub)))
            }
            other => Err(wrong(1, "a string when searching a string", other)),
        },
        Value::List(items) => {
            for item in items.iter() {
                let (equal, work) = item.eq_counting(needle);
                m.charge(work)?;
                if equal {
                    return Ok(Value::Bool(true));
                }
            }
            Ok(Value::Bool(false))
        }
        other => Err(wrong(0, "a string or list", other)),
    }
}

fn substr(args: &[Value], m: &mut Meter) -> Result<Value, String> {
    let s = str_arg(args, 0)?;
    let start = int_arg(args, 1)?;
    // Counting characters scans the string, taking them scans and copies it again.
    m.bytes(2 * s.len())?;
    let n_chars = s.chars().count();
    let start = usize::try_from(start).map_err(|_| format!("the start index {start} is negative"))?;
    if start > n_chars {
        return Err(format!("the start index {start} is past the end of the {n_chars}-character string"));
    }
    let take = match args.get(2) {
        None => usize::MAX,
        Some(_) => {
            let n = int_arg(args, 2)?;
            usize::try_from(n).map_err(|_| format!("the length {n} is negative"))?
        }
    };
    Ok(Value::from(s.chars().skip(start).take(take).collect::<String>()))
}

fn format(args: &[Value], m: &mut Meter) -> Result<Value, String> {
    let template = str_arg(args, 0)?;
    m.bytes(template.len())?;
    let fill = args.get(1..).unwrap_or_default();
    let mut out = String::with_capacity(template.len());
    let mut next = 0usize;
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '{' if chars.peek() == Some(&'}') => {
                chars.next();
                let Some(v) = fill.get(next) else {
                    return Err(format!(
                        "the template has more `{{}}` placeholders than the {} argument(s) given",
                        fill.len()
                    ));
                };
                out.push_str(&display_scalar(v)?);
                next += 1;
                if out.len() > MAX_STRING_BYTES {
                    return checked_string(out);
                }
            }
            '{' | '}' => return Err(format!("unmatched `{c}` in the template; write `{c}{c}` for a literal brace")),
            c => out.push(c),
        }
    }
    if next < fill.len() {
        return Err(format!("the template has {next} `{{}}` placeholder(s) but {} arguments were given", fill.len()));
    }
    m.bytes(out.len())?;
    checked_string(out)
}

fn matches(args: &[Value], m: &mut Meter) -> Result<Value, String> {
    let (s, pattern) = (str_arg(args, 0)?, str_arg(args, 1)?);
    // Compiling is bounded by the size limit below; matching is linear in the text for simple
    // patterns and slower for longer ones (the engines may track every pattern state).
    m.charge(64)?;
    m.bytes(pattern.len())?;
    m.charge(string_work(s.len()).saturating_mul(1 + (pattern.len() / STRING_BYTES_PER_UNIT) as u64))?;
    let re = regex::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| format!("invalid regular expression: {e}"))?;
    Ok(Value::Bool(re.is_match(s)))
}

// Lists.

fn concat(args: &[Value], m: &mut Meter) -> Result<Value, String> {
    let mut out = Vec::new();
    for i in 0..args.len() {
        let items = list_arg(args, i)?;
        let n = out.len().saturating_add(items.len());
        if n > MAX_ITEMS {
            return Err(format!("the result would have {n} items, more than the limit of {MAX_ITEMS}"));
        }
        m.items(items.len())?;
        out.extend(items.iter().cloned());
    }
    checked_list(out)
}

fn flatten(args: &[Value], m: &mut Meter) -> Result<Value, String> {
    let mut out = Vec::new();
    for item in list_arg(args, 0)? {
        m.items(1 + item.as_list().map_or(0, <[Value]>::len))?;
        match item {
            Value::List(inner) => out.extend(inner.iter().cloned()),
            other => out.push(other.clone()),
        }
        if out.len() > MAX_ITEMS {
            break;
        }
    }
    checked_list(out)
}

fn reverse(args: &[Value], m: &mut Meter) -> Result<Value, String> {
    let items = list_arg(args, 0)?;
    m.items(items.len())?;
    Ok(Value::list(items.iter().rev().cloned().collect()))
}

/// The comparable class of a value, so lists mixing classes are rejected.
#[derive(PartialEq, Eq)]
enum Class {
    Number,
    Str,
    Quantity,
    Duration,
}

fn class_of(v: &Value) -> Option<Class> {
    match v {
        Value::Int(_) => Some(Class::Number),
        Value::Float(x) if !x.is_nan() => Some(Class::Number),
        Value::Str(_) => Some(Class::Str),
        Value::Quantity(_) => Some(Class::Quantity),
        Value::Duration(_) => Some(Class::Duration),
        _ => None,
    }
}

/// Orders two values of the same class (ints and floats compare numerically).
fn compare(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => x.cmp(y),
        (Value::Float(x), Value::Float(y)) => x.total_cmp(y),
        (Value::Int(x), Value::Float(y)) => (*x as f64).total_cmp(y),
        (Value::Float(x), Value::Int(y)) => x.total_cmp(&(*y as f64)),
        (Value::Str(x), Value::Str(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Value::Quantity(x), Value::Quantity(y)) => x.cmp(y),
        (Value::Duration(x), Value::Duration(y)) => x.cmp(y),
        _ => Ordering::Equal,
    }
}

/// Checks that every item is comparable and of one class.
fn check_comparable(items: &[Value]) -> Result<(), String> {
    let mut first: Option<(Class, &Value)> = None;
    for (i, item) in items.iter().enumerate() {
        let Some(class) = class_of(item) else {
            return Err(format!(
                "item {} is {} `{}`; only numbers, strings, quantities and durations can be ordered",
                i + 1,
                item.type_name(),
                item.render_short()
            ));
        };
        match &first {
            None => first = Some((class, item)),
            Some((c, v)) if *c != class => {
                return Err(format!(
                    "the list mixes {} and {} items, which cannot be compared",
                    v.type_name(),
                    item.type_name()
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

fn sort(args: &[Value], m: &mut Meter) -> Result<Value, String> {
    let items = list_arg(args, 0)?;
    // A comparison sort: about n·log2(n) comparisons, each of which may scan strings.
    let n = items.len() as u64;
    let log = u64::from(u64::BITS - n.leading_zeros());
    let longest = items.iter().map(|v| v.as_str().map_or(0, str::len)).max().unwrap_or(0);
    m.charge(n.saturating_mul(log).saturating_mul(1 + string_work(longest)))?;
    check_comparable(items)?;
    let mut out = items.to_vec();
    out.sort_by(compare);
    Ok(Value::list(out))
}

fn extreme(args: &[Value], m: &mut Meter, want: Ordering) -> Result<Value, String> {
    let items = list_arg(args, 0)?;
    m.items(items.len())?;
    check_comparable(items)?;
    let mut best: Option<&Value> = None;
    for item in items {
        if best.is_none_or(|b| compare(item, b) == want) {
            best = Some(item);
        }
    }
    best.cloned().ok_or_else(|| "the list is empty".to_owned())
}

fn min(args: &[Value], m: &mut Meter) -> Result<Value, String> {
    extreme(args, m, Ordering::Less)
}

fn max(args: &[Value], m: &mut Meter) -> Result<Value, String> {
    extreme(args, m, Ordering::Greater)
}

fn sum(args: &[Value], m: &mut Meter) -> Result<Value, String> {
    let items = list_arg(args, 0)?;
    m.items(items.len())?;
    let Some(first) = items.first() else { return Ok(Value::Int(0)) };
    let mixed =
        |v: &Value| format!("cannot add {} `{}` to a sum of {}s", v.type_name(), v.render_short(), first.type_name());
    match first {
        Value::Int(_) => {
            let mut acc: i64 = 0;
            for v in items {
                let Value::Int(n) = v else { return Err(mixed(v)) };
                acc = acc.checked_add(*n).ok_or("the sum overflows a 64-bit integer")?;
            }
            Ok(Value::Int(acc))
        }
        Value::Float(_) => {
            let mut acc = 0.0;
            for v in items {
                let Value::Float(x) = v else { return Err(mixed(v)) };
                acc += x;
            }
            Ok(Value::Float(acc))
        }
        Value::Quantity(q) => {
            let mut acc = Quantity::from_nanos(0, q.format());
            for v in items {
                let Value::Quantity(x) = v else { return Err(mixed(v)) };
                acc = acc.checked_add(x).map_err(|e| e.reason)?;
            }
            Ok(Value::from(acc))
        }
        Value::Duration(_) => {
            let mut acc = Duration::from_nanos(0);
            for v in items {
                let Value::Duration(x) = v else { return Err(mixed(v)) };
                acc = acc.checked_add(x).map_err(|e| e.reason)?;
            }
            Ok(Value::Duration(acc))
        }
        other => {
            Err(format!("cannot sum {} items; only ints, floats, quantities and durations add", other.type_name()))
        }
    }
}

fn range(args: &[Value], m: &mut Meter) -> Result<Value, String> {
    let (start, end) = match args.get(1) {
        None => (0, int_arg(args, 0)?),
        Some(_) => (int_arg(args, 0)?, int_arg(args, 1)?),
    };
    if end <= start {
        return Ok(Value::list(Vec::new()));
    }
    let n = end.abs_diff(start);
    if n > MAX_ITEMS as u64 {
        return Err(format!("the range would have {n} items, more than the limit of {MAX_ITEMS}"));
    }
    m.charge(n)?;
    Ok(Value::list((start..end).map(Value::Int).collect()))
}

fn unique(args: &[Value], m: &mut Meter) -> Result<Value, String> {
    let items = list_arg(args, 0)?;
    let mut out: Vec<Value> = Vec::new();
    // Strings and ints, the common case, are deduplicated by hashing; other values by scanning,
    // which is quadratic, so each comparison is charged.
    let mut strs: FxHashSet<&str> = FxHashSet::default();
    let mut ints: FxHashSet<i64> = FxHashSet::default();
    for item in items {
        let fresh = match item {
            Value::Str(s) => {
                m.charge(1 + string_work(s.len()))?;
                strs.insert(s)
            }
            Value::Int(n) => {
                m.charge(1)?;
                ints.insert(*n)
            }
            other => {
                let mut fresh = true;
                for seen in &out {
                    let (equal, work) = seen.eq_counting(other);
                    m.charge(work)?;
                    if equal {
                        fresh = false;
                        break;
                    }
                }
                fresh
            }
        };
        if fresh {
            out.push(item.clone());
        }
    }
    Ok(Value::list(out))
}

fn bools(args: &[Value], m: &mut Meter) -> Result<Vec<bool>, String> {
    let items = list_arg(args, 0)?;
    m.items(items.len())?;
    items
        .iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::Bool(b) => Ok(*b),
            other => Err(format!("item {} is {} `{}`, not a bool", i + 1, other.type_name(), other.render_short())),
        })
        .collect()
}

fn all_true(args: &[Value], m: &mut Meter) -> Result<Value, String> {
    Ok(Value::Bool(bools(args, m)?.into_iter().all(|b| b)))
}

fn any_true(args: &[Value], m: &mut Meter) -> Result<Value, String> {
    Ok(Value::Bool(bools(args, m)?.into_iter().any(|b| b)))
}

// Maps.

fn keys(args: &[Value], m: &mut Meter) -> Result<Value, String> {
    let map = map_arg(args, 0)?;
    m.items(map.len())?;
    Ok(Value::list(map.keys().map(Value::from).collect()))
}

fn values(args: &[Value], m: &mut Meter) -> Result<Value, String> {
    let map = map_arg(args, 0)?;
    m.items(map.len())?;
    Ok(Value::list(map.values().cloned().collect()))
}

fn get(args: &[Value], m: &mut Meter) -> Result<Value, String> {
    let (map, key) = (map_arg(args, 0)?, str_arg(args, 1)?);
    m.bytes(key.len())?;
    match map.get(key) {
        Some(v) => Ok(v.clone()),
        None => arg(args, 2).cloned(),
    }
}

fn has(args: &[Value], m: &mut Meter) -> Result<Value, String> {
    let key = str_arg(args, 1)?;
    m.bytes(key.len())?;
    Ok(Value::Bool(map_arg(args, 0)?.contains_key(key)))
}

fn merge(args: &[Value], m: &mut Meter) -> Result<Value, String> {
    let mut out = map_arg(args, 0)?.clone();
    m.items(out.len())?;
    for i in 1..args.len() {
        let next = map_arg(args, i)?;
        m.items(out.len() + next.len())?;
        out = out.merge(next);
    }
    Ok(Value::map(out))
}

fn omit(args: &[Value], m: &mut Meter) -> Result<Value, String> {
    let mut out = map_arg(args, 0)?.clone();
    m.items(out.len())?;
    for i in 1..args.len() {
        // Removing keeps the order, shifting the entries after the key.
        m.items(out.len())?;
        out.remove(str_arg(args, i)?);
    }
    Ok(Value::map(out))
}

// Quantities, durations and conversions.

fn quantity(args: &[Value], m: &mut Meter) -> Result<Value, String> {
    let s = str_arg(args, 0)?;
    m.bytes(s.len())?;
    Quantity::parse(s).map(Value::from).map_err(|e| e.to_string())
}

fn duration(args: &[Value], m: &mut Meter) -> Result<Value, String> {
    let s = str_arg(args, 0)?;
    m.bytes(s.len())?;
    Duration::parse(s).map(Value::Duration).map_err(|e| e.to_string())
}

fn milli_value(args: &[Value], _: &mut Meter) -> Result<Value, String> {
    match arg(args, 0)? {
        Value::Quantity(q) => q
            .milli_value()
            .map(Value::Int)
            .ok_or_else(|| format!("`{}` in thousandths does not fit an int", q.as_written())),
        other => Err(wrong(0, "a quantity", other)),
    }
}

fn seconds(args: &[Value], _: &mut Meter) -> Result<Value, String> {
    match arg(args, 0)? {
        Value::Duration(d) => d
            .whole_seconds()
            .map(Value::Int)
            .ok_or_else(|| format!("`{}` is not a whole number of seconds", d.as_written())),
        other => Err(wrong(0, "a duration", other)),
    }
}

fn abs(args: &[Value], _: &mut Meter) -> Result<Value, String> {
    match arg(args, 0)? {
        Value::Int(n) => n.checked_abs().map(Value::Int).ok_or_else(|| format!("the absolute value of {n} overflows")),
        Value::Float(x) => Ok(Value::Float(x.abs())),
        other => Err(wrong(0, "a number", other)),
    }
}

fn to_int(args: &[Value], m: &mut Meter) -> Result<Value, String> {
    m.bytes(arg(args, 0)?.as_str().map_or(0, str::len))?;
    match arg(args, 0)? {
        Value::Int(n) => Ok(Value::Int(*n)),
        Value::Float(x) => {
            // Every whole f64 in (-2^63, 2^63) converts exactly; `as` would saturate silently.
            if x.fract() == 0.0 && *x >= -9.223_372_036_854_776e18 && *x < 9.223_372_036_854_776e18 {
                Ok(Value::Int(*x as i64))
            } else {
                Err(format!("the float {x:?} is not a whole number that fits an int"))
            }
        }
        Value::Str(s) => s.parse::<i64>().map(Value::Int).map_err(|_| format!("`{s}` is not an integer")),
        Value::Quantity(q) => q
            .to_i64_exact()
            .map(Value::Int)
            .ok_or_else(|| format!("the quantity `{}` is not a whole number that fits an int", q.as_written())),
        other => Err(format!("cannot convert {} `{}` to an int", other.type_name(), other.render_short())),
    }
}

fn to_float(args: &[Value], m: &mut Meter) -> Result<Value, String> {
    m.bytes(arg(args, 0)?.as_str().map_or(0, str::len))?;
    match arg(args, 0)? {
        Value::Int(n) => Ok(Value::Float(*n as f64)),
        Value::Float(x) => Ok(Value::Float(*x)),
        Value::Str(s) => match s.parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(Value::Float(x)),
            _ => Err(format!("`{s}` is not a finite number")),
        },
        Value::Quantity(q) => Ok(Value::Float(q.to_f64())),
        other => Err(format!("cannot convert {} `{}` to a float", other.type_name(), other.render_short())),
    }
}

/// How `to_string` and `format` show a scalar.
fn display_scalar(v: &Value) -> Result<String, String> {
    Ok(match v {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Int(n) => n.to_string(),
        Value::Float(x) => format!("{x:?}"),
        Value::Str(s) => s.to_string(),
        Value::Quantity(q) => q.as_written(),
        Value::Duration(d) => d.as_written(),
        Value::List(_) | Value::Map(_) => {
            return Err(format!(
                "cannot convert {} `{}` to a string; use `to_json` or `to_yaml`",
                v.type_name(),
                v.render_short()
            ))
        }
    })
}

fn to_string(args: &[Value], m: &mut Meter) -> Result<Value, String> {
    let out = display_scalar(arg(args, 0)?)?;
    m.bytes(out.len())?;
    Ok(Value::from(out))
}

/// Rejects a value whose text would exceed the string limit before writing it: shared parts
/// make the text exponential in the value's memory size, so writing first could exhaust memory.
/// Measuring walks the value once; its size is also what writing it out costs.
fn check_written_size(v: &Value, m: &mut Meter) -> Result<(), String> {
    let size = v.written_size(MAX_STRING_BYTES);
    m.bytes(size)?;
    if size > MAX_STRING_BYTES {
        return Err(format!("the value is too large to write out: more than {MAX_STRING_BYTES} bytes"));
    }
    // Writing (through JSON data for `to_json`) walks it twice more.
    m.bytes(2 * size)
}

fn to_json(args: &[Value], m: &mut Meter) -> Result<Value, String> {
    let v = arg(args, 0)?;
    check_written_size(v, m)?;
    let json = v.to_json()?;
    checked_string(json.to_string())
}

fn to_yaml(args: &[Value], m: &mut Meter) -> Result<Value, String> {
    let v = arg(args, 0)?;
    check_written_size(v, m)?;
    // Non-finite floats would print as `.nan`/`.inf`, which is valid YAML; nothing to reject.
    checked_string(emit::to_yaml_value(v))
}

// Encoding and hashing.

fn base64_encode(args: &[Value], m: &mut Meter) -> Result<Value, String> {
    let s = str_arg(args, 0)?;
    m.bytes(3 * s.len())?;
    checked_string(base64::engine::general_purpose::STANDARD.encode(s.as_bytes()))
}

fn base64_decode(args: &[Value], m: &mut Meter) -> Result<Value, String> {
    let s = str_arg(args, 0)?;
    m.bytes(2 * s.len())?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.as_bytes())
        .map_err(|e| format!("not valid base64 (standard alphabet, with padding): {e}"))?;
    String::from_utf8(bytes).map(Value::from).map_err(|_| "the decoded bytes are not UTF-8 text".to_owned())
}

fn sha256(args: &[Value], m: &mut Meter) -> Result<Value, String> {
    let s = str_arg(args, 0)?;
    // Hashing costs several times more per byte than copying.
    m.bytes(4 * s.len())?;
    let digest = Sha256::digest(s.as_bytes());
    let mut hex = String::with_capacity(64);
    for b in digest {
        let _ = write!(hex, "{b:02x}");
    }
    Ok(Value::from(hex))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Origin;

    fn s(text: &str) -> Value {
        Value::from(text)
    }

    fn list(items: Vec<Value>) -> Value {
        Value::list(items)
    }

    fn q(text: &str) -> Value {
        Value::from(Quantity::parse(text).unwrap_or_else(|e| panic!("{e}")))
    }

    fn d(text: &str) -> Value {
        Value::Duration(Duration::parse(text).unwrap_or_else(|e| panic!("{e}")))
    }

    fn map(entries: &[(&str, Value)]) -> Value {
        let mut m = Map::with_capacity(entries.len());
        for (k, v) in entries {
            m.insert(*k, v.clone(), Origin::builtin());
        }
        Value::map(m)
    }

    /// Checks the arguments, then calls the builtin with no limit on its work.
    fn call(name: &str, args: Vec<Value>) -> Result<Value, String> {
        let builtin = lookup(name).ok_or_else(|| format!("no builtin {name}"))?;
        builtin.check_args(&args)?;
        (builtin.call)(&args, &mut Meter::new(u64::MAX))
    }

    /// Calls and renders the result as kdep syntax, or `error: ...`.
    fn show(name: &str, args: Vec<Value>) -> String {
        match call(name, args) {
            Ok(v) => v.to_string(),
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn serialising_shared_values_is_bounded() {
        // Each doubling shares the previous list twice; writing it out is exponential.
        let mut v = Value::list(vec![Value::from("x")]);
        for _ in 0..60 {
            v = Value::list(vec![v.clone(), v]);
        }
        for name in ["to_yaml", "to_json"] {
            let err = show(name, vec![v.clone()]);
            assert!(err.starts_with("error: the value is too large"), "{name}: {err}");
        }
    }

    #[test]
    fn table_is_sorted_unique_and_documented() {
        let all = kdep_sema::builtins::all();
        let names: Vec<&str> = all.iter().map(|b| b.name).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(names, sorted);
        for b in all {
            assert!(b.doc.ends_with('.') && !b.doc.is_empty(), "{}", b.name);
            assert!(b.required <= b.params.len(), "{}", b.name);
            assert_eq!(lookup(b.name).map(|x| x.sig.name), Some(b.name));
        }
        // Every signature has an implementation and every implementation a signature.
        let impls: Vec<&str> = IMPLS.iter().map(|(n, _)| *n).collect();
        assert_eq!(impls, names);
        assert!(lookup("nope").is_none());
    }

    #[test]
    fn signatures_and_argument_checks() {
        let sig = |n: &str| lookup(n).map(|b| b.sig.display()).unwrap_or_default();
        assert_eq!(sig("substr"), "substr(s: string, start: int, length?: int) -> string");
        assert_eq!(sig("format"), "format(template: string, args?: any...) -> string");
        assert_eq!(sig("get"), "get(map: map, key: string, default: any) -> any");
        assert_eq!(
            show("upper", vec![]),
            "error: `upper` takes 1 argument but 0 were given; usage: upper(s: string) -> string"
        );
        assert_eq!(
            show("substr", vec![s("a")]),
            "error: `substr` takes 2 to 3 arguments but 1 were given; usage: substr(s: string, start: int, length?: int) -> string"
        );
        assert_eq!(show("upper", vec![Value::Int(25)]), "error: argument 1 of `upper` must be string, found int `25`");
        assert_eq!(
            show("concat", vec![list(vec![]), s("x")]),
            "error: argument 2 of `concat` must be list, found string `\"x\"`"
        );
        let concat = lookup("concat").map(|b| (b.sig.accepts_arity(0), b.sig.accepts_arity(5)));
        assert_eq!(concat, Some((false, true)));
    }

    #[test]
    fn strings() {
        let cases: Vec<(&str, Vec<Value>, &str)> = vec![
            ("len", vec![s("héllo")], "5"),
            ("len", vec![list(vec![Value::Null])], "1"),
            ("len", vec![map(&[("a", Value::Int(1))])], "1"),
            ("upper", vec![s("abc")], "\"ABC\""),
            ("lower", vec![s("ÀB")], "\"àb\""),
            ("trim", vec![s("  a b \n")], "\"a b\""),
            ("trim_prefix", vec![s("v1.2"), s("v")], "\"1.2\""),
            ("trim_prefix", vec![s("1.2"), s("v")], "\"1.2\""),
            ("trim_suffix", vec![s("app.yaml"), s(".yaml")], "\"app\""),
            ("replace", vec![s("a-b-c"), s("-"), s("_")], "\"a_b_c\""),
            ("replace", vec![s("abc"), s(""), s("x")], "error: the substring to replace is empty"),
            ("split", vec![s("a,b,,c"), s(",")], "[\"a\", \"b\", \"\", \"c\"]"),
            ("split", vec![s("ab"), s("")], "[\"a\", \"b\"]"),
            ("split", vec![s(""), s(",")], "[\"\"]"),
            ("join", vec![list(vec![s("a"), s("b")]), s(", ")], "\"a, b\""),
            (
                "join",
                vec![list(vec![s("a"), Value::Int(1)]), s(",")],
                "error: item 2 of the list is int `1`, not a string; convert it with `to_string`",
            ),
            ("contains", vec![s("hello"), s("ell")], "true"),
            ("contains", vec![list(vec![q("1Gi")]), q("1024Mi")], "true"),
            ("contains", vec![list(vec![Value::Int(1)]), Value::Int(2)], "false"),
            (
                "contains",
                vec![s("a"), Value::Int(1)],
                "error: argument 2 must be a string when searching a string, found int",
            ),
            ("starts_with", vec![s("hello"), s("he")], "true"),
            ("ends_with", vec![s("hello"), s("he")], "false"),
            ("substr", vec![s("héllo"), Value::Int(1), Value::Int(3)], "\"éll\""),
            ("substr", vec![s("hello"), Value::Int(3)], "\"lo\""),
            ("substr", vec![s("hello"), Value::Int(5)], "\"\""),
            ("substr", vec![s("hello"), Value::Int(2), Value::Int(99)], "\"llo\""),
            (
                "substr",
                vec![s("hello"), Value::Int(6)],
                "error: the start index 6 is past the end of the 5-character string",
            ),
            ("substr", vec![s("hello"), Value::Int(-1)], "error: the start index -1 is negative"),
            ("format", vec![s("{}-{} {{x}}"), s("a"), Value::Int(2)], "\"a-2 {x}\""),
            ("format", vec![s("{}: {}"), q("1.5Gi"), Value::Float(0.5)], "\"1.5Gi: 0.5\""),
            ("format", vec![s("{}")], "error: the template has more `{}` placeholders than the 0 argument(s) given"),
            (
                "format",
                vec![s("x"), Value::Int(1)],
                "error: the template has 0 `{}` placeholder(s) but 1 arguments were given",
            ),
            ("format", vec![s("{x}")], "error: unmatched `{` in the template; write `{{` for a literal brace"),
            ("matches", vec![s("web-1"), s("^[a-z]+-[0-9]$")], "true"),
            ("matches", vec![s("web"), s("^[0-9]")], "false"),
        ];
        for (name, args, want) in cases {
            assert_eq!(show(name, args.clone()), want, "{name}({args:?})");
        }
        assert!(show("matches", vec![s("a"), s("(")]).starts_with("error: invalid regular expression"));
    }

    #[test]
    fn lists() {
        let ints = |ns: &[i64]| list(ns.iter().copied().map(Value::Int).collect());
        let cases: Vec<(&str, Vec<Value>, &str)> = vec![
            ("concat", vec![ints(&[1]), ints(&[]), ints(&[2, 3])], "[1, 2, 3]"),
            ("flatten", vec![list(vec![ints(&[1, 2]), Value::Int(3), list(vec![ints(&[4])])])], "[1, 2, 3, [4]]"),
            ("sort", vec![ints(&[3, 1, 2])], "[1, 2, 3]"),
            ("sort", vec![list(vec![s("b"), s("B"), s("a")])], "[\"B\", \"a\", \"b\"]"),
            ("sort", vec![list(vec![q("1Gi"), q("100Mi"), q("2G")])], "[\"100Mi\", \"1Gi\", \"2G\"]"),
            ("sort", vec![list(vec![Value::Float(2.5), Value::Int(1)])], "[1, 2.5]"),
            ("sort", vec![list(vec![d("1m"), d("30s")])], "[\"30s\", \"1m\"]"),
            (
                "sort",
                vec![list(vec![s("a"), Value::Int(1)])],
                "error: the list mixes string and int items, which cannot be compared",
            ),
            (
                "sort",
                vec![list(vec![Value::Bool(true)])],
                "error: item 1 is bool `true`; only numbers, strings, quantities and durations can be ordered",
            ),
            (
                "unique",
                vec![list(vec![s("a"), s("b"), s("a"), Value::Int(1), Value::Int(1), q("1"), q("1000m")])],
                "[\"a\", \"b\", 1, \"1\"]",
            ),
            ("reverse", vec![ints(&[1, 2, 3])], "[3, 2, 1]"),
            ("min", vec![ints(&[3, 1, 2])], "1"),
            ("max", vec![list(vec![q("500m"), q("2"), q("1")])], "\"2\""),
            ("max", vec![ints(&[])], "error: the list is empty"),
            ("max", vec![ints(&[2, 2])], "2"),
            ("sum", vec![ints(&[1, 2, 3])], "6"),
            ("sum", vec![ints(&[])], "0"),
            ("sum", vec![list(vec![Value::Float(0.5), Value::Float(0.25)])], "0.75"),
            ("sum", vec![list(vec![q("500m"), q("1.5")])], "\"2\""),
            ("sum", vec![list(vec![d("1m"), d("30s")])], "\"1m30s\""),
            (
                "sum",
                vec![list(vec![Value::Int(1), Value::Float(1.0)])],
                "error: cannot add float `1.0` to a sum of ints",
            ),
            ("sum", vec![ints(&[i64::MAX, 1])], "error: the sum overflows a 64-bit integer"),
            (
                "sum",
                vec![list(vec![s("a")])],
                "error: cannot sum string items; only ints, floats, quantities and durations add",
            ),
            ("range", vec![Value::Int(3)], "[0, 1, 2]"),
            ("range", vec![Value::Int(2), Value::Int(4)], "[2, 3]"),
            ("range", vec![Value::Int(4), Value::Int(2)], "[]"),
            (
                "range",
                vec![Value::Int(i64::MIN), Value::Int(i64::MAX)],
                "error: the range would have 18446744073709551615 items, more than the limit of 1000000",
            ),
            ("all", vec![list(vec![Value::Bool(true), Value::Bool(true)])], "true"),
            ("all", vec![list(vec![])], "true"),
            ("any", vec![list(vec![Value::Bool(false)])], "false"),
            ("any", vec![list(vec![Value::Int(1)])], "error: item 1 is int `1`, not a bool"),
        ];
        for (name, args, want) in cases {
            assert_eq!(show(name, args.clone()), want, "{name}({args:?})");
        }
    }

    #[test]
    fn maps() {
        let m = map(&[("b", Value::Int(1)), ("a", Value::Int(2))]);
        let cases: Vec<(&str, Vec<Value>, &str)> = vec![
            ("keys", vec![m.clone()], "[\"b\", \"a\"]"),
            ("values", vec![m.clone()], "[1, 2]"),
            ("get", vec![m.clone(), s("a"), Value::Null], "2"),
            ("get", vec![m.clone(), s("z"), s("dflt")], "\"dflt\""),
            ("has", vec![m.clone(), s("b")], "true"),
            ("has", vec![m.clone(), s("z")], "false"),
            ("merge", vec![m.clone(), map(&[("b", Value::Int(9)), ("c", Value::Int(3))])], "{ b = 9, a = 2, c = 3 }"),
            ("merge", vec![m.clone()], "{ b = 1, a = 2 }"),
            ("omit", vec![m.clone(), s("b"), s("zz")], "{ a = 2 }"),
        ];
        for (name, args, want) in cases {
            assert_eq!(show(name, args.clone()), want, "{name}({args:?})");
        }
    }

    #[test]
    fn quantities_durations_and_conversions() {
        let cases: Vec<(&str, Vec<Value>, &str)> = vec![
            ("quantity", vec![s("1.5Gi")], "\"1.5Gi\""),
            ("duration", vec![s("90s")], "\"90s\""),
            ("milli_value", vec![q("250m")], "250"),
            ("milli_value", vec![q("2")], "2000"),
            ("seconds", vec![d("2m")], "120"),
            ("seconds", vec![d("1.5s")], "error: `1.5s` is not a whole number of seconds"),
            ("abs", vec![Value::Int(-3)], "3"),
            ("abs", vec![Value::Float(-0.5)], "0.5"),
            ("abs", vec![Value::Int(i64::MIN)], "error: the absolute value of -9223372036854775808 overflows"),
            ("to_int", vec![s("42")], "42"),
            ("to_int", vec![s("4x")], "error: `4x` is not an integer"),
            ("to_int", vec![Value::Float(3.0)], "3"),
            ("to_int", vec![Value::Float(3.5)], "error: the float 3.5 is not a whole number that fits an int"),
            ("to_int", vec![Value::Float(1e19)], "error: the float 1e19 is not a whole number that fits an int"),
            ("to_int", vec![q("2k")], "2000"),
            ("to_int", vec![q("1500m")], "error: the quantity `1500m` is not a whole number that fits an int"),
            ("to_int", vec![Value::Bool(true)], "error: cannot convert bool `true` to an int"),
            ("to_float", vec![Value::Int(2)], "2.0"),
            ("to_float", vec![s("0.25")], "0.25"),
            ("to_float", vec![s("nan")], "error: `nan` is not a finite number"),
            ("to_float", vec![q("1500m")], "1.5"),
            ("to_string", vec![Value::Int(-7)], "\"-7\""),
            ("to_string", vec![Value::Float(1.0)], "\"1.0\""),
            ("to_string", vec![Value::Bool(false)], "\"false\""),
            ("to_string", vec![q("500m")], "\"500m\""),
            (
                "to_string",
                vec![list(vec![])],
                "error: cannot convert list `[]` to a string; use `to_json` or `to_yaml`",
            ),
        ];
        for (name, args, want) in cases {
            assert_eq!(show(name, args.clone()), want, "{name}({args:?})");
        }
        let err = show("quantity", vec![s("1K")]);
        assert!(err.starts_with("error: `1K` is not a valid quantity: unknown suffix `K`"), "{err}");
        let err = show("duration", vec![s("10")]);
        assert!(err.starts_with("error: `10` is not a valid duration: the number `10` has no unit"), "{err}");
    }

    #[test]
    fn encoding_hashing_and_serialisation() {
        let cases: Vec<(&str, Vec<Value>, &str)> = vec![
            ("base64_encode", vec![s("hello")], "\"aGVsbG8=\""),
            ("base64_decode", vec![s("aGVsbG8=")], "\"hello\""),
            ("base64_decode", vec![s("//8=")], "error: the decoded bytes are not UTF-8 text"),
            ("sha256", vec![s("")], "\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\""),
            ("sha256", vec![s("abc")], "\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\""),
            (
                "to_json",
                vec![map(&[("z", Value::Int(1)), ("a", list(vec![q("1Gi"), Value::Null, Value::Float(0.5)]))])],
                r#""{\"z\":1,\"a\":[\"1Gi\",null,0.5]}""#,
            ),
            ("to_json", vec![Value::Float(f64::NAN)], "error: the float `NaN` has no JSON representation"),
            (
                "to_yaml",
                vec![map(&[("on", Value::Bool(true)), ("list", list(vec![s("a")]))])],
                r#""\"on\": true\nlist:\n- a\n""#,
            ),
        ];
        for (name, args, want) in cases {
            assert_eq!(show(name, args.clone()), want, "{name}({args:?})");
        }
        assert!(show("base64_decode", vec![s("%%%")]).starts_with("error: not valid base64"));
    }

    #[test]
    fn results_are_bounded() {
        let big = s(&"ab".repeat(1 << 20));
        let err = show("replace", vec![big.clone(), s("a"), s(&"x".repeat(64))]);
        assert!(err.starts_with("error: the result would be longer than the limit"), "{err}");
        let err = show("range", vec![Value::Int(2_000_000)]);
        assert!(err.starts_with("error: the range would have 2000000 items"), "{err}");
        let many = list(vec![Value::Null; 600_000]);
        let err = show("concat", vec![many.clone(), many]);
        assert!(err.starts_with("error: the result would have 1200000 items"), "{err}");
    }
}
