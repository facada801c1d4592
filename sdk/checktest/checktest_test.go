package checktest_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mailmon/mailmon/sdk"
	"github.com/mailmon/mailmon/sdk/checktest"
	"github.com/mailmon/mailmon/sdk/internal/testcheck"
)

// fakeTB records a helper's fatal failure instead of failing the real test.
type fakeTB struct {
	testing.TB
	fatal string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.fatal = strings.TrimSpace(fmt.Sprintf(format, args...))
	runtime.Goexit()
}

func (f *fakeTB) Fatal(args ...any) {
	f.fatal = strings.TrimSpace(fmt.Sprintln(args...))
	runtime.Goexit()
}

// fatal runs fn with a fake TB and returns its fatal message, "" if none.
func fatal(t *testing.T, fn func(tb testing.TB)) string {
	ft := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(ft)
	}()
	<-done
	return ft.fatal
}

// stub is a check whose answers the test sets.
type stub struct {
	configErr error
	res       *sdk.Result
	runErr    error
	deadline  time.Time
}

func (*stub) Info() sdk.Info               { return sdk.Info{Name: "stub"} }
func (s *stub) Configure(raw []byte) error { return s.configErr }
func (s *stub) Run(ctx context.Context) (*sdk.Result, error) {
	s.deadline, _ = ctx.Deadline()
	return s.res, s.runErr
}

func good() *sdk.Result {
	m := sdk.NewMetric("mailmon_stub")
	m.Tags["target"] = "mx1:25"
	m.Fields["connect_seconds"] = 0.5
	m.Fields["expiry_days"] = int64(30)
	m.Fields["left_days"] = 1.5
	m.Fields["count"] = int64(3)
	m.Fields["banner"] = "220 hi"
	return &sdk.Result{Status: sdk.OK, Reason: "ok", Message: "fine", Metrics: []sdk.Metric{m}}
}

func TestCheckConventions(t *testing.T) {
	if err := checktest.CheckConventions(good()); err != nil {
		t.Errorf("good result: %v", err)
	}
	if err := checktest.CheckConventions(&sdk.Result{Reason: "cert_expiring_2"}); err != nil {
		t.Errorf("no metrics: %v", err)
	}
	for _, tc := range []struct {
		name   string
		mutate func(r *sdk.Result)
		want   string
	}{
		{"nil", nil, "result is nil"},
		{"empty reason", func(r *sdk.Result) { r.Reason = "" }, `reason "" is not snake_case`},
		{"camel reason", func(r *sdk.Result) { r.Reason = "connectFailed" }, `reason "connectFailed" is not snake_case`},
		{"kebab reason", func(r *sdk.Result) { r.Reason = "connect-failed" }, `reason "connect-failed" is not snake_case`},
		{"spaced reason", func(r *sdk.Result) { r.Reason = "connect failed" }, `reason "connect failed" is not snake_case`},
		{"double underscore", func(r *sdk.Result) { r.Reason = "a__b" }, `reason "a__b" is not snake_case`},
		{"measurement", func(r *sdk.Result) { r.Metrics[0].Name = "smtp" }, `metric "smtp": measurement does not start with mailmon_<check>`},
		{"bare prefix", func(r *sdk.Result) { r.Metrics[0].Name = "mailmon_" }, `metric "mailmon_": measurement does not start with mailmon_<check>`},
		{"int seconds", func(r *sdk.Result) { r.Metrics[0].Fields["connect_seconds"] = int64(1) }, "metric mailmon_stub: field connect_seconds is int64, want float64 seconds"},
		{"uint days", func(r *sdk.Result) { r.Metrics[0].Fields["expiry_days"] = uint64(1) }, "metric mailmon_stub: field expiry_days is uint64, want float64 or int64 days"},
		{"string days", func(r *sdk.Result) { r.Metrics[0].Fields["expiry_days"] = "30" }, "metric mailmon_stub: field expiry_days is string, want float64 or int64 days"},
		{"status_code", func(r *sdk.Result) { r.Metrics[0].Fields["status_code"] = int64(0) }, "metric mailmon_stub: field status_code is set by the agent"},
		{"duration_seconds", func(r *sdk.Result) { r.Metrics[0].Fields["duration_seconds"] = 0.1 }, "metric mailmon_stub: field duration_seconds is set by the agent"},
		{"empty tag", func(r *sdk.Result) { r.Metrics[0].Tags["target"] = "" }, "metric mailmon_stub: tag target is empty"},
		{"host tag", func(r *sdk.Result) { r.Metrics[0].Tags["host"] = "mx1" }, "metric mailmon_stub: tag host is set by the agent"},
		{"result tag", func(r *sdk.Result) { r.Metrics[0].Tags["result"] = "ok" }, "metric mailmon_stub: tag result is set by the agent"},
		{"second metric", func(r *sdk.Result) {
			r.Metrics = append(r.Metrics, sdk.Metric{Name: "mailmon_stub_cert", Fields: map[string]any{"left_seconds": 5}})
		}, "metric mailmon_stub_cert: field left_seconds is int, want float64 seconds"},
	} {
		var r *sdk.Result
		if tc.mutate != nil {
			r = good()
			tc.mutate(r)
		}
		err := checktest.CheckConventions(r)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: got %v, want %s", tc.name, err, tc.want)
		}
	}
}

