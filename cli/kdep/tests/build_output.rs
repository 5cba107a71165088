//! `kdep build` writes the same bytes however it runs: on 1, 2 or 4 threads or the default,
//! to stdout or one file per object with `-o DIR`, in YAML and JSON.

use std::path::{Path, PathBuf};

mod common;

use common::{example_copy, kdep_with, Run};

/// Runs `kdep ARGS` in `cwd` with `KDEP_THREADS` set as given (unset for `None`), colours off.
fn kdep_threads(cwd: &Path, args: &[&str], threads: Option<usize>) -> Run {
    kdep_with(cwd, args, |cmd| {
        match threads {
            Some(n) => cmd.env("KDEP_THREADS", n.to_string()),
            None => cmd.env_remove("KDEP_THREADS"),
        };
    })
}

/// A package of `n` apps, one file each: enough files for the build to spread them over four
/// threads (it gives a thread at least 64 files).
fn many_apps(n: usize) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    std::fs::write(root.join("kdep.toml"), "[package]\nname = \"many\"\nversion = \"0.1.0\"\n").expect("write");
    std::fs::create_dir_all(root.join("apps")).expect("mkdir");
    std::fs::write(
        root.join("web.kdep"),
        r#"template Web {
    name: string
    replicas: int(1..20) = 2
    emit {
        apiVersion = "example.com/v1"
        kind = "Widget"
        metadata = { name = name, labels = { app = name } }
        spec.replicas = replicas
    }
    emit { apiVersion = "v1", kind = "ConfigMap", metadata.name = name, data = { on = "yes", n = "0755" } }
}

environment prod { context = "prod", namespace = "many" }
"#,
    )
    .expect("write");
    for i in 0..n {
        // Names sort differently from file order, so the output order is the build's own.
        let text = format!(
            "import web\n\napp a{i} = web.Web {{\n    name = \"x{}\"\n    replicas = {}\n}}\n",
            n - i,
            i % 19 + 1
        );
        std::fs::write(root.join("apps").join(format!("a{i:04}.kdep")), text).expect("write");
    }
    tmp
}

/// The files `-o DIR` wrote, without kdep's marker, sorted.
fn written_files(dir: &Path) -> Vec<String> {
    let mut texts: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .flatten()
        .filter(|e| e.file_name() != ".kdep-output")
        .map(|e| std::fs::read_to_string(e.path()).expect("read"))
        .collect();
    texts.sort();
    texts
}

/// Every build of `pkg` with these arguments prints the same bytes with 1, 2, 4 and the default
/// number of threads, and `-o DIR` writes each object of that stream to its own file.
fn assert_same_everywhere(cwd: &Path, pkg: &str, env: Option<&str>, format: &str) -> String {
    let mut args = vec!["build", pkg, "--format", format];
    if let Some(env) = env {
        args.extend(["--env", env]);
    }
    let first = kdep_threads(cwd, &args, Some(1));
    assert_eq!(first.code, 0, "stderr:\n{}", first.stderr);
    for threads in [Some(2), Some(4), None] {
        let run = kdep_threads(cwd, &args, threads);
        assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
        assert!(run.stdout == first.stdout, "{args:?} with {threads:?} threads differs from 1 thread");
    }
    let out = tempfile::tempdir().expect("tempdir");
    let dir: PathBuf = out.path().join("out");
    let dir_s = dir.to_string_lossy().into_owned();
    let mut dir_args = args.clone();
    dir_args.extend(["-o", &dir_s]);
    let run = kdep_threads(cwd, &dir_args, Some(4));
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    let files = written_files(&dir);
    let mut objects: Vec<String> = if format == "yaml" {
        first.stdout.split_inclusive('\n').fold(vec![String::new()], |mut docs, line| {
            if line == "---\n" {
                docs.push(String::new());
            } else if let Some(last) = docs.last_mut() {
                last.push_str(line);
            }
            docs
        })
    } else {
        let parsed: serde_json::Value = serde_json::from_str(&first.stdout).expect("json");
        let items = parsed.get("items").and_then(|i| i.as_array()).cloned().unwrap_or_else(|| vec![parsed.clone()]);
        items.iter().map(|o| serde_json::to_string_pretty(o).expect("json") + "\n").collect()
    };
    objects.sort();
    assert!(files == objects, "{args:?}: the files of -o DIR are not the objects of the stream");
    first.stdout
}

#[test]
fn example_builds_are_the_same_bytes_on_any_thread_count_and_in_files() {
    let (_tmp, root) = example_copy();
    for pkg in ["shop", "payments"] {
        for env in ["staging", "production"] {
            for format in ["yaml", "json"] {
                let text = assert_same_everywhere(&root, pkg, Some(env), format);
                insta::assert_snapshot!(format!("{pkg}_{env}_{format}"), text);
            }
        }
    }
}

