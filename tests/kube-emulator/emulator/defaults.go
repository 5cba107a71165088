// file: defaults.go — defaulting, the part of the apiserver the OpenAPI spec only
// partly describes.
//
// Two layers, as upstream: declarative defaults from the v3 schemas (`default: {}`
// on non-pointer structs, which Go always serialises, and non-zero scalar defaults
// such as ContainerPort.protocol=TCP), then the Go-coded SetDefaults_* table from
// pkg/apis/{apps,core,batch,...}/v1/defaults.go and the registry strategies' system
// fields (Service IP allocation, Job selectors, Namespace finalizers, phases).
package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"sigs.k8s.io/structured-merge-diff/v4/schema"
)

// defaultObject applies all defaults in place.
func (s *Server) defaultObject(r *Resource, obj map[string]interface{}) {
	if r.CRD != nil {
		if v := r.CRD.versionSchema(r.Version); v != nil {
			crdDefaults(obj, v)
		}
		return
	}
	if sc := s.reg.schema(r.SchemaName); sc != nil {
		s.v3Defaults(obj, sc, 0)
	}
	goDefaults(s, r, obj)
	if sc := s.reg.schema(r.SchemaName); sc != nil {
		s.canonicalizeQuantities(obj, sc, 0)
	}
}

// resolve follows $ref / single allOf wrappers.
func (s *Server) resolve(sc *v3Schema) *v3Schema {
	for i := 0; sc != nil && i < 8; i++ {
		switch {
		case sc.Ref != "":
			sc = s.reg.schema(strings.TrimPrefix(sc.Ref, "#/components/schemas/"))
		case len(sc.AllOf) == 1 && sc.Properties == nil:
			sc = sc.AllOf[0]
		default:
			return sc
		}
	}
	return sc
}

// isZeroDefault: `default: ""`, 0 or false are the Go zero value of an omitempty
// field, and are not materialised on the wire.
func isZeroDefault(raw json.RawMessage) bool {
	switch string(raw) {
	case `""`, `0`, `false`, `null`, `[]`:
		return true
	}
	return false
}

// v3Defaults fills the declarative `default`s of the v3 schema into absent or null
// properties, at every depth the walk reaches.
func (s *Server) v3Defaults(obj map[string]interface{}, sc *v3Schema, depth int) {
	s.walkSchema(obj, sc, depth, func(o map[string]interface{}, key string, prop *v3Schema, declared bool) bool {
		if v, present := o[key]; declared && (!present || v == nil) && len(prop.Default) > 0 && !isZeroDefault(prop.Default) {
			if d, err := decodeJSON(prop.Default); err == nil {
				o[key] = d
			}
		}
		return true
	})
}

// schemaVisitor is called for every declared property of a schema (declared = true, whether
// present or not) and every entry of a map typed by `additionalProperties` (declared = false).
// It may rewrite o[key]; returning false stops the walk from descending into that value.
type schemaVisitor func(o map[string]interface{}, key string, prop *v3Schema, declared bool) bool

// walkSchema walks obj alongside its v3 schema: into nested objects, into the entries of
// typed maps whose values are objects, and into lists of objects. Defaulting and quantity
// canonicalisation share it, so both reach exactly the same places.
func (s *Server) walkSchema(obj map[string]interface{}, sc *v3Schema, depth int, visit schemaVisitor) {
	sc = s.resolve(sc)
	if sc == nil || depth > 40 {
		return
	}
	for name, prop := range sc.Properties {
		if !visit(obj, name, prop, true) {
			continue
		}
		v, present := obj[name]
		if !present || v == nil {
			continue
		}
		target := s.resolve(prop)
		if target == nil {
			continue
		}
		switch t := v.(type) {
		case map[string]interface{}:
			if len(target.Properties) > 0 {
				s.walkSchema(t, target, depth+1, visit)
			} else if a := target.additional(); a != nil {
				at := s.resolve(a)
				for k := range t {
					if !visit(t, k, a, false) {
						continue
					}
					if em, ok := t[k].(map[string]interface{}); ok && at != nil && len(at.Properties) > 0 {
						s.walkSchema(em, at, depth+1, visit)
					}
				}
			}
		case []interface{}:
			items := prop.Items
			if items == nil {
				items = target.Items
			}
			if it := s.resolve(items); it != nil && len(it.Properties) > 0 {
				for _, e := range t {
					if em, ok := e.(map[string]interface{}); ok {
						s.walkSchema(em, it, depth+1, visit)
					}
				}
			}
		}
	}
}

