// file: quantity_test.go — canonical Quantity serialisation, unit and end to end.
package main

import "testing"

func TestCanonicalQuantity(t *testing.T) {
	cases := map[string]string{
		"1": "1", "0.5": "500m", "500m": "500m", "1000m": "1", "1500": "1500", "1000": "1k", "2000000": "2M",
		"1Gi": "1Gi", "1.5Gi": "1536Mi", "1024Mi": "1Gi", "0.5Gi": "512Mi", "512Ki": "512Ki", "100Mi": "100Mi",
		"1e3": "1e3", "1.5e3": "1500", "0.1": "100m", "0.0001": "100u", "1n": "1n", "0.0000000001": "1n",
		"0": "0", "0Gi": "0", "1000Ki": "1000Ki", "0.5Ki": "512", "128974848": "128974848", "129e6": "129e6",
		"123Mi": "123Mi", "1.1": "1100m", "-1": "-1",
	}
	for in, want := range cases {
		got, ok := canonicalQuantity(in)
		if !ok || got != want {
			t.Errorf("%s: got %q (%v), want %q", in, got, ok, want)
		}
	}
	for _, bad := range []string{"abc", "1.2.3", "", "1Xi", "Mi"} {
		if _, ok := canonicalQuantity(bad); ok {
			t.Errorf("%q should not parse", bad)
		}
	}
}

func TestQuantitiesStoredCanonically(t *testing.T) {
	c := newTestServer(t, false)
	body := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"nginx:1",
	  "resources":{"limits":{"cpu":0.5,"memory":"1.5Gi"},"requests":{"cpu":1}}}],"volumes":[{"name":"v","emptyDir":{"sizeLimit":"1024Mi"}}]}}`
	r := c.mustCode(c.apply("/api/v1/namespaces/default/pods/p", "kdep", body), 201)
	expect(t, r.body, map[string]interface{}{
		"spec.containers.0.resources.limits.cpu": "500m", "spec.containers.0.resources.limits.memory": "1536Mi",
		"spec.containers.0.resources.requests.cpu": "1", "spec.containers.0.resources.requests.memory": "1536Mi",
		"spec.volumes.0.emptyDir.sizeLimit": "1Gi",
	})
}
