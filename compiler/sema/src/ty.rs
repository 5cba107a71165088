//! Types: lowering of type expressions (with refinements compiled once per declaration) and the
//! "is a narrowing of" relation that the template permission rules are built on.

use std::fmt;
use std::sync::Arc;

use kdep_diag::{Code, Diagnostic, Span, TextRange};
use kdep_syntax::ast;
/// Strings in types and values print in kdep literal syntax. The one implementation lives with
/// the lexer it must agree with; it is re-exported so `kdep-eval` need not depend on the syntax.
pub use kdep_syntax::format::write_string_literal;

use crate::db::{Db, Project, SourceFile};
use crate::duration::Duration;
use crate::hir::{Name, TypeRef};
use crate::index::{resolve_path, ItemKind, Resolved};
use crate::quantity::Quantity;

/// Inclusive optional bounds.
#[derive(Clone, Debug, PartialEq)]
pub struct Bounds<T> {
    pub lo: Option<T>,
    pub hi: Option<T>,
}

impl<T> Default for Bounds<T> {
    fn default() -> Self {
        Bounds { lo: None, hi: None }
    }
}

impl<T: PartialOrd> Bounds<T> {
    pub fn contains(&self, v: &T) -> bool {
        self.lo.as_ref().is_none_or(|lo| lo <= v) && self.hi.as_ref().is_none_or(|hi| v <= hi)
    }

    pub fn is_unbounded(&self) -> bool {
        self.lo.is_none() && self.hi.is_none()
    }

    /// `true` when every value allowed by `self` is allowed by `base`.
    pub fn within(&self, base: &Bounds<T>) -> bool {
        let lo_ok = match (&base.lo, &self.lo) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(b), Some(s)) => b <= s,
        };
        let hi_ok = match (&base.hi, &self.hi) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(b), Some(s)) => s <= b,
        };
        lo_ok && hi_ok
    }
}

impl<T: fmt::Display> fmt::Display for Bounds<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(lo) = &self.lo {
            write!(f, "{lo}")?;
        }
        f.write_str("..")?;
        if let Some(hi) = &self.hi {
            write!(f, "{hi}")?;
        }
        Ok(())
    }
}

/// A compiled `string(/re/)` pattern. Compared by its source text.
#[derive(Clone, Debug)]
pub struct Pattern {
    pub source: Name,
    pub regex: Arc<regex::Regex>,
}

impl Pattern {
    /// The pattern as written between slashes (`/` escaped again).
    pub fn escaped(&self) -> String {
        self.source.replace('/', "\\/")
    }
}

/// A `string(/re/)` pattern compiled, once per pattern text: a template's types are lowered by
/// its model, by typeck and by each template that extends it, and compiling a pattern such as
/// a Kubernetes name (`[-a-z0-9]{0,61}`) costs half a million instructions and a megabyte.
/// `None` when the pattern does not compile (the parser reports it, K0008).
#[salsa::tracked(returns(clone), no_eq)]
fn compiled_pattern(db: &dyn Db, project: Project, source: Name) -> Option<Arc<regex::Regex>> {
    let _ = (db, project);
    regex::Regex::new(&source).ok().map(Arc::new)
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct StrTy {
    pub pattern: Option<Pattern>,
    pub len: Bounds<u64>,
}

/// A member of a literal union.
#[derive(Clone, Debug, PartialEq)]
pub enum Lit {
    Str(Name),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl fmt::Display for Lit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Lit::Str(s) => {
                let mut text = String::with_capacity(s.len() + 2);
                write_string_literal(&mut text, s);
                f.write_str(&text)
            }
            Lit::Int(i) => write!(f, "{i}"),
            Lit::Float(x) => write!(f, "{x}"),
            Lit::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// A reference to a schema declaration; its model is fetched when needed, so recursive schema
/// references do not recurse while lowering types.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SchemaRef {
    pub file: SourceFile,
    pub name: Name,
    /// Qualified name for messages (`platform.web.Resources`).
    pub display: Name,
    /// The schemas this one extends or composes, directly or not (from the item index): a value
    /// of this schema is a value of each of them, and a field of one of them may be narrowed to
    /// this one.
    pub ancestors: Arc<Vec<(SourceFile, Name)>>,
}

impl SchemaRef {
    /// Whether every record of `self` is a record of `base`: the same schema, or one that
    /// extends or composes it.
    pub fn is_subschema_of(&self, base: &SchemaRef) -> bool {
        (self.file == base.file && self.name == base.name)
            || self.ancestors.iter().any(|(f, n)| *f == base.file && *n == base.name)
    }
}

/// What makes the items of a list distinct (Kubernetes' `x-kubernetes-list-type`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum ListIdentity {
    /// `[T]`: an atomic list, duplicates allowed.
    #[default]
    Plain,
    /// `[T](key(f1, f2))`: record items identified by these fields (list-type `map`); two items
    /// with equal values of all of them are an error (an absent field equals an absent one).
    Key(Arc<[Name]>),
    /// `[T](unique)`: items are distinct (list-type `set`).
    Unique,
}

