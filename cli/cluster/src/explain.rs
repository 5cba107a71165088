//! Why a workload is not ready, in a few lines: its failing pods with their waiting and
//! terminated reasons (ImagePullBackOff, CrashLoopBackOff, OOMKilled, Unschedulable), the last
//! warning events about the workload, its ReplicaSets and its pods, and the last lines of the
//! failing container's log. `kdep apply` (after its wait) and `kdep status` both print this;
//! the reading lives here once.
//!
//! Pods are found as the controllers find them: the workload's label selector, then kept only
//! when their owner references lead back to the workload (directly, or through a ReplicaSet
//! the workload owns), so a pod of another workload with overlapping labels is never blamed.

use kube::api::{Api, DynamicObject, ListParams, LogParams};
use serde::Serialize;
use serde_json::Value;

use crate::connect::Session;
use crate::object::ObjKey;

/// At most this many failing pods are shown one by one (the rest are counted).
pub const MAX_PODS: usize = 3;
/// At most this many warning events are shown (the most recent).
pub const MAX_EVENTS: usize = 5;
/// Lines of the failing container's log shown.
pub const LOG_LINES: u32 = 10;
/// Most bytes of log read (a container can write one enormous line).
pub const LOG_BYTES: i64 = 16 * 1024;

/// A pod that is not ready, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PodProblem {
    pub name: String,
    pub phase: String,
    /// One line per cause: `container web: CrashLoopBackOff (restarted 5 times, last exit: OOMKilled, code 137)`.
    pub reasons: Vec<String>,
}

/// A warning event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EventLine {
    /// `Pod web-6d4c9-abcde`.
    pub object: String,
    pub reason: String,
    pub message: String,
    pub count: i64,
    #[serde(skip)]
    time: String,
}

/// The tail of a container's log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LogTail {
    pub pod: String,
    pub container: String,
    /// The log of the previous (crashed) run, as `kubectl logs --previous`.
    pub previous: bool,
    pub lines: Vec<String>,
}

/// Everything said about one workload that is not ready.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// Failing pods, at most [`MAX_PODS`].
    pub pods: Vec<PodProblem>,
    /// Failing pods not listed.
    #[serde(rename = "morePods", skip_serializing_if = "is_zero")]
    pub more_pods: usize,
    /// The most recent warning events, oldest first.
    pub events: Vec<EventLine>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<LogTail>,
    /// What could not be read (permissions, a lost connection): the explanation is partial.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unavailable: Vec<String>,
}

/// Text from the cluster (log lines, event and status messages) as it may be printed on a
/// terminal: control characters (an escape sequence a container writes to its log could
/// recolour or rewrite the operator's terminal) become U+FFFD; tabs stay.
pub fn printable(text: &str) -> String {
    text.chars().map(|c| if c.is_control() && c != '\t' { '\u{fffd}' } else { c }).collect()
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

fn name_of(v: &Value) -> String {
    s(v, "/metadata/name").to_owned()
}

/// The label selector of a workload as a list-request string (`matchLabels` and
/// `matchExpressions`); `None` when it has none (nothing to select).
pub fn selector_string(workload: &Value) -> Option<String> {
    let sel = workload.pointer("/spec/selector")?;
    let mut parts = Vec::new();
    if let Some(m) = sel.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in m {
            parts.push(format!("{k}={}", v.as_str().unwrap_or_default()));
        }
    }
    for e in sel.get("matchExpressions").and_then(Value::as_array).into_iter().flatten() {
        let key = s(e, "/key");
        let values: Vec<&str> =
            e.get("values").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
        match s(e, "/operator") {
            "In" => parts.push(format!("{key} in ({})", values.join(","))),
            "NotIn" => parts.push(format!("{key} notin ({})", values.join(","))),
            "Exists" => parts.push(key.to_owned()),
            "DoesNotExist" => parts.push(format!("!{key}")),
            _ => {}
        }
    }
    (!parts.is_empty()).then(|| parts.join(","))
}

