//! `kdep import`: the subcommands (`crd` is in `import_crd.rs`), and `kdep import manifests`,
//! existing Kubernetes YAML into a kdep package folder.
//!
//! The conversion is `kdep_import` (no IO); this file reads the inputs and writes the folder.
//!
//! Overwriting: the package is written next to `-o DIR` and swapped in, so a failed import
//! leaves nothing behind. `DIR` may be new, empty, or a previous import nobody has touched
//! since: its `.kdep-import` file lists the SHA-256 of every file the import wrote, and a
//! folder with a changed, removed or extra file is refused (besides `kdep.lock`, which `kdep
//! build` writes). Re-running an import with other inputs therefore replaces its own output,
//! but never a package a developer has started to edit.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use kdep_compiler::diag::render::Sources;
use kdep_compiler::loader::MAX_FILE_BYTES;
use kdep_compiler::Vfs;
use kdep_import::{import_manifests, Config, ImportError, Input};
use sha2::{Digest, Sha256};

use super::{Ctx, Exit};
use crate::fs::OsFs;
use crate::output::{self, OutputError};
use crate::report::{self, MessageFormat};

/// Turn existing Kubernetes definitions into kdep: CRDs into typed modules, manifests into a
/// package.
#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(subcommand)]
    what: ImportCommand,
}

#[derive(Debug, Subcommand)]
enum ImportCommand {
    Crd(super::import_crd::CrdArgs),
    Manifests(ManifestsArgs),
}

/// Turn Kubernetes YAML manifests into a kdep package that `kdep build` compiles back to them.
///
/// One app per workload (Deployment, StatefulSet, DaemonSet, Job, CronJob) with the objects
/// that belong to it; other objects go to the module `common`. Image, replicas, ports and env
/// become template fields the app sets. Helm templates must be rendered first
/// (`helm template`). Nothing is written unless every input converts.
#[derive(Debug, Args)]
pub struct ManifestsArgs {
    /// YAML files (multi-document streams and `kind: List` are fine).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The package folder to write: new, empty, or an unchanged earlier import (replaced).
    #[arg(long, short)]
    output: PathBuf,
    /// `[package] name` in `kdep.toml`; defaults to the folder name made an identifier.
    #[arg(long)]
    name: Option<String>,
    /// How to print errors; `json` prints one JSON document on stdout.
    #[arg(long, value_enum, default_value_t = MessageFormat::Human)]
    message_format: MessageFormat,
}

const BUG_HELP: &str = "this is a bug in `kdep import`; please report it with the input";
const TYPES_HELP: &str = "kdep checks every object against the Kubernetes types of its standard library; \
     fix the manifests where the notes say";

/// The marker file of an imported package.
const MARKER: &str = ".kdep-import";
/// First line of the marker; the next ones are `<sha256>  <file>`.
const MARKER_HEADER: &str =
    "# written by `kdep import manifests`; a new import replaces this folder while these files are unchanged:";

impl ImportArgs {
    pub fn run(self, ctx: &Ctx) -> Exit {
        match self.what {
            ImportCommand::Crd(args) => args.run(ctx),
            ImportCommand::Manifests(args) => args.run(ctx),
        }
    }
}

impl ManifestsArgs {
    fn run(self, ctx: &Ctx) -> Exit {
        if let Err(err) = output::check_target(&self.output, None) {
            report::print_error(&err, err.help());
            return Exit::Usage;
        }
        let mut texts = Vec::new();
        for path in &self.files {
            match OsFs.read(path, MAX_FILE_BYTES).map(String::from_utf8) {
                Ok(Ok(text)) => texts.push((path.display().to_string(), text)),
                Ok(Err(_)) => {
                    report::print_error(format!("`{}` is not valid UTF-8", path.display()), None);
                    return Exit::Usage;
                }
                Err(e) => {
                    report::print_error(format!("cannot read `{}`: {e}", path.display()), None);
                    return Exit::Usage;
                }
            }
        }
        let inputs: Vec<Input<'_>> = texts.iter().map(|(name, text)| Input { name, text }).collect();
        let config = Config { package_name: self.package_name(), ..Config::default() };
        let package = match import_manifests(&inputs, &config) {
            Ok(package) => package,
            Err(errors) => {
                self.print_errors(&errors);
                return Exit::SourceErrors;
            }
        };
        let files: Vec<(String, String)> = package.files.into_iter().collect();
        if let Err(code) = self.check_builds(ctx, &files) {
            return code;
        }
        match write_package(&self.output, &files) {
            Ok(warnings) => {
                for warning in warnings {
                    eprintln!("warning: {warning}");
                }
                let plural = |n: usize| if n == 1 { "" } else { "s" };
                eprintln!(
                    "imported {} object{} into {} app{} in {}; build it with `kdep build {}`",
                    package.objects,
                    plural(package.objects),
                    package.apps,
                    plural(package.apps),
                    self.output.display(),
                    self.output.display()
                );
                Exit::Success
            }
            Err(err) => {
                report::print_error(&err, err.help());
                Exit::Usage
            }
        }
    }

