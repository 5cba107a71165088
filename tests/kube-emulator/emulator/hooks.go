// file: hooks.go — test hooks under /_emulator/: the request log, fault injection,
// the deterministic clock and UIDs, CRD establishment delay, and rollout simulation.
//
// These paths require the admin token, are never logged and never hit by faults, so
// tests can drive them while a fault is armed.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"
)

// logEntry is one request as the tests see it.
type logEntry struct {
	Seq          int64  `json:"seq"`
	Time         string `json:"time"`
	Method       string `json:"method"`
	Path         string `json:"path"`
	Query        string `json:"query,omitempty"`
	ContentType  string `json:"contentType,omitempty"`
	UserAgent    string `json:"userAgent,omitempty"`
	User         string `json:"user,omitempty"`
	FieldManager string `json:"fieldManager,omitempty"`
	DryRun       bool   `json:"dryRun,omitempty"`
	Status       int    `json:"status"`
	DurationMs   int64  `json:"durationMs"`
	Fault        string `json:"fault,omitempty"`
}

type requestLog struct {
	mu      sync.Mutex
	seq     int64
	entries []logEntry
	file    *os.File
}

const maxLogEntries = 100000

func newRequestLog() *requestLog { return &requestLog{} }

func (l *requestLog) add(e logEntry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	e.Seq = l.seq
	if len(l.entries) >= maxLogEntries {
		l.entries = l.entries[1:]
	}
	l.entries = append(l.entries, e)
	if l.file != nil {
		// One human-readable line per request.
		q := ""
		if e.Query != "" {
			q = "?" + e.Query
		}
		extra := ""
		if e.Fault != "" {
			extra = " fault=" + e.Fault
		}
		fmt.Fprintf(l.file, "%s #%d %s %s%s -> %d (%dms) user=%s ua=%q%s\n", e.Time, e.Seq, e.Method, e.Path, q, e.Status, e.DurationMs, e.User, e.UserAgent, extra)
	}
}

func (l *requestLog) snapshot(since int64) []logEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := []logEntry{}
	for _, e := range l.entries {
		if e.Seq > since {
			out = append(out, e)
		}
	}
	return out
}

func (l *requestLog) clear() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = nil
}

// faultRule arms one kind of failure for matching requests.
type faultRule struct {
	Method     string `json:"method,omitempty"`     // empty: any
	Path       string `json:"path,omitempty"`       // regular expression on the URL path; empty: any
	Action     string `json:"action"`               // "status", "drop", "delay"
	Status     int    `json:"status,omitempty"`     // for "status": 429, 500, 503, ...
	RetryAfter int    `json:"retryAfter,omitempty"` // seconds, sent as Retry-After
	Message    string `json:"message,omitempty"`
	DelayMs    int    `json:"delayMs,omitempty"` // for "delay" (capped at 30000)
	Skip       int    `json:"skip,omitempty"`    // let this many matching requests through first
	Times      int    `json:"times,omitempty"`   // how often to fire (default 1, capped at 10000)
	After      bool   `json:"after,omitempty"`   // "drop": process the request, then drop the response

	re    *regexp.Regexp
	fired int
	seen  int
}

type faultSet struct {
	mu    sync.Mutex
	rules []*faultRule
}

func (f *faultSet) add(r *faultRule) error {
	if r.Path != "" {
		re, err := regexp.Compile(r.Path)
		if err != nil {
			return err
		}
		r.re = re
	}
	switch r.Action {
	case "status":
		if r.Status < 400 || r.Status > 599 {
			return fmt.Errorf("status must be 400..599")
		}
	case "drop", "delay":
	default:
		return fmt.Errorf("action must be status, drop or delay")
	}
	if r.Times <= 0 {
		r.Times = 1
	}
	if r.Times > 10000 {
		r.Times = 10000
	}
	if r.DelayMs > 30000 {
		r.DelayMs = 30000
	}
	f.mu.Lock()
	f.rules = append(f.rules, r)
	f.mu.Unlock()
	return nil
}

// match returns the first armed rule for the request and consumes one firing.
func (f *faultSet) match(req *http.Request) *faultRule {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.rules {
		if r.fired >= r.Times {
			continue
		}
		if r.Method != "" && !strings.EqualFold(r.Method, req.Method) {
			continue
		}
		if r.re != nil && !r.re.MatchString(req.URL.Path) {
			continue
		}
		r.seen++
		if r.seen <= r.Skip {
			continue
		}
		r.fired++
		c := *r
		return &c
	}
	return nil
}

