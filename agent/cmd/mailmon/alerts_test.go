package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mailmon/mailmon/scripts/testenv"
)

// receiver records the JSON bodies POSTed to it; while down it answers 500.
type receiver struct {
	t    *testing.T
	srv  *httptest.Server
	down atomic.Bool
	mu   sync.Mutex
	got  []map[string]any
	// check validates one request; a failure fails the test.
	check func(r *http.Request, body map[string]any) error
}

func newReceiver(t *testing.T, check func(*http.Request, map[string]any) error) *receiver {
	rc := &receiver{t: t, check: check}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rc.down.Load() {
			http.Error(w, "down for the test", http.StatusInternalServerError)
			return
		}
		b, _ := io.ReadAll(r.Body)
		var body map[string]any
		if err := json.Unmarshal(b, &body); err != nil {
			t.Errorf("%s: body is not JSON: %v\n%s", r.URL.Path, err, b)
			http.Error(w, "bad json", http.StatusBadRequest)
			return
		}
		if err := rc.check(r, body); err != nil {
			t.Errorf("%s: %v\n%s", r.URL.Path, err, b)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rc.mu.Lock()
		rc.got = append(rc.got, body)
		rc.mu.Unlock()
		// What the real services answer: PagerDuty 202 with JSON, a Slack
		// incoming webhook 200 "ok".
		if strings.HasPrefix(r.URL.Path, "/services/") {
			_, _ = w.Write([]byte("ok"))
			return
		}
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"status":"success","message":"Event processed","dedup_key":"x"}`))
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) bodies() []map[string]any {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]map[string]any(nil), rc.got...)
}

// count returns how many bodies have key == value.
func (rc *receiver) count(key, value string) int {
	n := 0
	for _, b := range rc.bodies() {
		if fmt.Sprint(b[key]) == value {
			n++
		}
	}
	return n
}

func waitUntil(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", timeout, what)
}

// pagerDutyShape checks an Events API v2 request.
func pagerDutyShape(r *http.Request, b map[string]any) error {
	if r.Method != http.MethodPost || r.URL.Path != "/v2/enqueue" || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		return fmt.Errorf("request %s %s %s", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
	}
	if b["routing_key"] != "R0UT1NGKEY" {
		return fmt.Errorf("routing_key %v", b["routing_key"])
	}
	key, _ := b["dedup_key"].(string)
	if key == "" || len(key) > 255 {
		return fmt.Errorf("dedup_key %q", key)
	}
	switch b["event_action"] {
	case "resolve":
		return nil
	case "trigger":
		p, _ := b["payload"].(map[string]any)
		if p == nil || p["summary"] == "" || p["source"] == "" {
			return fmt.Errorf("payload %v", p)
		}
		if s := fmt.Sprint(p["severity"]); s != "critical" && s != "error" && s != "warning" && s != "info" {
			return fmt.Errorf("severity %q", s)
		}
		return nil
	}
	return fmt.Errorf("event_action %v", b["event_action"])
}

func slackShape(r *http.Request, b map[string]any) error {
	if r.Method != http.MethodPost || r.URL.Path != "/services/T0/B0/X" {
		return fmt.Errorf("request %s %s", r.Method, r.URL.Path)
	}
	if s, _ := b["text"].(string); s == "" {
		return fmt.Errorf("no fallback text")
	}
	if b["blocks"] == nil && b["attachments"] == nil {
		return fmt.Errorf("no blocks or attachments")
	}
	return nil
}

// The real Postfix stops: the check goes CRITICAL and PagerDuty and Slack
// each get one trigger; it starts again: one resolve each. Named
// Exclusive: `make test` runs it alone, since it stops the shared Postfix.
func TestExclusiveAlertsWhenPostfixStopsAndStarts(t *testing.T) {
	env := testenv.MailStack(t)
	mailmon, plugins := binaries(t)
	pd := newReceiver(t, pagerDutyShape)
	slack := newReceiver(t, slackShape)
	cfg := writeFile(t, "mailmon.toml", fmt.Sprintf(`
[agent]
hostname = "mx1.example.test"
plugin_dirs = [%q]
interval = "500ms"
jitter = "0s"
[alerting]
state_dir = %q
alert_after = 2
[[checks.smtp-banner]]
name = "mx"
address = %q
tls = "none"
[[outputs.influx]]
mode = "stdout"
flush_interval = "200ms"
[[outputs.pagerduty]]
routing_key = "R0UT1NGKEY"
endpoint = "%s/v2/enqueue"
statuses = ["CRITICAL"]
[[outputs.slack]]
mode = "webhook"
webhook_url = "%s/services/T0/B0/X"
`, plugins, t.TempDir(), env["MAILSTACK_SMTP"], pd.srv.URL, slack.srv.URL))
	stack := filepath.Join(testenv.RepoRoot(), "scripts", "mailstack")
	t.Cleanup(func() { _ = exec.Command(stack, "start-postfix").Run() })

	a := startAgent(t, mailmon, cfg)
	a.waitFor(t, "OK runs", 15*time.Second, func(out, _ string) bool { return strings.Count(out, "result=ok") >= 3 })
	if out, err := exec.Command(stack, "stop-postfix").CombinedOutput(); err != nil {
		t.Fatalf("stop-postfix: %v\n%s", err, out)
	}
	waitUntil(t, "a trigger at PagerDuty and Slack", 20*time.Second, func() bool {
		return pd.count("event_action", "trigger") >= 1 && len(slack.bodies()) >= 1
	})
	time.Sleep(2 * time.Second) // more failing runs: still one trigger each
	if n := pd.count("event_action", "trigger"); n != 1 {
		_, errs := a.output()
		t.Errorf("PagerDuty got %d triggers, want 1: %v\nagent log:\n%s", n, pd.bodies(), errs)
	}
	if n := len(slack.bodies()); n != 1 {
		var texts []string
		for _, b := range slack.bodies() {
			texts = append(texts, fmt.Sprint(b["text"]))
		}
		_, errs := a.output()
		t.Errorf("Slack got %d messages during the outage, want 1: %q\nagent log:\n%s", n, texts, errs)
	}
	if out, err := exec.Command(stack, "start-postfix").CombinedOutput(); err != nil {
		t.Fatalf("start-postfix: %v\n%s", err, out)
	}
	waitUntil(t, "a resolve at PagerDuty and Slack", 20*time.Second, func() bool {
		return pd.count("event_action", "resolve") >= 1 && len(slack.bodies()) >= 2
	})
	time.Sleep(2 * time.Second)
	a.stop(t)
	if n := pd.count("event_action", "resolve"); n != 1 {
		t.Errorf("PagerDuty got %d resolves, want 1", n)
	}
	if n := len(slack.bodies()); n != 2 {
		t.Errorf("Slack got %d messages, want a trigger and a resolve", n)
	}
	trig, res := pd.bodies()[0], pd.bodies()[1]
	if trig["dedup_key"] != res["dedup_key"] {
		t.Errorf("resolve dedup_key %v differs from trigger's %v", res["dedup_key"], trig["dedup_key"])
	}
	if p, _ := trig["payload"].(map[string]any); p["severity"] != "critical" || !strings.Contains(fmt.Sprint(p["summary"]), "mx") {
		t.Errorf("trigger payload %v", p)
	}
}

// toggleSMTP is a minimal SMTP responder whose answers the test switches
// between healthy and refusing, to drive a check's state.
type toggleSMTP struct {
	addr string
	bad  atomic.Bool
}

func newToggleSMTP(t *testing.T) *toggleSMTP {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &toggleSMTP{addr: l.Addr().String()}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *toggleSMTP) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if s.bad.Load() {
		fmt.Fprint(c, "554 5.3.2 service unavailable for the test\r\n")
		return
	}
	fmt.Fprint(c, "220 toggle.test ESMTP\r\n")
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		switch strings.ToUpper(strings.Fields(line + " x")[0]) {
		case "EHLO", "HELO":
			fmt.Fprint(c, "250-toggle.test\r\n250 PIPELINING\r\n")
		case "QUIT":
			fmt.Fprint(c, "221 2.0.0 bye\r\n")
			return
		default:
			fmt.Fprint(c, "502 5.5.2 not here\r\n")
		}
	}
}

// Events queued while the receiver is down survive a SIGKILL of the agent
// and are delivered after the restart, each exactly once and in order.
func TestAlertsSurviveSIGKILLWithoutDuplicates(t *testing.T) {
	testenv.Integration(t)
	mailmon, plugins := binaries(t)
	smtp := newToggleSMTP(t)
	smtp.bad.Store(true)
	var ids sync.Map
	dup := atomic.Int32{}
	hook := newReceiver(t, func(r *http.Request, b map[string]any) error {
		id := r.Header.Get("X-Mailmon-Event-Id")
		if id == "" || id != b["id"] {
			return fmt.Errorf("X-Mailmon-Event-Id %q, body id %v", id, b["id"])
		}
		if _, seen := ids.LoadOrStore(id, true); seen {
			dup.Add(1)
		}
		return nil
	})
	hook.down.Store(true)
	state := t.TempDir()
	cfg := writeFile(t, "mailmon.toml", fmt.Sprintf(`
[agent]
plugin_dirs = [%q]
interval = "300ms"
jitter = "0s"
[alerting]
state_dir = %q
[[checks.smtp-banner]]
name = "toggle"
address = %q
tls = "none"
[[outputs.influx]]
mode = "stdout"
flush_interval = "200ms"
[[outputs.webhook]]
url = "%s/hook"
`, plugins, state, smtp.addr, hook.srv.URL))

	// 1: failing while the receiver is down; the trigger waits in the queue.
	a := startAgent(t, mailmon, cfg)
	a.waitFor(t, "the trigger to be queued and its delivery to fail", 15*time.Second, func(_, errs string) bool {
		return strings.Contains(errs, "alert delivery failed; will retry")
	})
	// Recover too, so trigger and resolve are both queued.
	smtp.bad.Store(false)
	a.waitFor(t, "the resolve to be queued", 15*time.Second, func(_, errs string) bool {
		return strings.Contains(errs, "type=resolve")
	})
	exe := filepath.Join(plugins, "mailmon-check-smtp-banner")
	orphans := children(a.cmd.Process.Pid, exe)
	_ = a.cmd.Process.Signal(syscall.SIGKILL)
	<-a.done
	// A plugin whose agent is gone exits by itself.
	waitUntil(t, "the killed agent's plugin to exit", 10*time.Second, func() bool {
		for _, pid := range orphans {
			if syscall.Kill(pid, 0) == nil {
				return false
			}
		}
		return len(orphans) == 1
	})
	if n := len(hook.bodies()); n != 0 {
		t.Fatalf("receiver was down but has %d events", n)
	}

	// 2: the receiver is back; a new agent delivers the queue.
	hook.down.Store(false)
	a = startAgent(t, mailmon, cfg)
	waitUntil(t, "trigger and resolve after the restart", 20*time.Second, func() bool { return len(hook.bodies()) >= 2 })
	got := hook.bodies()
	if got[0]["type"] != "trigger" || got[1]["type"] != "resolve" || got[0]["dedup_key"] != got[1]["dedup_key"] {
		t.Errorf("delivered %v then %v; want the trigger then its resolve", got[0]["type"], got[1]["type"])
	}

	// A second agent on the same state folder refuses to run.
	_, stderr, code := runCmd(t, 30*time.Second, mailmon, "run", "--config", cfg)
	if code != 1 || !strings.Contains(stderr, "alerting.state_dir: "+state+" is in use by another mailmon agent") {
		t.Errorf("second agent: exit %d\n%s", code, stderr)
	}

	// 3: killed again after delivery: nothing is sent twice.
	_ = a.cmd.Process.Signal(syscall.SIGKILL)
	<-a.done
	a = startAgent(t, mailmon, cfg)
	a.waitFor(t, "a few runs after the second restart", 10*time.Second, func(out, _ string) bool { return strings.Count(out, "result=ok") >= 3 })
	a.stop(t)
	if n := len(hook.bodies()); n != 2 || dup.Load() != 0 {
		t.Errorf("receiver got %d events (%d duplicates), want exactly 2", n, dup.Load())
	}
}

// `mailmon test --alerts` sends a test trigger and resolve through every
// alert output and says which failed.
func TestTestAlertsCommand(t *testing.T) {
	testenv.Integration(t)
	mailmon, plugins := binaries(t)
	good := newReceiver(t, func(r *http.Request, b map[string]any) error {
		if b["test"] != true {
			return fmt.Errorf("test flag %v", b["test"])
		}
		return nil
	})
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "invalid routing key", http.StatusBadRequest)
	}))
	defer refusing.Close()
	cfg := writeFile(t, "mailmon.toml", fmt.Sprintf(`
[agent]
plugin_dirs = [%q]
[alerting]
state_dir = %q
[[outputs.webhook]]
url = "%s/hook"
[[outputs.pagerduty]]
routing_key = "R0UT1NGKEY"
endpoint = "%s/v2/enqueue"
`, plugins, t.TempDir(), good.srv.URL, refusing.URL))
	stdout, stderr, code := runCmd(t, 60*time.Second, mailmon, "test", "--alerts", "--config", cfg)
	if code != 2 {
		t.Errorf("exit %d, want 2 (one output failed)\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "outputs.webhook[0]: test trigger and resolve delivered") ||
		!strings.Contains(stdout, "outputs.pagerduty[0]: FAILED: trigger: ") || !strings.Contains(stdout, "invalid routing key") {
		t.Errorf("stdout:\n%s", stdout)
	}
	got := good.bodies()
	if len(got) != 2 || got[0]["type"] != "trigger" || got[1]["type"] != "resolve" || got[0]["dedup_key"] != got[1]["dedup_key"] {
		t.Errorf("webhook got %v", got)
	}
}
