package httpx

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mailmon/mailmon/outputs"
)

func response(code int, body string, header http.Header) *http.Response {
	if header == nil {
		header = http.Header{}
	}
	return &http.Response{
		StatusCode: code,
		Status:     http.StatusText(code),
		Header:     header,
		Body:       io.NopCloser(strings.NewReader(body)),
	}
}

type closeRecorder struct {
	io.Reader
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

func TestClassify(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	long := strings.Repeat("x", 600)
	tests := []struct {
		name      string
		code      int
		body      string
		header    http.Header
		want      string // "" for nil
		permanent bool
		wait      time.Duration // > 0: a RetryAfterError with this wait
	}{
		{name: "200", code: 200, body: "ok"},
		{name: "202", code: 202, body: `{"status":"success"}`},
		{name: "500", code: 500, body: "boom", want: "Internal Server Error: boom"},
		{name: "503 no body", code: 503, want: "Service Unavailable"},
		{name: "408", code: 408, want: "Request Timeout"},
		{name: "400", code: 400, body: `{"status":"invalid event"}`, want: `Bad Request: {"status":"invalid event"}`, permanent: true},
		{name: "404", code: 404, body: "no_service", want: "Not Found: no_service", permanent: true},
		{name: "400 long body", code: 400, body: long, want: "Bad Request: " + long[:512] + "…", permanent: true},
		{name: "301", code: 301, header: http.Header{"Location": {"https://new/"}}, want: "Moved Permanently (redirected to https://new/)", permanent: true},
		{name: "429 seconds", code: 429, header: http.Header{"Retry-After": {"120"}}, want: "Too Many Requests (retry after 2m0s)", wait: 2 * time.Minute},
		{name: "429 date", code: 429, header: http.Header{"Retry-After": {"Mon, 23 Nov 2026 12:00:45 GMT"}}, want: "Too Many Requests (retry after 45s)", wait: 45 * time.Second},
		{name: "429 date past", code: 429, header: http.Header{"Retry-After": {"Mon, 23 Nov 2026 11:00:00 GMT"}}, want: "Too Many Requests (retry after 0s)"},
		{name: "429 absent", code: 429, want: "Too Many Requests (retry after 30s)", wait: 30 * time.Second},
		{name: "429 garbage", code: 429, header: http.Header{"Retry-After": {"soon"}}, want: "Too Many Requests (retry after 30s)", wait: 30 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := response(tt.code, tt.body, tt.header)
			body := &closeRecorder{Reader: resp.Body}
			resp.Body = body
			err := classify(resp, now)
			if !body.closed {
				t.Error("body not closed")
			}
			if tt.want == "" {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			if err == nil || err.Error() != tt.want {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
			if got := outputs.IsPermanent(err); got != tt.permanent {
				t.Errorf("permanent = %v, want %v", got, tt.permanent)
			}
			wait, ok := outputs.RetryAfter(err)
			if ok != (tt.code == 429) || ok && tt.wait > 0 && wait != tt.wait {
				t.Errorf("retry after = %v, %v; want %v", wait, ok, tt.wait)
			}
			var se *StatusError
			if !errors.As(err, &se) || se.StatusCode != tt.code {
				t.Errorf("no StatusError with code %d in %v", tt.code, err)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 30 * time.Second},
		{"0", 0},
		{"7", 7 * time.Second},
		{" 7 ", 7 * time.Second},
		{"-1", 30 * time.Second},
		{"99999999", 24 * time.Hour},
		{"Mon, 23 Nov 2026 12:01:00 GMT", time.Minute},
		{"Monday, 23-Nov-26 12:01:00 GMT", time.Minute}, // RFC 850
		{"Mon Nov 23 12:01:00 2026", time.Minute},       // asctime
		{"Mon, 23 Nov 2026 11:00:00 GMT", 0},
		{"1.5", 30 * time.Second},
	}
	for _, tt := range tests {
		if got := RetryAfter(tt.in, now); got != tt.want {
			t.Errorf("RetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestCaptureTransport(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "5")
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, "slow down")
	}))
	defer srv.Close()
	client := NewClient(5*time.Second, nil)

	ctx, capture := WithCapture(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 429 || string(body) != "slow down" {
		t.Errorf("the library sees %d %q, want the original response", resp.StatusCode, body)
	}
	if wait, ok := outputs.RetryAfter(capture.Err); !ok || wait != 5*time.Second {
		t.Errorf("capture = %v, want a retry after 5s", capture.Err)
	}

	// Without a capture the response passes through untouched.
	resp, err = client.Post(srv.URL, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 {
		t.Errorf("status %d", resp.StatusCode)
	}
}

func TestNoRedirect(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	}))
	defer srv.Close()
	ctx, capture := WithCapture(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, nil)
	resp, err := NewClient(time.Second, nil).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !outputs.IsPermanent(capture.Err) || !strings.Contains(capture.Err.Error(), "redirected to /elsewhere") {
		t.Errorf("capture = %v", capture.Err)
	}
}

func TestCheckURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://hooks.example.com/x", ""},
		{"http://127.0.0.1:8080/", ""},
		{"ftp://x/", `option url: want an http:// or https:// URL, got "ftp://x/"`},
		{"hooks.example.com", `option url: want an http:// or https:// URL, got "hooks.example.com"`},
		{"http://[::1", `option url: parse "http://[::1": missing ']' in host`},
	}
	for _, tt := range tests {
		_, err := CheckURL("url", tt.in)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("CheckURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
