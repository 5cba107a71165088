//! `kdep status`: per app, what should run against what runs — desired images against the
//! images of the live template, its ReplicaSets and its pods; ready against desired replicas;
//! the rollout state (with [`explain`](crate::explain) when not ready); the source revision
//! last applied (recorded on the ApplySet parent); and whether the app has drifted.
//!
//! "Drifted" is the comparison `kdep diff` makes (the same [`engine::preview`], a server-side
//! dry run per object): an object that would be updated differs from the source, one that
//! would be created is missing, and a member of the set no longer in the source is extra. One
//! comparison, so `status` can never call an app in sync that `diff` would change.

use std::collections::BTreeMap;

use futures::{stream, StreamExt};
use serde::Serialize;
use serde_json::Value;

use crate::applyset;
use crate::connect::Session;
use crate::engine::{self, PreviewOptions};
use crate::error::Error;
use crate::explain::{self, Explanation, Family};
use crate::object::{Action, ObjKey};
use crate::rollout::{self, State};
use crate::Settings;

/// The label naming the app an object belongs to (stamped by every build).
pub const APP_LABEL: &str = "app.kubernetes.io/instance";

/// Replica counts of a workload (DaemonSets count scheduled pods).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Replicas {
    pub desired: i64,
    pub ready: i64,
    pub updated: i64,
    pub available: i64,
}

/// One container: the image the source asks for, the one in the live template, and what the
/// pods run (image → pods).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Image {
    pub container: String,
    pub desired: String,
    /// The live workload's template (absent when the workload is missing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live: Option<String>,
    /// Images the pods run, with how many pods run each.
    pub running: BTreeMap<String, usize>,
}

/// A ReplicaSet of a Deployment (or Argo Rollout).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReplicaSet {
    pub name: String,
    /// `deployment.kubernetes.io/revision`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    pub images: Vec<String>,
    pub replicas: i64,
    pub ready: i64,
}

/// A pod of a workload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Pod {
    pub name: String,
    pub phase: String,
    pub ready: bool,
    pub restarts: i64,
    pub images: Vec<String>,
}

/// Where a workload's rollout stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Rollout {
    Ready,
    Progressing,
    Failed,
    /// The workload is not in the cluster.
    Missing,
}

/// One workload of an app.
#[derive(Clone, Debug, Serialize)]
pub struct Workload {
    #[serde(flatten)]
    pub key: ObjKey,
    pub rollout: Rollout,
    /// Why it is not ready, in a phrase (`ProgressDeadlineExceeded: ...`, `1 of 2 replicas updated`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub replicas: Replicas,
    pub images: Vec<Image>,
    #[serde(rename = "replicaSets", skip_serializing_if = "Vec::is_empty")]
    pub replica_sets: Vec<ReplicaSet>,
    pub pods: Vec<Pod>,
    /// The failing pods, events and log, when it is not ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<Explanation>,
}

/// How an object differs from the source (what `kdep diff` would do to it).
#[derive(Clone, Debug, Serialize)]
pub struct Difference {
    #[serde(flatten)]
    pub key: ObjKey,
    /// `modified` (differs from the source; `diff` is the unified diff, or the conflict
    /// naming the field manager that took fields kdep sets), `missing`, `extra` (in the set,
    /// no longer in the source), or `unknown` (the comparison failed; `diff` says why).
    pub drift: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub diff: String,
}

/// One app.
#[derive(Clone, Debug, Serialize)]
pub struct App {
    pub name: String,
    /// Every workload ready and nothing drifted.
    pub healthy: bool,
    pub ready: bool,
    pub drifted: bool,
    /// Some object could not be compared (the identity may not dry-run, or a request failed);
    /// such an app is not called healthy.
    #[serde(rename = "driftUnknown")]
    pub drift_unknown: bool,
    pub objects: usize,
    pub workloads: Vec<Workload>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<Difference>,
}

/// The revision last applied, from the ApplySet parent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Applied {
    /// `<commit>` or `<commit>-dirty` (or the manifest digest outside git), as `apply` recorded it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// The kdep version that applied it (`applyset.kubernetes.io/tooling`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tooling: Option<String>,
}

/// The status of a package in an environment.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    pub package: String,
    pub environment: String,
    pub context: String,
    /// `None` when nothing was ever applied (no ApplySet parent).
    pub applied: Option<Applied>,
    pub healthy: bool,
    pub apps: Vec<App>,
    /// Members of the set no app emits any more (what the next apply prunes).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<Difference>,
}

