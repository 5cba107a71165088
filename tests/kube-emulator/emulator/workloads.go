// file: workloads.go — what the controllers and the kubelet would leave behind, seeded by
// the tests: pods with container states (running, waiting ImagePullBackOff/CrashLoopBackOff,
// terminated OOMKilled, unschedulable), core/v1 and events.k8s.io/v1 Events, container logs
// served at pods/NAME/log, and the ReplicaSet and pods a Deployment rollout creates.
//
// There are no controllers: these exist only so a CLI can be tested on how it explains a
// failed rollout (which pods fail, why, the last warning events, the last log lines).
package main

import (
	"fmt"
	"hash/fnv"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// containerSeed is one container's state in a seeded pod.
type containerSeed struct {
	Name         string `json:"name"`
	Image        string `json:"image,omitempty"`
	State        string `json:"state,omitempty"` // running (default), waiting, terminated
	Ready        *bool  `json:"ready,omitempty"` // default: true when running
	Reason       string `json:"reason,omitempty"`
	Message      string `json:"message,omitempty"`
	ExitCode     int64  `json:"exitCode,omitempty"`
	RestartCount int64  `json:"restartCount,omitempty"`
	// LastState is the previous run's termination (CrashLoopBackOff after OOMKilled).
	LastState *containerSeed `json:"lastState,omitempty"`
}

// podSeed is the body of POST /_emulator/pod.
type podSeed struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name,omitempty"` // default: <owner>-<5 chars>
	// Owner: a Deployment (the pod then belongs to its current ReplicaSet, created if
	// missing), or a ReplicaSet, StatefulSet, DaemonSet or Job; the pod spec comes from
	// the owner's template.
	Owner *struct {
		Kind string `json:"kind"`
		Name string `json:"name"`
	} `json:"owner,omitempty"`
	Labels     map[string]interface{} `json:"labels,omitempty"`
	Containers []containerSeed        `json:"containers,omitempty"`
	// Unschedulable leaves the pod Pending with PodScheduled=False/Unschedulable and this
	// message (the scheduler's "0/3 nodes are available: ...").
	Unschedulable string `json:"unschedulable,omitempty"`
}

// podLogs holds container logs: "ns/pod/container" (+ "/previous") -> text.
type podLogs struct {
	mu   sync.Mutex
	text map[string]string
}

func (l *podLogs) key(ns, pod, container string, previous bool) string {
	k := ns + "/" + pod + "/" + container
	if previous {
		k += "/previous"
	}
	return k
}

func (l *podLogs) set(ns, pod, container string, previous bool, text string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.text == nil {
		l.text = map[string]string{}
	}
	l.text[l.key(ns, pod, container, previous)] = text
}

func (l *podLogs) get(ns, pod, container string, previous bool) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t, ok := l.text[l.key(ns, pod, container, previous)]
	return t, ok
}

// safeAlphabet is the apimachinery rand.SafeEncodeString alphabet (no vowels, no 0/1/3),
// which generated pod and ReplicaSet suffixes use.
const safeAlphabet = "bcdfghjklmnpqrstvwxz2456789"

func safeHash(n int, parts ...string) string {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	v := h.Sum64()
	out := make([]byte, n)
	for i := range out {
		out[i] = safeAlphabet[v%uint64(len(safeAlphabet))]
		v /= uint64(len(safeAlphabet))
	}
	return string(out)
}

// templateHash is the pod-template-hash label of a Deployment's current template.
func templateHash(dep map[string]interface{}) string {
	b, _ := jsonMarshal(getMap(dep, "spec", "template"))
	return safeHash(10, string(b))
}

func ownerRef(obj map[string]interface{}) map[string]interface{} {
	return map[string]interface{}{"apiVersion": getString(obj, "apiVersion"), "kind": getString(obj, "kind"),
		"name": getString(obj, "metadata", "name"), "uid": getString(obj, "metadata", "uid"),
		"controller": true, "blockOwnerDeletion": true}
}

