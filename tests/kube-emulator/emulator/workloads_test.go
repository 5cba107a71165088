// file: workloads_test.go — seeded pods (container states, unschedulable), events in both
// APIs, pods/log, and the ReplicaSet and pods a simulated Deployment rollout leaves behind.
package main

import (
	"strings"
	"testing"
)

const shopDeployment = `
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
      - {name: web, image: "registry.example.com/web:2.0"}
      - {name: proxy, image: "envoy:1.30"}
`

func seedShop(c *testClient) {
	c.t.Helper()
	c.mustCode(c.apply("/api/v1/namespaces/shop", "t", "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n"), 201)
	c.mustCode(c.apply("/apis/apps/v1/namespaces/shop/deployments/web", "t", shopDeployment), 201)
}

func TestSeedPodContainerStates(t *testing.T) {
	c := newTestServer(t, false)
	c.s.seqUIDs = true
	seedShop(c)
	r := c.mustCode(c.do("POST", "/_emulator/pod", "application/json", `{"namespace":"shop","owner":{"kind":"Deployment","name":"web"},
		"containers":[{"name":"web","state":"waiting","reason":"ImagePullBackOff","message":"Back-off pulling image \"registry.example.com/web:2.0\""},
		              {"name":"proxy","state":"terminated","reason":"OOMKilled","exitCode":137,"restartCount":4,"lastState":{"state":"terminated","reason":"OOMKilled","exitCode":137}}]}`), 201)
	pod := r.body
	name := at(pod, "metadata", "name").(string)
	if !strings.HasPrefix(name, "web-") || at(pod, "metadata", "ownerReferences", 0, "kind") != "ReplicaSet" {
		t.Fatalf("pod must be owned by the Deployment's ReplicaSet: %s", r.raw)
	}
	rsName := at(pod, "metadata", "ownerReferences", 0, "name").(string)
	rs := c.mustCode(c.get("/apis/apps/v1/namespaces/shop/replicasets/"+rsName), 200).body
	if at(rs, "metadata", "ownerReferences", 0, "kind") != "Deployment" || at(rs, "metadata", "ownerReferences", 0, "name") != "web" {
		t.Fatalf("ReplicaSet must be owned by the Deployment: %s", jsonString(t, rs))
	}
	hash := at(rs, "spec", "template", "metadata", "labels", "pod-template-hash")
	if rsName != "web-"+hash.(string) || at(pod, "metadata", "labels", "pod-template-hash") != hash || at(pod, "metadata", "labels", "app") != "web" {
		t.Fatalf("pod-template-hash labels: rs %s pod %s", rsName, jsonString(t, at(pod, "metadata", "labels")))
	}
	got := c.mustCode(c.get("/api/v1/namespaces/shop/pods/"+name), 200).body
	if at(got, "status", "phase") != "Running" {
		t.Fatalf("a pod with a terminated container restarting is Running: %v", at(got, "status", "phase"))
	}
	if at(got, "status", "containerStatuses", 0, "state", "waiting", "reason") != "ImagePullBackOff" ||
		at(got, "status", "containerStatuses", 0, "ready") != false {
		t.Fatalf("web: %s", jsonString(t, at(got, "status", "containerStatuses", 0)))
	}
	if at(got, "status", "containerStatuses", 1, "state", "terminated", "reason") != "OOMKilled" ||
		at(got, "status", "containerStatuses", 1, "state", "terminated", "exitCode") != int64(137) ||
		at(got, "status", "containerStatuses", 1, "restartCount") != int64(4) ||
		at(got, "status", "containerStatuses", 1, "lastState", "terminated", "reason") != "OOMKilled" {
		t.Fatalf("proxy: %s", jsonString(t, at(got, "status", "containerStatuses", 1)))
	}
	if at(got, "status", "conditions", 2, "type") != "Ready" || at(got, "status", "conditions", 2, "message") != "containers with unready status: [web proxy]" {
		t.Fatalf("Ready condition: %s", jsonString(t, at(got, "status", "conditions")))
	}
	// The pod is listed by the Deployment's selector, as a CLI finds it.
	l := c.mustCode(c.get("/api/v1/namespaces/shop/pods?labelSelector=app%3Dweb"), 200).body
	if n := len(at(l, "items").([]interface{})); n != 1 {
		t.Fatalf("want 1 pod, got %d", n)
	}
	// A second seed for the same Deployment reuses the ReplicaSet and gets another name.
	r2 := c.mustCode(c.do("POST", "/_emulator/pod", "application/json", `{"namespace":"shop","owner":{"kind":"Deployment","name":"web"}}`), 201)
	if at(r2.body, "metadata", "name") == name || at(r2.body, "metadata", "ownerReferences", 0, "name") != rsName {
		t.Fatalf("second pod: %s", r2.raw)
	}
	if at(r2.body, "status", "containerStatuses", 0, "ready") != true || at(r2.body, "status", "phase") != "Running" {
		t.Fatalf("containers not named in the seed run and are ready: %s", r2.raw)
	}
}

