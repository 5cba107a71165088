// file: crd.go — CustomResourceDefinitions: applying a CRD registers its kinds in
// discovery, in /openapi/v3 and in the SSA schema, then sets the NamesAccepted and
// Established conditions (optionally after a delay, so clients' waits are exercised).
package main

import (
	"encoding/json"
	"strings"
	"time"
)

type crdInfo struct {
	name     string
	schemas  map[string]map[string]interface{} // version -> openAPIV3Schema
	storage  string
	versions []string
}

func (c *crdInfo) versionSchema(v string) map[string]interface{} { return c.schemas[v] }

func isCRDResource(r *Resource) bool {
	return r.Group == "apiextensions.k8s.io" && r.Plural == "customresourcedefinitions"
}

// afterWriteLocked reacts to stored objects (the CRD "controllers").
func (s *Server) afterWriteLocked(r *Resource, live, obj map[string]interface{}) {
	if !isCRDResource(r) {
		return
	}
	name := getString(obj, "metadata", "name")
	if live != nil && equalValues(live["spec"], obj["spec"]) {
		return
	}
	if s.crdDelay <= 0 {
		s.establishLocked(name)
		return
	}
	time.AfterFunc(s.crdDelay, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.establishLocked(name)
	})
}

// establishLocked registers the CRD's served versions and writes its status.
func (s *Server) establishLocked(name string) {
	cr := s.reg.lookup("apiextensions.k8s.io", "v1", "customresourcedefinitions")
	crd := s.getLocked(cr, "", name)
	if crd == nil {
		return
	}
	spec := getMap(crd, "spec")
	group, _ := spec["group"].(string)
	names := getMap(spec, "names")
	kind, _ := names["kind"].(string)
	plural, _ := names["plural"].(string)
	singular, _ := names["singular"].(string)
	info := &crdInfo{name: name, schemas: map[string]map[string]interface{}{}}
	var stored []interface{}
	s.reg.mu.Lock()
	// Drop previous registration (spec may have changed).
	for gv, rs := range s.reg.byGV {
		for p, r := range rs {
			if r.CRD != nil && r.CRD.name == name {
				delete(rs, p)
			}
		}
		if len(rs) == 0 && strings.HasPrefix(gv, group+"/") {
			delete(s.reg.byGV, gv)
			delete(s.reg.docs, "apis/"+gv)
		}
	}
	for _, v := range getListMaps(spec, "versions") {
		vname, _ := v["name"].(string)
		if b, _ := v["storage"].(bool); b {
			info.storage = vname
			stored = append(stored, vname)
		}
		if b, _ := v["served"].(bool); !b {
			continue
		}
		sch := getMap(v, "schema", "openAPIV3Schema")
		info.schemas[vname] = sch
		info.versions = append(info.versions, vname)
		r := &Resource{Group: group, Version: vname, Kind: kind, Plural: plural, Singular: singular,
			Namespaced: spec["scope"] == "Namespaced", Subresources: map[string]*Subresource{}, CRD: info,
			Verbs: []string{"delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"}}
		for _, sn := range getList(names, "shortNames") {
			r.ShortNames = append(r.ShortNames, sn.(string))
		}
		for _, c := range getList(names, "categories") {
			r.Categories = append(r.Categories, c.(string))
		}
		if subs := getMap(v, "subresources"); subs != nil {
			if _, ok := subs["status"]; ok {
				r.Subresources["status"] = &Subresource{Name: "status", Kind: gvk{group, vname, kind}, Verbs: []string{"get", "patch", "update"}}
			}
			if _, ok := subs["scale"]; ok {
				r.Subresources["scale"] = &Subresource{Name: "scale", Kind: gvk{"autoscaling", "v1", "Scale"}, Verbs: []string{"get", "patch", "update"}}
			}
		}
		r.TypeName = "crd." + group + "." + vname + "." + kind
		s.types.registerCRD(r.TypeName, sch)
		gv := group + "/" + vname
		if s.reg.byGV[gv] == nil {
			s.reg.byGV[gv] = map[string]*Resource{}
		}
		s.reg.byGV[gv][plural] = r
		s.reg.docs["apis/"+gv] = &groupVersionDoc{Key: "apis/" + gv, Group: group, Ver: vname, Raw: s.crdOpenAPIDoc(r, sch)}
	}
	s.reg.orderGroups()
	s.reg.mu.Unlock()

	accepted := copyObj(names)
	setDefault(accepted, "singular", strings.ToLower(kind))
	setDefault(accepted, "listKind", kind+"List")
	ts := nowRFC3339(s.now())
	status := map[string]interface{}{
		"acceptedNames":  accepted,
		"storedVersions": stored,
		"conditions": []interface{}{
			map[string]interface{}{"type": "NamesAccepted", "status": "True", "lastTransitionTime": ts, "reason": "NoConflicts", "message": "no conflicts found"},
			map[string]interface{}{"type": "Established", "status": "True", "lastTransitionTime": ts, "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"},
		},
	}
	newObj := copyObj(crd)
	newObj["status"] = status
	o := &op{r: cr, name: name, sub: "status", manager: "kube-apiserver"}
	_, _, _ = s.update(o, crd, newObj)
}

