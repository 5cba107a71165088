// file: api_test.go — REST semantics and the error Status catalogue: namespaces,
// immutable fields, dry-run, selectors, deletes, status subresource, discovery, OpenAPI.
package main

import (
	"strings"
	"testing"
	"time"
)

func TestNamespaceMissing404(t *testing.T) {
	c := newTestServer(t, false)
	r := c.mustCode(c.apply("/api/v1/namespaces/demo/configmaps/x", "kdep", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}`), 404)
	want := `{"apiVersion":"v1","code":404,"details":{"kind":"namespaces","name":"demo"},"kind":"Status","message":"namespaces \"demo\" not found","metadata":{},"reason":"NotFound","status":"Failure"}`
	if got := jsonString(t, r.body); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	// Reads do not go through admission: GET is a 404 for the object, LIST is empty.
	r = c.mustCode(c.get("/apis/apps/v1/namespaces/demo/deployments/web"), 404)
	if r.body["message"] != `deployments.apps "web" not found` || at(r.body, "details", "group") != "apps" || at(r.body, "details", "kind") != "deployments" {
		t.Fatalf("object 404: %s", r.raw)
	}
	r = c.mustCode(c.get("/apis/apps/v1/namespaces/demo/deployments"), 200)
	if items := r.body["items"].([]interface{}); len(items) != 0 {
		t.Fatal("list in missing namespace should be empty")
	}
}

func TestErrorCatalogue(t *testing.T) {
	c := newTestServer(t, false)
	cm := "/api/v1/namespaces/default/configmaps/x"
	body := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"data":{"a":"1"}}`
	r := c.mustCode(c.get(cm), 404)
	if jsonString(t, r.body) != `{"apiVersion":"v1","code":404,"details":{"kind":"configmaps","name":"x"},"kind":"Status","message":"configmaps \"x\" not found","metadata":{},"reason":"NotFound","status":"Failure"}` {
		t.Fatalf("NotFound body: %s", r.raw)
	}
	c.mustCode(c.do("POST", "/api/v1/namespaces/default/configmaps", "application/json", body), 201)
	r = c.mustCode(c.do("POST", "/api/v1/namespaces/default/configmaps", "application/json", body), 409)
	if r.body["reason"] != "AlreadyExists" || r.body["message"] != `configmaps "x" already exists` {
		t.Fatalf("AlreadyExists: %s", r.raw)
	}
	stale := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","resourceVersion":"1"},"data":{"a":"2"}}`
	r = c.mustCode(c.do("PUT", cm, "application/json", stale), 409)
	if r.body["message"] != `Operation cannot be fulfilled on configmaps "x": the object has been modified; please apply your changes to the latest version and try again` || r.body["reason"] != "Conflict" {
		t.Fatalf("RV conflict: %s", r.raw)
	}
	r = c.mustCode(c.apply(cm, "kdep", `{"apiVersion":"apps/v1","kind":"ConfigMap","metadata":{"name":"x"}}`), 400)
	if r.body["message"] != "invalid object type: apps/v1, Kind=ConfigMap" || r.body["reason"] != "BadRequest" {
		t.Fatalf("invalid object type: %s", r.raw)
	}
	r = c.mustCode(c.apply(cm, "kdep", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"y"}}`), 400)
	if r.body["message"] != "the name of the object (y) does not match the name on the URL (x)" {
		t.Fatalf("name mismatch: %s", r.raw)
	}
	r = c.mustCode(c.apply(cm, "kdep", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","namespace":"other"}}`), 400)
	if r.body["message"] != "the namespace of the provided object does not match the namespace sent on the request" {
		t.Fatalf("namespace mismatch: %s", r.raw)
	}
	r = c.mustCode(c.apply(deployPath, "kdep", strings.Replace(webDeployment, "  replicas: 2\n", "  replicas: 2\n  foo: bar\n", 1)), 500)
	if r.body["message"] != "failed to create typed patch object (default/web; apps/v1, Kind=Deployment): .spec.foo: field not declared in schema" || r.body["reason"] != nil {
		t.Fatalf("unknown field: %s", r.raw)
	}
	r = c.mustCode(c.do("PATCH", cm, "application/apply-patch+yaml", body), 422)
	if r.body["message"] != `PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch` ||
		at(r.body, "details", "causes", 0, "reason") != "FieldValueRequired" || at(r.body, "details", "causes", 0, "field") != "fieldManager" {
		t.Fatalf("fieldManager required: %s", r.raw)
	}
	r = c.mustCode(c.do("PATCH", cm+"?force=true", "application/merge-patch+json", `{"data":{"b":"2"}}`), 422)
	if r.body["message"] != `PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for non-apply patch` {
		t.Fatalf("force on merge: %s", r.raw)
	}
	r = c.mustCode(c.do("PATCH", cm, "application/apply-patch+cbor", `x`), 415)
	if r.body["reason"] != "UnsupportedMediaType" {
		t.Fatalf("415: %s", r.raw)
	}
	r = c.mustCode(c.get("/apis/nope.example.com/v1/things"), 404)
	if r.body["message"] != "the server could not find the requested resource" {
		t.Fatalf("unknown resource: %s", r.raw)
	}
	r = c.mustCode(c.apply("/api/v1/namespaces/default/configmaps/Bad_Name", "kdep", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Bad_Name"}}`), 422)
	if !strings.HasPrefix(r.body["message"].(string), `ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain`) {
		t.Fatalf("invalid name: %s", r.raw)
	}
}

func TestImmutableSelector422(t *testing.T) {
	c := newTestServer(t, false)
	c.mustCode(c.apply(deployPath, "kdep", webDeployment), 201)
	changed := strings.Replace(strings.Replace(webDeployment, "matchLabels: {app: web}", "matchLabels: {app: web2}", 1), "labels: {app: web}\n    spec", "labels: {app: web2}\n    spec", 1)
	r := c.mustCode(c.apply(deployPath, "kdep", changed), 422)
	want := `{"apiVersion":"v1","code":422,"details":{"causes":[{"field":"spec.selector","message":"Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"web2\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable","reason":"FieldValueInvalid"}],"group":"apps","kind":"Deployment","name":"web"},"kind":"Status","message":"Deployment.apps \"web\" is invalid: spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"web2\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable","metadata":{},"reason":"Invalid","status":"Failure"}`
	if got := jsonString(t, r.body); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	// Selector that does not match the template labels.
	bad := strings.Replace(webDeployment, "labels: {app: web}\n    spec", "labels: {app: other}\n    spec", 1)
	r = c.mustCode(c.apply("/apis/apps/v1/namespaces/default/deployments/web", "kdep2", strings.Replace(bad, "name: web\n", "name: web\n", 1), "force=true"), 422)
	if !strings.Contains(r.body["message"].(string), "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"other\"}: `selector` does not match template `labels`") {
		t.Fatalf("selector/template mismatch: %s", r.raw)
	}
}

func TestDryRun(t *testing.T) {
	c := newTestServer(t, false)
	// Dry-run create: full object back without resourceVersion, nothing stored.
	r := c.mustCode(c.apply(deployPath, "kdep", webDeployment, "dryRun=All"), 201)
	if at(r.body, "metadata", "resourceVersion") != nil || at(r.body, "metadata", "uid") == nil || at(r.body, "spec", "revisionHistoryLimit") != int64(10) {
		t.Fatalf("dry-run create: %s", r.raw)
	}
	c.mustCode(c.get(deployPath), 404)
	// Real create, then dry-run update: old resourceVersion, not persisted.
	created := c.mustCode(c.apply(deployPath, "kdep", webDeployment), 201)
	rv := at(created.body, "metadata", "resourceVersion")
	r = c.mustCode(c.apply(deployPath, "kdep", strings.Replace(webDeployment, "replicas: 2", "replicas: 9", 1), "dryRun=All"), 200)
	if at(r.body, "spec", "replicas") != int64(9) || at(r.body, "metadata", "resourceVersion") != rv || at(r.body, "metadata", "generation") != int64(2) {
		t.Fatalf("dry-run update: %s", r.raw)
	}
	if at(c.get(deployPath).body, "spec", "replicas") != int64(2) {
		t.Fatal("dry-run update was persisted")
	}
	// Dry-run POST of an existing object still fails with AlreadyExists.
	c.mustCode(c.do("POST", "/apis/apps/v1/namespaces/default/deployments?dryRun=All", "application/yaml", webDeployment), 409)
	// Dry-run delete only checks.
	c.mustCode(c.do("DELETE", deployPath+"?dryRun=All", "", ""), 200)
	c.mustCode(c.get(deployPath), 200)
	// Only "All" is valid.
	r = c.mustCode(c.apply(deployPath, "kdep", webDeployment, "dryRun=Some"), 422)
	if r.body["message"] != `PatchOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: []string{"Some"}: supported values: "All"` {
		t.Fatalf("dryRun value: %s", r.raw)
	}
}

func TestLabelSelectorGrammar(t *testing.T) {
	c := newTestServer(t, false)
	objs := map[string]string{"a": `{"app":"web","tier":"front"}`, "b": `{"app":"web","tier":"back"}`, "c": `{"app":"db"}`, "d": `{}`}
	for name, labels := range objs {
		c.mustCode(c.apply("/api/v1/namespaces/default/configmaps/"+name, "kdep",
			`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"`+name+`","labels":`+labels+`}}`), 201)
	}
	cases := map[string]string{
		"app=web": "a,b", "app==web": "a,b", "app!=web": "c,d", "tier in (front,back)": "a,b",
		"tier notin (front)": "b,c,d", "tier": "a,b", "!tier": "c,d", "app=web,tier=back": "b", "": "a,b,c,d",
		"app in (web, db),!tier": "c",
	}
	for sel, want := range cases {
		r := c.mustCode(c.get("/api/v1/namespaces/default/configmaps?labelSelector="+urlQuery(sel)), 200)
		var names []string
		for _, it := range r.body["items"].([]interface{}) {
			names = append(names, at(it, "metadata", "name").(string))
			if at(it, "kind") != nil || at(it, "apiVersion") != nil {
				t.Fatal("built-in list items must not carry kind/apiVersion")
			}
		}
		if got := strings.Join(names, ","); got != want {
			t.Errorf("%q: got %s want %s", sel, got, want)
		}
	}
	for _, bad := range []string{"app=(", "a b", "in (x)", "app in (a", "-bad=x"} {
		r := c.get("/api/v1/namespaces/default/configmaps?labelSelector=" + urlQuery(bad))
		if r.code != 400 || r.body["reason"] != "BadRequest" {
			t.Errorf("%q: want 400, got %d %s", bad, r.code, r.raw)
		}
	}
	// Field selectors and cross-namespace lists.
	r := c.mustCode(c.get("/api/v1/configmaps?fieldSelector=metadata.name%3Dc"), 200)
	if len(r.body["items"].([]interface{})) != 1 {
		t.Fatalf("field selector: %s", r.raw)
	}
	c.mustCode(c.get("/api/v1/configmaps?fieldSelector=spec.foo%3Dc"), 400)
	// limit/continue.
	r = c.mustCode(c.get("/api/v1/namespaces/default/configmaps?limit=3"), 200)
	if len(r.body["items"].([]interface{})) != 3 || at(r.body, "metadata", "continue") == nil || at(r.body, "metadata", "remainingItemCount") != int64(1) {
		t.Fatalf("limit: %s", r.raw)
	}
	r = c.mustCode(c.get("/api/v1/namespaces/default/configmaps?limit=3&continue="+at(r.body, "metadata", "continue").(string)), 200)
	if len(r.body["items"].([]interface{})) != 1 {
		t.Fatalf("continue: %s", r.raw)
	}
}

func urlQuery(s string) string {
	r := strings.NewReplacer(" ", "%20", "=", "%3D", "!", "%21", "(", "%28", ")", "%29", ",", "%2C")
	return r.Replace(s)
}

func TestDeleteSemantics(t *testing.T) {
	c := newTestServer(t, false)
	cm := "/api/v1/namespaces/default/configmaps/x"
	r := c.mustCode(c.apply(cm, "kdep", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}`), 201)
	uid := at(r.body, "metadata", "uid").(string)
	r = c.mustCode(c.do("DELETE", cm, "application/json", `{"preconditions":{"uid":"wrong"}}`), 409)
	if r.body["message"] != `Operation cannot be fulfilled on configmaps "x": Precondition failed: UID in precondition: wrong, UID in object meta: `+uid {
		t.Fatalf("precondition: %s", r.raw)
	}
	r = c.mustCode(c.do("DELETE", cm, "application/json", `{"propagationPolicy":"Background","preconditions":{"uid":"`+uid+`"}}`), 200)
	if jsonString(t, r.body) != `{"apiVersion":"v1","details":{"kind":"configmaps","name":"x","uid":"`+uid+`"},"kind":"Status","metadata":{},"status":"Success"}` {
		t.Fatalf("delete status: %s", r.raw)
	}
	c.mustCode(c.do("DELETE", cm, "", ""), 404)
	// Services answer with the object.
	svc := "/api/v1/namespaces/default/services/s"
	c.mustCode(c.apply(svc, "kdep", `{"apiVersion":"v1","kind":"Service","metadata":{"name":"s"},"spec":{"ports":[{"port":80}]}}`), 201)
	r = c.mustCode(c.do("DELETE", svc, "", ""), 200)
	if r.body["kind"] != "Service" {
		t.Fatalf("service delete should return the object: %s", r.raw)
	}
	// Finalizers keep the object with a deletionTimestamp until they are removed.
	c.mustCode(c.apply(cm, "kdep", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","finalizers":["example.com/hold"]}}`), 201)
	r = c.mustCode(c.do("DELETE", cm, "", ""), 200)
	if at(r.body, "metadata", "deletionTimestamp") == nil {
		t.Fatalf("deletionTimestamp missing: %s", r.raw)
	}
	c.mustCode(c.get(cm), 200)
	c.mustCode(c.apply(cm, "kdep", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}`), 200)
	c.mustCode(c.get(cm), 404)
	// Protected namespaces.
	r = c.mustCode(c.do("DELETE", "/api/v1/namespaces/default", "", ""), 403)
	if r.body["message"] != `namespaces "default" is forbidden: this namespace may not be deleted` {
		t.Fatalf("protected ns: %s", r.raw)
	}
	// Deleting a namespace deletes its content.
	c.mustCode(c.apply("/api/v1/namespaces/tmp", "kdep", `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"tmp"}}`), 201)
	c.mustCode(c.apply("/api/v1/namespaces/tmp/configmaps/y", "kdep", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"y"}}`), 201)
	r = c.mustCode(c.do("DELETE", "/api/v1/namespaces/tmp", "", ""), 200)
	if at(r.body, "status", "phase") != "Terminating" {
		t.Fatalf("namespace delete: %s", r.raw)
	}
	c.mustCode(c.get("/api/v1/namespaces/tmp/configmaps/y"), 404)
}