impl ListIdentity {
    /// Whether every list `self` accepts is accepted by `base` (narrowing keeps or strengthens
    /// the constraint): fewer key fields collide more often, so `key(name)` narrows
    /// `key(name, protocol)`; a key implies distinct items, so any key narrows `unique`.
    pub fn within(&self, base: &ListIdentity) -> bool {
        match (base, self) {
            (ListIdentity::Plain, _) => true,
            (ListIdentity::Unique, ListIdentity::Unique | ListIdentity::Key(_)) => true,
            (ListIdentity::Key(b), ListIdentity::Key(n)) => n.iter().all(|f| b.contains(f)),
            _ => false,
        }
    }
}

impl fmt::Display for ListIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListIdentity::Plain => Ok(()),
            ListIdentity::Key(fields) => {
                let names: Vec<&str> = fields.iter().map(|n| &**n).collect();
                write!(f, "key({})", names.join(", "))
            }
            ListIdentity::Unique => f.write_str("unique"),
        }
    }
}

/// The constraints of a list type besides its item type.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ListTy {
    pub len: Bounds<u64>,
    pub identity: ListIdentity,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Ty {
    /// Untyped (e.g. `locked securityContext = {...}` or an open emit record): anything goes.
    Any,
    Bool,
    Int(Bounds<i64>),
    Float(Bounds<f64>),
    Str(StrTy),
    Quantity(Bounds<Quantity>),
    Duration(Bounds<Duration>),
    List(Box<Ty>, ListTy),
    /// `{string: T}`; the last part is the key's constraint (`{string(/re/): T}`), if any.
    Map(Box<Ty>, Bounds<u64>, Option<Box<StrTy>>),
    Optional(Box<Ty>),
    Union(Vec<Lit>),
    /// `int | string`: a value of any member type (tried in order; the first that accepts the
    /// value converts it, so `int | quantity` keeps ints as ints).
    OneOf(Vec<Ty>),
    Schema(SchemaRef),
    /// A type that failed to lower; already reported, accepts anything.
    Error,
}

impl Ty {
    pub fn string() -> Ty {
        Ty::Str(StrTy::default())
    }

    /// Short name of the kind, for "expected X" messages.
    pub fn kind_name(&self) -> String {
        match self {
            Ty::Any | Ty::Error => "any value".into(),
            Ty::Bool => "bool".into(),
            Ty::Int(_) => "int".into(),
            Ty::Float(_) => "float".into(),
            Ty::Str(_) => "string".into(),
            Ty::Quantity(_) => "quantity".into(),
            Ty::Duration(_) => "duration".into(),
            Ty::List(..) => "list".into(),
            Ty::Map(..) => "map".into(),
            Ty::Optional(inner) => format!("{}?", inner.kind_name()),
            Ty::Union(_) | Ty::OneOf(_) => self.to_string(),
            Ty::Schema(s) => format!("`{}`", s.display),
        }
    }
}

fn len_suffix(f: &mut fmt::Formatter<'_>, len: &Bounds<u64>) -> fmt::Result {
    if len.is_unbounded() {
        Ok(())
    } else {
        write!(f, "({len})")
    }
}

impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ty::Any => f.write_str("any"),
            Ty::Error => f.write_str("{unknown}"),
            Ty::Bool => f.write_str("bool"),
            Ty::Int(b) if b.is_unbounded() => f.write_str("int"),
            Ty::Int(b) => write!(f, "int({b})"),
            Ty::Float(b) if b.is_unbounded() => f.write_str("float"),
            Ty::Float(b) => write!(f, "float({b})"),
            Ty::Quantity(b) if b.is_unbounded() => f.write_str("quantity"),
            Ty::Quantity(b) => write!(f, "quantity({b})"),
            Ty::Duration(b) if b.is_unbounded() => f.write_str("duration"),
            Ty::Duration(b) => write!(f, "duration({b})"),
            Ty::Str(s) => {
                f.write_str("string")?;
                match (&s.pattern, s.len.is_unbounded()) {
                    (None, true) => Ok(()),
                    (None, false) => write!(f, "({})", s.len),
                    (Some(p), true) => write!(f, "(/{}/)", p.escaped()),
                    (Some(p), false) => write!(f, "(/{}/, {})", p.escaped(), s.len),
                }
            }
            Ty::List(item, list) => {
                write!(f, "[{item}]")?;
                match (list.len.is_unbounded(), &list.identity) {
                    (_, ListIdentity::Plain) => len_suffix(f, &list.len),
                    (true, identity) => write!(f, "({identity})"),
                    (false, identity) => write!(f, "({}, {identity})", list.len),
                }
            }
            Ty::Map(v, len, key) => {
                match key {
                    Some(k) => write!(f, "{{{}: {v}}}", Ty::Str((**k).clone()))?,
                    None => write!(f, "{{string: {v}}}")?,
                }
                len_suffix(f, len)
            }
            Ty::Optional(inner) => write!(f, "{inner}?"),
            Ty::Union(members) => {
                let parts: Vec<String> = members.iter().map(ToString::to_string).collect();
                f.write_str(&parts.join(" | "))
            }
            Ty::OneOf(members) => {
                let parts: Vec<String> = members.iter().map(ToString::to_string).collect();
                f.write_str(&parts.join(" | "))
            }
            Ty::Schema(s) => f.write_str(&s.display),
        }
    }
}

/// Lowers type expressions of one file, collecting diagnostics.
pub struct TypeLowering<'a> {
    pub db: &'a dyn Db,
    pub project: Project,
    pub file: SourceFile,
    pub diagnostics: Vec<Diagnostic>,
    /// The type being lowered: its syntax's file ranges become HIR ranges through it.
    pub current: Option<crate::hir::TypePlace>,
}

