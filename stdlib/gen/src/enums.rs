//! The enum supplement (`stdlib/gen/enums.toml`): allowed values of built-in Kubernetes fields
//! that the published OpenAPI documents leave as plain strings (see the file's header).
//!
//! [`parse`] reads the file into entries; [`apply`] writes each entry into the parsed OpenAPI
//! documents as an `enum` on the property (on its `items` for a list), so the ordinary
//! conversion turns it into a literal union. Both fail, naming the entry, on anything that
//! would make an entry silently ineffective: an unknown definition or property, a property
//! that is not a string or a list of strings, or one that upstream already enumerates.

use std::collections::BTreeSet;

use serde_json::Value;

/// One supplement entry: `"<definition>".<property> = [values]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The fully-qualified OpenAPI definition (`io.k8s.api.core.v1.Container`).
    pub definition: String,
    pub property: String,
    pub values: Vec<String>,
}

impl Entry {
    /// How the entry is written in the file, for error messages.
    fn name(&self) -> String {
        format!("\"{}\".{}", self.definition, self.property)
    }
}

/// Parses the supplement. `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Vec<Entry>, String> {
    let table: toml::Table = text.parse().map_err(|e| format!("{file}: {e}"))?;
    let mut entries = Vec::new();
    for (definition, properties) in &table {
        let Some(properties) = properties.as_table() else {
            return Err(format!("{file}: `{definition}` must be a table of properties"));
        };
        for (property, values) in properties {
            let entry = format!("{file}: \"{definition}\".{property}");
            let Some(values) = values.as_array() else {
                return Err(format!("{entry}: expected a list of allowed values"));
            };
            let mut seen = BTreeSet::new();
            let mut strings = Vec::new();
            for value in values {
                let Some(value) = value.as_str() else {
                    return Err(format!("{entry}: the allowed values must be strings, found `{value}`"));
                };
                if value.is_empty() || !seen.insert(value) {
                    return Err(format!("{entry}: the value \"{value}\" is empty or listed twice"));
                }
                strings.push(value.to_string());
            }
            if strings.is_empty() {
                return Err(format!("{entry}: no allowed values"));
            }
            entries.push(Entry { definition: definition.clone(), property: property.clone(), values: strings });
        }
    }
    Ok(entries)
}

/// The component schemas of a document (`components.schemas`, or Swagger's `definitions`).
fn schemas_mut(doc: &mut Value) -> Option<&mut serde_json::Map<String, Value>> {
    if doc.get("components").and_then(|c| c.get("schemas")).is_some() {
        return doc.get_mut("components")?.get_mut("schemas")?.as_object_mut();
    }
    doc.get_mut("definitions")?.as_object_mut()
}

fn is_plain_string(node: &Value) -> bool {
    node.get("type").and_then(Value::as_str) == Some("string")
        && !["$ref", "allOf", "anyOf", "oneOf", "format", "x-kubernetes-int-or-string"]
            .iter()
            .any(|k| node.get(*k).is_some())
}

