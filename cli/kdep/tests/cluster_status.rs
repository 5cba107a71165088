//! `kdep status` and the failed-rollout explanations of `kdep apply`, against the emulator (or,
//! for what needs no seeding, a real cluster with `KDEP_TEST_CLUSTER=kubeconfig`): the real binary, workloads whose pods fail for each reason the kubelet and scheduler give
//! (ImagePullBackOff, CrashLoopBackOff, OOMKilled, Unschedulable, a failed Job), whole outputs
//! snapshotted.
//!
//! Attacks first: a pod of another workload with the same labels is never blamed, a status of a
//! package never applied says so, drift made by another manager shows, and an app that is
//! healthy exits 0 only when nothing differs.

#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a failed unwrap fails the test; JSON is read with `serde_json::Value[key]`, which yields Null"
)]

mod common;

use std::path::Path;
use std::process::Command;

use common::cluster::{kdep, needs_emulator, revision_written, start, templates, wait_until_ready, writes, DEV};
use kdep_tests::cluster::{Cluster, Rollout};
use kdep_tests::workloads::{ContainerSeed, EventSeed, PodFailure, PodSeed};
use serde_json::{json, Value};

/// This file's own templates: a Job, a StatefulSet and a DaemonSet, beside the shared ones.
const OWN: &str = r#"template Migrate {
    name: string
    image: string
    emit {
        apiVersion = "batch/v1"
        kind = "Job"
        metadata = { name = name }
        spec.backoffLimit = 0
        spec.template.spec.restartPolicy = "Never"
        spec.template.spec.containers = [{ name = "migrate", image = image }]
    }
}

template Db {
    name: string
    emit {
        apiVersion = "apps/v1"
        kind = "StatefulSet"
        metadata = { name = name }
        spec.serviceName = name
        spec.selector.matchLabels = { app = name }
        spec.template.metadata.labels = { app = name }
        spec.template.spec.containers = [{ name = name, image = "postgres:17" }]
    }
}

template Agent {
    name: string
    emit {
        apiVersion = "apps/v1"
        kind = "DaemonSet"
        metadata = { name = name }
        spec.selector.matchLabels = { app = name }
        spec.template.metadata.labels = { app = name }
        spec.template.spec.containers = [{ name = name, image = "agent:3" }]
    }
}
"#;

const APPS: &str = r#"app pull = templates.Web { name = "pull", image = "registry.example.com/pull:9.9" }
app crash = templates.Web { name = "crash", replicas = 2 }
app oom = templates.Web { name = "oom" }
app sched = templates.Web { name = "sched" }
app migrate = templates.Migrate { name = "migrate", image = "registry.example.com/migrate:2" }
app ok = templates.Web { name = "ok" }
app config = templates.Config { name = "settings", data = { k = "v" } }
app db = templates.Db { name = "db" }
app agent = templates.Agent { name = "agent" }
"#;

fn package(apps: &str) -> tempfile::TempDir {
    common::cluster::package(DEV, &templates(OWN), apps)
}

fn write_package(dir: &Path, apps: &str) {
    common::cluster::write_package(dir, DEV, &templates(OWN), apps);
}