// ensureReplicaSet creates (or returns) the ReplicaSet of the Deployment's current template,
// named <deployment>-<pod-template-hash> and owned by the Deployment, as the deployment
// controller does.
func (s *Server) ensureReplicaSet(dep map[string]interface{}) (map[string]interface{}, *apiError) {
	r := s.reg.byKind("apps/v1", "ReplicaSet")
	ns, name := getString(dep, "metadata", "namespace"), getString(dep, "metadata", "name")
	hash := templateHash(dep)
	rsName := name + "-" + hash
	if rs := s.Get(r, ns, rsName); rs != nil {
		return rs, nil
	}
	tmpl := deepCopy(getMap(dep, "spec", "template")).(map[string]interface{})
	ensureMap(tmpl, "metadata", "labels")["pod-template-hash"] = hash
	sel := deepCopy(getMap(dep, "spec", "selector")).(map[string]interface{})
	ensureMap(sel, "matchLabels")["pod-template-hash"] = hash
	replicas, ok := getMap(dep, "spec")["replicas"].(int64)
	if !ok {
		replicas = 1
	}
	labels := map[string]interface{}{}
	for k, v := range getMap(tmpl, "metadata", "labels") {
		labels[k] = v
	}
	annotations := map[string]interface{}{"deployment.kubernetes.io/desired-replicas": strconv.FormatInt(replicas, 10),
		"deployment.kubernetes.io/max-replicas": strconv.FormatInt(replicas+1, 10),
		"deployment.kubernetes.io/revision":     strconv.FormatInt(s.nextRevision(dep), 10)}
	obj := map[string]interface{}{"apiVersion": "apps/v1", "kind": "ReplicaSet",
		"metadata": map[string]interface{}{"name": rsName, "namespace": ns, "labels": labels, "annotations": annotations,
			"ownerReferences": []interface{}{ownerRef(dep)}},
		"spec": map[string]interface{}{"replicas": replicas, "selector": sel, "template": tmpl}}
	rs, _, err := s.create(&op{r: r, ns: ns, name: rsName, manager: "kube-controller-manager"}, obj)
	return rs, err
}

// replicaSetsOf lists the ReplicaSets a Deployment owns, oldest revision first.
func (s *Server) replicaSetsOf(dep map[string]interface{}) []map[string]interface{} {
	r := s.reg.byKind("apps/v1", "ReplicaSet")
	items, _ := s.List(r, getString(dep, "metadata", "namespace"))
	out := []map[string]interface{}{}
	for _, rs := range items {
		if ownedBy(rs, dep) {
			out = append(out, rs)
		}
	}
	rev := func(o map[string]interface{}) int64 {
		n, _ := strconv.ParseInt(getString(o, "metadata", "annotations", "deployment.kubernetes.io/revision"), 10, 64)
		return n
	}
	sort.SliceStable(out, func(i, j int) bool { return rev(out[i]) < rev(out[j]) })
	return out
}

func (s *Server) nextRevision(dep map[string]interface{}) int64 {
	var max int64
	for _, rs := range s.replicaSetsOf(dep) {
		n, _ := strconv.ParseInt(getString(rs, "metadata", "annotations", "deployment.kubernetes.io/revision"), 10, 64)
		if n > max {
			max = n
		}
	}
	return max + 1
}

func ownedBy(obj, owner map[string]interface{}) bool {
	uid := getString(owner, "metadata", "uid")
	for _, ref := range getList(obj, "metadata", "ownerReferences") {
		if m, ok := ref.(map[string]interface{}); ok && m["uid"] == uid {
			return true
		}
	}
	return false
}

// podsOf lists the pods an object owns, by name.
func (s *Server) podsOf(owner map[string]interface{}) []map[string]interface{} {
	items, _ := s.List(s.reg.byKind("v1", "Pod"), getString(owner, "metadata", "namespace"))
	out := []map[string]interface{}{}
	for _, p := range items {
		if ownedBy(p, owner) {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return getString(out[i], "metadata", "name") < getString(out[j], "metadata", "name")
	})
	return out
}

