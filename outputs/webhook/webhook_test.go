package webhook

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mailmon/mailmon/outputs"
	"github.com/mailmon/mailmon/outputs/internal/sampletest"
	"github.com/mailmon/mailmon/sdk"
)

// newOutput decodes raw the way the agent does and calls Init.
func newOutput(t testing.TB, raw string) (*Webhook, error) {
	t.Helper()
	w := &Webhook{}
	if err := sdk.DecodeConfig([]byte(raw), w); err != nil {
		return nil, err
	}
	return w, w.Init()
}

func TestInitErrors(t *testing.T) {
	badCA := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(badCA, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing.pem")
	tests := []struct{ name, raw, want string }{
		{"no url", `{}`, `option url: required`},
		{"bad scheme", `{"url":"ftp://x/"}`, `option url: want an http:// or https:// URL, got "ftp://x/"`},
		{"no scheme", `{"url":"alerts.example.com/hook"}`, `option url: want an http:// or https:// URL, got "alerts.example.com/hook"`},
		{"fragment", `{"url":"https://x/hook#a"}`, `option url: must not have a fragment`},
		{"unknown option", `{"url":"https://x/","method":"PUT"}`, `option method: unknown option`},
		{"common key", `{"url":"https://x/","queue_limit":5}`, `option queue_limit: unknown option`},
		{"bad timeout", `{"url":"https://x/","timeout":-1}`, `option timeout: invalid duration -1: negative`},
		{"bad header name", `{"url":"https://x/","headers":{"X Key":"a"}}`, `option headers: invalid header name "X Key"`},
		{"header newline", `{"url":"https://x/","headers":{"X-Key":"a\r\nb"}}`, `option headers: header "X-Key": value contains a line break or NUL`},
		{"own header", `{"url":"https://x/","headers":{"X-Mailmon-Signature":"x"}}`, `option headers: "X-Mailmon-Signature" is set by the output`},
		{"content type", `{"url":"https://x/","headers":{"content-type":"text/plain"}}`, `option headers: "content-type" is set by the output`},
		{"headers not a table", `{"url":"https://x/","headers":"a"}`, `option headers: expected a table, got string`},
		{"secret space", `{"url":"https://x/","secret":"s3cret\n"}`, `option secret: has leading or trailing white space`},
		{"ca with http", `{"url":"http://x/","tls_ca_file":"/etc/ca.pem"}`, `option tls_ca_file: only used with an https url`},
		{"skip verify with http", `{"url":"http://x/","tls_insecure_skip_verify":true}`, `option tls_insecure_skip_verify: only used with an https url`},
		{"ca missing", fmt.Sprintf(`{"url":"https://x/","tls_ca_file":%q}`, missing), fmt.Sprintf(`option tls_ca_file: open %s: no such file or directory`, missing)},
		{"ca not pem", fmt.Sprintf(`{"url":"https://x/","tls_ca_file":%q}`, badCA), fmt.Sprintf(`option tls_ca_file: no PEM certificate in %s`, badCA)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newOutput(t, tt.raw)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("got %v\nwant %s", err, tt.want)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	w, err := newOutput(t, `{"url":"https://alerts.example.com/mailmon"}`)
	if err != nil {
		t.Fatal(err)
	}
	if w.Timeout.D() != 10*time.Second {
		t.Errorf("timeout %v", w.Timeout.D())
	}
	if f, ok := outputs.Get("webhook"); !ok {
		t.Error("not registered")
	} else if _, ok := f().(outputs.AlertOutput); !ok {
		t.Error("not an AlertOutput")
	}
}

func testEvent() *outputs.Event {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	return &outputs.Event{
		ID: "01JDX5V2W0Y8N3Q6R9T2", Type: outputs.Trigger, DedupKey: "mx1/smtp-banner/mx-a",
		Host: "mx1", Check: "smtp-banner", Instance: "mx-a", Target: "mx-a.example.com:25",
		Status: "CRITICAL", Reason: "connect_failed", Message: "connection refused",
		FirstFailed: t0, Time: t0.Add(time.Minute),
		Metrics: map[string]any{"status_code": 2.0, "connect_seconds": 0.003},
		Tags:    map[string]string{"host": "mx1", "check": "mx-a"},
	}
}

type request struct {
	header http.Header
	host   string
	method string
	body   []byte
}

func receiver(t *testing.T, tls bool, respond func(w http.ResponseWriter)) (*httptest.Server, chan request) {
	t.Helper()
	got := make(chan request, 10)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- request{header: r.Header, host: r.Host, method: r.Method, body: body}
		if respond != nil {
			respond(w)
		}
	})
	var srv *httptest.Server
	if tls {
		srv = httptest.NewTLSServer(h)
	} else {
		srv = httptest.NewServer(h)
	}
	t.Cleanup(srv.Close)
	return srv, got
}

func TestSendSigned(t *testing.T) {
	srv, got := receiver(t, false, nil)
	w, err := newOutput(t, fmt.Sprintf(`{"url":%q,"secret":"s3cret","headers":{"Authorization":"Bearer abc","Host":"alerts.example.com"}}`, srv.URL+"/hook?team=mail"))
	if err != nil {
		t.Fatal(err)
	}
	sent := time.Unix(1795000000, 0)
	w.now = func() time.Time { return sent }
	e := testEvent()
	if err := w.Send(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	r := <-got
	want, _ := json.Marshal(e)
	if string(r.body) != string(want) {
		t.Errorf("body\n%s\nwant\n%s", r.body, want)
	}
	var back outputs.Event
	if err := json.Unmarshal(r.body, &back); err != nil || !reflect.DeepEqual(&back, e) {
		t.Errorf("the body does not decode back into the event: %v\n%+v", err, back)
	}
	for k, v := range map[string]string{
		"Content-Type":         "application/json",
		"Authorization":        "Bearer abc",
		"X-Mailmon-Event-Id":   "01JDX5V2W0Y8N3Q6R9T2",
		"X-Mailmon-Event-Type": "trigger",
		"X-Mailmon-Timestamp":  "1795000000",
	} {
		if r.header.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, r.header.Get(k), v)
		}
	}
	if r.method != http.MethodPost || r.host != "alerts.example.com" {
		t.Errorf("%s with Host %q", r.method, r.host)
	}
	sig, ts := r.header.Get("X-Mailmon-Signature"), r.header.Get("X-Mailmon-Timestamp")
	if !strings.HasPrefix(sig, "sha256=") || len(sig) != len("sha256=")+64 {
		t.Errorf("signature %q", sig)
	}
	if err := Verify([]byte("s3cret"), ts, sig, r.body, sent.Add(time.Minute), 5*time.Minute); err != nil {
		t.Errorf("verify with the secret: %v", err)
	}
	fails := []struct {
		name, secret, ts string
		body             []byte
		now              time.Time
		want             string
	}{
		{"other secret", "other", ts, r.body, sent, "verify webhook: signature does not match"},
		{"changed body", "s3cret", ts, append([]byte(" "), r.body...), sent, "verify webhook: signature does not match"},
		{"changed timestamp", "s3cret", "1795000001", r.body, sent, "verify webhook: signature does not match"},
		{"replayed", "s3cret", ts, r.body, sent.Add(time.Hour), "verify webhook: timestamp 1795000000 is 1h0m0s away from now"},
		{"bad timestamp", "s3cret", "yesterday", r.body, sent, `verify webhook: timestamp "yesterday": not unix seconds`},
	}
	for _, f := range fails {
		err := Verify([]byte(f.secret), f.ts, sig, f.body, f.now, 5*time.Minute)
		if err == nil || err.Error() != f.want {
			t.Errorf("%s: got %v, want %s", f.name, err, f.want)
		}
	}
}

