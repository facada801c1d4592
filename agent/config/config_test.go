package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const issueConfig = `
[agent]
hostname = "mx1.example.test"          # default: the OS hostname
interval = "60s"
plugin_dirs = ["./bin", "/usr/lib/mailmon/plugins"]

[[checks.smtp-banner]]
name = "mx-starttls"
address = "127.0.0.1:2525"
tls = "starttls"                       # none | starttls | implicit
interval = "30s"
timeout = "10s"

[[outputs.influx]]
mode = "stdout"                        # stdout | udp | tcp | unix | http
`

func write(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadIssueConfig(t *testing.T) {
	p := write(t, "mailmon.toml", issueConfig)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Agent.Hostname != "mx1.example.test" || c.Agent.Interval != time.Minute {
		t.Errorf("agent = %+v", c.Agent)
	}
	if !reflect.DeepEqual(c.Agent.PluginDirs, []string{"./bin", "/usr/lib/mailmon/plugins"}) {
		t.Errorf("plugin_dirs = %v", c.Agent.PluginDirs)
	}
	want := Check{
		Type: "smtp-banner", Key: "checks.smtp-banner[0]", Name: "mx-starttls", Enabled: true, Alerts: true, Policy: DefaultPolicy(),
		Interval: 30 * time.Second, Timeout: 10 * time.Second,
		Options: map[string]any{"address": "127.0.0.1:2525", "tls": "starttls"},
	}
	if len(c.Checks) != 1 || !reflect.DeepEqual(c.Checks[0], want) {
		t.Errorf("checks = %+v, want %+v", c.Checks, want)
	}
	if len(c.Outputs) != 1 || c.Outputs[0].Type != "influx" || c.Outputs[0].Options["mode"] != "stdout" ||
		c.Outputs[0].MetricBufferLimit != 10000 || c.Outputs[0].MetricBatchSize != 1000 || c.Outputs[0].FlushInterval != 10*time.Second {
		t.Errorf("outputs = %+v", c.Outputs)
	}
}

func TestLoadYAMLMatchesTOML(t *testing.T) {
	y := write(t, "mailmon.yaml", `
agent:
  hostname: mx1.example.test
  interval: 60s
  plugin_dirs: ["./bin", "/usr/lib/mailmon/plugins"]
checks:
  smtp-banner:
    - name: mx-starttls
      address: "127.0.0.1:2525"
      tls: starttls
      interval: 30s
      timeout: 10s
outputs:
  influx:
    - mode: stdout
`)
	fromYAML, err := Load(y)
	if err != nil {
		t.Fatal(err)
	}
	fromTOML, err := Load(write(t, "mailmon.toml", issueConfig))
	if err != nil {
		t.Fatal(err)
	}
	fromYAML.File, fromTOML.File = "", ""
	if !reflect.DeepEqual(fromYAML, fromTOML) {
		t.Errorf("yaml = %+v\ntoml = %+v", fromYAML, fromTOML)
	}
}

func TestDefaults(t *testing.T) {
	c, err := Load(write(t, "m.toml", "[[checks.smtp-banner]]\naddress = \"a:25\"\n[[checks.smtp-banner]]\naddress = \"b:25\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	if c.Agent.Hostname != host || c.Agent.Interval != time.Minute || c.Agent.Timeout != 10*time.Second ||
		c.Agent.MaxConcurrency != 8 || c.Agent.StatsInterval != time.Minute || c.Agent.Jitter != 5*time.Second {
		t.Errorf("agent defaults = %+v", c.Agent)
	}
	if c.Checks[0].Name != "smtp-banner" || c.Checks[1].Name != "smtp-banner-1" {
		t.Errorf("default names = %q, %q", c.Checks[0].Name, c.Checks[1].Name)
	}
	// A short interval pulls the default timeout down with it.
	c, err = Load(write(t, "m.toml", "[[checks.x]]\ninterval = \"2s\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Checks[0].Timeout != 2*time.Second {
		t.Errorf("timeout = %v, want 2s", c.Checks[0].Timeout)
	}
}

func TestEnvOverridesAndSecrets(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "pw")
	if err := os.WriteFile(secret, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MAILMON_AGENT__INTERVAL", "15s")
	t.Setenv("MAILMON_AGENT__PLUGIN_DIRS", "/a, /b")
	t.Setenv("MAILMON_TELEGRAF", "/not/config") // no __: not an override
	t.Setenv("SMTP_USER", "probe@mail.test")
	p := write(t, "m.toml", `
[[checks.smtp-banner]]
address = "127.0.0.1:2587"
username = "${SMTP_USER}"
password = "${file:`+secret+`}"
url = "https://${SMTP_USER}@x/${file:`+secret+`}"
`)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Agent.Interval != 15*time.Second || !reflect.DeepEqual(c.Agent.PluginDirs, []string{"/a", "/b"}) {
		t.Errorf("env overrides: %+v", c.Agent)
	}
	o := c.Checks[0].Options
	if o["username"] != "probe@mail.test" || o["password"] != "s3cret" || o["url"] != "https://probe@mail.test@x/s3cret" {
		t.Errorf("secrets: %v", o)
	}
}

func TestBadConfigs(t *testing.T) {
	dir := t.TempDir()
	unreadable := filepath.Join(dir, "missing-secret")
	cases := []struct {
		name, body, env, want string
	}{
		{"unknown agent key", "[agent]\nintervl = \"30s\"\n", "", "F: agent.intervl: unknown key"},
		{"unknown section", "[agnet]\n", "", "F: agnet: unknown section (want agent, alerting, checks or outputs)"},
		{"bad duration", "[[checks.smtp-banner]]\ninterval = \"30 s\"\n", "", `F: checks.smtp-banner[0].interval: invalid duration "30 s" (want a number with a unit, e.g. "30s")`},
		{"duration not a string", "[agent]\ninterval = 30\n", "", `F: agent.interval: expected a duration string like "30s", got number 30`},
		{"zero interval", "[agent]\ninterval = \"0s\"\n", "", `F: agent.interval: duration "0s" must be positive`},
		{"timeout over interval", "[[checks.x]]\ninterval = \"10s\"\ntimeout = \"20s\"\n", "", "F: checks.x[0].timeout: 20s is longer than the interval 10s (runs of one check never overlap)"},
		{"unreadable secret file", "[[checks.x]]\npassword = \"${file:" + unreadable + "}\"\n", "", "F: checks.x[0].password: secret file: open " + unreadable + ": no such file or directory"},
		{"unset env secret", "[[checks.x]]\npassword = \"${NO_SUCH_VAR_MAILMON}\"\n", "", "F: checks.x[0].password: environment variable NO_SUCH_VAR_MAILMON (referenced as ${NO_SUCH_VAR_MAILMON}) is not set"},
		{"duplicate name", "[[checks.x]]\nname = \"a\"\n[[checks.x]]\nname = \"a\"\n", "", `F: checks.x[1].name: "a" is already used by checks.x[0]`},
		{"bad check name", "[[checks.Smtp]]\n", "", "F: checks.Smtp: invalid check name (lowercase letters, digits and dashes)"},
		{"check not a list", "[checks]\nx = 1\n", "", "F: checks.x: expected a list of tables ([[checks.x]]), got number 1"},
		{"reserved tag", "[[checks.x]]\ntags = { host = \"h\" }\n", "", "F: checks.x[0].tags.host: reserved tag (set by the agent)"},
		{"bad log level", "[agent]\nlog_level = \"loud\"\n", "", `F: agent.log_level: "loud" is not one of debug, info, warn, error`},
		{"bad sha pin", "[agent]\nplugin_sha256 = { smtp-banner = \"abc\" }\n", "", `F: agent.plugin_sha256.smtp-banner: "abc" is not 64 hex digits`},
		{"batch over buffer", "[[outputs.influx]]\nmetric_buffer_limit = 10\nmetric_batch_size = 20\n", "", "F: outputs.influx[0].metric_batch_size: 20 is larger than metric_buffer_limit 10"},
		{"negative buffer", "[[outputs.influx]]\nmetric_buffer_limit = -1\n", "", "F: outputs.influx[0].metric_buffer_limit: must be greater than 0, got -1"},
		{"bad env override", "", "MAILMON_AGENT__INTERVAL=soon", `F: agent.interval (from $MAILMON_AGENT__INTERVAL): invalid duration "soon" (want a number with a unit, e.g. "30s")`},
		{"unknown env key", "", "MAILMON_AGENT__NOPE=1", "F: agent.nope (from $MAILMON_AGENT__NOPE): unknown key"},
		{"alert_after zero", "[[checks.x]]\nalert_after = 0\n", "", "F: checks.x[0].alert_after: must be greater than 0, got 0"},
		{"flap low over high", "[alerting]\nflap_low = 0.6\n", "", "F: alerting.flap_low: 0.6 is above flap_high 0.5"},
		{"flap fraction", "[alerting]\nflap_high = 2\n", "", "F: alerting.flap_high: 2 is not between 0 (excluded) and 1"},
		{"unknown alerting key", "[alerting]\nalert_aftr = 1\n", "", "F: alerting.alert_aftr: unknown key"},
		{"bad status route", "[[outputs.slack]]\nstatuses = [\"critcal\"]\n", "", `F: outputs.slack[0].statuses: "critcal" is not WARNING, CRITICAL or UNKNOWN`},
		{"window half period", "[[alerting.maintenance]]\nstart = 2026-12-01T22:00:00Z\n", "", "F: alerting.maintenance[0]: start and end go together"},
		{"window end before start", "[[alerting.maintenance]]\nstart = 2026-12-01T22:00:00Z\nend = 2026-12-01T21:00:00Z\n", "", "F: alerting.maintenance[0].end: is not after start"},
		{"window bad day", "[[alerting.maintenance]]\ndays = [\"sunday\"]\nfrom = \"02:00\"\nto = \"04:00\"\n", "", `F: alerting.maintenance[0].days: "sunday" is not a day (sun, mon, tue, wed, thu, fri, sat)`},
		{"window bad clock", "[[alerting.maintenance]]\nfrom = \"2am\"\nto = \"04:00\"\n", "", `F: alerting.maintenance[0].from: invalid time of day "2am" (want HH:MM)`},
		{"window bad zone", "[[alerting.maintenance]]\nfrom = \"02:00\"\nto = \"04:00\"\ntimezone = \"Mars/Olympus\"\n", "", `F: alerting.maintenance[0].timezone: unknown time zone "Mars/Olympus"`},
		{"toml syntax", "[agent\n", "", "F: parse: toml: "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				k, v, _ := strings.Cut(tc.env, "=")
				t.Setenv(k, v)
			}
			p := write(t, "m.toml", tc.body)
			_, err := Load(p)
			if err == nil {
				t.Fatalf("Load accepted it, want %q", tc.want)
			}
			want := p + tc.want[1:]
			got := err.Error()
			if tc.name == "toml syntax" {
				if len(got) < len(want) || got[:len(want)] != want {
					t.Fatalf("error = %q, want prefix %q", got, want)
				}
				return
			}
			if got != want {
				t.Fatalf("error =\n  %q\nwant\n  %q", got, want)
			}
		})
	}
}

func TestMissingFile(t *testing.T) {
	_, err := Load("/nonexistent/mailmon.toml")
	if err == nil || err.Error() != "/nonexistent/mailmon.toml: cannot read config: no such file or directory" {
		t.Fatalf("err = %v", err)
	}
}

func TestAlertingConfig(t *testing.T) {
	c, err := Load(write(t, "m.toml", `
[alerting]
state_dir = "/tmp/x"
alert_after = 3
renotify_interval = "4h"
maintenance_file = "/etc/mailmon/maintenance"
[[alerting.maintenance]]
name = "upgrade"
checks = ["mx-*"]
start = 2026-12-01T22:00:00Z
end = "2026-12-02T02:00:00Z"
[[alerting.maintenance]]
days = ["sat"]
from = "22:00"
to = "02:00"
timezone = "Europe/Berlin"
[[checks.smtp-banner]]
name = "mx-1"
recover_after = 2
alerts = false
[[outputs.pagerduty]]
statuses = ["critical"]
checks = ["mx-*"]
queue_limit = 50
`))
	if err != nil {
		t.Fatal(err)
	}
	p := c.Alerting.Policy
	if c.Alerting.StateDir != "/tmp/x" || p.AlertAfter != 3 || p.Renotify != 4*time.Hour || p.RecoverAfter != 1 {
		t.Errorf("alerting = %+v", c.Alerting)
	}
	ch := c.Checks[0]
	if ch.Policy.AlertAfter != 3 || ch.Policy.RecoverAfter != 2 || ch.Alerts || len(ch.Options) != 0 {
		t.Errorf("check policy = %+v alerts=%v options=%v", ch.Policy, ch.Alerts, ch.Options)
	}
	o := c.Outputs[0]
	if !reflect.DeepEqual(o.Statuses, []string{"CRITICAL"}) || !reflect.DeepEqual(o.Checks, []string{"mx-*"}) || o.QueueLimit != 50 || len(o.AlertKeys) != 3 {
		t.Errorf("output routing = %+v", o)
	}
	match := func(ps []string, n string) bool { return ps[0] == "mx-*" && strings.HasPrefix(n, "mx-") }
	up := c.Alerting.Maintenance[0]
	if !up.Active(time.Date(2026, 12, 1, 23, 0, 0, 0, time.UTC), "mx-1", match) ||
		up.Active(time.Date(2026, 12, 2, 2, 0, 0, 0, time.UTC), "mx-1", match) ||
		up.Active(time.Date(2026, 12, 1, 23, 0, 0, 0, time.UTC), "other", match) {
		t.Error("fixed window boundaries wrong")
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	weekly := c.Alerting.Maintenance[1]
	for _, tc := range []struct {
		t    time.Time
		want bool
	}{
		{time.Date(2026, 11, 28, 21, 59, 0, 0, berlin), false}, // Saturday before
		{time.Date(2026, 11, 28, 22, 0, 0, 0, berlin), true},
		{time.Date(2026, 11, 29, 1, 59, 0, 0, berlin), true}, // Sunday small hours
		{time.Date(2026, 11, 29, 2, 0, 0, 0, berlin), false},
		{time.Date(2026, 11, 29, 23, 0, 0, 0, berlin), false}, // Sunday night is not Saturday
	} {
		if got := weekly.Active(tc.t, "any", match); got != tc.want {
			t.Errorf("weekly window at %s: %v, want %v", tc.t, got, tc.want)
		}
	}
}
