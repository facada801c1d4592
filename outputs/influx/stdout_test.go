package influx

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/metric"
	"github.com/mailmon/mailmon/outputs"
	"github.com/mailmon/mailmon/sdk"
)

var testTime = time.Unix(1700000000, 123456789)

// fixtures are metrics that exercise escaping and every field type; the
// lines they must become are fixtureLines. A non-empty mode becomes a tag,
// so a test that sends through several modes can tell them apart.
func fixtures(mode string) []telegraf.Metric {
	tags := func(m map[string]string) map[string]string {
		if mode != "" {
			m["mode"] = mode
		}
		return m
	}
	return []telegraf.Metric{
		metric.New("mailmon_smtp",
			tags(map[string]string{"check": "mx one", "target": "a,b=c"}),
			map[string]any{
				"status_code":      int64(2),
				"duration_seconds": 0.25,
				"tls":              true,
				"message":          `said "hi" \ bye`,
				"queue":            uint64(7),
			}, testTime),
		metric.New("mailmon roundtrip",
			tags(map[string]string{"check": "rt"}),
			map[string]any{
				"status_code": int64(0),
				"reply":       "250-first\r\n250 second",
				"nan":         math.NaN(),
				"ok":          false,
				"negative":    int64(-3),
			}, testTime.Add(time.Second)),
	}
}

// fixtureLines is what fixtures(mode) must serialize to.
func fixtureLines(mode string) string {
	tag := ""
	if mode != "" {
		tag = ",mode=" + mode
	}
	return `mailmon_smtp,check=mx\ one` + tag + `,target=a\,b\=c duration_seconds=0.25,message="said \"hi\" \\ bye",queue=7u,status_code=2i,tls=true 1700000000123456789` + "\n" +
		`mailmon\ roundtrip,check=rt` + tag + ` negative=-3i,ok=false,reply="250-first\\r\\n250 second",status_code=0i 1700000001123456789` + "\n"
}

// stdoutOutput returns an Init'ed stdout output writing to w and logging
// to logs.
func stdoutOutput(t *testing.T, raw string, w *bytes.Buffer, logs *bytes.Buffer) *Influx {
	t.Helper()
	o := &Influx{stdout: w, log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if err := sdk.DecodeConfig([]byte(raw), o); err != nil {
		t.Fatal(err)
	}
	if err := o.Init(); err != nil {
		t.Fatal(err)
	}
	return o
}

func TestStdoutExactBytes(t *testing.T) {
	var out, logs bytes.Buffer
	o := stdoutOutput(t, `{"mode":"stdout"}`, &out, &logs)
	ctx := context.Background()
	if err := o.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := o.Write(ctx, fixtures("")); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if want := fixtureLines(""); out.String() != want {
		t.Errorf("stdout\n got: %q\nwant: %q", out.String(), want)
	}
	if !strings.Contains(logs.String(), "dropped fields") || !strings.Contains(logs.String(), "fields=1") {
		t.Errorf("the NaN field was not reported at debug level; logs:\n%s", logs.String())
	}
}

func TestUintSupportOff(t *testing.T) {
	var out, logs bytes.Buffer
	o := stdoutOutput(t, `{"uint_support":false}`, &out, &logs)
	m := metric.New("m", nil, map[string]any{"small": uint64(7), "huge": uint64(math.MaxUint64)}, testTime)
	if err := o.Write(context.Background(), []telegraf.Metric{m}); err != nil {
		t.Fatal(err)
	}
	if want := "m huge=9223372036854775807i,small=7i 1700000000123456789\n"; out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}

// TestWriteLeavesMetricsAlone: several outputs share the agent's metrics,
// so sorting or escaping must not touch them.
func TestWriteLeavesMetricsAlone(t *testing.T) {
	var out, logs bytes.Buffer
	o := stdoutOutput(t, `{}`, &out, &logs)
	m := metric.New("m", nil, map[string]any{"a": int64(1)}, testTime)
	m.AddField("z", "x\ny")
	m.AddField("b", int64(2))
	before := fieldKeys(m)
	if err := o.Write(context.Background(), []telegraf.Metric{m}); err != nil {
		t.Fatal(err)
	}
	if got := fieldKeys(m); got != before {
		t.Errorf("field order changed from %s to %s", before, got)
	}
	if v, _ := m.GetField("z"); v != "x\ny" {
		t.Errorf("field z changed to %q", v)
	}
	if want := `m a=1i,b=2i,z="x\\ny" 1700000000123456789` + "\n"; out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}

func fieldKeys(m telegraf.Metric) string {
	var keys []string
	for _, f := range m.FieldList() {
		keys = append(keys, f.Key)
	}
	return strings.Join(keys, ",")
}

func TestUnencodableMetricsSkipped(t *testing.T) {
	var out, logs bytes.Buffer
	o := stdoutOutput(t, `{}`, &out, &logs)
	batch := []telegraf.Metric{
		metric.New("only_nan", nil, map[string]any{"x": math.Inf(1)}, testTime),
		metric.New("good", nil, map[string]any{"x": int64(1)}, testTime),
		metric.New("", nil, map[string]any{"x": int64(1)}, testTime),
	}
	if err := o.Write(context.Background(), batch); err != nil {
		t.Fatalf("a bad metric failed the batch: %v", err)
	}
	if want := "good x=1i 1700000000123456789\n"; out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
	for _, want := range []string{"skipped metrics", "skipped=2", `first_error="\"only_nan\": no serializable fields"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, logs.String())
		}
	}

	// A batch with nothing encodable writes nothing at all.
	out.Reset()
	if err := o.Write(context.Background(), batch[:1]); err != nil || out.Len() != 0 {
		t.Errorf("empty batch: err %v, wrote %q", err, out.String())
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestStdoutWriteError(t *testing.T) {
	o := &Influx{stdout: failingWriter{}}
	if err := o.Init(); err != nil {
		t.Fatal(err)
	}
	err := o.Write(context.Background(), fixtures(""))
	if err == nil || err.Error() != "write stdout: broken pipe" || outputs.IsPermanent(err) {
		t.Errorf("got %v (permanent %v), want retryable %q", err, outputs.IsPermanent(err), "write stdout: broken pipe")
	}
}
