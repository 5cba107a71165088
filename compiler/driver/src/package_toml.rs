//! `kdep.toml`: a package's configuration (name, version, dependencies by relative path,
//! permissions). "Manifest" is kept for emitted Kubernetes objects (`kdep_eval::manifest`).
//!
//! Format version 1:
//! ```toml
//! [package]
//! name = "shop"          # an identifier: importers write `import shop.module`
//! version = "0.1.0"      # MAJOR.MINOR.PATCH
//!
//! [dependencies]
//! platform = { path = "../platform" }
//! web = { git = "https://git.example.com/platform.git", tag = "v1.4.0" }   # or rev = "<commit>"
//! db = { git = "https://git.example.com/mono.git", tag = "v2", path = "packages/db" }  # a subfolder
//! base = { oci = "registry.example.com/kdep/base", version = "^1.2" }     # a semver range
//! ```
//! `[package] changelog = "..."` is optional: `kdep mod update` prints it when the version moves.
//! Unknown keys are errors, so typos do not silently change meaning.

use std::collections::BTreeMap;

use serde::Deserialize;

/// A parsed and validated `kdep.toml`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackageConfig {
    pub name: String,
    pub version: String,
    /// `[package] changelog`: what changed in this version, shown by `kdep mod update`.
    pub changelog: Option<String>,
    /// Dependency name → relative path, in name order.
    pub dependencies: BTreeMap<String, Dependency>,
    /// `[permissions]`: what this package's templates, and its dependents', may emit.
    pub permissions: kdep_sema::db::EmitPermissions,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dependency {
    pub source: Source,
    /// Byte range of this dependency's entry in `kdep.toml`, for diagnostics.
    pub range: (usize, usize),
}

/// Where a dependency comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A folder relative to the dependent's `kdep.toml`.
    Path(String),
    /// A git repository or an OCI repository, resolved to an exact revision and fetched into the
    /// cache by the CLI; the compiler reads it from there.
    Remote(RemoteSource),
}

/// A dependency from git or an OCI registry, as written in `kdep.toml`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RemoteSource {
    /// `subdir`: the package's folder inside the repository (`path` next to `git`), for a
    /// repository holding several packages; `None` for the repository's root.
    Git {
        url: String,
        reference: GitRef,
        subdir: Option<String>,
    },
    Oci {
        repository: String,
        version: semver::VersionReq,
    },
}

/// Which revision of a git repository a dependency wants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GitRef {
    /// A commit id (full or abbreviated) or any other revision git understands.
    Rev(String),
    Tag(String),
}

impl RemoteSource {
    /// The source's identity as `kdep.lock` records it: `git+URL`, `git+URL?path=SUBDIR` for a
    /// package in a subfolder, or `oci+registry/repo`. Two dependencies with the same id fetch
    /// the same package; two packages of one repository have two ids (and one git mirror).
    pub fn id(&self) -> String {
        match self {
            RemoteSource::Git { url, subdir: None, .. } => format!("git+{url}"),
            RemoteSource::Git { url, subdir: Some(dir), .. } => format!("git+{url}?path={dir}"),
            RemoteSource::Oci { repository, .. } => format!("oci+{repository}"),
        }
    }

    /// What is asked of the source, as written: `tag v1.0.0`, `rev 1a2b3c`, `^1.2`.
    pub fn requirement(&self) -> String {
        match self {
            RemoteSource::Git { reference: GitRef::Rev(r), .. } => format!("rev {r}"),
            RemoteSource::Git { reference: GitRef::Tag(t), .. } => format!("tag {t}"),
            RemoteSource::Oci { version, .. } => version.to_string(),
        }
    }
}

impl std::fmt::Display for RemoteSource {
    /// `oci 127.0.0.1:5000/kdep/platform ^1.2`, `git file:///repo tag v1`: for messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RemoteSource::Git { url, subdir: None, .. } => write!(f, "git {url} {}", self.requirement()),
            RemoteSource::Git { url, subdir: Some(dir), .. } => {
                write!(f, "git {url} {} path {dir}", self.requirement())
            }
            RemoteSource::Oci { repository, .. } => write!(f, "oci {repository} {}", self.requirement()),
        }
    }
}

