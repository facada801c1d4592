package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mailmon/mailmon/outputs"
	_ "github.com/mailmon/mailmon/outputs/all"
	"github.com/mailmon/mailmon/scripts/testenv"
)

// shippedPlugins are the plugins the e2e tests install.
var shippedPlugins = []string{"smtp-banner", "dnsbl", "roundtrip"}

var (
	pluginDirOnce sync.Once
	pluginDir     string
)

// binaries builds mailmon and the shipped plugins once and returns the
// binary and a plugin folder holding links to the plugins.
func binaries(t *testing.T) (mailmon, plugins string) {
	t.Helper()
	mailmon = testenv.Build(t, "./agent/cmd/mailmon", "mailmon")
	pluginDirOnce.Do(func() {
		dir, err := testenv.TempDir("plugins")
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range shippedPlugins {
			bin := testenv.Build(t, "./plugins/"+p, "mailmon-check-"+p)
			if err := os.Symlink(bin, filepath.Join(dir, "mailmon-check-"+p)); err != nil {
				t.Fatal(err)
			}
		}
		pluginDir = dir
	})
	if pluginDir == "" {
		t.Fatal("plugin folder not built")
	}
	return mailmon, pluginDir
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// runCmd runs a command to completion and returns stdout, stderr, exit code.
func runCmd(t *testing.T, timeout time.Duration, name string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %v: timed out after %s\nstderr:\n%s", name, args, timeout, errb.String())
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return out.String(), errb.String(), code
}

func TestSmtpBannerAgainstPostfix(t *testing.T) {
	env := testenv.MailStack(t)
	mailmon, plugins := binaries(t)
	ca := env["MAILSTACK_CA"]
	cfg := writeFile(t, "mailmon.toml", fmt.Sprintf(`
[agent]
hostname = "mx1.example.test"
plugin_dirs = [%q]

[[checks.smtp-banner]]
name = "plain"
address = %q
tls = "none"

[[checks.smtp-banner]]
name = "starttls"
address = %q
tls = "starttls"
server_name = "mx.mail.test"
tls_ca_file = %q

[[checks.smtp-banner]]
name = "self-signed"
address = %q
tls = "starttls"
server_name = "mx.mail.test"

[[checks.smtp-banner]]
name = "expired"
address = %q
tls = "starttls"
server_name = "mx.mail.test"
tls_ca_file = %q

[[checks.smtp-banner]]
name = "auth-ok"
address = %q
tls = "starttls"
server_name = "mx.mail.test"
tls_ca_file = %q
username = %q
password = "${MAILMON_TEST_PASS}"

[[checks.smtp-banner]]
name = "auth-refused"
address = %q
tls = "starttls"
server_name = "mx.mail.test"
tls_ca_file = %q
username = %q
password = "wrong-password"

[[checks.smtp-banner]]
name = "implicit"
address = %q
tls = "implicit"
server_name = "mx.mail.test"
tls_ca_file = %q

[[checks.smtp-banner]]
name = "stopped"
address = %q
tls = "none"
`, plugins, env["MAILSTACK_SMTP"], env["MAILSTACK_SMTP"], ca, env["MAILSTACK_SMTP"],
		env["MAILSTACK_SMTP_EXPIRED"], ca,
		env["MAILSTACK_SUBMISSION"], ca, env["MAILSTACK_USER"],
		env["MAILSTACK_SUBMISSION"], ca, env["MAILSTACK_USER"],
		env["MAILSTACK_SUBMISSIONS"], ca, testenv.FreePort(t)))
	t.Setenv("MAILMON_TEST_PASS", env["MAILSTACK_PASS"])

	stdout, stderr, code := runCmd(t, 60*time.Second, mailmon, "test", "--config", cfg)
	if code != 2 {
		t.Errorf("exit code = %d, want 2 (CRITICAL is the worst)\nstderr:\n%s", code, stderr)
	}
	pts := testenv.ParseLines(t, stdout)
	want := map[string]struct {
		result string
		status int64
	}{
		"plain":        {"ok", 0},
		"starttls":     {"ok", 0},
		"self-signed":  {"cert_invalid", 2},
		"expired":      {"cert_expired", 2},
		"auth-ok":      {"ok", 0},
		"auth-refused": {"auth_failed", 2},
		"implicit":     {"ok", 0},
		"stopped":      {"connect_failed", 2},
	}
	for name, w := range want {
		got := testenv.Find(pts, "mailmon_smtp", map[string]string{"check": name})
		if len(got) != 1 {
			t.Errorf("%s: %d mailmon_smtp lines, want 1\nstdout:\n%s", name, len(got), stdout)
			continue
		}
		p := got[0]
		if p.Tags["result"] != w.result || p.Fields["status_code"] != w.status {
			t.Errorf("%s: result=%s status_code=%v, want %s %d (fields %v)", name, p.Tags["result"], p.Fields["status_code"], w.result, w.status, p.Fields)
		}
		if p.Tags["host"] != "mx1.example.test" {
			t.Errorf("%s: host tag = %q", name, p.Tags["host"])
		}
		if d, ok := p.Fields["duration_seconds"].(float64); !ok || d <= 0 || d > 30 {
			t.Errorf("%s: duration_seconds = %#v", name, p.Fields["duration_seconds"])
		}
		if !strings.Contains(stderr, name) {
			t.Errorf("status table on stderr lacks %s:\n%s", name, stderr)
		}
	}
	checks := map[string]func(p testenv.Point) error{
		"starttls": func(p testenv.Point) error {
			if p.Fields["cert_chain_valid"] != true || !strings.HasPrefix(fmt.Sprint(p.Fields["tls_version"]), "TLS1.") {
				return fmt.Errorf("tls fields %v", p.Fields)
			}
			if d, ok := p.Fields["cert_expiry_days"].(float64); !ok || d < 300 {
				return fmt.Errorf("cert_expiry_days = %#v", p.Fields["cert_expiry_days"])
			}
			return nil
		},
		"self-signed": func(p testenv.Point) error {
			if p.Fields["cert_chain_valid"] != false {
				return fmt.Errorf("cert_chain_valid = %v", p.Fields["cert_chain_valid"])
			}
			return nil
		},
		"expired": func(p testenv.Point) error {
			if d, ok := p.Fields["cert_expiry_days"].(float64); !ok || d >= 0 {
				return fmt.Errorf("cert_expiry_days = %#v, want negative", p.Fields["cert_expiry_days"])
			}
			return nil
		},
		"auth-ok": func(p testenv.Point) error {
			if _, ok := p.Fields["auth_seconds"].(float64); !ok {
				return fmt.Errorf("auth_seconds = %#v", p.Fields["auth_seconds"])
			}
			return nil
		},
		"auth-refused": func(p testenv.Point) error {
			if p.Fields["reply_code"] != int64(535) {
				return fmt.Errorf("reply_code = %#v, want 535", p.Fields["reply_code"])
			}
			return nil
		},
		"plain": func(p testenv.Point) error {
			if _, ok := p.Fields["connect_seconds"].(float64); !ok || !strings.Contains(fmt.Sprint(p.Fields["extensions"]), "STARTTLS") {
				return fmt.Errorf("fields %v", p.Fields)
			}
			return nil
		},
	}
	for name, check := range checks {
		got := testenv.Find(pts, "mailmon_smtp", map[string]string{"check": name})
		if len(got) == 1 {
			if err := check(got[0]); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	}

	// --check narrows the run and the exit code follows.
	stdout, stderr, code = runCmd(t, 30*time.Second, mailmon, "test", "--config", cfg, "--check", "plain")
	pts = testenv.ParseLines(t, stdout)
	if code != 0 || len(pts) != 1 || pts[0].Tags["check"] != "plain" {
		t.Errorf("--check plain: exit %d, %d lines\nstdout:\n%s\nstderr:\n%s", code, len(pts), stdout, stderr)
	}
}

func TestConfigErrors(t *testing.T) {
	testenv.Integration(t)
	mailmon, plugins := binaries(t)
	writable := t.TempDir()
	src, err := os.ReadFile(filepath.Join(plugins, "mailmon-check-smtp-banner"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(writable, "mailmon-check-smtp-banner"), src, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(writable, "mailmon-check-smtp-banner"), 0o777); err != nil {
		t.Fatal(err)
	}
	agentTable := fmt.Sprintf("[agent]\nplugin_dirs = [%q]\n", plugins)
	cases := []struct{ name, body, want string }{
		{"unknown key", agentTable + "[[checks.smtp-banner]]\naddress = \"127.0.0.1:25\"\nadress = \"x\"\n",
			"F: checks.smtp-banner[0].adress: unknown option"},
		{"bad duration", agentTable + "[[checks.smtp-banner]]\naddress = \"127.0.0.1:25\"\ninterval = \"10\"\n",
			`F: checks.smtp-banner[0].interval: invalid duration "10" (want a number with a unit, e.g. "30s")`},
		{"missing address", agentTable + "[[checks.smtp-banner]]\ntls = \"none\"\n",
			"F: checks.smtp-banner[0].address: required"},
		{"unknown check", agentTable + "[[checks.smtp-bannr]]\naddress = \"127.0.0.1:25\"\n",
			fmt.Sprintf("F: checks.smtp-bannr[0]: no plugin mailmon-check-smtp-bannr in plugin_dirs [%s] (found: dnsbl, roundtrip, smtp-banner)", plugins)},
		{"unreadable secret file", agentTable + "[[checks.smtp-banner]]\naddress = \"127.0.0.1:25\"\npassword = \"${file:/nonexistent/pw}\"\n",
			"F: checks.smtp-banner[0].password: secret file: open /nonexistent/pw: no such file or directory"},
		{"unknown output option", agentTable + "[[outputs.influx]]\nmod = \"stdout\"\n",
			"F: outputs.influx[0].mod: unknown option"},
		{"unknown output", agentTable + "[[outputs.kafka]]\n",
			fmt.Sprintf(`F: outputs.kafka[0]: unknown output "kafka" (available: %v)`, outputs.Names())},
		{"writable plugin", fmt.Sprintf("[agent]\nplugin_dirs = [%q]\n[[checks.smtp-banner]]\naddress = \"127.0.0.1:25\"\n", writable),
			fmt.Sprintf("F: checks.smtp-banner[0]: %s/mailmon-check-smtp-banner: refusing a group- or world-writable plugin (mode 0777); chmod go-w it", writable)},
		{"wrong sha256 pin", agentTable + "[agent.plugin_sha256]\nsmtp-banner = \"" + strings.Repeat("0", 64) + "\"\n[[checks.smtp-banner]]\naddress = \"127.0.0.1:25\"\n",
			"F: checks.smtp-banner[0]: " + plugins + "/mailmon-check-smtp-banner: sha256 is "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := writeFile(t, "mailmon.toml", tc.body)
			_, stderr, code := runCmd(t, 30*time.Second, mailmon, "config", "check", "--config", cfg)
			want := "mailmon: " + cfg + tc.want[1:]
			got := strings.TrimSpace(stderr)
			if code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			if tc.name == "wrong sha256 pin" {
				if !strings.HasPrefix(got, want) || !strings.Contains(got, "pinned "+strings.Repeat("0", 64)) {
					t.Errorf("stderr = %q, want prefix %q", got, want)
				}
				return
			}
			if got != want {
				t.Errorf("stderr =\n  %q\nwant\n  %q", got, want)
			}
		})
	}

	ok := writeFile(t, "ok.toml", agentTable+"[[checks.smtp-banner]]\naddress = \"127.0.0.1:25\"\n")
	stdout, stderr, code := runCmd(t, 30*time.Second, mailmon, "config", "check", "--config", ok)
	if code != 0 || !strings.Contains(stdout, "OK (1 checks enabled, 1 plugins, 1 outputs)") {
		t.Errorf("good config: exit %d stdout %q stderr %q", code, stdout, stderr)
	}
}

func TestPluginsSampleConfigVersionHelp(t *testing.T) {
	testenv.Integration(t)
	mailmon, plugins := binaries(t)
	cfg := writeFile(t, "mailmon.toml", fmt.Sprintf("[agent]\nplugin_dirs = [%q]\n", plugins))

	stdout, stderr, code := runCmd(t, 30*time.Second, mailmon, "plugins", "--config", cfg)
	if code != 0 || !strings.Contains(stdout, "smtp-banner") || !strings.Contains(stdout, " 1.0 ") {
		t.Errorf("plugins: exit %d\n%s%s", code, stdout, stderr)
	}

	stdout, stderr, code = runCmd(t, 30*time.Second, mailmon, "sample-config", "--config", cfg)
	if code != 0 || !strings.Contains(stdout, "# [[checks.smtp-banner]]") || !strings.Contains(stdout, "[[outputs.influx]]") {
		t.Fatalf("sample-config: exit %d\n%s%s", code, stdout, stderr)
	}
	// The sample is a config that loads as it is.
	sample := writeFile(t, "sample.toml", strings.Replace(stdout, "\n[agent]\n", fmt.Sprintf("\n[agent]\n  plugin_dirs = [%q]\n", plugins), 1))
	if _, stderr, code := runCmd(t, 30*time.Second, mailmon, "config", "check", "--config", sample); code != 0 {
		t.Errorf("sample config does not load: %s", stderr)
	}

	stdout, _, code = runCmd(t, 10*time.Second, mailmon, "version")
	if code != 0 || !strings.HasPrefix(stdout, "mailmon ") || !strings.Contains(stdout, "plugin protocol 1") {
		t.Errorf("version: exit %d %q", code, stdout)
	}
	for _, sub := range [][]string{{"run"}, {"test"}, {"plugins"}, {"config", "check"}, {"sample-config"}, {"version"}} {
		_, stderr, code := runCmd(t, 10*time.Second, mailmon, append(sub, "--help")...)
		if code != 0 || !strings.Contains(stderr, "-config") {
			t.Errorf("%v --help: exit %d, stderr %q", sub, code, stderr)
		}
	}
	if _, _, code := runCmd(t, 10*time.Second, mailmon, "frobnicate"); code != 2 {
		t.Errorf("unknown command exit %d, want 2", code)
	}
}

// agentProc is a running `mailmon run`.
type agentProc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stdout bytes.Buffer
	stderr bytes.Buffer
	done   chan struct{}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func startAgent(t *testing.T, mailmon, cfg string) *agentProc {
	t.Helper()
	a := &agentProc{done: make(chan struct{})}
	a.cmd = exec.Command(mailmon, "run", "--config", cfg)
	a.cmd.Stdout = lockedWriter{&a.mu, &a.stdout}
	a.cmd.Stderr = lockedWriter{&a.mu, &a.stderr}
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = a.cmd.Wait(); close(a.done) }()
	t.Cleanup(func() {
		_ = a.cmd.Process.Kill()
		<-a.done
	})
	return a
}

func (a *agentProc) output() (string, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stdout.String(), a.stderr.String()
}

// waitFor polls until cond holds on the agent's output.
func (a *agentProc) waitFor(t *testing.T, what string, timeout time.Duration, cond func(stdout, stderr string) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond(a.output()) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	out, errs := a.output()
	t.Fatalf("timed out after %s waiting for %s\nstdout:\n%s\nstderr:\n%s", timeout, what, out, errs)
}

// stop sends SIGTERM and waits for a clean exit.
func (a *agentProc) stop(t *testing.T) {
	t.Helper()
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
	case <-time.After(15 * time.Second):
		t.Fatal("agent did not exit within 15s of SIGTERM")
	}
	if code := a.cmd.ProcessState.ExitCode(); code != 0 {
		_, errs := a.output()
		t.Fatalf("agent exit code %d after SIGTERM\nstderr:\n%s", code, errs)
	}
}

