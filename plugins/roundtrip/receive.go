package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Detection methods, the detected_by tag.
const (
	byFastPoll = "fast_poll" // the short UID SEARCH / POP3 window right after the send
	byIdle     = "idle"      // an IMAP IDLE notification
	byPoll     = "poll"      // polling at poll_interval
	byNone     = "none"      // not seen
)

// recvFailure says which step of the receive side failed and how.
type recvFailure struct {
	reason string // receive_connect_failed, receive_tls_failed, receive_auth_failed, receive_failed, oauth_token_failed, timeout
	err    error
}

func (f *recvFailure) Error() string { return f.err.Error() }

// phases are the receive side's session setup times.
type phases struct {
	connect, tls, auth, sel time.Duration
}

// sighting is the probe as found in the mailbox.
type sighting struct {
	seen       time.Time
	detectedBy string
	mailbox    string
	junk       bool
}

// cleanupStats counts what cleanup removed.
type cleanupStats struct {
	deleted  int64 // every message removed or moved, the probe included
	late     int64 // earlier runs' probes younger than sweep_age
	swept    int64 // this instance's probes older than sweep_age
	received []string
	dateSent time.Time
}

func (c *cleanupStats) add(o cleanupStats) {
	c.deleted += o.deleted
	c.late += o.late
	c.swept += o.swept
	if o.received != nil {
		c.received = o.received
	}
}

// classify decides what to do with a message whose probe header value is
// v, for the instance and the current token cur: the second result is
// false for anything that is not this instance's probe.
func classify(v string, cur token, now time.Time, sweepAge time.Duration) (kind string, ours bool) {
	t, ok := parseToken(v)
	if !ok || t.instance != cur.instance {
		return "", false
	}
	switch {
	case t.random == cur.random:
		return "current", true
	case now.Sub(t.sent) >= sweepAge:
		return "swept", true
	}
	return "late", true
}

// pollSchedule yields the waits between fast polls: from 5 ms growing by a
// quarter each time up to 250 ms.
type pollSchedule struct{ next time.Duration }

func (p *pollSchedule) wait() time.Duration {
	if p.next == 0 {
		p.next = 5 * time.Millisecond
	}
	d := p.next
	p.next = min(p.next*5/4, 250*time.Millisecond)
	return d
}

// sleep waits d or until ctx is done; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func authFailure(err error) *recvFailure {
	var te *tokenError
	if errors.As(err, &te) {
		return &recvFailure{"oauth_token_failed", err}
	}
	return &recvFailure{"receive_auth_failed", err}
}

func connectFailure(addr string, err error) *recvFailure {
	if isTimeout(err) {
		return &recvFailure{"timeout", fmt.Errorf("timed out connecting to %s", addr)}
	}
	return &recvFailure{"receive_connect_failed", fmt.Errorf("cannot connect to %s: %w", addr, unwrapOp(err))}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
