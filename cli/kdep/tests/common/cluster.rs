//! What the cluster test files share: the emulator they start and the binary run against it.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use kdep_tests::cluster::{Cluster, LogEntry, Options};

use super::{kdep_with, Run};

/// The emulator with a fixed clock and sequential UIDs, so whole outputs (managedFields times,
/// UIDs in plans) snapshot the same on every run. With `KDEP_TEST_CLUSTER` set, the real
/// cluster it names instead, its namespace `demo` deleted first so each test starts empty.
#[allow(dead_code, reason = "shared by the cluster test files; the others never start one")]
pub fn start() -> Cluster {
    if std::env::var_os("KDEP_TEST_CLUSTER").is_some() {
        return real();
    }
    Cluster::start_with(Options {
        clock: Some("2030-01-01T00:00:00Z".into()),
        sequential_uids: true,
        ..Options::default()
    })
    .expect("the emulator starts")
}

/// The real cluster of `KDEP_TEST_CLUSTER`, with namespace `demo` gone. Its tests share that
/// namespace and the package name, so they must run one at a time: refused otherwise.
fn real() -> Cluster {
    let one_thread = std::env::var("RUST_TEST_THREADS").as_deref() == Ok("1")
        || std::env::args()
            .collect::<Vec<_>>()
            .windows(2)
            .any(|w| w.first().zip(w.get(1)).is_some_and(|(a, b)| a == "--test-threads" && b == "1"))
        || std::env::args().any(|a| a == "--test-threads=1");
    assert!(
        one_thread,
        "KDEP_TEST_CLUSTER: the tests share namespace `demo` of that cluster; run them one at a time \
         (`cargo test ... -- --test-threads=1`)"
    );
    let cluster = Cluster::start().expect("KDEP_TEST_CLUSTER names a kubeconfig kdep's tests can use");
    // Deleting a namespace is asynchronous on a real server (finalizers): wait until it is gone.
    let _ = cluster.delete("v1", "Namespace", None, "demo");
    let deadline = Instant::now() + Duration::from_secs(180);
    while cluster.get("v1", "Namespace", None, "demo").expect("reading namespace demo").is_some() {
        assert!(Instant::now() < deadline, "namespace `demo` of the test cluster was not deleted within 180 s");
        std::thread::sleep(Duration::from_millis(500));
    }
    cluster
}

/// Says, on the terminal even when the test harness captures output, that a test (or part
/// of one) did not run because it needs the emulator, and returns true. On the emulator it
/// says nothing and returns false. A real cluster has no fault injection, request log, clock
/// or rollout simulation; such a test must never pass silently there.
#[allow(dead_code, reason = "shared by the cluster test files; the others never start one")]
pub fn needs_emulator(cluster: &Cluster, test: &str, what: &str) -> bool {
    if cluster.is_emulated() {
        return false;
    }
    // `eprintln!` would be captured by the test harness and shown only on failure.
    let _ = writeln!(std::io::stderr(), "NOT RUN on a real cluster: {test}: needs the emulator's {what}");
    true
}

/// The writes kdep made since it was taken. On the emulator: from the request log (the
/// harness's own requests and access reviews left out). On a real cluster, which has no
/// request log: the objects of namespace `demo` (and the namespace) that appeared, vanished,
/// were recreated (a new UID), or whose content or managedFields entries of manager `kdep`
/// changed (a value changed within the second of kdep's last write leaves its entry as it
/// was). Not the resourceVersion: a real cluster's controllers keep writing a workload's
/// `status` and its `deployment.kubernetes.io/revision` annotation after an apply, and those
/// are left out too.
#[allow(dead_code, reason = "shared by the cluster test files; the others never start one")]
pub struct Writes {
    versions: BTreeMap<String, String>,
}

/// Kinds the cluster tests create in namespace `demo`.
const KINDS: [(&str, &str); 4] = [("v1", "ConfigMap"), ("v1", "Secret"), ("apps/v1", "Deployment"), ("v1", "Service")];

#[allow(dead_code, reason = "shared by the cluster test files; the others never start one")]
impl Writes {
    pub fn since_now(cluster: &Cluster) -> Writes {
        if cluster.is_emulated() {
            cluster.clear_request_log().expect("clearing the request log");
            return Writes { versions: BTreeMap::new() };
        }
        Writes { versions: versions(cluster) }
    }

    pub fn list(&self, cluster: &Cluster) -> Vec<String> {
        if cluster.is_emulated() {
            return writes(&cluster.request_log().expect("reading the request log"));
        }
        let now = versions(cluster);
        let mut changed: Vec<String> =
            now.iter().filter(|(k, v)| self.versions.get(*k) != Some(v)).map(|(k, _)| format!("changed {k}")).collect();
        changed.extend(self.versions.keys().filter(|k| !now.contains_key(*k)).map(|k| format!("deleted {k}")));
        changed
    }
}

