package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailmon/mailmon/sdk"
)

func TestConfigErrors(t *testing.T) {
	cz := func(body string) string { return `{"addresses":["192.0.2.1"],"custom_zone":[` + body + `]}` }
	for _, tc := range []struct {
		name, raw, key, want string
	}{
		{"empty", ``, "addresses", "option addresses: nothing to check: set addresses, hosts or domains"},
		{"unknown option", `{"addresses":["192.0.2.1"],"zone":"x"}`, "zone", "option zone: unknown option"},
		{"addresses type", `{"addresses":"192.0.2.1"}`, "addresses", "option addresses: expected a list, got string"},
		{"bad address", `{"addresses":["192.0.2.1","192.0.2"]}`, "addresses[1]", `option addresses[1]: invalid IP address "192.0.2"`},
		{"address with zone", `{"addresses":["fe80::1%eth0"]}`, "addresses[0]", `option addresses[0]: invalid IP address "fe80::1%eth0"`},
		{"duplicate address", `{"addresses":["192.0.2.1","::ffff:192.0.2.1"]}`, "addresses[1]", "option addresses[1]: 192.0.2.1 is listed twice"},
		{"address in hosts", `{"hosts":["192.0.2.1"]}`, "hosts[0]", `option hosts[0]: "192.0.2.1" is an IP address: put it in addresses`},
		{"bad host", `{"hosts":["mx..example.com"]}`, "hosts[0]", `option hosts[0]: invalid host name "mx..example.com"`},
		{"duplicate host", `{"hosts":["MX.example.com","mx.example.com."]}`, "hosts[1]", "option hosts[1]: mx.example.com is listed twice"},
		{"resolve_mx alone", `{"addresses":["192.0.2.1"],"resolve_mx":true}`, "resolve_mx", "option resolve_mx: needs hosts"},
		{"domain is an address", `{"domains":["192.0.2.1"]}`, "domains[0]", `option domains[0]: "192.0.2.1" is an IP address: domain lists take domain names; put it in addresses`},
		{"domain without dot", `{"domains":["localhost"]}`, "domains[0]", `option domains[0]: invalid domain "localhost"`},
		{"domain too long", `{"domains":["` + strings.Repeat("a", 60) + "." + strings.Repeat("b", 60) + "." + strings.Repeat("c", 60) + "." + strings.Repeat("d", 60) + `.com"]}`, "domains[0]", "option domains[0]: " + strings.Repeat("a", 60) + "." + strings.Repeat("b", 60) + "." + strings.Repeat("c", 60) + "." + strings.Repeat("d", 60) + ".com is too long to look up on dbl.spamhaus.org"},
		{"bad domain", `{"domains":["exa mple.com"]}`, "domains[0]", `option domains[0]: invalid domain "exa mple.com"`},
		{"dqs key", `{"addresses":["192.0.2.1"],"spamhaus_dqs_key":"SECRET"}`, "spamhaus_dqs_key", "option spamhaus_dqs_key: must be the 26-character key (lower-case letters and digits) from the Spamhaus DQS portal"},
		{"unknown zone", `{"addresses":["192.0.2.1"],"zones":["zen.spamhaus.org","dnsbl.sorbs.net"]}`, "zones[1]", `option zones[1]: unknown zone "dnsbl.sorbs.net": not in the built-in catalog (define it with [[custom_zone]])`},
		{"duplicate zone", `{"addresses":["192.0.2.1"],"zones":["bl.spamcop.net","BL.spamcop.net."]}`, "zones[1]", "option zones[1]: bl.spamcop.net is listed twice"},
		{"no zones", `{"addresses":["192.0.2.1"],"zones":[]}`, "zones", "option zones: no zones to check: list catalog zones or add a [[custom_zone]]"},
		{"no ip zone", `{"addresses":["192.0.2.1"],"zones":["dbl.spamhaus.org"]}`, "addresses", `option addresses: no IP zone is checked: add one to zones or a custom_zone with type = "ip"`},
		{"no ip zone for hosts", `{"hosts":["mx.example.com"],"zones":["dbl.spamhaus.org"]}`, "hosts", `option hosts: no IP zone is checked: add one to zones or a custom_zone with type = "ip"`},
		{"no domain zone", `{"domains":["example.com"],"zones":["zen.spamhaus.org"]}`, "domains", `option domains: no domain zone is checked: add dbl.spamhaus.org to zones or a custom_zone with type = "domain"`},
		{"custom name missing", cz(`{"type":"ip"}`), "custom_zone[0].name", "option custom_zone[0].name: required"},
		{"custom name bad", cz(`{"name":"bl"}`), "custom_zone[0].name", `option custom_zone[0].name: invalid zone name "bl"`},
		{"custom name in catalog", cz(`{"name":"zen.spamhaus.org"}`), "custom_zone[0].name", "option custom_zone[0].name: zen.spamhaus.org is already checked (zones)"},
		{"custom name twice", cz(`{"name":"bl.example.net"},{"name":"bl.example.net"}`), "custom_zone[1].name", "option custom_zone[1].name: bl.example.net is already checked (zones)"},
		{"custom type", cz(`{"name":"bl.example.net","type":"url"}`), "custom_zone[0].type", `option custom_zone[0].type: must be "ip" or "domain" (got "url")`},
		{"custom severity", cz(`{"name":"bl.example.net","severity":"high"}`), "custom_zone[0].severity", `option custom_zone[0].severity: must be "critical", "warning" or "info" (got "high")`},
		{"custom code not ip", cz(`{"name":"bl.example.net","codes":{"two":"spam"}}`), "custom_zone[0].codes", `option custom_zone[0].codes: "two" is not an IPv4 address`},
		{"custom code outside 127", cz(`{"name":"bl.example.net","codes":{"10.0.0.2":"spam"}}`), "custom_zone[0].codes", "option custom_zone[0].codes: 10.0.0.2 is outside 127.0.0.0/8: such answers are errors, never listings"},
		{"custom code error range", cz(`{"name":"bl.example.net","codes":{"127.255.255.254":"spam"}}`), "custom_zone[0].codes", "option custom_zone[0].codes: 127.255.255.254 is in 127.255.255.0/24, the error range"},
		{"custom code localhost", cz(`{"name":"bl.example.net","codes":{"127.0.0.1":"spam"}}`), "custom_zone[0].codes", "option custom_zone[0].codes: 127.0.0.1 is not a valid listing code (RFC 5782)"},
		{"custom bitmask code", cz(`{"name":"bl.example.net","bitmask":true,"codes":{"127.0.0.2":"black","127.0.0.6":"both"}}`), "custom_zone[0].codes", "option custom_zone[0].codes: 127.0.0.6 is not one bit (127.0.0.2, .4, .8, ... .128) as a bitmask zone needs"},
		{"custom code reason", cz(`{"name":"bl.example.net","codes":{"127.0.0.2":"Spam Source"}}`), "custom_zone[0].codes", `option custom_zone[0].codes: reason "Spam Source" for 127.0.0.2 must be snake_case: a lower-case letter, then letters, digits or _ (at most 40)`},
		{"custom server", cz(`{"name":"bl.example.net","server":"127.0.0.1:99999"}`), "custom_zone[0].server", `option custom_zone[0].server: invalid address "127.0.0.1:99999": port must be a number from 1 to 65535`},
		{"custom ipv6 on domain", cz(`{"name":"dbl.example.net","type":"domain","ipv6":true}`), "custom_zone[0].ipv6", `option custom_zone[0].ipv6: needs type = "ip"`},
		{"custom unknown key", cz(`{"name":"bl.example.net","sever":"info"}`), "custom_zone[0].sever", "option custom_zone[0].sever: unknown option"},
		{"severity zone", `{"addresses":["192.0.2.1"],"zone_severity":{"bl.example.net":"info"}}`, "zone_severity.bl.example.net", `option zone_severity.bl.example.net: zone "bl.example.net" is not checked by this instance`},
		{"severity value", `{"addresses":["192.0.2.1"],"zone_severity":{"bl.spamcop.net":"major"}}`, "zone_severity.bl.spamcop.net", `option zone_severity.bl.spamcop.net: must be "critical", "warning" or "info" (got "major")`},
		{"resolver", `{"addresses":["192.0.2.1"],"resolver":"127.0.0.1:0"}`, "resolver", `option resolver: invalid address "127.0.0.1:0": port must be a number from 1 to 65535`},
		{"resolver and resolv_conf", `{"addresses":["192.0.2.1"],"resolver":"127.0.0.1","resolv_conf":"/etc/resolv.conf"}`, "resolv_conf", "option resolv_conf: not used when resolver is set"},
		{"resolv_conf missing", `{"addresses":["192.0.2.1"],"resolv_conf":"/nonexistent/resolv.conf"}`, "resolv_conf", "option resolv_conf: open /nonexistent/resolv.conf: no such file or directory"},
		{"query_timeout", `{"addresses":["192.0.2.1"],"query_timeout":"1m"}`, "query_timeout", "option query_timeout: must be from 10ms to 30s (got 1m0s)"},
		{"query_timeout syntax", `{"addresses":["192.0.2.1"],"query_timeout":"2"}`, "query_timeout", `option query_timeout: invalid duration "2" (want a number with a unit, e.g. "30s")`},
		{"retries", `{"addresses":["192.0.2.1"],"retries":9}`, "retries", "option retries: must be from 0 to 5 (got 9)"},
		{"concurrency", `{"addresses":["192.0.2.1"],"concurrency":0}`, "concurrency", "option concurrency: must be from 1 to 256 (got 0)"},
		{"concurrency type", `{"addresses":["192.0.2.1"],"concurrency":1.5}`, "concurrency", "option concurrency: expected a whole number, got 1.5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := (&DNSBL{}).Configure([]byte(tc.raw))
			if err == nil {
				t.Fatalf("Configure(%s) accepted it, want %q", tc.raw, tc.want)
			}
			if err.Error() != tc.want {
				t.Errorf("Configure(%s)\n got: %s\nwant: %s", tc.raw, err, tc.want)
			}
			var cerr *sdk.ConfigError
			if !errors.As(err, &cerr) || cerr.Key != tc.key {
				t.Errorf("error %#v is not a ConfigError for key %q", err, tc.key)
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Error("the error echoes the DQS key")
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	s, err := parseConfig([]byte(`{"addresses":["192.0.2.1","::FFFF:198.51.100.7","2001:DB8::1"],"hosts":["MX.Example.com."],"domains":["Example.COM"]}`))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, z := range s.zones {
		names = append(names, z.Name)
		if !z.selfTest || z.query != z.Name || z.servers != nil {
			t.Errorf("zone %s: selfTest %v query %q servers %v", z.Name, z.selfTest, z.query, z.servers)
		}
	}
	want := "zen.spamhaus.org dbl.spamhaus.org b.barracudacentral.org bl.spamcop.net dnsbl-1.uceprotect.net bl.mailspike.net psbl.surriel.com"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("default zones\n got: %s\nwant: %s", got, want)
	}
	if s.timeout != 2*time.Second || s.retries != 1 || s.concurrent != 16 || s.ResolvConf != "/etc/resolv.conf" || s.resolvers != nil {
		t.Errorf("defaults: timeout %s retries %d concurrency %d resolv_conf %q resolvers %v", s.timeout, s.retries, s.concurrent, s.ResolvConf, s.resolvers)
	}
	if got := s.addresses[1]; got.Name != "198.51.100.7" || got.Kind != "ipv4" {
		t.Errorf("mapped address: %+v", got)
	}
	if got := s.addresses[2]; got.Name != "2001:db8::1" || got.Kind != "ipv6" {
		t.Errorf("IPv6 address: %+v", got)
	}
	if s.hosts[0] != "mx.example.com" || s.domains[0].Name != "example.com" {
		t.Errorf("hosts %v domains %v", s.hosts, s.domains)
	}

	// DQS: Spamhaus zones go to <key>.<zone>.dq.spamhaus.net; the tag keeps
	// the public name, others are untouched.
	key := strings.Repeat("a1", 13)
	s, err = parseConfig([]byte(`{"addresses":["192.0.2.1"],"domains":["example.com"],"spamhaus_dqs_key":"` + key + `","resolver":"192.0.2.53","self_test":false,
		"zone_severity":{"bl.spamcop.net":"info"},
		"custom_zone":[{"name":"bl.example.net","server":"[2001:db8::53]","codes":{"127.0.0.3":"spam_source"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	queries := map[string]string{}
	for _, z := range s.zones {
		queries[z.Name] = z.query
		if z.selfTest {
			t.Errorf("zone %s: self_test = false not applied", z.Name)
		}
	}
	for name, want := range map[string]string{
		"zen.spamhaus.org": key + ".zen.dq.spamhaus.net", "dbl.spamhaus.org": key + ".dbl.dq.spamhaus.net",
		"bl.spamcop.net": "bl.spamcop.net", "bl.example.net": "bl.example.net",
	} {
		if queries[name] != want {
			t.Errorf("zone %s queried as %q, want %q", name, queries[name], want)
		}
	}
	if s.resolvers[0] != "192.0.2.53:53" {
		t.Errorf("resolver %v", s.resolvers)
	}
	for _, z := range s.zones {
		switch z.Name {
		case "bl.spamcop.net":
			if z.Severity != sevInfo {
				t.Errorf("zone_severity not applied: %s", z.Severity)
			}
		case "bl.example.net":
			if z.Severity != sevWarning || z.Kind != kindIP || !z.IPv6 || z.servers[0] != "[2001:db8::53]:53" || z.Codes[addr("127.0.0.3")].Reason != "spam_source" {
				t.Errorf("custom zone: %+v servers %v", z.zoneDef, z.servers)
			}
		}
	}
}

func TestResolvConf(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(path, []byte("# test\nnameserver 192.0.2.53\nnameserver 2001:db8::53\noptions ndots:1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := systemResolvers(path)
	if err != nil || strings.Join(got, " ") != "192.0.2.53:53 [2001:db8::53]:53" {
		t.Errorf("systemResolvers = %v, %v", got, err)
	}
	if err := os.WriteFile(path, []byte("search example.com\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := systemResolvers(path); err == nil {
		t.Error("a resolv.conf without nameservers was accepted")
	}
}

func TestReverse(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"192.0.2.10", "10.2.0.192"},
		{"127.0.0.2", "2.0.0.127"},
		{"2001:db8::25", "5.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2"},
		{"2001:db8:7ca6:22::45", "5.4.0.0.0.0.0.0.0.0.0.0.0.0.0.0.2.2.0.0.6.a.c.7.8.b.d.0.1.0.0.2"}, // Spamhaus's DQS example
		{"::ffff:7f00:2", "2.0.0.127"},
	} {
		a := addr(tc.in).Unmap()
		if got := reverse(a); got != tc.want {
			t.Errorf("reverse(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
	if got := queryName(target{Name: "example.com", Kind: "domain"}, "dbl.spamhaus.org"); got != "example.com.dbl.spamhaus.org." {
		t.Errorf("domain query name %s", got)
	}
}
