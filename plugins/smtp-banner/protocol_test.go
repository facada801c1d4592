package main

import (
	"context"
	"encoding/base64"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mailmon/mailmon/scripts/testenv"
	"github.com/mailmon/mailmon/sdk"
)

// plain is the config for a fake server without TLS.
func plain(addr string, extra ...any) map[string]any {
	opts := map[string]any{"address": addr, "tls": "none"}
	for i := 0; i+1 < len(extra); i += 2 {
		opts[extra[i].(string)] = extra[i+1]
	}
	return opts
}

func TestPlainOK(t *testing.T) {
	addr := serve(t, func(s *session) {
		s.greet()
		s.ehlo("PIPELINING", "SIZE 10240000", "8BITMIME", "ENHANCEDSTATUSCODES")
		s.quit()
	})
	res := check(t, plain(addr), 5*time.Second)
	wantResult(t, res, sdk.OK, "ok", addr+` answered "220 fake.test ESMTP ready"`)
	f := fields(t, res)
	wantTypes(t, f)
	if tags := res.Metrics[0].Tags; tags["target"] != addr || tags["tls"] != "none" {
		t.Errorf("tags = %v", tags)
	}
	wantField(t, f, "banner", "fake.test ESMTP ready")
	wantField(t, f, "extensions", "8BITMIME ENHANCEDSTATUSCODES PIPELINING SIZE")
	wantField(t, f, "extension_count", int64(4))
	wantField(t, f, "starttls_offered", false)
	wantField(t, f, "auth_offered", false)
	wantField(t, f, "reply_code", int64(221))
	for _, name := range []string{"connect_seconds", "banner_seconds", "ehlo_seconds", "total_seconds"} {
		if v, _ := f[name].(float64); v <= 0 || v > 5 {
			t.Errorf("field %s = %v, want a positive duration", name, f[name])
		}
	}
	wantNoField(t, f, "starttls_seconds", "auth_seconds", "tls_version", "cert_expiry_days", "cert_chain_valid")
}

// Postscreen and some appliances send a multi-line 220- greeting.
func TestMultiLineGreeting(t *testing.T) {
	addr := serve(t, func(s *session) {
		s.send("220-mx.fake.test ESMTP", "220-please wait for the full greeting")
		time.Sleep(150 * time.Millisecond)
		s.send("220 mx.fake.test ESMTP ready")
		s.ehlo("PIPELINING")
		s.quit()
	})
	res := check(t, plain(addr, "banner_regexp", `(?m)^mx\.fake\.test ESMTP ready$`), 5*time.Second)
	wantResult(t, res, sdk.OK, "ok")
	f := fields(t, res)
	wantField(t, f, "banner", "mx.fake.test ESMTP\nplease wait for the full greeting\nmx.fake.test ESMTP ready")
	if v, _ := f["banner_seconds"].(float64); v < 0.15 {
		t.Errorf("banner_seconds = %v, want the time until the last greeting line (>= 0.15)", f["banner_seconds"])
	}
}

func TestBannerTruncated(t *testing.T) {
	long := strings.Repeat("x", 300)
	addr := serve(t, func(s *session) {
		s.send("220 " + long)
		s.ehlo()
		s.quit()
	})
	f := fields(t, check(t, plain(addr), 5*time.Second))
	wantField(t, f, "banner", long[:256])
}

func TestBannerMismatch(t *testing.T) {
	addr := serve(t, func(s *session) {
		s.greet()
		s.ehlo()
		s.quit()
	})
	res := check(t, plain(addr, "banner_regexp", `Postfix`), 5*time.Second)
	wantResult(t, res, sdk.Critical, "banner_mismatch", `greeting "fake.test ESMTP ready" does not match banner_regexp "Postfix"`)
	wantField(t, fields(t, res), "reply_code", int64(221))
}

func TestGreetingRejected(t *testing.T) {
	addr := serve(t, func(s *session) {
		s.send("421 4.3.2 Service shutting down")
	})
	res := check(t, plain(addr), 5*time.Second)
	wantResult(t, res, sdk.Critical, "greeting_rejected", "greeting rejected: 421 4.3.2 Service shutting down")
	f := fields(t, res)
	wantField(t, f, "reply_code", int64(421))
	wantField(t, f, "banner", "4.3.2 Service shutting down")
	wantNoField(t, f, "ehlo_seconds", "extensions")
}

