// file: serve_test.go — the `serve` entry point end to end: builds if needed, prints
// "ready", writes both kubeconfigs (per-run CA, tokens), serves HTTPS, exits 0 on SIGTERM.
package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestServeEntryPoint(t *testing.T) {
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	start := time.Now()
	cmd := startServe(t, kc)
	t.Logf("serve printed ready after %v", time.Since(start))
	client := func(path string) (*http.Client, string, string) {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		find := func(k string) string {
			m := regexp.MustCompile(k + `: (\S+)`).FindStringSubmatch(string(raw))
			if m == nil {
				t.Fatalf("%s lacks %s", path, k)
			}
			return m[1]
		}
		ca, _ := base64.StdEncoding.DecodeString(find("certificate-authority-data"))
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ca) {
			t.Fatal("bad CA in kubeconfig")
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}, find("server"), find("token")
	}
	call := func(c *http.Client, method, url, token, ctype, body string) int {
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	admin, server, adminTok := client(kc)
	if !strings.HasPrefix(server, "https://127.0.0.1:") {
		t.Fatalf("server %s", server)
	}
	ro, _, roTok := client(kc + ".readonly")
	cm := server + "/api/v1/namespaces/default/configmaps/x?fieldManager=t"
	body := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}`
	if code := call(admin, "PATCH", cm, adminTok, "application/apply-patch+yaml", body); code != 201 {
		t.Fatalf("admin apply: %d", code)
	}
	if code := call(ro, "GET", server+"/api/v1/namespaces/default/configmaps/x", roTok, "", ""); code != 200 {
		t.Fatalf("read-only get: %d", code)
	}
	if code := call(ro, "PATCH", cm, roTok, "application/apply-patch+yaml", body); code != 403 {
		t.Fatalf("read-only apply: %d", code)
	}
	stopServe(t, cmd)
}

// startServe runs the `serve` entry point writing its kubeconfig to kc and returns once it has
// printed "ready" as its first line; the process is killed at the end of the test if still running.
func startServe(t *testing.T, kc string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(filepath.Join(testDataDir(t), "..", "serve"), "--kubeconfig", kc)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("first stdout line: %q %v", line, err)
	}
	return cmd
}

// stopServe sends SIGTERM and requires a clean exit (status 0) within five seconds.
func stopServe(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no exit within 5s of SIGTERM")
	}
}

// A client that stops the server the moment it reads "ready" must get a clean exit: the
// signal handler is installed before "ready" is printed (it used to come after, and a busy
// machine delivered SIGTERM in between, killing the process with the default action).
func TestServeStopsCleanlyRightAfterReady(t *testing.T) {
	for i := 0; i < 5; i++ {
		stopServe(t, startServe(t, filepath.Join(t.TempDir(), "kubeconfig")))
	}
}