#[test]
fn a_build_spread_over_threads_is_the_same_bytes() {
    let pkg = many_apps(300);
    for env in [None, Some("prod")] {
        for format in ["yaml", "json"] {
            let text = assert_same_everywhere(pkg.path(), ".", env, format);
            let objects = if format == "yaml" {
                text.matches("\nkind: ").count()
            } else {
                text.matches("\n      \"kind\": ").count()
            };
            assert_eq!(objects, 600, "{env:?} {format}");
        }
    }
}

/// Runs `kdep ARGS` in `cwd` evaluating `batch` files at a time (`KDEP_BATCH_FILES`), on
/// `threads` threads.
fn kdep_batched(cwd: &Path, args: &[&str], batch: usize, threads: usize) -> Run {
    kdep_with(cwd, args, |cmd| {
        cmd.env("KDEP_BATCH_FILES", batch.to_string()).env("KDEP_THREADS", threads.to_string());
    })
}

/// [`kdep_batched`], every file lowered twice as in a large package (`KDEP_LOWER_AGAIN_FROM`):
/// once in batches for the item indexes, its lowering dropped, then again in its build batch.
fn kdep_lowered_twice(cwd: &Path, args: &[&str], batch: usize, threads: usize) -> Run {
    kdep_with(cwd, args, |cmd| {
        cmd.env("KDEP_BATCH_FILES", batch.to_string())
            .env("KDEP_THREADS", threads.to_string())
            .env("KDEP_LOWER_AGAIN_FROM", "1");
    })
}

/// [`kdep_batched`], the objects' texts held compressed however small the output
/// (`KDEP_COMPRESS_FROM=1`), in blocks of about `block` bytes (`KDEP_BLOCK_BYTES`), each batch's
/// one run in output order; `twice` also lowers every file twice.
fn kdep_compressed(cwd: &Path, args: &[&str], batch: usize, threads: usize, block: usize, twice: bool) -> Run {
    kdep_with(cwd, args, |cmd| {
        cmd.env("KDEP_BATCH_FILES", batch.to_string())
            .env("KDEP_THREADS", threads.to_string())
            .env("KDEP_COMPRESS_FROM", "1")
            .env("KDEP_BLOCK_BYTES", block.to_string());
        if twice {
            cmd.env("KDEP_LOWER_AGAIN_FROM", "1");
        }
    })
}

/// [`many_apps`] where every fifth app is built from a template whose objects sort apart from
/// their emission order in every key of the output order: a `Namespace` (first in the output),
/// an object of an unknown kind and group, and a `ConfigMap` in a namespace of its own, with
/// names that share their first 16 bytes and more, are prefixes of one another, or hold bytes
/// above 0x7f, so a run merged by another key (or a prefix alone) would come out in another
/// order.
fn mixed_apps(n: usize) -> tempfile::TempDir {
    let tmp = many_apps(n);
    let root = tmp.path();
    let web = std::fs::read_to_string(root.join("web.kdep")).expect("read");
    let odd = r#"
template Odd {
    name: string
    ns: string
    emit { apiVersion = "v1", kind = "Namespace", metadata.name = "space-" + name }
    emit { apiVersion = "zeta.example.com/v1", kind = "Zz", metadata.name = name }
    emit { apiVersion = "v1", kind = "ConfigMap", metadata = { name = name, namespace = ns }, data.k = "v" }
}
"#;
    std::fs::write(root.join("web.kdep"), web + odd).expect("write");
    let names = ["abcdefghijklmnopqrstuvwxyz", "abcdefghijklmnop", "abcdefghijklmnopé", "abcdefghijklmnoo-z", "b"];
    for i in (0..n).step_by(5) {
        let name = format!("{}{}", names.get((i / 5) % names.len()).unwrap_or(&"c"), n - i);
        // Another namespace than the environment's is refused (K0313): `many` is the one
        // namespace set, against no namespace (the other objects built without environment).
        let ns = "many";
        let text = format!("import web\n\napp a{i} = web.Odd {{\n    name = \"{name}\"\n    ns = \"{ns}\"\n}}\n");
        std::fs::write(root.join("apps").join(format!("a{i:04}.kdep")), text).expect("write");
    }
    tmp
}

/// Calls `f` with the arguments of every build the batch tests compare (YAML and JSON, with
/// and without an environment) and that build's output on one thread in one pass.
fn each_build_in_one_pass(pkg: &Path, mut f: impl FnMut(&[&str], &Run)) {
    for env in [None, Some("prod")] {
        for format in ["yaml", "json"] {
            let mut args = vec!["build", ".", "--format", format];
            if let Some(env) = env {
                args.extend(["--env", env]);
            }
            let whole = kdep_threads(pkg, &args, Some(1));
            assert_eq!(whole.code, 0, "stderr:\n{}", whole.stderr);
            f(&args, &whole);
        }
    }
}

