//! Loads a root package and its dependency graph through a [`Vfs`]: `kdep.toml` files, module files,
//! module paths from file paths, content hashes for the lock file.
//!
//! Invariant: loading is deterministic — directories are walked in sorted order and file ids
//! are assigned in that order, so the same tree always gets the same ids and output.

use std::collections::BTreeMap;
use std::io;
use std::path::{Component, Path, PathBuf};

use kdep_diag::{Code, Diagnostic, FileId, Span, TextRange};
use sha2::{Digest, Sha256};

use crate::lock::LockedRemote;
use crate::package_toml::{self, PackageConfig, Source};
use crate::remote::{RemoteRequest, RemoteSources};
use crate::vfs::{DirEntry, PathKind, Vfs};

/// Largest source file the compiler accepts; larger ones are reported, not read.
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// Name of the configuration file that makes a folder a package.
pub const PACKAGE_TOML: &str = "kdep.toml";

/// What kind of file a [`LoadedFile`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Source,
    /// A package's `kdep.toml`.
    PackageToml,
    Stdlib,
}

/// One file known to the session (sources, `kdep.toml` files, stdlib), indexed by its [`FileId`].
#[derive(Clone, Debug)]
pub struct LoadedFile {
    pub id: FileId,
    pub kind: FileKind,
    /// Index into [`Loaded::packages`]; `None` for stdlib files.
    pub package: Option<usize>,
    /// Dotted module path (`platform.web`); empty for `kdep.toml` files.
    pub module: String,
    /// Absolute path on disk (a virtual `std:/...` path for the stdlib).
    pub abs_path: PathBuf,
    /// Stable, `/`-separated name of the file: its path in the root package (`checkout.kdep`),
    /// or the package name and path for dependencies (`platform/web.kdep`). Independent of the
    /// machine and working directory, so output annotations and messages use it.
    pub display_path: String,
    pub text: String,
}

/// One package of the graph.
#[derive(Clone, Debug)]
pub struct LoadedPackage {
    pub name: String,
    pub version: String,
    pub root: PathBuf,
    pub package_toml_file: FileId,
    /// Module path → file.
    pub modules: BTreeMap<String, FileId>,
    /// Dependency name (as imported) → package index.
    pub deps: BTreeMap<String, usize>,
    /// `sha256:<hex>` over `kdep.toml` and every module's path and text. Empty for the root
    /// package: `kdep.lock` records its dependencies only, and hashing every source of the
    /// package being built was a few percent of a build of many small files.
    pub checksum: String,
    /// `[permissions]` of `kdep.toml`.
    pub permissions: kdep_sema::db::EmitPermissions,
    /// For a git or OCI package: its lock entry (`root` is its folder in the cache).
    pub remote: Option<LockedRemote>,
    /// `[package] changelog` of `kdep.toml`.
    pub changelog: Option<String>,
}

/// The loaded graph; `packages[root]` is the package being built.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub root: usize,
    pub packages: Vec<LoadedPackage>,
    pub files: Vec<LoadedFile>,
    /// Problems in the sources or `kdep.toml` files (exit code 1), not in how kdep was called.
    pub diagnostics: Vec<Diagnostic>,
}

/// A problem that prevents loading at all: the path does not exist, is not a package, or
/// cannot be read. These are usage or I/O problems (exit code 2).
#[derive(Debug)]
pub enum LoadError {
    NotFound(PathBuf),
    NotAPackage(PathBuf),
    /// A `kdep.toml` that is a folder, FIFO or device.
    PackageTomlNotAFile(PathBuf, PathKind),
    /// The path is relative to the root package's folder.
    Io(PathBuf, io::Error),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::NotFound(p) => write!(f, "path `{}` does not exist", p.display()),
            LoadError::NotAPackage(p) => {
                write!(
                    f,
                    "`{}` is not inside a kdep package: no `{PACKAGE_TOML}` found there or in any parent folder",
                    p.display()
                )
            }
            LoadError::PackageTomlNotAFile(p, kind) => {
                let what = if *kind == PathKind::Dir { "a folder" } else { "not a regular file" };
                write!(f, "`{}` is {what}; a package's `{PACKAGE_TOML}` must be a file", p.display())
            }
            LoadError::Io(p, e) => write!(f, "cannot read `{}`: {e}", p.display()),
        }
    }
}

impl std::error::Error for LoadError {}

