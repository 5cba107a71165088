//! The editable compilation session: one salsa database over a loaded package graph, which `kdep
//! check`/`build` read once and the language server edits for as long as the editor runs.
//!
//! Source text lives only in salsa: after loading, the text of every module is moved into its
//! [`kdep_sema::SourceFile`] input and [`LoadedFile::text`] is left empty for sources and the
//! stdlib (it still holds `kdep.toml` files, which are no salsa input). Editing a file sets its
//! input; adding or removing a module file changes its package's module map. Readers take a
//! [`Snapshot`]: another handle to the same storage. Salsa cancels snapshots when the session is
//! edited (a reader's next query unwinds with `salsa::Cancelled`), and the edit waits until every
//! snapshot is dropped, so edits apply in the order they are made and no reader sees half of one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kdep_diag::{Diagnostic, FileId};
use salsa::Setter;

use crate::loader::{self, FileKind, Loaded, LoadedFile};
use crate::Database;

/// A loaded root package with its dependencies and the stdlib, editable in place.
///
/// [`crate::Workspace`] is this type: `kdep check` and `kdep build` load a session and read it
/// once; the language server keeps it and edits it.
pub struct Session {
    pub(crate) db: Database,
    pub(crate) project: kdep_sema::Project,
    pub(crate) loaded: Arc<Loaded>,
    pub(crate) inputs: Arc<BTreeMap<FileId, kdep_sema::SourceFile>>,
    /// The salsa package of each loaded package (by index into [`Loaded::packages`]).
    packages: Vec<Option<kdep_sema::Package>>,
}

/// What an edit of the session changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// The file's text (or the package's module list) was updated.
    Applied,
    /// The text was already the same: nothing to recompute.
    Unchanged,
    /// The path is not a module of any package of this session.
    NotInSession,
}

impl Session {
    pub(crate) fn from_loaded(mut loaded: Loaded, threads: usize) -> Session {
        let db = Database { threads, ..Database::default() };
        let mut inputs = BTreeMap::new();
        for file in &mut loaded.files {
            if file.kind == FileKind::PackageToml {
                continue;
            }
            // The text moves into salsa: it is read from there only, so an edit cannot leave a
            // stale second copy behind.
            let text = std::mem::take(&mut file.text);
            let input = kdep_sema::SourceFile::new(&db, file.id, file.display_path.clone(), text);
            inputs.insert(file.id, input);
        }
        // Packages are created dependencies-first so each can refer to its dependencies' inputs.
        let mut packages: Vec<Option<kdep_sema::Package>> = vec![None; loaded.packages.len()];
        for idx in dependency_order(&loaded) {
            let Some(pkg) = loaded.packages.get(idx) else { continue };
            let modules = pkg.modules.iter().filter_map(|(m, id)| Some((m.clone(), *inputs.get(id)?))).collect();
            let deps =
                pkg.deps.iter().filter_map(|(name, dep)| Some((name.clone(), (*packages.get(*dep)?)?))).collect();
            if let Some(slot) = packages.get_mut(idx) {
                *slot = Some(kdep_sema::Package::new(&db, pkg.name.clone(), modules, deps, pkg.permissions.clone()));
            }
        }
        let std_modules = loaded
            .files
            .iter()
            .filter(|f| f.kind == FileKind::Stdlib)
            .filter_map(|f| Some((f.module.clone(), *inputs.get(&f.id)?)))
            .collect();
        let stdlib = kdep_sema::Package::new(&db, "std".to_owned(), std_modules, BTreeMap::new(), Default::default());
        let root = packages.get(loaded.root).copied().flatten().unwrap_or_else(|| {
            kdep_sema::Package::new(&db, String::new(), BTreeMap::new(), BTreeMap::new(), Default::default())
        });
        let project = kdep_sema::Project::new(&db, root, stdlib);
        Session { db, project, loaded: Arc::new(loaded), inputs: Arc::new(inputs), packages }
    }

    /// The file loaded from `path` (absolute, as the loader saw it; `std:/…` for the stdlib).
    pub fn file_id(&self, path: &Path) -> Option<FileId> {
        self.loaded.files.iter().find(|f| f.abs_path == path).map(|f| f.id)
    }

    /// Replaces the text of a loaded source file (an editor's unsaved buffer, or the disk after
    /// a save). The stdlib and `kdep.toml` files are not editable here.
    pub fn set_text(&mut self, file: FileId, text: &str) -> Change {
        let editable = self.loaded.files.get(file.0 as usize).is_some_and(|f| f.kind == FileKind::Source);
        let Some(input) = self.inputs.get(&file).copied().filter(|_| editable) else { return Change::NotInSession };
        if input.text(&self.db) == text {
            return Change::Unchanged;
        }
        input.set_text(&mut self.db).to(text.to_owned());
        Change::Applied
    }