func TestEHLORejected(t *testing.T) {
	addr := serve(t, func(s *session) {
		s.greet()
		s.expect("EHLO mailmon.invalid")
		s.send("554 5.7.1 go away")
		s.expect("HELO mailmon.invalid") // the fallback is tried first
		s.send("554 5.7.1 go away")
		s.expect("QUIT")
	})
	res := check(t, plain(addr), 5*time.Second)
	wantResult(t, res, sdk.Critical, "ehlo_rejected", "EHLO rejected: 554 5.7.1 go away")
	wantField(t, fields(t, res), "reply_code", int64(554))
}

// A 4xx to EHLO is not "command unknown": no HELO fallback.
func TestEHLOTempFailure(t *testing.T) {
	addr := serve(t, func(s *session) {
		s.greet()
		s.expect("EHLO mailmon.invalid")
		s.send("421 4.7.0 too many connections")
		s.expect("QUIT")
	})
	res := check(t, plain(addr), 5*time.Second)
	wantResult(t, res, sdk.Critical, "ehlo_rejected", "EHLO rejected: 421 4.7.0 too many connections")
	wantField(t, fields(t, res), "reply_code", int64(421))
}

func TestHELOFallback(t *testing.T) {
	addr := serve(t, func(s *session) {
		s.greet()
		s.expect("EHLO mailmon.invalid")
		s.send("502 5.5.2 Error: command not recognized")
		s.expect("HELO mailmon.invalid")
		s.send("250 fake.test")
		s.quit()
	})
	res := check(t, plain(addr, "tls", "starttls", "starttls_required", false), 5*time.Second)
	wantResult(t, res, sdk.OK, "ok", "note: EHLO rejected (502 5.5.2 Error: command not recognized), HELO accepted",
		"note: server does not offer STARTTLS")
	f := fields(t, res)
	wantField(t, f, "extensions", "")
	wantField(t, f, "extension_count", int64(0))
	wantField(t, f, "starttls_offered", false)
	wantField(t, f, "reply_code", int64(221))
}

func TestStartTLSUnavailable(t *testing.T) {
	addr := serve(t, func(s *session) {
		s.greet()
		s.ehlo("PIPELINING")
		s.quit()
	})
	res := check(t, map[string]any{"address": addr}, 5*time.Second)
	wantResult(t, res, sdk.Critical, "starttls_unavailable", "server does not offer STARTTLS")
	f := fields(t, res)
	wantField(t, f, "starttls_offered", false)
	wantNoField(t, f, "tls_version", "starttls_seconds")
}

func TestStartTLSRejected(t *testing.T) {
	addr := serve(t, func(s *session) {
		s.greet()
		s.ehlo("STARTTLS")
		s.expect("STARTTLS")
		s.send("454 4.7.0 TLS not available due to local problem")
		s.expect("QUIT")
	})
	res := check(t, map[string]any{"address": addr}, 5*time.Second)
	wantResult(t, res, sdk.Critical, "starttls_rejected", "STARTTLS rejected: 454 4.7.0 TLS not available due to local problem")
	f := fields(t, res)
	wantField(t, f, "reply_code", int64(454))
	wantField(t, f, "starttls_offered", true)
}

// Plaintext sent right after the 220 to STARTTLS would be read as if it
// came over TLS.
func TestStartTLSInjection(t *testing.T) {
	addr := serve(t, func(s *session) {
		s.greet()
		s.ehlo("STARTTLS")
		s.expect("STARTTLS")
		s.send("220 2.0.0 Ready to start TLS\r\n250 injected") // one write
		s.read()
	})
	res := check(t, map[string]any{"address": addr}, 5*time.Second)
	wantResult(t, res, sdk.Critical, "protocol_error", "server sent data after its STARTTLS reply")
}

func TestExtensionMissing(t *testing.T) {
	addr := serve(t, func(s *session) {
		s.greet()
		s.ehlo("pipelining", "SIZE 1000")
		s.quit()
	})
	res := check(t, plain(addr, "expect_extensions", []string{"PIPELINING", "size", "DSN", "SMTPUTF8"}), 5*time.Second)
	wantResult(t, res, sdk.Warning, "extension_missing", "server does not offer DSN, SMTPUTF8")
	wantField(t, fields(t, res), "extensions", "PIPELINING SIZE")
}

