package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"strings"
)

// Limits that keep a broken or hostile server from feeding us forever.
const (
	maxLineLen    = 4096 // RFC 5321 allows 512; be lenient
	maxReplyLines = 1000
)

// errProtocol marks a reply that is not valid SMTP.
var errProtocol = errors.New("protocol error")

// reply is one complete SMTP reply, possibly multi-line.
type reply struct {
	Code  int
	Lines []string // text after "NNN-" / "NNN ", one per line
}

// Text joins the lines with newlines, as in the greeting.
func (r *reply) Text() string { return strings.Join(r.Lines, "\n") }

// String is the reply as one line for messages: "554 5.7.1 go away".
func (r *reply) String() string {
	return strings.TrimSpace(strconv.Itoa(r.Code) + " " + strings.Join(r.Lines, " "))
}

// Failed reports a transient (4xx) or permanent (5xx) negative reply.
func (r *reply) Failed() bool { return r.Code >= 400 }

// conn is an SMTP client connection: our own small client, so that every
// reply and its timing is visible (net/smtp and go-smtp hide both).
type conn struct {
	net.Conn
	r *bufio.Reader
}

func newConn(c net.Conn) *conn {
	return &conn{Conn: c, r: bufio.NewReaderSize(c, maxLineLen)}
}

// cmd sends one command line and reads its reply.
func (c *conn) cmd(line string) (*reply, error) {
	if _, err := io.WriteString(c.Conn, line+"\r\n"); err != nil {
		return nil, err
	}
	return c.readReply()
}

// readReply reads a reply, following "NNN-" continuation lines.
func (c *conn) readReply() (*reply, error) {
	rep := &reply{}
	for n := 0; ; n++ {
		if n == maxReplyLines {
			return nil, fmt.Errorf("%w: reply longer than %d lines", errProtocol, maxReplyLines)
		}
		line, err := c.readLine()
		if err != nil {
			if n > 0 && errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF // closed inside a multi-line reply
			}
			return nil, err
		}
		code, more, text, err := parseReplyLine(line)
		if err != nil {
			return nil, err
		}
		if n > 0 && code != rep.Code {
			return nil, fmt.Errorf("%w: reply code changed from %d to %d inside a multi-line reply", errProtocol, rep.Code, code)
		}
		rep.Code = code
		rep.Lines = append(rep.Lines, text)
		if !more {
			return rep, nil
		}
	}
}

// readLine reads one line without its CRLF (a bare LF is tolerated, as
// real clients do).
func (c *conn) readLine() (string, error) {
	b, err := c.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return "", fmt.Errorf("%w: reply line longer than %d bytes", errProtocol, maxLineLen)
	}
	if err != nil {
		if len(b) > 0 && errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return "", err
	}
	return string(bytes.TrimRight(b, "\r\n")), nil
}

// parseReplyLine splits "250-SIZE 1000" into 250, true, "SIZE 1000".
func parseReplyLine(line string) (code int, more bool, text string, err error) {
	if len(line) < 3 || (len(line) > 3 && line[3] != ' ' && line[3] != '-') {
		return 0, false, "", fmt.Errorf("%w: malformed reply line %q", errProtocol, truncate(line, 80))
	}
	code, err = strconv.Atoi(line[:3])
	if err != nil || code < 200 || code > 599 {
		return 0, false, "", fmt.Errorf("%w: malformed reply code in %q", errProtocol, truncate(line, 80))
	}
	if len(line) > 3 {
		more, text = line[3] == '-', line[4:]
	}
	return code, more, text, nil
}

// extensions are the EHLO keywords (upper case) and their parameters.
type extensions map[string]string

// parseEHLO reads the keywords from the lines after the first (which is
// the server's name and greeting).
func parseEHLO(rep *reply) extensions {
	ext := extensions{}
	for _, line := range rep.Lines[1:] {
		kw, params, _ := strings.Cut(strings.TrimSpace(line), " ")
		kw = strings.ToUpper(kw)
		// Old clients' "AUTH=PLAIN LOGIN" form, still sent by Postfix's
		// broken_sasl_auth_clients; it means the same as AUTH.
		if mech, ok := strings.CutPrefix(kw, "AUTH="); ok {
			kw, params = "AUTH", strings.TrimSpace(mech+" "+params)
			if old, ok := ext["AUTH"]; ok {
				params = old + " " + params
			}
		}
		if kw != "" {
			ext[kw] = params
		}
	}
	return ext
}

// Keywords returns the sorted keywords.
func (e extensions) Keywords() []string {
	kws := make([]string, 0, len(e))
	for kw := range e {
		kws = append(kws, kw)
	}
	sort.Strings(kws)
	return kws
}

// AuthMechanisms returns the upper-case SASL mechanisms offered.
func (e extensions) AuthMechanisms() []string {
	params, ok := e["AUTH"]
	if !ok {
		return nil
	}
	return strings.Fields(strings.ToUpper(params))
}

// truncate cuts s to at most n runes.
func truncate(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}
