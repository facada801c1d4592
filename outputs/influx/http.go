package influx

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mailmon/mailmon/outputs"
	"github.com/mailmon/mailmon/sdk"
)

// maxErrorBody is how much of an error response goes into the error.
const maxErrorBody = 512

// httpSender POSTs each batch as one request to /write (InfluxDB 1.x API,
// Telegraf's influxdb_listener) or /api/v2/write (2.x API,
// influxdb_v2_listener).
type httpSender struct {
	client   *http.Client
	url      string // the write endpoint with its query
	header   http.Header
	host     string // a custom Host header
	username string
	password string
	gzip     bool
	zbuf     bytes.Buffer
	zw       *gzip.Writer
}

func (o *Influx) newHTTPSender() (*httpSender, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if o.TLSCAFile != "" || o.TLSInsecureSkipVerify {
		cfg, err := o.tlsConfig()
		if err != nil {
			return nil, err
		}
		tr.TLSClientConfig = cfg
	}
	s := &httpSender{
		client: &http.Client{
			Transport: tr,
			Timeout:   o.Timeout.D(),
			// A redirected POST loses its body or turns into a GET; the
			// error shows the new address to put in url instead.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		url:      o.writeURL(),
		header:   http.Header{},
		username: o.Username,
		password: o.Password,
		gzip:     o.ContentEncoding == "gzip",
	}
	s.header.Set("User-Agent", "mailmon/"+Version)
	s.header.Set("Content-Type", "text/plain; charset=utf-8")
	if o.Token != "" {
		s.header.Set("Authorization", "Token "+o.Token)
	}
	if s.gzip {
		s.header.Set("Content-Encoding", "gzip")
		s.zw = gzip.NewWriter(io.Discard)
	}
	for k, v := range o.Headers {
		if strings.EqualFold(k, "Host") {
			s.host = v
			continue
		}
		s.header.Set(k, v)
	}
	return s, nil
}

func (o *Influx) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{InsecureSkipVerify: o.TLSInsecureSkipVerify} //nolint:gosec // the user asked for it
	if o.TLSCAFile == "" {
		return cfg, nil
	}
	pem, err := os.ReadFile(o.TLSCAFile)
	if err != nil {
		return nil, sdk.OptionError("tls_ca_file", "%w", err)
	}
	cfg.RootCAs = x509.NewCertPool()
	if !cfg.RootCAs.AppendCertsFromPEM(pem) {
		return nil, sdk.OptionError("tls_ca_file", "no PEM certificate in %s", o.TLSCAFile)
	}
	return cfg, nil
}

// writeURL is the endpoint with db/rp or org/bucket; precision is always
// ns because the serializer writes nanosecond timestamps.
func (o *Influx) writeURL() string {
	u, _ := url.Parse(o.URL) // validated in Init
	q := url.Values{"precision": {"ns"}}
	if o.API == apiV2 {
		u = u.JoinPath("api", "v2", "write")
		q.Set("org", o.Org)
		q.Set("bucket", o.Bucket)
	} else {
		u = u.JoinPath("write")
		q.Set("db", o.Database)
		if o.RetentionPolicy != "" {
			q.Set("rp", o.RetentionPolicy)
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func (s *httpSender) connect(context.Context) error { return nil }

func (s *httpSender) close() error {
	s.client.CloseIdleConnections()
	return nil
}

func (s *httpSender) send(ctx context.Context, b *batch) error {
	body, err := s.body(b.buf)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("post %s: %w", s.url, err)
	}
	req.Header = s.header.Clone()
	if s.host != "" {
		req.Host = s.host
	}
	if s.username != "" {
		req.SetBasicAuth(s.username, s.password)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // it repeats the method and URL
		}
		return fmt.Errorf("post %s: %w", s.url, err)
	}
	defer resp.Body.Close()
	return s.check(resp)
}

func (s *httpSender) body(lines []byte) ([]byte, error) {
	if !s.gzip {
		return lines, nil
	}
	s.zbuf.Reset()
	s.zw.Reset(&s.zbuf)
	if _, err := s.zw.Write(lines); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	if err := s.zw.Close(); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	return s.zbuf.Bytes(), nil
}

// check turns a non-2xx response into an error, Permanent unless the
// server may accept the same batch later (429, 408, 5xx).
func (s *httpSender) check(resp *http.Response) error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
		return nil
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody+1))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	err := &StatusError{
		URL:        s.url,
		StatusCode: resp.StatusCode,
		Status:     resp.Status,
		Body:       truncate(string(raw), maxErrorBody),
		RetryAfter: resp.Header.Get("Retry-After"),
		Location:   resp.Header.Get("Location"),
	}
	if err.Retryable() {
		return err
	}
	return outputs.Permanent(err)
}

// StatusError is a write the server answered with a status other than
// 2xx.
type StatusError struct {
	URL        string
	StatusCode int
	Status     string // "400 Bad Request"
	Body       string // at most 512 bytes of the response body
	RetryAfter string // the Retry-After header, if any
	Location   string // where a 3xx answer pointed
}

// Error reads `post URL: 400 Bad Request: {"error":"..."}`.
func (e *StatusError) Error() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "post %s: %s", e.URL, e.Status)
	if e.RetryAfter != "" {
		fmt.Fprintf(&sb, " (retry after %s)", e.RetryAfter)
	}
	if e.Location != "" {
		fmt.Fprintf(&sb, " (redirected to %s: set url to it)", e.Location)
	}
	if body := strings.TrimSpace(e.Body); body != "" {
		sb.WriteString(": ")
		sb.WriteString(body)
	}
	return sb.String()
}

// Retryable reports whether sending the same batch again may succeed.
func (e *StatusError) Retryable() bool {
	return e.StatusCode == http.StatusTooManyRequests ||
		e.StatusCode == http.StatusRequestTimeout ||
		e.StatusCode >= 500
}

// RetryAfterDuration parses RetryAfter (seconds or an HTTP date); zero
// when absent or unparsable.
func (e *StatusError) RetryAfterDuration(now time.Time) time.Duration {
	if e.RetryAfter == "" {
		return 0
	}
	if secs, err := strconv.Atoi(e.RetryAfter); err == nil && secs > 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(e.RetryAfter); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n-- // do not cut a character in half
	}
	return s[:n] + "…"
}
