//! The CI and GitOps examples in `examples/ci/` run as their engines would run them: every
//! pipeline file parses as YAML with the structure its engine needs; Argo CD's Config
//! Management Plugin generate command, run in a package folder with `ARGOCD_ENV_KDEP_ENV`,
//! prints the package's YAML stream; Flux's render script writes the folder the Flux
//! Kustomization reconciles.

#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a failed unwrap fails the test; YAML is read with `serde_yaml::Value[key]`, which yields Null"
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::kdep;
use serde_yaml::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn ci_dir() -> PathBuf {
    repo().join("examples/ci")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A scratch copy of the example packages (the shop package depends on `../platform`).
fn packages() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("platform-and-teams");
    copy_dir(&repo().join("examples/platform-and-teams"), &root);
    (tmp, root)
}

/// `PATH` with the kdep under test first, as the plugin sidecar or CI image would have it.
fn path_with_kdep() -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_kdep")).parent().unwrap().display().to_string();
    format!("{bin}:/usr/local/bin:/usr/bin:/bin")
}

fn documents(text: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text).map(|d| serde::Deserialize::deserialize(d).unwrap()).collect()
}

fn listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(listing(&p).into_iter().map(|n| format!("{}/{n}", e.file_name().to_string_lossy())));
        } else {
            out.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    out.sort();
    out
}

#[test]
fn every_pipeline_file_parses_with_the_structure_its_engine_needs() {
    let gitlab = documents(&std::fs::read_to_string(ci_dir().join("gitlab/.gitlab-ci.yml")).unwrap());
    let gl = &gitlab[0];
    let stages: Vec<&str> = gl["stages"].as_sequence().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    assert_eq!(stages, ["check", "staging", "plan", "production"]);
    for job in ["check", "staging", "plan-production", "apply-production"] {
        let j = &gl[job];
        assert!(stages.contains(&j["stage"].as_str().unwrap()), "{job}: unknown stage");
        assert!(j["script"].as_sequence().unwrap().iter().all(|l| l.is_string()), "{job}: script lines are strings");
    }
    assert_eq!(gl["apply-production"]["needs"][0], "plan-production");
    assert_eq!(gl["apply-production"]["environment"]["name"], "production");
    assert_eq!(gl["apply-production"]["rules"][0]["when"], "manual");
    let apply = gl["apply-production"]["script"][0].as_str().unwrap();
    assert!(apply.contains("--plan plan.json") && apply.contains("--context \"$KUBE_CONTEXT\""), "{apply}");

    let github = documents(&std::fs::read_to_string(ci_dir().join("github/deploy.yml")).unwrap());
    let gh = &github[0];
    // `on` is a YAML 1.1 boolean to some readers; GitHub reads it as the key "on".
    assert!(gh["on"]["push"].is_mapping() && gh["on"].get("pull_request").is_some());
    let jobs = gh["jobs"].as_mapping().unwrap();
    for (name, job) in jobs {
        assert!(job["runs-on"].is_string(), "{name:?}: runs-on");
        for step in job["steps"].as_sequence().unwrap() {
            assert!(step.get("uses").is_some() || step["run"].is_string(), "{name:?}: step {step:?}");
        }
    }
    assert_eq!(gh["jobs"]["apply-production"]["environment"], "production");
    assert_eq!(gh["jobs"]["apply-production"]["needs"], "plan-production");

    for file in ["argocd/plugin.yaml", "argocd/application.yaml", "flux/kustomization.yaml"] {
        for doc in documents(&std::fs::read_to_string(ci_dir().join(file)).unwrap()) {
            assert!(doc["apiVersion"].is_string() && doc["kind"].is_string(), "{file}: {doc:?}");
        }
    }
    // The Application names the plugin as Argo CD does: `<name>-<version>`.
    let plugin = &documents(&std::fs::read_to_string(ci_dir().join("argocd/plugin.yaml")).unwrap())[0];
    let app = &documents(&std::fs::read_to_string(ci_dir().join("argocd/application.yaml")).unwrap())[0];
    let name =
        format!("{}-{}", plugin["metadata"]["name"].as_str().unwrap(), plugin["spec"]["version"].as_str().unwrap());
    assert_eq!(app["spec"]["source"]["plugin"]["name"].as_str(), Some(name.as_str()));
}