func TestSeedPodUnschedulableAndErrors(t *testing.T) {
	c := newTestServer(t, false)
	seedShop(c)
	msg := "0/3 nodes are available: 3 Insufficient cpu."
	r := c.mustCode(c.do("POST", "/_emulator/pod", "application/json", `{"namespace":"shop","name":"big","containers":[{"name":"app","image":"big:1"}],"unschedulable":"`+msg+`"}`), 201)
	if at(r.body, "status", "phase") != "Pending" || at(r.body, "status", "conditions", 0, "reason") != "Unschedulable" ||
		at(r.body, "status", "conditions", 0, "status") != "False" || at(r.body, "status", "conditions", 0, "message") != msg ||
		at(r.body, "spec", "nodeName") != nil {
		t.Fatalf("unschedulable: %s", r.raw)
	}
	for body, want := range map[string]string{
		`{"namespace":"shop","owner":{"kind":"Deployment","name":"nope"}}`:        `deployments.apps \"nope\" not found`,
		`{"namespace":"shop","owner":{"kind":"Service","name":"web"}}`:            `owner kind must be Deployment`,
		`{"namespace":"shop","name":"x","containers":[{"name":"a"}]}`:             `container \"a\" needs an image`,
		`{"namespace":"shop","name":"x","containers":[],"colour":"blue"}`:         `unknown field \"colour\"`,
		`{"namespace":"nope","name":"x","containers":[{"name":"a","image":"a"}]}`: `namespaces \"nope\" not found`,
	} {
		r := c.do("POST", "/_emulator/pod", "application/json", body)
		if r.code < 400 || !strings.Contains(r.raw, want) {
			t.Errorf("%s: want error containing %s, got %d %s", body, want, r.code, r.raw)
		}
	}
}

func TestSeedEventsInBothAPIs(t *testing.T) {
	c := newTestServer(t, false)
	seedShop(c)
	c.mustCode(c.do("POST", "/_emulator/clock", "application/json", `{"time":"2030-01-01T00:00:00Z"}`), 200)
	r := c.mustCode(c.do("POST", "/_emulator/event", "application/json", `{"namespace":"shop","involvedObject":{"apiVersion":"apps/v1","kind":"Deployment","name":"web"},
		"type":"Warning","reason":"FailedCreate","message":"quota exceeded","reportingController":"deployment-controller","count":3}`), 201)
	ev := c.mustCode(c.get("/api/v1/namespaces/shop/events/"+at(r.body, "metadata", "name").(string)), 200).body
	for path, want := range map[string]interface{}{"type": "Warning", "reason": "FailedCreate", "message": "quota exceeded", "count": int64(3),
		"lastTimestamp": "2030-01-01T00:00:00Z", "source.component": "deployment-controller", "involvedObject.kind": "Deployment", "involvedObject.name": "web"} {
		var keys []interface{}
		for _, k := range strings.Split(path, ".") {
			keys = append(keys, k)
		}
		if got := at(ev, keys...); got != want {
			t.Errorf("%s: want %v, got %v", path, want, got)
		}
	}
	dep := c.get("/apis/apps/v1/namespaces/shop/deployments/web").body
	if at(ev, "involvedObject", "uid") != at(dep, "metadata", "uid") {
		t.Errorf("involvedObject.uid must be the Deployment's")
	}
	r = c.mustCode(c.do("POST", "/_emulator/event", "application/json", `{"apiVersion":"events.k8s.io/v1","namespace":"shop","involvedObject":{"apiVersion":"apps/v1","kind":"Deployment","name":"web"},
		"type":"Warning","reason":"FailedCreate","message":"quota exceeded"}`), 201)
	ev = c.mustCode(c.get("/apis/events.k8s.io/v1/namespaces/shop/events/"+at(r.body, "metadata", "name").(string)), 200).body
	if at(ev, "note") != "quota exceeded" || at(ev, "regarding", "name") != "web" || at(ev, "eventTime") != "2030-01-01T00:00:00.000000Z" || at(ev, "reportingController") != "kubelet" {
		t.Fatalf("events.k8s.io/v1: %s", jsonString(t, ev))
	}
	// Listing with a field selector on the involved object works as kubectl describe does.
	l := c.mustCode(c.get("/api/v1/namespaces/shop/events?fieldSelector=involvedObject.name%3Dweb"), 200).body
	if n := len(at(l, "items").([]interface{})); n != 1 {
		t.Fatalf("want 1 core event for web, got %d", n)
	}
	c.mustCode(c.do("POST", "/_emulator/event", "application/json", `{"namespace":"shop","involvedObject":{"kind":"Pod","name":"p"},"reason":"X","type":"Bad"}`), 400)
}

