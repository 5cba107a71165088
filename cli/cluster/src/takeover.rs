//! Taking over objects that `kubectl apply` (client-side) or Helm created, as kubectl's
//! `csaupgrade` does for `kubectl apply --server-side`.
//!
//! Such objects are owned by Update managers (`kubectl-client-side-apply`, `helm`). A plain
//! server-side apply by kdep would conflict on every field whose value differs (a conflict
//! storm), and with `--force-conflicts` it would leave those managers owning the fields kdep
//! no longer sets, so they would never be removed. Instead, before applying, kdep moves their
//! managedFields entries into its own Apply entry (their field sets united with kdep's, the
//! entries removed), with the live `resourceVersion` as a precondition. kdep then owns what
//! they set, the apply raises no conflict with them, and fields the package does not set,
//! the `last-applied-configuration` annotation included, are removed by the apply itself.
//! Fields of any other manager (an autoscaler, `kubectl scale`, a controller) are untouched.

use serde_json::{json, Map, Value};

use crate::FIELD_MANAGER;

/// The Update managers whose fields kdep takes over: client-side `kubectl apply` and Helm.
pub const MANAGERS: [&str; 2] = ["kubectl-client-side-apply", "helm"];

/// The pending takeover of one object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Takeover {
    /// The managers whose entries move to kdep, in the order they appear.
    pub from: Vec<String>,
    /// The live object's `resourceVersion` (the rewrite's precondition).
    pub resource_version: String,
    /// The object's `managedFields` after the move.
    pub managed_fields: Value,
}

impl Takeover {
    /// The merge patch that rewrites the managedFields; the `resourceVersion` in it makes
    /// the server refuse it (409) if the object changed since it was read.
    pub fn patch(&self) -> Value {
        json!({"metadata": {"resourceVersion": self.resource_version, "managedFields": self.managed_fields}})
    }
}

fn is_taken(entry: &Value) -> bool {
    let s = |k: &str| entry.get(k).and_then(Value::as_str).unwrap_or("");
    MANAGERS.contains(&s("manager")) && s("operation") == "Update" && s("subresource").is_empty()
}

fn is_kdep(entry: &Value) -> bool {
    let s = |k: &str| entry.get(k).and_then(Value::as_str).unwrap_or("");
    s("manager") == FIELD_MANAGER && s("operation") == "Apply" && s("subresource").is_empty()
}

/// What taking `live` over takes, or `None` when no client-side-apply or Helm entry owns
/// any of it.
pub fn pending(live: &Value) -> Option<Takeover> {
    let entries = live.pointer("/metadata/managedFields").and_then(Value::as_array)?;
    if !entries.iter().any(is_taken) {
        return None;
    }
    let resource_version = live.pointer("/metadata/resourceVersion").and_then(Value::as_str)?.to_owned();
    let mut from = Vec::new();
    let mut fields = entries.iter().find(|e| is_kdep(e)).and_then(|e| e.get("fieldsV1")).cloned().unwrap_or(json!({}));
    for e in entries.iter().filter(|e| is_taken(e)) {
        if let Some(f) = e.get("fieldsV1") {
            union(&mut fields, f);
        }
        if let Some(m) = e.get("manager").and_then(Value::as_str) {
            if !from.iter().any(|x| x == m) {
                from.push(m.to_owned());
            }
        }
    }
    // kdep's entry takes the place of its own, else of the first entry taken over (as
    // csaupgrade converts that entry), so the order of the others is kept.
    let mut out: Vec<Value> = Vec::with_capacity(entries.len());
    let mut placed = false;
    let has_kdep = entries.iter().any(is_kdep);
    for e in entries {
        let take_place = if has_kdep { is_kdep(e) } else { is_taken(e) };
        if take_place && !placed {
            let mut mine = e.clone();
            if let Some(m) = mine.as_object_mut() {
                m.insert("manager".into(), json!(FIELD_MANAGER));
                m.insert("operation".into(), json!("Apply"));
                m.insert("fieldsType".into(), json!("FieldsV1"));
                m.insert("fieldsV1".into(), fields.clone());
            }
            out.push(mine);
            placed = true;
        } else if !is_taken(e) && !is_kdep(e) {
            out.push(e.clone());
        }
    }
    Some(Takeover { from, resource_version, managed_fields: Value::Array(out) })
}

