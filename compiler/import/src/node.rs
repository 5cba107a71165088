//! The values of imported objects, converted from YAML, and their spelling as kdep expressions.

use kdep_syntax::format::write_string_literal;
use serde_yaml::Value;

/// A YAML value as kdep will write it, or a reference to a name (a template field or a shared
/// `let`) that replaced the value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Node {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Node>),
    /// Entries in input order; keys are unique (the YAML parser rejects duplicates).
    Obj(Vec<(String, Node)>),
    /// A name written as is: `image`, `shared.pod_security_context`.
    Ref(String),
}

/// A value that has no kdep spelling, with the field path where it is.
#[derive(Debug)]
pub(crate) struct ConvertError {
    pub path: String,
    pub message: String,
}

impl Node {
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Obj(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        match self {
            Node::Obj(entries) => entries.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn get_path(&self, path: &[&str]) -> Option<&Node> {
        path.iter().try_fold(self, |node, key| node.get(key))
    }

    pub fn get_path_mut(&mut self, path: &[&str]) -> Option<&mut Node> {
        path.iter().try_fold(self, |node, key| node.get_mut(key))
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[Node]> {
        match self {
            Node::List(items) => Some(items),
            _ => None,
        }
    }

    /// `(key, string value)` pairs of a map of strings (labels, selectors); others are skipped.
    pub fn string_pairs(&self) -> Vec<(&str, &str)> {
        match self {
            Node::Obj(entries) => entries.iter().filter_map(|(k, v)| Some((k.as_str(), v.as_str()?))).collect(),
            _ => Vec::new(),
        }
    }

    /// Number of scalar values inside (a reference counts as one).
    pub fn leaves(&self) -> usize {
        match self {
            Node::List(items) => items.iter().map(Node::leaves).sum(),
            Node::Obj(entries) => entries.iter().map(|(_, v)| v.leaves()).sum(),
            _ => 1,
        }
    }

    pub fn has_ref(&self) -> bool {
        match self {
            Node::Ref(_) => true,
            Node::List(items) => items.iter().any(Node::has_ref),
            Node::Obj(entries) => entries.iter().any(|(_, v)| v.has_ref()),
            _ => false,
        }
    }
}

/// Converts a parsed YAML value. Map entries whose value is null are left out; `path` names
/// the value in errors (`spec.replicas`).
pub(crate) fn from_yaml(value: &Value, path: &str) -> Result<Node, ConvertError> {
    let err = |message: String| Err(ConvertError { path: path.to_owned(), message });
    Ok(match value {
        Value::Null => Node::Null,
        Value::Bool(b) => Node::Bool(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                // kdep reads `-9223372036854775808` as the negation of a literal one too big.
                if i == i64::MIN {
                    return err(format!("the integer {i} is out of kdep's range"));
                }
                Node::Int(i)
            } else if n.as_u64().is_some() {
                return err(format!("the integer {n} does not fit in 64 bits (kdep's integers are signed)"));
            } else {
                match n.as_f64() {
                    Some(f) if f.is_finite() => Node::Float(f),
                    _ => return err(format!("`{n}` has no kdep spelling (kdep's numbers are finite)")),
                }
            }
        }
        Value::String(s) => Node::Str(s.clone()),
        Value::Sequence(items) => Node::List(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| from_yaml(item, &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        Value::Mapping(map) => {
            let mut entries = Vec::with_capacity(map.len());
            for (k, v) in map {
                let key = match k {
                    Value::String(s) => s.clone(),
                    // JSON, and so the API server, has only string keys: `80: x` is the key "80".
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    // An unquoted `null:` key, as the YAML-to-JSON conversion of kubectl spells it.
                    Value::Null => "null".to_owned(),
                    _ => return err("a map key that is not a string".into()),
                };
                if matches!(v, Value::Null) {
                    continue;
                }
                let child = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                let value = match octal_mode(&key, v) {
                    Some(mode) => Node::Int(mode),
                    None => from_yaml(v, &child)?,
                };
                entries.push((key, value));
            }
            Node::Obj(entries)
        }
        // A local tag (`!Ref x`) means nothing to Kubernetes; the value under it is the data.
        Value::Tagged(tagged) => from_yaml(&tagged.value, path)?,
    })
}

/// File modes written the usual way, `defaultMode: 0644`: Kubernetes reads YAML 1.1, where a
/// leading zero makes an octal integer (420), while serde_yaml reads YAML 1.2, where `0644` is
/// not a number and becomes the string "0644". The mode fields (`defaultMode`, `mode` of
/// volume items) are integers, so such a string there can only mean the octal number.
fn octal_mode(key: &str, value: &Value) -> Option<i64> {
    let text = value.as_str().filter(|_| key == "defaultMode" || key == "mode")?;
    let digits = text.strip_prefix('0').filter(|d| !d.is_empty() && d.bytes().all(|b| (b'0'..=b'7').contains(&b)))?;
    i64::from_str_radix(digits, 8).ok()
}

/// Writes the first key of an entry, quoted unless GRAMMAR.md ("Keywords as names") allows it
/// bare (`for` and `if` are quoted: after a value they start a comprehension or its condition).
pub(crate) fn write_key(out: &mut String, key: &str) {
    kdep_syntax::format::write_key(out, key);
}

/// Writes `node` as a kdep expression; nested objects and lists go one per line, indented by
/// four spaces per `depth` (the formatter makes the final layout).
pub(crate) fn write(out: &mut String, node: &Node, depth: usize) {
    match node {
        Node::Null => out.push_str("null"),
        Node::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Node::Int(i) => out.push_str(&i.to_string()),
        // `{:?}` always writes a dot or an exponent (`1.0`, `1e300`), so the literal stays a
        // float; both spellings are kdep float literals.
        Node::Float(f) => out.push_str(&format!("{f:?}")),
        Node::Str(s) => write_string_literal(out, s),
        Node::Ref(name) => out.push_str(name),
        Node::List(items) if items.is_empty() => out.push_str("[]"),
        Node::List(items) => {
            out.push_str("[\n");
            for item in items {
                indent(out, depth + 1);
                write(out, item, depth + 1);
                out.push_str(",\n");
            }
            indent(out, depth);
            out.push(']');
        }
        Node::Obj(entries) if entries.is_empty() => out.push_str("{}"),
        Node::Obj(entries) => {
            out.push_str("{\n");
            write_entries(out, entries, depth + 1);
            indent(out, depth);
            out.push('}');
        }
    }
}

/// Writes `key = value` lines at `depth`.
pub(crate) fn write_entries(out: &mut String, entries: &[(String, Node)], depth: usize) {
    for (key, value) in entries {
        indent(out, depth);
        write_key(out, key);
        out.push_str(" = ");
        write(out, value, depth);
        out.push('\n');
    }
}

pub(crate) fn indent(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push_str("    ");
    }
}

/// The kdep text of `node`, used as its identity when looking for repeated structure.
pub(crate) fn text(node: &Node) -> String {
    let mut out = String::new();
    write(&mut out, node, 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(yaml: &str) -> Node {
        from_yaml(&serde_yaml::from_str(yaml).unwrap(), "").unwrap()
    }

    #[test]
    fn keys_are_quoted_unless_bare_and_values_escaped() {
        let node = convert(
            "app.kubernetes.io/name: x\ntemplate: 1\nfor: 2\nif: 3\nport: \"8080\"\nn: 8080\nf: 1.0\ncmd: 'echo ${HOME} \"q\"'\nmulti: |\n  a\n  b\nnil: null\nempty: {}\nnone: []\n",
        );
        let mut out = String::new();
        write(&mut out, &node, 0);
        insta::assert_snapshot!(out, @r#"
        {
            "app.kubernetes.io/name" = "x"
            template = 1
            "for" = 2
            "if" = 3
            port = "8080"
            n = 8080
            f = 1.0
            cmd = "echo \${HOME} \"q\""
            multi = "a\nb\n"
            empty = {}
            none = []
        }
        "#);
    }

    #[test]
    fn file_modes_with_a_leading_zero_are_octal_as_kubernetes_reads_them() {
        let node = convert("defaultMode: 0644\nmode: 0400\nother: 0644\nname: \"0644\"\n");
        assert_eq!(node.get("defaultMode"), Some(&Node::Int(0o644)));
        assert_eq!(node.get("mode"), Some(&Node::Int(0o400)));
        assert_eq!(node.get("other"), Some(&Node::Str("0644".into())));
        assert_eq!(convert("defaultMode: 420\n").get("defaultMode"), Some(&Node::Int(420)));
    }

    #[test]
    fn numbers_out_of_range_are_errors_with_their_path() {
        let value: Value = serde_yaml::from_str("spec:\n  big: 18446744073709551615\n").unwrap();
        let err = from_yaml(&value, "").unwrap_err();
        assert_eq!(err.path, "spec.big");
        let value: Value = serde_yaml::from_str("x: .nan\n").unwrap();
        assert!(from_yaml(&value, "").is_err());
    }
}