func (f *faultSet) clear() {
	f.mu.Lock()
	f.rules = nil
	f.mu.Unlock()
}

func (f *faultSet) status() []map[string]interface{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []map[string]interface{}{}
	for _, r := range f.rules {
		out = append(out, map[string]interface{}{"method": r.Method, "path": r.Path, "action": r.Action, "fired": r.fired, "times": r.Times})
	}
	return out
}

var statusReasons = map[int]string{400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
	409: "Conflict", 410: "Expired", 422: "Invalid", 429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout"}

// faultError renders an injected failure as the apiserver would send it.
func faultError(r *faultRule) *apiError {
	e := &apiError{Code: r.Status, Reason: statusReasons[r.Status], Message: r.Message}
	switch r.Status {
	case 429:
		if e.Message == "" {
			e.Message = "Too many requests, please try again later."
		}
		e.Details = &StatusDetails{RetryAfterSeconds: r.RetryAfter}
	case 500:
		if e.Message == "" {
			e.Message = "injected fault"
		}
		e.Details = &StatusDetails{Causes: []StatusCause{{Message: e.Message}}}
		e.Message = "Internal error occurred: " + e.Message
	default:
		if e.Message == "" {
			e.Message = http.StatusText(r.Status)
		}
	}
	return e
}

// serveAdmin dispatches /_emulator/ requests.
func (s *Server) serveAdmin(w http.ResponseWriter, req *http.Request) {
	p := strings.TrimPrefix(req.URL.Path, "/_emulator/")
	var body map[string]interface{}
	if req.Method == http.MethodPost || req.Method == http.MethodPut {
		raw, _ := io.ReadAll(io.LimitReader(req.Body, 16<<20))
		if len(strings.TrimSpace(string(raw))) > 0 {
			v, err := decodeYAMLOrJSON(raw)
			if err != nil {
				writeErr(w, errBadRequest(err.Error()))
				return
			}
			body, _ = v.(map[string]interface{})
		}
	}
	switch {
	case p == "log" && req.Method == http.MethodGet:
		var since int64
		fmt.Sscan(req.URL.Query().Get("since"), &since)
		writeJSON(w, 200, map[string]interface{}{"entries": s.log.snapshot(since)})
	case p == "log" && req.Method == http.MethodDelete:
		s.log.clear()
		writeJSON(w, 200, map[string]interface{}{})
	case p == "faults" && req.Method == http.MethodPost:
		b, _ := jsonMarshal(body)
		var r faultRule
		if err := jsonUnmarshal(b, &r); err != nil {
			writeErr(w, errBadRequest(err.Error()))
			return
		}
		if err := s.faults.add(&r); err != nil {
			writeErr(w, errBadRequest(err.Error()))
			return
		}
		writeJSON(w, 201, map[string]interface{}{"faults": s.faults.status()})
	case p == "faults" && req.Method == http.MethodGet:
		writeJSON(w, 200, map[string]interface{}{"faults": s.faults.status()})
	case p == "faults" && req.Method == http.MethodDelete:
		s.faults.clear()
		writeJSON(w, 200, map[string]interface{}{})
	case p == "clock" && req.Method == http.MethodPost:
		// {"time": RFC3339} fixes the clock; {"advanceSeconds": n} moves a fixed clock;
		// {"real": true} returns to wall time.
		s.clockMu.Lock()
		if t, ok := body["time"].(string); ok {
			parsed, err := time.Parse(time.RFC3339, t)
			if err != nil {
				s.clockMu.Unlock()
				writeErr(w, errBadRequest(err.Error()))
				return
			}
			parsed = parsed.UTC()
			s.fixedTime = &parsed
		}
		if a, ok := body["advanceSeconds"].(int64); ok && s.fixedTime != nil {
			t := s.fixedTime.Add(time.Duration(a) * time.Second)
			s.fixedTime = &t
		}
		if r, _ := body["real"].(bool); r {
			s.fixedTime = nil
		}
		if u, ok := body["sequentialUIDs"].(bool); ok {
			s.seqUIDs = u
		}
		s.clockMu.Unlock()
		writeJSON(w, 200, map[string]interface{}{"now": nowRFC3339(s.now())})
	case p == "crd-delay" && req.Method == http.MethodPost:
		ms, _ := body["milliseconds"].(int64)
		s.mu.Lock()
		s.crdDelay = time.Duration(ms) * time.Millisecond
		s.mu.Unlock()
		writeJSON(w, 200, map[string]interface{}{"milliseconds": ms})
	case p == "namespace-delay" && req.Method == http.MethodPost:
		ms, _ := body["milliseconds"].(int64)
		s.mu.Lock()
		s.nsDeleteDelay = time.Duration(ms) * time.Millisecond
		s.mu.Unlock()
		writeJSON(w, 200, map[string]interface{}{"milliseconds": ms})
	case p == "rollout" && req.Method == http.MethodPost:
		s.serveRollout(w, body)
	case p == "pod" && req.Method == http.MethodPost:
		var seed podSeed
		if !decodeHookBody(w, body, &seed) {
			return
		}
		res, err := s.seedPod(&seed)
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, 201, res)
	case p == "event" && req.Method == http.MethodPost:
		var seed eventSeed
		if !decodeHookBody(w, body, &seed) {
			return
		}
		res, err := s.seedEvent(&seed)
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, 201, res)
	case p == "pod-log" && req.Method == http.MethodPost:
		// {"namespace","pod","container","text","previous":bool}
		ns, _ := body["namespace"].(string)
		pod, _ := body["pod"].(string)
		container, _ := body["container"].(string)
		text, _ := body["text"].(string)
		previous, _ := body["previous"].(bool)
		if ns == "" || pod == "" || container == "" {
			writeErr(w, errBadRequest("pod-log: namespace, pod and container are required"))
			return
		}
		s.podLogs.set(ns, pod, container, previous, text)
		writeJSON(w, 200, map[string]interface{}{})
	default:
		writeErr(w, errResourceNotFound())
	}
}