// seedPod creates or replaces a pod and writes its status as the kubelet (or, for an
// unschedulable pod, the scheduler) would.
func (s *Server) seedPod(seed *podSeed) (map[string]interface{}, *apiError) {
	podRes := s.reg.byKind("v1", "Pod")
	if seed.Namespace == "" {
		return nil, errBadRequest("pod seed: namespace is required")
	}
	var owner map[string]interface{}
	var template map[string]interface{}
	if seed.Owner != nil {
		av := map[string]string{"Deployment": "apps/v1", "ReplicaSet": "apps/v1", "StatefulSet": "apps/v1", "DaemonSet": "apps/v1", "Job": "batch/v1"}[seed.Owner.Kind]
		if av == "" {
			return nil, errBadRequest(fmt.Sprintf("pod seed: owner kind must be Deployment, ReplicaSet, StatefulSet, DaemonSet or Job, not %q", seed.Owner.Kind))
		}
		r := s.reg.byKind(av, seed.Owner.Kind)
		owner = s.Get(r, seed.Namespace, seed.Owner.Name)
		if owner == nil {
			return nil, errNotFound(r.Group, r.Plural, seed.Owner.Name)
		}
		if seed.Owner.Kind == "Deployment" {
			rs, err := s.ensureReplicaSet(owner)
			if err != nil {
				return nil, err
			}
			owner = rs
		}
		template = getMap(owner, "spec", "template")
	}
	spec := map[string]interface{}{}
	labels := map[string]interface{}{}
	if template != nil {
		spec = deepCopy(getMap(template, "spec")).(map[string]interface{})
		for k, v := range getMap(template, "metadata", "labels") {
			labels[k] = v
		}
	}
	for k, v := range seed.Labels {
		labels[k] = v
	}
	// Containers named in the seed but not in the template are added (a pod without owner
	// has only these).
	byName := map[string]bool{}
	for _, c := range getList(spec, "containers") {
		if m, ok := c.(map[string]interface{}); ok {
			byName[getString(m, "name")] = true
		}
	}
	for _, c := range seed.Containers {
		if !byName[c.Name] {
			if c.Image == "" {
				return nil, errBadRequest(fmt.Sprintf("pod seed: container %q needs an image (it is not in the owner's template)", c.Name))
			}
			spec["containers"] = append(getList(spec, "containers"), map[string]interface{}{"name": c.Name, "image": c.Image})
		}
	}
	if len(getList(spec, "containers")) == 0 {
		return nil, errBadRequest("pod seed: no containers (give an owner or containers with images)")
	}
	name := seed.Name
	if name == "" {
		if owner == nil {
			return nil, errBadRequest("pod seed: a pod without owner needs a name")
		}
		base := getString(owner, "metadata", "name")
		name = base + "-" + safeHash(5, base, strconv.Itoa(len(s.podsOf(owner))))
	}
	md := map[string]interface{}{"name": name, "namespace": seed.Namespace}
	if len(labels) > 0 {
		md["labels"] = labels
	}
	if owner != nil {
		md["ownerReferences"] = []interface{}{ownerRef(owner)}
	}
	pod := map[string]interface{}{"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": spec}
	if seed.Unschedulable == "" {
		spec["nodeName"] = "emulated-node"
	}
	o := &op{r: podRes, ns: seed.Namespace, name: name, manager: "kube-controller-manager"}
	if s.Get(podRes, seed.Namespace, name) == nil {
		if _, _, err := s.create(o, pod); err != nil {
			return nil, err
		}
	} else if _, _, err := s.replace(o, func(live map[string]interface{}) (map[string]interface{}, *apiError) {
		pod["metadata"].(map[string]interface{})["resourceVersion"] = getString(live, "metadata", "resourceVersion")
		return pod, nil
	}); err != nil {
		return nil, err
	}
	manager := "kubelet"
	if seed.Unschedulable != "" {
		manager = "default-scheduler"
	}
	so := &op{r: podRes, ns: seed.Namespace, name: name, sub: "status", manager: manager}
	res, _, err := s.replace(so, func(live map[string]interface{}) (map[string]interface{}, *apiError) {
		live["status"] = s.podStatus(live, seed)
		delete(meta(live), "resourceVersion")
		return live, nil
	})
	return res, err
}

