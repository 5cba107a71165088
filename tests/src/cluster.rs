//! Harness for tests that need a Kubernetes API server: builds, starts and stops the emulator.
//!
//! ```no_run
//! use kdep_tests::cluster::Cluster;
//! let cluster = Cluster::start().unwrap();
//! cluster.seed("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: default}\n").unwrap();
//! // point the CLI at cluster.kubeconfig() ...
//! ```
//!
//! The emulator (tests/kube-emulator) is built once per test process, started on
//! 127.0.0.1 on a free port and stopped when the [`Cluster`] is dropped (its stdin is
//! closed, which the emulator treats as "parent gone"; a kill follows if it lingers).
//!
//! With `KDEP_TEST_CLUSTER=kubeconfig` and `KUBECONFIG` set, or `KDEP_TEST_CLUSTER=<path of
//! a kubeconfig>`, [`Cluster::start`] uses that real cluster instead: the kubeconfig is handed out unchanged and the HTTP helpers
//! work when it authenticates with a bearer token; emulator-only hooks (faults, the
//! request log, the clock, rollout simulation) return [`Error::Unsupported`].

#![expect(
    clippy::indexing_slicing,
    reason = "JSON is read with `serde_json::Value[key]`, which yields Null for a missing key, and written only into objects built just above"
)]

use std::collections::HashMap;
use std::fmt;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Errors from the harness.
#[derive(Debug)]
pub enum Error {
    /// Building or starting the emulator failed.
    Start(String),
    /// Transport-level failure (connection refused, dropped, TLS).
    Transport(String),
    /// The server answered with a failure status.
    Api { status: u16, body: Value },
    /// Bad input (YAML, kubeconfig).
    Invalid(String),
    /// The hook exists only in the emulator, not on a real cluster.
    Unsupported(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Start(m) => write!(f, "emulator start: {m}"),
            Error::Transport(m) => write!(f, "transport: {m}"),
            Error::Api { status, body } => write!(f, "HTTP {status}: {body}"),
            Error::Invalid(m) => write!(f, "invalid input: {m}"),
            Error::Unsupported(m) => write!(f, "not available on a real cluster: {m}"),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// Start-up options for the emulator.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Fix the clock at this RFC 3339 time (creationTimestamp, managedFields times).
    pub clock: Option<String>,
    /// Hand out UIDs `00000000-0000-4000-8000-000000000001`, `...002`, ...
    pub sequential_uids: bool,
    /// Delay before an applied CRD becomes Established and its kinds are served.
    pub crd_establish_delay: Option<Duration>,
    /// Keep deleted namespaces Terminating this long (creates inside get 403).
    pub namespace_deletion_delay: Option<Duration>,
}

/// A response from the cluster.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// The decoded JSON body, or `Value::Null` when the body is not JSON.
    pub body: Value,
    pub text: String,
    pub headers: Vec<(String, String)>,
}

impl Response {
    /// First header with this (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub(crate) fn ok(self) -> Result<Value> {
        if (200..300).contains(&self.status) {
            Ok(self.body)
        } else {
            Err(Error::Api { status: self.status, body: self.body })
        }
    }
}

/// A fault to inject into matching requests (emulator only).
#[derive(Debug, Clone)]
pub struct Fault {
    /// HTTP method to match (`None`: any).
    pub method: Option<String>,
    /// Regular expression on the URL path (`None`: any).
    pub path: Option<String>,
    pub action: FaultAction,
    /// Let this many matching requests through before firing.
    pub skip: u32,
    /// Fire this many times (at least 1).
    pub times: u32,
}

/// What an injected fault does.
#[derive(Debug, Clone)]
pub enum FaultAction {
    /// Answer with an error Status (e.g. 429 with `Retry-After`, 500, 503).
    Status { code: u16, retry_after: Option<u32> },
    /// Close the connection without answering; with `after_processing` the request is
    /// carried out first (the write happens, the client never learns it).
    Drop { after_processing: bool },
    /// Answer normally after a delay (capped at 30 s by the emulator).
    Delay(Duration),
}

impl Fault {
    /// A fault for every request matching `method` and `path` (regex), firing once.
    pub fn new(method: Option<&str>, path: Option<&str>, action: FaultAction) -> Fault {
        Fault { method: method.map(str::to_owned), path: path.map(str::to_owned), action, skip: 0, times: 1 }
    }

