//! End-to-end tests of the governance commands: `kdep explain OBJECT FIELD` (provenance),
//! `kdep build --source-map`, `kdep test` and `kdep impact`, run against scratch copies of the
//! bundled example and packages the tests write.

#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "test code: a panic is a failed test, and JSON documents are read by key"
)]

use std::path::{Path, PathBuf};

mod common;

use common::{example_copy as example, kdep};

// ---------------------------------------------------------------------------------------------
// kdep explain OBJECT FIELD

#[test]
fn explain_shows_the_chain_of_a_value() {
    let (_tmp, root) = example();
    let run = kdep(&root, &["explain", "Deployment/checkout", "spec.replicas", "--env", "production", "shop"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    insta::assert_snapshot!("explain_replicas_production", run.stdout);
    // Without the environment's block the app's own value wins; staging has no block.
    let run = kdep(&root, &["explain", "deployment/checkout", "spec.replicas", "--env", "staging", "shop"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.starts_with("Deployment/checkout spec.replicas = 3"), "{}", run.stdout);
    assert!(run.stdout.contains("set by app `checkout` at shop/checkout.kdep:12:5: replicas = 3"), "{}", run.stdout);
}

#[test]
fn explain_follows_list_indices_and_reports_computed_values() {
    let (_tmp, root) = example();
    let image = kdep(
        &root,
        &["explain", "Deployment/checkout", "spec.template.spec.containers[0].image", "--env", "production", "shop"],
    );
    assert_eq!(image.code, 0, "{}", image.stderr);
    insta::assert_snapshot!("explain_image", image.stdout);
    let label = kdep(
        &root,
        &[
            "explain",
            "Deployment/checkout",
            "metadata.labels[\"app.kubernetes.io/managed-by\"]",
            "--env",
            "production",
            "shop",
        ],
    );
    assert_eq!(label.code, 0, "{}", label.stderr);
    assert!(label.stdout.contains("= \"kdep\"") && label.stdout.contains("set by kdep"), "{}", label.stdout);
}

#[test]
fn explain_as_json() {
    let (_tmp, root) = example();
    let run = kdep(
        &root,
        &["explain", "Deployment/checkout", "spec.replicas", "--env", "production", "--format", "json", "shop"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["value"], 8);
    assert_eq!(doc["layer"], "environment");
    assert_eq!(doc["at"]["file"], "shop/checkout.kdep");
    assert_eq!(doc["at"]["line"], 18);
    let settings = doc["field"]["settings"].as_array().unwrap();
    assert_eq!(settings[0]["wins"], true);
    assert_eq!(settings[1]["layer"], "app");
    assert_eq!(settings[1]["written"], "3");
    let constraints = doc["field"]["constraints"].as_array().unwrap();
    assert_eq!(constraints.last().unwrap()["type"], "int(1..20)");
}

#[test]
fn explain_unknown_object_or_field_suggests_and_exits_1() {
    let (_tmp, root) = example();
    let object = kdep(&root, &["explain", "Deployment/chekout", "spec.replicas", "--env", "production", "shop"]);
    assert_eq!(object.code, 1);
    assert!(object.stdout.is_empty());
    let field = kdep(&root, &["explain", "Deployment/checkout", "spec.replcas", "--env", "production", "shop"]);
    assert_eq!(field.code, 1);
    let list = kdep(
        &root,
        &["explain", "Deployment/checkout", "spec.template.spec.containers[3]", "--env", "production", "shop"],
    );
    assert_eq!(list.code, 1);
    insta::assert_snapshot!(
        "explain_not_found",
        format!("{}\n---\n{}\n---\n{}", object.stderr, field.stderr, list.stderr)
    );
}

#[test]
fn explain_usage_errors_exit_2_and_codes_still_work() {
    let (_tmp, root) = example();
    let bad_path = kdep(&root, &["explain", "Deployment/checkout", "spec..replicas", "shop"]);
    assert_eq!(bad_path.code, 2, "{}", bad_path.stderr);
    assert!(bad_path.stderr.contains("empty segment"), "{}", bad_path.stderr);
    let no_field = kdep(&root, &["explain", "Deployment/checkout"]);
    assert_eq!(no_field.code, 2);
    assert!(no_field.stderr.contains("which field"), "{}", no_field.stderr);
    let code = kdep(&root, &["explain", "K0301"]);
    assert_eq!(code.code, 0);
    assert!(code.stdout.starts_with("# K0301 `locked-override`"), "{}", code.stdout);
    let unknown = kdep(&root, &["explain", "K9999"]);
    assert_eq!(unknown.code, 2);
}

#[test]
fn explain_of_a_failing_build_shows_the_errors_and_exits_1() {
    let (_tmp, root) = example();
    // Without an environment the platform template reads `environment`: K0506.
    let run = kdep(&root, &["explain", "Deployment/checkout", "spec.replicas", "shop"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("K0506"), "{}", run.stderr);
    assert!(run.stdout.is_empty());
}

// ---------------------------------------------------------------------------------------------
// kdep build --source-map

#[test]
fn source_map_maps_every_emitted_field() {
    let (_tmp, root) = example();
    let map_path = root.join("map.json");
    let run =
        kdep(&root, &["build", "shop", "--env", "production", "--source-map", map_path.to_str().unwrap(), "-o", "out"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = std::fs::read_to_string(&map_path).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["environment"], "production");
    let objects = doc["objects"].as_array().unwrap();
    let checkout = objects.iter().find(|o| o["kind"] == "Deployment" && o["name"] == "checkout").unwrap();
    let fields = checkout["fields"].as_array().unwrap();
    let replicas = fields.iter().find(|f| f["path"] == "spec.replicas").unwrap();
    insta::assert_snapshot!("source_map_replicas", serde_json::to_string_pretty(replicas).unwrap());
    let image = fields.iter().find(|f| f["path"] == "spec.template.spec.containers[0].image").unwrap();
    assert_eq!(image["layer"], "app");
    assert_eq!(image["file"], "shop/checkout.kdep");
    // Stamped by kdep, for the app declared at checkout.kdep:8.
    let managed = fields.iter().find(|f| f["path"] == "metadata.labels[\"app.kubernetes.io/managed-by\"]").unwrap();
    assert_eq!(managed["layer"], "builtin");
    assert_eq!((&managed["file"], &managed["line"]), (&"shop/checkout.kdep".into(), &8.into()));
    // Byte ranges point at the text that set the value.
    let src = std::fs::read_to_string(root.join("shop/checkout.kdep")).unwrap();
    let (start, end) = (replicas["start"].as_u64().unwrap() as usize, replicas["end"].as_u64().unwrap() as usize);
    assert_eq!(&src[start..end], "replicas = 8");
    // Every object of the build is in the map, and a second build writes the same bytes.
    let built = std::fs::read_dir(root.join("out"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".yaml"));
    assert_eq!(objects.len(), built.count());
    let again = kdep(&root, &["build", "shop", "--env", "production", "--source-map", map_path.to_str().unwrap()]);
    assert_eq!(again.code, 0);
    assert_eq!(std::fs::read_to_string(&map_path).unwrap(), text);
}

#[test]
fn source_map_is_not_written_when_the_build_fails() {
    let (_tmp, root) = example();
    let map_path = root.join("map.json");
    std::fs::write(&map_path, "previous").unwrap();
    let run = kdep(&root, &["build", "shop", "--source-map", map_path.to_str().unwrap()]);
    assert_eq!(run.code, 1);
    assert_eq!(std::fs::read_to_string(&map_path).unwrap(), "previous");
}

// ---------------------------------------------------------------------------------------------
// kdep impact

/// Writes `files` (path, text) under `root`.
fn write_files(root: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

/// Runs git in `dir` with a fixed identity and clock, so commit ids are the same every run.
fn git(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("git")
        .args(["-c", "user.name=kdep", "-c", "user.email=kdep@example.com", "-c", "init.defaultBranch=main"])
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// The code blocks tagged `lang` of guide `docs/<name>`.
fn doc_blocks(name: &str, lang: &str) -> Vec<String> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs").join(name)).unwrap();
    let fence = format!("```{lang}\n");
    text.split(fence.as_str()).skip(1).map(|b| b.split("```").next().unwrap().to_owned()).collect()
}

/// The `$ kdep ...` sessions of a guide: arguments and the output shown under them.
fn doc_sessions(name: &str) -> Vec<(Vec<String>, String)> {
    doc_blocks(name, "text")
        .into_iter()
        .filter_map(|b| {
            let (first, rest) = b.split_once('\n')?;
            let args = first.strip_prefix("$ kdep ")?.split_whitespace().map(str::to_owned).collect();
            Some((args, rest.to_owned()))
        })
        .collect()
}

/// Runs every session of a guide in `cwd` and compares what it prints (stdout, or stderr when
/// the command fails) with the guide.
fn check_sessions(name: &str, cwd: &Path) {
    let sessions = doc_sessions(name);
    assert!(!sessions.is_empty(), "{name} shows no sessions");
    for (args, expected) in sessions {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = kdep(cwd, &args);
        let shown = if run.code == 0 { &run.stdout } else { &run.stderr };
        assert_eq!(shown.trim_end(), expected.trim_end(), "{name}: kdep {args:?} (exit {})", run.code);
    }
}

/// A repository with one commit holding package `demo` (in a sub-folder, as in a monorepo),
/// made of the `kdep` blocks of `docs/impact.md` (each opens with a `// demo/...` path line).
fn impact_repo() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    write_files(&repo, &[("demo/kdep.toml", "[package]\nname = \"demo\"\nversion = \"0.1.0\"\n")]);
    for block in doc_blocks("impact.md", "kdep") {
        let path = block.lines().next().and_then(|l| l.strip_prefix("// ")).unwrap().to_owned();
        write_files(&repo, &[(path.as_str(), block.as_str())]);
    }
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "demo"]);
    (tmp, repo)
}

/// The edit under review in `docs/impact.md`: a new template default, a new field in every
/// ConfigMap, and app `jobs` replaced by `batch`.
fn edit(repo: &Path) {
    let read = |p: &str| std::fs::read_to_string(repo.join(p)).unwrap();
    let web = read("demo/web.kdep")
        .replace("replicas: int(1..10) = 2", "replicas: int(1..10) = 3")
        .replace("data.size = size }", "data.size = size, data.team = \"core\" }");
    let apps = read("demo/apps.kdep").replace("app jobs", "app batch").replace("\"jobs\"", "\"batch\"");
    write_files(repo, &[("demo/web.kdep", &web), ("demo/apps.kdep", &apps)]);
}

#[test]
fn impact_guide_sessions_are_what_kdep_prints() {
    let (_tmp, repo) = impact_repo();
    edit(&repo);
    check_sessions("impact.md", &repo.join("demo"));
}

#[test]
fn provenance_guide_sessions_are_what_kdep_prints() {
    let (_tmp, root) = example();
    check_sessions("provenance.md", &root);
    // The source map excerpt in the guide is the real entry.
    let json = doc_blocks("provenance.md", "json").pop().unwrap();
    let shown: serde_json::Value = serde_json::from_str(&json).unwrap();
    let run = kdep(&root, &["build", "shop", "--env", "production", "--source-map", "map.json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let map: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("map.json")).unwrap()).unwrap();
    let shown_object = &shown["objects"][0];
    let object = map["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == shown_object["kind"] && o["name"] == shown_object["name"])
        .unwrap();
    for key in ["apiVersion", "namespace", "app"] {
        assert_eq!(object[key], shown_object[key], "{key}");
    }
    let field = &shown_object["fields"][0];
    assert!(object["fields"].as_array().unwrap().contains(field), "{field}");
}

#[test]
fn impact_reports_changed_added_and_removed_objects_per_environment() {
    let (_tmp, repo) = impact_repo();
    let demo = repo.join("demo");
    let clean = kdep(&demo, &["impact"]);
    assert_eq!(clean.code, 0, "{}", clean.stderr);
    assert!(clean.stdout.contains("staging: 0 changed, 0 added, 0 removed"), "{}", clean.stdout);
    assert!(clean.stdout.contains("templates changed: none"), "{}", clean.stdout);
    edit(&repo);
    let text = kdep(&demo, &["impact"]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    insta::assert_snapshot!("impact_text", text.stdout);
    let json = kdep(&demo, &["impact", "--format", "json", "--base", "main"]);
    assert_eq!(json.code, 0, "{}", json.stderr);
    insta::assert_snapshot!("impact_json", json.stdout);
    // The repository is untouched: nothing staged, no extra worktree.
    let status = std::process::Command::new("git").args(["status", "--porcelain"]).current_dir(&repo).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&status.stdout), " M demo/apps.kdep\n M demo/web.kdep\n");
}

#[test]
fn impact_draws_the_graph_as_dot_and_svg() {
    let (_tmp, repo) = impact_repo();
    edit(&repo);
    let demo = repo.join("demo");
    let run = kdep(&demo, &["impact", "--graph", "impact.dot"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    insta::assert_snapshot!("impact_dot", std::fs::read_to_string(demo.join("impact.dot")).unwrap());
    let run = kdep(&demo, &["impact", "--graph", "impact.svg"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let svg = std::fs::read_to_string(demo.join("impact.svg")).unwrap();
    insta::assert_snapshot!("impact_svg", svg);
    // Well-formed enough for a browser: one root element, every group closed.
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\"") && svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches("<g ").count(), svg.matches("</g>").count());
    let bad = kdep(&demo, &["impact", "--graph", "impact.png"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("*.svg"), "{}", bad.stderr);
}

#[test]
fn impact_outside_a_repository_or_with_an_unknown_revision_exits_2() {
    let (_tmp, repo) = impact_repo();
    let unknown = kdep(&repo.join("demo"), &["impact", "--base", "no-such-branch"]);
    assert_eq!(unknown.code, 2);
    assert!(unknown.stdout.is_empty());
    let outside = tempfile::tempdir().unwrap();
    write_files(outside.path(), &[("kdep.toml", "[package]\nname = \"x\"\nversion = \"0.1.0\"\n")]);
    let no_repo = kdep(outside.path(), &["impact"]);
    assert_eq!(no_repo.code, 2);
    insta::assert_snapshot!(
        "impact_errors",
        format!("{}---\n{}", unknown.stderr, no_repo.stderr.replace(&outside.path().display().to_string(), "<tmp>"))
    );
}

#[test]
fn impact_of_a_working_tree_that_does_not_build_exits_1() {
    let (_tmp, repo) = impact_repo();
    write_files(
        &repo,
        &[("demo/apps.kdep", "import web\n\napp api = web.Web {\n    name = \"api\"\n    replicas = 99\n}\n")],
    );
    let run = kdep(&repo.join("demo"), &["impact"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("K0204") && run.stderr.contains("does not build"), "{}", run.stderr);
    assert!(run.stdout.is_empty());
}

#[test]
fn impact_of_a_new_package_or_a_base_that_does_not_build() {
    let (_tmp, repo) = impact_repo();
    let demo = repo.join("demo");
    // A package that did not exist at the base: everything is new.
    write_files(&repo, &[("fresh/kdep.toml", "[package]\nname = \"fresh\"\nversion = \"0.1.0\"\n")]);
    std::fs::copy(demo.join("web.kdep"), repo.join("fresh/web.kdep")).unwrap();
    std::fs::copy(demo.join("apps.kdep"), repo.join("fresh/apps.kdep")).unwrap();
    std::fs::copy(demo.join("envs.kdep"), repo.join("fresh/envs.kdep")).unwrap();
    let fresh = kdep(&repo.join("fresh"), &["impact", "--format", "json"]);
    assert_eq!(fresh.code, 0, "{}", fresh.stderr);
    let doc: serde_json::Value = serde_json::from_str(&fresh.stdout).unwrap();
    assert_eq!(doc["base"]["packageExists"], false);
    for env in doc["environments"].as_array().unwrap() {
        assert_eq!((env["added"].as_u64(), env["changed"].as_u64()), (Some(4), Some(0)), "{env}");
    }
    // A base revision that does not build is compared as empty, and says so.
    write_files(
        &repo,
        &[("demo/apps.kdep", "import web\n\napp api = web.Web {\n    name = \"api\"\n    replicas = 99\n}\n")],
    );
    git(&repo, &["commit", "-q", "-am", "broken"]);
    write_files(&repo, &[("demo/apps.kdep", "import web\n\napp api = web.Web {\n    name = \"api\"\n}\n")]);
    let run = kdep(&demo, &["impact"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("(the base revision does not build here; its objects count as absent)"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("+ Widget demo/api (app `api`)"), "{}", run.stdout);
}

#[test]
fn explain_in_a_package_without_objects_and_source_map_write_errors() {
    let tmp = tempfile::tempdir().unwrap();
    write_files(
        tmp.path(),
        &[
            ("kdep.toml", "[package]\nname = \"empty\"\nversion = \"0.1.0\"\n"),
            ("lib.kdep", "template T {\n    name: string\n}\n"),
        ],
    );
    let run = kdep(tmp.path(), &["explain", "Deployment/x", "spec"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("the build emits no objects"), "{}", run.stderr);
    // The map cannot be written: exit 2 before any manifest is printed.
    let (_tmp, root) = example();
    let run = kdep(&root, &["build", "shop", "--env", "staging", "--source-map", "missing-dir/map.json"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stdout.is_empty());
    assert!(run.stderr.contains("cannot write `missing-dir/map.json`"), "{}", run.stderr);
}

#[test]
fn source_map_inside_the_output_folder_is_refused() {
    let (_tmp, root) = example();
    let run = kdep(&root, &["build", "shop", "--env", "staging", "-o", "out", "--source-map", "out/map.json"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("is inside the output folder"), "{}", run.stderr);
    assert!(!root.join("out").exists());
    let run = kdep(&root, &["build", "shop", "--env", "staging", "-o", "out", "--source-map", "./x/../out/map.json"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    // Next to the folder is fine, and a later build replaces the folder as usual.
    for _ in 0..2 {
        let run = kdep(&root, &["build", "shop", "--env", "staging", "-o", "out", "--source-map", "out.map.json"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    assert!(root.join("out.map.json").is_file());
}

#[test]
fn explain_patches_and_values_written_in_template_bodies() {
    let tmp = tempfile::tempdir().unwrap();
    write_files(
        tmp.path(),
        &[
            ("kdep.toml", "[package]\nname = \"p\"\nversion = \"0.1.0\"\n"),
            (
                "lib.kdep",
                "template T {\n    name: string\n    limits: {string: string} = { cpu = \"1\", memory = \"1Gi\" }\n    emit { apiVersion = \"v1\", kind = \"ConfigMap\", metadata.name = name, data = limits, metadata.labels.joined = \"${name}-x\" }\n}\n",
            ),
            ("app.kdep", "import lib\n\napp x = lib.T {\n    name = \"x\"\n    limits.cpu = \"2\"\n}\n"),
        ],
    );
    let out: Vec<String> = ["data.cpu", "data.memory", "metadata.labels.joined"]
        .iter()
        .map(|field| {
            let run = kdep(tmp.path(), &["explain", "ConfigMap/x", field]);
            assert_eq!(run.code, 0, "{}", run.stderr);
            run.stdout
        })
        .collect();
    insta::assert_snapshot!("explain_patch_and_computed", out.join("---\n"));
}

// ---------------------------------------------------------------------------------------------
// kdep test

/// A package with a template, two apps, environments and `tests.kdep` holding `tests`.
fn test_package(tests: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    write_files(
        tmp.path(),
        &[
            ("kdep.toml", "[package]\nname = \"demo\"\nversion = \"0.1.0\"\n"),
            (
                "web.kdep",
                "template Web {\n    name: string\n    replicas: int(1..10) = 2\n    locked port = 8080\n    emit {\n        apiVersion = \"demo.example.com/v1\"\n        kind = \"Widget\"\n        metadata.name = name\n        spec.replicas = replicas\n        spec.port = port\n    }\n}\n",
            ),
            (
                "apps.kdep",
                "import web\n\napp api = web.Web {\n    name = \"api\"\n    in production {\n        replicas = 4\n    }\n}\n\napp jobs = web.Web {\n    name = \"jobs\"\n}\n",
            ),
            ("envs.kdep", "environment staging { namespace = \"s\" }\nenvironment production { namespace = \"p\" }\n"),
            ("tests.kdep", tests),
        ],
    );
    tmp
}

const TESTS: &str = r#"import web

test "production has two widgets" {
    let objs = build("production")
    assert len(objs) == 2
}

test "staging has three widgets" {
    let objs = build("staging")
    assert len(objs) == 3
}

test "api scales in production" {
    let api = [o for o in build("production") if o.metadata.name == "api"][0]
    assert api.spec.replicas == 3 : "api runs 3 replicas in production"
}

test "the port is locked" {
    expect_error K0301 {
        app probe = web.Web {
            name = "probe"
            port = 9090
        }
    }
}

test "a lock that does not hold" {
    expect_error K0301 {
        app probe = web.Web {
            name = "probe"
            replicas = 3
        }
    }
}

test "the wrong code" {
    expect_error K0301 {
        app probe = web.Web {
            name = "probe"
            replicas = 30
        }
    }
}

test "a test that cannot run" {
    let objs = build("prod")
    assert len(objs) == 2
}
"#;

#[test]
fn kdep_test_reports_pass_fail_sub_values_and_expected_errors() {
    let tmp = test_package(TESTS);
    let run = kdep(tmp.path(), &["test", "--junit", "report.xml"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    insta::assert_snapshot!("test_run", run.stdout);
    insta::assert_snapshot!("test_junit", std::fs::read_to_string(tmp.path().join("report.xml")).unwrap());
}

#[test]
fn kdep_test_filter_selects_tests_and_passing_runs_exit_0() {
    let tmp = test_package(TESTS);
    let run = kdep(tmp.path(), &["test", "--filter", "^(production|the port)"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    insta::assert_snapshot!("test_filtered", run.stdout);
    let none = kdep(tmp.path(), &["test", "--filter", "nothing matches this"]);
    assert_eq!(none.code, 0);
    assert!(none.stdout.starts_with("running 0 tests"), "{}", none.stdout);
    let bad = kdep(tmp.path(), &["test", "--filter", "("]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("not a valid regular expression"), "{}", bad.stderr);
}

#[test]
fn kdep_check_runs_the_tests() {
    let tmp = test_package(TESTS);
    let run = kdep(tmp.path(), &["check", "--message-format", "json"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let codes: Vec<&str> = doc["diagnostics"].as_array().unwrap().iter().map(|d| d["code"].as_str().unwrap()).collect();
    assert_eq!(codes.iter().filter(|c| **c == "K0630").count(), 4, "{codes:?}");
    assert!(!codes.contains(&"K0109"), "imports used in `expect_error` blocks are used: {codes:?}");
    assert!(codes.contains(&"K0631") && codes.contains(&"K0501"), "{codes:?}");
    // The real module is unchanged by the test's snippets: `probe` is not an app of the package.
    let built = kdep(tmp.path(), &["build", "--env", "staging"]);
    assert_eq!(built.code, 0, "{}", built.stderr);
    assert!(!built.stdout.contains("probe"));
}

#[test]
fn testing_guide_sessions_are_what_kdep_prints() {
    let (_tmp, root) = example();
    check_sessions("testing.md", &root);
    // The guide's code blocks are the example's tests.
    for block in doc_blocks("testing.md", "kdep") {
        let path = block.lines().next().and_then(|l| l.strip_prefix("// ")).unwrap();
        let file = std::fs::read_to_string(root.join(path)).unwrap();
        assert!(file.contains(block.lines().skip(1).collect::<Vec<_>>().join("\n").trim()), "{path}");
    }
}

#[test]
fn tests_of_the_example_pass_and_the_syntax_formats_back() {
    let (_tmp, root) = example();
    for package in ["platform", "shop"] {
        let run = kdep(&root, &["test", package]);
        assert_eq!(run.code, 0, "{package}: {}\n{}", run.stdout, run.stderr);
        assert!(run.stdout.contains("test result: ok. 2 passed"), "{}", run.stdout);
    }
    let tmp = test_package(TESTS);
    let fmt = kdep(tmp.path(), &["fmt", "--check", "tests.kdep"]);
    assert_eq!(fmt.code, 0, "{}\n{}", fmt.stdout, fmt.stderr);
    // A compact spelling is rewritten to the canonical one, and means the same.
    let tmp = test_package("test \"t\" { let x = 1 assert x == 1 : \"one\" expect_error K0301 { app a = web.Web { name = \"a\", port = 1 } } }\nimport web\n");
    let fmt = kdep(tmp.path(), &["fmt", "tests.kdep"]);
    assert_eq!(fmt.code, 0, "{}", fmt.stderr);
    insta::assert_snapshot!("test_formatted", std::fs::read_to_string(tmp.path().join("tests.kdep")).unwrap());
    assert_eq!(kdep(tmp.path(), &["test"]).code, 0);
}

/// Attack: a test body with a misspelt name and an assertion that is not a bool. `kdep check`
/// reports both from its static pass (as the editor does), with the test's own `let`s as
/// did-you-mean candidates, before and without running any test.
#[test]
fn kdep_check_reports_test_bodies_statically() {
    let tmp = test_package(
        "test \"typos\" {\n    let objs = build(\"production\")\n    assert len(obj) == 2\n    assert len(objs) : \"a count is not a bool\"\n}\n",
    );
    let run = kdep(tmp.path(), &["check"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    insta::assert_snapshot!("test_bodies_static", run.stderr);
}