func TestAuthPlain(t *testing.T) {
	addr := serve(t, func(s *session) {
		s.greet()
		s.ehlo("AUTH LOGIN PLAIN")
		s.expect("AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00probe\x00s3cret")))
		s.send("235 2.7.0 Authentication successful")
		s.quit()
	})
	res := check(t, plain(addr, "username", "probe", "password", "s3cret", "allow_plaintext_auth", true), 5*time.Second)
	wantResult(t, res, sdk.OK, "ok", "AUTH PLAIN accepted")
	f := fields(t, res)
	wantField(t, f, "auth_offered", true)
	if _, ok := f["auth_seconds"].(float64); !ok {
		t.Errorf("auth_seconds = %v, want a float", f["auth_seconds"])
	}
}

// The LOGIN exchange: two 334 prompts answered with base64 username and
// password. Auto mode picks LOGIN when PLAIN is not offered.
func TestAuthLogin(t *testing.T) {
	addr := serve(t, func(s *session) {
		s.greet()
		s.ehlo("AUTH=LOGIN")
		s.expect("AUTH LOGIN")
		s.send("334 VXNlcm5hbWU6")
		s.expect("cHJvYmVAbWFpbC50ZXN0") // probe@mail.test
		s.send("334 UGFzc3dvcmQ6")
		s.expect("czNjcmV0") // s3cret
		s.send("235 2.7.0 Authentication successful")
		s.quit()
	})
	res := check(t, plain(addr, "username", "probe@mail.test", "password", "s3cret", "allow_plaintext_auth", true), 5*time.Second)
	wantResult(t, res, sdk.OK, "ok", "AUTH LOGIN accepted")
	wantField(t, fields(t, res), "auth_offered", true)
}

func TestAuthFailed(t *testing.T) {
	addr := serve(t, func(s *session) {
		s.greet()
		s.ehlo("AUTH PLAIN LOGIN")
		s.expect("AUTH LOGIN")
		s.send("334 VXNlcm5hbWU6")
		s.read()
		s.send("334 UGFzc3dvcmQ6")
		s.read()
		s.send("535 5.7.8 Error: authentication failed: authentication failure")
		s.expect("QUIT")
	})
	res := check(t, plain(addr, "username", "u", "password", "wrong", "auth_mechanism", "LOGIN", "allow_plaintext_auth", true), 5*time.Second)
	wantResult(t, res, sdk.Critical, "auth_failed", "AUTH LOGIN failed: 535 5.7.8 Error: authentication failed")
	if strings.Contains(res.Message, "wrong") {
		t.Errorf("message leaks the password: %s", res.Message)
	}
	f := fields(t, res)
	wantField(t, f, "reply_code", int64(535))
	if _, ok := f["auth_seconds"]; !ok {
		t.Error("auth_seconds missing after a completed AUTH exchange")
	}
}

func TestAuthUnavailable(t *testing.T) {
	for _, tc := range []struct {
		name, ext, mech, want string
	}{
		{"no auth", "PIPELINING", "", "server does not offer AUTH"},
		{"other mechanisms", "AUTH CRAM-MD5 XOAUTH2", "", "server offers AUTH CRAM-MD5 XOAUTH2, not PLAIN or LOGIN"},
		{"configured mechanism", "AUTH LOGIN", "PLAIN", "server offers AUTH LOGIN, not PLAIN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := serve(t, func(s *session) {
				s.greet()
				s.ehlo(tc.ext)
				s.expect("QUIT")
			})
			res := check(t, plain(addr, "username", "u", "password", "p", "auth_mechanism", tc.mech, "allow_plaintext_auth", true), 5*time.Second)
			wantResult(t, res, sdk.Critical, "auth_unavailable", tc.want)
		})
	}
}

// Without STARTTLS (and not required), credentials are not sent in clear.
func TestAuthSkippedWithoutTLS(t *testing.T) {
	addr, s := serveSession(t, func(s *session) {
		s.greet()
		s.ehlo("AUTH PLAIN")
		s.quit()
	})
	res := check(t, map[string]any{"address": addr, "starttls_required": false, "username": "u", "password": "p"}, 5*time.Second)
	wantResult(t, res, sdk.Warning, "auth_skipped", "AUTH not tried")
	for _, line := range s.lines() {
		if strings.HasPrefix(line, "AUTH") {
			t.Errorf("client sent %q in clear", line)
		}
	}
}