/// `Kind name` → everything in namespace `demo`, and the namespace, as [`Writes`] compares
/// them.
fn versions(cluster: &Cluster) -> BTreeMap<String, String> {
    let mark = |o: &serde_json::Value| {
        let mut o = o.clone();
        let kdep: Vec<serde_json::Value> = o
            .pointer("/metadata/managedFields")
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
            .filter(|e| e.get("manager").and_then(serde_json::Value::as_str) == Some("kdep"))
            .cloned()
            .collect();
        if let Some(o) = o.as_object_mut() {
            o.remove("status");
        }
        if let Some(meta) = o.get_mut("metadata").and_then(serde_json::Value::as_object_mut) {
            // `generation` moves only with the spec, compared anyway, and for a Deployment with
            // its annotations, so with the controller's revision (left out below).
            meta.remove("resourceVersion");
            meta.remove("generation");
            meta.insert("managedFields".into(), kdep.into());
            if let Some(notes) = meta.get_mut("annotations").and_then(serde_json::Value::as_object_mut) {
                notes.remove("deployment.kubernetes.io/revision");
            }
        }
        // Keys sorted: the workspace's serde_json keeps insertion order (`preserve_order`),
        // and a server may reorder a map it rewrites.
        o.sort_all_objects();
        o.to_string()
    };
    let mut out = BTreeMap::new();
    if let Some(ns) = cluster.get("v1", "Namespace", None, "demo").expect("reading namespace demo") {
        out.insert("Namespace demo".to_owned(), mark(&ns));
    }
    for (api_version, kind) in KINDS {
        for o in cluster.list(api_version, kind, Some("demo"), None).expect("listing namespace demo") {
            let name = o.pointer("/metadata/name").and_then(serde_json::Value::as_str).unwrap_or_default();
            out.insert(format!("{kind} {name}"), mark(&o));
        }
    }
    out
}

