//! Waiting for rollouts: when a Deployment, StatefulSet, DaemonSet, Job or Argo Rollout is
//! ready, judged from its status the way `kubectl rollout status` does.

use std::time::{Duration, Instant};

use kube::api::{Api, DynamicObject};
use serde_json::Value;

use crate::connect::Session;
use crate::object::ObjKey;

/// Where a workload's rollout stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    Ready,
    Waiting(String),
    Failed(String),
}

/// Whether kdep waits for this kind.
pub fn is_workload(key: &ObjKey) -> bool {
    matches!(
        (key.group(), key.kind.as_str()),
        ("apps", "Deployment" | "StatefulSet" | "DaemonSet") | ("batch", "Job") | ("argoproj.io", "Rollout")
    )
}

fn int(v: &Value, ptr: &str) -> i64 {
    v.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

fn condition<'a>(v: &'a Value, kind: &str) -> Option<&'a Value> {
    v.pointer("/status/conditions")?.as_array()?.iter().find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
}

fn cond_is(c: Option<&Value>, status: &str) -> bool {
    c.and_then(|c| c.get("status")).and_then(Value::as_str) == Some(status)
}

fn cond_text(c: Option<&Value>) -> String {
    let f = |k: &str| c.and_then(|c| c.get(k)).and_then(Value::as_str).unwrap_or("").to_owned();
    let (r, m) = (f("reason"), f("message"));
    match (r.is_empty(), m.is_empty()) {
        (false, false) => format!("{r}: {m}"),
        (false, true) => r,
        (true, _) => m,
    }
}

/// The rollout state of a live workload.
pub fn state(kind: &str, v: &Value) -> State {
    let generation = int(v, "/metadata/generation");
    let observed = int(v, "/status/observedGeneration");
    let replicas = v.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
    match kind {
        "Deployment" => {
            let progressing = condition(v, "Progressing");
            if cond_text(progressing).starts_with("ProgressDeadlineExceeded") {
                return State::Failed(cond_text(progressing));
            }
            if observed < generation {
                return State::Waiting("waiting for the controller to see the new spec".into());
            }
            let updated = int(v, "/status/updatedReplicas");
            let total = int(v, "/status/replicas");
            let available = int(v, "/status/availableReplicas");
            if updated < replicas {
                State::Waiting(format!("{updated} of {replicas} replicas updated"))
            } else if total > updated {
                State::Waiting(format!("{} old replicas pending termination", total - updated))
            } else if available < updated {
                State::Waiting(format!("{available} of {updated} updated replicas available"))
            } else {
                State::Ready
            }
        }
        "StatefulSet" => {
            if observed < generation {
                return State::Waiting("waiting for the controller to see the new spec".into());
            }
            let ready = int(v, "/status/readyReplicas");
            let updated = int(v, "/status/updatedReplicas");
            if ready < replicas {
                State::Waiting(format!("{ready} of {replicas} replicas ready"))
            } else if updated < replicas {
                State::Waiting(format!("{updated} of {replicas} replicas updated"))
            } else {
                State::Ready
            }
        }
        "DaemonSet" => {
            if observed < generation {
                return State::Waiting("waiting for the controller to see the new spec".into());
            }
            let desired = int(v, "/status/desiredNumberScheduled");
            let updated = int(v, "/status/updatedNumberScheduled");
            let available = int(v, "/status/numberAvailable");
            if updated < desired {
                State::Waiting(format!("{updated} of {desired} pods updated"))
            } else if available < desired {
                State::Waiting(format!("{available} of {desired} pods available"))
            } else {
                State::Ready
            }
        }
        "Job" => {
            if cond_is(condition(v, "Failed"), "True") {
                State::Failed(cond_text(condition(v, "Failed")))
            } else if cond_is(condition(v, "Complete"), "True") {
                State::Ready
            } else {
                State::Waiting(format!(
                    "{} succeeded, {} active",
                    int(v, "/status/succeeded"),
                    int(v, "/status/active")
                ))
            }
        }
        "Rollout" => match v.pointer("/status/phase").and_then(Value::as_str) {
            Some("Healthy") => State::Ready,
            Some("Degraded") => {
                State::Failed(v.pointer("/status/message").and_then(Value::as_str).unwrap_or("Degraded").into())
            }
            Some(p) => State::Waiting(format!("phase {p}")),
            None => State::Waiting("no status yet".into()),
        },
        _ => State::Ready,
    }
}

