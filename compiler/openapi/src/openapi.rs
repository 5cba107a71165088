//! OpenAPI v3 documents (one per served group-version) to the modules of the requested
//! group-versions, plus every module their schemas reference.
//!
//! Roots are the kinds of the requested group-versions that the documents' `paths` serve
//! (`*List` kinds and the apimachinery kinds every group serves, such as `WatchEvent` and
//! `DeleteOptions`, are not roots); everything they reference follows. The scope of a kind is
//! Namespaced when one of its operations lives under `/namespaces/{namespace}/`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::convert::{description, Converter, RefTarget, Refs, Root};
use crate::model::{print_modules, ModuleBody, ModulePath, Ty};
use crate::{group_label, Error, Module};

/// One OpenAPI v3 document and the file name it came from.
#[derive(Debug, Clone, Copy)]
pub struct OpenApiInput<'a> {
    pub file: &'a str,
    pub doc: &'a Value,
}

const REF_PREFIXES: [&str; 2] = ["#/components/schemas/", "#/definitions/"];

/// Component schemas every document shares, by definition name: (file, schema).
type Definitions<'a> = BTreeMap<&'a str, (&'a str, &'a Value)>;

/// The module a definition belongs to: `io.k8s.api.apps.v1.Deployment` → `apps.v1`,
/// `io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta` → `meta.v1`.
fn definition_module(def: &str) -> Option<(ModulePath, String)> {
    let mut parts: Vec<&str> = def.split('.').collect();
    let name = parts.pop()?;
    let version = parts.pop()?;
    let group = parts.pop()?;
    Some((
        ModulePath::new(crate::module_segment(group), crate::module_segment(version)),
        crate::convert::type_name(name),
    ))
}

/// Apimachinery types with a kdep built-in meaning.
fn builtin(def: &str) -> Option<Ty> {
    match def {
        "io.k8s.apimachinery.pkg.api.resource.Quantity" => Some(Ty::Prim("quantity")),
        "io.k8s.apimachinery.pkg.util.intstr.IntOrString" => Some(Ty::IntOrString),
        "io.k8s.apimachinery.pkg.apis.meta.v1.Time" | "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime" => {
            Some(Ty::DateTime)
        }
        "io.k8s.apimachinery.pkg.runtime.RawExtension" => Some(Ty::Prim("any")),
        _ => None,
    }
}

/// Whether a definition becomes a named schema (an object with properties) rather than a
/// type written in place.
fn is_named(schema: &Value) -> bool {
    schema.get("properties").and_then(Value::as_object).is_some_and(|p| !p.is_empty())
}

struct Resolver<'a> {
    defs: &'a Definitions<'a>,
    /// Named definitions referenced so far (the work list of the closure).
    wanted: BTreeSet<String>,
}

impl Refs for Resolver<'_> {
    fn resolve(&mut self, reference: &str) -> Result<RefTarget, String> {
        let Some(def) = REF_PREFIXES.iter().find_map(|p| reference.strip_prefix(p)) else {
            return Err(format!("unsupported `$ref` `{reference}` (only local component schemas)"));
        };
        if let Some(ty) = builtin(def) {
            return Ok(RefTarget::Inline(ty));
        }
        let Some((_, schema)) = self.defs.get(def) else {
            return Err(format!("`$ref` to unknown schema `{def}`"));
        };
        if !is_named(schema) {
            return Ok(RefTarget::Node((*schema).clone()));
        }
        let Some((module, name)) = definition_module(def) else {
            return Err(format!("cannot place schema `{def}` in a module"));
        };
        self.wanted.insert(def.to_string());
        Ok(RefTarget::Named(module, name))
    }
}

/// `(group, version, kind)` of a definition's `x-kubernetes-group-version-kind` entries.
fn gvks(schema: &Value) -> Vec<(String, String, String)> {
    let field = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    schema
        .get("x-kubernetes-group-version-kind")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|g| (field(g, "group"), field(g, "version"), field(g, "kind")))
        .collect()
}

