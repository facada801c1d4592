package influx

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/mailmon/mailmon/outputs"
)

// writerSender writes each batch to stdout (or the writer tests give).
type writerSender struct{ w io.Writer }

func (s *writerSender) connect(context.Context) error { return nil }
func (s *writerSender) close() error                  { return nil }

func (s *writerSender) send(_ context.Context, b *batch) error {
	if _, err := s.w.Write(b.buf); err != nil {
		return fmt.Errorf("write stdout: %w", err)
	}
	return nil
}

// streamSender keeps one TCP or unix stream connection and reconnects
// after it fails. Delivery is at least once: a batch whose write fails is
// reported and resent whole, so lines that did arrive arrive twice.
type streamSender struct {
	network string
	address string
	timeout time.Duration
	conn    net.Conn
}

func (s *streamSender) connect(ctx context.Context) error {
	if s.conn != nil {
		return nil
	}
	d := net.Dialer{Timeout: s.timeout}
	c, err := d.DialContext(ctx, s.network, s.address)
	if err != nil {
		return err // *net.OpError already reads "dial tcp ADDR: ..."
	}
	s.conn = c
	return nil
}

func (s *streamSender) send(ctx context.Context, b *batch) error {
	// A write to a connection the listener has closed usually succeeds
	// into the kernel buffer and is lost; look for the close first.
	if s.conn != nil && peerClosed(s.conn) {
		s.drop()
	}
	if err := s.connect(ctx); err != nil {
		return err
	}
	if err := s.conn.SetWriteDeadline(deadline(ctx, s.timeout)); err != nil {
		s.drop()
		return fmt.Errorf("set write deadline: %w", err)
	}
	n, err := s.conn.Write(b.buf)
	if err != nil {
		s.drop()
		return fmt.Errorf("sent %d of %d bytes, the batch will be sent again whole: %w", n, len(b.buf), err)
	}
	return nil
}

func (s *streamSender) drop() {
	_ = s.conn.Close() // already failed; the close error adds nothing
	s.conn = nil
}

func (s *streamSender) close() error {
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	return err
}

// udpSender sends a batch as datagrams of whole lines, each at most
// payload bytes: Telegraf's socket_listener parses every datagram on its
// own, so a line split across two would be lost.
type udpSender struct {
	address string
	payload int
	timeout time.Duration
	conn    net.Conn
}

func (s *udpSender) connect(ctx context.Context) error {
	if s.conn != nil {
		return nil
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", s.address) // resolves only; sends nothing
	if err != nil {
		return err
	}
	s.conn = c
	return nil
}

// send writes the lines that fit and then reports the ones that do not
// as a permanent error: resending cannot make them fit.
func (s *udpSender) send(ctx context.Context, b *batch) error {
	if err := s.connect(ctx); err != nil {
		return err
	}
	if err := s.conn.SetWriteDeadline(deadline(ctx, s.timeout)); err != nil {
		return fmt.Errorf("set write deadline: %w", err)
	}
	var tooLong []string
	start, end := 0, 0 // the datagram being built: b.buf[start:end]
	for i := range b.ends {
		line := b.line(i)
		if len(line) > s.payload {
			tooLong = append(tooLong, fmt.Sprintf("metric %s is %d bytes", seriesOf(line), len(line)))
			if err := s.write(b.buf[start:end]); err != nil {
				return err
			}
			start, end = b.ends[i], b.ends[i]
			continue
		}
		if b.ends[i]-start > s.payload {
			if err := s.write(b.buf[start:end]); err != nil {
				return err
			}
			start = end
		}
		end = b.ends[i]
	}
	if err := s.write(b.buf[start:end]); err != nil {
		return err
	}
	if len(tooLong) > 0 {
		return outputs.Permanent(fmt.Errorf("udp %s: %d of %d lines dropped, longer than udp_payload %d: %s",
			s.address, len(tooLong), len(b.ends), s.payload, strings.Join(tooLong, "; ")))
	}
	return nil
}

func (s *udpSender) write(datagram []byte) error {
	if len(datagram) == 0 {
		return nil
	}
	if _, err := s.conn.Write(datagram); err != nil {
		// Typically ECONNREFUSED: an earlier datagram found no listener.
		return err
	}
	return nil
}

func (s *udpSender) close() error {
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	return err
}

// deadline is the earlier of ctx's deadline and now+timeout.
func deadline(ctx context.Context, timeout time.Duration) time.Time {
	d := time.Now().Add(timeout)
	if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
		return cd
	}
	return d
}

// seriesOf returns a line's measurement and tags: everything before the
// first unescaped space.
func seriesOf(line []byte) string {
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case '\\':
			i++
		case ' ':
			return string(line[:i])
		}
	}
	return strings.TrimSuffix(string(line), "\n")
}
