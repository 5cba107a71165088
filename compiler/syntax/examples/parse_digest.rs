//! Prints one line per file given on the command line (directories are walked for `.kdep`
//! files): a hash of the `Debug` form of its whole `Parse` (tree, comments, diagnostics), then a
//! hash over all of them. A parser change that must not change any tree or message is checked
//! by comparing this output before and after; with `--repeat N`, parses every file N times
//! and prints nothing (a steady workload for callgrind).

#![expect(clippy::disallowed_methods, reason = "a command-line tool: it reads its arguments and the files they name")]

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use kdep_diag::FileId;

fn collect(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> =
            std::fs::read_dir(path).into_iter().flatten().flatten().map(|e| e.path()).collect();
        entries.sort();
        for e in entries {
            collect(&e, out);
        }
    } else if path.extension().is_some_and(|e| e == "kdep") {
        out.push(path.to_owned());
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let repeat: Option<usize> =
        args.iter().position(|a| a == "--repeat").and_then(|i| args.get(i + 1)).and_then(|n| n.parse().ok());
    let mut files = Vec::new();
    for a in args.iter().filter(|a| !a.starts_with("--") && a.parse::<usize>().is_err()) {
        collect(Path::new(a), &mut files);
    }
    let texts: Vec<(PathBuf, String)> =
        files.into_iter().filter_map(|p| std::fs::read_to_string(&p).ok().map(|t| (p, t))).collect();
    if let Some(n) = repeat {
        let mut items = 0usize;
        for _ in 0..n {
            for (_, text) in &texts {
                items += kdep_syntax::parse(FileId(0), text).file.items.len();
            }
        }
        eprintln!("{items} items");
        return;
    }
    let mut all = DefaultHasher::new();
    for (path, text) in &texts {
        let parsed = kdep_syntax::parse(FileId(0), text);
        let mut h = DefaultHasher::new();
        format!("{parsed:?}").hash(&mut h);
        let digest = h.finish();
        digest.hash(&mut all);
        println!("{digest:016x} {}", path.display());
    }
    println!("{:016x} all {} files", all.finish(), texts.len());
}
