// file: ssa_test.go — server-side apply fidelity: creation, no-op re-apply, field
// ownership, conflicts and force, shared ownership, pruning of dropped fields and
// list-map items, and the managedFields wire format.
package main

import (
	"fmt"
	"strings"
	"testing"
)

func TestApplyCreatesThenUpdates(t *testing.T) {
	c := newTestServer(t, false)
	r := c.mustCode(c.apply(deployPath, "kdep", webDeployment), 201)
	if at(r.body, "metadata", "generation") != int64(1) || at(r.body, "metadata", "uid") == nil || at(r.body, "metadata", "resourceVersion") == nil {
		t.Fatalf("system metadata missing: %s", r.raw)
	}
	r2 := c.mustCode(c.apply(deployPath, "kdep", strings.Replace(webDeployment, "replicas: 2", "replicas: 3", 1)), 200)
	if at(r2.body, "spec", "replicas") != int64(3) || at(r2.body, "metadata", "generation") != int64(2) {
		t.Fatalf("update not applied: %s", r2.raw)
	}
	if at(r2.body, "metadata", "uid") != at(r.body, "metadata", "uid") || at(r2.body, "metadata", "creationTimestamp") != at(r.body, "metadata", "creationTimestamp") {
		t.Fatal("uid/creationTimestamp changed on update")
	}
}

func TestNoOpApplyKeepsResourceVersion(t *testing.T) {
	c := newTestServer(t, false)
	r1 := c.mustCode(c.apply(deployPath, "kdep", webDeployment), 201)
	r2 := c.mustCode(c.apply(deployPath, "kdep", webDeployment), 200)
	if at(r1.body, "metadata", "resourceVersion") != at(r2.body, "metadata", "resourceVersion") {
		t.Fatalf("no-op apply bumped resourceVersion: %v -> %v", at(r1.body, "metadata", "resourceVersion"), at(r2.body, "metadata", "resourceVersion"))
	}
	if jsonString(t, r1.body) != jsonString(t, r2.body) {
		t.Fatalf("no-op apply changed the object:\n%s\n%s", r1.raw, r2.raw)
	}
	// Applying a field at its defaulted value changes no value, but ownership is
	// recorded, so managedFields (and the resourceVersion) change once...
	withDefaults := strings.Replace(webDeployment, "  replicas: 2\n", "  replicas: 2\n  revisionHistoryLimit: 10\n", 1)
	r3 := c.mustCode(c.apply(deployPath, "kdep", withDefaults), 200)
	if at(r3.body, "metadata", "resourceVersion") == at(r1.body, "metadata", "resourceVersion") {
		t.Fatal("ownership change must be persisted")
	}
	if !strings.Contains(jsonString(t, managedEntryFor(r3.body, "kdep", "Apply")), "f:revisionHistoryLimit") {
		t.Fatalf("revisionHistoryLimit not owned after apply: %s", r3.raw)
	}
	if at(r3.body, "metadata", "generation") != int64(1) {
		t.Fatal("generation must not change when spec values did not")
	}
	// ...and applying that again is a no-op.
	r4 := c.mustCode(c.apply(deployPath, "kdep", withDefaults), 200)
	if at(r4.body, "metadata", "resourceVersion") != at(r3.body, "metadata", "resourceVersion") {
		t.Fatal("second identical apply bumped resourceVersion")
	}
}

func TestManagedFieldsEncoding(t *testing.T) {
	c := newTestServer(t, false)
	c.s.fixedTime = mustTime("2026-01-02T03:04:05Z")
	r := c.mustCode(c.apply(deployPath, "kdep", webDeployment), 201)
	mf := getList(r.body, "metadata", "managedFields")
	if len(mf) != 1 {
		t.Fatalf("want one managedFields entry, got %s", jsonString(t, mf))
	}
	want := `{"apiVersion":"apps/v1","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:replicas":{},"f:selector":{},"f:template":{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"web\"}":{".":{},"f:image":{},"f:name":{},"f:ports":{"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{}}}}}}}}},"manager":"kdep","operation":"Apply","time":"2026-01-02T03:04:05Z"}`
	if got := jsonString(t, mf[0]); got != want {
		t.Fatalf("managedFields entry\n got: %s\nwant: %s", got, want)
	}
}

