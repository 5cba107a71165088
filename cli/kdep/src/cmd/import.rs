//! `kdep import crd FILE... -o DIR`: typed `.kdep` modules from CustomResourceDefinitions.
//!
//! Everything is read and converted before anything is written: a bad file (malformed YAML or
//! JSON, not a CRD, a version without schema, an unsupported schema construct) is an error
//! naming the file and the place inside the document, with a non-zero exit and no file
//! written. The conversion itself is the pure `kdep-openapi` crate, shared with the generator
//! of the stdlib's Kubernetes modules.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use kdep_compiler::loader::MAX_FILE_BYTES;
use kdep_compiler::Vfs;
use kdep_openapi::{CrdInput, Module};

use super::{Ctx, Exit};
use crate::fs::{write_atomic, OsFs};
use crate::report::{self, MessageFormat};

/// Turn existing Kubernetes definitions into kdep modules.
#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(subcommand)]
    what: ImportKind,
}

#[derive(Debug, Subcommand)]
enum ImportKind {
    Crd(CrdArgs),
}

/// Write one typed module per CRD group and version: `DIR/<group label>/<version>.kdep`.
///
/// The group label is the group's first dot-separated label with `-` as `_` (`cert-manager.io`
/// → `cert_manager`); CRDs of one group and version share a module. Each kind becomes a
/// `@resource` schema, inline objects become schemas named after their path (`RolloutSpec`),
/// `x-kubernetes-preserve-unknown-fields` an `@open` schema, CEL rules doc comments.
#[derive(Debug, Args)]
pub struct CrdArgs {
    /// CRD files (YAML, several documents allowed, or JSON).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Folder to write the modules into (created if missing; existing modules are replaced).
    #[arg(short = 'o', long = "out", value_name = "DIR")]
    out: PathBuf,
    /// How to report: `json` prints one JSON document on stdout (written files or errors).
    #[arg(long, value_enum, default_value_t = MessageFormat::Human)]
    message_format: MessageFormat,
}

impl ImportArgs {
    pub fn run(self, ctx: &Ctx) -> Exit {
        match self.what {
            ImportKind::Crd(args) => args.run(ctx),
        }
    }
}

/// The JSON document of `--message-format json`.
fn json_report(written: &[String], errors: &[kdep_openapi::Error]) -> String {
    let doc = serde_json::json!({
        "version": 1,
        "written": written,
        "errors": errors
            .iter()
            .map(|e| serde_json::json!({"file": e.file, "path": e.path, "message": e.message}))
            .collect::<Vec<_>>(),
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

impl CrdArgs {
    fn fail(&self, errors: &[kdep_openapi::Error], exit: Exit) -> Exit {
        match self.message_format {
            MessageFormat::Human => {
                // Not through miette: it wraps long document paths mid-word.
                for e in errors {
                    eprintln!("error: {}: {}", e.file, e.message);
                    if !e.path.is_empty() {
                        eprintln!("  at {}", e.path);
                    }
                }
                let n = errors.len();
                eprintln!("{n} error{} emitted; nothing was written", if n == 1 { "" } else { "s" });
            }
            MessageFormat::Json => println!("{}", json_report(&[], errors)),
        }
        exit
    }

    pub fn run(self, _ctx: &Ctx) -> Exit {
        // Read every file first: an unreadable one is a usage error, like a missing package.
        let mut texts = Vec::new();
        for file in &self.files {
            let shown = file.display().to_string();
            let text = match OsFs.read(file, MAX_FILE_BYTES).map(String::from_utf8) {
                Ok(Ok(text)) => text,
                Ok(Err(_)) => {
                    let error =
                        kdep_openapi::Error { file: shown, path: String::new(), message: "not valid UTF-8".into() };
                    return self.fail(&[error], Exit::SourceErrors);
                }
                Err(e) => {
                    let error =
                        kdep_openapi::Error { file: shown, path: String::new(), message: format!("cannot read: {e}") };
                    return self.fail(&[error], Exit::Usage);
                }
            };
            texts.push((shown, text));
        }
        let mut errors = Vec::new();
        let mut parsed = Vec::new();
        for (file, text) in &texts {
            match kdep_openapi::parse_documents(file, text) {
                Ok(docs) if docs.is_empty() => errors.push(kdep_openapi::Error {
                    file: file.clone(),
                    path: String::new(),
                    message: "no document in the file".into(),
                }),
                Ok(docs) => parsed.push((file.as_str(), docs)),
                Err(e) => errors.push(e),
            }
        }
        let inputs: Vec<CrdInput<'_>> = parsed
            .iter()
            .flat_map(|(file, docs)| docs.iter().enumerate().map(|(index, doc)| CrdInput { file, index, doc }))
            .collect();
        let header = |_: &kdep_openapi::ModulePath, sources: &[String]| {
            vec![
                format!("Generated by `kdep import crd` from {}.", sources.join(", ")),
                "Do not edit: re-run the import when the CRDs change.".to_string(),
            ]
        };
        // The documents that parsed are validated too, so one run reports every problem.
        let modules = match kdep_openapi::crd_modules(&inputs, &header) {
            Ok(modules) if errors.is_empty() => modules,
            Ok(_) => return self.fail(&errors, Exit::SourceErrors),
            Err(more) => {
                errors.extend(more);
                // Grouped by file, in command-line order (the sort is stable).
                errors.sort_by_key(|e| texts.iter().position(|(file, _)| *file == e.file));
                return self.fail(&errors, Exit::SourceErrors);
            }
        };
        match write_modules(&self.out, &modules) {
            Ok(written) => {
                match self.message_format {
                    MessageFormat::Human => {
                        for path in &written {
                            eprintln!("wrote {path}");
                        }
                    }
                    MessageFormat::Json => println!("{}", json_report(&written, &[])),
                }
                Exit::Success
            }
            Err(message) => {
                report::print_error(message, None);
                Exit::Usage
            }
        }
    }
}

/// Writes the modules (each atomically) and returns the paths written.
fn write_modules(out: &Path, modules: &[Module]) -> Result<Vec<String>, String> {
    let mut written = Vec::new();
    for module in modules {
        let path = out.join(module.path.file_path());
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
        }
        write_atomic(&path, module.text.as_bytes()).map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
        written.push(path.display().to_string());
    }
    Ok(written)
}