// children returns the pids whose parent is pid and whose command line
// starts with exe.
func children(pid int, exe string) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// Field 4 of /proc/PID/stat, after the ")" that ends the name.
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(f) < 2 || f[1] != strconv.Itoa(pid) {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if strings.HasPrefix(string(cmdline), exe) {
			out = append(out, n)
		}
	}
	return out
}

// stallingServer accepts SMTP connections and never greets, so a check
// run against it stays in flight; accepted reports each connection.
func stallingServer(t *testing.T) (addr string, accepted chan struct{}) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted = make(chan struct{}, 100)
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			select {
			case accepted <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return l.Addr().String(), accepted
}

func TestPluginCrashIsReportedAndRestarted(t *testing.T) {
	env := testenv.MailStack(t)
	mailmon, plugins := binaries(t)
	stall, accepted := stallingServer(t)
	cfg := writeFile(t, "mailmon.toml", fmt.Sprintf(`
[agent]
hostname = "crash.test"
plugin_dirs = [%q]
jitter = "0s"
interval = "1s"
timeout = "1s"
stats_interval = "1s"

[[checks.smtp-banner]]
name = "stalled"
address = %q
tls = "none"
interval = "10s"
timeout = "8s"

[[checks.smtp-banner]]
name = "mx"
address = %q
tls = "none"

[[outputs.influx]]
mode = "stdout"
flush_interval = "100ms"
`, plugins, stall, env["MAILSTACK_SMTP"]))
	a := startAgent(t, mailmon, cfg)
	select {
	case <-accepted:
	case <-time.After(15 * time.Second):
		t.Fatal("the stalled check never connected")
	}
	exe := filepath.Join(plugins, "mailmon-check-smtp-banner")
	pids := children(a.cmd.Process.Pid, exe)
	if len(pids) != 1 {
		t.Fatalf("plugin processes = %v, want one (one process per plugin binary)", pids)
	}
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killedAt := time.Now()

	a.waitFor(t, "the crash in the log, as a metric and as the run's result", 20*time.Second, func(out, errs string) bool {
		return strings.Contains(errs, "plugin process exited unexpectedly") &&
			strings.Contains(out, "crashed=true") &&
			strings.Contains(out, "check=stalled,host=crash.test,result=plugin_crashed")
	})
	// The next scheduled runs succeed in a new plugin process.
	a.waitFor(t, "an OK run after the restart", 20*time.Second, func(out, _ string) bool {
		for _, p := range testenv.Find(testenv.ParseLines(t, out), "mailmon_smtp", map[string]string{"check": "mx", "result": "ok"}) {
			if p.Time.After(killedAt.Add(500 * time.Millisecond)) {
				return true
			}
		}
		return false
	})
	newPids := children(a.cmd.Process.Pid, exe)
	if len(newPids) != 1 || newPids[0] == pids[0] {
		t.Errorf("after restart plugin pids = %v (old %d)", newPids, pids[0])
	}
	a.waitFor(t, "restarts_total in the agent's health metric", 10*time.Second, func(out, _ string) bool {
		return len(testenv.Find(testenv.ParseLines(t, out), "mailmon_agent", nil)) > 0 && strings.Contains(out, "plugin_restarts_total=1i")
	})
	a.stop(t)
	if left := children(a.cmd.Process.Pid, exe); len(left) != 0 {
		t.Errorf("plugin processes left after shutdown: %v", left)
	}
}

