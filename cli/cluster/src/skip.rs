//! Deciding without a request that a server-side apply of a manifest cannot change the live
//! object, so `diff`, `plan`, `drift`, `status` and a no-op `apply` skip that object's dry run.
//!
//! Server-side apply computes the new object as: the live object, minus the fields kdep owns
//! that the manifest no longer sets, with the manifest's values written over it. So when
//!
//! 1. kdep's Apply entry in the live `managedFields` (for the manifest's apiVersion) owns
//!    exactly the fields the manifest sets — nothing to remove, no field taken by another
//!    manager with `--force-conflicts` or by a `kubectl edit` of a different value, and
//! 2. the live object already holds every value of the manifest — lists of the same length,
//!    item by item; a list or struct kdep owns as a whole (an atomic one) equal as a whole,
//!
//! the merge is the live object itself, and the dry run can only show "unchanged". The
//! answer is computed from the live object the server just returned, never from a record
//! kdep wrote earlier (an annotation, the ApplySet parent): someone with write access can
//! forge a record, but not make the live values equal to the manifest without that being
//! the truth. `managedFields` is what the server itself merges with, so trusting it here is
//! trusting exactly what the dry run would.
//!
//! A Secret's `stringData` is compared with the live `data` it became (base64, as the server
//! folds it). It is conservative: whatever it cannot prove (a value the server normalised,
//! `1000m` against `1`, a list item without all its key fields, another
//! manager's item in a keyed list, a takeover pending) leaves the decision to the dry run.
//! What it does not see, by design: a mutating admission webhook or a changed schema that
//! would now rewrite or reject the same object — an apply of it writes nothing either.

use std::collections::BTreeSet;

use base64::prelude::{Engine as _, BASE64_STANDARD};
use serde_json::{Map, Value};

use crate::drift::keyed_child_of;
use crate::FIELD_MANAGER;

/// Whether applying `manifest` (namespace and set label filled in) to `live` provably
/// changes nothing, so its dry run can be skipped.
pub fn unchanged(manifest: &Value, live: &Value) -> bool {
    let Some(api_version) = manifest.get("apiVersion").and_then(Value::as_str) else { return false };
    let Some(fields) = kdep_fields(live, api_version) else { return false };
    let (Some(m), Some(l), Some(f)) = (manifest.as_object(), live.as_object(), fields.as_object()) else {
        return false;
    };
    // apiVersion and kind are not in field sets, and the live object was read through them.
    let mut top = m.clone();
    top.remove("apiVersion");
    top.remove("kind");
    // A Secret's `stringData` is never stored: the server writes each value into `data`,
    // base64-encoded, while kdep's Apply entry owns `stringData` itself.
    let mut f = f.clone();
    if m.get("apiVersion").and_then(Value::as_str) == Some("v1")
        && m.get("kind").and_then(Value::as_str) == Some("Secret")
    {
        if let Some(sd) = top.remove("stringData") {
            if !string_data_same(&sd, l.get("data"), f.remove("f:stringData").as_ref()) {
                return false;
            }
        }
    }
    // Nor are the name and namespace: they identify the object that was read.
    if let Some(meta) = top.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in ["name", "namespace"] {
            if meta.get(k).is_some_and(|v| l.get("metadata").and_then(|lm| lm.get(k)) != Some(v)) {
                return false;
            }
            meta.remove(k);
        }
        if meta.is_empty() {
            top.remove("metadata");
        }
    }
    map_same(&top, l, &f)
}

/// A Secret manifest's `stringData` against the live `data` and kdep's FieldsV1 node for
/// `stringData`: kdep owns exactly its keys, and the live `data` holds each value as the
/// server encodes it (standard base64 of the string's bytes). A value edited through `data`
/// (or `stringData`) by anyone then differs, and the dry run shows it, masked.
fn string_data_same(sd: &Value, data: Option<&Value>, owned: Option<&Value>) -> bool {
    let (Some(sd), Some(owned)) = (sd.as_object(), owned.and_then(Value::as_object)) else { return false };
    let owns_exactly = owned.keys().filter(|k| *k != ".").count() == sd.len()
        && sd.keys().all(|k| owned.get(&format!("f:{k}")).is_some_and(|n| n.as_object().is_some_and(Map::is_empty)));
    owns_exactly
        && sd.iter().all(|(k, v)| {
            let live = data.and_then(|d| d.get(k)).and_then(Value::as_str);
            v.as_str().is_some_and(|v| live == Some(BASE64_STANDARD.encode(v).as_str()))
        })
}

