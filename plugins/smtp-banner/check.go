package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"time"

	"github.com/mailmon/mailmon/sdk"
)

//go:embed sample.toml
var sampleConfig string

// Version is the plugin's version.
const Version = "0.1.0"

// measurement is the metric name, shared with other SMTP checks.
const measurement = "mailmon_smtp"

// defaultTimeout bounds a run whose context has no deadline (the agent
// always sets one; this guards direct callers against a silent server).
const defaultTimeout = 30 * time.Second

// Banner checks one SMTP server: greeting, EHLO, STARTTLS or implicit TLS,
// certificate, optional AUTH and QUIT, with the timing of each step.
type Banner struct {
	s *settings
}

var _ sdk.Check = (*Banner)(nil)

// Info describes the check.
func (b *Banner) Info() sdk.Info {
	return sdk.Info{
		Name:         "smtp-banner",
		Version:      Version,
		Description:  "Checks an SMTP server's greeting, EHLO extensions, STARTTLS or implicit TLS, certificate and optional AUTH.",
		SampleConfig: sampleConfig,
	}
}

// Configure decodes and validates the options; it does not touch the
// network.
func (b *Banner) Configure(raw []byte) error {
	s, err := parseConfig(raw)
	if err != nil {
		return err
	}
	b.s = s
	return nil
}

// Run runs one SMTP transaction against the server. A server that is down
// or misbehaves is a Result; an error means the run could not happen.
func (b *Banner) Run(ctx context.Context) (*sdk.Result, error) {
	if b.s == nil {
		return nil, errors.New("smtp-banner: run before configure")
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultTimeout)
		defer cancel()
	}
	p := newProbe(b.s)
	p.run(ctx)
	if errors.Is(ctx.Err(), context.Canceled) {
		return nil, fmt.Errorf("smtp-banner %s: %w", b.s.address, ctx.Err())
	}
	return p.result(), nil
}
