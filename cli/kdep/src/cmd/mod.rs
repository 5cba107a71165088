//! Command-line definition: global flags, subcommands and the shared helpers they use.

mod build;
mod check;
mod cluster;
mod drift;
mod explain;
mod fmt;
mod impact;
mod import;
mod import_crd;
mod lsp;
mod mod_cmd;
mod set;
mod status;
mod test;

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
    /// `kdep drift`: the cluster differs from the package.
    Drifted = 3,
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
  kdep import manifests kubernetes-manifests.yaml -o shop
  kdep set image checkout=registry.example.com/shop/checkout:1.5.0 --env staging
  kdep mod publish --oci registry.example.com/kdep/platform --version 1.2.0
  kdep explain Deployment/checkout spec.replicas --env production
  kdep diff --env staging && kdep apply --env staging
  kdep drift --env production --watch --interval 5m --webhook https://hooks.example.com/kdep";

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
    Set(set::SetArgs),
    Mod(mod_cmd::ModArgs),
    Impact(impact::ImpactArgs),
    Test(test::TestArgs),
    Diff(cluster::DiffArgs),
    Plan(cluster::PlanArgs),
    Apply(cluster::ApplyArgs),
    Status(status::StatusArgs),
    Drift(drift::DriftArgs),
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
            Command::Set(args) => args.run(&ctx),
            Command::Mod(args) => args.run(&ctx),
            Command::Impact(args) => args.run(&ctx),
            Command::Test(args) => args.run(&ctx),
            Command::Diff(args) => args.run(&ctx),
            Command::Plan(args) => args.run(&ctx),
            Command::Apply(args) => args.run(&ctx),
            Command::Status(args) => args.run(&ctx),
            Command::Drift(args) => args.run(&ctx),
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

/// Most threads a build uses by default: past this, forking the database for another worker
/// costs more than the share of files it would take.
const MAX_DEFAULT_THREADS: usize = 8;

/// Threads for loading, evaluation and writing: `KDEP_THREADS=N` when set (`1` turns parallelism off),
/// else the cores this process may use, at most [`MAX_DEFAULT_THREADS`]. The output does not
/// depend on it (`compiler/eval/tests/parallel.rs`, `cli/kdep/tests/cli.rs`), and a package
/// with few files stays on one thread whatever it says (`kdep_eval`'s `par_map`).
pub(crate) fn build_threads() -> usize {
    if let Some(n) = std::env::var("KDEP_THREADS").ok().and_then(|v| v.trim().parse::<usize>().ok()) {
        return n.max(1);
    }
    std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_DEFAULT_THREADS))
}

/// Loads the package containing `path`, reporting a usage error when it cannot be loaded.
/// Git and OCI dependencies come from `kdep.lock` and the cache, fetched when missing.
// Kept for commands that have no package options of their own.
#[allow(dead_code)]
pub fn load_workspace(path: Option<&Path>) -> Result<Workspace, Exit> {
    load_workspace_with(path, kdep_pkg::Options::default())
}

/// [`load_workspace`] with the package options (`--offline`, which dependencies to update).
pub fn load_workspace_with(path: Option<&Path>, options: kdep_pkg::Options) -> Result<Workspace, Exit> {
    let path = path.unwrap_or(Path::new("."));
    let threads = build_threads();
    let lock_root = kdep_compiler::loader::find_package_root(&OsFs, path).ok();
    let lock = lock_root.as_deref().map(mod_cmd::read_lock).unwrap_or_default();
    let mut fetcher =
        kdep_pkg::Fetcher::new(kdep_pkg::Cache::from_env(), lock, lock_root.as_deref().unwrap_or(path), options);
    let loaded = Workspace::load_with_remote(&OsFs, path, threads, &mut fetcher);
    for line in &fetcher.log {
        eprintln!("{line}");
    }
    loaded.map_err(|err| {
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
