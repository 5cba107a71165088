//! Who may emit what: the namespace and kind rules of `[permissions]` in `kdep.toml`.
//!
//! Every namespaced object lands in the environment's namespace. An `emit` written in package P
//! may name another namespace only when P lists it in `[permissions] namespaces` and every
//! package P depends on (transitively) that declares `[permissions.dependents]` lists it there
//! too: dependencies narrow, a package never widens what a platform above it allows. The same
//! dependencies' `deny-kinds` and `cluster-scoped = false` forbid kinds in P's emits. Rules bind
//! the package an `emit` is *written* in, so a platform template instantiated by a team keeps
//! the platform's rights and a team template extending a platform one gets the team's.

use std::sync::Arc;

use kdep_diag::Code;

use crate::db::{Db, Package, Project, SourceFile};
use crate::index::project_index;

/// The effective rules for emits written in one package.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EmitRules {
    /// Namespaces besides the environment's that may be written.
    pub namespaces: Vec<String>,
    /// Kinds that may not be emitted, each with the package that forbids it.
    pub deny_kinds: Vec<(String, String)>,
    /// The package that forbids cluster-scoped objects, if one does.
    pub no_cluster_scoped: Option<String>,
}

/// A violation of [`EmitRules`]: its code, message and help.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmitViolation {
    pub code: Code,
    pub message: String,
    pub help: String,
}

/// The rules for emits written in `file`'s package.
#[salsa::tracked(returns(ref))]
pub fn emit_rules(db: &dyn Db, project: Project, file: SourceFile) -> Arc<EmitRules> {
    let index = project_index(db, project);
    let Some((pkg_idx, _)) = index.file_module.get(&file) else { return Arc::new(EmitRules::default()) };
    let Some(info) = index.packages.get(*pkg_idx) else { return Arc::new(EmitRules::default()) };
    if info.is_stdlib {
        // The standard library's templates are the platform's building blocks: they are bound
        // by the rules of the package that uses them only through that package's own emits.
        return Arc::new(EmitRules { namespaces: Vec::new(), deny_kinds: Vec::new(), no_cluster_scoped: None });
    }
    let own = info.package;
    let mut rules = EmitRules { namespaces: own.permissions(db).namespaces.clone(), ..EmitRules::default() };
    // Every package `own` depends on, transitively, each once.
    let mut seen: Vec<Package> = vec![own];
    let mut stack: Vec<Package> = own.deps(db).values().copied().collect();
    while let Some(dep) = stack.pop() {
        if seen.contains(&dep) {
            continue;
        }
        seen.push(dep);
        stack.extend(dep.deps(db).values().copied());
        let Some(d) = &dep.permissions(db).dependents else { continue };
        let by = dep.name(db).clone();
        rules.namespaces.retain(|n| d.namespaces.contains(n));
        for k in &d.deny_kinds {
            if !rules.deny_kinds.iter().any(|(x, _)| x == k) {
                rules.deny_kinds.push((k.clone(), by.clone()));
            }
        }
        if !d.cluster_scoped && rules.no_cluster_scoped.is_none() {
            rules.no_cluster_scoped = Some(by);
        }
    }
    Arc::new(rules)
}

impl EmitRules {
    /// Checks one emitted object: its kind, whether it is cluster-scoped, the namespace it
    /// names (`None`: none written, so the environment's applies) and the environment's.
    pub fn check(
        &self,
        kind: &str,
        cluster_scoped: bool,
        namespace: Option<&str>,
        env_namespace: Option<&str>,
    ) -> Option<EmitViolation> {
        if let Some((_, by)) = self.deny_kinds.iter().find(|(k, _)| k == kind) {
            return Some(EmitViolation {
                code: Code::FORBIDDEN_KIND,
                message: format!("package `{by}` does not allow its dependents to emit `{kind}`"),
                help: format!(
                    "use a template of `{by}` that emits it, or ask its owners (`deny-kinds` in its kdep.toml)"
                ),
            });
        }
        if cluster_scoped {
            if let Some(by) = &self.no_cluster_scoped {
                return Some(EmitViolation {
                    code: Code::FORBIDDEN_KIND,
                    message: format!(
                        "`{kind}` is cluster-scoped, and package `{by}` does not allow its dependents to emit cluster-scoped objects"
                    ),
                    help: format!("ask the owners of `{by}` (`cluster-scoped = false` in its kdep.toml)"),
                });
            }
            return None;
        }
        let (Some(ns), Some(env_ns)) = (namespace, env_namespace) else { return None };
        if ns == env_ns || self.namespaces.iter().any(|n| n == ns) {
            return None;
        }
        Some(EmitViolation {
            code: Code::FOREIGN_NAMESPACE,
            message: format!("`{kind}` is emitted into namespace `{ns}`, but the environment's namespace is `{env_ns}`"),
            help: format!(
                "leave `metadata.namespace` unset, or allow `{ns}` in `[permissions] namespaces` of this package's kdep.toml (and of any platform package's `[permissions.dependents]`)"
            ),
        })
    }
}
