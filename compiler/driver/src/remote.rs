//! Git and OCI dependencies as the compiler sees them: already fetched folders in a
//! content-addressed cache, named by `kdep.lock`.
//!
//! The loader asks a [`RemoteSources`] where a remote dependency's sources are. The pure
//! [`LockedCache`] answers from the lock and the cache folders alone (through the `Vfs`), so
//! `build`, `check` and the editor find dependencies the same way and never touch the network;
//! the CLI wraps it with one that resolves and fetches what is missing (crate `kdep-pkg`).
//! A build against an older lock is a build with another [`Lock`]: the cache keeps every
//! version it fetched, each under its own checksum.

use std::path::{Path, PathBuf};

use kdep_diag::Code;

use crate::lock::{Lock, LockedRemote};
use crate::package_toml::RemoteSource;
use crate::vfs::Vfs;

/// One remote dependency the loader needs.
#[derive(Clone, Copy, Debug)]
pub struct RemoteRequest<'a> {
    /// The package whose `kdep.toml` names the dependency.
    pub dependent: &'a str,
    /// The dependency's name in that `kdep.toml`.
    pub name: &'a str,
    pub source: &'a RemoteSource,
}

/// Where a remote dependency's sources are, and what the lock says of them. The loader
/// compares the sources' checksum with `locked.checksum`.
#[derive(Clone, Debug)]
pub struct Located {
    pub dir: PathBuf,
    pub locked: LockedRemote,
}

/// Why a remote dependency cannot be located; the loader reports it on the dependency's entry
/// in `kdep.toml`.
#[derive(Clone, Debug)]
pub struct RemoteError {
    pub code: Code,
    pub message: String,
    pub help: Option<String>,
}

/// Finds (and, in the CLI, fetches) the sources of git and OCI dependencies.
pub trait RemoteSources {
    fn locate(&mut self, vfs: &dyn Vfs, request: &RemoteRequest<'_>) -> Result<Located, RemoteError>;
}

/// Name of the folder, inside a cache or vendor folder, that holds sources with `checksum`
/// (`sha256:<hex>` → `sha256-<hex>`): content-addressed, so two versions never share one.
pub fn checksum_dir_name(checksum: &str) -> String {
    checksum.replace(':', "-")
}

/// Answers from `kdep.lock` and folders of fetched sources (`vendor/`, then the cache's
/// `src/`), reading nothing else: what `build --offline`, `check` and the editor use.
#[derive(Clone, Debug, Default)]
pub struct LockedCache {
    pub lock: Lock,
    /// Folders holding `sha256-<hex>/` source trees, searched in order.
    pub dirs: Vec<PathBuf>,
}

impl LockedCache {
    pub fn new(lock: Lock, dirs: Vec<PathBuf>) -> LockedCache {
        LockedCache { lock, dirs }
    }

    /// The folder holding `locked`'s sources, if one of the folders has it.
    pub fn find_dir(&self, vfs: &dyn Vfs, locked: &LockedRemote) -> Option<PathBuf> {
        let name = checksum_dir_name(&locked.checksum);
        self.dirs.iter().map(|d| d.join(&name)).find(|d| vfs.is_file(&d.join(crate::loader::PACKAGE_TOML)))
    }
}

impl RemoteSources for LockedCache {
    fn locate(&mut self, vfs: &dyn Vfs, request: &RemoteRequest<'_>) -> Result<Located, RemoteError> {
        let Some(locked) = self.lock.find(request.source) else {
            return Err(RemoteError {
                code: Code::DEPENDENCY_NOT_FETCHED,
                message: format!("dependency `{}` ({}) is not in kdep.lock", request.name, request.source),
                help: Some("run `kdep mod fetch` to resolve it and record it in kdep.lock".into()),
            });
        };
        match self.find_dir(vfs, locked) {
            Some(dir) => Ok(Located { dir, locked: locked.clone() }),
            None => Err(RemoteError {
                code: Code::DEPENDENCY_NOT_FETCHED,
                message: format!(
                    "dependency `{}` ({} = {} {}) is not in the cache",
                    request.name, request.source, locked.version, locked.resolved
                ),
                help: Some(format!(
                    "run `kdep mod fetch` (or build without `--offline`); looked in {}",
                    self.dirs.iter().map(|d| format!("`{}`", d.display())).collect::<Vec<_>>().join(", ")
                )),
            }),
        }
    }
}

/// The cache folders a [`LockedCache`] searches for a package at `root`: its `vendor/`
/// folder (written by `kdep mod vendor`), then `<cache>/src`.
pub fn source_dirs(root: &Path, cache: Option<&Path>) -> Vec<PathBuf> {
    let mut dirs = vec![root.join(VENDOR_DIR)];
    dirs.extend(cache.map(|c| c.join("src")));
    dirs
}

/// The folder `kdep mod vendor` writes, inside the root package.
pub const VENDOR_DIR: &str = "vendor";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loader::{load_with_remote, package_checksum};
    use crate::lock::{parse_lock, render_lock};
    use crate::vfs::MemoryFs;