fn int(v: &Value, ptr: &str) -> i64 {
    v.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

fn text(v: &Value, ptr: &str) -> Option<String> {
    v.pointer(ptr).and_then(Value::as_str).map(str::to_owned)
}

/// The containers of a workload's pod template (`spec.template`, or a CronJob's job
/// template): (name, image), init containers first.
pub fn template_images(obj: &Value) -> Vec<(String, String)> {
    let spec = obj.pointer("/spec/template/spec").or_else(|| obj.pointer("/spec/jobTemplate/spec/template/spec"));
    pod_spec_images(spec)
}

fn pod_spec_images(spec: Option<&Value>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for list in ["initContainers", "containers"] {
        for c in spec.and_then(|s| s.get(list)).and_then(Value::as_array).into_iter().flatten() {
            out.push((text(c, "/name").unwrap_or_default(), text(c, "/image").unwrap_or_default()));
        }
    }
    out
}

fn replicas(kind: &str, desired_manifest: &Value, live: &Value) -> Replicas {
    match kind {
        "DaemonSet" => Replicas {
            desired: int(live, "/status/desiredNumberScheduled"),
            ready: int(live, "/status/numberReady"),
            updated: int(live, "/status/updatedNumberScheduled"),
            available: int(live, "/status/numberAvailable"),
        },
        "Job" => Replicas {
            desired: live
                .pointer("/spec/completions")
                .or_else(|| desired_manifest.pointer("/spec/completions"))
                .and_then(Value::as_i64)
                .unwrap_or(1),
            ready: int(live, "/status/succeeded"),
            updated: int(live, "/status/succeeded"),
            available: int(live, "/status/succeeded"),
        },
        _ => Replicas {
            desired: live.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1),
            ready: int(live, "/status/readyReplicas"),
            updated: int(live, "/status/updatedReplicas"),
            available: int(live, "/status/availableReplicas"),
        },
    }
}