// unregisterCRDLocked removes a CRD's kinds and all its objects.
func (s *Server) unregisterCRDLocked(crd map[string]interface{}) {
	name := getString(crd, "metadata", "name")
	group := getString(crd, "spec", "group")
	s.reg.mu.Lock()
	for gv, rs := range s.reg.byGV {
		for p, r := range rs {
			if r.CRD != nil && r.CRD.name == name {
				delete(rs, p)
				delete(s.objs, storeKey(r))
			}
		}
		if len(rs) == 0 && strings.HasPrefix(gv, group+"/") {
			delete(s.reg.byGV, gv)
			delete(s.reg.docs, "apis/"+gv)
		}
	}
	s.reg.orderGroups()
	s.reg.mu.Unlock()
}

// crdDefaults applies structural-schema defaults, recursively.
func crdDefaults(v interface{}, sch map[string]interface{}) {
	if sch == nil {
		return
	}
	switch t := v.(type) {
	case map[string]interface{}:
		props, _ := sch["properties"].(map[string]interface{})
		for name, ps := range props {
			pm, _ := ps.(map[string]interface{})
			if pm == nil {
				continue
			}
			if _, ok := t[name]; !ok {
				if d, ok := pm["default"]; ok {
					t[name] = deepCopy(d)
				}
			}
			if e, ok := t[name]; ok && name != "metadata" {
				crdDefaults(e, pm)
			}
		}
		if ap, ok := sch["additionalProperties"].(map[string]interface{}); ok && len(props) == 0 {
			for _, e := range t {
				crdDefaults(e, ap)
			}
		}
	case []interface{}:
		items, _ := sch["items"].(map[string]interface{})
		for _, e := range t {
			crdDefaults(e, items)
		}
	}
}

// metaV1Components copies the meta/v1 schemas a CRD document refers to from a
// built-in document, so generated CRD documents are self-contained.
func (s *Server) metaV1Components() map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	doc := s.reg.docs["apis/apps/v1"]
	if doc == nil {
		return out
	}
	var d struct {
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	if json.Unmarshal(doc.Raw, &d) != nil {
		return out
	}
	for k, v := range d.Components.Schemas {
		if strings.HasPrefix(k, "io.k8s.apimachinery.pkg.apis.meta.v1.") {
			out[k] = v
		}
	}
	return out
}

// crdOpenAPIDoc builds the /openapi/v3/apis/<group>/<version> document of a CRD:
// its schema with metadata bound to ObjectMeta, and paths carrying the usual
// x-kubernetes-action / gvk / query parameters (kubectl checks fieldValidation there).
func (s *Server) crdOpenAPIDoc(r *Resource, sch map[string]interface{}) []byte {
	schemas := map[string]interface{}{}
	for k, v := range s.metaV1Components() {
		schemas[k] = v
	}
	parts := strings.Split(r.Group, ".")
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	typeName := strings.Join(parts, ".") + "." + r.Version + "." + r.Kind
	root := copyObj(sch)
	if root == nil {
		root = map[string]interface{}{"type": "object", "x-kubernetes-preserve-unknown-fields": true}
	}
	props := ensureMap(root, "properties")
	props["metadata"] = map[string]interface{}{"allOf": []interface{}{map[string]interface{}{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}}}
	props["apiVersion"] = map[string]interface{}{"type": "string"}
	props["kind"] = map[string]interface{}{"type": "string"}
	root["x-kubernetes-group-version-kind"] = []interface{}{map[string]interface{}{"group": r.Group, "version": r.Version, "kind": r.Kind}}
	schemas[typeName] = root
	ref := map[string]interface{}{"$ref": "#/components/schemas/" + typeName}
	params := []interface{}{}
	for _, p := range []string{"dryRun", "fieldManager", "fieldValidation", "force", "pretty"} {
		params = append(params, map[string]interface{}{"name": p, "in": "query", "schema": map[string]interface{}{"type": "string", "uniqueItems": true}})
	}
	g := map[string]interface{}{"group": r.Group, "version": r.Version, "kind": r.Kind}
	mk := func(action string) map[string]interface{} {
		return map[string]interface{}{"x-kubernetes-action": action, "x-kubernetes-group-version-kind": g, "parameters": params,
			"responses": map[string]interface{}{"200": map[string]interface{}{"content": map[string]interface{}{"application/json": map[string]interface{}{"schema": ref}}}}}
	}
	base := "/apis/" + r.Group + "/" + r.Version + "/"
	if r.Namespaced {
		base += "namespaces/{namespace}/"
	}
	paths := map[string]interface{}{
		base + r.Plural:             map[string]interface{}{"get": mk("list"), "post": mk("post"), "delete": mk("deletecollection")},
		base + r.Plural + "/{name}": map[string]interface{}{"get": mk("get"), "put": mk("put"), "patch": mk("patch"), "delete": mk("delete")},
	}
	for sub := range r.Subresources {
		paths[base+r.Plural+"/{name}/"+sub] = map[string]interface{}{"get": mk("get"), "put": mk("put"), "patch": mk("patch")}
	}
	doc := map[string]interface{}{"openapi": "3.0.0", "info": map[string]interface{}{"title": "Kubernetes CRD Swagger", "version": "v0.1.0"},
		"paths": paths, "components": map[string]interface{}{"schemas": schemas}}
	b, _ := jsonMarshal(doc)
	return b
}