    const PLATFORM_TOML: &str = "[package]\nname = \"platform\"\nversion = \"1.2.0\"\n";
    const WEB: &str = "template Web {}\n";

    fn lock_text(checksum: &str) -> String {
        format!(
            "version = 1\n\n[[package]]\nname = \"platform\"\nversion = \"1.2.0\"\nsource = \"oci+r.io/kdep/platform\"\nresolved = \"sha256:{}\"\nchecksum = \"{checksum}\"\n",
            "1".repeat(64)
        )
    }

    /// `shop` depends on `platform` from OCI; the cache holds `platform`'s files under their
    /// checksum.
    fn fixture(web_in_cache: &str) -> (MemoryFs, String) {
        let checksum = package_checksum(PLATFORM_TOML, [("web", WEB)]);
        let mut fs = MemoryFs::from_fixture(
            "//- /ws/shop/kdep.toml\n[package]\nname = \"shop\"\nversion = \"0.1.0\"\n[dependencies]\nplatform = { oci = \"r.io/kdep/platform\", version = \"^1.0\" }\n\
             //- /ws/shop/app.kdep\nimport platform.web\n",
        );
        let dir = format!("/cache/src/{}", checksum_dir_name(&checksum));
        fs.insert(format!("{dir}/kdep.toml"), PLATFORM_TOML);
        fs.insert(format!("{dir}/web.kdep"), web_in_cache);
        (fs, checksum)
    }

    fn cache_for(checksum: &str) -> LockedCache {
        LockedCache::new(
            parse_lock(&lock_text(checksum)).unwrap(),
            source_dirs(Path::new("/ws/shop"), Some(Path::new("/cache"))),
        )
    }

    #[test]
    fn the_lock_names_the_cached_sources_and_round_trips() {
        let (fs, checksum) = fixture(WEB);
        let loaded = load_with_remote(&fs, Path::new("/ws/shop"), &[], &mut cache_for(&checksum)).unwrap();
        assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
        let platform = &loaded.packages[loaded.packages[loaded.root].deps["platform"]];
        assert_eq!(loaded.files[platform.modules["web"].0 as usize].display_path, "platform/web.kdep");
        // The lock written after the load is the lock it was loaded with (plus the header).
        assert!(render_lock(&loaded).ends_with(&lock_text(&checksum)), "{}", render_lock(&loaded));
    }

    #[test]
    fn tampered_cache_and_missing_sources_are_errors_naming_both_hashes() {
        let (fs, checksum) = fixture("template Web { evil: int = 1 }\n");
        let loaded = load_with_remote(&fs, Path::new("/ws/shop"), &[], &mut cache_for(&checksum)).unwrap();
        let messages: Vec<_> = loaded.diagnostics.iter().map(|d| (d.code.id, d.message.clone())).collect();
        assert_eq!(messages.len(), 1, "{messages:?}");
        assert_eq!(messages[0].0, "K0702");
        assert!(messages[0].1.starts_with(&format!("checksum mismatch for `platform` 1.2.0 from oci+r.io/kdep/platform: kdep.lock has {checksum}, the sources in `/cache/src/")), "{}", messages[0].1);

        let other = format!("sha256:{}", "2".repeat(64));
        let loaded = load_with_remote(&fs, Path::new("/ws/shop"), &[], &mut cache_for(&other)).unwrap();
        assert_eq!(loaded.diagnostics[0].code.id, "K0701");
        assert!(loaded.diagnostics[0].message.contains("is not in the cache"), "{}", loaded.diagnostics[0].message);

        let loaded = load_with_remote(&fs, Path::new("/ws/shop"), &[], &mut LockedCache::default()).unwrap();
        assert_eq!(
            loaded.diagnostics[0].message,
            "dependency `platform` (oci r.io/kdep/platform ^1.0) is not in kdep.lock"
        );
    }

