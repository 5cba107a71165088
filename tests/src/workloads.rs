//! What controllers and the kubelet leave behind, seeded into the emulator so a CLI can be
//! tested on explaining failed rollouts: pods with container states ([`PodSeed`],
//! [`ContainerSeed`]), Events in `v1` and `events.k8s.io/v1` ([`EventSeed`]), container logs
//! served at `pods/NAME/log`, and Deployment rollouts that create the ReplicaSet and its
//! failing pods ([`PodFailure`]).
//!
//! ```no_run
//! use kdep_tests::cluster::{Cluster, Rollout};
//! use kdep_tests::workloads::{ContainerSeed, EventSeed, PodFailure, PodSeed};
//! let cluster = Cluster::start().unwrap();
//! // a Deployment shop/web applied first; its rollout stalls on a bad image:
//! cluster.set_rollout_failing("apps/v1", "Deployment", "shop", "web", Rollout::Stalled, PodFailure::ImagePullBackOff).unwrap();
//! // or by hand, one pod of the Deployment's current ReplicaSet:
//! let pod = cluster.seed_pod(&PodSeed::owned_by("shop", "Deployment", "web")
//!     .container(ContainerSeed::oom_killed("web", 3))).unwrap();
//! let pod_name = pod["metadata"]["name"].as_str().unwrap();
//! cluster.set_pod_log("shop", pod_name, "web", "starting\nout of memory\n").unwrap();
//! cluster.seed_event(&EventSeed::warning("shop", ("v1", "Pod", pod_name), "BackOff", "Back-off restarting failed container")).unwrap();
//! ```
//!
//! All of these are emulator hooks (`/_emulator/pod`, `/_emulator/event`,
//! `/_emulator/pod-log`, `/_emulator/rollout`): on a real cluster they return
//! [`Error::Unsupported`](crate::cluster::Error::Unsupported).

#![expect(
    clippy::indexing_slicing,
    reason = "JSON is written with `serde_json::Value[key]` only into objects built just above"
)]

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::cluster::{Cluster, Result, Rollout};

/// One container's state in a seeded pod. Containers of the owner's template that no seed
/// names are running and ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerSeed {
    pub name: String,
    /// Needed only for a container the owner's template lacks (or a pod without owner).
    pub image: Option<String>,
    pub state: ContainerState,
    pub ready: bool,
    pub restart_count: u32,
    /// The previous run's termination (`lastState.terminated`).
    pub last_terminated: Option<(String, i32)>,
}

/// `state` of a container status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerState {
    Running,
    Waiting { reason: String, message: Option<String> },
    Terminated { reason: String, exit_code: i32, message: Option<String> },
}

impl ContainerSeed {
    /// Running and ready.
    pub fn running(name: &str) -> ContainerSeed {
        ContainerSeed {
            name: name.to_owned(),
            image: None,
            state: ContainerState::Running,
            ready: true,
            restart_count: 0,
            last_terminated: None,
        }
    }

    /// Waiting with a reason (`ContainerCreating`, `CreateContainerConfigError`, ...).
    pub fn waiting(name: &str, reason: &str, message: Option<&str>) -> ContainerSeed {
        ContainerSeed {
            state: ContainerState::Waiting { reason: reason.to_owned(), message: message.map(str::to_owned) },
            ready: false,
            ..ContainerSeed::running(name)
        }
    }

    /// Terminated with a reason and exit code (`Error` 1, `OOMKilled` 137, `Completed` 0).
    pub fn terminated(name: &str, reason: &str, exit_code: i32) -> ContainerSeed {
        ContainerSeed {
            state: ContainerState::Terminated { reason: reason.to_owned(), exit_code, message: None },
            ready: false,
            ..ContainerSeed::running(name)
        }
    }

    /// The kubelet's state for an image it cannot pull.
    pub fn image_pull_back_off(name: &str, image: &str) -> ContainerSeed {
        ContainerSeed::waiting(name, "ImagePullBackOff", Some(&format!("Back-off pulling image \"{image}\"")))
    }

    /// A container that keeps exiting with `exit_code` and is restarted with back-off.
    pub fn crash_loop_back_off(name: &str, restarts: u32, exit_code: i32) -> ContainerSeed {
        ContainerSeed {
            restart_count: restarts,
            last_terminated: Some(("Error".to_owned(), exit_code)),
            ..ContainerSeed::waiting(name, "CrashLoopBackOff", None)
        }
    }

    /// A container killed for exceeding its memory limit, now in back-off.
    pub fn oom_killed(name: &str, restarts: u32) -> ContainerSeed {
        ContainerSeed {
            restart_count: restarts,
            last_terminated: Some(("OOMKilled".to_owned(), 137)),
            ..ContainerSeed::waiting(name, "CrashLoopBackOff", None)
        }
    }

    /// Sets the image (for a container the owner's template lacks).
    pub fn image(mut self, image: &str) -> ContainerSeed {
        self.image = Some(image.to_owned());
        self
    }

    /// Running but not ready (a failing readiness probe).
    pub fn not_ready(mut self) -> ContainerSeed {
        self.ready = false;
        self
    }