/// Whether `obj` names an owner with this uid.
pub fn owned_by(obj: &Value, uid: &str) -> bool {
    !uid.is_empty()
        && obj
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .is_some_and(|refs| refs.iter().any(|r| s(r, "/uid") == uid))
}

/// A workload's ReplicaSets (for Deployments and Argo Rollouts) and pods, as live objects.
#[derive(Clone, Debug, Default)]
pub struct Family {
    pub replica_sets: Vec<Value>,
    pub pods: Vec<Value>,
}

async fn list(
    session: &Session,
    api_version: &str,
    kind: &str,
    ns: &str,
    lp: &ListParams,
) -> Result<Vec<Value>, String> {
    let res = match session.resource(api_version, kind).await {
        Ok(Some(r)) => r,
        Ok(None) => return Ok(Vec::new()),
        Err(e) => return Err(e.message),
    };
    let api: Api<DynamicObject> = Api::namespaced_with(session.client.clone(), ns, &res.api);
    match session.retrying(|| api.list(lp)).await {
        Ok(l) => Ok(l.items.iter().map(|o| serde_json::to_value(o).unwrap_or(Value::Null)).collect()),
        Err(e) => Err(format!("listing {kind}s in {ns}: {}", crate::error::describe(&e))),
    }
}

/// Reads the ReplicaSets and pods of a live workload (owner references through the
/// workload's selector), sorted by name.
pub async fn family(session: &Session, key: &ObjKey, live: &Value) -> Result<Family, String> {
    let Some(ns) = key.namespace.as_deref() else { return Ok(Family::default()) };
    let uid = s(live, "/metadata/uid");
    // A Job without an explicit selector gets one from the API server; `controller-uid`
    // is what it always carries.
    let selector = selector_string(live).or_else(|| (key.kind == "Job").then(|| format!("controller-uid={uid}")));
    let Some(selector) = selector else { return Ok(Family::default()) };
    let lp = ListParams::default().labels(&selector);
    let mut family = Family::default();
    if matches!(key.kind.as_str(), "Deployment" | "Rollout") {
        family.replica_sets =
            list(session, "apps/v1", "ReplicaSet", ns, &lp).await?.into_iter().filter(|r| owned_by(r, uid)).collect();
    }
    let rs_uids: Vec<String> = family.replica_sets.iter().map(|r| s(r, "/metadata/uid").to_owned()).collect();
    family.pods = list(session, "v1", "Pod", ns, &lp)
        .await?
        .into_iter()
        .filter(|p| owned_by(p, uid) || rs_uids.iter().any(|u| owned_by(p, u)))
        .collect();
    family.replica_sets.sort_by_key(name_of);
    family.pods.sort_by_key(name_of);
    Ok(family)
}

/// Whether a pod counts as ready (phase Running, condition Ready=True; a finished Job pod
/// counts as well).
pub fn pod_ready(pod: &Value) -> bool {
    if s(pod, "/status/phase") == "Succeeded" {
        return true;
    }
    let ready_cond = pod
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| s(c, "/type") == "Ready"))
        .map(|c| s(c, "/status") == "True");
    let containers_ready = pod
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .is_some_and(|cs| !cs.is_empty() && cs.iter().all(|c| c.get("ready") == Some(&Value::Bool(true))));
    s(pod, "/status/phase") == "Running" && ready_cond.unwrap_or(containers_ready)
}

/// Waiting reasons that are a normal step of starting a container, not a failure.
fn starting(reason: &str) -> bool {
    matches!(reason, "" | "ContainerCreating" | "PodInitializing")
}

fn with_message(reason: &str, message: &str) -> String {
    if message.is_empty() {
        reason.to_owned()
    } else {
        format!("{reason}: {}", message.trim())
    }
}

