package sdk_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/mailmon/mailmon/sdk"
)

func TestStatusString(t *testing.T) {
	for s, want := range map[sdk.Status]string{sdk.OK: "OK", sdk.Warning: "WARNING", sdk.Critical: "CRITICAL", sdk.Unknown: "UNKNOWN", 7: "Status(7)", -1: "Status(-1)"} {
		if got := s.String(); got != want {
			t.Errorf("Status(%d).String() = %q, want %q", int(s), got, want)
		}
		if s.Valid() != !strings.HasPrefix(want, "Status(") {
			t.Errorf("Status(%d).Valid() = %v", int(s), s.Valid())
		}
	}
	if int(sdk.OK) != 0 || int(sdk.Warning) != 1 || int(sdk.Critical) != 2 || int(sdk.Unknown) != 3 {
		t.Error("statuses are not the Nagios codes 0-3")
	}
}

func TestParseStatus(t *testing.T) {
	for in, want := range map[string]sdk.Status{
		"ok": sdk.OK, "OK": sdk.OK, "warning": sdk.Warning, "Warn": sdk.Warning,
		"CRITICAL": sdk.Critical, "crit": sdk.Critical, "unknown": sdk.Unknown,
	} {
		if got, err := sdk.ParseStatus(in); err != nil || got != want {
			t.Errorf("ParseStatus(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, s := range []sdk.Status{sdk.OK, sdk.Warning, sdk.Critical, sdk.Unknown} {
		if got, err := sdk.ParseStatus(s.String()); err != nil || got != s {
			t.Errorf("ParseStatus(%v.String()) = %v, %v", s, got, err)
		}
	}
	_, err := sdk.ParseStatus("bad")
	if want := `unknown status "bad" (want ok, warning, critical or unknown)`; err == nil || err.Error() != want {
		t.Errorf("ParseStatus(bad) error = %v, want %s", err, want)
	}
}

func TestWorse(t *testing.T) {
	order := []sdk.Status{sdk.OK, sdk.Unknown, sdk.Warning, sdk.Critical} // least to most severe
	for i, a := range order {
		for j, b := range order {
			want := order[max(i, j)]
			if got := sdk.Worse(a, b); got != want {
				t.Errorf("Worse(%v, %v) = %v, want %v", a, b, got, want)
			}
		}
	}
}

func TestResultf(t *testing.T) {
	r := sdk.Resultf(sdk.Warning, "slow_connect", "took %dms", 1200)
	if r.Status != sdk.Warning || r.Reason != "slow_connect" || r.Message != "took 1200ms" || r.Metrics != nil {
		t.Errorf("Resultf = %+v", r)
	}
	m := sdk.NewMetric("mailmon_x")
	if m.Name != "mailmon_x" || m.Tags == nil || m.Fields == nil {
		t.Errorf("NewMetric = %+v", m)
	}
}

func TestResultValidate(t *testing.T) {
	metric := func(fields map[string]any) []sdk.Metric {
		return []sdk.Metric{{Name: "mailmon_x", Fields: fields}}
	}
	valid := map[string]any{
		"f": 1.5, "f32": float32(2), "i": 1, "i8": int8(1), "i16": int16(1), "i32": int32(1), "i64": int64(1),
		"u": uint(1), "u8": uint8(1), "u16": uint16(1), "u32": uint32(1), "u64": uint64(1), "s": "x", "b": true,
	}
	if err := (&sdk.Result{Status: sdk.OK, Reason: "ok", Metrics: metric(valid)}).Validate(); err != nil {
		t.Errorf("valid result: %v", err)
	}
	if err := (&sdk.Result{Status: sdk.Unknown}).Validate(); err != nil {
		t.Errorf("result without metrics: %v", err)
	}
	for _, tc := range []struct {
		name string
		r    sdk.Result
		want string
	}{
		{"status 4", sdk.Result{Status: 4}, "invalid status 4"},
		{"status -1", sdk.Result{Status: -1}, "invalid status -1"},
		{"no name", sdk.Result{Metrics: []sdk.Metric{{Fields: map[string]any{"a": 1}}}}, "metric without a name"},
		{"NaN", sdk.Result{Metrics: metric(map[string]any{"a": math.NaN()})}, "metric mailmon_x field a: value NaN is not a finite number"},
		{"+Inf", sdk.Result{Metrics: metric(map[string]any{"a": math.Inf(1)})}, "metric mailmon_x field a: value +Inf is not a finite number"},
		{"float32 -Inf", sdk.Result{Metrics: metric(map[string]any{"a": float32(math.Inf(-1))})}, "metric mailmon_x field a: value -Inf is not a finite number"},
		{"duration", sdk.Result{Metrics: metric(map[string]any{"took": time.Second})}, "metric mailmon_x field took: time.Duration is ambiguous: use Seconds() in a *_seconds field"},
		{"time", sdk.Result{Metrics: metric(map[string]any{"at": time.Time{}})}, "metric mailmon_x field at: unsupported type time.Time"},
		{"slice", sdk.Result{Metrics: metric(map[string]any{"l": []int{1}})}, "metric mailmon_x field l: unsupported type []int"},
		{"nil", sdk.Result{Metrics: metric(map[string]any{"n": nil})}, "metric mailmon_x field n: unsupported type <nil>"},
		{"pointer", sdk.Result{Metrics: metric(map[string]any{"p": new(int64)})}, "metric mailmon_x field p: unsupported type *int64"},
		{"empty field name", sdk.Result{Metrics: metric(map[string]any{"": 1})}, "metric mailmon_x: field without a name"},
		{"empty tag name", sdk.Result{Metrics: []sdk.Metric{{Name: "mailmon_x", Tags: map[string]string{"": "v"}}}}, "metric mailmon_x: tag without a name"},
	} {
		err := tc.r.Validate()
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: Validate() = %v, want %s", tc.name, err, tc.want)
		}
	}
}
