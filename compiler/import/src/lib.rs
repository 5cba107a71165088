//! `kdep import manifests`: existing Kubernetes YAML manifests into a kdep package.
//!
//! [`import_manifests`] takes `(file name, YAML text)` pairs and returns the files of a package
//! (`kdep.toml` and `.kdep` modules, path → text) that `kdep build` compiles back to the same
//! objects, or every problem found in the input. It does no IO: the CLI reads and writes files.
//!
//! # The package
//!
//! - **One app per workload** (Deployment, StatefulSet, DaemonSet, Job, CronJob), in a module
//!   of its own named after it, holding a template generated for it and the app instantiating
//!   it. The objects that belong to the workload are emitted by the same template: those with
//!   its name (and namespace), Services and PodDisruptionBudgets selecting its pod labels,
//!   HorizontalPodAutoscalers scaling it, and the ServiceAccounts, ConfigMaps, Secrets and
//!   PersistentVolumeClaims its pod spec names ([`plan`]).
//! - **Objects of no workload** go to the module `common` (template `Common`, app `common`).
//! - **What a developer changes** becomes a template field set by the app: `replicas`, and each
//!   container's `image`, `ports` and `env` (prefixed by the container name when the pod has
//!   several containers). The manifest's values are the app's settings.
//! - **Shared structure**: a record of at least three values repeated in two or more templates
//!   (an identical `securityContext`, say) becomes a `let` of the module `shared`, used by name.
//! - **Typed emits** (`emit apps.Deployment { ... }` with `import k8s.apps.v1 as apps`) for the
//!   kinds the standard library has a `@resource` schema for, untyped `emit { apiVersion,
//!   kind, ... }` for the others; [`Config::typed`] switches all emits to untyped.
//!
//! Values convert exactly: key order is kept, keys that are not identifiers are quoted, strings
//! escaped (`${` stays literal text), YAML strings that look like numbers stay strings, and a
//! `null` map entry is left out (kdep writes an absent field, which Kubernetes reads the same).
//! kdep adds its own labels (`app.kubernetes.io/managed-by`, `app.kubernetes.io/instance`) and
//! annotation (`kdep.dev/source`) to every object it emits; everything else is the input.
//!
//! # Bad input
//!
//! Each problem is an [`ImportError`] naming the file and the line (and for values inside an
//! object, the field path): malformed YAML, a Helm template, a document that is not a
//! Kubernetes object, an object without a name, and the same object twice. Empty documents are
//! skipped and `List` kinds are unwrapped into their items.

mod kinds;
mod node;
mod plan;
mod read;
mod write;

use std::collections::BTreeMap;
use std::fmt;

/// Whether emits are typed (`emit apps.Deployment { ... }`) by default, for the kinds the
/// standard library has a schema for. With `false` every emit is spelled untyped, `emit {
/// apiVersion = ..., kind = ..., ... }`; kdep checks those against the same schemas.
pub const TYPED_EMITS: bool = true;

/// What to generate.
#[derive(Clone, Debug)]
pub struct Config {
    /// `[package] name` of the generated `kdep.toml`; must be an identifier.
    pub package_name: String,
    /// Typed emits for the kinds of the generated standard library (see [`TYPED_EMITS`]).
    pub typed: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config { package_name: "imported".into(), typed: TYPED_EMITS }
    }
}

/// One input file.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    /// How messages name the file (the path as the user gave it).
    pub name: &'a str,
    pub text: &'a str,
}

/// A generated package: relative path (`kdep.toml`, `frontend.kdep`, ...) → file text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Package {
    pub files: BTreeMap<String, String>,
    /// Counts for the summary the CLI prints.
    pub objects: usize,
    pub apps: usize,
}

/// One problem in the input: where it is and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportError {
    /// The input's name.
    pub file: String,
    /// 1-based line, when the problem has a place in the file.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    pub message: String,
    pub help: Option<String>,
}

impl ImportError {
    fn new(file: &str, line: usize, message: impl Into<String>) -> Self {
        ImportError { file: file.into(), line: Some(line), column: None, message: message.into(), help: None }
    }

    fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// `file:line:column`, as far as known.
    pub fn place(&self) -> String {
        match (self.line, self.column) {
            (Some(line), Some(column)) => format!("{}:{line}:{column}", self.file),
            (Some(line), None) => format!("{}:{line}", self.file),
            _ => self.file.clone(),
        }
    }
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.place(), self.message)
    }
}

/// At most this many errors are reported; a file of broken documents should not flood the
/// terminal, and the first ones are the ones to fix first.
pub const MAX_ERRORS: usize = 50;

/// Converts the manifests in `inputs` into a package; see the crate documentation.
///
/// Every input is read before anything is generated, so all problems are reported at once, and
/// no package is returned when there is any.
pub fn import_manifests(inputs: &[Input<'_>], config: &Config) -> Result<Package, Vec<ImportError>> {
    let mut errors = Vec::new();
    if !write::is_identifier(&config.package_name) {
        errors.push(ImportError {
            file: "kdep.toml".into(),
            line: None,
            column: None,
            message: format!("package name `{}` is not an identifier", config.package_name),
            help: Some("use letters, digits and `_`, starting with a letter".into()),
        });
        return Err(errors);
    }
    let objects = read::read_all(inputs, &mut errors);
    if !errors.is_empty() {
        errors.truncate(MAX_ERRORS);
        return Err(errors);
    }
    if objects.is_empty() {
        let names: Vec<&str> = inputs.iter().map(|i| i.name).collect();
        return Err(vec![ImportError {
            file: names.join(", "),
            line: None,
            column: None,
            message: "no Kubernetes objects found".into(),
            help: Some("every input is empty or holds only empty documents".into()),
        }]);
    }
    let plan = plan::plan(&objects);
    let untyped = kinds::TypedKinds::new();
    let kinds = if config.typed { kinds::typed_kinds() } else { &untyped };
    write::package(&plan, &objects, inputs, kinds, config).map_err(|message| {
        // The generated text does not parse: a bug in the generator, reported rather than
        // written as a package `kdep build` would reject.
        vec![ImportError {
            file: "<generated>".into(),
            line: None,
            column: None,
            message,
            help: Some("this is a bug in `kdep import`; please report it with the input".into()),
        }]
    })
}
