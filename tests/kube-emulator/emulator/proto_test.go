// file: proto_test.go — protobuf request bodies: the envelope, generic decoding of built-in
// kinds (maps, bytes, IntOrString, Time, inlined structs, kept pointer zeros), the errors for
// bad envelopes and unknown kinds; and kubectl's typed `create`
// subcommands, which send protobuf, end to end.
package main

import (
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"crypto/tls"
	"net/http/httptest"
)

func pbKey(num, wt int) []byte { return binary.AppendUvarint(nil, uint64(num<<3|wt)) }
func pbVarint(num int, v uint64) []byte {
	return append(pbKey(num, 0), binary.AppendUvarint(nil, v)...)
}
func pbBytes(num int, b ...[]byte) []byte {
	var body []byte
	for _, x := range b {
		body = append(body, x...)
	}
	out := append(pbKey(num, 2), binary.AppendUvarint(nil, uint64(len(body)))...)
	return append(out, body...)
}
func pbString(num int, s string) []byte { return pbBytes(num, []byte(s)) }

func envelope(apiVersion, kind string, raw []byte) string {
	b := append([]byte("k8s\x00"), pbBytes(1, pbString(1, apiVersion), pbString(2, kind))...)
	b = append(b, pbBytes(2, raw)...)
	return string(b)
}

const protoCT = "application/vnd.kubernetes.protobuf"

