package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/mailmon/mailmon/sdk"
)

//go:embed sample.toml
var sampleConfig string

// Version is the plugin's version.
const Version = "0.1.0"

// Measurements.
const (
	measurement        = "mailmon_dnsbl"         // one per run, first
	measurementTarget  = "mailmon_dnsbl_target"  // one per target
	measurementListing = "mailmon_dnsbl_listing" // one per target × zone
)

// defaultTimeout bounds a run whose context has no deadline (the agent
// always sets one).
const defaultTimeout = 60 * time.Second

// maxMX is how many MX hosts of one host name are followed.
const maxMX = 10

// DNSBL checks addresses, host names and domains against DNS blocklists.
type DNSBL struct {
	s *settings
}

var _ sdk.Check = (*DNSBL)(nil)

// Info describes the check.
func (d *DNSBL) Info() sdk.Info {
	return sdk.Info{
		Name:         "dnsbl",
		Version:      Version,
		Description:  "Checks IP addresses, host names and domains against DNS blocklists (Spamhaus, Barracuda, SpamCop, ...), with zone self-tests.",
		SampleConfig: sampleConfig,
	}
}

// Configure decodes and validates the options; it does not touch the
// network.
func (d *DNSBL) Configure(raw []byte) error {
	s, err := parseConfig(raw)
	if err != nil {
		return err
	}
	d.s = s
	return nil
}

// Run looks every target up on every zone once.
func (d *DNSBL) Run(ctx context.Context) (*sdk.Result, error) {
	if d.s == nil {
		return nil, errors.New("dnsbl: run before configure")
	}
	servers := d.s.resolvers
	if servers == nil {
		var err error
		if servers, err = systemResolvers(d.s.ResolvConf); err != nil {
			return nil, fmt.Errorf("dnsbl: resolver: %w", err)
		}
	}
	start := time.Now()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = start.Add(defaultTimeout)
	}
	// Keep a little of the run's time to build and send the result: a
	// slow zone must never make the run miss the agent's deadline.
	margin := min(250*time.Millisecond, time.Until(deadline)/10)
	qctx, cancel := context.WithDeadline(ctx, deadline.Add(-margin))
	defer cancel()

	r := newResolver(servers, d.s.timeout, d.s.retries, d.s.concurrent)
	defer r.close()
	p := &probe{s: d.s, r: r, start: start}
	p.run(qctx)
	if errors.Is(ctx.Err(), context.Canceled) {
		return nil, fmt.Errorf("dnsbl: %w", ctx.Err())
	}
	return p.result(servers), nil
}

// probe is one run's state.
type probe struct {
	s     *settings
	r     *resolver
	start time.Time

	health  map[*zoneRun]*zoneHealth
	hosts   []hostResult
	targets []target
	results []lookup
}

// zoneHealth is a zone's RFC 5782 self-test outcome.
type zoneHealth struct {
	tested  bool
	healthy bool
	// err is the reason the self-test could not be judged (timeout,
	// servfail, error_public_resolver, ...); detail says it in words.
	err, detail string
}

// trusted reports whether the zone's answers can be used.
func (h *zoneHealth) trusted() bool { return !h.tested || h.healthy }

// hostResult is a host name (or MX host) resolved to addresses.
type hostResult struct {
	name  string
	addrs []netip.Addr
	err   string // resolve error reason
	msg   string
}

// lookup is one target on one zone.
type lookup struct {
	t       target
	z       *zoneRun
	queried bool
	res     response
	v       verdict
	txt     string
	reason  string // the reason tag
}

