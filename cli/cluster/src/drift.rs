//! Drift: where the cluster no longer holds what the package defines, and who changed it.
//!
//! Drift is read off the same comparison `diff` makes ([`engine::preview`]: a server-side
//! dry-run apply per object, compared in [`normal_form`](crate::object::normal_form)), run
//! with `force` so a field another manager took over shows the value kdep would put back
//! instead of a conflict. That is why server defaults, fields only other managers set and
//! equivalent quantities (`1000m` and `1`) are never drift: the API server decides, not a
//! second comparison here. What this module adds is the attribution: each changed field is
//! looked up in the live object's `managedFields` (FieldsV1 sets) to name the manager that
//! owns it now and when that manager last wrote. Nothing here writes to the cluster.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::engine::{self, ObjectPreview, Preview, PreviewOptions};
use crate::{mask, object::normal_form, Action, Error, ObjKey, Session, Settings, FIELD_MANAGER};

/// How one object differs from the package.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// The object exists, but fields kdep sets hold other values.
    Modified,
    /// The package emits it and the cluster does not have it.
    Missing,
    /// A member of the package's ApplySet (by label) that the package no longer emits.
    Extra,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Modified => "modified",
            State::Missing => "missing",
            State::Extra => "extra",
        }
    }
}

/// The managedFields entry that owns a changed field now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    pub manager: String,
    pub operation: String,
    /// When this manager last changed the object (`managedFields[].time`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub subresource: Option<String>,
}

/// One field whose live value is not the package's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldDrift {
    /// The field, spelt as the API server spells conflicts (`.spec.template.spec.containers[name="web"].image`).
    pub path: String,
    /// The live value (absent: the field is not set in the cluster). Secret values are masked.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub live: Option<Value>,
    /// The value the package sets (absent: kdep would remove the field).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub desired: Option<Value>,
    /// Who owns the field now, other than kdep: the manager that changed it. Absent when no
    /// other manager records it (it was removed, or the sources changed since the last apply).
    #[serde(rename = "changedBy", skip_serializing_if = "Option::is_none", default)]
    pub changed_by: Option<Owner>,
    /// kdep still owns the field: the sources changed since the last apply.
    #[serde(rename = "notApplied", skip_serializing_if = "std::ops::Not::not", default)]
    pub not_applied: bool,
}

/// One object out of sync.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectDrift {
    #[serde(flatten)]
    pub key: ObjKey,
    pub state: State,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub fields: Vec<FieldDrift>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub note: Option<String>,
}

/// Counts for summaries and the webhook.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub modified: usize,
    pub missing: usize,
    pub extra: usize,
    #[serde(rename = "inSync")]
    pub in_sync: usize,
}

/// The drift of a package in an environment.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub summary: Summary,
    /// Objects out of sync, in key order.
    pub objects: Vec<ObjectDrift>,
}

impl Report {
    pub fn in_sync(&self) -> bool {
        self.objects.is_empty()
    }

    /// One line: `1 modified, 0 missing, 2 extra, 40 in sync`.
    pub fn summary_line(&self) -> String {
        let s = &self.summary;
        format!("{} modified, {} missing, {} extra, {} in sync", s.modified, s.missing, s.extra, s.in_sync)
    }
}

/// Compares the cluster with `manifests`. Reads only: GETs, LISTs and dry-run applies.
pub async fn detect(session: &Session, settings: &Settings, manifests: &[Value]) -> Result<Report, Error> {
    let preview =
        engine::preview(session, settings, manifests, PreviewOptions { force_conflicts: true, prune: true }).await?;
    from_preview(&preview)
}

/// The drift a forced preview shows. Objects a preview could not check make the whole
/// answer an error: "in sync" must never mean "not looked at".
pub fn from_preview(preview: &Preview) -> Result<Report, Error> {
    let failed: Vec<String> =
        preview.errors().map(|o| format!("{}: {}", o.key, o.error.as_deref().unwrap_or(""))).collect();
    if !failed.is_empty() {
        return Err(Error::new(format!("{} object(s) could not be checked: {}", failed.len(), failed.join("; ")))
            .hint("check the permissions of this identity and that the cluster answers, then run again"));
    }
    let mut report = Report::default();
    for o in &preview.objects {
        let drift = match o.action {
            // An object client-side kubectl or Helm created, holding the package's values: only
            // its ownership moves on the next apply, which is not drift.
            Action::Unchanged | Action::Update if o.views.is_none() && o.takeover.is_some() => {
                report.summary.in_sync += 1;
                continue;
            }
            Action::Unchanged => {
                report.summary.in_sync += 1;
                continue;
            }
            Action::Create => {
                report.summary.missing += 1;
                ObjectDrift { key: o.key.clone(), state: State::Missing, fields: Vec::new(), note: o.note.clone() }
            }
            Action::Prune => {
                report.summary.extra += 1;
                ObjectDrift {
                    key: o.key.clone(),
                    state: State::Extra,
                    fields: Vec::new(),
                    note: Some("carries this package's ApplySet label; the package no longer emits it".into()),
                }
            }
            Action::Update => {
                report.summary.modified += 1;
                ObjectDrift {
                    key: o.key.clone(),
                    state: State::Modified,
                    fields: modified_fields(o),
                    note: o.note.clone(),
                }
            }
        };
        report.objects.push(drift);
    }
    Ok(report)
}

