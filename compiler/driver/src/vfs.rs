//! The file-system boundary of the compiler: the driver reads packages only through [`Vfs`].
//!
//! Compiler crates never touch the disk (see ARCHITECTURE.md); the CLI passes an OS-backed
//! implementation, tests pass [`MemoryFs`].

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

/// One directory entry.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DirEntry {
    pub path: PathBuf,
    pub is_dir: bool,
}

/// What a path names, following symlinks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathKind {
    File,
    Dir,
    /// A FIFO, socket or device.
    Other,
}

/// Read-only access to source trees.
pub trait Vfs {
    /// Reads a whole file. Implementations should refuse files larger than `limit` bytes with
    /// an error of kind [`io::ErrorKind::FileTooLarge`] rather than reading them.
    fn read(&self, path: &Path, limit: u64) -> io::Result<Vec<u8>>;
    /// Reads several files, each as [`Vfs::read`] does, the results in the order of `paths`.
    /// The loader reads a package's module files through it, so an implementation backed by
    /// a real disk may read them on several threads (the CLI's does); this one reads them one
    /// after another.
    fn read_all(&self, paths: &[&Path], limit: u64) -> Vec<io::Result<Vec<u8>>> {
        paths.iter().map(|path| self.read(path, limit)).collect()
    }
    /// Lists a directory; order does not matter (the loader sorts).
    fn read_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>>;
    fn is_dir(&self, path: &Path) -> bool;
    fn is_file(&self, path: &Path) -> bool;
    /// What `path` is: an error of kind [`io::ErrorKind::NotFound`] when nothing is there, any
    /// other error when that cannot be told (a folder on the way cannot be searched), so
    /// callers can report the true reason instead of "not found".
    fn kind(&self, path: &Path) -> io::Result<PathKind> {
        if self.is_file(path) {
            Ok(PathKind::File)
        } else if self.is_dir(path) {
            Ok(PathKind::Dir)
        } else {
            Err(io::Error::from(io::ErrorKind::NotFound))
        }
    }
    /// Makes a path absolute and normal so two spellings of one package are recognised.
    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf>;
}

/// An in-memory tree for tests: absolute paths to file contents.
#[derive(Clone, Debug, Default)]
pub struct MemoryFs {
    files: BTreeMap<PathBuf, Vec<u8>>,
}

impl MemoryFs {
    pub fn new() -> Self {
        MemoryFs::default()
    }

    /// Adds a file; `path` should be absolute (e.g. `/ws/app/kdep.toml`).
    pub fn insert(&mut self, path: impl Into<PathBuf>, contents: impl Into<Vec<u8>>) {
        self.files.insert(normalize(&path.into()), contents.into());
    }

    /// Builds a tree from a fixture with `//- /path` headers, one file per section.
    pub fn from_fixture(fixture: &str) -> Self {
        let mut fs = MemoryFs::new();
        let mut current: Option<(String, String)> = None;
        for line in fixture.lines() {
            if let Some(path) = line.strip_prefix("//- ") {
                if let Some((p, text)) = current.take() {
                    fs.insert(p, text);
                }
                current = Some((path.trim().to_owned(), String::new()));
            } else if let Some((_, text)) = current.as_mut() {
                text.push_str(line);
                text.push('\n');
            }
        }
        if let Some((p, text)) = current {
            fs.insert(p, text);
        }
        fs
    }
}

/// Resolves `.` and `..` lexically (the in-memory tree has no symlinks).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for comp in path.components() {
        match comp {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

impl Vfs for MemoryFs {
    fn read(&self, path: &Path, limit: u64) -> io::Result<Vec<u8>> {
        let data = self.files.get(&normalize(path)).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        if data.len() as u64 > limit {
            return Err(io::Error::from(io::ErrorKind::FileTooLarge));
        }
        Ok(data.clone())
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
        let dir = normalize(path);
        if !self.is_dir(&dir) {
            return Err(io::Error::from(io::ErrorKind::NotFound));
        }
        let mut out: Vec<DirEntry> = Vec::new();
        for file in self.files.keys() {
            if let Ok(rest) = file.strip_prefix(&dir) {
                let mut comps = rest.components();
                if let Some(first) = comps.next() {
                    let is_dir = comps.next().is_some();
                    let entry = DirEntry { path: dir.join(first.as_os_str()), is_dir };
                    if !out.contains(&entry) {
                        out.push(entry);
                    }
                }
            }
        }
        Ok(out)
    }

    fn is_dir(&self, path: &Path) -> bool {
        let dir = normalize(path);
        self.files.keys().any(|f| f.starts_with(&dir) && *f != dir)
    }

    fn is_file(&self, path: &Path) -> bool {
        self.files.contains_key(&normalize(path))
    }

    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf> {
        let p = normalize(path);
        if self.is_file(&p) || self.is_dir(&p) {
            Ok(p)
        } else {
            Err(io::Error::from(io::ErrorKind::NotFound))
        }
    }
}
