// Package main is the kube-emulator: a Kubernetes API-server emulator for kdep's tests.
//
// This file holds the upstream error Status catalogue (apimachinery pkg/api/errors),
// so every failure the emulator returns has the same shape, code, reason and message
// text a real kube-apiserver would send.
package main

import (
	"fmt"
	"net/http"
	"strings"
)

// StatusCause mirrors metav1.StatusCause; its Type serialises as "reason" upstream.
type StatusCause struct {
	Type    string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	Field   string `json:"field,omitempty"`
}

// StatusDetails mirrors metav1.StatusDetails.
type StatusDetails struct {
	Name   string        `json:"name,omitempty"`
	Group  string        `json:"group,omitempty"`
	Kind   string        `json:"kind,omitempty"`
	UID    string        `json:"uid,omitempty"`
	Causes []StatusCause `json:"causes,omitempty"`
	// RetryAfterSeconds is set on 429s, as upstream does for TooManyRequests.
	RetryAfterSeconds int `json:"retryAfterSeconds,omitempty"`
}

// apiError is a metav1.Status failure; it is both a Go error and the response body.
type apiError struct {
	Code    int
	Reason  string
	Message string
	Details *StatusDetails
}

func (e *apiError) Error() string { return e.Message }

// body renders the Status object exactly as upstream serialises it (field set and names).
func (e *apiError) body() map[string]interface{} {
	m := map[string]interface{}{
		"kind":       "Status",
		"apiVersion": "v1",
		"metadata":   map[string]interface{}{},
		"status":     "Failure",
		"message":    e.Message,
		"code":       e.Code,
	}
	if e.Reason != "" {
		m["reason"] = e.Reason
	}
	if e.Details != nil {
		m["details"] = e.Details
	}
	return m
}

// qualified returns "deployments.apps" or "configmaps" (core group prints bare).
func qualified(group, resource string) string {
	if group == "" {
		return resource
	}
	return resource + "." + group
}

func errNotFound(group, resource, name string) *apiError {
	return &apiError{Code: 404, Reason: "NotFound",
		Message: fmt.Sprintf("%s %q not found", qualified(group, resource), name),
		Details: &StatusDetails{Name: name, Group: group, Kind: resource}}
}

func errAlreadyExists(group, resource, name string) *apiError {
	return &apiError{Code: 409, Reason: "AlreadyExists",
		Message: fmt.Sprintf("%s %q already exists", qualified(group, resource), name),
		Details: &StatusDetails{Name: name, Group: group, Kind: resource}}
}

// errConflict is NewConflict: "Operation cannot be fulfilled on <qualified> "name": <msg>".
func errConflict(group, resource, name, msg string) *apiError {
	return &apiError{Code: 409, Reason: "Conflict",
		Message: fmt.Sprintf("Operation cannot be fulfilled on %s %q: %s", qualified(group, resource), name, msg),
		Details: &StatusDetails{Name: name, Group: group, Kind: resource}}
}

const msgOptimisticLock = "the object has been modified; please apply your changes to the latest version and try again"

// fieldErr is one field.Error; its String() form is "<field>: <Type>: <detail>".
type fieldErr struct {
	Field  string
	Type   string // Required value, Invalid value, Forbidden, Unsupported value, ...
	Reason string // FieldValueRequired, ...
	Detail string
	Value  interface{}
	hasVal bool
}

func (f fieldErr) String() string {
	switch f.Reason {
	case "FieldValueRequired", "FieldValueForbidden":
		if f.Detail == "" {
			return fmt.Sprintf("%s: %s", f.Field, f.Type)
		}
		return fmt.Sprintf("%s: %s: %s", f.Field, f.Type, f.Detail)
	}
	if f.hasVal {
		return fmt.Sprintf("%s: %s: %s: %s", f.Field, f.Type, renderFieldValue(f.Value), f.Detail)
	}
	return fmt.Sprintf("%s: %s: %s", f.Field, f.Type, f.Detail)
}

