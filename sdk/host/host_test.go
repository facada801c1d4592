package host_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailmon/mailmon/sdk"
	"github.com/mailmon/mailmon/sdk/checktest"
	"github.com/mailmon/mailmon/sdk/host"
	"github.com/mailmon/mailmon/sdk/internal/testcheck"
)

const (
	testPluginPkg = "github.com/mailmon/mailmon/sdk/internal/testcheck/testplugin"
	tcpConnectPkg = "github.com/mailmon/mailmon/sdk/example/tcp-connect"
)

// startTest starts the test plugin, whose behaviour each instance's config
// drives (see package testcheck).
func startTest(t testing.TB) *host.Plugin {
	t.Helper()
	return checktest.Start(t, checktest.Build(t, testPluginPkg))
}

func configure(t testing.TB, p *host.Plugin, instance, config string) {
	t.Helper()
	if err := p.Configure(context.Background(), instance, []byte(config)); err != nil {
		t.Fatalf("configure %s %s: %v", instance, config, err)
	}
}

// run runs an instance that must succeed, within timeout.
func run(t testing.TB, p *host.Plugin, instance string, timeout time.Duration) *sdk.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	res, err := p.Run(ctx, instance)
	if err != nil {
		t.Fatalf("run %s: %v", instance, err)
	}
	return res
}

// runErr runs an instance that must fail and says how long it took.
func runErr(t testing.TB, p *host.Plugin, instance string, timeout time.Duration) (error, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	res, err := p.Run(ctx, instance)
	if err == nil {
		t.Fatalf("run %s: got %+v, want an error", instance, res)
	}
	return err, time.Since(start)
}

func TestInfoAndProtocol(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pkg  string
		want sdk.Info
	}{
		{testPluginPkg, testcheck.New().Info()},
		{tcpConnectPkg, sdk.Info{Name: "tcp-connect", Version: "1.0.0", Description: "Measures how long opening a TCP connection takes."}},
	} {
		bin := checktest.Build(t, tc.pkg)
		p := checktest.Start(t, bin)
		got := p.Info()
		if tc.want.SampleConfig == "" { // tcp-connect's is its sample.toml
			tc.want.SampleConfig = got.SampleConfig
			if !strings.Contains(got.SampleConfig, `address = "mx1.example.org:25"`) {
				t.Errorf("tcp-connect sample config:\n%s", got.SampleConfig)
			}
		}
		if got != tc.want {
			t.Errorf("%s: Info() = %+v, want %+v", tc.pkg, got, tc.want)
		}
		if major, minor := p.Protocol(); major != 1 || minor != 0 || host.ProtocolMajor != 1 {
			t.Errorf("%s: Protocol() = %d, %d; want 1, 0", tc.pkg, major, minor)
		}
		if p.Pid() <= 0 || p.Exited() || p.Starts() != 1 || p.Path() != bin {
			t.Errorf("%s: pid %d, exited %v, starts %d, path %s", tc.pkg, p.Pid(), p.Exited(), p.Starts(), p.Path())
		}
		if filepath.Base(bin) != "mailmon-check-"+filepath.Base(tc.pkg) {
			t.Errorf("binary name %s", filepath.Base(bin))
		}
	}
}

func TestConfigure(t *testing.T) {
	t.Parallel()
	p := startTest(t)
	configure(t, p, "a", `{"mode": "ok", "label": "first", "timeout": "2s"}`)
	for _, tc := range []struct{ config, key, msg string }{
		{`{"mode": "bogus"}`, "mode", `unknown mode "bogus"`},
		{`{"mdoe": "ok"}`, "mdoe", "unknown option"},
		{`{"sleep_ms": "x"}`, "sleep_ms", "expected a number, got string"},
		{`{"timeout": "-1s"}`, "timeout", `invalid duration "-1s": negative`},
		{`{"mode": "ok"} {}`, "", "trailing data after the options object"},
	} {
		err := p.Configure(context.Background(), "a", []byte(tc.config))
		var cerr *sdk.ConfigError
		if !errors.As(err, &cerr) || cerr.Key != tc.key || cerr.Err.Error() != tc.msg {
			t.Errorf("%s: got %#v (%v), want key %q message %q", tc.config, err, err, tc.key, tc.msg)
		}
	}
	// A rejected config leaves the instance as it was.
	if res := run(t, p, "a", 5*time.Second); res.Message != "first" {
		t.Errorf("after rejected configs: message %q, want first", res.Message)
	}

	tcp := checktest.Start(t, checktest.Build(t, tcpConnectPkg))
	err := tcp.Configure(context.Background(), "mx", []byte(`{"address": "mx1.example.org"}`))
	if want := `option address: want host:port, got "mx1.example.org"`; err == nil || err.Error() != want {
		t.Errorf("tcp-connect: got %v, want %s", err, want)
	}
}

