// file: registry.go — the type registry, derived from the official OpenAPI v3 documents.
//
// Kinds, plurals, scope, verbs and subresources are read from each document's `paths`
// (the `x-kubernetes-action` and `x-kubernetes-group-version-kind` extensions) instead
// of being listed by hand, so discovery matches what a 1.35 apiserver serves.
package main

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// Subresource is one `<plural>/<sub>` row of discovery.
type Subresource struct {
	Name  string
	Kind  gvk
	Verbs []string
}

type gvk struct {
	Group   string `json:"group"`
	Version string `json:"version"`
	Kind    string `json:"kind"`
}

func (g gvk) String() string {
	gv := g.Version
	if g.Group != "" {
		gv = g.Group + "/" + g.Version
	}
	return gv + ", Kind=" + g.Kind
}

// Resource is one served REST resource (group/version/plural).
type Resource struct {
	Group, Version, Kind string
	Plural, Singular     string
	Namespaced           bool
	Verbs                []string
	ShortNames           []string
	Categories           []string
	Subresources         map[string]*Subresource
	// TypeName is the structured-merge-diff type name for the object.
	TypeName string
	// SchemaName is the OpenAPI v3 component used for declarative defaults.
	SchemaName string
	// CRD is set for custom resources (registered by applying a CRD).
	CRD *crdInfo
}

// GV returns "apps/v1" or "v1".
func (r *Resource) GV() string {
	if r.Group == "" {
		return r.Version
	}
	return r.Group + "/" + r.Version
}

// HasStatus is true when the resource has a /status subresource (status is then
// reset on main-resource writes).
func (r *Resource) HasStatus() bool { _, ok := r.Subresources["status"]; return ok }

// v3Schema is the subset of an OpenAPI v3 schema object the emulator reads.
type v3Schema struct {
	Type                 string               `json:"type"`
	Properties           map[string]*v3Schema `json:"properties"`
	Items                *v3Schema            `json:"items"`
	AdditionalProperties json.RawMessage      `json:"additionalProperties"`
	Ref                  string               `json:"$ref"`
	AllOf                []*v3Schema          `json:"allOf"`
	Default              json.RawMessage      `json:"default"`
	Required             []string             `json:"required"`
	GVK                  []gvk                `json:"x-kubernetes-group-version-kind"`

	addl     *v3Schema
	addlOnce sync.Once
}

// additional returns the additionalProperties schema when it is an object.
func (s *v3Schema) additional() *v3Schema {
	s.addlOnce.Do(func() {
		if len(s.AdditionalProperties) > 0 && s.AdditionalProperties[0] == '{' {
			var a v3Schema
			if json.Unmarshal(s.AdditionalProperties, &a) == nil {
				s.addl = &a
			}
		}
	})
	return s.addl
}

type v3Op struct {
	Action string `json:"x-kubernetes-action"`
	GVK    *gvk   `json:"x-kubernetes-group-version-kind"`
}

type v3Doc struct {
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas map[string]*v3Schema `json:"schemas"`
	} `json:"components"`
}

// groupVersionDoc is one served OpenAPI v3 document ("api/v1", "apis/apps/v1").
type groupVersionDoc struct {
	Key   string // "api/v1" / "apis/apps/v1"
	Group string
	Ver   string
	Raw   []byte
}

// Registry holds all served resources; CRDs add to it at run time.
type Registry struct {
	mu        sync.RWMutex
	byGV      map[string]map[string]*Resource // gv -> plural -> resource
	groups    []string                        // group order for discovery ("" first)
	versions  map[string][]string             // group -> versions (preferred first)
	schemas   map[string]*v3Schema            // component name -> schema (defaults)
	docs      map[string]*groupVersionDoc     // "apis/apps/v1" -> doc
	swaggerGz []byte
	proto     protoSchema // protobuf message layouts (proto.go)
}

// Discovery data that the OpenAPI documents do not carry (shortNames and categories
// are registered in Go by each REST storage upstream); the table lists 1.35's values.
var shortNamesTable = map[string][]string{
	"configmaps": {"cm"}, "endpoints": {"ep"}, "events": {"ev"}, "limitranges": {"limits"},
	"namespaces": {"ns"}, "nodes": {"no"}, "persistentvolumeclaims": {"pvc"},
	"persistentvolumes": {"pv"}, "pods": {"po"}, "replicationcontrollers": {"rc"},
	"resourcequotas": {"quota"}, "serviceaccounts": {"sa"}, "services": {"svc"},
	"daemonsets": {"ds"}, "deployments": {"deploy"}, "replicasets": {"rs"},
	"statefulsets": {"sts"}, "cronjobs": {"cj"}, "ingresses": {"ing"},
	"networkpolicies": {"netpol"}, "poddisruptionbudgets": {"pdb"},
	"horizontalpodautoscalers": {"hpa"}, "storageclasses": {"sc"},
	"customresourcedefinitions": {"crd", "crds"}, "priorityclasses": {"pc"},
	"csidrivers": {}, "certificatesigningrequests": {"csr"},
}