impl TypeLowering<'_> {
    fn span(&self, range: TextRange) -> Span {
        let range = self.current.as_ref().map_or(range, |t| t.map(range));
        Span::new(self.file.id(self.db), range)
    }

    fn error(&mut self, code: Code, message: String, range: TextRange, label: &str) -> Ty {
        self.diagnostics.push(Diagnostic::error(code, message).with_primary(self.span(range), label));
        Ty::Error
    }

    pub fn lower(&mut self, t: &TypeRef) -> Ty {
        let outer = self.current.replace(t.place().clone());
        let ty = self.lower_depth(t.syntax(), 0);
        self.current = outer;
        ty
    }

    fn lower_depth(&mut self, t: &ast::TypeExpr, depth: u32) -> Ty {
        if depth > 64 {
            return self.error(Code::NESTING_TOO_DEEP, "type is nested too deeply".into(), t.range(), "here");
        }
        match t {
            ast::TypeExpr::Named(path) => self.named(path),
            ast::TypeExpr::Refined { base, args, .. } => {
                let base = self.lower_depth(base, depth + 1);
                self.refine(base, args)
            }
            ast::TypeExpr::List { item, .. } => {
                Ty::List(Box::new(self.lower_depth(item, depth + 1)), ListTy::default())
            }
            ast::TypeExpr::Map { key, value, .. } => {
                let key_ty = self.lower_depth(key, depth + 1);
                let key_constraint = match key_ty {
                    // A refined key (`{string(/^[a-z]+$/): T}`) is enforced on every key.
                    Ty::Str(k) if k.pattern.is_some() || !k.len.is_unbounded() => Some(Box::new(k)),
                    Ty::Str(_) | Ty::Error => None,
                    _ => {
                        self.error(
                            Code::TYPE_MISMATCH,
                            "map keys must be strings".into(),
                            key.range(),
                            "use `{string: T}`",
                        );
                        None
                    }
                };
                Ty::Map(Box::new(self.lower_depth(value, depth + 1)), Bounds::default(), key_constraint)
            }
            ast::TypeExpr::Optional { inner, .. } => match self.lower_depth(inner, depth + 1) {
                Ty::Optional(inner) => Ty::Optional(inner),
                other => Ty::Optional(Box::new(other)),
            },
            ast::TypeExpr::LiteralUnion { members, .. } => {
                let mut lits = Vec::new();
                for m in members {
                    match literal(m) {
                        Some(l) => {
                            if !lits.contains(&l) {
                                lits.push(l)
                            }
                        }
                        None => {
                            self.error(
                                Code::TYPE_MISMATCH,
                                "union members must be literals".into(),
                                m.range(),
                                "not a literal",
                            );
                        }
                    }
                }
                Ty::Union(lits)
            }
            ast::TypeExpr::Union { members, .. } => {
                let tys: Vec<Ty> = members.iter().map(|m| self.lower_depth(m, depth + 1)).collect();
                if tys.contains(&Ty::Error) {
                    return Ty::Error;
                }
                // A `T?` member makes the whole union optional: `int | string?` is `(int | string)?`.
                let optional = tys.iter().any(|t| matches!(t, Ty::Optional(_)));
                let tys: Vec<Ty> = tys
                    .into_iter()
                    .map(|t| match t {
                        Ty::Optional(inner) => *inner,
                        other => other,
                    })
                    .collect();
                if optional {
                    Ty::Optional(Box::new(Ty::OneOf(tys)))
                } else {
                    Ty::OneOf(tys)
                }
            }
            ast::TypeExpr::Error(_) => Ty::Error,
        }
    }

    fn named(&mut self, path: &ast::Path) -> Ty {
        let segments: Vec<Name> = path.segments.iter().map(|s| Name::from(s.text.as_str())).collect();
        if segments.iter().any(|s| s.is_empty()) {
            return Ty::Error;
        }
        if let [single] = segments.as_slice() {
            match &**single {
                "string" => return Ty::string(),
                "int" => return Ty::Int(Bounds::default()),
                "float" => return Ty::Float(Bounds::default()),
                "bool" => return Ty::Bool,
                "quantity" => return Ty::Quantity(Bounds::default()),
                "duration" => return Ty::Duration(Bounds::default()),
                "any" => return Ty::Any,
                _ => {}
            }
        }
        let display = segments.iter().map(|s| &**s).collect::<Vec<_>>().join(".");
        match resolve_path(self.db, self.project, self.file, &segments) {
            Resolved::Item { file, name, kind: ItemKind::Schema } if segments.len() <= 2 => {
                let index = crate::index::project_index(self.db, self.project);
                let display = format!("{}.{}", index.module_display(file), name);
                let ancestors = crate::model::schema_ancestors(self.db, self.project, file, name.clone());
                Ty::Schema(SchemaRef { file, name, display: Name::from(display.as_str()), ancestors })
            }
            // The failed import is reported where it is written.
            Resolved::BrokenImport => Ty::Error,
            Resolved::Item { kind, .. } => self.error(
                Code::UNKNOWN_TYPE,
                format!("`{display}` is {}, not a type", kind.describe()),
                path.range,
                "not a type",
            ),
            _ => {
                let mut d = Diagnostic::error(Code::UNKNOWN_TYPE, format!("unknown type `{display}`"))
                    .with_primary(self.span(path.range), "not defined");
                let builtin = ["string", "int", "float", "bool", "quantity", "duration"];
                let items = crate::index::item_index(self.db, self.file);
                let schemas = items.items.iter().filter(|(_, h)| h.kind == ItemKind::Schema).map(|(n, _)| &**n);
                let candidates: Vec<&str> = builtin.into_iter().chain(schemas).collect();
                if let Some(best) = crate::suggest::best(&display, candidates) {
                    d = d.with_help(format!("did you mean `{best}`?"));
                }
                self.diagnostics.push(d);
                Ty::Error
            }
        }
    }

    fn refine(&mut self, base: Ty, args: &[ast::Refinement]) -> Ty {
        let mut ty = base;
        let mut sources = BoundSources::default();
        for arg in args {
            ty = match (ty, arg) {
                (Ty::Error, _) => Ty::Error,
                (Ty::Str(mut s), ast::Refinement::Regex { pattern, .. }) => {
                    let source = Name::from(pattern.as_str());
                    match compiled_pattern(self.db, self.project, source.clone()) {
                        Some(regex) => {
                            s.pattern = Some(Pattern { source, regex });
                            Ty::Str(s)
                        }
                        // The parser validates patterns with the same engine and reports K0008.
                        None => Ty::Error,
                    }
                }
                (other, ast::Refinement::Regex { range, .. }) => self.error(
                    Code::TYPE_MISMATCH,
                    format!("a pattern refines only `string`, not `{other}`"),
                    *range,
                    "pattern on a non-string type",
                ),
                (Ty::List(item, mut list), ast::Refinement::Key { fields, .. }) => {
                    list.identity = ListIdentity::Key(fields.iter().map(|f| Name::from(f.text.as_str())).collect());
                    Ty::List(item, list)
                }
                (Ty::List(item, mut list), ast::Refinement::Unique { .. }) => {
                    list.identity = ListIdentity::Unique;
                    Ty::List(item, list)
                }
                (other, ast::Refinement::Key { range, .. } | ast::Refinement::Unique { range }) => self.error(
                    Code::TYPE_MISMATCH,
                    format!("`key(...)` and `unique` constrain only lists, not `{other}`"),
                    *range,
                    "list constraint on a non-list type",
                ),
                (ty, ast::Refinement::Range { lo, hi, range }) => {
                    let before = ty.clone();
                    let fresh = self.range(ty, lo.as_ref(), hi.as_ref(), *range);
                    self.intersect(before, fresh, *range, &mut sources)
                }
            };
        }
        ty
    }

    /// Several ranges on one type all apply (`int(1..10, 5..20)` is `int(5..10)`): `fresh` holds
    /// the range written at `at`, `before` the earlier ones. Ranges with no value in common make
    /// a type no value can have, an error naming both.
    fn intersect(&mut self, before: Ty, fresh: Ty, at: TextRange, src: &mut BoundSources) -> Ty {
        let met = match (before, fresh) {
            (Ty::Int(a), Ty::Int(b)) => meet(a, b, src, at).map(Ty::Int),
            (Ty::Float(a), Ty::Float(b)) => meet(a, b, src, at).map(Ty::Float),
            (Ty::Quantity(a), Ty::Quantity(b)) => meet(a, b, src, at).map(Ty::Quantity),
            (Ty::Duration(a), Ty::Duration(b)) => meet(a, b, src, at).map(Ty::Duration),
            (Ty::Str(a), Ty::Str(mut b)) => meet(a.len, std::mem::take(&mut b.len), src, at).map(|len| {
                b.len = len;
                Ty::Str(b)
            }),
            (Ty::List(_, a), Ty::List(item, mut b)) => meet(a.len, std::mem::take(&mut b.len), src, at).map(|len| {
                b.len = len;
                Ty::List(item, b)
            }),
            (Ty::Map(_, a, _), Ty::Map(v, b, k)) => meet(a, b, src, at).map(|len| Ty::Map(v, len, k)),
            (_, fresh) => Ok(fresh),
        };
        match met {
            Ok(ty) => ty,
            Err(other) => {
                let current = self.current.as_ref();
                let show = |r: TextRange| current.map_or("", |t| t.text_of(r)).to_string();
                self.diagnostics.push(
                    Diagnostic::error(
                        Code::OUT_OF_RANGE,
                        format!("empty refinement: `{}` and `{}` have no value in common", show(other), show(at)),
                    )
                    .with_primary(self.span(at), "no value fits this range and the one before")
                    .with_secondary(self.span(other), "conflicting range")
                    .with_help("several ranges on one type all apply; write the one range you mean"),
                );
                Ty::Error
            }
        }
    }

    fn range(&mut self, ty: Ty, lo: Option<&ast::Expr>, hi: Option<&ast::Expr>, range: TextRange) -> Ty {
        macro_rules! bounds {
            ($conv:expr) => {{
                let mut b = Bounds::default();
                for (slot, e) in [(&mut b.lo, lo), (&mut b.hi, hi)] {
                    if let Some(e) = e {
                        match $conv(e) {
                            Ok(v) => *slot = Some(v),
                            Err(msg) => {
                                return self.error(Code::TYPE_MISMATCH, msg, e.range(), "invalid bound");
                            }
                        }
                    }
                }
                b
            }};
        }
        let ty = match ty {
            Ty::Int(_) => Ty::Int(bounds!(|e: &ast::Expr| match literal(e) {
                Some(Lit::Int(i)) => Ok(i),
                _ => Err(String::from("an `int` range needs integer bounds")),
            })),
            Ty::Float(_) => Ty::Float(bounds!(|e: &ast::Expr| match literal(e) {
                Some(Lit::Int(i)) => Ok(i as f64),
                Some(Lit::Float(x)) => Ok(x),
                _ => Err(String::from("a `float` range needs numeric bounds")),
            })),
            Ty::Quantity(_) => Ty::Quantity(bounds!(|e: &ast::Expr| match literal(e) {
                Some(Lit::Int(i)) => Ok(Quantity::from_int(i)),
                Some(Lit::Str(s)) => Quantity::parse(&s).map_err(|err| err.to_string()),
                _ => Err(String::from("a `quantity` range needs quantity bounds such as \"100m\"")),
            })),
            Ty::Duration(_) => Ty::Duration(bounds!(|e: &ast::Expr| match literal(e) {
                Some(Lit::Str(s)) => Duration::parse(&s).map_err(|err| err.to_string()),
                _ => Err(String::from("a `duration` range needs duration bounds such as \"30s\"")),
            })),
            Ty::Str(mut s) => {
                s.len = bounds!(len_bound);
                Ty::Str(s)
            }
            Ty::List(item, mut list) => {
                list.len = bounds!(len_bound);
                Ty::List(item, list)
            }
            Ty::Map(v, _, k) => Ty::Map(v, bounds!(len_bound), k),
            Ty::Error => Ty::Error,
            other => {
                return self.error(
                    Code::TYPE_MISMATCH,
                    format!("`{other}` cannot be refined with a range"),
                    range,
                    "range on a type without order or length",
                )
            }
        };
        let inverted = match &ty {
            Ty::Int(b) => matches!((&b.lo, &b.hi), (Some(l), Some(h)) if l > h),
            Ty::Float(b) => matches!((&b.lo, &b.hi), (Some(l), Some(h)) if l > h),
            Ty::Quantity(b) => matches!((&b.lo, &b.hi), (Some(l), Some(h)) if l > h),
            Ty::Duration(b) => matches!((&b.lo, &b.hi), (Some(l), Some(h)) if l > h),
            Ty::Str(StrTy { len: b, .. }) | Ty::List(_, ListTy { len: b, .. }) | Ty::Map(_, b, _) => {
                matches!((&b.lo, &b.hi), (Some(l), Some(h)) if l > h)
            }
            _ => false,
        };
        if inverted {
            return self.error(
                Code::OUT_OF_RANGE,
                "empty range: the lower bound is above the upper".into(),
                range,
                "no value fits",
            );
        }
        ty
    }
}