func TestProtobufBodies(t *testing.T) {
	c := newTestServer(t, false)
	// Namespace{metadata{name: "pb", labels{team: shop}}, spec{}, status{}}: gogo writes the
	// empty structs and an empty generateName, as kubectl does.
	ns := pbBytes(1, pbString(1, "pb"), pbString(2, ""), pbBytes(11, pbString(1, "team"), pbString(2, "shop")))
	ns = append(ns, pbBytes(2)...)
	ns = append(ns, pbBytes(3)...)
	r := c.mustCode(c.do("POST", "/api/v1/namespaces", protoCT, envelope("v1", "Namespace", ns)), 201)
	if at(r.body, "metadata", "labels", "team") != "shop" || at(r.body, "metadata", "generateName") != nil {
		t.Fatalf("namespace: %s", r.raw)
	}
	// Deployment with replicas 0 (a pointer: kept), a zero creationTimestamp in the template
	// (null in JSON: left out), an IntOrString maxSurge, a container port and resource limits.
	container := append(pbString(1, "web"), pbString(2, "nginx:1.27")...)
	container = append(container, pbBytes(6, pbVarint(3, 8080), pbString(4, "TCP"))...)
	container = append(container, pbBytes(8, pbBytes(1, pbString(1, "memory"), pbBytes(2, pbString(1, "256Mi"))))...)
	tmpl := append(pbBytes(1, pbBytes(8), pbBytes(11, pbString(1, "app"), pbString(2, "web"))), pbBytes(2, pbBytes(2, container))...)
	spec := append(pbVarint(1, 0), pbBytes(2, pbBytes(1, pbString(1, "app"), pbString(2, "web")))...)
	spec = append(spec, pbBytes(3, tmpl)...)
	spec = append(spec, pbBytes(4, pbString(1, "RollingUpdate"), pbBytes(2, pbBytes(2, pbVarint(1, 1), pbString(3, "50%"))))...)
	dep := append(pbBytes(1, pbString(1, "web"), pbString(3, "pb")), pbBytes(2, spec)...)
	r = c.mustCode(c.do("POST", "/apis/apps/v1/namespaces/pb/deployments?fieldManager=kubectl-create", protoCT, envelope("apps/v1", "Deployment", dep)), 201)
	for _, check := range []struct {
		path []interface{}
		want interface{}
	}{
		{[]interface{}{"spec", "replicas"}, int64(0)},
		{[]interface{}{"spec", "strategy", "rollingUpdate", "maxSurge"}, "50%"},
		{[]interface{}{"spec", "template", "spec", "containers", 0, "ports", 0, "containerPort"}, int64(8080)},
		{[]interface{}{"spec", "template", "spec", "containers", 0, "resources", "limits", "memory"}, "256Mi"},
		{[]interface{}{"spec", "template", "metadata", "creationTimestamp"}, nil},
		{[]interface{}{"metadata", "managedFields", 0, "manager"}, "kubectl-create"},
	} {
		if got := at(r.body, check.path...); got != check.want {
			t.Errorf("%v: want %#v, got %#v", check.path, check.want, got)
		}
	}
	// Secret data is bytes (base64 in JSON); Volume.volumeSource is inlined.
	// Volume{name, volumeSource{configMap(19){localObjectReference{name}, defaultMode 420}}}:
	// two inlined structs deep.
	vol := append(pbString(1, "cfg"), pbBytes(2, pbBytes(19, pbBytes(1, pbString(1, "cfg")), pbVarint(3, 420)))...)
	pod := append(pbBytes(1, pbString(1, "p"), pbString(3, "pb")), pbBytes(2, pbBytes(1, vol), pbBytes(2, pbString(1, "a"), pbString(2, "busybox")))...)
	r = c.mustCode(c.do("POST", "/api/v1/namespaces/pb/pods", protoCT, envelope("v1", "Pod", pod)), 201)
	if at(r.body, "spec", "volumes", 0, "configMap", "name") != "cfg" || at(r.body, "spec", "volumes", 0, "configMap", "defaultMode") != int64(420) {
		t.Fatalf("inlined volumeSource: %s", jsonString(t, at(r.body, "spec", "volumes")))
	}
	sec := append(pbBytes(1, pbString(1, "s"), pbString(3, "pb")), pbBytes(2, pbString(1, "k"), pbBytes(2, []byte{0, 1, 2}))...)
	r = c.mustCode(c.do("POST", "/api/v1/namespaces/pb/secrets", protoCT, envelope("v1", "Secret", sec)), 201)
	if at(r.body, "data", "k") != "AAEC" {
		t.Fatalf("secret bytes: %s", r.raw)
	}
	// Bad input: no magic, a truncated message, an unknown kind, a CR (no protobuf form).
	for _, bad := range []struct {
		path, body string
		code       int
		want       string
	}{
		{"/api/v1/namespaces", `{"apiVersion":"v1"}`, 400, "does not appear to be a protobuf message"},
		{"/api/v1/namespaces", envelope("v1", "Namespace", []byte{0x0a, 0x7f, 0x01}), 400, "failed to decode v1 Namespace from protobuf: truncated field 1"},
		{"/api/v1/namespaces", "k8s\x00\x0a\x05", 400, "invalid protobuf envelope"},
		{"/api/v1/namespaces", envelope("v1", "Gadget", nil), 400, `no kind \"Gadget\" is registered for version \"v1\"`},
	} {
		r := c.do("POST", bad.path, protoCT, bad.body)
		if r.code != bad.code || !strings.Contains(r.raw, bad.want) {
			t.Errorf("%q: want %d %q, got %d %s", bad.body, bad.code, bad.want, r.code, r.raw)
		}
	}
	if r := c.do("POST", "/api/v1/namespaces", "application/cbor", "\xa0"); r.code != 415 {
		t.Errorf("cbor: want 415, got %d", r.code)
	}
}

