// Package outputs is the registry of compiled-in mailmon outputs. Each
// output lives in its own package under outputs/ and registers a factory
// from its init function; outputs/all imports them all.
package outputs

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/influxdata/telegraf"
)

// Output is what every output implements. The agent decodes the output's
// table from the config file into the value New returned (strictly, by
// `json` struct tags, see sdk.DecodeConfig), then calls Init if present.
type Output interface {
	// SampleConfig is the TOML body of one [[outputs.NAME]] table, with
	// `##` comment sentences and `# key = default` lines.
	SampleConfig() string
	// Description is one sentence.
	Description() string
}

// Initializer validates options and sets defaults; no network.
type Initializer interface {
	Init() error
}

// MetricOutput receives metrics. The agent buffers, batches and retries
// around it: Write sends one batch and either succeeds whole or fails.
type MetricOutput interface {
	Output
	// Connect is called once before the first Write; a failure is
	// retried by the agent like a failed Write.
	Connect(ctx context.Context) error
	// Write sends a batch. Return Permanent(err) when retrying the same
	// batch cannot succeed (the agent then drops it and counts it).
	Write(ctx context.Context, metrics []telegraf.Metric) error
	// Close flushes and releases connections.
	Close() error
}

// Factory returns a new, unconfigured output.
type Factory func() Output

var (
	mu       sync.RWMutex
	registry = map[string]Factory{}
)

// Add registers an output under name; called from init functions, so a
// duplicate name is a programming error and panics.
func Add(name string, f Factory) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registry[name]; dup {
		panic(fmt.Sprintf("outputs: %q registered twice", name))
	}
	registry[name] = f
}

// Get returns the factory registered under name.
func Get(name string) (Factory, bool) {
	mu.RLock()
	defer mu.RUnlock()
	f, ok := registry[name]
	return f, ok
}

// Names returns the registered output names, sorted.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as one that retrying the same data cannot fix (a
// 400 from InfluxDB, a payload the receiver rejects).
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}