    /// Adds a module file that appeared on disk (or was created in the editor) inside one of the
    /// session's packages, or updates it when it is already known. A file in a folder that is a
    /// package of its own, hidden, or not a `.kdep` file is not a module of these packages.
    pub fn add_file(&mut self, path: &Path, text: &str) -> Change {
        if let Some(id) = self.file_id(path) {
            let change = self.set_text(id, text);
            // A removed module that comes back is put back into its package.
            return if self.restore_module(id) { Change::Applied } else { change };
        }
        let Some((idx, module)) = self.module_of(path) else { return Change::NotInSession };
        let Some(pkg) = self.loaded.packages.get(idx) else { return Change::NotInSession };
        if pkg.modules.contains_key(&module) {
            // `a.b.kdep` next to `a/b.kdep`: the loader keeps the first one; so does the session.
            return Change::NotInSession;
        }
        let display = if idx == self.loaded.root {
            loader::relative_path(&pkg.root, path)
        } else {
            format!("{}/{}", pkg.name, loader::relative_path(&pkg.root, path))
        };
        let loaded = Arc::make_mut(&mut self.loaded);
        let id = FileId(u32::try_from(loaded.files.len()).unwrap_or(u32::MAX));
        loaded.files.push(LoadedFile {
            id,
            kind: FileKind::Source,
            package: Some(idx),
            module: module.clone(),
            abs_path: path.to_path_buf(),
            display_path: display.clone(),
            text: String::new(),
        });
        if let Some(pkg) = loaded.packages.get_mut(idx) {
            pkg.modules.insert(module, id);
        }
        let input = kdep_sema::SourceFile::new(&self.db, id, display, text.to_owned());
        Arc::make_mut(&mut self.inputs).insert(id, input);
        self.sync_modules(idx);
        Change::Applied
    }

    /// Removes a module file deleted from disk: it is no longer part of its package (its
    /// importers get "unknown module"). Its id stays reserved, so ids never change meaning.
    pub fn remove_file(&mut self, path: &Path) -> Change {
        let Some(id) = self.file_id(path) else { return Change::NotInSession };
        let Some(idx) =
            self.loaded.files.get(id.0 as usize).filter(|f| f.kind == FileKind::Source).and_then(|f| f.package)
        else {
            return Change::NotInSession;
        };
        let loaded = Arc::make_mut(&mut self.loaded);
        let Some(pkg) = loaded.packages.get_mut(idx) else { return Change::NotInSession };
        let before = pkg.modules.len();
        pkg.modules.retain(|_, f| *f != id);
        if pkg.modules.len() == before {
            return Change::Unchanged;
        }
        self.sync_modules(idx);
        Change::Applied
    }

    /// Puts a file removed earlier back into its package's modules; whether it was missing.
    fn restore_module(&mut self, id: FileId) -> bool {
        let Some(file) = self.loaded.files.get(id.0 as usize) else { return false };
        let (Some(idx), module) = (file.package, file.module.clone()) else { return false };
        if file.kind != FileKind::Source
            || self.loaded.packages.get(idx).is_none_or(|p| p.modules.contains_key(&module))
        {
            return false;
        }
        if let Some(pkg) = Arc::make_mut(&mut self.loaded).packages.get_mut(idx) {
            pkg.modules.insert(module, id);
        }
        self.sync_modules(idx);
        true
    }

    /// Sets package `idx`'s salsa module map from the loaded one.
    fn sync_modules(&mut self, idx: usize) {
        let (Some(Some(package)), Some(pkg)) = (self.packages.get(idx), self.loaded.packages.get(idx)) else { return };
        let modules: BTreeMap<String, kdep_sema::SourceFile> =
            pkg.modules.iter().filter_map(|(m, id)| Some((m.clone(), *self.inputs.get(id)?))).collect();
        package.set_modules(&mut self.db).to(modules);
    }

    /// The package (by index) and module path `path` would have: the innermost loaded package
    /// whose folder holds it, unless a folder between them is hidden, `target`, `node_modules`
    /// or a package of its own (the loader's rules).
    fn module_of(&self, path: &Path) -> Option<(usize, String)> {
        if path.extension().is_none_or(|e| e != "kdep") {
            return None;
        }
        let (idx, pkg) = self
            .loaded
            .packages
            .iter()
            .enumerate()
            .filter(|(_, p)| path.starts_with(&p.root))
            .max_by_key(|(_, p)| p.root.components().count())?;
        let rel = path.strip_prefix(&pkg.root).ok()?;
        let names: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
        let (file, folders) = names.split_last()?;
        if file.starts_with('.') || folders.iter().any(|d| d.starts_with('.') || d == "target" || d == "node_modules") {
            return None;
        }
        Some((idx, loader::module_path(rel)))
    }