func (p *probe) run(ctx context.Context) {
	// Each zone runs its self-test, then its lookups as soon as the
	// targets are known (host names resolved, meanwhile): a slow zone
	// delays nobody else.
	p.health = map[*zoneRun]*zoneHealth{}
	for _, z := range p.s.zones {
		p.health[z] = &zoneHealth{}
	}
	byZone := map[*zoneRun][]int{}
	ready := make(chan struct{})
	// Lookups waiting for a query slot are not started yet: a few
	// goroutines per slot, not one per target × zone.
	slots := make(chan struct{}, 2*p.s.concurrent)
	var wg sync.WaitGroup
	for _, z := range p.s.zones {
		h := p.health[z]
		wg.Go(func() {
			if z.selfTest {
				*h = p.selfTest(ctx, z)
			}
			<-ready
			if !h.trusted() {
				return
			}
			var lwg sync.WaitGroup
			for _, i := range byZone[z] {
				l := &p.results[i]
				slots <- struct{}{}
				lwg.Go(func() {
					defer func() { <-slots }()
					p.lookup(ctx, l)
				})
			}
			lwg.Wait()
		})
	}
	p.hosts = p.resolveHosts(ctx)

	// Targets: literal addresses, then resolved ones, then domains.
	seen := map[netip.Addr]bool{}
	for _, t := range p.s.addresses {
		seen[t.Addr] = true
		p.targets = append(p.targets, t)
	}
	for _, h := range p.hosts {
		for _, a := range h.addrs {
			if !seen[a] {
				seen[a] = true
				p.targets = append(p.targets, addrTarget(a, h.name))
			}
		}
	}
	p.targets = append(p.targets, p.s.domains...)
	for _, t := range p.targets {
		for _, z := range p.s.zones {
			if (t.Kind == "domain") != (z.Kind == kindDomain) || t.Kind == "ipv6" && !z.IPv6 {
				continue
			}
			byZone[z] = append(byZone[z], len(p.results))
			p.results = append(p.results, lookup{t: t, z: z})
		}
	}
	close(ready)
	wg.Wait()
	for i := range p.results {
		p.results[i].reason = p.reasonOf(&p.results[i])
	}
}

// selfTest checks that the zone lists its test entry and does not list
// 127.0.0.1 (or "invalid").
func (p *probe) selfTest(ctx context.Context, z *zoneRun) zoneHealth {
	listed, unlisted := selfTestTargets(z)
	var on, off verdict
	var onRes, offRes response
	var wg sync.WaitGroup
	wg.Go(func() { onRes, on = p.ask(ctx, z, listed) })
	wg.Go(func() { offRes, off = p.ask(ctx, z, unlisted) })
	wg.Wait()
	h := zoneHealth{tested: true}
	for _, x := range []struct {
		res response
		v   verdict
	}{{onRes, on}, {offRes, off}} {
		if x.res.Err != "" {
			h.err, h.detail = x.res.Err, x.res.ErrDetail
			return h
		}
		if x.v.Err != "" {
			h.err, h.detail = x.v.Err, x.v.ErrDetail
			return h
		}
	}
	switch {
	case !on.Listed:
		h.detail = fmt.Sprintf("self-test failed: %s is not listed", listed.Name)
	case off.Listed:
		h.detail = fmt.Sprintf("self-test failed: %s is listed (the zone lists everything)", unlisted.Name)
	default:
		h.healthy = true
	}
	return h
}

// ask queries the A record for t on z and judges the answer.
func (p *probe) ask(ctx context.Context, z *zoneRun, t target) (response, verdict) {
	name := queryName(t, z.query)
	res := p.r.query(ctx, z.servers, z.Name, name, dns.TypeA)
	if res.Err != "" {
		return res, verdict{}
	}
	return res, judge(&z.zoneDef, parseAnswer(res.Msg, name))
}

func (p *probe) lookup(ctx context.Context, l *lookup) {
	l.queried = true
	l.res, l.v = p.ask(ctx, l.z, l.t)
	if !l.v.Listed {
		return
	}
	name := queryName(l.t, l.z.query)
	if tr := p.r.query(ctx, l.z.servers, l.z.Name, name, dns.TypeTXT); tr.Err == "" {
		l.txt = parseTXT(tr.Msg, name)
	}
}

// reasonOf is the reason tag of one lookup.
func (p *probe) reasonOf(l *lookup) string {
	h := p.health[l.z]
	switch {
	case !h.trusted() && h.err != "":
		return h.err
	case !h.trusted():
		return "zone_unhealthy"
	case l.res.Err != "":
		return l.res.Err
	case l.v.Err != "":
		return l.v.Err
	case l.v.Listed:
		return strings.Join(l.v.Reasons, "+")
	}
	return "not_listed"
}

// failed reports whether the lookup gave no usable answer.
func (l *lookup) failed() bool { return !l.v.Listed && l.reason != "not_listed" }