func TestKubectlTypedCreateSendsProtobuf(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("SKIP: kubectl not found on PATH; the protobuf client test needs a kubectl binary")
	}
	c := newTestServer(t, false)
	caPEM, cert, err := newPKI()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(c.s)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	defer srv.Close()
	c.s.log = newRequestLog()
	dir := t.TempDir()
	kc := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kc, []byte(kubeconfigYAML(srv.URL, caPEM, "admin", "admin-token")), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		cmd := exec.Command(kubectl, append([]string{"--kubeconfig", kc, "--cache-dir", filepath.Join(dir, "cache")}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+dir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got := run("create", "namespace", "shop"); got != "namespace/shop created" {
		t.Fatalf("create namespace: %s", got)
	}
	for _, args := range []string{
		"create deployment web --image=nginx:1.27 --replicas=3 -n shop",
		"create configmap cfg --from-literal=a=1 -n shop",
		"create secret generic pw --from-literal=p=s3cret -n shop",
		"create service clusterip web --tcp=80:8080 -n shop",
		"create ingress web --rule=shop.example.com/=web:80 -n shop",
		"create cronjob nightly --image=busybox --schedule=@daily -n shop",
	} {
		if got := run(strings.Fields(args)...); !strings.HasSuffix(got, " created") {
			t.Fatalf("%s: %s", args, got)
		}
	}
	protobufPosts := 0
	for _, e := range c.s.log.snapshot(0) {
		if e.Method == "POST" && strings.HasPrefix(e.ContentType, protoCT) {
			protobufPosts++
		}
	}
	if protobufPosts < 7 {
		t.Fatalf("kubectl create should send protobuf; saw %d protobuf POSTs", protobufPosts)
	}
	if got := run("get", "deployment", "web", "-n", "shop", "-o", "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image} {.spec.strategy.rollingUpdate.maxSurge}"); got != "3 nginx:1.27 25%" {
		t.Fatalf("deployment: %s", got)
	}
	if got := run("get", "secret", "pw", "-n", "shop", "-o", "jsonpath={.data.p}"); got != "czNjcmV0" {
		t.Fatalf("secret: %s", got)
	}
	if got := run("get", "ingress", "web", "-n", "shop", "-o", "jsonpath={.spec.rules[0].host} {.spec.rules[0].http.paths[0].backend.service.port.number}"); got != "shop.example.com 80" {
		t.Fatalf("ingress: %s", got)
	}
	if got := run("get", "service", "web", "-n", "shop", "-o", "jsonpath={.spec.ports[0].targetPort}"); got != "8080" {
		t.Fatalf("service: %s", got)
	}
	if got := run("auth", "can-i", "create", "pods", "-n", "shop"); got != "yes" {
		t.Fatalf("auth can-i: %s", got)
	}
	// What a failed rollout leaves (workloads.go), read by kubectl as an operator would.
	if _, err := c.s.seedPod(&podSeed{Namespace: "shop", Name: "web-1", Owner: &struct {
		Kind string `json:"kind"`
		Name string `json:"name"`
	}{"Deployment", "web"}, Containers: []containerSeed{{Name: "nginx", State: "waiting", Reason: "CrashLoopBackOff", RestartCount: 4}}}); err != nil {
		t.Fatal(err)
	}
	c.s.podLogs.set("shop", "web-1", "nginx", false, "starting\npanic: no config\n")
	ev := &eventSeed{Namespace: "shop", Type: "Warning", Reason: "BackOff", Message: "Back-off restarting failed container nginx"}
	ev.Involved.Kind, ev.Involved.Name = "Pod", "web-1"
	if _, err := c.s.seedEvent(ev); err != nil {
		t.Fatal(err)
	}
	if got := run("logs", "web-1", "-n", "shop", "--tail=1"); got != "panic: no config" {
		t.Fatalf("kubectl logs: %q", got)
	}
	if got := run("get", "pod", "web-1", "-n", "shop", "-o", "jsonpath={.status.containerStatuses[0].state.waiting.reason} {.metadata.ownerReferences[0].kind}"); got != "CrashLoopBackOff ReplicaSet" {
		t.Fatalf("kubectl get pod: %q", got)
	}
	if got := run("get", "events", "-n", "shop", "--field-selector", "type=Warning,involvedObject.name=web-1", "-o", "jsonpath={.items[*].reason}"); got != "BackOff" {
		t.Fatalf("kubectl get events: %q", got)
	}
}