func TestApplyConflictAndForce(t *testing.T) {
	c := newTestServer(t, false)
	c.mustCode(c.apply(deployPath, "kdep", webDeployment), 201)
	// Someone scales with a plain merge patch (an Update manager, like kubectl edit).
	c.mustCode(c.do("PATCH", deployPath+"?fieldManager=kubectl-edit", "application/merge-patch+json", `{"spec":{"replicas":5}}`), 200)
	r := c.mustCode(c.apply(deployPath, "kdep", strings.Replace(webDeployment, "replicas: 2", "replicas: 4", 1)), 409)
	want := `{"apiVersion":"v1","code":409,"details":{"causes":[{"field":".spec.replicas","message":"conflict with \"kubectl-edit\" using apps/v1","reason":"FieldManagerConflict"}]},"kind":"Status","message":"Apply failed with 1 conflict: conflict with \"kubectl-edit\" using apps/v1: .spec.replicas","metadata":{},"reason":"Conflict","status":"Failure"}`
	if got := jsonString(t, r.body); got != want {
		t.Fatalf("conflict body\n got: %s\nwant: %s", got, want)
	}
	// Re-applying the *old* value is also a conflict (the live value is 5).
	c.mustCode(c.apply(deployPath, "kdep", webDeployment), 409)
	// force=true takes the field over.
	r = c.mustCode(c.apply(deployPath, "kdep", strings.Replace(webDeployment, "replicas: 2", "replicas: 4", 1), "force=true"), 200)
	if at(r.body, "spec", "replicas") != int64(4) {
		t.Fatalf("force did not apply: %s", r.raw)
	}
	if e := managedEntryFor(r.body, "kubectl-edit", "Update"); e != nil {
		t.Fatalf("kubectl-edit should have lost its only field: %s", jsonString(t, e))
	}
}

