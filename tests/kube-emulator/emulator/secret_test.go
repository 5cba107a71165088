// Secret stringData: folded into data (base64) on every write, as the v1 conversion does,
// and never stored or returned.

package main

import "testing"

const secretPath = "/api/v1/namespaces/default/secrets/db"

func TestSecretStringDataFoldsIntoData(t *testing.T) {
	c := newTestServer(t, false)
	// Apply: stringData wins over a data value of the same key; the Apply entry owns
	// stringData (as the apiserver records it), the object holds only data.
	r := c.mustCode(c.apply(secretPath, "kdep", `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"db"},
		"data":{"user":"YWRtaW4=","password":"b2xk"},"stringData":{"password":"s3cret"}}`), 201)
	want := map[string]interface{}{"user": "YWRtaW4=", "password": "czNjcmV0"}
	if at(r.body, "stringData") != nil || jsonString(t, at(r.body, "data")) != jsonString(t, want) {
		t.Fatalf("apply: %s", r.raw)
	}
	if g := c.mustCode(c.get(secretPath), 200); at(g.body, "stringData") != nil || jsonString(t, at(g.body, "data")) != jsonString(t, want) {
		t.Fatalf("get: %s", g.raw)
	}
	entry := managedEntryFor(r.body, "kdep", "Apply")
	if at(entry, "fieldsV1", "f:stringData", "f:password") == nil {
		t.Fatalf("the Apply entry should own stringData.password: %s", r.raw)
	}
	// The same apply again changes nothing (the folded value equals the stored one).
	again := c.mustCode(c.apply(secretPath, "kdep", `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"db"},
		"data":{"user":"YWRtaW4=","password":"b2xk"},"stringData":{"password":"s3cret"}}`), 200)
	if at(again.body, "metadata", "resourceVersion") != at(r.body, "metadata", "resourceVersion") {
		t.Fatalf("re-apply wrote: %s\n%s", r.raw, again.raw)
	}
	// A dry-run apply answers with the folded object too.
	dry := c.mustCode(c.apply(secretPath, "kdep", `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"db"},
		"data":{"user":"YWRtaW4="},"stringData":{"password":"new"}}`, "dryRun=All"), 200)
	if at(dry.body, "stringData") != nil || at(dry.body, "data", "password") != "bmV3" {
		t.Fatalf("dry-run apply: %s", dry.raw)
	}
	// An update (merge patch) with stringData: its manager owns the data key it became.
	p := c.mustCode(c.do("PATCH", secretPath+"?fieldManager=kubectl-edit", "application/merge-patch+json",
		`{"stringData":{"password":"edited"}}`), 200)
	if at(p.body, "stringData") != nil || at(p.body, "data", "password") != "ZWRpdGVk" {
		t.Fatalf("patch: %s", p.raw)
	}
	edit := managedEntryFor(p.body, "kubectl-edit", "Update")
	if at(edit, "fieldsV1", "f:data", "f:password") == nil || at(edit, "fieldsV1", "f:stringData") != nil {
		t.Fatalf("the Update entry should own data.password: %s", p.raw)
	}
	// Create (POST) folds too.
	cr := c.mustCode(c.do("POST", "/api/v1/namespaces/default/secrets", "application/json",
		`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"other"},"stringData":{"k":"v"}}`), 201)
	if at(cr.body, "stringData") != nil || at(cr.body, "data", "k") != "dg==" {
		t.Fatalf("create: %s", cr.raw)
	}
}