    /// Sets the restart count.
    pub fn restarts(mut self, n: u32) -> ContainerSeed {
        self.restart_count = n;
        self
    }

    fn to_json(&self) -> Value {
        let mut v = json!({"name": self.name, "ready": self.ready, "restartCount": self.restart_count});
        if let Some(i) = &self.image {
            v["image"] = json!(i);
        }
        match &self.state {
            ContainerState::Running => v["state"] = json!("running"),
            ContainerState::Waiting { reason, message } => {
                v["state"] = json!("waiting");
                v["reason"] = json!(reason);
                if let Some(m) = message {
                    v["message"] = json!(m);
                }
            }
            ContainerState::Terminated { reason, exit_code, message } => {
                v["state"] = json!("terminated");
                v["reason"] = json!(reason);
                v["exitCode"] = json!(exit_code);
                if let Some(m) = message {
                    v["message"] = json!(m);
                }
            }
        }
        if let Some((reason, code)) = &self.last_terminated {
            v["lastState"] = json!({"state": "terminated", "reason": reason, "exitCode": code});
        }
        v
    }
}

/// A pod to seed: owned by a workload (its spec and labels from the owner's template; a
/// Deployment's pods belong to its current ReplicaSet, created if missing) or standalone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSeed {
    pub namespace: String,
    /// Generated from the owner (`<replicaset>-<5 chars>`) when `None`.
    pub name: Option<String>,
    /// (kind, name): Deployment, ReplicaSet, StatefulSet, DaemonSet or Job.
    pub owner: Option<(String, String)>,
    pub labels: BTreeMap<String, String>,
    pub containers: Vec<ContainerSeed>,
    /// Pending with `PodScheduled=False`, reason `Unschedulable`, this message.
    pub unschedulable: Option<String>,
}

impl PodSeed {
    /// A pod of a workload.
    pub fn owned_by(namespace: &str, kind: &str, name: &str) -> PodSeed {
        PodSeed {
            namespace: namespace.to_owned(),
            name: None,
            owner: Some((kind.to_owned(), name.to_owned())),
            labels: BTreeMap::new(),
            containers: Vec::new(),
            unschedulable: None,
        }
    }

    /// A pod without owner; its containers need images.
    pub fn standalone(namespace: &str, name: &str) -> PodSeed {
        PodSeed { name: Some(name.to_owned()), owner: None, ..PodSeed::owned_by(namespace, "", "") }
    }

    /// Names the pod (seeding the same name again replaces its state).
    pub fn name(mut self, name: &str) -> PodSeed {
        self.name = Some(name.to_owned());
        self
    }

    /// Adds a label (besides the owner template's).
    pub fn label(mut self, key: &str, value: &str) -> PodSeed {
        self.labels.insert(key.to_owned(), value.to_owned());
        self
    }

    /// Sets one container's state.
    pub fn container(mut self, c: ContainerSeed) -> PodSeed {
        self.containers.push(c);
        self
    }

    /// The scheduler found no node (`0/3 nodes are available: 3 Insufficient cpu.`).
    pub fn unschedulable(mut self, message: &str) -> PodSeed {
        self.unschedulable = Some(message.to_owned());
        self
    }

    fn to_json(&self) -> Value {
        let mut v = json!({"namespace": self.namespace,
            "containers": self.containers.iter().map(ContainerSeed::to_json).collect::<Vec<_>>()});
        if let Some(n) = &self.name {
            v["name"] = json!(n);
        }
        if let Some((kind, name)) = &self.owner {
            v["owner"] = json!({"kind": kind, "name": name});
        }
        if !self.labels.is_empty() {
            v["labels"] = json!(self.labels);
        }
        if let Some(m) = &self.unschedulable {
            v["unschedulable"] = json!(m);
        }
        v
    }
}

/// An Event about an object, timestamped by the emulator's clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSeed {
    /// `events.k8s.io/v1` instead of core `v1`.
    pub events_v1: bool,
    pub namespace: String,
    /// (apiVersion, kind, name) of the object the event is about; its uid is filled in.
    pub involved: (String, String, String),
    pub warning: bool,
    pub reason: String,
    pub message: String,
    /// `source.component` / `reportingController` (default `kubelet`).
    pub reporting_controller: Option<String>,
    pub count: u32,
}

impl EventSeed {
    /// A `Warning` event.
    pub fn warning(namespace: &str, involved: (&str, &str, &str), reason: &str, message: &str) -> EventSeed {
        EventSeed {
            events_v1: false,
            namespace: namespace.to_owned(),
            involved: (involved.0.to_owned(), involved.1.to_owned(), involved.2.to_owned()),
            warning: true,
            reason: reason.to_owned(),
            message: message.to_owned(),
            reporting_controller: None,
            count: 1,
        }
    }

    /// A `Normal` event.
    pub fn normal(namespace: &str, involved: (&str, &str, &str), reason: &str, message: &str) -> EventSeed {
        EventSeed { warning: false, ..EventSeed::warning(namespace, involved, reason, message) }
    }