func TestMultipleConflictsMessage(t *testing.T) {
	c := newTestServer(t, false)
	cm := "/api/v1/namespaces/default/configmaps/cfg"
	c.mustCode(c.apply(cm, "a", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg"},"data":{"x":"1","y":"1"}}`), 201)
	c.mustCode(c.apply(cm, "b", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg"},"data":{"z":"1"}}`), 200)
	r := c.mustCode(c.apply(cm, "c", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg"},"data":{"x":"2","y":"2","z":"2"}}`), 409)
	want := "Apply failed with 3 conflicts: conflicts with \"a\":\n- .data.x\n- .data.y\nconflicts with \"b\":\n- .data.z"
	if r.body["message"] != want {
		t.Fatalf("message\n got: %q\nwant: %q", r.body["message"], want)
	}
}

func TestSharedOwnership(t *testing.T) {
	c := newTestServer(t, false)
	c.mustCode(c.apply(deployPath, "kdep", webDeployment), 201)
	// A second applier setting the same value shares ownership: no conflict.
	other := `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":2}}`
	r := c.mustCode(c.apply(deployPath, "other", other), 200)
	for _, m := range []string{"kdep", "other"} {
		if !strings.Contains(jsonString(t, managedEntryFor(r.body, m, "Apply")), `"f:replicas":{}`) {
			t.Fatalf("%s should own spec.replicas: %s", m, r.raw)
		}
	}
	// kdep drops replicas: the field stays because "other" still owns it.
	dropped := strings.Replace(webDeployment, "  replicas: 2\n", "", 1)
	r = c.mustCode(c.apply(deployPath, "kdep", dropped), 200)
	if at(r.body, "spec", "replicas") != int64(2) {
		t.Fatalf("co-owned field was removed: %s", r.raw)
	}
	// Now "other" changes it without conflict (sole owner).
	c.mustCode(c.apply(deployPath, "other", strings.Replace(other, `"replicas":2`, `"replicas":7`, 1)), 200)
}

func TestApplyRemovesDroppedFieldsAndListItems(t *testing.T) {
	c := newTestServer(t, false)
	two := `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web, tier: front}
  annotations: {note: x}
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports:
        - containerPort: 80
        - containerPort: 443
        env:
        - {name: A, value: "1"}
        - {name: B, value: "2"}
      - name: sidecar
        image: busybox:1.36
`
	c.mustCode(c.apply(deployPath, "kdep", two), 201)
	one := `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports:
        - containerPort: 80
        env:
        - {name: B, value: "2"}
`
	r := c.mustCode(c.apply(deployPath, "kdep", one), 200)
	cs := getList(r.body, "spec", "template", "spec", "containers")
	if len(cs) != 1 || at(cs[0], "name") != "web" {
		t.Fatalf("sidecar not removed: %s", jsonString(t, cs))
	}
	if ports := at(cs[0], "ports").([]interface{}); len(ports) != 1 || at(ports[0], "containerPort") != int64(80) {
		t.Fatalf("port 443 not removed: %s", jsonString(t, ports))
	}
	if env := at(cs[0], "env").([]interface{}); len(env) != 1 || at(env[0], "name") != "B" {
		t.Fatalf("env A not removed: %s", jsonString(t, env))
	}
	if _, ok := getMap(r.body, "metadata", "labels")["tier"]; ok {
		t.Fatal("dropped label kept")
	}
	if getMap(r.body, "metadata")["annotations"] != nil {
		t.Fatal("dropped annotation kept")
	}
	// A dropped defaulted field is reset to its default.
	if at(r.body, "spec", "replicas") != int64(1) {
		t.Fatalf("dropped replicas should be re-defaulted to 1, got %v", at(r.body, "spec", "replicas"))
	}
}

func TestUpdateManagerNameFromUserAgent(t *testing.T) {
	c := newTestServer(t, false)
	c.mustCode(c.apply(deployPath, "kdep", webDeployment), 201)
	r := c.mustCode(c.do("PATCH", deployPath, "application/strategic-merge-patch+json", `{"metadata":{"labels":{"extra":"1"}}}`), 200)
	e := managedEntryFor(r.body, "emulator-test", "Update")
	if e == nil || e["apiVersion"] != "apps/v1" || !strings.Contains(jsonString(t, e), `"f:extra":{}`) {
		t.Fatalf("Update entry missing or wrong: %s", r.raw)
	}
}

func TestStrategicMergeListMap(t *testing.T) {
	c := newTestServer(t, false)
	c.mustCode(c.apply(deployPath, "kdep", webDeployment), 201)
	patch := `{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.28"},{"name":"log","image":"busybox:1"}]}}}}`
	r := c.mustCode(c.do("PATCH", deployPath, "application/strategic-merge-patch+json", patch), 200)
	cs := getList(r.body, "spec", "template", "spec", "containers")
	if len(cs) != 2 || at(cs[0], "image") != "nginx:1.28" || at(cs[0], "ports") == nil {
		t.Fatalf("strategic merge by name failed: %s", jsonString(t, cs))
	}
	del := `{"spec":{"template":{"spec":{"containers":[{"name":"log","$patch":"delete"}]}}}}`
	r = c.mustCode(c.do("PATCH", deployPath, "application/strategic-merge-patch+json", del), 200)
	if n := len(getList(r.body, "spec", "template", "spec", "containers")); n != 1 {
		t.Fatalf("$patch: delete failed, %d containers", n)
	}
}

func TestJSONPatch(t *testing.T) {
	c := newTestServer(t, false)
	c.mustCode(c.apply(deployPath, "kdep", webDeployment), 201)
	r := c.mustCode(c.do("PATCH", deployPath, "application/json-patch+json",
		`[{"op":"replace","path":"/spec/replicas","value":6},{"op":"add","path":"/metadata/labels/x","value":"y"},{"op":"test","path":"/spec/replicas","value":6}]`), 200)
	if at(r.body, "spec", "replicas") != int64(6) || at(r.body, "metadata", "labels", "x") != "y" {
		t.Fatalf("json patch: %s", r.raw)
	}
	c.mustCode(c.do("PATCH", deployPath, "application/json-patch+json", `[{"op":"test","path":"/spec/replicas","value":1}]`), 422)
}

func TestUpdateManagersAreCapped(t *testing.T) {
	c := newTestServer(t, false)
	cm := "/api/v1/namespaces/default/configmaps/x"
	c.mustCode(c.apply(cm, "kdep", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"data":{"base":"1"}}`), 201)
	c.s.fixedTime = mustTime("2026-01-01T00:00:00Z")
	for i := 0; i < 12; i++ {
		c.s.fixedTime = mustTime(fmt.Sprintf("2026-01-01T00:00:%02dZ", i))
		c.mustCode(c.do("PATCH", fmt.Sprintf("%s?fieldManager=editor-%02d", cm, i), "application/merge-patch+json",
			fmt.Sprintf(`{"data":{"k%02d":"v"}}`, i)), 200)
	}
	r := c.get(cm)
	var managers []string
	for _, e := range getList(r.body, "metadata", "managedFields") {
		managers = append(managers, at(e, "manager").(string))
	}
	// 1 applier + 12 updaters -> the three oldest updaters collapse into one bucket.
	want := "kdep,ancient-changes,editor-03,editor-04,editor-05,editor-06,editor-07,editor-08,editor-09,editor-10,editor-11"
	if got := strings.Join(managers, ","); got != want {
		t.Fatalf("managers\n got: %s\nwant: %s", got, want)
	}
	bucket := getList(r.body, "metadata", "managedFields")[1]
	if jsonString(t, at(bucket, "fieldsV1")) != `{"f:data":{"f:k00":{},"f:k01":{},"f:k02":{}}}` || at(bucket, "time") != "2026-01-01T00:00:02Z" {
		t.Fatalf("bucket: %s", jsonString(t, bucket))
	}
}
