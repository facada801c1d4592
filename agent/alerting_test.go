package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mailmon/mailmon/agent/config"
	"github.com/mailmon/mailmon/outputs"
	"github.com/mailmon/mailmon/sdk"
)

// flakyReceiver fails the way real endpoints do, then recovers.
type flakyReceiver struct {
	mu       sync.Mutex
	fail     func(n int, e *outputs.Event) error // nil = accept
	attempts int
	got      []string // event IDs accepted, in order
	times    []time.Time
}

func (f *flakyReceiver) SampleConfig() string { return "" }
func (f *flakyReceiver) Description() string  { return "test receiver" }
func (f *flakyReceiver) Send(_ context.Context, e *outputs.Event) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts++
	f.times = append(f.times, time.Now())
	if f.fail != nil {
		if err := f.fail(f.attempts, e); err != nil {
			return err
		}
	}
	f.got = append(f.got, e.ID)
	return nil
}

func (f *flakyReceiver) accepted() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.got...)
}

func testAlerter(t *testing.T, outs ...*alertOutput) *alerter {
	t.Helper()
	cfg := &config.Config{File: "t.toml", Agent: config.Agent{Hostname: "h"}, Alerting: config.Alerting{StateDir: t.TempDir(), Policy: config.DefaultPolicy()}}
	al, err := openAlerter(cfg, outs, quiet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(al.close)
	return al
}

func out(key string, r outputs.AlertOutput, statuses ...string) *alertOutput {
	if len(statuses) == 0 {
		statuses = []string{"WARNING", "CRITICAL", "UNKNOWN"}
	}
	return newAlertOutput(config.Output{Key: key, Statuses: statuses, QueueLimit: 1000}, r)
}

func check(name string) config.Check {
	return config.Check{Type: "smtp-banner", Name: name, Alerts: true, Policy: config.DefaultPolicy()}
}

func report(s sdk.Status, at time.Time) Report {
	return Report{Result: &sdk.Result{Status: s, Reason: "r", Message: "m"}, Start: at}
}

// observeAll feeds statuses one minute apart.
func observeAll(al *alerter, c config.Check, statuses ...sdk.Status) {
	t := time.Now()
	for i, s := range statuses {
		al.observe(c, report(s, t.Add(time.Duration(i)*time.Minute)))
	}
}

func waitAccepted(t *testing.T, r *flakyReceiver, n int, timeout time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if got := r.accepted(); len(got) >= n {
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("receiver accepted %v, want %d events", r.accepted(), n)
	return nil
}

func TestOutageThenRecoveryDeliversEveryEventOnceInOrder(t *testing.T) {
	r := &flakyReceiver{fail: func(n int, _ *outputs.Event) error {
		if n <= 3 {
			return errors.New("500 internal server error")
		}
		return nil
	}}
	o := out("outputs.test[0]", r)
	al := testAlerter(t, o)
	// Two incidents of two checks: 4 triggers and resolves, queued while the receiver fails.
	observeAll(al, check("a"), sdk.Critical, sdk.Critical, sdk.OK)
	observeAll(al, check("b"), sdk.Warning, sdk.Warning, sdk.OK)
	want := []*outputsEventID{}
	for _, e := range al.j.Oldest(o.key, 10) {
		want = append(want, &outputsEventID{e.ID, string(e.Type), e.Instance})
	}
	if len(want) != 4 {
		t.Fatalf("queued %d events, want 4", len(want))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go al.deliver(ctx, o)
	got := waitAccepted(t, r, 4, 20*time.Second)
	time.Sleep(100 * time.Millisecond)
	got = r.accepted()
	if len(got) != 4 {
		t.Fatalf("accepted %v, want each of 4 exactly once", got)
	}
	for i, w := range want {
		if got[i] != w.id {
			t.Errorf("event %d: got %s, want %s (%s %s): out of order", i, got[i], w.id, w.typ, w.inst)
		}
	}
	if al.j.Len(o.key) != 0 || o.sent.Load() != 4 || o.errors.Load() != 3 {
		t.Errorf("queue %d sent %d errors %d", al.j.Len(o.key), o.sent.Load(), o.errors.Load())
	}
}

type outputsEventID struct{ id, typ, inst string }

// A receiver that answers 500 for a long stretch (scaled down: 3 s with
// retries every 20-200 ms, so dozens of failed attempts) then recovers
// gets every event exactly once, in order, also events queued meanwhile.
func TestLongOutageManyRetries(t *testing.T) {
	var upAt time.Time
	r := &flakyReceiver{fail: func(int, *outputs.Event) error {
		if time.Now().Before(upAt) {
			return errors.New("500 internal server error")
		}
		return nil
	}}
	o := out("outputs.test[0]", r)
	o.backoffMin, o.backoffMax = 20*time.Millisecond, 200*time.Millisecond
	al := testAlerter(t, o)
	upAt = time.Now().Add(3 * time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go al.deliver(ctx, o)
	var want []string
	for i := range 5 {
		observeAll(al, check(fmt.Sprintf("c%d", i)), sdk.Critical, sdk.Critical, sdk.OK)
		time.Sleep(300 * time.Millisecond)
	}
	for _, e := range al.j.Oldest(o.key, 100) {
		want = append(want, e.ID)
	}
	got := waitAccepted(t, r, 10, 20*time.Second)
	time.Sleep(300 * time.Millisecond)
	got = r.accepted()
	if fmt.Sprint(got) != fmt.Sprint(want) || len(got) != 10 {
		t.Errorf("accepted %d events %v\nwant %d in order %v", len(got), got, len(want), want)
	}
	if o.errors.Load() < 10 {
		t.Errorf("only %d failed attempts: the outage was not exercised", o.errors.Load())
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	r := &flakyReceiver{fail: func(n int, _ *outputs.Event) error {
		if n == 1 {
			return &outputs.RetryAfterError{Wait: 1500 * time.Millisecond, Err: errors.New("429 too many requests")}
		}
		return nil
	}}
	o := out("outputs.test[0]", r)
	al := testAlerter(t, o)
	observeAll(al, check("a"), sdk.Critical, sdk.Critical)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go al.deliver(ctx, o)
	waitAccepted(t, r, 1, 10*time.Second)
	r.mu.Lock()
	gap := r.times[1].Sub(r.times[0])
	r.mu.Unlock()
	if gap < 1500*time.Millisecond {
		t.Errorf("retried after %s, Retry-After asked for 1.5s", gap)
	}
}

func TestPermanentErrorDropsOnlyThatEvent(t *testing.T) {
	r := &flakyReceiver{fail: func(n int, _ *outputs.Event) error {
		if n == 1 {
			return outputs.Permanent(errors.New("400 bad request: invalid routing key"))
		}
		return nil
	}}
	o := out("outputs.test[0]", r)
	al := testAlerter(t, o)
	observeAll(al, check("a"), sdk.Critical, sdk.Critical, sdk.OK)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go al.deliver(ctx, o)
	got := waitAccepted(t, r, 1, 10*time.Second)
	if len(got) != 1 || o.dropped.Load() != 1 {
		t.Errorf("accepted %v dropped %d; want the resolve delivered, the trigger dropped", got, o.dropped.Load())
	}
}

func TestRoutingBySeverityAndResolveFollowsTrigger(t *testing.T) {
	pd, slack := &flakyReceiver{}, &flakyReceiver{}
	pdo, slo := out("outputs.pagerduty[0]", pd, "CRITICAL"), out("outputs.slack[0]", slack, "WARNING", "CRITICAL")
	al := testAlerter(t, pdo, slo)
	observeAll(al, check("warn-only"), sdk.Warning, sdk.Warning, sdk.OK)
	observeAll(al, check("escalates"), sdk.Warning, sdk.Warning, sdk.Critical, sdk.OK)
	types := func(o *alertOutput) string {
		var s []string
		for _, e := range al.j.Oldest(o.key, 100) {
			s = append(s, fmt.Sprintf("%s/%s:%s", e.Instance, e.Type, e.Status))
		}
		return fmt.Sprint(s)
	}
	if got := types(pdo); got != "[escalates/trigger:CRITICAL escalates/resolve:OK]" {
		t.Errorf("pagerduty queue %s", got)
	}
	if got := types(slo); got != "[warn-only/trigger:WARNING warn-only/resolve:OK escalates/trigger:WARNING escalates/trigger:CRITICAL escalates/resolve:OK]" {
		t.Errorf("slack queue %s", got)
	}
}

func TestQueueLimitDropsOldest(t *testing.T) {
	o := out("outputs.test[0]", &flakyReceiver{})
	o.limit = 2
	al := testAlerter(t, o)
	for i := range 3 {
		observeAll(al, check(fmt.Sprintf("c%d", i)), sdk.Critical, sdk.Critical)
	}
	q := al.j.Oldest(o.key, 10)
	if len(q) != 2 || q[0].Instance != "c1" || o.dropped.Load() != 1 {
		t.Errorf("queue %d (first %s), dropped %d", len(q), q[0].Instance, o.dropped.Load())
	}
}

func TestStateSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	r := &flakyReceiver{}
	cfg := &config.Config{File: "t.toml", Agent: config.Agent{Hostname: "h"}, Alerting: config.Alerting{StateDir: dir, Policy: config.DefaultPolicy()}}
	o := out("outputs.test[0]", r)
	al, err := openAlerter(cfg, []*alertOutput{o}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := openAlerter(cfg, []*alertOutput{o}, quiet()); err == nil {
		t.Error("a second agent opened the same state folder")
	}
	observeAll(al, check("a"), sdk.Critical, sdk.Critical)
	al.close()

	// After a restart the open incident neither fires again nor is forgotten.
	al, err = openAlerter(cfg, []*alertOutput{o}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer al.close()
	observeAll(al, check("a"), sdk.Critical, sdk.Critical)
	if n := al.j.Len(o.key); n != 1 {
		t.Errorf("queued %d after restart, want only the first trigger", n)
	}
	observeAll(al, check("a"), sdk.OK)
	q := al.j.Oldest(o.key, 10)
	if len(q) != 2 || q[1].Type != outputs.Resolve || q[1].DedupKey != q[0].DedupKey {
		t.Errorf("after restart the resolve must close the same incident: %+v", q)
	}
	m := al.j.Machine("smtp-banner/a")
	if m.Notified != sdk.OK {
		t.Errorf("machine %+v", m)
	}
}

func TestMaintenanceFileSilences(t *testing.T) {
	al := testAlerter(t)
	file := filepath.Join(t.TempDir(), "maintenance")
	al.cfg.MaintenanceFile = file
	now := time.Now()
	if al.silenced(check("mx-1"), now) {
		t.Error("silenced without the file")
	}
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if !al.silenced(check("mx-1"), now) || !al.silenced(check("other"), now) {
		t.Error("an empty file must silence every check")
	}
	if err := os.WriteFile(file, []byte("# upgrade of mx1\nmx-*\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if !al.silenced(check("mx-1"), now) || al.silenced(check("other"), now) {
		t.Error("a file with globs must silence only the matching checks")
	}
	// Events held back while silenced go out once the file is gone.
	o := out("outputs.test[0]", &flakyReceiver{})
	al.outs = []*alertOutput{o}
	observeAll(al, check("mx-1"), sdk.Critical, sdk.Critical)
	if n := al.j.Len(o.key); n != 0 {
		t.Fatalf("%d events queued during maintenance", n)
	}
	_ = os.Remove(file)
	observeAll(al, check("mx-1"), sdk.Critical)
	if q := al.j.Oldest(o.key, 10); len(q) != 1 || q[0].Type != outputs.Trigger {
		t.Errorf("after maintenance: %v", q)
	}
}
