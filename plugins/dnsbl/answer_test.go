package main

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/miekg/dns"

	"github.com/mailmon/mailmon/sdk"
)

const fuzzQName = "2.0.0.127.zen.spamhaus.org."

// reply builds a response to an A (or TXT) query for qname with rrs in the
// answer section.
func reply(qname string, qtype uint16, rcode int, rrs ...string) *dns.Msg {
	q := new(dns.Msg)
	q.SetQuestion(qname, qtype)
	m := new(dns.Msg)
	m.SetRcode(q, rcode)
	for _, s := range rrs {
		rr, err := dns.NewRR(s)
		if err != nil {
			panic(err)
		}
		if _, ok := rr.(*dns.SOA); ok {
			m.Ns = append(m.Ns, rr)
		} else {
			m.Answer = append(m.Answer, rr)
		}
	}
	return m
}

func zen() *zoneDef {
	z := catalogByName()["zen.spamhaus.org"]
	return &z
}

func TestJudge(t *testing.T) {
	q := fuzzQName
	soa := "zen.spamhaus.org. 150 IN SOA need.to.know.only. hostmaster.spamhaus.org. 1 3600 600 432000 10"
	for _, tc := range []struct {
		name    string
		msg     *dns.Msg
		listed  bool
		reasons string // joined with +
		codes   string
		err     string
		ttl     uint32
	}{
		{"not listed", reply(q, dns.TypeA, dns.RcodeNameError, soa), false, "", "", "", 10},
		{"no data", reply(q, dns.TypeA, dns.RcodeSuccess, soa), false, "", "", "", 10},
		{"one code", reply(q, dns.TypeA, dns.RcodeSuccess, q+" 60 IN A 127.0.0.2"), true, "sbl", "127.0.0.2", "", 60},
		{"every A record", reply(q, dns.TypeA, dns.RcodeSuccess, q+" 60 IN A 127.0.0.10", q+" 30 IN A 127.0.0.4", q+" 60 IN A 127.0.0.2", q+" 60 IN A 127.0.0.2"),
			true, "pbl_isp+sbl+xbl", "127.0.0.2 127.0.0.4 127.0.0.10", "", 30},
		{"unknown code is a listing", reply(q, dns.TypeA, dns.RcodeSuccess, q+" 60 IN A 127.0.0.5"), true, "listed", "127.0.0.5", "", 60},
		{"typo", reply(q, dns.TypeA, dns.RcodeSuccess, q+" 60 IN A 127.255.255.252"), false, "", "127.255.255.252", "error_typo", 60},
		{"public resolver", reply(q, dns.TypeA, dns.RcodeSuccess, q+" 60 IN A 127.255.255.254"), false, "", "127.255.255.254", "error_public_resolver", 60},
		{"rate limited", reply(q, dns.TypeA, dns.RcodeSuccess, q+" 60 IN A 127.255.255.255"), false, "", "127.255.255.255", "error_rate_limited", 60},
		{"other error code", reply(q, dns.TypeA, dns.RcodeSuccess, q+" 60 IN A 127.255.255.1"), false, "", "127.255.255.1", "error_code", 60},
		{"error among listings", reply(q, dns.TypeA, dns.RcodeSuccess, q+" 60 IN A 127.0.0.2", q+" 60 IN A 127.255.255.254"), false, "", "127.0.0.2 127.255.255.254", "error_public_resolver", 60},
		{"outside 127/8", reply(q, dns.TypeA, dns.RcodeSuccess, q+" 60 IN A 192.0.2.1"), false, "", "192.0.2.1", "error_bad_answer", 60},
		{"127.0.0.1", reply(q, dns.TypeA, dns.RcodeSuccess, q+" 60 IN A 127.0.0.1"), false, "", "127.0.0.1", "error_bad_answer", 60},
		{"servfail", reply(q, dns.TypeA, dns.RcodeServerFailure), false, "", "", "servfail", 0},
		{"refused", reply(q, dns.TypeA, dns.RcodeRefused), false, "", "", "refused", 0},
		{"notimp", reply(q, dns.TypeA, dns.RcodeNotImplemented), false, "", "", "rcode_error", 0},
		{"other name ignored", reply(q, dns.TypeA, dns.RcodeSuccess, "3.0.0.127.zen.spamhaus.org. 60 IN A 127.0.0.2"), false, "", "", "", 0},
		{"cname to dqs", reply(q, dns.TypeA, dns.RcodeSuccess, q+" 3600 IN CNAME 2.0.0.127.key.zen.dq.spamhaus.net.", "2.0.0.127.KEY.zen.dq.spamhaus.net. 1 IN A 127.0.0.4"),
			true, "xbl", "127.0.0.4", "", 1},
		{"cname loop", reply(q, dns.TypeA, dns.RcodeSuccess, q+" 60 IN CNAME a.example.", "a.example. 60 IN CNAME "+q), false, "", "", "", 0},
		{"case-insensitive", reply(q, dns.TypeA, dns.RcodeSuccess, strings.ToUpper(q)+" 60 IN A 127.0.0.3"), true, "sbl_css", "127.0.0.3", "", 60},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := parseAnswer(tc.msg, q)
			v := judge(zen(), a)
			if v.Listed != tc.listed || strings.Join(v.Reasons, "+") != tc.reasons || v.Err != tc.err || codeString(v.Codes) != tc.codes {
				t.Errorf("got listed %v reasons %v codes %q err %q (%s), want %v %q %q %q",
					v.Listed, v.Reasons, codeString(v.Codes), v.Err, v.ErrDetail, tc.listed, tc.reasons, tc.codes, tc.err)
			}
			if a.TTL != tc.ttl {
				t.Errorf("ttl %d, want %d", a.TTL, tc.ttl)
			}
		})
	}

	// A response to another question, or not a response, is never used.
	m := reply("3.0.0.127.zen.spamhaus.org.", dns.TypeA, dns.RcodeSuccess, fuzzQName+" 60 IN A 127.0.0.2")
	if v := judge(zen(), parseAnswer(m, q)); v.Listed || v.Err != "bad_response" {
		t.Errorf("other question: %+v", v)
	}
	m = reply(q, dns.TypeA, dns.RcodeSuccess, q+" 60 IN A 127.0.0.2")
	m.Response = false
	if v := judge(zen(), parseAnswer(m, q)); v.Listed || v.Err != "bad_response" {
		t.Errorf("not a response: %+v", v)
	}
	// URIBL: a bitmask zone, with 127.0.0.1 for refused queries.
	uribl := catalogByName()["multi.uribl.com"]
	un := "example.com.multi.uribl.com."
	for _, tc := range []struct{ code, reasons, err string }{
		{"127.0.0.2", "uribl_black", ""},
		{"127.0.0.14", "uribl_black+uribl_grey+uribl_red", ""},
		{"127.0.0.6", "uribl_black+uribl_grey", ""},
		{"127.0.0.34", "listed+uribl_black", ""}, // bit 32 is not defined
		{"127.0.0.1", "", "error_refused"},
		{"127.255.255.254", "", "error_public_resolver"},
	} {
		v := judge(&uribl, parseAnswer(reply(un, dns.TypeA, dns.RcodeSuccess, un+" 60 IN A "+tc.code), un))
		if got := strings.Join(v.Reasons, "+"); got != tc.reasons || v.Err != tc.err || v.Listed != (tc.err == "") {
			t.Errorf("URIBL %s: reasons %q err %q listed %v, want %q %q", tc.code, got, v.Err, v.Listed, tc.reasons, tc.err)
		}
	}
	// DBL's own error code.
	dbl := catalogByName()["dbl.spamhaus.org"]
	m = reply("192.0.2.1.dbl.spamhaus.org.", dns.TypeA, dns.RcodeSuccess, "192.0.2.1.dbl.spamhaus.org. 60 IN A 127.0.1.255")
	if v := judge(&dbl, parseAnswer(m, "192.0.2.1.dbl.spamhaus.org.")); v.Listed || v.Err != "error_ip_query" {
		t.Errorf("DBL 127.0.1.255: %+v", v)
	}
}

