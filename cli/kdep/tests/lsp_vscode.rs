//! The VS Code extension packages with `vsce` (installed by `lsp/editors/vscode/setup.sh`, which
//! CI runs): a copy of `lsp/editors/vscode` gets its locked dependencies from npm's cache, `vsce
//! package` builds the .vsix, and the archive holds the manifest, the client entry point, the
//! language configuration and the grammar the manifest names, and the language client.
#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a test: a failed step is a failed test, and JSON paths read best as indexing"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?} does not start: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        // A developer's own `npm install` and packages: not part of the sources.
        if name == "node_modules" || name.to_string_lossy().ends_with(".vsix") {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(&name));
        } else {
            std::fs::copy(entry.path(), to.join(&name)).unwrap();
        }
    }
}

#[test]
fn the_vscode_extension_packages_with_vsce() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| repo.join("target"), PathBuf::from);
    let vsce = target.join("vsce/node_modules/.bin/vsce");
    assert!(vsce.is_file(), "this test needs vsce: run `bash lsp/editors/vscode/setup.sh` (CI does)");

    let tmp = tempfile::tempdir().unwrap();
    let ext = tmp.path().join("vscode");
    copy_dir(&repo.join("lsp/editors/vscode"), &ext);
    // The locked dependencies, from the cache setup.sh filled: no network here.
    run(Command::new("npm")
        .args(["ci", "--offline", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"])
        .current_dir(&ext));
    let vsix = tmp.path().join("kdep.vsix");
    run(Command::new(&vsce).arg("package").arg("--out").arg(&vsix).current_dir(&ext));

    let listing = run(Command::new("unzip").arg("-Z1").arg(&vsix));
    let files: Vec<String> = String::from_utf8(listing.stdout).unwrap().lines().map(str::to_owned).collect();
    // The extension's own files (the dependencies' files are many and versioned: checked below).
    let mut own: Vec<&str> =
        files.iter().map(String::as_str).filter(|f| !f.starts_with("extension/node_modules/")).collect();
    own.sort_unstable();
    insta::assert_snapshot!(own.join("\n"));
    assert!(files.iter().any(|f| f == "extension/node_modules/vscode-languageclient/node.js"), "{files:#?}");

    // What the manifest points at is in the archive: the client, the grammar, the configuration.
    let manifest = run(Command::new("unzip").arg("-p").arg(&vsix).arg("extension/package.json"));
    let manifest: serde_json::Value = serde_json::from_slice(&manifest.stdout).unwrap();
    let in_archive = |rel: &str| {
        let rel = rel.trim_start_matches("./");
        files.iter().any(|f| f.strip_prefix("extension/") == Some(rel))
    };
    assert!(in_archive(manifest["main"].as_str().unwrap()), "{manifest}");
    for grammar in manifest["contributes"]["grammars"].as_array().unwrap() {
        assert_eq!(grammar["language"], "kdep");
        assert!(in_archive(grammar["path"].as_str().unwrap()), "{grammar}");
    }
    let language = &manifest["contributes"]["languages"][0];
    assert_eq!(language["extensions"], serde_json::json!([".kdep"]));
    assert!(in_archive(language["configuration"].as_str().unwrap()), "{language}");
}
