// file: http.go — request routing, authentication and the REST verbs.
//
// Paths follow the apiserver's layout (/api/v1/..., /apis/{group}/{version}/...,
// namespaced and cluster-scoped forms, subresources). Every failure is a metav1.Status
// from errors.go.
package main

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
)

type user struct {
	name     string
	readOnly bool
}

func writeJSON(w http.ResponseWriter, code int, v interface{}) {
	writeJSONType(w, code, "application/json", v)
}

func writeJSONType(w http.ResponseWriter, code int, ctype string, v interface{}) {
	b, err := jsonMarshal(v)
	if err != nil {
		code = 500
		b = []byte(`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"encoding failed","code":500}`)
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Cache-Control", "no-cache, private")
	w.WriteHeader(code)
	_, _ = w.Write(b)
	_, _ = w.Write([]byte("\n"))
}

func writeErr(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.Code, e.body())
}

// authenticate checks the bearer token. Anonymous requests may read /version and the
// health endpoints only (system:public-info-viewer).
func (s *Server) authenticate(req *http.Request) (*user, *apiError) {
	h := req.Header.Get("Authorization")
	if h == "" {
		return &user{name: "system:anonymous", readOnly: true}, nil
	}
	tok := strings.TrimPrefix(h, "Bearer ")
	switch {
	case tok == h:
		return nil, &apiError{Code: 401, Reason: "Unauthorized", Message: "Unauthorized"}
	case tok == s.adminToken:
		return &user{name: "kube-emulator-admin"}, nil
	case tok == s.readToken:
		return &user{name: "kube-emulator-readonly", readOnly: true}, nil
	}
	return nil, &apiError{Code: 401, Reason: "Unauthorized", Message: "Unauthorized"}
}

func (s *Server) route(w http.ResponseWriter, req *http.Request, u *user) {
	p := req.URL.Path
	if len(p) > 1 {
		p = strings.TrimSuffix(p, "/")
	}
	switch p {
	case "/version":
		writeJSON(w, 200, versionInfo)
		return
	case "/healthz", "/readyz", "/livez":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok"))
		return
	}
	if u.name == "system:anonymous" {
		writeErr(w, &apiError{Code: 403, Reason: "Forbidden", Message: fmt.Sprintf("forbidden: User \"system:anonymous\" cannot get path %q", p), Details: &StatusDetails{}})
		return
	}
	switch {
	case p == "/api" || p == "/apis":
		s.serveRootDiscovery(w, req, p)
		return
	case p == "/openapi/v2":
		s.serveOpenAPIv2(w, req)
		return
	case p == "/openapi/v3":
		s.serveOpenAPIv3Index(w)
		return
	case strings.HasPrefix(p, "/openapi/v3/"):
		s.serveOpenAPIv3Doc(w, strings.TrimPrefix(p, "/openapi/v3/"))
		return
	}
	segs := strings.Split(strings.TrimPrefix(p, "/"), "/")
	var group, version string
	var rest []string
	switch {
	case segs[0] == "api" && len(segs) >= 2:
		version, rest = segs[1], segs[2:]
	case segs[0] == "apis" && len(segs) == 2:
		s.serveGroup(w, segs[1])
		return
	case segs[0] == "apis" && len(segs) >= 3:
		group, version, rest = segs[1], segs[2], segs[3:]
	default:
		writeErr(w, errResourceNotFound())
		return
	}
	if len(rest) == 0 {
		s.serveResourceList(w, group, version)
		return
	}
	s.serveResource(w, req, u, group, version, rest)
}

