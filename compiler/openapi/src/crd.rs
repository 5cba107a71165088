//! CustomResourceDefinitions to modules: one per group label and version, several CRDs of one
//! group-version merged into one module.
//!
//! Every document is validated before anything is produced, so a caller that writes only on
//! `Ok` never leaves partial output.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::convert::{description, Converter, RefTarget, Refs, Root};
use crate::model::{print_modules, ModuleBody, ModulePath};
use crate::{group_label, Error, Module};

/// One parsed CRD document and the file it came from.
#[derive(Debug, Clone, Copy)]
pub struct CrdInput<'a> {
    pub file: &'a str,
    /// The document's index in its file (YAML streams hold several).
    pub index: usize,
    pub doc: &'a Value,
}

/// CRD schemas are self-contained: a `$ref` is invalid there.
struct NoRefs;

impl Refs for NoRefs {
    fn resolve(&mut self, reference: &str) -> Result<RefTarget, String> {
        Err(format!("unsupported schema construct: `$ref` (`{reference}`) is not allowed in a CRD schema"))
    }
}

fn str_at<'a>(doc: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(doc, |v, k| v.get(*k)).and_then(Value::as_str)
}

/// Converts CRDs to modules sorted by module path. `header` gives each module's `//` header
/// lines from its module path and the files its CRDs came from.
pub fn crd_modules(
    inputs: &[CrdInput<'_>],
    header: &dyn Fn(&ModulePath, &[String]) -> Vec<String>,
) -> Result<Vec<Module>, Vec<Error>> {
    let mut errors = Vec::new();
    let mut bodies: BTreeMap<ModulePath, ModuleBody> = BTreeMap::new();
    let mut taken: BTreeMap<ModulePath, BTreeSet<String>> = BTreeMap::new();
    let mut kinds: BTreeMap<(ModulePath, String), String> = BTreeMap::new();
    // Kind names are reserved up front, so an inline schema of one CRD never takes the name of
    // a kind that a later CRD of the same module declares.
    for input in inputs {
        let (Some(group), Some(kind)) =
            (str_at(input.doc, &["spec", "group"]), str_at(input.doc, &["spec", "names", "kind"]))
        else {
            continue;
        };
        let versions = input.doc.get("spec").and_then(|s| s.get("versions")).and_then(Value::as_array);
        for name in versions.into_iter().flatten().filter_map(|v| v.get("name").and_then(Value::as_str)) {
            let module = ModulePath::new(group_label(group), crate::module_segment(name));
            taken.entry(module).or_default().insert(crate::convert::type_name(kind));
        }
    }
    for input in inputs {
        let at = |path: &str| {
            let doc = if input.index > 0 { format!("document {}, ", input.index + 1) } else { String::new() };
            format!("{doc}{path}")
        };
        let mut fail = |path: &str, message: String| {
            errors.push(Error { file: input.file.to_string(), path: at(path), message });
        };
        let doc = input.doc;
        if !doc.is_object() {
            fail("", "not a CustomResourceDefinition: the document is not a mapping".into());
            continue;
        }
        let kind = str_at(doc, &["kind"]).unwrap_or_default();
        if kind != "CustomResourceDefinition" {
            let found = if kind.is_empty() { "no `kind`".to_string() } else { format!("kind `{kind}`") };
            fail("kind", format!("not a CustomResourceDefinition ({found})"));
            continue;
        }
        let api_version = str_at(doc, &["apiVersion"]).unwrap_or_default();
        if api_version != "apiextensions.k8s.io/v1" {
            fail(
                "apiVersion",
                format!("unsupported CRD apiVersion `{api_version}` (expected `apiextensions.k8s.io/v1`)"),
            );
            continue;
        }
        let Some(group) = str_at(doc, &["spec", "group"]).filter(|g| !g.is_empty()) else {
            fail("spec.group", "the CRD has no `spec.group`".into());
            continue;
        };
        let Some(crd_kind) = str_at(doc, &["spec", "names", "kind"]).filter(|k| !k.is_empty()) else {
            fail("spec.names.kind", "the CRD has no `spec.names.kind`".into());
            continue;
        };
        let scope = match str_at(doc, &["spec", "scope"]) {
            Some(s @ ("Namespaced" | "Cluster")) => s,
            other => {
                let found = other.map_or("nothing".to_string(), |s| format!("`{s}`"));
                fail("spec.scope", format!("the CRD scope must be `Namespaced` or `Cluster`, found {found}"));
                continue;
            }
        };
        let Some(versions) = doc.get("spec").and_then(|s| s.get("versions")).and_then(Value::as_array) else {
            fail("spec.versions", "the CRD has no `spec.versions` list".into());
            continue;
        };
        if versions.is_empty() {
            fail("spec.versions", "the CRD has no versions".into());
        }
        let label = group_label(group);
        for (i, version) in versions.iter().enumerate() {
            let vpath = format!("spec.versions[{i}]");
            let Some(name) = version.get("name").and_then(Value::as_str).filter(|n| !n.is_empty()) else {
                errors.push(Error {
                    file: input.file.to_string(),
                    path: at(&format!("{vpath}.name")),
                    message: "the version has no name".into(),
                });
                continue;
            };
            let Some(schema) = version.get("schema").and_then(|s| s.get("openAPIV3Schema")) else {
                errors.push(Error {
                    file: input.file.to_string(),
                    path: at(&format!("{vpath}.schema.openAPIV3Schema")),
                    message: format!("version `{name}` of CRD `{crd_kind}` has no schema"),
                });
                continue;
            };
            let module = ModulePath::new(label.clone(), crate::module_segment(name));
            let type_name = crate::convert::type_name(crd_kind);
            if let Some(previous) = kinds.insert((module.clone(), type_name.clone()), input.file.to_string()) {
                errors.push(Error {
                    file: input.file.to_string(),
                    path: at(&vpath),
                    message: format!("kind `{crd_kind}` of `{}` is also defined in {previous}", module.dotted()),
                });
                continue;
            }
            let body = bodies.entry(module.clone()).or_default();
            body.sources.insert(input.file.to_string());
            let module_taken = taken.entry(module.clone()).or_default();
            module_taken.insert(type_name.clone());
            let mut refs = NoRefs;
            let spath = at(&format!("{vpath}.schema.openAPIV3Schema"));
            let mut converter = Converter {
                module: module.clone(),
                source: input.file.to_string(),
                body,
                taken: module_taken,
                errors: &mut errors,
                refs: &mut refs,
            };
            let root = Root { skip: vec!["apiVersion", "kind", "status"], crd: true };
            let mut schema = converter.object(&type_name, schema, &spath, 0, Some(root));
            let mut doc =
                description(version.get("schema").and_then(|s| s.get("openAPIV3Schema")).unwrap_or(&Value::Null));
            doc.append(&mut schema.doc);
            schema.doc = doc;
            let api_version = format!("{group}/{name}");
            schema.resource = Some((api_version, crd_kind.to_string(), scope.to_string()));
            bodies.entry(module).or_default().schemas.insert(type_name, schema);
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(print_modules(bodies, header))
}