    /// A read-only handle on the current state, for a reader on another thread.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            db: self.db.clone(),
            project: self.project,
            loaded: Arc::clone(&self.loaded),
            inputs: Arc::clone(&self.inputs),
        }
    }
}

/// A read-only view of a [`Session`] at one revision. Queries on it unwind with
/// `salsa::Cancelled` once the session is edited; drop it promptly after that.
#[derive(Clone)]
pub struct Snapshot {
    db: Database,
    project: kdep_sema::Project,
    loaded: Arc<Loaded>,
    inputs: Arc<BTreeMap<FileId, kdep_sema::SourceFile>>,
}

impl Snapshot {
    pub fn db(&self) -> &dyn kdep_eval::Db {
        &self.db
    }

    pub fn project(&self) -> kdep_sema::Project {
        self.project
    }

    pub fn loaded(&self) -> &Loaded {
        &self.loaded
    }

    /// The salsa input of a file.
    pub fn input(&self, file: FileId) -> Option<kdep_sema::SourceFile> {
        self.inputs.get(&file).copied()
    }

    /// The file that `input` is.
    pub fn file(&self, file: FileId) -> Option<&LoadedFile> {
        self.loaded.files.get(file.0 as usize)
    }

    /// The file loaded from `path`.
    pub fn file_id(&self, path: &Path) -> Option<FileId> {
        self.loaded.files.iter().find(|f| f.abs_path == path).map(|f| f.id)
    }

    /// The current text of a file: from salsa for sources and the stdlib, as loaded for
    /// `kdep.toml` files.
    pub fn text(&self, file: FileId) -> &str {
        match self.inputs.get(&file) {
            Some(input) => input.text(&self.db),
            None => self.loaded.files.get(file.0 as usize).map_or("", |f| f.text.as_str()),
        }
    }

    /// Whether the file is a module of the root package (its apps are built).
    pub fn is_root_module(&self, file: FileId) -> bool {
        self.file(file).is_some_and(|f| f.kind == FileKind::Source && f.package == Some(self.loaded.root))
    }

    /// Everything `kdep check` reports, as it reports it (the loader's problems, then the union
    /// of `file_diagnostics` over the analysed files).
    pub fn check(&self) -> Vec<Diagnostic> {
        let mut diags = self.loaded.diagnostics.clone();
        diags.extend(kdep_eval::check(&self.db, self.project));
        kdep_diag::normalize(&mut diags);
        diags
    }

    /// [`Snapshot::check`] before the union, for a reader that replaces one part at a time (the
    /// editor): the loader's problems and those of no file, then each analysed file's part.
    pub fn check_by_file(&self) -> (Vec<Diagnostic>, Vec<(FileId, kdep_eval::FileCheck)>) {
        let (files, unlocated) = kdep_eval::check_by_file(&self.db, self.project);
        let mut rest = self.loaded.diagnostics.clone();
        rest.extend(unlocated);
        (rest, files.into_iter().map(|(input, part)| (input.id(&self.db), part)).collect())
    }

    /// The part of [`Snapshot::check`] that originates in `file`, except the duplicate objects
    /// (which read every app): what an edit of `file` changes first. `None` when `check` does not
    /// analyse the file (not imported by the root package).
    pub fn check_file_first(&self, file: FileId) -> Option<Vec<Diagnostic>> {
        let input = self.input(file)?;
        if !kdep_sema::index::reachable_files(&self.db, self.project).contains(&input) {
            return None;
        }
        Some(kdep_eval::file_diagnostics_but_duplicates(&self.db, self.project, input))
    }

    /// A path for each file, for messages: the display path (`platform/web.kdep`).
    pub fn display_path(&self, file: FileId) -> &str {
        self.file(file).map_or("<unknown>", |f| f.display_path.as_str())
    }

    /// The absolute path of a package's root folder, by file.
    pub fn package_root(&self, file: FileId) -> Option<&PathBuf> {
        let idx = self.file(file)?.package?;
        self.loaded.packages.get(idx).map(|p| &p.root)
    }
}

/// Orders package indices so that every package comes after its dependencies.
fn dependency_order(loaded: &Loaded) -> Vec<usize> {
    fn visit(loaded: &Loaded, idx: usize, seen: &mut Vec<bool>, out: &mut Vec<usize>) {
        if seen.get(idx).copied().unwrap_or(true) {
            return;
        }
        if let Some(s) = seen.get_mut(idx) {
            *s = true;
        }
        if let Some(pkg) = loaded.packages.get(idx) {
            for dep in pkg.deps.values() {
                visit(loaded, *dep, seen, out);
            }
        }
        out.push(idx);
    }
    let mut seen = vec![false; loaded.packages.len()];
    let mut out = Vec::new();
    for idx in 0..loaded.packages.len() {
        visit(loaded, idx, &mut seen, &mut out);
    }
    out
}
