//! Build script: embeds `codes/<ID>.md` (the long explanation of each diagnostic code).

#![expect(
    clippy::disallowed_methods,
    reason = "a build script: listing `codes/` and writing the table into OUT_DIR is its job"
)]

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let dir = root.join("codes");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut docs: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "md"))
                .filter_map(|p| Some((p.file_stem()?.to_string_lossy().into_owned(), p)))
                .collect()
        })
        .unwrap_or_default();
    docs.sort();
    let mut table =
        String::from("/// `(code id, markdown)` for every documented code.\nstatic DOCS: &[(&str, &str)] = &[\n");
    for (id, path) in &docs {
        println!("cargo:rerun-if-changed={}", path.display());
        let _ = writeln!(table, "    ({id:?}, include_str!({:?})),", path.display().to_string());
    }
    table.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("code_docs.rs");
    std::fs::write(&out, table).unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));
}