// podStatus is the status the kubelet reports for the seeded container states.
func (s *Server) podStatus(pod map[string]interface{}, seed *podSeed) map[string]interface{} {
	now := nowRFC3339(s.now())
	cond := func(typ, status, reason, msg string) map[string]interface{} {
		c := map[string]interface{}{"type": typ, "status": status, "lastProbeTime": nil, "lastTransitionTime": now}
		if reason != "" {
			c["reason"] = reason
		}
		if msg != "" {
			c["message"] = msg
		}
		return c
	}
	if seed.Unschedulable != "" {
		return map[string]interface{}{"phase": "Pending", "qosClass": "BestEffort",
			"conditions": []interface{}{cond("PodScheduled", "False", "Unschedulable", seed.Unschedulable)}}
	}
	seeds := map[string]containerSeed{}
	for _, c := range seed.Containers {
		seeds[c.Name] = c
	}
	statuses := []interface{}{}
	// The kubelet's phase: under restartPolicy Always a pod whose containers have started
	// (running, terminated or restarted) is Running even while one crash-loops; otherwise
	// all containers terminated decide Succeeded/Failed.
	always := getString(pod, "spec", "restartPolicy") == "" || getString(pod, "spec", "restartPolicy") == "Always"
	allReady, anyStarted, anyRunning, allTerminated, anyFailed := true, false, false, true, false
	notReady := []string{}
	for _, c := range getList(pod, "spec", "containers") {
		m, _ := c.(map[string]interface{})
		cname := getString(m, "name")
		cs, ok := seeds[cname]
		if !ok {
			cs = containerSeed{Name: cname}
		}
		st := containerState(cs, now)
		running := cs.State == "" || cs.State == "running"
		ready := running
		if cs.Ready != nil {
			ready = *cs.Ready && running
		}
		entry := map[string]interface{}{"name": cname, "image": getString(m, "image"), "imageID": "",
			"ready": ready, "restartCount": cs.RestartCount, "started": running, "state": st,
			"lastState": map[string]interface{}{}}
		if cs.LastState != nil {
			entry["lastState"] = containerState(*cs.LastState, now)
		}
		if running || cs.State == "terminated" || cs.RestartCount > 0 {
			entry["imageID"] = "docker.io/library/" + getString(m, "image") + "@sha256:" + safeHash(16, getString(m, "image"))
		}
		statuses = append(statuses, entry)
		allReady = allReady && ready
		if !ready {
			notReady = append(notReady, cname)
		}
		anyRunning = anyRunning || running
		anyStarted = anyStarted || running || cs.State == "terminated" || cs.RestartCount > 0 || cs.LastState != nil
		allTerminated = allTerminated && cs.State == "terminated"
		anyFailed = anyFailed || (cs.State == "terminated" && cs.ExitCode != 0)
	}
	phase := "Pending"
	switch {
	case always && anyStarted:
		phase = "Running"
	case !always && allTerminated && anyFailed:
		phase = "Failed"
	case !always && allTerminated:
		phase = "Succeeded"
	case anyRunning || anyStarted:
		phase = "Running"
	}
	readyStatus, reason, msg := "True", "", ""
	if !allReady {
		readyStatus, reason = "False", "ContainersNotReady"
		msg = fmt.Sprintf("containers with unready status: [%s]", strings.Join(notReady, " "))
	}
	return map[string]interface{}{
		"phase":  phase,
		"hostIP": "10.0.0.10", "hostIPs": []interface{}{map[string]interface{}{"ip": "10.0.0.10"}},
		"podIP":     "10.244.0." + strconv.Itoa(int(safeHash(2, getString(pod, "metadata", "name"))[0])%200+2),
		"startTime": now, "qosClass": "BestEffort",
		"conditions": []interface{}{
			cond("PodReadyToStartContainers", "True", "", ""),
			cond("Initialized", "True", "", ""),
			cond("Ready", readyStatus, reason, msg),
			cond("ContainersReady", readyStatus, reason, msg),
			cond("PodScheduled", "True", "", ""),
		},
		"containerStatuses": statuses,
	}
}