/// Why a pod is not ready, one line per cause (empty when it is ready).
pub fn pod_reasons(pod: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let unscheduled = pod
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| s(c, "/type") == "PodScheduled" && s(c, "/status") == "False"));
    if let Some(c) = unscheduled {
        out.push(format!("not scheduled: {}", with_message(s(c, "/reason"), s(c, "/message"))));
        return out;
    }
    let statuses = ["/status/initContainerStatuses", "/status/containerStatuses"];
    for (i, ptr) in statuses.iter().enumerate() {
        for c in pod.pointer(ptr).and_then(Value::as_array).into_iter().flatten() {
            let label = if i == 0 { "init container" } else { "container" };
            let name = s(c, "/name");
            let restarts = c.get("restartCount").and_then(Value::as_i64).unwrap_or(0);
            let last = c.pointer("/lastState/terminated");
            let mut line = if let Some(w) = c.pointer("/state/waiting") {
                let reason = s(w, "/reason");
                if starting(reason) && last.is_none() {
                    continue;
                }
                // A crash loop's message repeats the pod name; the reason and the last exit say more.
                if reason == "CrashLoopBackOff" {
                    reason.to_owned()
                } else {
                    with_message(reason, s(w, "/message"))
                }
            } else if let Some(t) = c.pointer("/state/terminated") {
                let code = t.get("exitCode").and_then(Value::as_i64).unwrap_or(0);
                if code == 0 {
                    continue;
                }
                format!("terminated: {} (exit code {code})", with_message(s(t, "/reason"), s(t, "/message")))
            } else if c.get("ready") == Some(&Value::Bool(false)) && i == 1 {
                "running but not ready (its readiness probe fails)".to_owned()
            } else {
                continue;
            };
            let mut extra = Vec::new();
            if restarts > 0 {
                extra.push(format!("restarted {restarts} time{}", if restarts == 1 { "" } else { "s" }));
            }
            if let Some(t) = last {
                let code = t.get("exitCode").and_then(Value::as_i64).unwrap_or(0);
                extra.push(format!("last exit: {}, code {code}", s(t, "/reason")));
            }
            if !extra.is_empty() {
                line.push_str(&format!(" ({})", extra.join(", ")));
            }
            out.push(format!("{label} {name}: {line}"));
        }
    }
    if out.is_empty() && !pod_ready(pod) {
        let phase = s(pod, "/status/phase");
        if phase == "Failed" {
            // Evicted, DeadlineExceeded, ...: the pod's own reason when no container says more.
            let reason = s(pod, "/status/reason");
            let head = if reason.is_empty() { "failed".to_owned() } else { format!("failed: {reason}") };
            out.push(with_message(&head, s(pod, "/status/message")));
        }
    }
    out
}

/// The container whose log explains the failure: one that crashed (its previous run's log)
/// or terminated with an error. Image pulls and scheduling leave no log.
fn log_target(pod: &Value) -> Option<(String, bool)> {
    for ptr in ["/status/initContainerStatuses", "/status/containerStatuses"] {
        for c in pod.pointer(ptr).and_then(Value::as_array).into_iter().flatten() {
            let name = s(c, "/name").to_owned();
            if c.pointer("/state/terminated/exitCode").and_then(Value::as_i64).is_some_and(|e| e != 0) {
                return Some((name, false));
            }
            if c.pointer("/lastState/terminated").is_some() && c.pointer("/state/running").is_none() {
                return Some((name, true));
            }
        }
    }
    None
}

fn event_time(e: &Value) -> String {
    for p in
        ["/lastTimestamp", "/eventTime", "/series/lastObservedTime", "/firstTimestamp", "/metadata/creationTimestamp"]
    {
        let t = s(e, p);
        if !t.is_empty() {
            return t.to_owned();
        }
    }
    String::new()
}

