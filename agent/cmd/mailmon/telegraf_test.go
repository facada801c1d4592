package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailmon/mailmon/scripts/testenv"
)

// agentConfig checks the real Postfix plainly and with STARTTLS.
func agentConfig(t *testing.T, plugins string, env map[string]string, output string) string {
	return writeFile(t, "mailmon.toml", fmt.Sprintf(`
[agent]
hostname = "mx1.example.test"
plugin_dirs = [%q]
interval = "1s"
jitter = "0s"
stats_interval = "1s"

[[checks.smtp-banner]]
name = "mx-plain"
address = %q
tls = "none"

[[checks.smtp-banner]]
name = "mx-starttls"
address = %q
tls = "starttls"
server_name = "mx.mail.test"
tls_ca_file = %q

%s
`, plugins, env["MAILSTACK_SMTP"], env["MAILSTACK_SMTP"], env["MAILSTACK_CA"], output))
}

// checkReceived verifies, field by field, what Telegraf parsed from mailmon.
func checkReceived(t *testing.T, pts []testenv.Point, raw string) {
	t.Helper()
	plain := testenv.Find(pts, "mailmon_smtp", map[string]string{"check": "mx-plain", "host": "mx1.example.test"})
	tls := testenv.Find(pts, "mailmon_smtp", map[string]string{"check": "mx-starttls"})
	if len(plain) == 0 || len(tls) == 0 {
		t.Fatalf("telegraf received no mailmon_smtp for both checks:\n%s", raw)
	}
	p := plain[0]
	wantTags := map[string]string{"result": "ok", "target": p.Tags["target"], "tls": "none"}
	for k, v := range wantTags {
		if p.Tags[k] != v || v == "" {
			t.Errorf("mx-plain tag %s = %q, want %q (tags %v)", k, p.Tags[k], v, p.Tags)
		}
	}
	types := map[string]string{
		"status_code": "int64", "duration_seconds": "float64", "connect_seconds": "float64",
		"banner_seconds": "float64", "ehlo_seconds": "float64", "total_seconds": "float64",
		"reply_code": "int64", "extension_count": "int64", "starttls_offered": "bool", "extensions": "string", "banner": "string",
	}
	for f, typ := range types {
		if got := fmt.Sprintf("%T", p.Fields[f]); got != typ {
			t.Errorf("mx-plain field %s: %s (%v), want %s", f, got, p.Fields[f], typ)
		}
	}
	if p.Fields["status_code"] != int64(0) || p.Fields["reply_code"] != int64(221) || p.Fields["starttls_offered"] != true {
		t.Errorf("mx-plain values: %v", p.Fields)
	}
	q := tls[0]
	if q.Tags["result"] != "ok" || q.Fields["cert_chain_valid"] != true || fmt.Sprintf("%T", q.Fields["cert_expiry_days"]) != "float64" ||
		fmt.Sprintf("%T", q.Fields["starttls_seconds"]) != "float64" || fmt.Sprintf("%T", q.Fields["cert_not_after"]) != "int64" {
		t.Errorf("mx-starttls: tags %v fields %v", q.Tags, q.Fields)
	}
	if len(testenv.Find(pts, "mailmon_agent", map[string]string{"host": "mx1.example.test"})) == 0 {
		t.Errorf("no mailmon_agent health metric reached telegraf:\n%s", raw)
	}
}

// Telegraf runs `mailmon run` itself through inputs.execd and reads the
// line protocol it prints on stdout.
func TestTelegrafExecd(t *testing.T) {
	env := testenv.MailStack(t)
	telegraf := testenv.Telegraf(t)
	mailmon, plugins := binaries(t)
	cfg := agentConfig(t, plugins, env, "[[outputs.influx]]\nmode = \"stdout\"\nflush_interval = \"200ms\"\n")
	tcfg := writeFile(t, "telegraf.conf", fmt.Sprintf(`
[agent]
  interval = "1s"
  flush_interval = "1s"
  omit_hostname = true
[[inputs.execd]]
  command = [%q, "run", "--config", %q]
  signal = "none"
  data_format = "influx"
[[outputs.file]]
  files = ["stdout"]
  data_format = "influx"
`, mailmon, cfg))
	stdout, stderr, code := runCmd(t, 60*time.Second, telegraf, "--config", tcfg, "--test", "--test-wait", "5")
	if code != 0 {
		t.Fatalf("telegraf exit %d\n%s", code, stderr)
	}
	checkReceived(t, testenv.ParseLines(t, stdout), stdout)
}

// mailmon writes over HTTP to Telegraf's influxdb_listener (the InfluxDB
// v1 /write API).
func TestTelegrafInfluxDBListener(t *testing.T) {
	env := testenv.MailStack(t)
	telegraf := testenv.Telegraf(t)
	mailmon, plugins := binaries(t)
	listen := testenv.FreePort(t)
	out := filepath.Join(t.TempDir(), "received.lp")
	tcfg := writeFile(t, "telegraf.conf", fmt.Sprintf(`
[agent]
  interval = "1s"
  flush_interval = "200ms"
  omit_hostname = true
[[inputs.influxdb_listener]]
  service_address = %q
[[outputs.file]]
  files = [%q]
  data_format = "influx"
`, listen, out))
	tg := exec.Command(telegraf, "--config", tcfg)
	var tgErr bytes.Buffer
	tg.Stderr = &tgErr
	if err := tg.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tg.Process.Kill(); _ = tg.Wait() })
	waitPort(t, listen, 20*time.Second, &tgErr)

	cfg := agentConfig(t, plugins, env, fmt.Sprintf("[[outputs.influx]]\nmode = \"http\"\nurl = \"http://%s\"\ndatabase = \"mailmon\"\nflush_interval = \"200ms\"\n", listen))
	a := startAgent(t, mailmon, cfg)
	deadline := time.Now().Add(30 * time.Second)
	var got string
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(out)
		got = string(b)
		if strings.Contains(got, "check=mx-plain") && strings.Contains(got, "check=mx-starttls") && strings.Contains(got, "mailmon_agent") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	a.stop(t)
	checkReceived(t, testenv.ParseLines(t, got), got)
}

func waitPort(t *testing.T, addr string, timeout time.Duration, log *bytes.Buffer) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s did not open within %s\n%s", addr, timeout, log.String())
}