    /// Let `n` matching requests through first.
    pub fn skip(mut self, n: u32) -> Fault {
        self.skip = n;
        self
    }

    /// Fire `n` times.
    pub fn times(mut self, n: u32) -> Fault {
        self.times = n.max(1);
        self
    }

    fn to_json(&self) -> Value {
        let mut v = json!({"skip": self.skip, "times": self.times});
        if let Some(m) = &self.method {
            v["method"] = json!(m);
        }
        if let Some(p) = &self.path {
            v["path"] = json!(p);
        }
        match &self.action {
            FaultAction::Status { code, retry_after } => {
                v["action"] = json!("status");
                v["status"] = json!(code);
                if let Some(r) = retry_after {
                    v["retryAfter"] = json!(r);
                }
            }
            FaultAction::Drop { after_processing } => {
                v["action"] = json!("drop");
                v["after"] = json!(after_processing);
            }
            FaultAction::Delay(d) => {
                v["action"] = json!("delay");
                v["delayMs"] = json!(d.as_millis() as u64);
            }
        }
        v
    }
}

/// Rollout outcomes the emulator can write into a workload's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rollout {
    /// All replicas updated, ready and available.
    Complete,
    /// New pods exist but are not ready yet.
    Progressing,
    /// Deployment: Progressing=False, ProgressDeadlineExceeded.
    Stalled,
    /// Job: Failed=True, BackoffLimitExceeded.
    Failed,
}

impl Rollout {
    fn as_str(self) -> &'static str {
        match self {
            Rollout::Complete => "complete",
            Rollout::Progressing => "progressing",
            Rollout::Stalled => "stalled",
            Rollout::Failed => "failed",
        }
    }
}

/// One request seen by the emulator.
#[derive(Debug, Clone)]
pub struct LogEntry {
    pub seq: u64,
    pub method: String,
    pub path: String,
    pub query: String,
    pub status: u16,
    pub field_manager: String,
    pub dry_run: bool,
    pub user_agent: String,
    pub fault: Option<String>,
}

/// Where a kind is served.
#[derive(Debug, Clone)]
struct ResourceInfo {
    plural: String,
    namespaced: bool,
}

/// A running test cluster (the emulator, or a real cluster from `KUBECONFIG`).
pub struct Cluster {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    _dir: Option<tempfile::TempDir>,
    kubeconfig: PathBuf,
    readonly_kubeconfig: Option<PathBuf>,
    server: String,
    token: Option<String>,
    readonly_token: Option<String>,
    agent: ureq::Agent,
    resources: Mutex<HashMap<(String, String), ResourceInfo>>,
    emulated: bool,
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster")
            .field("server", &self.server)
            .field("kubeconfig", &self.kubeconfig)
            .field("emulated", &self.emulated)
            .finish()
    }
}

/// The emulator's source directory (tests/kube-emulator).
pub fn emulator_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("kube-emulator")
}

/// Builds the emulator binary once per process and returns its path.
pub fn emulator_binary() -> Result<PathBuf> {
    static BUILT: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let dir = emulator_dir();
            let out = Command::new(dir.join("build.sh")).output().map_err(|e| format!("running build.sh: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "build.sh failed ({}): {}{}",
                    out.status,
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            Ok(dir.join("bin").join("kube-emulator"))
        })
        .clone()
        .map_err(Error::Start)
}

impl Cluster {
    /// Starts an emulator with default options (or attaches to a real cluster when
    /// `KDEP_TEST_CLUSTER=kubeconfig`).
    pub fn start() -> Result<Cluster> {
        match std::env::var("KDEP_TEST_CLUSTER").as_deref() {
            Ok("kubeconfig") => return Cluster::from_kubeconfig_env(),
            // Any other value is the path of the kubeconfig itself.
            Ok(path) if !path.is_empty() => return Cluster::from_kubeconfig_path(Path::new(path)),
            _ => {}
        }
        Cluster::start_with(Options::default())
    }

