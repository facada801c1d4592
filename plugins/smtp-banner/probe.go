package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/mailmon/mailmon/sdk"
)

const maxBannerLen = 256

// finding is one problem found during a run.
type finding struct {
	status sdk.Status
	reason string
	msg    string
}

// failure is a finding that ends the transaction.
type failure struct {
	finding
	code   int  // the reply code that caused it, if any
	intact bool // the session can still take a QUIT
}

func (f *failure) Error() string { return f.msg }

// probe is the state of one run; Run makes a new one each time.
type probe struct {
	s     *settings
	start time.Time
	c     *conn
	m     sdk.Metric

	findings []finding
	notes    []string
	lastCode int
	failed   *failure

	greeting  *reply
	firstEHLO extensions
	ehlo      extensions // the last EHLO's; empty after a HELO fallback
	tls       *tlsInfo
	authMech  string
}

func newProbe(s *settings) *probe {
	m := sdk.NewMetric(measurement)
	m.Tags["target"] = s.address
	m.Tags["tls"] = s.TLS
	return &probe{s: s, m: m}
}

func (p *probe) field(name string, v any)             { p.m.Fields[name] = v }
func (p *probe) seconds(name string, since time.Time) { p.field(name, time.Since(since).Seconds()) }
func (p *probe) note(format string, args ...any) {
	p.notes = append(p.notes, fmt.Sprintf(format, args...))
}

func (p *probe) add(status sdk.Status, reason, format string, args ...any) {
	p.findings = append(p.findings, finding{status, reason, fmt.Sprintf(format, args...)})
}

// run does the whole transaction. Problems end up in p.findings; the last
// one may be the failure that stopped the run.
func (p *probe) run(ctx context.Context) {
	p.start = time.Now()
	defer func() { p.seconds("total_seconds", p.start) }()
	err := p.transaction(ctx)
	if p.c != nil {
		defer p.c.Close()
	}
	if err == nil {
		return
	}
	var f *failure
	if !errors.As(err, &f) {
		f = &failure{finding: finding{sdk.Critical, "protocol_error", err.Error()}}
	}
	p.failed = f
	p.findings = append(p.findings, f.finding)
	if f.code != 0 {
		p.lastCode = f.code
	}
	if f.intact {
		// Be polite, but do not wait for the answer.
		_ = p.c.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = io.WriteString(p.c, "QUIT\r\n")
	}
}

func (p *probe) transaction(ctx context.Context) error {
	if err := p.dial(ctx); err != nil {
		return err
	}
	connected := time.Now()
	if p.s.TLS == tlsImplicit {
		if err := p.handshake(ctx, time.Now()); err != nil {
			return err
		}
	}
	if err := p.readGreeting(connected); err != nil {
		return err
	}
	if err := p.hello(true); err != nil {
		return err
	}
	if p.s.TLS == tlsStartTLS {
		if err := p.startTLS(ctx); err != nil {
			return err
		}
	}
	p.checkExtensions()
	if err := p.auth(); err != nil {
		return err
	}
	return p.quit()
}

// dial connects and ties the connection's deadline to ctx, so that every
// later read and write ends when the run's time is up or it is canceled.
func (p *probe) dial(ctx context.Context) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, p.s.network, p.s.address)
	if err != nil {
		if isTimeout(err) {
			return p.timeout("connect")
		}
		return &failure{finding: finding{sdk.Critical, "connect_failed", fmt.Sprintf("cannot connect to %s: %v", p.s.address, unwrapOp(err))}}
	}
	p.seconds("connect_seconds", p.start)
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	p.c = newConn(&stopConn{Conn: c, stop: stop})
	return nil
}

// stopConn releases the context watcher when the connection is closed.
type stopConn struct {
	net.Conn
	stop func() bool
}

func (c *stopConn) Close() error {
	c.stop()
	return c.Conn.Close()
}

