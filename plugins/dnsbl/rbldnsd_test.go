package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mailmon/mailmon/sdk"
)

// The zones of scripts/dnsstack, served by rbldnsd on loopback. Tests set
// zones = [] so that no catalog zone is ever queried.
func zone(name, typ, sev string) map[string]any {
	return map[string]any{"name": name, "type": typ, "severity": sev}
}

// TestRbldnsdListings looks addresses and domains up directly on rbldnsd:
// IPv4 and IPv6 listings, several A records in one answer, TXT reasons,
// error codes, a domain list.
func TestRbldnsdListings(t *testing.T) {
	env := dnsStack(t)
	res := run(t, map[string]any{
		"resolver": env["DNSSTACK_RBLDNSD"],
		"zones":    []string{},
		"custom_zone": []any{
			map[string]any{"name": "bl.mailmon.test", "severity": "critical",
				"codes": map[string]string{"127.0.0.2": "sbl", "127.0.0.3": "v6_listed", "127.0.0.4": "xbl", "127.0.0.10": "pbl"}},
			zone("weird.mailmon.test", "ip", "info"),
			zone("dbl.mailmon.test", "domain", "warning"),
		},
		"addresses": []string{"192.0.2.10", "2001:db8::25", "192.0.2.99", "192.0.2.11", "192.0.2.20", "192.0.2.21", "192.0.2.22", "192.0.2.23"},
		"domains":   []string{"phish.example", "www.spam.example", "clean.example", "abused.example"},
	}, 10*time.Second)
	wantResult(t, res, sdk.Critical, "listed", "192.0.2.10 on bl.mailmon.test [critical] as sbl+xbl",
		`"Listed in the SBL-like test list, see https://bl.mailmon.test/192.0.2.10`)

	// Two datasets list 192.0.2.10: both A records and both TXT reasons.
	m := listing(t, res, "192.0.2.10", "bl.mailmon.test")
	wantTags(t, m, map[string]string{"reason": "sbl+xbl", "zone_severity": "critical", "kind": "ipv4"})
	wantFields(t, m, map[string]any{"listed": true, "return_code": "127.0.0.2 127.0.0.4", "answers": int64(2), "zone_healthy": true})
	if txt, _ := m.Fields["txt"].(string); !strings.Contains(txt, "https://bl.mailmon.test/192.0.2.10") ||
		!strings.Contains(txt, "Exploited host (XBL-like test list): 192.0.2.10") {
		t.Errorf("txt = %q, want both reasons", txt)
	}
	if s, ok := m.Fields["query_seconds"].(float64); !ok || s <= 0 || s > 2 {
		t.Errorf("query_seconds = %v", m.Fields["query_seconds"])
	}
	// IPv6: 32 reversed nibbles.
	m = listing(t, res, "2001:db8::25", "bl.mailmon.test")
	wantTags(t, m, map[string]string{"reason": "v6_listed", "kind": "ipv6"})
	wantFields(t, m, map[string]any{"listed": true, "return_code": "127.0.0.3", "answers": int64(1), "txt": "IPv6 test listing for 2001:db8::25"})
	m = listing(t, res, "192.0.2.11", "bl.mailmon.test")
	wantTags(t, m, map[string]string{"reason": "pbl"})
	wantFields(t, m, map[string]any{"listed": true, "return_code": "127.0.0.10"})
	m = listing(t, res, "192.0.2.99", "bl.mailmon.test")
	wantTags(t, m, map[string]string{"reason": "not_listed"})
	wantFields(t, m, map[string]any{"listed": false, "return_code": "", "answers": int64(0)})
	if _, ok := m.Fields["txt"]; ok {
		t.Error("txt set for an address that is not listed")
	}

	// Answers that are errors, never listings.
	for addr, reason := range map[string]string{
		"192.0.2.20":   "error_bad_answer",   // 10.20.30.40
		"192.0.2.21":   "error_typo",         // 127.255.255.252
		"192.0.2.22":   "error_rate_limited", // 127.255.255.255
		"192.0.2.23":   "listed",             // 127.0.0.5: no meaning known, still a listing
		"192.0.2.10":   "not_listed",         // not in weird
		"192.0.2.99":   "not_listed",         // nothing
		"2001:db8::25": "not_listed",         // custom IP zones take IPv6
	} {
		m := listing(t, res, addr, "weird.mailmon.test")
		wantTags(t, m, map[string]string{"reason": reason, "zone_severity": "info"})
		wantFields(t, m, map[string]any{"listed": reason == "listed"})
	}
	wantFields(t, listing(t, res, "192.0.2.20", "weird.mailmon.test"), map[string]any{"return_code": "10.20.30.40"})

	// The domain list: unreversed names, wildcards, no IPs.
	m = listing(t, res, "phish.example", "dbl.mailmon.test")
	wantTags(t, m, map[string]string{"reason": "listed", "kind": "domain", "zone_severity": "warning"})
	wantFields(t, m, map[string]any{"listed": true, "return_code": "127.0.1.4", "txt": "phishing domain phish.example"})
	wantFields(t, listing(t, res, "www.spam.example", "dbl.mailmon.test"), map[string]any{"listed": true, "return_code": "127.0.1.2"})
	wantFields(t, listing(t, res, "clean.example", "dbl.mailmon.test"), map[string]any{"listed": false})
	wantFields(t, listing(t, res, "abused.example", "dbl.mailmon.test"), map[string]any{"listed": true, "return_code": "127.0.1.102"})
	for _, m := range res.Metrics {
		if m.Name == measurementListing && m.Tags["zone"] == "dbl.mailmon.test" && m.Tags["kind"] != "domain" {
			t.Errorf("an address was looked up on a domain list: %v", m.Tags)
		}
	}

	wantFields(t, targetMetric(t, res, "192.0.2.10"), map[string]any{"listed": true, "listed_count": int64(1), "listed_critical": int64(1), "zones_checked": int64(2)})
	wantFields(t, targetMetric(t, res, "192.0.2.21"), map[string]any{"listed": false, "lookup_errors": int64(1)})
	wantFields(t, res.Metrics[0], map[string]any{
		"targets": int64(12), "zones": int64(3), "zones_healthy": int64(3), "lookups": int64(8*2 + 4),
		"listed_count": int64(7), "listed_critical": int64(3), "listed_warning": int64(3), "listed_info": int64(1),
		"lookup_errors": int64(3), "public_resolver": false,
	})
}