/// The changed fields of an update, each with its owner now.
fn modified_fields(o: &ObjectPreview) -> Vec<FieldDrift> {
    let Some(views) = &o.views else { return Vec::new() };
    let entries = managed_entries(&views.live);
    let mut live = normal_form(&views.live);
    let mut applied = normal_form(&views.applied);
    // The list keys live in the FieldsV1 sets of both sides (kdep's entry in the dry run
    // describes what the package sets).
    let mut sets: Vec<&Value> = entries.iter().map(|e| &e.fields).collect();
    let applied_entries = managed_entries(&views.applied);
    sets.extend(applied_entries.iter().map(|e| &e.fields));
    let mut changes = Vec::new();
    compare(Some(&live), Some(&applied), &sets, &mut Vec::new(), &mut changes);
    // Masked only after the paths are known, so a changed secret value is still found; the
    // values reported are the masked ones.
    mask::mask_pair(Some(&mut live), Some(&mut applied));
    changes
        .into_iter()
        .map(|path| {
            let owners: Vec<&Entry> = entries.iter().filter(|e| owns(&e.fields, &path)).collect();
            let other = owners
                .iter()
                .filter(|e| !(e.manager == FIELD_MANAGER && e.operation == "Apply"))
                .max_by(|a, b| a.time.cmp(&b.time));
            let by_kdep = owners.iter().any(|e| e.manager == FIELD_MANAGER && e.operation == "Apply");
            FieldDrift {
                path: render_path(&path),
                live: value_at(&live, &path).cloned(),
                desired: value_at(&applied, &path).cloned(),
                changed_by: other.map(|e| Owner {
                    manager: e.manager.clone(),
                    operation: e.operation.clone(),
                    time: e.time.clone(),
                    subresource: e.subresource.clone(),
                }),
                not_applied: other.is_none() && by_kdep,
            }
        })
        .collect()
}

/// One `metadata.managedFields` entry.
struct Entry {
    manager: String,
    operation: String,
    time: Option<String>,
    subresource: Option<String>,
    /// The FieldsV1 set: `{"f:spec": {"f:replicas": {}}, ...}`.
    fields: Value,
}

fn managed_entries(obj: &Value) -> Vec<Entry> {
    let s = |e: &Value, k: &str| e.get(k).and_then(Value::as_str).map(str::to_owned);
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|e| e.get("fieldsType").and_then(Value::as_str).is_none_or(|t| t == "FieldsV1"))
        .map(|e| Entry {
            manager: s(e, "manager").unwrap_or_default(),
            operation: s(e, "operation").unwrap_or_default(),
            time: s(e, "time"),
            subresource: s(e, "subresource").filter(|x| !x.is_empty()),
            fields: e.get("fieldsV1").cloned().unwrap_or(Value::Null),
        })
        .collect()
}

/// One step of a field path, as structured-merge-diff names them.
#[derive(Clone, Debug, PartialEq)]
enum Seg {
    /// A field of a map or struct (`f:name`).
    Field(String),
    /// An item of a list keyed by some of its fields (`k:{"name":"web"}`).
    Key(Map<String, Value>),
    /// An item of a set-like list, by value (`v:"x"`).
    Item(Value),
}