func TestStatusSubresource(t *testing.T) {
	c := newTestServer(t, false)
	r := c.mustCode(c.apply(deployPath, "kdep", webDeployment+"status:\n  replicas: 3\n"), 201)
	if len(getMap(r.body, "status")) != 0 {
		t.Fatalf("status must be reset on create: %s", r.raw)
	}
	// Main-resource writes ignore status.
	withStatus := webDeployment + "status:\n  replicas: 5\n"
	r = c.mustCode(c.apply(deployPath, "kdep", withStatus), 200)
	if len(getMap(r.body, "status")) != 0 || strings.Contains(jsonString(t, managedEntryFor(r.body, "kdep", "Apply")), "f:status") {
		t.Fatalf("status must be reset and unowned: %s", r.raw)
	}
	// Status writes change only status and record subresource "status".
	r = c.mustCode(c.do("PATCH", deployPath+"/status?fieldManager=controller", "application/merge-patch+json",
		`{"spec":{"replicas":9},"status":{"replicas":2,"readyReplicas":2}}`), 200)
	if at(r.body, "spec", "replicas") != int64(2) || at(r.body, "status", "readyReplicas") != int64(2) || at(r.body, "metadata", "generation") != int64(1) {
		t.Fatalf("status write: %s", r.raw)
	}
	e := managedEntryFor(r.body, "controller", "Update")
	if e == nil || e["subresource"] != "status" || strings.Contains(jsonString(t, e), "f:spec") {
		t.Fatalf("status managedFields: %s", jsonString(t, e))
	}
	// The rollout hook writes a complete status.
	c.mustCode(c.do("POST", "/_emulator/rollout", "application/json", `{"apiVersion":"apps/v1","kind":"Deployment","namespace":"default","name":"web","outcome":"complete"}`), 200)
	r = c.get(deployPath)
	if at(r.body, "status", "availableReplicas") != int64(2) || at(r.body, "status", "observedGeneration") != int64(1) ||
		at(r.body, "status", "conditions", 1, "reason") != "NewReplicaSetAvailable" {
		t.Fatalf("rollout complete: %s", r.raw)
	}
	c.mustCode(c.do("POST", "/_emulator/rollout", "application/json", `{"apiVersion":"apps/v1","kind":"Deployment","namespace":"default","name":"web","outcome":"stalled"}`), 200)
	r = c.get(deployPath)
	if at(r.body, "status", "conditions", 1, "reason") != "ProgressDeadlineExceeded" {
		t.Fatalf("rollout stalled: %s", r.raw)
	}
}