    #[test]
    fn a_cycle_across_sources_is_reported_by_source() {
        // `platform` (OCI) depends on `shop_lib` (git), which depends on `platform` again.
        let platform_toml = "[package]\nname = \"platform\"\nversion = \"1.2.0\"\n[dependencies]\nlib = { git = \"file:///lib\", tag = \"v1\" }\n";
        let lib_toml = "[package]\nname = \"lib\"\nversion = \"0.1.0\"\n[dependencies]\nplatform = { oci = \"r.io/kdep/platform\", version = \"1\" }\n";
        let p_sum = package_checksum(platform_toml, []);
        let l_sum = package_checksum(lib_toml, []);
        let mut fs = MemoryFs::from_fixture(
            "//- /ws/shop/kdep.toml\n[package]\nname = \"shop\"\nversion = \"0.1.0\"\n[dependencies]\nplatform = { oci = \"r.io/kdep/platform\", version = \"^1.0\" }\n",
        );
        fs.insert(format!("/cache/src/{}/kdep.toml", checksum_dir_name(&p_sum)), platform_toml);
        fs.insert(format!("/cache/src/{}/kdep.toml", checksum_dir_name(&l_sum)), lib_toml);
        let lock = format!(
            "{}\n[[package]]\nname = \"lib\"\nversion = \"0.1.0\"\nsource = \"git+file:///lib\"\nreference = \"tag v1\"\nresolved = \"{}\"\nchecksum = \"{l_sum}\"\n",
            lock_text(&p_sum),
            "a".repeat(40)
        );
        let mut remote = LockedCache::new(parse_lock(&lock).unwrap(), vec![PathBuf::from("/cache/src")]);
        let loaded = load_with_remote(&fs, Path::new("/ws/shop"), &[], &mut remote).unwrap();
        assert_eq!(loaded.diagnostics.len(), 1, "{:?}", loaded.diagnostics);
        assert_eq!(
            loaded.diagnostics[0].message,
            "dependency cycle: platform 1.2.0 (oci+r.io/kdep/platform) → lib 0.1.0 (git+file:///lib) → platform 1.2.0 (oci+r.io/kdep/platform)"
        );
    }

    #[test]
    fn a_fetched_package_cannot_depend_on_a_path() {
        let toml = "[package]\nname = \"platform\"\nversion = \"1.2.0\"\n[dependencies]\nx = { path = \"../x\" }\n";
        let sum = package_checksum(toml, []);
        let mut fs = MemoryFs::from_fixture(
            "//- /ws/shop/kdep.toml\n[package]\nname = \"shop\"\nversion = \"0.1.0\"\n[dependencies]\nplatform = { oci = \"r.io/kdep/platform\", version = \"^1.0\" }\n",
        );
        fs.insert(format!("/cache/src/{}/kdep.toml", checksum_dir_name(&sum)), toml);
        let mut remote = LockedCache::new(parse_lock(&lock_text(&sum)).unwrap(), vec![PathBuf::from("/cache/src")]);
        let loaded = load_with_remote(&fs, Path::new("/ws/shop"), &[], &mut remote).unwrap();
        assert_eq!(loaded.diagnostics[0].code.id, "K0704");
        assert_eq!(
            loaded.diagnostics[0].message,
            "`platform` from oci+r.io/kdep/platform depends on `x` by path (`../x`)"
        );
    }
}
