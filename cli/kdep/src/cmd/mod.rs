//! Command-line definition: global flags, subcommands and the shared helpers they use.

mod build;
mod check;
mod explain;
mod fmt;
mod import;
mod import_crd;
mod lsp;

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use kdep_compiler::Workspace;

use crate::fs::{write_atomic, OsFs};
use crate::report::{self, ColorChoice};

/// Process exit codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Success = 0,
    /// Problems in the sources.
    SourceErrors = 1,
    /// Usage or I/O problems.
    Usage = 2,
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e as u8)
    }
}

const AFTER_HELP: &str = "\
Exit codes:
  0  success
  1  errors in the sources (type, permission or syntax errors; unformatted files with `fmt --check`;
     manifests `import` cannot convert)
  2  usage or I/O problems (bad arguments, missing paths, unwritable output)

Environment:
  NO_COLOR   disables colour in diagnostics (as does --color never)

Examples:
  kdep build examples/platform-and-teams/shop --env production
  kdep build --env staging -o out/staging
  kdep check --message-format json
  kdep fmt --check
  kdep import crd crds/*.yaml -o k8s
  kdep import manifests kubernetes-manifests.yaml -o shop";

/// kdep: typed templates for Kubernetes deployments.
///
/// Platform engineers write base templates that lock what must not change and constrain what
/// may; teams instantiate them. kdep checks every override at compile time and emits
/// deterministic Kubernetes manifests.
#[derive(Debug, Parser)]
#[command(name = "kdep", version, about, long_about, after_help = AFTER_HELP, propagate_version = true)]
pub struct Cli {
    /// When to colour diagnostics.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Build(build::BuildArgs),
    Check(check::CheckArgs),
    Fmt(fmt::FmtArgs),
    Explain(explain::ExplainArgs),
    Import(import::ImportArgs),
    Lsp(lsp::LspArgs),
}

/// What every subcommand gets: global options.
pub struct Ctx {
    pub color: ColorChoice,
    pub cwd: Option<PathBuf>,
}

impl Cli {
    pub fn run(self) -> Exit {
        let ctx = Ctx { color: self.color, cwd: std::env::current_dir().ok() };
        match self.command {
            Command::Build(args) => args.run(&ctx),
            Command::Check(args) => args.run(&ctx),
            Command::Fmt(args) => args.run(&ctx),
            Command::Explain(args) => args.run(&ctx),
            Command::Import(args) => args.run(&ctx),
            Command::Lsp(args) => args.run(&ctx),
        }
    }
}

/// Hands a large value to process exit instead of freeing it: the process ends right after
/// the command, and dropping a whole compilation database one allocation at a time costs a
/// measurable share of a large build for no benefit.
pub fn release_at_exit<T>(value: T) {
    std::mem::forget(value);
}

/// Loads the package containing `path`, reporting a usage error when it cannot be loaded.
pub fn load_workspace(path: Option<&Path>) -> Result<Workspace, Exit> {
    let path = path.unwrap_or(Path::new("."));
    // Parallel evaluation is opt-in (`KDEP_THREADS=N`): on the benchmark workload it did not
    // lower wall time on 2 cores, and one thread keeps memory lowest.
    let threads = std::env::var("KDEP_THREADS").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
    Workspace::load_with(&OsFs, path, threads).map_err(|err| {
        let help = match err {
            kdep_compiler::LoadError::NotAPackage(_) => {
                Some("a package is a folder with a `kdep.toml`; pass its path, or run kdep inside it")
            }
            kdep_compiler::LoadError::NotFound(_) => Some("check the path; it is relative to the current directory"),
            kdep_compiler::LoadError::PackageTomlNotAFile(..) => {
                Some("move it aside and create a `kdep.toml` file with a [package] table")
            }
            kdep_compiler::LoadError::Io(..) => None,
        };
        report::print_error(&err, help);
        Exit::Usage
    })
}

/// `kdep.lock` handling shared by build and check: with `locked`, a lock file that is missing
/// or differs is an error; otherwise it is (re)written when it changed.
pub fn sync_lock_file(ws: &Workspace, locked: bool) -> Result<(), Exit> {
    let path = ws.root_dir().join("kdep.lock");
    let wanted = ws.lock_file();
    let current = match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        // Not UTF-8 is as good as missing: the file is regenerated.
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::InvalidData) => None,
        // An unreadable lock file used to count as missing, and writing it then failed with a
        // misleading "read-only".
        Err(e) => {
            report::print_error(format!("cannot read `{}`: {e}", path.display()), None);
            return Err(Exit::Usage);
        }
    };
    if current.as_deref() == Some(wanted.as_str()) {
        return Ok(());
    }
    if locked {
        report::print_error(
            format!("`{}` is missing or out of date and --locked was given", shown(&path)),
            Some("run the same command without --locked to update kdep.lock, review the change and commit it"),
        );
        return Err(Exit::SourceErrors);
    }
    write_atomic(&path, wanted.as_bytes()).map_err(|e| {
        report::print_error(format!("cannot write `{}`: {e}", shown(&path)), None);
        Exit::Usage
    })
}

/// `path` relative to the current folder, as the user would write it: the package root is
/// canonical, so printing it as is would show the absolute (often temporary) folder.
fn shown(path: &Path) -> String {
    let cwd = std::env::current_dir().and_then(std::fs::canonicalize);
    match cwd {
        Ok(cwd) => kdep_compiler::loader::relative_path(&cwd, path),
        Err(_) => path.display().to_string(),
    }
}
