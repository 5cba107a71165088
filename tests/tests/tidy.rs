//! Repository hygiene: every source file opens with a line saying what it is for, and no
//! pending snapshot files are left behind.

use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if name.starts_with('.') || name == "target" || name == "node_modules" {
                continue;
            }
            walk(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    walk(&repo_root(), &mut out);
    out.sort();
    out
}

#[test]
fn every_rust_file_opens_with_a_doc_line() {
    let offenders: Vec<String> = files()
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .filter(|p| {
            let text = std::fs::read_to_string(p).unwrap_or_default();
            !text.starts_with("//!")
        })
        .map(|p| p.display().to_string())
        .collect();
    assert!(offenders.is_empty(), "files without a leading `//!` line:\n{}", offenders.join("\n"));
}

#[test]
fn every_go_shell_and_python_file_opens_with_a_comment() {
    let offenders: Vec<String> = files()
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "go" || e == "sh" || e == "py"))
        .filter(|p| {
            let text = std::fs::read_to_string(p).unwrap_or_default();
            let first = text.lines().find(|l| !l.starts_with("#!")).unwrap_or("");
            !(first.starts_with("//") || first.starts_with('#'))
        })
        .map(|p| p.display().to_string())
        .collect();
    assert!(offenders.is_empty(), "files without a leading comment:\n{}", offenders.join("\n"));
}

#[test]
fn no_pending_snapshots() {
    let pending: Vec<String> = files()
        .into_iter()
        .filter(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            name.ends_with(".snap.new") || name.ends_with(".pending-snap")
        })
        .map(|p| p.display().to_string())
        .collect();
    assert!(pending.is_empty(), "pending insta snapshots (review them): {pending:?}");
}
