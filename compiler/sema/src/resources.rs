//! The Kubernetes kind registry: which `@resource` schema is `(apiVersion, kind)`, and its scope.
//!
//! Read from item indexes only (the attribute is header, not body): the schemas of every
//! module of every package (analysed ones first: the root package, what it imports), then the
//! stdlib module the naming rule gives for the apiVersion (`apps/v1` → `k8s.apps.v1`, `v1` →
//! `k8s.core.v1`, `cert-manager.io/v1` → `k8s.cert_manager.v1`), which is indexed (not
//! analysed) only when an object of that apiVersion is emitted.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::db::{Db, Project, SourceFile};
use crate::hir::Name;
use crate::index::{item_index, project_index, reachable_files, ItemKind};

/// The schema declaring a Kubernetes kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceEntry {
    pub file: SourceFile,
    pub name: Name,
    /// `scope = "Cluster"`.
    pub cluster: bool,
}

/// apiVersion → kind → schema, for the analysed modules. When two schemas declare one kind,
/// the first in analysis order (root package modules first) gives the schema, and the kind is
/// cluster-scoped if any of them says so: a package cannot make a kind that another package
/// declares cluster-scoped pass as namespaced (which would dodge `cluster-scoped = false`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ResourceRegistry {
    pub kinds: FxHashMap<Name, FxHashMap<Name, ResourceEntry>>,
}

/// Project-wide: compute it before parallel work (`kdep_eval::prepare`). Depends only on the
/// module list and item indexes, so editing a body never re-runs it.
#[salsa::tracked(returns(clone))]
pub fn resource_registry(db: &dyn Db, project: Project) -> Arc<ResourceRegistry> {
    let mut out = ResourceRegistry::default();
    // The analysed modules first (their declarations give the schema), then every other module
    // of every package but the stdlib: a platform's CRD module declares its kinds' scope even
    // when the package emitting them never imports it.
    let reachable = reachable_files(db, project);
    let seen: rustc_hash::FxHashSet<SourceFile> = reachable.iter().copied().collect();
    let index = project_index(db, project);
    let others = index
        .packages
        .iter()
        .filter(|p| !p.is_stdlib)
        .flat_map(|p| p.modules.values().copied())
        .filter(|f| !seen.contains(f));
    let files: Vec<SourceFile> = reachable.iter().copied().chain(others).collect();
    for file in &files {
        let items = item_index(db, *file);
        for (name, header) in &items.items {
            let Some(r) = header.resource.as_ref().filter(|_| header.kind == ItemKind::Schema) else { continue };
            out.kinds
                .entry(r.api_version.clone())
                .or_default()
                .entry(r.kind.clone())
                .and_modify(|e| e.cluster |= r.cluster)
                .or_insert_with(|| ResourceEntry { file: *file, name: name.clone(), cluster: r.cluster });
        }
    }
    Arc::new(out)
}

/// The stdlib module that holds the generated types of an apiVersion: `k8s.<label>.<version>`,
/// where the label is `core` for the core group and otherwise the group's first dot-separated
/// label with `-` replaced by `_`.
pub fn stdlib_module(api_version: &str) -> String {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let label = match group.split('.').next() {
        None | Some("") => "core",
        Some(label) => label,
    };
    // Built by pushes rather than `format!`: every emitted object looks its kind up here.
    let mut out = String::with_capacity(5 + label.len() + version.len());
    out.push_str("k8s.");
    out.extend(label.chars().map(|c| if c == '-' { '_' } else { c }));
    out.push('.');
    out.push_str(version);
    out
}

/// The schema of `(api_version, kind)`, if any. The Kubernetes library's declaration comes
/// first: it is generated from the official API, so a package that redeclares a built-in kind
/// (looser, `@open`, or namespaced where the API says cluster) changes neither its schema nor
/// its scope. Kinds the library does not know come from the analysed modules.
pub fn resource_schema(db: &dyn Db, project: Project, api_version: &str, kind: &str) -> Option<ResourceEntry> {
    if let Some(entry) = stdlib_resource(db, project, api_version, kind) {
        return Some(entry);
    }
    let registry = resource_registry(db, project);
    registry.kinds.get(api_version).and_then(|k| k.get(kind)).cloned()
}

/// The stdlib's schema of `(api_version, kind)`: the module the naming rule gives, indexed only
/// when an object of that apiVersion is looked up.
fn stdlib_resource(db: &dyn Db, project: Project, api_version: &str, kind: &str) -> Option<ResourceEntry> {
    let index = project_index(db, project);
    let stdlib = index.packages.get(index.stdlib?)?;
    let file = *stdlib.modules.get(&stdlib_module(api_version))?;
    module_resources(db, file).kinds.get(api_version)?.get(kind).cloned()
}

/// One module's `@resource` schemas by apiVersion and kind; the first declaration of a kind
/// wins, as in the module's item order. A stdlib module declares hundreds of schemas and every
/// emitted object looks its kind up, so the lookup is a table, not a scan of the item index.
#[salsa::tracked(returns(clone))]
fn module_resources(db: &dyn Db, file: SourceFile) -> Arc<ResourceRegistry> {
    let mut out = ResourceRegistry::default();
    for (name, h) in &item_index(db, file).items {
        let Some(r) = h.resource.as_ref().filter(|_| h.kind == ItemKind::Schema) else { continue };
        out.kinds.entry(r.api_version.clone()).or_default().entry(r.kind.clone()).or_insert_with(|| ResourceEntry {
            file,
            name: name.clone(),
            cluster: r.cluster,
        });
    }
    Arc::new(out)
}

#[cfg(test)]
mod tests {
    use super::stdlib_module;

    #[test]
    fn stdlib_modules_follow_the_naming_rule() {
        assert_eq!(stdlib_module("v1"), "k8s.core.v1");
        assert_eq!(stdlib_module("apps/v1"), "k8s.apps.v1");
        assert_eq!(stdlib_module("networking.k8s.io/v1"), "k8s.networking.v1");
        assert_eq!(stdlib_module("rbac.authorization.k8s.io/v1"), "k8s.rbac.v1");
        assert_eq!(stdlib_module("cert-manager.io/v1"), "k8s.cert_manager.v1");
        assert_eq!(stdlib_module("argoproj.io/v1alpha1"), "k8s.argoproj.v1alpha1");
        assert_eq!(stdlib_module("autoscaling/v2"), "k8s.autoscaling.v2");
    }
}