fn pods_of(cluster: &Cluster, app: &str) -> Vec<String> {
    let mut names: Vec<String> = cluster
        .list("v1", "Pod", Some("demo"), Some(&format!("app={app}")))
        .unwrap()
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

/// Applies the package, then makes every workload but `ok` fail the way the kubelet and
/// scheduler report it. `None` (said on the terminal) on a real cluster: its failures cannot
/// be staged.
fn failing_cluster(test: &str) -> Option<(Cluster, tempfile::TempDir)> {
    let cluster = start();
    if needs_emulator(&cluster, test, "rollout, pod and event simulation") {
        return None;
    }
    cluster.seed("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n").unwrap();
    let pkg = package(APPS);
    let a = kdep(&cluster, pkg.path(), &["apply", "--env", "dev", "--wait=false"]);
    assert_eq!(a.code, 0, "{}", a.stderr);
    let dep = |name, failure| {
        cluster.set_rollout_failing("apps/v1", "Deployment", "demo", name, Rollout::Stalled, failure).unwrap();
    };
    dep("pull", PodFailure::ImagePullBackOff);
    dep("crash", PodFailure::CrashLoopBackOff);
    dep("oom", PodFailure::OomKilled);
    dep("sched", PodFailure::Unschedulable);
    cluster.set_rollout("apps/v1", "Deployment", "demo", "ok", Rollout::Complete).unwrap();
    for pod in pods_of(&cluster, "crash") {
        cluster
            .set_previous_pod_log(
                "demo",
                &pod,
                "crash",
                // The last line tries to retitle and clear the operator's terminal.
                "listening on :8080\nloading config /etc/app/config.yaml\npanic: missing key `database.url`\n\u{1b}]0;pwned\u{7}\u{1b}[2J\n",
            )
            .unwrap();
    }
    let oom = pods_of(&cluster, "oom");
    cluster.set_previous_pod_log("demo", &oom[0], "oom", "warming cache\ncache size 2.1 GiB\n").unwrap();
    // The Job's pod ran and failed; the controller gave up.
    let pod = cluster
        .seed_pod(
            &PodSeed::owned_by("demo", "Job", "migrate").container(ContainerSeed::terminated("migrate", "Error", 2)),
        )
        .unwrap();
    let pod = pod["metadata"]["name"].as_str().unwrap().to_owned();
    cluster
        .set_pod_log("demo", &pod, "migrate", "applying 0042_orders.sql\nERROR: relation \"orders\" already exists\n")
        .unwrap();
    cluster.set_rollout("batch/v1", "Job", "demo", "migrate", Rollout::Failed).unwrap();
    cluster
        .seed_event(
            &EventSeed::warning(
                "demo",
                ("batch/v1", "Job", "migrate"),
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            )
            .controller("job-controller"),
        )
        .unwrap();
    // A StatefulSet whose pod waits for a missing Secret; a DaemonSet pod failing readiness.
    cluster
        .seed_pod(&PodSeed::owned_by("demo", "StatefulSet", "db").name("db-0").container(ContainerSeed::waiting(
            "db",
            "CreateContainerConfigError",
            Some("secret \"db-password\" not found"),
        )))
        .unwrap();
    cluster.set_rollout("apps/v1", "StatefulSet", "demo", "db", Rollout::Progressing).unwrap();
    cluster
        .seed_pod(
            &PodSeed::owned_by("demo", "DaemonSet", "agent")
                .name("agent-x7k2p")
                .container(ContainerSeed::running("agent").not_ready()),
        )
        .unwrap();
    cluster
        .seed_event(
            &EventSeed::warning(
                "demo",
                ("v1", "Pod", "agent-x7k2p"),
                "Unhealthy",
                "Readiness probe failed: HTTP probe failed with statuscode: 503",
            )
            .count(12),
        )
        .unwrap();
    cluster.set_rollout("apps/v1", "DaemonSet", "demo", "agent", Rollout::Progressing).unwrap();
    Some((cluster, pkg))
}

/// Masks the manifest digest (the revision outside git) and kdep's version.
fn stable(text: &str) -> String {
    let digest = regex::Regex::new(r"sha256:[0-9a-f]{64}").unwrap();
    let version = regex::Regex::new(r"kdep/v[0-9][^\s]*").unwrap();
    let t = digest.replace_all(text, "sha256:[digest]");
    version.replace_all(&t, "kdep/v[version]").into_owned()
}

#[test]
fn apply_explains_every_workload_that_does_not_become_ready() {
    let Some((cluster, pkg)) = failing_cluster("apply_explains_every_workload_that_does_not_become_ready") else {
        return;
    };
    let a = kdep(&cluster, pkg.path(), &["apply", "--env", "dev", "--timeout", "2s"]);
    assert_eq!(a.code, 1, "{}", a.stderr);
    // Progress lines come first (their order depends on polling); the explanations follow.
    assert!(!a.stderr.contains('\u{1b}'), "control characters reached the terminal");
    let from = a.stderr.find("×").unwrap_or(0);
    insta::assert_snapshot!("apply_explains", &a.stderr[from..]);

    let j = kdep(&cluster, pkg.path(), &["apply", "--env", "dev", "--timeout", "2s", "-o", "json"]);
    assert_eq!(j.code, 1, "{}", j.stderr);
    let v: Value = serde_json::from_str(&j.stdout).unwrap();
    assert_eq!(v["ready"], false);
    let not_ready: Vec<&str> =
        v["notReady"].as_array().unwrap().iter().map(|n| n["object"]["name"].as_str().unwrap()).collect();
    assert_eq!(not_ready, ["crash", "oom", "pull", "sched", "migrate", "agent", "db"]);
    let oom = &v["notReady"][1]["explanation"];
    assert_eq!(oom["log"]["previous"], true);
    assert_eq!(oom["log"]["lines"], json!(["warming cache", "cache size 2.1 GiB"]));
}

#[test]
fn status_says_per_app_what_runs_and_why_it_is_not_ready() {
    let Some((cluster, pkg)) = failing_cluster("status_says_per_app_what_runs_and_why_it_is_not_ready") else {
        return;
    };
    let s = kdep(&cluster, pkg.path(), &["status", "--env", "dev"]);
    assert_eq!(s.code, 1, "{}", s.stderr);
    assert!(!s.stdout.contains('\u{1b}') && !s.stdout.contains('\u{7}'), "control characters reached the terminal");
    insta::assert_snapshot!("status_failing", stable(&s.stdout));

    let j = kdep(&cluster, pkg.path(), &["status", "--env", "dev", "-o", "json"]);
    assert_eq!(j.code, 1, "{}", j.stderr);
    let mut v: Value = serde_json::from_str(&j.stdout).unwrap();
    // Outside git the revision is the manifest digest; the tooling names the version.
    assert!(v["applied"]["revision"].as_str().unwrap().starts_with("sha256:"), "{}", v["applied"]);
    v["applied"]["revision"] = json!("[revision]");
    v["applied"]["tooling"] = json!("[tooling]");
    insta::assert_json_snapshot!("status_failing_json", v);
}

#[test]
fn status_of_a_healthy_package_exits_0_and_drift_makes_it_1() {
    let cluster = start();
    // On a real cluster the parts that need the emulator's read-only identity or pod seeding
    // say NOT RUN; the rest runs there, the rollout done by its controller.
    let test = "status_of_a_healthy_package_exits_0_and_drift_makes_it_1";
    cluster.seed("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n").unwrap();
    let apps = "app ok = templates.Web { name = \"ok\", replicas = 2 }\napp config = templates.Config { name = \"settings\", data = { k = \"v\" } }\n";
    let pkg = package(apps);
    // Never applied: said plainly, and everything is missing.
    let s = kdep(&cluster, pkg.path(), &["status", "--env", "dev"]);
    assert_eq!(s.code, 1, "{}", s.stderr);
    insta::assert_snapshot!("status_never_applied", stable(&s.stdout));

    // Applied from a git checkout: the revision is recorded on the ApplySet parent.
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(args)
            .current_dir(pkg.path())
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "v1"]);
    let head = git(&["rev-parse", "HEAD"]);
    assert_eq!(kdep(&cluster, pkg.path(), &["apply", "--env", "dev", "--wait=false"]).code, 0);
    if cluster.is_emulated() {
        revision_written(&cluster, "ok");
        cluster.set_rollout("apps/v1", "Deployment", "demo", "ok", Rollout::Complete).unwrap();
    } else {
        wait_until_ready(&cluster, "ok");
    }
    let s = kdep(&cluster, pkg.path(), &["status", "--env", "dev", "-o", "json"]);
    assert_eq!(s.code, 0, "{}\n{}", s.stdout, s.stderr);
    let v: Value = serde_json::from_str(&s.stdout).unwrap();
    assert_eq!(v["applied"]["revision"], head.as_str());
    assert_eq!(v["healthy"], true);
    let ok = &v["apps"][1];
    assert_eq!(ok["name"], "ok");
    assert_eq!(ok["workloads"][0]["replicas"], json!({"desired": 2, "ready": 2, "updated": 2, "available": 2}));
    assert_eq!(ok["workloads"][0]["images"][0]["running"], json!({"nginx:1.27": 2}));

    // A view-only identity (get, list, watch; no dry run) with nothing changed: what it can
    // read proves every object unchanged (kdep owns exactly the fields it sets, which hold
    // their values), so status answers "in sync" without the dry run it may not send.
    let ro = (!needs_emulator(&cluster, test, "read-only identity (the view-only parts)"))
        .then(|| cluster.readonly_kubeconfig().unwrap().to_str().unwrap().to_owned());
    if let Some(ro) = &ro {
        cluster.clear_request_log().unwrap();
        let s = kdep(&cluster, pkg.path(), &["status", "--env", "dev", "--kubeconfig", ro, "-o", "json"]);
        assert_eq!(s.code, 0, "{}", s.stderr);
        let v: Value = serde_json::from_str(&s.stdout).unwrap();
        assert_eq!((v["apps"][1]["ready"].clone(), v["apps"][1]["driftUnknown"].clone()), (json!(true), json!(false)));
        assert_eq!(writes(&cluster.request_log().unwrap()), Vec::<String>::new());
    }

    // Attack: a pod of another workload carrying the same labels is not counted or blamed.
    if !needs_emulator(&cluster, test, "pod seeding (the impostor pod)") {
        cluster
            .seed_pod(
                &PodSeed::standalone("demo", "impostor")
                    .label("app", "ok")
                    .container(ContainerSeed::image_pull_back_off("x", "evil:1").image("evil:1")),
            )
            .unwrap();
        let s = kdep(&cluster, pkg.path(), &["status", "--env", "dev"]);
        assert_eq!(s.code, 0, "{}", s.stdout);
        assert!(!s.stdout.contains("impostor") && !s.stdout.contains("evil"), "{}", s.stdout);
    }

    // Another manager edits a field kdep sets: the app is drifted (exit 1), the rest in sync.
    cluster.edit_as("someone", "v1", "ConfigMap", Some("demo"), "settings", &json!({"data": {"k": "edited"}})).unwrap();
    let s = kdep(&cluster, pkg.path(), &["status", "--env", "dev"]);
    assert_eq!(s.code, 1, "{}", s.stderr);
    let text = stable(&s.stdout.replace(&head, "[commit]"));
    insta::assert_snapshot!("status_drifted", text);

    // The same through the view-only identity: the edited object cannot be proven unchanged
    // and its dry run is refused, so status says drift is unknown rather than calling the
    // app in sync, and writes nothing.
    if let Some(ro) = &ro {
        cluster.clear_request_log().unwrap();
        let s = kdep(&cluster, pkg.path(), &["status", "--env", "dev", "--kubeconfig", ro, "-o", "json"]);
        assert_eq!(s.code, 1, "{}", s.stderr);
        let v: Value = serde_json::from_str(&s.stdout).unwrap();
        assert_eq!((v["apps"][0]["ready"].clone(), v["apps"][0]["driftUnknown"].clone()), (json!(true), json!(true)));
        assert_eq!(v["apps"][0]["name"], "config");
        assert_eq!(v["apps"][0]["drift"][0]["drift"], "unknown");
        assert!(v["apps"][0]["drift"][0]["diff"].as_str().unwrap().contains("403"), "{}", v["apps"][0]);
        assert_eq!(writes(&cluster.request_log().unwrap()), Vec::<String>::new());
    }

    // A new image in the sources, not applied yet: desired against the live template and what
    // the pods run, and the Deployment is modified.
    write_package(pkg.path(), &apps.replace("replicas = 2", "replicas = 2, image = \"nginx:1.28\""));
    let s = kdep(&cluster, pkg.path(), &["status", "--env", "dev"]);
    assert_eq!(s.code, 1, "{}", s.stderr);
    insta::assert_snapshot!("status_new_image", stable(&s.stdout.replace(&head, "[commit]")));
}