// TestRbldnsdZoneListsEverything: a zone that lists 127.0.0.1 fails the
// self-test; its answers are not trusted and the run is UNKNOWN.
func TestRbldnsdZoneListsEverything(t *testing.T) {
	env := dnsStack(t)
	res := run(t, map[string]any{
		"resolver":    env["DNSSTACK_RBLDNSD"],
		"zones":       []string{},
		"custom_zone": []any{zone("all.mailmon.test", "ip", "critical"), zone("bl.mailmon.test", "ip", "critical")},
		"addresses":   []string{"192.0.2.99", "2001:db8::1"},
	}, 10*time.Second)
	wantResult(t, res, sdk.Unknown, "lookup_failed", "all.mailmon.test: 2 lookup(s) failed",
		"zone unhealthy, answers not trusted: self-test failed: 127.0.0.1 is listed")
	m := listing(t, res, "192.0.2.99", "all.mailmon.test")
	wantTags(t, m, map[string]string{"reason": "zone_unhealthy"})
	wantFields(t, m, map[string]any{"listed": false, "zone_healthy": false})
	wantFields(t, listing(t, res, "192.0.2.99", "bl.mailmon.test"), map[string]any{"listed": false, "zone_healthy": true})
	wantFields(t, res.Metrics[0], map[string]any{"zones_unhealthy": int64(1), "zones_healthy": int64(1), "listed_count": int64(0), "lookup_errors": int64(2)})

	// Without the self-test the same zone's answers are taken at face
	// value: this is what the self-test protects against.
	res = run(t, map[string]any{
		"resolver": env["DNSSTACK_RBLDNSD"], "zones": []string{}, "self_test": false,
		"custom_zone": []any{zone("all.mailmon.test", "ip", "critical")},
		"addresses":   []string{"192.0.2.99"},
	}, 10*time.Second)
	wantResult(t, res, sdk.Critical, "listed")
}

