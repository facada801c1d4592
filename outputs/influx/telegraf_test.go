package influx

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailmon/mailmon/outputs"
	"github.com/mailmon/mailmon/scripts/testenv"
)

// execdHelperEnv makes the test binary act as the program Telegraf's
// inputs.execd runs: it writes fixtures("stdout") through mode stdout.
const execdHelperEnv = "MAILMON_INFLUX_EXECD_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(execdHelperEnv) == "1" {
		os.Exit(execdHelper())
	}
	os.Exit(m.Run())
}

func execdHelper() int {
	o := &Influx{} // mode stdout, os.Stdout: what `mailmon run` does
	if err := o.Init(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := o.Write(context.Background(), fixtures("stdout")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	_, _ = io.Copy(io.Discard, os.Stdin) // until Telegraf stops us
	return 0
}

// telegraf is a running Telegraf whose listeners the test writes to.
type telegrafProc struct {
	out, log              string // its outputs.file and its stderr
	httpV1, httpV2        string // base URLs
	udp, tcp, unixPath    string
	v1User, v1Pass, v2Tok string
}

const telegrafConf = `
[agent]
  interval = "1s"
  flush_interval = "100ms"
  omit_hostname = true

[[inputs.socket_listener]]
  service_address = "udp://%[1]s"
  data_format = "influx"

[[inputs.socket_listener]]
  service_address = "tcp://%[2]s"
  data_format = "influx"

[[inputs.influxdb_listener]]
  service_address = "%[3]s"
  basic_username = "%[4]s"
  basic_password = "%[5]s"

[[inputs.influxdb_v2_listener]]
  service_address = "%[6]s"
  token = "%[7]s"

[[inputs.execd]]
  command = ["%[8]s"]
  environment = ["%[9]s=1"]
  signal = "none"
  restart_delay = "1h"
  data_format = "influx"

[[inputs.socket_listener]]
  service_address = "unix://%[10]s"
  data_format = "influx"

[[outputs.file]]
  files = ["%[11]s"]
  data_format = "influx"
  influx_sort_fields = true
  influx_uint_support = true
`

func startTelegraf(t *testing.T) *telegrafProc {
	t.Helper()
	bin := testenv.Telegraf(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tg := &telegrafProc{
		out:      filepath.Join(dir, "metrics.lp"),
		log:      filepath.Join(dir, "telegraf.log"),
		httpV1:   testenv.FreePort(t),
		httpV2:   testenv.FreePort(t),
		udp:      freeUDPPort(t),
		tcp:      testenv.FreePort(t),
		unixPath: filepath.Join(dir, "telegraf.sock"),
		v1User:   "mailmon", v1Pass: "pw with spaces", v2Tok: "tok3n",
	}
	conf := filepath.Join(dir, "telegraf.conf")
	body := fmt.Sprintf(telegrafConf, tg.udp, tg.tcp, tg.httpV1, tg.v1User, tg.v1Pass,
		tg.httpV2, tg.v2Tok, self, execdHelperEnv, tg.unixPath, tg.out)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(tg.log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config", conf)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM) // lets execd stop the helper
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			b, _ := os.ReadFile(tg.log)
			t.Logf("telegraf log:\n%s", b)
		}
	})
	tg.waitReady(t, done)
	tg.httpV1, tg.httpV2 = "http://"+tg.httpV1, "http://"+tg.httpV2
	return tg
}

// waitReady waits for every listener: Telegraf logs the socket
// listeners, and the HTTP ones answer /ping.
func (tg *telegrafProc) waitReady(t *testing.T, exited <-chan struct{}) {
	t.Helper()
	wantLog := []string{
		"Listening on udp://" + tg.udp,
		"Listening on tcp://" + tg.tcp,
		"Listening on unix://" + tg.unixPath,
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(tg.log)
		ready := true
		for _, w := range wantLog {
			ready = ready && strings.Contains(string(b), w)
		}
		for _, addr := range []string{tg.httpV1, tg.httpV2} {
			ready = ready && ping("http://"+addr+"/ping")
		}
		if ready {
			return
		}
		select {
		case <-exited:
			t.Fatalf("telegraf exited during start-up:\n%s", b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("telegraf not ready after 30s (want log lines %q and /ping):\n%s", wantLog, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func ping(url string) bool {
	resp, err := http.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusNoContent
}

func freeUDPPort(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().String()
}

// send writes fixtures(mode) through an output configured with raw.
func send(t *testing.T, raw, mode string) {
	t.Helper()
	o := mustOutput(t, raw)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := o.Connect(ctx); err != nil {
		t.Fatalf("%s: connect: %v", mode, err)
	}
	if err := o.Write(ctx, fixtures(mode)); err != nil {
		t.Fatalf("%s: write: %v", mode, err)
	}
	if err := o.Close(); err != nil {
		t.Fatalf("%s: close: %v", mode, err)
	}
}

// TestTelegrafRoundTrip sends the fixtures through every mode to the
// real Telegraf listeners. Telegraf parses them and writes them back out
// with its own serializer (fields sorted, unsigned kept), so equal text
// means the same measurement, tags, field values and field types.
func TestTelegrafRoundTrip(t *testing.T) {
	tg := startTelegraf(t)
	// 256-byte datagrams put the two fixture lines in separate datagrams.
	send(t, fmt.Sprintf(`{"mode":"udp","address":%q,"udp_payload":256}`, tg.udp), "udp")
	send(t, fmt.Sprintf(`{"mode":"tcp","address":%q}`, tg.tcp), "tcp")
	send(t, fmt.Sprintf(`{"mode":"unix","address":%q}`, tg.unixPath), "unix")
	send(t, fmt.Sprintf(`{"mode":"http","url":%q,"username":%q,"password":%q}`,
		tg.httpV1, tg.v1User, tg.v1Pass), "http_v1")
	send(t, fmt.Sprintf(`{"mode":"http","url":%q,"api":"v2","org":"acme","bucket":"mail","token":%q,"content_encoding":"identity"}`,
		tg.httpV2, tg.v2Tok), "http_v2")

	modes := []string{"stdout", "udp", "tcp", "unix", "http_v1", "http_v2"}
	got := waitForLines(t, tg.out, 2*len(modes))
	for _, mode := range modes {
		want := strings.SplitAfter(fixtureLines(mode), "\n")
		want = want[:len(want)-1]
		var have []string
		for _, l := range got {
			if strings.Contains(l, ",mode="+mode+" ") || strings.Contains(l, ",mode="+mode+",") {
				have = append(have, l)
			}
		}
		slices.Sort(want)
		slices.Sort(have)
		if !slices.Equal(have, want) {
			t.Errorf("mode %s: Telegraf wrote\n%s\nwant\n%s", mode, strings.Join(have, ""), strings.Join(want, ""))
		}
	}
}

// waitForLines polls Telegraf's output file until it has n lines.
func waitForLines(t *testing.T, path string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		lines := strings.SplitAfter(string(b), "\n")
		lines = lines[:len(lines)-1] // the part after the last newline is incomplete
		if len(lines) >= n || time.Now().After(deadline) {
			if len(lines) < n {
				t.Errorf("Telegraf wrote %d of %d lines in 20s:\n%s", len(lines), n, b)
			}
			return lines
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestTelegrafRejects: Telegraf's listeners refuse bad credentials with
// 401, which no retry can fix.
func TestTelegrafRejects(t *testing.T) {
	tg := startTelegraf(t)
	for _, raw := range []string{
		fmt.Sprintf(`{"mode":"http","url":%q,"username":%q,"password":"wrong"}`, tg.httpV1, tg.v1User),
		fmt.Sprintf(`{"mode":"http","url":%q}`, tg.httpV1),
		fmt.Sprintf(`{"mode":"http","url":%q,"api":"v2","org":"o","bucket":"b","token":"wrong"}`, tg.httpV2),
	} {
		o := mustOutput(t, raw)
		err := o.Write(context.Background(), fixtures("rejected"))
		if err == nil || !outputs.IsPermanent(err) || !strings.Contains(err.Error(), ": 401 Unauthorized") {
			t.Errorf("%s: got %v, want a permanent 401", raw, err)
		}
	}
}
