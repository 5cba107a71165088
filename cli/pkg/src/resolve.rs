//! Resolution and fetching for the loader: [`Fetcher`] answers the loader's questions about git
//! and OCI dependencies from `kdep.lock` and the cache when it can, and otherwise resolves the
//! requirement (newest version a range allows, the commit a tag names), downloads, verifies
//! and installs the sources into the cache. The loader then records what it used in the new
//! lock, so the lock always describes exactly the graph that was compiled.

use std::collections::{BTreeMap, BTreeSet};

use kdep_compiler::diag::Code;
use kdep_compiler::lock::{Lock, LockedRemote};
use kdep_compiler::package_toml::{GitRef, RemoteSource};
use kdep_compiler::remote::{Located, LockedCache, RemoteError, RemoteRequest, RemoteSources};
use kdep_compiler::Vfs;
use serde_json::Value;

use crate::archive::{self, PackageFiles};
use crate::cache::Cache;
use crate::oci::{self, Reference};

/// Which dependencies to move to the newest version their requirement allows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Update {
    /// Keep what the lock names (resolve only what it lacks).
    #[default]
    None,
    All,
    /// These dependency names.
    Only(BTreeSet<String>),
}

#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Never use the network: what the lock names must be in the cache or `vendor/`.
    pub offline: bool,
    pub update: Update,
}

/// The CLI's [`RemoteSources`]: lock and cache first, then the network.
pub struct Fetcher {
    cache: Result<Cache, String>,
    local: LockedCache,
    options: Options,
    client: oci::Client,
    /// What this run resolved anew, by source id and requirement, so every dependent of the
    /// same requirement gets the same answer.
    resolved: BTreeMap<(String, String), Located>,
    /// One line per package downloaded, for the user.
    pub log: Vec<String>,
}

impl Fetcher {
    /// `lock` is the current `kdep.lock` (empty when there is none); `dirs` are the folders of
    /// fetched sources to search (see `kdep_compiler::remote::source_dirs`).
    pub fn new(cache: Result<Cache, String>, lock: Lock, root: &std::path::Path, options: Options) -> Fetcher {
        let dirs = kdep_compiler::remote::source_dirs(root, cache.as_ref().ok().map(Cache::root));
        Fetcher {
            cache,
            local: LockedCache::new(lock, dirs),
            options,
            client: oci::Client::new(),
            resolved: BTreeMap::new(),
            log: Vec::new(),
        }
    }

    fn cache(&self) -> Result<&Cache, RemoteError> {
        self.cache.as_ref().map_err(|e| failed(e.clone(), None))
    }

    fn wants_update(&self, name: &str) -> bool {
        match &self.options.update {
            Update::None => false,
            Update::All => true,
            Update::Only(names) => names.contains(name),
        }
    }

    /// Downloads exactly what a lock entry names and checks it against the lock's checksum.
    fn fetch_locked(&mut self, request: &RemoteRequest<'_>, locked: &LockedRemote) -> Result<Located, RemoteError> {
        let pkg = match request.source {
            RemoteSource::Oci { repository, .. } => {
                let r = reference(repository)?;
                self.oci_package(request, &r, &locked.resolved)?
            }
            RemoteSource::Git { url, .. } => {
                let cache = self.cache()?.clone();
                let mirror = cache.git_dir(url);
                let mirror = if git_has(&mirror, &locked.resolved) {
                    mirror
                } else {
                    crate::git::update_mirror(&cache, url)
                        .map_err(|e| failed(format!("dependency `{}` ({}): {e}", request.name, request.source), None))?
                };
                self.git_package(request, &mirror, &locked.resolved)?
            }
        };
        if pkg.checksum != locked.checksum {
            return Err(RemoteError {
                code: Code::CHECKSUM_MISMATCH,
                message: format!(
                    "checksum mismatch for `{}` {} from {}: kdep.lock has {}, the fetched sources hash to {}",
                    request.name, locked.version, locked.source, locked.checksum, pkg.checksum
                ),
                help: Some(
                    "the source served different content for the locked revision; find out why before running `kdep mod update`"
                        .into(),
                ),
            });
        }
        let dir = self.install(request, &pkg)?;
        self.log.push(format!("fetched {} {} ({})", request.name, locked.version, locked.source));
        Ok(Located { dir, locked: locked.clone() })
    }

