package main

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/mailmon/mailmon/scripts/testenv"
	"github.com/mailmon/mailmon/sdk"
)

// These tests run against the real Postfix of scripts/mailstack
// (`scripts/mailstack up`; `make test` starts it).

func TestPostfixPlain(t *testing.T) {
	env := testenv.MailStack(t)
	res := check(t, map[string]any{
		"address": env["MAILSTACK_SMTP"], "tls": "none",
		"banner_regexp":     `^` + strings.ReplaceAll(env["MAILSTACK_HOSTNAME"], ".", `\.`) + ` ESMTP`,
		"expect_extensions": []string{"PIPELINING", "8BITMIME", "STARTTLS"},
	}, 10*time.Second)
	wantResult(t, res, sdk.OK, "ok", env["MAILSTACK_SMTP"]+` answered "220 `+env["MAILSTACK_HOSTNAME"])
	f := fields(t, res)
	wantTypes(t, f)
	wantField(t, f, "reply_code", int64(221))
	wantField(t, f, "starttls_offered", true)
	wantField(t, f, "auth_offered", false)
	if ext, _ := f["extensions"].(string); !strings.Contains(ext, "PIPELINING") || !strings.Contains(ext, "STARTTLS") {
		t.Errorf("extensions = %q", ext)
	}
	if n, _ := f["extension_count"].(int64); n < 5 {
		t.Errorf("extension_count = %v, want Postfix's usual list", f["extension_count"])
	}
	wantNoField(t, f, "tls_version", "cert_chain_valid", "auth_seconds")
}

func TestPostfixStartTLS(t *testing.T) {
	env := testenv.MailStack(t)
	res := check(t, map[string]any{"address": env["MAILSTACK_SMTP"], "tls_ca_file": env["MAILSTACK_CA"]}, 10*time.Second)
	wantResult(t, res, sdk.OK, "ok", "with a trusted certificate")
	f := fields(t, res)
	wantTypes(t, f)
	wantField(t, f, "cert_chain_valid", true)
	wantField(t, f, "cert_subject", env["MAILSTACK_HOSTNAME"])
	wantField(t, f, "starttls_offered", true)
	wantField(t, f, "reply_code", int64(221))
	if v, _ := f["tls_version"].(string); !strings.HasPrefix(v, "TLS1.") {
		t.Errorf("tls_version = %q", v)
	}
	if d, _ := f["cert_expiry_days"].(float64); d < 21 {
		t.Errorf("cert_expiry_days = %v, want the stack's fresh certificate", f["cert_expiry_days"])
	}
	// After TLS, Postfix no longer offers STARTTLS.
	if ext, _ := f["extensions"].(string); strings.Contains(ext, "STARTTLS") {
		t.Errorf("extensions after TLS = %q", ext)
	}
}

// The names in the certificate: localhost and mx.mail.test work as
// server_name, another name does not.
func TestPostfixServerName(t *testing.T) {
	env := testenv.MailStack(t)
	for _, tc := range []struct {
		name   string
		status sdk.Status
		reason string
	}{
		{"localhost", sdk.OK, "ok"},
		{env["MAILSTACK_HOSTNAME"], sdk.OK, "ok"},
		{"mx.example.org", sdk.Critical, "cert_invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := check(t, map[string]any{"address": env["MAILSTACK_SMTP"], "tls_ca_file": env["MAILSTACK_CA"], "server_name": tc.name}, 10*time.Second)
			wantResult(t, res, tc.status, tc.reason)
		})
	}
}

func TestPostfixUnknownCA(t *testing.T) {
	env := testenv.MailStack(t)
	res := check(t, map[string]any{"address": env["MAILSTACK_SMTP"]}, 10*time.Second)
	wantResult(t, res, sdk.Critical, "cert_invalid", "x509: certificate signed by unknown authority")
	wantField(t, fields(t, res), "cert_chain_valid", false)

	res = check(t, map[string]any{"address": env["MAILSTACK_SMTP"], "tls_insecure_skip_verify": true}, 10*time.Second)
	wantResult(t, res, sdk.OK, "ok", "untrusted")
	wantField(t, fields(t, res), "cert_chain_valid", false)
}

