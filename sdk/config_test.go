package sdk_test

import (
	"errors"
	"testing"
	"time"

	"github.com/mailmon/mailmon/sdk"
)

type tlsOptions struct {
	CAFile  string       `json:"ca_file"`
	Port    int          `json:"port"`
	Timeout sdk.Duration `json:"timeout"`
}

type Embedded struct {
	Retries uint8 `json:"retries"`
}

type options struct {
	Embedded
	Address  string                `json:"address"`
	Ratio    float64               `json:"ratio"`
	Enabled  bool                  `json:"enabled"`
	Timeout  sdk.Duration          `json:"timeout"`
	TLS      tlsOptions            `json:"tls"`
	Optional *tlsOptions           `json:"optional"`
	Servers  []tlsOptions          `json:"servers"`
	ByName   map[string]tlsOptions `json:"by_name"`
	Skipped  string                `json:"-"`
}

func TestDecodeConfigErrors(t *testing.T) {
	for _, tc := range []struct{ in, key, msg string }{
		{`{"adress": "x"}`, "adress", "option adress: unknown option"},
		{`{"Skipped": "x"}`, "Skipped", "option Skipped: unknown option"},
		{`{"ratio": "fast"}`, "ratio", "option ratio: expected a number, got string"},
		{`{"address": 25}`, "address", "option address: expected a string, got number"},
		{`{"enabled": "yes"}`, "enabled", "option enabled: expected true or false, got string"},
		{`{"tls": "on"}`, "tls", "option tls: expected a table, got string"},
		{`{"servers": {}}`, "servers", "option servers: expected a list, got object"},
		{`{"retries": 1.5}`, "retries", "option retries: expected a whole number, got 1.5"},
		{`{"retries": -1}`, "retries", "option retries: expected a number >= 0, got -1"},
		{`{"retries": 256}`, "retries", "option retries: number 256 is out of range"},
		{`{"tls": {"port": "25"}}`, "tls.port", "option tls.port: expected a number, got string"},
		{`{"tls": {"ca_flie": "x"}}`, "tls.ca_flie", "option tls.ca_flie: unknown option"},
		{`{"tls": {"timeout": "10"}}`, "tls.timeout", `option tls.timeout: invalid duration "10" (want a number with a unit, e.g. "30s")`},
		{`{"optional": {"timeout": "-1s"}}`, "optional.timeout", `option optional.timeout: invalid duration "-1s": negative`},
		{`{"servers": [{}, {"port": "x"}]}`, "servers[1].port", "option servers[1].port: expected a number, got string"},
		{`{"servers": [{"bogus": 1}]}`, "servers[0].bogus", "option servers[0].bogus: unknown option"},
		{`{"by_name": {"mx1": {"bogus": 1}}}`, "by_name.mx1.bogus", "option by_name.mx1.bogus: unknown option"},
		{`{"timeout": "soon"}`, "timeout", `option timeout: invalid duration "soon" (want a number with a unit, e.g. "30s")`},
		{`{"timeout": "-5s"}`, "timeout", `option timeout: invalid duration "-5s": negative`},
		{`{"timeout": -5}`, "timeout", "option timeout: invalid duration -5: negative"},
		{`{"timeout": 1e300}`, "timeout", "option timeout: invalid duration 1e300: too long"},
		{`{"timeout": true}`, "timeout", `option timeout: invalid duration true (want a string like "30s")`},
		// The first bad option in document order is the one reported.
		{`{"address": "a", "zzz": 1, "aaa": 2}`, "zzz", "option zzz: unknown option"},
		{`{"tls": {"port": 1}, "ratio": "x", "adress": 1}`, "ratio", "option ratio: expected a number, got string"},
		{`{} {}`, "", "trailing data after the options object"},
		{`{"address": "a"} x`, "", "trailing data after the options object"},
		{`{"address": `, "", "invalid options: unexpected EOF"},
		{`[]`, "", "expected a table, got array"},
	} {
		var o options
		err := sdk.DecodeConfig([]byte(tc.in), &o)
		var cerr *sdk.ConfigError
		if !errors.As(err, &cerr) {
			t.Errorf("%s: error %v (%T), want a *sdk.ConfigError", tc.in, err, err)
			continue
		}
		if cerr.Key != tc.key || cerr.Error() != tc.msg {
			t.Errorf("%s:\n got key %q, %q\nwant key %q, %q", tc.in, cerr.Key, cerr.Error(), tc.key, tc.msg)
		}
	}
}