/// The refinement ranges that set the current lower and upper bound.
#[derive(Default)]
struct BoundSources {
    lo: Option<TextRange>,
    hi: Option<TextRange>,
}

/// The intersection of two bounds, recording in `src` which range (`at` for `new`) set each
/// bound. When it is empty, returns the earlier range that conflicts with the one at `at`.
fn meet<T: PartialOrd>(
    old: Bounds<T>,
    new: Bounds<T>,
    src: &mut BoundSources,
    at: TextRange,
) -> Result<Bounds<T>, TextRange> {
    let lo = match (old.lo, new.lo) {
        (Some(o), Some(n)) if o >= n => Some(o),
        (o, None) => o,
        (_, n) => {
            src.lo = Some(at);
            n
        }
    };
    let hi = match (old.hi, new.hi) {
        (Some(o), Some(n)) if o <= n => Some(o),
        (o, None) => o,
        (_, n) => {
            src.hi = Some(at);
            n
        }
    };
    if let (Some(l), Some(h)) = (&lo, &hi) {
        if l > h {
            // Each range alone is non-empty (checked before), so one bound is the new range's
            // and the other an earlier one's.
            let other = if src.lo == Some(at) { src.hi } else { src.lo };
            return Err(other.unwrap_or(at));
        }
    }
    Ok(Bounds { lo, hi })
}

