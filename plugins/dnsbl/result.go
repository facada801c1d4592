package main

import (
	"fmt"
	"strings"

	"github.com/mailmon/mailmon/sdk"
)

// Result reasons (the result tag).
const (
	reasonOK             = "ok"
	reasonListed         = "listed"
	reasonListedInfo     = "listed_info"
	reasonLookupFailed   = "lookup_failed"
	reasonResolveFailed  = "resolve_failed"
	reasonPublicResolver = "public_resolver"
)

// maxMessageItems is how many listings or errors the message names.
const maxMessageItems = 5

// result builds the run's Result: the summary metric first, then one per
// target, then one per target × zone.
func (p *probe) result(servers []string) *sdk.Result {
	now := p.start
	var (
		listed       = map[severity][]*lookup{}
		failedByZone = map[string][]*lookup{}
		failedZones  []string
		nListed      int64
		nFailed      int64
	)
	for i := range p.results {
		l := &p.results[i]
		switch {
		case l.v.Listed && p.health[l.z].trusted() && l.res.Err == "":
			listed[l.z.Severity] = append(listed[l.z.Severity], l)
			nListed++
		case l.failed():
			nFailed++
			if len(failedByZone[l.z.Name]) == 0 {
				failedZones = append(failedZones, l.z.Name)
			}
			failedByZone[l.z.Name] = append(failedByZone[l.z.Name], l)
		}
	}
	var resolveFailed []hostResult
	for _, h := range p.hosts {
		if h.err != "" {
			resolveFailed = append(resolveFailed, h)
		}
	}
	var public []string
	for _, s := range servers {
		if name, ok := publicResolver(s); ok {
			public = append(public, s+" ("+name+")")
		}
	}

	// Status: listings first; errors make it UNKNOWN only when nothing is
	// listed; a public resolver is a warning on its own.
	res := &sdk.Result{Status: sdk.OK, Reason: reasonOK}
	var parts, notes []string
	switch {
	case len(listed[sevCritical]) > 0:
		res.Status, res.Reason = sdk.Critical, reasonListed
	case len(listed[sevWarning]) > 0:
		res.Status, res.Reason = sdk.Warning, reasonListed
	case len(failedZones) > 0:
		res.Status, res.Reason = sdk.Unknown, reasonLookupFailed
	case len(resolveFailed) > 0:
		res.Status, res.Reason = sdk.Unknown, reasonResolveFailed
	case len(public) > 0:
		res.Status, res.Reason = sdk.Warning, reasonPublicResolver
	case len(listed[sevInfo]) > 0:
		res.Reason = reasonListedInfo
	}
	for _, sev := range []severity{sevCritical, sevWarning, sevInfo} {
		for _, l := range listed[sev] {
			parts = append(parts, describeListing(l))
		}
	}
	msgParts := limit(parts, "listings")
	if len(parts) > 0 {
		msgParts[0] = "listed: " + msgParts[0]
	}
	for _, z := range failedZones {
		ls := failedByZone[z]
		msgParts = append(msgParts, fmt.Sprintf("%s: %d lookup(s) failed (%s)", z, len(ls), p.failureText(ls[0])))
	}
	for _, h := range resolveFailed {
		msgParts = append(msgParts, h.msg)
	}
	if len(public) > 0 {
		notes = append(notes, "the resolver "+strings.Join(public, ", ")+" is a public resolver: several blocklists refuse or answer errors through it; use a local resolver")
	}
	total := int64(len(p.results))
	if len(msgParts) == 0 {
		msgParts = append(msgParts, fmt.Sprintf("%d target(s) not listed on %d zone(s) (%d lookups)", len(p.targets), len(p.s.zones), total))
	}
	res.Message = strings.Join(msgParts, "; ")
	if len(notes) > 0 {
		res.Message += "; note: " + strings.Join(notes, "; ")
	}

	// The run's summary.
	m := sdk.NewMetric(measurement)
	m.Time = now
	var healthy, unhealthy, zoneErrs int64
	for _, z := range p.s.zones {
		h := p.health[z]
		switch {
		case !h.tested:
		case h.healthy:
			healthy++
		case h.err != "":
			zoneErrs++
		default:
			unhealthy++
		}
	}
	m.Fields["targets"] = int64(len(p.targets))
	m.Fields["zones"] = int64(len(p.s.zones))
	m.Fields["zones_healthy"] = healthy
	m.Fields["zones_unhealthy"] = unhealthy
	m.Fields["zones_failed"] = zoneErrs
	m.Fields["lookups"] = total
	m.Fields["listed_count"] = nListed
	m.Fields["listed_critical"] = int64(len(listed[sevCritical]))
	m.Fields["listed_warning"] = int64(len(listed[sevWarning]))
	m.Fields["listed_info"] = int64(len(listed[sevInfo]))
	m.Fields["lookup_errors"] = nFailed
	m.Fields["resolve_errors"] = int64(len(resolveFailed))
	m.Fields["queries"] = p.r.queries.Load()
	m.Fields["cache_hits"] = p.r.cacheHits.Load()
	m.Fields["tcp_retries"] = p.r.tcpRetry.Load()
	m.Fields["public_resolver"] = len(public) > 0
	res.Metrics = append(res.Metrics, m)

	// Per target.
	byTarget := map[string][]*lookup{}
	for i := range p.results {
		l := &p.results[i]
		byTarget[l.t.Name] = append(byTarget[l.t.Name], l)
	}
	for _, t := range p.targets {
		m := sdk.NewMetric(measurementTarget)
		m.Time = now
		m.Tags["target"] = t.Name
		m.Tags["kind"] = t.Kind
		if t.Host != "" {
			m.Tags["hostname"] = t.Host
		}
		var n, crit, warn, info, errs int64
		for _, l := range byTarget[t.Name] {
			switch {
			case l.v.Listed && l.reason != "" && !l.failed() && p.health[l.z].trusted():
				n++
				switch l.z.Severity {
				case sevCritical:
					crit++
				case sevWarning:
					warn++
				default:
					info++
				}
			case l.failed():
				errs++
			}
		}
		m.Fields["listed"] = n > 0
		m.Fields["listed_count"] = n
		m.Fields["listed_critical"] = crit
		m.Fields["listed_warning"] = warn
		m.Fields["listed_info"] = info
		m.Fields["zones_checked"] = int64(len(byTarget[t.Name]))
		m.Fields["lookup_errors"] = errs
		res.Metrics = append(res.Metrics, m)
	}
	for _, h := range resolveFailed {
		m := sdk.NewMetric(measurementTarget)
		m.Time = now
		m.Tags["target"] = h.name
		m.Tags["kind"] = "hostname"
		m.Fields["resolve_error"] = h.err
		res.Metrics = append(res.Metrics, m)
	}

	// Per target × zone.
	for i := range p.results {
		l := &p.results[i]
		m := sdk.NewMetric(measurementListing)
		m.Time = now
		m.Tags["target"] = l.t.Name
		m.Tags["kind"] = l.t.Kind
		if l.t.Host != "" {
			m.Tags["hostname"] = l.t.Host
		}
		m.Tags["zone"] = l.z.Name
		m.Tags["zone_severity"] = l.z.Severity.String()
		m.Tags["reason"] = l.reason
		ok := !l.failed()
		m.Fields["listed"] = ok && l.v.Listed
		m.Fields["zone_healthy"] = p.health[l.z].tested && p.health[l.z].healthy
		if l.queried && l.res.Err == "" {
			codes := make([]string, len(l.v.Codes))
			for i, c := range l.v.Codes {
				codes[i] = c.String()
			}
			m.Fields["return_code"] = strings.Join(codes, " ")
			m.Fields["answers"] = int64(len(l.v.Codes))
		}
		if l.queried && l.res.Err == "" && !l.res.Cached {
			m.Fields["query_seconds"] = l.res.RTT.Seconds()
		}
		if l.txt != "" && ok && l.v.Listed {
			m.Fields["txt"] = l.txt
		}
		res.Metrics = append(res.Metrics, m)
	}
	return res
}

