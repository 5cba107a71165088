//! `kdep build -o DIR`: one file per object with stable names, replacing the folder atomically.
//!
//! The new folder is written next to the target, then swapped in with renames, so a failed or
//! interrupted build leaves the previous output untouched. kdep only replaces folders it
//! created itself: its `.kdep-output` file lists the files kdep wrote, and a folder holding
//! anything else is refused, so kdep never deletes a user's files. A symlink to a folder is
//! written through: the folder it points to is replaced and the link stays.

use std::fmt;
use std::path::{Path, PathBuf};

use kdep_compiler::Emitted;

use crate::fs::write_atomic;

/// Marker file in every output folder kdep writes.
pub const MARKER: &str = ".kdep-output";

/// First line of the marker; each following line names one file kdep wrote. An empty or
/// hand-made marker proves nothing, so one without this line is not trusted.
const MARKER_HEADER: &str = "# written by `kdep build -o`, which replaces this folder; the files it wrote:";

/// Stable file names of objects, in order: [`file_name`], with `~2`, `~3`, ... added to the stem
/// of a name already taken. Distinct objects can share a name: two API groups may define the
/// same kind, and characters a file name cannot hold (`system:admin`) become `-`. `~` never
/// comes out of [`file_name`], so a suffixed name cannot collide with another object's.
pub fn file_names(manifests: &[impl Emitted], json: bool) -> Vec<String> {
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
pub fn file_name(m: &impl Emitted, json: bool) -> String {
    let kind = m.kind().to_ascii_lowercase();
    let ext = if json { "json" } else { "yaml" };
    let safe = |s: &str| {
        s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '-' }).collect::<String>()
    };
    match m.namespace() {
        Some(ns) => format!("{}_{}_{}.{ext}", safe(&kind), safe(ns), safe(m.name())),
        None => format!("{}_{}.{ext}", safe(&kind), safe(m.name())),
    }
}

#[derive(Debug)]
pub enum OutputError {
    /// The folder exists and kdep cannot tell that it wrote it; the text says why.
    NotOurs(PathBuf, String),
    /// `-o` names a folder whose replacement would pull the ground from under the user.
    Forbidden(PathBuf, &'static str),
    /// `-o` is a symlink to nothing.
    DanglingLink(PathBuf),
    Io(PathBuf, std::io::Error),
}

impl OutputError {
    pub fn help(&self) -> Option<&'static str> {
        match self {
            OutputError::NotOurs(..) => {
                Some("choose an empty or new folder, or delete this one if its contents are disposable")
            }
            OutputError::Forbidden(..) => {
                Some("choose a folder of its own, such as `-o out`: kdep replaces the whole folder on every build")
            }
            OutputError::DanglingLink(_) => Some("create the folder the link points to, or remove the link"),
            OutputError::Io(..) => None,
        }
    }
}

impl fmt::Display for OutputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutputError::NotOurs(p, why) => write!(f, "refusing to replace `{}`: {why}", p.display()),
            OutputError::Forbidden(p, why) => write!(f, "refusing to write the output to `{}`: {why}", p.display()),
            OutputError::DanglingLink(p) => {
                write!(f, "cannot write `{}`: it is a symlink to a folder that does not exist", p.display())
            }
            OutputError::Io(p, e) => write!(f, "cannot write `{}`: {e}", p.display()),
        }
    }
}

/// The folder `-o dir` replaces: `dir`, or the folder it points to when it is a symlink (the
/// link stays and keeps pointing at the new output).
pub fn resolve(dir: &Path) -> Result<PathBuf, OutputError> {
    match std::fs::symlink_metadata(dir) {
        Ok(meta) if meta.file_type().is_symlink() => std::fs::canonicalize(dir).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => OutputError::DanglingLink(dir.to_path_buf()),
            _ => OutputError::Io(dir.to_path_buf(), e),
        }),
        _ => Ok(dir.to_path_buf()),
    }
}

