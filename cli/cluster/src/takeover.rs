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

use serde_json::{json, Value};

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

/// What the apply after a takeover removes from the object's labels and annotations, shown on
/// `view` (the dry run's result, computed before the takeover, while client-side apply or Helm
/// still owned their fields): every label and annotation a taken-over manager set that
/// `manifest` does not set and no other manager owns is removed from `view`, as the apply will
/// remove it once kdep owns it (`kubectl.kubernetes.io/last-applied-configuration` among them).
/// Other fields are left as the dry run shows them: a field the apply removes there may be
/// defaulted again by the server, which only the server knows, so the preview cannot say.
pub fn remove_released(view: &mut Value, live: &Value, manifest: &Value) {
    let Some(entries) = live.pointer("/metadata/managedFields").and_then(Value::as_array) else { return };
    let mut taken = json!({});
    let mut others = json!({});
    for e in entries {
        let Some(f) = e.get("fieldsV1") else { continue };
        if is_taken(e) {
            union(&mut taken, f);
        } else if !is_kdep(e) {
            union(&mut others, f);
        }
    }
    for part in ["labels", "annotations"] {
        let key = format!("f:{part}");
        let Some(theirs) = taken.get("f:metadata").and_then(|m| m.get(&key)) else { continue };
        let other = others.get("f:metadata").and_then(|m| m.get(&key));
        let set = manifest.get("metadata").and_then(|m| m.get(part));
        if let Some(shown) = view.get_mut("metadata").and_then(|m| m.get_mut(part)) {
            released(theirs, other, set, shown);
        }
    }
}

fn released(taken: &Value, others: Option<&Value>, manifest: Option<&Value>, view: &mut Value) {
    let Some(taken) = taken.as_object() else { return };
    for (k, sub) in taken {
        let Some(name) = k.strip_prefix("f:") else { continue };
        let other = others.and_then(|o| o.get(k));
        let set = manifest.and_then(|m| m.get(name));
        if other.is_none() && set.is_none() {
            if let Some(map) = view.as_object_mut() {
                map.remove(name);
            }
        } else if let Some(child) = view.get_mut(name) {
            released(sub, other, set, child);
        }
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
    fn the_preview_drops_the_labels_and_annotations_only_a_taken_manager_set() {
        let live = json!({"metadata": {"resourceVersion": "1", "managedFields": [
            entry("kubectl-client-side-apply", "Update", json!({"f:metadata": {"f:annotations": {
                "f:legacy": {}, "f:shared": {}}, "f:labels": {"f:old": {}, "f:app": {}}},
                "f:spec": {"f:replicas": {}, "f:paused": {}}})),
            entry("kubectl-annotate", "Update", json!({"f:metadata": {"f:annotations": {"f:shared": {}}}})),
        ]}});
        let mut view = json!({"metadata": {"annotations": {"legacy": "yes", "shared": "x", "kdep.dev/source": "a"},
            "labels": {"old": "1", "app": "web"}}, "spec": {"replicas": 2, "paused": false}});
        let manifest = json!({"metadata": {"annotations": {"kdep.dev/source": "a"}, "labels": {"app": "web"}},
            "spec": {"replicas": 2}});
        remove_released(&mut view, &live, &manifest);
        // `legacy` and `old`: only client-side apply set them; `shared` another manager owns too;
        // `app` the package sets. `paused` stays: outside metadata the server may default a
        // released field again, so the preview leaves the dry run's answer.
        assert_eq!(
            view,
            json!({"metadata": {"annotations": {"shared": "x", "kdep.dev/source": "a"}, "labels": {"app": "web"}},
                "spec": {"replicas": 2, "paused": false}})
        );
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
