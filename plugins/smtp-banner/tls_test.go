package main

import (
	"encoding/base64"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/mailmon/mailmon/sdk"
)

const day = 24 * time.Hour

// starttlsServer plays a server that offers STARTTLS with cert and AUTH
// only after TLS, and accepts the PLAIN credentials u/p if they come.
func starttlsServer(t *testing.T, cert testCert) (string, *session) {
	return serveSession(t, func(s *session) {
		s.greet()
		s.ehlo("PIPELINING", "STARTTLS")
		s.expect("STARTTLS")
		s.send("220 2.0.0 Ready to start TLS")
		s.startTLS(cert.Certificate)
		s.ehlo("PIPELINING", "AUTH PLAIN LOGIN")
		line := s.read()
		if strings.HasPrefix(line, "AUTH ") {
			if line != "AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00u\x00p")) {
				t.Errorf("fake server: client sent %q", line)
			}
			s.send("235 2.7.0 Authentication successful")
			line = s.read()
		}
		if line != "QUIT" {
			t.Errorf("fake server: client sent %q, want QUIT", line)
		}
		s.send("221 2.0.0 bye")
	})
}

func TestStartTLSOK(t *testing.T) {
	cert := newCert(t, "mx.fake.test", time.Now().Add(365*day))
	addr, _ := starttlsServer(t, cert)
	res := check(t, map[string]any{
		"address": addr, "tls_ca_file": cert.caFile, "username": "u", "password": "p",
		"expect_extensions": []string{"STARTTLS", "AUTH", "PIPELINING"},
	}, 5*time.Second)
	wantResult(t, res, sdk.OK, "ok", "over TLS1.3 with a trusted certificate valid for 365 more days", "AUTH PLAIN accepted")
	f := fields(t, res)
	wantTypes(t, f)
	if res.Metrics[0].Tags["tls"] != "starttls" {
		t.Errorf("tls tag = %q", res.Metrics[0].Tags["tls"])
	}
	wantField(t, f, "tls_version", "TLS1.3")
	wantField(t, f, "tls_cipher", "TLS_AES_128_GCM_SHA256")
	wantField(t, f, "cert_chain_valid", true)
	wantField(t, f, "cert_subject", "mx.fake.test")
	wantField(t, f, "cert_not_after", cert.Leaf.NotAfter.Unix())
	wantField(t, f, "starttls_offered", true)
	wantField(t, f, "auth_offered", true)
	wantField(t, f, "extensions", "AUTH PIPELINING") // the EHLO after TLS
	wantField(t, f, "reply_code", int64(221))
	if d, _ := f["cert_expiry_days"].(float64); math.Abs(d-365) > 0.01 {
		t.Errorf("cert_expiry_days = %v, want about 365", f["cert_expiry_days"])
	}
	for _, name := range []string{"starttls_seconds", "auth_seconds", "ehlo_seconds"} {
		if _, ok := f[name].(float64); !ok {
			t.Errorf("field %s = %v, want a float", name, f[name])
		}
	}
}

// Without the CA the self-signed certificate is untrusted: CRITICAL, and
// the credentials are not sent.
func TestStartTLSUntrusted(t *testing.T) {
	cert := newCert(t, "mx.fake.test", time.Now().Add(365*day))
	addr, s := starttlsServer(t, cert)
	res := check(t, map[string]any{"address": addr, "username": "u", "password": "p"}, 5*time.Second)
	wantResult(t, res, sdk.Critical, "cert_invalid", "certificate is not valid for 127.0.0.1: x509: certificate signed by unknown authority",
		"note: AUTH not tried: the certificate is not trusted")
	wantField(t, fields(t, res), "cert_chain_valid", false)
	for _, line := range s.lines() {
		if strings.HasPrefix(line, "AUTH") {
			t.Errorf("client sent %q to an untrusted server", line)
		}
	}
}

func TestStartTLSInsecureSkipVerify(t *testing.T) {
	cert := newCert(t, "mx.fake.test", time.Now().Add(365*day))
	addr, _ := starttlsServer(t, cert)
	res := check(t, map[string]any{"address": addr, "tls_insecure_skip_verify": true, "username": "u", "password": "p"}, 5*time.Second)
	wantResult(t, res, sdk.OK, "ok", "with an untrusted (tls_insecure_skip_verify) certificate", "AUTH PLAIN accepted")
	wantField(t, fields(t, res), "cert_chain_valid", false)
}

