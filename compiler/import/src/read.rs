//! Reading the input files: YAML documents into Kubernetes objects, with every problem located.
//!
//! A file is split into documents at `---` (and `...`) lines before parsing, so each document
//! knows its first line: serde_yaml locates syntax errors but not the documents of a stream.
//! A document marker at the start of a line ends a block scalar too (YAML 1.2, 9.1.2), so the
//! split agrees with the parser.

use std::collections::HashMap;

use serde_yaml::Value;

use crate::node::{self, Node};
use crate::{ImportError, Input};

/// One Kubernetes object of the input.
#[derive(Debug)]
pub(crate) struct Object {
    /// Index of the input file.
    pub file: usize,
    /// First line of its document (1-based).
    pub line: usize,
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
    /// The whole object, `apiVersion` and `kind` included, without kdep's own labels and
    /// annotation.
    pub body: Node,
    /// Fields left out because kdep or the cluster sets them ([`drop_managed_fields`]).
    pub dropped: Vec<String>,
}

impl Object {
    /// `Deployment shop/frontend` or `ClusterRole admin`.
    pub fn describe(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.kind, self.name),
            None => format!("{} {}", self.kind, self.name),
        }
    }

    /// The API group (`apps`, `""` for the core group).
    pub fn group(&self) -> &str {
        self.api_version.rsplit_once('/').map_or("", |(group, _)| group)
    }
}