/// The FieldsV1 set of kdep's one Apply entry for `api_version` (none, or several: `None`).
fn kdep_fields<'a>(live: &'a Value, api_version: &str) -> Option<&'a Value> {
    let entries = live.pointer("/metadata/managedFields")?.as_array()?;
    let s = |e: &'a Value, k: &str| e.get(k).and_then(Value::as_str);
    let mut ours = entries.iter().filter(|e| {
        s(e, "manager") == Some(FIELD_MANAGER)
            && s(e, "operation") == Some("Apply")
            && s(e, "subresource").is_none_or(str::is_empty)
            && s(e, "fieldsType").is_none_or(|t| t == "FieldsV1")
            && s(e, "apiVersion") == Some(api_version)
    });
    let one = ours.next()?;
    if ours.next().is_some() {
        return None;
    }
    one.get("fieldsV1")
}

/// A map of the manifest against the live map and kdep's FieldsV1 node for it: kdep owns
/// exactly the manifest's fields here, and each holds the manifest's value.
fn map_same(m: &Map<String, Value>, l: &Map<String, Value>, f: &Map<String, Value>) -> bool {
    // Every field kdep owns here is one the manifest sets (else the apply would remove it).
    // `.` is the map's own presence, which the manifest's map gives.
    let owned_all_set = f.keys().filter(|k| *k != ".").all(|k| k.strip_prefix("f:").is_some_and(|n| m.contains_key(n)));
    owned_all_set
        && m.iter().all(|(name, mv)| match (l.get(name), f.get(&format!("f:{name}"))) {
            (Some(lv), Some(fv)) => same(mv, lv, fv),
            // Not owned by kdep (taken away) or absent live: the apply would change something.
            _ => false,
        })
}

/// One value of the manifest against the live value and kdep's FieldsV1 node for it.
fn same(m: &Value, l: &Value, f: &Value) -> bool {
    let Some(f) = f.as_object() else { return false };
    // An empty node owns the value as a whole (a scalar, an atomic list or struct): the
    // apply replaces it with the manifest's, so it must be equal as a whole.
    if f.is_empty() {
        return m == l && !m.is_null();
    }
    match (m, l) {
        (Value::Object(mm), Value::Object(lm)) => map_same(mm, lm, f),
        (Value::Array(ma), Value::Array(la)) => ma.len() == la.len() && list_same(ma, la, f),
        _ => false,
    }
}

/// A keyed (`k:`) or set (`v:`) list, item by item at the same positions: each manifest item
/// is one kdep owns, holding its values; and kdep owns no item the manifest lacks.
fn list_same(ma: &[Value], la: &[Value], f: &Map<String, Value>) -> bool {
    let mut matched: BTreeSet<&str> = BTreeSet::new();
    for (mi, li) in ma.iter().zip(la) {
        let ok = match mi {
            Value::Object(mm) => {
                let Some((name, child)) = keyed_child_of(f, &with_key_defaults(mm)) else { return false };
                matched.insert(name);
                match (li.as_object(), child.as_object()) {
                    // The live item at this position is the one kdep's field set names.
                    (Some(lm), Some(c)) => holds_key(lm, name) && map_same(mm, lm, c),
                    _ => false,
                }
            }
            Value::Null | Value::Array(_) => false,
            scalar => match f.get_key_value(&format!("v:{scalar}")) {
                Some((name, _)) => {
                    matched.insert(name.as_str());
                    mi == li
                }
                None => false,
            },
        };
        if !ok {
            return false;
        }
    }
    matched.len() == ma.len() && f.keys().filter(|k| *k != ".").count() == matched.len()
}

/// List-key fields the API server fills in when a manifest leaves them out, with the value:
/// every `protocol` key of core/v1 (container, Service and endpoint ports) defaults to TCP,
/// and kdep's field set names the item with it (`k:{"containerPort":80,"protocol":"TCP"}`).
/// Only used to find that item; a list whose key defaults otherwise just finds none and is
/// dry-run.
const KEY_DEFAULTS: [(&str, &str); 1] = [("protocol", "TCP")];

/// A manifest list item with [`KEY_DEFAULTS`] filled in where it has no value.
fn with_key_defaults(item: &Map<String, Value>) -> Map<String, Value> {
    let mut out = item.clone();
    for (field, value) in KEY_DEFAULTS {
        out.entry(field).or_insert_with(|| Value::from(value));
    }
    out
}

/// Whether a live list item holds every key field of the FieldsV1 member `k:{...}` named.
fn holds_key(live: &Map<String, Value>, member: &str) -> bool {
    let key: Option<Map<String, Value>> = member.strip_prefix("k:").and_then(|j| serde_json::from_str(j).ok());
    key.is_some_and(|key| key.iter().all(|(k, v)| live.get(k) == Some(v)))
}

