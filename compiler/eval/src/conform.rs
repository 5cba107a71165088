//! Checking values against types: refinements (ranges, patterns, lengths, literal unions),
//! closed schema records, and the compile-time reading of strings as quantities and durations.

use kdep_diag::{Code, Span};
use kdep_sema::db::SourceFile;
use kdep_sema::duration::Duration;
use kdep_sema::hir::Name;
use std::sync::Arc;

use kdep_sema::model::{template_model, TemplateModel};
use kdep_sema::quantity::Quantity;
use kdep_sema::suggest;
use kdep_sema::ty::{Bounds, ListIdentity, Lit, Ty};

use crate::interp::{Eval, Poison, Violation, R};
use crate::value::{string_work, Map, Value};

fn lit_matches(lit: &Lit, v: &Value) -> bool {
    match (lit, v) {
        (Lit::Str(a), Value::Str(b)) => a == b,
        (Lit::Int(a), Value::Int(b)) => a == b,
        (Lit::Float(a), Value::Float(b)) => a == b,
        (Lit::Int(a), Value::Float(b)) => (*a as f64) == *b,
        (Lit::Bool(a), Value::Bool(b)) => a == b,
        _ => false,
    }
}

/// A cheap, allocation-free test that `v` is a value of `ty` needing no conversion, for the
/// common element types of lists and maps; `false` means "check the long way".
fn fits_as_is(v: &Value, ty: &Ty) -> bool {
    match (ty, v) {
        (Ty::Any, _) => true,
        (Ty::Bool, Value::Bool(_)) => true,
        (Ty::Int(b), Value::Int(i)) => b.contains(i),
        (Ty::Str(s), Value::Str(text)) => {
            s.len.is_unbounded() && s.pattern.as_ref().is_none_or(|p| p.regex.is_match(text))
        }
        (Ty::Union(members), v) => members.iter().any(|m| lit_matches(m, v)),
        (Ty::OneOf(members), v) => members.iter().any(|m| fits_as_is(v, m)),
        _ => false,
    }
}

/// A value's path from the checked root (`spec.ports[2]`), spelled out only when a message
/// names it: checking a list of records used to format each item's path up front, whether or
/// not anything was wrong with it.
#[derive(Clone, Copy)]
pub(crate) enum Path<'a> {
    Root(&'a str),
    Item(&'a Path<'a>, usize),
    Key(&'a Path<'a>, &'a str),
}

impl std::fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Path::Root(s) => f.write_str(s),
            Path::Item(p, i) => write!(f, "{p}[{i}]"),
            Path::Key(p, k) => write!(f, "{p}.{k}"),
        }
    }
}

fn short(v: &Value) -> String {
    v.render_bounded(40)
}

/// K0220: two items of a `key(...)` list with equal values of every key field (an absent or
/// null field equals an absent one), or two equal items of a `unique` list. Each item after
/// the first of its kind is reported, naming the earlier one. Items are bucketed by a bounded
/// rendering and compared exactly within a bucket, so long lists stay linear.
fn identity_check(what: &Path<'_>, identity: &ListIdentity, items: &[Value], out: &mut Vec<Violation>) {
    let fields = match identity {
        ListIdentity::Plain => return,
        ListIdentity::Key(fields) => Some(fields),
        ListIdentity::Unique => None,
    };
    if items.len() < 2 {
        return;
    }
    let identity_of = |v: &Value| -> Value {
        match (fields, v) {
            (Some(fields), Value::Map(m)) => {
                Value::list(fields.iter().map(|f| m.get(f).cloned().unwrap_or(Value::Null)).collect())
            }
            _ => v.clone(),
        }
    };
    let mut buckets: rustc_hash::FxHashMap<String, Vec<(usize, Value)>> = rustc_hash::FxHashMap::default();
    for (i, item) in items.iter().enumerate() {
        // Items that are not records cannot have a key; the item type reports them.
        if fields.is_some() && item.as_map().is_none() {
            continue;
        }
        let id = identity_of(item);
        let bucket = buckets.entry(id.render_bounded(200)).or_default();
        if let Some((first, _)) = bucket.iter().find(|(_, seen)| *seen == id) {
            let (message, label, help) = match fields {
                Some(fields) => {
                    let shown: Vec<String> = fields
                        .iter()
                        .zip(id.as_list().unwrap_or_default())
                        .map(|(f, v)| {
                            if matches!(v, Value::Null) {
                                format!("{f} absent")
                            } else {
                                format!("{f} = {}", short(v))
                            }
                        })
                        .collect();
                    (
                        format!("`{what}[{i}]` has the same key as `{what}[{first}]`: {}", shown.join(", ")),
                        format!("items [{first}] and [{i}] share a key"),
                        format!("items of this list are identified by {identity}; give each item its own"),
                    )
                }
                None => (
                    format!("`{what}[{i}]` repeats `{what}[{first}]`: {}", short(item)),
                    format!("items [{first}] and [{i}] are equal"),
                    "the items of a `unique` list must be distinct; remove the repeated one".to_string(),
                ),
            };
            out.push(Violation {
                what: what.to_string(),
                code: Code::DUPLICATE_LIST_KEY,
                message,
                label,
                decl_label: format!("`{identity}` declared here"),
                help: Some(help),
            });
            continue;
        }
        bucket.push((i, id));
    }
}