// decodeHookBody converts a hook's decoded body into a typed seed (unknown fields refused,
// so a misspelt option is an error rather than silently ignored).
func decodeHookBody(w http.ResponseWriter, body map[string]interface{}, into interface{}) bool {
	b, _ := jsonMarshal(body)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		writeErr(w, errBadRequest(err.Error()))
		return false
	}
	return true
}

// serveRollout writes the status a workload controller would: {"apiVersion":"apps/v1",
// "kind":"Deployment","namespace":"default","name":"web","outcome":"complete|progressing|stalled|failed"}.
// "complete" marks all replicas updated/ready/available; "progressing" leaves the new
// pods unready; "stalled" adds Progressing=False/ProgressDeadlineExceeded; "failed"
// (Jobs) sets the Failed condition. For a Deployment it also creates the ReplicaSet of the
// current template and its pods (workloads.go rolloutPods); "podReason" (ImagePullBackOff,
// ErrImagePull, CrashLoopBackOff, OOMKilled, Unschedulable, or any waiting reason) says why
// the pods of a stalled or failed rollout do not become ready.
func (s *Server) serveRollout(w http.ResponseWriter, body map[string]interface{}) {
	av, _ := body["apiVersion"].(string)
	kind, _ := body["kind"].(string)
	ns, _ := body["namespace"].(string)
	name, _ := body["name"].(string)
	outcome, _ := body["outcome"].(string)
	podReason, _ := body["podReason"].(string)
	r := s.reg.byKind(av, kind)
	if r == nil || !r.HasStatus() {
		writeErr(w, errBadRequest(fmt.Sprintf("no status subresource for %s %s", av, kind)))
		return
	}
	if kind == "Deployment" && av == "apps/v1" {
		if _, err := rolloutStatus(map[string]interface{}{}, kind, outcome, ""); err != nil {
			writeErr(w, errBadRequest(err.Error()))
			return
		}
		dep := s.Get(r, ns, name)
		if dep == nil {
			writeErr(w, errNotFound(r.Group, r.Plural, name))
			return
		}
		if err := s.rolloutPods(dep, outcome, podReason); err != nil {
			writeErr(w, err)
			return
		}
	}
	o := &op{r: r, ns: ns, name: name, sub: "status", manager: "kube-controller-manager"}
	res, code, aerr := s.replace(o, func(live map[string]interface{}) (map[string]interface{}, *apiError) {
		st, err := rolloutStatus(live, kind, outcome, nowRFC3339(s.now()))
		if err != nil {
			return nil, errBadRequest(err.Error())
		}
		live["status"] = st
		delete(meta(live), "resourceVersion")
		return live, nil
	})
	if aerr != nil {
		writeErr(w, aerr)
		return
	}
	writeJSON(w, code, res)
}

