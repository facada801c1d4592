package influx

import (
	"context"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/metric"
)

// benchBatch is a batch of typical mailmon metrics: four tags, six
// fields of mixed types, fields in map (random) order.
func benchBatch(n int) []telegraf.Metric {
	ms := make([]telegraf.Metric, n)
	for i := range ms {
		ms[i] = metric.New("mailmon_smtp",
			map[string]string{"host": "mon1", "check": fmt.Sprintf("mx%d", i%10), "target": "mx.example.com:25", "result": "ok"},
			map[string]any{
				"status_code":      int64(0),
				"duration_seconds": 0.0123 * float64(i%7),
				"connect_seconds":  0.002,
				"tls_days_left":    int64(42),
				"reply_code":       int64(250),
				"starttls_offered": true,
			}, time.Unix(1700000000, int64(i)))
	}
	return ms
}

// BenchmarkSerialize measures line-protocol encoding of 1000-metric
// batches, the agent's default metric_batch_size.
func BenchmarkSerialize(b *testing.B) {
	batch := benchBatch(1000)
	enc := newEncoder(true)
	b.ReportAllocs()
	var size int
	for b.Loop() {
		size = len(enc.encode(batch).buf)
	}
	b.SetBytes(int64(size))
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "metrics/s")
}

// BenchmarkWriteTCP measures Write of 1000-metric batches to a loopback
// TCP listener that discards what it reads.
func BenchmarkWriteTCP(b *testing.B) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	o := mustOutput(b, fmt.Sprintf(`{"mode":"tcp","address":%q}`, l.Addr()))
	defer o.Close()
	ctx := context.Background()
	batch := benchBatch(1000)
	if err := o.Connect(ctx); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(encodeText(batch))))
	b.ReportAllocs()
	for b.Loop() {
		if err := o.Write(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "metrics/s")
}