#[cfg(test)]
#[expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "tests: a failed unwrap fails the test; JSON built just above is indexed with `Value[key]`"
)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A Deployment as kdep applies it, and the live object after that apply: server defaults
    /// added, kdep's field set as structured-merge-diff records it, an HPA owning replicas
    /// would be another entry.
    fn pair() -> (Value, Value) {
        let manifest = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "demo", "labels": {"app": "web"}},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "app", "image": "nginx:1.27", "args": ["-v"]}]}
                }
            }
        });
        let live = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {
                "name": "web", "namespace": "demo", "uid": "u1", "resourceVersion": "7",
                "labels": {"app": "web"},
                "managedFields": [
                    {"manager": "kdep", "operation": "Apply", "apiVersion": "apps/v1", "fieldsType": "FieldsV1",
                     "fieldsV1": {
                        "f:metadata": {"f:labels": {"f:app": {}}},
                        "f:spec": {
                            "f:replicas": {},
                            "f:selector": {},
                            "f:template": {
                                "f:metadata": {"f:labels": {"f:app": {}}},
                                "f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {
                                    ".": {}, "f:name": {}, "f:image": {}, "f:args": {}
                                }}}
                            }
                        }
                     }},
                    {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "apps/v1",
                     "subresource": "status", "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {}}}
                ]
            },
            "spec": {
                "replicas": 2,
                "revisionHistoryLimit": 10,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "containers": [{"name": "app", "image": "nginx:1.27", "args": ["-v"],
                                        "imagePullPolicy": "IfNotPresent"}],
                        "restartPolicy": "Always"
                    }
                }
            },
            "status": {"replicas": 2}
        });
        (manifest, live)
    }

    fn kdep_set(live: &mut Value) -> &mut Value {
        &mut live["metadata"]["managedFields"][0]["fieldsV1"]
    }

    #[test]
    fn an_applied_object_with_server_defaults_is_unchanged() {
        let (m, l) = pair();
        assert!(unchanged(&m, &l));
    }

    #[test]
    fn a_value_edited_by_someone_else_is_not_skipped() {
        // `kubectl edit` of the image: SMD moves the field to kubectl-edit.
        let (m, mut l) = pair();
        l["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:1.28");
        assert!(!unchanged(&m, &l), "value differs");
        // Even with managedFields forged to say kdep still owns it: the value decides.
        let (m, mut l) = pair();
        l["spec"]["replicas"] = json!(5);
        assert!(!unchanged(&m, &l));
    }

    #[test]
    fn a_field_taken_by_another_manager_is_not_skipped() {
        // Forced to the same value: kdep lost the field, the apply would take it back.
        let (m, mut l) = pair();
        kdep_set(&mut l)["f:spec"].as_object_mut().unwrap().remove("f:replicas");
        assert!(!unchanged(&m, &l));
    }

    #[test]
    fn a_field_kdep_owns_that_the_manifest_dropped_is_not_skipped() {
        let (mut m, l) = pair();
        m["metadata"]["labels"] = json!({});
        m["metadata"].as_object_mut().unwrap().remove("labels");
        assert!(!unchanged(&m, &l), "the apply would remove metadata.labels.app");
    }

    #[test]
    fn an_object_kdep_never_applied_is_not_skipped() {
        // Deleted and recreated under the same name by someone else: no kdep entry.
        let (m, mut l) = pair();
        l["metadata"]["managedFields"].as_array_mut().unwrap().remove(0);
        assert!(!unchanged(&m, &l));
        // An entry for another apiVersion records other paths.
        let (m, mut l) = pair();
        l["metadata"]["managedFields"][0]["apiVersion"] = json!("apps/v1beta2");
        assert!(!unchanged(&m, &l));
    }

    #[test]
    fn atomic_values_must_be_equal_whole() {
        // An atomic list (args) and struct (selector) with an extra item: the apply replaces
        // them whole, so it would change them even though the manifest's part is there.
        let (m, mut l) = pair();
        l["spec"]["template"]["spec"]["containers"][0]["args"] = json!(["-v", "--debug"]);
        assert!(!unchanged(&m, &l));
        let (m, mut l) = pair();
        l["spec"]["selector"]["matchLabels"]["tier"] = json!("x");
        assert!(!unchanged(&m, &l));
    }

    #[test]
    fn keyed_lists_must_hold_exactly_kdeps_items() {
        // A sidecar another manager injected: not provable item by item, the dry run decides.
        let (m, mut l) = pair();
        l["spec"]["template"]["spec"]["containers"].as_array_mut().unwrap().push(json!({"name": "proxy"}));
        assert!(!unchanged(&m, &l));
        // kdep owns an item the manifest no longer has: the apply would remove it.
        let (m, mut l) = pair();
        kdep_set(&mut l)["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"old\"}"] = json!({".": {}});
        assert!(!unchanged(&m, &l));
    }

    #[test]
    fn a_port_without_protocol_is_the_tcp_item_kdep_owns() {
        // The server keys the port by its defaulted protocol; the manifest leaves it out.
        let (mut m, mut l) = pair();
        m["spec"]["template"]["spec"]["containers"][0]["ports"] = json!([{"containerPort": 80}]);
        l["spec"]["template"]["spec"]["containers"][0]["ports"] = json!([{"containerPort": 80, "protocol": "TCP"}]);
        kdep_set(&mut l)["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"app\"}"]["f:ports"] =
            json!({"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}});
        assert!(unchanged(&m, &l));
        // The live item at that position is another one (UDP): not the item kdep owns.
        let mut udp = l.clone();
        udp["spec"]["template"]["spec"]["containers"][0]["ports"][0]["protocol"] = json!("UDP");
        assert!(!unchanged(&m, &udp));
        // kdep owns the UDP item (the manifest said UDP last time and no longer does): the
        // apply would make it a TCP item, so no skip.
        let mut was_udp = udp.clone();
        kdep_set(&mut was_udp)["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"app\"}"]["f:ports"] = json!({"k:{\"containerPort\":80,\"protocol\":\"UDP\"}": {".": {}, "f:containerPort": {}, "f:protocol": {}}});
        assert!(!unchanged(&m, &was_udp));
    }

    /// A Secret applied with `stringData`, as the server keeps it: the values in `data`,
    /// base64; kdep's entry owning `stringData`.
    fn secret() -> (Value, Value) {
        let m = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "demo"},
            "stringData": {"password": "hunter2"}});
        let l = json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": "db", "namespace": "demo", "managedFields": [{"manager": "kdep", "operation": "Apply",
                "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": {"f:stringData": {".": {}, "f:password": {}}}}]},
            "data": {"password": "aHVudGVyMg=="}});
        (m, l)
    }

    #[test]
    fn secret_string_data_is_compared_with_the_live_data_it_became() {
        let (m, l) = secret();
        assert!(unchanged(&m, &l));
        // Edited through `data` (a `kubectl edit` of the base64): the dry run must show it.
        let (m, mut edited) = secret();
        edited["data"]["password"] = json!("c3RvbGVu");
        assert!(!unchanged(&m, &edited));
        // The package's value changed.
        let (mut changed, l) = secret();
        changed["stringData"]["password"] = json!("hunter3");
        assert!(!unchanged(&changed, &l));
        // A key kdep owns that the package dropped, or one it never owned: the apply changes
        // ownership or values.
        let (mut more, mut l2) = secret();
        more["stringData"]["user"] = json!("admin");
        l2["data"]["user"] = json!("YWRtaW4=");
        assert!(!unchanged(&more, &l2));
        let (mut fewer, mut l3) = secret();
        fewer["stringData"] = json!({});
        l3["metadata"]["managedFields"][0]["fieldsV1"]["f:stringData"]["f:user"] = json!({});
        assert!(!unchanged(&fewer, &l3));
        // Base64 of another encoding of the same bytes is not what the server stores: not equal.
        let (m, mut unpadded) = secret();
        unpadded["data"]["password"] = json!("aHVudGVyMg");
        assert!(!unchanged(&m, &unpadded));
        // Not a core Secret: `stringData` is an ordinary field, absent live.
        let (mut other, l) = secret();
        other["apiVersion"] = json!("example.com/v1");
        assert!(!unchanged(&other, &l));
    }

    #[test]
    fn set_lists_and_normalised_values() {
        let m = json!({"apiVersion": "v1", "kind": "X", "metadata": {"name": "a"}, "spec": {"tags": ["a", "b"], "cpu": "1000m"}});
        let entry =
            |fields: Value| json!([{"manager": "kdep", "operation": "Apply", "apiVersion": "v1", "fieldsV1": fields}]);
        let fields = json!({"f:spec": {"f:tags": {"v:\"a\"": {}, "v:\"b\"": {}}, "f:cpu": {}}});
        let mut l = json!({"metadata": {"name": "a", "managedFields": entry(fields)}, "spec": {"tags": ["a", "b"], "cpu": "1000m"}});
        assert!(unchanged(&m, &l));
        // The server stored the canonical quantity: not provable here, the dry run shows it equal.
        l["spec"]["cpu"] = json!("1");
        assert!(!unchanged(&m, &l));
        // A name that is not the live object's.
        let mut other = m.clone();
        other["metadata"]["name"] = json!("b");
        assert!(!unchanged(&other, &l));
    }
}
