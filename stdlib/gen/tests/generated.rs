//! The committed `stdlib/k8s/**` equals what the generator produces now, and is formatted the
//! way `kdep fmt` formats it.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn committed(dir: &Path, prefix: &str, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).expect("stdlib/k8s exists") {
        let path = entry.expect("readable entry").path();
        let name = format!("{prefix}{}", path.file_name().expect("a name").to_string_lossy());
        if path.is_dir() {
            committed(&path, &format!("{name}/"), out);
        } else {
            out.push((name, std::fs::read_to_string(&path).expect("readable file")));
        }
    }
}

#[test]
fn committed_modules_are_up_to_date() {
    let root = root();
    let generated = kdep_k8s_gen::generate(&root).expect("the inputs convert");
    let mut files = Vec::new();
    committed(&root.join(kdep_k8s_gen::OUT_DIR), "", &mut files);
    files.sort();
    let names = |v: &[(String, String)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    let stale = format!("stdlib/k8s is stale: run `{}` and commit the result", kdep_k8s_gen::COMMAND);
    assert_eq!(names(&files), names(&generated), "{stale}");
    for ((name, have), (_, want)) in files.iter().zip(&generated) {
        assert!(have == want, "{name}: {stale}");
    }
}

#[test]
fn generated_modules_are_formatted() {
    let generated = kdep_k8s_gen::generate(&root()).expect("the inputs convert");
    for (name, text) in &generated {
        let formatted = kdep_syntax::format::format(kdep_diag::FileId(0), text)
            .unwrap_or_else(|e| panic!("{name} does not parse: {e:?}"));
        if formatted != *text {
            let line = formatted.lines().zip(text.lines()).position(|(a, b)| a != b).unwrap_or(0);
            panic!("{name} is not formatted like `kdep fmt`; first difference at line {}", line + 1);
        }
    }
}
