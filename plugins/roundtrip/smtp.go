package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// reply is one SMTP reply, possibly multi-line.
type reply struct {
	code  int
	lines []string // text after the code and separator
}

func (r *reply) String() string {
	return strconv.Itoa(r.code) + " " + strings.Join(r.lines, " / ")
}

// smtpConn is a minimal SMTP client, so that every step is timed and every
// reply code is visible (go-smtp hides the greeting and the first EHLO).
type smtpConn struct {
	net.Conn
	r *bufio.Reader
}

func newSMTPConn(c net.Conn) *smtpConn { return &smtpConn{Conn: c, r: bufio.NewReader(c)} }

func (c *smtpConn) readReply() (*reply, error) {
	rep := &reply{}
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		line = strings.TrimRight(line, "\r\n")
		if len(line) < 3 {
			return nil, fmt.Errorf("malformed reply %q", line)
		}
		code, err := strconv.Atoi(line[:3])
		if err != nil || code < 200 || code > 599 {
			return nil, fmt.Errorf("malformed reply %q", line)
		}
		if rep.code != 0 && rep.code != code {
			return nil, fmt.Errorf("reply code changed from %d to %d inside one reply", rep.code, code)
		}
		rep.code = code
		sep, text := byte(' '), ""
		if len(line) > 3 {
			sep, text = line[3], line[4:]
		}
		rep.lines = append(rep.lines, text)
		if sep != '-' {
			return rep, nil
		}
		if len(rep.lines) > 100 {
			return nil, errors.New("reply longer than 100 lines")
		}
	}
}

func (c *smtpConn) cmd(line string) (*reply, error) {
	if _, err := c.Write([]byte(line + "\r\n")); err != nil {
		return nil, err
	}
	return c.readReply()
}

// smtpError is a 4xx/5xx reply (or an unexpected code) to a step.
type smtpError struct {
	step string
	rep  *reply
}

func (e *smtpError) Error() string { return e.step + ": " + e.rep.String() }

func expect(step string, rep *reply, want int) error {
	if rep.code != want {
		return &smtpError{step: step, rep: rep}
	}
	return nil
}

// sendResult is what the send side measured.
type sendResult struct {
	connect, tls, ehlo, auth, data, total time.Duration
	accepted                              time.Time // the 250 after the final dot
	lastCode                              int
	queueID                               string
	tlsVersion                            string
}

// sendFailure says which step of the send failed and how.
type sendFailure struct {
	reason string // send_connect_failed, send_tls_failed, ...
	code   int
	err    error
}

func (f *sendFailure) Error() string { return f.err.Error() }

