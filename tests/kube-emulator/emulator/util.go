// file: util.go — JSON/YAML decoding into Kubernetes-style unstructured values and
// small helpers for walking them.
//
// Numbers decode to int64 when integral and float64 otherwise, which is what
// apimachinery's unstructured JSON does and what the SMD value package expects.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// decodeJSON parses JSON into unstructured values with int64/float64 numbers.
func decodeJSON(data []byte) (interface{}, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v interface{}
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("unexpected data after the JSON value")
	}
	return fixNumbers(v), nil
}

func fixNumbers(v interface{}) interface{} {
	switch t := v.(type) {
	case map[string]interface{}:
		for k, e := range t {
			t[k] = fixNumbers(e)
		}
		return t
	case []interface{}:
		for i, e := range t {
			t[i] = fixNumbers(e)
		}
		return t
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		f, _ := t.Float64()
		return f
	}
	return v
}

// decodeYAMLOrJSON accepts YAML (JSON is YAML), as the apply-patch+yaml handler does.
func decodeYAMLOrJSON(data []byte) (interface{}, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') {
		if v, err := decodeJSON(trimmed); err == nil {
			return v, nil
		}
	}
	j, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, err
	}
	return decodeJSON(j)
}

func jsonMarshal(v interface{}) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// deepCopy copies an unstructured value.
func deepCopy(v interface{}) interface{} {
	switch t := v.(type) {
	case map[string]interface{}:
		m := make(map[string]interface{}, len(t))
		for k, e := range t {
			m[k] = deepCopy(e)
		}
		return m
	case []interface{}:
		l := make([]interface{}, len(t))
		for i, e := range t {
			l[i] = deepCopy(e)
		}
		return l
	}
	return v
}

func copyObj(m map[string]interface{}) map[string]interface{} {
	if m == nil {
		return nil
	}
	return deepCopy(m).(map[string]interface{})
}

func sortedKeys(m map[string]interface{}) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// getMap walks nested maps; it returns nil if any step is missing or not a map.
func getMap(m map[string]interface{}, path ...string) map[string]interface{} {
	cur := m
	for _, p := range path {
		next, ok := cur[p].(map[string]interface{})
		if !ok {
			return nil
		}
		cur = next
	}
	return cur
}

// ensureMap walks nested maps, creating missing ones.
func ensureMap(m map[string]interface{}, path ...string) map[string]interface{} {
	cur := m
	for _, p := range path {
		next, ok := cur[p].(map[string]interface{})
		if !ok {
			next = map[string]interface{}{}
			cur[p] = next
		}
		cur = next
	}
	return cur
}

func getString(m map[string]interface{}, path ...string) string {
	if len(path) == 0 {
		return ""
	}
	parent := getMap(m, path[:len(path)-1]...)
	if parent == nil {
		return ""
	}
	s, _ := parent[path[len(path)-1]].(string)
	return s
}

func getList(m map[string]interface{}, path ...string) []interface{} {
	parent := getMap(m, path[:len(path)-1]...)
	if parent == nil {
		return nil
	}
	l, _ := parent[path[len(path)-1]].([]interface{})
	return l
}

// setDefault sets m[k] = v when k is absent (or JSON null).
func setDefault(m map[string]interface{}, k string, v interface{}) {
	if m == nil {
		return
	}
	if cur, ok := m[k]; !ok || cur == nil {
		m[k] = v
	}
}

func equalValues(a, b interface{}) bool { return reflect.DeepEqual(a, b) }

func meta(obj map[string]interface{}) map[string]interface{} { return ensureMap(obj, "metadata") }

// splitAPIVersion splits "apps/v1" into ("apps","v1") and "v1" into ("","v1").
func splitAPIVersion(av string) (string, string) {
	if i := strings.Index(av, "/"); i >= 0 {
		return av[:i], av[i+1:]
	}
	return "", av
}
