// Package webhook is the mailmon alert output that POSTs every alert
// event as JSON to a URL of the user's, optionally signed with HMAC-SHA256
// so the receiver can tell it came from this agent.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mailmon/mailmon/outputs"
	"github.com/mailmon/mailmon/outputs/internal/httpx"
	"github.com/mailmon/mailmon/sdk"
)

//go:embed sample.toml
var sampleConfig string

// The headers the output sets on every request.
const (
	HeaderEventID   = "X-Mailmon-Event-Id"
	HeaderEventType = "X-Mailmon-Event-Type"
	HeaderTimestamp = "X-Mailmon-Timestamp"
	HeaderSignature = "X-Mailmon-Signature"
)

// Webhook is the webhook output. Its exported fields are the options of
// one [[outputs.webhook]] table.
type Webhook struct {
	URL                   string            `json:"url"`
	Headers               map[string]string `json:"headers"`
	Timeout               sdk.Duration      `json:"timeout"`
	Secret                string            `json:"secret"`
	TLSCAFile             string            `json:"tls_ca_file"`
	TLSInsecureSkipVerify bool              `json:"tls_insecure_skip_verify"`

	client *http.Client
	header http.Header
	host   string // a custom Host header
	// now returns the time a request is signed at; tests set it.
	now func() time.Time
}

var (
	_ outputs.AlertOutput = (*Webhook)(nil)
	_ outputs.Initializer = (*Webhook)(nil)
)

func init() {
	outputs.Add("webhook", func() outputs.Output { return &Webhook{} })
}

// SampleConfig returns the commented options.
func (*Webhook) SampleConfig() string { return sampleConfig }

// Description is one sentence.
func (*Webhook) Description() string {
	return "POST every alert event as JSON to a URL, optionally signed with HMAC-SHA256."
}

// Init validates the options, sets defaults and builds the HTTP client
// without touching the network.
func (w *Webhook) Init() error {
	if err := w.validate(); err != nil {
		return err
	}
	if w.Timeout == 0 {
		w.Timeout = sdk.Duration(defaultTimeout)
	}
	tlsConfig, err := w.tlsConfig()
	if err != nil {
		return err
	}
	w.client = httpx.NewClient(w.Timeout.D(), tlsConfig)
	w.header = http.Header{}
	w.header.Set("Content-Type", "application/json")
	w.header.Set("User-Agent", "mailmon")
	for k, v := range w.Headers {
		if strings.EqualFold(k, "Host") {
			w.host = v
			continue
		}
		w.header.Set(k, v)
	}
	if w.now == nil {
		w.now = time.Now
	}
	return nil
}

// Send POSTs the event as JSON (the encoding of outputs.Event).
func (w *Webhook) Send(ctx context.Context, e *outputs.Event) error {
	body, err := json.Marshal(e)
	if err != nil {
		return outputs.Permanent(fmt.Errorf("encode event %s: %w", e.ID, err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("post %s: %w", w.URL, err)
	}
	req.Header = w.header.Clone()
	if w.host != "" {
		req.Host = w.host
	}
	req.Header.Set(HeaderEventID, e.ID)
	req.Header.Set(HeaderEventType, string(e.Type))
	if w.Secret != "" {
		ts := strconv.FormatInt(w.now().Unix(), 10)
		req.Header.Set(HeaderTimestamp, ts)
		req.Header.Set(HeaderSignature, Sign([]byte(w.Secret), ts, body))
	}
	resp, err := w.client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // it repeats the method and URL
		}
		return fmt.Errorf("post %s: %w", w.URL, err)
	}
	if err := httpx.Classify(resp); err != nil {
		return fmt.Errorf("post %s: %w", w.URL, err)
	}
	return nil
}

// Sign returns the X-Mailmon-Signature value for a body sent at
// timestamp (unix seconds, the X-Mailmon-Timestamp value): "sha256=" and
// the hex HMAC-SHA256, keyed with secret, of the timestamp, a dot and the
// exact body bytes.
func Sign(secret []byte, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify is what a receiver written in Go does: it checks signature
// against the body and timestamp with secret in constant time, and
// refuses a timestamp further than maxAge from now (a replayed request).
func Verify(secret []byte, timestamp, signature string, body []byte, now time.Time, maxAge time.Duration) error {
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("verify webhook: timestamp %q: not unix seconds", timestamp)
	}
	if age := now.Sub(time.Unix(sec, 0)).Abs(); age > maxAge {
		return fmt.Errorf("verify webhook: timestamp %s is %s away from now", timestamp, age.Round(time.Second))
	}
	if !hmac.Equal([]byte(signature), []byte(Sign(secret, timestamp, body))) {
		return errors.New("verify webhook: signature does not match")
	}
	return nil
}
