//! Builtin function signatures: names, parameter kinds, arity, result kinds and docs.
//!
//! The one table every consumer reads: name resolution and `kdep check` (unknown functions with
//! did-you-mean), the static body checks (argument and result kinds), the editor (completion,
//! hover) and the evaluator, whose implementations (`kdep-eval`'s `builtins.rs`) are looked up by
//! the same names; a test there keeps the two tables in step.

use std::fmt::Write as _;

/// What a parameter accepts or a builtin returns, for the type checker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Any value; for returns, "depends on the arguments" (the checker may refine it).
    Any,
    Str,
    Int,
    Float,
    /// `int` or `float`.
    Number,
    Bool,
    Quantity,
    Duration,
    /// A list of any element type.
    List,
    /// A map or record.
    Map,
    /// A string or a list.
    StrOrList,
    /// A string, list or map (anything with a length).
    Sized,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Any => "any",
            Kind::Str => "string",
            Kind::Int => "int",
            Kind::Float => "float",
            Kind::Number => "int | float",
            Kind::Bool => "bool",
            Kind::Quantity => "quantity",
            Kind::Duration => "duration",
            Kind::List => "list",
            Kind::Map => "map",
            Kind::StrOrList => "string | list",
            Kind::Sized => "string | list | map",
        }
    }
}

/// A builtin's signature.
#[derive(Clone, Copy, Debug)]
pub struct Signature {
    pub name: &'static str,
    pub params: &'static [(&'static str, Kind)],
    pub required: usize,
    pub variadic: bool,
    pub ret: Kind,
    pub doc: &'static str,
}

impl Signature {
    pub fn accepts_arity(&self, n: usize) -> bool {
        n >= self.required && (self.variadic || n <= self.params.len())
    }

    /// The kind of argument `index` (the last parameter repeats when variadic).
    pub fn param_kind(&self, index: usize) -> Option<Kind> {
        match self.params.get(index) {
            Some(&(_, kind)) => Some(kind),
            None if self.variadic => self.params.last().map(|&(_, kind)| kind),
            None => None,
        }
    }

    /// `name(a: string, b?: int) -> list`, for messages and hovers.
    pub fn display(&self) -> String {
        let mut out = format!("{}(", self.name);
        for (i, (pname, kind)) in self.params.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let optional = if i >= self.required { "?" } else { "" };
            let repeat = if self.variadic && i + 1 == self.params.len() { "..." } else { "" };
            let _ = write!(out, "{pname}{optional}: {}{repeat}", kind.name());
        }
        let _ = write!(out, ") -> {}", self.ret.name());
        out
    }

    /// The arity message (`None` when `n` arguments are accepted).
    pub fn arity_error(&self, n: usize) -> Option<String> {
        if self.accepts_arity(n) {
            return None;
        }
        let expected = match (self.required, self.params.len(), self.variadic) {
            (r, _, true) => format!("at least {r}"),
            (r, n, false) if r == n => format!("{r}"),
            (r, n, false) => format!("{r} to {n}"),
        };
        let plural = if expected == "1" { "" } else { "s" };
        Some(format!("`{}` takes {expected} argument{plural} but {n} were given; usage: {}", self.name, self.display()))
    }
}

/// The signature of builtin `name`.
pub fn lookup(name: &str) -> Option<&'static Signature> {
    SIGNATURES.iter().find(|b| b.name == name)
}

/// Every builtin, sorted by name.
pub fn all() -> &'static [Signature] {
    SIGNATURES
}

macro_rules! sig {
    ($name:literal ($($p:literal : $k:ident),*) required $req:literal $(variadic $var:literal)? -> $ret:ident, $doc:literal) => {
        Signature {
            name: $name,
            params: &[$(($p, Kind::$k)),*],
            required: $req,
            variadic: false $(|| $var)?,
            ret: Kind::$ret,
            doc: $doc,
        }
    };
}

