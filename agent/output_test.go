package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/metric"

	"github.com/mailmon/mailmon/outputs"
)

// fakeOutput records batches and fails as told.
type fakeOutput struct {
	mu       sync.Mutex
	batches  [][]string
	failNext int   // transient failures to return before succeeding
	reject   bool  // return a permanent error for the next batch
	connErr  error // returned by Connect
	connects int
	closed   bool
}

func (f *fakeOutput) SampleConfig() string { return "" }
func (f *fakeOutput) Description() string  { return "fake" }
func (f *fakeOutput) Connect(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.connects++
	return f.connErr
}
func (f *fakeOutput) Close() error { f.mu.Lock(); f.closed = true; f.mu.Unlock(); return nil }
func (f *fakeOutput) Write(_ context.Context, ms []telegraf.Metric) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.reject {
		f.reject = false
		return outputs.Permanent(errors.New("400 bad line"))
	}
	if f.failNext > 0 {
		f.failNext--
		return errors.New("connection refused")
	}
	var names []string
	for _, m := range ms {
		names = append(names, m.Name())
	}
	f.batches = append(f.batches, names)
	return nil
}

func (f *fakeOutput) written() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var all []string
	for _, b := range f.batches {
		all = append(all, b...)
	}
	return all
}

func metrics(from, n int) []telegraf.Metric {
	out := make([]telegraf.Metric, n)
	for i := range n {
		out[i] = metric.New(fmt.Sprintf("m%d", from+i), nil, map[string]any{"v": int64(i)}, time.Unix(0, 0))
	}
	return out
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestBufferDropsOldestWhenFull(t *testing.T) {
	f := &fakeOutput{}
	o := newRunningOutput("outputs.fake[0]", f, 5, 2, time.Hour, quiet())
	o.add(metrics(0, 8)...)
	if st := o.stats(); st.buffered != 5 || st.dropped != 3 {
		t.Fatalf("stats = %+v, want 5 buffered 3 dropped", st)
	}
	if err := o.flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []string{"m3", "m4", "m5", "m6", "m7"}
	if got := f.written(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("written %v, want %v (newest kept, in order)", got, want)
	}
	if len(f.batches) != 3 {
		t.Errorf("batches = %v, want batches of at most 2", f.batches)
	}
}

func TestBufferKeepsMetricsThroughAnOutage(t *testing.T) {
	f := &fakeOutput{failNext: 3}
	o := newRunningOutput("outputs.fake[0]", f, 100, 10, time.Hour, quiet())
	o.add(metrics(0, 15)...)
	for i := range 3 {
		if err := o.flush(context.Background()); err == nil {
			t.Fatalf("flush %d succeeded during the outage", i)
		}
	}
	o.add(metrics(15, 5)...)
	if err := o.flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := f.written()
	if len(got) != 20 {
		t.Fatalf("written %d metrics, want all 20: %v", len(got), got)
	}
	for i, n := range got {
		if n != fmt.Sprintf("m%d", i) {
			t.Fatalf("written out of order or twice: %v", got)
		}
	}
	if st := o.stats(); st.buffered != 0 || st.dropped != 0 || st.errors != 3 || st.written != 20 {
		t.Errorf("stats = %+v", st)
	}
}

func TestBufferDropsRejectedBatch(t *testing.T) {
	f := &fakeOutput{reject: true}
	o := newRunningOutput("outputs.fake[0]", f, 100, 3, time.Hour, quiet())
	o.add(metrics(0, 5)...)
	if err := o.flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := f.written(); fmt.Sprint(got) != "[m3 m4]" {
		t.Errorf("written %v, want the batch after the rejected one", got)
	}
	if st := o.stats(); st.dropped != 3 || st.buffered != 0 {
		t.Errorf("stats = %+v, want the rejected 3 counted as dropped", st)
	}
}

func TestConnectFailureIsRetried(t *testing.T) {
	f := &fakeOutput{connErr: errors.New("no route")}
	o := newRunningOutput("outputs.fake[0]", f, 100, 10, time.Hour, quiet())
	o.add(metrics(0, 2)...)
	if err := o.flush(context.Background()); err == nil {
		t.Fatal("flush succeeded without a connection")
	}
	f.mu.Lock()
	f.connErr = nil
	f.mu.Unlock()
	if err := o.flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(f.written()) != 2 || f.connects != 2 {
		t.Errorf("written %v after %d connects", f.written(), f.connects)
	}
}

func TestLoopFlushesFullBatchEarlyAndCloseFlushesRest(t *testing.T) {
	f := &fakeOutput{}
	o := newRunningOutput("outputs.fake[0]", f, 100, 4, time.Hour, quiet())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { o.loop(ctx); close(done) }()
	o.add(metrics(0, 4)...) // a full batch wakes the loop before the hour is up
	deadline := time.Now().Add(5 * time.Second)
	for len(f.written()) < 4 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if len(f.written()) != 4 {
		t.Fatalf("full batch not written early: %v", f.written())
	}
	o.add(metrics(4, 2)...)
	cancel()
	<-done
	o.close(context.Background())
	if len(f.written()) != 6 || !f.closed {
		t.Errorf("close: written %v closed %v", f.written(), f.closed)
	}
}

func TestRemoveBatchAllowsConcurrentDrops(t *testing.T) {
	ms := metrics(0, 5)
	batch := ms[:3]
	// While the batch was written, m0 was dropped for space.
	buf := append([]telegraf.Metric(nil), ms[1:]...)
	rest := removeBatch(buf, batch)
	if len(rest) != 2 || rest[0].Name() != "m3" {
		t.Errorf("rest = %v", rest)
	}
}
