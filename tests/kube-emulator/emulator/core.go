// file: core.go — object storage and the write pipeline (create, update, apply,
// status, delete) with the apiserver's metadata semantics.
//
// One mutex serialises all storage access: the emulator favours exactness (a global,
// monotonically increasing resourceVersion like an etcd revision) over concurrency.
package main

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"sigs.k8s.io/structured-merge-diff/v4/fieldpath"
	"sigs.k8s.io/structured-merge-diff/v4/merge"
	"sigs.k8s.io/structured-merge-diff/v4/typed"
)

// Server is the emulator's state.
type Server struct {
	reg   *Registry
	types *Types

	mu   sync.Mutex
	rv   int64
	objs map[string]map[string]map[string]interface{} // "group/plural" -> "ns/name" -> object

	clockMu   sync.Mutex
	fixedTime *time.Time // deterministic clock when set
	uidSeq    int64
	seqUIDs   bool

	crdDelay time.Duration

	ipSeq, portSeq int64

	// nsDeleteDelay keeps deleted namespaces Terminating this long (0: gone at once).
	nsDeleteDelay time.Duration

	log    *requestLog
	faults *faultSet

	podLogs podLogs // container logs seeded by the tests (workloads.go)

	adminToken, readToken string
}

func newServer(reg *Registry, types *Types) *Server {
	s := &Server{reg: reg, types: types, objs: map[string]map[string]map[string]interface{}{},
		log: newRequestLog(), faults: &faultSet{}}
	// Namespaces every cluster starts with.
	for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		r := reg.lookup("", "v1", "namespaces")
		o := &op{r: r, name: ns, manager: "kube-apiserver"}
		obj := map[string]interface{}{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]interface{}{"name": ns}}
		if _, _, err := s.create(o, obj); err != nil {
			panic(err)
		}
	}
	return s
}

// now is the emulator's clock, at second precision as metav1.Time serialises.
func (s *Server) now() time.Time {
	s.clockMu.Lock()
	defer s.clockMu.Unlock()
	if s.fixedTime != nil {
		return *s.fixedTime
	}
	return time.Now().UTC().Truncate(time.Second)
}