async fn workload(session: &Session, key: &ObjKey, manifest: &Value) -> Workload {
    let desired = template_images(manifest);
    let mut w = Workload {
        key: key.clone(),
        rollout: Rollout::Missing,
        message: None,
        replicas: Replicas::default(),
        images: desired
            .iter()
            .map(|(c, i)| Image { container: c.clone(), desired: i.clone(), live: None, running: BTreeMap::new() })
            .collect(),
        replica_sets: Vec::new(),
        pods: Vec::new(),
        explanation: None,
    };
    let live = match rollout::read(session, key).await {
        Ok(Some(v)) => v,
        Ok(None) => {
            w.message = Some("not in the cluster".into());
            return w;
        }
        Err(m) => {
            w.rollout = Rollout::Progressing;
            w.message = Some(format!("cannot read it: {m}"));
            return w;
        }
    };
    let (rollout, message) = match rollout::state(&key.kind, &live) {
        State::Ready => (Rollout::Ready, None),
        State::Waiting(m) => (Rollout::Progressing, Some(m)),
        State::Failed(m) => (Rollout::Failed, Some(m)),
    };
    w.rollout = rollout;
    w.message = message.map(|m| explain::printable(&m));
    w.replicas = replicas(&key.kind, manifest, &live);
    let live_images = template_images(&live);
    let family = match explain::family(session, key, &live).await {
        Ok(f) => f,
        Err(m) => {
            let mut ex = Explanation::default();
            ex.unavailable.push(m);
            w.explanation = Some(ex);
            Family::default()
        }
    };
    for img in &mut w.images {
        img.live = live_images.iter().find(|(c, _)| *c == img.container).map(|(_, i)| i.clone());
        for pod in &family.pods {
            let spec_images = pod_spec_images(pod.pointer("/spec"));
            if let Some((_, i)) = spec_images.iter().find(|(c, _)| *c == img.container) {
                *img.running.entry(i.clone()).or_insert(0) += 1;
            }
        }
    }
    w.replica_sets = family
        .replica_sets
        .iter()
        .map(|rs| ReplicaSet {
            name: text(rs, "/metadata/name").unwrap_or_default(),
            revision: rs
                .pointer("/metadata/annotations")
                .and_then(|a| a.get("deployment.kubernetes.io/revision"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            images: template_images(rs).into_iter().map(|(_, i)| i).collect(),
            replicas: int(rs, "/spec/replicas"),
            ready: int(rs, "/status/readyReplicas"),
        })
        .collect();
    w.pods = family
        .pods
        .iter()
        .map(|p| Pod {
            name: text(p, "/metadata/name").unwrap_or_default(),
            phase: text(p, "/status/phase").unwrap_or_default(),
            ready: explain::pod_ready(p),
            restarts: p
                .pointer("/status/containerStatuses")
                .and_then(Value::as_array)
                .map_or(0, |cs| cs.iter().map(|c| int(c, "/restartCount")).sum()),
            images: pod_spec_images(p.pointer("/spec")).into_iter().map(|(_, i)| i).collect(),
        })
        .collect();
    if w.rollout != Rollout::Ready {
        let ex = explain::explain(session, key, &live, &family).await;
        let merged = match w.explanation.take() {
            Some(mut partial) => {
                partial.pods = ex.pods;
                partial.events = ex.events;
                partial.log = ex.log;
                partial.unavailable.extend(ex.unavailable);
                partial
            }
            None => ex,
        };
        w.explanation = (!merged.is_empty()).then_some(merged);
    }
    w
}

/// Reads the status of `manifests` (the package built for the environment) in the cluster.
pub async fn status(session: &Session, settings: &Settings, manifests: &[Value]) -> Result<Status, Error> {
    let preview =
        engine::preview(session, settings, manifests, PreviewOptions { force_conflicts: false, prune: true }).await?;
    let applied = preview.parent.as_ref().map(|p| Applied {
        revision: text(p, &format!("/metadata/annotations/{}", applyset::ANN_REVISION.replace('/', "~1"))),
        tooling: text(p, &format!("/metadata/annotations/{}", applyset::ANN_TOOLING.replace('/', "~1"))),
    });
    let mut apps: BTreeMap<String, App> = BTreeMap::new();
    let mut extra = Vec::new();
    let mut wanted: Vec<(String, &ObjKey, &Value)> = Vec::new();
    let app_of = |m: &Value| {
        m.pointer("/metadata/labels").and_then(|l| l.get(APP_LABEL)).and_then(Value::as_str).unwrap_or("").to_owned()
    };
    for o in &preview.objects {
        let difference = |drift| Difference { key: o.key.clone(), drift, diff: o.diff.clone() };
        let Some(manifest) = o.manifest.as_ref() else {
            if o.action == Action::Prune {
                extra.push(Difference { diff: String::new(), ..difference("extra") });
            }
            continue;
        };
        let name = app_of(manifest);
        let app = apps.entry(name.clone()).or_insert_with(|| App {
            name,
            healthy: true,
            ready: true,
            drifted: false,
            drift_unknown: false,
            objects: 0,
            workloads: Vec::new(),
            drift: Vec::new(),
        });
        app.objects += 1;
        if let Some(e) = &o.error {
            // A view-only identity may read but not dry-run: the rest of the status still
            // holds, only whether this object differs is unknown.
            app.drift.push(Difference { diff: e.clone(), ..difference("unknown") });
        } else if let Some(c) = &o.conflict {
            // Another manager took fields kdep sets: modified, and the message names who.
            app.drift.push(Difference { diff: c.clone(), ..difference("modified") });
        } else {
            match o.action {
                Action::Update => app.drift.push(difference("modified")),
                Action::Create => app.drift.push(Difference { diff: String::new(), ..difference("missing") }),
                Action::Unchanged | Action::Prune => {}
            }
        }
        if rollout::is_workload(&o.key) {
            wanted.push((app.name.clone(), &o.key, manifest));
        }
    }
    // Workloads are read in parallel, bounded as the preview is; `buffered` keeps key order.
    let read: Vec<(String, Workload)> = stream::iter(wanted)
        .map(|(app, key, manifest)| async move { (app, workload(session, key, manifest).await) })
        .buffered(engine::PARALLEL)
        .collect()
        .await;
    for (app, w) in read {
        if let Some(a) = apps.get_mut(&app) {
            a.workloads.push(w);
        }
    }
    let mut healthy = extra.is_empty();
    let apps: Vec<App> = apps
        .into_values()
        .map(|mut a| {
            a.ready = a.workloads.iter().all(|w| w.rollout == Rollout::Ready);
            a.drifted = a.drift.iter().any(|d| d.drift != "unknown");
            a.drift_unknown = a.drift.iter().any(|d| d.drift == "unknown");
            a.healthy = a.ready && !a.drifted && !a.drift_unknown;
            healthy &= a.healthy;
            a
        })
        .collect();
    Ok(Status {
        package: settings.package.clone(),
        environment: settings.env.clone(),
        context: session.context.clone(),
        applied,
        healthy,
        apps,
        extra,
    })
}

fn replicas_text(w: &Workload) -> String {
    let r = &w.replicas;
    match w.key.kind.as_str() {
        "Job" => format!("{}/{} completed", r.ready, r.desired),
        "DaemonSet" => format!("{}/{} nodes ready", r.ready, r.desired),
        _ => format!("{}/{} ready", r.ready, r.desired),
    }
}

impl Status {
    /// The human rendering: a header, then one block per app.
    pub fn render(&self) -> String {
        let mut out =
            format!("package {}, environment {} (context {})\n", self.package, self.environment, self.context);
        match &self.applied {
            None => out.push_str("applied: never (no ApplySet parent in the cluster)\n"),
            Some(a) => out.push_str(&format!(
                "applied: {}{}\n",
                a.revision.as_deref().unwrap_or("unknown revision"),
                a.tooling.as_deref().map(|t| format!(" by {t}")).unwrap_or_default()
            )),
        }
        for app in &self.apps {
            let mut state = Vec::new();
            state.push(if app.ready { "ready" } else { "NOT READY" });
            state.push(if app.drifted {
                "DRIFTED"
            } else if app.drift_unknown {
                "drift unknown"
            } else {
                "in sync"
            });
            let plural = if app.objects == 1 { "" } else { "s" };
            out.push_str(&format!("\napp {}: {} ({} object{plural})\n", app.name, state.join(", "), app.objects));
            for w in &app.workloads {
                let rollout = match w.rollout {
                    Rollout::Ready => "ready",
                    Rollout::Progressing => "progressing",
                    Rollout::Failed => "failed",
                    Rollout::Missing => "missing",
                };
                let msg = w.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default();
                if w.rollout == Rollout::Missing {
                    out.push_str(&format!("  {} {rollout}{msg}\n", w.key));
                } else if w.rollout == Rollout::Ready {
                    out.push_str(&format!("  {} {}\n", w.key, replicas_text(w)));
                } else {
                    out.push_str(&format!("  {} {}, {rollout}{msg}\n", w.key, replicas_text(w)));
                }
                for img in &w.images {
                    let mut line = format!("    {}: {}", img.container, img.desired);
                    if let Some(live) = img.live.as_ref().filter(|l| **l != img.desired) {
                        line.push_str(&format!(" (live template: {live})"));
                    }
                    let running: Vec<String> = img
                        .running
                        .iter()
                        .map(
                            |(i, n)| {
                                if *i == img.desired {
                                    format!("{n} pod(s)")
                                } else {
                                    format!("{n} pod(s) on {i}")
                                }
                            },
                        )
                        .collect();
                    if !running.is_empty() {
                        line.push_str(&format!(", running: {}", running.join(", ")));
                    }
                    out.push_str(&line);
                    out.push('\n');
                }
                for rs in w.replica_sets.iter().filter(|rs| rs.replicas > 0 || rs.ready > 0) {
                    out.push_str(&format!(
                        "    replicaset {}{}: {}/{} ready, {}\n",
                        rs.name,
                        rs.revision.as_deref().map(|r| format!(" (revision {r})")).unwrap_or_default(),
                        rs.ready,
                        rs.replicas,
                        rs.images.join(", ")
                    ));
                }
                if let Some(ex) = &w.explanation {
                    out.push_str(&ex.render("    "));
                }
            }
            for d in &app.drift {
                out.push_str(&format!("  {} {}\n", d.drift, d.key));
                for line in d.diff.lines() {
                    out.push_str(&format!("    {line}\n"));
                }
            }
        }
        for d in &self.extra {
            out.push_str(&format!(
                "\nextra {} (in the set, no longer in the source: the next apply prunes it)\n",
                d.key
            ));
        }
        let healthy = self.apps.iter().filter(|a| a.healthy).count();
        out.push_str(&format!("\n{healthy} of {} apps healthy\n", self.apps.len()));
        out
    }
}