#[test]
fn each_environment_reads_its_own_kubeconfig_file() {
    // Two clusters, one package: `a` and `b` name their kubeconfig files (relative to the
    // package root); KUBECONFIG points nowhere, so only the environments' files can work.
    let one = start();
    if needs_emulator(&one, "each_environment_reads_its_own_kubeconfig_file", "second, separate cluster") {
        return;
    }
    let two = start();
    for c in [&one, &two] {
        c.seed("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n").unwrap();
    }
    let pkg = package("app config = templates.Config { name = \"settings\", data = { k = \"v\" } }\n");
    std::fs::write(
        pkg.path().join("environments.kdep"),
        "environment a { kubeconfig = \"clusters/a.yaml\", namespace = \"demo\" }\n\
         environment b { kubeconfig = \"clusters/b.yaml\", namespace = \"demo\" }\n\
         environment lost { kubeconfig = \"clusters/none.yaml\", namespace = \"demo\" }\n",
    )
    .unwrap();
    std::fs::create_dir(pkg.path().join("clusters")).unwrap();
    std::fs::copy(one.kubeconfig(), pkg.path().join("clusters/a.yaml")).unwrap();
    std::fs::copy(two.kubeconfig(), pkg.path().join("clusters/b.yaml")).unwrap();
    let sub = pkg.path().join("clusters");
    let run = |dir: &Path, args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_kdep"))
            .args(args)
            .current_dir(dir)
            .env("NO_COLOR", "1")
            .env("KUBECONFIG", "/nonexistent/kubeconfig")
            .output()
            .unwrap();
        (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    // Run from a subfolder: the path is the package's, not the working directory's.
    let (code, err) = run(&sub, &["apply", "..", "--env", "a", "--wait=false"]);
    assert_eq!(code, 0, "{err}");
    assert!(one.get("v1", "ConfigMap", Some("demo"), "settings").unwrap().is_some());
    assert!(two.get("v1", "ConfigMap", Some("demo"), "settings").unwrap().is_none());
    assert_eq!(run(pkg.path(), &["status", "--env", "a"]).0, 0);
    assert_eq!(run(pkg.path(), &["status", "--env", "b"]).0, 1, "b has nothing yet");
    assert_eq!(run(pkg.path(), &["apply", "--env", "b", "--wait=false"]).0, 0);
    assert!(two.get("v1", "ConfigMap", Some("demo"), "settings").unwrap().is_some());
    // --kubeconfig overrides the environment's file: `b` checked against the first cluster,
    // where the object is gone, differs; against its own file it does not.
    assert!(one.delete("v1", "ConfigMap", Some("demo"), "settings").unwrap());
    let a_file = pkg.path().join("clusters/a.yaml");
    assert_eq!(run(pkg.path(), &["diff", "--env", "b"]).0, 0);
    let (code, err) = run(pkg.path(), &["diff", "--env", "b", "--kubeconfig", a_file.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    // A file that is not there: named, with the environment's setting as the place to fix.
    let (code, err) = run(pkg.path(), &["diff", "--env", "lost"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("clusters/none.yaml"), "{err}");
}
