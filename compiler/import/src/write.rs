//! The package text: `kdep.toml`, one module per app and the `shared` module, each formatted
//! by kdep's own formatter (so the output is what `kdep fmt` leaves alone).

use std::collections::{BTreeMap, BTreeSet};

use kdep_diag::FileId;

use crate::kinds::TypedKinds;
use crate::node::{self, Node};
use crate::plan::{App, FieldKind, Plan, SHARED};
use crate::read::Object;

/// The module of the container port and environment variable types of template fields.
const CORE_MODULE: &str = "k8s.core.v1";
use crate::{Config, Input, Package};

/// The name a file imports `module` under: its group label (`apps` for `k8s.apps.v1`), or
/// label and version when the file uses two versions of one group.
fn aliases(modules: &BTreeSet<&str>) -> BTreeMap<String, String> {
    let label = |m: &str| m.split('.').nth(1).unwrap_or(m).to_owned();
    modules
        .iter()
        .map(|m| {
            let shared = modules.iter().filter(|other| label(other) == label(m)).count() > 1;
            let alias = if shared { m.trim_start_matches("k8s.").replace('.', "_") } else { label(m) };
            ((*m).to_owned(), alias)
        })
        .collect()
}

pub(crate) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic()) && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub(crate) fn package(
    plan: &Plan,
    objects: &[Object],
    inputs: &[Input<'_>],
    kinds: &TypedKinds,
    config: &Config,
) -> Result<Package, String> {
    let mut files = BTreeMap::new();
    let mut toml = format!(
        "# Imported by `kdep import manifests`; build with `kdep build`.\n[package]\nname = \"{}\"\nversion = \"0.1.0\"\n",
        config.package_name
    );
    // The input names these namespaces itself; listing them lets the objects keep them when the
    // package is built for an environment with another namespace (`compiler/sema/src/permit.rs`).
    let namespaces: BTreeSet<&str> = objects.iter().filter_map(|o| o.namespace.as_deref()).collect();
    if !namespaces.is_empty() {
        let list: Vec<String> = namespaces.iter().map(|ns| toml_string(ns)).collect();
        toml.push_str(&format!("\n[permissions]\nnamespaces = [{}]\n", list.join(", ")));
    }
    files.insert("kdep.toml".to_owned(), toml);
    if !plan.shared.is_empty() {
        let mut out = String::from("// Records repeated across the imported workloads, shared by name.\n");
        for shared in &plan.shared {
            let users: Vec<&str> = shared.used_by.iter().map(String::as_str).collect();
            out.push_str(&format!("\n/// Used by {}.\nlet {} = ", users.join(", "), shared.name));
            node::write(&mut out, &shared.value, 0);
            out.push('\n');
        }
        files.insert(format!("{SHARED}.kdep"), format_text(&format!("{SHARED}.kdep"), &out)?);
    }
    for app in &plan.apps {
        let path = format!("{}.kdep", app.name);
        let text = app_module(app, objects, inputs, kinds, config);
        files.insert(path.clone(), format_text(&path, &text)?);
    }
    Ok(Package { files, objects: objects.len(), apps: plan.apps.len() })
}

fn format_text(path: &str, text: &str) -> Result<String, String> {
    kdep_syntax::format::format(FileId(0), text).map_err(|diags| {
        let first = diags.first().map(|d| d.message.clone()).unwrap_or_default();
        format!("the generated module `{path}` does not parse ({first})")
    })
}

fn app_module(app: &App, objects: &[Object], inputs: &[Input<'_>], kinds: &TypedKinds, config: &Config) -> String {
    // (module, schema) of a typed object; `kinds` is empty when emits are untyped.
    let typed = |object: &Object| {
        kinds.get(&(object.api_version.clone(), object.kind.clone())).map(|(m, s)| (m.as_str(), s.as_str()))
    };
    let mut modules: BTreeSet<&str> = BTreeSet::new();
    for (i, _) in &app.emits {
        if let Some(object) = objects.get(*i) {
            modules.extend(typed(object).map(|(m, _)| m));
        }
    }
    let core_fields = config.typed && app.fields.iter().any(|f| matches!(f.kind, FieldKind::Ports | FieldKind::Env));
    if core_fields {
        modules.insert(CORE_MODULE);
    }
    let aliases = aliases(&modules);
    let alias = |module: &str| aliases.get(module).cloned().unwrap_or_else(|| module.to_owned());
    let uses_shared = app.emits.iter().any(|(_, body)| mentions_shared(body));

    let mut out = String::new();
    let described: Vec<String> =
        app.emits.iter().filter_map(|(i, _)| objects.get(*i)).map(|o| format!("{} `{}`", o.kind, o.name)).collect();
    let sources: BTreeSet<&str> = app
        .emits
        .iter()
        .filter_map(|(i, _)| objects.get(*i))
        .filter_map(|o| inputs.get(o.file))
        .map(|input| base_name(input.name))
        .collect();
    let sources: Vec<String> = sources.iter().map(|s| s.to_string()).collect();
    out.push_str(&format!("// Imported by `kdep import manifests` from {}.\n", join_words(&sources)));
    for module in &modules {
        out.push_str(&format!("import {module} as {}\n", alias(module)));
    }
    if uses_shared {
        out.push_str(&format!("import {SHARED}\n"));
    }
    out.push('\n');
    out.push_str(&format!("/// {}.\n", join_words(&described)));
    let mut dropped: Vec<&str> = app
        .emits
        .iter()
        .filter_map(|(i, _)| objects.get(*i))
        .flat_map(|o| o.dropped.iter().map(String::as_str))
        .collect();
    dropped.sort_unstable();
    dropped.dedup();
    if !dropped.is_empty() {
        let keys: Vec<String> = dropped.iter().map(|k| format!("`{k}`")).collect();
        out.push_str(&format!(
            "///\n/// Left out of the imported objects because kdep or the cluster sets {}: {}.\n",
            if keys.len() == 1 { "it" } else { "them" },
            join_words(&keys),
        ));
    }
    out.push_str(&format!("template {} {{\n", app.template));
    for field in &app.fields {
        let ty = match (field.kind, core_fields) {
            (FieldKind::Replicas, _) => "int".to_owned(),
            (FieldKind::Image, _) => "string".to_owned(),
            (FieldKind::Ports, true) => format!("[{}.ContainerPort]", alias(CORE_MODULE)),
            (FieldKind::Env, true) => format!("[{}.EnvVar]", alias(CORE_MODULE)),
            (FieldKind::Ports | FieldKind::Env, false) => "[any]".to_owned(),
        };
        node::indent(&mut out, 1);
        out.push_str(&format!("{}: {ty}\n", field.name));
    }
    for (i, body) in &app.emits {
        let Some(object) = objects.get(*i) else { continue };
        out.push('\n');
        // Where the object came from, so a diagnostic on the generated line leads back to it.
        if let Some(input) = inputs.get(object.file) {
            node::indent(&mut out, 1);
            out.push_str(&format!("// From {}:{}.\n", base_name(input.name), object.line));
        }
        node::indent(&mut out, 1);
        match (typed(object), body) {
            (Some((module, schema)), Node::Obj(entries)) => {
                out.push_str(&format!("emit {}.{schema} {{\n", alias(module)));
                let rest: Vec<(String, Node)> =
                    entries.iter().filter(|(k, _)| k != "apiVersion" && k != "kind").cloned().collect();
                node::write_entries(&mut out, &rest, 2);
                node::indent(&mut out, 1);
                out.push('}');
            }
            _ => {
                out.push_str("emit ");
                node::write(&mut out, body, 1);
            }
        }
        out.push('\n');
    }
    out.push_str("}\n\n");
    out.push_str(&format!("app {} = {} {{\n", app.name, app.template));
    for field in &app.fields {
        node::indent(&mut out, 1);
        out.push_str(&field.name);
        out.push_str(" = ");
        node::write(&mut out, &field.value, 1);
        out.push('\n');
    }
    out.push_str("}\n");
    out
}

fn mentions_shared(node: &Node) -> bool {
    match node {
        Node::Ref(name) => name.starts_with(&format!("{SHARED}.")),
        Node::List(items) => items.iter().any(mentions_shared),
        Node::Obj(entries) => entries.iter().any(|(_, v)| mentions_shared(v)),
        _ => false,
    }
}

/// A file name without its folders, so the text does not depend on where the import ran.
fn base_name(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

/// A TOML basic string.
fn toml_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `a`, `a and b`, `a, b and c`.
fn join_words(words: &[String]) -> String {
    match words {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}
