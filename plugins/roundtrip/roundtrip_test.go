package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/mailmon/mailmon/scripts/testenv"
	"github.com/mailmon/mailmon/sdk"
)

// These tests run against the real Postfix and Dovecot of scripts/mailstack
// (`scripts/mailstack up`; `make test` starts it).

func wantDelivered(t *testing.T, res *sdk.Result, by string) map[string]any {
	t.Helper()
	wantResult(t, res, sdk.OK, "ok", "delivered")
	tags, f := summary(t, res)
	if by != "" && tags["detected_by"] != by {
		t.Errorf("detected_by = %q, want %q", tags["detected_by"], by)
	}
	wantField(t, f, "delivered", true)
	if d, _ := f["delivery_seconds"].(float64); d <= 0 || d > 5 {
		t.Errorf("delivery_seconds = %v", f["delivery_seconds"])
	}
	wantField(t, f, "deleted_count", int64(1))
	return f
}

// Scenario 1, direct: SMTP STARTTLS to the server hosting the mailbox, IMAP
// STARTTLS, default detection (fast poll, then IDLE).
func TestDirect(t *testing.T) {
	t.Parallel()
	env := testenv.MailStack(t)
	cfg := direct(t, env)
	res := check(t, cfg, 15*time.Second)
	f := wantDelivered(t, res, byFastPoll)
	for _, name := range []string{"smtp_connect_seconds", "smtp_tls_seconds", "smtp_ehlo_seconds", "smtp_data_seconds",
		"imap_connect_seconds", "imap_tls_seconds", "imap_auth_seconds", "imap_select_seconds"} {
		if _, ok := f[name]; !ok {
			t.Errorf("field %s missing", name)
		}
	}
	wantField(t, f, "smtp_reply_code", int64(221))
	if d := f["delivery_seconds"].(float64); d > 1 {
		t.Errorf("delivery_seconds = %v: the fast poll should see a loopback delivery in milliseconds", d)
	}
	if n, _ := f["hop_count"].(int64); n < 1 {
		t.Errorf("hop_count = %v, want Postfix's Received header", f["hop_count"])
	}
	c := mailbox(t, env, env["MAILSTACK_RT_USER"], env["MAILSTACK_RT_PASS"])
	if n := countProbes(t, c, cfg["instance_id"].(string)+"."); n != 0 {
		t.Errorf("%d probes left in the mailbox", n)
	}
}

// Implicit TLS on both sides, with AUTH on submissions (port 465 style).
func TestImplicitTLS(t *testing.T) {
	t.Parallel()
	env := testenv.MailStack(t)
	cfg := direct(t, env)
	set(cfg, "send.address", env["MAILSTACK_SUBMISSIONS"])
	set(cfg, "send.tls", "implicit")
	set(cfg, "send.username", env["MAILSTACK_RT_USER"])
	set(cfg, "send.password", env["MAILSTACK_RT_PASS"])
	set(cfg, "send.mail_from", env["MAILSTACK_RT_USER"])
	set(cfg, "receive.address", env["MAILSTACK_IMAPS"])
	set(cfg, "receive.tls", "implicit")
	f := wantDelivered(t, check(t, cfg, 15*time.Second), "")
	for _, name := range []string{"smtp_tls_seconds", "smtp_auth_seconds", "imap_tls_seconds"} {
		if _, ok := f[name]; !ok {
			t.Errorf("field %s missing", name)
		}
	}
}

// IDLE alone: Dovecot holds the notification back about 0.5 s.
func TestIdleOnly(t *testing.T) {
	t.Parallel()
	env := testenv.MailStack(t)
	cfg := set(direct(t, env), "receive.detection", "idle")
	f := wantDelivered(t, check(t, cfg, 15*time.Second), byIdle)
	if d := f["delivery_seconds"].(float64); d < 0.3 {
		t.Logf("delivery_seconds = %v: faster than Dovecot's usual 0.5 s IDLE delay", d)
	}
}

// Polling at poll_interval, as the usual tools do.
func TestPollOnly(t *testing.T) {
	t.Parallel()
	env := testenv.MailStack(t)
	cfg := set(direct(t, env), "receive.detection", "poll")
	set(cfg, "receive.poll_interval", "300ms")
	f := wantDelivered(t, check(t, cfg, 15*time.Second), byPoll)
	if d := f["delivery_seconds"].(float64); d < 0.25 {
		t.Errorf("delivery_seconds = %v, want about one poll_interval", d)
	}
}

