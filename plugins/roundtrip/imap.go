package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// idleRecheck is how often a run in IDLE searches anyway, in case the
// server's notification got lost.
const idleRecheck = 15 * time.Second

// imapWatcher is one IMAP session on one mailbox.
type imapWatcher struct {
	s       *settings
	mailbox string
	junk    bool
	c       *imapclient.Client
	exists  chan struct{}
	ph      phases
	polls   int64
}

func newIMAPWatcher(s *settings, mailbox string, junk bool) *imapWatcher {
	return &imapWatcher{s: s, mailbox: mailbox, junk: junk, exists: make(chan struct{}, 1)}
}

// open connects, authenticates and selects the mailbox. The connection
// closes when ctx ends.
func (w *imapWatcher) open(ctx context.Context) *recvFailure {
	f := w.dialLogin(ctx)
	if f != nil && ctx.Err() != nil && f.reason != "timeout" {
		// The deadline closed the connection under a command.
		return &recvFailure{"timeout", fmt.Errorf("timed out (%w)", f.err)}
	}
	return f
}

func (w *imapWatcher) dialLogin(ctx context.Context) *recvFailure {
	ep := &w.s.recv
	start := time.Now()
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", ep.address)
	if err != nil {
		return connectFailure(ep.address, err)
	}
	w.ph.connect = time.Since(start)
	context.AfterFunc(ctx, func() { _ = raw.Close() })
	var conn net.Conn = raw
	opts := &imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(m *imapclient.UnilateralDataMailbox) {
				if m.NumMessages != nil {
					select {
					case w.exists <- struct{}{}:
					default:
					}
				}
			},
		},
		TLSConfig: &tls.Config{ServerName: ep.serverName, RootCAs: ep.roots, InsecureSkipVerify: ep.insecure, MinVersion: tls.VersionTLS12}, //nolint:gosec // the user's choice
	}
	began := time.Now()
	switch ep.tls {
	case tlsImplicit:
		tc, err := handshake(ctx, raw, ep)
		if err != nil {
			return &recvFailure{"receive_tls_failed", fmt.Errorf("TLS with %s: %w", ep.address, err)}
		}
		w.ph.tls = time.Since(began)
		conn = tc
		w.c = imapclient.New(conn, opts)
	case tlsStartTLS:
		c, err := imapclient.NewStartTLS(conn, opts)
		if err != nil {
			return &recvFailure{"receive_tls_failed", fmt.Errorf("STARTTLS with %s: %w", ep.address, unwrapOp(err))}
		}
		w.ph.tls = time.Since(began)
		w.c = c
	default:
		w.c = imapclient.New(conn, opts)
	}
	if err := w.c.WaitGreeting(); err != nil {
		return w.ioFailure("greeting", err)
	}
	began = time.Now()
	if err := w.login(ctx); err != nil {
		var rf *recvFailure
		if errors.As(err, &rf) {
			return rf
		}
		return authFailure(fmt.Errorf("IMAP login as %s: %w", ep.auth.Username, err))
	}
	w.ph.auth = time.Since(began)
	began = time.Now()
	if _, err := w.c.Select(w.mailbox, nil).Wait(); err != nil {
		return w.ioFailure("SELECT "+w.mailbox, err)
	}
	w.ph.sel = time.Since(began)
	return nil
}

func (w *imapWatcher) ioFailure(step string, err error) *recvFailure {
	if isTimeout(err) {
		return &recvFailure{"timeout", fmt.Errorf("IMAP %s: timed out", step)}
	}
	return &recvFailure{"receive_failed", fmt.Errorf("IMAP %s: %w", step, unwrapOp(err))}
}