    /// Starts an emulator with options.
    pub fn start_with(opts: Options) -> Result<Cluster> {
        let bin = emulator_binary()?;
        let dir = tempfile::tempdir().map_err(|e| Error::Start(e.to_string()))?;
        let kubeconfig = dir.path().join("kubeconfig");
        let mut cmd = Command::new(&bin);
        cmd.arg("--kubeconfig")
            .arg(&kubeconfig)
            .arg("--request-log")
            .arg(dir.path().join("requests.log"))
            .arg("--exit-on-stdin-eof");
        if let Some(c) = &opts.clock {
            cmd.arg("--clock").arg(c);
        }
        if opts.sequential_uids {
            cmd.arg("--sequential-uids");
        }
        if let Some(d) = opts.crd_establish_delay {
            cmd.arg("--crd-establish-delay").arg(format!("{}ms", d.as_millis()));
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| Error::Start(format!("spawning {}: {e}", bin.display())))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let first = lines.next();
            let _ = tx.send(first.and_then(|l| l.ok()));
            // Keep draining so the emulator never blocks on a full pipe.
            for _ in lines {}
        });
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Some(line)) if line.trim() == "ready" => {}
            other => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Error::Start(format!("emulator did not report ready: {other:?}")));
            }
        }
        let kc = std::fs::read_to_string(&kubeconfig).map_err(|e| Error::Start(format!("reading kubeconfig: {e}")))?;
        let parsed = parse_kubeconfig(&kc)?;
        let readonly_path = PathBuf::from(format!("{}.readonly", kubeconfig.display()));
        let ro = std::fs::read_to_string(&readonly_path)
            .map_err(|e| Error::Start(format!("reading read-only kubeconfig: {e}")))
            .and_then(|s| parse_kubeconfig(&s))?;
        Ok(Cluster {
            child: Some(child),
            stdin,
            _dir: Some(dir),
            kubeconfig,
            readonly_kubeconfig: Some(readonly_path),
            agent: make_agent(parsed.ca_pem.as_deref())?,
            server: parsed.server,
            token: parsed.token,
            readonly_token: ro.token,
            resources: Mutex::new(HashMap::new()),
            emulated: true,
        })
    }

    /// Attaches to the cluster named by `KUBECONFIG` (current context).
    pub fn from_kubeconfig_env() -> Result<Cluster> {
        let path = std::env::var("KUBECONFIG")
            .map_err(|_| Error::Invalid("KDEP_TEST_CLUSTER=kubeconfig needs KUBECONFIG".into()))?;
        Cluster::from_kubeconfig_path(Path::new(path.split(':').next().unwrap_or_default()))
    }

    /// Attaches to the cluster of a kubeconfig file's current context (no emulator hooks).
    pub fn from_kubeconfig_path(path: &Path) -> Result<Cluster> {
        let path = path.to_path_buf();
        let text = std::fs::read_to_string(&path).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
        let parsed = parse_kubeconfig(&text)?;
        Ok(Cluster {
            child: None,
            stdin: None,
            _dir: None,
            kubeconfig: path,
            readonly_kubeconfig: None,
            agent: make_agent(parsed.ca_pem.as_deref())?,
            server: parsed.server,
            token: parsed.token,
            readonly_token: None,
            resources: Mutex::new(HashMap::new()),
            emulated: false,
        })
    }

    /// True for the emulator, false for a real cluster.
    pub fn is_emulated(&self) -> bool {
        self.emulated
    }

    /// The admin kubeconfig to hand to the CLI under test.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// A kubeconfig whose token may only read (writes get 403 Forbidden).
    pub fn readonly_kubeconfig(&self) -> Result<&Path> {
        self.readonly_kubeconfig.as_deref().ok_or(Error::Unsupported("read-only kubeconfig"))
    }

    /// The API server URL (`https://127.0.0.1:<port>` for the emulator).
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Sends a request with the admin token. `path` includes any query string.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Option<&str>,
    ) -> Result<Response> {
        self.request_as(self.token.as_deref(), method, path, content_type, body)
    }

    /// Sends a request with the read-only token.
    pub fn request_readonly(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Option<&str>,
    ) -> Result<Response> {
        let tok = self.readonly_token.as_deref().ok_or(Error::Unsupported("read-only token"))?;
        self.request_as(Some(tok), method, path, content_type, body)
    }

    fn request_as(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Option<&str>,
    ) -> Result<Response> {
        let mut b = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{}", self.server, path))
            .header("Accept", "application/json")
            .header("User-Agent", "kdep-tests/0.1");
        if let Some(t) = token {
            b = b.header("Authorization", format!("Bearer {t}"));
        }
        if let Some(ct) = content_type {
            b = b.header("Content-Type", ct);
        }
        let req = b.body(body.unwrap_or("").as_bytes().to_vec()).map_err(|e| Error::Invalid(e.to_string()))?;
        let mut res = self.agent.run(req).map_err(|e| Error::Transport(e.to_string()))?;
        let status = res.status().as_u16();
        let headers = res
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
            .collect();
        let text = res
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_string()
            .map_err(|e| Error::Transport(e.to_string()))?;
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Response { status, body, text, headers })
    }

    /// Finds where `kind` of `api_version` is served, through discovery (cached).
    fn resource(&self, api_version: &str, kind: &str) -> Result<ResourceInfo> {
        let key = (api_version.to_owned(), kind.to_owned());
        if let Some(r) = self.resources.lock().expect("lock").get(&key) {
            return Ok(r.clone());
        }
        let path =
            if api_version.contains('/') { format!("/apis/{api_version}") } else { format!("/api/{api_version}") };
        let list = self.request("GET", &path, None, None)?.ok()?;
        let mut found = None;
        for r in list["resources"].as_array().into_iter().flatten() {
            let name = r["name"].as_str().unwrap_or_default();
            if r["kind"] == kind && !name.contains('/') {
                found = Some(ResourceInfo {
                    plural: name.to_owned(),
                    namespaced: r["namespaced"].as_bool().unwrap_or(false),
                });
            }
        }
        let info = found.ok_or_else(|| Error::Invalid(format!("{kind} is not served by {api_version}")))?;
        self.resources.lock().expect("lock").insert(key, info.clone());
        Ok(info)
    }

    /// URL path of an object (`name` empty: the collection).
    pub fn object_path(&self, api_version: &str, kind: &str, namespace: Option<&str>, name: &str) -> Result<String> {
        let r = self.resource(api_version, kind)?;
        let mut p =
            if api_version.contains('/') { format!("/apis/{api_version}") } else { format!("/api/{api_version}") };
        if r.namespaced {
            p.push_str(&format!("/namespaces/{}", namespace.unwrap_or("default")));
        }
        p.push('/');
        p.push_str(&r.plural);
        if !name.is_empty() {
            p.push('/');
            p.push_str(name);
        }
        Ok(p)
    }

    fn path_of(&self, obj: &Value) -> Result<String> {
        let av = obj["apiVersion"].as_str().ok_or_else(|| Error::Invalid("object without apiVersion".into()))?;
        let kind = obj["kind"].as_str().ok_or_else(|| Error::Invalid("object without kind".into()))?;
        let name =
            obj["metadata"]["name"].as_str().ok_or_else(|| Error::Invalid("object without metadata.name".into()))?;
        self.object_path(av, kind, obj["metadata"]["namespace"].as_str(), name)
    }

    /// Server-side applies one object as `manager`.
    pub fn apply_as(&self, manager: &str, obj: &Value, force: bool) -> Result<Value> {
        let path = self.path_of(obj)?;
        let q = format!("{path}?fieldManager={}{}", manager, if force { "&force=true" } else { "" });
        self.request("PATCH", &q, Some("application/apply-patch+yaml"), Some(&obj.to_string()))?.ok()
    }

    /// Applies every document of a (multi-document) YAML or JSON manifest with the
    /// field manager `kdep-test-seed`, in order, and returns the stored objects.
    pub fn seed(&self, manifest: &str) -> Result<Vec<Value>> {
        parse_documents(manifest)?.iter().map(|o| self.apply_as("kdep-test-seed", o, true)).collect()
    }

    /// Reads an object; `Ok(None)` on 404.
    pub fn get(&self, api_version: &str, kind: &str, namespace: Option<&str>, name: &str) -> Result<Option<Value>> {
        let path = self.object_path(api_version, kind, namespace, name)?;
        let r = self.request("GET", &path, None, None)?;
        if r.status == 404 {
            return Ok(None);
        }
        r.ok().map(Some)
    }

    /// Lists objects (namespace `None`: all namespaces), optionally by label selector.
    pub fn list(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        label_selector: Option<&str>,
    ) -> Result<Vec<Value>> {
        let r = self.resource(api_version, kind)?;
        let mut path = if r.namespaced && namespace.is_some() {
            self.object_path(api_version, kind, namespace, "")?
        } else {
            let base =
                if api_version.contains('/') { format!("/apis/{api_version}") } else { format!("/api/{api_version}") };
            format!("{base}/{}", r.plural)
        };
        if let Some(sel) = label_selector {
            path.push_str("?labelSelector=");
            path.push_str(&encode_query(sel));
        }
        let list = self.request("GET", &path, None, None)?.ok()?;
        Ok(list["items"].as_array().cloned().unwrap_or_default())
    }

    /// Edits an object out of band with a JSON merge patch under another field
    /// manager (an "Update" like `kubectl edit`/`scale` or a controller would make).
    pub fn edit_as(
        &self,
        manager: &str,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
        merge_patch: &Value,
    ) -> Result<Value> {
        let path = self.object_path(api_version, kind, namespace, name)?;
        self.request(
            "PATCH",
            &format!("{path}?fieldManager={manager}"),
            Some("application/merge-patch+json"),
            Some(&merge_patch.to_string()),
        )?
        .ok()
    }

    /// Writes a status through the `/status` subresource (merge patch of `status`).
    pub fn patch_status(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
        status: &Value,
    ) -> Result<Value> {
        let path = self.object_path(api_version, kind, namespace, name)?;
        self.request(
            "PATCH",
            &format!("{path}/status?fieldManager=kube-controller-manager"),
            Some("application/merge-patch+json"),
            Some(&json!({ "status": status }).to_string()),
        )?
        .ok()
    }

    /// Deletes an object; `Ok(false)` if it was not there.
    pub fn delete(&self, api_version: &str, kind: &str, namespace: Option<&str>, name: &str) -> Result<bool> {
        let path = self.object_path(api_version, kind, namespace, name)?;
        let r = self.request("DELETE", &path, None, None)?;
        if r.status == 404 {
            return Ok(false);
        }
        r.ok().map(|_| true)
    }

    pub(crate) fn hook(&self, method: &str, what: &'static str, body: Option<Value>) -> Result<Value> {
        if !self.emulated {
            return Err(Error::Unsupported(what));
        }
        let text = body.map(|b| b.to_string());
        self.request(method, &format!("/_emulator/{what}"), Some("application/json"), text.as_deref())?.ok()
    }

    /// Simulates the workload controller: writes the status of a Deployment,
    /// StatefulSet, ReplicaSet, DaemonSet or Job for the given outcome. For a Deployment it
    /// also creates the ReplicaSet of the current template and its pods (ready when
    /// `Complete`, `ContainerCreating` otherwise; see
    /// [`Cluster::set_rollout_failing`](crate::workloads) for pods that fail with a reason).
    pub fn set_rollout(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
        outcome: Rollout,
    ) -> Result<Value> {
        self.rollout_hook(api_version, kind, namespace, name, outcome, None)
    }

    pub(crate) fn rollout_hook(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
        outcome: Rollout,
        pod_reason: Option<&str>,
    ) -> Result<Value> {
        let mut body = json!({"apiVersion": api_version, "kind": kind, "namespace": namespace,
            "name": name, "outcome": outcome.as_str()});
        if let Some(r) = pod_reason {
            body["podReason"] = json!(r);
        }
        self.hook("POST", "rollout", Some(body))
    }

    /// Arms a fault.
    pub fn inject_fault(&self, fault: &Fault) -> Result<()> {
        self.hook("POST", "faults", Some(fault.to_json())).map(|_| ())
    }

    /// Disarms all faults.
    pub fn clear_faults(&self) -> Result<()> {
        self.hook("DELETE", "faults", None).map(|_| ())
    }

    /// The requests served so far (oldest first; hooks are not logged).
    pub fn request_log(&self) -> Result<Vec<LogEntry>> {
        let v = self.hook("GET", "log", None)?;
        Ok(v["entries"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| LogEntry {
                seq: e["seq"].as_u64().unwrap_or_default(),
                method: e["method"].as_str().unwrap_or_default().to_owned(),
                path: e["path"].as_str().unwrap_or_default().to_owned(),
                query: e["query"].as_str().unwrap_or_default().to_owned(),
                status: e["status"].as_u64().unwrap_or_default() as u16,
                field_manager: e["fieldManager"].as_str().unwrap_or_default().to_owned(),
                dry_run: e["dryRun"].as_bool().unwrap_or(false),
                user_agent: e["userAgent"].as_str().unwrap_or_default().to_owned(),
                fault: e["fault"].as_str().map(str::to_owned),
            })
            .collect())
    }

    /// Forgets the request log.
    pub fn clear_request_log(&self) -> Result<()> {
        self.hook("DELETE", "log", None).map(|_| ())
    }

    /// The human-readable request log file (one line per request).
    pub fn request_log_file(&self) -> Option<PathBuf> {
        self._dir.as_ref().map(|d| d.path().join("requests.log"))
    }

    /// Fixes the clock at an RFC 3339 time.
    pub fn set_clock(&self, rfc3339: &str) -> Result<()> {
        self.hook("POST", "clock", Some(json!({ "time": rfc3339 }))).map(|_| ())
    }

    /// Moves a fixed clock forward.
    pub fn advance_clock(&self, by: Duration) -> Result<()> {
        self.hook("POST", "clock", Some(json!({ "advanceSeconds": by.as_secs() }))).map(|_| ())
    }

    /// Changes the delay before newly applied CRDs become Established.
    pub fn set_crd_establish_delay(&self, delay: Duration) -> Result<()> {
        self.hook("POST", "crd-delay", Some(json!({ "milliseconds": delay.as_millis() as u64 }))).map(|_| ())
    }

    /// Changes how long deleted namespaces stay Terminating.
    pub fn set_namespace_deletion_delay(&self, delay: Duration) -> Result<()> {
        self.hook("POST", "namespace-delay", Some(json!({ "milliseconds": delay.as_millis() as u64 }))).map(|_| ())
    }

    /// Stops the emulator now (also done on drop). Returns whether it exited cleanly.
    pub fn stop(&mut self) -> bool {
        drop(self.stdin.take());
        let Some(mut child) = self.child.take() else {
            return true;
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            match child.try_wait() {
                Ok(Some(status)) => return status.success(),
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Err(_) => break,
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

struct KubeconfigInfo {
    server: String,
    ca_pem: Option<Vec<u8>>,
    token: Option<String>,
}

/// Reads server, CA and token of the current context (the subset the helpers use).
fn parse_kubeconfig(text: &str) -> Result<KubeconfigInfo> {
    let v: Value = serde_yaml::from_str(text).map_err(|e| Error::Invalid(format!("kubeconfig: {e}")))?;
    let current = v["current-context"].as_str().unwrap_or_default();
    let named = |list: &str, name: &str| -> Value {
        v[list].as_array().into_iter().flatten().find(|e| e["name"] == name).cloned().unwrap_or(Value::Null)
    };
    let ctx = named("contexts", current);
    let cluster = named("clusters", ctx["context"]["cluster"].as_str().unwrap_or_default());
    let user = named("users", ctx["context"]["user"].as_str().unwrap_or_default());
    let server = cluster["cluster"]["server"]
        .as_str()
        .ok_or_else(|| Error::Invalid("kubeconfig: no server".into()))?
        .trim_end_matches('/')
        .to_owned();
    let ca_pem = if let Some(data) = cluster["cluster"]["certificate-authority-data"].as_str() {
        Some(decode_base64(data)?)
    } else if let Some(file) = cluster["cluster"]["certificate-authority"].as_str() {
        Some(std::fs::read(file).map_err(|e| Error::Invalid(format!("{file}: {e}")))?)
    } else {
        None
    };
    Ok(KubeconfigInfo { server, ca_pem, token: user["user"]["token"].as_str().map(str::to_owned) })
}

fn make_agent(ca_pem: Option<&[u8]>) -> Result<ureq::Agent> {
    use ureq::tls::{Certificate, RootCerts, TlsConfig};
    let mut tls = TlsConfig::builder();
    if let Some(pem) = ca_pem {
        let cert = Certificate::from_pem(pem).map_err(|e| Error::Invalid(format!("CA: {e}")))?;
        tls = tls.root_certs(RootCerts::Specific(Arc::new(vec![cert])));
    }
    Ok(ureq::Agent::config_builder()
        .tls_config(tls.build())
        .http_status_as_error(false)
        .proxy(None)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into())
}

/// Minimal standard base64 decoder (kubeconfig `*-data` fields).
fn decode_base64(s: &str) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut buf = 0u32;
    let mut bits = 0;
    for c in s.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return Err(Error::Invalid("bad base64 in kubeconfig".into())),
        };
        buf = (buf << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
            buf &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

fn encode_query(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Splits a YAML (or JSON) manifest into objects, skipping empty documents.
pub fn parse_documents(manifest: &str) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(manifest) {
        let v: Value =
            serde::Deserialize::deserialize(doc).map_err(|e: serde_yaml::Error| Error::Invalid(e.to_string()))?;
        if !v.is_null() {
            out.push(v);
        }
    }
    Ok(out)
}
