package alert

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/mailmon/mailmon/outputs"
)

// Journal keeps every check's Machine and every alert output's queue of
// undelivered events in one append-only file. Each change is one JSON
// line written with a single write and fsynced, so a state change and
// the events it queues land together or not at all: an agent killed at
// any moment neither forgets an alert nor queues one twice. A torn last
// line (a crash mid-write) is ignored on replay. The file is compacted
// into a snapshot when it grows.
type Journal struct {
	path string

	mu       sync.Mutex
	f        *os.File
	lines    int
	machines map[string]*Machine
	queues   map[string][]*outputs.Event
}

// Tx is one atomic change.
type Tx struct {
	// Machines replaces the state of these check instances.
	Machines map[string]*Machine `json:"machines,omitempty"`
	// Enqueue appends events to outputs' queues, in order.
	Enqueue []Queued `json:"enqueue,omitempty"`
	// Done removes delivered (or dropped) events from outputs' queues.
	Done []Queued `json:"done,omitempty"`
	// Snapshot marks a compacted journal's first line: it replaces all.
	Snapshot bool                        `json:"snapshot,omitempty"`
	Queues   map[string][]*outputs.Event `json:"queues,omitempty"`
}

// Queued names an event in an output's queue.
type Queued struct {
	Output string         `json:"output"`
	Event  *outputs.Event `json:"event,omitempty"` // in Enqueue
	ID     string         `json:"id,omitempty"`    // in Done
}

// compactAfter lines, the journal is rewritten as one snapshot line.
const compactAfter = 1000

// OpenJournal replays the journal at path, creating it if needed.
func OpenJournal(path string) (*Journal, error) {
	j := &Journal{path: path, machines: map[string]*Machine{}, queues: map[string][]*outputs.Event{}}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	good := 0 // bytes of complete, valid lines
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64*1024), 64*1024*1024)
	for sc.Scan() {
		line := sc.Bytes()
		var tx Tx
		if err := json.Unmarshal(line, &tx); err != nil {
			break // a torn tail: everything after it is suspect too
		}
		if good+len(line) >= len(b) || b[good+len(line)] != '\n' {
			break // no newline: the write did not finish
		}
		j.apply(&tx)
		good += len(line) + 1
		j.lines++
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := f.Truncate(int64(good)); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: drop torn tail: %w", path, err)
	}
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		f.Close()
		return nil, err
	}
	j.f = f
	return j, nil
}

func (j *Journal) apply(tx *Tx) {
	if tx.Snapshot {
		j.machines = map[string]*Machine{}
		j.queues = map[string][]*outputs.Event{}
		for k, q := range tx.Queues {
			j.queues[k] = q
		}
	}
	for k, m := range tx.Machines {
		j.machines[k] = m
	}
	for _, q := range tx.Enqueue {
		j.queues[q.Output] = append(j.queues[q.Output], q.Event)
	}
	for _, d := range tx.Done {
		q := j.queues[d.Output]
		for i, e := range q {
			if e.ID == d.ID {
				j.queues[d.Output] = append(q[:i:i], q[i+1:]...)
				break
			}
		}
	}
}

// Commit applies tx and makes it durable before returning.
func (j *Journal) Commit(tx *Tx) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.commit(tx)
}

func (j *Journal) commit(tx *Tx) error {
	b, err := json.Marshal(tx)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	off, err := j.f.Seek(0, io.SeekCurrent)
	if err != nil {
		return fmt.Errorf("%s: %w", j.path, err)
	}
	if err := j.write(b); err != nil {
		// Cut off what part of the line may have been written, so the
		// next commit does not land behind a torn fragment.
		_ = j.f.Truncate(off)
		_, _ = j.f.Seek(off, io.SeekStart)
		return fmt.Errorf("%s: %w", j.path, err)
	}
	j.apply(tx)
	j.lines++
	if j.lines >= compactAfter {
		if err := j.compact(); err != nil {
			// The transaction is durable; only the file stays long. Try
			// again after another compactAfter commits.
			j.lines = 0
			return &CompactError{Err: err}
		}
	}
	return nil
}

func (j *Journal) write(b []byte) error {
	if _, err := j.f.Write(b); err != nil {
		return err
	}
	return j.f.Sync()
}

// CompactError reports a failed compaction; the commit itself succeeded.
type CompactError struct{ Err error }

func (e *CompactError) Error() string { return "compact alert journal: " + e.Err.Error() }
func (e *CompactError) Unwrap() error { return e.Err }

// Forget applies tx in memory only, for a Done that could not be written:
// the event is not sent again by this process (a restart may send it once
// more, which is better than a storm of repeats while the disk fails).
func (j *Journal) Forget(tx *Tx) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.apply(tx)
}

// compact writes the whole state as one snapshot line to a new file and
// renames it over the journal.
func (j *Journal) compact() error {
	snap := &Tx{Snapshot: true, Machines: j.machines, Queues: j.queues}
	b, err := json.Marshal(snap)
	if err != nil {
		return err
	}
	tmp := j.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := os.Rename(tmp, j.path); err != nil {
		f.Close()
		return err
	}
	if d, err := os.Open(filepath.Dir(j.path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	j.f.Close()
	j.f = f
	j.lines = 1
	return nil
}

// Machine returns a copy of an instance's state (zero if new).
func (j *Journal) Machine(key string) Machine {
	j.mu.Lock()
	defer j.mu.Unlock()
	if m := j.machines[key]; m != nil {
		c := *m
		c.Changes = append([]bool(nil), m.Changes...)
		c.Routed = append([]string(nil), m.Routed...)
		return c
	}
	return Machine{}
}

// Head returns the first undelivered event of an output, or nil.
func (j *Journal) Head(output string) *outputs.Event {
	j.mu.Lock()
	defer j.mu.Unlock()
	if q := j.queues[output]; len(q) > 0 {
		return q[0]
	}
	return nil
}

// Len is the number of undelivered events of an output.
func (j *Journal) Len(output string) int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.queues[output])
}

// Oldest returns up to n events at the front of an output's queue.
func (j *Journal) Oldest(output string, n int) []*outputs.Event {
	j.mu.Lock()
	defer j.mu.Unlock()
	q := j.queues[output]
	return append([]*outputs.Event(nil), q[:min(n, len(q))]...)
}

// Close closes the file.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.f.Close()
}