/// What the apply after a takeover leaves of `applied` before the server defaults it again, or
/// `None` when the takeover releases nothing. `applied` is the dry-run apply, computed while
/// client-side apply or Helm still owned their fields (the server does not chain dry runs, so
/// it cannot be asked about the apply after the managedFields move); `live` is the object it
/// was computed against. A field is released when a taken-over manager owns it in `live` and
/// no other entry of `applied` does: not kdep's Apply entry (which the dry run made exactly the
/// manifest's fields, list items named by their keys as the server names them), not any other
/// manager. The apply removes every released field once kdep owns it — map fields (`f:`),
/// keyed list items (`k:{…}`), set members (`v:`) and indexed items (`i:`), with everything
/// under them — so they are removed here. What the server then defaults again (a Deployment's
/// `revisionHistoryLimit`) only it knows: the caller sends the result as a dry-run update.
pub fn without_released(applied: &Value, live: &Value) -> Option<Value> {
    let entries = live.pointer("/metadata/managedFields").and_then(Value::as_array)?;
    let mut taken = json!({});
    for e in entries.iter().filter(|e| is_taken(e)) {
        if let Some(f) = e.get("fieldsV1") {
            union(&mut taken, f);
        }
    }
    // Without the dry run's own entries nothing is known to be kept: claim nothing.
    let after = applied.pointer("/metadata/managedFields").and_then(Value::as_array)?;
    let mut keep = json!({});
    for e in after.iter().filter(|e| !is_taken(e)) {
        if let Some(f) = e.get("fieldsV1") {
            union(&mut keep, f);
        }
    }
    let mut out = applied.clone();
    strip(&mut out, taken.as_object()?, &keep, Level::Root).then_some(out)
}

/// Where [`strip`] is: `metadata`'s identity fields are never released (field sets leave
/// them out anyway; a hand-edited entry must not make the preview drop a name).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Root,
    Metadata,
    Below,
}

const IDENTITY: [&str; 8] =
    ["name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink"];

/// Removes from `view` what the `taken` FieldsV1 node owns and the `keep` node does not;
/// whether anything was removed.
fn strip(view: &mut Value, taken: &Map<String, Value>, keep: &Value, level: Level) -> bool {
    let mut changed = false;
    for (member, sub) in taken {
        if member == "." {
            continue;
        }
        if level == Level::Metadata && member.strip_prefix("f:").is_some_and(|n| IDENTITY.contains(&n)) {
            continue;
        }
        match kept_member(keep, member) {
            // `{}` owns the value as a whole (a scalar, an atomic list or struct): it stays.
            Some(k) if k.as_object().is_some_and(Map::is_empty) => {}
            // Someone else owns this node or something under it: it stays, and so does what
            // they own below; the rest of what the taken managers own below goes.
            Some(k) => {
                let next = if level == Level::Root && member == "f:metadata" { Level::Metadata } else { Level::Below };
                if let (Some(child), Some(sub)) = (member_mut(view, member), sub.as_object()) {
                    changed |= strip(child, sub, k, next);
                }
            }
            None => changed |= remove_member(view, member),
        }
    }
    changed
}

/// The member of a FieldsV1 node that names the same field or item as `member`. Keys of
/// list items compare as JSON maps, not as text.
fn kept_member<'a>(keep: &'a Value, member: &str) -> Option<&'a Value> {
    let node = keep.as_object()?;
    if let Some(v) = node.get(member) {
        return Some(v);
    }
    let key: Map<String, Value> = serde_json::from_str(member.strip_prefix("k:")?).ok()?;
    node.iter().find_map(|(k, v)| {
        let other: Map<String, Value> = serde_json::from_str(k.strip_prefix("k:")?).ok()?;
        (other == key).then_some(v)
    })
}