// goDefaults is the Go-coded defaulting table (KUBE-EMULATOR.md §9).
func goDefaults(s *Server, r *Resource, obj map[string]interface{}) {
	spec := getMap(obj, "spec")
	switch r.Group + "/" + r.Kind {
	case "apps/Deployment":
		if spec == nil {
			return
		}
		setDefault(spec, "replicas", int64(1))
		st := ensureMap(spec, "strategy")
		setDefault(st, "type", "RollingUpdate")
		if st["type"] == "RollingUpdate" {
			ru := ensureMap(st, "rollingUpdate")
			setDefault(ru, "maxUnavailable", "25%")
			setDefault(ru, "maxSurge", "25%")
		}
		setDefault(spec, "revisionHistoryLimit", int64(10))
		setDefault(spec, "progressDeadlineSeconds", int64(600))
		podTemplateDefaults(getMap(spec, "template"))
	case "apps/StatefulSet":
		if spec == nil {
			return
		}
		setDefault(spec, "podManagementPolicy", "OrderedReady")
		us := ensureMap(spec, "updateStrategy")
		setDefault(us, "type", "RollingUpdate")
		if us["type"] == "RollingUpdate" {
			setDefault(ensureMap(us, "rollingUpdate"), "partition", int64(0))
		}
		pr := ensureMap(spec, "persistentVolumeClaimRetentionPolicy")
		setDefault(pr, "whenDeleted", "Retain")
		setDefault(pr, "whenScaled", "Retain")
		setDefault(spec, "replicas", int64(1))
		setDefault(spec, "revisionHistoryLimit", int64(10))
		podTemplateDefaults(getMap(spec, "template"))
		for _, t := range getListMaps(spec, "volumeClaimTemplates") {
			if ts := getMap(t, "spec"); ts != nil {
				setDefault(ts, "volumeMode", "Filesystem")
			}
			setDefault(t, "status", map[string]interface{}{"phase": "Pending"})
		}
	case "apps/DaemonSet":
		if spec == nil {
			return
		}
		us := ensureMap(spec, "updateStrategy")
		setDefault(us, "type", "RollingUpdate")
		if us["type"] == "RollingUpdate" {
			ru := ensureMap(us, "rollingUpdate")
			setDefault(ru, "maxUnavailable", int64(1))
			setDefault(ru, "maxSurge", int64(0))
		}
		setDefault(spec, "revisionHistoryLimit", int64(10))
		podTemplateDefaults(getMap(spec, "template"))
	case "apps/ReplicaSet", "/ReplicationController":
		if spec == nil {
			return
		}
		setDefault(spec, "replicas", int64(1))
		podTemplateDefaults(getMap(spec, "template"))
	case "batch/Job":
		jobSpecDefaults(spec)
	case "batch/CronJob":
		if spec == nil {
			return
		}
		setDefault(spec, "concurrencyPolicy", "Allow")
		setDefault(spec, "suspend", false)
		setDefault(spec, "successfulJobsHistoryLimit", int64(3))
		setDefault(spec, "failedJobsHistoryLimit", int64(1))
		jobSpecDefaults(getMap(spec, "jobTemplate", "spec"))
	case "/Pod":
		if spec == nil {
			return
		}
		podSpecDefaults(spec)
		setDefault(spec, "enableServiceLinks", true)
		for _, c := range append(getListMaps(spec, "containers"), getListMaps(spec, "initContainers")...) {
			// Requests default from limits on real Pods only (SetDefaults_Pod).
			if lim := getMap(c, "resources", "limits"); lim != nil {
				req := ensureMap(ensureMap(c, "resources"), "requests")
				for k, v := range lim {
					setDefault(req, k, v)
				}
			}
		}
		st := ensureMap(obj, "status")
		setDefault(st, "phase", "Pending")
	case "/PodTemplate":
		podTemplateDefaults(getMap(obj, "template"))
	case "/Service":
		serviceDefaults(s, obj)
	case "/Secret":
		setDefault(obj, "type", "Opaque")
	case "/Namespace":
		md := meta(obj)
		labels := ensureMap(md, "labels")
		labels["kubernetes.io/metadata.name"] = md["name"]
		sp := ensureMap(obj, "spec")
		setDefault(sp, "finalizers", []interface{}{"kubernetes"})
		st := ensureMap(obj, "status")
		setDefault(st, "phase", "Active")
	case "/PersistentVolumeClaim":
		if spec != nil {
			setDefault(spec, "volumeMode", "Filesystem")
		}
		setDefault(ensureMap(obj, "status"), "phase", "Pending")
	case "/PersistentVolume":
		if spec != nil {
			setDefault(spec, "persistentVolumeReclaimPolicy", "Retain")
			setDefault(spec, "volumeMode", "Filesystem")
		}
		setDefault(ensureMap(obj, "status"), "phase", "Pending")
	case "networking.k8s.io/NetworkPolicy":
		if spec == nil {
			return
		}
		if pt, _ := spec["policyTypes"].([]interface{}); len(pt) == 0 {
			types := []interface{}{"Ingress"}
			if eg, _ := spec["egress"].([]interface{}); len(eg) > 0 {
				types = append(types, "Egress")
			}
			spec["policyTypes"] = types
		}
	case "autoscaling/HorizontalPodAutoscaler":
		if spec == nil {
			return
		}
		setDefault(spec, "minReplicas", int64(1))
		if r.Version == "v2" {
			if m, _ := spec["metrics"].([]interface{}); len(m) == 0 {
				spec["metrics"] = []interface{}{map[string]interface{}{"type": "Resource", "resource": map[string]interface{}{
					"name": "cpu", "target": map[string]interface{}{"type": "Utilization", "averageUtilization": int64(80)}}}}
			}
			// A given behavior is completed with the default scaling rules.
			if b := getMap(spec, "behavior"); b != nil {
				hpaRules(b, "scaleUp", 0, []interface{}{
					map[string]interface{}{"type": "Pods", "value": int64(4), "periodSeconds": int64(15)},
					map[string]interface{}{"type": "Percent", "value": int64(100), "periodSeconds": int64(15)}})
				hpaRules(b, "scaleDown", 300, []interface{}{
					map[string]interface{}{"type": "Percent", "value": int64(100), "periodSeconds": int64(15)}})
			}
		}
	case "rbac.authorization.k8s.io/RoleBinding", "rbac.authorization.k8s.io/ClusterRoleBinding":
		for _, sub := range getListMaps(obj, "subjects") {
			switch sub["kind"] {
			case "User", "Group":
				setDefault(sub, "apiGroup", "rbac.authorization.k8s.io")
			case "ServiceAccount":
				setDefault(sub, "apiGroup", "")
			}
		}
	case "storage.k8s.io/StorageClass":
		setDefault(obj, "reclaimPolicy", "Delete")
		setDefault(obj, "volumeBindingMode", "Immediate")
	case "apiextensions.k8s.io/CustomResourceDefinition":
		if spec == nil {
			return
		}
		setDefault(ensureMap(spec, "conversion"), "strategy", "None")
		if names := getMap(spec, "names"); names != nil {
			if k, _ := names["kind"].(string); k != "" {
				setDefault(names, "singular", strings.ToLower(k))
				setDefault(names, "listKind", k+"List")
			}
		}
	}
}

