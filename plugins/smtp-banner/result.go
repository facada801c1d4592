package main

import (
	"fmt"
	"strings"

	"github.com/mailmon/mailmon/sdk"
)

// result turns the run's findings into the Result: the worst finding
// (the first of equals) gives status, reason and the start of the message.
func (p *probe) result() *sdk.Result {
	if p.lastCode != 0 {
		p.field("reply_code", int64(p.lastCode))
	}
	if p.failed == nil {
		p.judgeResponseTime()
	}
	res := &sdk.Result{Status: sdk.OK, Reason: "ok", Metrics: []sdk.Metric{p.m}}
	var worst *finding
	for i := range p.findings {
		f := &p.findings[i]
		if worst == nil || (sdk.Worse(worst.status, f.status) == f.status && f.status != worst.status) {
			worst = f
		}
	}
	parts := []string{p.okMessage()}
	if worst != nil {
		res.Status, res.Reason = worst.status, worst.reason
		parts = []string{p.s.address + ": " + worst.msg}
		for i := range p.findings {
			if f := &p.findings[i]; f != worst {
				parts = append(parts, "also "+f.msg)
			}
		}
	}
	for _, n := range p.notes {
		parts = append(parts, "note: "+n)
	}
	res.Message = strings.Join(parts, "; ")
	return res
}

// judgeResponseTime applies the thresholds to the whole transaction.
func (p *probe) judgeResponseTime() {
	total, _ := p.m.Fields["total_seconds"].(float64)
	warn, crit := p.s.ResponseTimeWarning.D().Seconds(), p.s.ResponseTimeCritical.D().Seconds()
	switch {
	case crit > 0 && total >= crit:
		p.add(sdk.Critical, "slow_response", "transaction took %.3fs (critical at %s)", total, p.s.ResponseTimeCritical.D())
	case warn > 0 && total >= warn:
		p.add(sdk.Warning, "slow_response", "transaction took %.3fs (warning at %s)", total, p.s.ResponseTimeWarning.D())
	}
}

// okMessage sums up a clean run in one sentence.
func (p *probe) okMessage() string {
	var b strings.Builder
	total, _ := p.m.Fields["total_seconds"].(float64)
	fmt.Fprintf(&b, "%s answered %q in %.3fs", p.s.address, firstLine(p.greeting), total)
	if t := p.tls; t != nil {
		fmt.Fprintf(&b, " over %s", t.Version)
		if t.Leaf != nil {
			trust := "a trusted"
			if t.ChainErr != nil {
				trust = "an untrusted (tls_insecure_skip_verify)"
			}
			fmt.Fprintf(&b, " with %s certificate valid for %.0f more days", trust, t.ExpiryDays)
		}
	}
	if p.authMech != "" {
		fmt.Fprintf(&b, ", AUTH %s accepted", p.authMech)
	}
	return b.String()
}

// firstLine is a reply's first line, enough to name a greeting.
func firstLine(r *reply) string {
	if r == nil {
		return ""
	}
	return fmt.Sprintf("%d %s", r.Code, r.Lines[0])
}
