package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mailmon/mailmon/sdk"
)

//go:embed sample.toml
var sampleConfig string

// Version is the plugin's version.
const Version = "0.1.0"

// measurement is the run summary's metric name; hopMeasurement is one
// Received hop's.
const (
	measurement    = "mailmon_roundtrip"
	hopMeasurement = "mailmon_roundtrip_hop"
)

// defaultTimeout bounds a run whose context has no deadline (the agent
// always sets one).
const defaultTimeout = 60 * time.Second

// Roundtrip sends a probe message and measures how long it takes to
// appear in the mailbox, then removes it.
type Roundtrip struct {
	s *settings
}

var _ sdk.Check = (*Roundtrip)(nil)

// Info describes the check.
func (r *Roundtrip) Info() sdk.Info {
	return sdk.Info{
		Name:         "roundtrip",
		Version:      Version,
		Description:  "Sends a test message over SMTP and measures its delivery to an IMAP or POP3 mailbox, then deletes it.",
		SampleConfig: sampleConfig,
	}
}

// Configure decodes and validates the options; it does not touch the
// network.
func (r *Roundtrip) Configure(raw []byte) error {
	s, err := parseConfig(raw)
	if err != nil {
		return err
	}
	r.s = s
	return nil
}

// Run does one round trip. A server that is down is a Result; an error
// means the run could not happen.
func (r *Roundtrip) Run(ctx context.Context) (*sdk.Result, error) {
	if r.s == nil {
		return nil, errors.New("roundtrip: run before configure")
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultTimeout)
		defer cancel()
	}
	p := &probe{s: r.s, start: time.Now()}
	p.run(ctx)
	if errors.Is(ctx.Err(), context.Canceled) {
		return nil, fmt.Errorf("roundtrip %s: %w", r.s.send.address, ctx.Err())
	}
	return p.result(), nil
}

// receiver is one receive protocol's session(s).
type receiver interface {
	open(ctx context.Context) *recvFailure
	wait(ctx context.Context, tok string, accepted time.Time) (*sighting, error)
	cleanup(ctx context.Context, cur token, now time.Time) (cleanupStats, error)
	phases() phases
	polls() int64
	close()
}

// probe is one run's state.
type probe struct {
	s     *settings
	start time.Time
	tok   token

	sent     *sendResult
	sendFail *sendFailure
	recvFail *recvFailure
	seen     *sighting
	waitErr  error
	clean    cleanupStats
	cleanErr error
	ph       phases
	polls    int64
	junkNote string
}

// reserve is the time kept back from the deadline for cleanup.
func reserve(total time.Duration) time.Duration {
	return min(3*time.Second, total/5)
}

func (p *probe) run(ctx context.Context) {
	dl, _ := ctx.Deadline()
	waitUntil := dl.Add(-reserve(time.Until(dl)))
	if t := p.s.DeliveryTimeout.D(); t > 0 && p.start.Add(t).Before(waitUntil) {
		waitUntil = p.start.Add(t)
	}
	var rcv receiver
	if p.s.Receive.Protocol == protoPOP3 {
		rcv = newPOP3Receiver(p.s)
	} else {
		rcv = newIMAPReceiver(p.s)
	}
	defer rcv.close()
	// Log in first, so that the send is not wasted on a mailbox nobody can
	// read and the session is ready when the message lands.
	if f := rcv.open(ctx); f != nil {
		p.recvFail = f
		p.ph = rcv.phases()
		return
	}
	p.ph = rcv.phases()
	now := time.Now()
	p.tok = newToken(p.s.instance, now)
	p.sent, p.sendFail = send(ctx, p.s, p.tok.String(), buildMessage(p.s, p.tok, now))
	if p.sendFail == nil {
		wctx, cancel := context.WithDeadline(ctx, waitUntil)
		p.seen, p.waitErr = rcv.wait(wctx, p.tok.String(), p.sent.accepted)
		cancel()
	}
	if ctx.Err() == nil && p.waitErr == nil {
		p.clean, p.cleanErr = rcv.cleanup(ctx, p.tok, time.Now())
	}
	p.polls = rcv.polls()
}

// imapReceiver watches the mailbox and any junk mailboxes, each on its
// own session, at once.
type imapReceiver struct {
	s        *settings
	watchers []*imapWatcher
}

func newIMAPReceiver(s *settings) *imapReceiver {
	r := &imapReceiver{s: s, watchers: []*imapWatcher{newIMAPWatcher(s, s.Receive.Mailbox, false)}}
	for _, m := range s.Receive.JunkMailboxes {
		r.watchers = append(r.watchers, newIMAPWatcher(s, m, true))
	}
	return r
}

func (r *imapReceiver) open(ctx context.Context) *recvFailure {
	if f := r.watchers[0].open(ctx); f != nil {
		return f
	}
	// A junk mailbox that cannot be opened (does not exist yet) is not
	// watched; the main one decides.
	kept := r.watchers[:1]
	for _, w := range r.watchers[1:] {
		if w.open(ctx) == nil {
			kept = append(kept, w)
		} else {
			w.close()
		}
	}
	r.watchers = kept
	return nil
}

func (r *imapReceiver) wait(ctx context.Context, tok string, accepted time.Time) (*sighting, error) {
	if len(r.watchers) == 1 {
		return r.watchers[0].wait(ctx, tok, accepted)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu    sync.Mutex
		first *sighting
		ferr  error
		wg    sync.WaitGroup
	)
	for _, w := range r.watchers {
		wg.Go(func() {
			sg, err := w.wait(ctx, tok, accepted)
			mu.Lock()
			defer mu.Unlock()
			if sg != nil && (first == nil || sg.seen.Before(first.seen)) {
				first = sg
				cancel()
			}
			if err != nil && ferr == nil && ctx.Err() == nil {
				ferr = err
				cancel()
			}
		})
	}
	wg.Wait()
	if first != nil {
		return first, nil
	}
	return nil, ferr
}

func (r *imapReceiver) cleanup(ctx context.Context, cur token, now time.Time) (cleanupStats, error) {
	var st cleanupStats
	var errs []error
	for _, w := range r.watchers {
		s, err := w.cleanup(cur, now)
		st.add(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", w.mailbox, err))
		}
	}
	if r.s.Receive.CleanupMailbox != "" && ctx.Err() == nil {
		n, err := r.watchers[0].sweepFolder(cur, now)
		st.swept += n
		st.deleted += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	return st, errors.Join(errs...)
}

func (r *imapReceiver) phases() phases { return r.watchers[0].ph }

func (r *imapReceiver) polls() int64 {
	var n int64
	for _, w := range r.watchers {
		n += w.polls
	}
	return n
}

func (r *imapReceiver) close() {
	var wg sync.WaitGroup
	for _, w := range r.watchers {
		wg.Go(w.close)
	}
	wg.Wait()
}
