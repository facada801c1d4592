// Package config loads and validates the mailmon agent's configuration: a
// TOML or YAML file, MAILMON_AGENT__<KEY> environment overrides, and
// ${VAR} / ${file:/path} secret references in string values. Every error
// names the file and the key.
package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/knadh/koanf/parsers/toml/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
)

// DefaultPath is where the agent looks when --config is not given.
const DefaultPath = "/etc/mailmon/mailmon.toml"

// EnvPrefix starts an environment override: MAILMON_AGENT__INTERVAL=30s
// sets agent.interval. The double underscore separates the section from
// the key because keys contain single underscores.
const EnvPrefix = "MAILMON_"

// Config is a loaded, validated configuration.
type Config struct {
	// File is the path the config was read from, for error messages.
	File     string
	Agent    Agent
	Alerting Alerting
	Checks   []Check
	Outputs  []Output
}

// Agent is the [agent] table.
type Agent struct {
	Hostname string
	// Interval and Timeout are the defaults for checks.
	Interval time.Duration
	Timeout  time.Duration
	// Jitter bounds the random delay before an instance's first run, so
	// checks do not all fire at once after a start.
	Jitter         time.Duration
	MaxConcurrency int
	PluginDirs     []string
	// PluginSHA256 pins plugin binaries by check name.
	PluginSHA256  map[string]string
	StatsInterval time.Duration
	LogLevel      string
	LogFormat     string
}

// Check is one [[checks.TYPE]] table: one instance of a check plugin.
type Check struct {
	// Type is the plugin name (smtp-banner); the binary is
	// mailmon-check-TYPE.
	Type string
	// Key locates the table in the file: checks.smtp-banner[0].
	Key      string
	Name     string
	Enabled  bool
	Interval time.Duration
	Timeout  time.Duration
	Tags     map[string]string
	// Alerts false keeps the check out of alerting.
	Alerts bool
	Policy Policy
	// Options are the plugin's own keys, passed to it as JSON.
	Options map[string]any
}

// Output is one [[outputs.TYPE]] table.
type Output struct {
	Type string
	Key  string
	// MetricBufferLimit, MetricBatchSize and FlushInterval are handled by
	// the agent for every metric output.
	MetricBufferLimit int
	MetricBatchSize   int
	FlushInterval     time.Duration
	// MetricKeys and AlertKeys name the common keys set in the table, so
	// the agent can refuse them on outputs of the other kind.
	MetricKeys []string
	AlertKeys  []string
	// Statuses and Checks route alerts: which statuses trigger through
	// this output, and which instances (names or globs; empty = all).
	Statuses []string
	Checks   []string
	// QueueLimit bounds the output's alert queue on disk.
	QueueLimit int
	// Options are the output's own keys.
	Options map[string]any
}

// Error is a config error: the file, the key, and what is wrong.
type Error struct {
	File string
	Key  string
	Err  error
}

func (e *Error) Error() string {
	if e.Key == "" {
		return e.File + ": " + e.Err.Error()
	}
	return e.File + ": " + e.Key + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Load reads, overrides, resolves and validates the config at path.
// Files ending in .yaml or .yml are YAML, everything else TOML.
func Load(path string) (*Config, error) {
	raw, err := readRaw(path, os.Environ)
	if err != nil {
		return nil, err
	}
	return FromMap(path, raw)
}

func readRaw(path string, environ func() []string) (map[string]any, error) {
	var parser koanf.Parser = toml.Parser()
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		parser = yaml.Parser()
	}
	k := koanf.New("\x00") // keys may hold dots (header names); no flattening
	if _, err := os.Stat(path); err != nil {
		return nil, &Error{File: path, Err: fmt.Errorf("cannot read config: %w", errors.Unwrap(err))}
	}
	if err := k.Load(file.Provider(path), parser); err != nil {
		return nil, &Error{File: path, Err: fmt.Errorf("parse: %w", err)}
	}
	raw := k.Raw()
	envs, err := envOverrides(environ)
	if err != nil {
		return nil, &Error{File: path, Err: err}
	}
	if len(envs) > 0 {
		agent, _ := raw["agent"].(map[string]any)
		if agent == nil {
			agent = map[string]any{}
			if _, exists := raw["agent"]; exists {
				return nil, &Error{File: path, Key: "agent", Err: errors.New("must be a table")}
			}
		}
		for k, v := range envs {
			agent[k] = v
		}
		raw["agent"] = agent
	}
	return raw, nil
}

