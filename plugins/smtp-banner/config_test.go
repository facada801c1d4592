package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailmon/mailmon/sdk"
)

func TestConfigErrors(t *testing.T) {
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, raw, key, want string
	}{
		{"empty", ``, "address", "option address: required"},
		{"address missing", `{"tls":"none"}`, "address", "option address: required"},
		{"unknown option", `{"address":"mx","port":25}`, "port", "option port: unknown option"},
		{"bad port", `{"address":"mx:smtp"}`, "address", `option address: invalid address "mx:smtp": port must be a number from 1 to 65535`},
		{"port zero", `{"address":"mx:0"}`, "address", `option address: invalid address "mx:0": port must be a number from 1 to 65535`},
		{"no host", `{"address":":25"}`, "address", `option address: invalid address ":25": missing host`},
		{"url", `{"address":"smtp://mx"}`, "address", `option address: invalid address "smtp://mx": want host:port`},
		{"address type", `{"address":25}`, "address", "option address: expected a string, got number"},
		{"tls", `{"address":"mx","tls":"ssl"}`, "tls", "option tls: must be one of none, starttls, implicit"},
		{"ip_version", `{"address":"mx","ip_version":"5"}`, "ip_version", `option ip_version: must be "", "4" or "6" (got "5")`},
		{"ip_version 6 on v4", `{"address":"127.0.0.1","ip_version":"6"}`, "ip_version", "option ip_version: 6 does not match the IPv4 address 127.0.0.1"},
		{"ip_version 4 on v6", `{"address":"[::1]:25","ip_version":"4"}`, "ip_version", "option ip_version: 4 does not match the IPv6 address ::1"},
		{"helo_name", `{"address":"mx","helo_name":"bad name"}`, "helo_name", `option helo_name: invalid name "bad name": want a domain name or an address literal like [192.0.2.1]`},
		{"helo_name crlf", `{"address":"mx","helo_name":"a\r\nRSET"}`, "helo_name", `option helo_name: invalid name "a\r\nRSET": want a domain name or an address literal like [192.0.2.1]`},
		{"starttls_required without starttls", `{"address":"mx","tls":"implicit","starttls_required":true}`, "starttls_required", `option starttls_required: needs tls = "starttls"`},
		{"server_name without tls", `{"address":"mx","tls":"none","server_name":"mx"}`, "server_name", `option server_name: needs tls = "starttls" or "implicit"`},
		{"ca file without tls", `{"address":"mx","tls":"none","tls_ca_file":"/x"}`, "tls_ca_file", `option tls_ca_file: needs tls = "starttls" or "implicit"`},
		{"insecure without tls", `{"address":"mx","tls":"none","tls_insecure_skip_verify":true}`, "tls_insecure_skip_verify", `option tls_insecure_skip_verify: needs tls = "starttls" or "implicit"`},
		{"ca file missing", `{"address":"mx","tls_ca_file":"/nonexistent/ca.pem"}`, "tls_ca_file", "option tls_ca_file: open /nonexistent/ca.pem: no such file or directory"},
		{"ca file not pem", `{"address":"mx","tls_ca_file":"` + notPEM + `"}`, "tls_ca_file", "option tls_ca_file: no PEM certificates in " + notPEM},
		{"banner_regexp", `{"address":"mx","banner_regexp":"("}`, "banner_regexp", "option banner_regexp: invalid regexp: error parsing regexp: missing closing ): `(`"},
		{"expect_extensions type", `{"address":"mx","expect_extensions":"SIZE"}`, "expect_extensions", "option expect_extensions: expected a list, got string"},
		{"expect_extensions keyword", `{"address":"mx","expect_extensions":["SIZE 10"]}`, "expect_extensions", `option expect_extensions: invalid EHLO keyword "SIZE 10"`},
		{"password without username", `{"address":"mx","password":"x"}`, "username", "option username: required when password is set"},
		{"username without password", `{"address":"mx","username":"u"}`, "password", "option password: required when username is set"},
		{"auth_mechanism", `{"address":"mx","username":"u","password":"p","auth_mechanism":"CRAM-MD5"}`, "auth_mechanism", `option auth_mechanism: must be one of "", PLAIN, LOGIN (got "CRAM-MD5")`},
		{"auth_mechanism alone", `{"address":"mx","auth_mechanism":"PLAIN"}`, "auth_mechanism", "option auth_mechanism: needs username and password"},
		{"allow_plaintext_auth alone", `{"address":"mx","allow_plaintext_auth":true}`, "allow_plaintext_auth", "option allow_plaintext_auth: needs username and password"},
		{"auth in clear", `{"address":"mx","tls":"none","username":"u","password":"p"}`, "username", `option username: AUTH over tls = "none" sends the password in clear: set allow_plaintext_auth = true to allow it`},
		{"nul in password", `{"address":"mx","username":"u","password":"a\u0000b"}`, "password", "option password: must not contain NUL"},
		{"duration", `{"address":"mx","response_time_warning":"fast"}`, "response_time_warning", `option response_time_warning: invalid duration "fast" (want a number with a unit, e.g. "30s")`},
		{"critical below warning", `{"address":"mx","response_time_warning":"2s","response_time_critical":"1s"}`, "response_time_critical", "option response_time_critical: must not be less than response_time_warning (2s)"},
		{"cert days negative", `{"address":"mx","cert_expiry_warning":-1}`, "cert_expiry_warning", "option cert_expiry_warning: must not be negative"},
		{"cert critical negative", `{"address":"mx","cert_expiry_critical":-1}`, "cert_expiry_critical", "option cert_expiry_critical: must not be negative"},
		{"cert days order", `{"address":"mx","cert_expiry_warning":10,"cert_expiry_critical":20}`, "cert_expiry_critical", "option cert_expiry_critical: must not be greater than cert_expiry_warning (10)"},
		{"cert days type", `{"address":"mx","cert_expiry_warning":"21"}`, "cert_expiry_warning", "option cert_expiry_warning: expected a number, got string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := (&Banner{}).Configure([]byte(tc.raw))
			if err == nil {
				t.Fatalf("Configure(%s) accepted it, want %q", tc.raw, tc.want)
			}
			if err.Error() != tc.want {
				t.Errorf("Configure(%s)\n got: %s\nwant: %s", tc.raw, err, tc.want)
			}
			var cerr *sdk.ConfigError
			if !errors.As(err, &cerr) || cerr.Key != tc.key {
				t.Errorf("error %#v is not a ConfigError for key %q", err, tc.key)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	for _, tc := range []struct {
		name, raw string
		check     func(t *testing.T, s *settings)
	}{
		{"minimal", `{"address":"mx.example.com"}`, func(t *testing.T, s *settings) {
			wantEq(t, "address", s.address, "mx.example.com:25")
			wantEq(t, "tls", s.TLS, "starttls")
			wantEq(t, "starttls_required", s.starttlsRequired, true)
			wantEq(t, "network", s.network, "tcp")
			wantEq(t, "helo_name", s.HeloName, "mailmon.invalid")
			wantEq(t, "server_name", s.ServerName, "mx.example.com")
			wantEq(t, "cert_expiry_warning", s.certWarnDays, 21)
			wantEq(t, "cert_expiry_critical", s.certCritDays, 7)
			wantEq(t, "roots", s.roots == nil, true)
			wantEq(t, "response_time_warning", s.ResponseTimeWarning.D(), time.Duration(0))
		}},
		{"implicit port", `{"address":"mx.example.com","tls":"implicit"}`, func(t *testing.T, s *settings) {
			wantEq(t, "address", s.address, "mx.example.com:465")
			wantEq(t, "starttls_required", s.starttlsRequired, false)
		}},
		{"explicit port kept", `{"address":"mx.example.com:587"}`, func(t *testing.T, s *settings) {
			wantEq(t, "address", s.address, "mx.example.com:587")
		}},
		{"bare ipv6", `{"address":"2001:db8::25","ip_version":"6"}`, func(t *testing.T, s *settings) {
			wantEq(t, "address", s.address, "[2001:db8::25]:25")
			wantEq(t, "server_name", s.ServerName, "2001:db8::25")
			wantEq(t, "network", s.network, "tcp6")
		}},
		{"bracketed ipv6", `{"address":"[2001:db8::25]","tls":"implicit"}`, func(t *testing.T, s *settings) {
			wantEq(t, "address", s.address, "[2001:db8::25]:465")
		}},
		{"starttls optional", `{"address":"mx","starttls_required":false}`, func(t *testing.T, s *settings) {
			wantEq(t, "starttls_required", s.starttlsRequired, false)
		}},
		{"ip_version 4", `{"address":"localhost","ip_version":"4"}`, func(t *testing.T, s *settings) {
			wantEq(t, "network", s.network, "tcp4")
		}},
		{"extensions upper-cased", `{"address":"mx","expect_extensions":["pipelining","8bitmime"]}`, func(t *testing.T, s *settings) {
			wantEq(t, "expect", strings.Join(s.expect, " "), "PIPELINING 8BITMIME")
		}},
		{"auth mechanism upper-cased", `{"address":"mx","username":"u","password":"p","auth_mechanism":"login"}`, func(t *testing.T, s *settings) {
			wantEq(t, "auth_mechanism", s.AuthMechanism, "LOGIN")
		}},
		{"warning below default critical", `{"address":"mx","cert_expiry_warning":5}`, func(t *testing.T, s *settings) {
			wantEq(t, "cert_expiry_warning", s.certWarnDays, 5)
			wantEq(t, "cert_expiry_critical", s.certCritDays, 5)
		}},
		{"critical above default warning", `{"address":"mx","cert_expiry_critical":30}`, func(t *testing.T, s *settings) {
			wantEq(t, "cert_expiry_warning", s.certWarnDays, 30)
			wantEq(t, "cert_expiry_critical", s.certCritDays, 30)
		}},
		{"durations", `{"address":"mx","response_time_warning":"1.5s","response_time_critical":3}`, func(t *testing.T, s *settings) {
			wantEq(t, "response_time_warning", s.ResponseTimeWarning.D(), 1500*time.Millisecond)
			wantEq(t, "response_time_critical", s.ResponseTimeCritical.D(), 3*time.Second)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := parseConfig([]byte(tc.raw))
			if err != nil {
				t.Fatalf("parseConfig(%s): %v", tc.raw, err)
			}
			tc.check(t, s)
		})
	}
}

func wantEq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// sampleLine is a `key = value` line of sample.toml, commented out or not.
var sampleLine = regexp.MustCompile(`^#? ?([a-z_]+) = (.+)$`)

// TestSampleConfig checks that sample.toml names every option, only real
// options, and that its values (all valid JSON too) are accepted.
func TestSampleConfig(t *testing.T) {
	info := (&Banner{}).Info()
	if info.Name != "smtp-banner" || info.Version == "" || info.Description == "" {
		t.Errorf("info = %+v", info)
	}
	if info.SampleConfig != sampleConfig || !strings.Contains(sampleConfig, "address = ") {
		t.Fatalf("sample config not embedded: %q", info.SampleConfig)
	}
	obj := map[string]json.RawMessage{}
	for line := range strings.Lines(sampleConfig) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "##") {
			continue
		}
		m := sampleLine.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("sample line %q is neither a ## comment nor a key = value line", line)
			continue
		}
		if !json.Valid([]byte(m[2])) {
			t.Errorf("sample value of %s is not plain JSON-compatible TOML: %s", m[1], m[2])
		}
		obj[m[1]] = json.RawMessage(m[2])
	}
	var keys []string
	for f := range reflect.TypeFor[Config]().Fields() {
		keys = append(keys, strings.Split(f.Tag.Get("json"), ",")[0])
	}
	for _, k := range keys {
		if _, ok := obj[k]; !ok {
			t.Errorf("sample.toml does not show option %s", k)
		}
	}
	for k := range obj {
		if !slices.Contains(keys, k) {
			t.Errorf("sample.toml shows unknown option %s", k)
		}
	}
	// Credentials and allow_plaintext_auth go together; the sample leaves
	// them empty, which is valid.
	raw, _ := json.Marshal(obj)
	if err := (&Banner{}).Configure(raw); err != nil {
		t.Errorf("sample config with every default uncommented is rejected: %v", err)
	}
}
