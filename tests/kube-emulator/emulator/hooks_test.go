// file: hooks_test.go — the test hooks: TLS with a per-run CA, bearer tokens and the
// read-only identity, fault injection, the request log, the deterministic clock and
// UIDs, and CRD registration (with and without an Established delay).
package main

import (
	"compress/gzip"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

func TestTLSAndTokens(t *testing.T) {
	c := newTestServer(t, false)
	caPEM, cert, err := newPKI()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(c.s)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	good := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	otherCA, _, _ := newPKI()
	otherPool := x509.NewCertPool()
	otherPool.AppendCertsFromPEM(otherCA)
	bad := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: otherPool}}}
	get := func(cl *http.Client, method, path, token string, body string) (int, string, error) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/apply-patch+yaml")
		}
		res, err := cl.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b), nil
	}
	if code, _, err := get(good, "GET", "/api/v1/namespaces", "admin-token", ""); err != nil || code != 200 {
		t.Fatalf("good CA + token: %d %v", code, err)
	}
	if _, _, err := get(bad, "GET", "/api/v1/namespaces", "admin-token", ""); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("wrong CA must be refused, got %v", err)
	}
	code, body, _ := get(good, "GET", "/api/v1/namespaces", "wrong", "")
	if code != 401 || strings.TrimSpace(body) != `{"apiVersion":"v1","code":401,"kind":"Status","message":"Unauthorized","metadata":{},"reason":"Unauthorized","status":"Failure"}` {
		t.Fatalf("wrong token: %d %s", code, body)
	}
	if code, _, _ := get(good, "GET", "/version", "", ""); code != 200 {
		t.Fatal("anonymous /version should be allowed")
	}
	if code, _, _ := get(good, "GET", "/api", "", ""); code != 403 {
		t.Fatal("anonymous /api should be forbidden")
	}
	if code, _, _ := get(good, "GET", "/api/v1/namespaces/default/configmaps", "read-token", ""); code != 200 {
		t.Fatal("read-only token can list")
	}
	code, body, _ = get(good, "PATCH", "/api/v1/namespaces/default/configmaps/x?fieldManager=kdep", "read-token", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}`)
	if code != 403 || !strings.Contains(body, `"message":"configmaps \"x\" is forbidden: User \"kube-emulator-readonly\" cannot patch resource \"configmaps\" in API group \"\" in the namespace \"default\""`) {
		t.Fatalf("read-only write: %d %s", code, body)
	}
	if code, _, _ := get(good, "GET", "/_emulator/log", "read-token", ""); code != 401 {
		t.Fatal("hooks need the admin token")
	}
}

func TestFaultInjection(t *testing.T) {
	c := newTestServer(t, false)
	cm := "/api/v1/namespaces/default/configmaps/"
	body := func(n string) string { return `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"` + n + `"}}` }
	c.mustCode(c.do("POST", "/_emulator/faults", "application/json", `{"method":"PATCH","path":"/configmaps/","action":"status","status":429,"retryAfter":2,"times":2}`), 201)
	r := c.mustCode(c.apply(cm+"a", "kdep", body("a")), 429)
	if r.header.Get("Retry-After") != "2" || r.body["reason"] != "TooManyRequests" || at(r.body, "details", "retryAfterSeconds") != int64(2) {
		t.Fatalf("429: %v %s", r.header, r.raw)
	}
	c.mustCode(c.apply(cm+"a", "kdep", body("a")), 429)
	c.mustCode(c.apply(cm+"a", "kdep", body("a")), 201) // exhausted after two firings
	c.mustCode(c.do("POST", "/_emulator/faults", "application/json", `{"action":"status","status":500,"path":"/configmaps/b$"}`), 201)
	r = c.mustCode(c.apply(cm+"b", "kdep", body("b")), 500)
	if r.body["reason"] != "InternalError" || r.body["message"] != "Internal error occurred: injected fault" {
		t.Fatalf("500: %s", r.raw)
	}
	// A dropped connection in the middle of a multi-object apply: the second write dies.
	c.mustCode(c.do("POST", "/_emulator/faults", "application/json", `{"method":"PATCH","action":"drop","skip":1}`), 201)
	c.mustCode(c.apply(cm+"c", "kdep", body("c")), 201)
	req, _ := http.NewRequest("PATCH", c.srv.URL+cm+"d?fieldManager=kdep", strings.NewReader(body("d")))
	req.Header.Set("Content-Type", "application/apply-patch+yaml")
	req.Header.Set("Authorization", "Bearer admin-token")
	if res, err := c.srv.Client().Do(req); err == nil {
		res.Body.Close()
		t.Fatalf("dropped request got a response: %d", res.StatusCode)
	}
	c.mustCode(c.get(cm+"d"), 404)
	// Drop after processing: the write happens, the client never hears back.
	c.mustCode(c.do("POST", "/_emulator/faults", "application/json", `{"method":"PATCH","action":"drop","after":true}`), 201)
	req, _ = http.NewRequest("PATCH", c.srv.URL+cm+"e?fieldManager=kdep", strings.NewReader(body("e")))
	req.Header.Set("Content-Type", "application/apply-patch+yaml")
	req.Header.Set("Authorization", "Bearer admin-token")
	if res, err := c.srv.Client().Do(req); err == nil {
		res.Body.Close()
		t.Fatal("drop-after request got a response")
	}
	c.mustCode(c.get(cm+"e"), 200)
	// Slow responses.
	c.mustCode(c.do("POST", "/_emulator/faults", "application/json", `{"method":"GET","action":"delay","delayMs":300}`), 201)
	start := time.Now()
	c.mustCode(c.get(cm+"e"), 200)
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("delay not applied: %v", d)
	}
	// The log shows the faults.
	r = c.mustCode(c.get("/_emulator/log"), 200)
	var faults []string
	for _, e := range r.body["entries"].([]interface{}) {
		if f, _ := at(e, "fault").(string); f != "" {
			faults = append(faults, f)
		}
	}
	if strings.Join(faults, "|") != "status 429|status 429|status 500|drop|drop after processing|delay 300ms" {
		t.Fatalf("faults in log: %v", faults)
	}
	c.mustCode(c.do("DELETE", "/_emulator/faults", "", ""), 200)
}

func TestRequestLog(t *testing.T) {
	c := newTestServer(t, false)
	c.mustCode(c.apply(deployPath, "kdep", webDeployment, "dryRun=All"), 201)
	c.mustCode(c.get(deployPath), 404)
	r := c.mustCode(c.get("/_emulator/log"), 200)
	entries := r.body["entries"].([]interface{})
	if len(entries) != 2 {
		t.Fatalf("want 2 entries: %s", r.raw)
	}
	e := entries[0]
	if at(e, "method") != "PATCH" || at(e, "path") != deployPath || at(e, "fieldManager") != "kdep" || at(e, "dryRun") != true ||
		at(e, "status") != int64(201) || at(e, "contentType") != "application/apply-patch+yaml" || at(e, "user") != "kube-emulator-admin" {
		t.Fatalf("log entry: %s", jsonString(t, e))
	}
	seq := at(entries[1], "seq").(int64)
	c.get("/version")
	r = c.mustCode(c.get("/_emulator/log?since="+itoa(seq)), 200)
	if len(r.body["entries"].([]interface{})) != 1 {
		t.Fatalf("since: %s", r.raw)
	}
}

func itoa(i int64) string { return strings.TrimSpace(jsonString(nil, i)) }

func TestDeterministicClockAndUIDs(t *testing.T) {
	c := newTestServer(t, false)
	c.mustCode(c.do("POST", "/_emulator/clock", "application/json", `{"time":"2030-01-01T00:00:00Z","sequentialUIDs":true}`), 200)
	r := c.mustCode(c.apply(deployPath, "kdep", webDeployment), 201)
	if at(r.body, "metadata", "creationTimestamp") != "2030-01-01T00:00:00Z" || at(r.body, "metadata", "uid") != "00000000-0000-4000-8000-000000000001" {
		t.Fatalf("deterministic metadata: %s", r.raw)
	}
	c.mustCode(c.do("POST", "/_emulator/clock", "application/json", `{"advanceSeconds":90}`), 200)
	r = c.mustCode(c.apply(deployPath, "kdep", strings.Replace(webDeployment, "replicas: 2", "replicas: 3", 1)), 200)
	if at(managedEntryFor(r.body, "kdep", "Apply"), "time") != "2030-01-01T00:01:30Z" {
		t.Fatalf("clock advance: %s", r.raw)
	}
}

func readCRD(t *testing.T, name string) string {
	f, err := os.Open(filepath.Join(testDataDir(t), "crds", name+".gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(zr)
	j, err := yaml.YAMLToJSON(raw)
	if err != nil {
		t.Fatal(err)
	}
	return string(j)
}

func TestCRDRegistration(t *testing.T) {
	c := newTestServer(t, true)
	crdPath := "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/certificates.cert-manager.io"
	c.mustCode(c.apply(crdPath, "kdep", readCRD(t, "cert-manager.io_certificates.yaml")), 201)
	r := c.mustCode(c.get(crdPath), 200)
	// Re-applying the CRD is a no-op (defaults and the controller's status included).
	again := c.mustCode(c.apply(crdPath, "kdep", readCRD(t, "cert-manager.io_certificates.yaml")), 200)
	if at(again.body, "metadata", "resourceVersion") != at(r.body, "metadata", "resourceVersion") {
		t.Fatal("CRD re-apply bumped resourceVersion")
	}
	if at(r.body, "status", "conditions", 1, "type") != "Established" || at(r.body, "status", "conditions", 1, "status") != "True" {
		t.Fatalf("CRD not established: %s", r.raw)
	}
	r = c.mustCode(c.get("/apis/cert-manager.io/v1"), 200)
	if !strings.Contains(r.raw, `"name":"certificates"`) || !strings.Contains(r.raw, `"name":"certificates/status"`) {
		t.Fatalf("discovery: %s", r.raw)
	}
	cert := `{"apiVersion":"cert-manager.io/v1","kind":"Certificate","metadata":{"name":"tls"},"spec":{"secretName":"tls","dnsNames":["a.example.com"],"issuerRef":{"name":"ca","kind":"ClusterIssuer"}}}`
	certPath := "/apis/cert-manager.io/v1/namespaces/default/certificates/tls"
	r = c.mustCode(c.apply(certPath, "kdep", cert), 201)
	if at(r.body, "metadata", "generation") != int64(1) || managedEntryFor(r.body, "kdep", "Apply") == nil {
		t.Fatalf("CR apply: %s", r.raw)
	}
	r2 := c.mustCode(c.apply(certPath, "kdep", cert), 200)
	if at(r2.body, "metadata", "resourceVersion") != at(r.body, "metadata", "resourceVersion") {
		t.Fatal("CR no-op apply bumped RV")
	}
	r = c.mustCode(c.get("/apis/cert-manager.io/v1/namespaces/default/certificates"), 200)
	if at(r.body, "items", 0, "kind") != "Certificate" {
		t.Fatalf("CR list items keep kind: %s", r.raw)
	}
	r = c.mustCode(c.get("/openapi/v3"), 200)
	if at(r.body, "paths", "apis/cert-manager.io/v1") == nil {
		t.Fatal("CRD group-version missing from /openapi/v3")
	}
	r = c.mustCode(c.get("/openapi/v3/apis/cert-manager.io/v1"), 200)
	if at(r.body, "components", "schemas", "io.cert-manager.v1.Certificate") == nil {
		t.Fatalf("CRD openapi doc: %.300s", r.raw)
	}
	// Strategic merge patch is not available for custom resources.
	c.mustCode(c.do("PATCH", certPath, "application/strategic-merge-patch+json", `{}`), 415)
	// Deleting the CRD removes the kind.
	c.mustCode(c.do("DELETE", crdPath, "", ""), 200)
	c.mustCode(c.get(certPath), 404)
	c.mustCode(c.get("/apis/cert-manager.io/v1"), 404)
}

func TestCRDEstablishDelayAndDefaults(t *testing.T) {
	c := newTestServer(t, true)
	c.s.crdDelay = 300 * time.Millisecond
	crd := `{"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition","metadata":{"name":"widgets.example.com"},
	"spec":{"group":"example.com","scope":"Namespaced","names":{"plural":"widgets","kind":"Widget","shortNames":["wd"]},
	"versions":[{"name":"v1","served":true,"storage":true,"subresources":{"status":{}},"schema":{"openAPIV3Schema":{"type":"object","properties":{
	  "spec":{"type":"object","properties":{"size":{"type":"integer","default":3},"items":{"type":"array","items":{"type":"string"}}}},
	  "status":{"type":"object","properties":{"ready":{"type":"boolean"}}}}}}}]}}`
	c.mustCode(c.apply("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com", "kdep", crd), 201)
	w := `{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w"},"spec":{"items":["a"]}}`
	wPath := "/apis/example.com/v1/namespaces/default/widgets/w"
	c.mustCode(c.apply(wPath, "kdep", w), 404)
	deadline := time.Now().Add(3 * time.Second)
	for {
		r := c.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com")
		if at(r.body, "status", "conditions", 1, "status") == "True" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("CRD never established")
		}
		time.Sleep(50 * time.Millisecond)
	}
	r := c.mustCode(c.apply(wPath, "kdep", w), 201)
	if at(r.body, "spec", "size") != int64(3) {
		t.Fatalf("CRD default not applied: %s", r.raw)
	}
	// Lists without markers are atomic for custom resources: a second applier's
	// different list conflicts on the whole list.
	r = c.mustCode(c.apply(wPath, "other", `{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w"},"spec":{"items":["b"]}}`), 409)
	if !strings.Contains(r.body["message"].(string), `conflict with "kdep": .spec.items`) {
		t.Fatalf("atomic list conflict: %s", r.raw)
	}
	r = c.mustCode(c.do("PATCH", wPath+"/status?fieldManager=ctl", "application/merge-patch+json", `{"status":{"ready":true}}`), 200)
	if at(r.body, "status", "ready") != true || at(r.body, "metadata", "generation") != int64(1) {
		t.Fatalf("CR status: %s", r.raw)
	}
}