// send submits msg and returns the timings. ctx bounds every step.
func send(ctx context.Context, s *settings, token string, msg []byte) (*sendResult, *sendFailure) {
	ep := &s.send
	res := &sendResult{}
	start := time.Now()
	defer func() { res.total = time.Since(start) }()
	fail := func(reason string, err error) *sendFailure {
		f := &sendFailure{reason: reason, err: err}
		var se *smtpError
		if errors.As(err, &se) {
			f.code = se.rep.code
			res.lastCode = se.rep.code
		}
		if isTimeout(err) || ctx.Err() != nil {
			f.reason = "timeout"
		}
		return f
	}

	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", ep.address)
	if err != nil {
		return res, fail("send_connect_failed", fmt.Errorf("cannot connect to %s: %w", ep.address, unwrapOp(err)))
	}
	res.connect = time.Since(start)
	conn := watch(ctx, raw)
	defer conn.Close()
	if ep.tls == tlsImplicit {
		began := time.Now()
		tc, err := handshake(ctx, conn, ep)
		if err != nil {
			return res, fail("send_tls_failed", fmt.Errorf("TLS with %s: %w", ep.address, err))
		}
		conn = tc
		res.tls = time.Since(began)
		res.tlsVersion = tls.VersionName(tc.ConnectionState().Version)
	}
	c := newSMTPConn(conn)
	began := time.Now()
	rep, err := c.readReply()
	if err != nil {
		return res, fail("send_failed", fmt.Errorf("greeting from %s: %w", ep.address, unwrapOp(err)))
	}
	res.lastCode = rep.code
	if err := expect("greeting", rep, 220); err != nil {
		return res, fail("send_rejected", err)
	}
	ext, err := ehlo(c, s.Send.HeloName, res)
	if err != nil {
		return res, fail("send_rejected", err)
	}
	res.ehlo = time.Since(began)
	if ep.tls == tlsStartTLS {
		if _, ok := ext["STARTTLS"]; !ok {
			return res, fail("send_tls_failed", fmt.Errorf("%s does not offer STARTTLS", ep.address))
		}
		began := time.Now()
		rep, err := c.cmd("STARTTLS")
		if err != nil {
			return res, fail("send_failed", fmt.Errorf("STARTTLS: %w", unwrapOp(err)))
		}
		res.lastCode = rep.code
		if err := expect("STARTTLS", rep, 220); err != nil {
			return res, fail("send_tls_failed", err)
		}
		if c.r.Buffered() > 0 {
			return res, fail("send_failed", errors.New("server sent data after its STARTTLS reply, before the TLS handshake"))
		}
		tc, err := handshake(ctx, conn, ep)
		if err != nil {
			return res, fail("send_tls_failed", fmt.Errorf("TLS with %s: %w", ep.address, err))
		}
		res.tls = time.Since(began)
		res.tlsVersion = tls.VersionName(tc.ConnectionState().Version)
		c = newSMTPConn(tc)
		if ext, err = ehlo(c, s.Send.HeloName, res); err != nil {
			return res, fail("send_rejected", err)
		}
	}
	if ep.auth.Username != "" {
		began := time.Now()
		if err := smtpAuth(ctx, c, ep, ext, res); err != nil {
			reason := "send_auth_failed"
			var tf *tokenError
			if errors.As(err, &tf) {
				reason = "oauth_token_failed"
			}
			return res, fail(reason, err)
		}
		res.auth = time.Since(began)
	}
	began = time.Now()
	steps := []struct{ step, line string }{
		{"MAIL FROM", "MAIL FROM:<" + s.MailFrom + ">"},
		{"RCPT TO", "RCPT TO:<" + s.RcptTo + ">"},
		{"DATA", "DATA"},
	}
	for _, st := range steps {
		rep, err := c.cmd(st.line)
		if err != nil {
			return res, fail("send_failed", fmt.Errorf("%s: %w", st.step, unwrapOp(err)))
		}
		res.lastCode = rep.code
		want := 250
		if st.step == "DATA" {
			want = 354
		}
		if err := expect(st.step, rep, want); err != nil {
			return res, fail("send_rejected", err)
		}
	}
	if _, err := c.Write(dotStuff(msg)); err != nil {
		return res, fail("send_failed", fmt.Errorf("message data: %w", unwrapOp(err)))
	}
	rep, err = c.readReply()
	if err != nil {
		return res, fail("send_failed", fmt.Errorf("reply to the message data: %w", unwrapOp(err)))
	}
	res.accepted = time.Now()
	res.lastCode = rep.code
	if err := expect("end of data", rep, 250); err != nil {
		return res, fail("send_rejected", err)
	}
	res.data = res.accepted.Sub(began)
	if f := strings.Fields(strings.Join(rep.lines, " ")); len(f) > 0 {
		res.queueID = f[len(f)-1]
	}
	// Be polite, but do not wait long for QUIT's reply: the message is in.
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if rep, err := c.cmd("QUIT"); err == nil {
		res.lastCode = rep.code
	}
	return res, nil
}

// ehlo says EHLO (HELO after a 5xx) and returns the extensions.
func ehlo(c *smtpConn, name string, res *sendResult) (map[string]string, error) {
	rep, err := c.cmd("EHLO " + name)
	if err != nil {
		return nil, err
	}
	res.lastCode = rep.code
	if rep.code >= 500 {
		rep, err = c.cmd("HELO " + name)
		if err != nil {
			return nil, err
		}
		res.lastCode = rep.code
		return map[string]string{}, expect("HELO", rep, 250)
	}
	if err := expect("EHLO", rep, 250); err != nil {
		return nil, err
	}
	ext := map[string]string{}
	for _, l := range rep.lines[1:] {
		k, v, _ := strings.Cut(l, " ")
		ext[strings.ToUpper(k)] = v
		if after, ok := strings.CutPrefix(strings.ToUpper(k), "AUTH="); ok { // old-style AUTH=PLAIN
			ext["AUTH"] += " " + after
		}
	}
	return ext, nil
}