/// A build holding its texts compressed, in sorted runs of small blocks (a block ends inside
/// the run, after an object; an object larger than a block is one of its own), writes the
/// bytes of a build in one pass, in YAML and JSON, with and without an environment, in batches
/// of 1, 7 and 64 files on 1, 2 and 4 threads, lowered once or twice; `-o DIR` writes the same
/// files.
#[test]
fn a_build_holding_compressed_runs_is_the_same_bytes_as_in_one() {
    let pkg = mixed_apps(300);
    each_build_in_one_pass(pkg.path(), |args, whole| {
        assert!(whole.stdout.contains("abcdefghijklmnopé"), "the odd apps are built");
        for (batch, threads, block, twice) in
            [(1, 1, 1, false), (7, 2, 700, false), (64, 4, 3000, false), (64, 1, 1 << 20, false), (7, 2, 700, true)]
        {
            let run = kdep_compressed(pkg.path(), args, batch, threads, block, twice);
            let what = format!("{args:?} in batches of {batch} on {threads} threads, blocks of {block}, twice {twice}");
            assert_eq!(run.code, 0, "{what}: stderr:\n{}", run.stderr);
            assert!(run.stdout == whole.stdout, "{what}: differs");
            assert_eq!(run.stderr, whole.stderr, "{what}");
        }
    });
    let out = tempfile::tempdir().expect("tempdir");
    let (one, compressed) = (out.path().join("one"), out.path().join("compressed"));
    let run = kdep_threads(pkg.path(), &["build", ".", "-o", &one.to_string_lossy()], Some(1));
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    let run = kdep_compressed(pkg.path(), &["build", ".", "-o", &compressed.to_string_lossy()], 5, 2, 700, false);
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    assert!(written_files(&one) == written_files(&compressed), "-o DIR from compressed runs writes other files");
    assert_eq!(written_files(&one).len(), 660);
}

#[test]
fn a_build_in_batches_is_the_same_bytes_as_in_one() {
    // 301 files: one batch by default; in batches of 1, 7 and 64 files the database drops
    // each finished batch's lowered files and memos, and the bytes must not change.
    let pkg = many_apps(300);
    each_build_in_one_pass(pkg.path(), |args, whole| {
        for (batch, threads) in [(1, 1), (7, 2), (64, 1), (64, 4)] {
            let run = kdep_batched(pkg.path(), args, batch, threads);
            assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
            assert!(run.stdout == whole.stdout, "{args:?} in batches of {batch} on {threads} threads differs");
            assert_eq!(run.stderr, whole.stderr);
        }
        for (batch, threads) in [(1, 1), (7, 2), (64, 4)] {
            let run = kdep_lowered_twice(pkg.path(), args, batch, threads);
            assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
            let what = format!("{args:?} lowered twice, in batches of {batch} on {threads} threads");
            assert!(run.stdout == whole.stdout, "{what}: differs");
            assert_eq!(run.stderr, whole.stderr, "{what}");
        }
    });
    // `-o DIR` writes the same files.
    let out = tempfile::tempdir().expect("tempdir");
    let (one, batched) = (out.path().join("one"), out.path().join("batched"));
    let run = kdep_threads(pkg.path(), &["build", ".", "-o", &one.to_string_lossy()], Some(1));
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    let run = kdep_batched(pkg.path(), &["build", ".", "-o", &batched.to_string_lossy()], 5, 2);
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    assert!(written_files(&one) == written_files(&batched), "-o DIR in batches writes other files");
    assert_eq!(written_files(&one).len(), 600);
}

#[test]
fn duplicates_in_different_batches_are_refused() {
    // The first and the last app emit the same objects; in batches of 10 files they are
    // evaluated in different batches, after the first batch's memos were dropped (and, texts
    // held compressed, in different runs).
    let pkg = many_apps(40);
    let last = pkg.path().join("apps").join("a0039.kdep");
    std::fs::write(&last, "import web\n\napp a39 = web.Web {\n    name = \"x40\"\n}\n").expect("write");
    let out = pkg.path().join("out");
    for args in [vec!["build", "."], vec!["build", ".", "-o", "out"]] {
        let whole = kdep_threads(pkg.path(), &args, Some(1));
        assert_eq!(whole.code, 1, "stderr:\n{}", whole.stderr);
        for (batch, threads) in [(10, 1), (10, 2), (1, 1)] {
            for run in [
                kdep_batched(pkg.path(), &args, batch, threads),
                kdep_lowered_twice(pkg.path(), &args, batch, threads),
                kdep_compressed(pkg.path(), &args, batch, threads, 300, false),
            ] {
                assert_eq!(run.code, 1, "stderr:\n{}", run.stderr);
                assert_eq!(run.stdout, "", "nothing is written when a build fails");
                assert_eq!(run.stderr, whole.stderr, "in batches of {batch} on {threads} threads");
            }
        }
        assert!(!out.exists(), "no output folder is created when a build fails");
        if args.len() == 2 {
            insta::assert_snapshot!("duplicates_in_different_batches", whole.stderr);
        }
    }
}
