package outputs

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// EventType says what an alert event announces.
type EventType string

// The alert event types. Trigger opens or escalates an incident, Renotify
// repeats an open one, Resolve closes it. Flapping and FlappingEnd tell
// that notifications for a check are held back while its state keeps
// changing, and that they resume. Test comes from `mailmon test --alerts`.
const (
	Trigger     EventType = "trigger"
	Renotify    EventType = "renotify"
	Resolve     EventType = "resolve"
	Flapping    EventType = "flapping"
	FlappingEnd EventType = "flapping_end"
)

// Event is one alert notification. Every event of one incident carries the
// same DedupKey; ID is unique per event, so receivers can drop a repeat.
type Event struct {
	ID       string    `json:"id"`
	Type     EventType `json:"type"`
	DedupKey string    `json:"dedup_key"`
	// Test marks events sent by `mailmon test --alerts`.
	Test bool `json:"test,omitempty"`

	Host     string `json:"host"`
	Check    string `json:"check"`    // check type, e.g. smtp-banner
	Instance string `json:"instance"` // instance name, the check tag
	Target   string `json:"target,omitempty"`

	// Status is OK, WARNING, CRITICAL or UNKNOWN; a resolve carries OK
	// and the status it recovers from in PreviousStatus.
	Status         string `json:"status"`
	PreviousStatus string `json:"previous_status,omitempty"`
	Reason         string `json:"reason"`
	Message        string `json:"message"`

	FirstFailed time.Time `json:"first_failed"`
	Time        time.Time `json:"time"`

	// Metrics are the fields of the run's primary metric; Tags its tags.
	Metrics map[string]any    `json:"metrics,omitempty"`
	Tags    map[string]string `json:"tags,omitempty"`
}

// Summary is a one-line human description of the event.
func (e *Event) Summary() string {
	switch e.Type {
	case Resolve:
		return fmt.Sprintf("RESOLVED %s/%s on %s: %s", e.Check, e.Instance, e.Host, e.Message)
	case Flapping:
		return fmt.Sprintf("FLAPPING %s/%s on %s: notifications held back while its state keeps changing", e.Check, e.Instance, e.Host)
	case FlappingEnd:
		return fmt.Sprintf("STABLE %s/%s on %s: no longer flapping, now %s", e.Check, e.Instance, e.Host, e.Status)
	}
	return fmt.Sprintf("%s %s/%s on %s: %s", e.Status, e.Check, e.Instance, e.Host, e.Message)
}

// AlertOutput delivers alert events. The agent queues events on disk per
// output, delivers them in order and retries: Send sends one event and
// says whether it went through.
type AlertOutput interface {
	Output
	// Send delivers one event. Return Permanent(err) when retrying cannot
	// help (a 4xx other than 429); return a *RetryAfterError to ask for a
	// specific wait (429 with Retry-After); any other error is retried
	// with backoff.
	Send(ctx context.Context, e *Event) error
}

// StateDirUser is implemented by outputs that keep state across restarts
// (the Slack output remembers which message a resolve answers). The agent
// calls SetStateDir with a folder of the output's own before any Send.
type StateDirUser interface {
	SetStateDir(dir string) error
}

// RetryAfterError asks the agent to wait Wait before sending again.
type RetryAfterError struct {
	Wait time.Duration
	Err  error
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("%v (retry after %s)", e.Err, e.Wait)
}

func (e *RetryAfterError) Unwrap() error { return e.Err }

// RetryAfter returns the wait a *RetryAfterError in err's chain asks for.
func RetryAfter(err error) (time.Duration, bool) {
	var ra *RetryAfterError
	if errors.As(err, &ra) {
		return ra.Wait, true
	}
	return 0, false
}