/// Finds the package folder for `path`: the folder itself or the nearest ancestor holding a
/// `kdep.toml` (a file path starts from its folder).
///
/// Only a missing `kdep.toml` sends the search up a folder: one that is a folder, or that
/// cannot be looked at (an unreadable package folder), is reported as what it is rather than
/// as "no `kdep.toml` found".
pub fn find_package_root(vfs: &dyn Vfs, path: &Path) -> Result<PathBuf, LoadError> {
    let abs = vfs.canonicalize(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => LoadError::NotFound(path.to_path_buf()),
        _ => LoadError::Io(path.to_path_buf(), e),
    })?;
    let mut dir = if vfs.is_dir(&abs) { abs.clone() } else { abs.parent().map(Path::to_path_buf).unwrap_or_default() };
    loop {
        let package_toml = dir.join(PACKAGE_TOML);
        match vfs.kind(&package_toml) {
            Ok(PathKind::File) => return Ok(dir),
            Ok(kind) => return Err(LoadError::PackageTomlNotAFile(package_toml, kind)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(LoadError::Io(package_toml, e)),
        }
        if !dir.pop() {
            return Err(LoadError::NotAPackage(path.to_path_buf()));
        }
    }
}

struct Loader<'a> {
    vfs: &'a dyn Vfs,
    remote: &'a mut dyn RemoteSources,
    root_dir: PathBuf,
    out: Loaded,
    /// Canonical package folder → index, so a package reached twice is loaded once.
    by_root: BTreeMap<PathBuf, usize>,
}

/// Loads the package at `root_dir` (already located with [`find_package_root`]) and every
/// dependency, transitively, plus the embedded stdlib. Git and OCI dependencies are looked up
/// in an empty lock, so each is reported as not fetched; see [`load_with_remote`].
pub fn load(vfs: &dyn Vfs, root_dir: &Path, stdlib: &[(String, String, &str)]) -> Result<Loaded, LoadError> {
    load_with_remote(vfs, root_dir, stdlib, &mut crate::remote::LockedCache::default())
}

/// [`load`], finding git and OCI dependencies through `remote`.
pub fn load_with_remote(
    vfs: &dyn Vfs,
    root_dir: &Path,
    stdlib: &[(String, String, &str)],
    remote: &mut dyn RemoteSources,
) -> Result<Loaded, LoadError> {
    let mut loader = Loader {
        vfs,
        remote,
        root_dir: root_dir.to_path_buf(),
        out: Loaded { root: 0, packages: Vec::new(), files: Vec::new(), diagnostics: Vec::new() },
        by_root: BTreeMap::new(),
    };
    let root = loader.load_package(root_dir, None, &mut Vec::new())?;
    loader.out.root = match root {
        Some(root) => root,
        None => {
            // The root `kdep.toml` is invalid: keep an empty stand-in package so its
            // diagnostic is reported like any other source error instead of aborting the run.
            let package_toml_file = loader.out.files.last().map_or(FileId(0), |f| f.id);
            loader.out.packages.push(LoadedPackage {
                name: String::new(),
                version: String::new(),
                root: root_dir.to_path_buf(),
                package_toml_file,
                modules: BTreeMap::new(),
                deps: BTreeMap::new(),
                checksum: String::new(),
                permissions: Default::default(),
                remote: None,
                changelog: None,
            });
            loader.out.packages.len() - 1
        }
    };
    for (module, path, text) in stdlib {
        loader.add_file(FileKind::Stdlib, None, module.clone(), PathBuf::from(path), path.clone(), (*text).to_owned());
    }
    Ok(loader.out)
}

