//! `kdep build`: compile a package to Kubernetes manifests on stdout or into a folder.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use kdep_compiler::emit;

use super::{load_workspace_with, sync_lock_file, Ctx, Exit};
use crate::output;
use crate::report::{self, MessageFormat};

/// Manifest output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// A YAML stream, documents separated by `---`.
    #[default]
    Yaml,
    /// JSON.
    Json,
}

/// Compile a package to Kubernetes manifests.
///
/// Every object emitted by every `app` of the package, for the chosen environment (its
/// namespace is applied to namespaced objects). Output is deterministic: the same sources give
/// the same bytes. On any error nothing is written.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Package folder, or a file inside it. Defaults to the current directory.
    path: Option<PathBuf>,
    /// Environment to build (applies its `in <env>` blocks and namespace). Without it, apps are
    /// built from their base values with no namespace.
    #[arg(long, short)]
    env: Option<String>,
    /// Write one file per object into this folder (replaced atomically) instead of stdout. A
    /// symlink is written through; the current directory, the package and mount points are
    /// refused.
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Manifest format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Yaml)]
    format: OutputFormat,
    /// How to print diagnostics (on stderr).
    #[arg(long, value_enum, default_value_t = MessageFormat::Human)]
    message_format: MessageFormat,
    /// Fail instead of updating `kdep.lock` when it is missing or out of date (for CI).
    #[arg(long)]
    locked: bool,
    /// Use only git and OCI dependencies already in the cache or `vendor/`; never the network.
    #[arg(long)]
    offline: bool,
    /// Also write a JSON source map to this file (atomically): for every emitted field path of
    /// every object, the file, line, column and byte range that set it, and the layer.
    #[arg(long, value_name = "FILE")]
    source_map: Option<PathBuf>,
}

impl BuildArgs {
    pub fn run(self, ctx: &Ctx) -> Exit {
        let options = kdep_pkg::Options { offline: self.offline, ..Default::default() };
        let mut ws = match load_workspace_with(self.path.as_deref(), options) {
            Ok(ws) => ws,
            Err(code) => return code,
        };
        let exit = self.build(ctx, &mut ws);
        super::release_at_exit(ws);
        exit
    }

    fn build(&self, ctx: &Ctx, ws: &mut kdep_compiler::Workspace) -> Exit {
        if let Some(dir) = &self.output {
            if let Err(err) = output::check_target(dir, Some(ws.root_dir())) {
                report::print_error(&err, err.help());
                return Exit::Usage;
            }
        }
        if let (Some(dir), Some(map)) = (&self.output, &self.source_map) {
            if inside(map, dir) {
                report::print_error(
                    format!("the source map `{}` is inside the output folder `{}`", map.display(), dir.display()),
                    Some("the output folder holds only the objects kdep writes (it is replaced whole); put the map next to it"),
                );
                return Exit::Usage;
            }
        }
        let format = match self.format {
            OutputFormat::Yaml => emit::Format::Yaml,
            OutputFormat::Json => emit::Format::Json,
        };
        // Objects come back written out, in output order; their values were dropped as each
        // app finished, and a large package is evaluated in batches whose lowered files are
        // dropped once built, so the build holds about the output's size.
        let build = ws.build_rendered(self.env.as_deref(), format, batching());
        let sources = ws.sources(ctx.cwd.as_deref());
        if !build.diagnostics.is_empty() {
            let mut stderr = std::io::stderr().lock();
            if report::print_diagnostics(&build.diagnostics, &sources, self.message_format, ctx.color, &mut stderr)
                .is_err()
            {
                return Exit::Usage;
            }
        }
        if build.has_errors() {
            return Exit::SourceErrors;
        }
        if let Err(code) = sync_lock_file(ws, self.locked) {
            return code;
        }
        if let Some(file) = &self.source_map {
            // The map needs the values with their origins, which the streaming build drops as
            // it writes; evaluation is memoised, so asking for them again is cheap.
            let full = ws.build(self.env.as_deref());
            let map = source_map_json(&full.manifests, &sources, self.env.as_deref());
            if let Err(e) = crate::fs::write_atomic(file, map.as_bytes()) {
                report::print_error(format!("cannot write `{}`: {e}", file.display()), None);
                return Exit::Usage;
            }
            super::release_at_exit(full);
        }
        self.write_output(build)
    }

