//! The harness's workload hooks, end to end over HTTPS: seeded pods and their container
//! states, Events in both APIs, `pods/log`, and Deployment rollouts that leave a
//! ReplicaSet with failing pods — what a CLI reads to explain a failed rollout.

#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a failed unwrap fails the test; JSON is read with `serde_json::Value[key]`, which yields Null"
)]

use kdep_tests::cluster::{Cluster, Error, Options, Rollout};
use kdep_tests::workloads::{ContainerSeed, EventSeed, PodFailure, PodSeed};
use serde_json::{json, Value};

const WEB: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: web, image: "registry.example.com/shop/web:1.0"}
"#;

fn start() -> Cluster {
    let opts = Options { clock: Some("2030-01-01T00:00:00Z".into()), sequential_uids: true, ..Options::default() };
    let cluster = Cluster::start_with(opts).unwrap();
    cluster.seed(WEB).unwrap();
    cluster
}

fn pods(cluster: &Cluster) -> Vec<Value> {
    let mut pods = cluster.list("v1", "Pod", Some("shop"), Some("app=web")).unwrap();
    pods.sort_by_key(|p| p["metadata"]["name"].as_str().unwrap().to_owned());
    pods
}

#[test]
fn seeded_pod_states_are_what_the_kubelet_reports() {
    let cluster = start();
    let pod = cluster
        .seed_pod(
            &PodSeed::owned_by("shop", "Deployment", "web")
                .container(ContainerSeed::oom_killed("web", 3))
                .container(ContainerSeed::image_pull_back_off("sidecar", "envoy:nope").image("envoy:nope")),
        )
        .unwrap();
    assert!(pod["metadata"]["name"].as_str().unwrap().starts_with("web-"));
    let owner = &pod["metadata"]["ownerReferences"][0];
    assert_eq!((owner["kind"].as_str(), owner["controller"].as_bool()), (Some("ReplicaSet"), Some(true)));
    let rs = cluster.get("apps/v1", "ReplicaSet", Some("shop"), owner["name"].as_str().unwrap()).unwrap().unwrap();
    assert_eq!(rs["metadata"]["ownerReferences"][0]["name"], "web");
    let dep = cluster.get("apps/v1", "Deployment", Some("shop"), "web").unwrap().unwrap();
    assert_eq!(rs["metadata"]["ownerReferences"][0]["uid"], dep["metadata"]["uid"]);

    let mut web = pod["status"]["containerStatuses"][0].clone();
    let image_id = web["imageID"].as_str().unwrap().to_owned();
    assert!(image_id.starts_with("docker.io/library/registry.example.com/shop/web:1.0@sha256:"), "{image_id}");
    web["imageID"] = json!("");
    assert_eq!(
        web,
        json!({"name": "web", "image": "registry.example.com/shop/web:1.0", "imageID": "",
            "ready": false, "restartCount": 3, "started": false,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled",
                "startedAt": "2030-01-01T00:00:00Z", "finishedAt": "2030-01-01T00:00:00Z"}}})
    );
    let statuses = &pod["status"]["containerStatuses"];
    assert_eq!(
        statuses[1]["state"],
        json!({"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"envoy:nope\""}})
    );
    assert_eq!(pod["status"]["phase"], "Running");
    assert_eq!(pod["spec"]["containers"][1]["image"], "envoy:nope");
    assert_eq!(pods(&cluster).len(), 1, "the pod carries the template's labels");

    let pending = cluster
        .seed_pod(
            &PodSeed::owned_by("shop", "Deployment", "web")
                .name("web-big")
                .unschedulable("0/3 nodes are available: 3 Insufficient memory."),
        )
        .unwrap();
    assert_eq!(pending["status"]["phase"], "Pending");
    assert_eq!(
        pending["status"]["conditions"][0],
        json!({"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "lastProbeTime": null,
            "lastTransitionTime": "2030-01-01T00:00:00Z", "message": "0/3 nodes are available: 3 Insufficient memory."})
    );
    assert!(pending["spec"].get("nodeName").is_none());

    // A standalone pod's containers need images; the error is the emulator's 400.
    let err = cluster.seed_pod(&PodSeed::standalone("shop", "x").container(ContainerSeed::running("a"))).unwrap_err();
    match err {
        Error::Api { status, body } => {
            assert_eq!(status, 400);
            assert_eq!(body["message"], "pod seed: container \"a\" needs an image (it is not in the owner's template)");
        }
        other => panic!("{other}"),
    }
}