/// GVK → namespaced, from the operations in `paths`.
fn scopes(inputs: &[OpenApiInput<'_>]) -> BTreeMap<(String, String, String), bool> {
    let mut out: BTreeMap<(String, String, String), bool> = BTreeMap::new();
    for input in inputs {
        let Some(paths) = input.doc.get("paths").and_then(Value::as_object) else { continue };
        for (path, item) in paths {
            let namespaced = path.contains("/namespaces/{namespace}/");
            let Some(item) = item.as_object() else { continue };
            for op in item.values() {
                let Some(gvk) = op.get("x-kubernetes-group-version-kind") else { continue };
                let field = |k: &str| gvk.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
                let entry = out.entry((field("group"), field("version"), field("kind"))).or_default();
                *entry |= namespaced;
            }
        }
    }
    out
}

/// Converts the documents to the modules of `targets` (group label, version) and every module
/// they reference, sorted by module path. `header` gives each module's `//` header lines from
/// its module path and the files its schemas came from.
pub fn openapi_modules(
    inputs: &[OpenApiInput<'_>],
    targets: &[ModulePath],
    header: &dyn Fn(&ModulePath, &[String]) -> Vec<String>,
) -> Result<Vec<Module>, Vec<Error>> {
    let mut errors = Vec::new();
    let mut defs: Definitions<'_> = BTreeMap::new();
    for input in inputs {
        let schemas =
            input.doc.get("components").and_then(|c| c.get("schemas")).or_else(|| input.doc.get("definitions"));
        let Some(schemas) = schemas.and_then(Value::as_object) else {
            errors.push(Error {
                file: input.file.to_string(),
                path: "components.schemas".into(),
                message: "not an OpenAPI v3 document: no component schemas".into(),
            });
            continue;
        };
        for (name, schema) in schemas {
            defs.entry(name.as_str()).or_insert((input.file, schema));
        }
    }
    let scopes = scopes(inputs);

    // The roots: served kinds of the target group-versions.
    let mut resources: BTreeMap<String, (String, String, String)> = BTreeMap::new();
    for (def, (_, schema)) in &defs {
        let Some((module, name)) = definition_module(def) else { continue };
        if !targets.contains(&module) || name.ends_with("List") {
            continue;
        }
        for (group, version, kind) in gvks(schema) {
            if group_label(&group) != module.label || version != module.version {
                continue;
            }
            let Some(namespaced) = scopes.get(&(group.clone(), version.clone(), kind.clone())) else { continue };
            let api_version = if group.is_empty() { version.clone() } else { format!("{group}/{version}") };
            let scope = if *namespaced { "Namespaced" } else { "Cluster" };
            resources.insert(def.to_string(), (api_version, kind, scope.to_string()));
        }
    }

    let mut bodies: BTreeMap<ModulePath, ModuleBody> = BTreeMap::new();
    let mut taken: BTreeMap<ModulePath, BTreeSet<String>> = BTreeMap::new();
    for def in defs.keys() {
        if let Some((module, name)) = definition_module(def) {
            taken.entry(module).or_default().insert(name);
        }
    }
    let mut resolver = Resolver { defs: &defs, wanted: resources.keys().cloned().collect() };
    let mut done: BTreeSet<String> = BTreeSet::new();
    while let Some(def) = resolver.wanted.iter().find(|d| !done.contains(*d)).cloned() {
        done.insert(def.clone());
        let Some(&(file, schema)) = defs.get(def.as_str()) else { continue };
        let Some((module, name)) = definition_module(&def) else { continue };
        let body = bodies.entry(module.clone()).or_default();
        body.sources.insert(file.to_string());
        let resource = resources.get(&def).cloned();
        let root = resource.as_ref().map(|_| Root { skip: vec!["apiVersion", "kind", "status"], crd: false });
        let mut module_taken = taken.remove(&module).unwrap_or_default();
        let mut converter = Converter {
            module: module.clone(),
            source: file.to_string(),
            body,
            taken: &mut module_taken,
            errors: &mut errors,
            refs: &mut resolver,
        };
        let path = format!("components.schemas.{def}");
        let mut converted = converter.object(&name, schema, &path, 0, root);
        let mut doc = description(schema);
        doc.append(&mut converted.doc);
        converted.doc = doc;
        converted.resource = resource;
        taken.insert(module.clone(), module_taken);
        bodies.entry(module).or_default().schemas.insert(name, converted);
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(print_modules(bodies, header))
}