// TestRbldnsdPublicResolverCode: a zone answering 127.255.255.254 for
// everything is an error (UNKNOWN), never a listing.
func TestRbldnsdPublicResolverCode(t *testing.T) {
	env := dnsStack(t)
	res := run(t, map[string]any{
		"resolver":    env["DNSSTACK_RBLDNSD"],
		"zones":       []string{},
		"custom_zone": []any{zone("allpub.mailmon.test", "ip", "critical")},
		"addresses":   []string{"192.0.2.10", "2001:db8::25"},
	}, 10*time.Second)
	wantResult(t, res, sdk.Unknown, "lookup_failed", "self-test error_public_resolver: 127.255.255.254")
	for _, a := range []string{"192.0.2.10", "2001:db8::25"} {
		m := listing(t, res, a, "allpub.mailmon.test")
		wantTags(t, m, map[string]string{"reason": "error_public_resolver"})
		wantFields(t, m, map[string]any{"listed": false, "zone_healthy": false})
	}
	// Without the self-test the lookups themselves see the error code.
	res = run(t, map[string]any{
		"resolver": env["DNSSTACK_RBLDNSD"], "zones": []string{}, "self_test": false,
		"custom_zone": []any{zone("allpub.mailmon.test", "ip", "critical")},
		"addresses":   []string{"192.0.2.10"},
	}, 10*time.Second)
	wantResult(t, res, sdk.Unknown, "lookup_failed", "error_public_resolver: 127.255.255.254")
	wantFields(t, listing(t, res, "192.0.2.10", "allpub.mailmon.test"), map[string]any{"listed": false, "return_code": "127.255.255.254", "answers": int64(1)})
}