func getListMaps(m map[string]interface{}, path ...string) []map[string]interface{} {
	if m == nil {
		return nil
	}
	var out []map[string]interface{}
	for _, e := range getList(m, path...) {
		if em, ok := e.(map[string]interface{}); ok {
			out = append(out, em)
		}
	}
	return out
}

func podTemplateDefaults(t map[string]interface{}) {
	if t == nil {
		return
	}
	if ps := getMap(t, "spec"); ps != nil {
		podSpecDefaults(ps)
	}
}

func podSpecDefaults(ps map[string]interface{}) {
	setDefault(ps, "dnsPolicy", "ClusterFirst")
	setDefault(ps, "restartPolicy", "Always")
	setDefault(ps, "securityContext", map[string]interface{}{})
	setDefault(ps, "terminationGracePeriodSeconds", int64(30))
	setDefault(ps, "schedulerName", "default-scheduler")
	for _, key := range []string{"containers", "initContainers", "ephemeralContainers"} {
		for _, c := range getListMaps(ps, key) {
			containerDefaults(c)
		}
	}
	for _, v := range getListMaps(ps, "volumes") {
		volumeDefaults(v)
	}
}

// imagePullPolicyFor: Always for :latest or untagged images, else IfNotPresent.
func imagePullPolicyFor(image string) string {
	if strings.Contains(image, "@") {
		return "IfNotPresent"
	}
	name := image
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	tag := ""
	if i := strings.LastIndex(name, ":"); i >= 0 {
		tag = name[i+1:]
	}
	if tag == "" || tag == "latest" {
		return "Always"
	}
	return "IfNotPresent"
}