func TestRunRoundTripsEveryFieldType(t *testing.T) {
	t.Parallel()
	p := startTest(t)
	configure(t, p, "f", `{"mode": "fields"}`)
	res := run(t, p, "f", 5*time.Second)
	if res.Status != sdk.Warning || res.Reason != "fields" || res.Message != "every field type" || len(res.Metrics) != 2 {
		t.Fatalf("got %v %q %q with %d metrics", res.Status, res.Reason, res.Message, len(res.Metrics))
	}
	for i, want := range []sdk.Metric{testcheck.Sent(), testcheck.WantWidened()} {
		got := res.Metrics[i]
		if got.Name != want.Name || !reflect.DeepEqual(got.Tags, want.Tags) || !got.Time.Equal(want.Time) {
			t.Errorf("metric %d: %s %v %v, want %s %v %v", i, got.Name, got.Tags, got.Time, want.Name, want.Tags, want.Time)
		}
		for k, v := range want.Fields {
			if g := got.Fields[k]; g != v { // compares the dynamic types too
				t.Errorf("metric %s field %s = %#v (%T), want %#v (%T)", want.Name, k, g, g, v, v)
			}
		}
		if len(got.Fields) != len(want.Fields) {
			t.Errorf("metric %s: %d fields, want %d", want.Name, len(got.Fields), len(want.Fields))
		}
	}
}

func TestRunStampsMetricsWithTheStartTime(t *testing.T) {
	t.Parallel()
	p := startTest(t)
	configure(t, p, "a", `{"label": "x"}`)
	before := time.Now()
	res := run(t, p, "a", 5*time.Second)
	after := time.Now()
	at := res.Metrics[0].Time
	if at.Before(before.Add(-time.Millisecond)) || at.After(after) {
		t.Errorf("metric time %v, want between %v and %v", at, before, after)
	}
	if err := checktest.CheckConventions(res); err != nil {
		t.Error(err)
	}
}

func TestRunDeadlineReachesPlugin(t *testing.T) {
	t.Parallel()
	p := startTest(t)
	configure(t, p, "d", `{"mode": "deadline"}`)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	want, _ := ctx.Deadline()
	res, err := p.Run(ctx, "d")
	if err != nil {
		t.Fatal(err)
	}
	f := res.Metrics[0].Fields
	got, _ := f["deadline_unix_nano"].(int64)
	if f["has_deadline"] != true || time.Unix(0, got).Sub(want).Abs() > 500*time.Millisecond {
		t.Errorf("plugin saw deadline %v (has_deadline %v), host's is %v", time.Unix(0, got), f["has_deadline"], want)
	}
	// Without a deadline, the plugin sees none.
	res, err = p.Run(context.Background(), "d")
	if err != nil || res.Metrics[0].Fields["has_deadline"] != false {
		t.Errorf("no deadline: %v %v", res, err)
	}
}

func TestRunTimeout(t *testing.T) {
	t.Parallel()
	p := startTest(t)
	configure(t, p, "sleepy", `{"mode": "sleep", "sleep_ms": 5000}`)
	configure(t, p, "stuck", `{"mode": "block"}`) // ignores ctx
	configure(t, p, "a", `{"label": "a"}`)
	const timeout = 200 * time.Millisecond
	for _, tc := range []struct {
		inst     string
		min, max time.Duration
	}{
		{"sleepy", timeout, timeout + 1500*time.Millisecond}, // far below its 5s sleep
		// The host waits RunGrace for a check's own timeout result.
		{"stuck", timeout + host.RunGrace, timeout + host.RunGrace + 1500*time.Millisecond},
	} {
		err, took := runErr(t, p, tc.inst, timeout)
		if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, host.ErrExited) {
			t.Errorf("%s: error %v, want a deadline error", tc.inst, err)
		}
		if took < tc.min-10*time.Millisecond || took > tc.max {
			t.Errorf("%s: run took %s with a %s timeout, want %s to %s", tc.inst, took, timeout, tc.min, tc.max)
		}
	}
	if res := run(t, p, "a", 5*time.Second); res.Message != "a" || p.Exited() {
		t.Errorf("after timeouts: %+v, exited %v", res, p.Exited())
	}
}