/// Masks what differs between runs and clusters (UIDs, times, the resourceVersions a stale
/// plan names), so a snapshot taken on the emulator also holds on a real cluster.
#[allow(dead_code, reason = "shared by the cluster test files; the others never start one")]
pub fn stable(text: &str) -> String {
    let uid = regex::Regex::new(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").expect("regex");
    let time = regex::Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").expect("regex");
    let rv = regex::Regex::new(r"resourceVersion [0-9]+ → [0-9]+").expect("regex");
    let t = uid.replace_all(text, "[uid]");
    let t = time.replace_all(&t, "[time]");
    rv.replace_all(&t, "resourceVersion [a] → [b]").into_owned()
}

/// Error text without miette's line wrapping (its width depends on the message).
#[allow(dead_code, reason = "shared by the cluster test files; the others never start one")]
pub fn flat(text: &str) -> String {
    text.replace('│', " ").split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The writes (not dry runs) kdep sent, from an emulator's request log: the harness's own
/// requests (its user agent) and access reviews left out.
#[allow(dead_code, reason = "shared by the cluster test files; the others never start one")]
pub fn write_entries(log: &[LogEntry]) -> impl Iterator<Item = &LogEntry> {
    log.iter()
        .filter(|e| matches!(e.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE") && !e.dry_run)
        .filter(|e| !e.user_agent.starts_with("kdep-tests") && !e.path.contains("selfsubject"))
}

/// [`write_entries`] as `METHOD path` lines.
#[allow(dead_code, reason = "shared by the cluster test files; the others never start one")]
pub fn writes(log: &[LogEntry]) -> Vec<String> {
    write_entries(log).map(|e| format!("{} {}", e.method, e.path)).collect()
}

/// Runs `kdep ARGS` in `dir` with the cluster's kubeconfig in `KUBECONFIG`.
#[allow(dead_code, reason = "shared by the cluster test files; the others never start one")]
pub fn kdep(cluster: &Cluster, dir: &Path, args: &[&str]) -> Run {
    kdep_with(dir, args, |c| {
        c.env("KUBECONFIG", cluster.kubeconfig());
    })
}

/// Whether a live Deployment is ready, judged as `kubectl rollout status` (and kdep) do.
#[allow(dead_code, reason = "shared by the cluster test files; the others never start one")]
pub fn ready(deployment: &serde_json::Value) -> bool {
    let int = |p: &str| deployment.pointer(p).and_then(serde_json::Value::as_i64).unwrap_or(0);
    let replicas = deployment.pointer("/spec/replicas").and_then(serde_json::Value::as_i64).unwrap_or(1);
    int("/status/observedGeneration") >= int("/metadata/generation")
        && int("/status/updatedReplicas") >= replicas
        && int("/status/replicas") <= int("/status/updatedReplicas")
        && int("/status/availableReplicas") >= int("/status/updatedReplicas")
}

/// Waits (bounded: a real cluster may pull the image first) until Deployment `demo/NAME` is
/// ready. A real cluster's controller keeps writing a Deployment's status until then, and each
/// write is a new resourceVersion: a "nothing was written" or "the plan is still fresh" check
/// made earlier would see the controller, not kdep.
#[allow(dead_code, reason = "shared by the cluster test files; the others never start one")]
pub fn wait_until_ready(cluster: &Cluster, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let live = cluster.get("apps/v1", "Deployment", Some("demo"), name).expect("reading a Deployment");
        if live.as_ref().is_some_and(ready) {
            return;
        }
        assert!(Instant::now() < deadline, "Deployment demo/{name} did not become ready within 300 s");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The `deployment.kubernetes.io/revision` annotation a real Deployment controller writes
/// right after a Deployment `demo/NAME` is created: written here (as that controller) on the
/// emulator, which has none, and awaited on a real cluster, so a diff against the live object
/// has the same lines on both.
#[allow(dead_code, reason = "shared by the cluster test files; the others never start one")]
pub fn revision_written(cluster: &Cluster, name: &str) {
    let key = "deployment.kubernetes.io/revision";
    if cluster.is_emulated() {
        let patch = serde_json::json!({"metadata": {"annotations": {key: "1"}}});
        cluster.edit_as("kube-controller-manager", "apps/v1", "Deployment", Some("demo"), name, &patch).expect("edit");
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let live = cluster.get("apps/v1", "Deployment", Some("demo"), name).expect("reading a Deployment");
        if live.as_ref().and_then(|d| d.pointer("/metadata/annotations")).is_some_and(|a| a.get(key).is_some()) {
            return;
        }
        assert!(Instant::now() < deadline, "Deployment demo/{name} has no {key} annotation after 60 s");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `environment dev`, namespace `demo`: where every cluster test deploys.
#[allow(dead_code, reason = "shared by the cluster test files; the others never start one")]
pub const DEV: &str = "environment dev { namespace = \"demo\" }\n";

/// The templates the cluster test files share (module `templates` of [`package`]). A file
/// adds only a template that is its own (an autoscaled workload, a Job) with [`templates`].
/// Optional fields left unset are absent from the objects, so each file's apps state exactly
/// the fields its snapshots were taken with.
#[allow(dead_code, reason = "shared by the cluster test files; the others never start one")]
pub const TEMPLATES: &str = r#"template Config {
    name: string
    data: {string: string} = {}
    emit {
        apiVersion = "v1"
        kind = "ConfigMap"
        metadata = { name = name }
        data = data
    }
}

template Password {
    name: string
    password: string
    emit {
        apiVersion = "v1"
        kind = "Secret"
        metadata = { name = name }
        stringData = { password = password }
    }
}

template Web {
    name: string
    replicas: int = 1
    image: string = "nginx:1.27"
    /// The container's name; the app's name when unset.
    container: string?
    args: [string]?
    port: int?
    cpu: string?
    /// A ConfigMap `<name>-config` with this data, part of the same app.
    config: {string: string}?
    emit if config != null {
        {
            apiVersion = "v1"
            kind = "ConfigMap"
            metadata.name = "${name}-config"
            data = config
        }
    }
    emit {
        apiVersion = "apps/v1"
        kind = "Deployment"
        metadata = { name = name, labels = { app = name } }
        spec.replicas = replicas
        spec.selector.matchLabels = { app = name }
        spec.template.metadata.labels = { app = name }
        spec.template.spec.containers = [{
            name = if container == null { name } else { container }
            image = image
            args = args
            ports = if port == null { null } else { [{ containerPort = port }] }
            resources = if cpu == null { null } else { { requests.cpu = cpu } }
        }]
    }
}
"#;

/// [`TEMPLATES`] followed by a file's own templates.
#[allow(dead_code, reason = "shared by the cluster test files; the others never start one")]
pub fn templates(own: &str) -> String {
    format!("{TEMPLATES}\n{own}")
}

/// Writes package `demo` into `dir`: its environments, a `templates` module and an `apps.kdep`
/// that imports it, so each cluster test file states only its own templates and apps.
#[allow(dead_code, reason = "shared by the cluster test files; the others never start one")]
pub fn write_package(dir: &Path, envs: &str, templates: &str, apps: &str) {
    let files = [
        ("kdep.toml", "[package]\nname = \"demo\"\nversion = \"0.1.0\"\n".to_owned()),
        ("environments.kdep", envs.to_owned()),
        ("templates.kdep", templates.to_owned()),
        ("apps.kdep", format!("import templates\n\n{apps}")),
    ];
    for (name, text) in files {
        std::fs::write(dir.join(name), text).expect("write the test package");
    }
}

/// [`write_package`] into a fresh temporary folder.
#[allow(dead_code, reason = "shared by the cluster test files; the others never start one")]
pub fn package(envs: &str, templates: &str, apps: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    write_package(dir.path(), envs, templates, apps);
    dir
}
