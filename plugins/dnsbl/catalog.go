package main

import (
	"net/netip"
	"sort"
)

// zoneKind is what a zone lists: IP addresses or domain names.
type zoneKind int

const (
	kindIP zoneKind = iota
	kindDomain
)

func (k zoneKind) String() string {
	if k == kindDomain {
		return "domain"
	}
	return "ip"
}

// severity is how bad a listing on a zone is.
type severity int

const (
	sevInfo severity = iota
	sevWarning
	sevCritical
)

func (s severity) String() string {
	switch s {
	case sevCritical:
		return "critical"
	case sevWarning:
		return "warning"
	}
	return "info"
}

func parseSeverity(v string) (severity, bool) {
	switch v {
	case "critical":
		return sevCritical, true
	case "warning":
		return sevWarning, true
	case "info":
		return sevInfo, true
	}
	return sevInfo, false
}

// code is what one return code of a zone means. Reason is a snake_case
// enum (the reason tag); Meaning is a sentence for humans.
type code struct {
	Reason  string
	Meaning string
}

// zoneDef is a blocklist zone: one from the built-in catalog or a user's.
type zoneDef struct {
	Name     string // the zone as users know it; the zone tag
	Kind     zoneKind
	Severity severity
	Operator string
	// Codes maps a listing's A record to its meaning. An answer in
	// 127.0.0.0/8 that is not here (nor an error) is still a listing,
	// with reason "listed".
	Codes map[netip.Addr]code
	// Errors are zone-specific answers that mean the query failed (the
	// 127.255.255.0/24 range and anything outside 127/8 always do).
	Errors map[netip.Addr]code
	// Bitmask zones answer one code whose last octet's bits are the
	// lists the entry is on; each of Codes is one bit.
	Bitmask bool
	// IPv6 is whether the zone lists IPv6 addresses; IPv6 targets are not
	// looked up on zones that do not.
	IPv6 bool
	// TestListed and TestUnlisted are the RFC 5782 self-test entries: an
	// address or a domain that must be listed, and one that must not.
	TestListed, TestUnlisted string
	// DQS is the Spamhaus Data Query Service zone name ("zen"): with a
	// key, <key>.<DQS>.dq.spamhaus.net is queried instead of Name.
	DQS string
	// Default zones are checked when the zones option is not set.
	Default bool
	// Source is where the return codes are documented.
	Source string
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// codes builds a code map from "127.0.0.2", "reason", "meaning" triples.
func codes(triples ...string) map[netip.Addr]code {
	m := make(map[netip.Addr]code, len(triples)/3)
	for i := 0; i+2 < len(triples); i += 3 {
		m[addr(triples[i])] = code{Reason: triples[i+1], Meaning: triples[i+2]}
	}
	return m
}

const (
	srcSpamhaus   = "https://docs.spamhaus.com/datasets/docs/source/10-data-type-documentation/datasets/040-zones.html"
	srcBarracuda  = "https://www.barracudacentral.org/rbl"
	srcSpamCop    = "https://www.spamcop.net/bl.shtml"
	srcUCEPROTECT = "https://www.uceprotect.net/en/"
	srcMailspike  = "https://mailspike.org/usage.html"
	srcPSBL       = "https://psbl.org/"
	srcURIBL      = "https://uribl.com/refused.shtml"
)

// Spamhaus return codes shared by ZEN and its parts.
var (
	spamhausSBL = codes(
		"127.0.0.2", "sbl", "Spamhaus SBL: direct spam source, spam operation or spam service",
		"127.0.0.3", "sbl_css", "Spamhaus SBL CSS: snowshoe spam source detected by automation",
		"127.0.0.9", "sbl_drop", "Spamhaus DROP: hijacked or criminal network (always in addition to SBL)",
		"127.0.0.30", "sbl_bcl", "Spamhaus BCL: botnet controller",
	)
	spamhausXBL = codes("127.0.0.4", "xbl", "Spamhaus XBL: exploited host (malware, open proxy, ...)")
	spamhausPBL = codes(
		"127.0.0.10", "pbl_isp", "Spamhaus PBL: end-user address that should not send mail directly (set by the ISP)",
		"127.0.0.11", "pbl_spamhaus", "Spamhaus PBL: end-user address that should not send mail directly (set by Spamhaus)",
	)
)

func merge(ms ...map[netip.Addr]code) map[netip.Addr]code {
	out := map[netip.Addr]code{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// catalog returns the built-in zones, in README order. Each call returns
// fresh values: instances may change them (severity overrides).
func catalog() []zoneDef {
	ipTest := func(z zoneDef) zoneDef {
		z.Kind, z.TestListed, z.TestUnlisted = kindIP, "127.0.0.2", "127.0.0.1"
		return z
	}
	return []zoneDef{
		ipTest(zoneDef{Name: "zen.spamhaus.org", Severity: sevCritical, Operator: "Spamhaus", IPv6: true, DQS: "zen", Default: true, Source: srcSpamhaus,
			Codes: merge(spamhausSBL, spamhausXBL, spamhausPBL)}),
		ipTest(zoneDef{Name: "sbl.spamhaus.org", Severity: sevCritical, Operator: "Spamhaus", IPv6: true, DQS: "sbl", Source: srcSpamhaus, Codes: spamhausSBL}),
		ipTest(zoneDef{Name: "xbl.spamhaus.org", Severity: sevCritical, Operator: "Spamhaus", IPv6: true, DQS: "xbl", Source: srcSpamhaus, Codes: spamhausXBL}),
		ipTest(zoneDef{Name: "sbl-xbl.spamhaus.org", Severity: sevCritical, Operator: "Spamhaus", IPv6: true, DQS: "sbl-xbl", Source: srcSpamhaus, Codes: merge(spamhausSBL, spamhausXBL)}),
		ipTest(zoneDef{Name: "pbl.spamhaus.org", Severity: sevWarning, Operator: "Spamhaus", IPv6: true, DQS: "pbl", Source: srcSpamhaus, Codes: spamhausPBL}),
		{Name: "dbl.spamhaus.org", Kind: kindDomain, Severity: sevCritical, Operator: "Spamhaus", DQS: "dbl", Default: true, Source: srcSpamhaus,
			TestListed: "dbltest.com", TestUnlisted: "invalid",
			Codes: codes(
				"127.0.1.2", "dbl_spam", "Spamhaus DBL: low-reputation (spam) domain",
				"127.0.1.4", "dbl_phish", "Spamhaus DBL: phishing domain",
				"127.0.1.5", "dbl_malware", "Spamhaus DBL: malware domain",
				"127.0.1.6", "dbl_botnet_cc", "Spamhaus DBL: botnet command-and-control domain",
				"127.0.1.102", "dbl_abused", "Spamhaus DBL: abused legitimate domain",
				"127.0.1.103", "dbl_abused_redirector", "Spamhaus DBL: abused redirector or URL shortener",
				"127.0.1.104", "dbl_abused_phish", "Spamhaus DBL: abused legitimate domain used for phishing",
				"127.0.1.105", "dbl_abused_malware", "Spamhaus DBL: abused legitimate domain used by malware",
				"127.0.1.106", "dbl_abused_botnet_cc", "Spamhaus DBL: abused legitimate domain hosting botnet C&C",
			),
			Errors: codes("127.0.1.255", "error_ip_query", "Spamhaus DBL: IP queries are not allowed on a domain list")},
		ipTest(zoneDef{Name: "b.barracudacentral.org", Severity: sevCritical, Operator: "Barracuda", Default: true, Source: srcBarracuda,
			Codes: codes("127.0.0.2", "barracuda", "Barracuda Reputation Block List: poor sending reputation")}),
		ipTest(zoneDef{Name: "bl.spamcop.net", Severity: sevCritical, Operator: "SpamCop (Cisco)", Default: true, Source: srcSpamCop,
			Codes: codes("127.0.0.2", "spamcop", "SpamCop: reported as a spam source")}),
		ipTest(zoneDef{Name: "dnsbl-1.uceprotect.net", Severity: sevWarning, Operator: "UCEPROTECT", Default: true, Source: srcUCEPROTECT,
			Codes: codes("127.0.0.2", "uceprotect_1", "UCEPROTECT level 1: this address hit spam traps")}),
		ipTest(zoneDef{Name: "dnsbl-2.uceprotect.net", Severity: sevInfo, Operator: "UCEPROTECT", Source: srcUCEPROTECT,
			Codes: codes("127.0.0.2", "uceprotect_2", "UCEPROTECT level 2: the surrounding allocation has too many level 1 listings")}),
		ipTest(zoneDef{Name: "dnsbl-3.uceprotect.net", Severity: sevInfo, Operator: "UCEPROTECT", Source: srcUCEPROTECT,
			Codes: codes("127.0.0.2", "uceprotect_3", "UCEPROTECT level 3: the whole autonomous system is listed")}),
		ipTest(zoneDef{Name: "bl.mailspike.net", Severity: sevWarning, Operator: "Mailspike", Default: true, Source: srcMailspike,
			Codes: codes(
				"127.0.0.2", "mailspike_wave", "Mailspike: part of a distributed spam wave (z.mailspike.net)",
				"127.0.0.10", "mailspike_l5", "Mailspike reputation L5: worst possible reputation",
				"127.0.0.11", "mailspike_l4", "Mailspike reputation L4: very bad reputation",
				"127.0.0.12", "mailspike_l3", "Mailspike reputation L3: bad reputation",
			)}),
		{Name: "multi.uribl.com", Kind: kindDomain, Severity: sevWarning, Operator: "URIBL", Bitmask: true, Source: srcURIBL,
			TestListed: "2.0.0.127", TestUnlisted: "1.0.0.127",
			Codes: codes(
				"127.0.0.2", "uribl_black", "URIBL black: domain used by spammers",
				"127.0.0.4", "uribl_grey", "URIBL grey: domain seen in bulk mail, may honour opt-outs",
				"127.0.0.8", "uribl_red", "URIBL red: very young or WHOIS-private domain seen in mail flow",
			),
			Errors: codes("127.0.0.1", "error_refused", "URIBL refused the query (public resolver or too many queries)")},
		ipTest(zoneDef{Name: "psbl.surriel.com", Severity: sevWarning, Operator: "PSBL (Rik van Riel)", Default: true, Source: srcPSBL,
			Codes: codes("127.0.0.2", "psbl", "PSBL: sent mail to spam traps")}),
	}
}

// catalogByName returns the catalog indexed by zone name.
func catalogByName() map[string]zoneDef {
	m := map[string]zoneDef{}
	for _, z := range catalog() {
		m[z.Name] = z
	}
	return m
}

// defaultZones lists the zones checked when the zones option is not set.
func defaultZones() []string {
	var out []string
	for _, z := range catalog() {
		if z.Default {
			out = append(out, z.Name)
		}
	}
	return out
}

// errorCodes are answers that mean the query failed, on every zone.
// Spamhaus defines 127.255.255.0/24 as its error range; other operators
// follow suit or never answer there.
var errorCodes = codes(
	"127.255.255.252", "error_typo", "the zone name has a typo (Spamhaus: 127.255.255.252)",
	"127.255.255.254", "error_public_resolver", "queries via a public or unattributable resolver are refused (Spamhaus: 127.255.255.254)",
	"127.255.255.255", "error_rate_limited", "too many queries from this resolver (Spamhaus: 127.255.255.255)",
)

var (
	loopback8   = netip.MustParsePrefix("127.0.0.0/8")
	errorRange  = netip.MustParsePrefix("127.255.255.0/24")
	localhostIP = addr("127.0.0.1")
)

// codeList returns the zone's codes sorted by address, for the README
// test and messages.
func (z *zoneDef) codeList() []netip.Addr {
	var out []netip.Addr
	for a := range z.Codes {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Less(out[j]) })
	return out
}