// TestSignatureVector pins the signed material (checked with
// `printf '%s' '1795000000.{"id":"x"}' | openssl dgst -sha256 -hmac s3cret`),
// so the README's receiver examples stay right.
func TestSignatureVector(t *testing.T) {
	got := Sign([]byte("s3cret"), "1795000000", []byte(`{"id":"x"}`))
	want := "sha256=1599850bb30655758644aab09b728dba5b2442102b4f5b4969f9a40aabdf5dc1"
	if got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func TestUnsigned(t *testing.T) {
	srv, got := receiver(t, false, nil)
	w, err := newOutput(t, fmt.Sprintf(`{"url":%q}`, srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Send(context.Background(), testEvent()); err != nil {
		t.Fatal(err)
	}
	r := <-got
	if r.header.Get("X-Mailmon-Signature") != "" || r.header.Get("X-Mailmon-Timestamp") != "" {
		t.Error("signed without a secret")
	}
	if r.header.Get("X-Mailmon-Event-Id") == "" {
		t.Error("no event id")
	}
}

func TestStatusClassification(t *testing.T) {
	tests := []struct {
		code      int
		header    string
		body      string
		want      string
		permanent bool
		wait      time.Duration
	}{
		{code: 200},
		{code: 204},
		{code: 400, body: "bad payload", want: "400 Bad Request: bad payload", permanent: true},
		{code: 401, want: "401 Unauthorized", permanent: true},
		{code: 404, body: "no such hook", want: "404 Not Found: no such hook", permanent: true},
		{code: 429, header: "12", want: "429 Too Many Requests (retry after 12s)", wait: 12 * time.Second},
		{code: 429, want: "429 Too Many Requests (retry after 30s)", wait: 30 * time.Second},
		{code: 500, body: "oops", want: "500 Internal Server Error: oops"},
		{code: 503, want: "503 Service Unavailable"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.code, tt.header), func(t *testing.T) {
			srv, _ := receiver(t, false, func(w http.ResponseWriter) {
				if tt.header != "" {
					w.Header().Set("Retry-After", tt.header)
				}
				w.WriteHeader(tt.code)
				io.WriteString(w, tt.body)
			})
			w, err := newOutput(t, fmt.Sprintf(`{"url":%q}`, srv.URL))
			if err != nil {
				t.Fatal(err)
			}
			err = w.Send(context.Background(), testEvent())
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if want := "post " + srv.URL + ": " + tt.want; err == nil || err.Error() != want {
				t.Fatalf("got %v\nwant %s", err, want)
			}
			if outputs.IsPermanent(err) != tt.permanent {
				t.Errorf("permanent = %v", outputs.IsPermanent(err))
			}
			if wait, ok := outputs.RetryAfter(err); ok != (tt.wait > 0) || wait != tt.wait {
				t.Errorf("retry after %v %v", wait, ok)
			}
		})
	}
}

func TestTimeoutRetried(t *testing.T) {
	srv, _ := receiver(t, false, func(http.ResponseWriter) { time.Sleep(300 * time.Millisecond) })
	w, err := newOutput(t, fmt.Sprintf(`{"url":%q,"timeout":"50ms"}`, srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	err = w.Send(context.Background(), testEvent())
	if err == nil || outputs.IsPermanent(err) || !strings.HasPrefix(err.Error(), "post "+srv.URL+": ") {
		t.Fatalf("got %v, want a retried error", err)
	}
}

func TestTLS(t *testing.T) {
	srv, got := receiver(t, true, nil)
	// Without the CA the certificate is refused: retried, the operator fixes it.
	w, err := newOutput(t, fmt.Sprintf(`{"url":%q}`, srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Send(context.Background(), testEvent()); err == nil || outputs.IsPermanent(err) {
		t.Fatalf("untrusted certificate: %v", err)
	}

	ca := filepath.Join(t.TempDir(), "ca.pem")
	cert, _ := x509.ParseCertificate(srv.TLS.Certificates[0].Certificate[0])
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, raw := range []string{
		fmt.Sprintf(`{"url":%q,"tls_ca_file":%q}`, srv.URL, ca),
		fmt.Sprintf(`{"url":%q,"tls_insecure_skip_verify":true}`, srv.URL),
	} {
		w, err := newOutput(t, raw)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Send(context.Background(), testEvent()); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		<-got
	}
}

func TestSampleConfig(t *testing.T) {
	sampletest.Check(t, "webhook", (&Webhook{}).SampleConfig(), &Webhook{})
}
