// file: validate.go — the validation subset that tests need: object names, required
// workload fields, selector/template agreement, and immutable fields, with the
// upstream field paths and message texts (pkg/apis/*/validation).
package main

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

var dns1123Subdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

var dns1123Label = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
var dns1035Label = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)

const dns1123LabelMsg = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
const dns1035LabelMsg = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"

// validateLabels checks label keys and values (apimachinery ValidateLabels).
func validateLabels(path string, labels map[string]interface{}) []fieldErr {
	var errs []fieldErr
	for _, k := range sortedKeys(labels) {
		if !labelKeyRe.MatchString(k) {
			errs = append(errs, invalid(path, k, "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"))
			continue
		}
		v, _ := labels[k].(string)
		if !labelValueRe.MatchString(v) {
			errs = append(errs, invalid(path, v, "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"))
		} else if len(v) > 63 {
			errs = append(errs, invalid(path, v, "must be no more than 63 characters"))
		}
	}
	return errs
}

const dns1123SubdomainMsg = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"

// goLabelSelector renders a selector the way field.Invalid prints a
// metav1.LabelSelector (Go %#v of the struct).
func goLabelSelector(v interface{}) string {
	m, _ := v.(map[string]interface{})
	if m == nil {
		return "null"
	}
	ml := "map[string]string(nil)"
	if labels, ok := m["matchLabels"].(map[string]interface{}); ok {
		keys := sortedKeys(labels)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%q:%q", k, fmt.Sprint(labels[k]))
		}
		ml = "map[string]string{" + strings.Join(parts, ", ") + "}"
	}
	me := "[]v1.LabelSelectorRequirement(nil)"
	if exprs, ok := m["matchExpressions"].([]interface{}); ok {
		var parts []string
		for _, e := range exprs {
			em, _ := e.(map[string]interface{})
			vals := "[]string(nil)"
			if vs, ok := em["values"].([]interface{}); ok {
				q := make([]string, len(vs))
				for i, v := range vs {
					q[i] = fmt.Sprintf("%q", fmt.Sprint(v))
				}
				vals = "[]string{" + strings.Join(q, ", ") + "}"
			}
			parts = append(parts, fmt.Sprintf("v1.LabelSelectorRequirement{Key:%q, Operator:%q, Values:%s}", em["key"], em["operator"], vals))
		}
		me = "[]v1.LabelSelectorRequirement{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprintf("v1.LabelSelector{MatchLabels:%s, MatchExpressions:%s}", ml, me)
}

type rawValue string

func immutable(field string, shown string) fieldErr {
	return fieldErr{Field: field, Type: "Invalid value", Reason: "FieldValueInvalid", Detail: "field is immutable", Value: rawValue(shown), hasVal: true}
}

