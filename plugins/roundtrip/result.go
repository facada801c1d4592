package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/mailmon/mailmon/sdk"
)

// result turns the run's state into the Result: the first metric is the
// run summary, then one metric per Received hop.
func (p *probe) result() *sdk.Result {
	s := p.s
	m := sdk.NewMetric(measurement)
	m.Time = p.start
	m.Tags["target"] = s.send.address
	m.Tags["receive"] = s.Receive.Protocol
	m.Tags["detected_by"] = byNone
	f := m.Fields
	f["instance_id"] = s.instance
	prefix := s.Receive.Protocol + "_"
	setDur := func(name string, d time.Duration) {
		if d > 0 {
			f[name] = d.Seconds()
		}
	}
	setDur(prefix+"connect_seconds", p.ph.connect)
	setDur(prefix+"tls_seconds", p.ph.tls)
	setDur(prefix+"auth_seconds", p.ph.auth)
	setDur(prefix+"select_seconds", p.ph.sel)
	if sr := p.sent; sr != nil {
		setDur("smtp_connect_seconds", sr.connect)
		setDur("smtp_tls_seconds", sr.tls)
		setDur("smtp_ehlo_seconds", sr.ehlo)
		setDur("smtp_auth_seconds", sr.auth)
		setDur("smtp_data_seconds", sr.data)
		setDur("smtp_total_seconds", sr.total)
		if sr.lastCode != 0 {
			f["smtp_reply_code"] = int64(sr.lastCode)
		}
	}
	f["delivered"] = p.seen != nil
	f["late_count"] = p.clean.late
	f["swept_count"] = p.clean.swept
	f["deleted_count"] = p.clean.deleted
	f["polls"] = p.polls
	metrics := []sdk.Metric{m}
	var delivery time.Duration
	if sg := p.seen; sg != nil {
		delivery = sg.seen.Sub(p.sent.accepted)
		f["delivery_seconds"] = delivery.Seconds()
		f["delivered_to_junk"] = sg.junk
		m.Tags["detected_by"] = sg.detectedBy
		hops := parseHops(p.clean.received, p.clean.dateSent)
		f["hop_count"] = int64(len(hops))
		for i, h := range hops {
			hm := sdk.NewMetric(hopMeasurement)
			hm.Time = p.start
			hm.Tags["target"] = s.send.address
			hm.Tags["hop"] = fmt.Sprint(i + 1)
			hm.Tags["by"] = h.by
			hm.Fields["delay_seconds"] = max(h.delay, 0).Seconds()
			metrics = append(metrics, hm)
		}
	}

	res := p.judge(delivery)
	res.Metrics = metrics
	return res
}

// judge picks the status, reason and message.
func (p *probe) judge(delivery time.Duration) *sdk.Result {
	s := p.s
	var notes []string
	if p.clean.late > 0 {
		notes = append(notes, fmt.Sprintf("%d late probe(s) of earlier runs removed", p.clean.late))
	}
	if p.clean.swept > 0 {
		notes = append(notes, fmt.Sprintf("%d old probe(s) swept", p.clean.swept))
	}
	suffix := func(res *sdk.Result) *sdk.Result {
		if p.cleanErr != nil {
			res.Message += "; also cleanup failed: " + oneLine(p.cleanErr.Error())
			if res.Status == sdk.OK {
				res.Status, res.Reason = sdk.Warning, "cleanup_failed"
			}
		}
		if len(notes) > 0 {
			res.Message += "; note: " + strings.Join(notes, ", ")
		}
		return res
	}
	switch {
	case p.recvFail != nil:
		status := sdk.Critical
		if p.recvFail.reason == "oauth_token_failed" {
			status = sdk.Unknown
		}
		return suffix(sdk.Resultf(status, p.recvFail.reason, "%s %s: %v (nothing sent)", s.Receive.Protocol, s.recv.address, p.recvFail.err))
	case p.sendFail != nil:
		status := sdk.Critical
		if p.sendFail.reason == "oauth_token_failed" {
			status = sdk.Unknown
		}
		return suffix(sdk.Resultf(status, p.sendFail.reason, "send via %s: %v", s.send.address, p.sendFail.err))
	case p.waitErr != nil:
		return suffix(sdk.Resultf(sdk.Critical, "receive_failed", "%s %s: %v while waiting for the probe", s.Receive.Protocol, s.recv.address, oneLine(p.waitErr.Error())))
	case p.seen == nil:
		return suffix(sdk.Resultf(sdk.Critical, "not_delivered", "probe %s to %s not delivered within %.1fs of the SMTP 250 (queue id %s)",
			p.tok, s.RcptTo, time.Since(p.sent.accepted).Seconds(), p.sent.queueID))
	}
	where := s.Receive.Mailbox
	if p.seen.junk {
		where = p.seen.mailbox
	}
	msg := fmt.Sprintf("delivered %s -> %s in %.3fs (seen by %s in %s)", s.send.address, s.RcptTo, delivery.Seconds(), p.seen.detectedBy, where)
	crit, warn := s.DeliveryCritical.D(), s.DeliveryWarning.D()
	res := sdk.Resultf(sdk.OK, "ok", "%s", msg)
	switch {
	case crit > 0 && delivery >= crit:
		res = sdk.Resultf(sdk.Critical, "slow_delivery", "%s, at or over delivery_critical %s", msg, crit)
	case warn > 0 && delivery >= warn:
		res = sdk.Resultf(sdk.Warning, "slow_delivery", "%s, at or over delivery_warning %s", msg, warn)
	case p.seen.junk:
		res = sdk.Resultf(sdk.Warning, "delivered_to_junk", "%s", msg)
	}
	return suffix(res)
}