func TestPodLogs(t *testing.T) {
	c := newTestServer(t, false)
	seedShop(c)
	pod := c.mustCode(c.do("POST", "/_emulator/pod", "application/json", `{"namespace":"shop","name":"web-1","owner":{"kind":"Deployment","name":"web"},
		"containers":[{"name":"web","state":"waiting","reason":"CrashLoopBackOff","restartCount":2},{"name":"proxy","state":"waiting","reason":"ImagePullBackOff"}]}`), 201)
	_ = pod
	c.mustCode(c.do("POST", "/_emulator/pod-log", "application/json", `{"namespace":"shop","pod":"web-1","container":"web","text":"start\nlisten :8080\npanic: no DATABASE_URL\n"}`), 200)
	c.mustCode(c.do("POST", "/_emulator/pod-log", "application/json", `{"namespace":"shop","pod":"web-1","container":"web","previous":true,"text":"old run\n"}`), 200)
	r := c.mustCode(c.get("/api/v1/namespaces/shop/pods/web-1/log?container=web&tailLines=2"), 200)
	if r.raw != "listen :8080\npanic: no DATABASE_URL\n" || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("tail: %q %s", r.raw, r.header.Get("Content-Type"))
	}
	if r := c.mustCode(c.get("/api/v1/namespaces/shop/pods/web-1/log?container=web"), 200); r.raw != "start\nlisten :8080\npanic: no DATABASE_URL\n" {
		t.Fatalf("whole log: %q", r.raw)
	}
	if r := c.mustCode(c.get("/api/v1/namespaces/shop/pods/web-1/log?container=web&previous=true"), 200); r.raw != "old run\n" {
		t.Fatalf("previous: %q", r.raw)
	}
	for path, want := range map[string]string{
		"/api/v1/namespaces/shop/pods/web-1/log":                            "a container name must be specified for pod web-1, choose one of: [web proxy]",
		"/api/v1/namespaces/shop/pods/web-1/log?container=db":               "container db is not valid for pod web-1",
		"/api/v1/namespaces/shop/pods/web-1/log?container=proxy":            `container \"proxy\" in pod \"web-1\" is waiting to start: trying and failing to pull image`,
		"/api/v1/namespaces/shop/pods/web-1/log?container=proxy&previous=1": `previous terminated container \"proxy\" in pod \"web-1\" not found`,
		"/api/v1/namespaces/shop/pods/web-1/log?container=web&tailLines=-1": "must be greater than or equal to 0",
		"/api/v1/namespaces/shop/pods/nope/log":                             `pods \"nope\" not found`,
	} {
		r := c.get(path)
		if r.code < 400 || !strings.Contains(r.raw, want) {
			t.Errorf("%s: want error containing %q, got %d %s", path, want, r.code, r.raw)
		}
	}
}

