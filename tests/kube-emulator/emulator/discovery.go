// file: discovery.go — /version, legacy and aggregated discovery, and the OpenAPI
// v2/v3 endpoints (saved official documents served verbatim; CRD documents generated).
package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"

	"sigs.k8s.io/structured-merge-diff/v4/schema"
)

var versionInfo = map[string]interface{}{
	"major": "1", "minor": "35", "emulationMajor": "1", "emulationMinor": "35",
	"minCompatibilityMajor": "1", "minCompatibilityMinor": "34",
	"gitVersion": "v1.35.0", "gitCommit": "kube-emulator", "gitTreeState": "clean",
	"buildDate": "2025-12-17T00:00:00Z", "goVersion": "go1.25.5", "compiler": "gc", "platform": "linux/amd64",
}

func jsonUnmarshal(b []byte, v interface{}) error { return json.Unmarshal(b, v) }

func typeRef(name string) schema.TypeRef { return schema.TypeRef{NamedType: &name} }

const aggregatedCT = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

// wantsAggregated: the client lists the v2 APIGroupDiscoveryList media type.
func wantsAggregated(req *http.Request) bool {
	for _, part := range strings.Split(req.Header.Get("Accept"), ",") {
		if strings.Contains(part, "as=APIGroupDiscoveryList") && strings.Contains(part, "v=v2") &&
			!strings.Contains(part, "v=v2beta1") && strings.Contains(part, "application/json") {
			return true
		}
	}
	return false
}

func gvString(group, version string) string {
	if group == "" {
		return version
	}
	return group + "/" + version
}