impl Eval<'_> {
    /// Whether a record built and checked as `record` is, as it is, a value of schema `name` in
    /// `file`: it is that schema, or extends or composes it without declaring more fields (an
    /// extension that only narrows). One with more fields, or opened, would carry fields the
    /// target rejects, into emitted Kubernetes objects too, so it is checked the long way.
    pub(crate) fn record_is_value_of(&mut self, record: &TemplateModel, file: SourceFile, name: &Name) -> bool {
        if record.sources.first().is_some_and(|(f, n)| *f == file && n == name) {
            return true;
        }
        if !record.sources.iter().any(|(f, n)| *f == file && n == name) {
            return false;
        }
        self.schema_model(file, name).is_some_and(|t| t.fields.len() == record.fields.len() && (t.open || !record.open))
    }

    /// The model of schema `name` in `file`, for a check. The read is also noted for the run's
    /// cache of checked records (see `schema_record`): a record reused from it must make the
    /// query that reuses it read the schemas its check read, or salsa would not know that the
    /// query depends on them, and an editor would keep its result after one of them changed.
    pub(crate) fn schema_model(&mut self, file: SourceFile, name: &Name) -> Option<Arc<TemplateModel>> {
        if let Some(reads) = &mut self.schemas_read {
            reads.push((file, name.clone()));
        }
        template_model(self.db, self.project, file, name.clone())
    }

    /// Reports what [`Eval::conform`] of `value` to `ty` would report, with the same steps and
    /// limits, without building its result: for checks whose value is thrown away (an emitted
    /// object against its Kubernetes schema, written as given). The same walk in a mode where
    /// records below (plain ones and those whose fields nothing reads) are checked but not
    /// assembled, lists and maps not copied and quantities not converted; a record whose fields
    /// something reads (a `check`, a computed default) is built as in a full check, and so is
    /// one kept by the run's cache of constant records.
    pub(crate) fn without_building<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> T {
        let outer = std::mem::replace(&mut self.check_only, true);
        let out = f(self);
        self.check_only = outer;
        out
    }

    /// Checks (and converts: string → quantity/duration, int → float) `value` against `ty`.
    /// Violations are collected, not reported; `what` names the value in messages.
    pub(crate) fn conform(&mut self, value: Value, ty: &Ty, what: &str, site: Span, out: &mut Vec<Violation>) -> R {
        self.conform_depth(value, ty, &Path::Root(what), site, out, 0)
    }

    fn mismatch(what: &Path<'_>, expected: &Ty, got: &Value) -> Violation {
        Violation {
            what: what.to_string(),
            code: Code::TYPE_MISMATCH,
            message: format!("`{what}` expects {}, got {} `{}`", expected.kind_name(), got.type_name(), short(got)),
            label: format!("expected {}", expected.kind_name()),
            decl_label: format!("type `{expected}` declared here"),
            help: None,
        }
    }

    /// `shown` spells the value as the message shows it, only when it is out of range.
    fn range_check<T: PartialOrd + std::fmt::Display>(
        what: &Path<'_>,
        b: &Bounds<T>,
        x: &T,
        shown: impl FnOnce() -> String,
        out: &mut Vec<Violation>,
    ) {
        if !b.contains(x) {
            let shown = shown();
            out.push(Violation {
                what: what.to_string(),
                code: Code::OUT_OF_RANGE,
                message: format!("`{what}` is {shown}, outside the allowed range {b}"),
                label: format!("not in {b}"),
                decl_label: "allowed range declared here".into(),
                help: None,
            });
        }
    }

    fn len_check(what: &Path<'_>, b: &Bounds<u64>, n: usize, out: &mut Vec<Violation>) {
        let n = n as u64;
        if !b.contains(&n) {
            out.push(Violation {
                what: what.to_string(),
                code: Code::LENGTH_MISMATCH,
                message: format!("`{what}` has length {n}, outside the allowed length {b}"),
                label: format!("length {n}"),
                decl_label: "allowed length declared here".into(),
                help: None,
            });
        }
    }

    fn conform_depth(
        &mut self,
        value: Value,
        ty: &Ty,
        what: &Path<'_>,
        site: Span,
        out: &mut Vec<Violation>,
        depth: u32,
    ) -> R {
        if depth > 64 {
            return Ok(value);
        }
        match (ty, &value) {
            (Ty::Any | Ty::Error, _) => Ok(value),
            (Ty::Optional(_), Value::Null) => Ok(value),
            (Ty::Optional(inner), _) => self.conform_depth(value, inner, what, site, out, depth + 1),
            (Ty::Bool, Value::Bool(_)) => Ok(value),
            (Ty::Int(b), Value::Int(i)) => {
                Self::range_check(what, b, i, || i.to_string(), out);
                Ok(value)
            }
            (Ty::Float(b), Value::Int(_) | Value::Float(_)) => {
                let x = match &value {
                    Value::Int(i) => *i as f64,
                    Value::Float(x) => *x,
                    _ => 0.0,
                };
                Self::range_check(what, b, &x, || x.to_string(), out);
                Ok(Value::Float(x))
            }
            (Ty::Str(s), Value::Str(text)) => {
                self.charge(string_work(text.len()), site)?;
                if let Some(p) = &s.pattern {
                    if !p.regex.is_match(text) {
                        out.push(Violation {
                            what: what.to_string(),
                            code: Code::PATTERN_MISMATCH,
                            message: format!("`{what}` is {}, which does not match /{}/", short(&value), p.escaped()),
                            label: "does not match the pattern".into(),
                            decl_label: "pattern declared here".into(),
                            help: None,
                        });
                    }
                }
                Self::len_check(what, &s.len, text.chars().count(), out);
                Ok(value)
            }
            (Ty::Quantity(b), Value::Str(text)) => match Quantity::parse(text) {
                Ok(q) => {
                    Self::range_check(what, b, &q, || q.as_written(), out);
                    if self.check_only {
                        return Ok(value);
                    }
                    Ok(Value::from(q))
                }
                Err(e) => {
                    out.push(Violation {
                        what: what.to_string(),
                        code: Code::INVALID_QUANTITY,
                        message: format!("`{what}` is not a valid quantity: {}", short(&value)),
                        label: "not a quantity".into(),
                        decl_label: "quantity type declared here".into(),
                        help: Some(e.to_string()),
                    });
                    Err(Poison)
                }
            },
            (Ty::Quantity(b), Value::Int(i)) => {
                let q = Quantity::from_int(*i);
                Self::range_check(what, b, &q, || q.as_written(), out);
                if self.check_only {
                    return Ok(value);
                }
                Ok(Value::from(q))
            }
            (Ty::Quantity(b), Value::Quantity(q)) => {
                Self::range_check(what, b, q, || q.as_written(), out);
                Ok(value)
            }
            (Ty::Duration(b), Value::Str(text)) => match Duration::parse(text) {
                Ok(d) => {
                    Self::range_check(what, b, &d, || d.as_written(), out);
                    Ok(Value::Duration(d))
                }
                Err(e) => {
                    out.push(Violation {
                        what: what.to_string(),
                        code: Code::INVALID_DURATION,
                        message: format!("`{what}` is not a valid duration: {}", short(&value)),
                        label: "not a duration".into(),
                        decl_label: "duration type declared here".into(),
                        help: Some(e.to_string()),
                    });
                    Err(Poison)
                }
            },
            (Ty::Duration(b), Value::Duration(d)) => {
                Self::range_check(what, b, d, || d.as_written(), out);
                Ok(value)
            }
            (Ty::List(item, list), Value::List(items)) => {
                // Checking walks every item (each instance checks its fields anew).
                self.charge(items.len() as u64, site)?;
                Self::len_check(what, &list.len, items.len(), out);
                identity_check(what, &list.identity, items, out);
                if matches!(**item, Ty::Any | Ty::Error) || items.iter().all(|v| fits_as_is(v, item)) {
                    return Ok(value);
                }
                // Every item is checked even after one fails, so each bad item is reported.
                let check_only = self.check_only;
                let mut conv = Vec::with_capacity(if check_only { 0 } else { items.len() });
                let mut failed = false;
                for (i, it) in items.iter().enumerate() {
                    let w = Path::Item(what, i);
                    match self.conform_depth(it.clone(), item, &w, site, out, depth + 1) {
                        Ok(v) if !check_only => conv.push(v),
                        Ok(_) => {}
                        Err(_) => failed = true,
                    }
                }
                if failed {
                    return Err(Poison);
                }
                if check_only {
                    return Ok(value);
                }
                Ok(Value::list(conv))
            }
            (Ty::Map(vty, len, key), Value::Map(m)) => {
                self.charge(m.len() as u64, site)?;
                Self::len_check(what, len, m.len(), out);
                if let Some(k) = key {
                    for name in m.keys() {
                        if let Some(p) = k.pattern.as_ref().filter(|p| !p.regex.is_match(name)) {
                            out.push(Violation {
                                code: Code::PATTERN_MISMATCH,
                                what: what.to_string(),
                                message: format!("key \"{name}\" of `{what}` does not match /{}/", p.escaped()),
                                label: format!("key \"{name}\" does not match the pattern"),
                                decl_label: "key pattern declared here".into(),
                                help: None,
                            });
                        }
                        // The key's path is only spelled out for a message.
                        let n = name.chars().count();
                        if !k.len.contains(&(n as u64)) {
                            Self::len_check(&Path::Root(&format!("{what} key")), &k.len, n, out);
                        }
                    }
                }
                if matches!(**vty, Ty::Any | Ty::Error) || m.values().all(|v| fits_as_is(v, vty)) {
                    return Ok(value);
                }
                let check_only = self.check_only;
                let mut conv = Map::with_capacity(if check_only { 0 } else { m.len() });
                let mut failed = false;
                for (k, e) in m.entries() {
                    let w = Path::Key(what, k);
                    match self.conform_depth(e.value.clone(), vty, &w, site, out, depth + 1) {
                        Ok(v) if !check_only => {
                            conv.insert(k.clone(), v, e.origin.clone());
                        }
                        Ok(_) => {}
                        Err(_) => failed = true,
                    }
                }
                if failed {
                    return Err(Poison);
                }
                if check_only {
                    return Ok(value);
                }
                Ok(Value::map(conv))
            }
            (Ty::OneOf(members), _) => {
                // The first member that accepts the value wins (and converts it); violations of
                // the members tried are not the user's concern, only that none accepted it.
                for m in members {
                    let mut trial = Vec::new();
                    // A schema member reports its record problems directly; a rejected trial
                    // must leave no trace.
                    let reported = self.diags.len();
                    if let Ok(v) = self.conform_depth(value.clone(), m, what, site, &mut trial, depth + 1) {
                        if trial.is_empty() && self.diags.len() == reported {
                            return Ok(v);
                        }
                    }
                    self.diags.truncate(reported);
                }
                out.push(Self::mismatch(what, ty, &value));
                Ok(value)
            }
            (Ty::Union(members), v) => {
                if members.iter().any(|m| lit_matches(m, v)) {
                    return Ok(value);
                }
                let allowed = members.iter().map(ToString::to_string).collect::<Vec<_>>().join(" | ");
                let mut help = None;
                if let Value::Str(s) = v {
                    let names: Vec<&str> =
                        members.iter().filter_map(|m| if let Lit::Str(x) = m { Some(&**x) } else { None }).collect();
                    if let Some(best) = suggest::best(s, names) {
                        help = Some(format!("did you mean \"{best}\"?"));
                    }
                }
                out.push(Violation {
                    what: what.to_string(),
                    code: Code::NOT_ALLOWED_VALUE,
                    message: format!("`{what}` is {}, which is not one of {allowed}", short(v)),
                    label: "not an allowed value".into(),
                    decl_label: "allowed values declared here".into(),
                    help,
                });
                Ok(value)
            }
            // A record of this schema, or of one that extends or composes it, built and checked
            // and unchanged since: its (narrower) checks already hold.
            (Ty::Schema(sref), Value::Map(m))
                if m.record().is_some_and(|r| self.record_is_value_of(r, sref.file, &sref.name)) =>
            {
                Ok(value)
            }
            (Ty::Schema(sref), Value::Map(m)) => {
                let Some(model) = self.schema_model(sref.file, &sref.name) else {
                    return Ok(value);
                };
                self.schema_record(m, model, site, what)
            }
            (expected, got) => {
                out.push(Self::mismatch(what, expected, got));
                Ok(value)
            }
        }
    }
}
