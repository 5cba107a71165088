// Package main is the kube-emulator load driver: it measures start-up time to the
// first served request and sustained server-side apply throughput, against
// 127.0.0.1 only, with bounded request counts and durations.
package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type cluster struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	server string
	token  string
	client *http.Client
}

var (
	reServer = regexp.MustCompile(`server: (\S+)`)
	reToken  = regexp.MustCompile(`token: (\S+)`)
	reCA     = regexp.MustCompile(`certificate-authority-data: (\S+)`)
)

// start runs the emulator binary and returns once it printed "ready".
func start(bin, dir string) (*cluster, error) {
	kc := filepath.Join(dir, "kubeconfig")
	cmd := exec.Command(bin, "--kubeconfig", kc, "--exit-on-stdin-eof")
	stdin, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("no ready line: %q %v", line, err)
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	raw, err := os.ReadFile(kc)
	if err != nil {
		return nil, err
	}
	ca, _ := base64.StdEncoding.DecodeString(reCA.FindStringSubmatch(string(raw))[1])
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 64, ForceAttemptHTTP2: false}
	return &cluster{cmd: cmd, stdin: stdin, server: reServer.FindStringSubmatch(string(raw))[1],
		token: reToken.FindStringSubmatch(string(raw))[1], client: &http.Client{Transport: tr, Timeout: 30 * time.Second}}, nil
}

func (c *cluster) stop() {
	_ = c.stdin.Close()
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = c.cmd.Process.Kill()
	}
}

func (c *cluster) do(method, path, ctype string, body []byte) (int, error) {
	req, _ := http.NewRequest(method, c.server+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+c.token)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	res, err := c.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, nil
}

func deployment(name string, replicas int) []byte {
	return []byte(fmt.Sprintf(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":%q,"labels":{"app":%q}},
"spec":{"replicas":%d,"selector":{"matchLabels":{"app":%q}},"template":{"metadata":{"labels":{"app":%q}},
"spec":{"containers":[{"name":"web","image":"nginx:1.27","ports":[{"containerPort":80}],
"env":[{"name":"A","value":"1"},{"name":"B","value":"2"}],"resources":{"limits":{"cpu":"500m","memory":"128Mi"}}}]}}}}`,
		name, name, replicas, name, name))
}

func main() {
	bin := flag.String("bin", "", "kube-emulator binary")
	starts := flag.Int("starts", 5, "start-up measurements (max 20)")
	total := flag.Int("applies", 5000, "total applies (max 50000)")
	workers := flag.Int("workers", 4, "concurrent clients (max 32)")
	maxDur := flag.Duration("max-duration", 30*time.Second, "stop the apply phase after this long (max 2m)")
	objects := flag.Int("objects", 200, "distinct Deployments cycled through")
	flag.Parse()
	if *bin == "" {
		fmt.Fprintln(os.Stderr, "--bin is required")
		os.Exit(2)
	}
	clamp := func(v *int, max int) {
		if *v > max {
			*v = max
		}
		if *v < 1 {
			*v = 1
		}
	}
	clamp(starts, 20)
	clamp(total, 50000)
	clamp(workers, 32)
	if *maxDur > 2*time.Minute {
		*maxDur = 2 * time.Minute
	}
	dir, _ := os.MkdirTemp("", "emu-bench")
	defer os.RemoveAll(dir)

	// 1. Start-up: process start until the first request has been answered.
	var startTimes []time.Duration
	for i := 0; i < *starts; i++ {
		t0 := time.Now()
		c, err := start(*bin, dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if code, err := c.do("GET", "/api/v1/namespaces/default", "", nil); err != nil || code != 200 {
			fmt.Fprintln(os.Stderr, "first request failed:", code, err)
			os.Exit(1)
		}
		startTimes = append(startTimes, time.Since(t0))
		c.stop()
	}
	sort.Slice(startTimes, func(i, j int) bool { return startTimes[i] < startTimes[j] })
	fmt.Printf("startup to first request: median %v, max %v (n=%d)\n",
		startTimes[len(startTimes)/2].Round(time.Millisecond), startTimes[len(startTimes)-1].Round(time.Millisecond), len(startTimes))

	// 2. Apply throughput: every apply changes replicas, so each one is a real write.
	c, err := start(*bin, dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer c.stop()
	var next, done, failed int64
	lat := make([][]time.Duration, *workers)
	deadline := time.Now().Add(*maxDur)
	t0 := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < *workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for time.Now().Before(deadline) {
				i := atomic.AddInt64(&next, 1)
				if i > int64(*total) {
					return
				}
				name := fmt.Sprintf("web-%d", i%int64(*objects))
				body := deployment(name, int(i%7)+1)
				s := time.Now()
				code, err := c.do("PATCH", "/apis/apps/v1/namespaces/default/deployments/"+name+"?fieldManager=bench&force=true",
					"application/apply-patch+yaml", body)
				lat[w] = append(lat[w], time.Since(s))
				if err != nil || (code != 200 && code != 201) {
					atomic.AddInt64(&failed, 1)
					continue
				}
				atomic.AddInt64(&done, 1)
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(t0)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	pct := func(p float64) time.Duration { return all[int(float64(len(all)-1)*p)].Round(10 * time.Microsecond) }
	fmt.Printf("applies: %d ok, %d failed in %v with %d clients => %.0f applies/s (latency p50 %v, p99 %v)\n",
		done, failed, elapsed.Round(time.Millisecond), *workers, float64(done)/elapsed.Seconds(), pct(0.5), pct(0.99))
	if failed > 0 {
		os.Exit(1)
	}
}
