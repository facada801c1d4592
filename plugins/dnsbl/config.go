package main

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/mailmon/mailmon/sdk"
)

// Defaults and limits.
const (
	defaultResolvConf   = "/etc/resolv.conf"
	defaultQueryTimeout = 2 * time.Second
	defaultRetries      = 1
	defaultConcurrency  = 16
	maxRetries          = 5
	maxConcurrency      = 256
	maxQueryTimeout     = 30 * time.Second
	maxTargets          = 10000
)

// Config is one instance's options, as decoded from JSON.
type Config struct {
	Addresses      []string          `json:"addresses"`
	Hosts          []string          `json:"hosts"`
	ResolveMX      bool              `json:"resolve_mx"`
	Domains        []string          `json:"domains"`
	Zones          []string          `json:"zones"`
	ZoneSeverity   map[string]string `json:"zone_severity"`
	CustomZones    []CustomZone      `json:"custom_zone"`
	SpamhausDQSKey string            `json:"spamhaus_dqs_key"`
	Resolver       string            `json:"resolver"`
	ResolvConf     string            `json:"resolv_conf"`
	QueryTimeout   sdk.Duration      `json:"query_timeout"`
	Retries        *int              `json:"retries"`
	Concurrency    *int              `json:"concurrency"`
	SelfTest       *bool             `json:"self_test"`
}

// CustomZone is a user-defined zone ([[checks.dnsbl.custom_zone]]).
type CustomZone struct {
	Name     string            `json:"name"`
	Type     string            `json:"type"`
	Severity string            `json:"severity"`
	Codes    map[string]string `json:"codes"`
	Bitmask  bool              `json:"bitmask"`
	Server   string            `json:"server"`
	IPv6     *bool             `json:"ipv6"`
	SelfTest *bool             `json:"self_test"`
}

// zoneRun is a zone as one instance checks it.
type zoneRun struct {
	zoneDef
	query    string   // the zone name queried (DQS rewrites Spamhaus zones)
	servers  []string // the zone's own servers; nil: the resolver
	selfTest bool
}

// target is one thing looked up on the zones.
type target struct {
	Name string     // the address or domain, as reported (target tag)
	Addr netip.Addr // for addresses
	Kind string     // "ipv4", "ipv6" or "domain"
	Host string     // the host name an address came from, if any
}

// settings is a validated Config: what Run uses.
type settings struct {
	Config
	addresses  []target
	hosts      []string // fully qualified, lower case
	domains    []target
	zones      []*zoneRun
	resolvers  []string // host:port; nil: read resolv.conf in Run
	timeout    time.Duration
	retries    int
	concurrent int
}