func (s *Server) validate(r *Resource, live, obj map[string]interface{}) []fieldErr {
	var errs []fieldErr
	name := getString(obj, "metadata", "name")
	switch {
	case r.CRD != nil || r.Group == "rbac.authorization.k8s.io":
		// Path-segment names (RBAC allows "system:..."); CRs only need a subdomain-ish name.
	case r.Group == "" && (r.Kind == "Service" || r.Kind == "Namespace"):
		re, msg := dns1035Label, dns1035LabelMsg
		if r.Kind == "Namespace" {
			re, msg = dns1123Label, dns1123LabelMsg
		}
		if !re.MatchString(name) {
			errs = append(errs, invalid("metadata.name", name, msg))
		} else if len(name) > 63 {
			errs = append(errs, invalid("metadata.name", name, "must be no more than 63 characters"))
		}
	case !dns1123Subdomain.MatchString(name):
		errs = append(errs, invalid("metadata.name", name, dns1123SubdomainMsg))
	case len(name) > 253:
		errs = append(errs, invalid("metadata.name", name, "must be no more than 253 characters"))
	}
	errs = append(errs, validateLabels("metadata.labels", getMap(obj, "metadata", "labels"))...)
	spec := getMap(obj, "spec")
	switch r.Group + "/" + r.Kind {
	case "apps/Deployment", "apps/ReplicaSet", "apps/StatefulSet", "apps/DaemonSet":
		sel := getMap(spec, "selector")
		if sel == nil {
			errs = append(errs, required("spec.selector", ""))
		} else if len(sel) == 0 || (len(getMap(sel, "matchLabels")) == 0 && len(getList(sel, "matchExpressions")) == 0) {
			errs = append(errs, invalid("spec.selector", rawValue(goLabelSelector(sel)), "empty selector is invalid for deployment"))
		} else {
			labels := getMap(spec, "template", "metadata", "labels")
			if !selectorMatches(sel, labels) {
				errs = append(errs, invalid("spec.template.metadata.labels", rawValue(goStringMap(labels)), "`selector` does not match template `labels`"))
			}
		}
		errs = append(errs, validatePodSpec("spec.template.spec", getMap(spec, "template", "spec"))...)
		if live != nil {
			if old := getMap(live, "spec", "selector"); !equalValues(old, getMap(spec, "selector")) && sel != nil {
				errs = append(errs, immutable("spec.selector", goLabelSelector(sel)))
			}
		}
		if r.Kind == "StatefulSet" && live != nil {
			a, b := copyObj(getMap(live, "spec")), copyObj(spec)
			for _, k := range []string{"replicas", "ordinals", "template", "updateStrategy", "revisionHistoryLimit", "persistentVolumeClaimRetentionPolicy", "minReadySeconds"} {
				delete(a, k)
				delete(b, k)
			}
			if !equalValues(a, b) {
				errs = append(errs, forbidden("spec", "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"))
			}
		}
	case "batch/Job":
		errs = append(errs, validatePodSpec("spec.template.spec", getMap(spec, "template", "spec"))...)
		rp := getString(spec, "template", "spec", "restartPolicy")
		if rp != "OnFailure" && rp != "Never" {
			errs = append(errs, unsupported("spec.template.spec.restartPolicy", rp, []string{"OnFailure", "Never"}))
		}
		if live != nil {
			if !equalValues(getMap(live, "spec", "selector"), getMap(spec, "selector")) {
				errs = append(errs, immutable("spec.selector", goLabelSelector(getMap(spec, "selector"))))
			}
			if !equalValues(getMap(live, "spec", "template"), getMap(spec, "template")) {
				errs = append(errs, fieldErr{Field: "spec.template", Type: "Invalid value", Reason: "FieldValueInvalid", Detail: "field is immutable", Value: rawValue("core.PodTemplateSpec{...}"), hasVal: true})
			}
		}
	case "batch/CronJob":
		if getString(spec, "schedule") == "" {
			errs = append(errs, required("spec.schedule", ""))
		}
	case "/Pod":
		errs = append(errs, validatePodSpec("spec", spec)...)
	case "/Service":
		if live != nil {
			oldIP := getString(live, "spec", "clusterIP")
			newIP := getString(obj, "spec", "clusterIP")
			if oldIP != "" && newIP != oldIP && getString(obj, "spec", "type") != "ExternalName" {
				errs = append(errs, invalid("spec.clusterIPs[0]", newIP, "may not change once set"))
			}
		}
		for i, p := range getListMaps(spec, "ports") {
			if _, ok := p["port"]; !ok {
				errs = append(errs, required(fmt.Sprintf("spec.ports[%d].port", i), ""))
			}
		}
	case "/ConfigMap", "/Secret":
		if live != nil {
			if b, _ := live["immutable"].(bool); b {
				for _, k := range []string{"data", "binaryData", "stringData"} {
					if !equalValues(live[k], obj[k]) {
						errs = append(errs, forbidden(k, "field is immutable when `immutable` is set"))
					}
				}
			}
			if r.Kind == "Secret" && live["type"] != obj["type"] {
				errs = append(errs, invalid("type", obj["type"], "field is immutable"))
			}
		}
	case "/PersistentVolumeClaim":
		if live != nil {
			a, b := copyObj(getMap(live, "spec")), copyObj(spec)
			for _, m := range []map[string]interface{}{a, b} {
				if res := getMap(m, "resources"); res != nil {
					delete(res, "requests")
				}
				delete(m, "volumeAttributesClassName")
			}
			if !equalValues(a, b) {
				errs = append(errs, forbidden("spec", "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"))
			}
		}
	}
	return errs
}

func goStringMap(m map[string]interface{}) string {
	if m == nil {
		return "map[string]string(nil)"
	}
	keys := sortedKeys(m)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%q:%q", k, fmt.Sprint(m[k]))
	}
	return "map[string]string{" + strings.Join(parts, ", ") + "}"
}

func validatePodSpec(path string, ps map[string]interface{}) []fieldErr {
	var errs []fieldErr
	cs := getListMaps(ps, "containers")
	if len(cs) == 0 {
		return append(errs, required(path+".containers", ""))
	}
	seen := map[string]bool{}
	for i, c := range cs {
		p := fmt.Sprintf("%s.containers[%d]", path, i)
		n, _ := c["name"].(string)
		if n == "" {
			errs = append(errs, required(p+".name", ""))
		} else if seen[n] {
			errs = append(errs, fieldErr{Field: p + ".name", Type: "Duplicate value", Reason: "FieldValueDuplicate", Value: n, hasVal: true})
		}
		seen[n] = true
		if img, _ := c["image"].(string); img == "" {
			errs = append(errs, required(p+".image", ""))
		}
	}
	return errs
}

// selectorMatches evaluates a metav1.LabelSelector against labels.
func selectorMatches(sel map[string]interface{}, labels map[string]interface{}) bool {
	for k, v := range getMap(sel, "matchLabels") {
		if lv, ok := labels[k]; !ok || lv != v {
			return false
		}
	}
	for _, e := range getListMaps(sel, "matchExpressions") {
		key, _ := e["key"].(string)
		lv, has := labels[key]
		var vals []string
		for _, v := range getList(e, "values") {
			vals = append(vals, fmt.Sprint(v))
		}
		sort.Strings(vals)
		in := has && contains(vals, fmt.Sprint(lv))
		switch e["operator"] {
		case "In":
			if !in {
				return false
			}
		case "NotIn":
			if in {
				return false
			}
		case "Exists":
			if !has {
				return false
			}
		case "DoesNotExist":
			if has {
				return false
			}
		}
	}
	return true
}

func contains(l []string, s string) bool {
	for _, e := range l {
		if e == s {
			return true
		}
	}
	return false
}
