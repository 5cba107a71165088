// file: main.go — command-line entry point: loads the data, generates the per-run CA,
// serving certificate and tokens, writes the kubeconfigs, serves HTTPS on 127.0.0.1
// and shuts down cleanly on SIGTERM/SIGINT.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

type options struct {
	kubeconfig    string
	dataDir       string
	port          int
	requestLog    string
	clock         string
	seqUIDs       bool
	crdDelay      time.Duration
	nsDelay       time.Duration
	exitOnStdin   bool
	adminToken    string
	readOnlyToken string
}

func main() {
	var o options
	flag.StringVar(&o.kubeconfig, "kubeconfig", "", "write the admin kubeconfig here (and a read-only one to FILE.readonly)")
	flag.StringVar(&o.dataDir, "data", "", "data directory (default: ../data next to the binary)")
	flag.IntVar(&o.port, "port", 0, "port on 127.0.0.1 (0: a free port)")
	flag.StringVar(&o.requestLog, "request-log", "", "append a human-readable line per request to this file")
	flag.StringVar(&o.clock, "clock", "", "fix the clock at this RFC 3339 time (deterministic timestamps)")
	flag.BoolVar(&o.seqUIDs, "sequential-uids", false, "hand out UIDs 00000000-0000-4000-8000-000000000001, ...")
	flag.DurationVar(&o.crdDelay, "crd-establish-delay", 0, "delay before a new CRD is Established and served")
	flag.DurationVar(&o.nsDelay, "namespace-deletion-delay", 0, "keep deleted namespaces Terminating this long")
	flag.BoolVar(&o.exitOnStdin, "exit-on-stdin-eof", false, "exit when stdin closes (parent died)")
	flag.Parse()
	if o.kubeconfig == "" {
		fmt.Fprintln(os.Stderr, "kube-emulator: --kubeconfig FILE is required")
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "kube-emulator:", err)
		os.Exit(1)
	}
}

func defaultDataDir() string {
	if d := os.Getenv("KUBE_EMULATOR_DATA"); d != "" {
		return d
	}
	exe, err := os.Executable()
	if err == nil {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		return filepath.Join(filepath.Dir(exe), "..", "data")
	}
	return "data"
}

// newEmulator loads the registry and schema and builds a server.
func newEmulator(dataDir string) (*Server, error) {
	reg, err := loadRegistry(dataDir)
	if err != nil {
		return nil, err
	}
	types, err := loadTypes(dataDir, reg)
	if err != nil {
		return nil, err
	}
	return newServer(reg, types), nil
}

func randomToken() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// newPKI makes a per-run CA and a serving certificate for 127.0.0.1/localhost.
func newPKI() (caPEM []byte, cert tls.Certificate, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, cert, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kube-emulator-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(10 * 365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, cert, err
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, cert, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kube-apiserver"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost", "kubernetes", "kubernetes.default"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, cert, err
	}
	caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	cert = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	return caPEM, cert, nil
}