// A server that never greets: the run's deadline ends it.
func TestNoGreetingTimeout(t *testing.T) {
	addr := serve(t, func(s *session) {
		s.read() // until the client gives up
	})
	began := time.Now()
	res := check(t, plain(addr), 300*time.Millisecond)
	if took := time.Since(began); took > 2*time.Second {
		t.Errorf("run took %v, want it bounded by the 300ms deadline", took)
	}
	wantResult(t, res, sdk.Critical, "timeout", "timed out during the greeting")
	f := fields(t, res)
	wantNoField(t, f, "banner_seconds", "reply_code")
	if _, ok := f["connect_seconds"]; !ok {
		t.Error("connect_seconds missing")
	}
}

func TestClosedBeforeGreeting(t *testing.T) {
	addr := serve(t, func(s *session) {})
	res := check(t, plain(addr), 5*time.Second)
	wantResult(t, res, sdk.Critical, "connection_closed", "server closed the connection during the greeting")
}

func TestClosedWithout221(t *testing.T) {
	addr := serve(t, func(s *session) {
		s.greet()
		s.ehlo()
		s.expect("QUIT") // and hang up without a reply
	})
	res := check(t, plain(addr), 5*time.Second)
	wantResult(t, res, sdk.OK, "ok", "note: server closed the connection without answering QUIT")
	wantField(t, fields(t, res), "reply_code", int64(250))
}

func TestQuitRejected(t *testing.T) {
	addr := serve(t, func(s *session) {
		s.greet()
		s.ehlo()
		s.expect("QUIT")
		s.send("500 5.5.1 what")
	})
	res := check(t, plain(addr), 5*time.Second)
	wantResult(t, res, sdk.Critical, "quit_rejected", "QUIT rejected: 500 5.5.1 what")
}

func TestMalformedReply(t *testing.T) {
	for _, tc := range []struct{ name, line, want string }{
		{"not smtp", "HTTP/1.1 400 Bad Request", `the greeting: protocol error: malformed reply line "HTTP/1.1 400 Bad Request"`},
		{"bad code", "999 hello", `the greeting: protocol error: malformed reply code in "999 hello"`},
		{"code changes", "220-a\r\n250 b", "the greeting: protocol error: reply code changed from 220 to 250 inside a multi-line reply"},
		{"unexpected code", "250 hello", "unexpected reply to greeting: 250 hello (want 220)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := serve(t, func(s *session) {
				s.send(tc.line)
				s.read()
			})
			res := check(t, plain(addr), 5*time.Second)
			wantResult(t, res, sdk.Critical, "protocol_error", tc.want)
		})
	}
}

func TestSlowResponse(t *testing.T) {
	for _, tc := range []struct {
		name   string
		extra  []any
		status sdk.Status
		want   string
	}{
		{"warning", []any{"response_time_warning", "100ms", "response_time_critical", "10s"}, sdk.Warning, "(warning at 100ms)"},
		{"critical", []any{"response_time_warning", "50ms", "response_time_critical", "100ms"}, sdk.Critical, "(critical at 100ms)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := serve(t, func(s *session) {
				time.Sleep(150 * time.Millisecond)
				s.greet()
				s.ehlo()
				s.quit()
			})
			res := check(t, plain(addr, tc.extra...), 5*time.Second)
			wantResult(t, res, tc.status, "slow_response", "transaction took", tc.want)
		})
	}
}

func TestFastEnough(t *testing.T) {
	addr := serve(t, func(s *session) {
		s.greet()
		s.ehlo()
		s.quit()
	})
	res := check(t, plain(addr, "response_time_warning", "5s"), 5*time.Second)
	wantResult(t, res, sdk.OK, "ok")
}

func TestConnectFailed(t *testing.T) {
	addr := testenv.FreePort(t)
	res := check(t, plain(addr), 5*time.Second)
	wantResult(t, res, sdk.Critical, "connect_failed", "cannot connect to "+addr+": connection refused")
	f := fields(t, res)
	wantNoField(t, f, "connect_seconds", "reply_code")
	if _, ok := f["total_seconds"]; !ok {
		t.Error("total_seconds missing")
	}
}

