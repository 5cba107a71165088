//! The kdep side of the conversion: types, fields, schemas and modules, and how they print.
//!
//! Printing follows `kdep fmt`'s layout (four-space indent, one member per line, one blank line
//! between items) so a generated file is already formatted; a unit test checks that.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// A dotted module path such as `k8s.meta.v1`, split into its group label and version.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ModulePath {
    /// `core`, `apps`, `cert_manager`, ...
    pub label: String,
    /// `v1`, `v1alpha1`, ...
    pub version: String,
}

impl ModulePath {
    pub fn new(label: impl Into<String>, version: impl Into<String>) -> Self {
        ModulePath { label: label.into(), version: version.into() }
    }

    /// `k8s.<label>.<version>`.
    pub fn dotted(&self) -> String {
        format!("k8s.{}.{}", self.label, self.version)
    }

    /// The file path under the library root: `<label>/<version>.kdep`.
    pub fn file_path(&self) -> String {
        format!("{}/{}.kdep", self.label, self.version)
    }
}

/// A literal member of an enum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lit {
    Str(String),
    Int(i64),
    Bool(bool),
}

/// Which list-type annotation a list carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListKind {
    /// `atomic` or none.
    Plain,
    /// `x-kubernetes-list-type: map`: `(key(a, b))`.
    Keys(Vec<String>),
    /// `x-kubernetes-list-type: set`: `(unique)`.
    Unique,
}

/// A kdep type as the generator writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ty {
    /// A built-in type name: `int`, `float`, `bool`, `string`, `any`, `quantity`.
    Prim(&'static str),
    /// RFC 3339 timestamps (`format: date-time`, `meta.v1.Time`).
    DateTime,
    /// `int | string`.
    IntOrString,
    /// `"A" | "B"`.
    Lits(Vec<Lit>),
    List(Box<Ty>, ListKind),
    /// `{string: T}`.
    Map(Box<Ty>),
    /// A schema, in this module (`None`) or another one.
    Named(Option<ModulePath>, String),
}

/// The refinement kdep writes for RFC 3339 date-times.
pub const DATE_TIME: &str = r"string(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/)";

impl Ty {
    fn write(&self, out: &mut String, aliases: &BTreeMap<ModulePath, String>) {
        match self {
            Ty::Prim(name) => out.push_str(name),
            Ty::DateTime => out.push_str(DATE_TIME),
            Ty::IntOrString => out.push_str("int | string"),
            Ty::Lits(lits) => {
                for (i, lit) in lits.iter().enumerate() {
                    if i > 0 {
                        out.push_str(" | ");
                    }
                    match lit {
                        Lit::Str(s) => kdep_syntax::format::write_string_literal(out, s),
                        Lit::Int(n) => {
                            let _ = write!(out, "{n}");
                        }
                        Lit::Bool(b) => {
                            let _ = write!(out, "{b}");
                        }
                    }
                }
            }
            Ty::List(item, kind) => {
                out.push('[');
                item.write(out, aliases);
                out.push(']');
                match kind {
                    ListKind::Plain => {}
                    ListKind::Unique => out.push_str("(unique)"),
                    ListKind::Keys(keys) => {
                        out.push_str("(key(");
                        for (i, key) in keys.iter().enumerate() {
                            if i > 0 {
                                out.push_str(", ");
                            }
                            write_name(out, key);
                        }
                        out.push_str("))");
                    }
                }
            }
            Ty::Map(value) => {
                out.push_str("{string: ");
                value.write(out, aliases);
                out.push('}');
            }
            Ty::Named(module, name) => {
                if let Some(alias) = module.as_ref().and_then(|m| aliases.get(m)) {
                    out.push_str(alias);
                    out.push('.');
                }
                out.push_str(name);
            }
        }
    }

    /// Every other module this type mentions.
    fn modules(&self, out: &mut BTreeSet<ModulePath>) {
        match self {
            Ty::List(item, _) | Ty::Map(item) => item.modules(out),
            Ty::Named(Some(module), _) => {
                out.insert(module.clone());
            }
            _ => {}
        }
    }
}

/// One field of a schema.
#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    pub doc: Vec<String>,
    pub ty: Ty,
    pub optional: bool,
}

/// One `schema` item.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    pub doc: Vec<String>,
    /// `(apiVersion, kind, scope)` of `@resource`.
    pub resource: Option<(String, String, String)>,
    pub open: bool,
    pub fields: Vec<Field>,
}

/// A module being built: its schemas by name.
#[derive(Debug, Clone, Default)]
pub struct ModuleBody {
    pub schemas: BTreeMap<String, Schema>,
    /// Source files the schemas came from (for the header).
    pub sources: BTreeSet<String>,
}