/// The library, sorted by name.
#[rustfmt::skip]
static SIGNATURES: &[Signature] = &[
    sig!("abs" ("x": Number) required 1 -> Number, "The absolute value of a number."),
    sig!("all" ("list": List) required 1 -> Bool, "Whether every item of a list of bools is true (true for an empty list)."),
    sig!("any" ("list": List) required 1 -> Bool, "Whether some item of a list of bools is true (false for an empty list)."),
    sig!("base64_decode" ("s": Str) required 1 -> Str, "Decodes standard, padded base64 into a UTF-8 string."),
    sig!("base64_encode" ("s": Str) required 1 -> Str, "Encodes a string's UTF-8 bytes as standard, padded base64."),
    sig!("concat" ("lists": List) required 1 variadic true -> List, "Joins lists end to end."),
    sig!("contains" ("haystack": StrOrList, "needle": Any) required 2 -> Bool, "Whether a string contains a substring, or a list contains an item."),
    sig!("duration" ("s": Str) required 1 -> Duration, "Parses a duration such as `90s` or `1h30m`."),
    sig!("ends_with" ("s": Str, "suffix": Str) required 2 -> Bool, "Whether a string ends with a suffix."),
    sig!("flatten" ("list": List) required 1 -> List, "Splices the items of nested lists into one list (one level deep)."),
    sig!("format" ("template": Str, "args": Any) required 1 variadic true -> Str, "Replaces each `{}` in the template with the next argument as `to_string` shows it; `{{` and `}}` are literal braces."),
    sig!("get" ("map": Map, "key": Str, "default": Any) required 3 -> Any, "The map's value for a key, or the default when the key is absent."),
    sig!("has" ("map": Map, "key": Str) required 2 -> Bool, "Whether a map has a key."),
    sig!("join" ("list": List, "separator": Str) required 2 -> Str, "Joins a list of strings with a separator."),
    sig!("keys" ("map": Map) required 1 -> List, "A map's keys, in the map's (insertion) order."),
    sig!("len" ("x": Sized) required 1 -> Int, "The number of characters of a string, items of a list or entries of a map."),
    sig!("lower" ("s": Str) required 1 -> Str, "The string in lower case."),
    sig!("matches" ("s": Str, "pattern": Str) required 2 -> Bool, "Whether a regular expression (Rust `regex` syntax) matches anywhere in the string; anchor it with `^...$` to match the whole string."),
    sig!("max" ("list": List) required 1 -> Any, "The largest item of a non-empty list of numbers, strings, quantities or durations."),
    sig!("merge" ("maps": Map) required 1 variadic true -> Map, "Merges maps left to right; later maps win for keys they share (shallow, like `+`)."),
    sig!("milli_value" ("q": Quantity) required 1 -> Int, "A quantity in thousandths, rounded up (`500m` is 500, `2` is 2000), like Kubernetes' MilliValue."),
    sig!("min" ("list": List) required 1 -> Any, "The smallest item of a non-empty list of numbers, strings, quantities or durations."),
    sig!("omit" ("map": Map, "keys": Str) required 1 variadic true -> Map, "The map without the given keys."),
    sig!("quantity" ("s": Str) required 1 -> Quantity, "Parses a Kubernetes quantity such as `500m` or `1.5Gi`."),
    sig!("range" ("start_or_end": Int, "end": Int) required 1 -> List, "`range(n)` is `[0, 1, ..., n-1]`; `range(a, b)` is `[a, ..., b-1]`."),
    sig!("replace" ("s": Str, "from": Str, "to": Str) required 3 -> Str, "Replaces every occurrence of a non-empty substring."),
    sig!("reverse" ("list": List) required 1 -> List, "The list in reverse order."),
    sig!("seconds" ("d": Duration) required 1 -> Int, "A duration as a whole number of seconds (an error if it has a fraction of a second)."),
    sig!("sha256" ("s": Str) required 1 -> Str, "The SHA-256 digest of a string's UTF-8 bytes, as 64 lowercase hex digits."),
    sig!("sort" ("list": List) required 1 -> List, "Sorts numbers, strings (by bytes), quantities or durations ascending; stable."),
    sig!("split" ("s": Str, "separator": Str) required 2 -> List, "Splits a string at each separator; an empty separator splits into characters."),
    sig!("starts_with" ("s": Str, "prefix": Str) required 2 -> Bool, "Whether a string starts with a prefix."),
    sig!("substr" ("s": Str, "start": Int, "length": Int) required 2 -> Str, "The characters from `start` (0-based) on, at most `length` of them when given."),
    sig!("sum" ("list": List) required 1 -> Any, "The sum of a list of ints, floats, quantities or durations (0 for an empty list)."),
    sig!("to_float" ("x": Any) required 1 -> Float, "Converts an int, quantity or numeric string to a float."),
    sig!("to_int" ("x": Any) required 1 -> Int, "Converts a whole float, whole quantity or integer string to an int."),
    sig!("to_json" ("x": Any) required 1 -> Str, "Compact JSON text, keys in insertion order."),
    sig!("to_string" ("x": Any) required 1 -> Str, "A scalar as text: strings unchanged, numbers and bools as written in kdep, quantities and durations as written."),
    sig!("to_yaml" ("x": Any) required 1 -> Str, "YAML text (block style, keys in insertion order), as `kdep build` writes it."),
    sig!("trim" ("s": Str) required 1 -> Str, "The string without leading and trailing whitespace."),
    sig!("trim_prefix" ("s": Str, "prefix": Str) required 2 -> Str, "The string without the prefix, if it starts with it."),
    sig!("trim_suffix" ("s": Str, "suffix": Str) required 2 -> Str, "The string without the suffix, if it ends with it."),
    sig!("unique" ("list": List) required 1 -> List, "The list without repeated items, keeping first occurrences."),
    sig!("upper" ("s": Str) required 1 -> Str, "The string in upper case."),
    sig!("values" ("map": Map) required 1 -> List, "A map's values, in the map's (insertion) order."),
];