func (w *imapWatcher) login(ctx context.Context) error {
	a := w.s.recv.auth
	mech := a.Mechanism
	caps := w.c.Caps()
	if mech == "" {
		mech = mechLogin
		if caps.Has(imap.AuthCap(mechPlain)) {
			mech = mechPlain
		}
	}
	if mech == mechLogin {
		return w.c.Login(a.Username, a.Password).Wait()
	}
	if !caps.Has(imap.AuthCap(mech)) {
		return fmt.Errorf("server does not offer AUTH=%s", mech)
	}
	var tok string
	if mech == mechXOAuth2 || mech == mechOAuthBearer {
		t, err := oauthToken(ctx, a)
		if err != nil {
			return &recvFailure{"oauth_token_failed", err}
		}
		tok = t
	}
	return w.c.Authenticate(saslClient(mech, a, tok))
}

// search runs NOOP, then UID SEARCH HEADER X-Mailmon-Probe value. Dovecot
// looks for new mail at the end of a command, and runs pipelined commands
// before that, so the SEARCH must wait for the NOOP's reply to see a
// message that has just arrived.
func (w *imapWatcher) search(value string) ([]imap.UID, error) {
	w.polls++
	if err := w.c.Noop().Wait(); err != nil {
		return nil, err
	}
	data, err := w.c.UIDSearch(&imap.SearchCriteria{
		Header: []imap.SearchCriteriaHeaderField{{Key: probeHeader, Value: value}},
	}, nil).Wait()
	if err != nil {
		return nil, err
	}
	return data.AllUIDs(), nil
}

// wait looks for tok until ctx ends, by the configured detection.
func (w *imapWatcher) wait(ctx context.Context, tok string, accepted time.Time) (*sighting, error) {
	r := w.s.Receive
	// Notifications from before the send (SELECT's EXISTS) say nothing.
	select {
	case <-w.exists:
	default:
	}
	found := func(by string) *sighting {
		return &sighting{seen: time.Now(), detectedBy: by, mailbox: w.mailbox, junk: w.junk}
	}
	check := func(by string) (*sighting, error) {
		uids, err := w.search(tok)
		if err != nil || len(uids) == 0 {
			return nil, err
		}
		return found(by), nil
	}
	idle := r.Detection != detectPoll && w.c.Caps().Has(imap.CapIdle)
	if r.Detection == detectAuto {
		// The fast window right after the send.
		var sched pollSchedule
		for first := true; first || time.Since(accepted) < r.FastPollWindow.D(); first = false {
			if !first && !sleep(ctx, sched.wait()) {
				return nil, nil
			}
			if sg, err := check(byFastPoll); sg != nil || err != nil {
				return sg, err
			}
		}
	}
	if !idle {
		// Polling every poll_interval, counted from the send.
		for k := time.Duration(1); ; k++ {
			if !sleep(ctx, time.Until(accepted.Add(k*r.PollInterval.D()))) {
				return nil, nil
			}
			if sg, err := check(byPoll); sg != nil || err != nil {
				return sg, err
			}
		}
	}
	// IDLE for the long tail, searching on each notification.
	for {
		if sg, err := w.idleOnce(ctx, tok); sg != nil || err != nil || ctx.Err() != nil {
			return sg, err
		}
	}
}

// idleOnce idles until a notification, the recheck interval or the end of
// ctx, then searches once (not after ctx ended).
func (w *imapWatcher) idleOnce(ctx context.Context, tok string) (*sighting, error) {
	cmd, err := w.c.Idle()
	if err != nil {
		return nil, err
	}
	by := byIdle
	t := time.NewTimer(idleRecheck)
	defer t.Stop()
	select {
	case <-w.exists:
	case <-t.C:
		by = byPoll
	case <-ctx.Done():
	}
	seen := time.Now()
	if err := cmd.Close(); err != nil {
		return nil, err
	}
	if err := cmd.Wait(); err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, nil
	}
	uids, err := w.search(tok)
	if err != nil || len(uids) == 0 {
		return nil, err
	}
	// The notification is the moment the message was seen; the search
	// only confirms whose it was.
	if by == byPoll {
		seen = time.Now()
	}
	return &sighting{seen: seen, detectedBy: by, mailbox: w.mailbox, junk: w.junk}, nil
}

