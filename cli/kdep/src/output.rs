//! `kdep build -o DIR`: one file per object with stable names, replacing the folder atomically.
//!
//! The new folder is written next to the target, then swapped in with renames, so a failed or
//! interrupted build leaves the previous output untouched. kdep only replaces folders it
//! created itself (marked by a `.kdep-output` file), so it never deletes a user's files.

use std::fmt;
use std::path::{Path, PathBuf};

use kdep_compiler::Manifest;

use crate::fs::write_atomic;

/// Marker file in every output folder kdep writes.
pub const MARKER: &str = ".kdep-output";

/// Stable file names of objects, in order: [`file_name`], with `~2`, `~3`, ... added to the stem
/// of a name already taken. Distinct objects can share a name: two API groups may define the
/// same kind, and characters a file name cannot hold (`system:admin`) become `-`. `~` never
/// comes out of [`file_name`], so a suffixed name cannot collide with another object's.
pub fn file_names(manifests: &[Manifest], json: bool) -> Vec<String> {
    let ext = if json { ".json" } else { ".yaml" };
    let mut taken = std::collections::HashSet::new();
    manifests
        .iter()
        .map(|m| {
            let name = file_name(m, json);
            let stem = name.strip_suffix(ext).unwrap_or(&name).to_owned();
            let mut candidate = name;
            let mut n = 1;
            while !taken.insert(candidate.clone()) {
                n += 1;
                candidate = format!("{stem}~{n}{ext}");
            }
            candidate
        })
        .collect()
}

/// Stable file name of an object: `<kind>_<namespace>_<name>.yaml`, or `<kind>_<name>.yaml`
/// for cluster-scoped objects, with characters other than ASCII letters, digits, `-` and `.`
/// replaced by `-`. Kubernetes names never contain `_`, so the parts stay apart.
pub fn file_name(m: &Manifest, json: bool) -> String {
    let kind = m.kind.to_ascii_lowercase();
    let ext = if json { "json" } else { "yaml" };
    let safe = |s: &str| {
        s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '-' }).collect::<String>()
    };
    match &m.namespace {
        Some(ns) => format!("{}_{}_{}.{ext}", safe(&kind), safe(ns), safe(&m.name)),
        None => format!("{}_{}.{ext}", safe(&kind), safe(&m.name)),
    }
}

#[derive(Debug)]
pub enum OutputError {
    NotOurs(PathBuf),
    Io(PathBuf, std::io::Error),
}

impl OutputError {
    pub fn help(&self) -> Option<&'static str> {
        match self {
            OutputError::NotOurs(_) => {
                Some("choose an empty or new folder, or delete this one if its contents are disposable")
            }
            OutputError::Io(..) => None,
        }
    }
}

impl fmt::Display for OutputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutputError::NotOurs(p) => write!(
                f,
                "refusing to replace `{}`: it is not empty and was not written by `kdep build` (no {MARKER} file)",
                p.display()
            ),
            OutputError::Io(p, e) => write!(f, "cannot write `{}`: {e}", p.display()),
        }
    }
}

/// Replaces `dir` with a folder holding exactly `files` (name, contents).
pub fn replace_dir(dir: &Path, files: &[(String, String)]) -> Result<(), OutputError> {
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |e| OutputError::Io(p, e)
    };
    if dir.exists() {
        let empty = std::fs::read_dir(dir).map_err(io(dir))?.next().is_none();
        if !empty && !dir.join(MARKER).is_file() {
            return Err(OutputError::NotOurs(dir.to_path_buf()));
        }
    }
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    let base = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
    let staging = parent.join(format!(".{base}.kdep-new-{}", std::process::id()));
    let old = parent.join(format!(".{base}.kdep-old-{}", std::process::id()));
    let result = (|| {
        // Errors name the folder and files the user asked for, not the staging folder.
        std::fs::create_dir(&staging).map_err(io(dir))?;
        write_atomic(&staging.join(MARKER), b"written by kdep build; the folder is replaced on every build\n")
            .map_err(io(dir))?;
        for (name, text) in files {
            write_atomic(&staging.join(name), text.as_bytes()).map_err(io(&dir.join(name)))?;
        }
        if dir.exists() {
            std::fs::rename(dir, &old).map_err(io(dir))?;
        }
        if let Err(e) = std::fs::rename(&staging, dir) {
            // Put the previous output back so a failure never leaves the folder missing.
            let _ = std::fs::rename(&old, dir);
            return Err(OutputError::Io(dir.to_path_buf(), e));
        }
        let _ = std::fs::remove_dir_all(&old);
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    result
}
