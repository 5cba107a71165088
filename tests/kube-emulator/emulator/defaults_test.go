// file: defaults_test.go — the defaulting table (KUBE-EMULATOR.md §9): each kind is
// applied with a minimal body and every defaulted field is checked.
package main

import (
	"fmt"
	"strings"
	"testing"
)

// expect checks path=value pairs on an object.
func expect(t *testing.T, obj map[string]interface{}, checks map[string]interface{}) {
	t.Helper()
	for path, want := range checks {
		var parts []interface{}
		for _, p := range splitPath(path) {
			parts = append(parts, p)
		}
		got := at(obj, parts...)
		if jsonString(t, got) != jsonString(t, want) {
			t.Errorf("%s: got %s, want %s", path, jsonString(t, got), jsonString(t, want))
		}
	}
}

// splitPath turns "spec.containers.0.name" into ["spec","containers",0,"name"].
func splitPath(p string) []interface{} {
	var out []interface{}
	cur := ""
	flush := func() {
		var n int
		if _, err := fmt.Sscanf(cur, "%d", &n); err == nil && fmt.Sprint(n) == cur {
			out = append(out, n)
		} else {
			out = append(out, cur)
		}
		cur = ""
	}
	for _, ch := range p {
		if ch == '.' {
			flush()
			continue
		}
		cur += string(ch)
	}
	flush()
	return out
}

const podTemplate = `{"metadata":{"labels":{"app":"x"}},"spec":{"containers":[{"name":"c","image":"nginx",
  "ports":[{"containerPort":8080}],
  "livenessProbe":{"httpGet":{"port":8080}},
  "readinessProbe":{"exec":{"command":["true"]}},
  "env":[{"name":"POD","valueFrom":{"fieldRef":{"fieldPath":"metadata.name"}}}]}],
  "volumes":[{"name":"s","secret":{"secretName":"s"}},{"name":"cm","configMap":{"name":"c"}},{"name":"e"},
    {"name":"p","projected":{"sources":[{"serviceAccountToken":{"path":"t"}}]}},{"name":"h","hostPath":{"path":"/x"}}]}}`

var podTemplateChecks = map[string]interface{}{
	"dnsPolicy": "ClusterFirst", "restartPolicy": "Always", "securityContext": map[string]interface{}{},
	"terminationGracePeriodSeconds": 30, "schedulerName": "default-scheduler",
	"containers.0.imagePullPolicy": "Always", "containers.0.terminationMessagePath": "/dev/termination-log",
	"containers.0.terminationMessagePolicy": "File", "containers.0.resources": map[string]interface{}{},
	"containers.0.ports.0.protocol":             "TCP",
	"containers.0.livenessProbe.timeoutSeconds": 1, "containers.0.livenessProbe.periodSeconds": 10,
	"containers.0.livenessProbe.successThreshold": 1, "containers.0.livenessProbe.failureThreshold": 3,
	"containers.0.livenessProbe.httpGet.path": "/", "containers.0.livenessProbe.httpGet.scheme": "HTTP",
	"containers.0.readinessProbe.periodSeconds":        10,
	"containers.0.env.0.valueFrom.fieldRef.apiVersion": "v1",
	"volumes.0.secret.defaultMode":                     420, "volumes.1.configMap.defaultMode": 420,
	"volumes.2.emptyDir": map[string]interface{}{}, "volumes.3.projected.defaultMode": 420,
	"volumes.3.projected.sources.0.serviceAccountToken.expirationSeconds": 3600, "volumes.4.hostPath.type": "",
}

func prefixed(prefix string, m map[string]interface{}) map[string]interface{} {
	out := map[string]interface{}{}
	for k, v := range m {
		out[prefix+k] = v
	}
	return out
}