/// Writes a field name, quoted when it is not a bare name (GRAMMAR.md, "Keywords as names").
pub fn write_name(out: &mut String, name: &str) {
    kdep_syntax::format::write_key(out, name);
}

fn write_doc(out: &mut String, indent: &str, doc: &[String]) {
    for line in doc {
        out.push_str(indent);
        if line.is_empty() {
            out.push_str("///\n");
        } else {
            out.push_str("/// ");
            out.push_str(line);
            out.push('\n');
        }
    }
}

/// Splits a description into doc lines: trailing blanks trimmed, no leading or trailing empty
/// lines, runs of empty lines collapsed to one. Tabs become four spaces and other control
/// characters a space, because kdep source is canonical without them (`kdep fmt` keeps comments
/// verbatim, and its output has no tabs).
pub fn doc_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for raw in text.lines() {
        let mut line = String::with_capacity(raw.len());
        for c in raw.chars() {
            match c {
                '\t' => line.push_str("    "),
                c if c.is_control() => line.push(' '),
                c => line.push(c),
            }
        }
        let line = line.trim_end().to_string();
        if line.is_empty() && lines.last().is_none_or(|l: &String| l.is_empty()) {
            continue;
        }
        lines.push(line);
    }
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
}

/// Chooses an import alias per module: its label, or `label_version` when the label is taken
/// (by the module itself or another version of the same group).
fn aliases(own: &ModulePath, used: &BTreeSet<ModulePath>) -> BTreeMap<ModulePath, String> {
    let mut out = BTreeMap::new();
    let mut taken: BTreeSet<String> = BTreeSet::new();
    taken.insert(own.label.clone());
    for module in used {
        let alias = if taken.contains(&module.label) {
            format!("{}_{}", module.label, module.version)
        } else {
            module.label.clone()
        };
        taken.insert(alias.clone());
        out.insert(module.clone(), alias);
    }
    out
}

/// Every converted module as text, in module-path order, each with the `//` header lines
/// `header` gives for its path and source files.
pub fn print_modules(
    bodies: BTreeMap<ModulePath, ModuleBody>,
    header: &dyn Fn(&ModulePath, &[String]) -> Vec<String>,
) -> Vec<crate::Module> {
    bodies
        .into_iter()
        .map(|(path, body)| {
            let sources: Vec<String> = body.sources.iter().cloned().collect();
            let text = print_module(&path, &body, &header(&path, &sources));
            crate::Module { path, text }
        })
        .collect()
}

/// Prints a whole module: header comment lines, imports, then schemas sorted by name.
pub fn print_module(path: &ModulePath, body: &ModuleBody, header: &[String]) -> String {
    let mut used = BTreeSet::new();
    for schema in body.schemas.values() {
        for field in &schema.fields {
            field.ty.modules(&mut used);
        }
    }
    used.remove(path);
    let aliases = aliases(path, &used);
    let mut out = String::new();
    for line in header {
        out.push_str("// ");
        out.push_str(line);
        out.push('\n');
    }
    if !aliases.is_empty() {
        if !out.is_empty() {
            out.push('\n');
        }
        for (module, alias) in &aliases {
            let _ = writeln!(out, "import {} as {alias}", module.dotted());
        }
    }
    for (name, schema) in &body.schemas {
        if !out.is_empty() {
            out.push('\n');
        }
        write_doc(&mut out, "", &schema.doc);
        if let Some((api_version, kind, scope)) = &schema.resource {
            out.push_str("@resource(apiVersion = ");
            kdep_syntax::format::write_string_literal(&mut out, api_version);
            out.push_str(", kind = ");
            kdep_syntax::format::write_string_literal(&mut out, kind);
            out.push_str(", scope = ");
            kdep_syntax::format::write_string_literal(&mut out, scope);
            out.push_str(")\n");
        }
        if schema.open {
            out.push_str("@open\n");
        }
        if schema.fields.is_empty() {
            let _ = writeln!(out, "schema {name} {{}}");
            continue;
        }
        let _ = writeln!(out, "schema {name} {{");
        for field in &schema.fields {
            write_doc(&mut out, "    ", &field.doc);
            out.push_str("    ");
            write_name(&mut out, &field.name);
            out.push_str(": ");
            field.ty.write(&mut out, &aliases);
            if field.optional {
                out.push('?');
            }
            out.push('\n');
        }
        out.push_str("}\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::doc_lines;

    #[test]
    fn doc_lines_have_no_tabs_or_control_characters() {
        let lines = doc_lines("For example:\n\n\t{\n\t  a: 1\u{7}\n\t}\n\n\n\nEnd.  \n");
        assert_eq!(lines, ["For example:", "", "    {", "      a: 1", "    }", "", "End."]);
    }
}
