// Package agent is the mailmon host agent: it finds check plugins, keeps
// one process per plugin binary running, schedules every configured check
// instance, and hands the metrics to buffered outputs.
package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/metric"

	"github.com/mailmon/mailmon/agent/config"
	"github.com/mailmon/mailmon/outputs"
	"github.com/mailmon/mailmon/sdk"
	"github.com/mailmon/mailmon/sdk/host"
)

// ShutdownTimeout bounds the final output flush.
const ShutdownTimeout = 10 * time.Second

// Agent runs one loaded configuration.
type Agent struct {
	cfg *config.Config
	log *slog.Logger

	plugins   map[string]*supervised // by check type
	instances []*instance
	outputs   []*runningOutput
	alertOuts []*alertOutput
	alerts    *alerter // while Run runs, if there are alert outputs
	sem       chan struct{}
	started   time.Time

	runs      atomic.Uint64
	runErrors atomic.Uint64
}

// instance is one configured check.
type instance struct {
	cfg config.Check
	sup *supervised

	mu          sync.Mutex
	measurement string // the plugin's primary measurement, once seen
}

// Report is one finished run.
type Report struct {
	Check    config.Check
	Result   *sdk.Result
	Metrics  []telegraf.Metric
	Start    time.Time
	Duration time.Duration
}

// Filter selects check instances.
type Filter func(config.Check) bool

// New returns an agent for cfg; Setup starts its plugins.
func New(cfg *config.Config, log *slog.Logger) *Agent {
	return &Agent{cfg: cfg, log: log, plugins: map[string]*supervised{}, sem: make(chan struct{}, cfg.Agent.MaxConcurrency)}
}

// Setup starts the plugins that the enabled, selected checks need,
// configures every instance and initialises the outputs. A config problem
// is a *config.Error naming the file and key. With withOutputs false the
// outputs are left alone (mailmon test).
func (a *Agent) Setup(ctx context.Context, only Filter, withOutputs bool) error {
	a.started = time.Now()
	found := Discover(a.cfg.Agent.PluginDirs)
	byName := map[string]Found{}
	for _, f := range found {
		byName[f.Name] = f
	}
	for _, c := range a.cfg.Checks {
		if !c.Enabled || (only != nil && !only(c)) {
			continue
		}
		sup, err := a.plugin(ctx, c, byName, found)
		if err != nil {
			return err
		}
		raw, err := json.Marshal(c.Options)
		if err != nil {
			return &config.Error{File: a.cfg.File, Key: c.Key, Err: fmt.Errorf("options cannot be sent to the plugin: %w", err)}
		}
		if err := sup.p.Configure(ctx, c.Name, raw); err != nil {
			return a.optionError(c.Key, err)
		}
		a.instances = append(a.instances, &instance{cfg: c, sup: sup})
	}
	if !withOutputs {
		return nil
	}
	for _, oc := range a.cfg.Outputs {
		if err := a.addOutput(oc); err != nil {
			return err
		}
	}
	return nil
}

// addOutput builds one output; it may take metrics, alerts or both, and
// the common keys of the other kind are refused.
func (a *Agent) addOutput(oc config.Output) error {
	out, err := a.newOutput(oc)
	if err != nil {
		return err
	}
	mo, isMetric := out.(outputs.MetricOutput)
	ao, isAlert := out.(outputs.AlertOutput)
	switch {
	case !isMetric && len(oc.MetricKeys) > 0:
		return &config.Error{File: a.cfg.File, Key: oc.Key + "." + oc.MetricKeys[0], Err: errors.New("only for metric outputs: this output sends alerts")}
	case !isAlert && len(oc.AlertKeys) > 0:
		return &config.Error{File: a.cfg.File, Key: oc.Key + "." + oc.AlertKeys[0], Err: errors.New("only for alert outputs: this output writes metrics")}
	case !isMetric && !isAlert:
		return &config.Error{File: a.cfg.File, Key: oc.Key, Err: errors.New("output takes neither metrics nor alerts")}
	}
	if isMetric {
		a.outputs = append(a.outputs, newRunningOutput(oc.Key, mo, oc.MetricBufferLimit, oc.MetricBatchSize, oc.FlushInterval, a.log))
	}
	if isAlert {
		if su, ok := out.(outputs.StateDirUser); ok {
			dir := filepath.Join(a.cfg.Alerting.StateDir, "outputs", strings.NewReplacer("[", "-", "]", "", ".", "-").Replace(oc.Key))
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return &config.Error{File: a.cfg.File, Key: "alerting.state_dir", Err: err}
			}
			if err := su.SetStateDir(dir); err != nil {
				return &config.Error{File: a.cfg.File, Key: oc.Key, Err: err}
			}
		}
		a.alertOuts = append(a.alertOuts, newAlertOutput(oc, ao))
	}
	return nil
}

