package main

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mailmon/mailmon/sdk"
	"github.com/mailmon/mailmon/sdk/checktest"
)

func TestInfo(t *testing.T) {
	info := (&TCPConnect{}).Info()
	if info.Name != "tcp-connect" || info.Version == "" || info.Description == "" {
		t.Errorf("info = %+v", info)
	}
	if !strings.Contains(info.SampleConfig, `address = "mx1.example.org:25"`) || !strings.Contains(info.SampleConfig, `# timeout = "5s"`) {
		t.Errorf("sample config is not the embedded sample.toml:\n%s", info.SampleConfig)
	}
}

func TestConfigureDefaults(t *testing.T) {
	c := &TCPConnect{}
	checktest.Configure(t, c, `{"address": "127.0.0.1:25"}`)
	want := defaultConfig()
	want.Address = "127.0.0.1:25"
	if c.cfg != want {
		t.Errorf("config = %+v, want %+v", c.cfg, want)
	}
	checktest.Configure(t, c, `{"address": "mx1.example.org:smtp", "timeout": 2, "warning": "0s", "critical": "1.5s"}`)
	if c.cfg.Timeout.D() != 2*time.Second || c.cfg.Warning != 0 || c.cfg.Critical.D() != 1500*time.Millisecond {
		t.Errorf("config = %+v", c.cfg)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ config, key, msg string }{
		{`{}`, "address", "option address: required (host:port)"},
		{`{"address": "mx1.example.org"}`, "address", `option address: want host:port, got "mx1.example.org"`},
		{`{"address": ":25"}`, "address", `option address: want host:port, got ":25"`},
		{`{"address": "mx1:0"}`, "address", `option address: invalid port "0"`},
		{`{"address": "mx1:no-such-service"}`, "address", `option address: invalid port "no-such-service"`},
		{`{"address": "mx1:25", "adress": "x"}`, "adress", "option adress: unknown option"},
		{`{"address": 25}`, "address", "option address: expected a string, got number"},
		{`{"address": "mx1:25", "timeout": "5"}`, "timeout", `option timeout: invalid duration "5" (want a number with a unit, e.g. "30s")`},
		{`{"address": "mx1:25", "timeout": "0s"}`, "timeout", "option timeout: must be more than 0s"},
		{`{"address": "mx1:25", "warning": "-1s"}`, "warning", `option warning: invalid duration "-1s": negative`},
		{`{"address": "mx1:25", "warning": "2s", "critical": "1s"}`, "warning", "option warning: 2s is above critical (1s)"},
		{`{"address": "mx1:25", "critical": "5s"}`, "critical", "option critical: 5s is not below timeout (5s), so it could never fire"},
		{`{"address": "mx1:25", "critical": "0s", "warning": "6s"}`, "warning", "option warning: 6s is not below timeout (5s), so it could never fire"},
	} {
		err := checktest.ConfigError(t, &TCPConnect{}, tc.config)
		if err.Key != tc.key || err.Error() != tc.msg {
			t.Errorf("%s:\n got key %q, %q\nwant key %q, %q", tc.config, err.Key, err.Error(), tc.key, tc.msg)
		}
	}
}

// listen returns the address of a local server that accepts connections.
func listen(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return l.Addr().String()
}

// closedPort returns a local address that refuses connections.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestRun(t *testing.T) {
	up, down := listen(t), closedPort(t)
	for _, tc := range []struct {
		name, addr, options string
		status              sdk.Status
		reason              string
		measured            bool
	}{
		{"ok", up, ``, sdk.OK, "ok", true},
		{"warning", up, `, "warning": "1ns"`, sdk.Warning, "slow_connect", true},
		{"critical", up, `, "warning": "1ns", "critical": "1ns"`, sdk.Critical, "slow_connect", true},
		{"refused", down, ``, sdk.Critical, "connect_failed", false},
		{"timeout", up, `, "timeout": "1ns", "warning": "0s", "critical": "0s"`, sdk.Critical, "timeout", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &TCPConnect{}
			checktest.Configure(t, c, fmt.Sprintf(`{"address": %q%s}`, tc.addr, tc.options))
			res := checktest.Run(t, c, 5*time.Second)
			if res.Status != tc.status || res.Reason != tc.reason {
				t.Fatalf("got %v %s (%s), want %v %s", res.Status, res.Reason, res.Message, tc.status, tc.reason)
			}
			if len(res.Metrics) != 1 {
				t.Fatalf("%d metrics, want 1", len(res.Metrics))
			}
			m := res.Metrics[0]
			if m.Name != "mailmon_tcp_connect" || m.Tags["target"] != tc.addr || len(m.Tags) != 1 {
				t.Errorf("metric %s %v, want mailmon_tcp_connect target=%s", m.Name, m.Tags, tc.addr)
			}
			secs, ok := m.Fields["connect_seconds"].(float64)
			if ok != tc.measured || (ok && (secs <= 0 || secs > 1)) {
				t.Errorf("connect_seconds = %v (present %v, want %v)", m.Fields["connect_seconds"], ok, tc.measured)
			}
		})
	}
}

// TestPlugin runs the built binary as the agent does.
func TestPlugin(t *testing.T) {
	p := checktest.Start(t, checktest.Build(t, "."))
	if p.Info().Name != "tcp-connect" {
		t.Errorf("name %q", p.Info().Name)
	}
	addr := listen(t)
	if err := p.Configure(t.Context(), "local", []byte(fmt.Sprintf(`{"address": %q}`, addr))); err != nil {
		t.Fatal(err)
	}
	res, err := p.Run(t.Context(), "local")
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != sdk.OK || res.Metrics[0].Tags["target"] != addr {
		t.Errorf("got %v %s: %s %v", res.Status, res.Reason, res.Message, res.Metrics)
	}
}