// serveResource handles .../[namespaces/{ns}/]{plural}[/{name}[/{sub}]].
func (s *Server) serveResource(w http.ResponseWriter, req *http.Request, u *user, group, version string, rest []string) {
	ns := ""
	if len(rest) >= 3 && rest[0] == "namespaces" && !(group == "" && len(rest) == 3 && (rest[2] == "status" || rest[2] == "finalize")) {
		ns, rest = rest[1], rest[2:]
	}
	if len(rest) > 3 {
		writeErr(w, errResourceNotFound())
		return
	}
	r := s.reg.lookup(group, version, rest[0])
	if r == nil {
		writeErr(w, errResourceNotFound())
		return
	}
	name, sub := "", ""
	if len(rest) > 1 {
		name = rest[1]
	}
	if len(rest) > 2 {
		sub = rest[2]
		if r.Subresources[sub] == nil {
			writeErr(w, errResourceNotFound())
			return
		}
	}
	if (ns != "" && !r.Namespaced) || (r.Namespaced && ns == "" && !(name == "" && req.Method == http.MethodGet)) {
		writeErr(w, errResourceNotFound())
		return
	}
	q := req.URL.Query()
	verb := map[string]string{"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}[req.Method]
	if name == "" && verb == "get" {
		verb = "list"
		if b, _ := strconv.ParseBool(q.Get("watch")); b {
			verb = "watch"
		}
	}
	if name == "" && verb == "delete" {
		verb = "deletecollection"
	}
	if verb == "" {
		writeErr(w, errMethodNotSupported(r.Plural, req.Method))
		return
	}
	if r.Group == "authorization.k8s.io" && verb == "create" {
		// Access reviews are answered, never stored; every user may ask (system:basic-user).
		s.serveAccessReview(w, req, u, r, ns)
		return
	}
	if u.readOnly && verb != "get" && verb != "list" && verb != "watch" {
		res := r.Plural
		if sub != "" {
			res += "/" + sub
		}
		scope := fmt.Sprintf("in the namespace %q", ns)
		if !r.Namespaced {
			scope = "at the cluster scope"
		}
		writeErr(w, errForbidden(r.Group, r.Plural, name, fmt.Sprintf("User %q cannot %s resource %q in API group %q %s", u.name, verb, res, r.Group, scope)))
		return
	}
	o := &op{r: r, ns: ns, name: name, sub: sub}
	kindForOptions := map[string]string{"create": "CreateOptions", "update": "UpdateOptions", "patch": "PatchOptions", "delete": "DeleteOptions", "deletecollection": "DeleteOptions"}[verb]
	if dr, ok := q["dryRun"]; ok && kindForOptions != "" {
		if len(dr) != 1 || dr[0] != "All" {
			writeErr(w, optionsInvalid(kindForOptions, []fieldErr{{Field: "dryRun", Type: "Unsupported value", Reason: "FieldValueNotSupported",
				Detail: `supported values: "All"`, Value: rawValue(goStringSlice(dr)), hasVal: true}}))
			return
		}
		o.dryRun = true
	}
	if fv := q.Get("fieldValidation"); fv != "" {
		switch fv {
		case "Strict":
			o.strict = true
		case "Warn", "Ignore":
		default:
			writeErr(w, errBadRequest(fmt.Sprintf("fieldValidation must be one of Ignore, Warn, or Strict, got %s", fv)))
			return
		}
	}
	o.manager = q.Get("fieldManager")
	if len(o.manager) > 128 {
		writeErr(w, optionsInvalid(kindForOptions, []fieldErr{{Field: "fieldManager", Type: "Too long", Reason: "FieldValueTooLong", Detail: "may not be more than 128 bytes"}}))
		return
	}
	for _, c := range o.manager {
		if !unicode.IsPrint(c) {
			writeErr(w, optionsInvalid(kindForOptions, []fieldErr{invalid("fieldManager", o.manager, "must only contain printable characters")}))
			return
		}
	}
	if o.manager == "" {
		o.manager = strings.Split(req.UserAgent(), "/")[0]
	}
	switch verb {
	case "list":
		s.serveList(w, req, r, ns)
	case "watch":
		s.serveWatch(w, req, r, ns)
	case "get":
		obj := s.Get(r, ns, name)
		if obj == nil {
			writeErr(w, o.notFound())
			return
		}
		if sub == "scale" {
			writeJSON(w, 200, scaleOf(obj))
			return
		}
		if sub == "log" && r.Group == "" && r.Plural == "pods" {
			s.servePodLog(w, req, o)
			return
		}
		s.writeObject(w, req, 200, r, obj)
	case "create":
		if sub != "" {
			writeErr(w, errMethodNotSupported(r.Plural+"/"+sub, req.Method))
			return
		}
		obj, ok := readObjectBody(w, req, s.reg)
		if !ok {
			return
		}
		res, code, aerr := s.create(o, obj)
		s.respond(w, req, r, o, res, code, aerr)
	case "update":
		obj, ok := readObjectBody(w, req, s.reg)
		if !ok {
			return
		}
		if sub == "scale" {
			s.updateScale(w, req, o, func(scale map[string]interface{}) (map[string]interface{}, error) { return obj, nil })
			return
		}
		res, code, aerr := s.replace(o, func(live map[string]interface{}) (map[string]interface{}, *apiError) { return obj, nil })
		s.respond(w, req, r, o, res, code, aerr)
	case "patch":
		s.servePatch(w, req, o, q)
	case "delete":
		if sub != "" {
			writeErr(w, errMethodNotSupported(r.Plural+"/"+sub, req.Method))
			return
		}
		opts := &deleteOptions{}
		if raw, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20)); len(strings.TrimSpace(string(raw))) > 0 {
			v, err := decodeYAMLOrJSON(raw)
			if err == nil {
				b, _ := jsonMarshal(v)
				err = jsonUnmarshal(b, opts)
			}
			if err != nil {
				writeErr(w, errBadRequest(err.Error()))
				return
			}
			if len(opts.DryRun) > 0 {
				o.dryRun = true
			}
		}
		if pp := q.Get("propagationPolicy"); pp != "" {
			opts.PropagationPolicy = pp
		}
		switch opts.PropagationPolicy {
		case "", "Orphan", "Background", "Foreground":
		default:
			writeErr(w, optionsInvalid("DeleteOptions", []fieldErr{unsupported("propagationPolicy", opts.PropagationPolicy, []string{"Foreground", "Background", "Orphan", "nil"})}))
			return
		}
		res, code, aerr := s.delete(o, opts)
		if aerr != nil {
			writeErr(w, aerr)
			return
		}
		writeJSON(w, code, res)
	case "deletecollection":
		s.serveDeleteCollection(w, req, o)
	}
}