func TestRunErrors(t *testing.T) {
	t.Parallel()
	p := startTest(t)
	pid := p.Pid()
	configure(t, p, "fails", `{"mode": "error"}`)
	configure(t, p, "panics", `{"mode": "panic", "label": "p1"}`)
	configure(t, p, "a", `{"label": "a"}`)
	for _, tc := range []struct{ inst, want string }{
		{"fails", "check failed on purpose"},
		{"panics", "run panicked: boom in p1"},
		{"panics", "run panicked: boom in p1"}, // again: the instance survives too
		{"nope", `instance "nope" is not configured`},
	} {
		err, _ := runErr(t, p, tc.inst, 5*time.Second)
		if err.Error() != tc.want || errors.Is(err, host.ErrExited) {
			t.Errorf("%s: error %q, want %q", tc.inst, err, tc.want)
		}
	}
	if res := run(t, p, "a", 5*time.Second); res.Message != "a" || p.Exited() || p.Pid() != pid || p.Starts() != 1 {
		t.Errorf("after errors and panics: %+v, exited %v, pid %d (was %d), starts %d", res, p.Exited(), p.Pid(), pid, p.Starts())
	}
}

func TestInstancesAreIndependent(t *testing.T) {
	t.Parallel()
	p := startTest(t)
	configure(t, p, "a", `{"label": "a"}`)
	configure(t, p, "b", `{"label": "b"}`)
	runs := func(inst string) int64 {
		res := run(t, p, inst, 5*time.Second)
		if res.Message != inst || res.Metrics[0].Tags["label"] != inst {
			t.Errorf("instance %s answered %q %v", inst, res.Message, res.Metrics[0].Tags)
		}
		return res.Metrics[0].Fields["runs"].(int64)
	}
	if got := []int64{runs("a"), runs("a"), runs("b"), runs("a")}; !slices.Equal(got, []int64{1, 2, 1, 3}) {
		t.Errorf("run counts %v, want [1 2 1 3]", got)
	}
	configure(t, p, "a", `{"label": "a"}`) // a new value
	if got := runs("a"); got != 1 {
		t.Errorf("after reconfigure: run count %d, want 1", got)
	}
	if err := p.Close(context.Background(), "b"); err != nil {
		t.Fatal(err)
	}
	if err, _ := runErr(t, p, "b", 5*time.Second); err.Error() != `instance "b" is not configured` {
		t.Errorf("closed instance: %v", err)
	}
	if got := runs("a"); got != 2 {
		t.Errorf("after closing b: run count %d, want 2", got)
	}
}

func TestInstancesRunConcurrently(t *testing.T) {
	t.Parallel()
	p := startTest(t)
	configure(t, p, "slow", `{"mode": "sleep", "sleep_ms": 1000, "label": "slow"}`)
	configure(t, p, "fast", `{"label": "fast"}`)
	var wg sync.WaitGroup
	var slowDone time.Time
	wg.Go(func() {
		run(t, p, "slow", 5*time.Second)
		slowDone = time.Now()
	})
	time.Sleep(50 * time.Millisecond) // let slow start
	run(t, p, "fast", 5*time.Second)
	fastDone := time.Now()
	wg.Wait()
	if !fastDone.Before(slowDone) {
		t.Errorf("fast finished %s after slow: runs are serialised", fastDone.Sub(slowDone))
	}
}

func TestExitMidRun(t *testing.T) {
	t.Parallel()
	p := startTest(t)
	configure(t, p, "dies", `{"mode": "exit"}`)
	configure(t, p, "a", `{"label": "a"}`)
	err, _ := runErr(t, p, "dies", 5*time.Second)
	if !errors.Is(err, host.ErrExited) || !p.Exited() || p.Pid() != 0 {
		t.Fatalf("error %v (exited %v, pid %d), want ErrExited", err, p.Exited(), p.Pid())
	}
	if err, _ := runErr(t, p, "a", 5*time.Second); !errors.Is(err, host.ErrExited) {
		t.Errorf("run on the dead process: %v, want ErrExited", err)
	}
	if err := p.Configure(context.Background(), "b", []byte(`{}`)); !errors.Is(err, host.ErrExited) {
		t.Errorf("configure on the dead process: %v, want ErrExited", err)
	}
	if err := p.Close(context.Background(), "b"); err != nil {
		t.Errorf("close on the dead process: %v", err)
	}
	restartAndRun(t, p, "a")
}

