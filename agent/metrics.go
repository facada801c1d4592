package agent

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/metric"

	"github.com/mailmon/mailmon/sdk"
)

// Reasons the agent itself gives when a plugin gave none.
const (
	ReasonPluginCrashed = "plugin_crashed"
	ReasonPluginDown    = "plugin_unavailable"
	ReasonTimeout       = "check_timeout"
	ReasonCheckError    = "check_error"
)

// defaultMeasurement names the metric of a run that produced none (a
// crash) before the plugin ever told us its measurement.
func defaultMeasurement(checkType string) string {
	return "mailmon_" + strings.ReplaceAll(checkType, "-", "_")
}

// primaryFields are owned by the agent; a plugin value is overwritten.
const (
	fieldStatusCode = "status_code"
	fieldDuration   = "duration_seconds"
)

// enrich turns a run's result into telegraf metrics: tags host, check,
// result and the instance's own tags on every metric, status_code and
// duration_seconds on the first.
func enrich(res *sdk.Result, host, instance, measurement string, tags map[string]string, start time.Time, dur time.Duration) []telegraf.Metric {
	ms := res.Metrics
	if len(ms) == 0 {
		ms = []sdk.Metric{sdk.NewMetric(measurement)}
	}
	out := make([]telegraf.Metric, 0, len(ms))
	for i, m := range ms {
		t := make(map[string]string, len(m.Tags)+len(tags)+3)
		for k, v := range tags {
			t[k] = v
		}
		for k, v := range m.Tags {
			if v != "" {
				t[k] = v
			}
		}
		t["host"] = host
		t["check"] = instance
		t["result"] = res.Reason
		f := make(map[string]any, len(m.Fields)+2)
		for k, v := range m.Fields {
			f[k] = v
		}
		if i == 0 {
			f[fieldStatusCode] = int64(res.Status)
			f[fieldDuration] = dur.Seconds()
		}
		ts := m.Time
		if ts.IsZero() || ts.Unix() == 0 {
			ts = start
		}
		out = append(out, metric.New(m.Name, t, f, ts))
	}
	return out
}

// normalize fills in what a plugin left out and turns a failed call into
// an UNKNOWN result, so every run produces a result.
func normalize(res *sdk.Result, err error, timedOut, crashed bool) *sdk.Result {
	switch {
	case errors.Is(err, errUnavailable):
		return &sdk.Result{Status: sdk.Unknown, Reason: ReasonPluginDown, Message: "plugin is being restarted after a crash; the check did not run"}
	case err != nil && crashed:
		return &sdk.Result{Status: sdk.Unknown, Reason: ReasonPluginCrashed, Message: fmt.Sprintf("plugin process died during the run: %v", err)}
	case err != nil && timedOut:
		return &sdk.Result{Status: sdk.Unknown, Reason: ReasonTimeout, Message: "check did not return within its timeout"}
	case err != nil:
		return &sdk.Result{Status: sdk.Unknown, Reason: ReasonCheckError, Message: err.Error()}
	}
	if res.Reason == "" {
		res.Reason = strings.ToLower(res.Status.String())
	}
	if res.Message == "" {
		res.Message = res.Status.String()
	}
	return res
}
