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