func containerDefaults(c map[string]interface{}) {
	if img, ok := c["image"].(string); ok {
		setDefault(c, "imagePullPolicy", imagePullPolicyFor(img))
	}
	setDefault(c, "terminationMessagePath", "/dev/termination-log")
	setDefault(c, "terminationMessagePolicy", "File")
	for _, p := range []string{"livenessProbe", "readinessProbe", "startupProbe"} {
		if pr := getMap(c, p); pr != nil {
			setDefault(pr, "timeoutSeconds", int64(1))
			setDefault(pr, "periodSeconds", int64(10))
			setDefault(pr, "successThreshold", int64(1))
			setDefault(pr, "failureThreshold", int64(3))
			httpGetDefaults(getMap(pr, "httpGet"))
		}
	}
	if lc := getMap(c, "lifecycle"); lc != nil {
		for _, h := range []string{"postStart", "preStop"} {
			httpGetDefaults(getMap(lc, h, "httpGet"))
		}
	}
	for _, e := range getListMaps(c, "env") {
		if fr := getMap(e, "valueFrom", "fieldRef"); fr != nil {
			setDefault(fr, "apiVersion", "v1")
		}
	}
}

func httpGetDefaults(h map[string]interface{}) {
	if h == nil {
		return
	}
	setDefault(h, "path", "/")
	setDefault(h, "scheme", "HTTP")
}

var volumeSourceKeys = []string{"hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo",
	"secret", "nfs", "iscsi", "glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder", "cephfs",
	"flocker", "downwardAPI", "fc", "azureFile", "configMap", "vsphereVolume", "quobyte", "azureDisk",
	"photonPersistentDisk", "projected", "portworxVolume", "scaleIO", "storageos", "csi", "ephemeral", "image"}

func volumeDefaults(v map[string]interface{}) {
	has := false
	for _, k := range volumeSourceKeys {
		if _, ok := v[k]; ok {
			has = true
		}
	}
	if !has {
		v["emptyDir"] = map[string]interface{}{}
	}
	for _, k := range []string{"secret", "configMap", "downwardAPI", "projected"} {
		if m := getMap(v, k); m != nil {
			setDefault(m, "defaultMode", int64(420))
		}
	}
	if hp := getMap(v, "hostPath"); hp != nil {
		setDefault(hp, "type", "")
	}
	for _, src := range getListMaps(getMap(v, "projected"), "sources") {
		if t := getMap(src, "serviceAccountToken"); t != nil {
			setDefault(t, "expirationSeconds", int64(3600))
		}
	}
	if pvc := getMap(v, "ephemeral", "volumeClaimTemplate", "spec"); pvc != nil {
		setDefault(pvc, "volumeMode", "Filesystem")
	}
}

func jobSpecDefaults(spec map[string]interface{}) {
	if spec == nil {
		return
	}
	_, hasC := spec["completions"]
	_, hasP := spec["parallelism"]
	if !hasC && !hasP {
		spec["completions"] = int64(1)
	}
	setDefault(spec, "parallelism", int64(1))
	setDefault(spec, "backoffLimit", int64(6))
	setDefault(spec, "completionMode", "NonIndexed")
	setDefault(spec, "suspend", false)
	if _, ok := spec["podFailurePolicy"]; !ok {
		setDefault(spec, "podReplacementPolicy", "TerminatingOrFailed")
	}
	setDefault(spec, "manualSelector", nil)
	if spec["manualSelector"] == nil {
		delete(spec, "manualSelector")
	}
	podTemplateDefaults(getMap(spec, "template"))
}

