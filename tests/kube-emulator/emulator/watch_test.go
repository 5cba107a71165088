// file: watch_test.go — the polling watch stream and the unknown-field warning of
// non-apply writes.
package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestWatchStream(t *testing.T) {
	c := newTestServer(t, false)
	cm := "/api/v1/namespaces/default/configmaps/"
	c.mustCode(c.apply(cm+"a", "kdep", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}`), 201)
	list := c.mustCode(c.get("/api/v1/namespaces/default/configmaps"), 200)
	rv := at(list.body, "metadata", "resourceVersion").(string)
	req, _ := http.NewRequest("GET", c.srv.URL+"/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=5&resourceVersion="+rv, nil)
	req.Header.Set("Authorization", "Bearer admin-token")
	res, err := c.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	events := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			var ev struct {
				Type   string                 `json:"type"`
				Object map[string]interface{} `json:"object"`
			}
			if json.Unmarshal(sc.Bytes(), &ev) == nil {
				events <- ev.Type + " " + getString(ev.Object, "metadata", "name")
			}
		}
		close(events)
	}()
	time.Sleep(100 * time.Millisecond)
	c.mustCode(c.apply(cm+"b", "kdep", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"b"}}`), 201)
	time.Sleep(100 * time.Millisecond)
	c.mustCode(c.apply(cm+"a", "kdep", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":{"x":"1"}}`), 200)
	time.Sleep(100 * time.Millisecond)
	c.mustCode(c.do("DELETE", cm+"b", "", ""), 200)
	var got []string
	timeout := time.After(3 * time.Second)
	for len(got) < 3 {
		select {
		case e := <-events:
			got = append(got, e)
		case <-timeout:
			t.Fatalf("events so far: %v", got)
		}
	}
	if strings.Join(got, ",") != "ADDED b,MODIFIED a,DELETED b" {
		t.Fatalf("events: %v", got)
	}
}

func TestUnknownFieldWarningAndStrict(t *testing.T) {
	c := newTestServer(t, false)
	body := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"data":{"a":"b"},"bogus":1}`
	r := c.mustCode(c.do("POST", "/api/v1/namespaces/default/configmaps", "application/json", body), 201)
	if r.header.Get("Warning") != `299 - "unknown field \"bogus\""` || r.body["bogus"] != nil {
		t.Fatalf("warning: %q %s", r.header.Get("Warning"), r.raw)
	}
	r = c.mustCode(c.do("POST", "/api/v1/namespaces/default/configmaps?fieldValidation=Strict", "application/json", strings.Replace(body, `"x"`, `"y"`, 1)), 400)
	if r.body["message"] != `ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "bogus"` {
		t.Fatalf("strict: %s", r.raw)
	}
}
