package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/mailmon/mailmon/sdk"
)

//go:embed sample.toml
var sampleConfig string

// TCPConnect measures how long opening a TCP connection to an address takes.
type TCPConnect struct {
	cfg config
}

var _ sdk.Check = (*TCPConnect)(nil)

type config struct {
	Address  string       `json:"address"`
	Timeout  sdk.Duration `json:"timeout"`
	Warning  sdk.Duration `json:"warning"`
	Critical sdk.Duration `json:"critical"`
}

func defaultConfig() config {
	return config{
		Timeout:  sdk.Duration(5 * time.Second),
		Warning:  sdk.Duration(time.Second),
		Critical: sdk.Duration(3 * time.Second),
	}
}

// Info describes the check.
func (*TCPConnect) Info() sdk.Info {
	return sdk.Info{
		Name:         "tcp-connect",
		Version:      "1.0.0",
		Description:  "Measures how long opening a TCP connection takes.",
		SampleConfig: sampleConfig,
	}
}

// Configure reads and validates the options; it does not resolve or dial.
func (c *TCPConnect) Configure(raw []byte) error {
	cfg := defaultConfig() // options left out keep their defaults
	if err := sdk.DecodeConfig(raw, &cfg); err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	c.cfg = cfg
	return nil
}

func (cfg config) validate() error {
	if cfg.Address == "" {
		return sdk.OptionError("address", "required (host:port)")
	}
	host, port, err := net.SplitHostPort(cfg.Address)
	if err != nil || host == "" {
		return sdk.OptionError("address", "want host:port, got %q", cfg.Address)
	}
	// LookupPort reads only numbers and the local services file.
	if p, err := net.LookupPort("tcp", port); err != nil || p == 0 {
		return sdk.OptionError("address", "invalid port %q", port)
	}
	if cfg.Timeout == 0 {
		return sdk.OptionError("timeout", "must be more than 0s")
	}
	if cfg.Warning != 0 && cfg.Critical != 0 && cfg.Warning > cfg.Critical {
		return sdk.OptionError("warning", "%s is above critical (%s)", cfg.Warning.D(), cfg.Critical.D())
	}
	if err := belowTimeout("critical", cfg.Critical, cfg.Timeout); err != nil {
		return err
	}
	return belowTimeout("warning", cfg.Warning, cfg.Timeout)
}

func belowTimeout(key string, threshold, timeout sdk.Duration) error {
	if threshold >= timeout {
		return sdk.OptionError(key, "%s is not below timeout (%s), so it could never fire", threshold.D(), timeout.D())
	}
	return nil
}

// Run connects once and closes the connection at once.
func (c *TCPConnect) Run(ctx context.Context) (*sdk.Result, error) {
	m := sdk.NewMetric("mailmon_tcp_connect")
	m.Tags["target"] = c.cfg.Address
	d := net.Dialer{Timeout: c.cfg.Timeout.D()}
	start := time.Now()
	conn, err := d.DialContext(ctx, "tcp", c.cfg.Address)
	elapsed := time.Since(start)
	if errors.Is(err, context.Canceled) {
		return nil, fmt.Errorf("connect %s: %w", c.cfg.Address, err) // the agent is stopping
	}
	var res *sdk.Result
	if err != nil {
		res = c.failed(err)
	} else {
		conn.Close()
		m.Fields["connect_seconds"] = elapsed.Seconds()
		res = c.judge(elapsed)
	}
	res.Metrics = []sdk.Metric{m}
	return res, nil
}

func (c *TCPConnect) failed(err error) *sdk.Result {
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return sdk.Resultf(sdk.Critical, "timeout", "connecting to %s timed out", c.cfg.Address)
	}
	return sdk.Resultf(sdk.Critical, "connect_failed", "cannot connect to %s: %v", c.cfg.Address, err)
}

func (c *TCPConnect) judge(elapsed time.Duration) *sdk.Result {
	took := elapsed.Round(time.Microsecond)
	crit, warn := c.cfg.Critical.D(), c.cfg.Warning.D()
	switch {
	case crit > 0 && elapsed > crit:
		return sdk.Resultf(sdk.Critical, "slow_connect", "connected to %s in %s, above the critical %s", c.cfg.Address, took, crit)
	case warn > 0 && elapsed > warn:
		return sdk.Resultf(sdk.Warning, "slow_connect", "connected to %s in %s, above the warning %s", c.cfg.Address, took, warn)
	}
	return sdk.Resultf(sdk.OK, "ok", "connected to %s in %s", c.cfg.Address, took)
}
