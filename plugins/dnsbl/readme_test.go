package main

import (
	"os"
	"strings"
	"testing"
)

// TestReadme keeps the README in step with the code: every catalog zone,
// return code and reason, every metric field and every result reason is
// documented.
func TestReadme(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, z := range catalog() {
		if !strings.Contains(readme, "| `"+z.Name+"` |") {
			t.Errorf("catalog zone %s is not in the README's catalog table", z.Name)
		}
		for _, c := range z.codeList() {
			if !strings.Contains(readme, z.Codes[c].Reason) {
				t.Errorf("zone %s: reason %s is not in the README", z.Name, z.Codes[c].Reason)
			}
		}
		for _, e := range z.Errors {
			if !strings.Contains(readme, e.Reason) {
				t.Errorf("zone %s: error %s is not in the README", z.Name, e.Reason)
			}
		}
	}
	for _, e := range errorCodes {
		if !strings.Contains(readme, "`"+e.Reason+"`") {
			t.Errorf("error reason %s is not in the README", e.Reason)
		}
	}
	for name, fields := range fieldTypes {
		if !strings.Contains(readme, "`"+name+"`") {
			t.Errorf("measurement %s is not in the README", name)
		}
		for f := range fields {
			if !strings.Contains(readme, "`"+f+"`") {
				t.Errorf("field %s of %s is not in the README", f, name)
			}
		}
	}
	for _, r := range []string{reasonOK, reasonListed, reasonListedInfo, reasonLookupFailed, reasonResolveFailed, reasonPublicResolver,
		"timeout", "servfail", "refused", "rcode_error", "network_error", "bad_response", "error_bad_answer", "error_code", "zone_unhealthy", "not_listed"} {
		if !strings.Contains(readme, "`"+r+"`") {
			t.Errorf("reason %s is not in the README", r)
		}
	}
	for _, opt := range []string{"addresses", "hosts", "resolve_mx", "domains", "zones", "zone_severity", "custom_zone", "spamhaus_dqs_key",
		"resolver", "resolv_conf", "query_timeout", "retries", "concurrency", "self_test", "name", "type", "severity", "codes", "bitmask", "server", "ipv6"} {
		if !strings.Contains(readme, "| `"+opt+"` |") {
			t.Errorf("option %s is not in the README's option tables", opt)
		}
		if !strings.Contains(sampleConfig, opt) {
			t.Errorf("option %s is not in sample.toml", opt)
		}
	}
}