/// `true` for an OCI repository reference without tag or digest: `host[:port]/path`, the path
/// in lower case as the distribution spec requires (`[a-z0-9]+([._-][a-z0-9]+)*` per segment).
pub fn is_oci_repository(reference: &str) -> bool {
    let Some((host, path)) = reference.split_once('/') else { return false };
    let host_ok = !host.is_empty()
        && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        && (host.contains(['.', ':']) || host == "localhost");
    let segment_ok = |seg: &str| {
        !seg.is_empty()
            && seg.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
            && seg.starts_with(|c: char| c.is_ascii_alphanumeric())
            && seg.ends_with(|c: char| c.is_ascii_alphanumeric())
    };
    host_ok && path.split('/').all(segment_ok)
}

/// A `kdep.toml` problem with the byte range it concerns (if known) and a hint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackageTomlError {
    pub message: String,
    pub range: Option<(usize, usize)>,
    pub help: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPackageToml {
    package: Option<toml::Spanned<RawPackage>>,
    #[serde(default)]
    dependencies: BTreeMap<toml::Spanned<String>, toml::Spanned<RawDependency>>,
    permissions: Option<RawPermissions>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPermissions {
    #[serde(default)]
    namespaces: Vec<String>,
    dependents: Option<RawDependents>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawDependents {
    #[serde(default)]
    namespaces: Vec<String>,
    #[serde(default)]
    deny_kinds: Vec<String>,
    cluster_scoped: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPackage {
    name: Option<toml::Spanned<String>>,
    version: Option<toml::Spanned<String>>,
    changelog: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDependency {
    path: Option<String>,
    git: Option<String>,
    rev: Option<String>,
    tag: Option<String>,
    oci: Option<String>,
    version: Option<String>,
}

/// A package folder inside a git repository, normalised (`a/b/` → `a/b`); `None` when it could
/// leave the repository or name its root (`..`, `/abs`, `.`, empty segments) or would be read
/// by git as something else (`:`, a leading `-`, backslashes, whitespace).
fn git_subdir(dir: &str) -> Option<String> {
    let dir = dir.strip_suffix('/').unwrap_or(dir);
    let ok = !dir.is_empty()
        && !dir.starts_with(['/', '-'])
        && !dir.contains(['\\', ':', '?', '#'])
        && !dir.contains(|c: char| c.is_whitespace() || c.is_control())
        && dir.split('/').all(|seg| !seg.is_empty() && seg != "." && seg != "..");
    ok.then(|| dir.to_owned())
}

/// `true` for names usable as the first segment of an import path.
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_version(v: &str) -> bool {
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

/// Parses and validates `kdep.toml` text.
pub fn parse_package_toml(text: &str) -> Result<PackageConfig, PackageTomlError> {
    let raw: RawPackageToml = toml::from_str(text).map_err(|e| PackageTomlError {
        message: e.message().trim_end_matches('\n').to_owned(),
        range: e.span().map(|s| (s.start, s.end)),
        help: Some("see `kdep.toml` in the README: [package] name, version and [dependencies]".into()),
    })?;
    let Some(package) = raw.package else {
        return Err(PackageTomlError {
            message: "missing `[package]` table".into(),
            range: None,
            help: Some("add `[package]` with `name = \"...\"` and `version = \"0.1.0\"`".into()),
        });
    };
    let pkg_span = (package.span().start, package.span().end);
    let package = package.into_inner();
    let Some(name) = package.name else {
        return Err(PackageTomlError {
            message: "`[package]` has no `name`".into(),
            range: Some(pkg_span),
            help: Some("add `name = \"my_package\"`".into()),
        });
    };
    if !is_identifier(name.get_ref()) {
        return Err(PackageTomlError {
            message: format!("package name `{}` is not an identifier", name.get_ref()),
            range: Some((name.span().start, name.span().end)),
            help: Some(
                "use letters, digits and `_`, starting with a letter: importers write `import <name>.<module>`".into(),
            ),
        });
    }
    let Some(version) = package.version else {
        return Err(PackageTomlError {
            message: "`[package]` has no `version`".into(),
            range: Some(pkg_span),
            help: Some("add `version = \"0.1.0\"`".into()),
        });
    };
    if !is_version(version.get_ref()) {
        return Err(PackageTomlError {
            message: format!("version `{}` is not of the form MAJOR.MINOR.PATCH", version.get_ref()),
            range: Some((version.span().start, version.span().end)),
            help: Some("for example `version = \"1.2.0\"`".into()),
        });
    }
    let mut dependencies = BTreeMap::new();
    for (dep_name, dep) in raw.dependencies {
        let range = (dep_name.span().start, dep.span().end);
        let dep_name = dep_name.into_inner();
        if !is_identifier(&dep_name) {
            return Err(PackageTomlError {
                message: format!("dependency name `{dep_name}` is not an identifier"),
                range: Some(range),
                help: Some("importers write `import <dependency>.<module>`, so the name must be an identifier".into()),
            });
        }
        let source = dependency_source(&dep_name, dep.into_inner()).map_err(|(message, help)| PackageTomlError {
            message,
            range: Some(range),
            help: Some(help),
        })?;
        dependencies.insert(dep_name, Dependency { source, range });
    }
    let permissions = raw
        .permissions
        .map(|p| kdep_sema::db::EmitPermissions {
            namespaces: p.namespaces,
            dependents: p.dependents.map(|d| kdep_sema::db::DependentRules {
                namespaces: d.namespaces,
                deny_kinds: d.deny_kinds,
                cluster_scoped: d.cluster_scoped.unwrap_or(true),
            }),
        })
        .unwrap_or_default();
    Ok(PackageConfig {
        name: name.into_inner(),
        version: version.into_inner(),
        changelog: package.changelog,
        dependencies,
        permissions,
    })
}

/// One dependency entry's source: exactly one of `path`, `git` (with exactly one of `rev` and
/// `tag`, and optionally `path`, the package's folder in the repository) and `oci` (with a
/// `version` range). Errors are (message, help).
fn dependency_source(name: &str, mut dep: RawDependency) -> Result<Source, (String, String)> {
    let example = format!(
        "write `{name} = {{ path = \"../{name}\" }}`, `{name} = {{ git = \"URL\", tag = \"v1.0.0\" }}` or `{name} = {{ oci = \"registry.example.com/kdep/{name}\", version = \"^1.0\" }}`"
    );
    // Next to `git`, `path` is the folder inside the repository, not a source of its own.
    let subdir = if dep.git.is_some() { dep.path.take() } else { None };
    let kinds = [dep.path.is_some(), dep.git.is_some(), dep.oci.is_some()].iter().filter(|k| **k).count();
    if kinds != 1 {
        let what = if kinds == 0 { "has no source" } else { "has more than one of `path`, `git` and `oci`" };
        return Err((format!("dependency `{name}` {what}"), example));
    }
    let stray = |key: &str, allowed: &str| -> (String, String) {
        (format!("dependency `{name}`: `{key}` does not apply to {allowed} dependencies"), example.clone())
    };
    if let Some(path) = dep.path {
        if dep.rev.is_some() || dep.tag.is_some() {
            return Err(stray(if dep.rev.is_some() { "rev" } else { "tag" }, "path"));
        }
        if dep.version.is_some() {
            return Err(stray("version", "path"));
        }
        return Ok(Source::Path(path));
    }
    if let Some(url) = dep.git {
        if dep.version.is_some() {
            return Err(stray("version", "git"));
        }
        if url.trim().is_empty() || url.starts_with('-') {
            return Err((format!("dependency `{name}`: `{url}` is not a git URL"), example));
        }
        let reference = match (dep.rev, dep.tag) {
            (Some(rev), None) => GitRef::Rev(rev),
            (None, Some(tag)) => GitRef::Tag(tag),
            _ => {
                return Err((
                    format!("git dependency `{name}` needs exactly one of `rev` and `tag`"),
                    format!(
                        "pin a revision: `{name} = {{ git = \"{url}\", tag = \"v1.0.0\" }}` or `rev = \"<commit>\"`"
                    ),
                ))
            }
        };
        let reference_text = match &reference {
            GitRef::Rev(r) | GitRef::Tag(r) => r,
        };
        // A reference starting with `-` would be read by git as an option.
        if reference_text.is_empty() || reference_text.starts_with('-') || reference_text.contains(char::is_whitespace)
        {
            return Err((format!("git dependency `{name}`: `{reference_text}` is not a git revision or tag"), example));
        }
        let subdir = match subdir {
            None => None,
            Some(dir) => Some(git_subdir(&dir).ok_or_else(|| {
                (
                    format!("git dependency `{name}`: `{dir}` is not a folder inside the repository"),
                    format!(
                        "write the package's folder relative to the repository's root: `path = \"packages/{name}\"`"
                    ),
                )
            })?),
        };
        return Ok(Source::Remote(RemoteSource::Git { url, reference, subdir }));
    }
    let repository = dep.oci.unwrap_or_default();
    if dep.rev.is_some() || dep.tag.is_some() {
        return Err(stray(if dep.rev.is_some() { "rev" } else { "tag" }, "OCI"));
    }
    if !is_oci_repository(&repository) {
        return Err((
            format!("dependency `{name}`: `{repository}` is not an OCI repository"),
            "write `registry.example.com/path/to/repo` (lower case, no tag or digest; the version goes in `version`)"
                .into(),
        ));
    }
    let Some(version) = dep.version else {
        return Err((
            format!("OCI dependency `{name}` has no `version`"),
            format!("add a semver range: `{name} = {{ oci = \"{repository}\", version = \"^1.0\" }}`"),
        ));
    };
    let version = semver::VersionReq::parse(&version).map_err(|e| {
        (
            format!("dependency `{name}`: `{version}` is not a version range: {e}"),
            "use a semver range such as `^1.2`, `~1.2.3`, `>=1.0, <2` or an exact `=1.2.3`".into(),
        )
    })?;
    Ok(Source::Remote(RemoteSource::Oci { repository, version }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_permissions() {
        let m = parse_package_toml(
            "[package]\nname = \"platform\"\nversion = \"1.0.0\"\n\n[permissions]\nnamespaces = [\"monitoring\"]\n\n[permissions.dependents]\ndeny-kinds = [\"ClusterRoleBinding\"]\ncluster-scoped = false\n",
        )
        .unwrap();
        assert_eq!(m.permissions.namespaces, vec!["monitoring".to_string()]);
        let d = m.permissions.dependents.unwrap();
        assert_eq!(
            (d.deny_kinds, d.cluster_scoped, d.namespaces.len()),
            (vec!["ClusterRoleBinding".to_string()], false, 0)
        );
        let err =
            parse_package_toml("[package]\nname = \"p\"\nversion = \"1.0.0\"\n[permissions]\ndeny = 1\n").unwrap_err();
        assert!(err.message.contains("unknown field `deny`"), "{}", err.message);
    }

    #[test]
    fn parses_a_full_package_toml() {
        let m = parse_package_toml(
            "[package]\nname = \"shop\"\nversion = \"0.3.0\"\n\n[dependencies]\nplatform = { path = \"../platform\" }\n",
        )
        .expect("valid");
        assert_eq!(m.name, "shop");
        assert_eq!(m.version, "0.3.0");
        assert_eq!(m.dependencies["platform"].source, Source::Path("../platform".into()));
    }

    #[test]
    fn rejects_unknown_keys_with_a_location() {
        let err = parse_package_toml("[package]\nname = \"a\"\nversion = \"1.0.0\"\nedition = \"2\"\n").unwrap_err();
        assert!(err.message.contains("unknown field `edition`"), "{}", err.message);
        assert!(err.range.is_some());
    }

    #[test]
    fn rejects_bad_names_and_versions() {
        assert!(parse_package_toml("[package]\nname = \"my-pkg\"\nversion = \"1.0.0\"\n").is_err());
        assert!(parse_package_toml("[package]\nname = \"pkg\"\nversion = \"1.0\"\n").is_err());
        assert!(parse_package_toml("[package]\nname = \"pkg\"\n").is_err());
        assert!(parse_package_toml("").is_err());
        assert!(parse_package_toml("[dependencies]\nx = { path = \"..\" }\n").is_err());
    }

    fn dep_error(dep: &str) -> String {
        let text = format!("[package]\nname = \"a\"\nversion = \"1.0.0\"\n[dependencies]\n{dep}\n");
        parse_package_toml(&text).expect_err(dep).message
    }

    #[test]
    fn parses_git_and_oci_sources() {
        let m = parse_package_toml(
            "[package]\nname = \"shop\"\nversion = \"0.3.0\"\nchangelog = \"fixes\"\n[dependencies]\n\
             web = { git = \"file:///srv/web.git\", tag = \"v1.2.0\" }\n\
             base = { oci = \"127.0.0.1:5000/kdep/base\", version = \"^1.2\" }\n",
        )
        .expect("valid");
        assert_eq!(m.changelog.as_deref(), Some("fixes"));
        let Source::Remote(web) = &m.dependencies["web"].source else { panic!("remote") };
        assert_eq!(
            (web.id(), web.to_string()),
            ("git+file:///srv/web.git".into(), "git file:///srv/web.git tag v1.2.0".into())
        );
        let Source::Remote(base) = &m.dependencies["base"].source else { panic!("remote") };
        assert_eq!(base.to_string(), "oci 127.0.0.1:5000/kdep/base ^1.2");
    }

    #[test]
    fn a_git_dependency_may_name_a_folder_of_the_repository() {
        let m = parse_package_toml(
            "[package]\nname = \"shop\"\nversion = \"0.3.0\"\n[dependencies]\n\
             db = { git = \"file:///srv/mono.git\", tag = \"v2\", path = \"packages/db/\" }\n",
        )
        .expect("valid");
        let Source::Remote(db) = &m.dependencies["db"].source else { panic!("remote") };
        assert_eq!(
            (db.id(), db.to_string()),
            (
                "git+file:///srv/mono.git?path=packages/db".into(),
                "git file:///srv/mono.git tag v2 path packages/db".into()
            )
        );
        for bad in ["../x", "/abs", "a/../../b", ".", "", "a//b", "-x", "HEAD:x", "a b"] {
            assert_eq!(
                dep_error(&format!("x = {{ git = \"file:///m\", tag = \"v1\", path = \"{bad}\" }}")),
                format!("git dependency `x`: `{bad}` is not a folder inside the repository"),
                "{bad}"
            );
        }
        assert_eq!(
            dep_error("x = { oci = \"r.io/x\", version = \"1\", path = \"a\" }"),
            "dependency `x` has more than one of `path`, `git` and `oci`"
        );
    }

    #[test]
    fn rejects_ambiguous_or_incomplete_sources() {
        assert_eq!(dep_error("x = {}"), "dependency `x` has no source");
        assert_eq!(
            dep_error("x = { path = \"..\", oci = \"r.io/x\" }"),
            "dependency `x` has more than one of `path`, `git` and `oci`"
        );
        assert_eq!(dep_error("x = { git = \"file:///x\" }"), "git dependency `x` needs exactly one of `rev` and `tag`");
        assert_eq!(
            dep_error("x = { git = \"file:///x\", rev = \"a\", tag = \"b\" }"),
            "git dependency `x` needs exactly one of `rev` and `tag`"
        );
        assert_eq!(
            dep_error("x = { git = \"file:///x\", tag = \"--upload-pack=evil\" }"),
            "git dependency `x`: `--upload-pack=evil` is not a git revision or tag"
        );
        assert_eq!(dep_error("x = { oci = \"r.io/x\" }"), "OCI dependency `x` has no `version`");
        assert_eq!(
            dep_error("x = { oci = \"r.io/X:1\", version = \"1\" }"),
            "dependency `x`: `r.io/X:1` is not an OCI repository"
        );
        assert!(dep_error("x = { oci = \"r.io/x\", version = \"one\" }")
            .starts_with("dependency `x`: `one` is not a version range"));
        assert_eq!(
            dep_error("x = { oci = \"r.io/x\", version = \"1\", tag = \"v\" }"),
            "dependency `x`: `tag` does not apply to OCI dependencies"
        );
        assert_eq!(
            dep_error("x = { path = \"..\", version = \"1\" }"),
            "dependency `x`: `version` does not apply to path dependencies"
        );
    }
}