    /// Builds the generated package in memory before anything is written: a package that does
    /// not compile (a field the Kubernetes types lack, a value of the wrong type) is reported
    /// and nothing is written.
    fn check_builds(&self, ctx: &Ctx, files: &[(String, String)]) -> Result<(), Exit> {
        // Paths in messages read as the files will be written: `DIR/app.kdep`.
        let root = Path::new("/").join(&self.output);
        let mut fs = kdep_compiler::MemoryFs::new();
        for (name, text) in files {
            fs.insert(root.join(name), text.as_str());
        }
        let ws = kdep_compiler::Workspace::load(&fs, &root).map_err(|err| {
            report::print_error(format!("the imported package does not load: {err}"), Some(BUG_HELP));
            Exit::SourceErrors
        })?;
        let build = ws.build(None);
        if !build.has_errors() {
            return Ok(());
        }
        let base = if self.output.is_absolute() { None } else { Some(Path::new("/")) };
        let sources = ws.sources(base);
        // The generated files are not written, so each message says which input document holds
        // the value: the `// From FILE:LINE.` comment above the emit it points into.
        let diagnostics: Vec<_> = build
            .diagnostics
            .iter()
            .cloned()
            .map(|mut diag| {
                let origin = diag.primary.as_ref().and_then(|label| {
                    let text = sources.text(label.span.file);
                    imported_from(text.get(..label.span.range.start as usize)?)
                });
                if let Some(origin) = origin {
                    diag.notes.push(format!("imported from {origin}"));
                }
                diag
            })
            .collect();
        let mut out = std::io::stdout().lock();
        let _ = report::print_diagnostics(&diagnostics, &sources, self.message_format, ctx.color, &mut out);
        if self.message_format == MessageFormat::Human {
            report::print_error("the imported package does not build; nothing was written", Some(TYPES_HELP));
        }
        Err(Exit::SourceErrors)
    }

    /// `--name`, or the output folder's name with every other character than ASCII letters and
    /// digits made `_` (and `imported` if that leaves no identifier).
    fn package_name(&self) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        let folder = self.output.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let name: String = folder.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
        if name.starts_with(|c: char| c.is_ascii_alphabetic()) {
            name
        } else {
            "imported".into()
        }
    }

    fn print_errors(&self, errors: &[ImportError]) {
        match self.message_format {
            MessageFormat::Human => {
                for error in errors {
                    report::print_error(error, error.help.as_deref());
                }
                eprintln!("{} error{}; nothing was written", errors.len(), if errors.len() == 1 { "" } else { "s" });
            }
            MessageFormat::Json => {
                let items: Vec<serde_json::Value> = errors
                    .iter()
                    .map(|e| {
                        serde_json::json!({
                            "severity": "error",
                            "message": e.message,
                            "primary": { "file": e.file, "line": e.line, "column": e.column },
                            "help": e.help,
                        })
                    })
                    .collect();
                let doc = serde_json::json!({
                    "version": 1,
                    "diagnostics": items,
                    "summary": { "errors": errors.len(), "warnings": 0 },
                });
                let mut stdout = std::io::stdout().lock();
                let _ = writeln!(stdout, "{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
            }
        }
    }
}

/// `FILE:LINE` of the last `// From FILE:LINE.` comment in `before` (the generated text up to a
/// diagnostic), if any.
fn imported_from(before: &str) -> Option<&str> {
    let start = before.rfind("// From ")? + "// From ".len();
    let line = before.get(start..)?.lines().next()?;
    line.strip_suffix('.')
}

/// Writes the package folder; see the module documentation.
fn write_package(dir: &Path, files: &[(String, String)]) -> Result<Vec<String>, OutputError> {
    let target = output::resolve(dir)?;
    if target.exists() {
        verify_previous_import(&target)?;
    }
    let mut marker = format!("{MARKER_HEADER}\n");
    for (name, text) in files {
        marker.push_str(&format!("{}  {name}\n", sha256_hex(text.as_bytes())));
    }
    output::swap_dir(&target, files, (MARKER, &marker))
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Accepts an empty folder, or one an earlier import wrote whose files are all unchanged.
fn verify_previous_import(dir: &Path) -> Result<(), OutputError> {
    let not_ours = |why: String| Err(OutputError::NotOurs(dir.to_path_buf(), why));
    let io = |e| OutputError::Io(dir.to_path_buf(), e);
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name != MARKER {
            names.push((entry.path(), name, entry.file_type().is_ok_and(|t| t.is_file())));
        }
    }
    names.sort();
    let marker = dir.join(MARKER);
    if !std::fs::symlink_metadata(&marker).is_ok_and(|m| m.is_file()) {
        if names.is_empty() {
            return Ok(());
        }
        return not_ours(format!("it is not empty and is not a package written by `kdep import` (no {MARKER} file)"));
    }
    let text = std::fs::read_to_string(&marker).unwrap_or_default();
    let mut lines = text.lines();
    if lines.next() != Some(MARKER_HEADER) {
        return not_ours(format!("its {MARKER} file was not written by this version of kdep"));
    }
    let listed: std::collections::BTreeMap<&str, &str> =
        lines.filter_map(|line| line.split_once("  ").map(|(hash, name)| (name, hash))).collect();
    for (path, name, is_file) in &names {
        // `kdep build` writes the lock file into the package; it is derived, not edited.
        if name == "kdep.lock" && *is_file {
            continue;
        }
        let Some(hash) = listed.get(name.as_str()).filter(|_| *is_file) else {
            return not_ours(format!("`{name}` in it was not written by `kdep import`"));
        };
        let bytes = std::fs::read(path).map_err(|e| OutputError::Io(path.clone(), e))?;
        if sha256_hex(&bytes) != *hash {
            return not_ours(format!("`{name}` was changed since it was imported"));
        }
    }
    if let Some(missing) = listed.keys().find(|name| !names.iter().any(|(_, n, _)| n == *name)) {
        return not_ours(format!("`{missing}` was deleted since it was imported"));
    }
    Ok(())
}