// containerState renders one ContainerState (exactly one of running/waiting/terminated).
func containerState(cs containerSeed, now string) map[string]interface{} {
	switch cs.State {
	case "", "running":
		return map[string]interface{}{"running": map[string]interface{}{"startedAt": now}}
	case "waiting":
		w := map[string]interface{}{"reason": cs.Reason}
		if cs.Message != "" {
			w["message"] = cs.Message
		}
		return map[string]interface{}{"waiting": w}
	default:
		t := map[string]interface{}{"exitCode": cs.ExitCode, "reason": cs.Reason, "startedAt": now, "finishedAt": now}
		if cs.Message != "" {
			t["message"] = cs.Message
		}
		return map[string]interface{}{"terminated": t}
	}
}

// eventSeed is the body of POST /_emulator/event.
type eventSeed struct {
	APIVersion string `json:"apiVersion,omitempty"` // "v1" (default) or "events.k8s.io/v1"
	Namespace  string `json:"namespace"`
	Involved   struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Name       string `json:"name"`
	} `json:"involvedObject"`
	Type       string `json:"type,omitempty"` // Normal (default) or Warning
	Reason     string `json:"reason"`
	Message    string `json:"message"`
	Controller string `json:"reportingController,omitempty"` // default: kubelet
	Count      int64  `json:"count,omitempty"`
}

// seedEvent records an event about an object, timestamped by the emulator's clock.
func (s *Server) seedEvent(e *eventSeed) (map[string]interface{}, *apiError) {
	if e.Namespace == "" || e.Involved.Kind == "" || e.Involved.Name == "" || e.Reason == "" {
		return nil, errBadRequest("event seed: namespace, involvedObject.kind, involvedObject.name and reason are required")
	}
	if e.Type == "" {
		e.Type = "Normal"
	}
	if e.Type != "Normal" && e.Type != "Warning" {
		return nil, errBadRequest(fmt.Sprintf("event seed: type must be Normal or Warning, not %q", e.Type))
	}
	if e.Controller == "" {
		e.Controller = "kubelet"
	}
	if e.Count == 0 {
		e.Count = 1
	}
	if e.Involved.APIVersion == "" {
		e.Involved.APIVersion = "v1"
	}
	ref := map[string]interface{}{"apiVersion": e.Involved.APIVersion, "kind": e.Involved.Kind, "name": e.Involved.Name, "namespace": e.Namespace}
	if r := s.reg.byKind(e.Involved.APIVersion, e.Involved.Kind); r != nil {
		if obj := s.Get(r, e.Namespace, e.Involved.Name); obj != nil {
			ref["uid"] = getString(obj, "metadata", "uid")
			ref["resourceVersion"] = getString(obj, "metadata", "resourceVersion")
		}
	}
	now := s.now()
	name := fmt.Sprintf("%s.%x", e.Involved.Name, now.UnixNano()+int64(len(e.Reason)))
	var r *Resource
	var obj map[string]interface{}
	for {
		av := e.APIVersion
		if av == "" {
			av = "v1"
		}
		r = s.reg.byKind(av, "Event")
		if r == nil {
			return nil, errBadRequest(fmt.Sprintf("event seed: apiVersion must be v1 or events.k8s.io/v1, not %q", av))
		}
		if s.Get(r, e.Namespace, name) == nil {
			break
		}
		name += "x"
	}
	md := map[string]interface{}{"name": name, "namespace": e.Namespace}
	if r.Group == "" {
		obj = map[string]interface{}{"apiVersion": "v1", "kind": "Event", "metadata": md,
			"involvedObject": ref, "type": e.Type, "reason": e.Reason, "message": e.Message,
			"source":         map[string]interface{}{"component": e.Controller},
			"firstTimestamp": nowRFC3339(now), "lastTimestamp": nowRFC3339(now), "count": e.Count,
			"reportingComponent": e.Controller, "reportingInstance": "emulated-node"}
	} else {
		obj = map[string]interface{}{"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": md,
			"regarding": ref, "type": e.Type, "reason": e.Reason, "note": e.Message,
			"eventTime": now.Format("2006-01-02T15:04:05.000000Z07:00"), "reportingController": e.Controller,
			"reportingInstance": e.Controller + "-emulated-node", "action": e.Reason}
		if e.Count > 1 {
			obj["series"] = map[string]interface{}{"count": e.Count, "lastObservedTime": now.Format("2006-01-02T15:04:05.000000Z07:00")}
		}
	}
	res, _, err := s.create(&op{r: r, ns: e.Namespace, name: name, manager: e.Controller}, obj)
	return res, err
}