func TestDiscovery(t *testing.T) {
	c := newTestServer(t, false)
	r := c.mustCode(c.get("/api/v1"), 200)
	found := map[string]bool{}
	for _, res := range r.body["resources"].([]interface{}) {
		found[at(res, "name").(string)] = true
		if at(res, "name") == "configmaps" && (at(res, "namespaced") != true || at(res, "kind") != "ConfigMap" || at(res, "singularName") != "configmap") {
			t.Fatalf("configmaps row: %s", jsonString(t, res))
		}
	}
	for _, n := range []string{"configmaps", "namespaces", "namespaces/status", "pods/log", "services/status"} {
		if !found[n] {
			t.Errorf("missing %s in /api/v1", n)
		}
	}
	r = c.mustCode(c.get("/apis/apps/v1"), 200)
	var verbs string
	for _, res := range r.body["resources"].([]interface{}) {
		if at(res, "name") == "deployments" {
			verbs = jsonString(t, at(res, "verbs"))
		}
		if at(res, "name") == "deployments/scale" && (at(res, "kind") != "Scale" || at(res, "group") != "autoscaling") {
			t.Fatalf("scale row: %s", jsonString(t, res))
		}
	}
	if verbs != `["create","delete","deletecollection","get","list","patch","update","watch"]` {
		t.Fatalf("deployments verbs: %s", verbs)
	}
	r = c.mustCode(c.get("/apis"), 200)
	if r.body["kind"] != "APIGroupList" || !strings.Contains(r.raw, `"name":"apps"`) {
		t.Fatalf("/apis: %s", r.raw)
	}
	req := c.do
	_ = req
	agg := c.doAccept("/apis", "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json")
	if agg.header.Get("Content-Type") != aggregatedCT || agg.body["kind"] != "APIGroupDiscoveryList" {
		t.Fatalf("aggregated: %s %s", agg.header.Get("Content-Type"), agg.raw[:200])
	}
	if !strings.Contains(agg.raw, `"resource":"deployments","responseKind":{"group":"apps","version":"v1","kind":"Deployment"},"scope":"Namespaced","shortNames":["deploy"]`) &&
		!strings.Contains(agg.raw, `"resource":"deployments"`) {
		t.Fatalf("aggregated deployments missing")
	}
	r = c.mustCode(c.get("/version"), 200)
	if r.body["gitVersion"] != "v1.35.0" || r.body["minor"] != "35" {
		t.Fatalf("version: %s", r.raw)
	}
	r = c.mustCode(c.get("/openapi/v3"), 200)
	u, _ := at(r.body, "paths", "apis/apps/v1", "serverRelativeURL").(string)
	if !strings.HasPrefix(u, "/openapi/v3/apis/apps/v1?hash=") {
		t.Fatalf("openapi index: %s", r.raw)
	}
	r = c.mustCode(c.get(u), 200)
	if at(r.body, "components", "schemas", "io.k8s.api.apps.v1.Deployment") == nil {
		t.Fatal("apps/v1 document not served")
	}
	r = c.mustCode(c.get("/openapi/v2"), 200)
	if r.body["swagger"] != "2.0" {
		t.Fatal("swagger not served")
	}
}

