package agent

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/influxdata/telegraf"

	"github.com/mailmon/mailmon/outputs"
)

// Retry backoff for a failing output: doubling from min to max with
// jitter, so a recovering receiver is not hit by every agent at once.
const (
	outputBackoffMin = 500 * time.Millisecond
	outputBackoffMax = 30 * time.Second
)

// runningOutput buffers metrics for one output in a bounded FIFO and
// writes them in batches. When the buffer is full the oldest metrics are
// dropped and counted, as Telegraf does: recent data matters more.
type runningOutput struct {
	key       string // outputs.influx[0]
	out       outputs.MetricOutput
	log       *slog.Logger
	limit     int
	batchSize int
	interval  time.Duration

	mu      sync.Mutex
	buf     []telegraf.Metric
	dropped uint64
	written uint64
	errors  uint64
	wake    chan struct{}

	connected bool
}

func newRunningOutput(key string, out outputs.MetricOutput, limit, batch int, interval time.Duration, log *slog.Logger) *runningOutput {
	return &runningOutput{key: key, out: out, log: log, limit: limit, batchSize: batch, interval: interval, wake: make(chan struct{}, 1)}
}

// add queues metrics; a full batch wakes the writer early.
func (o *runningOutput) add(ms ...telegraf.Metric) {
	o.mu.Lock()
	for _, m := range ms {
		if len(o.buf) >= o.limit {
			o.buf[0] = nil
			o.buf = o.buf[1:]
			o.dropped++
		}
		o.buf = append(o.buf, m)
	}
	full := len(o.buf) >= o.batchSize
	o.mu.Unlock()
	if full {
		select {
		case o.wake <- struct{}{}:
		default:
		}
	}
}

type outputStats struct{ buffered, dropped, written, errors uint64 }

func (o *runningOutput) stats() outputStats {
	o.mu.Lock()
	defer o.mu.Unlock()
	return outputStats{buffered: uint64(len(o.buf)), dropped: o.dropped, written: o.written, errors: o.errors}
}

// loop writes until ctx ends; then close does the last flush.
func (o *runningOutput) loop(ctx context.Context) {
	backoff := time.Duration(0)
	t := time.NewTimer(o.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-o.wake:
		}
		if err := o.flush(ctx); err != nil {
			backoff = nextBackoff(backoff)
			o.log.Warn("output write failed; will retry", "output", o.key, "err", err, "retry_in", backoff.Round(time.Millisecond))
			t.Reset(backoff)
			continue
		}
		backoff = 0
		t.Reset(o.interval)
	}
}

func nextBackoff(cur time.Duration) time.Duration {
	if cur == 0 {
		cur = outputBackoffMin
	} else {
		cur = min(cur*2, outputBackoffMax)
	}
	return jitter(cur)
}

// jitter takes up to 20% off d, so agents that failed together do not
// retry together.
func jitter(d time.Duration) time.Duration {
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}

// flush writes every buffered batch, stopping at the first failure; the
// failed batch stays at the front of the buffer for the retry.
func (o *runningOutput) flush(ctx context.Context) error {
	if !o.connected {
		if err := o.out.Connect(ctx); err != nil {
			o.mu.Lock()
			o.errors++
			o.mu.Unlock()
			return err
		}
		o.connected = true
	}
	for {
		o.mu.Lock()
		n := min(len(o.buf), o.batchSize)
		batch := append([]telegraf.Metric(nil), o.buf[:n]...)
		o.mu.Unlock()
		if n == 0 {
			return nil
		}
		err := o.out.Write(ctx, batch)
		o.mu.Lock()
		switch {
		case err == nil:
			o.written += uint64(n)
		case outputs.IsPermanent(err):
			o.dropped += uint64(n)
			o.errors++
		default:
			o.errors++
		}
		if err == nil || outputs.IsPermanent(err) {
			// Metrics dropped for space while we wrote were taken from
			// the front too; remove only what is still there.
			o.buf = removeBatch(o.buf, batch)
		}
		o.mu.Unlock()
		if outputs.IsPermanent(err) {
			o.log.Error("output rejected a batch; dropped it", "output", o.key, "metrics", n, "err", err)
			continue
		}
		if err != nil {
			return err
		}
	}
}

// removeBatch drops the batch's metrics from the front of buf, allowing
// for some of them to have been dropped already.
func removeBatch(buf, batch []telegraf.Metric) []telegraf.Metric {
	i := 0
	for _, m := range batch {
		if i < len(buf) && buf[i] == m {
			i++
		}
	}
	for j := range i {
		buf[j] = nil
	}
	return buf[i:]
}

// close flushes what is left, bounded by ctx, and closes the output.
func (o *runningOutput) close(ctx context.Context) {
	for {
		err := o.flush(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			st := o.stats()
			o.log.Error("output still failing at shutdown; metrics lost", "output", o.key, "metrics", st.buffered, "err", err)
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(outputBackoffMin):
		}
	}
	if err := o.out.Close(); err != nil {
		o.log.Warn("closing output", "output", o.key, "err", err)
	}
}
