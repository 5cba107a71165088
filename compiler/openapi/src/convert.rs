//! The OpenAPI side: one walker from a schema node (a `serde_json::Value`) to a kdep [`Ty`],
//! shared by OpenAPI component schemas and CRD `openAPIV3Schema`s.
//!
//! Inline objects become schemas named after their parent schema and field (`RolloutSpec`,
//! `RolloutSpecStrategy`); a name already taken gets a number. Nesting is bounded by
//! [`MAX_DEPTH`] so a pathological document is an error, never a stack overflow.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::model::{doc_lines, Field, ListKind, Lit, ModuleBody, ModulePath, Schema, Ty};
use crate::Error;

/// How deep schema nodes (and `$ref` aliases) may nest before the input is rejected.
pub const MAX_DEPTH: usize = 32;

/// What a `$ref` to a component schema turns into.
pub enum RefTarget {
    /// A type written in place (Quantity, IntOrString, Time, aliases of scalars and maps).
    Inline(Ty),
    /// A named schema of some module; the caller queues it for conversion.
    Named(ModulePath, String),
    /// Convert the referenced node in place (a non-object alias); carries the node.
    Node(Value),
}

/// Resolves `$ref`s; CRDs have none, so they pass a resolver that rejects them.
pub trait Refs {
    fn resolve(&mut self, reference: &str) -> Result<RefTarget, String>;
}

/// The state of converting the schemas of one module.
pub struct Converter<'a> {
    pub module: ModulePath,
    pub source: String,
    pub body: &'a mut ModuleBody,
    /// Names already used in the module (named definitions are reserved up front).
    pub taken: &'a mut BTreeSet<String>,
    pub errors: &'a mut Vec<Error>,
    pub refs: &'a mut dyn Refs,
}

/// `podSelector` → `PodSelector`, `x-foo` → `XFoo`.
pub fn pascal(name: &str) -> String {
    let mut out = String::new();
    let mut upper = true;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            if upper {
                out.push(c.to_ascii_uppercase());
            } else {
                out.push(c);
            }
            upper = false;
        } else {
            upper = true;
        }
    }
    out
}

/// A type name from arbitrary text: PascalCase, starting with a letter.
pub fn type_name(name: &str) -> String {
    let out = pascal(name);
    if out.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) {
        out
    } else {
        format!("T{out}")
    }
}

fn child(path: &str, key: &str) -> String {
    format!("{path}.{key}")
}

/// Whether a pattern is Kubernetes' quantity regular expression (CRDs write quantities as
/// int-or-string with this pattern).
fn is_quantity_pattern(pattern: &str) -> bool {
    pattern.starts_with(r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))")
}

/// Whether every branch of an `anyOf`/`oneOf`/`allOf` only validates (no type, no structure):
/// structural schemas allow that, and it does not change the type.
fn validation_only(branches: &[Value]) -> bool {
    branches.iter().all(|b| {
        b.as_object().is_some_and(|o| {
            !["type", "properties", "items", "additionalProperties", "$ref", "x-kubernetes-int-or-string"]
                .iter()
                .any(|k| o.contains_key(*k))
        })
    })
}

fn is_int_or_string_branches(branches: &[Value]) -> bool {
    let mut types: Vec<&str> = branches.iter().filter_map(|b| b.get("type").and_then(Value::as_str)).collect();
    types.sort_unstable();
    branches.len() == 2 && types == ["integer", "string"]
}

/// CEL rules of a node as doc lines.
pub fn cel_lines(node: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let Some(rules) = node.get("x-kubernetes-validations").and_then(Value::as_array) else {
        return out;
    };
    for rule in rules {
        let text = rule.get("rule").and_then(Value::as_str).unwrap_or_default();
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let message =
            rule.get("message").and_then(Value::as_str).map(|m| m.split_whitespace().collect::<Vec<_>>().join(" "));
        match message {
            Some(m) if !m.is_empty() => out.push(format!("Rule (CEL): {text} — {m}")),
            _ => out.push(format!("Rule (CEL): {text}")),
        }
    }
    out
}