    fn write_output(&self, build: kdep_compiler::RenderedBuild) -> Exit {
        let format = match self.format {
            OutputFormat::Yaml => emit::Format::Yaml,
            OutputFormat::Json => emit::Format::Json,
        };
        match &self.output {
            Some(dir) => {
                let names = output::file_names(build.objects.identities(), format == emit::Format::Json);
                let texts = match build.objects.into_texts() {
                    Ok(texts) => texts,
                    Err(e) => {
                        report::print_error(e, None);
                        return Exit::Usage;
                    }
                };
                let files: Vec<(String, String)> = names.into_iter().zip(texts).collect();
                match output::replace_dir(dir, &files) {
                    Ok(warnings) => {
                        for warning in warnings {
                            eprintln!("warning: {warning}");
                        }
                        eprintln!("wrote {} objects to {}", files.len(), dir.display());
                        super::release_at_exit(files);
                        Exit::Success
                    }
                    Err(err) => {
                        report::print_error(&err, err.help());
                        Exit::Usage
                    }
                }
            }
            None => {
                let mut stdout = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
                let written = build.objects.join(format, |piece| stdout.write_all(piece.as_bytes()));
                let result = match written.and_then(|()| stdout.flush()) {
                    Ok(()) => Exit::Success,
                    Err(e) if report::is_broken_pipe(&e) => Exit::Success,
                    Err(e) => {
                        report::print_error(format!("cannot write to stdout: {e}"), None);
                        Exit::Usage
                    }
                };
                super::release_at_exit(build);
                result
            }
        }
    }
}

/// How a build divides the package: files per evaluation batch (`KDEP_BATCH_FILES=N`), the
/// size of the root sources from which each file is lowered twice rather than held from the
/// start to its batch (`KDEP_LOWER_AGAIN_FROM=BYTES`), the estimated output from which the
/// objects' texts are held compressed (`KDEP_COMPRESS_FROM=BYTES`) and the bytes of text per
/// compressed block (`KDEP_BLOCK_BYTES=BYTES`), when set to a positive number (the tests use
/// them to build a small package in several batches, in small compressed blocks, either way),
/// else the compiler's defaults.
fn batching() -> kdep_compiler::Batching {
    let var = |name: &str| std::env::var(name).ok().and_then(|v| v.trim().parse::<usize>().ok()).filter(|n| *n > 0);
    kdep_compiler::Batching {
        files: var("KDEP_BATCH_FILES"),
        lower_again_from: var("KDEP_LOWER_AGAIN_FROM"),
        compress_from: var("KDEP_COMPRESS_FROM"),
        block_bytes: var("KDEP_BLOCK_BYTES"),
    }
}

/// The `--source-map` document: objects in build order, each field path in the object's key
/// order with the span and layer of the value. Deterministic like the build itself.
fn source_map_json(
    manifests: &[kdep_compiler::Manifest],
    sources: &dyn kdep_compiler::diag::render::Sources,
    env: Option<&str>,
) -> String {
    use kdep_compiler::provenance;
    let objects: Vec<serde_json::Value> = manifests
        .iter()
        .map(|m| {
            let fields: Vec<serde_json::Value> = provenance::source_map(m)
                .into_iter()
                .map(|f| {
                    let mut entry = serde_json::Map::new();
                    entry.insert("path".into(), f.path.into());
                    if let Some(span) = f.origin.span {
                        let span = sources.resolve(span);
                        let (file, line, column) = super::explain::location(sources, span);
                        entry.insert("file".into(), file.into());
                        entry.insert("line".into(), line.into());
                        entry.insert("column".into(), column.into());
                        entry.insert("start".into(), span.range.start.into());
                        entry.insert("end".into(), span.range.end.into());
                    }
                    entry.insert("layer".into(), provenance::layer_kind(&f.origin.layer).into());
                    entry.insert("by".into(), f.origin.layer.describe().into());
                    serde_json::Value::Object(entry)
                })
                .collect();
            serde_json::json!({
                "apiVersion": m.api_version,
                "kind": m.kind,
                "namespace": m.namespace,
                "name": m.name,
                "app": m.app,
                "fields": fields,
            })
        })
        .collect();
    let doc = serde_json::json!({ "version": 1, "environment": env, "objects": objects });
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}

/// Whether `file` would be written inside folder `dir`: both made absolute against the current
/// folder and compared by components, `..` resolved lexically (neither needs to exist yet).
fn inside(file: &std::path::Path, dir: &std::path::Path) -> bool {
    fn absolute(p: &std::path::Path) -> std::path::PathBuf {
        let joined = std::env::current_dir().map_or_else(|_| p.to_path_buf(), |cwd| cwd.join(p));
        // Symlinked folders that exist are compared where they point.
        let base = joined.parent().and_then(|parent| std::fs::canonicalize(parent).ok());
        let joined = match (base, joined.file_name()) {
            (Some(parent), Some(name)) => parent.join(name),
            _ => joined,
        };
        let mut out = std::path::PathBuf::new();
        for c in joined.components() {
            match c {
                std::path::Component::ParentDir => {
                    out.pop();
                }
                std::path::Component::CurDir => {}
                other => out.push(other),
            }
        }
        out
    }
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| absolute(dir));
    absolute(file).starts_with(dir)
}
