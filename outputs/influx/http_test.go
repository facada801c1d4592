package influx

import (
	"compress/gzip"
	"context"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailmon/mailmon/outputs"
)

// request is what a test server saw of one request.
type request struct {
	method, path string
	host         string
	query        map[string]string
	header       http.Header
	body         string // decompressed
	user, pass   string
	basic        bool
}

// recorder is an httptest server that records requests and answers with
// status and body.
func recorder(t *testing.T, status int, body string, header map[string]string) (*httptest.Server, <-chan request) {
	t.Helper()
	reqs := make(chan request, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rd io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				t.Errorf("body is not gzip: %v", err)
				return
			}
			rd = zr
		}
		b, err := io.ReadAll(rd)
		if err != nil {
			t.Errorf("read body: %v", err)
		}
		q := map[string]string{}
		for k, v := range r.URL.Query() {
			q[k] = strings.Join(v, ",")
		}
		u, p, ok := r.BasicAuth()
		reqs <- request{method: r.Method, path: r.URL.Path, host: r.Host, query: q, header: r.Header, body: string(b), user: u, pass: p, basic: ok}
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, reqs
}

func TestHTTPv1Request(t *testing.T) {
	srv, reqs := recorder(t, http.StatusNoContent, "", nil)
	o := mustOutput(t, fmt.Sprintf(`{"mode":"http","url":%q,"database":"mail","retention_policy":"30d",
		"username":"mon","password":"s3cret","headers":{"X-Tenant":"mail","Host":"influx.example"}}`, srv.URL+"/base"))
	ctx := context.Background()
	if err := o.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := o.Write(ctx, fixtures("")); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	r := <-reqs
	checks := []struct{ what, got, want string }{
		{"method", r.method, "POST"},
		{"path", r.path, "/base/write"},
		{"query", fmt.Sprint(r.query), "map[db:mail precision:ns rp:30d]"},
		{"basic auth", fmt.Sprint(r.basic, " ", r.user, " ", r.pass), "true mon s3cret"},
		{"Content-Encoding", r.header.Get("Content-Encoding"), "gzip"},
		{"Content-Type", r.header.Get("Content-Type"), "text/plain; charset=utf-8"},
		{"User-Agent", r.header.Get("User-Agent"), "mailmon/dev"},
		{"X-Tenant", r.header.Get("X-Tenant"), "mail"},
		{"Host", r.host, "influx.example"},
		{"body", r.body, fixtureLines("")},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.what, c.got, c.want)
		}
	}
}

func TestHTTPv2Request(t *testing.T) {
	srv, reqs := recorder(t, http.StatusNoContent, "", nil)
	o := mustOutput(t, fmt.Sprintf(`{"mode":"http","url":%q,"api":"v2","org":"acme","bucket":"mail",
		"token":"x","content_encoding":"identity"}`, srv.URL))
	if err := o.Write(context.Background(), fixtures("")); err != nil {
		t.Fatal(err)
	}
	r := <-reqs
	checks := []struct{ what, got, want string }{
		{"path", r.path, "/api/v2/write"},
		{"query", fmt.Sprint(r.query), "map[bucket:mail org:acme precision:ns]"},
		{"Authorization", r.header.Get("Authorization"), "Token x"},
		{"Content-Encoding", r.header.Get("Content-Encoding"), ""},
		{"body", r.body, fixtureLines("")},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.what, c.got, c.want)
		}
	}
}