func (a *Agent) plugin(ctx context.Context, c config.Check, byName map[string]Found, found []Found) (*supervised, error) {
	if sup := a.plugins[c.Type]; sup != nil {
		return sup, nil
	}
	f, ok := byName[c.Type]
	if !ok {
		return nil, &config.Error{File: a.cfg.File, Key: c.Key, Err: notFound(c.Type, a.cfg.Agent.PluginDirs, found)}
	}
	if f.Err != nil {
		return nil, &config.Error{File: a.cfg.File, Key: c.Key, Err: f.Err}
	}
	p, err := host.Start(ctx, host.Config{
		Path:   f.Path,
		SHA256: a.cfg.Agent.PluginSHA256[c.Type],
		Logger: pluginLogger(c.Type, a.cfg.Agent.LogLevel),
	})
	if err != nil {
		return nil, &config.Error{File: a.cfg.File, Key: c.Key, Err: err}
	}
	if got := p.Info().Name; got != c.Type {
		p.Kill()
		return nil, &config.Error{File: a.cfg.File, Key: c.Key, Err: fmt.Errorf("%s reports check name %q, not %q", f.Path, got, c.Type)}
	}
	sup := newSupervised(c.Type, p, a.log, a.pluginCrashed)
	a.plugins[c.Type] = sup
	a.log.Debug("plugin started", "plugin", c.Type, "path", f.Path, "pid", p.Pid())
	return sup, nil
}

// pluginLogger passes plugin log lines on to stderr; go-plugin's own
// chatter only at debug.
func pluginLogger(name, level string) hclog.Logger {
	l := hclog.Warn
	if level == "debug" {
		l = hclog.Debug
	}
	return hclog.New(&hclog.LoggerOptions{Name: "plugin." + name, Level: l, Output: os.Stderr})
}

func (a *Agent) optionError(prefix string, err error) error {
	var cerr *sdk.ConfigError
	if errors.As(err, &cerr) && cerr.Key != "" {
		return &config.Error{File: a.cfg.File, Key: prefix + "." + cerr.Key, Err: cerr.Err}
	}
	if errors.As(err, &cerr) {
		return &config.Error{File: a.cfg.File, Key: prefix, Err: cerr.Err}
	}
	return &config.Error{File: a.cfg.File, Key: prefix, Err: err}
}

func (a *Agent) newOutput(oc config.Output) (outputs.Output, error) {
	factory, ok := outputs.Get(oc.Type)
	if !ok {
		return nil, &config.Error{File: a.cfg.File, Key: oc.Key, Err: fmt.Errorf("unknown output %q (available: %v)", oc.Type, outputs.Names())}
	}
	out := factory()
	raw, err := json.Marshal(oc.Options)
	if err != nil {
		return nil, &config.Error{File: a.cfg.File, Key: oc.Key, Err: err}
	}
	if err := sdk.DecodeConfig(raw, out); err != nil {
		return nil, a.optionError(oc.Key, err)
	}
	if in, ok := out.(outputs.Initializer); ok {
		if err := in.Init(); err != nil {
			return nil, a.optionError(oc.Key, err)
		}
	}
	return out, nil
}

// Plugins describes the running plugin processes.
func (a *Agent) Plugins() map[string]*host.Plugin {
	out := map[string]*host.Plugin{}
	for n, s := range a.plugins {
		out[n] = s.p
	}
	return out
}

