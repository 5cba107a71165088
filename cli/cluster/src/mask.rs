//! Secret values never leave kdep in human output: Secret `data`/`stringData` values (and a
//! kubectl `last-applied-configuration` copy of them) are replaced by markers that still show
//! whether a value changed.

use serde_json::Value;

/// Shown for a secret value that is the same on both sides (or only on the old side).
pub const HIDDEN: &str = "<hidden>";
/// Shown for a secret value that is new or different.
pub const CHANGED: &str = "<changed>";

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

fn is_secret(v: &Value) -> bool {
    v.get("kind").and_then(Value::as_str) == Some("Secret")
}

/// Masks the secret values of an old/new pair of the same object. Either side may be absent
/// (creation, deletion). Objects that are not Secrets are left as they are.
pub fn mask_pair(old: Option<&mut Value>, new: Option<&mut Value>) {
    let secret = old.as_deref().is_some_and(is_secret) || new.as_deref().is_some_and(is_secret);
    if !secret {
        return;
    }
    let mut old = old;
    let mut new = new;
    for field in ["data", "stringData"] {
        let old_map = old.as_deref().and_then(|o| o.get(field)).and_then(Value::as_object).cloned();
        if let Some(n) = new.as_deref_mut().and_then(|n| n.get_mut(field)).and_then(Value::as_object_mut) {
            for (k, v) in n.iter_mut() {
                let same = old_map.as_ref().and_then(|m| m.get(k)) == Some(&*v);
                *v = Value::from(if same { HIDDEN } else { CHANGED });
            }
        }
        if let Some(o) = old.as_deref_mut().and_then(|o| o.get_mut(field)).and_then(Value::as_object_mut) {
            for v in o.values_mut() {
                *v = Value::from(HIDDEN);
            }
        }
    }
    // The client-side-apply annotation holds a full copy of the Secret, values included.
    let old_la = old
        .as_deref()
        .and_then(|o| o.pointer(&format!("/metadata/annotations/{}", LAST_APPLIED.replace('/', "~1"))))
        .cloned();
    for (side, is_new) in [(old, false), (new, true)] {
        if let Some(a) = side.and_then(|o| o.pointer_mut("/metadata/annotations")).and_then(Value::as_object_mut) {
            if let Some(v) = a.get_mut(LAST_APPLIED) {
                let same = old_la.as_ref() == Some(&*v);
                *v = Value::from(if is_new && !same { CHANGED } else { HIDDEN });
            }
        }
    }
}

/// Masks one object on its own (a Secret to create, or one shown without a counterpart).
pub fn mask_one(obj: &mut Value) {
    mask_pair(None, Some(obj));
}

#[cfg(test)]
#[expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "tests: a failed unwrap fails the test; Value[key] yields Null"
)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changed_values_show_as_changed_and_no_value_survives() {
        let mut old = json!({"kind": "Secret", "data": {"a": "c2VjcmV0MQ==", "b": "c2FtZQ=="},
            "metadata": {"annotations": {LAST_APPLIED: "{\"data\":{\"a\":\"c2VjcmV0MQ==\"}}"}}});
        let mut new = json!({"kind": "Secret", "data": {"a": "c2VjcmV0Mg==", "b": "c2FtZQ==", "c": "bmV3"},
            "stringData": {"password": "hunter2"},
            "metadata": {"annotations": {LAST_APPLIED: "{\"data\":{\"a\":\"c2VjcmV0Mg==\"}}"}}});
        mask_pair(Some(&mut old), Some(&mut new));
        assert_eq!(new["data"], json!({"a": CHANGED, "b": HIDDEN, "c": CHANGED}));
        assert_eq!(new["stringData"], json!({"password": CHANGED}));
        assert_eq!(old["data"], json!({"a": HIDDEN, "b": HIDDEN}));
        let text = format!("{old}{new}");
        for secret in ["c2VjcmV0", "hunter2", "bmV3", "c2FtZQ"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        let _ = new.as_object().unwrap();
    }

    #[test]
    fn other_kinds_are_untouched() {
        let mut cm = json!({"kind": "ConfigMap", "data": {"a": "b"}});
        mask_one(&mut cm);
        assert_eq!(cm["data"]["a"], "b");
    }
}