// envOverrides reads MAILMON_AGENT__KEY=value; other MAILMON_ variables
// are not config and are ignored.
func envOverrides(environ func() []string) (map[string]any, error) {
	out := map[string]any{}
	_, err := env.Provider("", env.Opt{
		Prefix:      EnvPrefix,
		EnvironFunc: environ,
		TransformFunc: func(k, v string) (string, any) {
			section, key, ok := strings.Cut(strings.TrimPrefix(k, EnvPrefix), "__")
			if !ok {
				return "", nil
			}
			if section != "AGENT" {
				return "", nil
			}
			out[strings.ToLower(key)] = envValue{name: k, value: v}
			return "", nil
		},
	}).Read()
	return out, err
}

// envValue remembers which variable a value came from, for errors.
type envValue struct {
	name  string
	value string
}

// FromMap validates an already-parsed config; path is used in errors.
func FromMap(path string, raw map[string]any) (*Config, error) {
	c := &Config{File: path}
	d := &decoder{file: path}
	for _, top := range sortedKeys(raw) {
		switch top {
		case "agent", "checks", "outputs", "alerting":
		default:
			return nil, d.errorf(top, "unknown section (want agent, alerting, checks or outputs)")
		}
	}
	if err := resolveSecrets(path, "", raw); err != nil {
		return nil, err
	}
	var err error
	if c.Agent, err = d.agent(raw["agent"]); err != nil {
		return nil, err
	}
	if c.Alerting, err = d.alerting(raw["alerting"]); err != nil {
		return nil, err
	}
	if c.Checks, err = d.checks(raw["checks"], c.Agent, c.Alerting.Policy); err != nil {
		return nil, err
	}
	if c.Outputs, err = d.outputs(raw["outputs"]); err != nil {
		return nil, err
	}
	return c, nil
}

type decoder struct{ file string }

func (d *decoder) errorf(key, format string, args ...any) error {
	return &Error{File: d.file, Key: key, Err: fmt.Errorf(format, args...)}
}

func (d *decoder) agent(v any) (Agent, error) {
	a := Agent{
		Interval:       60 * time.Second,
		Timeout:        10 * time.Second,
		Jitter:         5 * time.Second,
		MaxConcurrency: 8,
		PluginDirs:     []string{"/usr/lib/mailmon/plugins"},
		LogLevel:       "info",
		LogFormat:      "text",
	}
	if v == nil {
		v = map[string]any{}
	}
	t, ok := v.(map[string]any)
	if !ok {
		return a, d.errorf("agent", "must be a table")
	}
	var statsSet, timeoutSet bool
	for _, k := range sortedKeys(t) {
		key := "agent." + k
		val := t[k]
		var err error
		switch k {
		case "hostname":
			a.Hostname, err = d.str(key, val)
		case "interval":
			a.Interval, err = d.duration(key, val, true)
		case "timeout":
			a.Timeout, err = d.duration(key, val, true)
			timeoutSet = true
		case "jitter":
			a.Jitter, err = d.duration(key, val, false)
		case "stats_interval":
			a.StatsInterval, err = d.duration(key, val, true)
			statsSet = true
		case "max_concurrency":
			a.MaxConcurrency, err = d.positiveInt(key, val)
		case "plugin_dirs":
			a.PluginDirs, err = d.strList(key, val)
		case "plugin_sha256":
			a.PluginSHA256, err = d.strMap(key, val)
		case "log_level":
			a.LogLevel, err = d.oneOf(key, val, "debug", "info", "warn", "error")
		case "log_format":
			a.LogFormat, err = d.oneOf(key, val, "text", "json")
		default:
			key, _ = fromEnv(key, val)
			err = d.errorf(key, "unknown key")
		}
		if err != nil {
			return a, err
		}
	}
	if a.Hostname == "" {
		h, err := os.Hostname()
		if err != nil {
			return a, d.errorf("agent.hostname", "not set and the OS hostname is unknown: %v", err)
		}
		a.Hostname = h
	}
	if !timeoutSet && a.Timeout > a.Interval {
		a.Timeout = a.Interval
	}
	if a.Timeout > a.Interval {
		return a, d.errorf("agent.timeout", "%s is longer than agent.interval %s", a.Timeout, a.Interval)
	}
	if !statsSet {
		a.StatsInterval = a.Interval
	}
	if len(a.PluginDirs) == 0 {
		return a, d.errorf("agent.plugin_dirs", "must name at least one folder")
	}
	for name, sum := range a.PluginSHA256 {
		if !sha256Re.MatchString(sum) {
			return a, d.errorf("agent.plugin_sha256."+name, "%q is not 64 hex digits", sum)
		}
	}
	return a, nil
}