/// Refuses output folders that must never be swapped out: the current directory, the package
/// being built (if any), a mount point, or any folder containing one of them. Renaming them
/// fails half-way ("Device or resource busy") or moves the user's shell or sources away, so this
/// is checked before anything is built or written.
pub fn check_target(dir: &Path, package_root: Option<&Path>) -> Result<(), OutputError> {
    let Ok(target) = resolve(dir).and_then(|t| std::fs::canonicalize(&t).map_err(|e| OutputError::Io(t, e))) else {
        // A folder that does not exist yet cannot be or contain any of them; other problems
        // are reported when it is written.
        return Ok(());
    };
    let forbidden = |why| Err(OutputError::Forbidden(dir.to_path_buf(), why));
    if let Ok(cwd) = std::env::current_dir().and_then(std::fs::canonicalize) {
        if cwd == target {
            return forbidden("it is the current directory");
        }
        if cwd.starts_with(&target) {
            return forbidden("it contains the current directory");
        }
    }
    if let Some(package_root) = package_root {
        let root = std::fs::canonicalize(package_root).unwrap_or_else(|_| package_root.to_path_buf());
        if root == target {
            return forbidden("it is the folder of the package being built");
        }
        if root.starts_with(&target) {
            return forbidden("it contains the package being built");
        }
    }
    if is_mount_point(&target) {
        return forbidden("it is a mount point");
    }
    Ok(())
}

