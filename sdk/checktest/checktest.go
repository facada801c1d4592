// Package checktest helps check authors test a check twice: in process,
// calling its methods directly, and as the real plugin process the agent
// starts.
//
//	func TestConfigErrors(t *testing.T) {
//		err := checktest.ConfigError(t, &Banner{}, `{"adress": "mx:25"}`)
//		if err.Key != "adress" {
//			t.Errorf("key %q, want adress", err.Key)
//		}
//	}
//
//	func TestRun(t *testing.T) {
//		c := &Banner{}
//		checktest.Configure(t, c, `{"address": "127.0.0.1:25"}`)
//		res := checktest.Run(t, c, 5*time.Second) // also checks the conventions
//		if res.Status != sdk.OK {
//			t.Errorf("%v %s: %s", res.Status, res.Reason, res.Message)
//		}
//	}
//
//	func TestPlugin(t *testing.T) {
//		p := checktest.Start(t, checktest.Build(t, "."))
//		if err := p.Configure(t.Context(), "main", []byte(`{"address": "127.0.0.1:25"}`)); err != nil {
//			t.Fatal(err)
//		}
//		res, err := p.Run(t.Context(), "main")
//		...
//	}
package checktest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailmon/mailmon/sdk"
)

// Configure configures c with jsonConfig and fails the test if c rejects it.
func Configure(t testing.TB, c sdk.Check, jsonConfig string) {
	t.Helper()
	if err := c.Configure([]byte(jsonConfig)); err != nil {
		t.Fatalf("configure %s: %v", jsonConfig, err)
	}
}

// ConfigError asserts that c rejects jsonConfig with a *sdk.ConfigError and
// returns it, so that the test can compare its Key and message.
func ConfigError(t testing.TB, c sdk.Check, jsonConfig string) *sdk.ConfigError {
	t.Helper()
	err := c.Configure([]byte(jsonConfig))
	if err == nil {
		t.Fatalf("configure %s: accepted, want an error", jsonConfig)
	}
	var cerr *sdk.ConfigError
	if !errors.As(err, &cerr) {
		t.Fatalf("configure %s: error %q is a %T, want a *sdk.ConfigError (use sdk.DecodeConfig and sdk.OptionError)", jsonConfig, err, err)
	}
	return cerr
}

// Run runs a configured c once with a timeout and returns its result. It
// fails the test when Run returns an error or no result, or when the
// result could not cross the plugin protocol (Result.Validate) or breaks
// the metric conventions (CheckConventions).
func Run(t testing.TB, c sdk.Check, timeout time.Duration) *sdk.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	res, err := c.Run(ctx)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if res == nil {
		t.Fatal("run: returned neither a result nor an error")
	}
	if err := res.Validate(); err != nil {
		t.Fatalf("run: invalid result: %v", err)
	}
	if err := CheckConventions(res); err != nil {
		t.Fatalf("run: result breaks the metric conventions:\n%v", err)
	}
	return res
}

// Want fails the test unless res has status and reason and its message
// contains every one of msgParts.
func Want(t testing.TB, res *sdk.Result, status sdk.Status, reason string, msgParts ...string) {
	t.Helper()
	if res.Status != status || res.Reason != reason {
		t.Errorf("got %s %s (%s), want %s %s", res.Status, res.Reason, res.Message, status, reason)
	}
	for _, part := range msgParts {
		if !strings.Contains(res.Message, part) {
			t.Errorf("message %q does not contain %q", res.Message, part)
		}
	}
}

// Fields and tags that the agent sets on every run; a check's own would be
// overwritten.
var (
	agentFields = []string{"status_code", "duration_seconds"}
	agentTags   = []string{"host", "check", "result"}
)

var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// CheckConventions reports every way r breaks mailmon's metric
// conventions: the reason is snake_case; measurements start with
// "mailmon_"; *_seconds fields are float64 and *_days fields float64 or
// int64; tag values are not empty; status_code, duration_seconds and the
// host, check and result tags are left to the agent.
func CheckConventions(r *sdk.Result) error {
	if r == nil {
		return errors.New("result is nil")
	}
	var errs []error
	if !snakeCase.MatchString(r.Reason) {
		errs = append(errs, fmt.Errorf("reason %q is not snake_case", r.Reason))
	}
	for _, m := range r.Metrics {
		errs = append(errs, metricConventions(m)...)
	}
	return errors.Join(errs...)
}

func metricConventions(m sdk.Metric) []error {
	var errs []error
	if !strings.HasPrefix(m.Name, "mailmon_") || m.Name == "mailmon_" {
		errs = append(errs, fmt.Errorf("metric %q: measurement does not start with mailmon_<check>", m.Name))
	}
	for _, k := range slices.Sorted(maps.Keys(m.Tags)) {
		switch {
		case slices.Contains(agentTags, k):
			errs = append(errs, fmt.Errorf("metric %s: tag %s is set by the agent", m.Name, k))
		case m.Tags[k] == "":
			errs = append(errs, fmt.Errorf("metric %s: tag %s is empty", m.Name, k))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(m.Fields)) {
		if err := fieldConvention(k, m.Fields[k]); err != nil {
			errs = append(errs, fmt.Errorf("metric %s: %w", m.Name, err))
		}
	}
	return errs
}

func fieldConvention(key string, v any) error {
	switch {
	case slices.Contains(agentFields, key):
		return fmt.Errorf("field %s is set by the agent", key)
	case strings.HasSuffix(key, "_seconds"):
		if _, ok := v.(float64); !ok {
			return fmt.Errorf("field %s is %T, want float64 seconds", key, v)
		}
	case strings.HasSuffix(key, "_days"):
		switch v.(type) {
		case float64, int64:
		default:
			return fmt.Errorf("field %s is %T, want float64 or int64 days", key, v)
		}
	}
	return nil
}