func (p *probe) readGreeting(connected time.Time) error {
	rep, err := p.c.readReply()
	if err != nil {
		return p.ioFailure("the greeting", err)
	}
	p.lastCode = rep.Code
	p.seconds("banner_seconds", connected)
	p.greeting = rep
	p.field("banner", truncate(rep.Text(), maxBannerLen))
	if err := p.expect("greeting_rejected", "greeting", rep, 220); err != nil {
		return err
	}
	if re := p.s.banner; re != nil && !re.MatchString(rep.Text()) {
		p.add(sdk.Critical, "banner_mismatch", "greeting %q does not match banner_regexp %q", truncate(rep.Text(), 120), re.String())
	}
	return nil
}

// hello sends EHLO, falling back to HELO on a 5xx as real clients do.
// The first call (before any STARTTLS) is the one timed.
func (p *probe) hello(first bool) error {
	began := time.Now()
	rep, err := p.c.cmd("EHLO " + p.s.HeloName)
	if err != nil {
		return p.ioFailure("EHLO", err)
	}
	p.lastCode = rep.Code
	switch {
	case rep.Code == 250:
		p.ehlo = parseEHLO(rep)
	case rep.Code >= 500:
		if err := p.helo(rep); err != nil {
			return err
		}
		p.ehlo = extensions{}
	default:
		return p.expect("ehlo_rejected", "EHLO", rep, 250)
	}
	if first {
		p.seconds("ehlo_seconds", began)
		p.firstEHLO = p.ehlo
		_, ok := p.ehlo["STARTTLS"]
		p.field("starttls_offered", ok)
	}
	p.field("extensions", strings.Join(p.ehlo.Keywords(), " "))
	p.field("extension_count", int64(len(p.ehlo)))
	_, ok := p.ehlo["AUTH"]
	p.field("auth_offered", ok)
	return nil
}

// helo is the fallback after EHLO got ehloRep (a 5xx). If HELO fails too,
// the EHLO rejection is what we report.
func (p *probe) helo(ehloRep *reply) error {
	rejected := &failure{
		finding: finding{sdk.Critical, "ehlo_rejected", "EHLO rejected: " + ehloRep.String()},
		code:    ehloRep.Code,
		intact:  true,
	}
	rep, err := p.c.cmd("HELO " + p.s.HeloName)
	if err != nil {
		rejected.intact = false
		if isClosed(err) {
			rejected.msg += ", and the server closed the connection"
		} else {
			rejected.msg += fmt.Sprintf(", and HELO got no reply: %v", unwrapOp(err))
		}
		return rejected
	}
	p.lastCode = rep.Code
	if rep.Code != 250 {
		rejected.msg += ", and HELO too: " + rep.String()
		return rejected
	}
	p.note("EHLO rejected (%s), HELO accepted", ehloRep)
	return nil
}

// startTLS upgrades the session with STARTTLS and says EHLO again.
func (p *probe) startTLS(ctx context.Context) error {
	if _, ok := p.ehlo["STARTTLS"]; !ok {
		if p.s.starttlsRequired {
			p.add(sdk.Critical, "starttls_unavailable", "server does not offer STARTTLS")
		} else {
			p.note("server does not offer STARTTLS; continued without TLS")
		}
		return nil
	}
	began := time.Now()
	rep, err := p.c.cmd("STARTTLS")
	if err != nil {
		return p.ioFailure("STARTTLS", err)
	}
	p.lastCode = rep.Code
	if err := p.expect("starttls_rejected", "STARTTLS", rep, 220); err != nil {
		return err
	}
	if p.c.r.Buffered() > 0 {
		// Plaintext sent after the 220 would be read as if it came over
		// TLS (the CVE-2011-0411 kind of injection).
		return &failure{finding: finding{sdk.Critical, "protocol_error", "server sent data after its STARTTLS reply, before the TLS handshake"}}
	}
	if err := p.handshake(ctx, began); err != nil {
		return err
	}
	return p.hello(false)
}