func TestDecodeConfigValues(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want options
	}{
		{``, options{Address: "default"}},
		{" \n\t", options{Address: "default"}},
		{`{}`, options{Address: "default"}},
		{`{"address": "mx:25", "ratio": 0.5, "enabled": true, "retries": 3}`,
			options{Address: "mx:25", Ratio: 0.5, Enabled: true, Embedded: Embedded{Retries: 3}}},
		{`{"timeout": 1.5}`, options{Address: "default", Timeout: sdk.Duration(1500 * time.Millisecond)}},
		{`{"timeout": 30}`, options{Address: "default", Timeout: sdk.Duration(30 * time.Second)}},
		{`{"timeout": "1m30s"}`, options{Address: "default", Timeout: sdk.Duration(90 * time.Second)}},
		{`{"TLS": {"Port": 465, "timeout": "0s"}}`, options{Address: "default", TLS: tlsOptions{Port: 465}}},
	} {
		o := options{Address: "default"} // defaults set before decoding survive
		if err := sdk.DecodeConfig([]byte(tc.in), &o); err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if o.Address != tc.want.Address || o.Ratio != tc.want.Ratio || o.Enabled != tc.want.Enabled ||
			o.Retries != tc.want.Retries || o.Timeout != tc.want.Timeout || o.TLS != tc.want.TLS {
			t.Errorf("%q: got %+v, want %+v", tc.in, o, tc.want)
		}
	}
}

// A check's own *ConfigError from a nested UnmarshalJSON keeps its key,
// under the option's path.
type port int

func (p *port) UnmarshalJSON(b []byte) error {
	return sdk.OptionError("number", "ports are numbers, got %s", b)
}

func TestDecodeConfigNestedOptionError(t *testing.T) {
	var o struct {
		Listen struct {
			Port port `json:"port"`
		} `json:"listen"`
	}
	err := sdk.DecodeConfig([]byte(`{"listen": {"port": "smtp"}}`), &o)
	want := `option listen.port.number: ports are numbers, got "smtp"`
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestConfigError(t *testing.T) {
	inner := errors.New("must be positive")
	err := error(&sdk.ConfigError{Key: "interval", Err: inner})
	if err.Error() != "option interval: must be positive" || !errors.Is(err, inner) {
		t.Errorf("got %q, Is(inner) = %v", err, errors.Is(err, inner))
	}
	if got := (&sdk.ConfigError{Err: inner}).Error(); got != "must be positive" {
		t.Errorf("without a key: %q", got)
	}
	err = sdk.OptionError("tls.ca_file", "cannot read %s", "/x")
	var cerr *sdk.ConfigError
	if !errors.As(err, &cerr) || cerr.Key != "tls.ca_file" || err.Error() != "option tls.ca_file: cannot read /x" {
		t.Errorf("OptionError: %#v %q", err, err)
	}
}

func TestDuration(t *testing.T) {
	d := sdk.Duration(90 * time.Second)
	b, err := d.MarshalJSON()
	if err != nil || string(b) != `"1m30s"` {
		t.Errorf("MarshalJSON = %s, %v", b, err)
	}
	var back sdk.Duration
	if err := back.UnmarshalJSON(b); err != nil || back != d || back.D() != 90*time.Second {
		t.Errorf("round trip = %v, %v", back, err)
	}
}
