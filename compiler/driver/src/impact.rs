//! Blast radius: what changes between two builds of a package (`kdep impact`), per environment,
//! app and object, down to the field paths; and which templates each app is built from, so a
//! change can be drawn templates → apps → environments.
//!
//! The comparison works on finished builds ([`crate::Build`]'s manifests), so any two builds can
//! be compared: the package at a git revision against the working tree (`kdep impact`), or
//! before and after a dependency update. Everything here is pure; getting the two trees is the
//! caller's business.

use std::collections::{BTreeMap, BTreeSet};

use kdep_eval::manifest::Manifest;
use kdep_eval::provenance::{display_path, Segment};
use kdep_eval::value::Value;

/// What identifies an object in a cluster.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    /// The API group (`apps`), so `Deployment` of two groups are two objects.
    pub group: String,
}

impl ObjectKey {
    pub fn of(m: &Manifest) -> Self {
        ObjectKey {
            kind: m.kind.clone(),
            namespace: m.namespace.clone(),
            name: m.name.clone(),
            group: m.group().into(),
        }
    }

    /// `Kind namespace/name` or `Kind name`.
    pub fn describe(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.kind, self.name),
            None => format!("{} {}", self.kind, self.name),
        }
    }
}

/// How one object differs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    Added,
    Removed,
    /// The field paths whose values differ (added, removed or changed leaves), in the order of
    /// the newer object, then removed ones.
    Changed(Vec<String>),
}

impl Change {
    pub fn kind(&self) -> &'static str {
        match self {
            Change::Added => "added",
            Change::Removed => "removed",
            Change::Changed(_) => "changed",
        }
    }
}

/// One object that differs between the builds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectChange {
    pub key: ObjectKey,
    /// The app that emits it (in the newer build when it exists there).
    pub app: String,
    pub change: Change,
}

/// Objects that differ between `base` and `head`, sorted by object identity. Objects equal in
/// both (including kdep's own labels and annotation) are left out.
pub fn compare(base: &[Manifest], head: &[Manifest]) -> Vec<ObjectChange> {
    let base_by: BTreeMap<ObjectKey, &Manifest> = base.iter().map(|m| (ObjectKey::of(m), m)).collect();
    let head_by: BTreeMap<ObjectKey, &Manifest> = head.iter().map(|m| (ObjectKey::of(m), m)).collect();
    let keys: BTreeSet<&ObjectKey> = base_by.keys().chain(head_by.keys()).collect();
    let mut out = Vec::new();
    for key in keys {
        let (change, app) = match (base_by.get(key), head_by.get(key)) {
            (None, Some(h)) => (Change::Added, &h.app),
            (Some(b), None) => (Change::Removed, &b.app),
            (Some(b), Some(h)) => {
                let paths = changed_paths(&b.object, &h.object);
                if paths.is_empty() {
                    continue;
                }
                (Change::Changed(paths), &h.app)
            }
            (None, None) => continue,
        };
        out.push(ObjectChange { key: key.clone(), app: app.clone(), change });
    }
    out
}

/// Leaf paths at which two values differ. Maps are compared by key, lists by position (an
/// item added at the end is one path, `containers[1]`); a value that changes type is one path.
pub fn changed_paths(base: &Value, head: &Value) -> Vec<String> {
    let mut out = Vec::new();
    // Explicit stack: objects are bounded in depth, but the walk should not depend on it.
    let mut stack: Vec<(Vec<Segment>, Option<&Value>, Option<&Value>)> = vec![(Vec::new(), Some(base), Some(head))];
    while let Some((path, b, h)) = stack.pop() {
        let mut children = Vec::new();
        match (b, h) {
            (Some(Value::Map(bm)), Some(Value::Map(hm))) => {
                for (k, e) in hm.entries() {
                    let mut p = path.clone();
                    p.push(Segment::Key(k.to_string()));
                    children.push((p, bm.get(k), Some(&e.value)));
                }
                for (k, e) in bm.entries().filter(|(k, _)| !hm.contains_key(k)) {
                    let mut p = path.clone();
                    p.push(Segment::Key(k.to_string()));
                    children.push((p, Some(&e.value), None));
                }
            }
            (Some(Value::List(bl)), Some(Value::List(hl))) => {
                for n in 0..bl.len().max(hl.len()) {
                    let mut p = path.clone();
                    p.push(Segment::Index(n));
                    children.push((p, bl.get(n), hl.get(n)));
                }
            }
            (b, h) if b == h => {}
            _ => out.push(display_path(&path)),
        }
        children.reverse();
        stack.extend(children);
    }
    out
}

/// One app and the templates it is built from, most derived first (its template, then what
/// that extends or composes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppTemplates {
    pub app: String,
    pub templates: Vec<TemplateSource>,
}

/// A template with its declaration's text, to tell whether it changed between two trees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateSource {
    /// Qualified name, `platform.web.WebService`.
    pub name: String,
    /// The whole declaration as written.
    pub text: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use kdep_eval::value::{Map, Origin};

    fn map(entries: &[(&str, Value)]) -> Value {
        let mut m = Map::new();
        for (k, v) in entries {
            m.insert(*k, v.clone(), Origin::computed());
        }
        Value::map(m)
    }

    #[test]
    fn paths_of_changed_added_and_removed_leaves() {
        let base = map(&[
            ("spec", map(&[("replicas", 2.into()), ("paused", true.into())])),
            ("items", Value::list(vec![1.into()])),
        ]);
        let head = map(&[
            ("spec", map(&[("replicas", 3.into()), ("minReady", 5.into())])),
            ("items", Value::list(vec![1.into(), 2.into()])),
        ]);
        assert_eq!(changed_paths(&base, &head), ["spec.replicas", "spec.minReady", "spec.paused", "items[1]"]);
        assert!(changed_paths(&base, &base).is_empty());
        // A value that changes type is one change, not a walk into either side.
        assert_eq!(changed_paths(&map(&[("a", 1.into())]), &map(&[("a", map(&[("b", 1.into())]))])), ["a"]);
    }
}
