//! Apply waves: the declared order of apps (`@after` in the sources), read from the manifests.
//!
//! The compiler stamps every object of an app declared after others with
//! `kdep.dev/apply-after: db,cache` (the other apps' names, as their objects' instance label
//! spells them). This crate sees only that: it groups objects by app (the instance label) and
//! gives each app a wave, one more than the latest wave of the apps it is applied after that
//! this build emits. `apply` applies wave by wave and waits for each wave's rollouts before the
//! next. The compiler already refuses cycles (K0683), but a plan file can be edited, so a cycle
//! here is an error before anything is changed, never a hang.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Error;
use crate::object::ObjKey;

/// The annotation the compiler stamps on the objects of an app declared `@after` others.
pub const ANN_APPLY_AFTER: &str = "kdep.dev/apply-after";
/// The label naming the app an object belongs to.
pub const LABEL_INSTANCE: &str = "app.kubernetes.io/instance";

/// One wave of an apply: the apps applied together, and their objects (namespaces and CRDs
/// aside, which go before every wave).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wave {
    pub apps: Vec<String>,
    pub objects: Vec<ObjKey>,
}

fn app_of(obj: &Value) -> String {
    obj.pointer("/metadata/labels").and_then(|l| l.get(LABEL_INSTANCE)).and_then(Value::as_str).unwrap_or("").to_owned()
}

fn after_of(obj: &Value) -> Vec<String> {
    let text = obj.pointer("/metadata/annotations").and_then(|a| a.get(ANN_APPLY_AFTER)).and_then(Value::as_str);
    text.into_iter().flat_map(|t| t.split(',')).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// The waves of a set of objects (keyed as the apply will address them), in order. A set in
/// which no app declares an order is one wave, returned as an empty list: the apply then runs
/// exactly as without waves. An app named in `kdep.dev/apply-after` that emits nothing here is
/// ignored (nothing to wait for).
pub fn waves<'a>(objects: impl IntoIterator<Item = (&'a ObjKey, &'a Value)>) -> Result<Vec<Wave>, Error> {
    let mut apps: BTreeMap<String, (BTreeSet<String>, Vec<ObjKey>)> = BTreeMap::new();
    for (key, obj) in objects {
        let entry = apps.entry(app_of(obj)).or_default();
        entry.0.extend(after_of(obj));
        entry.1.push(key.clone());
    }
    if apps.values().all(|(after, _)| after.iter().all(|a| !apps.contains_key(a))) {
        return Ok(Vec::new());
    }
    // Longest path from an app without predecessors, iteratively (bounded by the number of apps);
    // an app met again while on the path is a cycle.
    let mut wave: BTreeMap<&str, usize> = BTreeMap::new();
    for start in apps.keys() {
        let mut stack: Vec<(&str, bool)> = vec![(start.as_str(), false)];
        let mut on_path: Vec<&str> = Vec::new();
        while let Some((app, done)) = stack.pop() {
            if done {
                on_path.pop();
                let level = apps
                    .get(app)
                    .map(|(after, _)| {
                        after.iter().filter_map(|a| wave.get(a.as_str())).map(|w| w + 1).max().unwrap_or(0)
                    })
                    .unwrap_or(0);
                wave.insert(app, level);
                continue;
            }
            if wave.contains_key(app) {
                continue;
            }
            if let Some(pos) = on_path.iter().position(|a| *a == app) {
                let mut chain: Vec<&str> = on_path.get(pos..).unwrap_or_default().to_vec();
                chain.push(app);
                return Err(Error::new(format!("the manifests declare an apply order cycle: {}", chain.join(" → ")))
                    .hint("the `@after` attributes of these apps wait for each other; `kdep check` names the cycle in the sources"));
            }
            on_path.push(app);
            stack.push((app, true));
            if let Some((after, _)) = apps.get(app) {
                for a in after.iter().rev().filter(|a| apps.contains_key(*a)) {
                    stack.push((a.as_str(), false));
                }
            }
        }
    }
    let count = wave.values().max().map_or(0, |m| m + 1);
    let mut out: Vec<Wave> = vec![Wave::default(); count];
    for (app, (_, keys)) in &apps {
        if let Some(w) = wave.get(app.as_str()).and_then(|&i| out.get_mut(i)) {
            w.apps.push(app.clone());
            w.objects.extend(keys.iter().cloned());
        }
    }
    for w in &mut out {
        w.objects.sort();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn obj(name: &str, app: &str, after: Option<&str>) -> (ObjKey, Value) {
        let annotations = after.map_or_else(|| json!({}), |a| json!({ANN_APPLY_AFTER: a}));
        let v = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "demo", "labels": {LABEL_INSTANCE: app}, "annotations": annotations}});
        (ObjKey::of(&v).unwrap_or_else(|| panic!("a key")), v)
    }

    fn run(objs: &[(ObjKey, Value)]) -> Result<Vec<Vec<String>>, String> {
        waves(objs.iter().map(|(k, v)| (k, v)))
            .map(|ws| ws.into_iter().map(|w| w.apps).collect())
            .map_err(|e| e.message)
    }

    #[test]
    fn no_declared_order_is_no_wave() {
        assert_eq!(run(&[obj("a", "a", None), obj("b", "b", None)]), Ok(vec![]));
        // An app waiting for one this build does not emit waits for nothing.
        assert_eq!(run(&[obj("a", "a", Some("gone"))]), Ok(vec![]));
    }

    #[test]
    fn waves_follow_the_longest_chain() {
        let objs = [
            obj("db", "db", None),
            obj("cache", "cache", Some("db")),
            obj("api", "api", Some("db,cache")),
            obj("api-svc", "api", Some("db,cache")),
            obj("web", "web", None),
        ];
        assert_eq!(run(&objs), Ok(vec![vec!["db".into(), "web".into()], vec!["cache".into()], vec!["api".into()]]));
    }

    #[test]
    fn a_cycle_is_an_error_not_a_hang() {
        let objs = [obj("a", "a", Some("b")), obj("b", "b", Some("c")), obj("c", "c", Some("a"))];
        assert_eq!(run(&objs), Err("the manifests declare an apply order cycle: a → b → c → a".into()));
    }
}