// resolveHosts resolves every host name to its addresses, and with
// resolve_mx its MX hosts too.
func (p *probe) resolveHosts(ctx context.Context) []hostResult {
	out := make([][]hostResult, len(p.s.hosts))
	var wg sync.WaitGroup
	for i, h := range p.s.hosts {
		wg.Go(func() {
			own := p.resolveHost(ctx, h)
			if !p.s.ResolveMX {
				out[i] = []hostResult{own}
				return
			}
			mx, err := p.mxHosts(ctx, h)
			switch {
			case err == "no_mx" && own.err != "":
				own.msg = h + " has no A, AAAA or MX record"
			case err == "no_mx":
			case err != "":
				out[i] = append(out[i], hostResult{name: h, err: err, msg: "MX lookup for " + h + ": " + err})
			case own.err != "":
				// A mail domain without addresses of its own.
				own.err, own.msg = "", ""
			}
			out[i] = append(out[i], own)
			res := make([]hostResult, len(mx))
			var mwg sync.WaitGroup
			for j, m := range mx {
				mwg.Go(func() { res[j] = p.resolveHost(ctx, m) })
			}
			mwg.Wait()
			out[i] = append(out[i], res...)
		})
	}
	wg.Wait()
	var all []hostResult
	for _, o := range out {
		all = append(all, o...)
	}
	return all
}

// resolveHost looks up A and AAAA for name.
func (p *probe) resolveHost(ctx context.Context, name string) hostResult {
	hr := hostResult{name: name}
	fq := dns.Fqdn(name)
	var errs []string
	for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
		res := p.r.query(ctx, nil, "resolve", fq, qt)
		if res.Err != "" {
			errs = append(errs, dns.TypeToString[qt]+" "+res.Err)
			continue
		}
		switch res.Msg.Rcode {
		case dns.RcodeSuccess, dns.RcodeNameError:
		default:
			errs = append(errs, dns.TypeToString[qt]+" "+rcodeName(res.Msg.Rcode))
			continue
		}
		names := chain(res.Msg, fq)
		for _, rr := range res.Msg.Answer {
			if !names[strings.ToLower(rr.Header().Name)] || rr.Header().Class != dns.ClassINET {
				continue
			}
			var ip netip.Addr
			switch v := rr.(type) {
			case *dns.A:
				ip, _ = netip.AddrFromSlice(v.A.To4())
			case *dns.AAAA:
				ip, _ = netip.AddrFromSlice(v.AAAA.To16())
			}
			if ip.IsValid() && len(hr.addrs) < maxCodes {
				hr.addrs = append(hr.addrs, ip.Unmap())
			}
		}
	}
	if len(hr.addrs) == 0 {
		hr.err = "resolve_failed"
		hr.msg = name + " has no A or AAAA record"
		if len(errs) > 0 {
			hr.msg = name + ": " + strings.Join(errs, ", ")
		}
	}
	return hr
}

// mxHosts returns the MX exchanges of name, best preference first.
func (p *probe) mxHosts(ctx context.Context, name string) ([]string, string) {
	fq := dns.Fqdn(name)
	res := p.r.query(ctx, nil, "resolve", fq, dns.TypeMX)
	if res.Err != "" {
		return nil, res.Err
	}
	if res.Msg.Rcode != dns.RcodeSuccess && res.Msg.Rcode != dns.RcodeNameError {
		return nil, strings.ToLower(rcodeName(res.Msg.Rcode))
	}
	type mx struct {
		pref uint16
		host string
	}
	var mxs []mx
	names := chain(res.Msg, fq)
	for _, rr := range res.Msg.Answer {
		if m, ok := rr.(*dns.MX); ok && names[strings.ToLower(m.Hdr.Name)] {
			h, ok := normalizeName(m.Mx)
			if ok && h != "" {
				mxs = append(mxs, mx{m.Preference, h})
			}
		}
	}
	sort.SliceStable(mxs, func(i, j int) bool { return mxs[i].pref < mxs[j].pref })
	var out []string
	seen := map[string]bool{}
	for _, m := range mxs {
		if !seen[m.host] && len(out) < maxMX {
			seen[m.host] = true
			out = append(out, m.host)
		}
	}
	if len(out) == 0 {
		return nil, "no_mx"
	}
	return out, ""
}