/// A line of progress: a workload and what it is waiting for.
pub type Progress<'a> = &'a mut dyn FnMut(&ObjKey, &State);

/// Polls the workloads until each is ready or failed, or the timeout passes. Returns what did
/// not become ready, with why. `on_change` hears every state change.
pub async fn wait(
    session: &Session,
    keys: &[ObjKey],
    timeout: Duration,
    on_change: Progress<'_>,
) -> Vec<(ObjKey, String)> {
    let start = Instant::now();
    let mut pending: Vec<(ObjKey, Option<State>)> =
        keys.iter().filter(|k| is_workload(k)).map(|k| (k.clone(), None)).collect();
    let mut failed = Vec::new();
    loop {
        let mut next = Vec::new();
        for (key, last) in pending {
            let st = match read(session, &key).await {
                Ok(Some(v)) => state(&key.kind, &v),
                Ok(None) => State::Failed("the object is gone".into()),
                Err(m) => State::Waiting(format!("cannot read it: {m}")),
            };
            if last.as_ref() != Some(&st) {
                on_change(&key, &st);
            }
            match st {
                State::Ready => {}
                State::Failed(why) => failed.push((key, why)),
                State::Waiting(_) => next.push((key, Some(st))),
            }
        }
        pending = next;
        if pending.is_empty() {
            return failed;
        }
        if start.elapsed() >= timeout {
            for (key, st) in pending {
                let why = match st {
                    Some(State::Waiting(w)) => format!("not ready after {}s: {w}", timeout.as_secs()),
                    _ => format!("not ready after {}s", timeout.as_secs()),
                };
                failed.push((key, why));
            }
            return failed;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Reads the live object of `key` (`None`: absent, or its kind is not served).
pub async fn read(session: &Session, key: &ObjKey) -> Result<Option<Value>, String> {
    let res = match session.resource(&key.api_version, &key.kind).await {
        Ok(Some(r)) => r,
        Ok(None) => return Ok(None),
        Err(e) => return Err(e.message),
    };
    let api: Api<DynamicObject> = match key.namespace.as_deref() {
        Some(ns) if res.namespaced => Api::namespaced_with(session.client.clone(), ns, &res.api),
        _ => Api::all_with(session.client.clone(), &res.api),
    };
    match session.retrying(|| api.get_opt(&key.name)).await {
        Ok(o) => Ok(o.map(|o| serde_json::to_value(o).unwrap_or(Value::Null))),
        Err(e) => Err(crate::error::describe(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deployment_states() {
        let d = json!({"metadata": {"generation": 2}, "spec": {"replicas": 3},
            "status": {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3}});
        assert_eq!(state("Deployment", &d), State::Ready);
        let d = json!({"metadata": {"generation": 2}, "spec": {"replicas": 3},
            "status": {"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3}});
        assert!(matches!(state("Deployment", &d), State::Waiting(_)));
        let d = json!({"metadata": {"generation": 1}, "spec": {"replicas": 3}, "status": {"observedGeneration": 1,
            "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "too slow"}]}});
        assert_eq!(state("Deployment", &d), State::Failed("ProgressDeadlineExceeded: too slow".into()));
    }

    #[test]
    fn job_states() {
        let j =
            json!({"status": {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}});
        assert_eq!(state("Job", &j), State::Failed("BackoffLimitExceeded".into()));
        let j = json!({"status": {"conditions": [{"type": "Complete", "status": "True"}]}});
        assert_eq!(state("Job", &j), State::Ready);
    }
}