func codeString(cs []netip.Addr) string {
	var s []string
	for _, c := range cs {
		s = append(s, c.String())
	}
	return strings.Join(s, " ")
}

func TestParseTXT(t *testing.T) {
	q := fuzzQName
	m := reply(q, dns.TypeTXT, dns.RcodeSuccess,
		q+` 60 IN TXT "Listed by SBL, see https://check.spamhaus.org/sbl/query/SBL1"`,
		q+` 60 IN TXT "part one " "part two"`,
		q+` 60 IN TXT "Listed by SBL, see https://check.spamhaus.org/sbl/query/SBL1"`,
		`other.example. 60 IN TXT "not ours"`,
		q+` 60 IN TXT "tab\009and\010newline and bell\007"`)
	got := parseTXT(m, q)
	want := `Listed by SBL, see https://check.spamhaus.org/sbl/query/SBL1 | part one part two | tab\009and\010newline and bell\007`
	if got != want {
		t.Errorf("parseTXT\n got: %q\nwant: %q", got, want)
	}
	long := reply(q, dns.TypeTXT, dns.RcodeSuccess, q+` 60 IN TXT "`+strings.Repeat("é", 250)+`" "`+strings.Repeat("x", 200)+`"`)
	if got := parseTXT(long, q); utf8.RuneCountInString(got) != maxTXTLength || !strings.HasSuffix(got, "…") {
		t.Errorf("long TXT: %d characters", utf8.RuneCountInString(got))
	}
}

