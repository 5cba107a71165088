// file: helpers_test.go — shared fixtures for the emulator's fidelity tests: an
// in-process emulator behind httptest, and small request helpers.
package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	sharedOnce  sync.Once
	sharedReg   *Registry
	sharedTypes *Types
	sharedErr   error
)

// testDataDir finds ../data relative to the real (symlink-resolved) package dir.
func testDataDir(t testing.TB) string {
	if d := os.Getenv("KUBE_EMULATOR_DATA"); d != "" {
		return d
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if real, err := filepath.EvalSymlinks(wd); err == nil {
		wd = real
	}
	return filepath.Join(wd, "..", "data")
}

type testClient struct {
	t     testing.TB
	s     *Server
	srv   *httptest.Server
	token string
}

// newTestServer starts an emulator. fresh=true loads its own registry (needed when
// the test registers CRDs, which mutate the registry).
func newTestServer(t testing.TB, fresh bool) *testClient {
	t.Helper()
	var reg *Registry
	var types *Types
	if fresh {
		var err error
		if reg, err = loadRegistry(testDataDir(t)); err != nil {
			t.Fatal(err)
		}
		if types, err = loadTypes(testDataDir(t), reg); err != nil {
			t.Fatal(err)
		}
	} else {
		sharedOnce.Do(func() {
			sharedReg, sharedErr = loadRegistry(testDataDir(t))
			if sharedErr == nil {
				sharedTypes, sharedErr = loadTypes(testDataDir(t), sharedReg)
			}
		})
		if sharedErr != nil {
			t.Fatal(sharedErr)
		}
		reg, types = sharedReg, sharedTypes
	}
	s := newServer(reg, types)
	s.adminToken, s.readToken = "admin-token", "read-token"
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return &testClient{t: t, s: s, srv: srv, token: "admin-token"}
}

type resp struct {
	code   int
	body   map[string]interface{}
	raw    string
	header http.Header
}

func (c *testClient) do(method, path, ctype, body string) resp {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.srv.URL+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("User-Agent", "emulator-test/1.0")
	res, err := c.srv.Client().Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := resp{code: res.StatusCode, raw: string(raw), header: res.Header}
	if v, err := decodeJSON(raw); err == nil {
		r.body, _ = v.(map[string]interface{})
	}
	return r
}

func (c *testClient) get(path string) resp { return c.do("GET", path, "", "") }

// apply sends an apply patch; path is the object URL without query.
func (c *testClient) apply(path, manager, yaml string, extra ...string) resp {
	q := "?fieldManager=" + manager
	for _, e := range extra {
		q += "&" + e
	}
	return c.do("PATCH", path+q, "application/apply-patch+yaml", yaml)
}

func (c *testClient) mustCode(r resp, code int) resp {
	c.t.Helper()
	if r.code != code {
		c.t.Fatalf("want HTTP %d, got %d: %s", code, r.code, r.raw)
	}
	return r
}

// at walks a decoded object: at(obj, "spec", "replicas"), list indexes as ints.
func at(v interface{}, path ...interface{}) interface{} {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]interface{})
			v = m[k]
		case int:
			l, _ := v.([]interface{})
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func jsonString(t testing.TB, v interface{}) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(buf.String())
}

// managedEntryFor returns the managedFields entry of a manager (and operation).
func managedEntryFor(obj map[string]interface{}, manager, operation string) map[string]interface{} {
	for _, e := range getList(obj, "metadata", "managedFields") {
		m := e.(map[string]interface{})
		if m["manager"] == manager && m["operation"] == operation {
			return m
		}
	}
	return nil
}

const deployPath = "/apis/apps/v1/namespaces/default/deployments/web"

const webDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
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
`

func mustTime(s string) *time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return &t
}

func (c *testClient) doAccept(path, accept string) resp {
	c.t.Helper()
	req, _ := http.NewRequest("GET", c.srv.URL+path, nil)
	req.Header.Set("Accept", accept)
	req.Header.Set("Authorization", "Bearer "+c.token)
	res, err := c.srv.Client().Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := resp{code: res.StatusCode, raw: string(raw), header: res.Header}
	if v, err := decodeJSON(raw); err == nil {
		r.body, _ = v.(map[string]interface{})
	}
	return r
}