/// `true` for `/` and folders on another device than their parent.
#[cfg(unix)]
fn is_mount_point(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Some(parent) = path.parent() else { return true };
    match (std::fs::metadata(path), std::fs::metadata(parent)) {
        (Ok(here), Ok(above)) => here.dev() != above.dev(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn is_mount_point(path: &Path) -> bool {
    path.parent().is_none()
}

/// Checks that the existing folder `dir` is one kdep wrote and nobody added to: empty, or with
/// a marker kdep wrote listing every regular file it holds.
fn verify_ours(dir: &Path) -> Result<(), OutputError> {
    let not_ours = |why: String| Err(OutputError::NotOurs(dir.to_path_buf(), why));
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| OutputError::Io(dir.to_path_buf(), e))? {
        let entry = entry.map_err(|e| OutputError::Io(dir.to_path_buf(), e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name != MARKER {
            names.push((name, entry.file_type().is_ok_and(|t| t.is_file())));
        }
    }
    let marker = dir.join(MARKER);
    if !std::fs::symlink_metadata(&marker).is_ok_and(|m| m.is_file()) {
        if names.is_empty() {
            return Ok(());
        }
        return not_ours(format!("it is not empty and was not written by `kdep build` (no {MARKER} file)"));
    }
    let text = std::fs::read_to_string(&marker).unwrap_or_default();
    let mut lines = text.lines();
    if lines.next() != Some(MARKER_HEADER) {
        return not_ours(format!(
            "its {MARKER} file was not written by this version of kdep (it is empty, made by hand or older), \
             so kdep cannot tell which files it wrote"
        ));
    }
    let listed: std::collections::HashSet<&str> = lines.collect();
    names.sort();
    if let Some((name, _)) = names.iter().find(|(name, is_file)| !is_file || !listed.contains(name.as_str())) {
        return not_ours(format!("`{name}` in it was not written by kdep"));
    }
    Ok(())
}

/// Replaces `dir` with a folder holding exactly `files` (name, contents). Returns warnings about
/// what could not be cleaned up; the new output is in place either way.
pub fn replace_dir(dir: &Path, files: &[(String, String)]) -> Result<Vec<String>, OutputError> {
    let target = resolve(dir)?;
    if target.exists() {
        verify_ours(&target)?;
    }
    let mut marker = format!("{MARKER_HEADER}\n");
    for (name, _) in files {
        marker.push_str(name);
        marker.push('\n');
    }
    swap_dir(&target, files, (MARKER, &marker))
}

/// Replaces the folder `dir` (already resolved, and checked by the caller to be replaceable)
/// with one holding exactly `files` plus the `marker` file: a new folder is written next to it
/// and renamed into place. Returns warnings about what could not be cleaned up.
pub fn swap_dir(dir: &Path, files: &[(String, String)], marker: (&str, &str)) -> Result<Vec<String>, OutputError> {
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |e| OutputError::Io(p, e)
    };
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    let base = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
    let staging = parent.join(format!(".{base}.kdep-new-{}", std::process::id()));
    let old = parent.join(format!(".{base}.kdep-old-{}", std::process::id()));
    let result = (|| {
        // Errors name the folder and files the user asked for, not the staging folder.
        std::fs::create_dir(&staging).map_err(io(dir))?;
        write_atomic(&staging.join(marker.0), marker.1.as_bytes()).map_err(io(dir))?;
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
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    result?;
    let mut warnings: Vec<String> = remove_previous(&old).into_iter().collect();
    warnings.extend(remove_leftovers(parent, &base));
    Ok(warnings)
}

/// Deletes the previous output once the new one is in place. Failing to is worth a warning,
/// not a failed build: the new output is complete, and a later build removes the leftover.
fn remove_previous(old: &Path) -> Option<String> {
    match std::fs::remove_dir_all(old) {
        Ok(()) => None,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => Some(format!("could not delete the previous output, left in `{}`: {e}", old.display())),
    }
}

/// Deletes the staging and previous-output folders (`.NAME.kdep-new-PID`, `.NAME.kdep-old-PID`)
/// that builds killed before they could clean up left next to the output. A folder whose
/// process is still running belongs to a concurrent build and is left alone; where liveness
/// cannot be told, the folder is only reported.
fn remove_leftovers(parent: &Path, base: &str) -> Vec<String> {
    let prefixes = [format!(".{base}.kdep-new-"), format!(".{base}.kdep-old-")];
    let mut warnings = Vec::new();
    let Ok(entries) = std::fs::read_dir(parent) else { return warnings };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) =
            prefixes.iter().find_map(|p| name.strip_prefix(p.as_str())).and_then(|rest| rest.parse::<u32>().ok())
        else {
            continue;
        };
        // `file_type` does not follow symlinks: only real folders are deleted.
        if pid == std::process::id() || !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let path = entry.path();
        match process_alive(pid) {
            Some(true) => {}
            Some(false) => {
                if let Err(e) = std::fs::remove_dir_all(&path) {
                    warnings.push(format!("could not delete `{}`, left by an interrupted build: {e}", path.display()));
                }
            }
            None => warnings.push(format!(
                "`{}` was left by an interrupted build (process {pid}); delete it if no build is running",
                path.display()
            )),
        }
    }
    warnings.sort();
    warnings
}

/// Whether process `pid` is running, when that can be told. PIDs are per PID namespace, so two
/// containers building into one shared folder can misjudge each other; that setup also races
/// on the swap itself and is not supported.
fn process_alive(pid: u32) -> Option<bool> {
    let proc = Path::new("/proc");
    if cfg!(target_os = "linux") && proc.join("self").exists() {
        Some(proc.join(pid.to_string()).exists())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_previous_output_that_cannot_be_deleted_is_a_warning() {
        // Root may delete anything, so the failure is a real one of another kind: the path
        // runs through a regular file.
        let tmp = tempfile::tempdir().expect("tempdir");
        let file = tmp.path().join("file");
        std::fs::write(&file, "x").expect("write");
        let old = file.join(".out.kdep-old-1");
        let warning = remove_previous(&old).expect("a warning");
        assert!(warning.starts_with("could not delete the previous output, left in `"), "{warning}");
        assert!(warning.contains(".out.kdep-old-1"), "{warning}");
        assert_eq!(remove_previous(&tmp.path().join("never-existed")), None);
    }
}
