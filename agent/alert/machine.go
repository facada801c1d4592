// Package alert turns check results into alert events the way Nagios and
// PagerDuty users expect: soft and hard states, flap suppression,
// re-notification, maintenance silencing; and keeps that state and every
// output's queue of undelivered events in a crash-safe journal.
package alert

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/mailmon/mailmon/agent/config"
	"github.com/mailmon/mailmon/outputs"
	"github.com/mailmon/mailmon/sdk"
)

// Machine is the alert state of one check instance. It is persisted as
// JSON, so its fields are the state and nothing else.
type Machine struct {
	// Soft is the last result's status, Count how many results in a row
	// had it; Hard is the confirmed state.
	Soft  sdk.Status `json:"soft"`
	Count int        `json:"count"`
	Hard  sdk.Status `json:"hard"`
	// FirstFailed is when the current problem began (first non-OK result
	// after OK); zero when OK.
	FirstFailed time.Time `json:"first_failed,omitzero"`
	// Notified is the state receivers were last told (OK: no open
	// incident); DedupKey names the open incident.
	Notified   sdk.Status `json:"notified"`
	NotifiedAt time.Time  `json:"notified_at,omitzero"`
	DedupKey   string     `json:"dedup_key,omitempty"`
	// Routed are the outputs the open incident was sent to: its resolve
	// goes to the same ones.
	Routed []string `json:"routed,omitempty"`
	// Changes remembers, for the last FlapWindow results, whether each
	// changed the soft state.
	Changes  []bool `json:"changes,omitempty"`
	Flapping bool   `json:"flapping,omitempty"`
}

// Observation is one finished run, as the state machine sees it.
type Observation struct {
	Host, Check, Instance, Target string
	Result                        *sdk.Result
	Metrics                       map[string]any
	Tags                          map[string]string
	Time                          time.Time
}

// Observe feeds one result to m and returns the events it causes.
// silenced (a maintenance window) holds notifications back; the state
// still moves, so the right event goes out when the window ends.
func (m *Machine) Observe(o Observation, p config.Policy, silenced bool) []*outputs.Event {
	s := o.Result.Status
	defer func() {
		// Events of this result carry FirstFailed; then a recovered
		// check forgets it.
		if m.Hard == sdk.OK && m.Soft == sdk.OK && m.Notified == sdk.OK {
			m.FirstFailed = time.Time{}
		}
	}()
	changed := s != m.Soft
	if changed {
		// A new problem starts the clock; a relapse within an open
		// incident (an OK blip with recover_after > 1) keeps it.
		if m.Soft == sdk.OK && s != sdk.OK && m.Notified == sdk.OK && m.Hard == sdk.OK {
			m.FirstFailed = o.Time
		}
		m.Soft, m.Count = s, 1
	} else {
		m.Count++
	}
	m.Changes = append(m.Changes, changed)
	if len(m.Changes) > p.FlapWindow {
		m.Changes = m.Changes[len(m.Changes)-p.FlapWindow:]
	}

	// A problem becomes hard after AlertAfter results, recovery after
	// RecoverAfter; between problem states (WARNING to CRITICAL) at once.
	switch {
	case s == m.Hard:
	case s == sdk.OK && m.Count >= p.RecoverAfter:
		m.Hard = s
	case s != sdk.OK && (m.Hard != sdk.OK || m.Count >= p.AlertAfter):
		m.Hard = s
	}

	var events []*outputs.Event
	wasFlapping := m.Flapping
	m.Flapping = flapping(m.Changes, p, wasFlapping)
	switch {
	case m.Flapping && !wasFlapping && !silenced:
		events = append(events, m.event(o, outputs.Flapping))
	case !m.Flapping && wasFlapping && !silenced:
		events = append(events, m.event(o, outputs.FlappingEnd))
	}
	if m.Flapping || silenced {
		return events
	}

	switch {
	case m.Hard == m.Notified && m.Hard != sdk.OK && p.Renotify > 0 && o.Time.Sub(m.NotifiedAt) >= p.Renotify:
		events = append(events, m.event(o, outputs.Renotify))
		m.NotifiedAt = o.Time
	case m.Hard == m.Notified:
	case m.Hard == sdk.OK:
		ev := m.event(o, outputs.Resolve)
		ev.PreviousStatus = m.Notified.String()
		events = append(events, ev)
		m.Notified, m.NotifiedAt, m.DedupKey = sdk.OK, o.Time, ""
	default:
		if m.Notified == sdk.OK {
			// A new incident: its key is stable for its whole life, also
			// across agent restarts, and differs from the last one's.
			m.DedupKey = fmt.Sprintf("mailmon/%s/%s/%s/%d", o.Host, o.Check, o.Instance, m.FirstFailed.Unix())
			m.Routed = nil
		}
		ev := m.event(o, outputs.Trigger)
		if m.Notified != sdk.OK {
			ev.PreviousStatus = m.Notified.String()
		}
		events = append(events, ev)
		m.Notified, m.NotifiedAt = m.Hard, o.Time
	}
	return events
}

// flapping applies hysteresis to the share of state changes: on at
// FlapHigh, off at FlapLow, judged only on a full window.
func flapping(changes []bool, p config.Policy, was bool) bool {
	if len(changes) < p.FlapWindow {
		return was
	}
	n := 0
	for _, c := range changes {
		if c {
			n++
		}
	}
	share := float64(n) / float64(len(changes))
	if was {
		return share > p.FlapLow
	}
	return share >= p.FlapHigh
}

func (m *Machine) event(o Observation, typ outputs.EventType) *outputs.Event {
	key := m.DedupKey
	if key == "" {
		key = fmt.Sprintf("mailmon/%s/%s/%s", o.Host, o.Check, o.Instance)
	}
	status := m.Hard
	return &outputs.Event{
		ID:          NewID(),
		Type:        typ,
		DedupKey:    key,
		Host:        o.Host,
		Check:       o.Check,
		Instance:    o.Instance,
		Target:      o.Target,
		Status:      status.String(),
		Reason:      o.Result.Reason,
		Message:     o.Result.Message,
		FirstFailed: m.FirstFailed,
		Time:        o.Time,
		Metrics:     o.Metrics,
		Tags:        o.Tags,
	}
}

// NewID returns a random event id.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
