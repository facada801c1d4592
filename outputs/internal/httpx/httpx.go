// Package httpx holds what the HTTP alert outputs share: the one place
// that turns an HTTP response into the error classes the agent acts on
// (retry, retry after a wait, drop), and an http.Client built for alert
// delivery.
package httpx

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mailmon/mailmon/outputs"
	"github.com/mailmon/mailmon/sdk"
)

// MaxErrorBody is how much of an error response goes into the error.
const MaxErrorBody = 512

// DefaultRetryAfter is the wait asked for when a 429 response has no
// usable Retry-After header.
const DefaultRetryAfter = 30 * time.Second

// maxDrain is how much of a response body is read so that the
// connection can be reused.
const maxDrain = 64 << 10

// StatusError is a response with a status other than 2xx.
type StatusError struct {
	StatusCode int
	Status     string // "400 Bad Request"
	Body       string // at most MaxErrorBody bytes of the response body
	Location   string // where a 3xx answer pointed
}

// Error reads `400 Bad Request: {"message":"..."}`.
func (e *StatusError) Error() string {
	var sb strings.Builder
	sb.WriteString(e.Status)
	if e.Status == "" {
		sb.WriteString(strconv.Itoa(e.StatusCode))
	}
	if e.Location != "" {
		fmt.Fprintf(&sb, " (redirected to %s)", e.Location)
	}
	if body := strings.TrimSpace(e.Body); body != "" {
		sb.WriteString(": ")
		sb.WriteString(body)
	}
	return sb.String()
}

// Classify reads and closes resp's body and says what its status means
// for the agent: nil for 2xx; a *outputs.RetryAfterError for 429 (the
// wait from Retry-After, in seconds or as an HTTP date, DefaultRetryAfter
// without one); a plain, retried error for 5xx and 408; Permanent for
// every other status (other 4xx, 3xx, 1xx). The errors carry the status
// and up to MaxErrorBody bytes of the body.
func Classify(resp *http.Response) error {
	return classify(resp, time.Now())
}

func classify(resp *http.Response, now time.Time) error {
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
		return nil
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, MaxErrorBody+1))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	err := &StatusError{
		StatusCode: resp.StatusCode,
		Status:     resp.Status,
		Body:       Truncate(string(raw), MaxErrorBody),
	}
	switch code := resp.StatusCode; {
	case code == http.StatusTooManyRequests:
		return &outputs.RetryAfterError{Wait: RetryAfter(resp.Header.Get("Retry-After"), now), Err: err}
	case code >= 500, code == http.StatusRequestTimeout:
		return err
	case code >= 300 && code < 400:
		err.Location = resp.Header.Get("Location")
	}
	return outputs.Permanent(err)
}

// RetryAfter parses a Retry-After header value: delay seconds or an HTTP
// date (a date in the past is no wait). An absent or unparsable value is
// DefaultRetryAfter.
func RetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return DefaultRetryAfter
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return DefaultRetryAfter
		}
		return time.Duration(min(secs, int64(24*time.Hour/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0).Round(time.Second)
	}
	return DefaultRetryAfter
}

// Truncate cuts s to at most n bytes without splitting a character and
// marks the cut with "…".
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// NewClient returns a client for alert delivery: each request limited to
// timeout, redirects not followed (a redirected POST loses its body; the
// error shows where it pointed), TLS from tlsConfig when not nil, and
// responses classified for requests made with a Capture (see
// WithCapture).
func NewClient(timeout time.Duration, tlsConfig *tls.Config) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if tlsConfig != nil {
		tr.TLSClientConfig = tlsConfig
	}
	return &http.Client{
		Transport:     &captureTransport{base: tr},
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Capture receives the classified answer to requests made with its
// context. API client libraries turn HTTP statuses into their own error
// types and drop headers such as Retry-After on the way; the capture
// sees the response before they do.
type Capture struct {
	// Err is Classify's verdict on the last response with a status other
	// than 2xx; nil when every response was 2xx or none came.
	Err error
}

type captureKey struct{}

// WithCapture returns a context whose requests, made through a client
// from NewClient, record their classified response in the Capture.
func WithCapture(ctx context.Context) (context.Context, *Capture) {
	c := &Capture{}
	return context.WithValue(ctx, captureKey{}, c), c
}

// captureTransport classifies non-2xx responses for requests that carry a
// Capture, then hands the library a response with the same status,
// headers and (up to maxDrain bytes of) body.
type captureTransport struct {
	base http.RoundTripper
}

func (t *captureTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	c, _ := req.Context().Value(captureKey{}).(*Capture)
	if err != nil || c == nil || resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxDrain))
	resp.Body.Close()
	mine := *resp
	mine.Body = io.NopCloser(bytes.NewReader(body))
	c.Err = Classify(&mine)
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	return resp, nil
}

// CheckURL validates the option key holding an http:// or https:// URL.
func CheckURL(key, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, sdk.OptionError(key, "%w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, sdk.OptionError(key, "want an http:// or https:// URL, got %q", raw)
	}
	return u, nil
}

// IsToken reports whether s is an HTTP token (RFC 9110 section 5.6.2).
func IsToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		ok := c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
		if !ok {
			return false
		}
	}
	return true
}

// ValidateHeaders checks a `headers` option: it rejects names and values
// that net/http would refuse on every request (an error the agent would
// retry forever) and the headers for which reserved (given the lower-case
// name) returns a reason. Names are checked in sorted order, so the error
// is the same every time.
func ValidateHeaders(h map[string]string, reserved func(lower string) string) error {
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		switch {
		case !IsToken(k):
			return sdk.OptionError("headers", "invalid header name %q", k)
		case strings.ContainsAny(h[k], "\r\n\x00"):
			return sdk.OptionError("headers", "header %q: value contains a line break or NUL", k)
		}
		if why := reserved(strings.ToLower(k)); why != "" {
			return sdk.OptionError("headers", "%q %s", k, why)
		}
	}
	return nil
}