fn len_bound(e: &ast::Expr) -> Result<u64, String> {
    match literal(e) {
        Some(Lit::Int(i)) if i >= 0 => Ok(i.unsigned_abs()),
        _ => Err(String::from("a length range needs non-negative integer bounds")),
    }
}

/// A literal expression (possibly negated) as a union member or bound.
pub fn literal(e: &ast::Expr) -> Option<Lit> {
    match e {
        ast::Expr::Int { value, .. } => Some(Lit::Int(*value)),
        ast::Expr::Float { value, .. } => Some(Lit::Float(value.0)),
        ast::Expr::Bool { value, .. } => Some(Lit::Bool(*value)),
        ast::Expr::Str(s) => s.as_plain().map(|t| Lit::Str(Name::from(t.as_str()))),
        ast::Expr::Paren { inner, .. } => literal(inner),
        ast::Expr::Unary { op: ast::UnaryOp::Neg, operand, .. } => match &**operand {
            ast::Expr::Int { value, .. } => value.checked_neg().map(Lit::Int),
            ast::Expr::Float { value, .. } => Some(Lit::Float(-value.0)),
            _ => None,
        },
        _ => None,
    }
}

/// Why a redeclared type is not a narrowing of the base type.
#[derive(Clone, Debug, PartialEq)]
pub struct Widening {
    pub code: Code,
    /// What got wider, e.g. "range 1..50 is not within 1..20".
    pub detail: String,
}