// Close ends every plugin process.
func (a *Agent) Close() {
	for _, s := range a.plugins {
		s.p.Kill()
	}
}

// RunOnce runs every set-up instance once, at most max_concurrency at a
// time, and returns the reports in config order.
func (a *Agent) RunOnce(ctx context.Context) []Report {
	reports := make([]Report, len(a.instances))
	var wg sync.WaitGroup
	for i, inst := range a.instances {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reports[i] = a.runInstance(ctx, inst)
		}()
	}
	wg.Wait()
	return reports
}

// runInstance runs one instance under the concurrency cap and its timeout.
func (a *Agent) runInstance(ctx context.Context, inst *instance) Report {
	select {
	case a.sem <- struct{}{}:
		defer func() { <-a.sem }()
	case <-ctx.Done():
		return a.report(inst, nil, ctx.Err(), time.Now(), 0)
	}
	start := time.Now()
	rctx, cancel := context.WithTimeout(ctx, inst.cfg.Timeout)
	res, err := inst.sup.run(rctx, inst.cfg.Name)
	cancel()
	return a.report(inst, res, err, start, time.Since(start))
}

func (a *Agent) report(inst *instance, res *sdk.Result, err error, start time.Time, dur time.Duration) Report {
	a.runs.Add(1)
	crashed := errors.Is(err, host.ErrExited)
	timedOut := errors.Is(err, context.DeadlineExceeded)
	if err != nil {
		a.runErrors.Add(1)
		a.log.Warn("check run failed", "check", inst.cfg.Type, "instance", inst.cfg.Name, "err", err)
	}
	res = normalize(res, err, timedOut, crashed)
	inst.mu.Lock()
	if len(res.Metrics) > 0 {
		inst.measurement = res.Metrics[0].Name
	}
	meas := inst.measurement
	inst.mu.Unlock()
	if meas == "" {
		meas = defaultMeasurement(inst.cfg.Type)
	}
	ms := enrich(res, a.cfg.Agent.Hostname, inst.cfg.Name, meas, inst.cfg.Tags, start, dur)
	return Report{Check: inst.cfg, Result: res, Metrics: ms, Start: start, Duration: dur}
}

// Run schedules every instance until ctx ends, then shuts down: in-flight
// runs are cancelled, outputs flushed (bounded by ShutdownTimeout) and
// plugin processes ended.
func (a *Agent) Run(ctx context.Context) error {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var outWG, wg sync.WaitGroup
	if len(a.alertOuts) > 0 {
		al, err := openAlerter(a.cfg, a.alertOuts, a.log)
		if err != nil {
			a.Close()
			return err
		}
		a.alerts = al
		defer al.close()
		for _, o := range a.alertOuts {
			wg.Add(1)
			go func() { defer wg.Done(); al.deliver(runCtx, o) }()
		}
	}
	outCtx, stopOutputs := context.WithCancel(context.Background())
	for _, o := range a.outputs {
		outWG.Add(1)
		go func() { defer outWG.Done(); o.loop(outCtx) }()
	}
	for _, s := range a.plugins {
		s.setLife(runCtx)
		wg.Add(1)
		go func() { defer wg.Done(); s.watch(runCtx) }()
	}
	for _, inst := range a.instances {
		wg.Add(1)
		go func() { defer wg.Done(); a.schedule(runCtx, inst) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); a.statsLoop(runCtx) }()
	a.log.Info("agent started", "checks", len(a.instances), "plugins", len(a.plugins), "outputs", len(a.outputs))

	<-ctx.Done()
	a.log.Info("agent stopping")
	cancel()
	wg.Wait()
	stopOutputs()
	outWG.Wait()
	fctx, fcancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer fcancel()
	a.emit(a.statsMetrics())
	var cwg sync.WaitGroup
	for _, o := range a.outputs {
		cwg.Add(1)
		go func() { defer cwg.Done(); o.close(fctx) }()
	}
	cwg.Wait()
	a.Close()
	return nil
}

