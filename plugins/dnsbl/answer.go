package main

import (
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/miekg/dns"
)

// Limits on what one answer may make the check keep.
const (
	maxCodes     = 16  // distinct return codes kept per answer
	maxCNAMEs    = 8   // CNAME hops followed inside one answer
	maxTXTLength = 256 // characters of TXT reason kept
)

// answer is what a DNS response says about one query name.
type answer struct {
	// Rcode is the response code (dns.RcodeSuccess, dns.RcodeNameError, ...).
	Rcode int
	// Addrs are the distinct A records for the query name (following
	// CNAMEs inside the answer), in answer order, at most maxCodes.
	Addrs []netip.Addr
	// Count is the number of A records for the query name, duplicates and
	// ones past maxCodes included.
	Count int
	// TTL is the smallest TTL of the records used, or of the SOA in a
	// negative answer (RFC 2308); 0 when there is none.
	TTL uint32
	// Bad is set when the response does not answer the question asked.
	Bad string
}

// parseAnswer reads the A records for qname (a fully qualified name) out of
// msg. It trusts nothing in msg: records for other names, other classes or
// other types are ignored, CNAME loops end, sizes are capped.
func parseAnswer(msg *dns.Msg, qname string) answer {
	a := answer{Rcode: msg.Rcode}
	if !msg.Response {
		a.Bad = "not a response"
		return a
	}
	if len(msg.Question) != 1 || !strings.EqualFold(msg.Question[0].Name, qname) || msg.Question[0].Qclass != dns.ClassINET {
		a.Bad = "response for another question"
		return a
	}
	if msg.Rcode != dns.RcodeSuccess {
		a.TTL = negativeTTL(msg)
		return a
	}
	names := chain(msg, qname)
	seen := map[netip.Addr]bool{}
	ttl := uint32(0)
	first := true
	for _, rr := range msg.Answer {
		rec, ok := rr.(*dns.A)
		if !ok || rec.Hdr.Class != dns.ClassINET || !names[strings.ToLower(rec.Hdr.Name)] {
			continue
		}
		ip, ok := netip.AddrFromSlice(rec.A)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		if !ip.Is4() {
			continue
		}
		a.Count++
		if first || rec.Hdr.Ttl < ttl {
			ttl, first = rec.Hdr.Ttl, false
		}
		if !seen[ip] && len(a.Addrs) < maxCodes {
			seen[ip] = true
			a.Addrs = append(a.Addrs, ip)
		}
	}
	if a.Count == 0 {
		ttl = negativeTTL(msg)
	}
	a.TTL = ttl
	return a
}

// chain returns qname and the names it is a CNAME for inside msg's answer
// section, lower-cased.
func chain(msg *dns.Msg, qname string) map[string]bool {
	cur := strings.ToLower(qname)
	names := map[string]bool{cur: true}
	for range maxCNAMEs {
		next := ""
		for _, rr := range msg.Answer {
			if c, ok := rr.(*dns.CNAME); ok && c.Hdr.Class == dns.ClassINET && strings.ToLower(c.Hdr.Name) == cur {
				next = strings.ToLower(c.Target)
				break
			}
		}
		if next == "" || names[next] {
			break
		}
		names[next] = true
		cur = next
	}
	return names
}

// negativeTTL is the TTL for caching a negative answer: the smaller of the
// SOA record's TTL and its MINIMUM field (RFC 2308), 0 without an SOA.
func negativeTTL(msg *dns.Msg) uint32 {
	for _, rr := range msg.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			return min(soa.Hdr.Ttl, soa.Minttl)
		}
	}
	return 0
}

// verdict is what an answer means on one zone.
type verdict struct {
	Listed bool
	// Codes are the return codes, sorted (listings and errors alike).
	Codes []netip.Addr
	// Reasons are the listing reasons of Codes, sorted, distinct.
	Reasons []string
	// Meanings are the codes' human meanings, in Codes order.
	Meanings []string
	// Err is an error reason enum when the answer is not usable; ErrDetail
	// says why in words.
	Err, ErrDetail string
}

