// Package influx is the mailmon output that writes InfluxDB line protocol
// to stdout (for Telegraf's inputs.execd), to a Telegraf socket_listener
// over UDP, TCP or a unix socket, or over HTTP to Telegraf's InfluxDB
// listeners and to InfluxDB 1.x and 2.x.
//
// The agent buffers, batches and retries around the output; Write sends
// one batch and reports whether it went through.
package influx

import (
	"context"
	_ "embed"
	"io"
	"log/slog"
	"os"
	"sync"

	"github.com/influxdata/telegraf"
	"github.com/mailmon/mailmon/outputs"
	"github.com/mailmon/mailmon/sdk"
)

//go:embed sample.toml
var sampleConfig string

// Version is the mailmon version sent in the HTTP User-Agent header; the
// build sets it with -ldflags "-X github.com/mailmon/mailmon/outputs/influx.Version=...".
var Version = "dev"

// Influx is the influx output. Its exported fields are the options of one
// [[outputs.influx]] table.
type Influx struct {
	Mode    string       `json:"mode"`
	Timeout sdk.Duration `json:"timeout"`

	// udp, tcp and unix.
	Address    string `json:"address"`
	UDPPayload int    `json:"udp_payload"`

	// http.
	URL                   string            `json:"url"`
	API                   string            `json:"api"`
	Database              string            `json:"database"`
	RetentionPolicy       string            `json:"retention_policy"`
	Username              string            `json:"username"`
	Password              string            `json:"password"`
	Org                   string            `json:"org"`
	Bucket                string            `json:"bucket"`
	Token                 string            `json:"token"`
	ContentEncoding       string            `json:"content_encoding"`
	Headers               map[string]string `json:"headers"`
	TLSCAFile             string            `json:"tls_ca_file"`
	TLSInsecureSkipVerify bool              `json:"tls_insecure_skip_verify"`

	// UintSupport writes unsigned fields with the `u` suffix; off, they are
	// written as signed integers (clamped), which InfluxDB 1.x requires.
	UintSupport *bool `json:"uint_support"`

	// stdout is where mode "stdout" writes; nil means os.Stdout.
	stdout io.Writer
	log    *slog.Logger

	mu  sync.Mutex // one Write at a time: the encoder and connection are shared
	enc *encoder
	dst sender // the transport of the chosen mode
}

// sender delivers encoded batches over one transport.
type sender interface {
	connect(ctx context.Context) error
	send(ctx context.Context, b *batch) error
	close() error
}

var _ outputs.MetricOutput = (*Influx)(nil)
var _ outputs.Initializer = (*Influx)(nil)

func init() {
	outputs.Add("influx", func() outputs.Output { return &Influx{} })
}

// SampleConfig returns the commented options.
func (*Influx) SampleConfig() string { return sampleConfig }

// Description is one sentence.
func (*Influx) Description() string {
	return "Write metrics as InfluxDB line protocol to stdout, a Telegraf socket_listener, or an InfluxDB HTTP API."
}

// Init validates the options, sets defaults and prepares the transport
// without touching the network.
func (o *Influx) Init() error {
	if err := o.validate(); err != nil {
		return err
	}
	o.setDefaults()
	if o.log == nil {
		o.log = slog.Default()
	}
	o.enc = newEncoder(*o.UintSupport)
	s, err := o.newSender()
	if err != nil {
		return err
	}
	o.dst = s
	return nil
}

func (o *Influx) newSender() (sender, error) {
	switch o.Mode {
	case modeStdout:
		w := o.stdout
		if w == nil {
			w = os.Stdout
		}
		return &writerSender{w: w}, nil
	case modeUDP:
		return &udpSender{address: o.Address, payload: o.UDPPayload, timeout: o.Timeout.D()}, nil
	case modeTCP, modeUnix:
		return &streamSender{network: o.Mode, address: o.Address, timeout: o.Timeout.D()}, nil
	}
	return o.newHTTPSender()
}

// Connect opens the connection of modes udp, tcp and unix; the agent
// retries it when it fails. Modes stdout and http have nothing to open.
func (o *Influx) Connect(ctx context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.dst.connect(ctx)
}

// Write encodes the batch and sends it whole. Metrics that line protocol
// cannot encode (no name, no valid field) are skipped and logged, not
// returned: retrying would not help the rest of the batch.
func (o *Influx) Write(ctx context.Context, metrics []telegraf.Metric) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	b := o.enc.encode(metrics)
	if b.skipped > 0 {
		o.log.Warn("influx output skipped metrics that line protocol cannot encode",
			"mode", o.Mode, "skipped", b.skipped, "first_error", b.skipErr)
	}
	if b.dropped > 0 {
		o.log.Debug("influx output dropped fields that line protocol cannot encode (NaN, Inf, empty key)",
			"mode", o.Mode, "fields", b.dropped)
	}
	if len(b.ends) == 0 {
		return nil
	}
	return o.dst.send(ctx, b)
}

// Close releases the connection. Nothing is buffered inside the output,
// so there is nothing to flush.
func (o *Influx) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.dst == nil {
		return nil
	}
	return o.dst.close()
}