// restartAndRun restarts p and checks that inst runs without being
// configured again, in a fresh process.
func restartAndRun(t *testing.T, p *host.Plugin, inst string) {
	t.Helper()
	if err := p.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	if p.Starts() != 2 || p.Exited() || p.Pid() <= 0 {
		t.Errorf("after restart: starts %d, exited %v, pid %d", p.Starts(), p.Exited(), p.Pid())
	}
	res := run(t, p, inst, 5*time.Second)
	if res.Message != inst || res.Metrics[0].Fields["runs"] != int64(1) {
		t.Errorf("after restart: %q runs=%v, want %q runs=1", res.Message, res.Metrics[0].Fields["runs"], inst)
	}
}

func TestCheckFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := func(name string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // exact, whatever the umask
			t.Fatal(err)
		}
		return p
	}
	ok := file("ok", 0o755)
	if err := host.CheckFile(ok); err != nil {
		t.Errorf("mode 0755: %v", err)
	}
	if err := host.CheckFile(file("owner-only", 0o700)); err != nil {
		t.Errorf("mode 0700: %v", err)
	}
	for _, tc := range []struct {
		path, want string
	}{
		{file("group-writable", 0o775), "refusing a group- or world-writable plugin (mode 0775); chmod go-w it"},
		{file("world-writable", 0o757), "refusing a group- or world-writable plugin (mode 0757); chmod go-w it"},
		{file("not-executable", 0o644), "not executable"},
		{dir, "not a regular file"},
	} {
		want := tc.path + ": " + tc.want
		if err := host.CheckFile(tc.path); err == nil || err.Error() != want {
			t.Errorf("CheckFile: %v, want %s", err, want)
		}
		// Start refuses it before running anything.
		if _, err := host.Start(context.Background(), host.Config{Path: tc.path}); err == nil || err.Error() != want {
			t.Errorf("Start: %v, want %s", err, want)
		}
	}
	if err := host.CheckFile(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestSHA256Pin(t *testing.T) {
	t.Parallel()
	bin := checktest.Build(t, testPluginPkg)
	sum, err := host.FileSHA256(bin)
	if err != nil || len(sum) != 64 {
		t.Fatalf("FileSHA256 = %q, %v", sum, err)
	}
	for _, pin := range []string{sum, strings.ToUpper(sum)} {
		p, err := host.Start(context.Background(), host.Config{Path: bin, SHA256: pin})
		if err != nil {
			t.Fatalf("right pin %s: %v", pin, err)
		}
		if p.Info().Name != testcheck.Name {
			t.Errorf("pinned plugin: %+v", p.Info())
		}
		p.Kill()
	}
	wrong := strings.Repeat("0a", 32)
	_, err = host.Start(context.Background(), host.Config{Path: bin, SHA256: wrong})
	want := fmt.Sprintf("%s: sha256 is %s, pinned %s: refusing to start it", bin, sum, wrong)
	if err == nil || err.Error() != want {
		t.Errorf("wrong pin: %v, want %s", err, want)
	}
	for _, bad := range []string{"xyz", sum[:63], sum + "0"} {
		_, err := host.Start(context.Background(), host.Config{Path: bin, SHA256: bad})
		want := fmt.Sprintf("%s: sha256 pin %q is not 64 hex digits", bin, bad)
		if err == nil || err.Error() != want {
			t.Errorf("malformed pin %q: %v, want %s", bad, err, want)
		}
	}
}

func TestPluginRunDirectly(t *testing.T) {
	t.Parallel()
	for _, pkg := range []string{testPluginPkg, tcpConnectPkg} {
		bin := checktest.Build(t, pkg)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin)
		cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "MAILMON_PLUGIN_MAGIC_COOKIE=") })
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Errorf("%s: %v, want exit status 1", pkg, err)
		}
		want := bin + " is a mailmon check plugin: it is started by the mailmon agent.\n" +
			"Try `mailmon test --check NAME` with a config that enables it.\n"
		if stderr.String() != want || stdout.Len() != 0 {
			t.Errorf("%s: stdout %q, stderr %q; want stderr %q", pkg, stdout.String(), stderr.String(), want)
		}
	}
}