func rolloutStatus(obj map[string]interface{}, kind, outcome, now string) (map[string]interface{}, error) {
	spec := getMap(obj, "spec")
	gen, _ := getMap(obj, "metadata")["generation"].(int64)
	replicas, ok := spec["replicas"].(int64)
	if !ok {
		replicas = 1
	}
	cond := func(typ, status, reason, msg string) map[string]interface{} {
		return map[string]interface{}{"type": typ, "status": status, "reason": reason, "message": msg,
			"lastUpdateTime": now, "lastTransitionTime": now}
	}
	name := getString(obj, "metadata", "name")
	switch kind {
	case "Deployment":
		rs := fmt.Sprintf("ReplicaSet %q", name+"-"+templateHash(obj))
		st := map[string]interface{}{"observedGeneration": gen, "replicas": replicas, "updatedReplicas": replicas}
		switch outcome {
		case "complete":
			st["readyReplicas"], st["availableReplicas"] = replicas, replicas
			st["conditions"] = []interface{}{
				cond("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability."),
				cond("Progressing", "True", "NewReplicaSetAvailable", rs+" has successfully progressed."),
			}
		case "progressing":
			st["unavailableReplicas"] = replicas
			st["conditions"] = []interface{}{
				cond("Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability."),
				cond("Progressing", "True", "ReplicaSetUpdated", rs+" is progressing."),
			}
		case "stalled", "failed":
			st["unavailableReplicas"] = replicas
			st["conditions"] = []interface{}{
				cond("Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability."),
				cond("Progressing", "False", "ProgressDeadlineExceeded", rs+" has timed out progressing."),
			}
		default:
			return nil, fmt.Errorf("outcome must be complete, progressing, stalled or failed")
		}
		return st, nil
	case "StatefulSet", "ReplicaSet":
		st := map[string]interface{}{"observedGeneration": gen, "replicas": replicas}
		if outcome == "complete" {
			st["readyReplicas"], st["availableReplicas"], st["currentReplicas"], st["updatedReplicas"] = replicas, replicas, replicas, replicas
			st["currentRevision"], st["updateRevision"] = name+"-1", name+"-1"
		} else {
			st["availableReplicas"], st["currentRevision"], st["updateRevision"] = int64(0), name+"-0", name+"-1"
		}
		if kind == "ReplicaSet" {
			delete(st, "currentRevision")
			delete(st, "updateRevision")
			delete(st, "currentReplicas")
			delete(st, "updatedReplicas")
		}
		return st, nil
	case "DaemonSet":
		st := map[string]interface{}{"observedGeneration": gen, "desiredNumberScheduled": int64(1), "currentNumberScheduled": int64(1), "numberMisscheduled": int64(0)}
		if outcome == "complete" {
			st["numberReady"], st["numberAvailable"], st["updatedNumberScheduled"] = int64(1), int64(1), int64(1)
		} else {
			st["numberReady"], st["numberUnavailable"], st["updatedNumberScheduled"] = int64(0), int64(1), int64(1)
		}
		return st, nil
	case "Job":
		st := map[string]interface{}{"startTime": now}
		switch outcome {
		case "complete":
			st["succeeded"], st["completionTime"], st["ready"] = int64(1), now, int64(0)
			st["conditions"] = []interface{}{
				cond("SuccessCriteriaMet", "True", "CompletionsReached", "Reached expected number of succeeded pods"),
				cond("Complete", "True", "CompletionsReached", "Reached expected number of succeeded pods"),
			}
		case "failed", "stalled":
			st["failed"], st["ready"] = int64(1), int64(0)
			st["conditions"] = []interface{}{
				cond("FailureTarget", "True", "BackoffLimitExceeded", "Job has reached the specified backoff limit"),
				cond("Failed", "True", "BackoffLimitExceeded", "Job has reached the specified backoff limit"),
			}
		default:
			st["active"], st["ready"] = int64(1), int64(0)
		}
		return st, nil
	}
	return nil, fmt.Errorf("rollout simulation supports Deployment, StatefulSet, ReplicaSet, DaemonSet and Job, not %s", kind)
}
