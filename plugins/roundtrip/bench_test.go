package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/mailmon/mailmon/scripts/testenv"
)

// BenchmarkDetection measures, on the local stack, the gap between the
// moment Dovecot stores the probe (the maildir file's mtime, read when the
// file appears in new/) and the moment the check sees it: for the default
// detection (fast poll, then IDLE), IDLE alone, and polling every second
// as the usual tools do. scripts/bench (`make bench`) runs it.
func BenchmarkDetection(b *testing.B) {
	env := testenv.MailStack(b)
	newDir := filepath.Join(env["MAILSTACK_MAILDIRS"], strings.Split(env["MAILSTACK_RT_USER"], "@")[0], "Maildir", "new")
	if err := os.MkdirAll(newDir, 0o700); err != nil {
		b.Fatal(err)
	}
	stored := watchStores(b, newDir)
	for _, mode := range []struct{ name, detection, poll string }{
		{"default", detectAuto, "1s"},
		{"idle", detectIdle, "1s"},
		{"poll_1s", detectPoll, "1s"},
	} {
		b.Run(mode.name, func(b *testing.B) {
			cfg := direct(nil, env)
			set(cfg, "receive.detection", mode.detection)
			set(cfg, "receive.poll_interval", mode.poll)
			raw, _ := json.Marshal(cfg)
			s, err := parseConfig(raw)
			if err != nil {
				b.Fatal(err)
			}
			var gaps []time.Duration
			for b.Loop() {
				ctx, cancel := context.WithTimeout(b.Context(), 15*time.Second)
				p := &probe{s: s, start: time.Now()}
				p.run(ctx)
				cancel()
				if p.seen == nil {
					b.Fatalf("probe not seen: %v", p.result().Message)
				}
				if at, ok := stored(p.tok.String()); ok {
					gaps = append(gaps, p.seen.seen.Sub(at))
				}
			}
			if len(gaps) == 0 {
				b.Fatal("no store times recorded")
			}
			slices.Sort(gaps)
			b.ReportMetric(float64(gaps[len(gaps)/2].Microseconds())/1000, "median-ms")
			b.ReportMetric(float64(gaps[min(len(gaps)-1, len(gaps)*99/100)].Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(len(gaps)), "samples")
		})
	}
}

// watchStores records, for every probe file that appears in dir, its
// mtime: when Dovecot wrote it. The returned function waits up to a
// second for a token's entry.
func watchStores(b *testing.B, dir string) func(tok string) (time.Time, bool) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { w.Close() })
	if err := w.Add(dir); err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	times := map[string]time.Time{}
	go func() {
		for ev := range w.Events {
			if !ev.Has(fsnotify.Create) && !ev.Has(fsnotify.Rename) {
				continue
			}
			fi, err := os.Stat(ev.Name)
			if err != nil {
				continue
			}
			data, err := os.ReadFile(ev.Name)
			if err != nil {
				continue
			}
			end := bytes.Index(data, []byte("\n\n"))
			if end < 0 {
				end = len(data)
			}
			h, _ := textproto.NewReader(bufio.NewReader(bytes.NewReader(data[:end+1]))).ReadMIMEHeader()
			if v := h.Get(probeHeader); v != "" {
				mu.Lock()
				times[v] = fi.ModTime()
				mu.Unlock()
			}
		}
	}()
	return func(tok string) (time.Time, bool) {
		for i := 0; i < 100; i++ {
			mu.Lock()
			at, ok := times[tok]
			mu.Unlock()
			if ok {
				return at, true
			}
			time.Sleep(10 * time.Millisecond)
		}
		return time.Time{}, false
	}
}