/// Checks that every value of `new` is a value of `base`.
pub fn check_narrowing(base: &Ty, new: &Ty) -> Result<(), Widening> {
    check_narrowing_depth(base, new, 0)
}

fn widened(code: Code, detail: String) -> Result<(), Widening> {
    Err(Widening { code, detail })
}

fn check_narrowing_depth(base: &Ty, new: &Ty, depth: u32) -> Result<(), Widening> {
    if depth > 64 {
        return Ok(());
    }
    let changed = || widened(Code::CHANGED_TYPE, format!("`{new}` is not a narrowing of `{base}`"));
    let range = |ok: bool, nb: &dyn fmt::Display, bb: &dyn fmt::Display| {
        if ok {
            Ok(())
        } else {
            widened(Code::WIDENED_RANGE, format!("range {nb} is not within {bb}"))
        }
    };
    match (base, new) {
        (Ty::Any | Ty::Error, _) | (_, Ty::Error) => Ok(()),
        // Every member of the new union must narrow some member of the base union.
        (b, Ty::OneOf(ns)) => {
            for n in ns {
                check_narrowing_depth(b, n, depth + 1)?;
            }
            Ok(())
        }
        (Ty::OneOf(bs), n) => {
            if bs.iter().any(|b| check_narrowing_depth(b, n, depth + 1).is_ok()) {
                Ok(())
            } else {
                widened(Code::CHANGED_TYPE, format!("`{new}` is not a narrowing of any member of `{base}`"))
            }
        }
        (Ty::Bool, Ty::Bool) => Ok(()),
        (Ty::Int(b), Ty::Int(n)) => range(n.within(b), n, b),
        (Ty::Float(b), Ty::Float(n)) => range(n.within(b), n, b),
        (Ty::Float(b), Ty::Int(n)) => {
            let n = Bounds { lo: n.lo.map(|x| x as f64), hi: n.hi.map(|x| x as f64) };
            range(n.within(b), &n, b)
        }
        (Ty::Quantity(b), Ty::Quantity(n)) => range(n.within(b), n, b),
        (Ty::Duration(b), Ty::Duration(n)) => range(n.within(b), n, b),
        (Ty::Str(b), Ty::Str(n)) => {
            match (&b.pattern, &n.pattern) {
                (Some(bp), Some(np)) if bp != np => {
                    return widened(
                        Code::WIDENED_PATTERN,
                        format!("pattern /{}/ replaces /{}/", np.escaped(), bp.escaped()),
                    )
                }
                (Some(bp), None) => {
                    return widened(Code::WIDENED_PATTERN, format!("the pattern /{}/ is dropped", bp.escaped()))
                }
                _ => {}
            }
            if n.len.within(&b.len) {
                Ok(())
            } else {
                widened(Code::WIDENED_RANGE, format!("length {} is not within {}", n.len, b.len))
            }
        }
        (Ty::Map(_, _, Some(bk)), Ty::Map(_, _, nk)) if nk.as_ref().is_none_or(|nk| nk.pattern != bk.pattern) => {
            widened(
                Code::WIDENED_PATTERN,
                format!("the key constraint `{}` is changed or dropped", Ty::Str((**bk).clone())),
            )
        }
        (Ty::List(_, bl), Ty::List(_, nl)) if !nl.identity.within(&bl.identity) => widened(
            Code::DROPPED_LIST_KEY,
            match &nl.identity {
                ListIdentity::Plain => format!("the list constraint `{}` is dropped", bl.identity),
                other => format!("the list constraint `{}` is replaced by `{other}`", bl.identity),
            },
        ),
        (Ty::List(bi, ListTy { len: bl, .. }), Ty::List(ni, ListTy { len: nl, .. }))
        | (Ty::Map(bi, bl, _), Ty::Map(ni, nl, _)) => {
            if !nl.within(bl) {
                return widened(Code::WIDENED_RANGE, format!("length {nl} is not within {bl}"));
            }
            check_narrowing_depth(bi, ni, depth + 1)
        }
        (Ty::Optional(b), Ty::Optional(n)) => check_narrowing_depth(b, n, depth + 1),
        (Ty::Optional(b), n) => check_narrowing_depth(b, n, depth + 1),
        (b, Ty::Optional(_)) => widened(Code::CHANGED_TYPE, format!("`{new}` allows null, which `{b}` does not")),
        (Ty::Union(b), Ty::Union(n)) => {
            let extra: Vec<String> = n.iter().filter(|m| !b.contains(m)).map(ToString::to_string).collect();
            if extra.is_empty() {
                Ok(())
            } else {
                widened(Code::WIDENED_CHOICES, format!("{} not allowed by `{base}`", extra.join(", ")))
            }
        }
        // A union of literals narrows a primitive type when every member satisfies it.
        (b, Ty::Union(n)) => {
            let bad: Vec<String> = n.iter().filter(|m| !lit_fits(b, m)).map(ToString::to_string).collect();
            if bad.is_empty() {
                Ok(())
            } else {
                widened(Code::WIDENED_CHOICES, format!("{} not allowed by `{base}`", bad.join(", ")))
            }
        }
        // A schema that extends or composes the base schema only narrows it.
        (Ty::Schema(b), Ty::Schema(n)) if n.is_subschema_of(b) => Ok(()),
        _ => changed(),
    }
}