func TestPostfixExpired(t *testing.T) {
	env := testenv.MailStack(t)
	res := check(t, map[string]any{"address": env["MAILSTACK_SMTP_EXPIRED"], "tls_ca_file": env["MAILSTACK_CA"]}, 10*time.Second)
	wantResult(t, res, sdk.Critical, "cert_expired", "expired")
	f := fields(t, res)
	wantField(t, f, "cert_chain_valid", false)
	if d, _ := f["cert_expiry_days"].(float64); d >= 0 {
		t.Errorf("cert_expiry_days = %v, want negative", f["cert_expiry_days"])
	}
	na, _ := f["cert_not_after"].(int64)
	if d, _ := f["cert_expiry_days"].(float64); math.Abs(float64(na-time.Now().Unix())/86400-d) > 0.01 {
		t.Errorf("cert_not_after %d and cert_expiry_days %v disagree", na, d)
	}
}

func TestPostfixImplicitTLS(t *testing.T) {
	env := testenv.MailStack(t)
	res := check(t, map[string]any{"address": env["MAILSTACK_SUBMISSIONS"], "tls": "implicit", "tls_ca_file": env["MAILSTACK_CA"]}, 10*time.Second)
	wantResult(t, res, sdk.OK, "ok", "with a trusted certificate")
	f := fields(t, res)
	wantTypes(t, f)
	wantField(t, f, "cert_chain_valid", true)
	wantField(t, f, "auth_offered", true)
	if _, ok := f["starttls_seconds"].(float64); !ok {
		t.Errorf("starttls_seconds = %v, want the handshake time", f["starttls_seconds"])
	}
}

func TestPostfixAuth(t *testing.T) {
	env := testenv.MailStack(t)
	for _, tc := range []struct {
		name, address, tls, mech string
	}{
		{"submission auto", env["MAILSTACK_SUBMISSION"], "starttls", ""},
		{"submission PLAIN", env["MAILSTACK_SUBMISSION"], "starttls", "PLAIN"},
		{"submission LOGIN", env["MAILSTACK_SUBMISSION"], "starttls", "LOGIN"},
		{"submissions LOGIN", env["MAILSTACK_SUBMISSIONS"], "implicit", "LOGIN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := check(t, map[string]any{
				"address": tc.address, "tls": tc.tls, "tls_ca_file": env["MAILSTACK_CA"],
				"username": env["MAILSTACK_USER"], "password": env["MAILSTACK_PASS"], "auth_mechanism": tc.mech,
			}, 10*time.Second)
			mech := tc.mech
			if mech == "" {
				mech = "PLAIN"
			}
			wantResult(t, res, sdk.OK, "ok", "AUTH "+mech+" accepted")
			f := fields(t, res)
			wantTypes(t, f)
			wantField(t, f, "auth_offered", true)
			if _, ok := f["auth_seconds"].(float64); !ok {
				t.Errorf("auth_seconds = %v, want a float", f["auth_seconds"])
			}
		})
	}
}

func TestPostfixAuthFailed(t *testing.T) {
	env := testenv.MailStack(t)
	for _, mech := range []string{"PLAIN", "LOGIN"} {
		t.Run(mech, func(t *testing.T) {
			res := check(t, map[string]any{
				"address": env["MAILSTACK_SUBMISSION"], "tls_ca_file": env["MAILSTACK_CA"],
				"username": env["MAILSTACK_USER"], "password": "wrong-" + env["MAILSTACK_PASS"], "auth_mechanism": mech,
			}, 10*time.Second)
			wantResult(t, res, sdk.Critical, "auth_failed", "AUTH "+mech+" failed: 535 ")
			wantField(t, fields(t, res), "reply_code", int64(535))
		})
	}
}

// Port 2525 offers no AUTH: asking for it there is auth_unavailable.
func TestPostfixAuthUnavailable(t *testing.T) {
	env := testenv.MailStack(t)
	res := check(t, map[string]any{
		"address": env["MAILSTACK_SMTP"], "tls_ca_file": env["MAILSTACK_CA"],
		"username": env["MAILSTACK_USER"], "password": env["MAILSTACK_PASS"],
	}, 10*time.Second)
	wantResult(t, res, sdk.Critical, "auth_unavailable", "server does not offer AUTH")
}

// A stopped server, without stopping the shared stack: a port nothing
// listens on.
func TestPostfixDown(t *testing.T) {
	env := testenv.MailStack(t)
	res := check(t, map[string]any{"address": testenv.FreePort(t), "tls_ca_file": env["MAILSTACK_CA"]}, 10*time.Second)
	wantResult(t, res, sdk.Critical, "connect_failed", "connection refused")
}