/// Explains a workload from its live object and family.
pub async fn explain(session: &Session, key: &ObjKey, live: &Value, family: &Family) -> Explanation {
    let mut ex = Explanation::default();
    let failing: Vec<&Value> = family.pods.iter().filter(|p| !pod_ready(p)).collect();
    for pod in &failing {
        let reasons = pod_reasons(pod);
        if reasons.is_empty() {
            continue;
        }
        if ex.pods.len() < MAX_PODS {
            let reasons = reasons.iter().map(|r| printable(r)).collect();
            ex.pods.push(PodProblem { name: name_of(pod), phase: s(pod, "/status/phase").to_owned(), reasons });
        } else {
            ex.more_pods += 1;
        }
    }
    let Some(ns) = key.namespace.as_deref() else { return ex };

    // Warning events about the workload, its ReplicaSets and its failing pods.
    let mut about: Vec<(String, String)> = vec![(key.kind.clone(), key.name.clone())];
    about.extend(family.replica_sets.iter().map(|r| ("ReplicaSet".to_owned(), name_of(r))));
    about.extend(failing.iter().map(|p| ("Pod".to_owned(), name_of(p))));
    let lp = ListParams::default().fields("type=Warning");
    match list(session, "v1", "Event", ns, &lp).await {
        Ok(events) => {
            let mut lines: Vec<EventLine> = events
                .iter()
                .filter(|e| {
                    let (k, n) = (s(e, "/involvedObject/kind"), s(e, "/involvedObject/name"));
                    about.iter().any(|(ak, an)| ak == k && an == n)
                })
                .map(|e| EventLine {
                    object: format!("{} {}", s(e, "/involvedObject/kind"), s(e, "/involvedObject/name")),
                    reason: printable(s(e, "/reason")),
                    message: printable(s(e, "/message").trim()),
                    count: e.get("count").and_then(Value::as_i64).unwrap_or(1).max(1),
                    time: event_time(e),
                })
                .collect();
            lines.sort_by(|a, b| (&a.time, &a.object, &a.reason).cmp(&(&b.time, &b.object, &b.reason)));
            lines.dedup_by(|a, b| a.object == b.object && a.reason == b.reason && a.message == b.message);
            let skip = lines.len().saturating_sub(MAX_EVENTS);
            ex.events = lines.split_off(skip);
        }
        Err(m) => ex.unavailable.push(format!("events: {m}")),
    }

    // The log of the first failing pod whose container ran and failed.
    if let Some((pod, (container, previous))) = failing.iter().find_map(|p| log_target(p).map(|t| (name_of(p), t))) {
        let api: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(session.client.clone(), ns);
        // Bounded twice: a few lines, and a few KiB however long a line is.
        let lp = LogParams {
            container: Some(container.clone()),
            previous,
            tail_lines: Some(i64::from(LOG_LINES)),
            limit_bytes: Some(LOG_BYTES),
            ..LogParams::default()
        };
        match session.retrying(|| api.logs(&pod, &lp)).await {
            Ok(text) => {
                let lines: Vec<String> = text.lines().map(printable).collect();
                if !lines.is_empty() {
                    ex.log = Some(LogTail { pod, container, previous, lines });
                }
            }
            Err(e) => ex.unavailable.push(format!("log of {pod}/{container}: {}", crate::error::describe(&e))),
        }
    }
    let _ = live;
    ex
}

/// Reads a workload and its family, then explains it (what `apply` prints for a workload
/// that did not become ready).
pub async fn explain_key(session: &Session, key: &ObjKey) -> Explanation {
    let live = match crate::rollout::read(session, key).await {
        Ok(Some(v)) => v,
        Ok(None) => return Explanation::default(),
        Err(m) => return Explanation { unavailable: vec![format!("{key}: {m}")], ..Explanation::default() },
    };
    match family(session, key, &live).await {
        Ok(f) => explain(session, key, &live, &f).await,
        Err(m) => Explanation { unavailable: vec![m], ..Explanation::default() },
    }
}

impl Explanation {
    /// Whether there is anything to say.
    pub fn is_empty(&self) -> bool {
        self.pods.is_empty() && self.events.is_empty() && self.log.is_none() && self.unavailable.is_empty()
    }

