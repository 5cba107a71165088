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
//! ```
//! Unknown keys are errors, so typos do not silently change meaning.

use std::collections::BTreeMap;

use serde::Deserialize;

/// A parsed and validated `kdep.toml`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackageConfig {
    pub name: String,
    pub version: String,
    /// Dependency name → relative path, in name order.
    pub dependencies: BTreeMap<String, Dependency>,
    /// `[permissions]`: what this package's templates, and its dependents', may emit.
    pub permissions: kdep_sema::db::EmitPermissions,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dependency {
    pub path: String,
    /// Byte range of this dependency's entry in `kdep.toml`, for diagnostics.
    pub range: (usize, usize),
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
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDependency {
    path: Option<String>,
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
        let Some(path) = dep.into_inner().path else {
            return Err(PackageTomlError {
                message: format!("dependency `{dep_name}` has no `path`"),
                range: Some(range),
                help: Some(format!("write `{dep_name} = {{ path = \"../{dep_name}\" }}`")),
            });
        };
        dependencies.insert(dep_name, Dependency { path, range });
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
    Ok(PackageConfig { name: name.into_inner(), version: version.into_inner(), dependencies, permissions })
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
        assert_eq!(m.dependencies["platform"].path, "../platform");
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
}
