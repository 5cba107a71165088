// file: selectors.go — label and field selector parsing for list requests, following
// the grammar of k8s.io/apimachinery/pkg/labels and pkg/fields.
package main

import (
	"fmt"
	"regexp"
	"strings"
)

type labelReq struct {
	key    string
	op     string // "=", "!=", "in", "notin", "exists", "!"
	values []string
}

type labelSelector []labelReq

var labelKeyRe = regexp.MustCompile(`^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`)
var labelValueRe = regexp.MustCompile(`^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$`)

// parseLabelSelector parses "a=b,c!=d,e in (x,y),f notin (z),g,!h".
func parseLabelSelector(sel string) (labelSelector, error) {
	var out labelSelector
	s := strings.TrimSpace(sel)
	if s == "" {
		return nil, nil
	}
	// Split on commas that are not inside parentheses.
	var parts []string
	depth, start := 0, 0
	for i, c := range s {
		switch c {
		case '(':
			depth++
		case ')':
			depth--
			if depth < 0 {
				return nil, fmt.Errorf("unable to parse requirement: found ')', expected: identifier")
			}
		case ',':
			if depth == 0 {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("unable to parse requirement: found '', expected: ')'")
	}
	parts = append(parts, s[start:])
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			return nil, fmt.Errorf("unable to parse requirement: found ',', expected: identifier")
		}
		var r labelReq
		switch {
		case strings.HasPrefix(p, "!"):
			r = labelReq{key: strings.TrimSpace(p[1:]), op: "!"}
		case strings.Contains(p, "!="):
			kv := strings.SplitN(p, "!=", 2)
			r = labelReq{key: strings.TrimSpace(kv[0]), op: "!=", values: []string{strings.TrimSpace(kv[1])}}
		case strings.Contains(p, "=="):
			kv := strings.SplitN(p, "==", 2)
			r = labelReq{key: strings.TrimSpace(kv[0]), op: "=", values: []string{strings.TrimSpace(kv[1])}}
		case strings.Contains(p, "="):
			kv := strings.SplitN(p, "=", 2)
			r = labelReq{key: strings.TrimSpace(kv[0]), op: "=", values: []string{strings.TrimSpace(kv[1])}}
		case strings.Contains(p, "("):
			open := strings.Index(p, "(")
			if !strings.HasSuffix(p, ")") {
				return nil, fmt.Errorf("unable to parse requirement: found '%s', expected: ')'", p)
			}
			head := strings.Fields(p[:open])
			if len(head) != 2 || (head[1] != "in" && head[1] != "notin") {
				return nil, fmt.Errorf("unable to parse requirement: found '%s', expected: in, notin, =, ==, !=, gt, lt", p)
			}
			var vals []string
			for _, v := range strings.Split(p[open+1:len(p)-1], ",") {
				vals = append(vals, strings.TrimSpace(v))
			}
			r = labelReq{key: head[0], op: head[1], values: vals}
		default:
			if strings.ContainsAny(p, " \t") {
				return nil, fmt.Errorf("unable to parse requirement: found '%s', expected: in, notin, =, ==, !=, gt, lt", p)
			}
			r = labelReq{key: p, op: "exists"}
		}
		if !labelKeyRe.MatchString(r.key) || len(r.key) > 316 {
			return nil, fmt.Errorf("unable to parse requirement: values[0][%s]: Invalid value: %q: name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')", r.key, r.key)
		}
		for _, v := range r.values {
			if !labelValueRe.MatchString(v) || len(v) > 63 {
				return nil, fmt.Errorf("unable to parse requirement: values[0][%s]: Invalid value: %q: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')", r.key, v)
			}
		}
		out = append(out, r)
	}
	return out, nil
}

func (ls labelSelector) matches(labels map[string]interface{}) bool {
	for _, r := range ls {
		v, has := labels[r.key]
		sv, _ := v.(string)
		switch r.op {
		case "=":
			if !has || sv != r.values[0] {
				return false
			}
		case "!=":
			if has && sv == r.values[0] {
				return false
			}
		case "in":
			if !has || !contains(r.values, sv) {
				return false
			}
		case "notin":
			if has && contains(r.values, sv) {
				return false
			}
		case "exists":
			if !has {
				return false
			}
		case "!":
			if has {
				return false
			}
		}
	}
	return true
}

type fieldReq struct {
	field, value string
	neg          bool
}

// parseFieldSelector supports metadata.name and metadata.namespace (every resource
// upstream), with =, == and !=.
func parseFieldSelector(sel string, r *Resource) ([]fieldReq, error) {
	var out []fieldReq
	if strings.TrimSpace(sel) == "" {
		return nil, nil
	}
	for _, p := range strings.Split(sel, ",") {
		var fr fieldReq
		switch {
		case strings.Contains(p, "!="):
			kv := strings.SplitN(p, "!=", 2)
			fr = fieldReq{kv[0], kv[1], true}
		case strings.Contains(p, "=="):
			kv := strings.SplitN(p, "==", 2)
			fr = fieldReq{kv[0], kv[1], false}
		case strings.Contains(p, "="):
			kv := strings.SplitN(p, "=", 2)
			fr = fieldReq{kv[0], kv[1], false}
		default:
			return nil, fmt.Errorf("invalid selector: '%s'; can't understand '%s'", sel, p)
		}
		fr.field = strings.TrimSpace(fr.field)
		switch fr.field {
		case "metadata.name", "metadata.namespace":
		default:
			if !(r.Kind == "Secret" && fr.field == "type") && !(r.Kind == "Pod" && (fr.field == "spec.nodeName" || fr.field == "status.phase")) && !eventField(r, fr.field) {
				return nil, fmt.Errorf("field label not supported: %s", fr.field)
			}
		}
		out = append(out, fr)
	}
	return out, nil
}

func fieldMatches(reqs []fieldReq, obj map[string]interface{}) bool {
	for _, fr := range reqs {
		var v string
		switch fr.field {
		case "metadata.name":
			v = getString(obj, "metadata", "name")
		case "metadata.namespace":
			v = getString(obj, "metadata", "namespace")
		case "type":
			v, _ = obj["type"].(string)
		case "spec.nodeName":
			v = getString(obj, "spec", "nodeName")
		case "status.phase":
			v = getString(obj, "status", "phase")
		case "source":
			v = getString(obj, "source", "component")
		default:
			// Event fields (involvedObject.name, regarding.kind, reason, ...): a path.
			v = getString(obj, strings.Split(fr.field, ".")...)
		}
		if (v == fr.value) == fr.neg {
			return false
		}
	}
	return true
}

// eventField: the field labels Events support upstream (core/v1 and events.k8s.io/v1),
// which `kubectl describe` and `kubectl events --for` select on.
func eventField(r *Resource, field string) bool {
	if r.Kind != "Event" {
		return false
	}
	ref := "involvedObject"
	if r.Group == "events.k8s.io" {
		ref = "regarding"
	}
	switch field {
	case "reason", "type", "reportingComponent", "source", "reportingController":
		return true
	}
	for _, f := range []string{"kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath"} {
		if field == ref+"."+f {
			return true
		}
	}
	return false
}
