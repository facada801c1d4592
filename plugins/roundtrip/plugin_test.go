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
// agent does, against the real Postfix and Dovecot.
func TestPluginProcess(t *testing.T) {
	t.Parallel()
	env := testenv.MailStack(t)
	bin := testenv.Build(t, "./plugins/roundtrip", "mailmon-check-roundtrip")
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	p, err := host.Start(ctx, host.Config{Path: bin})
	if err != nil {
		t.Fatalf("start plugin: %v", err)
	}
	defer p.Kill()
	if info := p.Info(); info.Name != "roundtrip" || !strings.Contains(info.SampleConfig, "send.address = ") {
		t.Errorf("info = %+v", info)
	}

	err = p.Configure(ctx, "bad", []byte(`{"send":{"address":"mx","tls":"ssl"}}`))
	var cerr *sdk.ConfigError
	if !errors.As(err, &cerr) || cerr.Key != "send.tls" || err.Error() != "option send.tls: must be one of none, starttls, implicit" {
		t.Errorf("bad config: got %v", err)
	}

	raw, _ := json.Marshal(direct(t, env))
	if err := p.Configure(ctx, "inst", raw); err != nil {
		t.Fatalf("configure: %v", err)
	}
	runCtx, runCancel := context.WithTimeout(ctx, 10*time.Second)
	defer runCancel()
	res, err := p.Run(runCtx, "inst")
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	wantDelivered(t, res, byFastPoll)
	if res.Metrics[0].Time.IsZero() {
		t.Error("metric has no time")
	}

	// The run's deadline crosses the process boundary: a probe that never
	// arrives ends the run in time, as not_delivered.
	t.Cleanup(func() { purgeDefer(t) })
	raw, _ = json.Marshal(set(direct(t, env), "send.rcpt_to", env["MAILSTACK_DEFER"]))
	if err := p.Configure(ctx, "defer", raw); err != nil {
		t.Fatalf("configure: %v", err)
	}
	shortCtx, shortCancel := context.WithTimeout(ctx, 2*time.Second)
	defer shortCancel()
	start := time.Now()
	res, err = p.Run(shortCtx, "defer")
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if el := time.Since(start); el > 2500*time.Millisecond {
		t.Errorf("run took %s with a 2s deadline", el)
	}
	wantResult(t, res, sdk.Critical, "not_delivered")
}
