package pagerduty

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/mailmon/mailmon/outputs"
	"github.com/mailmon/mailmon/outputs/internal/sampletest"
	"github.com/mailmon/mailmon/sdk"
)

// newOutput decodes raw the way the agent does and calls Init.
func newOutput(t testing.TB, raw string) (*PagerDuty, error) {
	t.Helper()
	p := &PagerDuty{}
	if err := sdk.DecodeConfig([]byte(raw), p); err != nil {
		return nil, err
	}
	return p, p.Init()
}

func TestInitErrors(t *testing.T) {
	tests := []struct{ name, raw, want string }{
		{"no routing key", `{}`, `option routing_key: required (the integration key of an Events API v2 integration)`},
		{"routing key newline", `{"routing_key":"abc\n"}`, `option routing_key: has leading or trailing white space`},
		{"routing key space", `{"routing_key":"ab c"}`, `option routing_key: contains white space`},
		{"unknown option", `{"routing_key":"k","service_key":"x"}`, `option service_key: unknown option`},
		{"common key", `{"routing_key":"k","statuses":["CRITICAL"]}`, `option statuses: unknown option`},
		{"bad timeout", `{"routing_key":"k","timeout":"ten"}`, `option timeout: invalid duration "ten" (want a number with a unit, e.g. "30s")`},
		{"endpoint scheme", `{"routing_key":"k","endpoint":"events.pagerduty.com/v2/enqueue"}`, `option endpoint: want an http:// or https:// URL, got "events.pagerduty.com/v2/enqueue"`},
		{"endpoint base only", `{"routing_key":"k","endpoint":"https://events.pagerduty.com"}`, `option endpoint: want the full enqueue URL ending in /v2/enqueue, got "https://events.pagerduty.com"`},
		{"endpoint query", `{"routing_key":"k","endpoint":"https://events.pagerduty.com/v2/enqueue?x=1"}`, `option endpoint: want the full enqueue URL ending in /v2/enqueue, got "https://events.pagerduty.com/v2/enqueue?x=1"`},
		{"bad client url", `{"routing_key":"k","client_url":"grafana"}`, `option client_url: want an http:// or https:// URL, got "grafana"`},
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
	p, err := newOutput(t, `{"routing_key":"R0123456789abcdef0123456789abcdef"}`)
	if err != nil {
		t.Fatal(err)
	}
	if p.Endpoint != "https://events.pagerduty.com/v2/enqueue" || p.Timeout.D() != 10*time.Second {
		t.Errorf("endpoint %q timeout %v", p.Endpoint, p.Timeout.D())
	}
	if !strings.Contains(p.SampleConfig(), "# endpoint = \"https://events.pagerduty.com/v2/enqueue\"") {
		t.Error("sample config does not show the endpoint default")
	}
	if f, ok := outputs.Get("pagerduty"); !ok {
		t.Error("not registered")
	} else if _, ok := f().(outputs.AlertOutput); !ok {
		t.Error("not an AlertOutput")
	}
}

// eventsAPI is a fake Events API v2 that checks requests against the
// published schema and answers like PagerDuty.
type eventsAPI struct {
	t      *testing.T
	mu     sync.Mutex
	events []map[string]any
	// respond, when set, answers instead of the 202.
	respond func(w http.ResponseWriter) bool
}

func (f *eventsAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v2/enqueue" {
		f.t.Errorf("%s %s, want POST /v2/enqueue", r.Method, r.URL.Path)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		f.t.Errorf("Content-Type %q", ct)
	}
	if r.Header.Get("Authorization") != "" {
		f.t.Error("the Events API takes the routing key in the body, not an Authorization header")
	}
	raw, _ := io.ReadAll(r.Body)
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		f.t.Errorf("body %s: %v", raw, err)
	}
	if problem := validate(ev); problem != "" {
		f.t.Errorf("invalid event %s: %s", raw, problem)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"status":"invalid event","message":"Event object is invalid","errors":[%q]}`, problem)
		return
	}
	f.mu.Lock()
	f.events = append(f.events, ev)
	f.mu.Unlock()
	if f.respond != nil && f.respond(w) {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	fmt.Fprintf(w, `{"status":"success","message":"Event processed","dedup_key":%q}`, ev["dedup_key"])
}

// validate checks the rules of the Events API v2 schema.
func validate(ev map[string]any) string {
	if k, _ := ev["routing_key"].(string); k == "" {
		return "routing_key missing"
	}
	action, _ := ev["event_action"].(string)
	if !slices.Contains([]string{"trigger", "acknowledge", "resolve"}, action) {
		return fmt.Sprintf("event_action %q", action)
	}
	dk, hasKey := ev["dedup_key"].(string)
	if len(dk) > 255 {
		return "dedup_key longer than 255"
	}
	if action != "trigger" {
		if !hasKey || dk == "" {
			return "dedup_key required for " + action
		}
		return ""
	}
	pl, ok := ev["payload"].(map[string]any)
	if !ok {
		return "payload required for trigger"
	}
	summary, _ := pl["summary"].(string)
	switch {
	case summary == "":
		return "payload.summary required"
	case len(summary) > 1024:
		return "payload.summary longer than 1024"
	case pl["source"] == nil || pl["source"] == "":
		return "payload.source required"
	case !slices.Contains([]string{"critical", "error", "warning", "info"}, fmt.Sprint(pl["severity"])):
		return fmt.Sprintf("payload.severity %v", pl["severity"])
	}
	if ts, ok := pl["timestamp"].(string); ok {
		if _, err := time.Parse(time.RFC3339, ts); err != nil {
			return "payload.timestamp: " + err.Error()
		}
	}
	return ""
}

func (f *eventsAPI) sent() []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.events)
}

func fakeAPI(t *testing.T) (*eventsAPI, *PagerDuty, string) {
	t.Helper()
	f := &eventsAPI{t: t}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	p, err := newOutput(t, fmt.Sprintf(`{"routing_key":"R0123456789abcdef0123456789abcdef","endpoint":%q,"timeout":"2s"}`, srv.URL+"/v2/enqueue"))
	if err != nil {
		t.Fatal(err)
	}
	return f, p, srv.URL + "/v2/enqueue"
}

func testEvent(typ outputs.EventType, status string) *outputs.Event {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	return &outputs.Event{
		ID:          "ev-1",
		Type:        typ,
		DedupKey:    "mailmon/mx1/smtp-banner/mx-a",
		Host:        "mx1",
		Check:       "smtp-banner",
		Instance:    "mx-a",
		Target:      "mx-a.example.com:25",
		Status:      status,
		Reason:      "connect_failed",
		Message:     "connection refused",
		FirstFailed: t0,
		Time:        t0.Add(2 * time.Minute),
		Metrics:     map[string]any{"status_code": 2, "connect_seconds": 0.003},
	}
}

func TestTrigger(t *testing.T) {
	f, p, _ := fakeAPI(t)
	if err := p.Send(context.Background(), testEvent(outputs.Trigger, "CRITICAL")); err != nil {
		t.Fatal(err)
	}
	got := f.sent()
	if len(got) != 1 {
		t.Fatalf("%d events", len(got))
	}
	ev := got[0]
	pl := ev["payload"].(map[string]any)
	cd := pl["custom_details"].(map[string]any)
	checks := []struct {
		what string
		got  any
		want any
	}{
		{"routing_key", ev["routing_key"], "R0123456789abcdef0123456789abcdef"},
		{"event_action", ev["event_action"], "trigger"},
		{"dedup_key", ev["dedup_key"], "mailmon/mx1/smtp-banner/mx-a"},
		{"client", ev["client"], "mailmon"},
		{"summary", pl["summary"], "CRITICAL smtp-banner/mx-a on mx1: connection refused"},
		{"severity", pl["severity"], "critical"},
		{"source", pl["source"], "mx1"},
		{"timestamp", pl["timestamp"], "2026-11-23T10:02:00Z"},
		{"check", cd["check"], "smtp-banner"},
		{"instance", cd["instance"], "mx-a"},
		{"target", cd["target"], "mx-a.example.com:25"},
		{"status", cd["status"], "CRITICAL"},
		{"reason", cd["reason"], "connect_failed"},
		{"message", cd["message"], "connection refused"},
		{"first_failed", cd["first_failed"], "2026-11-23T10:00:00Z"},
		{"metrics.connect_seconds", cd["metrics"].(map[string]any)["connect_seconds"], 0.003},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
}

func TestSeverityAndOptions(t *testing.T) {
	f := &eventsAPI{t: t}
	srv := httptest.NewServer(f)
	defer srv.Close()
	p, err := newOutput(t, fmt.Sprintf(`{"routing_key":"k","endpoint":%q,"source":"mail-cluster","component":"postfix","group":"mx","class":"smtp","client_url":"https://grafana.example.com/d/mail"}`, srv.URL+"/v2/enqueue"))
	if err != nil {
		t.Fatal(err)
	}
	for _, status := range []string{"WARNING", "UNKNOWN", "CRITICAL"} {
		if err := p.Send(context.Background(), testEvent(outputs.Renotify, status)); err != nil {
			t.Fatal(err)
		}
	}
	got := f.sent()
	for i, want := range []string{"warning", "error", "critical"} {
		pl := got[i]["payload"].(map[string]any)
		if pl["severity"] != want || got[i]["event_action"] != "trigger" {
			t.Errorf("event %d: %v severity %v, want trigger %s", i, got[i]["event_action"], pl["severity"], want)
		}
		if pl["source"] != "mail-cluster" || pl["component"] != "postfix" || pl["group"] != "mx" || pl["class"] != "smtp" {
			t.Errorf("payload %v", pl)
		}
		if got[i]["client_url"] != "https://grafana.example.com/d/mail" {
			t.Errorf("client_url %v", got[i]["client_url"])
		}
	}
}

func TestResolveAndFlapping(t *testing.T) {
	f, p, _ := fakeAPI(t)
	ctx := context.Background()
	for _, typ := range []outputs.EventType{outputs.Flapping, outputs.FlappingEnd} {
		if err := p.Send(ctx, testEvent(typ, "CRITICAL")); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(f.sent()); n != 0 {
		t.Fatalf("flapping events were sent (%d)", n)
	}
	e := testEvent(outputs.Resolve, "OK")
	e.PreviousStatus = "CRITICAL"
	if err := p.Send(ctx, e); err != nil {
		t.Fatal(err)
	}
	got := f.sent()
	if len(got) != 1 || got[0]["event_action"] != "resolve" || got[0]["dedup_key"] != "mailmon/mx1/smtp-banner/mx-a" {
		t.Fatalf("sent %v", got)
	}
	if _, ok := got[0]["payload"]; ok {
		t.Error("a resolve needs no payload")
	}
	if err := p.Send(ctx, &outputs.Event{Type: "acknowledge", DedupKey: "k"}); !outputs.IsPermanent(err) {
		t.Errorf("unknown type: %v, want a permanent error", err)
	}
}

func TestLimits(t *testing.T) {
	f, p, _ := fakeAPI(t)
	e := testEvent(outputs.Trigger, "CRITICAL")
	e.Message = strings.Repeat("é", 1000)
	e.DedupKey = strings.Repeat("k", 189) + strings.Repeat("é", 60)
	if err := p.Send(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	r := testEvent(outputs.Resolve, "OK")
	r.DedupKey = e.DedupKey
	if err := p.Send(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	got := f.sent()
	summary := got[0]["payload"].(map[string]any)["summary"].(string)
	if len(summary) > 1024 || !strings.HasSuffix(summary, "…") {
		t.Errorf("summary of %d bytes: ...%s", len(summary), summary[len(summary)-10:])
	}
	k1, k2 := got[0]["dedup_key"].(string), got[1]["dedup_key"].(string)
	if len(k1) != 254 || k1 != k2 || !utf8.ValidString(k1) {
		t.Errorf("dedup keys %d bytes, equal %v", len(k1), k1 == k2)
	}
}

func TestTestEvent(t *testing.T) {
	f, p, _ := fakeAPI(t)
	e := testEvent(outputs.Trigger, "WARNING")
	e.Test = true
	if err := p.Send(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	pl := f.sent()[0]["payload"].(map[string]any)
	if !strings.HasPrefix(pl["summary"].(string), "[test] WARNING") || pl["custom_details"].(map[string]any)["test"] != true {
		t.Errorf("payload %v", pl)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name      string
		respond   func(w http.ResponseWriter) bool
		want      string
		permanent bool
		wait      time.Duration
	}{
		{
			name: "400",
			respond: func(w http.ResponseWriter) bool {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(400)
				io.WriteString(w, `{"status":"invalid event","message":"Event object is invalid","errors":["Length of 'routing_key' is incorrect (should be 32 characters)"]}`)
				return true
			},
			want:      `400 Bad Request: {"status":"invalid event","message":"Event object is invalid","errors":["Length of 'routing_key' is incorrect (should be 32 characters)"]}`,
			permanent: true,
		},
		{
			name: "429 with Retry-After",
			respond: func(w http.ResponseWriter) bool {
				w.Header().Set("Retry-After", "17")
				w.WriteHeader(429)
				return true
			},
			want: "429 Too Many Requests (retry after 17s)",
			wait: 17 * time.Second,
		},
		{
			name: "429 without Retry-After",
			respond: func(w http.ResponseWriter) bool {
				w.WriteHeader(429)
				return true
			},
			want: "429 Too Many Requests (retry after 30s)",
			wait: 30 * time.Second,
		},
		{
			name: "500",
			respond: func(w http.ResponseWriter) bool {
				w.WriteHeader(500)
				io.WriteString(w, "upstream failure")
				return true
			},
			want: "500 Internal Server Error: upstream failure",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, p, endpoint := fakeAPI(t)
			f.respond = tt.respond
			err := p.Send(context.Background(), testEvent(outputs.Trigger, "CRITICAL"))
			if want := "post " + endpoint + ": " + tt.want; err == nil || err.Error() != want {
				t.Fatalf("got %v\nwant %s", err, want)
			}
			if outputs.IsPermanent(err) != tt.permanent {
				t.Errorf("permanent = %v", outputs.IsPermanent(err))
			}
			if wait, ok := outputs.RetryAfter(err); ok != (tt.wait > 0) || wait != tt.wait {
				t.Errorf("retry after %v %v, want %v", wait, ok, tt.wait)
			}
		})
	}
}

func TestNetworkErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(500 * time.Millisecond)
	}))
	defer srv.Close()
	p, err := newOutput(t, fmt.Sprintf(`{"routing_key":"k","endpoint":%q,"timeout":"100ms"}`, srv.URL+"/v2/enqueue"))
	if err != nil {
		t.Fatal(err)
	}
	err = p.Send(context.Background(), testEvent(outputs.Trigger, "CRITICAL"))
	if err == nil || outputs.IsPermanent(err) {
		t.Fatalf("timeout: %v, want a retried error", err)
	}
	if _, ok := outputs.RetryAfter(err); ok {
		t.Error("a timeout asks for no specific wait")
	}

	srv.Close() // connection refused
	if err := p.Send(context.Background(), testEvent(outputs.Trigger, "CRITICAL")); err == nil || outputs.IsPermanent(err) {
		t.Fatalf("refused: %v, want a retried error", err)
	}
}

func TestSampleConfig(t *testing.T) {
	sampletest.Check(t, "pagerduty", (&PagerDuty{}).SampleConfig(), &PagerDuty{})
}
