package sdk

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Check is one kind of probe. A plugin process serves one Check type and
// may hold several configured instances of it at once, so a Check keeps
// all of its state in the value, never in package variables.
type Check interface {
	// Info describes the check. It must not do I/O.
	Info() Info
	// Configure decodes and validates the instance's options (JSON, see
	// DecodeConfig) and sets defaults. It must not touch the network.
	Configure(raw []byte) error
	// Run probes the target once and honours ctx's deadline. A target that
	// is down is a Result with a non-OK Status; an error means the check
	// itself could not run.
	Run(ctx context.Context) (*Result, error)
}

// Closer is implemented by checks that hold resources between runs.
type Closer interface {
	Close() error
}

// Info describes a check type.
type Info struct {
	// Name is the check type, as used in config (`[[checks.NAME]]`) and in
	// the binary name mailmon-check-NAME.
	Name string
	// Version is the plugin's own version.
	Version string
	// Description is one sentence for `mailmon plugins`.
	Description string
	// SampleConfig is the TOML body of one instance, with `##` comment
	// sentences and `# key = default` lines.
	SampleConfig string
}

// Status is the outcome of one run, with Nagios codes.
type Status int

// The four statuses, ordered by severity except Unknown.
const (
	OK       Status = 0
	Warning  Status = 1
	Critical Status = 2
	Unknown  Status = 3
)

// String returns the upper-case status name.
func (s Status) String() string {
	switch s {
	case OK:
		return "OK"
	case Warning:
		return "WARNING"
	case Critical:
		return "CRITICAL"
	case Unknown:
		return "UNKNOWN"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Valid reports whether s is one of the four statuses.
func (s Status) Valid() bool { return s >= OK && s <= Unknown }

// ParseStatus reads a status name, case-insensitively ("ok", "warning",
// "critical", "unknown"; "warn" and "crit" too).
func ParseStatus(v string) (Status, error) {
	switch strings.ToLower(v) {
	case "ok":
		return OK, nil
	case "warning", "warn":
		return Warning, nil
	case "critical", "crit":
		return Critical, nil
	case "unknown":
		return Unknown, nil
	}
	return Unknown, fmt.Errorf("unknown status %q (want ok, warning, critical or unknown)", v)
}

// Worse returns the more severe of a and b, with Critical > Warning >
// Unknown > OK: an unknown does not hide a known problem.
func Worse(a, b Status) Status {
	rank := func(s Status) int {
		switch s {
		case Critical:
			return 3
		case Warning:
			return 2
		case Unknown:
			return 1
		}
		return 0
	}
	if rank(b) > rank(a) {
		return b
	}
	return a
}

// Result is what one run found.
type Result struct {
	Status Status
	// Reason is a short snake_case enum ("ok", "connect_failed",
	// "cert_expiring"); it becomes the `result` tag, so keep the set small.
	Reason string
	// Message is one human sentence for alerts and `mailmon test`.
	Message string
	// Metrics are the measurements. The first one is the run's primary
	// metric: the agent adds status_code, duration_seconds and the result
	// tag to it.
	Metrics []Metric
}

// Metric is one measurement in Telegraf's model.
type Metric struct {
	// Name is the measurement, "mailmon_<check>" by convention.
	Name string
	Tags map[string]string
	// Fields hold float64, int64, uint64, string or bool values (other
	// integer types are widened when sent).
	Fields map[string]any
	// Time defaults to the start of the run.
	Time time.Time
}

// NewMetric returns a metric with empty tag and field maps.
func NewMetric(name string) Metric {
	return Metric{Name: name, Tags: map[string]string{}, Fields: map[string]any{}}
}

// Resultf builds a result with a formatted message.
func Resultf(status Status, reason, format string, args ...any) *Result {
	return &Result{Status: status, Reason: reason, Message: fmt.Sprintf(format, args...)}
}