// schedule runs one instance every interval after a random start delay.
// Runs of one instance are sequential, so they never overlap: a tick
// that comes while a run is still going is skipped.
func (a *Agent) schedule(ctx context.Context, inst *instance) {
	if j := min(a.cfg.Agent.Jitter, inst.cfg.Interval); j > 0 {
		select {
		case <-ctx.Done():
			return
		case <-time.After(rand.N(j)):
		}
	}
	t := time.NewTicker(inst.cfg.Interval)
	defer t.Stop()
	for {
		r := a.runInstance(ctx, inst)
		if ctx.Err() != nil {
			return // cancelled by shutdown: not a result
		}
		a.log.Debug("check ran", "instance", inst.cfg.Name, "status", r.Result.Status, "reason", r.Result.Reason, "duration", r.Duration)
		a.emit(r.Metrics)
		if a.alerts != nil {
			a.alerts.observe(inst.cfg, r)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (a *Agent) emit(ms []telegraf.Metric) {
	for _, o := range a.outputs {
		o.add(ms...)
	}
}

func (a *Agent) statsLoop(ctx context.Context) {
	t := time.NewTicker(a.cfg.Agent.StatsInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.emit(a.statsMetrics())
		}
	}
}

// pluginCrashed reports a crash as a metric at once.
func (a *Agent) pluginCrashed(name string, restarts int) {
	a.emit([]telegraf.Metric{metric.New("mailmon_plugin",
		map[string]string{"host": a.cfg.Agent.Hostname, "plugin": name},
		map[string]any{"up": false, "restarts_total": int64(restarts), "crashed": true},
		time.Now())})
}

// statsMetrics is the agent's own health: mailmon_agent and one
// mailmon_plugin per plugin process.
func (a *Agent) statsMetrics() []telegraf.Metric {
	now := time.Now()
	var restarts int
	names := make([]string, 0, len(a.plugins))
	for n := range a.plugins {
		names = append(names, n)
	}
	sort.Strings(names)
	var ms []telegraf.Metric
	for _, n := range names {
		s := a.plugins[n]
		r := s.restartCount()
		restarts += r
		info := s.p.Info()
		major, minor := s.p.Protocol()
		ms = append(ms, metric.New("mailmon_plugin",
			map[string]string{"host": a.cfg.Agent.Hostname, "plugin": n},
			map[string]any{
				"up":             s.up(),
				"restarts_total": int64(r),
				"crashed":        false,
				"pid":            int64(s.p.Pid()),
				"version":        info.Version,
				"protocol":       fmt.Sprintf("%d.%d", major, minor),
			}, now))
	}
	var st outputStats
	for _, o := range a.outputs {
		s := o.stats()
		st.buffered += s.buffered
		st.dropped += s.dropped
		st.written += s.written
		st.errors += s.errors
	}
	var queued, sent, dropped, aerrs int64
	for _, o := range a.alertOuts {
		if a.alerts != nil {
			queued += int64(a.alerts.j.Len(o.key))
		}
		sent += int64(o.sent.Load())
		dropped += int64(o.dropped.Load())
		aerrs += int64(o.errors.Load())
	}
	ms = append(ms, metric.New("mailmon_agent",
		map[string]string{"host": a.cfg.Agent.Hostname},
		map[string]any{
			"checks":                int64(len(a.instances)),
			"plugins":               int64(len(a.plugins)),
			"runs_total":            int64(a.runs.Load()),
			"run_errors_total":      int64(a.runErrors.Load()),
			"plugin_restarts_total": int64(restarts),
			"metrics_buffered":      int64(st.buffered),
			"metrics_dropped_total": int64(st.dropped),
			"metrics_written_total": int64(st.written),
			"output_errors_total":   int64(st.errors),
			"uptime_seconds":        now.Sub(a.started).Seconds(),
			"alerts_queued":         queued,
			"alerts_sent_total":     sent,
			"alerts_dropped_total":  dropped,
			"alert_errors_total":    aerrs,
		}, now))
	return ms
}