/// The leaf paths where `live` and `applied` differ. A list whose FieldsV1 sets give keys
/// (`k:`) or values (`v:`) is compared item by item; any other list is atomic, compared whole.
fn compare(
    live: Option<&Value>,
    applied: Option<&Value>,
    sets: &[&Value],
    path: &mut Vec<Seg>,
    out: &mut Vec<Vec<Seg>>,
) {
    if live == applied {
        return;
    }
    match (live, applied) {
        (Some(Value::Object(l)), Some(Value::Object(a))) => {
            let mut names: Vec<&String> = a.keys().collect();
            names.extend(l.keys().filter(|k| !a.contains_key(*k)));
            for name in names {
                let child = format!("f:{name}");
                let subsets: Vec<&Value> = sets.iter().filter_map(|s| s.get(&child)).collect();
                path.push(Seg::Field(name.clone()));
                compare(l.get(name), a.get(name), &subsets, path, out);
                path.pop();
            }
        }
        (Some(Value::Array(l)), Some(Value::Array(a))) => {
            let keys = list_keys(sets);
            let by_value = sets.iter().any(|s| s.as_object().is_some_and(|m| m.keys().any(|k| k.starts_with("v:"))));
            if let Some(keys) = keys {
                let key_of = |item: &Value| -> Map<String, Value> {
                    keys.iter().filter_map(|k| item.get(k).map(|v| (k.clone(), v.clone()))).collect()
                };
                let mut order: Vec<Map<String, Value>> = a.iter().map(key_of).collect();
                for k in l.iter().map(key_of) {
                    if !order.contains(&k) {
                        order.push(k);
                    }
                }
                for k in order {
                    let find = |list: &'_ [Value]| list.iter().find(|i| key_of(i) == k).cloned();
                    let (li, ai) = (find(l), find(a));
                    let subsets: Vec<&Value> = sets.iter().filter_map(|s| keyed_child(s, &k)).collect();
                    path.push(Seg::Key(k));
                    compare(li.as_ref(), ai.as_ref(), &subsets, path, out);
                    path.pop();
                }
            } else if by_value {
                for item in a.iter().filter(|i| !l.contains(i)).chain(l.iter().filter(|i| !a.contains(i))) {
                    path.push(Seg::Item(item.clone()));
                    out.push(path.clone());
                    path.pop();
                }
            } else {
                out.push(path.clone());
            }
        }
        _ => out.push(path.clone()),
    }
}

/// The key fields of a keyed list, from the first `k:{...}` member of any set at this node.
fn list_keys(sets: &[&Value]) -> Option<Vec<String>> {
    sets.iter().filter_map(|s| s.as_object()).flat_map(|m| m.keys()).find_map(|k| {
        let json = k.strip_prefix("k:")?;
        let map: Map<String, Value> = serde_json::from_str(json).ok()?;
        Some(map.keys().cloned().collect())
    })
}

/// The member of a FieldsV1 node for the list item with key `key`.
fn keyed_child<'a>(set: &'a Value, key: &Map<String, Value>) -> Option<&'a Value> {
    set.as_object()?.iter().find_map(|(k, v)| {
        let json = k.strip_prefix("k:")?;
        let map: Map<String, Value> = serde_json::from_str(json).ok()?;
        (&map == key).then_some(v)
    })
}

/// The `k:` member of a FieldsV1 node that names a list item: the one whose key fields the
/// item holds with those values (used by [`crate::skip`] to match manifest items).
pub(crate) fn keyed_child_of<'a>(
    node: &'a Map<String, Value>,
    item: &Map<String, Value>,
) -> Option<(&'a str, &'a Value)> {
    node.iter().find_map(|(k, v)| {
        let key: Map<String, Value> = serde_json::from_str(k.strip_prefix("k:")?).ok()?;
        key.iter().all(|(kk, kv)| item.get(kk) == Some(kv)).then_some((k.as_str(), v))
    })
}

/// Whether a FieldsV1 set owns `path`: it holds the whole path, or a leaf on the way (an
/// atomic value owned as a whole, such as a list without keys).
fn owns(set: &Value, path: &[Seg]) -> bool {
    let mut node = set;
    for (depth, seg) in path.iter().enumerate() {
        let Some(members) = node.as_object() else { return false };
        // `{}` below the root is a leaf: the manager owns everything under it as one value.
        // (`{".": {}}` is different: it owns only the item's presence, not its fields.)
        if members.is_empty() && depth > 0 {
            return true;
        }
        let next = match seg {
            Seg::Field(name) => members.get(&format!("f:{name}")),
            Seg::Key(key) => keyed_child(node, key),
            Seg::Item(v) => members.get(&format!("v:{v}")),
        };
        match next {
            Some(n) => node = n,
            None => return false,
        }
    }
    true
}

/// The value at `path` in an object (absent when any step is missing).
fn value_at<'a>(obj: &'a Value, path: &[Seg]) -> Option<&'a Value> {
    let mut v = obj;
    for seg in path {
        v = match seg {
            Seg::Field(name) => v.get(name)?,
            Seg::Key(key) => v.as_array()?.iter().find(|i| key.iter().all(|(k, kv)| i.get(k) == Some(kv)))?,
            Seg::Item(item) => v.as_array()?.iter().find(|i| *i == item)?,
        };
    }
    Some(v)
}

