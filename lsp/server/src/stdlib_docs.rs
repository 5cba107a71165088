//! The stdlib as read-only documents: go to definition into `std.*`/`k8s.*` opens a copy of the
//! embedded module in a cache folder (`$XDG_CACHE_HOME/kdep/stdlib-<hash>`, else
//! `~/.cache/...`), which every editor opens like any file. The folder name is a hash of the
//! embedded sources, so a copy is never stale; files are written atomically and made read-only.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub struct StdlibDocs {
    dir: Option<PathBuf>,
}

impl StdlibDocs {
    pub fn new() -> StdlibDocs {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")));
        let mut hasher = Sha256::new();
        for (module, _, text) in kdep_stdlib::modules() {
            hasher.update(module.as_bytes());
            hasher.update([0]);
            hasher.update(text.as_bytes());
            hasher.update([0]);
        }
        let hash: String = hasher.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect();
        StdlibDocs { dir: base.map(|b| b.join("kdep").join(format!("stdlib-{hash}"))) }
    }

    /// The folder the copies live in (whether or not it exists yet).
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The path of the copy of stdlib file `rel` (`std/workloads.kdep`), written on first use.
    pub fn path(&self, rel: &str, text: &str) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
        if rel.split('/').any(|seg| seg.is_empty() || seg == "." || seg == "..") {
            return None;
        }
        let path = dir.join(rel);
        if std::fs::read(&path).is_ok_and(|existing| existing == text.as_bytes()) {
            return Some(path);
        }
        let parent = path.parent()?;
        std::fs::create_dir_all(parent).ok()?;
        let tmp = parent.join(format!(".{}.{}.tmp", path.file_name()?.to_string_lossy(), std::process::id()));
        let written = std::fs::File::create(&tmp).and_then(|mut f| {
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            let mut perms = f.metadata()?.permissions();
            perms.set_readonly(true);
            std::fs::set_permissions(&tmp, perms)
        });
        if written.and_then(|()| std::fs::rename(&tmp, &path)).is_err() {
            let _ = std::fs::remove_file(&tmp);
            return None;
        }
        Some(path)
    }
}