/// Writes the entries into every document that defines their definition (the group-version
/// documents repeat shared definitions such as `core.v1.Container`, so each copy is patched).
/// `file` names the supplement in errors; all problems are reported, not only the first.
pub fn apply(file: &str, entries: &[Entry], docs: &mut [Value]) -> Result<(), String> {
    let mut errors = Vec::new();
    for entry in entries {
        let mut found_definition = false;
        let mut problem = None;
        for doc in docs.iter_mut() {
            let Some(definition) = schemas_mut(doc).and_then(|s| s.get_mut(&entry.definition)) else { continue };
            found_definition = true;
            let Some(property) = definition.get_mut("properties").and_then(|p| p.get_mut(&entry.property)) else {
                problem = Some(format!("definition `{}` has no property `{}`", entry.definition, entry.property));
                break;
            };
            let target = if property.get("type").and_then(Value::as_str) == Some("array") {
                property.get_mut("items")
            } else {
                Some(property)
            };
            let Some(target) = target.filter(|t| is_plain_string(t)) else {
                problem = Some("the property is neither a string nor a list of strings".to_string());
                break;
            };
            if target.get("enum").is_some() {
                problem = Some("the OpenAPI document already lists its values: remove the entry".to_string());
                break;
            }
            if let Some(node) = target.as_object_mut() {
                node.insert("enum".into(), entry.values.iter().map(|v| Value::String(v.clone())).collect());
            }
        }
        if !found_definition {
            problem = Some(format!("no OpenAPI definition `{}`", entry.definition));
        }
        if let Some(problem) = problem {
            errors.push(format!("{file}: {}: {problem}", entry.name()));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        serde_json::json!({"components": {"schemas": {
            "io.k8s.api.core.v1.Container": {"type": "object", "properties": {
                "imagePullPolicy": {"type": "string", "description": "Image pull policy."},
                "ports": {"type": "array", "items": {"$ref": "#/components/schemas/io.k8s.api.core.v1.ContainerPort"}},
                "args": {"type": "array", "items": {"type": "string"}},
                "replicas": {"type": "integer"},
                "kind": {"type": "string", "enum": ["A"]}
            }}
        }}})
    }

    fn apply_text(text: &str) -> Result<Vec<Value>, String> {
        let entries = parse("enums.toml", text)?;
        let mut docs = vec![doc(), doc()];
        apply("enums.toml", &entries, &mut docs).map(|()| docs)
    }

    #[test]
    fn values_land_on_strings_and_list_items_in_every_document() {
        let docs = apply_text(
            "[\"io.k8s.api.core.v1.Container\"]\nimagePullPolicy = [\"Always\", \"Never\"]\nargs = [\"a\"]\n",
        )
        .expect("applies");
        let props = "/components/schemas/io.k8s.api.core.v1.Container/properties";
        for doc in &docs {
            let values = |p: &str| doc.pointer(&format!("{props}/{p}/enum")).cloned();
            assert_eq!(values("imagePullPolicy"), Some(serde_json::json!(["Always", "Never"])));
            assert_eq!(values("args/items"), Some(serde_json::json!(["a"])));
        }
    }

    #[test]
    fn stale_or_wrong_entries_fail_naming_the_entry() {
        let cases = [
            (
                "[\"io.k8s.api.core.v1.Containr\"]\nimagePullPolicy = [\"Always\"]\n",
                "enums.toml: \"io.k8s.api.core.v1.Containr\".imagePullPolicy: no OpenAPI definition `io.k8s.api.core.v1.Containr`",
            ),
            (
                "[\"io.k8s.api.core.v1.Container\"]\npullPolicy = [\"Always\"]\n",
                "enums.toml: \"io.k8s.api.core.v1.Container\".pullPolicy: definition `io.k8s.api.core.v1.Container` has no property `pullPolicy`",
            ),
            (
                "[\"io.k8s.api.core.v1.Container\"]\nreplicas = [\"1\"]\n",
                "enums.toml: \"io.k8s.api.core.v1.Container\".replicas: the property is neither a string nor a list of strings",
            ),
            (
                "[\"io.k8s.api.core.v1.Container\"]\nports = [\"TCP\"]\n",
                "enums.toml: \"io.k8s.api.core.v1.Container\".ports: the property is neither a string nor a list of strings",
            ),
            (
                "[\"io.k8s.api.core.v1.Container\"]\nkind = [\"A\"]\n",
                "enums.toml: \"io.k8s.api.core.v1.Container\".kind: the OpenAPI document already lists its values: remove the entry",
            ),
            (
                "[\"io.k8s.api.core.v1.Container\"]\nimagePullPolicy = [\"Always\", \"Always\"]\n",
                "enums.toml: \"io.k8s.api.core.v1.Container\".imagePullPolicy: the value \"Always\" is empty or listed twice",
            ),
            (
                "[\"io.k8s.api.core.v1.Container\"]\nimagePullPolicy = []\n",
                "enums.toml: \"io.k8s.api.core.v1.Container\".imagePullPolicy: no allowed values",
            ),
            (
                "[\"io.k8s.api.core.v1.Container\"]\nimagePullPolicy = [1]\n",
                "enums.toml: \"io.k8s.api.core.v1.Container\".imagePullPolicy: the allowed values must be strings, found `1`",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(apply_text(text).err().as_deref(), Some(want), "{text}");
        }
    }
}
