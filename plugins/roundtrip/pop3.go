package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// pop3Conn is a small POP3 client (RFC 1939, STLS from RFC 2595, AUTH from
// RFC 5034): just what the probe needs.
type pop3Conn struct {
	conn net.Conn
	r    *bufio.Reader
}

// pop3Error is a -ERR reply.
type pop3Error struct{ step, text string }

func (e *pop3Error) Error() string { return e.step + ": -ERR " + e.text }

func (c *pop3Conn) line() (string, error) {
	l, err := c.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimRight(l, "\r\n"), nil
}

// cmd sends line (unless empty) and reads a +OK / -ERR / + reply.
func (c *pop3Conn) cmd(step, line string) (string, error) {
	if line != "" {
		if _, err := c.conn.Write([]byte(line + "\r\n")); err != nil {
			return "", err
		}
	}
	l, err := c.line()
	if err != nil {
		return "", err
	}
	switch {
	case strings.HasPrefix(l, "+OK"):
		return strings.TrimSpace(l[3:]), nil
	case strings.HasPrefix(l, "+ ") || l == "+":
		return l, nil
	case strings.HasPrefix(l, "-ERR"):
		return "", &pop3Error{step: step, text: strings.TrimSpace(l[4:])}
	}
	return "", fmt.Errorf("%s: malformed reply %q", step, l)
}

// multi reads a dot-terminated multi-line body.
func (c *pop3Conn) multi() ([]byte, error) {
	var b bytes.Buffer
	for {
		l, err := c.r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		if l == ".\r\n" || l == ".\n" {
			return b.Bytes(), nil
		}
		b.WriteString(strings.TrimPrefix(l, "."))
		if b.Len() > 1<<20 {
			return nil, errors.New("multi-line reply longer than 1 MiB")
		}
	}
}

// pop3Receiver polls the mailbox with a new POP3 session each time (a
// session sees the mailbox as it was when it logged in).
type pop3Receiver struct {
	s     *settings
	ph    phases
	n     int64
	known map[string]string // UIDL -> probe header value ("" for other mail)
	last  *pop3Conn         // the session that saw the probe, kept for cleanup
	token string            // the OAuth2 token, fetched once per run
	run   context.Context   // the run's context: sessions live as long
}

func newPOP3Receiver(s *settings) *pop3Receiver {
	return &pop3Receiver{s: s, known: map[string]string{}}
}

// session connects and logs in; with timed it records the phases.
func (r *pop3Receiver) session(ctx context.Context, timed bool) (*pop3Conn, *recvFailure) {
	ep := &r.s.recv
	start := time.Now()
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", ep.address)
	if err != nil {
		return nil, connectFailure(ep.address, err)
	}
	conn := watch(r.run, raw)
	ph := phases{connect: time.Since(start)}
	fail := func(f *recvFailure) (*pop3Conn, *recvFailure) {
		conn.Close()
		if timed {
			r.ph = ph
		}
		return nil, f
	}
	ioFail := func(step string, err error) (*pop3Conn, *recvFailure) {
		var pe *pop3Error
		switch {
		case errors.As(err, &pe):
			return fail(&recvFailure{"receive_failed", err})
		case isTimeout(err):
			return fail(&recvFailure{"timeout", fmt.Errorf("POP3 %s: timed out", step)})
		}
		return fail(&recvFailure{"receive_failed", fmt.Errorf("POP3 %s: %w", step, unwrapOp(err))})
	}
	began := time.Now()
	if ep.tls == tlsImplicit {
		tc, err := handshake(ctx, conn, ep)
		if err != nil {
			return fail(&recvFailure{"receive_tls_failed", fmt.Errorf("TLS with %s: %w", ep.address, err)})
		}
		conn = tc
		ph.tls = time.Since(began)
	}
	c := &pop3Conn{conn: conn, r: bufio.NewReader(conn)}
	if _, err := c.cmd("greeting", ""); err != nil {
		return ioFail("greeting", err)
	}
	if ep.tls == tlsStartTLS {
		began := time.Now()
		if _, err := c.cmd("STLS", "STLS"); err != nil {
			var pe *pop3Error
			if errors.As(err, &pe) {
				return fail(&recvFailure{"receive_tls_failed", err})
			}
			return ioFail("STLS", err)
		}
		if c.r.Buffered() > 0 {
			return fail(&recvFailure{"receive_failed", errors.New("server sent data after its STLS reply, before the TLS handshake")})
		}
		tc, err := handshake(ctx, conn, ep)
		if err != nil {
			return fail(&recvFailure{"receive_tls_failed", fmt.Errorf("TLS with %s: %w", ep.address, err)})
		}
		c = &pop3Conn{conn: tc, r: bufio.NewReader(tc)}
		ph.tls = time.Since(began)
	}
	began = time.Now()
	if err := r.login(ctx, c); err != nil {
		var rf *recvFailure
		if errors.As(err, &rf) {
			return fail(rf)
		}
		var pe *pop3Error
		if errors.As(err, &pe) {
			return fail(authFailure(fmt.Errorf("POP3 login as %s: %w", ep.auth.Username, err)))
		}
		return ioFail("login", err)
	}
	ph.auth = time.Since(began)
	if timed {
		r.ph = ph
	}
	return c, nil
}

