package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mailmon/mailmon/scripts/testenv"
	"github.com/mailmon/mailmon/sdk"
	"github.com/mailmon/mailmon/sdk/checktest"
)

// dnsStack returns scripts/dnsstack's variables (DNSSTACK_RBLDNSD, ...)
// after checking that rbldnsd and unbound answer.
func dnsStack(t testing.TB) map[string]string {
	t.Helper()
	testenv.Integration(t)
	out, err := exec.Command(filepath.Join(testenv.RepoRoot(), "scripts", "dnsstack"), "env").Output()
	if err != nil {
		t.Fatalf("scripts/dnsstack env: %v (start it with `scripts/dnsstack up`; `make test` does)", err)
	}
	env := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "="); ok {
			env[k] = v
		}
	}
	for _, k := range []string{"DNSSTACK_RBLDNSD", "DNSSTACK_UNBOUND"} {
		addr := env[k]
		if addr == "" {
			t.Fatalf("scripts/dnsstack env printed no %s:\n%s", k, out)
		}
		m := new(dns.Msg)
		m.SetQuestion("2.0.0.127.bl.mailmon.test.", dns.TypeA)
		c := &dns.Client{Timeout: 2 * time.Second}
		if _, _, err := c.Exchange(m, addr); err != nil {
			t.Fatalf("%s (%s) does not answer (%v): run `scripts/dnsstack up` (`make test` does)", k, addr, err)
		}
	}
	return env
}

// silentUDP returns the address of a loopback UDP socket that reads
// queries and never answers, and a function that counts them.
func silentUDP(t testing.TB) (string, func() int) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	count := make(chan int, 1)
	count <- 0
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
			count <- <-count + 1
		}
	}()
	t.Cleanup(func() { pc.Close() })
	return pc.LocalAddr().String(), func() int { n := <-count; count <- n; return n }
}

// run configures a DNSBL with opts and runs it once with timeout.
func run(t testing.TB, opts map[string]any, timeout time.Duration) *sdk.Result {
	t.Helper()
	raw, err := json.Marshal(opts)
	if err != nil {
		t.Fatal(err)
	}
	c := &DNSBL{}
	checktest.Configure(t, c, string(raw))
	res := checktest.Run(t, c, timeout)
	checkMetrics(t, res)
	t.Logf("%s %s: %s", res.Status, res.Reason, res.Message)
	return res
}

// wantResult is checktest.Want.
var wantResult = checktest.Want

// listing returns the mailmon_dnsbl_listing metric for target and zone.
func listing(t testing.TB, res *sdk.Result, target, zone string) sdk.Metric {
	t.Helper()
	var found []sdk.Metric
	for _, m := range res.Metrics {
		if m.Name == measurementListing && m.Tags["target"] == target && m.Tags["zone"] == zone {
			found = append(found, m)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d listing metrics for %s on %s, want 1", len(found), target, zone)
	}
	return found[0]
}

// targetMetric returns the mailmon_dnsbl_target metric for target.
func targetMetric(t testing.TB, res *sdk.Result, target string) sdk.Metric {
	t.Helper()
	for _, m := range res.Metrics {
		if m.Name == measurementTarget && m.Tags["target"] == target {
			return m
		}
	}
	t.Fatalf("no target metric for %s", target)
	return sdk.Metric{}
}

// wantFields fails unless m has every field in want, with the same type.
func wantFields(t testing.TB, m sdk.Metric, want map[string]any) {
	t.Helper()
	for k, v := range want {
		got, ok := m.Fields[k]
		if !ok {
			t.Errorf("%s %v: field %s missing, want %v", m.Name, m.Tags, k, v)
		} else if got != v {
			t.Errorf("%s %v: field %s = %v (%T), want %v (%T)", m.Name, m.Tags, k, got, got, v, v)
		}
	}
}

// wantTags fails unless m has every tag in want.
func wantTags(t testing.TB, m sdk.Metric, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if m.Tags[k] != v {
			t.Errorf("%s %v: tag %s = %q, want %q", m.Name, m.Tags, k, m.Tags[k], v)
		}
	}
}

// fieldTypes are the documented fields and types per measurement (README
// "Metrics").
var fieldTypes = map[string]map[string]string{
	measurement: {
		"targets": "int64", "zones": "int64", "zones_healthy": "int64", "zones_unhealthy": "int64",
		"zones_failed": "int64", "lookups": "int64", "listed_count": "int64", "listed_critical": "int64",
		"listed_warning": "int64", "listed_info": "int64", "lookup_errors": "int64", "resolve_errors": "int64",
		"queries": "int64", "cache_hits": "int64", "tcp_retries": "int64", "public_resolver": "bool",
	},
	measurementTarget: {
		"listed": "bool", "listed_count": "int64", "listed_critical": "int64", "listed_warning": "int64",
		"listed_info": "int64", "zones_checked": "int64", "lookup_errors": "int64", "resolve_error": "string",
	},
	measurementListing: {
		"listed": "bool", "zone_healthy": "bool", "return_code": "string", "answers": "int64",
		"query_seconds": "float64", "txt": "string",
	},
}

var tagNames = map[string][]string{
	measurement:        {},
	measurementTarget:  {"target", "kind", "hostname"},
	measurementListing: {"target", "kind", "hostname", "zone", "zone_severity", "reason"},
}

// checkMetrics fails on an undocumented metric, tag or field, a field of
// the wrong type, or a field the agent adds.
func checkMetrics(t testing.TB, res *sdk.Result) {
	t.Helper()
	if len(res.Metrics) == 0 || res.Metrics[0].Name != measurement {
		t.Fatalf("the first metric is not %s", measurement)
	}
	for i, m := range res.Metrics {
		if i > 0 && m.Name == measurement {
			t.Errorf("second %s metric", measurement)
		}
		types, ok := fieldTypes[m.Name]
		if !ok {
			t.Errorf("undocumented measurement %s", m.Name)
			continue
		}
		for k, v := range m.Fields {
			want, ok := types[k]
			if !ok {
				t.Errorf("%s: undocumented field %s", m.Name, k)
			} else if got := typeName(v); got != want {
				t.Errorf("%s: field %s is %s, want %s", m.Name, k, got, want)
			}
		}
		for k := range m.Tags {
			if !contains(tagNames[m.Name], k) {
				t.Errorf("%s: undocumented tag %s", m.Name, k)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func typeName(v any) string {
	switch v.(type) {
	case float64:
		return "float64"
	case int64:
		return "int64"
	case string:
		return "string"
	case bool:
		return "bool"
	}
	return "other"
}