func TestRealCRDs(t *testing.T) {
	c := newTestServer(t, true)
	crs := map[string]struct{ crd, path, cr, status string }{
		"servicemonitors": {"monitoring.coreos.com_servicemonitors.yaml", "/apis/monitoring.coreos.com/v1/namespaces/default/servicemonitors/web",
			`{"apiVersion":"monitoring.coreos.com/v1","kind":"ServiceMonitor","metadata":{"name":"web"},"spec":{"selector":{"matchLabels":{"app":"web"}},"endpoints":[{"port":"http","interval":"30s"}]}}`,
			`{"status":{"bindings":[{"group":"monitoring.coreos.com","resource":"prometheuses","name":"k8s","namespace":"monitoring"}]}}`},
		"rollouts": {"argoproj.io_rollouts.yaml", "/apis/argoproj.io/v1alpha1/namespaces/default/rollouts/web",
			`{"apiVersion":"argoproj.io/v1alpha1","kind":"Rollout","metadata":{"name":"web"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},
			  "template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"web","image":"nginx:1.27","ports":[{"containerPort":80}]}]}},
			  "strategy":{"canary":{"steps":[{"setWeight":20},{"pause":{}}]}}}}`,
			`{"status":{"phase":"Healthy","observedGeneration":"1"}}`},
		"certificates": {"cert-manager.io_certificates.yaml", "/apis/cert-manager.io/v1/namespaces/default/certificates/web",
			`{"apiVersion":"cert-manager.io/v1","kind":"Certificate","metadata":{"name":"web"},"spec":{"secretName":"web","issuerRef":{"name":"ca"}}}`,
			`{"status":{"revision":1}}`},
	}
	for plural, tc := range crs {
		crdJSON := readCRD(t, tc.crd)
		var name string
		if v, err := decodeJSON([]byte(crdJSON)); err == nil {
			name = getString(v.(map[string]interface{}), "metadata", "name")
		}
		c.mustCode(c.apply("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"+name, "kdep", crdJSON), 201)
		r := c.mustCode(c.apply(tc.path, "kdep", tc.cr), 201)
		r2 := c.mustCode(c.apply(tc.path, "kdep", tc.cr), 200)
		if at(r.body, "metadata", "resourceVersion") != at(r2.body, "metadata", "resourceVersion") {
			t.Errorf("%s: no-op apply bumped RV", plural)
		}
		// The status subresource exists for all three.
		r = c.mustCode(c.do("PATCH", tc.path+"/status?fieldManager=ctl", "application/merge-patch+json", tc.status), 200)
		if at(r.body, "metadata", "generation") != int64(1) || len(getMap(r.body, "status")) == 0 {
			t.Errorf("%s: status write: %s", plural, r.raw)
		}
	}
	// A wrongly typed status is refused like CRD validation does (422).
	r := c.mustCode(c.do("PATCH", "/apis/argoproj.io/v1alpha1/namespaces/default/rollouts/web/status", "application/merge-patch+json", `{"status":{"observedGeneration":1}}`), 422)
	if r.body["reason"] != "Invalid" || !strings.HasPrefix(r.body["message"].(string), `Rollout.argoproj.io "web" is invalid: status.observedGeneration: Invalid value`) {
		t.Fatalf("typed status: %s", r.raw)
	}
	// Rollout has a scale subresource.
	r = c.mustCode(c.get("/apis/argoproj.io/v1alpha1/namespaces/default/rollouts/web/scale"), 200)
	if at(r.body, "spec", "replicas") != int64(2) {
		t.Fatalf("rollout scale: %s", r.raw)
	}
}