// tokenError is a failure to get the OAuth2 token (not the server's fault).
type tokenError struct{ err error }

func (e *tokenError) Error() string { return e.err.Error() }
func (e *tokenError) Unwrap() error { return e.err }

// smtpAuth authenticates with the configured or best offered mechanism.
func smtpAuth(ctx context.Context, c *smtpConn, ep *endpoint, ext map[string]string, res *sendResult) error {
	a := ep.auth
	offered := strings.Fields(strings.ToUpper(ext["AUTH"]))
	mech := a.Mechanism
	if mech == "" {
		mech = mechLogin
		if slices.Contains(offered, mechPlain) {
			mech = mechPlain
		}
	}
	if !slices.Contains(offered, mech) {
		return fmt.Errorf("server does not offer AUTH %s (offers %q)", mech, strings.Join(offered, " "))
	}
	if c.Conn != nil {
		if _, isTLS := c.Conn.(*tls.Conn); !isTLS && !ep.plainAuth {
			return errors.New("not sending credentials over an unencrypted connection (allow_plaintext_auth is false)")
		}
	}
	var token string
	if mech == mechXOAuth2 || mech == mechOAuthBearer {
		t, err := oauthToken(ctx, a)
		if err != nil {
			return &tokenError{err}
		}
		token = t
	}
	sc := saslClient(mech, a, token)
	_, ir, err := sc.Start()
	if err != nil {
		return err
	}
	line := "AUTH " + mech
	if ir != nil {
		enc := base64.StdEncoding.EncodeToString(ir)
		if enc == "" {
			enc = "="
		}
		line += " " + enc
	}
	rep, err := c.cmd(line)
	for i := 0; err == nil && rep.code == 334 && i < 5; i++ {
		res.lastCode = rep.code
		chal, derr := base64.StdEncoding.DecodeString(strings.Join(rep.lines, ""))
		if derr != nil {
			rep, err = c.cmd("*")
			break
		}
		resp, nerr := sc.Next(chal)
		if nerr != nil {
			// XOAUTH2 wants an empty response to its error challenge
			// before the final reply; other mechanisms are aborted.
			abort := "*"
			if mech == mechXOAuth2 {
				abort = ""
			}
			if rep, err = c.cmd(abort); err == nil && rep.code != 235 {
				return fmt.Errorf("%w: %w", &smtpError{step: "AUTH " + mech, rep: rep}, nerr)
			}
			break
		}
		rep, err = c.cmd(base64.StdEncoding.EncodeToString(resp))
	}
	if err != nil {
		return fmt.Errorf("AUTH %s: %w", mech, unwrapOp(err))
	}
	res.lastCode = rep.code
	return expect("AUTH "+mech, rep, 235)
}

// dotStuff converts msg (CRLF lines) to DATA form with the final dot.
func dotStuff(msg []byte) []byte {
	var b bytes.Buffer
	for line := range bytes.Lines(msg) {
		if bytes.HasPrefix(line, []byte(".")) {
			b.WriteByte('.')
		}
		b.Write(line)
	}
	if !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	b.WriteString(".\r\n")
	return b.Bytes()
}

// watch ties conn's deadline to ctx: reads and writes end when the run's
// time is up or it is canceled.
func watch(ctx context.Context, c net.Conn) net.Conn {
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	return &stopConn{Conn: c, stop: stop}
}

type stopConn struct {
	net.Conn
	stop func() bool
}

func (c *stopConn) Close() error {
	c.stop()
	return c.Conn.Close()
}

// handshake runs a verifying TLS client handshake on conn.
func handshake(ctx context.Context, conn net.Conn, ep *endpoint) (*tls.Conn, error) {
	tc := tls.Client(conn, &tls.Config{
		ServerName:         ep.serverName,
		RootCAs:            ep.roots,
		InsecureSkipVerify: ep.insecure, //nolint:gosec // the user's explicit choice
		MinVersion:         tls.VersionTLS12,
	})
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, unwrapOp(err)
	}
	return tc, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// unwrapOp drops the *net.OpError noise ("read tcp 127.0.0.1:1->...").
func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}