/// `.spec.template.spec.containers[name="web"].image`, as the API server prints paths.
fn render_path(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Field(name) => {
                out.push('.');
                out.push_str(name);
            }
            Seg::Key(key) => {
                let parts: Vec<String> = key.iter().map(|(k, v)| format!("{k}={v}")).collect();
                out.push_str(&format!("[{}]", parts.join(",")));
            }
            Seg::Item(v) => out.push_str(&format!("[={v}]")),
        }
    }
    out
}

/// A value for a person: strings and numbers as they are, anything else as compact JSON.
pub fn show(v: Option<&Value>) -> String {
    match v {
        None => "(absent)".into(),
        Some(Value::String(s)) => format!("{s:?}"),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failed unwrap fails the test")]
mod tests {
    use super::*;
    use serde_json::json;

    fn paths(live: &Value, applied: &Value, sets: &[&Value]) -> Vec<String> {
        let mut out = Vec::new();
        compare(Some(live), Some(applied), sets, &mut Vec::new(), &mut out);
        out.iter().map(|p| render_path(p)).collect()
    }

    #[test]
    fn keyed_lists_are_compared_item_by_item() {
        let set = json!({"f:spec": {"f:containers": {
            "k:{\"name\":\"web\"}": {".": {}, "f:name": {}, "f:image": {}},
            "k:{\"name\":\"proxy\"}": {".": {}, "f:name": {}, "f:image": {}}}}});
        let live =
            json!({"spec": {"containers": [{"name": "proxy", "image": "p:1"}, {"name": "web", "image": "w:2"}]}});
        let applied =
            json!({"spec": {"containers": [{"name": "web", "image": "w:1"}, {"name": "proxy", "image": "p:1"}]}});
        assert_eq!(paths(&live, &applied, &[&set]), vec![r#".spec.containers[name="web"].image"#]);
        let path = vec![
            Seg::Field("spec".into()),
            Seg::Field("containers".into()),
            Seg::Key(serde_json::from_str(r#"{"name":"web"}"#).unwrap()),
            Seg::Field("image".into()),
        ];
        assert!(owns(&set, &path));
        assert_eq!(value_at(&live, &path), Some(&json!("w:2")));
        assert!(!owns(&json!({"f:spec": {"f:replicas": {}}}), &path));
    }

    #[test]
    fn lists_without_keys_are_atomic_and_owned_whole() {
        let set = json!({"f:spec": {"f:args": {}}});
        let live = json!({"spec": {"args": ["a", "b"]}});
        let applied = json!({"spec": {"args": ["a"]}});
        assert_eq!(paths(&live, &applied, &[&set]), vec![".spec.args"]);
        assert!(owns(&set, &[Seg::Field("spec".into()), Seg::Field("args".into())]));
    }

    #[test]
    fn a_pending_takeover_with_the_packages_values_is_in_sync() {
        let key = ObjKey {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: Some("demo".into()),
            name: "a".into(),
        };
        let object = |action, takeover| ObjectPreview {
            key: key.clone(),
            action,
            diff: String::new(),
            live_resource_version: None,
            live_digest: None,
            live_uid: None,
            conflict: None,
            error: None,
            manifest: None,
            note: None,
            views: None,
            takeover,
        };
        let pending = crate::takeover::Takeover {
            from: vec!["helm".into()],
            resource_version: "1".into(),
            managed_fields: json!([]),
        };
        let preview = |objects| Preview {
            objects,
            set: crate::applyset::ApplySet::for_settings(&Settings::default()),
            parent: None,
            group_kinds: Default::default(),
            namespaces: Default::default(),
            waves: Vec::new(),
        };
        let r = from_preview(&preview(vec![object(Action::Update, Some(pending))])).unwrap();
        assert_eq!((r.in_sync(), r.summary.in_sync), (true, 1));
        let r = from_preview(&preview(vec![object(Action::Update, None)])).unwrap();
        assert_eq!(r.summary.modified, 1);
    }

    #[test]
    fn set_lists_report_the_items_that_differ() {
        let set = json!({"f:metadata": {"f:finalizers": {"v:\"a\"": {}, "v:\"b\"": {}}}});
        let live = json!({"metadata": {"finalizers": ["a"]}});
        let applied = json!({"metadata": {"finalizers": ["a", "b"]}});
        assert_eq!(paths(&live, &applied, &[&set]), vec![r#".metadata.finalizers[="b"]"#]);
    }
}