// POP3 as the receive protocol: STLS on 110, implicit TLS on 995.
func TestPOP3(t *testing.T) {
	t.Parallel()
	env := testenv.MailStack(t)
	for _, tc := range []struct{ name, addr, tls string }{
		{"stls", env["MAILSTACK_POP3"], "starttls"},
		{"implicit", env["MAILSTACK_POP3S"], "implicit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := direct(t, env)
			set(cfg, "receive.protocol", "pop3")
			set(cfg, "receive.address", tc.addr)
			set(cfg, "receive.tls", tc.tls)
			res := check(t, cfg, 15*time.Second)
			f := wantDelivered(t, res, byFastPoll)
			if tags, _ := summary(t, res); tags["receive"] != "pop3" {
				t.Errorf("receive tag = %q", tags["receive"])
			}
			for _, name := range []string{"pop3_connect_seconds", "pop3_tls_seconds", "pop3_auth_seconds"} {
				if _, ok := f[name]; !ok {
					t.Errorf("field %s missing", name)
				}
			}
			c := mailbox(t, env, env["MAILSTACK_RT_USER"], env["MAILSTACK_RT_PASS"])
			if n := countProbes(t, c, cfg["instance_id"].(string)+"."); n != 0 {
				t.Errorf("%d probes left in the mailbox", n)
			}
		})
	}
}

// Scenario 2, forwarded: the target address is an alias that forwards to
// the mailbox the agent reads.
func TestForwarded(t *testing.T) {
	t.Parallel()
	env := testenv.MailStack(t)
	cfg := direct(t, env)
	set(cfg, "send.rcpt_to", env["MAILSTACK_FORWARD"])
	set(cfg, "receive.username", env["MAILSTACK_FORWARD_USER"])
	set(cfg, "receive.password", env["MAILSTACK_FORWARD_PASS"])
	wantDelivered(t, check(t, cfg, 15*time.Second), "")
}

// Scenario 3, relay: submit to a relay (SMTP 1) that hands the message to
// the server responsible for the domain (SMTP 2); the Received headers give
// both hops.
func TestRelay(t *testing.T) {
	t.Parallel()
	env := testenv.MailStack(t)
	cfg := direct(t, env)
	set(cfg, "send.address", env["MAILSTACK_RELAY"])
	res := check(t, cfg, 15*time.Second)
	f := wantDelivered(t, res, "")
	if n, _ := f["hop_count"].(int64); n < 2 {
		t.Errorf("hop_count = %v, want the relay hop and the final hop", f["hop_count"])
	}
	var bys []string
	for _, m := range res.Metrics[1:] {
		if m.Name != hopMeasurement {
			t.Errorf("metric %s, want %s", m.Name, hopMeasurement)
		}
		if _, ok := m.Fields["delay_seconds"].(float64); !ok {
			t.Errorf("hop %v has no delay_seconds", m.Tags)
		}
		bys = append(bys, m.Tags["by"])
	}
	if !strings.Contains(strings.Join(bys, " "), env["MAILSTACK_RELAY_HOSTNAME"]) || !strings.Contains(strings.Join(bys, " "), env["MAILSTACK_HOSTNAME"]) {
		t.Errorf("hops by %v, want %s and %s", bys, env["MAILSTACK_RELAY_HOSTNAME"], env["MAILSTACK_HOSTNAME"])
	}
}

// Scenario 4, receive-only: the agent hands the message to the local
// submission server (AUTH, STARTTLS required) and watches only the remote
// mailbox.
func TestReceiveOnly(t *testing.T) {
	t.Parallel()
	env := testenv.MailStack(t)
	cfg := direct(t, env)
	set(cfg, "send.address", env["MAILSTACK_SUBMISSION"])
	set(cfg, "send.username", env["MAILSTACK_USER2"])
	set(cfg, "send.password", env["MAILSTACK_PASS2"])
	set(cfg, "receive.tls", "implicit")
	set(cfg, "receive.address", env["MAILSTACK_IMAPS"])
	wantDelivered(t, check(t, cfg, 15*time.Second), "")
}