func kubeconfigYAML(server string, caPEM []byte, userName, token string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: kube-emulator
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: %s
  user:
    token: %s
contexts:
- name: kube-emulator
  context:
    cluster: kube-emulator
    user: %s
    namespace: default
current-context: kube-emulator
preferences: {}
`, server, base64.StdEncoding.EncodeToString(caPEM), userName, token, userName)
}

func writeFileAtomic(path, content string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func run(o options) error {
	if o.dataDir == "" {
		o.dataDir = defaultDataDir()
	}
	s, err := newEmulator(o.dataDir)
	if err != nil {
		return err
	}
	if o.clock != "" {
		t, err := time.Parse(time.RFC3339, o.clock)
		if err != nil {
			return fmt.Errorf("--clock: %v", err)
		}
		t = t.UTC()
		s.fixedTime = &t
	}
	s.seqUIDs = o.seqUIDs
	s.crdDelay = o.crdDelay
	s.nsDeleteDelay = o.nsDelay
	s.adminToken, s.readToken = randomToken(), randomToken()
	if o.requestLog != "" {
		f, err := os.OpenFile(o.requestLog, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		s.log.file = f
	}
	caPEM, cert, err := newPKI()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", o.port))
	if err != nil {
		return err
	}
	server := "https://" + ln.Addr().String()
	if err := writeFileAtomic(o.kubeconfig, kubeconfigYAML(server, caPEM, "kube-emulator-admin", s.adminToken)); err != nil {
		return err
	}
	if err := writeFileAtomic(o.kubeconfig+".readonly", kubeconfigYAML(server, caPEM, "kube-emulator-readonly", s.readToken)); err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		// Clients that probe the port and hang up are normal in tests; keep other errors.
		ErrorLog: log.New(filteredStderr{}, "kube-emulator: ", 0),
	}
	// The handler goes in before "ready" is printed: a client that stops the server as soon
	// as it is ready would otherwise kill it with the default action (no clean shutdown).
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	fmt.Println("ready")

	stdinEOF := make(chan struct{})
	if o.exitOnStdin {
		go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(stdinEOF) }()
	}
	select {
	case <-sig:
	case <-stdinEOF:
	case err := <-errc:
		if err != nil && err != http.ErrServerClosed {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		_ = srv.Close()
	}
	return nil
}

// statusRecorder remembers the response code for the request log.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(c int) { r.code = c; r.ResponseWriter.WriteHeader(c) }
func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// discardWriter swallows a response (used when a fault drops it after processing).
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

// ServeHTTP is the outermost handler: admin hooks, authentication, faults, logging.
func (s *Server) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if strings.HasPrefix(req.URL.Path, "/_emulator/") {
		if req.Header.Get("Authorization") != "Bearer "+s.adminToken {
			writeErr(w, &apiError{Code: 401, Reason: "Unauthorized", Message: "Unauthorized"})
			return
		}
		s.serveAdmin(w, req)
		return
	}
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w, code: 200}
	e := logEntry{Time: time.Now().UTC().Format(time.RFC3339Nano), Method: req.Method, Path: req.URL.Path,
		Query: req.URL.RawQuery, ContentType: req.Header.Get("Content-Type"), UserAgent: req.UserAgent(),
		FieldManager: req.URL.Query().Get("fieldManager"), DryRun: req.URL.Query().Get("dryRun") != ""}
	finish := func() {
		e.Status = rec.code
		e.DurationMs = time.Since(start).Milliseconds()
		s.log.add(e)
	}
	u, aerr := s.authenticate(req)
	if aerr != nil {
		writeErr(rec, aerr)
		finish()
		return
	}
	e.User = u.name
	if f := s.faults.match(req); f != nil {
		switch f.Action {
		case "delay":
			e.Fault = fmt.Sprintf("delay %dms", f.DelayMs)
			time.Sleep(time.Duration(f.DelayMs) * time.Millisecond)
		case "status":
			e.Fault = fmt.Sprintf("status %d", f.Status)
			if f.RetryAfter > 0 {
				rec.Header().Set("Retry-After", fmt.Sprint(f.RetryAfter))
			}
			writeErr(rec, faultError(f))
			finish()
			return
		case "drop":
			e.Fault = "drop"
			if f.After {
				e.Fault = "drop after processing"
				s.route(&discardWriter{h: http.Header{}}, req, u)
			}
			rec.code = 0
			finish()
			// Aborting the handler closes the connection (HTTP/1.1) or resets the
			// stream (HTTP/2) without a response.
			panic(http.ErrAbortHandler)
		}
	}
	s.route(rec, req, u)
	finish()
}

// filteredStderr drops the http.Server's "TLS handshake error" noise.
type filteredStderr struct{}

func (filteredStderr) Write(p []byte) (int, error) {
	if strings.Contains(string(p), "TLS handshake error") {
		return len(p), nil
	}
	return os.Stderr.Write(p)
}
