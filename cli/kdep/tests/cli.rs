//! End-to-end tests of the `kdep` binary: build output, diagnostics, exit codes, atomic output,
//! lock files and hostile inputs, run against copies of the bundled examples.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

use common::{example_copy, examples_dir, kdep, Run};

#[test]
fn builds_shop_for_production() {
    let (_tmp, root) = example_copy();
    let run = kdep(&root, &["build", "shop", "--env", "production"]);
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    insta::assert_snapshot!("shop_production", run.stdout);
}

#[test]
fn builds_shop_for_staging_and_without_environment() {
    let (_tmp, root) = example_copy();
    let staging = kdep(&root, &["build", "shop", "--env", "staging"]);
    assert_eq!(staging.code, 0, "stderr:\n{}", staging.stderr);
    insta::assert_snapshot!("shop_staging", staging.stdout);
    // The platform's WebService reads the environment (a PodDisruptionBudget only where it is
    // protected), so without `--env` the build has no value for it: K0506, exit 1, no output.
    let base = kdep(&root, &["build", "shop"]);
    assert_eq!(base.code, 1, "stderr:\n{}", base.stderr);
    assert!(base.stderr.contains("K0506") && base.stderr.contains("declared environments: staging, production"));
    assert!(base.stdout.is_empty(), "no partial output");
}

#[test]
fn builds_payments_for_production_as_json() {
    let (_tmp, root) = example_copy();
    let run = kdep(&root, &["build", "payments", "--env", "production", "--format", "json"]);
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    let parsed: serde_json::Value = serde_json::from_str(&run.stdout).expect("valid JSON");
    insta::assert_json_snapshot!("payments_production_json", parsed);
}

#[test]
#[expect(
    clippy::indexing_slicing,
    reason = "`serde_yaml::Value[key]` reads yield Null for a missing key; they do not panic"
)]
fn yaml_output_parses_back() {
    let (_tmp, root) = example_copy();
    let run = kdep(&root, &["build", "shop", "--env", "production"]);
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    let docs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&run.stdout)
        .map(|d| serde::Deserialize::deserialize(d).expect("valid YAML document"))
        .collect();
    assert!(docs.len() >= 5, "expected the shop's objects, got {}", docs.len());
    for doc in &docs {
        let labels = &doc["metadata"]["labels"];
        assert_eq!(labels["app.kubernetes.io/managed-by"].as_str(), Some("kdep"));
        assert!(labels["app.kubernetes.io/instance"].as_str().is_some());
        assert!(doc["metadata"]["annotations"]["kdep.dev/source"].as_str().is_some());
        assert_eq!(doc["metadata"]["namespace"].as_str(), Some("shop"));
    }
}

#[test]
fn builds_are_byte_for_byte_deterministic() {
    let (_tmp, root) = example_copy();
    let a = kdep(&root, &["build", "shop", "--env", "production"]);
    let b = kdep(&root, &["build", "shop", "--env", "production"]);
    assert_eq!(a.code, 0);
    assert_eq!(a.stdout, b.stdout);
}