// ip_version restricts the resolved addresses: "localhost" reaches the
// IPv4-only listener with "4" and must not with "6".
func TestIPVersion(t *testing.T) {
	addr := serve(t, func(s *session) {
		s.greet()
		s.ehlo()
		s.quit()
	})
	_, port, _ := net.SplitHostPort(addr)
	res := check(t, plain("localhost:"+port, "ip_version", "6"), 5*time.Second)
	wantResult(t, res, sdk.Critical, "connect_failed", "cannot connect to localhost:"+port)
	res = check(t, plain("localhost:"+port, "ip_version", "4"), 5*time.Second)
	wantResult(t, res, sdk.OK, "ok")
}

func TestRunBeforeConfigure(t *testing.T) {
	if _, err := (&Banner{}).Run(t.Context()); err == nil {
		t.Error("Run before Configure returned no error")
	}
}

func TestRunCanceled(t *testing.T) {
	addr := serve(t, func(s *session) { s.read() })
	b := &Banner{}
	if err := b.Configure([]byte(`{"address":"` + addr + `","tls":"none"}`)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	time.AfterFunc(100*time.Millisecond, cancel)
	res, err := b.Run(ctx)
	if err == nil {
		t.Errorf("canceled run returned %+v, want an error", res)
	}
}

func TestParseEHLO(t *testing.T) {
	for _, tc := range []struct {
		name     string
		lines    []string
		keywords string
		mechs    string
	}{
		{"plain", []string{"mx hello", "PIPELINING", "size 1000", "AUTH PLAIN LOGIN"}, "AUTH PIPELINING SIZE", "PLAIN LOGIN"},
		{"old AUTH= only", []string{"mx", "AUTH=LOGIN PLAIN"}, "AUTH", "LOGIN PLAIN"},
		{"both forms", []string{"mx", "AUTH=LOGIN", "auth plain cram-md5"}, "AUTH", "PLAIN CRAM-MD5"},
		{"no extensions", []string{"mx"}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ext := parseEHLO(&reply{Code: 250, Lines: tc.lines})
			wantEq(t, "keywords", strings.Join(ext.Keywords(), " "), tc.keywords)
			wantEq(t, "mechanisms", strings.Join(ext.AuthMechanisms(), " "), tc.mechs)
		})
	}
}

func TestReplyLimits(t *testing.T) {
	for _, tc := range []struct {
		name, reason, want string
		script             func(s *session)
	}{
		{"line too long", "protocol_error", "the greeting: protocol error: reply line longer than 4096 bytes",
			func(s *session) { s.send("220 " + strings.Repeat("x", 5000)); s.read() }},
		{"closed inside a multi-line reply", "connection_closed", "server closed the connection during the greeting",
			func(s *session) { s.send("220-first line") }},
		{"closed mid-line", "connection_closed", "server closed the connection during the greeting",
			func(s *session) { _, _ = s.c.Write([]byte("220 no line end")) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := check(t, plain(serve(t, tc.script)), 5*time.Second)
			wantResult(t, res, sdk.Critical, tc.reason, tc.want)
		})
	}
}

// A server that hangs up after refusing EHLO: the EHLO reply is reported.
func TestEHLORejectedThenClosed(t *testing.T) {
	addr := serve(t, func(s *session) {
		s.greet()
		s.expect("EHLO mailmon.invalid")
		s.send("554 5.7.1 no")
	})
	res := check(t, plain(addr), 5*time.Second)
	wantResult(t, res, sdk.Critical, "ehlo_rejected", "EHLO rejected: 554 5.7.1 no, and the server closed the connection")
	wantField(t, fields(t, res), "reply_code", int64(554))
}

func TestQuitOtherReply(t *testing.T) {
	addr := serve(t, func(s *session) {
		s.greet()
		s.ehlo()
		s.expect("QUIT")
		s.send("250 2.0.0 ok")
	})
	res := check(t, plain(addr), 5*time.Second)
	wantResult(t, res, sdk.OK, "ok", "note: QUIT answered 250 2.0.0 ok instead of 221")
	wantField(t, fields(t, res), "reply_code", int64(250))
}
