// Package testcheck is a check whose behaviour its config drives: it
// sleeps, panics, fails, exits or blocks on request, so that tests can
// drive the plugin protocol through a real process (see testplugin/).
package testcheck

import (
	"context"
	"errors"
	"math"
	"os"
	"slices"
	"sync/atomic"
	"time"

	"github.com/mailmon/mailmon/sdk"
)

// Name is the check's name and the suffix of its binary's name.
const Name = "testplugin"

// Version is what Info reports.
const Version = "1.2.3"

// Modes are the behaviours a config may ask for.
var Modes = []string{"ok", "sleep", "deadline", "panic", "error", "fields", "exit", "block"}

// Config drives one instance.
type Config struct {
	// Mode is one of Modes; default "ok".
	Mode string `json:"mode"`
	// SleepMS is how long "sleep" sleeps unless ctx ends first.
	SleepMS int `json:"sleep_ms"`
	// Label is echoed in the message, to tell instances apart.
	Label string `json:"label"`
	// Timeout checks that sdk.Duration options decode.
	Timeout sdk.Duration `json:"timeout"`
}

// Check implements the modes.
type Check struct {
	cfg  Config
	runs atomic.Int64
}

var _ sdk.Check = (*Check)(nil)

// New returns an unconfigured check.
func New() sdk.Check { return &Check{} }

// Info describes the check.
func (*Check) Info() sdk.Info {
	return sdk.Info{
		Name:         Name,
		Version:      Version,
		Description:  "Behaves as its config says, for tests of the plugin protocol.",
		SampleConfig: "## What to do on each run.\n# mode = \"ok\"\n",
	}
}

// Configure reads Config.
func (c *Check) Configure(raw []byte) error {
	cfg := Config{Mode: "ok"}
	if err := sdk.DecodeConfig(raw, &cfg); err != nil {
		return err
	}
	if !slices.Contains(Modes, cfg.Mode) {
		return sdk.OptionError("mode", "unknown mode %q", cfg.Mode)
	}
	if cfg.SleepMS < 0 {
		return sdk.OptionError("sleep_ms", "must be 0 or more")
	}
	c.cfg = cfg
	return nil
}

// Run does what the mode says.
func (c *Check) Run(ctx context.Context) (*sdk.Result, error) {
	runs := c.runs.Add(1)
	switch c.cfg.Mode {
	case "sleep":
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Duration(c.cfg.SleepMS) * time.Millisecond):
		}
	case "deadline":
		return deadlineResult(ctx), nil
	case "panic":
		panic("boom in " + c.cfg.Label)
	case "error":
		return nil, errors.New("check failed on purpose")
	case "fields":
		return &sdk.Result{Status: sdk.Warning, Reason: "fields", Message: "every field type", Metrics: []sdk.Metric{Sent(), SentWidened()}}, nil
	case "exit":
		os.Exit(3)
	case "block":
		<-make(chan struct{}) // ignores ctx on purpose
	}
	m := sdk.NewMetric("mailmon_testplugin")
	m.Tags["label"] = c.cfg.Label
	m.Fields["runs"] = runs
	return &sdk.Result{Status: sdk.OK, Reason: "ok", Message: c.cfg.Label, Metrics: []sdk.Metric{m}}, nil
}

// deadlineResult reports the deadline the check saw, to show that the
// host's timeout crossed the process boundary.
func deadlineResult(ctx context.Context) *sdk.Result {
	m := sdk.NewMetric("mailmon_testplugin")
	dl, ok := ctx.Deadline()
	m.Fields["has_deadline"] = ok
	if ok {
		m.Fields["deadline_unix_nano"] = dl.UnixNano()
	}
	return &sdk.Result{Status: sdk.OK, Reason: "ok", Metrics: []sdk.Metric{m}}
}

// MetricTime is the time of the "fields" metrics: it has nanoseconds, so a
// lossy conversion shows.
var MetricTime = time.Date(2024, 2, 29, 23, 59, 58, 123456789, time.UTC)

// Sent is the first "fields" metric: every wire type at its edges.
func Sent() sdk.Metric {
	return sdk.Metric{
		Name: "mailmon_testplugin",
		Tags: map[string]string{"target": "mx1.example.org:25", "unicode": "Grüße, \"quoted\" = x"},
		Fields: map[string]any{
			"float":       0.1,
			"float_tiny":  -math.SmallestNonzeroFloat64,
			"float_big":   math.MaxFloat64,
			"int_min":     int64(math.MinInt64),
			"int_max":     int64(math.MaxInt64),
			"uint_max":    uint64(math.MaxUint64),
			"string":      "ünïcode\nline \"two\"",
			"string_none": "",
			"bool_true":   true,
			"bool_false":  false,
		},
		Time: MetricTime,
	}
}

// SentWidened is the second "fields" metric: narrower Go types, widened on
// the wire (see WantWidened).
func SentWidened() sdk.Metric {
	return sdk.Metric{
		Name: "mailmon_testplugin_widened",
		Fields: map[string]any{
			"int":     7,
			"int8":    int8(-8),
			"int32":   int32(-32),
			"uint16":  uint16(16),
			"uint":    uint(42),
			"float32": float32(0.5),
		},
		Time: MetricTime,
	}
}

// WantWidened is SentWidened as the host receives it.
func WantWidened() sdk.Metric {
	return sdk.Metric{
		Name:   "mailmon_testplugin_widened",
		Tags:   map[string]string{},
		Fields: map[string]any{"int": int64(7), "int8": int64(-8), "int32": int64(-32), "uint16": uint64(16), "uint": uint64(42), "float32": 0.5},
		Time:   MetricTime,
	}
}