// parseConfig decodes raw strictly and validates it. Every error is an
// *sdk.ConfigError naming the option.
func parseConfig(raw []byte) (*settings, error) {
	var c Config
	if err := sdk.DecodeConfig(raw, &c); err != nil {
		return nil, err
	}
	s := &settings{Config: c}
	for _, step := range []func(*settings) error{
		validateAddresses,
		validateHosts,
		validateDomains,
		validateDQSKey,
		validateZones,
		validateCustomZones,
		validateZoneSeverity,
		validateTargetsAndZones,
		validateResolver,
		validateTuning,
	} {
		if err := step(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func validateAddresses(s *settings) error {
	seen := map[netip.Addr]bool{}
	for i, a := range s.Addresses {
		ip, err := netip.ParseAddr(a)
		if err != nil || ip.Zone() != "" {
			return sdk.OptionError(fmt.Sprintf("addresses[%d]", i), "invalid IP address %q", a)
		}
		ip = ip.Unmap()
		if seen[ip] {
			return sdk.OptionError(fmt.Sprintf("addresses[%d]", i), "%s is listed twice", ip)
		}
		seen[ip] = true
		s.addresses = append(s.addresses, addrTarget(ip, ""))
	}
	return nil
}

func addrTarget(ip netip.Addr, host string) target {
	kind := "ipv4"
	if ip.Is6() {
		kind = "ipv6"
	}
	return target{Name: ip.String(), Addr: ip, Kind: kind, Host: host}
}

// hostnameRE is a host or domain name: letters, digits, hyphens and
// underscores (seen in real DNS names) in dot-separated labels.
var hostnameRE = regexp.MustCompile(`^([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)*[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$`)

// normalizeName lower-cases a host or domain name and drops a final dot;
// ok is false for an invalid name.
func normalizeName(n string) (string, bool) {
	n = strings.ToLower(strings.TrimSuffix(n, "."))
	if n == "" || len(n) > 253 || !hostnameRE.MatchString(n) {
		return "", false
	}
	return n, true
}

func validateHosts(s *settings) error {
	seen := map[string]bool{}
	for i, h := range s.Hosts {
		key := fmt.Sprintf("hosts[%d]", i)
		if _, err := netip.ParseAddr(h); err == nil {
			return sdk.OptionError(key, "%q is an IP address: put it in addresses", h)
		}
		n, ok := normalizeName(h)
		if !ok {
			return sdk.OptionError(key, "invalid host name %q", h)
		}
		if seen[n] {
			return sdk.OptionError(key, "%s is listed twice", n)
		}
		seen[n] = true
		s.hosts = append(s.hosts, n)
	}
	if s.ResolveMX && len(s.hosts) == 0 {
		return sdk.OptionError("resolve_mx", "needs hosts")
	}
	return nil
}

func validateDomains(s *settings) error {
	seen := map[string]bool{}
	for i, d := range s.Domains {
		key := fmt.Sprintf("domains[%d]", i)
		if _, err := netip.ParseAddr(d); err == nil {
			return sdk.OptionError(key, "%q is an IP address: domain lists take domain names; put it in addresses", d)
		}
		n, ok := normalizeName(d)
		if !ok || !strings.Contains(n, ".") {
			return sdk.OptionError(key, "invalid domain %q", d)
		}
		if seen[n] {
			return sdk.OptionError(key, "%s is listed twice", n)
		}
		seen[n] = true
		s.domains = append(s.domains, target{Name: n, Kind: "domain"})
	}
	if n := len(s.addresses) + len(s.hosts) + len(s.domains); n == 0 {
		return sdk.OptionError("addresses", "nothing to check: set addresses, hosts or domains")
	} else if n > maxTargets {
		return sdk.OptionError("addresses", "%d targets is too many (at most %d per instance)", n, maxTargets)
	}
	return nil
}

var dqsKeyRE = regexp.MustCompile(`^[a-z0-9]{26}$`)

func validateDQSKey(s *settings) error {
	if s.SpamhausDQSKey != "" && !dqsKeyRE.MatchString(s.SpamhausDQSKey) {
		// Never echo a secret back, not even a wrong one.
		return sdk.OptionError("spamhaus_dqs_key", "must be the 26-character key (lower-case letters and digits) from the Spamhaus DQS portal")
	}
	return nil
}

func validateZones(s *settings) error {
	names := s.Zones
	if names == nil {
		names = defaultZones()
	}
	cat := catalogByName()
	seen := map[string]bool{}
	for i, n := range names {
		key := fmt.Sprintf("zones[%d]", i)
		name := strings.ToLower(strings.TrimSuffix(n, "."))
		z, ok := cat[name]
		if !ok {
			return sdk.OptionError(key, "unknown zone %q: not in the built-in catalog (define it with [[custom_zone]])", n)
		}
		if seen[name] {
			return sdk.OptionError(key, "%s is listed twice", name)
		}
		seen[name] = true
		zr := &zoneRun{zoneDef: z, query: z.Name, selfTest: true}
		if z.DQS != "" && s.SpamhausDQSKey != "" {
			zr.query = s.SpamhausDQSKey + "." + z.DQS + ".dq.spamhaus.net"
		}
		s.zones = append(s.zones, zr)
	}
	return nil
}

var reasonRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)

func validateCustomZones(s *settings) error {
	for i, cz := range s.CustomZones {
		key := func(opt string) string { return fmt.Sprintf("custom_zone[%d].%s", i, opt) }
		name, ok := normalizeName(cz.Name)
		switch {
		case cz.Name == "":
			return sdk.OptionError(key("name"), "required")
		case !ok || !strings.Contains(name, "."):
			return sdk.OptionError(key("name"), "invalid zone name %q", cz.Name)
		}
		for _, z := range s.zones {
			if z.Name == name {
				return sdk.OptionError(key("name"), "%s is already checked (zones)", name)
			}
		}
		z := &zoneRun{zoneDef: zoneDef{Name: name, Operator: "custom", Codes: map[netip.Addr]code{}}, query: name, selfTest: true}
		switch cz.Type {
		case "", "ip":
			z.Kind, z.TestListed, z.TestUnlisted, z.IPv6 = kindIP, "127.0.0.2", "127.0.0.1", true
		case "domain":
			z.Kind, z.TestListed, z.TestUnlisted = kindDomain, "test", "invalid"
		default:
			return sdk.OptionError(key("type"), `must be "ip" or "domain" (got %q)`, cz.Type)
		}
		z.Severity = sevWarning
		if cz.Severity != "" {
			sev, ok := parseSeverity(cz.Severity)
			if !ok {
				return sdk.OptionError(key("severity"), `must be "critical", "warning" or "info" (got %q)`, cz.Severity)
			}
			z.Severity = sev
		}
		z.Bitmask = cz.Bitmask
		if err := parseCodes(z, cz.Codes, key("codes")); err != nil {
			return err
		}
		if cz.Server != "" {
			srv, err := hostPort(cz.Server)
			if err != nil {
				return &sdk.ConfigError{Key: key("server"), Err: err}
			}
			z.servers = []string{srv}
		}
		if cz.IPv6 != nil {
			if *cz.IPv6 && z.Kind == kindDomain {
				return sdk.OptionError(key("ipv6"), `needs type = "ip"`)
			}
			z.IPv6 = *cz.IPv6
		}
		if cz.SelfTest != nil {
			z.selfTest = *cz.SelfTest
		}
		s.zones = append(s.zones, z)
	}
	return nil
}

// parseCodes reads a custom zone's return codes: "127.0.0.2" -> reason.
func parseCodes(z *zoneRun, m map[string]string, key string) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the first bad one, every time
	for _, k := range keys {
		a, err := netip.ParseAddr(k)
		switch {
		case err != nil || !a.Is4():
			return sdk.OptionError(key, "%q is not an IPv4 address", k)
		case !loopback8.Contains(a):
			return sdk.OptionError(key, "%s is outside 127.0.0.0/8: such answers are errors, never listings", k)
		case errorRange.Contains(a):
			return sdk.OptionError(key, "%s is in 127.255.255.0/24, the error range", k)
		case a == localhostIP:
			return sdk.OptionError(key, "127.0.0.1 is not a valid listing code (RFC 5782)")
		case z.Bitmask && (a.As4()[1] != 0 || a.As4()[2] != 0 || bitCount(a.As4()[3]) != 1):
			return sdk.OptionError(key, "%s is not one bit (127.0.0.2, .4, .8, ... .128) as a bitmask zone needs", k)
		case !reasonRE.MatchString(m[k]):
			return sdk.OptionError(key, "reason %q for %s must be snake_case: a lower-case letter, then letters, digits or _ (at most 40)", m[k], k)
		}
		z.Codes[a] = code{Reason: m[k], Meaning: m[k]}
	}
	return nil
}

func bitCount(b byte) int {
	n := 0
	for ; b != 0; b &= b - 1 {
		n++
	}
	return n
}

func validateZoneSeverity(s *settings) error {
	names := make([]string, 0, len(s.ZoneSeverity))
	for n := range s.ZoneSeverity {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		var zone *zoneRun
		for _, z := range s.zones {
			if z.Name == strings.ToLower(n) {
				zone = z
			}
		}
		if zone == nil {
			return sdk.OptionError("zone_severity."+n, "zone %q is not checked by this instance", n)
		}
		sev, ok := parseSeverity(s.ZoneSeverity[n])
		if !ok {
			return sdk.OptionError("zone_severity."+n, `must be "critical", "warning" or "info" (got %q)`, s.ZoneSeverity[n])
		}
		zone.Severity = sev
	}
	return nil
}

func validateTargetsAndZones(s *settings) error {
	var ip, domain int
	for _, z := range s.zones {
		if z.Kind == kindIP {
			ip++
		} else {
			domain++
		}
	}
	switch {
	case len(s.zones) == 0:
		return sdk.OptionError("zones", "no zones to check: list catalog zones or add a [[custom_zone]]")
	case len(s.addresses)+len(s.hosts) > 0 && ip == 0:
		key := "addresses"
		if len(s.addresses) == 0 {
			key = "hosts"
		}
		return sdk.OptionError(key, "no IP zone is checked: add one to zones or a custom_zone with type = \"ip\"")
	case len(s.domains) > 0 && domain == 0:
		return sdk.OptionError("domains", "no domain zone is checked: add dbl.spamhaus.org to zones or a custom_zone with type = \"domain\"")
	}
	for i, d := range s.domains {
		for _, z := range s.zones {
			if z.Kind == kindDomain {
				if _, ok := dns.IsDomainName(queryName(d, z.query)); !ok || len(queryName(d, z.query)) > 254 {
					return sdk.OptionError(fmt.Sprintf("domains[%d]", i), "%s is too long to look up on %s", d.Name, z.Name)
				}
			}
		}
	}
	return nil
}

// hostPort accepts "host", "host:port", "[v6]:port" or a bare IPv6
// address, with port 53 by default.
func hostPort(v string) (string, error) {
	if strings.ContainsAny(v, " \t\r\n/") {
		return "", fmt.Errorf("invalid address %q: want host or host:port", v)
	}
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		switch {
		case strings.HasPrefix(v, "[") && strings.HasSuffix(v, "]"):
			host, port = v[1:len(v)-1], "53"
		case !strings.Contains(v, ":") || net.ParseIP(v) != nil:
			host, port = v, "53"
		default:
			return "", fmt.Errorf("invalid address %q: want host or host:port", v)
		}
	}
	if host == "" {
		return "", fmt.Errorf("invalid address %q: missing host", v)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("invalid address %q: port must be a number from 1 to 65535", v)
	}
	return net.JoinHostPort(host, port), nil
}