// handshake runs the TLS handshake on the current connection, records the
// session and certificate, and judges the certificate.
func (p *probe) handshake(ctx context.Context, began time.Time) error {
	tc, err := clientHandshake(ctx, p.c.Conn, p.s)
	if err != nil {
		if isTimeout(err) {
			return p.timeout("the TLS handshake")
		}
		return &failure{finding: finding{sdk.Critical, "tls_failed", fmt.Sprintf("TLS handshake with %s failed: %v", p.s.address, unwrapOp(err))}}
	}
	p.seconds("starttls_seconds", began)
	p.c = newConn(tc)
	p.tls = inspect(tc.ConnectionState(), p.s.roots, p.s.ServerName, time.Now())
	p.field("tls_version", p.tls.Version)
	p.field("tls_cipher", p.tls.Cipher)
	p.field("cert_chain_valid", p.tls.ChainErr == nil)
	if leaf := p.tls.Leaf; leaf != nil {
		p.field("cert_expiry_days", p.tls.ExpiryDays)
		p.field("cert_not_after", leaf.NotAfter.Unix())
		p.field("cert_subject", subject(leaf))
	}
	p.judgeCertificate()
	return nil
}

// judgeCertificate adds findings for expiry and trust. Expiry comes first:
// an expired certificate also fails verification, and "expired" is the
// more useful diagnosis.
func (p *probe) judgeCertificate() {
	t := p.tls
	if t.Leaf != nil {
		notAfter := t.Leaf.NotAfter.UTC().Format(time.DateOnly)
		switch days := t.ExpiryDays; {
		case days < 0:
			p.add(sdk.Critical, "cert_expired", "certificate %q expired %.1f days ago (%s)", subject(t.Leaf), -days, notAfter)
		case days < float64(p.s.certCritDays):
			p.add(sdk.Critical, "cert_expiring", "certificate %q expires in %.1f days (%s)", subject(t.Leaf), days, notAfter)
		case days < float64(p.s.certWarnDays):
			p.add(sdk.Warning, "cert_expiring", "certificate %q expires in %.1f days (%s)", subject(t.Leaf), days, notAfter)
		}
	}
	if t.TrustErr != nil && !p.s.TLSInsecureSkipVerify {
		p.add(sdk.Critical, "cert_invalid", "certificate is not valid for %s: %v", p.s.ServerName, t.TrustErr)
	}
}

// checkExtensions compares the offered EHLO keywords with
// expect_extensions. STARTTLS is only ever offered before TLS.
func (p *probe) checkExtensions() {
	var missing []string
	for _, kw := range p.s.expect {
		offered := p.ehlo
		if kw == "STARTTLS" {
			offered = p.firstEHLO
		}
		if _, ok := offered[kw]; !ok {
			missing = append(missing, kw)
		}
	}
	if len(missing) > 0 {
		p.add(sdk.Warning, "extension_missing", "server does not offer %s", strings.Join(missing, ", "))
	}
}

// auth tries the configured credentials, unless doing so would send them
// in clear or to an untrusted server.
func (p *probe) auth() error {
	if p.s.Username == "" {
		return nil
	}
	if p.tls == nil && !p.s.AllowPlaintextAuth {
		p.add(sdk.Warning, "auth_skipped", "AUTH not tried: the connection is not encrypted and allow_plaintext_auth is false")
		return nil
	}
	if p.tls != nil && p.tls.ChainErr != nil && !p.s.TLSInsecureSkipVerify {
		p.note("AUTH not tried: the certificate is not trusted")
		return nil
	}
	mech, err := p.chooseMechanism()
	if err != nil {
		return err
	}
	began := time.Now()
	var rep *reply
	if mech == authMechanismPlain {
		rep, err = p.authPlain()
	} else {
		rep, err = p.authLogin()
	}
	if err != nil {
		return p.ioFailure("AUTH "+mech, err)
	}
	p.lastCode = rep.Code
	p.seconds("auth_seconds", began)
	p.authMech = mech
	if rep.Failed() {
		return &failure{finding: finding{sdk.Critical, "auth_failed", fmt.Sprintf("AUTH %s failed: %s", mech, rep)}, code: rep.Code, intact: true}
	}
	return p.expect("auth_failed", "AUTH "+mech, rep, 235)
}