func (s *Server) serveRootDiscovery(w http.ResponseWriter, req *http.Request, p string) {
	s.reg.mu.RLock()
	defer s.reg.mu.RUnlock()
	if wantsAggregated(req) {
		var items []interface{}
		for _, g := range s.reg.groups {
			if (p == "/api") != (g == "") {
				continue
			}
			var versions []interface{}
			for _, v := range s.reg.versions[g] {
				versions = append(versions, map[string]interface{}{"version": v, "resources": s.aggregatedResources(g, v), "freshness": "Current"})
			}
			md := map[string]interface{}{"creationTimestamp": nil}
			if g != "" {
				md["name"] = g
			}
			items = append(items, map[string]interface{}{"metadata": md, "versions": versions})
		}
		if items == nil {
			items = []interface{}{}
		}
		writeJSONType(w, 200, aggregatedCT, map[string]interface{}{"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": map[string]interface{}{}, "items": items})
		return
	}
	if p == "/api" {
		writeJSON(w, 200, map[string]interface{}{"kind": "APIVersions", "versions": []string{"v1"},
			"serverAddressByClientCIDRs": []interface{}{map[string]interface{}{"clientCIDR": "0.0.0.0/0", "serverAddress": req.Host}}})
		return
	}
	var groups []interface{}
	for _, g := range s.reg.groups {
		if g == "" {
			continue
		}
		groups = append(groups, s.apiGroupLocked(g))
	}
	writeJSON(w, 200, map[string]interface{}{"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

func (s *Server) apiGroupLocked(g string) map[string]interface{} {
	var vs []interface{}
	for _, v := range s.reg.versions[g] {
		vs = append(vs, map[string]interface{}{"groupVersion": g + "/" + v, "version": v})
	}
	pv := s.reg.versions[g][0]
	return map[string]interface{}{"name": g, "versions": vs, "preferredVersion": map[string]interface{}{"groupVersion": g + "/" + pv, "version": pv}}
}

func (s *Server) serveGroup(w http.ResponseWriter, g string) {
	s.reg.mu.RLock()
	defer s.reg.mu.RUnlock()
	if _, ok := s.reg.versions[g]; !ok || g == "" {
		writeErr(w, errResourceNotFound())
		return
	}
	m := s.apiGroupLocked(g)
	m["kind"], m["apiVersion"] = "APIGroup", "v1"
	writeJSON(w, 200, m)
}

func sortedResources(m map[string]*Resource) []*Resource {
	out := make([]*Resource, 0, len(m))
	for _, r := range m {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Plural < out[j].Plural })
	return out
}

func sortedSubs(r *Resource) []*Subresource {
	out := make([]*Subresource, 0, len(r.Subresources))
	for _, s := range r.Subresources {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func emptyIfNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

func (s *Server) aggregatedResources(g, v string) []interface{} {
	var out []interface{}
	for _, r := range sortedResources(s.reg.byGV[gvString(g, v)]) {
		scope := "Cluster"
		if r.Namespaced {
			scope = "Namespaced"
		}
		m := map[string]interface{}{"resource": r.Plural, "responseKind": gvk{g, v, r.Kind}, "scope": scope,
			"singularResource": r.Singular, "verbs": r.Verbs}
		if len(r.ShortNames) > 0 {
			m["shortNames"] = r.ShortNames
		}
		if len(r.Categories) > 0 {
			m["categories"] = r.Categories
		}
		var subs []interface{}
		for _, sr := range sortedSubs(r) {
			subs = append(subs, map[string]interface{}{"subresource": sr.Name, "responseKind": sr.Kind, "verbs": sr.Verbs})
		}
		if subs != nil {
			m["subresources"] = subs
		}
		out = append(out, m)
	}
	if out == nil {
		return []interface{}{}
	}
	return out
}

func (s *Server) serveResourceList(w http.ResponseWriter, g, v string) {
	s.reg.mu.RLock()
	defer s.reg.mu.RUnlock()
	rs, ok := s.reg.byGV[gvString(g, v)]
	if !ok {
		writeErr(w, errResourceNotFound())
		return
	}
	var out []interface{}
	for _, r := range sortedResources(rs) {
		out = append(out, map[string]interface{}{"name": r.Plural, "singularName": r.Singular, "namespaced": r.Namespaced,
			"kind": r.Kind, "verbs": r.Verbs, "shortNames": r.ShortNames, "categories": r.Categories})
		for _, sr := range sortedSubs(r) {
			row := map[string]interface{}{"name": r.Plural + "/" + sr.Name, "singularName": "", "namespaced": r.Namespaced,
				"kind": sr.Kind.Kind, "verbs": sr.Verbs}
			if sr.Kind.Group != g || sr.Kind.Version != v {
				row["group"], row["version"] = sr.Kind.Group, sr.Kind.Version
			}
			out = append(out, row)
		}
	}
	for _, m := range out {
		mm := m.(map[string]interface{})
		for _, k := range []string{"shortNames", "categories"} {
			if l, ok := mm[k].([]string); ok && len(l) == 0 {
				delete(mm, k)
			} else if !ok {
				delete(mm, k)
			}
		}
	}
	writeJSON(w, 200, map[string]interface{}{"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gvString(g, v), "resources": out})
}

func (s *Server) serveOpenAPIv2(w http.ResponseWriter, req *http.Request) {
	acc := req.Header.Get("Accept")
	if acc != "" && !strings.Contains(acc, "json") && !strings.Contains(acc, "*/*") {
		writeErr(w, &apiError{Code: 406, Reason: "NotAcceptable", Message: "only application/json is served for /openapi/v2"})
		return
	}
	zr, err := gzip.NewReader(bytes.NewReader(s.reg.swaggerGz))
	if err != nil {
		writeErr(w, errInternal("swagger.json unavailable"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.Copy(w, zr)
}

func (s *Server) v3Hash(doc *groupVersionDoc) string {
	sum := sha512.Sum512(doc.Raw)
	return fmt.Sprintf("%X", sum[:])
}

func (s *Server) serveOpenAPIv3Index(w http.ResponseWriter) {
	s.reg.mu.RLock()
	defer s.reg.mu.RUnlock()
	paths := map[string]interface{}{}
	for key, doc := range s.reg.docs {
		paths[key] = map[string]interface{}{"serverRelativeURL": "/openapi/v3/" + key + "?hash=" + s.v3Hash(doc)}
	}
	writeJSON(w, 200, map[string]interface{}{"paths": paths})
}

func (s *Server) serveOpenAPIv3Doc(w http.ResponseWriter, key string) {
	s.reg.mu.RLock()
	doc := s.reg.docs[key]
	s.reg.mu.RUnlock()
	if doc == nil {
		writeErr(w, errResourceNotFound())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Etag", `"`+s.v3Hash(doc)+`"`)
	_, _ = w.Write(doc.Raw)
}
