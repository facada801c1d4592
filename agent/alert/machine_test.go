package alert

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mailmon/mailmon/agent/config"
	"github.com/mailmon/mailmon/outputs"
	"github.com/mailmon/mailmon/sdk"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// feed runs statuses through m one minute apart and returns the event
// types in order, as "type:STATUS".
func feed(m *Machine, p config.Policy, start int, silenced bool, statuses ...sdk.Status) ([]string, []*outputs.Event) {
	var types []string
	var all []*outputs.Event
	for i, s := range statuses {
		o := Observation{Host: "h", Check: "smtp-banner", Instance: "mx", Target: "t:25",
			Result: &sdk.Result{Status: s, Reason: strings.ToLower(s.String()), Message: "m"},
			Time:   t0.Add(time.Duration(start+i) * time.Minute)}
		for _, e := range m.Observe(o, p, silenced) {
			types = append(types, fmt.Sprintf("%s:%s", e.Type, e.Status))
			all = append(all, e)
		}
	}
	return types, all
}

const (
	ok   = sdk.OK
	warn = sdk.Warning
	crit = sdk.Critical
	unk  = sdk.Unknown
)

func TestTriggersOnceAfterAlertAfterAndResolvesOnce(t *testing.T) {
	var m Machine
	p := config.DefaultPolicy()
	got, evs := feed(&m, p, 0, false, ok, crit, crit, crit, crit, ok, ok, ok)
	want := "[trigger:CRITICAL resolve:OK]"
	if fmt.Sprint(got) != want {
		t.Fatalf("events %v, want %s", got, want)
	}
	trig, res := evs[0], evs[1]
	if trig.Time != t0.Add(2*time.Minute) || !trig.FirstFailed.Equal(t0.Add(time.Minute)) {
		t.Errorf("trigger at %s first failed %s", trig.Time, trig.FirstFailed)
	}
	if trig.DedupKey != res.DedupKey || trig.DedupKey != fmt.Sprintf("mailmon/h/smtp-banner/mx/%d", t0.Add(time.Minute).Unix()) {
		t.Errorf("dedup keys %q %q", trig.DedupKey, res.DedupKey)
	}
	if res.PreviousStatus != "CRITICAL" || trig.ID == res.ID || trig.Target != "t:25" {
		t.Errorf("resolve %+v", res)
	}
	// The next incident gets a new key.
	_, evs = feed(&m, p, 10, false, warn, warn)
	if len(evs) != 1 || evs[0].DedupKey == trig.DedupKey {
		t.Errorf("second incident %+v", evs)
	}
}

func TestSingleBlipDoesNotAlert(t *testing.T) {
	var m Machine
	got, _ := feed(&m, config.DefaultPolicy(), 0, false, ok, crit, ok, crit, ok, ok)
	if len(got) != 0 {
		t.Errorf("soft failures alerted: %v", got)
	}
}

func TestRecoverAfterAndEscalation(t *testing.T) {
	var m Machine
	p := config.DefaultPolicy()
	p.RecoverAfter = 3
	got, evs := feed(&m, p, 0, false, warn, warn, crit, ok, ok, crit, ok, ok, ok)
	want := "[trigger:WARNING trigger:CRITICAL resolve:OK]"
	if fmt.Sprint(got) != want {
		t.Fatalf("events %v, want %s", got, want)
	}
	if evs[1].PreviousStatus != "WARNING" || evs[1].DedupKey != evs[0].DedupKey {
		t.Errorf("escalation keeps the incident: %+v", evs[1])
	}
}

func TestRenotify(t *testing.T) {
	var m Machine
	p := config.DefaultPolicy()
	p.Renotify = 3 * time.Minute
	got, _ := feed(&m, p, 0, false, crit, crit, crit, crit, crit, crit, crit, crit, ok)
	want := "[trigger:CRITICAL renotify:CRITICAL renotify:CRITICAL resolve:OK]"
	if fmt.Sprint(got) != want {
		t.Errorf("events %v, want %s", got, want)
	}
}

func TestFlappingSuppressesAndSaysSo(t *testing.T) {
	var m Machine
	p := config.DefaultPolicy()
	p.FlapWindow, p.AlertAfter = 6, 1
	// Alternating results: the first ones alert, then flapping holds
	// notifications back until the state settles.
	got, _ := feed(&m, p, 0, false, ok, crit, ok, crit, ok, crit, ok, crit, ok, crit, crit, crit, crit, crit, crit, crit)
	s := fmt.Sprint(got)
	if !strings.Contains(s, "flapping:") || !strings.Contains(s, "flapping_end:CRITICAL") {
		t.Fatalf("no flapping start/end: %v", got)
	}
	start := strings.Index(s, "flapping:")
	end := strings.Index(s, "flapping_end")
	if between := s[start+len("flapping:") : end]; strings.Contains(between, "trigger") || strings.Contains(between, "resolve") {
		t.Errorf("notifications while flapping: %v", got)
	}
	// After it settles on CRITICAL the open state is what receivers know.
	if m.Notified != crit || m.Flapping {
		t.Errorf("after flapping: notified %s flapping %v (events %v)", m.Notified, m.Flapping, got)
	}
	if n := strings.Count(s, "trigger") + strings.Count(s, "resolve"); n > 6 {
		t.Errorf("%d notifications for 16 results: flapping did not hold them back: %v", n, got)
	}
}

func TestMaintenanceHoldsBackThenCatchesUp(t *testing.T) {
	var m Machine
	p := config.DefaultPolicy()
	got, _ := feed(&m, p, 0, true, crit, crit, crit)
	if len(got) != 0 {
		t.Fatalf("alerts during maintenance: %v", got)
	}
	got, _ = feed(&m, p, 3, false, crit)
	if fmt.Sprint(got) != "[trigger:CRITICAL]" {
		t.Errorf("after the window: %v", got)
	}
	// A problem that began and ended inside the window is never sent.
	var m2 Machine
	got, _ = feed(&m2, p, 0, true, crit, crit, ok)
	got2, _ := feed(&m2, p, 3, false, ok, ok)
	if len(got) != 0 || len(got2) != 0 {
		t.Errorf("events %v %v", got, got2)
	}
}

func TestUnknownIsAProblemState(t *testing.T) {
	var m Machine
	got, _ := feed(&m, config.DefaultPolicy(), 0, false, unk, unk, ok)
	if fmt.Sprint(got) != "[trigger:UNKNOWN resolve:OK]" {
		t.Errorf("events %v", got)
	}
}

func TestRelapseKeepsTheIncidentStart(t *testing.T) {
	var m Machine
	p := config.DefaultPolicy()
	p.RecoverAfter = 3
	_, evs := feed(&m, p, 0, false, crit, crit, ok, crit)
	first := evs[0].FirstFailed
	p.Renotify = time.Minute
	_, evs = feed(&m, p, 4, false, crit)
	if len(evs) != 1 || evs[0].Type != outputs.Renotify || !evs[0].FirstFailed.Equal(first) || evs[0].DedupKey != m.DedupKey {
		t.Errorf("after an OK blip the incident must keep its start %s: %+v", first, evs)
	}
}