func TestWrongPassword(t *testing.T) {
	t.Parallel()
	env := testenv.MailStack(t)
	t.Run("send", func(t *testing.T) {
		cfg := direct(t, env)
		set(cfg, "send.address", env["MAILSTACK_SUBMISSION"])
		set(cfg, "send.username", env["MAILSTACK_USER2"])
		set(cfg, "send.password", "wrong-password")
		res := check(t, cfg, 15*time.Second)
		wantResult(t, res, sdk.Critical, "send_auth_failed", "535")
		_, f := summary(t, res)
		wantField(t, f, "smtp_reply_code", int64(535))
		wantField(t, f, "delivered", false)
	})
	t.Run("receive", func(t *testing.T) {
		cfg := set(direct(t, env), "receive.password", "wrong-password")
		res := check(t, cfg, 15*time.Second)
		wantResult(t, res, sdk.Critical, "receive_auth_failed", "nothing sent")
		_, f := summary(t, res)
		if _, ok := f["smtp_connect_seconds"]; ok {
			t.Error("the probe was sent although the mailbox could not be read")
		}
	})
}

// The receive side down (Dovecot stopped) and the send side down (Postfix
// stopped), with real daemons: the stack's spare Dovecot and spare Postfix,
// which only these tests use and may stop (the main ones serve other
// packages' tests at the same time).
func TestServerStopped(t *testing.T) {
	t.Parallel()
	env := testenv.MailStack(t)
	t.Run("dovecot", func(t *testing.T) {
		t.Parallel()
		cfg := set(direct(t, env), "receive.address", env["MAILSTACK_SPARE_IMAP"])
		wantDelivered(t, check(t, cfg, 15*time.Second), "")
		mailstack(t, "stop-spare-dovecot")
		t.Cleanup(func() { mailstack(t, "start-spare-dovecot") })
		wantResult(t, check(t, cfg, 10*time.Second), sdk.Critical, "receive_connect_failed", "connection refused", "nothing sent")
		set(cfg, "receive.protocol", "pop3")
		set(cfg, "receive.address", env["MAILSTACK_SPARE_POP3"])
		wantResult(t, check(t, cfg, 10*time.Second), sdk.Critical, "receive_connect_failed", "connection refused", "nothing sent")
	})
	t.Run("postfix", func(t *testing.T) {
		t.Parallel()
		cfg := set(direct(t, env), "send.address", env["MAILSTACK_SPARE_SMTP"])
		wantDelivered(t, check(t, cfg, 15*time.Second), "")
		mailstack(t, "stop-spare-postfix")
		t.Cleanup(func() { mailstack(t, "start-spare-postfix") })
		res := check(t, cfg, 10*time.Second)
		wantResult(t, res, sdk.Critical, "send_connect_failed", "connection refused")
		_, f := summary(t, res)
		wantField(t, f, "delivered", false)
		if _, ok := f["imap_auth_seconds"]; !ok {
			t.Error("imap_auth_seconds missing: the receive side was up")
		}
	})
	t.Run("closed port", func(t *testing.T) {
		cfg := set(direct(t, env), "receive.address", testenv.FreePort(t))
		wantResult(t, check(t, cfg, 10*time.Second), sdk.Critical, "receive_connect_failed", "connection refused")
		cfg = set(direct(t, env), "send.address", testenv.FreePort(t))
		wantResult(t, check(t, cfg, 10*time.Second), sdk.Critical, "send_connect_failed", "connection refused")
	})
}

// A recipient that Postfix accepts and then defers forever: not_delivered
// when the run's time is up, with room left for cleanup.
func TestNotDelivered(t *testing.T) {
	t.Parallel()
	env := testenv.MailStack(t)
	t.Cleanup(func() { purgeDefer(t) })
	cfg := set(direct(t, env), "send.rcpt_to", env["MAILSTACK_DEFER"])
	start := time.Now()
	res := check(t, cfg, 5*time.Second)
	if el := time.Since(start); el > 5*time.Second+500*time.Millisecond {
		t.Errorf("run took %s, longer than its 5s timeout", el)
	}
	wantResult(t, res, sdk.Critical, "not_delivered", "not delivered within")
	tags, f := summary(t, res)
	wantField(t, f, "delivered", false)
	wantField(t, f, "smtp_reply_code", int64(221))
	if tags["detected_by"] != byNone {
		t.Errorf("detected_by = %q", tags["detected_by"])
	}
}

// A probe of an earlier run that arrives late is counted and removed.
func TestLateProbe(t *testing.T) {
	t.Parallel()
	env := testenv.MailStack(t)
	cfg := direct(t, env)
	id := cfg["instance_id"].(string)
	c := mailbox(t, env, env["MAILSTACK_RT_USER"], env["MAILSTACK_RT_PASS"])
	late := newToken(id, time.Now().Add(-20*time.Second))
	deliver(t, env, env["MAILSTACK_RT_USER"], fmt.Sprintf("Subject: late\r\n%s: %s\r\n\r\nlate\r\n", probeHeader, late))
	waitFor(t, c, late.String(), 1)
	res := check(t, cfg, 15*time.Second)
	wantResult(t, res, sdk.OK, "ok", "1 late probe")
	_, f := summary(t, res)
	wantField(t, f, "late_count", int64(1))
	wantField(t, f, "deleted_count", int64(2))
	if n := countProbes(t, c, id+"."); n != 0 {
		t.Errorf("%d probes left", n)
	}
}