// cleanup removes (or moves) this instance's probes from the selected
// mailbox and nothing else: candidates found by a header search are
// fetched and kept unless their one X-Mailmon-Probe header is exactly a
// token of this instance.
func (w *imapWatcher) cleanup(cur token, now time.Time) (cleanupStats, error) {
	var st cleanupStats
	uids, err := w.search(cur.instance + ".")
	if err != nil || len(uids) == 0 {
		return st, err
	}
	section := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{probeHeader, "Received", "Date"}, Peek: true}
	msgs, err := w.c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil {
		return st, fmt.Errorf("IMAP FETCH: %w", err)
	}
	var mine imap.UIDSet
	for _, m := range msgs {
		h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(m.FindBodySection(section)))).ReadMIMEHeader()
		if err != nil && len(h) == 0 {
			continue
		}
		vals := h.Values(probeHeader)
		if len(vals) != 1 {
			continue
		}
		kind, ours := classify(vals[0], cur, now, w.s.Receive.SweepAge.D())
		if !ours {
			continue
		}
		switch kind {
		case "current":
			st.received = h.Values("Received")
			st.dateSent = cur.sent
		case "late":
			st.late++
		case "swept":
			st.swept++
		}
		mine.AddNum(m.UID)
	}
	if len(mine) == 0 {
		return st, nil
	}
	n, err := w.remove(mine, w.s.Receive.CleanupMailbox)
	st.deleted = n
	return st, err
}

// remove moves uids to dest, or deletes them when dest is "". Only those
// UIDs are expunged (UID EXPUNGE), never other \Deleted messages.
func (w *imapWatcher) remove(uids imap.UIDSet, dest string) (int64, error) {
	nums, _ := uids.Nums()
	n := int64(len(nums))
	if dest != "" {
		if _, err := w.c.Move(uids, dest).Wait(); err != nil {
			return 0, fmt.Errorf("IMAP MOVE to %s: %w", dest, err)
		}
		return n, nil
	}
	if !w.c.Caps().Has(imap.CapUIDPlus) {
		return 0, errors.New("server lacks UIDPLUS: cannot expunge only the probes, left them in place")
	}
	store := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}
	if err := w.c.Store(uids, store, nil).Close(); err != nil {
		return 0, fmt.Errorf("IMAP STORE \\Deleted: %w", err)
	}
	if err := w.c.UIDExpunge(uids).Close(); err != nil {
		return 0, fmt.Errorf("IMAP UID EXPUNGE: %w", err)
	}
	return n, nil
}

// sweepFolder deletes this instance's probes older than sweep_age from
// the cleanup mailbox (where cleanup moved them), except this run's.
func (w *imapWatcher) sweepFolder(cur token, now time.Time) (int64, error) {
	if _, err := w.c.Select(w.s.Receive.CleanupMailbox, nil).Wait(); err != nil {
		return 0, fmt.Errorf("IMAP SELECT %s: %w", w.s.Receive.CleanupMailbox, err)
	}
	uids, err := w.search(cur.instance + ".")
	if err != nil || len(uids) == 0 {
		return 0, err
	}
	section := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{probeHeader}, Peek: true}
	msgs, err := w.c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil {
		return 0, fmt.Errorf("IMAP FETCH: %w", err)
	}
	var old imap.UIDSet
	for _, m := range msgs {
		h, _ := textproto.NewReader(bufio.NewReader(bytes.NewReader(m.FindBodySection(section)))).ReadMIMEHeader()
		vals := h.Values(probeHeader)
		if len(vals) != 1 {
			continue
		}
		t, ok := parseToken(vals[0])
		if ok && t.instance == cur.instance && t.random != cur.random && now.Sub(t.sent) >= w.s.Receive.SweepAge.D() {
			old.AddNum(m.UID)
		}
	}
	if len(old) == 0 {
		return 0, nil
	}
	return w.remove(old, "")
}

func (w *imapWatcher) close() {
	if w.c == nil {
		return
	}
	done := make(chan struct{})
	go func() {
		_ = w.c.Logout().Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(time.Second):
	}
	_ = w.c.Close()
}