func TestApplyToStatusSubresource(t *testing.T) {
	c := newTestServer(t, false)
	c.mustCode(c.apply(deployPath, "kdep", webDeployment), 201)
	st := `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":9},"status":{"replicas":2,"readyReplicas":1}}`
	r := c.mustCode(c.apply(deployPath+"/status", "ctl", st), 200)
	if at(r.body, "spec", "replicas") != int64(2) || at(r.body, "status", "readyReplicas") != int64(1) {
		t.Fatalf("status apply: %s", r.raw)
	}
	e := managedEntryFor(r.body, "ctl", "Apply")
	if e == nil || e["subresource"] != "status" || jsonString(t, e["fieldsV1"]) != `{"f:status":{"f:readyReplicas":{},"f:replicas":{}}}` {
		t.Fatalf("status apply managedFields: %s", jsonString(t, e))
	}
	// Dropping a status field the applier owned removes it.
	r = c.mustCode(c.apply(deployPath+"/status", "ctl", `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"status":{"replicas":2}}`), 200)
	if at(r.body, "status", "readyReplicas") != nil {
		t.Fatalf("readyReplicas should be pruned: %s", r.raw)
	}
	// The main-resource applier is unaffected and re-applying it is a no-op.
	before := at(r.body, "metadata", "resourceVersion")
	r = c.mustCode(c.apply(deployPath, "kdep", webDeployment), 200)
	if at(r.body, "metadata", "resourceVersion") != before {
		t.Fatal("main apply after status apply should be a no-op")
	}
}