// judge maps an answer to a verdict for zone z. Any error code in an answer
// makes the whole answer an error: a listing is only reported when every
// A record is a listing code.
func judge(z *zoneDef, a answer) verdict {
	var v verdict
	switch {
	case a.Bad != "":
		v.Err, v.ErrDetail = "bad_response", a.Bad
		return v
	case a.Rcode == dns.RcodeNameError:
		return v
	case a.Rcode == dns.RcodeServerFailure:
		v.Err, v.ErrDetail = "servfail", "the resolver answered SERVFAIL"
		return v
	case a.Rcode == dns.RcodeRefused:
		v.Err, v.ErrDetail = "refused", "the resolver answered REFUSED"
		return v
	case a.Rcode != dns.RcodeSuccess:
		v.Err, v.ErrDetail = "rcode_error", "the resolver answered "+rcodeName(a.Rcode)
		return v
	}
	v.Codes = append([]netip.Addr(nil), a.Addrs...)
	sort.Slice(v.Codes, func(i, j int) bool { return v.Codes[i].Less(v.Codes[j]) })
	reasons := map[string]bool{}
	for _, c := range v.Codes {
		rs, meaning, isErr := classify(z, c)
		v.Meanings = append(v.Meanings, meaning)
		if isErr {
			if v.Err == "" {
				v.Err, v.ErrDetail = rs[0], c.String()+": "+meaning
			}
			continue
		}
		for _, r := range rs {
			reasons[r] = true
		}
	}
	if v.Err != "" {
		return v
	}
	for r := range reasons {
		v.Reasons = append(v.Reasons, r)
	}
	sort.Strings(v.Reasons)
	v.Listed = len(v.Codes) > 0
	return v
}

// classify says what one return code means on zone z: its reasons (one
// for an error), a meaning in words, and whether it is an error.
func classify(z *zoneDef, c netip.Addr) (reasons []string, meaning string, isErr bool) {
	if e, ok := z.Errors[c]; ok {
		return []string{e.Reason}, e.Meaning, true
	}
	if k, ok := z.Codes[c]; ok && !z.Bitmask {
		return []string{k.Reason}, k.Meaning, false
	}
	switch {
	case !loopback8.Contains(c):
		return []string{"error_bad_answer"}, "an answer outside 127.0.0.0/8 is not a listing (wildcard or hijacked zone)", true
	case errorRange.Contains(c):
		if e, ok := errorCodes[c]; ok {
			return []string{e.Reason}, e.Meaning, true
		}
		return []string{"error_code"}, "an answer in 127.255.255.0/24 is an error code, not a listing", true
	case c == localhostIP:
		return []string{"error_bad_answer"}, "127.0.0.1 is not a valid listing (RFC 5782)", true
	case z.Bitmask:
		return bits(z, c)
	}
	return []string{"listed"}, "listed with return code " + c.String(), false
}

// bits decodes a bitmask answer (URIBL, SURBL style): each code of the
// zone is one bit of the last octet; 127.0.0.6 is 127.0.0.2 and 127.0.0.4.
// Bits the zone does not define make the reason "listed" too.
func bits(z *zoneDef, c netip.Addr) ([]string, string, bool) {
	o := c.As4()
	var reasons, meanings []string
	var known byte
	for _, k := range z.codeList() {
		b := k.As4()[3]
		if o[3]&b != 0 && b&(b-1) == 0 {
			known |= b
			reasons = append(reasons, z.Codes[k].Reason)
			meanings = append(meanings, z.Codes[k].Meaning)
		}
	}
	if o[1] != 0 || o[2] != 0 || o[3]&^known != 0 || len(reasons) == 0 {
		reasons = append(reasons, "listed")
		meanings = append(meanings, "listed with return code "+c.String())
	}
	return reasons, strings.Join(meanings, "; "), false
}

func rcodeName(rc int) string {
	if s, ok := dns.RcodeToString[rc]; ok {
		return s
	}
	return "rcode " + strconv.Itoa(rc)
}

// parseTXT returns the TXT reasons for qname in msg, joined with " | ",
// made printable and cut to maxTXTLength characters.
func parseTXT(msg *dns.Msg, qname string) string {
	if !msg.Response || msg.Rcode != dns.RcodeSuccess || len(msg.Question) != 1 || !strings.EqualFold(msg.Question[0].Name, qname) {
		return ""
	}
	names := chain(msg, qname)
	var parts []string
	seen := map[string]bool{}
	for _, rr := range msg.Answer {
		t, ok := rr.(*dns.TXT)
		if !ok || t.Hdr.Class != dns.ClassINET || !names[strings.ToLower(t.Hdr.Name)] {
			continue
		}
		s := cleanText(strings.Join(t.Txt, ""))
		if s != "" && !seen[s] {
			seen[s] = true
			parts = append(parts, s)
		}
		if len(parts) >= maxCodes {
			break
		}
	}
	return truncate(strings.Join(parts, " | "), maxTXTLength)
}

// cleanText makes s valid, printable UTF-8 on one line. miekg/dns escapes
// non-printable bytes in TXT strings as \DDD; those escapes are kept as
// text, which is printable.
func cleanText(s string) string {
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(s, "?") {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			b.WriteByte(' ')
		case !unicode.IsPrint(r):
			b.WriteByte('?')
		default:
			b.WriteRune(r)
		}
	}
	return strings.TrimSpace(b.String())
}

// truncate cuts s to at most n characters, marking the cut with "…".
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