// renderFieldValue formats a bad value the way field.Error does (%#v for strings, %v else).
func renderFieldValue(v interface{}) string {
	switch t := v.(type) {
	case rawValue:
		return string(t)
	case string:
		return fmt.Sprintf("%q", t)
	case nil:
		return "null"
	case map[string]interface{}, []interface{}:
		b, _ := jsonMarshal(t)
		return string(b)
	}
	return fmt.Sprintf("%v", v)
}

func required(field, detail string) fieldErr {
	return fieldErr{Field: field, Type: "Required value", Reason: "FieldValueRequired", Detail: detail}
}
func forbidden(field, detail string) fieldErr {
	return fieldErr{Field: field, Type: "Forbidden", Reason: "FieldValueForbidden", Detail: detail}
}
func invalid(field string, value interface{}, detail string) fieldErr {
	return fieldErr{Field: field, Type: "Invalid value", Reason: "FieldValueInvalid", Detail: detail, Value: value, hasVal: true}
}
func unsupported(field string, value interface{}, valid []string) fieldErr {
	q := make([]string, len(valid))
	for i, v := range valid {
		q[i] = fmt.Sprintf("%q", v)
	}
	return fieldErr{Field: field, Type: "Unsupported value", Reason: "FieldValueNotSupported",
		Detail: "supported values: " + strings.Join(q, ", "), Value: value, hasVal: true}
}

// errInvalid is NewInvalid: `Kind.group "name" is invalid: [a, b]` (single error: no brackets).
func errInvalid(group, kind, name string, errs []fieldErr) *apiError {
	causes := make([]StatusCause, 0, len(errs))
	msgs := make([]string, 0, len(errs))
	for _, e := range errs {
		msgs = append(msgs, e.String())
		// The cause message is the error text without the field prefix.
		causes = append(causes, StatusCause{Type: e.Reason, Message: strings.TrimPrefix(e.String(), e.Field+": "), Field: e.Field})
	}
	agg := strings.Join(msgs, ", ")
	if len(msgs) > 1 {
		agg = "[" + agg + "]"
	}
	return &apiError{Code: 422, Reason: "Invalid",
		Message: fmt.Sprintf("%s %q is invalid: %s", qualified(group, kind), name, agg),
		Details: &StatusDetails{Name: name, Group: group, Kind: kind, Causes: causes}}
}

func errBadRequest(msg string) *apiError {
	return &apiError{Code: 400, Reason: "BadRequest", Message: msg}
}

func errForbidden(group, resource, name, msg string) *apiError {
	q := qualified(group, resource)
	full := fmt.Sprintf("%s is forbidden: %s", q, msg)
	if name != "" {
		full = fmt.Sprintf("%s %q is forbidden: %s", q, name, msg)
	}
	return &apiError{Code: 403, Reason: "Forbidden", Message: full,
		Details: &StatusDetails{Name: name, Group: group, Kind: resource}}
}

func errUnsupportedMediaType(accepted ...string) *apiError {
	return &apiError{Code: http.StatusUnsupportedMediaType, Reason: "UnsupportedMediaType",
		Message: "the body of the request was in an unknown format - accepted media types include: " + strings.Join(accepted, ", ")}
}

func errMethodNotSupported(resource, method string) *apiError {
	return &apiError{Code: 405, Reason: "MethodNotAllowed",
		Message: fmt.Sprintf("%s is not supported on resources of kind %q", method, resource)}
}

// errInternal is a plain Go error reaching the handler: 500 and no reason
// (responsewriters ErrorToAPIStatus default branch).
func errInternal(msg string) *apiError {
	return &apiError{Code: 500, Message: msg}
}

// errResourceNotFound is what the apiserver answers for an unknown path (the mux's NotFound).
func errResourceNotFound() *apiError {
	return &apiError{Code: 404, Reason: "NotFound", Message: "the server could not find the requested resource", Details: &StatusDetails{}}
}