func TestTerminatingNamespace(t *testing.T) {
	c := newTestServer(t, false)
	c.mustCode(c.do("POST", "/_emulator/namespace-delay", "application/json", `{"milliseconds":300}`), 200)
	c.mustCode(c.apply("/api/v1/namespaces/tmp", "kdep", `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"tmp"}}`), 201)
	c.mustCode(c.apply("/api/v1/namespaces/tmp/configmaps/a", "kdep", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}`), 201)
	r := c.mustCode(c.do("DELETE", "/api/v1/namespaces/tmp", "", ""), 200)
	if at(r.body, "status", "phase") != "Terminating" {
		t.Fatalf("delete: %s", r.raw)
	}
	r = c.mustCode(c.apply("/api/v1/namespaces/tmp/configmaps/b", "kdep", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"b"}}`), 403)
	if r.body["message"] != `configmaps "b" is forbidden: unable to create new content in namespace tmp because it is being terminated` {
		t.Fatalf("terminating: %s", r.raw)
	}
	c.mustCode(c.get("/api/v1/namespaces/tmp/configmaps/a"), 200)
	time.Sleep(500 * time.Millisecond)
	c.mustCode(c.get("/api/v1/namespaces/tmp/configmaps/a"), 404)
	c.mustCode(c.get("/api/v1/namespaces/tmp"), 404)
}