#[test]
fn broken_example_reports_every_permission_error() {
    let (_tmp, root) = example_copy();
    let run = kdep(&root, &["check", "broken"]);
    assert_eq!(run.code, 1, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    insta::assert_snapshot!("broken_check_human", run.stderr);
    for code in ["K0301", "K0204", "K0206", "K0202", "K0205", "K0203", "K0306", "K0302", "K0303"] {
        assert!(run.stderr.contains(code), "missing {code} in:\n{}", run.stderr);
    }
}

#[test]
fn broken_example_as_json() {
    let (_tmp, root) = example_copy();
    let run = kdep(&root, &["check", "broken", "--format", "json"]);
    assert_eq!(run.code, 1);
    let parsed: serde_json::Value = serde_json::from_str(&run.stdout).expect("valid JSON");
    insta::assert_json_snapshot!("broken_check_json", parsed);
}

#[test]
fn check_passes_on_the_good_packages() {
    let (_tmp, root) = example_copy();
    for pkg in ["platform", "shop", "payments"] {
        let run = kdep(&root, &["check", pkg]);
        assert_eq!(run.code, 0, "{pkg}: {}", run.stderr);
    }
}

#[test]
fn output_dir_is_written_and_replaced_atomically() {
    let (tmp, root) = example_copy();
    let out = tmp.path().join("out");
    let out_s = out.to_string_lossy().into_owned();
    let run = kdep(&root, &["build", "shop", "--env", "production", "-o", &out_s]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut names: Vec<String> =
        std::fs::read_dir(&out).expect("out").flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    insta::assert_debug_snapshot!("output_dir_names", names);
    let before: Vec<(String, Vec<u8>)> =
        names.iter().map(|n| (n.clone(), std::fs::read(out.join(n)).expect("read"))).collect();

    // A failing build leaves the previous output untouched.
    std::fs::write(root.join("shop/checkout.kdep"), "app checkout = nope.Missing {\n").expect("write");
    let failed = kdep(&root, &["build", "shop", "--env", "production", "-o", &out_s]);
    assert_eq!(failed.code, 1);
    for (name, bytes) in &before {
        assert_eq!(&std::fs::read(out.join(name)).expect("still there"), bytes);
    }

    // kdep refuses to replace a folder it did not write.
    let foreign = tmp.path().join("foreign");
    std::fs::create_dir(&foreign).expect("mkdir");
    std::fs::write(foreign.join("precious.txt"), "keep me").expect("write");
    let refused = kdep(&root, &["build", "payments", "--env", "staging", "-o", &foreign.to_string_lossy()]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("refusing to replace"), "{}", refused.stderr);
    assert_eq!(std::fs::read_to_string(foreign.join("precious.txt")).expect("kept"), "keep me");
}

#[test]
fn lock_file_is_written_and_checked() {
    let (_tmp, root) = example_copy();
    let _ = std::fs::remove_file(root.join("shop/kdep.lock"));
    let locked = kdep(&root, &["check", "shop", "--locked"]);
    assert_eq!(locked.code, 1, "a missing lock file fails under --locked");
    // The message names the lock file as the user would, not by its absolute temporary path.
    assert!(locked.stderr.contains("`shop/kdep.lock` is missing"), "{}", locked.stderr);
    let run = kdep(&root, &["check", "shop"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lock = std::fs::read_to_string(root.join("shop/kdep.lock")).expect("lock written");
    insta::assert_snapshot!("shop_lock", lock);
    assert_eq!(kdep(&root, &["check", "shop", "--locked"]).code, 0);
    // Changing a dependency's source makes the lock stale.
    let web = root.join("platform/web.kdep");
    let text = std::fs::read_to_string(&web).expect("read");
    std::fs::write(&web, format!("{text}\n// a comment changes the checksum\n")).expect("write");
    assert_eq!(kdep(&root, &["check", "shop", "--locked"]).code, 1);
}

#[test]
fn unknown_environment_is_an_error_listing_the_declared_ones() {
    let (_tmp, root) = example_copy();
    let run = kdep(&root, &["build", "shop", "--env", "prod"]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.is_empty());
    insta::assert_snapshot!("unknown_env", run.stderr);
}

#[test]
fn missing_path_and_non_package_are_usage_errors() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let missing = kdep(tmp.path(), &["build", "does/not/exist"]);
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("does not exist"), "{}", missing.stderr);
    std::fs::write(tmp.path().join("loose.kdep"), "let x = 1\n").expect("write");
    let not_pkg = kdep(tmp.path(), &["check", "."]);
    assert_eq!(not_pkg.code, 2);
    assert!(not_pkg.stderr.contains("not inside a kdep package"), "{}", not_pkg.stderr);
}

fn scratch_package(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(tmp.path().join("kdep.toml"), "[package]\nname = \"scratch\"\nversion = \"0.1.0\"\n")
        .expect("write");
    for (name, bytes) in files {
        std::fs::write(tmp.path().join(name), bytes).expect("write");
    }
    tmp
}

#[test]
fn hostile_inputs_get_clear_errors() {
    let deep = format!("let x = {}1{}\n", "[".repeat(10_000), "]".repeat(10_000));
    let pkg = scratch_package(&[("deep.kdep", deep.as_bytes())]);
    let run = kdep(pkg.path(), &["check"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("K0004"), "{}", run.stderr);

    let pkg = scratch_package(&[("latin1.kdep", b"let caf\xe9 = 1\n")]);
    let run = kdep(pkg.path(), &["check"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("not valid UTF-8"), "{}", run.stderr);

    let big = vec![b' '; 50 * 1024 * 1024];
    let pkg = scratch_package(&[("big.kdep", &big)]);
    let run = kdep(pkg.path(), &["check"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("larger than"), "{}", run.stderr);

    let pkg = scratch_package(&[]);
    std::fs::write(pkg.path().join("kdep.toml"), "[package]\nname = \"bad-name\"\n").expect("write");
    let run = kdep(pkg.path(), &["check"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("K0104"), "{}", run.stderr);
}

#[test]
fn examples_are_formatted() {
    let run = kdep(&examples_dir(), &["fmt", "--check", "."]);
    assert_eq!(run.code, 0, "stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr);
}

#[test]
fn fmt_rewrites_and_check_reports() {
    let pkg = scratch_package(&[("messy.kdep", b"let   x={a=1,b=2}\n")]);
    let check = kdep(pkg.path(), &["fmt", "--check"]);
    assert_eq!(check.code, 1);
    assert!(check.stdout.contains("messy.kdep"));
    let fix = kdep(pkg.path(), &["fmt"]);
    assert_eq!(fix.code, 0, "{}", fix.stderr);
    let again = kdep(pkg.path(), &["fmt", "--check"]);
    assert_eq!(again.code, 0, "formatting is idempotent: {}", again.stdout);
}

#[test]
fn help_documents_exit_codes() {
    let run = kdep(Path::new("."), &["--help"]);
    assert_eq!(run.code, 0);
    insta::assert_snapshot!("help", run.stdout);
    let build_help = kdep(Path::new("."), &["build", "--help"]);
    insta::assert_snapshot!("build_help", build_help.stdout);
}

#[test]
fn explain_prints_code_documentation() {
    let run = kdep(Path::new("."), &["explain", "K0301"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("K0301") || run.stdout.contains("locked"), "{}", run.stdout);
    assert_eq!(kdep(Path::new("."), &["explain", "K9999"]).code, 2);
}

#[cfg(unix)]
#[test]
fn fmt_keeps_permissions_and_symlinks_and_respects_read_only_files() {
    use std::os::unix::fs::{symlink, PermissionsExt};
    let pkg = scratch_package(&[("private.kdep", b"let   x=1\n"), ("target.txt", b"let   y=1\n")]);
    let private = pkg.path().join("private.kdep");
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    symlink("target.txt", pkg.path().join("linked.kdep")).expect("symlink");
    let run = kdep(pkg.path(), &["fmt", "private.kdep", "linked.kdep"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // Rewriting through a fresh temporary file used to leave it world-readable (0644) and
    // replace the symlink with a regular file, leaving the real file unformatted.
    let mode = std::fs::metadata(&private).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(std::fs::symlink_metadata(pkg.path().join("linked.kdep")).expect("stat").file_type().is_symlink());
    assert_eq!(std::fs::read_to_string(pkg.path().join("target.txt")).expect("read"), "let y = 1\n");

    // A read-only file is reported, not replaced (as root, writing would otherwise succeed).
    let locked = pkg.path().join("locked.kdep");
    std::fs::write(&locked, "let   z=1\n").expect("write");
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o444)).expect("chmod");
    let run = kdep(pkg.path(), &["fmt", "locked.kdep"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("read-only"), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&locked).expect("read"), "let   z=1\n");
    let leftovers: Vec<_> = std::fs::read_dir(pkg.path())
        .expect("read_dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("kdep-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[cfg(unix)]
#[test]
fn editor_lock_files_are_ignored() {
    // Emacs marks a file being edited with a dangling `.#name` symlink; it used to make
    // `kdep check` and `kdep fmt` fail with an I/O error (exit 2).
    let pkg = scratch_package(&[("main.kdep", b"let x = 1\n")]);
    std::os::unix::fs::symlink("root@host.1234:1700000000", pkg.path().join(".#main.kdep")).expect("symlink");
    let run = kdep(pkg.path(), &["check"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = kdep(pkg.path(), &["fmt", "--check"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn two_files_with_one_module_path_are_an_error() {
    // `a.b.kdep` and `a/b.kdep` are both module `a.b`; one of them used to vanish silently,
    // errors in it included.
    let pkg = scratch_package(&[("a.b.kdep", b"let x = 1\n"), ("main.kdep", b"import a.b\nlet z = b.x\n")]);
    std::fs::create_dir(pkg.path().join("a")).expect("mkdir");
    std::fs::write(pkg.path().join("a/b.kdep"), "let x = nope\n").expect("write");
    let run = kdep(pkg.path(), &["check"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("K0110"), "{}", run.stderr);
    assert!(run.stderr.contains("a.b.kdep") && run.stderr.contains("a/b.kdep"), "{}", run.stderr);
}

#[test]
fn json_diagnostics_for_many_errors_are_fast() {
    // One label used to re-index the whole file, so this took minutes.
    let source = "let x = 1\n".repeat(20_000);
    let pkg = scratch_package(&[("dup.kdep", source.as_bytes())]);
    let started = std::time::Instant::now();
    let run = kdep(pkg.path(), &["check", "--format", "json"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("valid JSON");
    assert!(doc.pointer("/summary/errors").and_then(serde_json::Value::as_u64).is_some_and(|n| n >= 19_999));
    assert!(started.elapsed() < std::time::Duration::from_secs(120), "took {:?}", started.elapsed());
}

#[cfg(unix)]
#[test]
fn fifo_named_like_a_source_is_an_error_not_a_hang() {
    let pkg = scratch_package(&[]);
    let made = Command::new("mkfifo").arg(pkg.path().join("pipe.kdep")).status().expect("mkfifo runs");
    assert!(made.success());
    // Opening the FIFO for reading used to block forever waiting for a writer.
    let run = kdep(pkg.path(), &["check"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("not a regular file"), "{}", run.stderr);
}

#[test]
fn output_dir_keeps_objects_whose_file_names_collide() {
    // `system:admin` and `system-admin` are both valid ClusterRole names, and two API groups
    // may define the same kind; their file names used to collide, so the folder silently held
    // fewer objects than "wrote N objects" claimed.
    let source = r#"template R {
    name: string
    emit { apiVersion = "rbac.authorization.k8s.io/v1", kind = "ClusterRole", metadata = { name = name }, rules = [] }
}
template D {
    name: string
    emit { apiVersion = "example.com/v1", kind = "Deployment", metadata = { name = name } }
    emit { apiVersion = "apps/v1", kind = "Deployment", metadata = { name = name } }
}
app a = R { name = "system:admin" }
app b = R { name = "system-admin" }
app c = D { name = "web" }
"#;
    let pkg = scratch_package(&[("main.kdep", source.as_bytes())]);
    let run = kdep(pkg.path(), &["build", "-o", "out"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut names: Vec<String> = std::fs::read_dir(pkg.path().join("out"))
        .expect("out")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "clusterrole_system-admin.yaml",
            "clusterrole_system-admin~2.yaml",
            "deployment_web.yaml",
            "deployment_web~2.yaml"
        ]
    );
}

/// Runs kdep like [`kdep`], failing the test instead of hanging when it does not finish within
/// `limit` (the process is killed).
fn kdep_within(cwd: &Path, args: &[&str], limit: std::time::Duration) -> Run {
    let logs = tempfile::tempdir().expect("tempdir");
    let (out_path, err_path) = (logs.path().join("stdout"), logs.path().join("stderr"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_kdep"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env_remove("RUST_BACKTRACE")
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"))
        .spawn()
        .expect("kdep runs");
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`kdep {}` did not finish within {limit:?}", args.join(" "));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout: std::fs::read_to_string(&out_path).expect("stdout"),
        stderr: std::fs::read_to_string(&err_path).expect("stderr"),
    }
}

/// `text` with miette's line wrapping undone: margins dropped, whitespace runs made one space.
fn unwrapped(text: &str) -> String {
    text.replace('│', " ").split_whitespace().collect::<Vec<_>>().join(" ")
}

const QUICK: std::time::Duration = std::time::Duration::from_secs(60);

#[cfg(unix)]
#[test]
fn fmt_refuses_fifos_and_devices_instead_of_hanging() {
    // `kdep fmt` read them with a plain `read`, which waits forever for a FIFO's writer and
    // never reaches the end of /dev/zero; `check` and `build` already refused them.
    let pkg = scratch_package(&[("main.kdep", b"let   x = 1\n")]);
    let made = Command::new("mkfifo").arg(pkg.path().join("pipe.kdep")).status().expect("mkfifo runs");
    assert!(made.success());
    let run = kdep_within(pkg.path(), &["fmt"], QUICK);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("pipe.kdep`: not a regular file"), "{}", run.stderr);
    let run = kdep_within(pkg.path(), &["fmt", "--check", "pipe.kdep"], QUICK);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("cannot read `pipe.kdep`: not a regular file"), "{}", run.stderr);

    std::fs::remove_file(pkg.path().join("pipe.kdep")).expect("rm");
    std::os::unix::fs::symlink("/dev/zero", pkg.path().join("zero.kdep")).expect("symlink");
    let run = kdep_within(pkg.path(), &["fmt", "--check"], QUICK);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("zero.kdep`: not a regular file"), "{}", run.stderr);
    let run = kdep_within(pkg.path(), &["fmt", "zero.kdep"], QUICK);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("cannot read `zero.kdep`: not a regular file"), "{}", run.stderr);
}

#[cfg(unix)]
#[test]
fn fmt_names_the_subfolder_it_cannot_read() {
    // Root reads every folder, so the unreadable one is made of a path longer than the
    // system accepts (4096 bytes): 17 nested folders of 250 characters, built as two shorter
    // chains and one rename. The error used to name the folder passed on the command line.
    let pkg = scratch_package(&[("main.kdep", b"let x = 1\n")]);
    let name = "d".repeat(250);
    let chain = |n: usize| vec![name.as_str(); n].join("/");
    std::fs::create_dir_all(pkg.path().join("sub").join(chain(8))).expect("mkdir");
    std::fs::create_dir_all(pkg.path().join(chain(9))).expect("mkdir");
    std::fs::rename(pkg.path().join(&name), pkg.path().join("sub").join(chain(8)).join(&name)).expect("rename");
    let run = kdep_within(pkg.path(), &["fmt", "--check", "."], QUICK);
    assert_eq!(run.code, 2, "{}", run.stderr);
    // miette wraps the long message into a margin; compare without the wrapping.
    let flat: String = run.stderr.split_whitespace().collect::<String>().replace('│', "");
    assert!(run.stderr.contains("File name too long"), "{}", run.stderr.replace(&name, "D"));
    assert!(flat.contains(&format!("cannotread`./sub/{name}/")), "{}", run.stderr.replace(&name, "D"));
    assert!(!flat.contains("cannotread`.`"), "{}", run.stderr.replace(&name, "D"));
}

/// A package whose build emits two ConfigMaps, for output-folder tests.
fn output_package() -> tempfile::TempDir {
    let source = r#"template C {
    name: string
    emit { apiVersion = "v1", kind = "ConfigMap", metadata = { name = name }, data = {} }
}
app a = C { name = "a" }
app b = C { name = "b" }
"#;
    scratch_package(&[("main.kdep", source.as_bytes())])
}

fn dir_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[cfg(unix)]
#[test]
fn output_through_a_symlink_replaces_its_target_and_keeps_the_link() {
    // The link used to be replaced by a new folder, leaving the folder it pointed to stale.
    let pkg = output_package();
    std::fs::create_dir(pkg.path().join("real")).expect("mkdir");
    std::os::unix::fs::symlink("real", pkg.path().join("link")).expect("symlink");
    for _ in 0..2 {
        let run = kdep(pkg.path(), &["build", "-o", "link"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(std::fs::symlink_metadata(pkg.path().join("link")).expect("stat").file_type().is_symlink());
        assert_eq!(dir_names(&pkg.path().join("real")), [".kdep-output", "configmap_a.yaml", "configmap_b.yaml"]);
    }
    // No staging or previous-output folder is left beside the target.
    assert_eq!(dir_names(pkg.path()), ["kdep.lock", "kdep.toml", "link", "main.kdep", "real"]);

    std::os::unix::fs::symlink("missing", pkg.path().join("dangling")).expect("symlink");
    let run = kdep(pkg.path(), &["build", "-o", "dangling"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("it is a symlink to a folder that does not exist"), "{}", run.stderr);
}

#[test]
fn leftovers_of_killed_builds_are_removed_unless_their_build_is_alive() {
    // A killed `build -o out` leaves `.out.kdep-new-PID` / `.out.kdep-old-PID`, which later
    // builds never removed. PIDs never exceed 2^22 on Linux, so 99999999 is not running; the
    // test process itself is, and its folders must survive as a concurrent build's would.
    let pkg = output_package();
    let live = std::process::id();
    let leftovers = [
        ".out.kdep-new-99999999".to_owned(),
        ".out.kdep-old-99999998".to_owned(),
        format!(".out.kdep-new-{live}"),
        format!(".out.kdep-old-{live}"),
    ];
    for name in &leftovers {
        std::fs::create_dir(pkg.path().join(name)).expect("mkdir");
        std::fs::write(pkg.path().join(name).join("configmap_a.yaml"), "stale").expect("write");
    }
    let run = kdep(pkg.path(), &["build", "-o", "out"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let names = dir_names(pkg.path());
    if cfg!(target_os = "linux") {
        assert!(!names.contains(&leftovers[0]) && !names.contains(&leftovers[1]), "{names:?}");
        assert!(!run.stderr.contains("warning"), "{}", run.stderr);
    } else {
        assert!(run.stderr.contains("was left by an interrupted build"), "{}", run.stderr);
    }
    assert!(names.contains(&leftovers[2]) && names.contains(&leftovers[3]), "{names:?}");
}

#[test]
fn output_marker_lists_the_files_and_other_folders_are_refused() {
    let pkg = output_package();
    let run = kdep(pkg.path(), &["build", "-o", "out"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    insta::assert_snapshot!(
        "output_marker",
        std::fs::read_to_string(pkg.path().join("out/.kdep-output")).expect("marker")
    );
    // kdep's own output is replaced again.
    let run = kdep(pkg.path(), &["build", "-o", "out"]);
    assert_eq!(run.code, 0, "{}", run.stderr);

    // A file someone added to the output is not deleted.
    std::fs::write(pkg.path().join("out/notes.txt"), "mine").expect("write");
    let run = kdep(pkg.path(), &["build", "-o", "out"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("`notes.txt` in it was not written by kdep"), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(pkg.path().join("out/notes.txt")).expect("kept"), "mine");

    // A hand-made empty marker used to be trusted, and the folder replaced.
    std::fs::create_dir(pkg.path().join("mine")).expect("mkdir");
    std::fs::write(pkg.path().join("mine/.kdep-output"), "").expect("write");
    std::fs::write(pkg.path().join("mine/precious.txt"), "keep me").expect("write");
    let run = kdep(pkg.path(), &["build", "-o", "mine"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    insta::assert_snapshot!("output_foreign_marker", run.stderr);
    assert_eq!(std::fs::read_to_string(pkg.path().join("mine/precious.txt")).expect("kept"), "keep me");
}

#[test]
fn output_is_refused_for_the_current_folder_the_package_and_mount_points() {
    // `-o .` used to fail half-way with "Device or resource busy".
    let pkg = output_package();
    let run = kdep(pkg.path(), &["build", "-o", "."]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    insta::assert_snapshot!("output_current_dir", run.stderr);
    // Refused before anything was written, the lock file included.
    assert!(!pkg.path().join("kdep.lock").exists());

    let sub = pkg.path().join("sub");
    std::fs::create_dir(&sub).expect("mkdir");
    let run = kdep(&sub, &["build", "..", "-o", ".."]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        unwrapped(&run.stderr).contains("refusing to write the output to `..`: it contains the current directory"),
        "{}",
        run.stderr
    );

    let (_tmp, root) = example_copy();
    let run = kdep(&root, &["build", "shop", "-o", "shop"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(unwrapped(&run.stderr).contains("it is the folder of the package being built"), "{}", run.stderr);
    let run = kdep(&root.join("payments"), &["build", "../shop", "-o", ".."]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(unwrapped(&run.stderr).contains("it contains the current directory"), "{}", run.stderr);

    if cfg!(target_os = "linux") {
        let run = kdep(pkg.path(), &["build", "-o", "/proc"]);
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert!(
            unwrapped(&run.stderr).contains("refusing to write the output to `/proc`: it is a mount point"),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn a_kdep_toml_that_is_a_folder_is_named_as_such() {
    // It used to read as "no `kdep.toml` found there or in any parent folder".
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(tmp.path().join("kdep.toml")).expect("mkdir");
    let run = kdep(tmp.path(), &["check"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let canonical = std::fs::canonicalize(tmp.path()).expect("canonical");
    // Unwrapped before the temporary path is replaced: miette wraps by width, which depends on
    // that path's length.
    insta::assert_snapshot!("kdep_toml_folder", unwrapped(&run.stderr).replace(&*canonical.to_string_lossy(), "[TMP]"));
}

#[cfg(unix)]
#[test]
fn an_unreadable_lock_file_is_not_called_read_only() {
    // Root reads any file, so the lock is made unreadable by being a folder; its mode 000
    // made the old message claim it was read-only.
    use std::os::unix::fs::PermissionsExt;
    let pkg = output_package();
    let lock = pkg.path().join("kdep.lock");
    std::fs::create_dir(&lock).expect("mkdir");
    std::fs::set_permissions(&lock, std::fs::Permissions::from_mode(0o000)).expect("chmod");
    let run = kdep(pkg.path(), &["check"]);
    std::fs::set_permissions(&lock, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(!run.stderr.contains("read-only"), "{}", run.stderr);
    assert!(
        run.stderr.contains("cannot read `") && run.stderr.contains("kdep.lock`: Is a directory"),
        "{}",
        run.stderr
    );
}

#[test]
fn check_and_build_spell_the_diagnostics_format_alike() {
    let help = kdep(Path::new("."), &["check", "--help"]);
    assert_eq!(help.code, 0);
    insta::assert_snapshot!("check_help", help.stdout);
    assert!(help.stdout.contains("--message-format") && !help.stdout.contains("--format"), "{}", help.stdout);
    // The old spelling still works, hidden.
    let (_tmp, root) = example_copy();
    let old = kdep(&root, &["check", "broken", "--format", "json"]);
    let new = kdep(&root, &["check", "broken", "--message-format", "json"]);
    assert_eq!(old.code, 1);
    assert_eq!(old.stdout, new.stdout);
}

fn boutique_manifests() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../compiler/import/test_data/online-boutique/kubernetes-manifests.yaml")
}

#[test]
fn import_manifests_writes_a_package_that_builds_and_replaces_only_an_untouched_import() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let input = boutique_manifests();
    let input = input.to_string_lossy();
    let run = kdep(tmp.path(), &["import", "manifests", &input, "-o", "shop"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("imported 35 objects into 12 apps"), "{}", run.stderr);
    let pkg = tmp.path().join("shop");
    let toml = std::fs::read_to_string(pkg.join("kdep.toml")).expect("kdep.toml");
    assert!(toml.contains("name = \"shop\""), "{toml}");
    let built = kdep(tmp.path(), &["build", "shop"]);
    assert_eq!(built.code, 0, "{}", built.stderr);
    assert_eq!(built.stdout.split("\n---\n").count(), 35);
    assert_eq!(kdep(tmp.path(), &["fmt", "--check", "shop"]).code, 0);

    // The build wrote kdep.lock; the import is still untouched, so importing again replaces it.
    assert!(pkg.join("kdep.lock").exists());
    let again = kdep(tmp.path(), &["import", "manifests", &input, "-o", "shop"]);
    assert_eq!(again.code, 0, "{}", again.stderr);

    // Once a developer edits the package, it is theirs: a new import is refused.
    let frontend = pkg.join("frontend.kdep");
    let edited = std::fs::read_to_string(&frontend).expect("read") + "// tuned by hand\n";
    std::fs::write(&frontend, &edited).expect("write");
    let refused = kdep(tmp.path(), &["import", "manifests", &input, "-o", "shop"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        unwrapped(&refused.stderr).contains("`frontend.kdep` was changed since it was imported"),
        "{}",
        refused.stderr
    );
    assert_eq!(std::fs::read_to_string(&frontend).expect("kept"), edited);

    // And a folder that is not an import is never replaced.
    std::fs::create_dir(tmp.path().join("mine")).expect("mkdir");
    std::fs::write(tmp.path().join("mine/notes.txt"), "keep").expect("write");
    let refused = kdep(tmp.path(), &["import", "manifests", &input, "-o", "mine"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert_eq!(std::fs::read_to_string(tmp.path().join("mine/notes.txt")).expect("kept"), "keep");
}

#[test]
fn import_manifests_bad_input_is_located_and_writes_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        tmp.path().join("chart.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n",
    )
    .expect("write");
    std::fs::write(tmp.path().join("values.yaml"), "replicaCount: 1\n").expect("write");
    let run = kdep(tmp.path(), &["import", "manifests", "chart.yaml", "values.yaml", "-o", "out"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let stderr = unwrapped(&run.stderr);
    assert!(stderr.contains("chart.yaml:4:9: this is a Helm template"), "{stderr}");
    assert!(stderr.contains("values.yaml:1: not a Kubernetes object"), "{stderr}");
    assert!(!tmp.path().join("out").exists());
    assert_eq!(dir_names(tmp.path()), vec!["chart.yaml", "values.yaml"]);

    let json = kdep(tmp.path(), &["import", "manifests", "values.yaml", "-o", "out", "--message-format", "json"]);
    assert_eq!(json.code, 1);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).expect("one JSON document");
    assert_eq!(doc.pointer("/diagnostics/0/primary/file"), Some(&serde_json::json!("values.yaml")));
    assert_eq!(doc.pointer("/diagnostics/0/primary/line"), Some(&serde_json::json!(1)));
}

#[test]
fn import_manifests_reports_what_the_kubernetes_types_reject_and_writes_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let typo = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replica: 2\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n";
    std::fs::write(tmp.path().join("web.yaml"), typo).expect("write");
    let run = kdep(tmp.path(), &["import", "manifests", "web.yaml", "-o", "web"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("has no field `replica`"), "{}", run.stderr);
    assert!(run.stderr.contains("did you mean `replicas`?"), "{}", run.stderr);
    assert!(run.stderr.contains("web/web.kdep:"), "{}", run.stderr);
    assert!(run.stderr.contains("imported from web.yaml:1"), "{}", run.stderr);
    assert!(
        unwrapped(&run.stderr).contains("the imported package does not build; nothing was written"),
        "{}",
        run.stderr
    );
    assert!(!tmp.path().join("web").exists());
}