#[test]
fn events_in_both_apis_and_pod_logs() {
    let cluster = start();
    let pod = cluster.seed_pod(&PodSeed::owned_by("shop", "Deployment", "web").name("web-abc12")).unwrap();
    assert_eq!(pod["status"]["containerStatuses"][0]["ready"], true);
    let ev = cluster
        .seed_event(
            &EventSeed::warning(
                "shop",
                ("v1", "Pod", "web-abc12"),
                "Unhealthy",
                "Readiness probe failed: HTTP probe failed with statuscode: 503",
            )
            .count(7),
        )
        .unwrap();
    assert_eq!(ev["involvedObject"]["uid"], pod["metadata"]["uid"]);
    assert_eq!((ev["count"].as_u64(), ev["lastTimestamp"].as_str()), (Some(7), Some("2030-01-01T00:00:00Z")));
    let ev = cluster
        .seed_event(
            &EventSeed::normal("shop", ("apps/v1", "Deployment", "web"), "ScalingReplicaSet", "Scaled up")
                .events_v1()
                .controller("deployment-controller"),
        )
        .unwrap();
    assert_eq!(ev["apiVersion"], "events.k8s.io/v1");
    assert_eq!(ev["note"], "Scaled up");
    assert_eq!(ev["reportingController"], "deployment-controller");
    assert_eq!(ev["regarding"]["kind"], "Deployment");

    cluster.set_pod_log("shop", "web-abc12", "web", "booting\nlistening on :8080\nGET /healthz 503\n").unwrap();
    assert_eq!(cluster.pod_log("shop", "web-abc12", None, Some(1)).unwrap(), "GET /healthz 503\n");
    assert_eq!(
        cluster.pod_log("shop", "web-abc12", Some("web"), None).unwrap(),
        "booting\nlistening on :8080\nGET /healthz 503\n"
    );
    cluster.set_previous_pod_log("shop", "web-abc12", "web", "fatal: killed\n").unwrap();
    let res = cluster.request("GET", "/api/v1/namespaces/shop/pods/web-abc12/log?previous=true", None, None).unwrap();
    assert_eq!((res.status, res.text.as_str()), (200, "fatal: killed\n"));
    match cluster.pod_log("shop", "web-abc12", Some("db"), None).unwrap_err() {
        Error::Api { status, body } => {
            assert_eq!((status, body["message"].as_str()), (400, Some("container db is not valid for pod web-abc12")))
        }
        other => panic!("{other}"),
    }
}

#[test]
fn a_failing_rollout_leaves_replicaset_pods_and_warnings() {
    let cluster = start();
    cluster.set_rollout("apps/v1", "Deployment", "shop", "web", Rollout::Complete).unwrap();
    let old: Vec<String> = pods(&cluster).iter().map(|p| p["metadata"]["name"].as_str().unwrap().to_owned()).collect();
    assert_eq!(old.len(), 2);

    let bumped = WEB.replace("web:1.0", "web:1.1");
    cluster.seed(&bumped).unwrap();
    let dep = cluster
        .set_rollout_failing("apps/v1", "Deployment", "shop", "web", Rollout::Stalled, PodFailure::CrashLoopBackOff)
        .unwrap();
    assert_eq!(dep["status"]["conditions"][1]["reason"], "ProgressDeadlineExceeded");
    let all = pods(&cluster);
    assert_eq!(all.len(), 4, "old pods keep serving while the new ones crash");
    let failing: Vec<&Value> =
        all.iter().filter(|p| !old.contains(&p["metadata"]["name"].as_str().unwrap().to_owned())).collect();
    assert_eq!(failing.len(), 2);
    for p in &failing {
        let cs = &p["status"]["containerStatuses"][0];
        assert_eq!(cs["image"], "registry.example.com/shop/web:1.1");
        assert_eq!(cs["state"]["waiting"]["reason"], "CrashLoopBackOff");
        assert_eq!(cs["lastState"]["terminated"]["exitCode"], 1);
        assert_eq!(cs["restartCount"], 5);
    }
    let name = failing[0]["metadata"]["name"].as_str().unwrap();
    let events = cluster.list("v1", "Event", Some("shop"), None).unwrap();
    let about: Vec<&Value> = events.iter().filter(|e| e["involvedObject"]["name"] == name).collect();
    assert_eq!(about.len(), 1);
    assert_eq!(about[0]["type"], "Warning");
    assert_eq!(about[0]["reason"], "BackOff");
    assert_eq!(about[0]["message"], format!("Back-off restarting failed container web in pod {name}_shop"));

    let rss = cluster.list("apps/v1", "ReplicaSet", Some("shop"), None).unwrap();
    assert_eq!(rss.len(), 2);
    assert!(rss.iter().all(|rs| rs["metadata"]["ownerReferences"][0]["name"] == "web"));
}

#[test]
fn workload_hooks_are_emulator_only() {
    // A cluster handle for a real cluster never touches these hooks.
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kc");
    std::fs::write(
        &kc,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:1'}\n\
         users:\n- name: u\n  user: {token: t}\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n",
    )
    .unwrap();
    let cluster = Cluster::from_kubeconfig_path(&kc).unwrap();
    assert!(matches!(cluster.seed_pod(&PodSeed::standalone("a", "b")), Err(Error::Unsupported("pod"))));
    assert!(matches!(cluster.set_pod_log("a", "b", "c", ""), Err(Error::Unsupported("pod-log"))));
}