func TestAccessReviews(t *testing.T) {
	c := newTestServer(t, false)
	review := `{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectAccessReview","spec":{"resourceAttributes":{"verb":"patch","group":"apps","resource":"deployments","namespace":"default"}}}`
	r := c.mustCode(c.do("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", "application/json", review), 201)
	if at(r.body, "status", "allowed") != true {
		t.Fatalf("admin: %s", r.raw)
	}
	c.token = "read-token"
	r = c.mustCode(c.do("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", "application/json", review), 201)
	if at(r.body, "status", "allowed") != false {
		t.Fatalf("read-only: %s", r.raw)
	}
	r = c.mustCode(c.do("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", "application/json", strings.Replace(review, "patch", "list", 1)), 201)
	if at(r.body, "status", "allowed") != true {
		t.Fatalf("read-only list: %s", r.raw)
	}
}

func TestNameAndLabelValidation(t *testing.T) {
	c := newTestServer(t, false)
	r := c.mustCode(c.apply("/api/v1/namespaces/default/services/1svc", "kdep", `{"apiVersion":"v1","kind":"Service","metadata":{"name":"1svc"},"spec":{"ports":[{"port":80}]}}`), 422)
	if !strings.HasPrefix(r.body["message"].(string), `Service "1svc" is invalid: metadata.name: Invalid value: "1svc": a DNS-1035 label must consist of lower case alphanumeric characters`) {
		t.Fatalf("service name: %s", r.raw)
	}
	r = c.mustCode(c.apply("/api/v1/namespaces/a.b", "kdep", `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a.b"}}`), 422)
	if !strings.Contains(r.body["message"].(string), "a lowercase RFC 1123 label must consist of") {
		t.Fatalf("namespace name: %s", r.raw)
	}
	r = c.mustCode(c.apply("/api/v1/namespaces/default/configmaps/x", "kdep", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","labels":{"app":"bad value!"}}}`), 422)
	if !strings.HasPrefix(r.body["message"].(string), `ConfigMap "x" is invalid: metadata.labels: Invalid value: "bad value!": a valid label must be an empty string`) {
		t.Fatalf("label value: %s", r.raw)
	}
}