func TestCheckConventionsReportsEveryViolation(t *testing.T) {
	r := good()
	r.Reason = "Bad"
	r.Metrics[0].Fields["b_seconds"] = "x"
	r.Metrics[0].Fields["a_seconds"] = int64(1)
	want := `reason "Bad" is not snake_case
metric mailmon_stub: field a_seconds is int64, want float64 seconds
metric mailmon_stub: field b_seconds is string, want float64 seconds`
	if err := checktest.CheckConventions(r); err == nil || err.Error() != want {
		t.Errorf("got:\n%v\nwant:\n%s", err, want)
	}
}

func TestConfigure(t *testing.T) {
	if msg := fatal(t, func(tb testing.TB) { checktest.Configure(tb, &stub{}, `{}`) }); msg != "" {
		t.Errorf("accepted config failed the test: %s", msg)
	}
	bad := &stub{configErr: sdk.OptionError("address", "required")}
	want := "configure {}: option address: required"
	if msg := fatal(t, func(tb testing.TB) { checktest.Configure(tb, bad, `{}`) }); msg != want {
		t.Errorf("rejected config: %q, want %q", msg, want)
	}
}

func TestConfigError(t *testing.T) {
	var got *sdk.ConfigError
	msg := fatal(t, func(tb testing.TB) {
		got = checktest.ConfigError(tb, &stub{configErr: sdk.OptionError("tls.port", "too big")}, `{"tls": {"port": 1e9}}`)
	})
	if msg != "" || got == nil || got.Key != "tls.port" || got.Err.Error() != "too big" {
		t.Errorf("got %#v (fatal %q)", got, msg)
	}
	for _, tc := range []struct {
		c    *stub
		want string
	}{
		{&stub{}, "configure {}: accepted, want an error"},
		{&stub{configErr: errors.New("nope")}, `configure {}: error "nope" is a *errors.errorString, want a *sdk.ConfigError (use sdk.DecodeConfig and sdk.OptionError)`},
	} {
		if msg := fatal(t, func(tb testing.TB) { checktest.ConfigError(tb, tc.c, `{}`) }); msg != tc.want {
			t.Errorf("got %q, want %q", msg, tc.want)
		}
	}
}

