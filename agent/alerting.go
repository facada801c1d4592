package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mailmon/mailmon/agent/alert"
	"github.com/mailmon/mailmon/agent/config"
	"github.com/mailmon/mailmon/outputs"
	"github.com/mailmon/mailmon/sdk"
)

// Alert delivery retry backoff: doubling with jitter, unless the receiver
// says how long to wait (429 Retry-After).
const (
	alertBackoffMin = time.Second
	alertBackoffMax = 5 * time.Minute
	alertSendLimit  = 30 * time.Second
)

// alertOutput is one configured alert output and its delivery counters.
type alertOutput struct {
	key      string // outputs.slack[0]
	out      outputs.AlertOutput
	statuses map[string]bool
	checks   []string
	limit    int
	wake     chan struct{}
	// backoffMin and backoffMax bound the retry delay.
	backoffMin, backoffMax time.Duration

	sent, dropped, errors atomic.Uint64
}

func newAlertOutput(oc config.Output, out outputs.AlertOutput) *alertOutput {
	st := map[string]bool{}
	for _, s := range oc.Statuses {
		st[s] = true
	}
	return &alertOutput{key: oc.Key, out: out, statuses: st, checks: oc.Checks, limit: oc.QueueLimit, wake: make(chan struct{}, 1),
		backoffMin: alertBackoffMin, backoffMax: alertBackoffMax}
}

func (o *alertOutput) poke() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// matches reports whether an instance is routed to this output.
func (o *alertOutput) matches(c config.Check) bool {
	return len(o.checks) == 0 || matchAny(o.checks, c.Name) || matchAny(o.checks, c.Type)
}

// matchAny matches name against shell globs.
func matchAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

// alerter feeds results through the state machines and delivers events.
type alerter struct {
	cfg  config.Alerting
	host string
	j    *alert.Journal
	lock *os.File
	outs []*alertOutput
	log  *slog.Logger

	mu sync.Mutex // one observation at a time: machine, routing, commit
}

// openAlerter opens the journal in the state folder, locked so that two
// agents never share it.
func openAlerter(cfg *config.Config, outs []*alertOutput, log *slog.Logger) (*alerter, error) {
	dir := cfg.Alerting.StateDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, &config.Error{File: cfg.File, Key: "alerting.state_dir", Err: err}
	}
	lock, err := os.OpenFile(filepath.Join(dir, "agent.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, &config.Error{File: cfg.File, Key: "alerting.state_dir", Err: err}
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, &config.Error{File: cfg.File, Key: "alerting.state_dir", Err: fmt.Errorf("%s is in use by another mailmon agent", dir)}
	}
	j, err := alert.OpenJournal(filepath.Join(dir, "alerts.journal"))
	if err != nil {
		lock.Close()
		return nil, &config.Error{File: cfg.File, Key: "alerting.state_dir", Err: err}
	}
	return &alerter{cfg: cfg.Alerting, host: cfg.Agent.Hostname, j: j, lock: lock, outs: outs, log: log}, nil
}

func (al *alerter) close() {
	_ = al.j.Close()
	_ = al.lock.Close() // releases the flock
}

// silenced reports whether maintenance holds an instance's alerts back.
func (al *alerter) silenced(c config.Check, now time.Time) bool {
	for _, w := range al.cfg.Maintenance {
		if w.Active(now, c.Name, matchAny) {
			return true
		}
	}
	if al.cfg.MaintenanceFile == "" {
		return false
	}
	b, err := os.ReadFile(al.cfg.MaintenanceFile)
	if err != nil {
		return false
	}
	var patterns []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			patterns = append(patterns, l)
		}
	}
	return len(patterns) == 0 || matchAny(patterns, c.Name) || matchAny(patterns, c.Type)
}

// observe runs a report through its instance's state machine, routes the
// resulting events and commits state and queues in one journal write.
func (al *alerter) observe(c config.Check, r Report) {
	if !c.Alerts {
		return
	}
	obs := alert.Observation{Host: al.host, Check: c.Type, Instance: c.Name, Result: r.Result, Time: r.Start.Add(r.Duration)}
	if len(r.Metrics) > 0 {
		obs.Metrics = r.Metrics[0].Fields()
		obs.Tags = r.Metrics[0].Tags()
		obs.Target = obs.Tags["target"]
	}
	al.mu.Lock()
	defer al.mu.Unlock()
	key := c.Type + "/" + c.Name
	m := al.j.Machine(key)
	events := m.Observe(obs, c.Policy, al.silenced(c, obs.Time))
	tx := &alert.Tx{Machines: map[string]*alert.Machine{key: &m}}
	var woken []*alertOutput
	for _, ev := range events {
		al.log.Info("alert", "type", ev.Type, "check", c.Type, "instance", c.Name, "status", ev.Status, "reason", ev.Reason, "dedup_key", ev.DedupKey)
		for _, o := range al.route(&m, c, ev) {
			tx.Enqueue = append(tx.Enqueue, alert.Queued{Output: o.key, Event: ev})
			woken = append(woken, o)
		}
	}
	tx.Done = al.overflow(tx.Enqueue)
	if err := al.j.Commit(tx); err != nil {
		var cerr *alert.CompactError
		if !errors.As(err, &cerr) {
			al.log.Error("alert journal write failed; alert state not saved", "err", err)
			return
		}
		al.log.Warn("alert journal", "err", err)
	}
	for _, o := range woken {
		o.poke()
	}
}

