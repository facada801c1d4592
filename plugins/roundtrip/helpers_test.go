package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/smtp"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/mailmon/mailmon/scripts/testenv"
	"github.com/mailmon/mailmon/sdk"
	"github.com/mailmon/mailmon/sdk/checktest"
)

// uniqueID is a fresh instance_id, so that parallel tests sharing a
// mailbox never count each other's probes.
func uniqueID(testing.TB) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "t" + hex.EncodeToString(b[:])
}

// direct is the base config: STARTTLS to Postfix, IMAP STARTTLS to the
// roundtrip mailbox.
func direct(t testing.TB, env map[string]string) map[string]any {
	return map[string]any{
		"instance_id": uniqueID(t),
		"send": map[string]any{
			"address": env["MAILSTACK_SMTP"], "tls_ca_file": env["MAILSTACK_CA"],
			"mail_from": env["MAILSTACK_USER2"], "rcpt_to": env["MAILSTACK_RT_USER"],
		},
		"receive": map[string]any{
			"address": env["MAILSTACK_IMAP"], "tls_ca_file": env["MAILSTACK_CA"],
			"username": env["MAILSTACK_RT_USER"], "password": env["MAILSTACK_RT_PASS"],
		},
	}
}

// set sets a dotted key ("receive.password") in a config map.
func set(cfg map[string]any, key string, v any) map[string]any {
	m := cfg
	parts := strings.Split(key, ".")
	for _, p := range parts[:len(parts)-1] {
		m = m[p].(map[string]any)
	}
	m[parts[len(parts)-1]] = v
	return cfg
}

// check configures a Roundtrip with opts and runs it once with timeout.
func check(t *testing.T, opts map[string]any, timeout time.Duration) *sdk.Result {
	t.Helper()
	raw, err := json.Marshal(opts)
	if err != nil {
		t.Fatal(err)
	}
	c := &Roundtrip{}
	checktest.Configure(t, c, string(raw))
	res := checktest.Run(t, c, timeout)
	t.Logf("%s %s: %s", res.Status, res.Reason, res.Message)
	return res
}

// wantResult is checktest.Want.
var wantResult = checktest.Want

// summary returns the first metric's fields after checking its name,
// tags and field types.
func summary(t *testing.T, res *sdk.Result) (map[string]string, map[string]any) {
	t.Helper()
	if len(res.Metrics) == 0 {
		t.Fatal("no metrics")
	}
	m := res.Metrics[0]
	if m.Name != measurement {
		t.Errorf("measurement %q, want %s", m.Name, measurement)
	}
	for _, tag := range []string{"target", "receive", "detected_by"} {
		if m.Tags[tag] == "" {
			t.Errorf("tag %s missing: %v", tag, m.Tags)
		}
	}
	for name, v := range m.Fields {
		want, ok := fieldTypes[name]
		if !ok {
			t.Errorf("undocumented field %s", name)
			continue
		}
		if got := typeName(v); got != want {
			t.Errorf("field %s is %s, want %s", name, got, want)
		}
	}
	return m.Tags, m.Fields
}

// fieldTypes are the documented field types (README "Metrics").
var fieldTypes = map[string]string{
	"instance_id": "string", "delivered": "bool", "delivered_to_junk": "bool",
	"delivery_seconds": "float64", "hop_count": "int64",
	"late_count": "int64", "swept_count": "int64", "deleted_count": "int64", "polls": "int64",
	"smtp_connect_seconds": "float64", "smtp_tls_seconds": "float64", "smtp_ehlo_seconds": "float64",
	"smtp_auth_seconds": "float64", "smtp_data_seconds": "float64", "smtp_total_seconds": "float64",
	"smtp_reply_code":      "int64",
	"imap_connect_seconds": "float64", "imap_tls_seconds": "float64", "imap_auth_seconds": "float64", "imap_select_seconds": "float64",
	"pop3_connect_seconds": "float64", "pop3_tls_seconds": "float64", "pop3_auth_seconds": "float64",
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

func wantField(t *testing.T, f map[string]any, name string, want any) {
	t.Helper()
	if got, ok := f[name]; !ok {
		t.Errorf("field %s missing, want %v", name, want)
	} else if got != want {
		t.Errorf("field %s = %v (%T), want %v (%T)", name, got, got, want, want)
	}
}

// deliver submits raw (CRLF lines) in clear to the stack's SMTP port for
// rcpt.
func deliver(t *testing.T, env map[string]string, rcpt string, raw string) {
	t.Helper()
	c, err := smtp.Dial(env["MAILSTACK_SMTP"])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail(env["MAILSTACK_USER2"]); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt(rcpt); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("deliver to %s: %v", rcpt, err)
	}
	_ = c.Quit()
}

// mailbox is an IMAP session for inspecting a mailbox in tests.
func mailbox(t *testing.T, env map[string]string, user, pass string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(env["MAILSTACK_IMAP"], nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(user, pass).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	return c
}

// countProbes counts the messages whose probe header contains value.
func countProbes(t *testing.T, c *imapclient.Client, value string) int {
	t.Helper()
	// NOOP first: expunges by other sessions are only reported (and gone
	// from SEARCH results) after a command that allows them.
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	data, err := c.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: probeHeader, Value: value}}}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	return len(data.AllUIDs())
}

// waitFor polls until the mailbox holds n messages whose probe header
// contains value.
func waitFor(t *testing.T, c *imapclient.Client, value string, n int) {
	t.Helper()
	for i := 0; i < 100; i++ {
		if countProbes(t, c, value) >= n {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%d messages with %q did not arrive", n, value)
}

// snapshot describes every message in the selected mailbox: UID, flags,
// size and subject, sorted.
func snapshot(t *testing.T, c *imapclient.Client) []string {
	t.Helper()
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true, RFC822Size: true, Envelope: true}).Collect()
	if err != nil {
		if strings.Contains(err.Error(), "Invalid messageset") || strings.Contains(err.Error(), "No messages") {
			return nil
		}
		t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		flags := make([]string, len(m.Flags))
		for i, f := range m.Flags {
			flags[i] = string(f)
		}
		slices.Sort(flags)
		out = append(out, strings.Join([]string{
			"uid=" + itoa(uint32(m.UID)), "flags=" + strings.Join(flags, ","),
			"size=" + itoa(uint32(m.RFC822Size)), "subject=" + m.Envelope.Subject,
		}, " "))
	}
	slices.Sort(out)
	return out
}

func itoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }

// purgeDefer removes the messages queued for the deferred recipient.
func purgeDefer(t *testing.T) { mailstack(t, "purge-defer") }

// mailstack runs a scripts/mailstack command.
func mailstack(t *testing.T, cmd string) {
	out, err := exec.Command(filepath.Join(testenv.RepoRoot(), "scripts", "mailstack"), cmd).CombinedOutput()
	if err != nil {
		t.Errorf("mailstack %s: %v\n%s", cmd, err, out)
	}
}