/// What a FieldsV1 member names in a value: a field, a keyed item, a set member, an index.
enum Locator {
    Field(String),
    Key(Map<String, Value>),
    Member(Value),
    Index(usize),
}

fn locate(member: &str) -> Option<Locator> {
    if let Some(name) = member.strip_prefix("f:") {
        return Some(Locator::Field(name.to_owned()));
    }
    if let Some(json) = member.strip_prefix("k:") {
        return serde_json::from_str(json).ok().map(Locator::Key);
    }
    if let Some(json) = member.strip_prefix("v:") {
        return serde_json::from_str(json).ok().map(Locator::Member);
    }
    member.strip_prefix("i:").and_then(|i| i.parse().ok()).map(Locator::Index)
}

fn position(list: &[Value], at: &Locator) -> Option<usize> {
    match at {
        Locator::Key(key) => list.iter().position(|i| key.iter().all(|(k, v)| i.get(k) == Some(v))),
        Locator::Member(m) => list.iter().position(|i| i == m),
        Locator::Index(n) => (*n < list.len()).then_some(*n),
        Locator::Field(_) => None,
    }
}

fn member_mut<'a>(view: &'a mut Value, member: &str) -> Option<&'a mut Value> {
    match locate(member)? {
        Locator::Field(name) => view.as_object_mut()?.get_mut(&name),
        at => {
            let list = view.as_array_mut()?;
            let i = position(list, &at)?;
            list.get_mut(i)
        }
    }
}

fn remove_member(view: &mut Value, member: &str) -> bool {
    match locate(member) {
        Some(Locator::Field(name)) => view.as_object_mut().is_some_and(|m| m.shift_remove(&name).is_some()),
        Some(at) => view.as_array_mut().is_some_and(|list| match position(list, &at) {
            Some(i) => {
                list.remove(i);
                true
            }
            None => false,
        }),
        None => false,
    }
}

/// Unites two FieldsV1 sets (trees of `f:`/`k:`/`v:` members) into `into`.
fn union(into: &mut Value, other: &Value) {
    let (Some(a), Some(b)) = (into.as_object_mut(), other.as_object()) else { return };
    for (k, v) in b {
        match a.get_mut(k) {
            Some(existing) => union(existing, v),
            None => {
                a.insert(k.clone(), v.clone());
            }
        }
    }
}

/// The managers a conflict (409 from an apply) names: `conflict with "helm"`, or
/// `conflicts with "helm" using v1:` when it names several fields.
pub fn conflicting_managers(message: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = message;
    while let Some(i) = rest.find(" with \"") {
        rest = &rest[i + " with \"".len()..];
        let Some(end) = rest.find('"') else { break };
        let name = &rest[..end];
        if !out.iter().any(|x| x == name) {
            out.push(name.to_owned());
        }
        rest = &rest[end..];
    }
    out
}

/// Whether every manager a conflict names is one kdep takes over.
pub fn only_taken_over(message: &str) -> bool {
    let names = conflicting_managers(message);
    !names.is_empty() && names.iter().all(|n| MANAGERS.contains(&n.as_str()))
}

#[cfg(test)]
#[expect(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests: a failed unwrap fails the test")]
mod tests {
    use super::*;

    fn entry(manager: &str, op: &str, fields: Value) -> Value {
        json!({"manager": manager, "operation": op, "apiVersion": "apps/v1", "time": "2030-01-01T00:00:00Z",
            "fieldsType": "FieldsV1", "fieldsV1": fields})
    }