// servePodLog answers GET .../pods/NAME/log?container=&tailLines=&previous= with the text
// a test stored, and the kubelet's errors when there is none to give.
func (s *Server) servePodLog(w http.ResponseWriter, req *http.Request, o *op) {
	pod := s.Get(o.r, o.ns, o.name)
	if pod == nil {
		writeErr(w, o.notFound())
		return
	}
	q := req.URL.Query()
	names := []string{}
	for _, c := range getList(pod, "spec", "containers") {
		if m, ok := c.(map[string]interface{}); ok {
			names = append(names, getString(m, "name"))
		}
	}
	container := q.Get("container")
	if container == "" {
		if len(names) != 1 {
			writeErr(w, errBadRequest(fmt.Sprintf("a container name must be specified for pod %s, choose one of: [%s]", o.name, strings.Join(names, " "))))
			return
		}
		container = names[0]
	}
	found := false
	for _, n := range names {
		found = found || n == container
	}
	if !found {
		writeErr(w, errBadRequest(fmt.Sprintf("container %s is not valid for pod %s", container, o.name)))
		return
	}
	previous, _ := strconv.ParseBool(q.Get("previous"))
	text, ok := s.podLogs.get(o.ns, o.name, container, previous)
	if !ok {
		if previous {
			writeErr(w, errBadRequest(fmt.Sprintf("previous terminated container %q in pod %q not found", container, o.name)))
			return
		}
		for _, c := range getList(pod, "status", "containerStatuses") {
			m, _ := c.(map[string]interface{})
			if getString(m, "name") == container && getMap(m, "state", "waiting") != nil && len(getMap(m, "state", "waiting")) > 0 {
				writeErr(w, errBadRequest(fmt.Sprintf("container %q in pod %q is waiting to start: %s", container, o.name, waitingLogReason(getString(m, "state", "waiting", "reason")))))
				return
			}
		}
	}
	if tl := q.Get("tailLines"); tl != "" {
		n, err := strconv.ParseInt(tl, 10, 64)
		if err != nil || n < 0 {
			writeErr(w, errInvalid("", "PodLogOptions", "", []fieldErr{invalid("tailLines", tl, "must be greater than or equal to 0")}))
			return
		}
		text = tailLines(text, int(n))
	}
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(200)
	_, _ = w.Write([]byte(text))
}

