// Package sampletest checks an alert output's sample config in tests.
package sampletest

import (
	"reflect"
	"strings"
	"testing"
)

// Check reports a sample that is not fully commented out (alert outputs
// need credentials, so `mailmon sample-config` must print them disabled
// and still load), lacks the "# [[outputs.NAME]]" header, or leaves out
// one of the options of cfg (the `json` tags of its struct).
func Check(t *testing.T, name, sample string, cfg any) {
	t.Helper()
	if !strings.Contains(sample, "# [[outputs."+name+"]]\n") {
		t.Errorf("sample has no %q header", "# [[outputs."+name+"]]")
	}
	for i, line := range strings.Split(sample, "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			t.Errorf("sample line %d is not commented out: %q", i+1, line)
		}
	}
	typ := reflect.TypeOf(cfg)
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	for i := range typ.NumField() {
		f := typ.Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || key == "" || key == "-" {
			continue
		}
		if !strings.Contains(sample, "\n# "+key+" = ") {
			t.Errorf("sample does not show option %s as %q", key, "# "+key+" = ...")
		}
	}
	for _, common := range []string{"statuses", "checks", "queue_limit"} {
		if !strings.Contains(sample, "\n# "+common+" = ") {
			t.Errorf("sample does not show the common option %s", common)
		}
	}
}
