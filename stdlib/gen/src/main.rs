//! `cargo run -p kdep-k8s-gen [REPO_ROOT]`: regenerates `stdlib/k8s/**` (see the crate docs).

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    // The repository root: an argument, or two levels above this crate.
    let root = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.."));
    match run(&root) {
        Ok(n) => {
            println!("wrote {n} modules to {}", kdep_k8s_gen::OUT_DIR);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(root: &std::path::Path) -> Result<usize, String> {
    let files = kdep_k8s_gen::generate(root)?;
    let out = root.join(kdep_k8s_gen::OUT_DIR);
    // Replace the whole folder so modules that are no longer generated disappear.
    if out.exists() {
        std::fs::remove_dir_all(&out).map_err(|e| format!("cannot clear {}: {e}", out.display()))?;
    }
    for (rel, text) in &files {
        let path = out.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(files.len())
}