impl Loader<'_> {
    fn next_id(&self) -> FileId {
        FileId(u32::try_from(self.out.files.len()).unwrap_or(u32::MAX))
    }

    fn add_file(
        &mut self,
        kind: FileKind,
        package: Option<usize>,
        module: String,
        abs_path: PathBuf,
        display_path: String,
        text: String,
    ) -> FileId {
        let id = self.next_id();
        self.out.files.push(LoadedFile { id, kind, package, module, abs_path, display_path, text });
        id
    }

    fn display(&self, path: &Path) -> String {
        relative_path(&self.root_dir, path)
    }

    /// [`Loader::display`] as a path, for errors: messages never show the absolute (often
    /// temporary) folder the package was found in.
    fn display_path(&self, path: &Path) -> PathBuf {
        PathBuf::from(self.display(path))
    }

    /// Loads one package; `None` when its `kdep.toml` is invalid (the problem is reported as a
    /// diagnostic). `stack` holds the folders being loaded, to report dependency cycles.
    fn load_package(
        &mut self,
        dir: &Path,
        remote: Option<&LockedRemote>,
        stack: &mut Vec<PathBuf>,
    ) -> Result<Option<usize>, LoadError> {
        if let Some(&idx) = self.by_root.get(dir) {
            return Ok(Some(idx));
        }
        let package_toml_path = dir.join(PACKAGE_TOML);
        let bytes = self
            .vfs
            .read(&package_toml_path, MAX_FILE_BYTES)
            .map_err(|e| LoadError::Io(self.display_path(&package_toml_path), e))?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        // A cached package is shown by name, not by its folder in the cache.
        let display = match remote {
            Some(r) => format!("{}/{PACKAGE_TOML}", r.name),
            None => self.display(&package_toml_path),
        };
        let package_toml_file =
            self.add_file(FileKind::PackageToml, None, String::new(), package_toml_path.clone(), display, text.clone());
        let config = match package_toml::parse_package_toml(&text) {
            Ok(m) => m,
            Err(err) => {
                let mut diag =
                    Diagnostic::error(Code::INVALID_PACKAGE_TOML, format!("invalid `{PACKAGE_TOML}`: {}", err.message));
                let range = err.range.map_or(TextRange::empty(0), |(s, e)| TextRange::from_usize(s, e));
                diag = diag.with_primary(Span::new(package_toml_file, range), "problem here");
                if let Some(help) = err.help {
                    diag = diag.with_help(help);
                }
                self.out.diagnostics.push(diag);
                return Ok(None);
            }
        };
        let idx = self.out.packages.len();
        self.out.packages.push(LoadedPackage {
            name: config.name.clone(),
            version: config.version.clone(),
            root: dir.to_path_buf(),
            package_toml_file,
            modules: BTreeMap::new(),
            deps: BTreeMap::new(),
            checksum: String::new(),
            permissions: config.permissions.clone(),
            remote: remote.cloned(),
            changelog: config.changelog.clone(),
        });
        self.by_root.insert(dir.to_path_buf(), idx);
        self.load_modules(idx, dir)?;
        stack.push(dir.to_path_buf());
        self.load_dependencies(idx, &config, package_toml_file, dir, stack)?;
        stack.pop();
        // The root package is the one loaded with nothing on the stack.
        let checksum = if stack.is_empty() { String::new() } else { self.checksum(idx) };
        if let Some(locked) = remote {
            // The cache is content-addressed by this checksum: a difference means its files
            // were changed after they were fetched and verified.
            if locked.checksum != checksum {
                self.out.diagnostics.push(
                    Diagnostic::error(
                        Code::CHECKSUM_MISMATCH,
                        format!(
                            "checksum mismatch for `{}` {} from {}: kdep.lock has {}, the sources in `{}` hash to {checksum}",
                            locked.name,
                            locked.version,
                            locked.source,
                            locked.checksum,
                            dir.display()
                        ),
                    )
                    .with_primary(Span::new(package_toml_file, TextRange::empty(0)), "these sources were changed after they were fetched")
                    .with_help(format!("delete `{}` and run `kdep mod fetch` to fetch them again", dir.display())),
                );
            }
        }
        if let Some(pkg) = self.out.packages.get_mut(idx) {
            pkg.checksum = checksum;
        }
        Ok(Some(idx))
    }

    fn load_dependencies(
        &mut self,
        idx: usize,
        config: &PackageConfig,
        package_toml_file: FileId,
        dir: &Path,
        stack: &mut Vec<PathBuf>,
    ) -> Result<(), LoadError> {
        for (dep_name, dep) in &config.dependencies {
            let span = Span::new(package_toml_file, TextRange::from_usize(dep.range.0, dep.range.1));
            let dep_path = match &dep.source {
                Source::Path(path) => path,
                Source::Remote(source) => {
                    self.load_remote_dependency(idx, dep_name, source, span, stack)?;
                    continue;
                }
            };
            if let Some(remote) = self.out.packages.get(idx).and_then(|p| p.remote.as_ref()) {
                // A path would point into the cache, or anywhere on the machine that fetched it.
                self.out.diagnostics.push(
                    Diagnostic::error(
                        Code::PATH_DEPENDENCY_IN_REMOTE_PACKAGE,
                        format!(
                            "`{}` from {} depends on `{dep_name}` by path (`{dep_path}`)",
                            remote.name, remote.source
                        ),
                    )
                    .with_primary(span, "a fetched package cannot depend on a local path")
                    .with_help(format!("ask the owners of `{}` to depend on a git or OCI source instead", remote.name)),
                );
                continue;
            }
            let target = dir.join(dep_path);
            let canonical = match self.vfs.canonicalize(&target) {
                Ok(p) if self.vfs.is_file(&p.join(PACKAGE_TOML)) => p,
                Ok(p) => {
                    self.out.diagnostics.push(
                        Diagnostic::error(
                            Code::DEPENDENCY_NOT_FOUND,
                            format!("dependency `{dep_name}` at `{dep_path}` is not a kdep package"),
                        )
                        .with_primary(span, format!("no `{PACKAGE_TOML}` in `{}`", self.display(&p)))
                        .with_help("point `path` at the folder that holds the dependency's kdep.toml"),
                    );
                    continue;
                }
                Err(_) => {
                    self.out.diagnostics.push(
                        Diagnostic::error(
                            Code::DEPENDENCY_NOT_FOUND,
                            format!("dependency `{dep_name}` not found at `{dep_path}`"),
                        )
                        .with_primary(span, "this path does not exist")
                        .with_help("dependency paths are relative to the folder holding this kdep.toml"),
                    );
                    continue;
                }
            };
            if let Some(pos) = stack.iter().position(|p| *p == canonical) {
                let chain: Vec<String> = stack
                    .get(pos..)
                    .unwrap_or_default()
                    .iter()
                    .chain(std::iter::once(&canonical))
                    .map(|p| self.package_label(p))
                    .collect();
                self.out.diagnostics.push(
                    Diagnostic::error(Code::DEPENDENCY_NOT_FOUND, format!("dependency cycle: {}", chain.join(" → ")))
                        .with_primary(span, "this dependency closes the cycle")
                        .with_help("packages may not depend on themselves, directly or through others"),
                );
                continue;
            }
            if let Some(dep_idx) = self.load_package(&canonical, None, stack)? {
                if let Some(pkg) = self.out.packages.get_mut(idx) {
                    pkg.deps.insert(dep_name.clone(), dep_idx);
                }
            }
        }
        Ok(())
    }

    /// A git or OCI dependency: its folder comes from [`RemoteSources`] (the lock and the
    /// cache); a cycle is reported by source, as the cache folders mean nothing to the reader.
    fn load_remote_dependency(
        &mut self,
        idx: usize,
        dep_name: &str,
        source: &package_toml::RemoteSource,
        span: Span,
        stack: &mut Vec<PathBuf>,
    ) -> Result<(), LoadError> {
        let dependent = self.out.packages.get(idx).map(|p| p.name.clone()).unwrap_or_default();
        let request = RemoteRequest { dependent: &dependent, name: dep_name, source };
        let located = match self.remote.locate(self.vfs, &request) {
            Ok(located) => located,
            Err(err) => {
                let mut diag = Diagnostic::error(err.code, err.message).with_primary(span, format!("from {source}"));
                if let Some(help) = err.help {
                    diag = diag.with_help(help);
                }
                self.out.diagnostics.push(diag);
                return Ok(());
            }
        };
        if let Some(pos) = stack.iter().position(|p| *p == located.dir) {
            let chain: Vec<String> = stack
                .get(pos..)
                .unwrap_or_default()
                .iter()
                .chain(std::iter::once(&located.dir))
                .map(|p| self.package_label(p))
                .collect();
            self.out.diagnostics.push(
                Diagnostic::error(Code::DEPENDENCY_NOT_FOUND, format!("dependency cycle: {}", chain.join(" → ")))
                    .with_primary(span, format!("this dependency ({source}) closes the cycle"))
                    .with_help("packages may not depend on themselves, directly or through others"),
            );
            return Ok(());
        }
        if let Some(dep_idx) = self.load_package(&located.dir, Some(&located.locked), stack)? {
            if let Some(pkg) = self.out.packages.get_mut(idx) {
                pkg.deps.insert(dep_name.to_owned(), dep_idx);
            }
        }
        Ok(())
    }

    /// How a package folder on the dependency stack is named in a cycle: its path from the
    /// root, or `name version (source)` for a fetched package.
    fn package_label(&self, dir: &Path) -> String {
        let remote = self.by_root.get(dir).and_then(|i| self.out.packages.get(*i)).and_then(|p| p.remote.as_ref());
        match remote {
            Some(r) => format!("{} {} ({})", r.name, r.version, r.source),
            None => self.display(dir),
        }
    }

    /// Adds every `*.kdep` file below `dir`, skipping hidden folders, `target`, and nested
    /// packages (folders with their own `kdep.toml`), which are separate packages.
    fn load_modules(&mut self, idx: usize, dir: &Path) -> Result<(), LoadError> {
        // In path order already: `collect` walks each folder's entries ordered by name, depth
        // first, which is the order of the paths compared component by component (sorting the
        // list again cost as much as the walk). Each file comes with its path relative to
        // `dir`, built during the walk from the names it already holds.
        let mut files = Vec::new();
        self.collect(dir, dir, "", &mut files)?;
        // Root files are named by their path in the root package (`checkout.kdep`), which is
        // what `kdep.dev/source` records; dependency files by package name and path
        // (`platform/web.kdep`), which stays meaningful wherever the dependency lives on disk.
        let prefix = match self.out.packages.get(idx) {
            Some(pkg) if idx != 0 => format!("{}/", pkg.name),
            _ => String::new(),
        };
        // Read together, which lets the file system read them on several threads; handled
        // below one by one in path order, so ids and diagnostics do not depend on it.
        let texts =
            self.vfs.read_all(&files.iter().map(|(path, _)| path.as_path()).collect::<Vec<_>>(), MAX_FILE_BYTES);
        for ((path, rel), read) in files.into_iter().zip(texts) {
            // `platform/web.kdep` → module `platform.web` (names hold no `/`).
            let module = rel.strip_suffix(".kdep").unwrap_or(&rel).replace('/', ".");
            let display = format!("{prefix}{rel}");
            let bytes = match read {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::FileTooLarge => {
                    self.out.diagnostics.push(
                        Diagnostic::error(
                            Code::FILE_TOO_LARGE,
                            format!("`{display}` is larger than {} MiB", MAX_FILE_BYTES / (1024 * 1024)),
                        )
                        .with_help("split the module into several files; kdep sources are meant to be written by hand"),
                    );
                    continue;
                }
                Err(e) => return Err(LoadError::Io(self.display_path(&path), e)),
            };
            let text = match String::from_utf8(bytes) {
                Ok(t) => t,
                Err(e) => {
                    let offset = e.utf8_error().valid_up_to();
                    let valid = e.as_bytes().get(..offset).unwrap_or_default();
                    let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
                    self.out.diagnostics.push(
                        Diagnostic::error(
                            Code::INVALID_UTF8,
                            format!("`{display}` is not valid UTF-8 (first invalid byte at line {line}, byte offset {offset})"),
                        )
                        .with_help("save the file as UTF-8"),
                    );
                    continue;
                }
            };
            let id = self.add_file(FileKind::Source, Some(idx), module.clone(), path, display, text);
            let Some(pkg) = self.out.packages.get_mut(idx) else { continue };
            // `a.b.kdep` and `a/b.kdep` are both module `a.b`. Keeping the first and reporting
            // both stops the second (and its errors) from disappearing without a word. One
            // descent of the map, for the lookup and the insertion.
            let (module, first) = match pkg.modules.entry(module) {
                std::collections::btree_map::Entry::Vacant(slot) => {
                    slot.insert(id);
                    continue;
                }
                std::collections::btree_map::Entry::Occupied(slot) => (slot.key().clone(), *slot.get()),
            };
            let first_display = self.out.files.get(first.0 as usize).map_or("", |f| f.display_path.as_str());
            let second_display = self.out.files.get(id.0 as usize).map_or("", |f| f.display_path.as_str());
            self.out.diagnostics.push(
                Diagnostic::error(
                    Code::DUPLICATE_MODULE,
                    format!("`{first_display}` and `{second_display}` are both module `{module}`"),
                )
                .with_primary(Span::new(id, TextRange::empty(0)), "this file is not loaded")
                .with_secondary(Span::new(first, TextRange::empty(0)), format!("this file is module `{module}`"))
                .with_help("rename one of the files; keep dots out of file and folder names"),
            );
        }
        Ok(())
    }

    /// The module files below `dir` in path order, each with its path relative to `root`
    /// (`rel` is `dir`'s, empty or ending in `/`), `/`-separated and lossily UTF-8, as
    /// [`relative_path`] would give it.
    fn collect(&self, root: &Path, dir: &Path, rel: &str, out: &mut Vec<(PathBuf, String)>) -> Result<(), LoadError> {
        let entries = self.vfs.read_dir(dir).map_err(|e| LoadError::Io(self.display_path(dir), e))?;
        // One folder's entries differ only in their last component: ordering by the names
        // (taken once each) is ordering by the paths, without comparing every path's
        // components again at each comparison (which was most of loading thousands of files).
        let mut named: Vec<(std::ffi::OsString, DirEntry)> =
            entries.into_iter().map(|e| (e.path.file_name().map(ToOwned::to_owned).unwrap_or_default(), e)).collect();
        named.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (name, entry) in named {
            let name = name.to_string_lossy();
            if entry.is_dir {
                if is_skipped_dir(&name) || (entry.path != root && self.vfs.is_file(&entry.path.join(PACKAGE_TOML))) {
                    continue;
                }
                self.collect(root, &entry.path, &format!("{rel}{name}/"), out)?;
            } else if is_module_file(&name) {
                out.push((entry.path, format!("{rel}{name}")));
            }
        }
        Ok(())
    }

    fn checksum(&self, idx: usize) -> String {
        let Some(pkg) = self.out.packages.get(idx) else { return String::new() };
        let file_text = |id: FileId| self.out.files.get(id.0 as usize).map_or("", |f| f.text.as_str());
        package_checksum(
            file_text(pkg.package_toml_file),
            pkg.modules.iter().map(|(m, id)| (m.as_str(), file_text(*id))),
        )
    }
}