    /// Record it as `events.k8s.io/v1` (`regarding`, `note`, `eventTime`).
    pub fn events_v1(mut self) -> EventSeed {
        self.events_v1 = true;
        self
    }

    /// The component that reported it (`deployment-controller`, `default-scheduler`, ...).
    pub fn controller(mut self, c: &str) -> EventSeed {
        self.reporting_controller = Some(c.to_owned());
        self
    }

    /// How often it happened (`count`, or `series.count` in `events.k8s.io/v1`).
    pub fn count(mut self, n: u32) -> EventSeed {
        self.count = n.max(1);
        self
    }

    fn to_json(&self) -> Value {
        let mut v = json!({
            "apiVersion": if self.events_v1 { "events.k8s.io/v1" } else { "v1" },
            "namespace": self.namespace,
            "involvedObject": {"apiVersion": self.involved.0, "kind": self.involved.1, "name": self.involved.2},
            "type": if self.warning { "Warning" } else { "Normal" },
            "reason": self.reason,
            "message": self.message,
            "count": self.count,
        });
        if let Some(c) = &self.reporting_controller {
            v["reportingController"] = json!(c);
        }
        v
    }
}

/// Why the pods of a stalled or failed Deployment rollout do not become ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodFailure {
    /// Waiting `ImagePullBackOff` with kubelet `Failed` warnings.
    ImagePullBackOff,
    /// Waiting `ErrImagePull`.
    ErrImagePull,
    /// Waiting `CrashLoopBackOff`, 5 restarts, last exit 1, a `BackOff` warning.
    CrashLoopBackOff,
    /// Waiting `CrashLoopBackOff` after `OOMKilled` (137), 3 restarts.
    OomKilled,
    /// Pending, `PodScheduled=False/Unschedulable`, a `FailedScheduling` warning.
    Unschedulable,
    /// Waiting with any other reason (`CreateContainerConfigError`, ...).
    Waiting(String),
}

impl PodFailure {
    fn as_str(&self) -> &str {
        match self {
            PodFailure::ImagePullBackOff => "ImagePullBackOff",
            PodFailure::ErrImagePull => "ErrImagePull",
            PodFailure::CrashLoopBackOff => "CrashLoopBackOff",
            PodFailure::OomKilled => "OOMKilled",
            PodFailure::Unschedulable => "Unschedulable",
            PodFailure::Waiting(r) => r,
        }
    }
}

impl Cluster {
    /// Creates (or, for a name seeded before, replaces) a pod with the given container
    /// states; returns the pod as stored, status included.
    pub fn seed_pod(&self, pod: &PodSeed) -> Result<Value> {
        self.hook("POST", "pod", Some(pod.to_json()))
    }

    /// Records an Event about an object; returns the Event as stored.
    pub fn seed_event(&self, event: &EventSeed) -> Result<Value> {
        self.hook("POST", "event", Some(event.to_json()))
    }

    /// Sets what `GET .../pods/POD/log?container=CONTAINER` returns.
    pub fn set_pod_log(&self, namespace: &str, pod: &str, container: &str, text: &str) -> Result<()> {
        self.hook(
            "POST",
            "pod-log",
            Some(json!({"namespace": namespace, "pod": pod, "container": container, "text": text})),
        )
        .map(|_| ())
    }

    /// Sets the log of the previous run (`?previous=true`) of a restarted container.
    pub fn set_previous_pod_log(&self, namespace: &str, pod: &str, container: &str, text: &str) -> Result<()> {
        self.hook(
            "POST",
            "pod-log",
            Some(json!({"namespace": namespace, "pod": pod, "container": container, "text": text, "previous": true})),
        )
        .map(|_| ())
    }

    /// Like [`Cluster::set_rollout`], and for a Deployment also creates the ReplicaSet of
    /// its current template with `spec.replicas` pods failing for `failure` (the containers
    /// whose image changed since the previous ReplicaSet fail; the first when none did),
    /// plus the warning Events the kubelet or scheduler would record. Pods of earlier
    /// ReplicaSets keep running until a `Complete` rollout retires them.
    pub fn set_rollout_failing(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
        outcome: Rollout,
        failure: PodFailure,
    ) -> Result<Value> {
        self.rollout_hook(api_version, kind, namespace, name, outcome, Some(failure.as_str()))
    }

    /// A container's log through the API (`tail` = `tailLines`), as a CLI reads it.
    pub fn pod_log(&self, namespace: &str, pod: &str, container: Option<&str>, tail: Option<u32>) -> Result<String> {
        let mut q = Vec::new();
        if let Some(c) = container {
            q.push(format!("container={c}"));
        }
        if let Some(t) = tail {
            q.push(format!("tailLines={t}"));
        }
        let path = format!("/api/v1/namespaces/{namespace}/pods/{pod}/log?{}", q.join("&"));
        let res = self.request("GET", &path, None, None)?;
        if (200..300).contains(&res.status) {
            Ok(res.text)
        } else {
            res.ok().map(|_| String::new())
        }
    }
}