var builtinPatchTypes = []string{"application/json-patch+json", "application/merge-patch+json", "application/strategic-merge-patch+json", "application/apply-patch+yaml"}
var crPatchTypes = []string{"application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml"}

func goStringSlice(l []string) string {
	q := make([]string, len(l))
	for i, v := range l {
		q[i] = fmt.Sprintf("%q", v)
	}
	return "[]string{" + strings.Join(q, ", ") + "}"
}

// optionsInvalid is errors.NewInvalid(meta.k8s.io/<Kind>Options, "", errs).
func optionsInvalid(kind string, errs []fieldErr) *apiError {
	return errInvalid("meta.k8s.io", kind, "", errs)
}

func readBody(req *http.Request, reg *Registry) (interface{}, error) {
	raw, err := io.ReadAll(io.LimitReader(req.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	ct := req.Header.Get("Content-Type")
	if strings.HasPrefix(ct, "application/vnd.kubernetes.protobuf") {
		return reg.decodeProtobufBody(raw)
	}
	if strings.Contains(ct, "protobuf") || strings.Contains(ct, "cbor") {
		// CBOR (feature-gated upstream) is not decoded.
		return nil, errUnsupportedMediaType("application/json", "application/yaml", "application/vnd.kubernetes.protobuf")
	}
	if strings.Contains(ct, "yaml") {
		return decodeYAMLOrJSON(raw)
	}
	v, err := decodeJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("couldn't get version/kind; json parse error: %v", err)
	}
	return v, nil
}

func (s *Server) respond(w http.ResponseWriter, req *http.Request, r *Resource, o *op, obj map[string]interface{}, code int, err *apiError) {
	if err != nil {
		writeErr(w, err)
		return
	}
	for _, warn := range o.warnings {
		w.Header().Add("Warning", fmt.Sprintf("299 - %q", warn))
	}
	s.writeObject(w, req, code, r, obj)
}

// writeObject writes an object, or its Table rendering when the client asks for one.
func (s *Server) writeObject(w http.ResponseWriter, req *http.Request, code int, r *Resource, obj map[string]interface{}) {
	if wantsTable(req) && req.Method == http.MethodGet {
		writeJSON(w, code, tableOf([]map[string]interface{}{obj}, getString(obj, "metadata", "resourceVersion")))
		return
	}
	writeJSON(w, code, obj)
}

func (s *Server) servePatch(w http.ResponseWriter, req *http.Request, o *op, q map[string][]string) {
	ct := req.Header.Get("Content-Type")
	if i := strings.Index(ct, ";"); i >= 0 {
		ct = strings.TrimSpace(ct[:i])
	}
	force := false
	if f, ok := q["force"]; ok {
		force, _ = strconv.ParseBool(f[0])
	}
	isApply := ct == "application/apply-patch+yaml"
	switch ct {
	case "application/apply-patch+yaml", "application/merge-patch+json", "application/json-patch+json":
	case "application/strategic-merge-patch+json":
		if o.r.CRD != nil {
			writeErr(w, errUnsupportedMediaType(crPatchTypes...))
			return
		}
	default:
		if o.r.CRD != nil {
			writeErr(w, errUnsupportedMediaType(crPatchTypes...))
		} else {
			writeErr(w, errUnsupportedMediaType(builtinPatchTypes...))
		}
		return
	}
	if isApply && len(q["fieldManager"]) == 0 {
		writeErr(w, optionsInvalid("PatchOptions", []fieldErr{required("fieldManager", "is required for apply patch")}))
		return
	}
	if !isApply && force {
		writeErr(w, optionsInvalid("PatchOptions", []fieldErr{forbidden("force", "may not be specified for non-apply patch")}))
		return
	}
	o.force = force
	raw, err := io.ReadAll(io.LimitReader(req.Body, 16<<20))
	if err != nil {
		writeErr(w, errBadRequest(err.Error()))
		return
	}
	var patch interface{}
	if isApply {
		patch, err = decodeYAMLOrJSON(raw)
		if err != nil {
			writeErr(w, errBadRequest(fmt.Sprintf("error decoding YAML: %v", err)))
			return
		}
	} else if patch, err = decodeJSON(raw); err != nil {
		writeErr(w, errBadRequest(fmt.Sprintf("error decoding patch: %v", err)))
		return
	}
	mutate := func(live map[string]interface{}) (map[string]interface{}, *apiError) {
		switch ct {
		case "application/merge-patch+json":
			if _, ok := patch.(map[string]interface{}); !ok {
				return nil, errBadRequest("the patch must be a JSON object")
			}
			out, _ := mergePatch(live, patch).(map[string]interface{})
			return out, nil
		case "application/json-patch+json":
			ops, ok := patch.([]interface{})
			if !ok {
				return nil, errBadRequest("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
			}
			out, err := jsonPatch(live, ops)
			if err != nil {
				return nil, &apiError{Code: 422, Reason: "Invalid", Message: err.Error()}
			}
			m, _ := out.(map[string]interface{})
			if m == nil {
				return nil, errBadRequest("patch did not produce an object")
			}
			return m, nil
		default:
			p := s.types.parser(o.r.TypeName)
			name := o.r.TypeName
			out, _ := strategicMerge(&p.Schema, typeRef(name), live, patch).(map[string]interface{})
			return out, nil
		}
	}
	if o.sub == "scale" {
		if isApply {
			writeErr(w, errUnsupportedMediaType(builtinPatchTypes[:3]...))
			return
		}
		s.updateScale(w, req, o, func(scale map[string]interface{}) (map[string]interface{}, error) {
			out, err := mutate(scale)
			if err != nil {
				return nil, err
			}
			return out, nil
		})
		return
	}
	if isApply {
		cfg, ok := patch.(map[string]interface{})
		if !ok {
			writeErr(w, errBadRequest("apply patch must be an object"))
			return
		}
		res, code, aerr := s.apply(o, cfg)
		s.respond(w, req, o.r, o, res, code, aerr)
		return
	}
	res, code, aerr := s.replace(o, mutate)
	s.respond(w, req, o.r, o, res, code, aerr)
}

func (s *Server) serveList(w http.ResponseWriter, req *http.Request, r *Resource, ns string) {
	q := req.URL.Query()
	ls, err := parseLabelSelector(q.Get("labelSelector"))
	if err != nil {
		writeErr(w, errBadRequest(err.Error()))
		return
	}
	fs, err := parseFieldSelector(q.Get("fieldSelector"), r)
	if err != nil {
		writeErr(w, errBadRequest(err.Error()))
		return
	}
	items, rv := s.List(r, ns)
	var out []map[string]interface{}
	for _, it := range items {
		if ls.matches(getMap(it, "metadata", "labels")) && fieldMatches(fs, it) {
			out = append(out, it)
		}
	}
	listMeta := map[string]interface{}{"resourceVersion": rv}
	// limit/continue: the token is the key of the last returned item.
	if c := q.Get("continue"); c != "" {
		last, err := base64.RawURLEncoding.DecodeString(c)
		if err != nil {
			writeErr(w, errBadRequest("continue key is not valid: illegal base64 data"))
			return
		}
		i := sort.Search(len(out), func(i int) bool {
			return objKey(getString(out[i], "metadata", "namespace"), getString(out[i], "metadata", "name")) > string(last)
		})
		out = out[i:]
	}
	if lim, _ := strconv.Atoi(q.Get("limit")); lim > 0 && len(out) > lim {
		lastObj := out[lim-1]
		listMeta["continue"] = base64.RawURLEncoding.EncodeToString([]byte(objKey(getString(lastObj, "metadata", "namespace"), getString(lastObj, "metadata", "name"))))
		listMeta["remainingItemCount"] = int64(len(out) - lim)
		out = out[:lim]
	}
	if wantsTable(req) {
		t := tableOf(out, rv)
		for k, v := range listMeta {
			t["metadata"].(map[string]interface{})[k] = v
		}
		writeJSON(w, 200, t)
		return
	}
	arr := make([]interface{}, 0, len(out))
	for _, it := range out {
		if r.CRD == nil {
			delete(it, "apiVersion")
			delete(it, "kind")
		}
		arr = append(arr, it)
	}
	writeJSON(w, 200, map[string]interface{}{"kind": r.Kind + "List", "apiVersion": r.GV(), "metadata": listMeta, "items": arr})
}

func (s *Server) serveDeleteCollection(w http.ResponseWriter, req *http.Request, o *op) {
	q := req.URL.Query()
	ls, err := parseLabelSelector(q.Get("labelSelector"))
	if err != nil {
		writeErr(w, errBadRequest(err.Error()))
		return
	}
	fs, err := parseFieldSelector(q.Get("fieldSelector"), o.r)
	if err != nil {
		writeErr(w, errBadRequest(err.Error()))
		return
	}
	items, _ := s.List(o.r, o.ns)
	var deleted []interface{}
	for _, it := range items {
		if !ls.matches(getMap(it, "metadata", "labels")) || !fieldMatches(fs, it) {
			continue
		}
		one := *o
		one.name = getString(it, "metadata", "name")
		one.ns = getString(it, "metadata", "namespace")
		if _, _, err := s.delete(&one, &deleteOptions{}); err == nil {
			if o.r.CRD == nil {
				delete(it, "apiVersion")
				delete(it, "kind")
			}
			deleted = append(deleted, it)
		}
	}
	if deleted == nil {
		deleted = []interface{}{}
	}
	writeJSON(w, 200, map[string]interface{}{"kind": o.r.Kind + "List", "apiVersion": o.r.GV(), "metadata": map[string]interface{}{}, "items": deleted})
}

func wantsTable(req *http.Request) bool {
	return strings.Contains(req.Header.Get("Accept"), "as=Table")
}

// tableOf renders the default server-side printing (Name, Created At), which is what
// the apiserver uses for types without dedicated printers.
func tableOf(items []map[string]interface{}, rv string) map[string]interface{} {
	rows := make([]interface{}, 0, len(items))
	for _, it := range items {
		md := getMap(it, "metadata")
		rows = append(rows, map[string]interface{}{
			"cells": []interface{}{md["name"], md["creationTimestamp"]},
			"object": map[string]interface{}{"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
				"metadata": withoutManagedFields(map[string]interface{}{"metadata": md})["metadata"]},
		})
	}
	return map[string]interface{}{
		"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": map[string]interface{}{"resourceVersion": rv},
		"columnDefinitions": []interface{}{
			map[string]interface{}{"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names", "priority": 0},
			map[string]interface{}{"name": "Created At", "type": "date", "format": "", "description": "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata", "priority": 0},
		},
		"rows": rows,
	}
}

// scaleOf renders the autoscaling/v1 Scale of a workload.
func scaleOf(obj map[string]interface{}) map[string]interface{} {
	md := getMap(obj, "metadata")
	replicas, _ := getMap(obj, "spec")["replicas"].(int64)
	stReplicas, _ := getMap(obj, "status")["replicas"].(int64)
	sel := ""
	if s := getMap(obj, "spec", "selector"); s != nil {
		var parts []string
		ml := getMap(s, "matchLabels")
		for _, k := range sortedKeys(ml) {
			parts = append(parts, fmt.Sprintf("%s=%v", k, ml[k]))
		}
		sel = strings.Join(parts, ",")
	}
	m := map[string]interface{}{"name": md["name"], "uid": md["uid"], "resourceVersion": md["resourceVersion"], "creationTimestamp": md["creationTimestamp"]}
	if ns, ok := md["namespace"]; ok {
		m["namespace"] = ns
	}
	st := map[string]interface{}{"replicas": stReplicas}
	if sel != "" {
		st["selector"] = sel
	}
	return map[string]interface{}{"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": m,
		"spec": map[string]interface{}{"replicas": replicas}, "status": st}
}

// updateScale writes spec.replicas through the scale subresource.
func (s *Server) updateScale(w http.ResponseWriter, req *http.Request, o *op, fn func(scale map[string]interface{}) (map[string]interface{}, error)) {
	var newScale map[string]interface{}
	res, code, aerr := s.replace(o, func(live map[string]interface{}) (map[string]interface{}, *apiError) {
		sc, err := fn(scaleOf(live))
		if err != nil {
			if ae, ok := err.(*apiError); ok {
				return nil, ae
			}
			return nil, errBadRequest(err.Error())
		}
		if rv := getString(sc, "metadata", "resourceVersion"); rv != "" && rv != getString(live, "metadata", "resourceVersion") {
			return nil, errConflict(o.r.Group, o.r.Plural, o.name, msgOptimisticLock)
		}
		replicas, ok := getMap(sc, "spec")["replicas"].(int64)
		if !ok {
			return nil, errInvalid("autoscaling", "Scale", o.name, []fieldErr{required("spec.replicas", "")})
		}
		ensureMap(live, "spec")["replicas"] = replicas
		delete(meta(live), "resourceVersion")
		newScale = sc
		return live, nil
	})
	_ = newScale
	if aerr != nil {
		writeErr(w, aerr)
		return
	}
	writeJSON(w, code, scaleOf(res))
}

// serveWatch streams events by polling the store (enough for "wait until" clients).
func (s *Server) serveWatch(w http.ResponseWriter, req *http.Request, r *Resource, ns string) {
	q := req.URL.Query()
	ls, err := parseLabelSelector(q.Get("labelSelector"))
	if err != nil {
		writeErr(w, errBadRequest(err.Error()))
		return
	}
	fs, err := parseFieldSelector(q.Get("fieldSelector"), r)
	if err != nil {
		writeErr(w, errBadRequest(err.Error()))
		return
	}
	timeout := 30 * time.Second
	if t, err := strconv.Atoi(q.Get("timeoutSeconds")); err == nil && t > 0 {
		timeout = time.Duration(t) * time.Second
	}
	if timeout > 5*time.Minute {
		timeout = 5 * time.Minute
	}
	fromRV, _ := strconv.ParseInt(q.Get("resourceVersion"), 10, 64)
	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(200)
	// Send the headers now: clients wait for them before they start their writes.
	if flusher != nil {
		flusher.Flush()
	}
	seen := map[string]string{}
	send := func(typ string, obj map[string]interface{}) bool {
		b, _ := jsonMarshal(map[string]interface{}{"type": typ, "object": obj})
		if _, err := w.Write(append(b, '\n')); err != nil {
			return false
		}
		if flusher != nil {
			flusher.Flush()
		}
		return true
	}
	deadline := time.Now().Add(timeout)
	first := true
	for time.Now().Before(deadline) {
		items, _ := s.List(r, ns)
		current := map[string]bool{}
		for _, it := range items {
			if !ls.matches(getMap(it, "metadata", "labels")) || !fieldMatches(fs, it) {
				continue
			}
			key := objKey(getString(it, "metadata", "namespace"), getString(it, "metadata", "name"))
			current[key] = true
			rv := getString(it, "metadata", "resourceVersion")
			prev, known := seen[key]
			seen[key] = rv
			n, _ := strconv.ParseInt(rv, 10, 64)
			switch {
			case first && fromRV > 0 && n <= fromRV:
			case !known:
				if !send("ADDED", it) {
					return
				}
			case prev != rv:
				if !send("MODIFIED", it) {
					return
				}
			}
		}
		for key := range seen {
			if !current[key] {
				delete(seen, key)
				parts := strings.SplitN(key, "/", 2)
				obj := map[string]interface{}{"apiVersion": r.GV(), "kind": r.Kind, "metadata": map[string]interface{}{"name": parts[1]}}
				if parts[0] != "" {
					meta(obj)["namespace"] = parts[0]
				}
				if !send("DELETED", obj) {
					return
				}
			}
		}
		first = false
		select {
		case <-req.Context().Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// readObjectBody decodes a request body that must be one JSON/YAML object; on failure it
// has already written the error response and returns false.
func readObjectBody(w http.ResponseWriter, req *http.Request, reg *Registry) (map[string]interface{}, bool) {
	body, err := readBody(req, reg)
	if err != nil {
		if ae, ok := err.(*apiError); ok {
			writeErr(w, ae)
		} else {
			writeErr(w, errBadRequest(err.Error()))
		}
		return nil, false
	}
	obj, ok := body.(map[string]interface{})
	if !ok {
		writeErr(w, errBadRequest("the body of the request must be an object"))
		return nil, false
	}
	return obj, true
}