func serviceDefaults(s *Server, obj map[string]interface{}) {
	spec := getMap(obj, "spec")
	if spec == nil {
		return
	}
	setDefault(spec, "type", "ClusterIP")
	setDefault(spec, "sessionAffinity", "None")
	if spec["sessionAffinity"] == "None" {
		delete(spec, "sessionAffinityConfig")
	} else if spec["sessionAffinity"] == "ClientIP" {
		setDefault(ensureMap(ensureMap(spec, "sessionAffinityConfig"), "clientIP"), "timeoutSeconds", int64(10800))
	}
	typ := spec["type"]
	for _, p := range getListMaps(spec, "ports") {
		setDefault(p, "protocol", "TCP")
		if _, ok := p["targetPort"]; !ok {
			p["targetPort"] = p["port"]
		}
	}
	if typ == "NodePort" || typ == "LoadBalancer" {
		setDefault(spec, "externalTrafficPolicy", "Cluster")
	}
	if typ != "ExternalName" {
		setDefault(spec, "internalTrafficPolicy", "Cluster")
	}
	if typ == "LoadBalancer" {
		setDefault(spec, "allocateLoadBalancerNodePorts", true)
	}
	// Registry allocation (not defaulting upstream, but visible the same way).
	if typ != "ExternalName" {
		if ip, _ := spec["clusterIP"].(string); ip == "" {
			spec["clusterIP"] = s.allocateClusterIP()
		}
		setDefault(spec, "clusterIPs", []interface{}{spec["clusterIP"]})
		setDefault(spec, "ipFamilies", []interface{}{"IPv4"})
		setDefault(spec, "ipFamilyPolicy", "SingleStack")
	}
	if typ == "NodePort" || typ == "LoadBalancer" {
		for _, p := range getListMaps(spec, "ports") {
			if np, ok := p["nodePort"]; !ok || np == nil || np == int64(0) {
				p["nodePort"] = s.allocateNodePort()
			}
		}
	}
}

// allocateClusterIP hands out 10.96.0.0/12 addresses in order (deterministic).
func (s *Server) allocateClusterIP() string {
	s.ipSeq++
	n := s.ipSeq + 10
	return fmt.Sprintf("10.96.%d.%d", n/250, n%250)
}

func (s *Server) allocateNodePort() int64 {
	s.portSeq++
	return 30000 + s.portSeq%2768
}

// usesGeneration: strategies that set metadata.generation.
func usesGeneration(r *Resource) bool {
	if r.CRD != nil {
		return true
	}
	switch r.Group {
	case "apps", "batch", "policy", "autoscaling", "apiextensions.k8s.io":
		return true
	case "networking.k8s.io":
		return r.Plural == "ingresses" || r.Plural == "networkpolicies"
	case "":
		return r.Plural == "replicationcontrollers" || r.Plural == "pods"
	}
	return false
}

// specChanged decides a generation bump: spec (and, for Deployments, annotations);
// for custom resources anything outside metadata and status.
func specChanged(r *Resource, live, newObj map[string]interface{}) bool {
	if r.CRD != nil {
		a, b := copyObj(live), copyObj(newObj)
		for _, m := range []map[string]interface{}{a, b} {
			delete(m, "metadata")
			delete(m, "status")
			delete(m, "apiVersion")
			delete(m, "kind")
		}
		return !equalValues(a, b)
	}
	if !equalValues(live["spec"], newObj["spec"]) {
		return true
	}
	if r.Kind == "Deployment" {
		return !equalValues(getMap(live, "metadata")["annotations"], getMap(newObj, "metadata")["annotations"])
	}
	return false
}

// pruneUnknown drops fields the schema does not declare, returning their paths
// (decoders drop unknown fields on non-apply writes, with a warning).
func (s *Server) pruneUnknown(r *Resource, obj map[string]interface{}) []string {
	p := s.types.parser(r.TypeName)
	name := r.TypeName
	var out []string
	pruneWalk(&p.Schema, schema.TypeRef{NamedType: &name}, obj, "", &out)
	return out
}

func pruneWalk(sc *schema.Schema, tr schema.TypeRef, v interface{}, path string, out *[]string) {
	atom, ok := sc.Resolve(tr)
	if !ok {
		return
	}
	switch t := v.(type) {
	case map[string]interface{}:
		if atom.Map == nil {
			return
		}
		for k, e := range t {
			f, ok := atom.Map.FindField(k)
			var sub schema.TypeRef
			if ok {
				sub = f.Type
			} else if atom.Map.ElementType.NamedType != nil || atom.Map.ElementType.Inlined != (schema.Atom{}) {
				sub = atom.Map.ElementType
			} else {
				*out = append(*out, strings.TrimPrefix(path+"."+k, "."))
				delete(t, k)
				continue
			}
			pruneWalk(sc, sub, e, path+"."+k, out)
		}
	case []interface{}:
		if atom.List == nil {
			return
		}
		for i, e := range t {
			pruneWalk(sc, atom.List.ElementType, e, fmt.Sprintf("%s[%d]", path, i), out)
		}
	}
}

// hpaRules is GenerateHPAScaleUpRules/GenerateHPAScaleDownRules.
func hpaRules(behavior map[string]interface{}, key string, window int64, policies []interface{}) {
	rules := ensureMap(behavior, key)
	setDefault(rules, "stabilizationWindowSeconds", window)
	setDefault(rules, "selectPolicy", "Max")
	setDefault(rules, "policies", policies)
}