func TestRun(t *testing.T) {
	s := &stub{res: good()}
	var res *sdk.Result
	start := time.Now()
	if msg := fatal(t, func(tb testing.TB) { res = checktest.Run(tb, s, 3*time.Second) }); msg != "" || res != s.res {
		t.Fatalf("good run: %q", msg)
	}
	if left := s.deadline.Sub(start); left < 3*time.Second || left > 3500*time.Millisecond {
		t.Errorf("check saw a deadline %s away, want 3s", left)
	}
	nan := good()
	nan.Metrics[0].Fields["ratio"] = math.NaN()
	convention := good()
	convention.Reason = "Oops"
	for _, tc := range []struct {
		c    *stub
		want string
	}{
		{&stub{runErr: errors.New("no route")}, "run: no route"},
		{&stub{}, "run: returned neither a result nor an error"},
		{&stub{res: nan}, "run: invalid result: metric mailmon_stub field ratio: value NaN is not a finite number"},
		{&stub{res: convention}, "run: result breaks the metric conventions:\n" + `reason "Oops" is not snake_case`},
	} {
		if msg := fatal(t, func(tb testing.TB) { checktest.Run(tb, tc.c, time.Second) }); msg != tc.want {
			t.Errorf("got %q, want %q", msg, tc.want)
		}
	}
}

const testPluginPkg = "github.com/mailmon/mailmon/sdk/internal/testcheck/testplugin"

func TestBuildAndStart(t *testing.T) {
	bin := checktest.Build(t, testPluginPkg)
	if filepath.Base(bin) != "mailmon-check-testplugin" {
		t.Errorf("binary %s, want mailmon-check-testplugin", bin)
	}
	st, err := os.Stat(bin)
	if err != nil || st.Mode().Perm() != 0o755 {
		t.Fatalf("binary mode: %v %v", st, err)
	}
	if again := checktest.Build(t, "../internal/testcheck/testplugin"); again != bin {
		t.Errorf("relative path built %s, want the cached %s", again, bin)
	}
	if st2, err := os.Stat(bin); err != nil || !st2.ModTime().Equal(st.ModTime()) {
		t.Errorf("second Build wrote the binary again (%v): not cached", err)
	}

	var p interface{ Exited() bool }
	t.Run("start", func(t *testing.T) {
		started := checktest.Start(t, bin)
		if started.Info().Name != testcheck.Name || started.Exited() {
			t.Errorf("started plugin: %+v, exited %v", started.Info(), started.Exited())
		}
		p = started
	})
	if !p.Exited() {
		t.Error("plugin still runs after its test ended")
	}
}

func TestBuildErrors(t *testing.T) {
	want := "checktest.Build: github.com/mailmon/mailmon/sdk is package sdk, not a plugin's main package"
	if msg := fatal(t, func(tb testing.TB) { checktest.Build(tb, "github.com/mailmon/mailmon/sdk") }); msg != want {
		t.Errorf("library package: %q, want %q", msg, want)
	}
	msg := fatal(t, func(tb testing.TB) { checktest.Build(tb, "./no/such/dir") })
	if !strings.HasPrefix(msg, "checktest.Build: go list -f") || !strings.Contains(msg, "no/such/dir") {
		t.Errorf("missing package: %q", msg)
	}
}

func TestStartFails(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mailmon-check-nothing")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	want := "checktest.Start: " + path + ": not executable"
	if msg := fatal(t, func(tb testing.TB) { checktest.Start(tb, path) }); !strings.HasPrefix(msg, want) {
		t.Errorf("got %q, want prefix %q", msg, want)
	}
}

// errorsTB records Errorf calls.
type errorsTB struct {
	testing.TB
	errs []string
}

func (e *errorsTB) Helper() {}
func (e *errorsTB) Errorf(format string, args ...any) {
	e.errs = append(e.errs, fmt.Sprintf(format, args...))
}

func TestWant(t *testing.T) {
	res := &sdk.Result{Status: sdk.Critical, Reason: "connect_failed", Message: "cannot connect to mx:25: refused"}
	e := &errorsTB{TB: t}
	checktest.Want(e, res, sdk.Critical, "connect_failed", "mx:25", "refused")
	if len(e.errs) != 0 {
		t.Errorf("matching result reported %v", e.errs)
	}
	checktest.Want(e, res, sdk.Warning, "connect_failed", "timeout")
	want := []string{
		"got CRITICAL connect_failed (cannot connect to mx:25: refused), want WARNING connect_failed",
		`message "cannot connect to mx:25: refused" does not contain "timeout"`,
	}
	if fmt.Sprint(e.errs) != fmt.Sprint(want) {
		t.Errorf("errors %q, want %q", e.errs, want)
	}
}