/// Reads every input; problems go to `errors`, objects (in input order) are returned.
pub(crate) fn read_all(inputs: &[Input<'_>], errors: &mut Vec<ImportError>) -> Vec<Object> {
    let mut objects = Vec::new();
    for (index, input) in inputs.iter().enumerate() {
        read_file(index, input, &mut objects, errors);
    }
    // (group, kind, namespace, name) → the first object with it.
    let mut seen: HashMap<(&str, &str, Option<&str>, &str), &Object> = HashMap::new();
    for object in &objects {
        let key = (object.group(), object.kind.as_str(), object.namespace.as_deref(), object.name.as_str());
        if let Some(first) = seen.get(&key) {
            let first_file = inputs.get(first.file).map_or("", |i| i.name);
            let file = inputs.get(object.file).map_or("", |i| i.name);
            errors.push(
                ImportError::new(file, object.line, format!("{} is defined twice", object.describe())).with_help(
                    format!(
                        "it is first defined at {first_file}:{}; keep one of them (Kubernetes would apply \
                         the second over the first)",
                        first.line
                    ),
                ),
            );
        } else {
            seen.insert(key, object);
        }
    }
    objects
}

fn read_file(index: usize, input: &Input<'_>, objects: &mut Vec<Object>, errors: &mut Vec<ImportError>) {
    if let Some((line, column)) = helm_action(input.text) {
        errors.push(helm_error(input.name, line, column));
        return;
    }
    for (first_line, text) in documents(input.text) {
        let value: Value = match serde_yaml::from_str(text) {
            Ok(value) => value,
            Err(err) => {
                // Helm's `{{ ... }}` is rarely valid YAML: name the template, not the symptom.
                if let Some((line, column)) = template_braces(text) {
                    errors.push(helm_error(input.name, first_line + line - 1, column));
                    return;
                }
                let (line, column) = match err.location() {
                    Some(loc) => (first_line + loc.line() - 1, Some(loc.column())),
                    None => (first_line, None),
                };
                let message = err.to_string();
                // serde_yaml appends " at line L column C" relative to the document; the place
                // is printed in front, relative to the file.
                let message = message.split(" at line ").next().unwrap_or(&message).to_owned();
                errors.push(ImportError {
                    file: input.name.into(),
                    line: Some(line),
                    column,
                    message: format!("malformed YAML: {message}"),
                    help: None,
                });
                continue;
            }
        };
        let mut value = value;
        if value.apply_merge().is_err() {
            errors.push(ImportError::new(input.name, first_line, "malformed YAML: a `<<` merge key that is not a map"));
            continue;
        }
        // An empty document (only comments, or `---` twice) is no object.
        if value.is_null() {
            continue;
        }
        let line = first_content_line(text).map_or(first_line, |l| first_line + l);
        collect_objects(index, input.name, line, &value, "", 0, objects, errors);
    }
}

/// Turns one document (or one item of a `List`) into objects.
#[expect(clippy::too_many_arguments, reason = "one recursive step with its place and sinks")]
fn collect_objects(
    file: usize,
    name: &str,
    line: usize,
    value: &Value,
    place: &str,
    depth: usize,
    objects: &mut Vec<Object>,
    errors: &mut Vec<ImportError>,
) {
    let at = |message: String| {
        let message = if place.is_empty() { message } else { format!("{place}: {message}") };
        ImportError::new(name, line, message)
    };
    let Value::Mapping(map) = value else {
        let what = match value {
            Value::Sequence(_) => "a YAML list",
            _ => "a single value",
        };
        errors.push(at(format!("not a Kubernetes object: the document is {what}")).with_help(NOT_K8S_HELP));
        return;
    };
    let field = |key: &str| map.get(key).and_then(Value::as_str).filter(|s| !s.is_empty());
    for key in ["apiVersion", "kind"] {
        if map.get(key).is_some_and(|v| !v.is_null()) && field(key).is_none() {
            errors.push(at(format!("`{key}` is not a non-empty string")).with_help(NOT_K8S_HELP));
            return;
        }
    }
    let (Some(api_version), Some(kind)) = (field("apiVersion"), field("kind")) else {
        let missing = match (field("apiVersion"), field("kind")) {
            (None, None) => "`apiVersion` and `kind`",
            (None, Some(_)) => "`apiVersion`",
            _ => "`kind`",
        };
        errors.push(at(format!("not a Kubernetes object: it has no {missing}")).with_help(NOT_K8S_HELP));
        return;
    };
    // `kind: List` (and `ConfigMapList` etc.) as `kubectl get -o yaml` writes it: its items are
    // the objects. Lists inside lists are not something kubectl writes.
    if kind.ends_with("List") {
        if let Some(items) = map.get("items") {
            let Some(items) = items.as_sequence().filter(|_| depth == 0) else {
                errors.push(at(format!("`{kind}` has `items` that are not a list of objects")));
                return;
            };
            for (i, item) in items.iter().enumerate() {
                if item.is_null() {
                    continue;
                }
                let place = format!("{kind} item {}", i + 1);
                collect_objects(file, name, line, item, &place, depth + 1, objects, errors);
            }
            return;
        }
    }
    let metadata = map.get("metadata");
    let object_name = metadata.and_then(|m| m.get("name")).and_then(Value::as_str).filter(|s| !s.is_empty());
    let Some(object_name) = object_name else {
        if metadata.and_then(|m| m.get("name")).is_some_and(|n| !n.is_null()) {
            errors.push(at(format!("{kind}: `metadata.name` is not a non-empty string")));
            return;
        }
        let help = if metadata.and_then(|m| m.get("generateName")).is_some() {
            "kdep emits objects by name; replace `generateName` with a `name`"
        } else {
            "add `metadata.name`: Kubernetes needs it to create the object"
        };
        errors.push(at(format!("{kind} has no `metadata.name`")).with_help(help));
        return;
    };
    let namespace = metadata.and_then(|m| m.get("namespace")).and_then(Value::as_str).map(str::to_owned);
    match node::from_yaml(value, "") {
        Ok(mut body) => {
            let dropped = drop_managed_fields(&mut body);
            objects.push(Object {
                file,
                line,
                api_version: api_version.to_owned(),
                kind: kind.to_owned(),
                name: object_name.to_owned(),
                namespace,
                body,
                dropped,
            });
        }
        Err(err) => {
            let prefix = if err.path.is_empty() { String::new() } else { format!("`{}`: ", err.path) };
            errors.push(at(format!("{kind} {object_name}: {prefix}{}", err.message)));
        }
    }
}

/// Fields the cluster writes into objects it returns (`kubectl get -o yaml`): never part of a
/// definition, and a typed emit rejects `status`.
const SERVER_METADATA: &[&str] = &[
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
];
/// Annotations tools write on the objects they apply or roll out.
const SERVER_ANNOTATIONS: &[&str] =
    &["kubectl.kubernetes.io/last-applied-configuration", "deployment.kubernetes.io/revision"];

/// Removes what kdep or the cluster sets rather than the author: kdep's own labels and
/// annotation (`kdep_eval::manifest`, stamped on every object kdep emits, so a Helm
/// `managed-by` would be replaced anyway), the fields a cluster adds to exported objects, and
/// top-level `status`. Returns what was removed, as field paths. Pod template labels are not
/// stamped and stay.
fn drop_managed_fields(body: &mut Node) -> Vec<String> {
    use kdep_eval::manifest::{INSTANCE_LABEL, MANAGED_BY_LABEL, SOURCE_ANNOTATION};
    let mut dropped = Vec::new();
    let Node::Obj(object) = body else { return dropped };
    object.retain(|(k, _)| {
        let server = k == "status";
        if server {
            dropped.push(k.clone());
        }
        !server
    });
    let Some((_, Node::Obj(metadata))) = object.iter_mut().find(|(k, _)| k == "metadata") else { return dropped };
    metadata.retain(|(k, _)| {
        let server = SERVER_METADATA.contains(&k.as_str());
        if server {
            dropped.push(format!("metadata.{k}"));
        }
        !server
    });
    let annotations: Vec<&str> = SERVER_ANNOTATIONS.iter().copied().chain([SOURCE_ANNOTATION]).collect();
    for (field, keys) in [("labels", &[MANAGED_BY_LABEL, INSTANCE_LABEL][..]), ("annotations", &annotations[..])] {
        let Some((_, Node::Obj(map))) = metadata.iter_mut().find(|(k, _)| k == field) else { continue };
        map.retain(|(k, _)| {
            let managed = keys.contains(&k.as_str());
            if managed {
                dropped.push(format!("metadata.{field}.{k}"));
            }
            !managed
        });
    }
    // A map that held only those goes too: kdep creates it again for its stamps.
    metadata.retain(|(k, v)| !((k == "labels" || k == "annotations") && matches!(v, Node::Obj(m) if m.is_empty())));
    dropped
}

const NOT_K8S_HELP: &str =
    "`kdep import manifests` reads Kubernetes objects; every document needs `apiVersion`, `kind` and `metadata.name`";

fn helm_error(file: &str, line: usize, column: usize) -> ImportError {
    ImportError {
        file: file.into(),
        line: Some(line),
        column: Some(column),
        message: "this is a Helm template (`{{ ... }}`), not Kubernetes YAML".into(),
        help: Some(
            "render it first, e.g. `helm template NAME CHART > manifests.yaml`, and import the rendered manifests"
                .into(),
        ),
    }
}

/// Actions that only a Helm (Go) template has after `{{`: built-in objects, template functions
/// and whitespace trimming. Plain `{{ $labels.x }}` is left alone: Prometheus and Alertmanager
/// templates inside ConfigMaps are data.
const HELM_MARKERS: &[&str] = &[
    ".Values",
    ".Release",
    ".Chart",
    ".Capabilities",
    ".Files",
    ".Template",
    "include ",
    "template ",
    "toYaml",
    "tpl ",
    "define ",
];

/// Line and column (1-based) of the first `{{` that starts a Helm action.
fn helm_action(text: &str) -> Option<(usize, usize)> {
    for (i, line) in text.lines().enumerate() {
        let mut rest = line;
        let mut offset = 0;
        while let Some(at) = rest.find("{{") {
            let after = rest.get(at + 2..).unwrap_or("");
            let action = after.trim_start_matches('-').trim_start();
            if after.starts_with('-') || HELM_MARKERS.iter().any(|m| action.starts_with(m.trim_end())) {
                return Some((i + 1, offset + at + 1));
            }
            offset += at + 2;
            rest = after;
        }
    }
    None
}

/// Line and column (1-based) of the first `{{` followed by a `}}` on its line.
fn template_braces(text: &str) -> Option<(usize, usize)> {
    text.lines().enumerate().find_map(|(i, line)| {
        let at = line.find("{{")?;
        line.get(at..)?.contains("}}").then_some((i + 1, at + 1))
    })
}

/// The documents of a YAML stream: (first line, 1-based; text from the `---` line on).
fn documents(text: &str) -> Vec<(usize, &str)> {
    let mut docs = Vec::new();
    let mut start = 0;
    let mut start_line = 1;
    let mut offset = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let bare = line.trim_end_matches(['\n', '\r']);
        let is_marker = |m: &str| bare == m || bare.strip_prefix(m).is_some_and(|r| r.starts_with([' ', '\t']));
        if i > 0 && (is_marker("---") || is_marker("...")) {
            docs.push((start_line, text.get(start..offset).unwrap_or("")));
            start = offset;
            start_line = i + 1;
        }
        offset += line.len();
    }
    docs.push((start_line, text.get(start..).unwrap_or("")));
    // `...` ends a document; what follows it up to the next `---` is no document of its own.
    docs.into_iter().filter(|(_, doc)| !doc.starts_with("...")).collect()
}

