//! What the package holds: which objects each app emits, the template fields taken out of the
//! workloads, and the structure shared between templates.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::node::{self, Node};
use crate::read::Object;

/// The module (and app) of the objects that belong to no workload.
pub(crate) const COMMON: &str = "common";
/// The module of the shared `let`s.
pub(crate) const SHARED: &str = "shared";

#[derive(Debug)]
pub(crate) struct Plan {
    pub apps: Vec<App>,
    /// `let`s of the `shared` module: name and value, in order of first use.
    pub shared: Vec<Shared>,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub name: String,
    pub value: Node,
    /// Apps (by name) whose templates use it.
    pub used_by: BTreeSet<String>,
}

#[derive(Debug)]
pub(crate) struct App {
    /// App name, also its module name: an identifier.
    pub name: String,
    /// Its template's name (PascalCase).
    pub template: String,
    pub fields: Vec<Field>,
    /// The emitted objects (indexes into the objects) with their bodies, the workload first.
    pub emits: Vec<(usize, Node)>,
}

#[derive(Debug)]
pub(crate) struct Field {
    pub name: String,
    pub kind: FieldKind,
    /// The manifest's value: the app's setting.
    pub value: Node,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FieldKind {
    Replicas,
    Image,
    Ports,
    Env,
}

/// Where the pod template of a workload kind is, or `None` for other kinds.
fn pod_template_path(object: &Object) -> Option<&'static [&'static str]> {
    match (object.group(), object.kind.as_str()) {
        ("apps", "Deployment" | "StatefulSet" | "DaemonSet") | ("batch", "Job") => Some(&["spec", "template"]),
        ("batch", "CronJob") => Some(&["spec", "jobTemplate", "spec", "template"]),
        _ => None,
    }
}

pub(crate) fn plan(objects: &[Object]) -> Plan {
    let workloads: Vec<usize> =
        (0..objects.len()).filter(|&i| objects.get(i).is_some_and(|o| pod_template_path(o).is_some())).collect();
    let mut members: Vec<Vec<usize>> = workloads.iter().map(|&w| vec![w]).collect();
    let mut common = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        if pod_template_path(object).is_some() {
            continue;
        }
        match owner(object, objects, &workloads) {
            Some(slot) => {
                if let Some(m) = members.get_mut(slot) {
                    m.push(i);
                }
            }
            None => common.push(i),
        }
    }

    let mut taken: HashSet<String> = [COMMON, SHARED].iter().map(|s| (*s).to_owned()).collect();
    let mut apps = Vec::new();
    for group in members {
        let Some(workload) = group.first().and_then(|&w| objects.get(w)) else { continue };
        let name = unique(&mut taken, &identifier(&workload.name), &workload.kind.to_ascii_lowercase());
        let mut emits: Vec<(usize, Node)> =
            group.iter().filter_map(|&i| objects.get(i).map(|o| (i, o.body.clone()))).collect();
        let fields = match emits.first_mut() {
            Some((_, body)) => extract_fields(workload, body),
            None => Vec::new(),
        };
        apps.push(App { template: pascal(&name), name, fields, emits });
    }
    if !common.is_empty() {
        let emits = common.iter().filter_map(|&i| objects.get(i).map(|o| (i, o.body.clone()))).collect();
        apps.push(App { name: COMMON.into(), template: pascal(COMMON), fields: Vec::new(), emits });
    }
    dedupe_templates(&mut apps);
    let shared = factor(&mut apps);
    Plan { apps, shared }
}