/// Folders the loader never looks into for modules: hidden ones, build output, `node_modules`.
pub fn is_skipped_dir(name: &str) -> bool {
    name.starts_with('.') || name == "target" || name == "node_modules"
}

/// A file name the loader takes as a module. Hidden files are skipped like hidden folders:
/// editors keep lock files such as Emacs' `.#main.kdep` next to the file being edited.
pub fn is_module_file(name: &str) -> bool {
    name.ends_with(".kdep") && !name.starts_with('.')
}

/// The files of a package the loader reads, from a list of `/`-separated paths relative to its
/// folder (an archive's or a git tree's): `kdep.toml` and the module files, by the loader's
/// rules (no hidden or skipped folders, no nested packages). Sorted. What `kdep mod publish`
/// packs and what a fetch keeps.
pub fn package_files<'a>(paths: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let paths: Vec<&str> = paths.into_iter().collect();
    let nested: Vec<&str> =
        paths.iter().filter_map(|p| p.strip_suffix(PACKAGE_TOML).and_then(|d| d.strip_suffix('/'))).collect();
    let mut out: Vec<&str> = paths
        .iter()
        .copied()
        .filter(|p| {
            if *p == PACKAGE_TOML {
                return true;
            }
            let mut segs: Vec<&str> = p.split('/').collect();
            let Some(file) = segs.pop() else { return false };
            is_module_file(file)
                && segs.iter().all(|s| !s.is_empty() && !is_skipped_dir(s) && *s != "..")
                && !nested.iter().any(|n| p.starts_with(&format!("{n}/")))
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// `sha256:<hex>` of a package's `kdep.toml` and its modules (module path and text, in module
/// order): what `kdep.lock` records and what names the package's folder in the cache.
pub fn package_checksum<'a>(package_toml: &str, modules: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"kdep.toml\0");
    hasher.update(package_toml.as_bytes());
    let mut modules: Vec<(&str, &str)> = modules.into_iter().collect();
    modules.sort_by(|a, b| a.0.cmp(b.0));
    for (module, text) in modules {
        hasher.update(b"\0module\0");
        hasher.update(module.as_bytes());
        hasher.update(b"\0");
        hasher.update(Sha256::digest(text.as_bytes()));
    }
    format!("sha256:{}", hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `platform/web.kdep` → `platform.web`.
pub fn module_path(rel: &Path) -> String {
    let segs: Vec<std::borrow::Cow<'_, str>> = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect();
    module_of(&segs)
}

/// [`module_path`] of a path already split into components.
fn module_of(segs: &[std::borrow::Cow<'_, str>]) -> String {
    let mut out = String::new();
    for (i, seg) in segs.iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        let last = i + 1 == segs.len();
        out.push_str(if last { seg.strip_suffix(".kdep").unwrap_or(seg) } else { seg });
    }
    out
}

/// `to` relative to `from` (both absolute), `/`-separated, e.g. `../platform/web.kdep`.
pub fn relative_path(from: &Path, to: &Path) -> String {
    let from: Vec<Component> = from.components().collect();
    let to_c: Vec<Component> = to.components().collect();
    let common = from.iter().zip(&to_c).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = Vec::new();
    for _ in common..from.len() {
        parts.push("..".into());
    }
    for c in to_c.iter().skip(common) {
        parts.push(c.as_os_str().to_string_lossy().into_owned());
    }
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::MemoryFs;

    fn fixture() -> MemoryFs {
        MemoryFs::from_fixture(
            "//- /ws/platform/kdep.toml\n[package]\nname = \"platform\"\nversion = \"1.0.0\"\n\
             //- /ws/platform/web.kdep\ntemplate Web {}\n\
             //- /ws/platform/nested/deep.kdep\nlet x = 1\n\
             //- /ws/shop/kdep.toml\n[package]\nname = \"shop\"\nversion = \"0.1.0\"\n[dependencies]\nplatform = { path = \"../platform\" }\n\
             //- /ws/shop/app.kdep\nimport platform.web\n",
        )
    }

    #[test]
    fn loads_root_and_dependencies_with_module_paths() {
        let fs = fixture();
        let root = find_package_root(&fs, Path::new("/ws/shop/app.kdep")).expect("package");
        assert_eq!(root, PathBuf::from("/ws/shop"));
        let loaded = load(&fs, &root, &[]).expect("loads");
        assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
        let shop = &loaded.packages[loaded.root];
        assert_eq!(shop.name, "shop");
        let platform = &loaded.packages[shop.deps["platform"]];
        assert_eq!(platform.modules.keys().collect::<Vec<_>>(), ["nested.deep", "web"]);
        let web = &loaded.files[platform.modules["web"].0 as usize];
        assert_eq!(web.display_path, "platform/web.kdep");
        assert!(platform.checksum.starts_with("sha256:"));
        // The root package's sources are not hashed: the lock records dependencies only.
        assert_eq!(shop.checksum, "");
    }

    #[test]
    fn missing_dependency_is_a_diagnostic_on_the_package_toml() {
        let fs = MemoryFs::from_fixture(
            "//- /ws/a/kdep.toml\n[package]\nname = \"a\"\nversion = \"1.0.0\"\n[dependencies]\nb = { path = \"../b\" }\n",
        );
        let loaded = load(&fs, Path::new("/ws/a"), &[]).expect("loads");
        assert_eq!(loaded.diagnostics.len(), 1);
        assert_eq!(loaded.diagnostics[0].code, Code::DEPENDENCY_NOT_FOUND);
    }

    #[test]
    fn dependency_cycles_are_reported_not_followed() {
        let fs = MemoryFs::from_fixture(
            "//- /ws/a/kdep.toml\n[package]\nname = \"a\"\nversion = \"1.0.0\"\n[dependencies]\nb = { path = \"../b\" }\n\
             //- /ws/b/kdep.toml\n[package]\nname = \"b\"\nversion = \"1.0.0\"\n[dependencies]\na = { path = \"../a\" }\n",
        );
        let loaded = load(&fs, Path::new("/ws/a"), &[]).expect("loads");
        assert_eq!(loaded.diagnostics.len(), 1);
        assert!(
            loaded.diagnostics[0].message.contains("dependency cycle: . → ../b → ."),
            "{}",
            loaded.diagnostics[0].message
        );
    }

    #[test]
    fn not_a_package() {
        let fs = MemoryFs::from_fixture("//- /ws/x/file.kdep\nlet x = 1\n");
        assert!(matches!(find_package_root(&fs, Path::new("/ws/x")), Err(LoadError::NotAPackage(_))));
        assert!(matches!(find_package_root(&fs, Path::new("/nope")), Err(LoadError::NotFound(_))));
    }

    #[test]
    fn a_package_toml_that_is_a_folder_is_named_as_such() {
        // It used to read as "no `kdep.toml` found there or in any parent folder".
        let fs = MemoryFs::from_fixture("//- /ws/x/kdep.toml/oops.txt\n\n//- /ws/x/main.kdep\nlet x = 1\n");
        let err = find_package_root(&fs, Path::new("/ws/x")).expect_err("not a package");
        assert_eq!(err.to_string(), "`/ws/x/kdep.toml` is a folder; a package's `kdep.toml` must be a file");
    }

    /// A tree whose `/ws/locked` folder cannot be searched, as for a user without permission.
    struct Unsearchable(MemoryFs);
    impl Vfs for Unsearchable {
        fn read(&self, path: &Path, limit: u64) -> io::Result<Vec<u8>> {
            self.0.read(path, limit)
        }
        fn read_dir(&self, path: &Path) -> io::Result<Vec<crate::vfs::DirEntry>> {
            self.0.read_dir(path)
        }
        fn is_dir(&self, path: &Path) -> bool {
            self.0.is_dir(path)
        }
        fn is_file(&self, path: &Path) -> bool {
            self.0.is_file(path) && !path.starts_with("/ws/locked")
        }
        fn kind(&self, path: &Path) -> io::Result<PathKind> {
            if path.starts_with("/ws/locked/") {
                return Err(io::Error::from(io::ErrorKind::PermissionDenied));
            }
            self.0.kind(path)
        }
        fn canonicalize(&self, path: &Path) -> io::Result<PathBuf> {
            self.0.canonicalize(path)
        }
    }

    #[test]
    fn an_unreadable_package_folder_is_reported_as_unreadable() {
        // Tests run as root, which ignores permissions, so the denial is injected.
        let fs = Unsearchable(MemoryFs::from_fixture("//- /ws/locked/kdep.toml\n[package]\n"));
        let err = find_package_root(&fs, Path::new("/ws/locked")).expect_err("unreadable");
        assert!(
            matches!(&err, LoadError::Io(p, e) if p == Path::new("/ws/locked/kdep.toml") && e.kind() == io::ErrorKind::PermissionDenied),
            "{err}"
        );
    }

    /// A tree that lists every folder's entries in reverse order, as a real file system may
    /// list them in any order.
    struct Reversed(MemoryFs);
    impl Vfs for Reversed {
        fn read(&self, path: &Path, limit: u64) -> io::Result<Vec<u8>> {
            self.0.read(path, limit)
        }
        fn read_dir(&self, path: &Path) -> io::Result<Vec<crate::vfs::DirEntry>> {
            let mut entries = self.0.read_dir(path)?;
            entries.reverse();
            Ok(entries)
        }
        fn is_dir(&self, path: &Path) -> bool {
            self.0.is_dir(path)
        }
        fn is_file(&self, path: &Path) -> bool {
            self.0.is_file(path)
        }
        fn kind(&self, path: &Path) -> io::Result<PathKind> {
            self.0.kind(path)
        }
        fn canonicalize(&self, path: &Path) -> io::Result<PathBuf> {
            self.0.canonicalize(path)
        }
    }

    /// File ids follow the paths' order compared component by component, whatever order the
    /// folders list their entries in: `a/b.kdep` comes before `a-b.kdep` (`a` < `a-b.kdep`),
    /// although as strings `-` sorts before `/`. The loader walks each folder's entries by name
    /// and does not sort the whole list again; this pins that the walk gives the same order.
    #[test]
    fn files_get_ids_in_path_order_whatever_the_listing_order() {
        let names = ["B.kdep", "a-b.kdep", "a.kdep", "a/b.kdep", "a/c/d.kdep", "a0.kdep", "z/y/x.kdep", "z.kdep"];
        let mut fixture = String::from("//- /ws/p/kdep.toml\n[package]\nname = \"p\"\nversion = \"1.0.0\"\n");
        for name in names {
            fixture.push_str(&format!("//- /ws/p/{name}\nlet x = 1\n"));
        }
        let loaded = load(&Reversed(MemoryFs::from_fixture(&fixture)), Path::new("/ws/p"), &[]).expect("loads");
        let order: Vec<&str> =
            loaded.files.iter().filter(|f| f.kind == FileKind::Source).map(|f| f.display_path.as_str()).collect();
        let mut by_path: Vec<PathBuf> = names.iter().map(PathBuf::from).collect();
        by_path.sort();
        let expected: Vec<String> = by_path.iter().map(|p| p.display().to_string()).collect();
        assert_eq!(order, expected);
        assert_eq!(order[..4], ["B.kdep", "a/b.kdep", "a/c/d.kdep", "a-b.kdep"]);
    }

    #[test]
    fn module_and_relative_paths() {
        assert_eq!(module_path(Path::new("platform/web.kdep")), "platform.web");
        assert_eq!(relative_path(Path::new("/a/b"), Path::new("/a/c/d.kdep")), "../c/d.kdep");
        assert_eq!(relative_path(Path::new("/a/b"), Path::new("/a/b/x.kdep")), "x.kdep");
    }
}