func validateResolver(s *settings) error {
	if s.Resolver != "" {
		if s.ResolvConf != "" {
			return sdk.OptionError("resolv_conf", "not used when resolver is set")
		}
		srv, err := hostPort(s.Resolver)
		if err != nil {
			return &sdk.ConfigError{Key: "resolver", Err: err}
		}
		s.resolvers = []string{srv}
		return nil
	}
	if s.ResolvConf == "" {
		s.ResolvConf = defaultResolvConf
	}
	// A local file: read again on every run, checked here so a typo shows
	// when the config is loaded.
	if err := readable(s.ResolvConf); err != nil {
		return &sdk.ConfigError{Key: "resolv_conf", Err: err}
	}
	return nil
}

func validateTuning(s *settings) error {
	s.timeout = s.QueryTimeout.D()
	switch {
	case s.timeout == 0:
		s.timeout = defaultQueryTimeout
	case s.timeout < 10*time.Millisecond || s.timeout > maxQueryTimeout:
		return sdk.OptionError("query_timeout", "must be from 10ms to %s (got %s)", maxQueryTimeout, s.timeout)
	}
	s.retries = defaultRetries
	if s.Retries != nil {
		if *s.Retries < 0 || *s.Retries > maxRetries {
			return sdk.OptionError("retries", "must be from 0 to %d (got %d)", maxRetries, *s.Retries)
		}
		s.retries = *s.Retries
	}
	s.concurrent = defaultConcurrency
	if s.Concurrency != nil {
		if *s.Concurrency < 1 || *s.Concurrency > maxConcurrency {
			return sdk.OptionError("concurrency", "must be from 1 to %d (got %d)", maxConcurrency, *s.Concurrency)
		}
		s.concurrent = *s.Concurrency
	}
	if s.SelfTest != nil && !*s.SelfTest {
		for _, z := range s.zones {
			z.selfTest = false
		}
	}
	return nil
}

