package influx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/metric"
	"github.com/mailmon/mailmon/outputs"
)

// manyMetrics returns n metrics whose lines are 60 to 80 bytes long.
func manyMetrics(n int) []telegraf.Metric {
	ms := make([]telegraf.Metric, n)
	for i := range ms {
		ms[i] = metric.New("mailmon_dnsbl",
			map[string]string{"check": "zone", "target": strings.Repeat("x", i%20)},
			map[string]any{"status_code": int64(i), "duration_seconds": 0.5},
			testTime.Add(time.Duration(i)))
	}
	return ms
}

// encodeText is what the output must put on the wire for ms.
func encodeText(ms []telegraf.Metric) string {
	return string(newEncoder(true).encode(ms).buf)
}

func TestUDPSplitsOnLineBoundaries(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	o := mustOutput(t, fmt.Sprintf(`{"mode":"udp","address":%q,"udp_payload":256}`, pc.LocalAddr()))
	ctx := context.Background()
	if err := o.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	defer o.Close()

	ms := manyMetrics(40)
	if err := o.Write(ctx, ms); err != nil {
		t.Fatal(err)
	}
	want := encodeText(ms)
	grams := readDatagrams(t, pc, len(want))
	if len(grams) < 2 {
		t.Fatalf("%d bytes came in %d datagram(s); want them split", len(want), len(grams))
	}
	lines := strings.SplitAfter(want, "\n")
	for i, g := range grams {
		if len(g) > 256 || !strings.HasSuffix(g, "\n") {
			t.Errorf("datagram %d: %d bytes, ends %q: want <= 256 bytes of whole lines", i, len(g), g[len(g)-1:])
		}
		// Greedy packing: the next line would not have fitted.
		n := strings.Count(g, "\n")
		if i < len(grams)-1 && len(g)+len(lines[n]) <= 256 {
			t.Errorf("datagram %d has %d bytes; the next line (%d bytes) would have fitted", i, len(g), len(lines[n]))
		}
		lines = lines[n:]
	}
	if got := strings.Join(grams, ""); got != want {
		t.Errorf("datagrams joined differ from the batch\n got: %q\nwant: %q", got, want)
	}
}

func TestUDPLineTooLong(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	o := mustOutput(t, fmt.Sprintf(`{"mode":"udp","address":%q,"udp_payload":256}`, pc.LocalAddr()))
	defer o.Close()

	long := metric.New("mailmon_smtp", map[string]string{"check": "a b"},
		map[string]any{"message": strings.Repeat("y", 300)}, testTime)
	small := manyMetrics(2)
	batch := []telegraf.Metric{small[0], long, small[1]}
	err = o.Write(context.Background(), batch)
	want := fmt.Sprintf(`udp %s: 1 of 3 lines dropped, longer than udp_payload 256: metric mailmon_smtp,check=a\ b is 355 bytes`, pc.LocalAddr())
	if err == nil || err.Error() != want {
		t.Fatalf("error\n got: %v\nwant: %s", err, want)
	}
	if !outputs.IsPermanent(err) {
		t.Error("a line too long for a datagram must be a permanent error")
	}
	wantText := encodeText(small)
	if got := strings.Join(readDatagrams(t, pc, len(wantText)), ""); got != wantText {
		t.Errorf("the lines that fit were not sent\n got: %q\nwant: %q", got, wantText)
	}
}

// readDatagrams reads datagrams until total bytes arrived.
func readDatagrams(t *testing.T, pc net.PacketConn, total int) []string {
	t.Helper()
	var grams []string
	buf := make([]byte, 65536)
	for n := 0; n < total; {
		_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
		k, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("after %d of %d bytes: %v", n, total, err)
		}
		grams = append(grams, string(buf[:k]))
		n += k
	}
	return grams
}

// streamServer accepts connections on l and sends what each one carried
// on the returned channel. Connection i hangs up after hangUpAfter[i]
// bytes; later ones read until the client closes.
func streamServer(t *testing.T, l net.Listener, hangUpAfter ...int) <-chan string {
	t.Helper()
	conns := make(chan string, 8)
	go func() {
		for i := 0; ; i++ {
			c, err := l.Accept()
			if err != nil {
				close(conns)
				return
			}
			go func() {
				defer c.Close()
				var data []byte
				if i < len(hangUpAfter) {
					data = make([]byte, hangUpAfter[i])
					_, err = io.ReadFull(c, data)
				} else {
					data, err = io.ReadAll(c)
				}
				if err != nil {
					t.Errorf("server read: %v", err)
				}
				conns <- string(data)
			}()
		}
	}()
	return conns
}

func receive(t *testing.T, conns <-chan string) string {
	t.Helper()
	select {
	case s := <-conns:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("no data from the server")
		return ""
	}
}

func TestTCP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	conns := streamServer(t, l)
	testStream(t, fmt.Sprintf(`{"mode":"tcp","address":%q}`, l.Addr()), conns)
}