/// The index in `workloads` of the workload `object` belongs to; see the crate documentation.
/// Rules are tried in order over all workloads, so a Service named like one workload but
/// selecting another's pods goes with the one it is named after.
fn owner(object: &Object, objects: &[Object], workloads: &[usize]) -> Option<usize> {
    let candidates: Vec<(usize, &Object)> = workloads
        .iter()
        .enumerate()
        .filter_map(|(slot, &w)| objects.get(w).map(|o| (slot, o)))
        .filter(|(_, w)| w.namespace == object.namespace)
        .collect();
    let by_name = candidates.iter().find(|(_, w)| w.name == object.name);
    let by_selector = || {
        let selector = match (object.group(), object.kind.as_str()) {
            ("", "Service") => object.body.get_path(&["spec", "selector"]),
            ("policy", "PodDisruptionBudget") => object.body.get_path(&["spec", "selector", "matchLabels"]),
            ("networking.k8s.io", "NetworkPolicy") => object.body.get_path(&["spec", "podSelector", "matchLabels"]),
            _ => None,
        };
        let selector = selector.map(Node::string_pairs).unwrap_or_default();
        if selector.is_empty() {
            return None;
        }
        candidates.iter().find(|(_, w)| {
            let labels = pod_template_path(w)
                .and_then(|p| w.body.get_path(p))
                .and_then(|t| t.get_path(&["metadata", "labels"]))
                .map(Node::string_pairs)
                .unwrap_or_default();
            selector.iter().all(|pair| labels.contains(pair))
        })
    };
    let by_scale_target = || {
        let target =
            object.body.get_path(&["spec", "scaleTargetRef"]).filter(|_| object.kind == "HorizontalPodAutoscaler")?;
        let (kind, name) = (target.get("kind")?.as_str()?, target.get("name")?.as_str()?);
        candidates.iter().find(|(_, w)| w.kind == kind && w.name == name)
    };
    let by_reference = || {
        candidates.iter().find(|(_, w)| {
            let mut refs = Vec::new();
            if let Some(spec) = pod_template_path(w).and_then(|p| w.body.get_path(p)).and_then(|t| t.get("spec")) {
                references(spec, &mut refs);
            }
            refs.iter().any(|(kind, name)| *kind == object.kind && *name == object.name && object.group().is_empty())
        })
    };
    by_name.or_else(by_selector).or_else(by_scale_target).or_else(by_reference).map(|(slot, _)| *slot)
}

/// The (kind, name) of the core objects a pod spec names: its ServiceAccount, and the
/// ConfigMaps, Secrets and PersistentVolumeClaims of its volumes, environment and pull secrets.
fn references<'a>(node: &'a Node, out: &mut Vec<(&'static str, &'a str)>) {
    match node {
        Node::Obj(entries) => {
            for (key, value) in entries {
                let named = |field: &str| value.get(field).and_then(Node::as_str);
                let found = match key.as_str() {
                    "serviceAccountName" | "serviceAccount" => value.as_str().map(|n| ("ServiceAccount", n)),
                    "configMap" | "configMapRef" | "configMapKeyRef" => named("name").map(|n| ("ConfigMap", n)),
                    "secret" => named("secretName").or_else(|| named("name")).map(|n| ("Secret", n)),
                    "secretRef" | "secretKeyRef" => named("name").map(|n| ("Secret", n)),
                    "persistentVolumeClaim" => named("claimName").map(|n| ("PersistentVolumeClaim", n)),
                    "imagePullSecrets" => {
                        for item in value.as_list().unwrap_or_default() {
                            if let Some(n) = item.get("name").and_then(Node::as_str) {
                                out.push(("Secret", n));
                            }
                        }
                        None
                    }
                    _ => None,
                };
                out.extend(found);
                references(value, out);
            }
        }
        Node::List(items) => items.iter().for_each(|item| references(item, out)),
        _ => {}
    }
}

