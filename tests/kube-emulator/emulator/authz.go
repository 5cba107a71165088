// file: authz.go — authorization.k8s.io reviews (`kubectl auth can-i`, client
// pre-flight checks) answered from the emulator's two identities: the admin token may
// do everything, the read-only token may get, list and watch.
package main

import (
	"net/http"
)

var readVerbs = map[string]bool{"get": true, "list": true, "watch": true}

func allowedFor(u *user, verb string) bool {
	return !u.readOnly || readVerbs[verb]
}

func (s *Server) serveAccessReview(w http.ResponseWriter, req *http.Request, u *user, r *Resource, ns string) {
	body, err := readBody(req, s.reg)
	if ae, ok := err.(*apiError); ok {
		writeErr(w, ae)
		return
	} else if err != nil {
		writeErr(w, errBadRequest(err.Error()))
		return
	}
	obj, _ := body.(map[string]interface{})
	if obj == nil {
		writeErr(w, errBadRequest("the body of the request must be an object"))
		return
	}
	obj["apiVersion"], obj["kind"] = r.GV(), r.Kind
	spec := getMap(obj, "spec")
	switch r.Kind {
	case "SelfSubjectAccessReview", "SubjectAccessReview", "LocalSubjectAccessReview":
		verb := getString(spec, "resourceAttributes", "verb")
		if verb == "" {
			verb = getString(spec, "nonResourceAttributes", "verb")
		}
		if verb == "" {
			writeErr(w, errInvalid(r.Group, r.Kind, "", []fieldErr{invalid("spec.resourceAttributes", rawValue("nil"),
				"exactly one of nonResourceAttributes or resourceAttributes must be specified")}))
			return
		}
		who := u
		if r.Kind != "SelfSubjectAccessReview" {
			// Reviews about other users: only the two emulator identities are known.
			who = &user{name: getString(spec, "user"), readOnly: getString(spec, "user") != "kube-emulator-admin"}
		}
		st := map[string]interface{}{"allowed": allowedFor(who, verb)}
		if allowedFor(who, verb) {
			st["reason"] = "kube-emulator: allowed by token"
		}
		obj["status"] = st
	case "SelfSubjectRulesReview":
		verbs := []interface{}{"*"}
		if u.readOnly {
			verbs = []interface{}{"get", "list", "watch"}
		}
		obj["status"] = map[string]interface{}{
			"resourceRules":    []interface{}{map[string]interface{}{"verbs": verbs, "apiGroups": []interface{}{"*"}, "resources": []interface{}{"*"}}},
			"nonResourceRules": []interface{}{map[string]interface{}{"verbs": verbs, "nonResourceURLs": []interface{}{"*"}}},
			"incomplete":       false,
		}
	default:
		writeErr(w, errMethodNotSupported(r.Plural, req.Method))
		return
	}
	meta(obj)["creationTimestamp"] = nil
	_ = ns
	writeJSON(w, 201, obj)
}