func TestStartTLSNameMismatch(t *testing.T) {
	cert := newCert(t, "mx.fake.test", time.Now().Add(365*day))
	addr, _ := starttlsServer(t, cert)
	res := check(t, map[string]any{"address": addr, "tls_ca_file": cert.caFile, "server_name": "other.test"}, 5*time.Second)
	wantResult(t, res, sdk.Critical, "cert_invalid", "certificate is not valid for other.test: x509: certificate is valid for mx.fake.test, localhost, not other.test")
	wantField(t, fields(t, res), "cert_chain_valid", false)
}

func TestCertExpiry(t *testing.T) {
	for _, tc := range []struct {
		name     string
		notAfter time.Duration
		extra    map[string]any
		status   sdk.Status
		reason   string
		msg      string
		absent   string // must not be in the message
	}{
		{"expired", -2 * day, nil, sdk.Critical, "cert_expired", `certificate "mx.fake.test" expired 2.0 days ago`, "not valid"},
		{"expired and untrusted", -2 * day, map[string]any{"tls_ca_file": ""}, sdk.Critical, "cert_expired",
			`certificate "mx.fake.test" expired 2.0 days ago (` + time.Now().Add(-2*day).UTC().Format(time.DateOnly) +
				`); also certificate is not valid for 127.0.0.1: x509: certificate signed by unknown authority`, "has expired"},
		{"critical", 3 * day, nil, sdk.Critical, "cert_expiring", `certificate "mx.fake.test" expires in 3.0 days`, ""},
		{"warning", 3 * day, map[string]any{"cert_expiry_critical": 2}, sdk.Warning, "cert_expiring", `certificate "mx.fake.test" expires in 3.0 days`, ""},
		{"fine", 3 * day, map[string]any{"cert_expiry_critical": 0, "cert_expiry_warning": 0}, sdk.OK, "ok", "valid for 3 more days", ""},
		{"insecure still checks expiry", -2 * day, map[string]any{"tls_insecure_skip_verify": true, "tls_ca_file": ""}, sdk.Critical, "cert_expired", "expired", "not valid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cert := newCert(t, "mx.fake.test", time.Now().Add(tc.notAfter))
			addr, _ := starttlsServer(t, cert)
			opts := map[string]any{"address": addr, "tls_ca_file": cert.caFile}
			for k, v := range tc.extra {
				if v == "" {
					delete(opts, k)
				} else {
					opts[k] = v
				}
			}
			res := check(t, opts, 5*time.Second)
			wantResult(t, res, tc.status, tc.reason, tc.msg)
			if tc.absent != "" && strings.Contains(res.Message, tc.absent) {
				t.Errorf("message %q contains %q", res.Message, tc.absent)
			}
			f := fields(t, res)
			want := tc.notAfter.Hours() / 24
			if d, _ := f["cert_expiry_days"].(float64); math.Abs(d-want) > 0.01 {
				t.Errorf("cert_expiry_days = %v, want about %v", f["cert_expiry_days"], want)
			}
			wantField(t, f, "cert_chain_valid", tc.notAfter > 0 && tc.extra["tls_ca_file"] == nil)
		})
	}
}

func TestImplicitTLS(t *testing.T) {
	cert := newCert(t, "mx.fake.test", time.Now().Add(90*day))
	addr := serve(t, func(s *session) {
		s.startTLS(cert.Certificate)
		s.greet()
		s.ehlo("AUTH PLAIN")
		s.quit()
	})
	res := check(t, map[string]any{"address": addr, "tls": "implicit", "tls_ca_file": cert.caFile}, 5*time.Second)
	wantResult(t, res, sdk.OK, "ok", "over TLS1.3")
	f := fields(t, res)
	wantTypes(t, f)
	wantField(t, f, "tls_version", "TLS1.3")
	wantField(t, f, "cert_chain_valid", true)
	wantField(t, f, "banner", "fake.test ESMTP ready")
	wantField(t, f, "starttls_offered", false)
	if res.Metrics[0].Tags["tls"] != "implicit" {
		t.Errorf("tls tag = %q", res.Metrics[0].Tags["tls"])
	}
	if _, ok := f["starttls_seconds"].(float64); !ok {
		t.Errorf("starttls_seconds = %v, want the handshake time", f["starttls_seconds"])
	}
}

// A plaintext server on an implicit-TLS check: the handshake fails.
func TestTLSFailed(t *testing.T) {
	addr := serve(t, func(s *session) {
		s.greet()
		s.read()
	})
	res := check(t, map[string]any{"address": addr, "tls": "implicit"}, 5*time.Second)
	wantResult(t, res, sdk.Critical, "tls_failed", "TLS handshake with "+addr+" failed")
	wantNoField(t, fields(t, res), "tls_version", "cert_chain_valid")
}
