package slack

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// threadFile is the file in the state dir that maps incidents to their
// first message.
const threadFile = "slack-threads.json"

// Bounds of the thread map: a resolve forgets its incident; these catch
// incidents whose resolve never comes (a check removed from the config).
const (
	maxThreads   = 10000
	maxThreadAge = 90 * 24 * time.Hour
)

// thread is the first message of an open incident.
type thread struct {
	Channel string    `json:"channel"` // the channel ID Slack answered with
	TS      string    `json:"ts"`
	Opened  time.Time `json:"opened"`
}

// threadStore maps DedupKeys of open incidents to their thread, kept in
// a file when path is set.
type threadStore struct {
	path string
	m    map[string]thread
	now  func() time.Time
}

func newThreadStore(path string) *threadStore {
	return &threadStore{path: path, m: map[string]thread{}, now: time.Now}
}

func loadThreadStore(dir string) (*threadStore, error) {
	t := newThreadStore(filepath.Join(dir, threadFile))
	raw, err := os.ReadFile(t.path)
	if errors.Is(err, fs.ErrNotExist) {
		return t, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load slack threads: %w", err)
	}
	if err := json.Unmarshal(raw, &t.m); err != nil {
		return nil, fmt.Errorf("load slack threads %s: %w", t.path, err)
	}
	if t.m == nil {
		t.m = map[string]thread{}
	}
	return t, nil
}

func (t *threadStore) get(key string) (thread, bool) {
	th, ok := t.m[key]
	return th, ok
}

func (t *threadStore) put(key string, th thread) {
	if th.Opened.IsZero() {
		th.Opened = t.now()
	}
	t.m[key] = th
}

// forget drops key and reports whether it was there.
func (t *threadStore) forget(key string) bool {
	_, ok := t.m[key]
	delete(t.m, key)
	return ok
}

// prune drops threads older than maxThreadAge, then the oldest beyond
// maxThreads.
func (t *threadStore) prune() {
	cutoff := t.now().Add(-maxThreadAge)
	for k, th := range t.m {
		if th.Opened.Before(cutoff) {
			delete(t.m, k)
		}
	}
	if len(t.m) <= maxThreads {
		return
	}
	keys := make([]string, 0, len(t.m))
	for k := range t.m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return t.m[a].Opened.Compare(t.m[b].Opened) })
	for _, k := range keys[:len(keys)-maxThreads] {
		delete(t.m, k)
	}
}

// save writes the map atomically: a temporary file in the same folder,
// synced, then renamed over the old one. Without a path it does nothing.
func (t *threadStore) save() error {
	if t.path == "" {
		return nil
	}
	t.prune()
	raw, err := json.Marshal(t.m)
	if err != nil {
		return fmt.Errorf("save slack threads: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(t.path), threadFile+".*.tmp")
	if err != nil {
		return fmt.Errorf("save slack threads: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(raw)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, t.path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("save slack threads: %w", err)
	}
	return nil
}
