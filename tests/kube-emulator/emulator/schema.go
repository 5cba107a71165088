// file: schema.go — the structured-merge-diff schema the upstream SSA engine runs on.
//
// Built-in types come from data/k8s-1.35-smd-schema.yaml (kube-openapi schemaconv over
// the official 1.35 swagger.json). Two things are added at load time: scalar defaults
// from the OpenAPI v3 documents (the v2 spec lacks them, but SMD needs e.g.
// ContainerPort.protocol=TCP because it is part of a list-map key), and, at run time,
// types converted from CRDs' openAPIV3Schema.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	yaml "gopkg.in/yaml.v2"
	"sigs.k8s.io/structured-merge-diff/v4/schema"
	"sigs.k8s.io/structured-merge-diff/v4/typed"
)

// Types wraps the SMD parser(s). CRDs get their own parser (built-in types + CRD types),
// so the shared built-in schema is never mutated after start-up.
type Types struct {
	builtin *typed.Parser
	mu      sync.RWMutex
	crd     map[string]*typed.Parser // SMD type name -> parser that knows it
}

func loadTypes(dataDir string, reg *Registry) (*Types, error) {
	raw, err := os.ReadFile(filepath.Join(dataDir, "k8s-1.35-smd-schema.yaml"))
	if err != nil {
		return nil, err
	}
	p := &typed.Parser{}
	if err := yaml.Unmarshal(raw, &p.Schema); err != nil {
		return nil, fmt.Errorf("smd schema: %v", err)
	}
	// Copy declarative scalar defaults from the v3 components onto SMD struct fields
	// before the schema's lookup caches are built.
	for i := range p.Schema.Types {
		td := &p.Schema.Types[i]
		if td.Map == nil {
			continue
		}
		s := reg.schemas[td.Name]
		if s == nil {
			continue
		}
		for j := range td.Map.Fields {
			f := &td.Map.Fields[j]
			prop := s.Properties[f.Name]
			if prop == nil || len(prop.Default) == 0 {
				continue
			}
			var v interface{}
			if json.Unmarshal(prop.Default, &v) == nil {
				switch v.(type) {
				case string, bool:
					f.Default = v
				case float64:
					f.Default = int64(v.(float64))
				}
			}
		}
	}
	return &Types{builtin: p, crd: map[string]*typed.Parser{}}, nil
}

// parser returns the parser that knows typeName.
func (t *Types) parser(typeName string) *typed.Parser {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if p := t.crd[typeName]; p != nil {
		return p
	}
	return t.builtin
}

// toTyped converts an unstructured object, validating it against the schema.
func (t *Types) toTyped(typeName string, obj map[string]interface{}) (*typed.TypedValue, error) {
	return t.parser(typeName).Type(typeName).FromUnstructured(obj)
}

// registerCRD builds an SMD type for a CRD version's openAPIV3Schema.
func (t *Types) registerCRD(typeName string, openAPIV3Schema map[string]interface{}) {
	var types []schema.TypeDef
	types = append(types, t.builtin.Schema.Types...)
	root := crdTypeRef(openAPIV3Schema, true)
	types = append(types, schema.TypeDef{Name: typeName, Atom: root.Inlined})
	p := &typed.Parser{Schema: schema.Schema{Types: types}}
	t.mu.Lock()
	t.crd[typeName] = p
	t.mu.Unlock()
}

var (
	objectMetaType = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
	untypedDeduced = "__untyped_deduced_"
	untypedAtomic  = "__untyped_atomic_"
)

func strField(m map[string]interface{}, k string) string { s, _ := m[k].(string); return s }
func boolField(m map[string]interface{}, k string) bool  { b, _ := m[k].(bool); return b }

// crdTypeRef converts one structural-schema node to an SMD type, following the rules
// the apiserver uses for custom resources: list markers are honoured, lists without
// one are atomic, int-or-string and preserve-unknown-fields become untyped.
func crdTypeRef(s map[string]interface{}, root bool) schema.TypeRef {
	if s == nil {
		return schema.TypeRef{NamedType: &untypedDeduced}
	}
	if boolField(s, "x-kubernetes-int-or-string") {
		sc := schema.Scalar("untyped")
		return schema.TypeRef{Inlined: schema.Atom{Scalar: &sc}}
	}
	if boolField(s, "x-kubernetes-embedded-resource") && s["properties"] == nil {
		return schema.TypeRef{NamedType: &untypedDeduced}
	}
	switch strField(s, "type") {
	case "object":
		props, _ := s["properties"].(map[string]interface{})
		preserve := boolField(s, "x-kubernetes-preserve-unknown-fields")
		m := &schema.Map{}
		if strField(s, "x-kubernetes-map-type") == "atomic" {
			m.ElementRelationship = schema.Atomic
		}
		if len(props) == 0 {
			if ap, ok := s["additionalProperties"].(map[string]interface{}); ok {
				m.ElementType = crdTypeRef(ap, false)
				return schema.TypeRef{Inlined: schema.Atom{Map: m}}
			}
			if preserve || root {
				return schema.TypeRef{NamedType: &untypedDeduced}
			}
			m.ElementType = schema.TypeRef{NamedType: &untypedDeduced}
			return schema.TypeRef{Inlined: schema.Atom{Map: m}}
		}
		names := sortedKeys(props)
		for _, name := range names {
			ps, _ := props[name].(map[string]interface{})
			f := schema.StructField{Name: name, Type: crdTypeRef(ps, false)}
			if root && name == "metadata" {
				f.Type = schema.TypeRef{NamedType: &objectMetaType}
			}
			if ps != nil && ps["default"] != nil {
				switch d := ps["default"].(type) {
				case string, bool, int64:
					f.Default = d
				case float64:
					f.Default = int64(d)
				}
			}
			m.Fields = append(m.Fields, f)
		}
		if root {
			for _, k := range []string{"apiVersion", "kind", "metadata"} {
				if props[k] == nil {
					sc := schema.String
					f := schema.StructField{Name: k, Type: schema.TypeRef{Inlined: schema.Atom{Scalar: &sc}}}
					if k == "metadata" {
						f.Type = schema.TypeRef{NamedType: &objectMetaType}
					}
					m.Fields = append(m.Fields, f)
				}
			}
		}
		if preserve {
			m.ElementType = schema.TypeRef{NamedType: &untypedDeduced}
		}
		return schema.TypeRef{Inlined: schema.Atom{Map: m}}
	case "array":
		items, _ := s["items"].(map[string]interface{})
		l := &schema.List{ElementType: crdTypeRef(items, false), ElementRelationship: schema.Atomic}
		switch strField(s, "x-kubernetes-list-type") {
		case "map":
			l.ElementRelationship = schema.Associative
			if keys, ok := s["x-kubernetes-list-map-keys"].([]interface{}); ok {
				for _, k := range keys {
					l.Keys = append(l.Keys, fmt.Sprint(k))
				}
			}
		case "set":
			l.ElementRelationship = schema.Associative
		}
		return schema.TypeRef{Inlined: schema.Atom{List: l}}
	case "string":
		sc := schema.String
		return schema.TypeRef{Inlined: schema.Atom{Scalar: &sc}}
	case "integer", "number":
		sc := schema.Numeric
		return schema.TypeRef{Inlined: schema.Atom{Scalar: &sc}}
	case "boolean":
		sc := schema.Boolean
		return schema.TypeRef{Inlined: schema.Atom{Scalar: &sc}}
	}
	return schema.TypeRef{NamedType: &untypedDeduced}
}