    /// The human rendering, each line indented by `indent`.
    pub fn render(&self, indent: &str) -> String {
        let mut out = String::new();
        for p in &self.pods {
            let phase = if p.phase.is_empty() { String::new() } else { format!(" ({})", p.phase) };
            match p.reasons.as_slice() {
                [one] => out.push_str(&format!("{indent}pod {}{phase}: {one}\n", p.name)),
                many => {
                    out.push_str(&format!("{indent}pod {}{phase}:\n", p.name));
                    for r in many {
                        out.push_str(&format!("{indent}  {r}\n"));
                    }
                }
            }
        }
        if self.more_pods > 0 {
            out.push_str(&format!("{indent}and {} more failing pod(s)\n", self.more_pods));
        }
        if !self.events.is_empty() {
            out.push_str(&format!("{indent}warning events:\n"));
            for e in &self.events {
                let times = if e.count > 1 { format!(" (x{})", e.count) } else { String::new() };
                out.push_str(&format!("{indent}  {} {}: {}{times}\n", e.object, e.reason, e.message));
            }
        }
        if let Some(l) = &self.log {
            let which = if l.previous { "previous run, " } else { "" };
            out.push_str(&format!(
                "{indent}log of {}/{} ({which}last {} line{}):\n",
                l.pod,
                l.container,
                l.lines.len(),
                if l.lines.len() == 1 { "" } else { "s" }
            ));
            for line in &l.lines {
                out.push_str(&format!("{indent}  | {line}\n"));
            }
        }
        for u in &self.unavailable {
            out.push_str(&format!("{indent}could not read {u}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reasons_of_each_failure() {
        let pull = json!({"status": {"phase": "Pending", "containerStatuses": [{"name": "web", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"nginx:9\""}}}]}});
        assert_eq!(pod_reasons(&pull), ["container web: ImagePullBackOff: Back-off pulling image \"nginx:9\""]);
        let oom = json!({"status": {"phase": "Running", "containerStatuses": [{"name": "web", "ready": false, "restartCount": 3,
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}},
            "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}]}});
        assert_eq!(
            pod_reasons(&oom),
            ["container web: CrashLoopBackOff (restarted 3 times, last exit: OOMKilled, code 137)"]
        );
        assert_eq!(log_target(&oom), Some(("web".into(), true)));
        let unsched = json!({"status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
            "reason": "Unschedulable", "message": "0/3 nodes are available: 3 Insufficient memory."}]}});
        assert_eq!(
            pod_reasons(&unsched),
            ["not scheduled: Unschedulable: 0/3 nodes are available: 3 Insufficient memory."]
        );
        assert_eq!(log_target(&unsched), None);
        let creating = json!({"status": {"phase": "Pending", "containerStatuses": [{"name": "web", "ready": false,
            "state": {"waiting": {"reason": "ContainerCreating"}}}]}});
        assert!(pod_reasons(&creating).is_empty());
        let probe = json!({"status": {"phase": "Running", "containerStatuses": [{"name": "web", "ready": false,
            "state": {"running": {}}}]}});
        assert_eq!(pod_reasons(&probe), ["container web: running but not ready (its readiness probe fails)"]);
    }

    #[test]
    fn cluster_text_cannot_drive_the_terminal() {
        // A log line that would clear the screen and a message with a bell and a newline.
        assert_eq!(printable("ok\u{1b}[2J\u{1b}[31mred\tTAB"), "ok\u{fffd}[2J\u{fffd}[31mred\tTAB");
        assert_eq!(printable("a\u{7}b\rc\u{9b}d"), "a\u{fffd}b\u{fffd}c\u{fffd}d");
    }

    #[test]
    fn selectors_and_owners() {
        let d = json!({"spec": {"selector": {"matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}, {"key": "x", "operator": "DoesNotExist"}]}}});
        assert_eq!(selector_string(&d).as_deref(), Some("app=web,tier in (a,b),!x"));
        assert_eq!(selector_string(&json!({"spec": {}})), None);
        let p = json!({"metadata": {"ownerReferences": [{"uid": "u1"}]}});
        assert!(owned_by(&p, "u1") && !owned_by(&p, "u2") && !owned_by(&p, ""));
    }
}
