package influx

import (
	"cmp"
	"math"
	"slices"
	"strings"

	"github.com/influxdata/telegraf"
	serializer "github.com/influxdata/telegraf/plugins/serializers/influx"
)

// batch is one Write's line protocol: buf holds every line and ends[i]
// is the end of line i (after its '\n'), so UDP can split on line
// boundaries.
type batch struct {
	buf  []byte
	ends []int

	skipped int   // metrics with nothing encodable
	skipErr error // the first of them
	dropped int   // fields line protocol cannot carry
}

// line returns line i.
func (b *batch) line(i int) []byte {
	start := 0
	if i > 0 {
		start = b.ends[i-1]
	}
	return b.buf[start:b.ends[i]]
}

// encoder turns metrics into line protocol with Telegraf's serializer.
// It is not safe for concurrent use; buffers are reused between batches.
type encoder struct {
	ser  *serializer.Serializer
	view fieldView
	b    batch
}

func newEncoder(uintSupport bool) *encoder {
	s := &serializer.Serializer{
		// Sorted by fieldView instead: the serializer would sort the
		// caller's metric in place, a data race when metrics are shared.
		SortFields:  false,
		UintSupport: uintSupport,
	}
	_ = s.Init() // only allocates buffers
	return &encoder{ser: s}
}

func (e *encoder) encode(metrics []telegraf.Metric) *batch {
	b := &e.b
	*b = batch{buf: b.buf[:0], ends: b.ends[:0]}
	for _, m := range metrics {
		b.dropped += e.view.reset(m)
		line, err := e.ser.Serialize(&e.view)
		if err != nil {
			b.skipped++
			if b.skipErr == nil {
				b.skipErr = err
			}
			continue
		}
		b.buf = append(b.buf, line...)
		b.ends = append(b.ends, len(b.buf))
	}
	e.view.Metric = nil // do not keep the caller's metric alive
	return b
}

// fieldView shows a metric to the serializer with its fields sorted by
// key, without NaN, Inf, unsupported types or empty keys, and with line
// breaks in string values escaped. The metric itself is never modified.
type fieldView struct {
	telegraf.Metric
	fields []*telegraf.Field
}

// FieldList returns the cleaned, sorted fields.
func (v *fieldView) FieldList() []*telegraf.Field { return v.fields }

// reset points v at m and returns how many fields it left out.
func (v *fieldView) reset(m telegraf.Metric) (dropped int) {
	v.Metric = m
	v.fields = v.fields[:0]
	for _, f := range m.FieldList() {
		if !encodable(f) {
			dropped++
			continue
		}
		if s, ok := f.Value.(string); ok && strings.ContainsAny(s, "\r\n") {
			f = &telegraf.Field{Key: f.Key, Value: escapeLineBreaks(s)}
		}
		v.fields = append(v.fields, f)
	}
	slices.SortFunc(v.fields, func(a, b *telegraf.Field) int { return cmp.Compare(a.Key, b.Key) })
	return dropped
}

func encodable(f *telegraf.Field) bool {
	if f.Key == "" {
		return false
	}
	switch v := f.Value.(type) {
	case float64:
		return !math.IsNaN(v) && !math.IsInf(v, 0)
	case int64, uint64, string, bool:
		return true
	}
	return false
}

// lineBreaks escapes CR and LF the way the serializer already does in tag
// values, in every mode so that a value does not depend on the transport.
// A raw line break inside a string field is valid line protocol, but
// Telegraf's socket_listener over tcp and unix splits its input at
// newlines before parsing, which would lose the metric.
var lineBreaks = strings.NewReplacer("\n", `\n`, "\r", `\r`)

func escapeLineBreaks(s string) string { return lineBreaks.Replace(s) }
