//! `kdep set image APP[.container]=REF [--env E] [PATH]`: promotion as a source edit, for CI
//! pipelines (`kdep set image checkout=registry.example.com/shop/checkout:1.5.0 --env staging`).
//! The edit is planned and checked by `kdep_compiler::edit`; this file parses the arguments,
//! reports, and writes the file atomically.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use kdep_compiler::edit::ImageRequest;

use super::{load_workspace, Ctx, Exit};
use crate::fs::write_atomic;
use crate::report::{self, MessageFormat};

/// Change a value in the sources, through the formatter (comments kept).
#[derive(Debug, Args)]
pub struct SetArgs {
    #[command(subcommand)]
    what: SetCommand,
}

#[derive(Debug, Subcommand)]
enum SetCommand {
    Image(ImageArgs),
}

/// Set an app's container image: `kdep set image checkout=registry.example.com/shop/checkout:1.5.0`.
///
/// Replaces the string the app assigns to `image` (in its `in ENV` block with `--env`), or adds
/// the assignment when the app does not set one, then formats the file. `APP.NAME=REF` sets
/// `NAME.image` (a field holding a second container). The edited package must pass the same
/// checks as `kdep check`: a locked image, a computed one, or a reference the field's type
/// rejects is refused with the error and nothing is written (exit 1).
#[derive(Debug, Args)]
struct ImageArgs {
    /// `APP=REF` or `APP.NAME=REF`.
    assignment: String,
    /// Package folder, or a file inside it. Defaults to the current directory.
    path: Option<PathBuf>,
    /// Set the image for this environment only (the app's `in ENV` block).
    #[arg(long)]
    env: Option<String>,
    /// How to print diagnostics; `json` prints one JSON document on stdout.
    #[arg(long, value_enum, default_value_t = MessageFormat::Human)]
    message_format: MessageFormat,
}

impl SetArgs {
    pub fn run(self, ctx: &Ctx) -> Exit {
        match self.what {
            SetCommand::Image(args) => args.run(ctx),
        }
    }
}

impl ImageArgs {
    fn run(self, ctx: &Ctx) -> Exit {
        let Some((target, reference)) = self.assignment.split_once('=') else {
            report::print_error(
                format!("expected APP=REF, got `{}`", self.assignment),
                Some("for example: kdep set image checkout=registry.example.com/shop/checkout:1.5.0"),
            );
            return Exit::Usage;
        };
        let (app, container) = match target.split_once('.') {
            Some((a, c)) => (a, Some(c)),
            None => (target, None),
        };
        if app.is_empty() || reference.is_empty() || container.is_some_and(str::is_empty) {
            report::print_error(
                format!("expected APP=REF with a non-empty app and reference, got `{}`", self.assignment),
                Some("for example: kdep set image checkout=registry.example.com/shop/checkout:1.5.0"),
            );
            return Exit::Usage;
        }
        let mut ws = match load_workspace(self.path.as_deref()) {
            Ok(ws) => ws,
            Err(code) => return code,
        };
        let req = ImageRequest { app, container, env: self.env.as_deref(), reference };
        let edit = match ws.set_image(&req) {
            Ok(edit) => edit,
            Err(diags) => {
                let sources = ws.sources(ctx.cwd.as_deref());
                let mut stdout = std::io::stdout().lock();
                let _ = report::print_diagnostics(&diags, &sources, self.message_format, ctx.color, &mut stdout);
                return Exit::SourceErrors;
            }
        };
        let shown = kdep_compiler::loader::relative_path(
            &ctx.cwd.clone().and_then(|c| std::fs::canonicalize(c).ok()).unwrap_or_default(),
            &edit.abs_path,
        );
        let scope = match &self.env {
            Some(env) => format!("app `{app}` in `{env}`"),
            None => format!("app `{app}`"),
        };
        let field = container.map_or_else(|| "image".to_owned(), |c| format!("{c}.image"));
        if edit.before == edit.after {
            eprintln!("{field} of {scope} is already \"{reference}\" ({shown}:{}); nothing to change", edit.line);
            return Exit::Success;
        }
        if let Err(e) = write_atomic(&edit.abs_path, edit.after.as_bytes()) {
            report::print_error(format!("cannot write `{shown}`: {e}"), None);
            return Exit::Usage;
        }
        match &edit.previous {
            Some(prev) => eprintln!("set {field} of {scope}: \"{prev}\" -> \"{reference}\" ({shown}:{})", edit.line),
            None => eprintln!("set {field} of {scope} to \"{reference}\" ({shown}:{}, added)", edit.line),
        }
        for env in &edit.unchanged_envs {
            eprintln!("note: `in {env}` sets its own {field}, which is unchanged (use --env {env} to change it)");
        }
        Exit::Success
    }
}
