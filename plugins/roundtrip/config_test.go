package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailmon/mailmon/sdk"
)

// base is a valid config; each case changes one thing.
const base = `"send":{"address":"mx","mail_from":"a@example.com","rcpt_to":"b@example.com"},"receive":{"address":"imap","username":"u","password":"p"}`

func TestConfigErrors(t *testing.T) {
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	send := func(extra string) string {
		return `{"send":{"address":"mx","mail_from":"a@example.com","rcpt_to":"b@example.com"` + extra + `},"receive":{"address":"imap","username":"u","password":"p"}}`
	}
	recv := func(extra string) string {
		return `{"send":{"address":"mx","mail_from":"a@example.com","rcpt_to":"b@example.com"},"receive":{"address":"imap","username":"u","password":"p"` + extra + `}}`
	}
	for _, tc := range []struct {
		name, raw, key, want string
	}{
		{"empty", ``, "send.address", "option send.address: required"},
		{"unknown option", `{` + base + `,"port":25}`, "port", "option port: unknown option"},
		{"unknown nested option", send(`,"from":"x"`), "send.from", "option send.from: unknown option"},
		{"send tls", send(`,"tls":"ssl"`), "send.tls", "option send.tls: must be one of none, starttls, implicit"},
		{"send bad port", `{"send":{"address":"mx:smtp"}}`, "send.address", `option send.address: invalid address "mx:smtp": port must be a number from 1 to 65535`},
		{"send url", `{"send":{"address":"smtp://mx"}}`, "send.address", `option send.address: invalid address "smtp://mx": want host:port`},
		{"helo", send(`,"helo_name":"bad name"`), "send.helo_name", `option send.helo_name: invalid name "bad name": want a domain name or an address literal like [192.0.2.1]`},
		{"mail_from missing", `{"send":{"address":"mx","rcpt_to":"b@example.com"}}`, "send.mail_from", "option send.mail_from: required"},
		{"rcpt_to missing", `{"send":{"address":"mx","mail_from":"a@example.com"}}`, "send.rcpt_to", "option send.rcpt_to: required"},
		{"mail_from with name", `{"send":{"address":"mx","mail_from":"A <a@example.com>","rcpt_to":"b@example.com"}}`, "send.mail_from", `option send.mail_from: invalid address "A <a@example.com>": want a bare address like monitor@example.com`},
		{"rcpt_to crlf", `{"send":{"address":"mx","mail_from":"a@example.com","rcpt_to":"b@example.com\r\nRSET"}}`, "send.rcpt_to", "option send.rcpt_to: invalid address \"b@example.com\\r\\nRSET\": want a bare address like monitor@example.com"},
		{"send password alone", send(`,"password":"x"`), "send.username", "option send.username: required when password is set"},
		{"send username alone", send(`,"username":"x"`), "send.password", "option send.password: required when username is set"},
		{"send auth in clear", send(`,"tls":"none","username":"u","password":"p"`), "send.username", `option send.username: authentication over tls = "none" sends the credentials in clear: set allow_plaintext_auth = true to allow it`},
		{"send mechanism", send(`,"username":"u","password":"p","auth_mechanism":"CRAM-MD5"`), "send.auth_mechanism", `option send.auth_mechanism: must be one of "", PLAIN, LOGIN, XOAUTH2, OAUTHBEARER (got "CRAM-MD5")`},
		{"send mechanism alone", send(`,"auth_mechanism":"PLAIN"`), "send.auth_mechanism", "option send.auth_mechanism: needs username and password"},
		{"xoauth2 without token", send(`,"username":"u","password":"p","auth_mechanism":"xoauth2"`), "send.auth_mechanism", "option send.auth_mechanism: XOAUTH2 needs oauth_token_file or oauth_token_command"},
		{"plain with token", send(`,"username":"u","auth_mechanism":"PLAIN","oauth_token_file":"/t"`), "send.auth_mechanism", "option send.auth_mechanism: PLAIN uses password, not an OAuth2 token"},
		{"two token sources", send(`,"username":"u","oauth_token_file":"/t","oauth_token_command":"x"`), "send.oauth_token_command", "option send.oauth_token_command: set oauth_token_file or oauth_token_command, not both"},
		{"token and password", send(`,"username":"u","password":"p","oauth_token_file":"/t"`), "send.password", "option send.password: set password or an OAuth2 token, not both"},
		{"token without user", send(`,"oauth_token_file":"/t"`), "send.username", "option send.username: required with an OAuth2 token"},
		{"server_name without tls", send(`,"tls":"none","server_name":"mx"`), "send.server_name", `option send.server_name: needs tls = "starttls" or "implicit"`},
		{"ca file missing", send(`,"tls_ca_file":"/nonexistent/ca.pem"`), "send.tls_ca_file", "option send.tls_ca_file: open /nonexistent/ca.pem: no such file or directory"},
		{"ca file not pem", send(`,"tls_ca_file":"` + notPEM + `"`), "send.tls_ca_file", "option send.tls_ca_file: no PEM certificates in " + notPEM},
		{"receive missing", `{"send":{"address":"mx","mail_from":"a@example.com","rcpt_to":"b@example.com"}}`, "receive.address", "option receive.address: required"},
		{"receive protocol", recv(`,"protocol":"jmap"`), "receive.protocol", `option receive.protocol: must be "imap" or "pop3" (got "jmap")`},
		{"receive no username", `{"send":{"address":"mx","mail_from":"a@example.com","rcpt_to":"b@example.com"},"receive":{"address":"imap"}}`, "receive.username", "option receive.username: required"},
		{"receive auth in clear", recv(`,"tls":"none"`), "receive.username", `option receive.username: authentication over tls = "none" sends the credentials in clear: set allow_plaintext_auth = true to allow it`},
		{"receive nul", recv(`,"password":"a\u0000b"`), "receive.password", "option receive.password: must not contain NUL, CR or LF"},
		{"pop3 mailbox", recv(`,"protocol":"pop3","mailbox":"Archive"`), "receive.mailbox", `option receive.mailbox: needs protocol = "imap" (POP3 has only the inbox)`},
		{"pop3 junk", recv(`,"protocol":"pop3","junk_mailboxes":["Junk"]`), "receive.junk_mailboxes", `option receive.junk_mailboxes: needs protocol = "imap"`},
		{"pop3 idle", recv(`,"protocol":"pop3","detection":"idle"`), "receive.detection", `option receive.detection: "idle" needs protocol = "imap"`},
		{"pop3 cleanup mailbox", recv(`,"protocol":"pop3","cleanup_mailbox":"Trash"`), "receive.cleanup_mailbox", `option receive.cleanup_mailbox: needs protocol = "imap"`},
		{"junk is mailbox", recv(`,"junk_mailboxes":["INBOX"]`), "receive.junk_mailboxes[0]", `option receive.junk_mailboxes[0]: must be a mailbox other than "INBOX"`},
		{"cleanup is mailbox", recv(`,"cleanup_mailbox":"INBOX"`), "receive.cleanup_mailbox", "option receive.cleanup_mailbox: must differ from mailbox"},
		{"detection", recv(`,"detection":"push"`), "receive.detection", `option receive.detection: must be one of auto, idle, poll (got "push")`},
		{"poll_interval", recv(`,"poll_interval":"1ms"`), "receive.poll_interval", "option receive.poll_interval: must be at least 10ms"},
		{"poll_interval type", recv(`,"poll_interval":"soon"`), "receive.poll_interval", `option receive.poll_interval: invalid duration "soon" (want a number with a unit, e.g. "30s")`},
		{"instance_id", `{` + base + `,"instance_id":"a.b"}`, "instance_id", `option instance_id: must be 1 to 64 letters, digits, '-' or '_' (got "a.b")`},
		{"subject", `{` + base + `,"subject":"a\nb"}`, "subject", "option subject: must be one line of at most 200 characters"},
		{"thresholds", `{` + base + `,"delivery_warning":"10s","delivery_critical":"5s"}`, "delivery_critical", "option delivery_critical: must not be less than delivery_warning (10s)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := (&Roundtrip{}).Configure([]byte(tc.raw))
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
	s, err := parseConfig([]byte(`{` + base + `}`))
	if err != nil {
		t.Fatal(err)
	}
	if s.send.address != "mx:25" || s.send.tls != tlsStartTLS || s.recv.address != "imap:143" || s.recv.tls != tlsStartTLS {
		t.Errorf("endpoints = %+v / %+v", s.send, s.recv)
	}
	r := s.Receive
	if r.Protocol != protoIMAP || r.Mailbox != "INBOX" || r.Detection != detectAuto ||
		r.PollInterval.D() != time.Second || r.FastPollWindow.D() != 3*time.Second || r.SweepAge.D() != 24*time.Hour {
		t.Errorf("receive defaults = %+v", r)
	}
	if !instanceIDRE.MatchString(s.instance) || !strings.HasPrefix(s.instance, "rt") {
		t.Errorf("instance id %q", s.instance)
	}
	// The id is stable for one config and differs with the mailbox.
	s2, _ := parseConfig([]byte(`{` + base + `}`))
	other, _ := parseConfig([]byte(`{"send":{"address":"mx","mail_from":"a@example.com","rcpt_to":"b@example.com"},"receive":{"address":"imap","username":"u2","password":"p"}}`))
	if s2.instance != s.instance || other.instance == s.instance {
		t.Errorf("instance ids %q %q %q", s.instance, s2.instance, other.instance)
	}
	for _, tc := range []struct{ raw, send, recv string }{
		{`{"send":{"address":"mx","tls":"implicit","mail_from":"a@example.com","rcpt_to":"b@example.com"},"receive":{"address":"imap","tls":"implicit","username":"u","password":"p"}}`, "mx:465", "imap:993"},
		{`{"send":{"address":"mx","mail_from":"a@example.com","rcpt_to":"b@example.com"},"receive":{"protocol":"pop3","address":"pop","username":"u","password":"p"}}`, "mx:25", "pop:110"},
		{`{"send":{"address":"mx","mail_from":"a@example.com","rcpt_to":"b@example.com"},"receive":{"protocol":"pop3","tls":"implicit","address":"pop","username":"u","password":"p"}}`, "mx:25", "pop:995"},
	} {
		s, err := parseConfig([]byte(tc.raw))
		if err != nil {
			t.Fatal(err)
		}
		if s.send.address != tc.send || s.recv.address != tc.recv {
			t.Errorf("%s: addresses %s %s, want %s %s", tc.raw, s.send.address, s.recv.address, tc.send, tc.recv)
		}
	}
	s, err = parseConfig([]byte(`{"send":{"address":"mx","mail_from":"a@example.com","rcpt_to":"b@example.com","username":"u","oauth_token_file":"/t"},"receive":{"address":"imap","username":"u","oauth_token_command":"x"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if s.send.auth.Mechanism != mechXOAuth2 || s.recv.auth.Mechanism != mechXOAuth2 {
		t.Errorf("a token implies XOAUTH2, got %q %q", s.send.auth.Mechanism, s.recv.auth.Mechanism)
	}
}

// The sample config is valid (the agent checks it the same way).
func TestSampleConfig(t *testing.T) {
	raw := map[string]any{}
	for line := range strings.Lines(sampleConfig) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, " = ")
		if !ok {
			t.Fatalf("sample line %q is not key = value", line)
		}
		var val any
		if err := json.Unmarshal([]byte(v), &val); err != nil {
			t.Fatalf("sample line %q: %v", line, err)
		}
		m := raw
		parts := strings.Split(k, ".")
		for _, p := range parts[:len(parts)-1] {
			if m[p] == nil {
				m[p] = map[string]any{}
			}
			m = m[p].(map[string]any)
		}
		m[parts[len(parts)-1]] = val
	}
	b, _ := json.Marshal(raw)
	if err := (&Roundtrip{}).Configure(b); err != nil {
		t.Errorf("sample config %s: %v", b, err)
	}
}
