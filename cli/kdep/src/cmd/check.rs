//! `kdep check`: type-check a package and evaluate every app in every environment; no output.

use std::path::PathBuf;

use std::io::Write;

use clap::Args;
use kdep_compiler::diag::render::Sources;

use super::{load_workspace_with, sync_lock_file, Ctx, Exit};
use crate::report::{self, MessageFormat};

/// Check a package: syntax, types, template permissions, and evaluation of every app in every
/// declared environment. Writes no manifests.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Package folder, or a file inside it. Defaults to the current directory.
    path: Option<PathBuf>,
    /// How to print diagnostics; `json` prints one JSON document on stdout.
    // Spelled as in `build`, where `--format` is the manifest format; `--format` is the hidden
    // old spelling, kept so existing scripts keep working.
    #[arg(long, alias = "format", value_enum, default_value_t = MessageFormat::Human)]
    message_format: MessageFormat,
    /// Fail instead of updating `kdep.lock` when it is missing or out of date (for CI).
    #[arg(long)]
    locked: bool,
    /// Use only git and OCI dependencies already in the cache or `vendor/`; never the network.
    #[arg(long)]
    offline: bool,
}

impl CheckArgs {
    pub fn run(self, ctx: &Ctx) -> Exit {
        let options = kdep_pkg::Options { offline: self.offline, ..Default::default() };
        let ws = match load_workspace_with(self.path.as_deref(), options) {
            Ok(ws) => ws,
            Err(code) => return code,
        };
        let exit = self.check(ctx, &ws);
        super::release_at_exit(ws);
        exit
    }

    fn check(&self, ctx: &Ctx, ws: &kdep_compiler::Workspace) -> Exit {
        let diags = ws.check();
        let sources = ws.sources(ctx.cwd.as_deref());
        let mut stdout = std::io::stdout().lock();
        let printed = match self.message_format {
            // The JSON document of every command, plus the waivers reviewers audit.
            MessageFormat::Json => {
                let mut doc = kdep_compiler::diag::render::render_json(&diags, &sources);
                if let Some(obj) = doc.as_object_mut() {
                    obj.insert("waivers".to_owned(), waivers_json(&ws.waivers(), &sources));
                }
                writeln!(stdout, "{}", serde_json::to_string_pretty(&doc).unwrap_or_default())
            }
            MessageFormat::Human => {
                report::print_diagnostics(&diags, &sources, self.message_format, ctx.color, &mut stdout)
            }
        };
        if let Err(e) = printed {
            if !report::is_broken_pipe(&e) {
                return Exit::Usage;
            }
        }
        if kdep_compiler::diag::has_errors(&diags) {
            return Exit::SourceErrors;
        }
        if let Err(code) = sync_lock_file(ws, self.locked) {
            return code;
        }
        if self.message_format == MessageFormat::Human {
            let n_files = ws.loaded().files.iter().filter(|f| f.package == Some(ws.loaded().root)).count();
            let n_envs = ws.environments().len();
            eprintln!(
                "checked package `{}`: {n_files} module{}, {n_envs} environment{}, no errors",
                ws.package_name(),
                if n_files == 1 { "" } else { "s" },
                if n_envs == 1 { "" } else { "s" },
            );
        }
        Exit::Success
    }
}

/// `[{"app", "policy", "reason", "honoured", "file", "line"}]`: one record per `waive` entry.
fn waivers_json(waivers: &[kdep_compiler::WaiverListing], sources: &dyn Sources) -> serde_json::Value {
    let records = waivers.iter().map(|w| {
        let span = sources.resolve(w.span);
        let text = sources.text(span.file);
        let before = text.get(..span.range.start as usize).unwrap_or_default();
        serde_json::json!({
            "app": &*w.app,
            "policy": w.policy,
            "reason": w.reason,
            "honoured": w.honoured,
            "file": sources.path(w.span.file),
            "line": before.matches('\n').count() + 1,
        })
    });
    serde_json::Value::Array(records.collect())
}
