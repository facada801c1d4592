package alert

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mailmon/mailmon/outputs"
	"github.com/mailmon/mailmon/sdk"
)

func ev(id string) *outputs.Event { return &outputs.Event{ID: id, Type: outputs.Trigger} }

func TestJournalReplaysStateAndQueues(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.journal")
	j, err := OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	m := &Machine{Hard: sdk.Critical, Notified: sdk.Critical, DedupKey: "k", Routed: []string{"o"}}
	if err := j.Commit(&Tx{Machines: map[string]*Machine{"c/i": m}, Enqueue: []Queued{{Output: "o", Event: ev("1")}, {Output: "o", Event: ev("2")}, {Output: "p", Event: ev("3")}}}); err != nil {
		t.Fatal(err)
	}
	if err := j.Commit(&Tx{Done: []Queued{{Output: "o", ID: "1"}}}); err != nil {
		t.Fatal(err)
	}
	j.Close()

	j, err = OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	got := j.Machine("c/i")
	if got.Hard != sdk.Critical || got.DedupKey != "k" || len(got.Routed) != 1 {
		t.Errorf("machine after replay = %+v", got)
	}
	if h := j.Head("o"); h == nil || h.ID != "2" || j.Len("o") != 1 || j.Len("p") != 1 {
		t.Errorf("queues after replay: head %v len o %d p %d", h, j.Len("o"), j.Len("p"))
	}
}

func TestJournalIgnoresTornTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.journal")
	j, _ := OpenJournal(path)
	_ = j.Commit(&Tx{Enqueue: []Queued{{Output: "o", Event: ev("1")}}})
	j.Close()
	// A crash in the middle of the next write leaves half a line.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0o600)
	_, _ = f.WriteString(`{"enqueue":[{"output":"o","event":{"id":"2"`)
	f.Close()

	j, err := OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	if j.Len("o") != 1 {
		t.Fatalf("queue = %d events, want the 1 committed", j.Len("o"))
	}
	// The torn bytes are gone, so the next commit is a clean line.
	if err := j.Commit(&Tx{Enqueue: []Queued{{Output: "o", Event: ev("3")}}}); err != nil {
		t.Fatal(err)
	}
	j.Close()
	j, _ = OpenJournal(path)
	defer j.Close()
	if j.Len("o") != 2 || j.Oldest("o", 2)[1].ID != "3" {
		t.Errorf("after torn tail and a new commit: %d events", j.Len("o"))
	}
}

func TestJournalCompacts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.journal")
	j, _ := OpenJournal(path)
	for i := range compactAfter + 10 {
		id := string(rune('a' + i%26))
		_ = j.Commit(&Tx{Machines: map[string]*Machine{"c/i": {Count: i}}, Enqueue: []Queued{{Output: "o", Event: ev(id)}}})
		_ = j.Commit(&Tx{Done: []Queued{{Output: "o", ID: id}}})
	}
	_ = j.Commit(&Tx{Enqueue: []Queued{{Output: "o", Event: ev("last")}}})
	j.Close()
	b, _ := os.ReadFile(path)
	lines := 0
	for _, c := range b {
		if c == '\n' {
			lines++
		}
	}
	if lines >= compactAfter {
		t.Errorf("journal has %d lines: not compacted", lines)
	}
	j, _ = OpenJournal(path)
	defer j.Close()
	if m := j.Machine("c/i"); m.Count != compactAfter+9 || j.Len("o") != 1 || j.Head("o").ID != "last" {
		t.Errorf("after compaction: count %d, queue %d", m.Count, j.Len("o"))
	}
}