func TestReloadAndGracefulShutdown(t *testing.T) {
	env := testenv.MailStack(t)
	mailmon, plugins := binaries(t)
	body := func(names ...string) string {
		s := fmt.Sprintf("[agent]\nplugin_dirs = [%q]\njitter = \"0s\"\ninterval = \"1s\"\n[[outputs.influx]]\nmode = \"stdout\"\nflush_interval = \"30s\"\n", plugins)
		for _, n := range names {
			s += fmt.Sprintf("[[checks.smtp-banner]]\nname = %q\naddress = %q\ntls = \"none\"\n", n, env["MAILSTACK_SMTP"])
		}
		return s
	}
	cfg := writeFile(t, "mailmon.toml", body("first"))
	a := startAgent(t, mailmon, cfg)
	// flush_interval is 30s: lines before it come only from a reload or shutdown flush.
	a.waitFor(t, "the agent to start", 10*time.Second, func(_, errs string) bool { return strings.Contains(errs, "agent started") })
	time.Sleep(1500 * time.Millisecond)
	if err := os.WriteFile(cfg, []byte(body("first", "second")), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = a.cmd.Process.Signal(syscall.SIGHUP)
	a.waitFor(t, "the reload to flush the old agent's metrics and start the new config", 20*time.Second, func(out, errs string) bool {
		return strings.Contains(out, "check=first") && strings.Contains(errs, `msg="agent started" checks=2`)
	})
	// A broken config on SIGHUP keeps the running one: one that does not
	// parse, and one that parses but names a check with no plugin.
	for i, broken := range []string{"[agent\n", body("first") + "[[checks.smtp-bannr]]\naddress = \"127.0.0.1:25\"\n"} {
		if err := os.WriteFile(cfg, []byte(broken), 0o600); err != nil {
			t.Fatal(err)
		}
		_ = a.cmd.Process.Signal(syscall.SIGHUP)
		a.waitFor(t, "the reload error", 10*time.Second, func(_, errs string) bool {
			return strings.Count(errs, "reload failed; keeping the running config") == i+1
		})
	}
	if _, errs := a.output(); strings.Count(errs, "agent stopping") != 1 {
		t.Fatalf("a failed reload stopped the running agent:\n%s", errs)
	}
	time.Sleep(1500 * time.Millisecond)
	before, _ := a.output()
	if strings.Contains(before, "check=second") {
		t.Fatalf("the new agent flushed before its flush_interval:\n%s", before)
	}
	a.stop(t)
	after, _ := a.output()
	// SIGTERM flushes what the running config buffered (flush_interval 30s has not come).
	if tail := after[len(before):]; !strings.Contains(tail, "check=second") || !strings.Contains(tail, "mailmon_agent") {
		t.Errorf("shutdown did not flush the buffered metrics:\n%s", tail)
	}
	if left := children(a.cmd.Process.Pid, filepath.Join(plugins, "mailmon-check-smtp-banner")); len(left) != 0 {
		t.Errorf("plugin processes left after shutdown: %v", left)
	}
}

// The shipped configs are valid against the real plugins.
func TestShippedConfigsAreValid(t *testing.T) {
	testenv.Integration(t)
	mailmon, plugins := binaries(t)
	env := testenv.MailStack(t)
	t.Setenv("MAILMON_AGENT__PLUGIN_DIRS", plugins)
	t.Setenv("MAILMON_SUBMISSION_PASSWORD", "x")
	t.Setenv("MAILSTACK_CA", env["MAILSTACK_CA"])
	t.Setenv("MAILSTACK_PASS", env["MAILSTACK_PASS"])
	t.Setenv("MAILMON_DEMO_STATE", t.TempDir())
	// Secret files and the state folder are moved into a temp folder.
	secrets := t.TempDir()
	for _, f := range []string{"pagerduty-routing-key", "slack-bot-token"} {
		if err := os.WriteFile(filepath.Join(secrets, f), []byte("x\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"mailmon.toml", "demo.toml"} {
		b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "configs", name))
		if err != nil {
			t.Fatal(err)
		}
		body := strings.NewReplacer("/etc/mailmon/secrets", secrets, "/var/lib/mailmon", t.TempDir()).Replace(string(b))
		path := writeFile(t, name, body)
		stdout, stderr, code := runCmd(t, 30*time.Second, mailmon, "config", "check", "--config", path)
		if code != 0 || !strings.Contains(stdout, ": OK (") {
			t.Errorf("configs/%s: exit %d\n%s%s", name, code, stdout, stderr)
		}
	}
}