func TestHTTPStatus(t *testing.T) {
	long := strings.Repeat("é", 300) // 600 bytes; cut at 512 without splitting a character
	tests := []struct {
		status    int
		body      string
		header    map[string]string
		want      string // error after "post URL: "; empty for success
		permanent bool
	}{
		{status: 204},
		{status: 200, body: "{}"},
		{400, `{"error":"unable to parse 'x': missing fields"}`, nil, `400 Bad Request: {"error":"unable to parse 'x': missing fields"}`, true},
		{401, `{"error":"authorization failed"}`, nil, `401 Unauthorized: {"error":"authorization failed"}`, true},
		{403, "", nil, `403 Forbidden`, true},
		{404, `{"error":"database not found: \"mail\""}`, nil, `404 Not Found: {"error":"database not found: \"mail\""}`, true},
		{413, `{"error":"http: request body too large"}`, nil, `413 Request Entity Too Large: {"error":"http: request body too large"}`, true},
		{400, long, nil, "400 Bad Request: " + strings.Repeat("é", 256) + "…", true},
		{301, "", map[string]string{"Location": "https://influx.example/write"}, `301 Moved Permanently (redirected to https://influx.example/write: set url to it)`, true},
		{429, "slow down", map[string]string{"Retry-After": "30"}, `429 Too Many Requests (retry after 30): slow down`, false},
		{500, "boom", nil, `500 Internal Server Error: boom`, false},
		{503, "", nil, `503 Service Unavailable`, false},
		{408, "", nil, `408 Request Timeout`, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			srv, reqs := recorder(t, tt.status, tt.body, tt.header)
			o := mustOutput(t, fmt.Sprintf(`{"mode":"http","url":%q}`, srv.URL))
			err := o.Write(context.Background(), fixtures(""))
			<-reqs
			if tt.want == "" {
				if err != nil {
					t.Fatalf("status %d: %v", tt.status, err)
				}
				return
			}
			want := "post " + srv.URL + "/write?db=mailmon&precision=ns: " + tt.want
			if err == nil || err.Error() != want {
				t.Fatalf("error\n got: %v\nwant: %s", err, want)
			}
			if outputs.IsPermanent(err) != tt.permanent {
				t.Errorf("permanent = %v, want %v", outputs.IsPermanent(err), tt.permanent)
			}
		})
	}
}

func TestHTTPNetworkError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	o := mustOutput(t, fmt.Sprintf(`{"mode":"http","url":%q}`, url))
	err := o.Write(context.Background(), fixtures(""))
	prefix := "post " + url + "/write?db=mailmon&precision=ns: dial tcp "
	if err == nil || !strings.HasPrefix(err.Error(), prefix) || outputs.IsPermanent(err) {
		t.Fatalf("got %v, want a retryable error starting %q", err, prefix)
	}
}

func TestHTTPTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
	}))
	defer srv.Close()
	defer close(release)
	o := mustOutput(t, fmt.Sprintf(`{"mode":"http","url":%q,"timeout":"200ms"}`, srv.URL))
	start := time.Now()
	err := o.Write(context.Background(), fixtures(""))
	if err == nil || outputs.IsPermanent(err) || !strings.Contains(err.Error(), "Client.Timeout exceeded") {
		t.Fatalf("got %v, want a retryable timeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("timeout took %v", d)
	}
}

func TestHTTPSWithCAFile(t *testing.T) {
	reqs := make(chan string, 1)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqs <- r.URL.Path
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(ca, cert, 0o600); err != nil {
		t.Fatal(err)
	}

	o := mustOutput(t, fmt.Sprintf(`{"mode":"http","url":%q}`, srv.URL))
	err := o.Write(context.Background(), fixtures(""))
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("without the CA: got %v, want a certificate error", err)
	}
	for _, raw := range []string{
		fmt.Sprintf(`{"mode":"http","url":%q,"tls_ca_file":%q}`, srv.URL, ca),
		fmt.Sprintf(`{"mode":"http","url":%q,"tls_insecure_skip_verify":true}`, srv.URL),
	} {
		o := mustOutput(t, raw)
		if err := o.Write(context.Background(), fixtures("")); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if p := <-reqs; p != "/write" {
			t.Errorf("path %q", p)
		}
	}
}

func TestRetryAfterDuration(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for ra, want := range map[string]time.Duration{
		"":                              0,
		"30":                            30 * time.Second,
		"-1":                            0,
		"soon":                          0,
		"Fri, 02 Jan 2026 03:05:05 GMT": time.Minute,
	} {
		e := &StatusError{RetryAfter: ra}
		if got := e.RetryAfterDuration(now); got != want {
			t.Errorf("Retry-After %q: %v, want %v", ra, got, want)
		}
	}
}