    /// Resolves a requirement afresh: the newest matching OCI version, the commit of a git ref.
    fn resolve_new(&mut self, request: &RemoteRequest<'_>) -> Result<Located, RemoteError> {
        let (pkg, version, resolved) = match request.source {
            RemoteSource::Oci { repository, version: range } => {
                let r = reference(repository)?;
                let tags = self.client.tags(&r).map_err(|e| oci_failed(request, e))?;
                let mut versions: Vec<semver::Version> =
                    tags.iter().filter_map(|t| semver::Version::parse(t).ok()).collect();
                versions.sort();
                let Some(best) = versions.iter().rev().find(|v| range.matches(v)).cloned() else {
                    let listed = if versions.is_empty() {
                        "no versions are published there".to_owned()
                    } else {
                        format!(
                            "published: {}",
                            versions.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
                        )
                    };
                    return Err(failed(
                        format!("no version of `{}` ({}) satisfies `{range}`; {listed}", request.name, request.source),
                        Some("change the `version` range in kdep.toml, or publish a matching version".into()),
                    ));
                };
                let tag = best.to_string();
                let Some((_, manifest_digest)) = self.client.manifest(&r, &tag).map_err(|e| oci_failed(request, e))?
                else {
                    return Err(failed(format!("dependency `{}`: tag {tag} of `{r}` disappeared", request.name), None));
                };
                let pkg = self.oci_package(request, &r, &manifest_digest)?;
                if pkg.config.version != tag {
                    return Err(failed(
                        format!(
                            "dependency `{}` ({}): tag {tag} holds a package whose kdep.toml says version {}",
                            request.name, request.source, pkg.config.version
                        ),
                        Some("publish packages with `kdep mod publish`, which tags them with their version".into()),
                    ));
                }
                (pkg, tag, manifest_digest)
            }
            RemoteSource::Git { url, reference: git_ref, .. } => {
                let cache = self.cache()?.clone();
                let mirror = crate::git::update_mirror(&cache, url)
                    .map_err(|e| failed(format!("dependency `{}` ({}): {e}", request.name, request.source), None))?;
                let Some(commit) = crate::git::resolve(&mirror, git_ref) else {
                    let what = match git_ref {
                        GitRef::Tag(t) => format!("tag `{t}`"),
                        GitRef::Rev(r) => format!("revision `{r}`"),
                    };
                    return Err(failed(
                        format!("dependency `{}`: {what} does not exist in `{url}`", request.name),
                        Some("check the `tag` or `rev` in kdep.toml against the repository (`git ls-remote`)".into()),
                    ));
                };
                let pkg = self.git_package(request, &mirror, &commit)?;
                let version = pkg.config.version.clone();
                (pkg, version, commit)
            }
        };
        let dir = self.install(request, &pkg)?;
        let reference = match request.source {
            RemoteSource::Git { .. } => Some(request.source.requirement()),
            RemoteSource::Oci { .. } => None,
        };
        let locked = LockedRemote {
            name: pkg.config.name.clone(),
            version: version.clone(),
            source: request.source.id(),
            reference,
            resolved,
            checksum: pkg.checksum.clone(),
        };
        self.log.push(format!("fetched {} {version} ({})", request.name, request.source.id()));
        Ok(Located { dir, locked })
    }