/// Offset (0-based, in lines) of the first line holding data, skipping markers and comments.
fn first_content_line(doc: &str) -> Option<usize> {
    doc.lines().position(|line| {
        let t = line.trim();
        !t.is_empty() && !t.starts_with('#') && t != "---" && !t.starts_with("--- #") && !t.starts_with('%')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_split_at_markers_with_their_first_line() {
        let docs = documents("a: 1\n---\nb: 2\n--- # c\n\n---\nc: |\n  x\n...\n---\nd: 4");
        let lines: Vec<usize> = docs.iter().map(|d| d.0).collect();
        assert_eq!(lines, vec![1, 2, 4, 6, 10]);
        assert_eq!(docs[3].1, "---\nc: |\n  x\n");
    }

    #[test]
    fn fields_the_cluster_or_kdep_sets_are_left_out() {
        let value: Value = serde_yaml::from_str(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  uid: x\n  resourceVersion: \"1\"\n  labels:\n    app.kubernetes.io/managed-by: Helm\n  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: \"{}\"\n    keep: me\ndata:\n  k: v\nstatus:\n  phase: x\n",
        )
        .unwrap();
        let mut body = node::from_yaml(&value, "").unwrap();
        let dropped = drop_managed_fields(&mut body);
        assert_eq!(
            dropped,
            [
                "status",
                "metadata.uid",
                "metadata.resourceVersion",
                "metadata.labels.app.kubernetes.io/managed-by",
                "metadata.annotations.kubectl.kubernetes.io/last-applied-configuration"
            ]
        );
        assert_eq!(node::text(&body), node::text(&node::from_yaml(&serde_yaml::from_str::<Value>(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  annotations:\n    keep: me\ndata:\n  k: v\n"
        ).unwrap(), "").unwrap()));
    }

    #[test]
    fn helm_actions_are_found_but_other_braces_are_data() {
        assert_eq!(helm_action("a: 1\nname: {{ .Release.Name }}\n"), Some((2, 7)));
        assert_eq!(helm_action("{{- if .Values.x }}\n"), Some((1, 1)));
        assert_eq!(helm_action("x: '{{ include \"a\" . }}'"), Some((1, 5)));
        assert_eq!(helm_action("summary: \"{{ $labels.instance }} down\"\n"), None);
    }
}