// describeListing is "192.0.2.10 on zen.spamhaus.org (sbl, xbl: text)".
func describeListing(l *lookup) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s", l.t.Name)
	if l.t.Host != "" {
		fmt.Fprintf(&b, " (%s)", l.t.Host)
	}
	fmt.Fprintf(&b, " on %s [%s] as %s", l.z.Name, l.z.Severity, strings.Join(l.v.Reasons, "+"))
	if l.txt != "" {
		fmt.Fprintf(&b, ": %q", truncate(l.txt, 120))
	}
	return b.String()
}

func (p *probe) failureText(l *lookup) string {
	h := p.health[l.z]
	switch {
	case !h.trusted() && h.err != "":
		return "self-test " + h.err + ": " + h.detail
	case !h.trusted():
		return "zone unhealthy, answers not trusted: " + h.detail
	case l.res.Err != "":
		return l.res.Err + ": " + l.res.ErrDetail
	}
	return l.v.Err + ": " + l.v.ErrDetail
}

// limit keeps the first maxMessageItems items and counts the rest.
func limit(items []string, what string) []string {
	if len(items) <= maxMessageItems {
		return append([]string(nil), items...)
	}
	out := append([]string(nil), items[:maxMessageItems]...)
	out[len(out)-1] += fmt.Sprintf(" and %d more %s", len(items)-maxMessageItems, what)
	return out
}