    fn oci_package(
        &mut self,
        request: &RemoteRequest<'_>,
        r: &Reference,
        manifest_digest: &str,
    ) -> Result<PackageFiles, RemoteError> {
        let Some((manifest, _)) = self.client.manifest(r, manifest_digest).map_err(|e| oci_failed(request, e))? else {
            return Err(failed(
                format!("dependency `{}`: manifest {manifest_digest} is not in `{r}`", request.name),
                Some("the locked version was deleted from the registry; `kdep mod update` picks another".into()),
            ));
        };
        let json: Value = serde_json::from_slice(&manifest).unwrap_or(Value::Null);
        let layer = json
            .get("layers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|l| l.get("mediaType").and_then(Value::as_str) == Some(oci::LAYER_MEDIA_TYPE))
            .and_then(|l| l.get("digest").and_then(Value::as_str))
            .map(str::to_owned);
        let Some(layer) = layer else {
            return Err(failed(
                format!(
                    "dependency `{}`: `{r}` {manifest_digest} is not a kdep package (no `{}` layer)",
                    request.name,
                    oci::LAYER_MEDIA_TYPE
                ),
                Some("point `oci` at a repository written by `kdep mod publish`".into()),
            ));
        };
        let blob = self.client.blob(r, &layer).map_err(|e| {
            let mut err = oci_failed(request, e);
            err.code = Code::CHECKSUM_MISMATCH;
            err
        })?;
        let entries = archive::unpack(&blob, true).map_err(|e| {
            failed(format!("dependency `{}` from `{r}`: corrupt package archive: {e}", request.name), None)
        })?;
        PackageFiles::from_entries(entries).map_err(|e| {
            failed(format!("dependency `{}` from `{r}` is not a valid kdep package: {e}", request.name), None)
        })
    }

    fn git_package(
        &mut self,
        request: &RemoteRequest<'_>,
        mirror: &std::path::Path,
        commit: &str,
    ) -> Result<PackageFiles, RemoteError> {
        let subdir = match request.source {
            RemoteSource::Git { subdir, .. } => subdir.as_deref(),
            RemoteSource::Oci { .. } => None,
        };
        let tar = crate::git::archive(mirror, commit, subdir)
            .map_err(|e| failed(format!("dependency `{}` ({}): {e}", request.name, request.source), None))?;
        let entries = archive::unpack(&tar, false)
            .map_err(|e| failed(format!("dependency `{}` ({}): {e}", request.name, request.source), None))?;
        PackageFiles::from_entries(entries).map_err(|e| {
            failed(
                format!("dependency `{}` ({}) at {commit} is not a kdep package: {e}", request.name, request.source),
                None,
            )
        })
    }

    fn install(&self, request: &RemoteRequest<'_>, pkg: &PackageFiles) -> Result<std::path::PathBuf, RemoteError> {
        self.cache()?
            .install(pkg)
            .map_err(|e| failed(format!("cannot store dependency `{}` in the cache: {e}", request.name), None))
    }
}

impl RemoteSources for Fetcher {
    fn locate(&mut self, vfs: &dyn Vfs, request: &RemoteRequest<'_>) -> Result<Located, RemoteError> {
        let key = (request.source.id(), request.source.requirement());
        if let Some(located) = self.resolved.get(&key) {
            return Ok(located.clone());
        }
        let update = self.wants_update(request.name);
        if self.options.offline || !update {
            if let Some(locked) = self.local.lock.find(request.source).cloned() {
                if let Some(dir) = self.local.find_dir(vfs, &locked) {
                    return Ok(Located { dir, locked });
                }
                if !self.options.offline {
                    let located = self.fetch_locked(request, &locked)?;
                    self.resolved.insert(key, located.clone());
                    return Ok(located);
                }
            }
        }
        if self.options.offline {
            return self.local.locate(vfs, request).map_err(|mut err| {
                err.help = Some(format!("{} (without `--offline`, kdep fetches it)", err.help.unwrap_or_default()));
                err
            });
        }
        let located = self.resolve_new(request)?;
        self.resolved.insert(key, located.clone());
        // Later requirements the new version satisfies use it too.
        self.local.lock.remote.push(located.locked.clone());
        Ok(located)
    }
}

fn git_has(mirror: &std::path::Path, commit: &str) -> bool {
    mirror.join("HEAD").is_file() && crate::git::resolve(mirror, &GitRef::Rev(commit.to_owned())).is_some()
}

fn reference(repository: &str) -> Result<Reference, RemoteError> {
    Reference::parse(repository).ok_or_else(|| failed(format!("`{repository}` is not an OCI repository"), None))
}

fn failed(message: String, help: Option<String>) -> RemoteError {
    RemoteError { code: Code::DEPENDENCY_RESOLUTION_FAILED, message, help }
}

fn oci_failed(request: &RemoteRequest<'_>, e: oci::OciError) -> RemoteError {
    failed(format!("dependency `{}` ({}): {}", request.name, request.source, e.message), e.help)
}