// TestZoneNeverAnswers: a zone whose server never answers is a timeout,
// UNKNOWN, within the query timeout; a listing elsewhere still wins.
func TestZoneNeverAnswers(t *testing.T) {
	env := dnsStack(t)
	silent, queries := silentUDP(t)
	dead := map[string]any{"name": "silent.mailmon.test", "server": silent, "severity": "critical"}
	start := time.Now()
	res := run(t, map[string]any{
		"resolver": env["DNSSTACK_RBLDNSD"], "zones": []string{},
		"custom_zone":   []any{dead},
		"addresses":     []string{"192.0.2.10", "192.0.2.11", "192.0.2.12"},
		"query_timeout": "300ms", "retries": 1,
	}, 10*time.Second)
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("run took %s with a 300ms query timeout and 1 retry", el)
	}
	wantResult(t, res, sdk.Unknown, "lookup_failed", "silent.mailmon.test: 3 lookup(s) failed (self-test timeout: no answer from "+silent)
	wantTags(t, listing(t, res, "192.0.2.10", "silent.mailmon.test"), map[string]string{"reason": "timeout"})
	wantFields(t, res.Metrics[0], map[string]any{"zones_failed": int64(1), "lookup_errors": int64(3)})
	// Self-test only: 2 queries, 2 attempts each; the lookups are skipped.
	if n := queries(); n != 4 {
		t.Errorf("silent server got %d queries, want 4", n)
	}

	// Without the self-test, the zone is given up after 3 timeouts.
	before := queries()
	res = run(t, map[string]any{
		"resolver": env["DNSSTACK_RBLDNSD"], "zones": []string{}, "self_test": false,
		"custom_zone":   []any{dead},
		"addresses":     []string{"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5", "192.0.2.6", "192.0.2.7", "192.0.2.8"},
		"query_timeout": "200ms", "retries": 0, "concurrency": 2,
	}, 10*time.Second)
	wantResult(t, res, sdk.Unknown, "lookup_failed", "silent.mailmon.test: 8 lookup(s) failed")
	if n := queries() - before; n > 4 {
		t.Errorf("silent server got %d queries for 8 lookups, want at most 4 (gave up after 3 timeouts)", n)
	}

	// A listing on a warning zone is WARNING even with a dead zone.
	res = run(t, map[string]any{
		"resolver": env["DNSSTACK_RBLDNSD"], "zones": []string{},
		"custom_zone":   []any{dead, zone("bl.mailmon.test", "ip", "warning")},
		"addresses":     []string{"192.0.2.10"},
		"query_timeout": "200ms",
	}, 10*time.Second)
	wantResult(t, res, sdk.Warning, "listed", "192.0.2.10 on bl.mailmon.test [warning]", "silent.mailmon.test: 1 lookup(s) failed")

	// The run's deadline bounds everything, whatever the query timeout.
	start = time.Now()
	res = run(t, map[string]any{
		"resolver": env["DNSSTACK_RBLDNSD"], "zones": []string{},
		"custom_zone":   []any{dead},
		"addresses":     []string{"192.0.2.10"},
		"query_timeout": "10s", "retries": 5,
	}, 800*time.Millisecond)
	if el := time.Since(start); el > 1200*time.Millisecond { // 800ms and scheduling slack
		t.Errorf("run took %s, past its 800ms deadline", el)
	}
	wantResult(t, res, sdk.Unknown, "lookup_failed")
}