/// Replaces the values a developer changes by references to template fields, returning the
/// fields with the replaced values.
fn extract_fields(workload: &Object, body: &mut Node) -> Vec<Field> {
    let mut fields = Vec::new();
    if matches!(workload.kind.as_str(), "Deployment" | "StatefulSet") {
        if let Some(replicas) = body.get_path_mut(&["spec", "replicas"]).filter(|n| matches!(n, Node::Int(_))) {
            let value = std::mem::replace(replicas, Node::Ref("replicas".into()));
            fields.push(Field { name: "replicas".into(), kind: FieldKind::Replicas, value });
        }
    }
    let Some(spec) = pod_template_path(workload).and_then(|p| body.get_path_mut(p)).and_then(|t| t.get_mut("spec"))
    else {
        return fields;
    };
    let count = |key: &str, spec: &Node| spec.get(key).and_then(Node::as_list).map_or(0, <[Node]>::len);
    let total = count("containers", spec) + count("initContainers", spec);
    let mut taken: HashSet<String> = fields.iter().map(|f| f.name.clone()).collect();
    for list in ["initContainers", "containers"] {
        let Some(Node::List(containers)) = spec.get_mut(list) else { continue };
        for (index, container) in containers.iter_mut().enumerate() {
            let prefix = if total == 1 {
                String::new()
            } else {
                match container.get("name").and_then(Node::as_str) {
                    Some(name) => format!("{}_", identifier(name)),
                    None => format!("{}_{index}_", identifier(list)),
                }
            };
            for (key, kind) in [("image", FieldKind::Image), ("ports", FieldKind::Ports), ("env", FieldKind::Env)] {
                let Some(slot) = container.get_mut(key) else { continue };
                let fits = match kind {
                    FieldKind::Image => matches!(slot, Node::Str(_)),
                    _ => matches!(slot, Node::List(_)),
                };
                if !fits {
                    continue;
                }
                let name = unique(&mut taken, &format!("{prefix}{key}"), list);
                let value = std::mem::replace(slot, Node::Ref(name.clone()));
                fields.push(Field { name, kind, value });
            }
        }
    }
    fields
}

/// Keys whose values are never factored out: they name the object and its pods (reading them
/// in place matters more than brevity), or size one app, so they are its own to change.
const NOT_SHARED: &[&str] = &["metadata", "labels", "annotations", "selector", "matchLabels", "resources"];

/// A record needs this many values to be worth a shared name.
const MIN_SHARED_LEAVES: usize = 3;

/// Moves records repeated in two or more templates into shared `let`s; see the crate docs.
fn factor(apps: &mut [App]) -> Vec<Shared> {
    // Text of a candidate record → the apps containing it.
    let mut seen: HashMap<String, BTreeSet<usize>> = HashMap::new();
    for (i, app) in apps.iter().enumerate() {
        for (_, body) in &app.emits {
            visit(body, None, &mut |node, _| {
                seen.entry(node::text(node)).or_default().insert(i);
            });
        }
    }
    let mut shared: Vec<Shared> = Vec::new();
    let mut names: HashMap<String, usize> = HashMap::new();
    let mut taken: HashSet<String> = HashSet::new();
    for app in apps.iter_mut() {
        let app_name = app.name.clone();
        for (_, body) in &mut app.emits {
            replace(body, &[], &mut |node, path| {
                let text = node::text(node);
                if seen.get(&text).is_none_or(|apps| apps.len() < 2) {
                    return None;
                }
                let index = *names.entry(text).or_insert_with(|| {
                    let name = unique(&mut taken, &shared_name(path), "value");
                    shared.push(Shared { name, value: node.clone(), used_by: BTreeSet::new() });
                    shared.len() - 1
                });
                let entry = shared.get_mut(index)?;
                entry.used_by.insert(app_name.clone());
                Some(format!("{SHARED}.{}", entry.name))
            });
        }
    }
    shared
}

fn is_candidate(node: &Node, key: Option<&str>) -> bool {
    matches!(node, Node::Obj(_))
        && key.is_some_and(|k| !NOT_SHARED.contains(&k))
        && node.leaves() >= MIN_SHARED_LEAVES
        && !node.has_ref()
}

/// Calls `f` on every candidate record, nested ones too.
fn visit(node: &Node, key: Option<&str>, f: &mut dyn FnMut(&Node, Option<&str>)) {
    if is_candidate(node, key) {
        f(node, key);
    }
    match node {
        Node::Obj(entries) => entries.iter().for_each(|(k, v)| visit(v, Some(k), f)),
        // A list item is not a field: it is never named on its own, so it counts as keyless.
        Node::List(items) => items.iter().for_each(|item| visit(item, None, f)),
        _ => {}
    }
}

