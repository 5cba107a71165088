// file: kubectl_test.go — kubectl as an independent client: server-side apply, diff
// and get against the emulator over TLS with a generated kubeconfig. Skipped, with
// the reason printed, when no kubectl binary is on PATH.
package main

import (
	"crypto/tls"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestKubectlClient(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("SKIP: kubectl not found on PATH; the independent-client test needs a kubectl binary")
	}
	c := newTestServer(t, false)
	caPEM, cert, err := newPKI()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(c.s)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	dir := t.TempDir()
	kc := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kc, []byte(kubeconfigYAML(srv.URL, caPEM, "admin", "admin-token")), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(stdin string, args ...string) (string, int) {
		cmd := exec.Command(kubectl, append([]string{"--kubeconfig", kc, "--cache-dir", filepath.Join(dir, "cache")}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+dir)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}
	out, code := run(webDeployment, "apply", "--server-side", "-f", "-")
	if code != 0 || !strings.Contains(out, "deployment.apps/web serverside-applied") {
		t.Fatalf("kubectl apply: %d %s", code, out)
	}
	out, code = run("", "get", "deployment", "web", "-o", "yaml", "--show-managed-fields")
	for _, want := range []string{"manager: kubectl", "operation: Apply", "revisionHistoryLimit: 10", "f:replicas: {}", `k:{"name":"web"}:`} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("kubectl get -o yaml lacks %q: %s", want, out)
		}
	}
	// No change: diff exits 0 and prints nothing.
	out, code = run(webDeployment, "diff", "--server-side", "-f", "-")
	if code != 0 || strings.TrimSpace(out) != "" {
		t.Fatalf("kubectl diff (no change): %d %s", code, out)
	}
	out, code = run(strings.Replace(webDeployment, "replicas: 2", "replicas: 3", 1), "diff", "--server-side", "-f", "-")
	if code != 1 || !strings.Contains(out, "-  replicas: 2") || !strings.Contains(out, "+  replicas: 3") {
		t.Fatalf("kubectl diff (change): %d %s", code, out)
	}
	// A second field manager conflicts, exactly as kubectl reports it.
	out, code = run(strings.Replace(webDeployment, "replicas: 2", "replicas: 4", 1), "apply", "--server-side", "--field-manager", "other", "-f", "-")
	if code == 0 || !strings.Contains(out, `Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas`) {
		t.Fatalf("kubectl conflict: %d %s", code, out)
	}
	out, code = run("", "scale", "deployment", "web", "--replicas", "5")
	if code != 0 {
		t.Fatalf("kubectl scale: %d %s", code, out)
	}
	out, code = run("", "get", "deployments", "-o", "name")
	if code != 0 || strings.TrimSpace(out) != "deployment.apps/web" {
		t.Fatalf("kubectl get -o name: %d %s", code, out)
	}
	out, code = run("", "delete", "deployment", "web")
	if code != 0 || !strings.Contains(out, `deployment.apps "web" deleted`) {
		t.Fatalf("kubectl delete: %d %s", code, out)
	}
}