// queryName is the name looked up for t on zone z, fully qualified:
// reversed octets for IPv4, 32 reversed nibbles for IPv6, the domain as
// is for domain lists.
func queryName(t target, zone string) string {
	if t.Kind == "domain" {
		return dns.Fqdn(t.Name + "." + zone)
	}
	return dns.Fqdn(reverse(t.Addr) + "." + zone)
}

// reverse returns the DNSBL form of an address, without the zone.
func reverse(a netip.Addr) string {
	const hex = "0123456789abcdef"
	var b strings.Builder
	if a.Is4() {
		o := a.As4()
		fmt.Fprintf(&b, "%d.%d.%d.%d", o[3], o[2], o[1], o[0])
		return b.String()
	}
	o := a.As16()
	for i := len(o) - 1; i >= 0; i-- {
		if i != len(o)-1 {
			b.WriteByte('.')
		}
		b.WriteByte(hex[o[i]&0xf])
		b.WriteByte('.')
		b.WriteByte(hex[o[i]>>4])
	}
	return b.String()
}

// selfTestTargets returns the zone's must-be-listed and must-not-be-listed
// entries as targets.
func selfTestTargets(z *zoneRun) (listed, unlisted target) {
	if z.Kind == kindDomain {
		return target{Name: z.TestListed, Kind: "domain"}, target{Name: z.TestUnlisted, Kind: "domain"}
	}
	return addrTarget(netip.MustParseAddr(z.TestListed), ""), addrTarget(netip.MustParseAddr(z.TestUnlisted), "")
}