// chooseMechanism picks auth_mechanism, or PLAIN then LOGIN, among the
// mechanisms the server offers.
func (p *probe) chooseMechanism() (string, error) {
	offered := p.ehlo.AuthMechanisms()
	want := []string{authMechanismPlain, authMechanismLogin}
	if p.s.AuthMechanism != "" {
		want = []string{p.s.AuthMechanism}
	}
	for _, m := range want {
		if slices.Contains(offered, m) {
			return m, nil
		}
	}
	msg := "server does not offer AUTH"
	if len(offered) > 0 {
		msg = fmt.Sprintf("server offers AUTH %s, not %s", strings.Join(offered, " "), strings.Join(want, " or "))
	}
	return "", &failure{finding: finding{sdk.Critical, "auth_unavailable", msg}, intact: true}
}

// authPlain sends the RFC 4616 response as the initial response.
func (p *probe) authPlain() (*reply, error) {
	resp := "\x00" + p.s.Username + "\x00" + p.s.Password
	return p.c.cmd("AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte(resp)))
}

// authLogin answers the server's two 334 prompts (username, password).
func (p *probe) authLogin() (*reply, error) {
	rep, err := p.c.cmd("AUTH LOGIN")
	for _, secret := range []string{p.s.Username, p.s.Password} {
		if err != nil || rep.Code != 334 {
			return rep, err
		}
		rep, err = p.c.cmd(base64.StdEncoding.EncodeToString([]byte(secret)))
	}
	return rep, err
}

// quit ends the session. A server that hangs up instead of answering 221
// is common and harmless: it is only noted.
func (p *probe) quit() error {
	rep, err := p.c.cmd("QUIT")
	switch {
	case err != nil && isClosed(err):
		p.note("server closed the connection without answering QUIT")
		return nil
	case err != nil:
		return p.ioFailure("QUIT", err)
	}
	p.lastCode = rep.Code
	if rep.Failed() {
		return p.expect("quit_rejected", "QUIT", rep, 221)
	}
	if rep.Code != 221 {
		p.note("QUIT answered %s instead of 221", rep)
	}
	return nil
}

// expect turns a reply other than want into a failure: a 4xx/5xx is a
// rejection named by reason, anything else a protocol error.
func (p *probe) expect(reason, step string, rep *reply, want int) error {
	switch {
	case rep.Code == want:
		return nil
	case rep.Failed():
		return &failure{finding: finding{sdk.Critical, reason, fmt.Sprintf("%s rejected: %s", step, rep)}, code: rep.Code, intact: true}
	}
	return &failure{finding: finding{sdk.Critical, "protocol_error", fmt.Sprintf("unexpected reply to %s: %s (want %d)", step, rep, want)}, code: rep.Code, intact: true}
}

// ioFailure names what went wrong while waiting for step.
func (p *probe) ioFailure(step string, err error) error {
	switch {
	case isTimeout(err):
		return p.timeout(step)
	case errors.Is(err, errProtocol):
		return &failure{finding: finding{sdk.Critical, "protocol_error", fmt.Sprintf("%s: %v", step, err)}}
	case isClosed(err):
		return &failure{finding: finding{sdk.Critical, "connection_closed", fmt.Sprintf("server closed the connection during %s", step)}}
	}
	return &failure{finding: finding{sdk.Critical, "connection_closed", fmt.Sprintf("connection lost during %s: %v", step, unwrapOp(err))}}
}

func (p *probe) timeout(step string) error {
	return &failure{finding: finding{sdk.Critical, "timeout", fmt.Sprintf("timed out during %s after %.3fs", step, time.Since(p.start).Seconds())}}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, context.Canceled) || (errors.As(err, &ne) && ne.Timeout())
}

func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// unwrapOp drops net.OpError's "read tcp 127.0.0.1:1234->..." prefix,
// which repeats what the message already says.
func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		var sc *os.SyscallError
		if errors.As(op.Err, &sc) {
			return sc.Err
		}
		return op.Err
	}
	return err
}