var (
	sha256Re   = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)
	nameRe     = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	instanceRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:@-]*$`)
)

func (d *decoder) checks(v any, a Agent, p Policy) ([]Check, error) {
	if v == nil {
		return nil, nil
	}
	t, ok := v.(map[string]any)
	if !ok {
		return nil, d.errorf("checks", "must be a table of [[checks.NAME]] lists")
	}
	var out []Check
	for _, typ := range sortedKeys(t) {
		if !nameRe.MatchString(typ) {
			return nil, d.errorf("checks."+typ, "invalid check name (lowercase letters, digits and dashes)")
		}
		list, err := d.tableList("checks."+typ, t[typ])
		if err != nil {
			return nil, err
		}
		seen := map[string]string{}
		for i, tbl := range list {
			key := fmt.Sprintf("checks.%s[%d]", typ, i)
			c, err := d.check(typ, key, tbl, a, p)
			if err != nil {
				return nil, err
			}
			if prev, dup := seen[c.Name]; dup {
				return nil, d.errorf(key+".name", "%q is already used by %s", c.Name, prev)
			}
			seen[c.Name] = key
			out = append(out, c)
		}
	}
	return out, nil
}

func (d *decoder) check(typ, key string, t map[string]any, a Agent, p Policy) (Check, error) {
	c := Check{Type: typ, Key: key, Enabled: true, Alerts: true, Policy: p, Interval: a.Interval, Timeout: a.Timeout, Options: map[string]any{}}
	timeoutSet := false
	for _, k := range sortedKeys(t) {
		val := t[k]
		fk := key + "." + k
		var err error
		switch k {
		case "name":
			c.Name, err = d.str(fk, val)
			if err == nil && !instanceRe.MatchString(c.Name) {
				err = d.errorf(fk, "%q: use letters, digits and - _ . : @", c.Name)
			}
		case "enabled":
			b, ok := val.(bool)
			if !ok {
				err = d.errorf(fk, "expected true or false, got %s", describe(val))
			}
			c.Enabled = b
		case "interval":
			c.Interval, err = d.duration(fk, val, true)
		case "timeout":
			c.Timeout, err = d.duration(fk, val, true)
			timeoutSet = true
		case "tags":
			c.Tags, err = d.strMap(fk, val)
		case "alerts":
			b, ok := val.(bool)
			if !ok {
				err = d.errorf(fk, "expected true or false, got %s", describe(val))
			}
			c.Alerts = b
		default:
			var handled bool
			if handled, err = d.policyKey(&c.Policy, key, k, val); !handled {
				c.Options[k] = val
			}
		}
		if err != nil {
			return c, err
		}
	}
	if err := d.checkPolicy(key, c.Policy); err != nil {
		return c, err
	}
	if c.Name == "" {
		c.Name = typ
		if idx := strings.LastIndex(key, "["); idx >= 0 && !strings.HasSuffix(key, "[0]") {
			c.Name = typ + "-" + strings.Trim(key[idx:], "[]")
		}
	}
	if !timeoutSet && c.Timeout > c.Interval {
		c.Timeout = c.Interval
	}
	if c.Timeout > c.Interval {
		return c, d.errorf(key+".timeout", "%s is longer than the interval %s (runs of one check never overlap)", c.Timeout, c.Interval)
	}
	for tk := range c.Tags {
		switch tk {
		case "host", "check", "result":
			return c, d.errorf(key+".tags."+tk, "reserved tag (set by the agent)")
		}
	}
	return c, nil
}

func (d *decoder) outputs(v any) ([]Output, error) {
	if v == nil {
		return nil, nil
	}
	t, ok := v.(map[string]any)
	if !ok {
		return nil, d.errorf("outputs", "must be a table of [[outputs.NAME]] lists")
	}
	var out []Output
	for _, typ := range sortedKeys(t) {
		list, err := d.tableList("outputs."+typ, t[typ])
		if err != nil {
			return nil, err
		}
		for i, tbl := range list {
			key := fmt.Sprintf("outputs.%s[%d]", typ, i)
			o := Output{Type: typ, Key: key, MetricBufferLimit: 10000, MetricBatchSize: 1000, FlushInterval: 10 * time.Second,
				Statuses: []string{"WARNING", "CRITICAL", "UNKNOWN"}, QueueLimit: 1000, Options: map[string]any{}}
			for _, k := range sortedKeys(tbl) {
				fk := key + "." + k
				val := tbl[k]
				var err error
				switch k {
				case "metric_buffer_limit":
					o.MetricBufferLimit, err = d.positiveInt(fk, val)
					o.MetricKeys = append(o.MetricKeys, k)
				case "metric_batch_size":
					o.MetricBatchSize, err = d.positiveInt(fk, val)
					o.MetricKeys = append(o.MetricKeys, k)
				case "flush_interval":
					o.FlushInterval, err = d.duration(fk, val, true)
					o.MetricKeys = append(o.MetricKeys, k)
				case "statuses":
					o.Statuses, err = d.statuses(fk, val)
					o.AlertKeys = append(o.AlertKeys, k)
				case "checks":
					o.Checks, err = d.strList(fk, val)
					o.AlertKeys = append(o.AlertKeys, k)
				case "queue_limit":
					o.QueueLimit, err = d.positiveInt(fk, val)
					o.AlertKeys = append(o.AlertKeys, k)
				default:
					o.Options[k] = val
				}
				if err != nil {
					return nil, err
				}
			}
			if o.MetricBatchSize > o.MetricBufferLimit {
				return nil, d.errorf(key+".metric_batch_size", "%d is larger than metric_buffer_limit %d", o.MetricBatchSize, o.MetricBufferLimit)
			}
			out = append(out, o)
		}
	}
	return out, nil
}

// tableList accepts [[x.NAME]] (a list of tables) and, for YAML
// convenience, a single table.
func (d *decoder) tableList(key string, v any) ([]map[string]any, error) {
	switch x := v.(type) {
	case map[string]any:
		return []map[string]any{x}, nil
	case []any:
		out := make([]map[string]any, 0, len(x))
		for i, e := range x {
			m, ok := e.(map[string]any)
			if !ok {
				return nil, d.errorf(fmt.Sprintf("%s[%d]", key, i), "expected a table, got %s", describe(e))
			}
			out = append(out, m)
		}
		return out, nil
	case []map[string]any:
		return x, nil
	}
	return nil, d.errorf(key, "expected a list of tables ([[%s]]), got %s", key, describe(v))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// DefaultOutput returns an output table with the agent's defaults, for
// outputs the agent adds itself.
func DefaultOutput(typ string, options map[string]any) Output {
	return Output{Type: typ, Key: "outputs." + typ + " (default)", MetricBufferLimit: 10000, MetricBatchSize: 1000, FlushInterval: time.Second, Options: options}
}

// SampleAgent is the [agent] table of `mailmon sample-config`.
const SampleAgent = `## mailmon agent configuration. Durations are strings like "30s" or "5m".
## Secrets can be referenced as ${ENV_VAR} or ${file:/path/to/secret}; any
## [agent] key can be overridden with MAILMON_AGENT__<KEY> (e.g.
## MAILMON_AGENT__INTERVAL=30s).
[agent]
  ## Host tag on every metric; default: the OS hostname.
  # hostname = ""
  ## Default interval and timeout of every check.
  # interval = "60s"
  # timeout = "10s"
  ## Random delay, at most this long, before each check's first run.
  # jitter = "5s"
  ## Checks running at the same time, at most.
  # max_concurrency = 8
  ## Folders searched for mailmon-check-* plugin binaries, first match wins.
  # plugin_dirs = ["/usr/lib/mailmon/plugins"]
  ## Pin plugin binaries by sha256 (see "mailmon plugins").
  # plugin_sha256 = { smtp-banner = "<64 hex digits>" }
  ## How often the agent reports its own health (mailmon_agent); default: interval.
  # stats_interval = "60s"
  ## debug, info, warn or error; text or json. Logs go to stderr.
  # log_level = "info"
  # log_format = "text"
`
