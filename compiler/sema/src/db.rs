//! The salsa inputs (source files, packages, the project) and the database trait of the semantic layer.

use std::collections::BTreeMap;
use std::sync::Arc;

use kdep_diag::FileId;

/// One `.kdep` source file. The driver creates one per file it loads and sets `text` on edits.
#[salsa::input(debug)]
pub struct SourceFile {
    #[returns(copy)]
    pub id: FileId,
    /// Display path, e.g. `teams/shop/checkout.kdep`; used in messages and `kdep.dev/source`.
    #[returns(ref)]
    pub path: String,
    #[returns(ref)]
    pub text: String,
}

/// A package: a folder with a `kdep.toml`, its modules by dotted path, and its dependencies by
/// the name under which they are imported.
#[salsa::input(debug)]
pub struct Package {
    #[returns(ref)]
    pub name: String,
    #[returns(ref)]
    pub modules: BTreeMap<String, SourceFile>,
    #[returns(ref)]
    pub deps: BTreeMap<String, Package>,
    /// What templates may emit, from `[permissions]` in `kdep.toml` (see `permit.rs`).
    #[returns(ref)]
    pub permissions: EmitPermissions,
}

/// `[permissions]` of a package's `kdep.toml`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct EmitPermissions {
    /// Namespaces besides the environment's that this package's own templates may write.
    pub namespaces: Vec<String>,
    /// `[permissions.dependents]`: what packages depending on this one may emit.
    pub dependents: Option<DependentRules>,
}

/// Restrictions a platform package puts on the packages that depend on it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DependentRules {
    /// Namespaces (besides the environment's) dependents may write; they must also list them.
    pub namespaces: Vec<String>,
    /// Kinds dependents may not emit.
    pub deny_kinds: Vec<String>,
    /// Whether dependents may emit cluster-scoped objects.
    pub cluster_scoped: bool,
}

/// What is being compiled: the root package and the standard library (modules under `std.`/`k8s.`).
#[salsa::input(debug)]
pub struct Project {
    #[returns(copy)]
    pub root: Package,
    #[returns(copy)]
    pub stdlib: Package,
}

/// The database of the semantic layer. `kdep-eval` uses it as is; the driver implements it.
///
/// Both methods are optional: a database that overrides them lets `build` and `check` spread
/// per-file work over worker threads (each with its own handle to the same storage). The
/// compiler crates never decide the thread count themselves.
#[salsa::db]
pub trait Db: salsa::Database {
    /// How many threads may work on one build (including the caller's). Default: 1.
    fn parallelism(&self) -> usize {
        1
    }

    /// Another handle to the same database, for a worker thread or for a burst of project-wide
    /// queries kept apart from the per-file ones (`kdep_eval`'s `prepare`); `None` disables both.
    fn fork(&self) -> Option<Box<dyn Db + Send>> {
        None
    }
}

/// Parses one file. Diagnostics of the parser are part of the result.
#[salsa::tracked(returns(clone))]
pub fn parse_file(db: &dyn Db, file: SourceFile) -> Arc<kdep_syntax::Parse> {
    Arc::new(kdep_syntax::parse(file.id(db), file.text(db)))
}