/// The description of a node as doc lines.
pub fn description(node: &Value) -> Vec<String> {
    node.get("description").and_then(Value::as_str).map(doc_lines).unwrap_or_default()
}

impl Converter<'_> {
    fn error(&mut self, path: &str, message: impl Into<String>) {
        self.errors.push(Error { file: self.source.clone(), path: path.to_string(), message: message.into() });
    }

    /// A fresh schema name based on `hint`.
    fn fresh_name(&mut self, hint: &str) -> String {
        let base = type_name(hint);
        let mut name = base.clone();
        let mut n = 2;
        while self.taken.contains(&name) {
            name = format!("{base}{n}");
            n += 1;
        }
        self.taken.insert(name.clone());
        name
    }

    /// Converts an object node with `properties` into schema `name` of this module.
    ///
    /// `skip` names top-level fields to leave out (`status`, and `apiVersion`/`kind` of a
    /// resource); `metadata_override` types the `metadata` field (a CRD's root).
    pub fn object(&mut self, name: &str, node: &Value, path: &str, depth: usize, root: Option<Root>) -> Schema {
        let mut schema = Schema { doc: Vec::new(), resource: None, open: false, fields: Vec::new() };
        let Some(obj) = node.as_object() else {
            self.error(path, "a schema must be an object");
            return schema;
        };
        schema.open = obj.get("x-kubernetes-preserve-unknown-fields").and_then(Value::as_bool) == Some(true);
        schema.doc = cel_lines(node);
        let required: BTreeSet<&str> =
            obj.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
        let props: BTreeMap<&String, &Value> = match obj.get("properties") {
            Some(Value::Object(p)) => p.iter().collect(),
            Some(_) => {
                self.error(&child(path, "properties"), "`properties` must be a map of schemas");
                BTreeMap::new()
            }
            None => BTreeMap::new(),
        };
        for (field, prop) in props {
            let fpath = child(&child(path, "properties"), field);
            if let Some(root) = &root {
                if root.skip.contains(&field.as_str()) {
                    continue;
                }
                if field == "metadata" && root.crd {
                    schema.fields.push(Field {
                        name: field.clone(),
                        doc: description(prop),
                        ty: Ty::Named(Some(ModulePath::new("meta", "v1")), "ObjectMeta".into()),
                        optional: !required.contains(field.as_str()),
                    });
                    continue;
                }
            }
            let mut doc = description(prop);
            let hint = format!("{name}{}", crate::convert::pascal(field));
            let (ty, nullable) = self.ty(prop, &fpath, &hint, depth + 1, &mut doc);
            schema.fields.push(Field {
                name: field.clone(),
                doc,
                ty,
                optional: nullable || !required.contains(field.as_str()),
            });
        }
        schema
    }

    /// Converts a schema node to a type; `doc` receives CEL rules of nodes that do not become
    /// schemas of their own. Returns whether the node is nullable.
    pub fn ty(&mut self, node: &Value, path: &str, hint: &str, depth: usize, doc: &mut Vec<String>) -> (Ty, bool) {
        if depth > MAX_DEPTH {
            self.error(path, format!("schema nested more than {MAX_DEPTH} levels deep"));
            return (Ty::Prim("any"), false);
        }
        let Some(obj) = node.as_object() else {
            if node.as_bool() == Some(true) {
                // `true` is the schema that accepts anything.
                return (Ty::Prim("any"), false);
            }
            self.error(path, "a schema must be an object");
            return (Ty::Prim("any"), false);
        };
        let nullable = obj.get("nullable").and_then(Value::as_bool) == Some(true);
        let flag = |k: &str| obj.get(k).and_then(Value::as_bool) == Some(true);

        // `$ref`, directly or as Kubernetes' `allOf: [{$ref}]` wrapper (which carries the
        // field's own description and default beside it).
        let reference = obj.get("$ref").and_then(Value::as_str).map(str::to_string).or_else(|| {
            match obj.get("allOf").and_then(Value::as_array).map(Vec::as_slice) {
                Some([only]) => only.get("$ref").and_then(Value::as_str).map(str::to_string),
                _ => None,
            }
        });
        if let Some(reference) = reference {
            return match self.refs.resolve(&reference) {
                Ok(RefTarget::Inline(ty)) => (ty, nullable),
                Ok(RefTarget::Named(module, name)) => {
                    let module = if module == self.module { None } else { Some(module) };
                    (Ty::Named(module, name), nullable)
                }
                Ok(RefTarget::Node(target)) => {
                    let (ty, n) = self.ty(&target, path, hint, depth + 1, doc);
                    (ty, n || nullable)
                }
                Err(message) => {
                    self.error(path, message);
                    (Ty::Prim("any"), nullable)
                }
            };
        }
        for key in ["allOf", "anyOf", "oneOf"] {
            if let Some(branches) = obj.get(key) {
                let Some(branches) = branches.as_array() else {
                    self.error(&child(path, key), format!("`{key}` must be a list of schemas"));
                    continue;
                };
                let int_or_string = key != "allOf" && is_int_or_string_branches(branches);
                if !int_or_string && !validation_only(branches) {
                    self.error(
                        &child(path, key),
                        format!("unsupported schema construct: `{key}` with typed branches (only int-or-string and validation-only branches are supported)"),
                    );
                    return (Ty::Prim("any"), nullable);
                }
            }
        }
        if obj.contains_key("not") && !validation_only(std::slice::from_ref(obj.get("not").unwrap_or(&Value::Null))) {
            self.error(&child(path, "not"), "unsupported schema construct: `not` with a type");
            return (Ty::Prim("any"), nullable);
        }
        doc.extend(cel_lines(node));
        let pattern = obj.get("pattern").and_then(Value::as_str);
        let int_or_string = flag("x-kubernetes-int-or-string")
            || obj.get("format").and_then(Value::as_str) == Some("int-or-string")
            || ["anyOf", "oneOf"]
                .iter()
                .any(|k| obj.get(*k).and_then(Value::as_array).is_some_and(|b| is_int_or_string_branches(b)));
        if int_or_string {
            if pattern.is_some_and(is_quantity_pattern) {
                return (Ty::Prim("quantity"), nullable);
            }
            return (Ty::IntOrString, nullable);
        }
        let has_props = obj.get("properties").and_then(Value::as_object).is_some_and(|p| !p.is_empty());
        if flag("x-kubernetes-preserve-unknown-fields") && !has_props {
            return (Ty::Prim("any"), nullable);
        }
        if flag("x-kubernetes-embedded-resource") && !has_props {
            return (Ty::Prim("any"), nullable);
        }
        let ty = match obj.get("type") {
            None => None,
            Some(Value::String(t)) => Some(t.as_str()),
            Some(_) => {
                self.error(&child(path, "type"), "unsupported schema construct: `type` must be one string");
                return (Ty::Prim("any"), nullable);
            }
        };
        if let Some(values) = obj.get("enum") {
            return self.enumeration(values, ty, path, nullable);
        }
        match ty {
            Some("string") => {
                if obj.get("format").and_then(Value::as_str) == Some("date-time") {
                    (Ty::DateTime, nullable)
                } else {
                    (Ty::Prim("string"), nullable)
                }
            }
            Some("integer") => (Ty::Prim("int"), nullable),
            Some("number") => (Ty::Prim("float"), nullable),
            Some("boolean") => (Ty::Prim("bool"), nullable),
            Some("array") => {
                let item = match obj.get("items") {
                    None => Ty::Prim("any"),
                    Some(items) if items.is_array() => {
                        self.error(
                            &child(path, "items"),
                            "unsupported schema construct: tuple `items` (a list of schemas)",
                        );
                        Ty::Prim("any")
                    }
                    Some(items) => self.ty(items, &child(path, "items"), hint, depth + 1, doc).0,
                };
                let kind = match obj.get("x-kubernetes-list-type").and_then(Value::as_str) {
                    Some("map") => {
                        let keys: Vec<String> = obj
                            .get("x-kubernetes-list-map-keys")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect();
                        if keys.is_empty() {
                            self.error(
                                &child(path, "x-kubernetes-list-map-keys"),
                                "`x-kubernetes-list-type: map` needs `x-kubernetes-list-map-keys`",
                            );
                            ListKind::Plain
                        } else {
                            ListKind::Keys(keys)
                        }
                    }
                    Some("set") => ListKind::Unique,
                    Some("atomic") | None => ListKind::Plain,
                    Some(other) => {
                        self.error(&child(path, "x-kubernetes-list-type"), format!("unknown list type `{other}`"));
                        ListKind::Plain
                    }
                };
                (Ty::List(Box::new(item), kind), nullable)
            }
            Some("object") | None => {
                if has_props {
                    let name = self.fresh_name(hint);
                    let mut schema = self.object(&name, node, path, depth, None);
                    // The field's description documents the field; the schema keeps its rules.
                    schema.doc.retain(|l| l.starts_with("Rule (CEL)"));
                    // CEL rules of the node went to the schema, not the field.
                    let cel = cel_lines(node);
                    doc.retain(|l| !cel.contains(l));
                    self.body.schemas.insert(name.clone(), schema);
                    return (Ty::Named(None, name), nullable);
                }
                match obj.get("additionalProperties") {
                    Some(Value::Bool(true)) => (Ty::Map(Box::new(Ty::Prim("any"))), nullable),
                    Some(Value::Bool(false)) | None => (Ty::Prim("any"), nullable),
                    Some(value) => {
                        let (v, _) = self.ty(value, &child(path, "additionalProperties"), hint, depth + 1, doc);
                        (Ty::Map(Box::new(v)), nullable)
                    }
                }
            }
            Some(other) => {
                self.error(&child(path, "type"), format!("unsupported schema construct: unknown type `{other}`"));
                (Ty::Prim("any"), nullable)
            }
        }
    }

    fn enumeration(&mut self, values: &Value, ty: Option<&str>, path: &str, mut nullable: bool) -> (Ty, bool) {
        let Some(values) = values.as_array() else {
            self.error(&child(path, "enum"), "`enum` must be a list");
            return (Ty::Prim("any"), nullable);
        };
        let mut lits = Vec::new();
        for (i, value) in values.iter().enumerate() {
            match value {
                Value::Null => nullable = true,
                Value::String(s) => lits.push(Lit::Str(s.clone())),
                Value::Bool(b) => lits.push(Lit::Bool(*b)),
                Value::Number(n) if n.as_i64().is_some() => lits.push(Lit::Int(n.as_i64().unwrap_or_default())),
                _ => {
                    self.error(
                        &format!("{}[{i}]", child(path, "enum")),
                        "unsupported schema construct: enum values must be strings, integers or booleans",
                    );
                    return (Ty::Prim("any"), nullable);
                }
            }
        }
        // An enum on an array or object would constrain whole values; not expressible.
        if matches!(ty, Some("array" | "object")) {
            self.error(&child(path, "enum"), "unsupported schema construct: `enum` on an array or object");
            return (Ty::Prim("any"), nullable);
        }
        if lits.is_empty() {
            self.error(&child(path, "enum"), "`enum` has no values");
            return (Ty::Prim("any"), nullable);
        }
        let mut seen = Vec::new();
        lits.retain(|l| {
            if seen.contains(l) {
                false
            } else {
                seen.push(l.clone());
                true
            }
        });
        (Ty::Lits(lits), nullable)
    }
}

/// Extra rules for the root object of a Kubernetes kind.
pub struct Root {
    /// Top-level fields left out.
    pub skip: Vec<&'static str>,
    /// A CRD root: `metadata` is `meta.ObjectMeta`.
    pub crd: bool,
}