    #[test]
    fn client_side_apply_entries_become_kdeps_and_others_stay() {
        let live = json!({"metadata": {"resourceVersion": "42", "managedFields": [
            entry("kubectl-client-side-apply", "Update", json!({"f:metadata": {"f:annotations": {".": {},
                "f:kubectl.kubernetes.io/last-applied-configuration": {}}}, "f:spec": {"f:replicas": {}}})),
            entry("kubectl-scale", "Update", json!({"f:spec": {"f:paused": {}}})),
        ]}});
        let t = pending(&live).unwrap();
        assert_eq!(t.from, vec!["kubectl-client-side-apply"]);
        assert_eq!(t.resource_version, "42");
        let mf = t.managed_fields.as_array().unwrap();
        assert_eq!(mf.len(), 2);
        assert_eq!((mf[0]["manager"].as_str(), mf[0]["operation"].as_str()), (Some("kdep"), Some("Apply")));
        assert_eq!(mf[0]["fieldsV1"]["f:spec"], json!({"f:replicas": {}}));
        assert_eq!(mf[1]["manager"], "kubectl-scale");
        assert_eq!(t.patch()["metadata"]["resourceVersion"], "42");
    }

    #[test]
    fn helm_fields_are_united_with_kdeps_own() {
        let live = json!({"metadata": {"resourceVersion": "7", "managedFields": [
            entry("kdep", "Apply", json!({"f:spec": {"f:replicas": {}}})),
            entry("helm", "Update", json!({"f:spec": {"f:template": {"f:spec": {}}}, "f:metadata": {"f:labels": {}}})),
        ]}});
        let t = pending(&live).unwrap();
        let mf = t.managed_fields.as_array().unwrap();
        assert_eq!(mf.len(), 1);
        assert_eq!(
            mf[0]["fieldsV1"],
            json!({"f:spec": {"f:replicas": {}, "f:template": {"f:spec": {}}}, "f:metadata": {"f:labels": {}}})
        );
        let none = json!({"metadata": {"resourceVersion": "7", "managedFields": [entry("kdep", "Apply", json!({}))]}});
        assert_eq!(pending(&none), None);
    }

    #[test]
    fn released_fields_go_and_fields_another_entry_owns_stay() {
        let live = json!({"metadata": {"resourceVersion": "1", "managedFields": [
            entry("kubectl-client-side-apply", "Update", json!({"f:metadata": {"f:annotations": {
                "f:legacy": {}, "f:shared": {}}, "f:labels": {"f:old": {}, "f:app": {}}, "f:name": {}},
                "f:spec": {"f:replicas": {}, "f:paused": {}}})),
            entry("kubectl-annotate", "Update", json!({"f:metadata": {"f:annotations": {"f:shared": {}}}})),
        ]}});
        // The dry run: kdep's Apply entry is the manifest's fields; the others are as live.
        let applied = json!({"metadata": {"name": "web", "annotations": {"legacy": "yes", "shared": "x", "kdep.dev/source": "a"},
            "labels": {"old": "1", "app": "web"}, "managedFields": [
                entry("kdep", "Apply", json!({"f:metadata": {"f:annotations": {"f:kdep.dev/source": {}},
                    "f:labels": {"f:app": {}}}, "f:spec": {"f:replicas": {}}})),
                entry("kubectl-client-side-apply", "Update", json!({"f:metadata": {"f:annotations": {
                    "f:legacy": {}, "f:shared": {}}, "f:labels": {"f:old": {}}}, "f:spec": {"f:paused": {}}})),
                entry("kubectl-annotate", "Update", json!({"f:metadata": {"f:annotations": {"f:shared": {}}}})),
            ]}, "spec": {"replicas": 2, "paused": false}});
        let left = without_released(&applied, &live).unwrap();
        // `legacy`, `old` and `spec.paused`: only client-side apply set them; `shared` another
        // manager owns too; `app` and `replicas` the package sets. A name is never released.
        assert_eq!(left["metadata"]["annotations"], json!({"shared": "x", "kdep.dev/source": "a"}));
        assert_eq!(left["metadata"]["labels"], json!({"app": "web"}));
        assert_eq!(left["metadata"]["name"], "web");
        assert_eq!(left["spec"], json!({"replicas": 2}));
    }

