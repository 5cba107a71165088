//! From kubeconfig to a client: files and contexts resolved as kubectl does, kinds resolved
//! through discovery, and every request retried on 429 and 5xx with backoff and jitter.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::Scope;
use kube::Client;

use crate::error::{describe, hint_for, status_code, Error};

/// Which cluster to talk to: an explicit kubeconfig file (else `KUBECONFIG`, which may list
/// several files, else `~/.kube/config`) and a context (else the file's current context).
#[derive(Clone, Debug, Default)]
pub struct Target {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
}

/// How a kind is served.
#[derive(Clone, Debug)]
pub struct Resource {
    pub api: ApiResource,
    pub namespaced: bool,
}

/// A connected client plus what it learnt about the cluster's kinds.
pub struct Session {
    pub client: Client,
    /// The context in use (for messages).
    pub context: String,
    /// The server URL (for messages).
    pub server: String,
    kinds: Mutex<HashMap<(String, String), Resource>>,
    /// Retry policy; tests of the policy shorten it.
    pub retry: Retry,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("context", &self.context).field("server", &self.server).finish()
    }
}

/// Loads the kubeconfig like kubectl: `--kubeconfig` alone if given, else every file in
/// `KUBECONFIG` merged (first one wins per entry), else `~/.kube/config`.
fn load_kubeconfig(target: &Target) -> Result<Kubeconfig, Error> {
    let loaded = match &target.kubeconfig {
        Some(path) => Kubeconfig::read_from(path).map_err(|e| {
            Error::new(format!("cannot read kubeconfig `{}`: {e}", path.display()))
                .hint("pass a readable kubeconfig file with --kubeconfig")
        })?,
        None => match Kubeconfig::from_env() {
            Ok(Some(kc)) => kc,
            Ok(None) => Kubeconfig::read().map_err(|e| {
                Error::new(format!("no kubeconfig: KUBECONFIG is not set and ~/.kube/config cannot be read ({e})"))
                    .hint("set KUBECONFIG or pass --kubeconfig FILE")
            })?,
            Err(e) => {
                return Err(Error::new(format!("cannot read the kubeconfig files in KUBECONFIG: {e}"))
                    .hint("KUBECONFIG is a list of files separated by `:`; each must be a readable kubeconfig"))
            }
        },
    };
    Ok(loaded)
}

/// Connects to the cluster of `target`. Nothing is sent yet: the first request (usually the
/// preflight) is what reveals a bad certificate or token.
pub async fn connect(target: &Target) -> Result<Session, Error> {
    let kc = load_kubeconfig(target)?;
    let context = match target.context.clone().or_else(|| kc.current_context.clone()) {
        Some(c) => c,
        None => {
            return Err(Error::new("the kubeconfig has no current context and none was given")
                .hint(format!("pass --context NAME{}", known_contexts(&kc))))
        }
    };
    if !kc.contexts.iter().any(|c| c.name == context) {
        return Err(Error::new(format!("context `{context}` is not in the kubeconfig"))
            .hint(format!("set the environment's `context` or pass --context NAME{}", known_contexts(&kc))));
    }
    let opts = KubeConfigOptions { context: Some(context.clone()), cluster: None, user: None };
    let mut config = kube::Config::from_custom_kubeconfig(kc, &opts)
        .await
        .map_err(|e| Error::new(format!("kubeconfig context `{context}` cannot be used: {e}")))?;
    // A dead server must not hang a deploy for minutes; watches are not used.
    config.connect_timeout = Some(Duration::from_secs(10));
    config.read_timeout = Some(Duration::from_secs(60));
    let server = config.cluster_url.to_string();
    let client = Client::try_from(config)
        .map_err(|e| Error::new(format!("cannot set up a client for context `{context}`: {}", describe(&e))))?;
    Ok(Session { client, context, server, kinds: Mutex::new(HashMap::new()), retry: Retry::default() })
}

fn known_contexts(kc: &Kubeconfig) -> String {
    let names: Vec<&str> = kc.contexts.iter().map(|c| c.name.as_str()).collect();
    if names.is_empty() {
        String::new()
    } else {
        format!("; the kubeconfig has: {}", names.join(", "))
    }
}

/// Backoff for retried requests.
#[derive(Clone, Debug)]
pub struct Retry {
    pub attempts: u32,
    pub base: Duration,
    pub max: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry { attempts: 5, base: Duration::from_millis(100), max: Duration::from_secs(5) }
    }
}

/// Whether a failed request may succeed when sent again: throttling, server errors and
/// transport failures. Every request kdep sends is idempotent (GET, apply, a delete with a UID
/// precondition), so resending one after a lost answer is safe.
fn retryable(err: &kube::Error) -> bool {
    match status_code(err) {
        Some(code) => code == 429 || (500..600).contains(&code) && code != 501,
        None => matches!(err, kube::Error::HyperError(_) | kube::Error::Service(_)),
    }
}

/// How long the server asked us to wait (`Retry-After` is carried as `retryAfterSeconds`).
fn retry_after(err: &kube::Error) -> Option<Duration> {
    match err {
        kube::Error::Api(status) => status
            .details
            .as_ref()
            .map(|d| d.retry_after_seconds)
            .filter(|s| *s > 0)
            .map(|s| Duration::from_secs(u64::from(s))),
        _ => None,
    }
}

impl Session {
    /// Runs `op` until it succeeds, fails for good, or the attempts run out. Waits grow
    /// exponentially with full jitter so parallel requests do not retry in lockstep.
    pub async fn retrying<T, F, Fut>(&self, mut op: F) -> Result<T, kube::Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, kube::Error>>,
    {
        let mut attempt = 0;
        loop {
            match op().await {
                Ok(v) => return Ok(v),
                Err(e) if attempt + 1 < self.retry.attempts && retryable(&e) => {
                    let cap = self.retry.base.saturating_mul(1 << attempt.min(16)).min(self.retry.max);
                    let jitter = cap.mul_f64(fastrand::f64());
                    let wait = retry_after(&e).map_or(jitter, |ra| ra.min(self.retry.max).max(jitter));
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// How `apiVersion`/`kind` is served, from discovery (cached). `Ok(None)`: the cluster does
    /// not serve it (yet: a CRD applied in the same run).
    pub async fn resource(&self, api_version: &str, kind: &str) -> Result<Option<Resource>, Error> {
        let key = (api_version.to_owned(), kind.to_owned());
        if let Some(r) = self.kinds.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(Some(r));
        }
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let found = self.retrying(|| kube::discovery::pinned_kind(&self.client, &gvk)).await;
        match found {
            Ok((api, caps)) => {
                let r = Resource { api, namespaced: caps.scope == Scope::Namespaced };
                if let Ok(mut m) = self.kinds.lock() {
                    m.insert(key, r.clone());
                }
                Ok(Some(r))
            }
            Err(e) if status_code(&e) == Some(404) || matches!(e, kube::Error::Discovery(_)) => Ok(None),
            Err(e) => Err(self.request_error(&format!("discovering {kind} ({api_version})"), &e)),
        }
    }

    /// Forgets what discovery said (after CRDs were established).
    pub fn forget_kinds(&self) {
        if let Ok(mut m) = self.kinds.lock() {
            m.clear();
        }
    }

    /// An error for a failed request, naming the context and server and with a hint.
    pub fn request_error(&self, what: &str, err: &kube::Error) -> Error {
        let e = Error::new(format!("{what} failed on context `{}` ({}): {}", self.context, self.server, describe(err)));
        match hint_for(err) {
            Some(h) => e.hint(h),
            None => e,
        }
    }
}
