//! kdep's compiler façade: the one API the CLI, the LSP and the tests use.
//!
//! It owns the concrete salsa [`Database`], loads packages through a [`Vfs`] into salsa inputs,
//! registers the stdlib, and exposes check/build/format over them. Everything below it (syntax,
//! sema, eval) is pure; this crate reads files only through the `Vfs` its caller supplies.

pub mod loader;
pub mod lock;
pub mod package_toml;
pub mod session;
pub mod vfs;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kdep_diag::render::Sources;
use kdep_diag::{Diagnostic, FileId};

pub use kdep_diag as diag;
pub use kdep_eval::manifest::Manifest;
pub use kdep_eval::value::Value;
pub use kdep_eval::{emit, EnvironmentInfo};
pub use loader::{LoadError, Loaded, LoadedFile};
pub use session::{Change, Session, Snapshot};
pub use vfs::{DirEntry, MemoryFs, PathKind, Vfs};

/// The concrete salsa database of a compilation session.
#[salsa::db]
#[derive(Default, Clone)]
pub struct Database {
    storage: salsa::Storage<Self>,
    /// Threads a build may use; 0 and 1 both mean the calling thread only.
    threads: usize,
}

#[salsa::db]
impl salsa::Database for Database {}

#[salsa::db]
impl kdep_sema::Db for Database {
    fn parallelism(&self) -> usize {
        self.threads.max(1)
    }

    fn fork(&self) -> Option<Box<dyn kdep_sema::Db + Send>> {
        (self.threads > 1).then(|| Box::new(self.clone()) as Box<dyn kdep_sema::Db + Send>)
    }
}

/// Result of [`Workspace::build`].
#[derive(Debug)]
pub struct Build {
    pub manifests: Vec<Manifest>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Build {
    pub fn has_errors(&self) -> bool {
        kdep_diag::has_errors(&self.diagnostics)
    }
}

/// A loaded root package with its dependencies, ready to check and build: an editable
/// [`Session`] that the CLI reads once.
pub type Workspace = Session;

impl Workspace {
    /// Locates the package containing `path` (a package folder or a file inside one), loads
    /// it, its dependencies and the stdlib.
    pub fn load(vfs: &dyn Vfs, path: &Path) -> Result<Workspace, LoadError> {
        Workspace::load_with(vfs, path, 1)
    }

    /// Like [`Workspace::load`], letting builds use up to `threads` threads. The output does
    /// not depend on the thread count.
    pub fn load_with(vfs: &dyn Vfs, path: &Path, threads: usize) -> Result<Workspace, LoadError> {
        let root = loader::find_package_root(vfs, path)?;
        let loaded = loader::load(vfs, &root, &kdep_stdlib::modules())?;
        Ok(Workspace::from_loaded(loaded, threads))
    }

    /// Folder of the root package.
    pub fn root_dir(&self) -> &Path {
        self.loaded.packages.get(self.loaded.root).map_or(Path::new("."), |p| p.root.as_path())
    }

    /// Name of the root package.
    pub fn package_name(&self) -> &str {
        self.loaded.packages.get(self.loaded.root).map_or("", |p| p.name.as_str())
    }

    pub fn loaded(&self) -> &Loaded {
        &self.loaded
    }

    /// The lock file this graph resolves to.
    pub fn lock_file(&self) -> String {
        lock::render_lock(&self.loaded)
    }

    /// Type-checks every file and evaluates every app in every environment (and with none).
    pub fn check(&self) -> Vec<Diagnostic> {
        // The editor publishes the same computation, per file (`Snapshot::check`).
        self.snapshot().check()
    }

    /// Declared environments of the root package, in name order.
    pub fn environments(&self) -> Vec<EnvironmentInfo> {
        kdep_eval::environments(&self.db, self.project)
    }

    /// Evaluates every app for `env` (or with no environment) into manifests.
    pub fn build(&self, env: Option<&str>) -> Build {
        // An undeclared `env` is reported by the evaluator (K0501, with a "did you mean").
        let mut diagnostics = self.loaded.diagnostics.clone();
        let out = kdep_eval::build(&self.db, self.project, env);
        diagnostics.extend(out.diagnostics);
        kdep_diag::normalize(&mut diagnostics);
        Build { manifests: out.manifests, diagnostics }
    }

    /// A [`Sources`] view for rendering; paths are shown relative to `base` when given (the
    /// working directory, so terminal paths are clickable), else relative to the root package.
    pub fn sources(&self, base: Option<&Path>) -> WorkspaceSources<'_> {
        WorkspaceSources {
            files: &self.loaded.files,
            inputs: &self.inputs,
            db: &self.db,
            base: base.map(Path::to_path_buf),
        }
    }

    /// Direct access to the database, for tests that observe incremental recomputation.
    pub fn db(&self) -> &Database {
        &self.db
    }

    /// The salsa input of a loaded file.
    pub fn input(&self, file: FileId) -> Option<kdep_sema::SourceFile> {
        self.inputs.get(&file).copied()
    }
}

/// File paths and texts for the diagnostic renderers.
pub struct WorkspaceSources<'a> {
    files: &'a [LoadedFile],
    inputs: &'a BTreeMap<FileId, kdep_sema::SourceFile>,
    db: &'a Database,
    base: Option<PathBuf>,
}

impl Sources for WorkspaceSources<'_> {
    fn path(&self, file: FileId) -> String {
        let Some(f) = self.files.get(file.0 as usize) else { return "<unknown>".into() };
        match (&self.base, f.kind) {
            (Some(base), loader::FileKind::Source | loader::FileKind::PackageToml) => {
                loader::relative_path(base, &f.abs_path)
            }
            _ => f.display_path.clone(),
        }
    }

    fn text(&self, file: FileId) -> &str {
        // Source text lives in salsa only (`Session`); `kdep.toml` files are no salsa input.
        match self.inputs.get(&file) {
            Some(input) => input.text(self.db),
            None => self.files.get(file.0 as usize).map_or("", |f| f.text.as_str()),
        }
    }
}

/// Formats one source text in the canonical layout; syntax errors are returned instead.
pub fn format_source(text: &str) -> Result<String, Vec<Diagnostic>> {
    kdep_syntax::format::format(FileId(0), text)
}
