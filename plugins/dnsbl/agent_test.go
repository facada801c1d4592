package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailmon/mailmon/scripts/testenv"
)

// TestAgentLineProtocol runs the check through the real agent (`mailmon
// test`) from a TOML config with custom_zone tables, and parses its line
// protocol output strictly.
func TestAgentLineProtocol(t *testing.T) {
	env := dnsStack(t)
	mailmon := testenv.Build(t, "./agent/cmd/mailmon", "mailmon")
	plugin := testenv.Build(t, "./plugins/dnsbl", "mailmon-check-dnsbl")
	cfg := filepath.Join(t.TempDir(), "mailmon.toml")
	toml := fmt.Sprintf(`[agent]
hostname = "mx1.mail.test"
plugin_dirs = [%q]

[[checks.dnsbl]]
name = "blacklists"
timeout = "10s"
resolver = %q
zones = []
addresses = ["192.0.2.10", "2001:db8::25", "192.0.2.99"]
domains = ["phish.example"]

[[checks.dnsbl.custom_zone]]
name = "bl.mailmon.test"
severity = "critical"
codes = { "127.0.0.2" = "sbl", "127.0.0.4" = "xbl" }

[[checks.dnsbl.custom_zone]]
name = "dbl.mailmon.test"
type = "domain"
`, filepath.Dir(plugin), env["DNSSTACK_RBLDNSD"])
	if err := os.WriteFile(cfg, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(mailmon, "test", "--config", cfg)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("mailmon test: %v (want exit code 2, CRITICAL)\nstderr:\n%s", err, stderr.String())
	}
	pts := testenv.ParseLines(t, stdout.String())
	sum := testenv.Find(pts, measurement, map[string]string{"check": "blacklists", "host": "mx1.mail.test", "result": "listed"})
	if len(sum) != 1 {
		t.Fatalf("%d %s lines, want 1:\n%s", len(sum), measurement, stdout.String())
	}
	if sum[0].Fields["status_code"] != int64(2) || sum[0].Fields["listed_count"] != int64(3) || sum[0].Fields["targets"] != int64(4) {
		t.Errorf("summary fields %v", sum[0].Fields)
	}
	l := testenv.Find(pts, measurementListing, map[string]string{"target": "192.0.2.10", "zone": "bl.mailmon.test", "reason": "sbl+xbl"})
	if len(l) != 1 || l[0].Fields["return_code"] != "127.0.0.2 127.0.0.4" || l[0].Fields["listed"] != true ||
		!strings.Contains(fmt.Sprint(l[0].Fields["txt"]), "https://bl.mailmon.test/192.0.2.10") {
		t.Errorf("listing line for 192.0.2.10: %+v", l)
	}
	if n := len(testenv.Find(pts, measurementListing, nil)); n != 4 {
		t.Errorf("%d listing lines, want 4", n)
	}
	if n := len(testenv.Find(pts, measurementTarget, nil)); n != 4 {
		t.Errorf("%d target lines, want 4", n)
	}
	// The README's example parses too.
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, _ := strings.Cut(string(readme), "through `mailmon test`")
	_, block, _ = strings.Cut(block, "```\n")
	block, _, _ = strings.Cut(block, "```")
	if pts := testenv.ParseLines(t, block); len(pts) != 4 {
		t.Errorf("README example: %d lines, want 4", len(pts))
	}
}
