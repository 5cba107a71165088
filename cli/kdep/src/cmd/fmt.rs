//! `kdep fmt`: rewrite `.kdep` files in the canonical layout, or list those that differ.

use std::path::{Path, PathBuf};

use clap::Args;
use kdep_compiler::diag::render::{render_terminal, RenderConfig, Sources};
use kdep_compiler::diag::FileId;
use kdep_compiler::loader::MAX_FILE_BYTES;
use kdep_compiler::Vfs;

use super::{Ctx, Exit};
use crate::fs::{write_atomic, OsFs};
use crate::report;

/// Format `.kdep` files in the canonical layout (comments and doc comments kept).
///
/// Formatting is idempotent: formatting formatted code changes nothing. Files with syntax
/// errors are reported and left untouched.
#[derive(Debug, Args)]
pub struct FmtArgs {
    /// Files or folders to format (folders are searched for `*.kdep`). Defaults to the current
    /// directory.
    paths: Vec<PathBuf>,
    /// Change nothing; list the files that are not formatted and exit 1 if there are any.
    #[arg(long)]
    check: bool,
}

struct OneFile<'a> {
    path: String,
    text: &'a str,
}

impl Sources for OneFile<'_> {
    fn path(&self, _: FileId) -> String {
        self.path.clone()
    }
    fn text(&self, _: FileId) -> &str {
        self.text
    }
}

/// Adds `path` (a file) or the `*.kdep` files below it (a folder) to `out`. An error names the
/// path that could not be read, which may be a subfolder deep inside `path`.
fn collect(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), (PathBuf, std::io::Error)> {
    // Anything but a folder is a file to format; whether it can be read (a FIFO or a device
    // cannot) is decided when it is read, by the same rule `check` and `build` apply.
    if !path.is_dir() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let at = |e| (path.to_path_buf(), e);
    let mut entries: Vec<_> = std::fs::read_dir(path).map_err(at)?.collect::<Result<_, _>>().map_err(at)?;
    entries.sort_by_key(|e| e.path());
    for entry in entries {
        let p = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type().map_err(|e| (p.clone(), e))?.is_dir() {
            if !name.starts_with('.') && name != "target" && name != "node_modules" {
                collect(&p, out)?;
            }
        } else if name.ends_with(".kdep") && !name.starts_with('.') {
            // Hidden files are skipped like hidden folders: editors keep lock files such as
            // Emacs' `.#main.kdep` (a dangling symlink) next to the file being edited.
            out.push(p);
        }
    }
    Ok(())
}

impl FmtArgs {
    pub fn run(self, ctx: &Ctx) -> Exit {
        let roots = if self.paths.is_empty() { vec![PathBuf::from(".")] } else { self.paths.clone() };
        let mut files = Vec::new();
        for root in &roots {
            if !root.exists() {
                report::print_error(format!("path `{}` does not exist", root.display()), None);
                return Exit::Usage;
            }
            if let Err((path, e)) = collect(root, &mut files) {
                report::print_error(format!("cannot read `{}`: {e}", path.display()), None);
                return Exit::Usage;
            }
        }
        let mut unformatted = 0usize;
        let mut broken = 0usize;
        for file in &files {
            let text = match OsFs.read(file, MAX_FILE_BYTES).map(String::from_utf8) {
                Ok(Ok(t)) => t,
                Ok(Err(_)) => {
                    report::print_error(format!("`{}` is not valid UTF-8", file.display()), None);
                    broken += 1;
                    continue;
                }
                Err(e) => {
                    report::print_error(format!("cannot read `{}`: {e}", file.display()), None);
                    return Exit::Usage;
                }
            };
            match kdep_compiler::format_source(&text) {
                Ok(formatted) if formatted == text => {}
                Ok(formatted) => {
                    unformatted += 1;
                    if self.check {
                        println!("{}", file.display());
                    } else if let Err(e) = write_atomic(file, formatted.as_bytes()) {
                        report::print_error(format!("cannot write `{}`: {e}", file.display()), None);
                        return Exit::Usage;
                    } else {
                        eprintln!("formatted {}", file.display());
                    }
                }
                Err(diags) => {
                    broken += 1;
                    let sources = OneFile { path: file.display().to_string(), text: &text };
                    let config = RenderConfig { color: ctx.color.enabled(), max_diagnostics: 20 };
                    let _ = render_terminal(&diags, &sources, config, &mut std::io::stderr().lock());
                }
            }
        }
        if broken > 0 {
            eprintln!("{broken} file{} not formatted because of errors", if broken == 1 { "" } else { "s" });
            return Exit::SourceErrors;
        }
        if self.check && unformatted > 0 {
            eprintln!(
                "{unformatted} of {} file{} would be reformatted; run `kdep fmt` to fix",
                files.len(),
                if files.len() == 1 { "" } else { "s" }
            );
            return Exit::SourceErrors;
        }
        Exit::Success
    }
}
