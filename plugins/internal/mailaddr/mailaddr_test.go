package mailaddr

import "testing"

func TestSplit(t *testing.T) {
	for _, tc := range []struct{ in, host, port, err string }{
		{"mx.example.test:2525", "mx.example.test", "2525", ""},
		{"mx.example.test", "mx.example.test", "25", ""},
		{"[2001:db8::1]:587", "2001:db8::1", "587", ""},
		{"[2001:db8::1]", "2001:db8::1", "25", ""},
		{"2001:db8::1", "2001:db8::1", "25", ""},
		{":25", "", "", `invalid address ":25": missing host`},
		{"mx:0", "", "", `invalid address "mx:0": port must be a number from 1 to 65535`},
		{"mx:smtp", "", "", `invalid address "mx:smtp": port must be a number from 1 to 65535`},
		{"mx example:25", "", "", `invalid address "mx example:25": want host:port`},
		{"a:b:c", "", "", `invalid address "a:b:c": want host:port`},
	} {
		host, port, err := Split(tc.in, "25")
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("Split(%q) error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || host != tc.host || port != tc.port {
			t.Errorf("Split(%q) = %q %q %v, want %q %q", tc.in, host, port, err, tc.host, tc.port)
		}
	}
}

func TestValidHELO(t *testing.T) {
	for name, want := range map[string]bool{"mailmon.invalid": true, "[192.0.2.1]": true, "[2001:db8::1]": true, "a": true, "-bad": false, "bad-": false, "two words": false, "": false} {
		if got := ValidHELO(name); got != want {
			t.Errorf("ValidHELO(%q) = %v", name, got)
		}
	}
}
