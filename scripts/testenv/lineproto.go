package testenv

import (
	"strings"
	"testing"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
)

// Point is one parsed line of InfluxDB line protocol.
type Point struct {
	Name   string
	Tags   map[string]string
	Fields map[string]any // float64, int64, uint64, string, bool
	Time   time.Time
}

// ParseLines parses line protocol strictly; a malformed line fails t.
// Lines starting with "> " (Telegraf's --test output) are read without
// the prefix; blank lines and # comments are skipped.
func ParseLines(t testing.TB, text string) []Point {
	t.Helper()
	var pts []Point
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimPrefix(strings.TrimSpace(line), "> ")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		pts = append(pts, parseLine(t, line))
	}
	return pts
}

func parseLine(t testing.TB, line string) Point {
	t.Helper()
	dec := lineprotocol.NewDecoderWithBytes([]byte(line + "\n"))
	if !dec.Next() {
		t.Fatalf("no line protocol in %q", line)
	}
	name, err := dec.Measurement()
	if err != nil {
		t.Fatalf("line %q: %v", line, err)
	}
	p := Point{Name: string(name), Tags: map[string]string{}, Fields: map[string]any{}}
	for {
		k, v, err := dec.NextTag()
		if err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if k == nil {
			break
		}
		p.Tags[string(k)] = string(v)
	}
	for {
		k, v, err := dec.NextField()
		if err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if k == nil {
			break
		}
		p.Fields[string(k)] = v.Interface()
	}
	ts, err := dec.Time(lineprotocol.Nanosecond, time.Time{})
	if err != nil {
		t.Fatalf("line %q: %v", line, err)
	}
	p.Time = ts
	return p
}

// Find returns the points named name whose tags include every pair in tags.
func Find(pts []Point, name string, tags map[string]string) []Point {
	var out []Point
	for _, p := range pts {
		if p.Name != name {
			continue
		}
		ok := true
		for k, v := range tags {
			if p.Tags[k] != v {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, p)
		}
	}
	return out
}