/// Replaces, top-down, each candidate record for which `f` returns a name by a reference to it.
fn replace(node: &mut Node, path: &[String], f: &mut dyn FnMut(&Node, &[String]) -> Option<String>) {
    let key = path.last().map(String::as_str);
    if is_candidate(node, key) {
        if let Some(name) = f(node, path) {
            *node = Node::Ref(name);
            return;
        }
    }
    match node {
        Node::Obj(entries) => {
            for (k, v) in entries {
                let mut child = path.to_vec();
                child.push(k.clone());
                replace(v, &child, f);
            }
        }
        Node::List(items) => {
            for item in items {
                let mut child = path.to_vec();
                child.push("[]".into());
                replace(item, &child, f);
            }
        }
        _ => {}
    }
}

/// `pod_security_context` for `spec.template.spec.securityContext`, `container_security_context`
/// inside a container, else the key in snake case.
fn shared_name(path: &[String]) -> String {
    let key = path.last().map_or("value", String::as_str);
    let parents: Vec<&str> = path.iter().rev().skip(1).take(2).map(String::as_str).collect();
    let context = match parents.as_slice() {
        ["[]", "containers" | "initContainers" | "ephemeralContainers", ..] => "container_",
        ["spec", "template", ..] => "pod_",
        _ => "",
    };
    format!("{context}{}", snake(key))
}

/// Template names must differ too; app names already do, so only a case clash (`a_b` and `ab`
/// give `AB` and `Ab`, but `a_b` and `a__b` both give `AB`) needs a number.
fn dedupe_templates(apps: &mut [App]) {
    let mut taken = HashSet::new();
    for app in apps {
        app.template = unique(&mut taken, &app.template, "");
    }
}

/// `base` if not taken, else `base_<qualifier>`, else with a number; the result is taken.
fn unique(taken: &mut HashSet<String>, base: &str, qualifier: &str) -> String {
    let mut candidates = vec![base.to_owned()];
    if !qualifier.is_empty() {
        candidates.push(format!("{base}_{qualifier}"));
    }
    let mut n = 2;
    loop {
        if let Some(found) = candidates.iter().find(|c| !taken.contains(*c) && !is_keyword(c)) {
            let found = found.clone();
            taken.insert(found.clone());
            return found;
        }
        candidates = vec![format!("{base}{n}")];
        n += 1;
    }
}

/// Words kdep reserves (the lexer's keywords) and the type name `any`: generated names avoid
/// all of them, even where a keyword would parse.
fn is_keyword(name: &str) -> bool {
    kdep_syntax::format::is_keyword(name) || name == "any"
}

/// A Kubernetes name as a kdep identifier: `redis-cart` → `redis_cart`; a leading digit gets
/// `w_` in front.
pub(crate) fn identifier(name: &str) -> String {
    let mut out: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
    if !out.starts_with(|c: char| c.is_ascii_alphabetic()) {
        out.insert_str(0, "w_");
    }
    out
}

/// `redis_cart` → `RedisCart`.
fn pascal(name: &str) -> String {
    name.split('_')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect()
}

/// `securityContext` → `security_context`.
fn snake(key: &str) -> String {
    let mut out = String::new();
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            if !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let out = out.trim_matches('_').to_owned();
    if out.starts_with(|c: char| c.is_ascii_alphabetic()) {
        out
    } else {
        format!("v_{out}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(identifier("redis-cart"), "redis_cart");
        assert_eq!(identifier("1password"), "w_1password");
        assert_eq!(pascal("redis_cart"), "RedisCart");
        assert_eq!(snake("securityContext"), "security_context");
        assert_eq!(snake("x-foo.bar"), "x_foo_bar");
        let mut taken = HashSet::new();
        assert_eq!(unique(&mut taken, "web", "job"), "web");
        assert_eq!(unique(&mut taken, "web", "job"), "web_job");
        assert_eq!(unique(&mut taken, "web", "job"), "web2");
        assert_eq!(unique(&mut taken, "template", ""), "template2");
    }

    #[test]
    fn shared_names_say_where_the_record_is() {
        let path = |p: &str| p.split('.').map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(shared_name(&path("spec.template.spec.securityContext")), "pod_security_context");
        assert_eq!(
            shared_name(&path("spec.template.spec.containers.[].securityContext")),
            "container_security_context"
        );
        assert_eq!(shared_name(&path("spec.strategy")), "strategy");
    }
}
