package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// probeHeader carries the probe token: "<instance-id>.<send unix ms>.<random>".
const probeHeader = "X-Mailmon-Probe"

var (
	instanceIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	tokenRE      = regexp.MustCompile(`^([A-Za-z0-9_-]{1,64})\.([0-9]{1,16})\.([0-9a-f]{16})$`)
)

// defaultInstanceID derives a stable id from what makes an instance: the
// envelope, the mailbox it reads and the host it runs on.
func defaultInstanceID(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return "rt" + hex.EncodeToString(sum[:6])
}

// token is one probe message's identity.
type token struct {
	instance string
	sent     time.Time // millisecond precision
	random   string
}

func newToken(instance string, now time.Time) token {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return token{instance: instance, sent: time.UnixMilli(now.UnixMilli()), random: hex.EncodeToString(b[:])}
}

func (t token) String() string {
	return fmt.Sprintf("%s.%d.%s", t.instance, t.sent.UnixMilli(), t.random)
}

// parseToken reads a header value; ok is false for anything that is not
// exactly a token.
func parseToken(v string) (token, bool) {
	m := tokenRE.FindStringSubmatch(strings.TrimSpace(v))
	if m == nil {
		return token{}, false
	}
	ms, err := strconv.ParseInt(m[2], 10, 64)
	if err != nil {
		return token{}, false
	}
	return token{instance: m[1], sent: time.UnixMilli(ms), random: m[3]}, true
}

// buildMessage returns the probe message with CRLF line ends.
func buildMessage(s *settings, tok token, now time.Time) []byte {
	var b strings.Builder
	h := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	h("From", "<"+s.MailFrom+">")
	h("To", "<"+s.RcptTo+">")
	h("Subject", s.Subject+" "+tok.String())
	h("Date", now.Format(time.RFC1123Z))
	h("Message-ID", "<"+tok.String()+"@mailmon.invalid>")
	h(probeHeader, tok.String())
	h("X-Mailmon-Sent", now.UTC().Format(time.RFC3339Nano))
	h("MIME-Version", "1.0")
	h("Content-Type", "text/plain; charset=us-ascii")
	b.WriteString("\r\n")
	b.WriteString("This is an automatic test message from mailmon's roundtrip check.\r\n")
	b.WriteString("It is deleted when it arrives; it can be deleted safely.\r\n")
	return []byte(b.String())
}

// hop is one Received header's step.
type hop struct {
	by    string
	at    time.Time
	delay time.Duration // since the previous hop (or the Date header)
}

// parseHops reads Received headers (newest first, as in the message) and
// returns the hops oldest first, each with its delay since the one before;
// the first hop's delay counts from sent. Headers without a parsable date
// are skipped.
func parseHops(received []string, sent time.Time) []hop {
	var hops []hop
	for i := len(received) - 1; i >= 0; i-- {
		r := strings.Join(strings.Fields(received[i]), " ")
		semi := strings.LastIndex(r, ";")
		if semi < 0 {
			continue
		}
		at, err := mail.ParseDate(strings.TrimSpace(r[semi+1:]))
		if err != nil {
			continue
		}
		by := ""
		if f := strings.Fields(r[:semi]); len(f) > 0 {
			for j := 0; j+1 < len(f); j++ {
				if strings.EqualFold(f[j], "by") {
					by = strings.Trim(f[j+1], "();")
					break
				}
			}
		}
		prev := sent
		if len(hops) > 0 {
			prev = hops[len(hops)-1].at
		}
		d := at.Sub(prev)
		if prev.IsZero() {
			d = 0
		}
		hops = append(hops, hop{by: by, at: at, delay: d})
	}
	return hops
}