// TestResultPublicResolver: a well-known public resolver is a WARNING on
// its own, and a note with listings. (Built from a probe, without any
// query: tests never talk to public DNS.)
func TestResultPublicResolver(t *testing.T) {
	for _, s := range []string{"8.8.8.8:53", "[2606:4700:4700::1111]:53", "9.9.9.9", "[::ffff:1.1.1.1]:53"} {
		if _, ok := publicResolver(s); !ok {
			t.Errorf("%s is not recognized as public", s)
		}
	}
	for _, s := range []string{"127.0.0.53:53", "192.0.2.53:53", "[fe80::1%eth0]:53"} {
		if name, ok := publicResolver(s); ok {
			t.Errorf("%s recognized as public (%s)", s, name)
		}
	}
	s, err := parseConfig([]byte(`{"addresses":["192.0.2.1"],"resolver":"8.8.8.8","zones":["bl.spamcop.net"]}`))
	if err != nil {
		t.Fatal(err)
	}
	p := &probe{s: s, r: newResolver(s.resolvers, s.timeout, 0, 1), health: map[*zoneRun]*zoneHealth{s.zones[0]: {tested: true, healthy: true}}}
	p.targets = s.addresses
	p.results = []lookup{{t: s.addresses[0], z: s.zones[0], queried: true, reason: "not_listed"}}
	res := p.result(s.resolvers)
	checkMetrics(t, res)
	wantResult(t, res, sdk.Warning, "public_resolver", "1 target(s) not listed on 1 zone(s)", "note: the resolver 8.8.8.8:53 (Google Public DNS) is a public resolver")
	if res.Metrics[0].Fields["public_resolver"] != true {
		t.Error("public_resolver field not set")
	}
	// A listing is still reported as such.
	p.results[0].v = verdict{Listed: true, Codes: []netip.Addr{addr("127.0.0.2")}, Reasons: []string{"spamcop"}}
	p.results[0].reason = "spamcop"
	res = p.result(s.resolvers)
	wantResult(t, res, sdk.Critical, "listed", "192.0.2.1 on bl.spamcop.net [critical] as spamcop", "note: the resolver 8.8.8.8:53")
}

// FuzzParseAnswer feeds malformed and hostile DNS messages to the answer
// handling. The seed corpus runs with every `go test`; `make fuzz` fuzzes
// for a short, bounded time.
func FuzzParseAnswer(f *testing.F) {
	q := fuzzQName
	seeds := []*dns.Msg{
		reply(q, dns.TypeA, dns.RcodeSuccess, q+" 60 IN A 127.0.0.2", q+" 60 IN A 127.0.0.4"),
		reply(q, dns.TypeA, dns.RcodeNameError, "zen.spamhaus.org. 150 IN SOA a. b. 1 2 3 4 5"),
		reply(q, dns.TypeA, dns.RcodeSuccess, q+" 60 IN A 127.255.255.254"),
		reply(q, dns.TypeA, dns.RcodeSuccess, q+" 60 IN CNAME x.example.", "x.example. 60 IN CNAME "+q, "x.example. 60 IN A 127.0.0.2"),
		reply(q, dns.TypeA, dns.RcodeServerFailure),
		reply(q, dns.TypeTXT, dns.RcodeSuccess, q+` 60 IN TXT "reason \255\000"`),
		reply(q, dns.TypeA, dns.RcodeSuccess, q+" 60 IN AAAA ::1", q+" 60 IN A 10.0.0.1"),
	}
	big := reply(q, dns.TypeA, dns.RcodeSuccess)
	for i := range 200 {
		big.Answer = append(big.Answer, &dns.A{Hdr: dns.RR_Header{Name: q, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(127, 0, byte(i>>8), byte(i))})
	}
	seeds = append(seeds, big)
	for _, m := range seeds {
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0xde, 0xad, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 0xc0, 0x0c}) // a pointer to itself
	uribl := catalogByName()["multi.uribl.com"]
	zones := []*zoneDef{zen(), &uribl} // plain codes and a bitmask zone
	f.Fuzz(func(t *testing.T, data []byte) {
		m := new(dns.Msg)
		if err := m.Unpack(data); err != nil {
			return // miekg/dns refuses it: the check reports bad_response
		}
		a := parseAnswer(m, q)
		if len(a.Addrs) > maxCodes || a.Count < len(a.Addrs) {
			t.Fatalf("%d codes kept of %d", len(a.Addrs), a.Count)
		}
		for _, z := range zones {
			v := judge(z, a)
			if v.Listed && v.Err != "" {
				t.Fatalf("%s: listed and failed at once: %+v", z.Name, v)
			}
			if v.Listed {
				if m.Rcode != dns.RcodeSuccess || a.Bad != "" {
					t.Fatalf("%s: listed with rcode %d / %q", z.Name, m.Rcode, a.Bad)
				}
				for _, c := range v.Codes {
					if !loopback8.Contains(c) || errorRange.Contains(c) || c == localhostIP {
						t.Fatalf("%s: listing code %s is an error code", z.Name, c)
					}
				}
				if len(v.Reasons) == 0 {
					t.Fatalf("%s: a listing without a reason", z.Name)
				}
			}
			for _, r := range append(append([]string{}, v.Reasons...), v.Err) {
				if r != "" && !reasonRE.MatchString(r) {
					t.Fatalf("%s: reason %q is not a tag-safe enum", z.Name, r)
				}
			}
		}
		txt := parseTXT(m, q)
		if !utf8.ValidString(txt) || utf8.RuneCountInString(txt) > maxTXTLength || strings.ContainsAny(txt, "\n\r\t\x00") {
			t.Fatalf("unsafe TXT %q", txt)
		}
		_ = msgTTL(m, q, dns.TypeA)
		_ = chain(m, q)
	})
}