/// Runs the plugin's generate command as the CMP server does: in the application's source
/// folder, with the Application's plugin env as `ARGOCD_ENV_*` variables.
fn argocd_generate(dir: &Path, env: Option<&str>) -> (i32, String, String) {
    let plugin = &documents(&std::fs::read_to_string(ci_dir().join("argocd/plugin.yaml")).unwrap())[0];
    assert_eq!(plugin["kind"], "ConfigManagementPlugin");
    assert_eq!(plugin["spec"]["discover"]["fileName"], "kdep.toml");
    assert!(dir.join("kdep.toml").is_file(), "discovery matches a kdep package folder");
    let argv: Vec<&str> = plugin["spec"]["generate"]["command"]
        .as_sequence()
        .unwrap()
        .iter()
        .chain(plugin["spec"]["generate"]["args"].as_sequence().unwrap())
        .map(|v| v.as_str().unwrap())
        .collect();
    let mut cmd = Command::new(argv[0]);
    cmd.args(&argv[1..])
        .current_dir(dir)
        .env_clear()
        .env("PATH", path_with_kdep())
        .env("ARGOCD_APP_NAME", "shop-production")
        .env("ARGOCD_APP_NAMESPACE", "shop")
        .env("ARGOCD_APP_SOURCE_PATH", "examples/platform-and-teams/shop");
    if let Some(e) = env {
        cmd.env("ARGOCD_ENV_KDEP_ENV", e);
    }
    let out = cmd.output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

#[test]
fn argocd_plugin_generates_the_packages_yaml_stream() {
    let (_tmp, root) = packages();
    let shop = root.join("shop");
    let before = listing(&shop);
    let (code, stdout, stderr) = argocd_generate(&shop, Some("production"));
    assert_eq!(code, 0, "{stderr}");
    let expected = kdep(&shop, &["build", "--env", "production"]);
    assert_eq!(expected.code, 0, "{}", expected.stderr);
    assert_eq!(stdout, expected.stdout, "the plugin's output is exactly `kdep build --env production`");
    let docs = documents(&stdout);
    assert!(docs.len() > 5, "{} objects", docs.len());
    assert!(docs
        .iter()
        .all(|d| d["apiVersion"].is_string() && d["kind"].is_string() && d["metadata"]["name"].is_string()));
    assert!(
        docs.iter().all(|d| d["kind"] == "Namespace" || d["metadata"]["namespace"] == "shop"),
        "every namespaced object lands in production's namespace"
    );
    assert_eq!(listing(&shop), before, "the plugin writes nothing into the repository checkout");
}

#[test]
fn argocd_plugin_errors_are_clear_and_non_zero() {
    let (_tmp, root) = packages();
    let shop = root.join("shop");
    let (code, stdout, stderr) = argocd_generate(&shop, None);
    assert_ne!(code, 0);
    assert_eq!(stdout, "", "no partial output for Argo CD to apply");
    assert!(stderr.contains("set the plugin env KDEP_ENV on the Application"), "{stderr}");
    let (code, stdout, stderr) = argocd_generate(&shop, Some("prod"));
    assert_eq!((code, stdout.as_str()), (1, ""));
    assert!(stderr.contains("[K0501] Error: environment `prod` is not declared"), "{stderr}");
    // A stale lock (a dependency changed without `kdep build` being run) fails the render
    // instead of silently resolving something else.
    std::fs::write(shop.join("kdep.lock"), "# stale\n").unwrap();
    let (code, stdout, stderr) = argocd_generate(&shop, Some("production"));
    assert_eq!((code, stdout.as_str()), (1, ""));
    assert!(stderr.contains("--locked"), "{stderr}");
}

#[test]
fn flux_render_writes_the_folder_the_kustomization_reconciles() {
    let (tmp, root) = packages();
    let flux = documents(&std::fs::read_to_string(ci_dir().join("flux/kustomization.yaml")).unwrap());
    let ks = flux.iter().find(|d| d["kind"] == "Kustomization").unwrap();
    let path = ks["spec"]["path"].as_str().unwrap().trim_start_matches("./").to_owned();
    assert_eq!(path, "deploy/production");
    let repo_checkout = tmp.path().join("repo");
    std::fs::create_dir_all(&repo_checkout).unwrap();
    let run = |env: &str| {
        Command::new(ci_dir().join("flux/render.sh"))
            .args([root.join("shop").to_str().unwrap(), env, "deploy"])
            .current_dir(&repo_checkout)
            .env("PATH", path_with_kdep())
            .output()
            .unwrap()
    };
    let out = run("production");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let dir = repo_checkout.join(&path);
    let mut objects = Vec::new();
    for name in listing(&dir) {
        if name.ends_with(".yaml") {
            objects.extend(documents(&std::fs::read_to_string(dir.join(&name)).unwrap()));
        }
    }
    let stream = documents(&kdep(&root.join("shop"), &["build", "--env", "production"]).stdout);
    let key = |d: &Value| format!("{:?}/{:?}/{:?}", d["kind"], d["metadata"]["namespace"], d["metadata"]["name"]);
    let mut got: Vec<String> = objects.iter().map(key).collect();
    let mut want: Vec<String> = stream.iter().map(key).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want, "one file per object of the package");
    assert_eq!(objects.len(), stream.len());
    // A failed render (unknown environment) leaves the reconciled folder as it was.
    let before = listing(&dir);
    let bad = run("prod");
    assert_eq!(bad.status.code(), Some(1));
    assert_eq!(listing(&dir), before);
}