// waitingLogReason is the kubelet's wording for a container that has no log yet.
func waitingLogReason(reason string) string {
	switch reason {
	case "ImagePullBackOff", "ErrImagePull":
		return "trying and failing to pull image"
	case "":
		return "ContainerCreating"
	}
	return reason
}

func tailLines(text string, n int) string {
	if n == 0 {
		return ""
	}
	trimmed := strings.TrimSuffix(text, "\n")
	lines := strings.Split(trimmed, "\n")
	if len(lines) <= n {
		return text
	}
	out := strings.Join(lines[len(lines)-n:], "\n")
	if strings.HasSuffix(text, "\n") {
		out += "\n"
	}
	return out
}

// rolloutPods is what a Deployment rollout leaves: the current ReplicaSet with its pods
// in the state of the outcome (and, for stalled or failed rollouts, `podReason`), the
// previous ReplicaSets' pods still serving until the rollout completes, and the events
// the kubelet or scheduler would record for failing pods.
func (s *Server) rolloutPods(dep map[string]interface{}, outcome, podReason string) *apiError {
	rs, err := s.ensureReplicaSet(dep)
	if err != nil {
		return err
	}
	ns := getString(dep, "metadata", "namespace")
	replicas, ok := getMap(dep, "spec")["replicas"].(int64)
	if !ok {
		replicas = 1
	}
	rsRes := s.reg.byKind("apps/v1", "ReplicaSet")
	podRes := s.reg.byKind("v1", "Pod")
	// Older ReplicaSets scale to zero only when the new one is available.
	for _, old := range s.replicaSetsOf(dep) {
		if getString(old, "metadata", "name") == getString(rs, "metadata", "name") || outcome != "complete" {
			continue
		}
		for _, p := range s.podsOf(old) {
			_, _, _ = s.delete(&op{r: podRes, ns: ns, name: getString(p, "metadata", "name"), manager: "kube-controller-manager"}, &deleteOptions{})
		}
		_, _, _ = s.replace(&op{r: rsRes, ns: ns, name: getString(old, "metadata", "name"), manager: "kube-controller-manager"},
			func(live map[string]interface{}) (map[string]interface{}, *apiError) {
				live["spec"].(map[string]interface{})["replicas"] = int64(0)
				delete(meta(live), "resourceVersion")
				return live, nil
			})
	}
	containers := getList(rs, "spec", "template", "spec", "containers")
	// podReason hits the containers whose image this rollout changes (the first container
	// when none changed or there is no previous ReplicaSet); the others start normally.
	prevImages := map[string]string{}
	if rss := s.replicaSetsOf(dep); len(rss) > 1 {
		for _, c := range getList(rss[len(rss)-2], "spec", "template", "spec", "containers") {
			m, _ := c.(map[string]interface{})
			prevImages[getString(m, "name")] = getString(m, "image")
		}
	}
	failing := map[string]bool{}
	for _, c := range containers {
		m, _ := c.(map[string]interface{})
		if img, ok := prevImages[getString(m, "name")]; ok && img != getString(m, "image") {
			failing[getString(m, "name")] = true
		}
	}
	if len(failing) == 0 && len(containers) > 0 {
		m, _ := containers[0].(map[string]interface{})
		failing[getString(m, "name")] = true
	}
	pods := s.podsOf(rs)
	for i := int64(len(pods)); i < replicas; i++ {
		p, err := s.seedPod(&podSeed{Namespace: ns, Owner: &struct {
			Kind string `json:"kind"`
			Name string `json:"name"`
		}{"ReplicaSet", getString(rs, "metadata", "name")}})
		if err != nil {
			return err
		}
		pods = append(pods, p)
	}
	if int64(len(pods)) > replicas {
		pods = pods[:replicas]
	}
	ready := int64(0)
	for _, p := range pods {
		seed := &podSeed{Namespace: ns, Name: getString(p, "metadata", "name"), Owner: &struct {
			Kind string `json:"kind"`
			Name string `json:"name"`
		}{"ReplicaSet", getString(rs, "metadata", "name")}}
		var events []eventSeed
		podRef := func(typ, reason, msg, controller string) eventSeed {
			e := eventSeed{Namespace: ns, Type: typ, Reason: reason, Message: msg, Controller: controller}
			e.Involved.APIVersion, e.Involved.Kind, e.Involved.Name = "v1", "Pod", seed.Name
			return e
		}
		for _, c := range containers {
			m, _ := c.(map[string]interface{})
			cname, image := getString(m, "name"), getString(m, "image")
			cs := containerSeed{Name: cname}
			switch {
			case outcome == "complete" || !failing[cname]:
			case outcome == "progressing" || podReason == "":
				cs.State, cs.Reason = "waiting", "ContainerCreating"
			case podReason == "ImagePullBackOff" || podReason == "ErrImagePull":
				cs.State, cs.Reason, cs.Message = "waiting", podReason, fmt.Sprintf("Back-off pulling image %q", image)
				events = append(events,
					podRef("Warning", "Failed", fmt.Sprintf("Failed to pull image %q: rpc error: code = NotFound desc = failed to pull and unpack image %q: not found", image, image), "kubelet"),
					podRef("Warning", "Failed", "Error: "+podReason, "kubelet"))
			case podReason == "CrashLoopBackOff":
				cs.State, cs.Reason, cs.RestartCount = "waiting", "CrashLoopBackOff", 5
				cs.Message = fmt.Sprintf("back-off 2m40s restarting failed container=%s pod=%s_%s", cname, seed.Name, ns)
				cs.LastState = &containerSeed{State: "terminated", Reason: "Error", ExitCode: 1}
				events = append(events, podRef("Warning", "BackOff", fmt.Sprintf("Back-off restarting failed container %s in pod %s_%s", cname, seed.Name, ns), "kubelet"))
			case podReason == "OOMKilled":
				cs.State, cs.Reason, cs.RestartCount = "waiting", "CrashLoopBackOff", 3
				cs.Message = fmt.Sprintf("back-off 40s restarting failed container=%s pod=%s_%s", cname, seed.Name, ns)
				cs.LastState = &containerSeed{State: "terminated", Reason: "OOMKilled", ExitCode: 137}
				events = append(events, podRef("Warning", "BackOff", fmt.Sprintf("Back-off restarting failed container %s in pod %s_%s", cname, seed.Name, ns), "kubelet"))
			case podReason == "Unschedulable":
				seed.Unschedulable = "0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."
			default:
				cs.State, cs.Reason = "waiting", podReason
			}
			seed.Containers = append(seed.Containers, cs)
		}
		if seed.Unschedulable != "" {
			seed.Containers = nil
			events = []eventSeed{podRef("Warning", "FailedScheduling", seed.Unschedulable, "default-scheduler")}
		}
		res, err := s.seedPod(seed)
		if err != nil {
			return err
		}
		if getString(res, "status", "phase") == "Running" && allContainersReady(res) {
			ready++
		}
		for i := range events {
			if _, err := s.seedEvent(&events[i]); err != nil {
				return err
			}
		}
	}
	_, _, err = s.replace(&op{r: rsRes, ns: ns, name: getString(rs, "metadata", "name"), sub: "status", manager: "kube-controller-manager"},
		func(live map[string]interface{}) (map[string]interface{}, *apiError) {
			live["status"] = map[string]interface{}{"replicas": int64(len(pods)), "fullyLabeledReplicas": int64(len(pods)),
				"readyReplicas": ready, "availableReplicas": ready, "observedGeneration": getMap(live, "metadata")["generation"]}
			delete(meta(live), "resourceVersion")
			return live, nil
		})
	return err
}

func allContainersReady(pod map[string]interface{}) bool {
	for _, c := range getList(pod, "status", "containerStatuses") {
		if m, _ := c.(map[string]interface{}); m["ready"] != true {
			return false
		}
	}
	return true
}
