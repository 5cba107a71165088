//! Objects as kdep sees them: identity, the action a run takes on each, and the normal form
//! two server views are compared in.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What identifies an object in a cluster.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjKey {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjKey {
    /// The key of a manifest; `None` when it lacks apiVersion, kind or metadata.name.
    pub fn of(obj: &Value) -> Option<ObjKey> {
        let s = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
        Some(ObjKey {
            api_version: s(obj.get("apiVersion"))?,
            kind: s(obj.get("kind"))?,
            namespace: s(obj.pointer("/metadata/namespace")).filter(|n| !n.is_empty()),
            name: s(obj.pointer("/metadata/name"))?,
        })
    }

    /// The API group (`""` for the core group).
    pub fn group(&self) -> &str {
        self.api_version.split_once('/').map_or("", |(g, _)| g)
    }

    /// `Kind.group` as the ApplySet annotations spell group-kinds (`Deployment.apps`, `Service`).
    pub fn group_kind(&self) -> String {
        group_kind(self.group(), &self.kind)
    }
}

/// `Kind.group`, or `Kind` for the core group.
pub fn group_kind(group: &str, kind: &str) -> String {
    if group.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}.{group}")
    }
}

impl fmt::Display for ObjKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// What a run does (or would do) to one object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Unchanged,
    Prune,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Unchanged => "unchanged",
            Action::Prune => "prune",
        }
    }
}

/// The part of a server's object that says what it is, not when or by whom it was written:
/// the bookkeeping the server changes on every write (`managedFields`, `resourceVersion`,
/// `generation`) and `status` (written by controllers, never by kdep) are left out, so a live
/// object and the dry-run result of applying kdep's manifest to it compare equal exactly when
/// the apply would change nothing.
pub fn normal_form(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(map) = v.as_object_mut() {
        map.remove("status");
        if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
            for k in ["managedFields", "resourceVersion", "generation"] {
                meta.remove(k);
            }
        }
    }
    v
}
