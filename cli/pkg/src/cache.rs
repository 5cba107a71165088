//! The content-addressed cache (`$KDEP_CACHE`, by default `kdep` in the user's cache folder):
//!
//! ```text
//! src/sha256-<hex>/     a package's kdep.toml and modules, named by their checksum
//! git/<hash of URL>/    bare mirrors of git repositories
//! tmp/                  work folders, renamed into place when complete
//! ```
//! A folder under `src/` appears whole or not at all (written aside, then renamed), and only
//! after its checksum was computed from what it holds, so a killed fetch leaves no half package.

use std::path::{Path, PathBuf};

use kdep_compiler::remote::checksum_dir_name;
use sha2::{Digest, Sha256};

use crate::archive::PackageFiles;

/// The environment variable naming the cache folder.
pub const CACHE_ENV: &str = "KDEP_CACHE";

#[derive(Clone, Debug)]
pub struct Cache {
    root: PathBuf,
}

impl Cache {
    pub fn new(root: impl Into<PathBuf>) -> Cache {
        Cache { root: root.into() }
    }

    /// `$KDEP_CACHE`, else `kdep` in the platform's cache folder (`$XDG_CACHE_HOME` or
    /// `~/.cache` on Linux, `~/Library/Caches` on macOS).
    pub fn from_env() -> Result<Cache, String> {
        if let Some(dir) = std::env::var_os(CACHE_ENV).filter(|d| !d.is_empty()) {
            return Ok(Cache::new(dir));
        }
        dirs::cache_dir()
            .map(|d| Cache::new(d.join("kdep")))
            .ok_or_else(|| format!("cannot tell the user's cache folder; set {CACHE_ENV}"))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where package sources live, one folder per checksum.
    pub fn src_dir(&self) -> PathBuf {
        self.root.join("src")
    }

    /// The bare mirror of a git repository.
    pub fn git_dir(&self, url: &str) -> PathBuf {
        let digest = Sha256::digest(url.as_bytes());
        let name: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
        self.root.join("git").join(name)
    }

    /// A new, empty work folder under `tmp/`.
    pub fn temp_dir(&self) -> Result<PathBuf, String> {
        let tmp = self.root.join("tmp");
        std::fs::create_dir_all(&tmp).map_err(|e| format!("cannot create `{}`: {e}", tmp.display()))?;
        for n in 0u32..1000 {
            let dir = tmp.join(format!("{}-{n}", std::process::id()));
            match std::fs::create_dir(&dir) {
                Ok(()) => return Ok(dir),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(format!("cannot create `{}`: {e}", dir.display())),
            }
        }
        Err(format!("cannot create a work folder in `{}`", tmp.display()))
    }

    /// The folder of sources with this checksum, if the cache has them.
    pub fn package_dir(&self, checksum: &str) -> PathBuf {
        self.src_dir().join(checksum_dir_name(checksum))
    }

    /// Puts a package's files into `src/sha256-<hex>/` (written aside, then renamed). An
    /// existing folder is kept: it holds the same content (the loader checks it on every load).
    pub fn install(&self, pkg: &PackageFiles) -> Result<PathBuf, String> {
        let dest = self.package_dir(&pkg.checksum);
        if dest.join(kdep_compiler::loader::PACKAGE_TOML).is_file() {
            return Ok(dest);
        }
        std::fs::create_dir_all(self.src_dir())
            .map_err(|e| format!("cannot create `{}`: {e}", self.src_dir().display()))?;
        let tmp = self.temp_dir()?;
        let result = write_tree(&tmp, pkg).and_then(|()| match std::fs::rename(&tmp, &dest) {
            Ok(()) => Ok(()),
            // Another kdep installed the same content first.
            Err(_) if dest.join(kdep_compiler::loader::PACKAGE_TOML).is_file() => Ok(()),
            Err(e) => Err(format!("cannot move the package into `{}`: {e}", dest.display())),
        });
        if tmp.exists() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        result.map(|()| dest)
    }
}

/// Writes a package's files below `dir`.
pub fn write_tree(dir: &Path, pkg: &PackageFiles) -> Result<(), String> {
    for (path, text) in &pkg.files {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("cannot create `{}`: {e}", parent.display()))?;
        }
        std::fs::write(&target, text).map_err(|e| format!("cannot write `{}`: {e}", target.display()))?;
    }
    Ok(())
}

/// Reads a package folder (in the cache or a vendor folder) back into [`PackageFiles`].
pub fn read_tree(dir: &Path) -> Result<PackageFiles, String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) -> Result<(), String> {
        let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot read `{}`: {e}", dir.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("cannot read `{}`: {e}", dir.display()))?;
            let path = entry.path();
            let file_type = entry.file_type().map_err(|e| e.to_string())?;
            if file_type.is_dir() {
                walk(root, &path, out)?;
            } else if file_type.is_file() {
                let rel = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().replace('\\', "/");
                let bytes = std::fs::read(&path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
                out.push((rel, bytes));
            }
        }
        Ok(())
    }
    let mut entries = Vec::new();
    walk(dir, dir, &mut entries)?;
    PackageFiles::from_entries(entries)
}