// TestUnboundResolver goes through a real recursive resolver (unbound,
// stub zones to rbldnsd): host names with A, AAAA and MX, a listing, a
// dead zone, truncation and the retry over TCP.
func TestUnboundResolver(t *testing.T) {
	env := dnsStack(t)
	res := run(t, map[string]any{
		"resolver": env["DNSSTACK_UNBOUND"],
		"zones":    []string{},
		"custom_zone": []any{
			map[string]any{"name": "bl.mailmon.test", "severity": "critical", "codes": map[string]string{"127.0.0.2": "sbl", "127.0.0.4": "xbl"}},
			zone("dbl.mailmon.test", "domain", "warning"),
		},
		"hosts":      []string{"hosts.mailmon.test", "clean.hosts.mailmon.test", "nxdomain.hosts.mailmon.test"},
		"resolve_mx": true,
		"addresses":  []string{"192.0.2.99"}, // also clean.hosts' address: looked up once
		"domains":    []string{"phish.example"},
	}, 10*time.Second)
	wantResult(t, res, sdk.Critical, "listed", "192.0.2.10 (mx1.hosts.mailmon.test) on bl.mailmon.test [critical] as sbl+xbl")
	// mx1: 192.0.2.10 and 2001:db8::25; mx2: 192.0.2.11 and 192.0.2.99.
	for addr, host := range map[string]string{"192.0.2.10": "mx1.hosts.mailmon.test", "2001:db8::25": "mx1.hosts.mailmon.test", "192.0.2.11": "mx2.hosts.mailmon.test"} {
		wantTags(t, targetMetric(t, res, addr), map[string]string{"hostname": host})
	}
	wantFields(t, listing(t, res, "2001:db8::25", "bl.mailmon.test"), map[string]any{"listed": true, "return_code": "127.0.0.3"})
	if h := targetMetric(t, res, "192.0.2.99").Tags["hostname"]; h != "" {
		t.Errorf("192.0.2.99 is a literal address, got hostname %q", h)
	}
	wantFields(t, targetMetric(t, res, "nxdomain.hosts.mailmon.test"), map[string]any{"resolve_error": "resolve_failed"})
	// hosts.mailmon.test has MX records only: not an error.
	wantFields(t, res.Metrics[0], map[string]any{"targets": int64(5), "resolve_errors": int64(1), "zones_healthy": int64(2)})
	wantFields(t, listing(t, res, "phish.example", "dbl.mailmon.test"), map[string]any{"listed": true})

	// A zone whose only server never answers: unbound keeps trying, the
	// check times out: UNKNOWN, not OK and not listed.
	res = run(t, map[string]any{
		"resolver": env["DNSSTACK_UNBOUND"], "zones": []string{},
		"custom_zone":   []any{zone("dead.mailmon.test", "ip", "critical")},
		"addresses":     []string{"192.0.2.10"},
		"query_timeout": "300ms",
	}, 5*time.Second)
	wantResult(t, res, sdk.Unknown, "lookup_failed", "dead.mailmon.test")
	if r := listing(t, res, "192.0.2.10", "dead.mailmon.test").Tags["reason"]; r != "timeout" && r != "servfail" {
		t.Errorf("reason %q, want timeout or servfail", r)
	}

	// 40 long TXT records do not fit in 1232 bytes: unbound truncates the
	// UDP answer and the query is repeated over TCP.
	r := newResolver([]string{env["DNSSTACK_UNBOUND"]}, 2*time.Second, 0, 1)
	got := r.query(context.Background(), nil, "t", "big.hosts.mailmon.test.", dns.TypeTXT)
	if got.Err != "" {
		t.Fatalf("TXT big.hosts.mailmon.test: %s %s", got.Err, got.ErrDetail)
	}
	if n := len(got.Msg.Answer); n != 40 || got.Msg.Truncated {
		t.Errorf("got %d TXT records (truncated %v), want 40 over TCP", n, got.Msg.Truncated)
	}
	if r.tcpRetry.Load() != 1 || r.queries.Load() != 2 {
		t.Errorf("tcp retries %d, queries %d; want 1 and 2", r.tcpRetry.Load(), r.queries.Load())
	}
	// Cached for its TTL: the same question again sends nothing.
	again := r.query(context.Background(), nil, "t", "BIG.hosts.mailmon.test.", dns.TypeTXT)
	if !again.Cached || r.queries.Load() != 2 || r.cacheHits.Load() != 1 {
		t.Errorf("second query: cached %v, queries %d, hits %d", again.Cached, r.queries.Load(), r.cacheHits.Load())
	}
}

// TestRbldnsdBitmask decodes a URIBL-style bitmask domain list, through
// unbound.
func TestRbldnsdBitmask(t *testing.T) {
	env := dnsStack(t)
	res := run(t, map[string]any{
		"resolver": env["DNSSTACK_UNBOUND"],
		"zones":    []string{},
		"custom_zone": []any{map[string]any{"name": "bits.mailmon.test", "type": "domain", "bitmask": true, "severity": "critical",
			"codes": map[string]string{"127.0.0.2": "black", "127.0.0.4": "grey", "127.0.0.8": "red"}}},
		"domains": []string{"multi.example", "all.example", "odd.example", "clean.example"},
	}, 10*time.Second)
	wantResult(t, res, sdk.Critical, "listed", "all.example on bits.mailmon.test [critical] as black+grey+red")
	for domain, want := range map[string]string{
		"multi.example": "black+grey", "all.example": "black+grey+red", "odd.example": "black+listed", "clean.example": "not_listed",
	} {
		m := listing(t, res, domain, "bits.mailmon.test")
		wantTags(t, m, map[string]string{"reason": want})
		wantFields(t, m, map[string]any{"listed": want != "not_listed", "zone_healthy": true})
	}
	wantFields(t, listing(t, res, "all.example", "bits.mailmon.test"), map[string]any{"return_code": "127.0.0.14", "answers": int64(1)})
}
