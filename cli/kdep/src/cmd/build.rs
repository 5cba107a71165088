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
}

impl BuildArgs {
    pub fn run(self, ctx: &Ctx) -> Exit {
        let options = kdep_pkg::Options { offline: self.offline, ..Default::default() };
        let ws = match load_workspace_with(self.path.as_deref(), options) {
            Ok(ws) => ws,
            Err(code) => return code,
        };
        let exit = self.build(ctx, &ws);
        super::release_at_exit(ws);
        exit
    }

    fn build(&self, ctx: &Ctx, ws: &kdep_compiler::Workspace) -> Exit {
        if let Some(dir) = &self.output {
            if let Err(err) = output::check_target(dir, Some(ws.root_dir())) {
                report::print_error(&err, err.help());
                return Exit::Usage;
            }
        }
        let build = ws.build(self.env.as_deref());
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
        let objects: Vec<_> = build.manifests.iter().map(|m| m.object.clone()).collect();
        let exit = self.write_output(&build, &objects);
        super::release_at_exit(build);
        exit
    }

    fn write_output(&self, build: &kdep_compiler::Build, objects: &[kdep_compiler::Value]) -> Exit {
        match &self.output {
            Some(dir) => {
                let names = output::file_names(&build.manifests, self.format == OutputFormat::Json);
                let files = build
                    .manifests
                    .iter()
                    .zip(names)
                    .map(|(m, name)| {
                        let text = match self.format {
                            OutputFormat::Yaml => emit::to_yaml_stream(std::slice::from_ref(&m.object)),
                            OutputFormat::Json => emit::to_json(std::slice::from_ref(&m.object)),
                        };
                        (name, text)
                    })
                    .collect::<Vec<_>>();
                match output::replace_dir(dir, &files) {
                    Ok(warnings) => {
                        for warning in warnings {
                            eprintln!("warning: {warning}");
                        }
                        eprintln!("wrote {} objects to {}", files.len(), dir.display());
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
                // YAML is streamed one document at a time so a large build never holds the
                // whole output in memory; the bytes are identical to `to_yaml_stream(objects)`.
                let written = match self.format {
                    OutputFormat::Yaml => objects.iter().enumerate().try_for_each(|(i, object)| {
                        if i > 0 {
                            stdout.write_all(b"---\n")?;
                        }
                        stdout.write_all(emit::to_yaml_stream(std::slice::from_ref(object)).as_bytes())
                    }),
                    OutputFormat::Json => stdout.write_all(emit::to_json(objects).as_bytes()),
                };
                match written.and_then(|()| stdout.flush()) {
                    Ok(()) => Exit::Success,
                    Err(e) if report::is_broken_pipe(&e) => Exit::Success,
                    Err(e) => {
                        report::print_error(format!("cannot write to stdout: {e}"), None);
                        Exit::Usage
                    }
                }
            }
        }
    }
}