/// Whether a literal is a value of a (non-union) type, for union narrowing.
pub fn lit_fits(ty: &Ty, lit: &Lit) -> bool {
    match (ty, lit) {
        (Ty::Any | Ty::Error, _) => true,
        (Ty::Optional(inner), l) => lit_fits(inner, l),
        (Ty::Bool, Lit::Bool(_)) => true,
        (Ty::Int(b), Lit::Int(i)) => b.contains(i),
        (Ty::Float(b), Lit::Int(i)) => b.contains(&(*i as f64)),
        (Ty::Float(b), Lit::Float(x)) => b.contains(x),
        (Ty::Str(s), Lit::Str(v)) => {
            s.pattern.as_ref().is_none_or(|p| p.regex.is_match(v)) && s.len.contains(&(v.chars().count() as u64))
        }
        (Ty::Quantity(b), Lit::Str(v)) => Quantity::parse(v).is_ok_and(|q| b.contains(&q)),
        (Ty::Duration(b), Lit::Str(v)) => Duration::parse(v).is_ok_and(|d| b.contains(&d)),
        (Ty::Union(members), l) => members.contains(l),
        (Ty::OneOf(members), l) => members.iter().any(|m| lit_fits(m, l)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_literals_display_in_kdep_syntax() {
        // Debug formatting would print `\0` and leave `${` as an interpolation.
        let lit = Lit::Str(Name::from("a\"${b}\0"));
        assert_eq!(lit.to_string(), r#""a\"\${b}\u{0}""#);
    }
}
