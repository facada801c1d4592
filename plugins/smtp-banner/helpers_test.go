package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailmon/mailmon/sdk"
	"github.com/mailmon/mailmon/sdk/checktest"
)

// session is the server side of one scripted SMTP conversation.
type session struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader

	done chan struct{} // closed when the script has ended
	got  []string      // every line the client sent
}

// serve starts a loopback server that runs script on one connection and
// returns its address. The test waits for the script at cleanup.
func serve(t *testing.T, script func(s *session)) string {
	t.Helper()
	addr, _ := serveSession(t, script)
	return addr
}

// serveSession is serve that also returns the session, for lines().
func serveSession(t *testing.T, script func(s *session)) (string, *session) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &session{t: t, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		c, err := l.Accept()
		if err != nil {
			t.Errorf("fake server: accept: %v", err)
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		s.c, s.r = c, bufio.NewReader(c)
		script(s)
	}()
	t.Cleanup(func() {
		l.Close()
		<-s.done
	})
	return l.Addr().String(), s
}

// lines waits for the script to end and returns what the client sent.
func (s *session) lines() []string {
	<-s.done
	return s.got
}

// send writes lines, each ended by CRLF.
func (s *session) send(lines ...string) {
	for _, l := range lines {
		if _, err := s.c.Write([]byte(l + "\r\n")); err != nil {
			s.t.Errorf("fake server: write %q: %v", l, err)
			return
		}
	}
}

// read returns the client's next line ("" at EOF).
func (s *session) read() string {
	line, err := s.r.ReadString('\n')
	if err != nil {
		return ""
	}
	line = strings.TrimRight(line, "\r\n")
	s.got = append(s.got, line)
	return line
}

// expect reads a line and fails the test unless it is want.
func (s *session) expect(want string) {
	if got := s.read(); got != want {
		s.t.Errorf("fake server: client sent %q, want %q", got, want)
	}
}

// greet, ehlo and quit are the usual happy steps.
func (s *session) greet() { s.send("220 fake.test ESMTP ready") }

func (s *session) ehlo(exts ...string) {
	s.expect("EHLO mailmon.invalid")
	lines := append([]string{"fake.test hello"}, exts...)
	for i, l := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		s.send("250" + sep + l)
	}
}

func (s *session) quit() {
	s.expect("QUIT")
	s.send("221 2.0.0 bye")
}

// startTLS switches the session to TLS as the server.
func (s *session) startTLS(cert tls.Certificate) {
	tc := tls.Server(s.c, &tls.Config{Certificates: []tls.Certificate{cert}})
	if err := tc.Handshake(); err != nil {
		s.t.Errorf("fake server: TLS handshake: %v", err)
		return
	}
	s.c, s.r = tc, bufio.NewReader(tc)
}

// testCert is a self-signed certificate for localhost and 127.0.0.1 and
// the path of its PEM file, usable as tls_ca_file.
type testCert struct {
	tls.Certificate
	caFile string
}

func newCert(t *testing.T, cn string, notAfter time.Time) testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             notAfter.Add(-400 * 24 * time.Hour),
		NotAfter:              notAfter,
		DNSNames:              []string{cn, "localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return testCert{Certificate: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, caFile: path}
}

// check configures a Banner with opts and runs it once with timeout.
func check(t *testing.T, opts map[string]any, timeout time.Duration) *sdk.Result {
	t.Helper()
	raw, err := json.Marshal(opts)
	if err != nil {
		t.Fatal(err)
	}
	c := &Banner{}
	checktest.Configure(t, c, string(raw))
	res := checktest.Run(t, c, timeout)
	t.Logf("%s %s: %s", res.Status, res.Reason, res.Message)
	return res
}

// wantResult is checktest.Want.
var wantResult = checktest.Want

// fields returns the primary metric's fields after checking its name and
// tags.
func fields(t *testing.T, res *sdk.Result) map[string]any {
	t.Helper()
	if len(res.Metrics) != 1 {
		t.Fatalf("got %d metrics, want 1", len(res.Metrics))
	}
	m := res.Metrics[0]
	if m.Name != "mailmon_smtp" {
		t.Errorf("measurement %q, want mailmon_smtp", m.Name)
	}
	if m.Tags["target"] == "" || m.Tags["tls"] == "" {
		t.Errorf("tags %v lack target or tls", m.Tags)
	}
	for _, f := range []string{"status_code", "duration_seconds"} {
		if _, ok := m.Fields[f]; ok {
			t.Errorf("field %s is the agent's to add", f)
		}
	}
	return m.Fields
}

// wantField fails unless field name has exactly value want (same type).
func wantField(t *testing.T, f map[string]any, name string, want any) {
	t.Helper()
	if got, ok := f[name]; !ok {
		t.Errorf("field %s missing, want %v (%T)", name, want, want)
	} else if got != want {
		t.Errorf("field %s = %v (%T), want %v (%T)", name, got, got, want, want)
	}
}

// wantNoField fails if field name was set.
func wantNoField(t *testing.T, f map[string]any, names ...string) {
	t.Helper()
	for _, name := range names {
		if v, ok := f[name]; ok {
			t.Errorf("field %s = %v, want it unset", name, v)
		}
	}
}

// fieldTypes are the documented field types (README "Metrics").
var fieldTypes = map[string]string{
	"connect_seconds":  "float64",
	"banner_seconds":   "float64",
	"ehlo_seconds":     "float64",
	"starttls_seconds": "float64",
	"auth_seconds":     "float64",
	"total_seconds":    "float64",
	"reply_code":       "int64",
	"extensions":       "string",
	"extension_count":  "int64",
	"starttls_offered": "bool",
	"auth_offered":     "bool",
	"tls_version":      "string",
	"tls_cipher":       "string",
	"cert_expiry_days": "float64",
	"cert_not_after":   "int64",
	"cert_chain_valid": "bool",
	"cert_subject":     "string",
	"banner":           "string",
}

// wantTypes fails on an undocumented field or one of the wrong type.
func wantTypes(t *testing.T, f map[string]any) {
	t.Helper()
	for name, v := range f {
		want, ok := fieldTypes[name]
		if !ok {
			t.Errorf("undocumented field %s", name)
			continue
		}
		if got := typeName(v); got != want {
			t.Errorf("field %s is %s, want %s", name, got, want)
		}
	}
}

func typeName(v any) string {
	switch v.(type) {
	case float64:
		return "float64"
	case int64:
		return "int64"
	case string:
		return "string"
	case bool:
		return "bool"
	}
	return "other"
}
