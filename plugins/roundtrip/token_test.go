package main

import (
	"strings"
	"testing"
	"time"
)

func TestToken(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 123456789, time.UTC)
	tok := newToken("rtabc", now)
	got, ok := parseToken(" " + tok.String() + " ")
	if !ok || got != tok || !got.sent.Equal(now.Truncate(time.Millisecond)) {
		t.Errorf("parseToken(%q) = %+v, %v", tok, got, ok)
	}
	for _, bad := range []string{"", "rtabc", "rtabc.1.2", "rtabc.1795.0123456789abcdeg", "rt abc.1795.0123456789abcdef", "rtabc.1795.0123456789abcdef.x", "rtabc.1795.0123456789ABCDEF"} {
		if _, ok := parseToken(bad); ok {
			t.Errorf("parseToken(%q) accepted it", bad)
		}
	}
}

func TestClassify(t *testing.T) {
	now := time.Now()
	cur := newToken("me", now)
	day := 24 * time.Hour
	for _, tc := range []struct {
		value, kind string
		ours        bool
	}{
		{cur.String(), "current", true},
		{newToken("me", now.Add(-time.Minute)).String(), "late", true},
		{newToken("me", now.Add(-25*time.Hour)).String(), "swept", true},
		{newToken("other", now).String(), "", false},
		{newToken("mex", now).String(), "", false},
		{"me." + strings.TrimPrefix(cur.String(), "me.") + " extra", "", false},
		{"hello me.", "", false},
	} {
		kind, ours := classify(tc.value, cur, now, day)
		if kind != tc.kind || ours != tc.ours {
			t.Errorf("classify(%q) = %q, %v; want %q, %v", tc.value, kind, ours, tc.kind, tc.ours)
		}
	}
}

func TestParseHops(t *testing.T) {
	sent := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	received := []string{ // newest first, as in a message
		"from relay.mail.test (unknown [127.0.0.1])\r\n\tby mx.mail.test (Postfix) with ESMTP id 1\r\n\tfor <a@mail.test>; Mon, 23 Nov 2026 12:00:03 +0000 (UTC)",
		"no date here",
		"from x by relay.mail.test (Postfix) with ESMTP id 2; Mon, 23 Nov 2026 12:00:01 +0000",
	}
	hops := parseHops(received, sent)
	if len(hops) != 2 {
		t.Fatalf("hops = %+v", hops)
	}
	if hops[0].by != "relay.mail.test" || hops[0].delay != time.Second || hops[1].by != "mx.mail.test" || hops[1].delay != 2*time.Second {
		t.Errorf("hops = %+v", hops)
	}
}

func TestDotStuff(t *testing.T) {
	got := string(dotStuff([]byte("a\r\n.b\r\n..c\r\nend")))
	if want := "a\r\n..b\r\n...c\r\nend\r\n.\r\n"; got != want {
		t.Errorf("dotStuff = %q, want %q", got, want)
	}
}

func TestMessage(t *testing.T) {
	s, err := parseConfig([]byte(`{` + base + `}`))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tok := newToken(s.instance, now)
	msg := string(buildMessage(s, tok, now))
	for _, want := range []string{"\r\nX-Mailmon-Probe: " + tok.String() + "\r\n", "\r\nSubject: mailmon roundtrip " + tok.String() + "\r\n", "From: <a@example.com>\r\n"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
}