var categoriesTable = map[string][]string{
	"pods": {"all"}, "services": {"all"}, "replicationcontrollers": {"all"},
	"daemonsets": {"all"}, "deployments": {"all"}, "replicasets": {"all"},
	"statefulsets": {"all"}, "jobs": {"all"}, "cronjobs": {"all"},
	"horizontalpodautoscalers": {"all"}, "customresourcedefinitions": {"api-extensions"},
}

// verbOrder is the order upstream lists discovery verbs in (sorted).
func sortVerbs(v []string) []string {
	sort.Strings(v)
	out := v[:0]
	for i, s := range v {
		if i == 0 || s != v[i-1] {
			out = append(out, s)
		}
	}
	return out
}

func readMaybeGz(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, err
		}
		return io.ReadAll(zr)
	}
	return io.ReadAll(f)
}

// loadRegistry reads every data/openapi-v3/*.json(.gz) document in parallel.
func loadRegistry(dataDir string) (*Registry, error) {
	files, err := filepath.Glob(filepath.Join(dataDir, "openapi-v3", "*_openapi.json*"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no OpenAPI v3 documents under %s/openapi-v3", dataDir)
	}
	sort.Strings(files)
	type result struct {
		doc    *groupVersionDoc
		parsed *v3Doc
		err    error
	}
	results := make([]result, len(files))
	var wg sync.WaitGroup
	for i, f := range files {
		wg.Add(1)
		go func(i int, f string) {
			defer wg.Done()
			raw, err := readMaybeGz(f)
			if err != nil {
				results[i].err = err
				return
			}
			var d v3Doc
			if err := json.Unmarshal(raw, &d); err != nil {
				results[i].err = fmt.Errorf("%s: %v", f, err)
				return
			}
			// api__v1_openapi.json -> api/v1 ; apis__apps__v1_openapi.json -> apis/apps/v1
			base := filepath.Base(f)
			base = strings.TrimSuffix(strings.TrimSuffix(base, ".gz"), "_openapi.json")
			key := strings.ReplaceAll(base, "__", "/")
			parts := strings.Split(key, "/")
			gv := &groupVersionDoc{Key: key, Raw: raw}
			if parts[0] == "api" {
				gv.Ver = parts[1]
			} else {
				gv.Group, gv.Ver = parts[1], parts[2]
			}
			results[i] = result{doc: gv, parsed: &d}
		}(i, f)
	}
	var swagger []byte
	wg.Add(1)
	go func() {
		defer wg.Done()
		// Kept compressed in memory; /openapi/v2 is rarely asked for.
		swagger, _ = os.ReadFile(filepath.Join(dataDir, "swagger.json.gz"))
	}()
	wg.Wait()

	reg := &Registry{
		byGV:      map[string]map[string]*Resource{},
		versions:  map[string][]string{},
		schemas:   map[string]*v3Schema{},
		docs:      map[string]*groupVersionDoc{},
		swaggerGz: swagger,
	}
	for _, r := range results {
		if r.err != nil {
			return nil, r.err
		}
		for name, s := range r.parsed.Components.Schemas {
			reg.schemas[name] = s
		}
		reg.docs[r.doc.Key] = r.doc
		if err := reg.addFromPaths(r.doc.Group, r.doc.Ver, r.parsed); err != nil {
			return nil, err
		}
	}
	reg.orderGroups()
	if reg.proto, err = loadProtoSchema(dataDir); err != nil {
		return nil, fmt.Errorf("protobuf schema: %v", err)
	}
	return reg, nil
}

var actionVerb = map[string]string{
	"get": "get", "list": "list", "watch": "watch", "watchlist": "watch", "post": "create",
	"put": "update", "patch": "patch", "delete": "delete", "deletecollection": "deletecollection",
}

// addFromPaths derives resources of one group-version from the document's paths.
func (reg *Registry) addFromPaths(group, version string, d *v3Doc) error {
	prefix := "/apis/" + group + "/" + version + "/"
	if group == "" {
		prefix = "/api/" + version + "/"
	}
	gvKey := version
	if group != "" {
		gvKey = group + "/" + version
	}
	res := map[string]*Resource{}
	get := func(plural string) *Resource {
		r := res[plural]
		if r == nil {
			r = &Resource{Group: group, Version: version, Plural: plural, Subresources: map[string]*Subresource{}}
			res[plural] = r
		}
		return r
	}
	for p, methods := range d.Paths {
		if !strings.HasPrefix(p, prefix) {
			continue
		}
		rest := strings.TrimPrefix(p, prefix)
		rest = strings.TrimPrefix(rest, "watch/")
		namespaced := false
		if strings.HasPrefix(rest, "namespaces/{namespace}/") {
			namespaced = true
			rest = strings.TrimPrefix(rest, "namespaces/{namespace}/")
		}
		segs := strings.Split(rest, "/")
		plural := segs[0]
		sub := ""
		if len(segs) >= 3 {
			sub = segs[2]
		}
		r := get(plural)
		for method, raw := range methods {
			if method == "parameters" {
				continue
			}
			var op v3Op
			if err := json.Unmarshal(raw, &op); err != nil {
				return err
			}
			verb := actionVerb[op.Action]
			if op.Action == "connect" {
				// Connect subresources list the HTTP verbs they accept (get -> get, post -> create).
				verb = map[string]string{"get": "get", "post": "create", "put": "update", "delete": "delete", "patch": "patch"}[method]
			}
			if verb == "" {
				continue
			}
			if sub != "" {
				s := r.Subresources[sub]
				if s == nil {
					s = &Subresource{Name: sub}
					r.Subresources[sub] = s
				}
				if op.GVK != nil {
					s.Kind = *op.GVK
				}
				s.Verbs = append(s.Verbs, verb)
				continue
			}
			if namespaced {
				r.Namespaced = true
			}
			r.Verbs = append(r.Verbs, verb)
			if op.GVK != nil && r.Kind == "" {
				r.Kind = op.GVK.Kind
			}
		}
	}
	m := map[string]*Resource{}
	for plural, r := range res {
		if r.Kind == "" {
			continue // e.g. a subresource-only path without a parent resource
		}
		r.Verbs = sortVerbs(r.Verbs)
		for _, s := range r.Subresources {
			s.Verbs = sortVerbs(s.Verbs)
			if s.Kind.Kind == "" {
				s.Kind = gvk{group, version, r.Kind}
			}
		}
		r.Singular = strings.ToLower(r.Kind)
		r.ShortNames = shortNamesTable[plural]
		r.Categories = categoriesTable[plural]
		for name, s := range d.Components.Schemas {
			for _, g := range s.GVK {
				if g.Group == group && g.Version == version && g.Kind == r.Kind {
					r.TypeName, r.SchemaName = name, name
				}
			}
		}
		m[plural] = r
	}
	reg.byGV[gvKey] = m
	return nil
}

// orderGroups fixes discovery order: core first, then groups alphabetically, versions
// with the highest-priority (GA over beta over alpha) first.
func (reg *Registry) orderGroups() {
	reg.versions = map[string][]string{}
	for gv, rs := range reg.byGV {
		if len(rs) == 0 {
			continue
		}
		g, v := splitAPIVersion(gv)
		reg.versions[g] = append(reg.versions[g], v)
	}
	reg.groups = reg.groups[:0]
	for g, vs := range reg.versions {
		reg.groups = append(reg.groups, g)
		sort.Slice(vs, func(i, j int) bool { return versionPriority(vs[i]) > versionPriority(vs[j]) })
	}
	sort.Strings(reg.groups)
}

// versionPriority orders Kubernetes versions: v2 > v1 > v1beta2 > v1beta1 > v1alpha1.
func versionPriority(v string) int {
	var major, minor int
	var kind string
	if n, _ := fmt.Sscanf(v, "v%d%s", &major, &kind); n == 0 {
		return 0
	}
	rank := 3
	switch {
	case strings.HasPrefix(kind, "beta"):
		rank = 2
		fmt.Sscanf(kind, "beta%d", &minor)
	case strings.HasPrefix(kind, "alpha"):
		rank = 1
		fmt.Sscanf(kind, "alpha%d", &minor)
	}
	return rank*1000000 + major*1000 + minor
}

// lookup finds a resource by group/version/plural.
func (reg *Registry) lookup(group, version, plural string) *Resource {
	gv := version
	if group != "" {
		gv = group + "/" + version
	}
	reg.mu.RLock()
	defer reg.mu.RUnlock()
	return reg.byGV[gv][plural]
}

// byKind finds a resource by apiVersion and kind.
func (reg *Registry) byKind(apiVersion, kind string) *Resource {
	reg.mu.RLock()
	defer reg.mu.RUnlock()
	for _, r := range reg.byGV[apiVersion] {
		if r.Kind == kind {
			return r
		}
	}
	return nil
}

// schema returns an OpenAPI v3 component by name.
func (reg *Registry) schema(name string) *v3Schema {
	reg.mu.RLock()
	defer reg.mu.RUnlock()
	return reg.schemas[name]
}