// route picks an event's outputs: triggers by status and check, resolves
// to whoever got the incident, flapping notices by check.
func (al *alerter) route(m *alert.Machine, c config.Check, ev *outputs.Event) []*alertOutput {
	var out []*alertOutput
	switch ev.Type {
	case outputs.Resolve:
		for _, o := range al.outs {
			if contains(m.Routed, o.key) {
				out = append(out, o)
			}
		}
		m.Routed = nil
	case outputs.Trigger, outputs.Renotify:
		for _, o := range al.outs {
			if o.matches(c) && o.statuses[ev.Status] {
				out = append(out, o)
				if !contains(m.Routed, o.key) {
					m.Routed = append(m.Routed, o.key)
				}
			}
		}
	default:
		for _, o := range al.outs {
			if o.matches(c) {
				out = append(out, o)
			}
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// overflow drops the oldest queued events of outputs whose queue would
// pass queue_limit, and counts and logs them.
func (al *alerter) overflow(enq []alert.Queued) []alert.Queued {
	adding := map[string]int{}
	for _, q := range enq {
		adding[q.Output]++
	}
	var done []alert.Queued
	for _, o := range al.outs {
		excess := al.j.Len(o.key) + adding[o.key] - o.limit
		if excess <= 0 {
			continue
		}
		for _, ev := range al.j.Oldest(o.key, excess) {
			done = append(done, alert.Queued{Output: o.key, ID: ev.ID})
			o.dropped.Add(1)
			al.log.Error("alert queue full; dropped the oldest event", "output", o.key, "limit", o.limit, "event", ev.Summary())
		}
	}
	return done
}

// deliver sends an output's queued events in order until ctx ends;
// undelivered events stay in the journal for the next start.
func (al *alerter) deliver(ctx context.Context, o *alertOutput) {
	backoff := time.Duration(0)
	for {
		ev := al.j.Head(o.key)
		if ev == nil {
			select {
			case <-ctx.Done():
				return
			case <-o.wake:
				continue
			}
		}
		sctx, cancel := context.WithTimeout(ctx, alertSendLimit)
		err := o.out.Send(sctx, ev)
		cancel()
		if err != nil && ctx.Err() != nil {
			return // shutting down mid-send: it stays queued
		}
		if err == nil || outputs.IsPermanent(err) {
			if err == nil {
				o.sent.Add(1)
				al.log.Debug("alert delivered", "output", o.key, "type", ev.Type, "dedup_key", ev.DedupKey)
			} else {
				o.dropped.Add(1)
				o.errors.Add(1)
				al.log.Error("alert output rejected an event; dropped it", "output", o.key, "event", ev.Summary(), "err", err)
			}
			done := &alert.Tx{Done: []alert.Queued{{Output: o.key, ID: ev.ID}}}
			if cerr := al.j.Commit(done); cerr != nil {
				var compact *alert.CompactError
				if !errors.As(cerr, &compact) {
					al.j.Forget(done)
				}
				al.log.Error("alert journal write failed; a restart may send this event again", "output", o.key, "err", cerr)
			}
			backoff = 0
			continue
		}
		o.errors.Add(1)
		wait, ok := outputs.RetryAfter(err)
		if !ok {
			backoff = o.nextBackoff(backoff)
			wait = backoff
		}
		al.log.Warn("alert delivery failed; will retry", "output", o.key, "err", err, "retry_in", wait.Round(time.Millisecond), "queued", al.j.Len(o.key))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func (o *alertOutput) nextBackoff(cur time.Duration) time.Duration {
	if cur == 0 {
		cur = o.backoffMin
	} else {
		cur = min(cur*2, o.backoffMax)
	}
	return jitter(cur)
}

// AlertOutputs names the configured alert outputs, in config order.
func (a *Agent) AlertOutputs() []string {
	var keys []string
	for _, o := range a.alertOuts {
		keys = append(keys, o.key)
	}
	return keys
}

// SendTestAlerts sends a test trigger and its resolve through every alert
// output, directly (not through the queue), and returns one error per
// output that failed, keyed by output.
func (a *Agent) SendTestAlerts(ctx context.Context) map[string]error {
	errs := map[string]error{}
	for _, o := range a.alertOuts {
		first := time.Now()
		base := outputs.Event{
			DedupKey: fmt.Sprintf("mailmon/%s/test/alerts/%d", a.cfg.Agent.Hostname, first.Unix()),
			Test:     true, Host: a.cfg.Agent.Hostname, Check: "test", Instance: "alerts",
			Reason: "test", FirstFailed: first,
		}
		trigger, resolve := base, base
		trigger.ID, trigger.Type, trigger.Status, trigger.Time = alert.NewID(), outputs.Trigger, sdk.Critical.String(), first
		trigger.Message = "test alert from `mailmon test --alerts`: the wiring to this output works"
		resolve.ID, resolve.Type, resolve.Status, resolve.PreviousStatus, resolve.Time = alert.NewID(), outputs.Resolve, sdk.OK.String(), sdk.Critical.String(), time.Now()
		resolve.Message = "test alert resolved"
		for _, ev := range []*outputs.Event{&trigger, &resolve} {
			if err := sendWithRetry(ctx, o.out, ev); err != nil {
				errs[o.key] = fmt.Errorf("%s: %w", ev.Type, err)
				break
			}
		}
	}
	return errs
}

// sendWithRetry tries a few times over transient errors.
func sendWithRetry(ctx context.Context, out outputs.AlertOutput, ev *outputs.Event) error {
	var err error
	for attempt := range 3 {
		sctx, cancel := context.WithTimeout(ctx, alertSendLimit)
		err = out.Send(sctx, ev)
		cancel()
		if err == nil || outputs.IsPermanent(err) {
			return err
		}
		wait, ok := outputs.RetryAfter(err)
		if !ok {
			wait = time.Duration(attempt+1) * time.Second
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(min(wait, 10*time.Second)):
		}
	}
	return err
}