// A probe that lands in the Junk folder is found there: WARNING.
func TestJunk(t *testing.T) {
	t.Parallel()
	env := testenv.MailStack(t)
	cfg := direct(t, env)
	user := env["MAILSTACK_RT_USER"]
	set(cfg, "send.rcpt_to", strings.Replace(user, "@", "+Junk@", 1))
	set(cfg, "receive.junk_mailboxes", []string{"Junk"})
	ensureFolder(t, env, user, env["MAILSTACK_RT_PASS"], "Junk")
	res := check(t, cfg, 15*time.Second)
	wantResult(t, res, sdk.Warning, "delivered_to_junk", "in Junk")
	_, f := summary(t, res)
	wantField(t, f, "delivered_to_junk", true)
	wantField(t, f, "deleted_count", int64(1))
}

// XOAUTH2 / OAUTHBEARER against Dovecot's oauth2 passdb, which checks the
// token at the stack's token endpoint; Postfix's submission AUTH goes
// through the same Dovecot passdb.
func TestOAuth2(t *testing.T) {
	t.Parallel()
	env := testenv.MailStack(t)
	dir := env["MAILSTACK_OAUTH_TOKENS"]
	good := "tok" + uniqueID(t) + uniqueID(t)
	path := filepath.Join(dir, good)
	if err := os.WriteFile(path, []byte(`{"username":"`+env["MAILSTACK_RT_USER"]+`","active":"yes"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(path) })
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(good+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	oauth := func(cfg map[string]any, side, mech string) {
		set(cfg, side+".password", nil)
		delete(cfg[side].(map[string]any), "password")
		set(cfg, side+".username", env["MAILSTACK_RT_USER"])
		set(cfg, side+".auth_mechanism", mech)
		set(cfg, side+".oauth_token_file", tokenFile)
	}
	for _, tc := range []struct{ name, mech, proto, addr string }{
		{"xoauth2 imap", "XOAUTH2", "imap", env["MAILSTACK_IMAP"]},
		{"oauthbearer pop3", "OAUTHBEARER", "pop3", env["MAILSTACK_POP3"]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := direct(t, env)
			set(cfg, "send.address", env["MAILSTACK_SUBMISSION"])
			set(cfg, "send.mail_from", env["MAILSTACK_RT_USER"])
			oauth(cfg, "send", tc.mech)
			set(cfg, "receive.protocol", tc.proto)
			set(cfg, "receive.address", tc.addr)
			oauth(cfg, "receive", tc.mech)
			res := check(t, cfg, 15*time.Second)
			f := wantDelivered(t, res, "")
			if _, ok := f["smtp_auth_seconds"]; !ok {
				t.Error("smtp_auth_seconds missing")
			}
		})
	}
	t.Run("bad token", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "token")
		if err := os.WriteFile(bad, []byte("no-such-token\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := direct(t, env)
		oauth(cfg, "receive", "XOAUTH2")
		set(cfg, "receive.oauth_token_file", bad)
		wantResult(t, check(t, cfg, 10*time.Second), sdk.Critical, "receive_auth_failed", "XOAUTH2 token rejected")
		cfg = direct(t, env)
		set(cfg, "send.address", env["MAILSTACK_SUBMISSION"])
		oauth(cfg, "send", "XOAUTH2")
		set(cfg, "send.oauth_token_file", bad)
		res := check(t, cfg, 10*time.Second)
		wantResult(t, res, sdk.Critical, "send_auth_failed", "535")
	})
	t.Run("token command", func(t *testing.T) {
		cfg := direct(t, env)
		oauth(cfg, "receive", "XOAUTH2")
		delete(cfg["receive"].(map[string]any), "oauth_token_file")
		set(cfg, "receive.oauth_token_command", "cat "+tokenFile)
		wantDelivered(t, check(t, cfg, 15*time.Second), "")
		set(cfg, "receive.oauth_token_command", "echo no token >&2; exit 3")
		wantResult(t, check(t, cfg, 10*time.Second), sdk.Unknown, "oauth_token_failed", "exit status 3: no token")
	})
}

// cleanup_mailbox: probes are moved there instead of deleted, and this
// instance's probes there older than sweep_age are deleted by later runs.
func TestCleanupMailbox(t *testing.T) {
	t.Parallel()
	env := testenv.MailStack(t)
	cfg := direct(t, env)
	id := cfg["instance_id"].(string)
	set(cfg, "send.rcpt_to", env["MAILSTACK_FORWARD"])
	set(cfg, "receive.username", env["MAILSTACK_FORWARD_USER"])
	set(cfg, "receive.password", env["MAILSTACK_FORWARD_PASS"])
	set(cfg, "receive.cleanup_mailbox", "Probes")
	ensureFolder(t, env, env["MAILSTACK_FORWARD_USER"], env["MAILSTACK_FORWARD_PASS"], "Probes")
	c := mailbox(t, env, env["MAILSTACK_FORWARD_USER"], env["MAILSTACK_FORWARD_PASS"])
	if _, err := c.Select("Probes", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	res := check(t, cfg, 15*time.Second)
	wantDelivered(t, res, "")
	if n := countProbes(t, c, id+"."); n != 1 {
		t.Fatalf("%d probes in Probes after the first run, want the one moved there", n)
	}
	set(cfg, "receive.sweep_age", "1ms")
	res = check(t, cfg, 15*time.Second)
	wantResult(t, res, sdk.OK, "ok", "1 old probe(s) swept")
	_, f := summary(t, res)
	wantField(t, f, "swept_count", int64(1))
	if n := countProbes(t, c, id+"."); n != 1 {
		t.Errorf("%d probes in Probes after the second run, want only its own", n)
	}
	// Leave the folder empty of this test's probes.
	data, err := c.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: probeHeader, Value: id + "."}}}, nil).Wait()
	if err == nil && len(data.AllUIDs()) > 0 {
		uids := imap.UIDSetNum(data.AllUIDs()...)
		_ = c.Store(uids, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close()
		_ = c.UIDExpunge(uids).Close()
	}
}

// A 5xx at RCPT is a failure with its code exported; the run still cleans up.
func TestRejected(t *testing.T) {
	t.Parallel()
	env := testenv.MailStack(t)
	cfg := set(direct(t, env), "send.rcpt_to", "nobody@"+env["MAILSTACK_DOMAIN"])
	res := check(t, cfg, 10*time.Second)
	wantResult(t, res, sdk.Critical, "send_rejected", "RCPT TO: 550")
	_, f := summary(t, res)
	wantField(t, f, "smtp_reply_code", int64(550))
	wantField(t, f, "delivered", false)
}

// delivery_warning / delivery_critical thresholds.
func TestSlowDelivery(t *testing.T) {
	t.Parallel()
	env := testenv.MailStack(t)
	cfg := direct(t, env)
	cfg["delivery_warning"] = "1ms"
	wantResult(t, check(t, cfg, 10*time.Second), sdk.Warning, "slow_delivery", "at or over delivery_warning 1ms")
	cfg["delivery_critical"] = "2ms"
	wantResult(t, check(t, cfg, 10*time.Second), sdk.Critical, "slow_delivery", "at or over delivery_critical 2ms")
}

// A server that accepts the connection and never greets: the run ends at
// its deadline with reason timeout, on either side.
func TestSilentServer(t *testing.T) {
	t.Parallel()
	env := testenv.MailStack(t)
	silent := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				t.Cleanup(func() { c.Close() })
			}
		}()
		return l.Addr().String()
	}
	for _, key := range []string{"receive.address", "send.address"} {
		cfg := set(direct(t, env), key, silent())
		start := time.Now()
		res := check(t, cfg, time.Second)
		if el := time.Since(start); el > 1500*time.Millisecond {
			t.Errorf("%s: run took %s with a 1s deadline", key, el)
		}
		wantResult(t, res, sdk.Critical, "timeout")
	}
}

// ensureFolder creates the user's folder if it is missing, the way a user
// of the stack would: by a delivery to user+folder@ (Dovecot creates it).
func ensureFolder(t *testing.T, env map[string]string, user, pass, folder string) {
	t.Helper()
	c := mailbox(t, env, user, pass)
	if _, err := c.Select(folder, nil).Wait(); err == nil {
		return
	}
	deliver(t, env, strings.Replace(user, "@", "+"+folder+"@", 1), "Subject: create "+folder+"\r\n\r\nx\r\n")
	for i := 0; i < 100; i++ {
		if _, err := c.Select(folder, nil).Wait(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("folder %s of %s was not created", folder, user)
}