func (s *Server) newUID() string {
	s.clockMu.Lock()
	defer s.clockMu.Unlock()
	if s.seqUIDs {
		s.uidSeq++
		return fmt.Sprintf("00000000-0000-4000-8000-%012d", s.uidSeq)
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func storeKey(r *Resource) string   { return r.Group + "/" + r.Plural }
func objKey(ns, name string) string { return ns + "/" + name }

// op describes one request against a resource.
type op struct {
	r        *Resource
	ns, name string
	sub      string // "", "status", "scale"
	manager  string
	dryRun   bool
	force    bool
	strict   bool // fieldValidation=Strict
	warnings []string
}

func (o *op) notFound() *apiError { return errNotFound(o.r.Group, o.r.Plural, o.name) }

// get returns the stored object (not a copy); callers hold s.mu.
func (s *Server) getLocked(r *Resource, ns, name string) map[string]interface{} {
	return s.objs[storeKey(r)][objKey(ns, name)]
}

// Get returns a copy of an object served at the requested version.
func (s *Server) Get(r *Resource, ns, name string) map[string]interface{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.getLocked(r, ns, name)
	if o == nil {
		return nil
	}
	return s.served(r, o)
}

// served returns a copy with apiVersion set to the requested version (CRDs can serve
// several versions of one stored object, with conversion strategy None).
func (s *Server) served(r *Resource, o map[string]interface{}) map[string]interface{} {
	c := copyObj(o)
	c["apiVersion"] = r.GV()
	return c
}

func (s *Server) putLocked(r *Resource, obj map[string]interface{}) {
	k := storeKey(r)
	if s.objs[k] == nil {
		s.objs[k] = map[string]map[string]interface{}{}
	}
	s.objs[k][objKey(getString(obj, "metadata", "namespace"), getString(obj, "metadata", "name"))] = obj
}

func (s *Server) removeLocked(r *Resource, ns, name string) {
	delete(s.objs[storeKey(r)], objKey(ns, name))
}

// List returns copies of all objects of r in ns ("" = all namespaces), sorted by key,
// plus the current resourceVersion.
func (s *Server) List(r *Resource, ns string) ([]map[string]interface{}, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var keys []string
	for k := range s.objs[storeKey(r)] {
		if ns == "" || strings.HasPrefix(k, ns+"/") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	out := make([]map[string]interface{}, 0, len(keys))
	for _, k := range keys {
		out = append(out, s.served(r, s.objs[storeKey(r)][k]))
	}
	return out, strconv.FormatInt(s.rv, 10)
}

// checkNamespace is NamespaceLifecycle admission for creates.
func (s *Server) checkNamespaceLocked(o *op) *apiError {
	if !o.r.Namespaced {
		return nil
	}
	nsr := s.reg.lookup("", "v1", "namespaces")
	ns := s.getLocked(nsr, "", o.ns)
	if ns == nil {
		return errNotFound("", "namespaces", o.ns)
	}
	if getMap(ns, "metadata")["deletionTimestamp"] != nil {
		return errForbidden(o.r.Group, o.r.Plural, o.name,
			fmt.Sprintf("unable to create new content in namespace %s because it is being terminated", o.ns))
	}
	return nil
}

// checkIdentity enforces the URL/body name, namespace and type rules (rest/meta.go,
// handlers/rest.go), filling in what the body omits.
func checkIdentity(o *op, obj map[string]interface{}, wantKind string, wantAV string) *apiError {
	av, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	if av != wantAV || kind != wantKind {
		g, v := splitAPIVersion(av)
		return errBadRequest(fmt.Sprintf("invalid object type: %s", gvk{g, v, kind}.String()))
	}
	md := meta(obj)
	name, _ := md["name"].(string)
	if name == "" {
		md["name"] = o.name
	} else if o.name != "" && name != o.name {
		return errBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", name, o.name))
	}
	ns, _ := md["namespace"].(string)
	if o.r.Namespaced {
		if ns == "" {
			md["namespace"] = o.ns
		} else if ns != o.ns {
			return errBadRequest("the namespace of the provided object does not match the namespace sent on the request")
		}
	} else {
		delete(md, "namespace")
	}
	return nil
}

// apply runs server-side apply (PATCH application/apply-patch+yaml).
func (s *Server) apply(o *op, cfg map[string]interface{}) (map[string]interface{}, int, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := checkIdentity(o, cfg, o.r.Kind, o.r.GV()); err != nil {
		return nil, 0, err
	}
	md := meta(cfg)
	if mf, ok := md["managedFields"]; ok && mf != nil {
		return nil, 0, errBadRequest("metadata.managedFields must be nil")
	}
	live := s.getLocked(o.r, o.ns, o.name)
	if live == nil {
		if o.sub != "" {
			return nil, 0, o.notFound()
		}
		if err := s.checkNamespaceLocked(o); err != nil {
			return nil, 0, err
		}
	}
	if rv, _ := md["resourceVersion"].(string); rv != "" {
		if live == nil || getString(live, "metadata", "resourceVersion") != rv {
			if live == nil {
				return nil, 0, o.notFound()
			}
			return nil, 0, errConflict(o.r.Group, o.r.Plural, o.name, msgOptimisticLock)
		}
		delete(md, "resourceVersion")
	}
	liveObj := map[string]interface{}{}
	if live != nil {
		liveObj = withoutManagedFields(live)
	}
	desc := fmt.Sprintf("(%s; %s)", objKey(o.ns, o.name), gvk{o.r.Group, o.r.Version, o.r.Kind}.String())
	if !o.r.Namespaced {
		desc = fmt.Sprintf("(%s; %s)", o.name, gvk{o.r.Group, o.r.Version, o.r.Kind}.String())
	}
	cfgTyped, err := s.types.toTyped(o.r.TypeName, cfg)
	if err != nil {
		return nil, 0, errInternal(fmt.Sprintf("failed to create typed patch object %s: %v", desc, err))
	}
	liveTyped, err := s.types.toTyped(o.r.TypeName, liveObj)
	if err != nil {
		return nil, 0, errInternal(fmt.Sprintf("failed to create typed live object %s: %v", desc, err))
	}
	m := &managed{fields: fieldpath.ManagedFields{}, times: map[string]string{}}
	if live != nil {
		if m, err = decodeManaged(live); err != nil {
			return nil, 0, errInternal(fmt.Sprintf("failed to decode managed fields: %v", err))
		}
	}
	id := managerID(o.manager, "Apply", "", o.sub)
	newTyped, fields, err := newUpdater(o.r, o.sub).Apply(liveTyped, cfgTyped, fieldpath.APIVersion(o.r.GV()), m.fields, id, o.force)
	if err != nil {
		if cs, ok := err.(merge.Conflicts); ok {
			return nil, 0, conflictError(cs)
		}
		return nil, 0, errInternal(err.Error())
	}
	stripManager(fields, id)
	m.fields = fields
	var newObj map[string]interface{}
	if newTyped == nil {
		newObj = copyObj(liveObj)
	} else {
		u, _ := newTyped.AsValue().Unstructured().(map[string]interface{})
		newObj = fixNumbers(u).(map[string]interface{})
		m.times[id] = nowRFC3339(s.now())
	}
	return s.finalizeLocked(o, live, newObj, m)
}

// update runs a non-apply write: mutate receives a copy of the live object (nil on
// create) and returns the desired object; ownership is recorded as an Update.
func (s *Server) update(o *op, live map[string]interface{}, newObj map[string]interface{}) (map[string]interface{}, int, *apiError) {
	if err := checkIdentity(o, newObj, o.r.Kind, o.r.GV()); err != nil {
		return nil, 0, err
	}
	md := meta(newObj)
	if live != nil {
		if rv, _ := md["resourceVersion"].(string); rv != "" && rv != getString(live, "metadata", "resourceVersion") {
			return nil, 0, errConflict(o.r.Group, o.r.Plural, o.name, msgOptimisticLock)
		}
	}
	// Unknown fields are dropped on decode (fieldValidation Warn/Ignore) or refused (Strict).
	if unknown := s.pruneUnknown(o.r, newObj); len(unknown) > 0 {
		if o.strict {
			msgs := make([]string, len(unknown))
			for i, u := range unknown {
				msgs[i] = fmt.Sprintf("unknown field %q", u)
			}
			return nil, 0, errBadRequest(fmt.Sprintf("%s in version %q cannot be handled as a %s: strict decoding error: %s",
				o.r.Kind, o.r.Version, o.r.Kind, strings.Join(msgs, ", ")))
		}
		for _, u := range unknown {
			o.warnings = append(o.warnings, fmt.Sprintf("unknown field %q", u))
		}
	}
	// Before the managed fields are computed: an Update owns the `data` keys its stringData
	// became (the apiserver converts the body before field management); an Apply owns
	// `stringData` itself, folded later in finalizeLocked.
	foldStringData(o.r, newObj)
	s.defaultObject(o.r, newObj)
	switch {
	case o.sub == "status":
		newObj = statusOnly(o.r, live, newObj)
	case o.r.HasStatus():
		if live == nil {
			delete(newObj, "status")
		} else if st, ok := live["status"]; ok {
			newObj["status"] = deepCopy(st)
		} else {
			delete(newObj, "status")
		}
	}
	// Managed fields sent in the body win (clients may reset them); else the live ones.
	m, err := decodeManaged(newObj)
	if err != nil || len(m.fields) == 0 || o.sub != "" {
		m = &managed{fields: fieldpath.ManagedFields{}, times: map[string]string{}}
		if live != nil {
			if m, err = decodeManaged(live); err != nil {
				return nil, 0, errInternal(fmt.Sprintf("failed to decode managed fields: %v", err))
			}
		}
	}
	liveObj := s.zeroObject(o.r)
	if live != nil {
		liveObj = withoutManagedFields(live)
	}
	cand := withoutManagedFields(newObj)
	liveTyped, err := s.types.toTyped(o.r.TypeName, liveObj)
	if err != nil {
		return nil, 0, errInternal(fmt.Sprintf("failed to create typed live object: %v", err))
	}
	newTyped, err := s.types.toTyped(o.r.TypeName, cand)
	if err != nil {
		if o.r.CRD != nil {
			// Custom resources are validated against the CRD schema: 422 Invalid.
			return nil, 0, errInvalid(o.r.Group, o.r.Kind, o.name, typedErrors(err))
		}
		// Built-ins fail while decoding JSON into Go types: 400.
		return nil, 0, errBadRequest(fmt.Sprintf("failed to create typed new object: %v", err))
	}
	const tmp = "current-operation"
	_, fields, err := newUpdater(o.r, o.sub).Update(liveTyped, newTyped, fieldpath.APIVersion(o.r.GV()), m.fields, tmp)
	if err != nil {
		return nil, 0, errInternal(err.Error())
	}
	stripManager(fields, tmp)
	if vs, ok := fields[tmp]; ok {
		delete(fields, tmp)
		id := managerID(o.manager, "Update", o.r.GV(), o.sub)
		if prev, ok := fields[id]; ok {
			fields[id] = fieldpath.NewVersionedSet(vs.Set().Union(prev.Set()), vs.APIVersion(), false)
		} else {
			fields[id] = vs
		}
		m.times[id] = nowRFC3339(s.now())
	}
	m.fields = fields
	return s.finalizeLocked(o, live, cand, m)
}

// statusOnly keeps everything of live but the status (status strategies reset spec
// and, for workloads, labels; metadata changes other than that are allowed).
func statusOnly(r *Resource, live, newObj map[string]interface{}) map[string]interface{} {
	out := copyObj(live)
	if st, ok := newObj["status"]; ok {
		out["status"] = deepCopy(st)
	} else {
		delete(out, "status")
	}
	if nm := getMap(newObj, "metadata"); nm != nil {
		om := meta(out)
		for _, k := range []string{"annotations", "ownerReferences", "finalizers"} {
			if v, ok := nm[k]; ok {
				om[k] = deepCopy(v)
			} else {
				delete(om, k)
			}
		}
		if !(r.Group == "apps" || r.Group == "batch") {
			if v, ok := nm["labels"]; ok {
				om["labels"] = deepCopy(v)
			} else {
				delete(om, "labels")
			}
		}
	}
	return out
}

// finalizeLocked runs defaulting, the strategy (status reset, generation), system
// metadata, validation, and stores the object unless nothing changed.
func (s *Server) finalizeLocked(o *op, live, newObj map[string]interface{}, m *managed) (map[string]interface{}, int, *apiError) {
	r := o.r
	switch {
	case o.sub == "status":
		newObj = statusOnly(r, live, newObj)
	case r.HasStatus() && live != nil:
		if st, ok := live["status"]; ok {
			newObj["status"] = deepCopy(st)
		} else {
			delete(newObj, "status")
		}
	case r.HasStatus():
		// PrepareForCreate: a new object starts without status.
		delete(newObj, "status")
	}
	foldStringData(r, newObj)
	s.defaultObject(r, newObj)
	newObj["apiVersion"], newObj["kind"] = r.GV(), r.Kind
	md := meta(newObj)
	delete(md, "selfLink")
	delete(md, "resourceVersion")
	md["name"] = o.name
	if r.Namespaced {
		md["namespace"] = o.ns
	} else {
		delete(md, "namespace")
	}
	if live != nil {
		lm := getMap(live, "metadata")
		for _, k := range []string{"uid", "creationTimestamp", "generation", "deletionTimestamp", "deletionGracePeriodSeconds"} {
			if v, ok := lm[k]; ok {
				md[k] = v
			} else {
				delete(md, k)
			}
		}
		if usesGeneration(r) && o.sub != "status" && specChanged(r, live, newObj) {
			g, _ := lm["generation"].(int64)
			md["generation"] = g + 1
		}
	} else {
		md["uid"] = s.newUID()
		md["creationTimestamp"] = nowRFC3339(s.now())
		delete(md, "deletionTimestamp")
		delete(md, "deletionGracePeriodSeconds")
		delete(md, "generation")
		if usesGeneration(r) {
			md["generation"] = int64(1)
		}
		if r.Group == "batch" && r.Kind == "Job" {
			generateJobSelector(newObj)
		}
	}
	if errs := s.validate(r, live, newObj); len(errs) > 0 {
		return nil, 0, errInvalid(r.Group, r.Kind, o.name, errs)
	}
	capManagers(m)
	if enc := m.encode(); len(enc) > 0 {
		md["managedFields"] = enc
	} else {
		delete(md, "managedFields")
	}
	code := 200
	if live == nil {
		code = 201
	} else {
		cmp := copyObj(live)
		delete(getMap(cmp, "metadata"), "resourceVersion")
		if equalValues(cmp, newObj) {
			// No-op: etcd skips the write, the resourceVersion stays.
			return s.served(r, live), 200, nil
		}
	}
	// An object being deleted goes once its last finalizer is removed.
	if live != nil && md["deletionTimestamp"] != nil && len(getList(newObj, "metadata", "finalizers")) == 0 {
		md["resourceVersion"] = getString(live, "metadata", "resourceVersion")
		if !o.dryRun {
			s.rv++
			md["resourceVersion"] = strconv.FormatInt(s.rv, 10)
			s.removeLocked(r, o.ns, o.name)
		}
		return s.served(r, newObj), 200, nil
	}
	if o.dryRun {
		if live != nil {
			md["resourceVersion"] = getString(live, "metadata", "resourceVersion")
		}
		return s.served(r, newObj), code, nil
	}
	s.rv++
	md["resourceVersion"] = strconv.FormatInt(s.rv, 10)
	s.putLocked(r, newObj)
	s.afterWriteLocked(r, live, newObj)
	return s.served(r, newObj), code, nil
}

// create is POST: AlreadyExists if present, namespace must exist.
func (s *Server) create(o *op, obj map[string]interface{}) (map[string]interface{}, int, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o.name == "" {
		o.name = getString(obj, "metadata", "name")
		if o.name == "" {
			if gn := getString(obj, "metadata", "generateName"); gn != "" {
				o.name = gn + strings.ToLower(s.newUID()[:5])
			}
		}
	}
	if o.name == "" {
		return nil, 0, errInvalid(o.r.Group, o.r.Kind, "", []fieldErr{required("metadata.name", "name or generateName is required")})
	}
	if err := s.checkNamespaceLocked(o); err != nil {
		return nil, 0, err
	}
	if s.getLocked(o.r, o.ns, o.name) != nil {
		return nil, 0, errAlreadyExists(o.r.Group, o.r.Plural, o.name)
	}
	return s.update(o, nil, obj)
}

// replace is PUT (and the tail of non-apply PATCH): the object must exist.
func (s *Server) replace(o *op, mutate func(live map[string]interface{}) (map[string]interface{}, *apiError)) (map[string]interface{}, int, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	live := s.getLocked(o.r, o.ns, o.name)
	if live == nil {
		return nil, 0, o.notFound()
	}
	newObj, err := mutate(copyObj(live))
	if err != nil {
		return nil, 0, err
	}
	return s.update(o, live, newObj)
}

// deleteOptions is the subset of metav1.DeleteOptions honoured.
type deleteOptions struct {
	PropagationPolicy string `json:"propagationPolicy"`
	Preconditions     *struct {
		UID             *string `json:"uid"`
		ResourceVersion *string `json:"resourceVersion"`
	} `json:"preconditions"`
	DryRun []string `json:"dryRun"`
}

// Resources whose DELETE answers with the object instead of a Status.
var returnsDeletedObject = map[string]bool{"pods": true, "services": true, "namespaces": true,
	"serviceaccounts": true, "storageclasses": true, "customresourcedefinitions": true}

func (s *Server) delete(o *op, opts *deleteOptions) (interface{}, int, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := o.r
	live := s.getLocked(r, o.ns, o.name)
	if live == nil {
		return nil, 0, o.notFound()
	}
	lm := getMap(live, "metadata")
	if p := opts.Preconditions; p != nil {
		if p.UID != nil && *p.UID != lm["uid"] {
			return nil, 0, errConflict(r.Group, r.Plural, o.name, fmt.Sprintf("Precondition failed: UID in precondition: %v, UID in object meta: %v", *p.UID, lm["uid"]))
		}
		if p.ResourceVersion != nil && *p.ResourceVersion != lm["resourceVersion"] {
			return nil, 0, errConflict(r.Group, r.Plural, o.name, fmt.Sprintf("Precondition failed: ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", *p.ResourceVersion, lm["resourceVersion"]))
		}
	}
	if r.Group == "" && r.Plural == "namespaces" {
		switch o.name {
		case "default", "kube-system", "kube-public":
			return nil, 0, errForbidden("", "namespaces", o.name, "this namespace may not be deleted")
		}
	}
	status := map[string]interface{}{"kind": "Status", "apiVersion": "v1", "metadata": map[string]interface{}{},
		"status": "Success", "details": map[string]interface{}{"name": o.name, "group": r.Group, "kind": r.Plural, "uid": lm["uid"]}}
	if r.Group == "" {
		delete(status["details"].(map[string]interface{}), "group")
	}
	obj := copyObj(live)
	om := meta(obj)
	if len(getList(live, "metadata", "finalizers")) > 0 && !(r.Group == "" && r.Plural == "namespaces") && r.Plural != "customresourcedefinitions" {
		// Finalizers hold the object: it only gets a deletionTimestamp.
		if om["deletionTimestamp"] == nil {
			om["deletionTimestamp"] = nowRFC3339(s.now())
			om["deletionGracePeriodSeconds"] = int64(0)
			if !o.dryRun {
				s.rv++
				om["resourceVersion"] = strconv.FormatInt(s.rv, 10)
				s.putLocked(r, obj)
			}
		}
		return s.served(r, obj), 200, nil
	}
	if o.dryRun {
		if returnsDeletedObject[r.Plural] {
			return s.served(r, obj), 200, nil
		}
		return status, 200, nil
	}
	if r.Group == "" && r.Plural == "namespaces" && s.nsDeleteDelay > 0 {
		// Terminating for a while (creates inside are refused with 403), then the
		// namespace controller's work: content and namespace go.
		if om["deletionTimestamp"] == nil {
			om["deletionTimestamp"] = nowRFC3339(s.now())
			om["deletionGracePeriodSeconds"] = int64(0)
			ensureMap(obj, "status")["phase"] = "Terminating"
			s.rv++
			om["resourceVersion"] = strconv.FormatInt(s.rv, 10)
			s.putLocked(r, obj)
			name := o.name
			time.AfterFunc(s.nsDeleteDelay, func() {
				s.mu.Lock()
				defer s.mu.Unlock()
				s.purgeNamespaceLocked(name)
				s.rv++
				s.removeLocked(r, "", name)
			})
		}
		return s.served(r, obj), 200, nil
	}
	s.rv++
	s.removeLocked(r, o.ns, o.name)
	switch {
	case r.Group == "" && r.Plural == "namespaces":
		// The namespace controller's work, done at once: everything inside goes.
		s.purgeNamespaceLocked(o.name)
		om["deletionTimestamp"] = nowRFC3339(s.now())
		ensureMap(obj, "status")["phase"] = "Terminating"
	case r.Plural == "customresourcedefinitions" && r.Group == "apiextensions.k8s.io":
		s.unregisterCRDLocked(live)
		om["deletionTimestamp"] = nowRFC3339(s.now())
	}
	if returnsDeletedObject[r.Plural] {
		return s.served(r, obj), 200, nil
	}
	return status, 200, nil
}

// generateJobSelector is the Job strategy's selector generation (unless
// spec.manualSelector): the controller-uid/job-name labels on the pod template and a
// selector on the controller uid.
func generateJobSelector(job map[string]interface{}) {
	spec := getMap(job, "spec")
	if spec == nil {
		return
	}
	if m, _ := spec["manualSelector"].(bool); m {
		return
	}
	uid := getString(job, "metadata", "uid")
	name := getString(job, "metadata", "name")
	labels := ensureMap(ensureMap(ensureMap(spec, "template"), "metadata"), "labels")
	labels["batch.kubernetes.io/controller-uid"] = uid
	labels["batch.kubernetes.io/job-name"] = name
	labels["controller-uid"] = uid
	labels["job-name"] = name
	if spec["selector"] == nil {
		spec["selector"] = map[string]interface{}{"matchLabels": map[string]interface{}{"batch.kubernetes.io/controller-uid": uid}}
	}
}

// typedErrors turns SMD validation errors into field errors.
func typedErrors(err error) []fieldErr {
	var out []fieldErr
	add := func(path, msg string) {
		out = append(out, fieldErr{Field: strings.TrimPrefix(path, "."), Type: "Invalid value", Reason: "FieldValueInvalid", Detail: msg, Value: rawValue("\"" + msg + "\""), hasVal: false})
	}
	if ves, ok := err.(typed.ValidationErrors); ok {
		for _, ve := range ves {
			add(ve.Path, ve.ErrorMessage)
		}
		return out
	}
	add("", err.Error())
	return out
}

// zeroObject is what the apiserver compares a created object against: the Go zero
// value of the type as it serialises (non-pointer structs present as {}, required
// lists as null). Custom resources start from an empty unstructured object.
func (s *Server) zeroObject(r *Resource) map[string]interface{} {
	obj := map[string]interface{}{}
	if r.CRD != nil {
		return obj
	}
	if sc := s.reg.schema(r.SchemaName); sc != nil {
		s.zeroFill(obj, sc, 0)
	}
	return obj
}

func (s *Server) zeroFill(obj map[string]interface{}, sc *v3Schema, depth int) {
	sc = s.resolve(sc)
	if sc == nil || depth > 20 {
		return
	}
	for name, prop := range sc.Properties {
		if string(prop.Default) == "{}" {
			m := map[string]interface{}{}
			obj[name] = m
			s.zeroFill(m, prop, depth+1)
		}
	}
	for _, name := range sc.Required {
		if p := sc.Properties[name]; p != nil && p.Type == "array" {
			obj[name] = nil
		}
	}
}

// purgeNamespaceLocked deletes every object in a namespace.
func (s *Server) purgeNamespaceLocked(ns string) {
	for _, objs := range s.objs {
		for k := range objs {
			if strings.HasPrefix(k, ns+"/") {
				delete(objs, k)
			}
		}
	}
}

// foldStringData is the v1 Secret conversion: every stringData value is written into data
// (base64, over a data value of the same key), and stringData is never stored or returned.
func foldStringData(r *Resource, obj map[string]interface{}) {
	if r.Group != "" || r.Kind != "Secret" {
		return
	}
	sd, ok := obj["stringData"]
	if !ok {
		return
	}
	delete(obj, "stringData")
	m, _ := sd.(map[string]interface{})
	if len(m) == 0 {
		return
	}
	data := ensureMap(obj, "data")
	for k, v := range m {
		str, _ := v.(string)
		data[k] = base64.StdEncoding.EncodeToString([]byte(str))
	}
}
