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
// agent does, against the real Postfix.
func TestPluginProcess(t *testing.T) {
	env := testenv.MailStack(t)
	bin := testenv.Build(t, "./plugins/smtp-banner", "mailmon-check-smtp-banner")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	p, err := host.Start(ctx, host.Config{Path: bin})
	if err != nil {
		t.Fatalf("start plugin: %v", err)
	}
	defer p.Kill()
	if info := p.Info(); info.Name != "smtp-banner" || !strings.Contains(info.SampleConfig, "address = ") {
		t.Errorf("info = %+v", info)
	}

	// A bad config comes back as a ConfigError naming the option.
	err = p.Configure(ctx, "bad", []byte(`{"address":"mx","tls":"ssl"}`))
	var cerr *sdk.ConfigError
	if !errors.As(err, &cerr) || cerr.Key != "tls" || err.Error() != "option tls: must be one of none, starttls, implicit" {
		t.Errorf("bad config: got %v", err)
	}

	raw, _ := json.Marshal(map[string]any{"address": env["MAILSTACK_SMTP"], "tls_ca_file": env["MAILSTACK_CA"]})
	if err := p.Configure(ctx, "inst", raw); err != nil {
		t.Fatalf("configure: %v", err)
	}
	runCtx, runCancel := context.WithTimeout(ctx, 10*time.Second)
	defer runCancel()
	res, err := p.Run(runCtx, "inst")
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	t.Logf("%s %s: %s", res.Status, res.Reason, res.Message)
	wantResult(t, res, sdk.OK, "ok", env["MAILSTACK_SMTP"]+" answered", "with a trusted certificate")
	f := fields(t, res)
	wantTypes(t, f)
	if tags := res.Metrics[0].Tags; tags["target"] != env["MAILSTACK_SMTP"] || tags["tls"] != "starttls" {
		t.Errorf("tags = %v", tags)
	}
	for name := range fieldTypes {
		switch name {
		case "auth_seconds": // no AUTH configured
			wantNoField(t, f, name)
		default:
			if _, ok := f[name]; !ok {
				t.Errorf("field %s missing", name)
			}
		}
	}
	wantField(t, f, "reply_code", int64(221))
	wantField(t, f, "cert_chain_valid", true)
	wantField(t, f, "starttls_offered", true)
	if res.Metrics[0].Time.IsZero() {
		t.Error("metric has no time")
	}

	// A target that is down is a Result, not an error.
	raw, _ = json.Marshal(map[string]any{"address": testenv.FreePort(t), "tls": "none"})
	if err := p.Configure(ctx, "down", raw); err != nil {
		t.Fatalf("configure: %v", err)
	}
	res, err = p.Run(runCtx, "down")
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	wantResult(t, res, sdk.Critical, "connect_failed", "connection refused")

	// The run's deadline crosses the process boundary and bounds a server
	// that never greets.
	silent := serve(t, func(s *session) { s.read() })
	raw, _ = json.Marshal(map[string]any{"address": silent, "tls": "none"})
	if err := p.Configure(ctx, "silent", raw); err != nil {
		t.Fatalf("configure: %v", err)
	}
	shortCtx, shortCancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer shortCancel()
	res, err = p.Run(shortCtx, "silent")
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	wantResult(t, res, sdk.Critical, "timeout", "timed out during the greeting")
}