func merged(ms ...map[string]interface{}) map[string]interface{} {
	out := map[string]interface{}{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

func TestDefaultingTable(t *testing.T) {
	c := newTestServer(t, false)
	sel := `"selector":{"matchLabels":{"app":"x"}}`
	cases := []struct {
		name, path, body string
		checks           map[string]interface{}
	}{
		{"Deployment", "/apis/apps/v1/namespaces/default/deployments/d",
			`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{` + sel + `,"template":` + podTemplate + `}}`,
			merged(map[string]interface{}{"spec.replicas": 1, "spec.strategy.type": "RollingUpdate",
				"spec.strategy.rollingUpdate.maxUnavailable": "25%", "spec.strategy.rollingUpdate.maxSurge": "25%",
				"spec.revisionHistoryLimit": 10, "spec.progressDeadlineSeconds": 600, "status": map[string]interface{}{}},
				prefixed("spec.template.spec.", podTemplateChecks))},
		{"StatefulSet", "/apis/apps/v1/namespaces/default/statefulsets/s",
			`{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"s"},"spec":{"serviceName":"s",` + sel + `,"template":` + podTemplate + `}}`,
			merged(map[string]interface{}{"spec.podManagementPolicy": "OrderedReady", "spec.updateStrategy.type": "RollingUpdate",
				"spec.updateStrategy.rollingUpdate.partition": 0, "spec.replicas": 1, "spec.revisionHistoryLimit": 10,
				"spec.persistentVolumeClaimRetentionPolicy": map[string]interface{}{"whenDeleted": "Retain", "whenScaled": "Retain"}},
				prefixed("spec.template.spec.", podTemplateChecks))},
		{"DaemonSet", "/apis/apps/v1/namespaces/default/daemonsets/ds",
			`{"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"ds"},"spec":{` + sel + `,"template":` + podTemplate + `}}`,
			merged(map[string]interface{}{"spec.updateStrategy.type": "RollingUpdate", "spec.updateStrategy.rollingUpdate.maxUnavailable": 1,
				"spec.updateStrategy.rollingUpdate.maxSurge": 0, "spec.revisionHistoryLimit": 10},
				prefixed("spec.template.spec.", podTemplateChecks))},
		{"ReplicaSet", "/apis/apps/v1/namespaces/default/replicasets/rs",
			`{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"rs"},"spec":{` + sel + `,"template":` + podTemplate + `}}`,
			map[string]interface{}{"spec.replicas": 1}},
		{"Job", "/apis/batch/v1/namespaces/default/jobs/j",
			`{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"j"},"spec":{"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"busybox:1.36"}]}}}}`,
			map[string]interface{}{"spec.completions": 1, "spec.parallelism": 1, "spec.backoffLimit": 6, "spec.completionMode": "NonIndexed",
				"spec.suspend": false, "spec.podReplacementPolicy": "TerminatingOrFailed", "spec.template.spec.dnsPolicy": "ClusterFirst",
				"spec.template.spec.containers.0.imagePullPolicy": "IfNotPresent",
				"spec.template.metadata.labels.job-name":          "j"}},
		{"CronJob", "/apis/batch/v1/namespaces/default/cronjobs/cj",
			`{"apiVersion":"batch/v1","kind":"CronJob","metadata":{"name":"cj"},"spec":{"schedule":"*/5 * * * *","jobTemplate":{"spec":{"template":{"spec":{"restartPolicy":"OnFailure","containers":[{"name":"c","image":"busybox"}]}}}}}}`,
			map[string]interface{}{"spec.concurrencyPolicy": "Allow", "spec.suspend": false, "spec.successfulJobsHistoryLimit": 3,
				"spec.failedJobsHistoryLimit": 1, "spec.jobTemplate.spec.backoffLimit": 6,
				"spec.jobTemplate.spec.template.spec.terminationGracePeriodSeconds": 30}},
		{"Pod", "/api/v1/namespaces/default/pods/p",
			`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"nginx:1.27","resources":{"limits":{"cpu":"1"}}}]}}`,
			map[string]interface{}{"spec.enableServiceLinks": true, "spec.containers.0.resources.requests.cpu": "1",
				"spec.containers.0.imagePullPolicy": "IfNotPresent", "spec.restartPolicy": "Always", "status.phase": "Pending"}},
		{"Service", "/api/v1/namespaces/default/services/svc",
			`{"apiVersion":"v1","kind":"Service","metadata":{"name":"svc"},"spec":{"selector":{"app":"x"},"ports":[{"port":80}]}}`,
			map[string]interface{}{"spec.type": "ClusterIP", "spec.sessionAffinity": "None", "spec.ports.0.protocol": "TCP",
				"spec.ports.0.targetPort": 80, "spec.internalTrafficPolicy": "Cluster", "spec.ipFamilies": []interface{}{"IPv4"},
				"spec.ipFamilyPolicy": "SingleStack", "status": map[string]interface{}{"loadBalancer": map[string]interface{}{}}}},
		{"Service LoadBalancer", "/api/v1/namespaces/default/services/lb",
			`{"apiVersion":"v1","kind":"Service","metadata":{"name":"lb"},"spec":{"type":"LoadBalancer","sessionAffinity":"ClientIP","ports":[{"port":443,"targetPort":"https"}]}}`,
			map[string]interface{}{"spec.externalTrafficPolicy": "Cluster", "spec.allocateLoadBalancerNodePorts": true,
				"spec.ports.0.targetPort": "https", "spec.sessionAffinityConfig.clientIP.timeoutSeconds": 10800}},
		{"Secret", "/api/v1/namespaces/default/secrets/sec",
			`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"sec"},"stringData":{"a":"b"}}`,
			map[string]interface{}{"type": "Opaque"}},
		{"PVC", "/api/v1/namespaces/default/persistentvolumeclaims/pvc",
			`{"apiVersion":"v1","kind":"PersistentVolumeClaim","metadata":{"name":"pvc"},"spec":{"accessModes":["ReadWriteOnce"],"resources":{"requests":{"storage":"1Gi"}}}}`,
			map[string]interface{}{"spec.volumeMode": "Filesystem", "status.phase": "Pending"}},
		{"Namespace", "/api/v1/namespaces/team",
			`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"team"}}`,
			map[string]interface{}{"metadata.labels": map[string]interface{}{"kubernetes.io/metadata.name": "team"},
				"spec.finalizers": []interface{}{"kubernetes"}, "status.phase": "Active"}},
		{"HorizontalPodAutoscaler", "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers/h",
			`{"apiVersion":"autoscaling/v2","kind":"HorizontalPodAutoscaler","metadata":{"name":"h"},"spec":{"maxReplicas":5,
			  "scaleTargetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"d"},"behavior":{"scaleDown":{"stabilizationWindowSeconds":60}}}}`,
			map[string]interface{}{"spec.minReplicas": 1, "spec.metrics.0.resource.target.averageUtilization": 80,
				"spec.behavior.scaleDown.stabilizationWindowSeconds": 60, "spec.behavior.scaleDown.selectPolicy": "Max",
				"spec.behavior.scaleUp.stabilizationWindowSeconds": 0, "spec.behavior.scaleUp.policies.0.value": 4,
				"spec.behavior.scaleUp.policies.1.type": "Percent"}},
		{"NetworkPolicy", "/apis/networking.k8s.io/v1/namespaces/default/networkpolicies/np",
			`{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"np"},"spec":{"podSelector":{},"egress":[{}]}}`,
			map[string]interface{}{"spec.policyTypes": []interface{}{"Ingress", "Egress"}}},
		{"ReplicationController", "/api/v1/namespaces/default/replicationcontrollers/rc",
			`{"apiVersion":"v1","kind":"ReplicationController","metadata":{"name":"rc"},"spec":{"selector":{"app":"x"},"template":` + podTemplate + `}}`,
			map[string]interface{}{"spec.replicas": 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := c.mustCode(c.apply(tc.path, "kdep", tc.body), 201)
			expect(t, r.body, tc.checks)
			// Defaulted objects are stable: re-applying the same body is a no-op.
			again := c.mustCode(c.apply(tc.path, "kdep", tc.body), 200)
			if at(again.body, "metadata", "resourceVersion") != at(r.body, "metadata", "resourceVersion") {
				t.Fatalf("re-apply changed the object:\n%s\n%s", r.raw, again.raw)
			}
			// Defaulted fields are not owned by the applier.
			if e := managedEntryFor(r.body, "kdep", "Apply"); e != nil && tc.name == "Deployment" {
				if strings.Contains(jsonString(t, e), "f:revisionHistoryLimit") {
					t.Fatal("applier must not own defaulted fields")
				}
			}
		})
	}
}

func TestServiceAllocationIsStableAcrossApplies(t *testing.T) {
	c := newTestServer(t, false)
	path := "/api/v1/namespaces/default/services/svc"
	body := `{"apiVersion":"v1","kind":"Service","metadata":{"name":"svc"},"spec":{"type":"NodePort","selector":{"app":"x"},"ports":[{"port":80}]}}`
	r1 := c.mustCode(c.apply(path, "kdep", body), 201)
	r2 := c.mustCode(c.apply(path, "kdep", body), 200)
	if at(r1.body, "spec", "clusterIP") == nil || at(r1.body, "spec", "ports", 0, "nodePort") == nil {
		t.Fatalf("no allocation: %s", r1.raw)
	}
	if at(r1.body, "metadata", "resourceVersion") != at(r2.body, "metadata", "resourceVersion") {
		t.Fatal("re-apply of a Service must be a no-op")
	}
	// Changing clusterIP is refused.
	r := c.mustCode(c.do("PATCH", path, "application/merge-patch+json", `{"spec":{"clusterIP":"10.0.0.99"}}`), 422)
	if r.body["message"] != `Service "svc" is invalid: spec.clusterIPs[0]: Invalid value: "10.0.0.99": may not change once set` {
		t.Fatalf("message: %v", r.body["message"])
	}
}

func TestImagePullPolicy(t *testing.T) {
	for img, want := range map[string]string{"nginx": "Always", "nginx:latest": "Always", "nginx:1.27": "IfNotPresent",
		"registry:5000/app": "Always", "registry:5000/app:v2": "IfNotPresent", "app@sha256:abcd": "IfNotPresent"} {
		if got := imagePullPolicyFor(img); got != want {
			t.Errorf("%s: got %s want %s", img, got, want)
		}
	}
}