func (r *pop3Receiver) login(ctx context.Context, c *pop3Conn) error {
	a := r.s.recv.auth
	switch a.Mechanism {
	case "", mechLogin:
		if _, err := c.cmd("USER", "USER "+a.Username); err != nil {
			return err
		}
		_, err := c.cmd("PASS", "PASS "+a.Password)
		return err
	}
	var tok string
	if a.Mechanism == mechXOAuth2 || a.Mechanism == mechOAuthBearer {
		if r.token == "" {
			t, err := oauthToken(ctx, a)
			if err != nil {
				return &recvFailure{"oauth_token_failed", err}
			}
			r.token = t
		}
		tok = r.token
	}
	sc := saslClient(a.Mechanism, a, tok)
	mech, ir, err := sc.Start()
	if err != nil {
		return err
	}
	step := "AUTH " + mech
	resp, err := c.cmd(step, step+" "+base64.StdEncoding.EncodeToString(ir))
	for i := 0; err == nil && strings.HasPrefix(resp, "+") && i < 5; i++ {
		chal, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(strings.TrimPrefix(resp, "+")))
		next, nerr := sc.Next(chal)
		if nerr != nil {
			next = nil
		}
		resp, err = c.cmd(step, base64.StdEncoding.EncodeToString(next))
	}
	return err
}

func (r *pop3Receiver) open(ctx context.Context) *recvFailure {
	r.run = ctx
	c, f := r.session(ctx, true)
	if f != nil {
		return f
	}
	quit(c)
	return nil
}

func quit(c *pop3Conn) {
	_ = c.conn.SetDeadline(time.Now().Add(time.Second))
	_, _ = c.cmd("QUIT", "QUIT")
	_ = c.conn.Close()
}

// poll runs one session and reports whether tok is in the mailbox; the
// session stays open (r.last) when it is.
func (r *pop3Receiver) poll(ctx context.Context, tok string) (bool, error) {
	r.n++
	c, f := r.session(ctx, false)
	if f != nil {
		return false, f
	}
	ok, err := r.scan(c, func(v string) bool { return v == tok })
	if err != nil || !ok {
		quit(c)
		return false, err
	}
	r.last = c
	return true, nil
}

// scan lists the mailbox by UIDL, reads the probe header of messages not
// seen before (TOP n 0) and reports whether any value satisfies match.
func (r *pop3Receiver) scan(c *pop3Conn, match func(v string) bool) (bool, error) {
	list, err := r.uidl(c)
	if err != nil {
		return false, err
	}
	hit := false
	for _, e := range list {
		v, seen := r.known[e.uidl]
		if !seen {
			if _, err := c.cmd("TOP", "TOP "+e.num+" 0"); err != nil {
				return false, err
			}
			body, err := c.multi()
			if err != nil {
				return false, err
			}
			h, _ := textproto.NewReader(bufio.NewReader(bytes.NewReader(body))).ReadMIMEHeader()
			if vals := h.Values(probeHeader); len(vals) == 1 {
				v = vals[0]
			}
			r.known[e.uidl] = v
		}
		if match(v) {
			hit = true
		}
	}
	return hit, nil
}