func TestRolloutCreatesReplicaSetPodsAndEvents(t *testing.T) {
	c := newTestServer(t, false)
	c.s.seqUIDs = true
	seedShop(c)
	c.mustCode(c.do("POST", "/_emulator/rollout", "application/json", `{"apiVersion":"apps/v1","kind":"Deployment","namespace":"shop","name":"web","outcome":"complete"}`), 200)
	rsl := c.mustCode(c.get("/apis/apps/v1/namespaces/shop/replicasets"), 200).body
	if n := len(at(rsl, "items").([]interface{})); n != 1 {
		t.Fatalf("want 1 ReplicaSet, got %d", n)
	}
	oldRS := at(rsl, "items", 0, "metadata", "name").(string)
	if at(rsl, "items", 0, "status", "readyReplicas") != int64(2) || at(rsl, "items", 0, "metadata", "annotations", "deployment.kubernetes.io/revision") != "1" {
		t.Fatalf("rs status: %s", jsonString(t, at(rsl, "items", 0)))
	}
	dep := c.get("/apis/apps/v1/namespaces/shop/deployments/web").body
	if msg := at(dep, "status", "conditions", 1, "message"); msg != `ReplicaSet "`+oldRS+`" has successfully progressed.` {
		t.Fatalf("Progressing message must name the ReplicaSet: %v", msg)
	}
	pods := c.mustCode(c.get("/api/v1/namespaces/shop/pods"), 200).body
	if n := len(at(pods, "items").([]interface{})); n != 2 {
		t.Fatalf("want 2 pods, got %d", n)
	}
	// A new image that cannot be pulled: a second ReplicaSet whose pods fail, the old pods
	// keep running, and the kubelet's warnings are recorded.
	c.mustCode(c.apply("/apis/apps/v1/namespaces/shop/deployments/web", "t", strings.Replace(shopDeployment, "web:2.0", "web:2.1-typo", 1)), 200)
	c.mustCode(c.do("POST", "/_emulator/rollout", "application/json", `{"apiVersion":"apps/v1","kind":"Deployment","namespace":"shop","name":"web","outcome":"stalled","podReason":"ImagePullBackOff"}`), 200)
	rsl = c.get("/apis/apps/v1/namespaces/shop/replicasets").body
	if n := len(at(rsl, "items").([]interface{})); n != 2 {
		t.Fatalf("want 2 ReplicaSets, got %d", n)
	}
	pods = c.get("/api/v1/namespaces/shop/pods").body
	failing := 0
	for _, p := range at(pods, "items").([]interface{}) {
		if at(p, "status", "containerStatuses", 0, "state", "waiting", "reason") == "ImagePullBackOff" {
			failing++
			if msg := at(p, "status", "containerStatuses", 0, "state", "waiting", "message"); msg != `Back-off pulling image "registry.example.com/web:2.1-typo"` {
				t.Errorf("waiting message: %v", msg)
			}
			if at(p, "metadata", "ownerReferences", 0, "name") == oldRS {
				t.Errorf("failing pod owned by the old ReplicaSet")
			}
		}
	}
	if failing != 2 || len(at(pods, "items").([]interface{})) != 4 {
		t.Fatalf("want 2 old running + 2 failing pods: %s", jsonString(t, pods))
	}
	evs := c.get("/api/v1/namespaces/shop/events").body
	warnings := 0
	for _, e := range at(evs, "items").([]interface{}) {
		if at(e, "type") == "Warning" && at(e, "involvedObject", "kind") == "Pod" {
			warnings++
		}
	}
	if warnings != 4 {
		t.Fatalf("want 2 warnings per failing pod, got %d: %s", warnings, jsonString(t, evs))
	}
	// Completing the rollout retires the old ReplicaSet's pods.
	c.mustCode(c.do("POST", "/_emulator/rollout", "application/json", `{"apiVersion":"apps/v1","kind":"Deployment","namespace":"shop","name":"web","outcome":"complete"}`), 200)
	old := c.get("/apis/apps/v1/namespaces/shop/replicasets/" + oldRS).body
	if at(old, "spec", "replicas") != int64(0) {
		t.Fatalf("old ReplicaSet must scale to 0: %s", jsonString(t, old))
	}
	pods = c.get("/api/v1/namespaces/shop/pods").body
	if n := len(at(pods, "items").([]interface{})); n != 2 {
		t.Fatalf("want the 2 new pods, got %d", n)
	}
	for _, p := range at(pods, "items").([]interface{}) {
		if at(p, "status", "containerStatuses", 0, "ready") != true {
			t.Fatalf("completed rollout: pods ready: %s", jsonString(t, p))
		}
	}
	for _, reason := range []string{"CrashLoopBackOff", "OOMKilled", "Unschedulable"} {
		c.mustCode(c.do("POST", "/_emulator/rollout", "application/json", `{"apiVersion":"apps/v1","kind":"Deployment","namespace":"shop","name":"web","outcome":"stalled","podReason":"`+reason+`"}`), 200)
	}
	p := at(c.get("/api/v1/namespaces/shop/pods").body, "items", 0)
	if at(p, "status", "conditions", 0, "reason") != "Unschedulable" {
		t.Fatalf("last reason wins: %s", jsonString(t, p))
	}
	c.mustCode(c.do("POST", "/_emulator/rollout", "application/json", `{"apiVersion":"apps/v1","kind":"Deployment","namespace":"shop","name":"web","outcome":"bogus"}`), 400)
}
