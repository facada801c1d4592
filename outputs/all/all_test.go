package all_test

import (
	"slices"
	"testing"

	"github.com/mailmon/mailmon/outputs"
	_ "github.com/mailmon/mailmon/outputs/all"
)

func TestAllRegistered(t *testing.T) {
	for _, name := range []string{"influx"} {
		f, ok := outputs.Get(name)
		if !ok {
			t.Errorf("output %q is not registered (names: %v)", name, outputs.Names())
			continue
		}
		if _, ok := f().(outputs.MetricOutput); !ok {
			t.Errorf("output %q is not a MetricOutput", name)
		}
	}
	if !slices.IsSorted(outputs.Names()) {
		t.Errorf("names not sorted: %v", outputs.Names())
	}
}