type uidlEntry struct{ num, uidl string }

func (r *pop3Receiver) uidl(c *pop3Conn) ([]uidlEntry, error) {
	if _, err := c.cmd("UIDL", "UIDL"); err != nil {
		return nil, err
	}
	body, err := c.multi()
	if err != nil {
		return nil, err
	}
	var out []uidlEntry
	for l := range strings.Lines(string(body)) {
		f := strings.Fields(l)
		if len(f) == 2 {
			if _, err := strconv.Atoi(f[0]); err == nil {
				out = append(out, uidlEntry{f[0], f[1]})
			}
		}
	}
	return out, nil
}

func (r *pop3Receiver) wait(ctx context.Context, tok string, accepted time.Time) (*sighting, error) {
	rc := r.s.Receive
	try := func(by string) (*sighting, error) {
		ok, err := r.poll(ctx, tok)
		if err != nil {
			if ctx.Err() != nil {
				return nil, nil
			}
			return nil, err
		}
		if !ok {
			return nil, nil
		}
		return &sighting{seen: time.Now(), detectedBy: by, mailbox: defaultMailbox}, nil
	}
	window := rc.FastPollWindow.D()
	if rc.Detection == detectPoll {
		window = 0
	}
	var sched pollSchedule
	sched.next = 20 * time.Millisecond // a POP3 poll is a whole session
	by := byFastPoll
	if window == 0 {
		by = byPoll
	}
	if sg, err := try(by); sg != nil || err != nil {
		return sg, err
	}
	for time.Since(accepted) < window {
		if !sleep(ctx, sched.wait()) {
			return nil, nil
		}
		if sg, err := try(byFastPoll); sg != nil || err != nil {
			return sg, err
		}
	}
	for k := time.Duration(1); ; k++ {
		if !sleep(ctx, time.Until(accepted.Add(k*rc.PollInterval.D()))) {
			return nil, nil
		}
		if sg, err := try(byPoll); sg != nil || err != nil {
			return sg, err
		}
	}
}

// cleanup deletes this instance's probes (DELE, committed by QUIT) and
// nothing else.
func (r *pop3Receiver) cleanup(ctx context.Context, cur token, now time.Time) (cleanupStats, error) {
	var st cleanupStats
	c := r.last
	r.last = nil
	if c == nil {
		var f *recvFailure
		if c, f = r.session(ctx, false); f != nil {
			return st, f
		}
	}
	list, err := r.uidl(c)
	if err != nil {
		_ = c.conn.Close()
		return st, err
	}
	for _, e := range list {
		v, ok := r.known[e.uidl]
		if !ok {
			if _, err := r.scan(c, func(string) bool { return false }); err != nil {
				_ = c.conn.Close()
				return st, err
			}
			v = r.known[e.uidl]
		}
		kind, ours := classify(v, cur, now, r.s.Receive.SweepAge.D())
		if !ours {
			continue
		}
		if kind == "current" {
			if _, err := c.cmd("TOP", "TOP "+e.num+" 0"); err == nil {
				if body, err := c.multi(); err == nil {
					h, _ := textproto.NewReader(bufio.NewReader(bytes.NewReader(body))).ReadMIMEHeader()
					st.received, st.dateSent = h.Values("Received"), cur.sent
				}
			}
		}
		if _, err := c.cmd("DELE", "DELE "+e.num); err != nil {
			_ = c.conn.Close() // no QUIT: nothing is deleted
			return cleanupStats{}, err
		}
		st.deleted++
		switch kind {
		case "late":
			st.late++
		case "swept":
			st.swept++
		}
	}
	_ = c.conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.cmd("QUIT", "QUIT"); err != nil {
		_ = c.conn.Close()
		return cleanupStats{}, fmt.Errorf("POP3 QUIT (commits the deletions): %w", err)
	}
	_ = c.conn.Close()
	return st, nil
}

func (r *pop3Receiver) phases() phases { return r.ph }
func (r *pop3Receiver) polls() int64   { return r.n }

func (r *pop3Receiver) close() {
	if r.last != nil {
		_ = r.last.conn.Close()
	}
}