    #[test]
    fn released_list_items_go_by_key_and_by_value() {
        let web = r#"k:{"name":"web"}"#;
        let port = r#"k:{"containerPort":8080,"protocol":"TCP"}"#;
        let metrics = r#"k:{"containerPort":9090,"protocol":"TCP"}"#;
        let csa = json!({"f:metadata": {"f:finalizers": {".": {}, "v:\"a\"": {}, "v:\"b\"": {}}},
            "f:spec": {"f:containers": {(web): {".": {}, "f:name": {}, "f:image": {},
                "f:env": {".": {}, "k:{\"name\":\"LEGACY\"}": {".": {}, "f:name": {}, "f:value": {}},
                    "k:{\"name\":\"MODE\"}": {".": {}, "f:name": {}, "f:value": {}}},
                "f:ports": {".": {}, (port): {".": {}, "f:containerPort": {}, "f:protocol": {}},
                    (metrics): {".": {}, "f:containerPort": {}, "f:protocol": {}}}}}}});
        let live = json!({"metadata": {"managedFields": [entry("kubectl-client-side-apply", "Update", csa.clone())]}});
        // kdep's entry names the port's key fields in another order: still the same item.
        let kdep = json!({"f:metadata": {"f:finalizers": {"v:\"a\"": {}}},
            "f:spec": {"f:containers": {(web): {".": {}, "f:name": {}, "f:image": {},
                "f:env": {"k:{\"name\":\"MODE\"}": {".": {}, "f:name": {}, "f:value": {}}},
                "f:ports": {"k:{\"protocol\":\"TCP\",\"containerPort\":8080}": {".": {}, "f:containerPort": {}, "f:protocol": {}}}}}}});
        let applied = json!({"metadata": {"finalizers": ["a", "b"], "managedFields": [entry("kdep", "Apply", kdep),
            entry("kubectl-client-side-apply", "Update", csa)]},
            "spec": {"containers": [{"name": "web", "image": "web:2",
                "env": [{"name": "LEGACY", "value": "1"}, {"name": "MODE", "value": "new"}],
                "ports": [{"containerPort": 8080, "protocol": "TCP"}, {"containerPort": 9090, "protocol": "TCP"}]}]}});
        let left = without_released(&applied, &live).unwrap();
        assert_eq!(
            left["spec"],
            json!({"containers": [{"name": "web", "image": "web:2", "env": [{"name": "MODE", "value": "new"}],
                "ports": [{"containerPort": 8080, "protocol": "TCP"}]}]})
        );
        assert_eq!(left["metadata"]["finalizers"], json!(["a"]));
    }

    #[test]
    fn nothing_released_or_nothing_known_claims_nothing() {
        let csa = json!({"f:data": {"f:mode": {}}});
        let live = json!({"metadata": {"managedFields": [entry("kubectl-client-side-apply", "Update", csa.clone())]}});
        let applied = json!({"metadata": {"managedFields": [entry("kdep", "Apply", csa)]}, "data": {"mode": "new"}});
        assert_eq!(without_released(&applied, &live), None);
        // A dry run answered without managedFields: which fields stay is unknown.
        assert_eq!(without_released(&json!({"data": {"mode": "new"}}), &live), None);
    }

    #[test]
    fn conflicts_name_their_managers() {
        let m = r#"Apply failed with 2 conflicts: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas
conflicts with "helm" using v1:
- .metadata.labels.x"#;
        assert_eq!(conflicting_managers(m), vec!["kubectl-client-side-apply", "helm"]);
        assert!(only_taken_over(m));
        assert!(!only_taken_over(r#"conflict with "kubectl-scale": .spec.replicas"#));
    }
}