func TestUnix(t *testing.T) {
	path := filepath.Join(t.TempDir(), "telegraf.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	conns := streamServer(t, l)
	testStream(t, fmt.Sprintf(`{"mode":"unix","address":%q}`, path), conns)
}

// testStream writes two batches on one connection and checks both
// arrive, in order, on that connection.
func testStream(t *testing.T, raw string, conns <-chan string) {
	o := mustOutput(t, raw)
	ctx := context.Background()
	if err := o.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	first, second := manyMetrics(3), fixtures("")
	for _, b := range [][]telegraf.Metric{first, second} {
		if err := o.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := receive(t, conns), encodeText(first)+fixtureLines(""); got != want {
		t.Errorf("received\n got: %q\nwant: %q", got, want)
	}
}

// TestTCPReconnect: the listener hangs up after the first batch; the next
// batch must go whole over a new connection, not into the dead one.
func TestTCPReconnect(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	first := manyMetrics(5)
	conns := streamServer(t, l, len(encodeText(first)))

	o := mustOutput(t, fmt.Sprintf(`{"mode":"tcp","address":%q}`, l.Addr()))
	defer o.Close()
	ctx := context.Background()
	if err := o.Write(ctx, first); err != nil {
		t.Fatal(err)
	}
	if got, want := receive(t, conns), encodeText(first); got != want {
		t.Fatalf("first connection\n got: %q\nwant: %q", got, want)
	}
	// The server has closed; give its FIN the moment it needs to arrive.
	time.Sleep(50 * time.Millisecond)
	second := fixtures("")
	if err := o.Write(ctx, second); err != nil {
		t.Fatalf("write after the listener hung up: %v", err)
	}
	o.Close()
	if got, want := receive(t, conns), fixtureLines(""); got != want {
		t.Errorf("second connection\n got: %q\nwant: %q", got, want)
	}
}

// TestTCPListenerGone: with nobody listening the batch fails with a
// retryable error, and succeeds once a listener is back.
func TestTCPListenerGone(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	o := mustOutput(t, fmt.Sprintf(`{"mode":"tcp","address":%q,"timeout":"1s"}`, addr))
	defer o.Close()
	ctx := context.Background()
	err = o.Connect(ctx)
	if err == nil || !strings.HasPrefix(err.Error(), "dial tcp "+addr+": ") || outputs.IsPermanent(err) {
		t.Fatalf("connect with no listener: got %v, want a retryable dial error", err)
	}
	if err := o.Write(ctx, fixtures("")); err == nil || outputs.IsPermanent(err) {
		t.Fatalf("write with no listener: got %v, want a retryable error", err)
	}

	l, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s again: %v", addr, err)
	}
	defer l.Close()
	conns := streamServer(t, l, len(fixtureLines("")))
	if err := o.Write(ctx, fixtures("")); err != nil {
		t.Fatalf("write after the listener came back: %v", err)
	}
	if got := receive(t, conns); got != fixtureLines("") {
		t.Errorf("got %q, want %q", got, fixtureLines(""))
	}
}

// shortConn accepts limit bytes and then fails, like a connection reset
// in the middle of a batch.
type shortConn struct {
	net.Conn
	limit  int
	closed bool
}

func (c *shortConn) Write(p []byte) (int, error) {
	return min(len(p), c.limit), errors.New("connection reset by peer")
}
func (c *shortConn) SetWriteDeadline(time.Time) error { return nil }
func (c *shortConn) Close() error                     { c.closed = true; return nil }

func TestTCPPartialWriteIsReported(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	conns := streamServer(t, l)

	o := mustOutput(t, fmt.Sprintf(`{"mode":"tcp","address":%q}`, l.Addr()))
	sc := &shortConn{limit: 10}
	s := o.dst.(*streamSender)
	s.conn = sc
	ctx := context.Background()
	b := fixtures("")
	err = o.Write(ctx, b)
	want := fmt.Sprintf("sent 10 of %d bytes, the batch will be sent again whole: connection reset by peer", len(fixtureLines("")))
	if err == nil || err.Error() != want || outputs.IsPermanent(err) {
		t.Fatalf("got %v, want retryable %q", err, want)
	}
	if !sc.closed || s.conn != nil {
		t.Error("the failed connection was kept")
	}
	// The retry dials a new connection and sends the batch whole.
	if err := o.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	o.Close()
	if got := receive(t, conns); got != fixtureLines("") {
		t.Errorf("retry sent %q", got)
	}
}

func TestWriteDeadline(t *testing.T) {
	now := time.Now()
	ctx, cancel := context.WithDeadline(context.Background(), now.Add(time.Second))
	defer cancel()
	if d := deadline(ctx, time.Minute); !d.Equal(now.Add(time.Second)) {
		t.Errorf("ctx deadline not used: %v", d.Sub(now))
	}
	if d := deadline(context.Background(), time.Second); d.Sub(now) < time.Second || d.Sub(now) > 2*time.Second {
		t.Errorf("timeout not used: %v", d.Sub(now))
	}
}

func TestSeriesOf(t *testing.T) {
	for line, want := range map[string]string{
		`m,t=a\ b f=1i 1` + "\n": `m,t=a\ b`,
		`m\ x f=1i` + "\n":       `m\ x`,
		"nospace\n":              "nospace",
	} {
		if got := seriesOf([]byte(line)); got != want {
			t.Errorf("seriesOf(%q) = %q, want %q", line, got, want)
		}
	}
}
