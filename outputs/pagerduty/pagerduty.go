// Package pagerduty is the mailmon alert output that opens and resolves
// PagerDuty incidents through the Events API v2.
//
// Trigger and Renotify send event_action "trigger", Resolve sends
// "resolve", all with the event's DedupKey, so PagerDuty keeps one alert
// per incident. Flapping and FlappingEnd are not sent: the Events API has
// no event that informs without paging (even severity "info" opens an
// incident), and the incident already open tells the on-call enough.
package pagerduty

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/PagerDuty/go-pagerduty"
	"github.com/mailmon/mailmon/outputs"
	"github.com/mailmon/mailmon/outputs/internal/httpx"
	"github.com/mailmon/mailmon/sdk"
)

//go:embed sample.toml
var sampleConfig string

// Limits of the Events API v2.
const (
	maxSummary  = 1024
	maxDedupKey = 255
)

// PagerDuty is the pagerduty output. Its exported fields are the options
// of one [[outputs.pagerduty]] table.
type PagerDuty struct {
	RoutingKey string       `json:"routing_key"`
	Endpoint   string       `json:"endpoint"`
	Timeout    sdk.Duration `json:"timeout"`
	Source     string       `json:"source"`
	Component  string       `json:"component"`
	Group      string       `json:"group"`
	Class      string       `json:"class"`
	ClientURL  string       `json:"client_url"`

	client *pagerduty.Client
}

var (
	_ outputs.AlertOutput = (*PagerDuty)(nil)
	_ outputs.Initializer = (*PagerDuty)(nil)
)

func init() {
	outputs.Add("pagerduty", func() outputs.Output { return &PagerDuty{} })
}

// SampleConfig returns the commented options.
func (*PagerDuty) SampleConfig() string { return sampleConfig }

// Description is one sentence.
func (*PagerDuty) Description() string {
	return "Open and resolve PagerDuty incidents through the Events API v2."
}

// Init validates the options, sets defaults and builds the client
// without touching the network.
func (p *PagerDuty) Init() error {
	if err := p.validate(); err != nil {
		return err
	}
	p.setDefaults()
	// go-pagerduty appends /v2/enqueue to the events endpoint it is given.
	base := strings.TrimSuffix(p.Endpoint, enqueuePath)
	p.client = pagerduty.NewClient("", pagerduty.WithV2EventsAPIEndpoint(base))
	p.client.HTTPClient = httpx.NewClient(p.Timeout.D(), nil)
	return nil
}

// Send delivers one event. Flapping and FlappingEnd are skipped (see the
// package documentation).
func (p *PagerDuty) Send(ctx context.Context, e *outputs.Event) error {
	ev, err := p.event(e)
	if err != nil || ev == nil {
		return err
	}
	ctx, capture := httpx.WithCapture(ctx)
	if _, err := p.client.ManageEventWithContext(ctx, ev); err != nil {
		// go-pagerduty reports a non-2xx answer as an APIError without
		// the Retry-After header or the Events API's error body; the
		// capture classified the response itself.
		if capture.Err != nil {
			err = capture.Err
		}
		return fmt.Errorf("post %s: %w", p.Endpoint, err)
	}
	return nil
}

// event builds the Events API v2 event for e; nil for events that are not
// sent.
func (p *PagerDuty) event(e *outputs.Event) (*pagerduty.V2Event, error) {
	ev := &pagerduty.V2Event{
		RoutingKey: p.RoutingKey,
		DedupKey:   dedupKey(e.DedupKey),
		Client:     "mailmon",
		ClientURL:  p.ClientURL,
	}
	switch e.Type {
	case outputs.Trigger, outputs.Renotify:
		ev.Action = "trigger"
		ev.Payload = p.payload(e)
	case outputs.Resolve:
		ev.Action = "resolve"
	case outputs.Flapping, outputs.FlappingEnd:
		return nil, nil
	default:
		return nil, outputs.Permanent(fmt.Errorf("event type %q: not supported", e.Type))
	}
	return ev, nil
}

func (p *PagerDuty) payload(e *outputs.Event) *pagerduty.V2Payload {
	summary := e.Summary()
	if e.Test {
		summary = "[test] " + summary
	}
	source := p.Source
	if source == "" {
		source = e.Host
	}
	if source == "" {
		source = "mailmon" // required by the API
	}
	pl := &pagerduty.V2Payload{
		Summary:   httpx.Truncate(summary, maxSummary-len("…")),
		Source:    source,
		Severity:  severity(e.Status),
		Component: p.Component,
		Group:     p.Group,
		Class:     p.Class,
		Details:   details(e),
	}
	if !e.Time.IsZero() {
		pl.Timestamp = e.Time.UTC().Format(time.RFC3339)
	}
	return pl
}

// severity maps a check status to an Events API severity. UNKNOWN (the
// check could not tell) pages as "error", between critical and warning.
func severity(status string) string {
	switch status {
	case "CRITICAL":
		return "critical"
	case "WARNING":
		return "warning"
	case "OK":
		return "info"
	}
	return "error"
}

func details(e *outputs.Event) map[string]any {
	d := map[string]any{
		"event_id": e.ID,
		"host":     e.Host,
		"check":    e.Check,
		"instance": e.Instance,
		"status":   e.Status,
		"reason":   e.Reason,
		"message":  e.Message,
	}
	if e.Target != "" {
		d["target"] = e.Target
	}
	if e.PreviousStatus != "" {
		d["previous_status"] = e.PreviousStatus
	}
	if !e.FirstFailed.IsZero() {
		d["first_failed"] = e.FirstFailed.UTC().Format(time.RFC3339)
	}
	if len(e.Metrics) > 0 {
		d["metrics"] = e.Metrics
	}
	if e.Test {
		d["test"] = true
	}
	return d
}

// dedupKey keeps keys within the API's 255 characters: a longer key is
// cut and ends in the SHA-256 of the whole key, so it stays unique and
// the same for every event of the incident.
func dedupKey(k string) string {
	if len(k) <= maxDedupKey {
		return k
	}
	sum := sha256.Sum256([]byte(k))
	h := hex.EncodeToString(sum[:])
	n := maxDedupKey - len(h) - 1
	for n > 0 && !utf8.RuneStart(k[n]) {
		n-- // do not cut a character in half
	}
	return k[:n] + "~" + h
}
