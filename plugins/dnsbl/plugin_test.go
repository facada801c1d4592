package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mailmon/mailmon/scripts/testenv"
	"github.com/mailmon/mailmon/sdk"
	"github.com/mailmon/mailmon/sdk/host"
)

// TestPluginProcess builds the real plugin binary and drives it as the
// agent does, against rbldnsd.
func TestPluginProcess(t *testing.T) {
	env := dnsStack(t)
	bin := testenv.Build(t, "./plugins/dnsbl", "mailmon-check-dnsbl")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	p, err := host.Start(ctx, host.Config{Path: bin})
	if err != nil {
		t.Fatalf("start plugin: %v", err)
	}
	defer p.Kill()
	if info := p.Info(); info.Name != "dnsbl" || !strings.Contains(info.SampleConfig, "addresses = ") {
		t.Errorf("info = %+v", info)
	}

	// A bad config comes back as a ConfigError naming the option.
	err = p.Configure(ctx, "bad", []byte(`{"addresses":["192.0.2.1"],"zones":["dnsbl.sorbs.net"]}`))
	var cerr *sdk.ConfigError
	if !errors.As(err, &cerr) || cerr.Key != "zones[0]" ||
		err.Error() != `option zones[0]: unknown zone "dnsbl.sorbs.net": not in the built-in catalog (define it with [[custom_zone]])` {
		t.Errorf("bad config: got %v", err)
	}

	silent, _ := silentUDP(t)
	raw, _ := json.Marshal(map[string]any{
		"resolver": env["DNSSTACK_RBLDNSD"],
		"zones":    []string{},
		"custom_zone": []any{
			map[string]any{"name": "bl.mailmon.test", "severity": "critical", "codes": map[string]string{"127.0.0.2": "sbl", "127.0.0.4": "xbl"}},
			map[string]any{"name": "silent.mailmon.test", "server": silent},
		},
		"addresses":     []string{"192.0.2.10", "2001:db8::25", "192.0.2.99"},
		"query_timeout": "10s",
	})
	if err := p.Configure(ctx, "inst", raw); err != nil {
		t.Fatalf("configure: %v", err)
	}
	// The agent's deadline crosses the process boundary and bounds a zone
	// that never answers, whatever query_timeout says.
	runCtx, runCancel := context.WithTimeout(ctx, time.Second)
	defer runCancel()
	start := time.Now()
	res, err := p.Run(runCtx, "inst")
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if el := time.Since(start); el > 1500*time.Millisecond { // 1s and scheduling slack
		t.Errorf("run took %s, past its 1s deadline", el)
	}
	t.Logf("%s %s: %s", res.Status, res.Reason, res.Message)
	wantResult(t, res, sdk.Critical, "listed", "192.0.2.10 on bl.mailmon.test [critical] as sbl+xbl", "silent.mailmon.test: 3 lookup(s) failed")
	checkMetrics(t, res)
	wantFields(t, listing(t, res, "192.0.2.10", "bl.mailmon.test"), map[string]any{"listed": true, "return_code": "127.0.0.2 127.0.0.4", "answers": int64(2)})
	wantTags(t, listing(t, res, "192.0.2.10", "silent.mailmon.test"), map[string]string{"reason": "timeout"})
	wantFields(t, res.Metrics[0], map[string]any{"targets": int64(3), "zones": int64(2), "listed_count": int64(2), "lookup_errors": int64(3)})
	if res.Metrics[0].Time.IsZero() {
		t.Error("metric has no time")
	}
}
