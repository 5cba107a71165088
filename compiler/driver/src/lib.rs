//! kdep's compiler façade: the one API the CLI, the LSP and the tests use.
//!
//! It owns the concrete salsa [`Database`], loads packages through a [`Vfs`] into salsa inputs,
//! registers the stdlib, and exposes check/build/format over them. Everything below it (syntax,
//! sema, eval) is pure; this crate reads files only through the `Vfs` its caller supplies.

pub mod edit;
pub mod impact;
pub mod loader;
pub mod lock;
pub mod package_toml;
pub mod remote;
pub mod session;
pub mod vfs;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kdep_diag::render::Sources;
use kdep_diag::{Diagnostic, FileId};

pub use kdep_diag as diag;
pub use kdep_eval::manifest::{Emitted, Manifest, RenderedObject};
pub use kdep_eval::value::{Layer, Value};
pub use kdep_eval::{emit, provenance, testing, Batching, EnvironmentInfo, FileCheck, HeldObject, RenderedObjects};
pub use kdep_sema::policy::WaiverListing;
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

    /// Always a handle: how many threads work is [`Self::parallelism`]'s to say, and a single
    /// thread still runs project-wide queries on a handle of their own (see `Db::fork`).
    fn fork(&self) -> Option<Box<dyn kdep_sema::Db + Send>> {
        Some(Box::new(self.clone()))
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

/// Result of [`Workspace::build_rendered`].
#[derive(Debug)]
pub struct RenderedBuild {
    /// In output order (read the texts with [`RenderedObjects::texts`]).
    pub objects: RenderedObjects,
    pub diagnostics: Vec<Diagnostic>,
}

impl RenderedBuild {
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

    /// Like [`Workspace::load_with`], finding git and OCI dependencies through `remote` (the
    /// lock and the cache, see [`remote::LockedCache`]).
    pub fn load_with_remote(
        vfs: &dyn Vfs,
        path: &Path,
        threads: usize,
        remote: &mut dyn remote::RemoteSources,
    ) -> Result<Workspace, LoadError> {
        let root = loader::find_package_root(vfs, path)?;
        let loaded = loader::load_with_remote(vfs, &root, &kdep_stdlib::modules(), remote)?;
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

    /// Type-checks every file and evaluates every app in every environment (and with none),
    /// then, when that finds no error, runs the package's tests (a failure is K0630).
    pub fn check(&self) -> Vec<Diagnostic> {
        let mut diags = self.check_without_tests();
        // The package's tests run once it compiles (a failed build would fail every test).
        if !kdep_diag::has_errors(&diags) {
            for report in self.run_tests(&|_| true) {
                diags.extend(report.diagnostics());
            }
        }
        kdep_diag::normalize(&mut diags);
        diags
    }

    /// [`Workspace::check`] without running the tests.
    pub fn check_without_tests(&self) -> Vec<Diagnostic> {
        // The editor publishes the same computation, per file (`Snapshot::check`).
        self.snapshot().check()
    }

    /// The waivers (`waive policy : "reason"`) of the root package's apps.
    pub fn waivers(&self) -> Vec<kdep_sema::policy::WaiverListing> {
        kdep_sema::policy::root_waivers(&self.db, self.project)
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

    /// [`Workspace::build`] for output: every object written out in `format` as soon as its
    /// app is evaluated, its value then dropped, so memory follows the output's size rather
    /// than the sum of the value trees. Joined with [`emit::join_stream`], the texts are the
    /// same bytes as [`Workspace::build`]'s manifests written by [`emit::to_yaml_stream`] or
    /// [`emit::to_json`].
    ///
    /// A large package is evaluated in batches of files (`batching`, default: see
    /// [`kdep_eval::BATCH_FILES`] and [`kdep_eval::LOWER_AGAIN_FROM`]), the database dropping
    /// each finished batch's lowered files and per-app memos, so memory follows the output
    /// rather than the package. Needs `&mut`: salsa evicts only with no other handle alive.
    pub fn build_rendered(
        &mut self,
        env: Option<&str>,
        format: emit::Format,
        batching: kdep_eval::Batching,
    ) -> RenderedBuild {
        let mut diagnostics = self.loaded.diagnostics.clone();
        let out = kdep_eval::build_rendered_in_batches(&mut self.db, self.project, env, format, batching);
        diagnostics.extend(out.diagnostics);
        kdep_diag::normalize(&mut diagnostics);
        RenderedBuild { objects: out.objects, diagnostics }
    }

    /// Which layer and line set `path` of object `object` (`Deployment/checkout`) in
    /// `manifests`, the output of [`Workspace::build`] for `env`, and what that value overrode.
    pub fn explain(
        &self,
        env: Option<&str>,
        manifests: &[Manifest],
        object: &str,
        path: &[provenance::Segment],
    ) -> Result<provenance::Explanation, provenance::LookupError> {
        provenance::explain(&self.db, self.project, env, manifests, object, path)
    }

    /// Every app of the root package with the templates it is built from (its template first,
    /// then those merged into it), in file and declaration order, for `kdep impact`'s graph.
    pub fn app_templates(&self) -> Vec<impact::AppTemplates> {
        let db: &dyn kdep_sema::Db = &self.db;
        let mut out = Vec::new();
        for file in kdep_sema::index::project_index(db, self.project).root_files() {
            for app in kdep_sema::hir::file_hir(db, file).apps.keys() {
                let Ok(model) = kdep_sema::check::app_template(db, self.project, file, app.clone()) else { continue };
                let templates = model
                    .sources
                    .iter()
                    .filter_map(|(sf, name)| {
                        let decl = kdep_sema::hir::file_hir(db, *sf).templates.get(name).cloned()?;
                        let qualified =
                            kdep_sema::model::template_model(db, self.project, *sf, name.clone())?.qualified.clone();
                        let range = kdep_sema::anchors::resolve_in(db, *sf, decl.range);
                        let text = sf.text(db).get(range.as_usize_range()).unwrap_or_default().to_owned();
                        Some(impact::TemplateSource { name: qualified.to_string(), text })
                    })
                    .collect();
                out.push(impact::AppTemplates { app: app.to_string(), templates });
            }
        }
        out
    }

    /// Runs the `test` declarations of the root package whose names `selected` accepts, in
    /// file and declaration order. Each `expect_error` block is checked as declarations of the
    /// test's module ([`Workspace::check_expected_error`]).
    pub fn run_tests(&self, selected: &dyn Fn(&str) -> bool) -> Vec<TestReport> {
        let db: &dyn kdep_sema::Db = &self.db;
        let mut files = kdep_sema::index::project_index(db, self.project).root_files();
        files.sort_by(|a, b| a.path(db).cmp(b.path(db)));
        let mut out = Vec::new();
        for file in files {
            let hir = kdep_sema::hir::file_hir(db, file);
            for test in hir.tests.iter().filter(|t| selected(&t.name)) {
                let run = kdep_eval::testing::run_test(db, self.project, file, test);
                let mut outcome = run.outcome;
                if outcome == testing::Outcome::Passed {
                    for block in &run.expect {
                        if let Some(failed) = self.check_expected_error(file, &hir.tests, block) {
                            outcome = failed;
                            break;
                        }
                    }
                }
                out.push(TestReport {
                    name: test.name.to_string(),
                    module: file.path(db).clone(),
                    span: diag::Span::new(file.id(db), test.name_range),
                    outcome,
                });
            }
        }
        out
    }

    /// Checks the items of an `expect_error` block as declarations of the test's module, by the
    /// same queries as every other module (`kdep_eval::file_diagnostics`: names, types,
    /// permissions, and evaluation of its apps in every environment). The module is replaced,
    /// in a project of its own, by a variant of its text in which every `test` is blanked out
    /// except this block's contents, so offsets, and so diagnostics, stay those of the real file.
    /// `None` when a diagnostic of the expected code is reported inside the block.
    fn check_expected_error(
        &self,
        file: kdep_sema::SourceFile,
        tests: &[std::sync::Arc<kdep_sema::hir::TestHir>],
        block: &testing::ExpectBlock,
    ) -> Option<testing::Outcome> {
        let db = &self.db;
        let mut text = file.text(db).clone().into_bytes();
        for t in tests {
            for b in text.get_mut(t.range.as_usize_range()).into_iter().flatten() {
                if *b != b'\n' {
                    *b = b' ';
                }
            }
        }
        // The block's contents between its braces, as written.
        let inner = block.body.start.saturating_add(1) as usize..block.body.end.saturating_sub(1) as usize;
        if let (Some(dst), Some(src)) = (text.get_mut(inner.clone()), file.text(db).as_bytes().get(inner.clone())) {
            dst.copy_from_slice(src);
        }
        let text = String::from_utf8(text).unwrap_or_default();
        let variant = kdep_sema::SourceFile::new(db, file.id(db), file.path(db).clone(), text);
        let root = self.project.root(db);
        let mut modules = root.modules(db).clone();
        for m in modules.values_mut() {
            if *m == file {
                *m = variant;
            }
        }
        let package = kdep_sema::Package::new(
            db,
            root.name(db).clone(),
            modules,
            root.deps(db).clone(),
            root.permissions(db).clone(),
        );
        let project = kdep_sema::Project::new(db, package, self.project.stdlib(db));
        let inside = |d: &&Diagnostic| {
            d.severity == diag::Severity::Error
                && d.primary.as_ref().is_some_and(|p| {
                    p.span.file == file.id(db)
                        && block.body.start <= p.span.range.start
                        && p.span.range.end <= block.body.end
                })
        };
        let diags: Vec<Diagnostic> =
            kdep_eval::file_diagnostics(db, project, variant).iter().filter(inside).cloned().collect();
        let expected = diag::Code::lookup(&block.code);
        if diags.iter().any(|d| Some(d.code) == expected) {
            return None;
        }
        let message = if diags.is_empty() {
            format!("expected error {}, but the block compiles", block.code)
        } else {
            let got: Vec<&str> = diags.iter().map(|d| d.code.id).collect();
            format!("expected error {}, got {}", block.code, got.join(", "))
        };
        let details = diags.iter().map(|d| format!("{}: {}", d.code.id, d.message)).collect();
        Some(testing::Outcome::Failed { at: block.code_span, message, details })
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

    /// The current text of a loaded file: a module's from salsa (its only copy), a
    /// `kdep.toml`'s from the loader.
    pub fn file_text(&self, file: FileId) -> &str {
        match self.inputs.get(&file) {
            Some(input) => input.text(&self.db),
            None => self.loaded.files.get(file.0 as usize).map_or("", |f| f.text.as_str()),
        }
    }
}

/// One test's result, from [`Workspace::run_tests`].
#[derive(Clone, Debug, PartialEq)]
pub struct TestReport {
    pub name: String,
    /// Display path of the module that declares it.
    pub module: String,
    /// The test's name in its declaration.
    pub span: diag::Span,
    pub outcome: testing::Outcome,
}

impl TestReport {
    /// The failure as a diagnostic, for `kdep check` (none when the test passed).
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        match &self.outcome {
            testing::Outcome::Passed => Vec::new(),
            testing::Outcome::Failed { at, message, details } => {
                let mut d =
                    Diagnostic::error(diag::Code::TEST_FAILED, format!("test `{}` failed: {message}", self.name))
                        .with_primary(*at, "fails here")
                        .with_secondary(self.span, "in this test");
                for line in details {
                    d = d.with_note(line.clone());
                }
                vec![d]
            }
            testing::Outcome::Errored(diags) => {
                let mut out = diags.clone();
                out.push(
                    Diagnostic::error(diag::Code::TEST_ERROR, format!("test `{}` could not run", self.name))
                        .with_primary(self.span, "this test"),
                );
                out
            }
        }
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

    fn resolve(&self, span: diag::Span) -> diag::Span {
        match self.inputs.get(&span.file) {
            Some(input) => diag::Span::new(span.file, kdep_sema::anchors::resolve_in(self.db, *input, span.range)),
            None => span,
        }
    }
}

/// Formats one source text in the canonical layout; syntax errors are returned instead.
pub fn format_source(text: &str) -> Result<String, Vec<Diagnostic>> {
    kdep_syntax::format::format(FileId(0), text)
}
