//! The ApplySet convention (KEP-3659, `applyset.kubernetes.io/*`): a parent object lists the
//! group-kinds and namespaces of a set, and every member carries the set's id as a label.
//! Pruning deletes only objects that carry this set's label and are no longer desired, so an
//! object another tool (or another package) made is never touched, whatever its name.

use std::collections::BTreeSet;

use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::Settings;

pub const LABEL_ID: &str = "applyset.kubernetes.io/id";
pub const LABEL_PART_OF: &str = "applyset.kubernetes.io/part-of";
pub const ANN_TOOLING: &str = "applyset.kubernetes.io/tooling";
pub const ANN_GROUP_KINDS: &str = "applyset.kubernetes.io/contains-group-kinds";
pub const ANN_NAMESPACES: &str = "applyset.kubernetes.io/additional-namespaces";
/// kdep's own record on the parent: the source revision last applied.
pub const ANN_REVISION: &str = "kdep.dev/source-revision";

/// The parent is a ConfigMap (KEP-3659 allows Secrets and ConfigMaps for any tool).
pub const PARENT_KIND: &str = "ConfigMap";

/// The parent's name for a package: `kdep-applyset-<package>`, in the environment's namespace.
pub fn parent_name(package: &str) -> String {
    let clean: String = package
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c.to_ascii_lowercase() } else { '-' })
        .collect();
    format!("kdep-applyset-{}", clean.trim_matches(|c| c == '-' || c == '.'))
}

/// The set's id as KEP-3659 defines it: `applyset-` + unpadded base64url of the SHA-256 of
/// `<name>.<namespace>.<kind>.<group>` + `-v1`.
pub fn applyset_id(name: &str, namespace: &str) -> String {
    let digest = Sha256::digest(format!("{name}.{namespace}.{PARENT_KIND}.").as_bytes());
    format!("applyset-{}-v1", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest))
}

/// Identity of this package's set in an environment.
#[derive(Clone, Debug)]
pub struct ApplySet {
    pub name: String,
    pub namespace: String,
    pub id: String,
}

impl ApplySet {
    pub fn for_settings(settings: &Settings) -> ApplySet {
        let name = parent_name(&settings.package);
        let namespace = settings.parent_namespace().to_owned();
        let id = applyset_id(&name, &namespace);
        ApplySet { name, namespace, id }
    }

    /// The label selector of members.
    pub fn selector(&self) -> String {
        format!("{LABEL_PART_OF}={}", self.id)
    }

    /// A manifest with the membership label added.
    pub fn label_member(&self, obj: &Value) -> Value {
        let mut v = obj.clone();
        if let Some(map) = v.as_object_mut() {
            let meta = map.entry("metadata").or_insert_with(|| json!({}));
            if let Some(meta) = meta.as_object_mut() {
                let labels = meta.entry("labels").or_insert_with(|| json!({}));
                if let Some(labels) = labels.as_object_mut() {
                    labels.insert(LABEL_PART_OF.into(), Value::from(self.id.clone()));
                }
            }
        }
        v
    }

    /// The parent manifest listing `group_kinds` and `namespaces` (besides its own).
    pub fn parent_manifest(
        &self,
        group_kinds: &BTreeSet<String>,
        namespaces: &BTreeSet<String>,
        revision: Option<&str>,
    ) -> Value {
        let extra: Vec<&str> = namespaces.iter().map(String::as_str).filter(|n| *n != self.namespace).collect();
        let mut annotations = serde_json::Map::new();
        annotations.insert(ANN_TOOLING.into(), Value::from(format!("kdep/v{}", env!("CARGO_PKG_VERSION"))));
        let kinds: Vec<&str> = group_kinds.iter().map(String::as_str).collect();
        annotations.insert(ANN_GROUP_KINDS.into(), Value::from(kinds.join(",")));
        if !extra.is_empty() {
            annotations.insert(ANN_NAMESPACES.into(), Value::from(extra.join(",")));
        }
        if let Some(r) = revision {
            annotations.insert(ANN_REVISION.into(), Value::from(r));
        }
        json!({
            "apiVersion": "v1",
            "kind": PARENT_KIND,
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "labels": {LABEL_ID: self.id},
                "annotations": annotations,
            }
        })
    }
}

/// A comma-separated annotation of the live parent as a set (empty when absent).
pub fn annotation_set(parent: Option<&Value>, key: &str) -> BTreeSet<String> {
    parent
        .and_then(|p| p.pointer("/metadata/annotations"))
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
        .map(|s| s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_follows_kep_3659() {
        // The KEP's formula on a fixed input; the value is stable across runs and machines.
        let id = applyset_id("kdep-applyset-shop", "shop");
        assert!(id.starts_with("applyset-") && id.ends_with("-v1"));
        assert_eq!(id.len(), "applyset-".len() + 43 + "-v1".len());
        assert_ne!(id, applyset_id("kdep-applyset-shop", "shop-staging"));
        assert_eq!(parent_name("My_Shop"), "kdep-applyset-my-shop");
    }
}
