package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailmon/mailmon/outputs"
	"github.com/mailmon/mailmon/outputs/internal/sampletest"
	"github.com/mailmon/mailmon/sdk"
)

// newOutput decodes raw the way the agent does and calls Init.
func newOutput(t testing.TB, raw string) (*Slack, error) {
	t.Helper()
	s := &Slack{}
	if err := sdk.DecodeConfig([]byte(raw), s); err != nil {
		return nil, err
	}
	return s, s.Init()
}

func TestInitErrors(t *testing.T) {
	tests := []struct{ name, raw, want string }{
		{"bad mode", `{"mode":"rtm"}`, `option mode: must be "webhook" or "bot", got "rtm"`},
		{"webhook without url", `{}`, `option webhook_url: required for mode "webhook"`},
		{"webhook bad url", `{"webhook_url":"hooks.slack.com/services/T/B/x"}`, `option webhook_url: want an http:// or https:// URL, got "hooks.slack.com/services/T/B/x"`},
		{"token with webhook", `{"webhook_url":"https://hooks.slack.com/x","token":"xoxb-1"}`, `option token: only used with mode "bot"`},
		{"channel with webhook", `{"webhook_url":"https://hooks.slack.com/x","channel":"#a"}`, `option channel: only used with mode "bot"`},
		{"broadcast with webhook", `{"webhook_url":"https://hooks.slack.com/x","reply_broadcast":true}`, `option reply_broadcast: only used with mode "bot"`},
		{"webhook url with bot", `{"mode":"bot","token":"xoxb-1","channel":"C1","webhook_url":"https://hooks.slack.com/x"}`, `option webhook_url: only used with mode "webhook"`},
		{"bot without token", `{"mode":"bot","channel":"C1"}`, `option token: required for mode "bot"`},
		{"bot token newline", `{"mode":"bot","token":"xoxb-1\n","channel":"C1"}`, `option token: contains white space`},
		{"bot without channel", `{"mode":"bot","token":"xoxb-1"}`, `option channel: required for mode "bot"`},
		{"bot bad channel", `{"mode":"bot","token":"xoxb-1","channel":"mail alerts"}`, `option channel: want a channel ID (C0123ABCD) or #name, got "mail alerts"`},
		{"bot bad api url", `{"mode":"bot","token":"xoxb-1","channel":"C1","api_url":"slack.com/api"}`, `option api_url: want an http:// or https:// URL, got "slack.com/api"`},
		{"unknown option", `{"webhook_url":"https://hooks.slack.com/x","icon":"x"}`, `option icon: unknown option`},
		{"common key", `{"webhook_url":"https://hooks.slack.com/x","checks":["mx-*"]}`, `option checks: unknown option`},
		{"bad timeout", `{"webhook_url":"https://hooks.slack.com/x","timeout":"1 s"}`, `option timeout: invalid duration "1 s" (want a number with a unit, e.g. "30s")`},
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
	s, err := newOutput(t, `{"mode":"bot","token":"xoxb-1","channel":"C1","api_url":"http://127.0.0.1:1/api"}`)
	if err != nil {
		t.Fatal(err)
	}
	if s.APIURL != "http://127.0.0.1:1/api/" || s.Timeout.D() != 10*time.Second {
		t.Errorf("api_url %q timeout %v", s.APIURL, s.Timeout.D())
	}
	s, err = newOutput(t, `{"mode":"bot","token":"xoxb-1","channel":"C1"}`)
	if err != nil {
		t.Fatal(err)
	}
	if s.APIURL != "https://slack.com/api/" {
		t.Errorf("api_url %q", s.APIURL)
	}
	if f, ok := outputs.Get("slack"); !ok {
		t.Error("not registered")
	} else if _, ok := f().(outputs.StateDirUser); !ok {
		t.Error("not a StateDirUser")
	}
}

func testEvent(typ outputs.EventType, status string) *outputs.Event {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	return &outputs.Event{
		ID: "ev-" + string(typ), Type: typ, DedupKey: "mx1/smtp-banner/mx-a",
		Host: "mx1", Check: "smtp-banner", Instance: "mx-a", Target: "mx-a.example.com:25",
		Status: status, Reason: "connect_failed", Message: "connection refused <25>",
		FirstFailed: t0, Time: t0.Add(3 * time.Minute),
		Metrics: map[string]any{
			"status_code": 2, "connect_seconds": 0.0031, "banner_seconds": 0.5, "tls_days": 40,
			"a_seconds": 1.0, "b_seconds": 2.0, "c_seconds": 3.0, "d_seconds": 4.0, "result": "connect_failed",
		},
	}
}

// checkMessage checks the parts every message has: the fallback text,
// valid blocks and the attachment with its colour bar.
func checkMessage(t *testing.T, text string, blocks, attachments []map[string]any, wantText, wantColor string) {
	t.Helper()
	if text != wantText {
		t.Errorf("text %q, want %q", text, wantText)
	}
	if len(blocks) != 2 || blocks[0]["type"] != "header" || blocks[1]["type"] != "section" {
		t.Fatalf("blocks %v", blocks)
	}
	head := blocks[0]["text"].(map[string]any)
	if head["type"] != "plain_text" || len([]rune(head["text"].(string))) > 150 {
		t.Errorf("header %v", head)
	}
	if len(attachments) != 1 || attachments[0]["color"] != wantColor {
		t.Fatalf("attachments %v, want one with color %s", attachments, wantColor)
	}
	for _, b := range attachments[0]["blocks"].([]any) {
		b := b.(map[string]any)
		if fs, ok := b["fields"].([]any); ok && len(fs) > 10 {
			t.Errorf("section with %d fields (Slack allows 10)", len(fs))
		}
	}
}

// fieldTexts returns the texts of the attachment's section fields.
func fieldTexts(att map[string]any) []string {
	var out []string
	for _, b := range att["blocks"].([]any) {
		fs, _ := b.(map[string]any)["fields"].([]any)
		for _, f := range fs {
			out = append(out, f.(map[string]any)["text"].(string))
		}
	}
	return out
}

func TestWebhook(t *testing.T) {
	type post struct {
		Text        string           `json:"text"`
		Blocks      []map[string]any `json:"blocks"`
		Attachments []map[string]any `json:"attachments"`
		ThreadTS    string           `json:"thread_ts"`
	}
	var (
		mu    sync.Mutex
		posts []post
		code  = http.StatusOK
		body  = "ok"
		retry string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/services/T000/B000/XXXX" {
			t.Errorf("%s %s", r.Method, r.URL.Path)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		var p post
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			t.Errorf("body: %v", err)
		}
		mu.Lock()
		posts = append(posts, p)
		mu.Unlock()
		if retry != "" {
			w.Header().Set("Retry-After", retry)
		}
		w.WriteHeader(code)
		io.WriteString(w, body)
	}))
	defer srv.Close()
	hook := srv.URL + "/services/T000/B000/XXXX"
	s, err := newOutput(t, fmt.Sprintf(`{"webhook_url":%q}`, hook))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, typ := range []outputs.EventType{outputs.Trigger, outputs.Renotify, outputs.Flapping, outputs.FlappingEnd, outputs.Resolve} {
		status := "CRITICAL"
		if typ == outputs.Resolve || typ == outputs.FlappingEnd {
			status = "OK"
		}
		if err := s.Send(ctx, testEvent(typ, status)); err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
	}
	want := []struct{ color, header string }{
		{"danger", ":red_circle: CRITICAL smtp-banner/mx-a on mx1"},
		{"danger", ":red_circle: Still CRITICAL smtp-banner/mx-a on mx1"},
		{"#439FE0", ":repeat: FLAPPING smtp-banner/mx-a on mx1"},
		{"good", ":white_check_mark: STABLE (OK) smtp-banner/mx-a on mx1"},
		{"good", ":white_check_mark: RESOLVED smtp-banner/mx-a on mx1"},
	}
	for i, p := range posts {
		e := testEvent([]outputs.EventType{outputs.Trigger, outputs.Renotify, outputs.Flapping, outputs.FlappingEnd, outputs.Resolve}[i], "CRITICAL")
		if i == 3 || i == 4 {
			e.Status = "OK"
		}
		checkMessage(t, p.Text, p.Blocks, p.Attachments, e.Summary(), want[i].color)
		if h := p.Blocks[0]["text"].(map[string]any)["text"]; h != want[i].header {
			t.Errorf("header %q, want %q", h, want[i].header)
		}
		if p.ThreadTS != "" {
			t.Error("webhook posts cannot thread")
		}
	}
	// The trigger's details and metrics.
	got := strings.Join(fieldTexts(posts[0].Attachments[0]), "|")
	wantFields := "*Check*\nsmtp-banner|*Instance*\nmx-a|*Host*\nmx1|*Target*\nmx-a.example.com:25|*Reason*\nconnect_failed|" +
		"*First failed*\n<!date^1795428000^{date_short_pretty} {time_secs}|2026-11-23T10:00:00Z>|" +
		"*a_seconds*\n1|*b_seconds*\n2|*banner_seconds*\n0.5|*c_seconds*\n3|*connect_seconds*\n0.0031|*d_seconds*\n4"
	if got != wantFields {
		t.Errorf("fields\n%q\nwant\n%q", got, wantFields)
	}
	if sec := posts[0].Blocks[1]["text"].(map[string]any)["text"]; sec != "connection refused &lt;25&gt;" {
		t.Errorf("section %q: mrkdwn not escaped", sec)
	}
	if sec := posts[4].Blocks[1]["text"].(map[string]any)["text"]; sec != "Recovered after 3m0s: connection refused &lt;25&gt;" {
		t.Errorf("resolve section %q", sec)
	}

	// Errors: Slack's incoming webhooks answer with a status and a word.
	tests := []struct {
		code      int
		body      string
		retry     string
		want      string
		permanent bool
		wait      time.Duration
	}{
		{400, "invalid_payload", "", "400 Bad Request: invalid_payload", true, 0},
		{403, "action_prohibited", "", "403 Forbidden: action_prohibited", true, 0},
		{404, "channel_not_found", "", "404 Not Found: channel_not_found", true, 0},
		{410, "channel_is_archived", "", "410 Gone: channel_is_archived", true, 0},
		{429, "", "3", "429 Too Many Requests (retry after 3s)", false, 3 * time.Second},
		{429, "", "", "429 Too Many Requests (retry after 30s)", false, 30 * time.Second},
		{500, "rollup_error", "", "500 Internal Server Error: rollup_error", false, 0},
	}
	for _, tt := range tests {
		code, body, retry = tt.code, tt.body, tt.retry
		err := s.Send(ctx, testEvent(outputs.Trigger, "WARNING"))
		if want := "post to slack incoming webhook: " + tt.want; err == nil || err.Error() != want {
			t.Errorf("%d: got %v\nwant %s", tt.code, err, want)
			continue
		}
		if outputs.IsPermanent(err) != tt.permanent {
			t.Errorf("%d: permanent = %v", tt.code, outputs.IsPermanent(err))
		}
		if wait, ok := outputs.RetryAfter(err); ok != (tt.wait > 0) || wait != tt.wait {
			t.Errorf("%d: retry after %v %v", tt.code, wait, ok)
		}
	}

	// A network error does not show the webhook URL, a secret.
	srv.Close()
	err = s.Send(ctx, testEvent(outputs.Trigger, "WARNING"))
	if err == nil || outputs.IsPermanent(err) || strings.Contains(err.Error(), "XXXX") {
		t.Errorf("network error %v: want retried, without the URL", err)
	}
}

// fakeAPI is a fake of Slack's chat.postMessage as slack-go v0.35.0 calls
// it: a form-encoded POST with the token as a form field.
type fakeAPI struct {
	t     *testing.T
	mu    sync.Mutex
	posts []url.Values
	n     int
	// fail, when set, answers instead of the ok response.
	fail func(w http.ResponseWriter) bool
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/api/chat.postMessage" {
		f.t.Errorf("%s %s, want POST /api/chat.postMessage", r.Method, r.URL.Path)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		f.t.Errorf("Content-Type %q", ct)
	}
	if err := r.ParseForm(); err != nil {
		f.t.Error(err)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if f.fail != nil && f.fail(w) {
		return
	}
	if r.PostForm.Get("token") != "xoxb-test" && r.Header.Get("Authorization") != "Bearer xoxb-test" {
		io.WriteString(w, `{"ok":false,"error":"not_authed"}`)
		return
	}
	var blocks, attachments []map[string]any
	if err := json.Unmarshal([]byte(r.PostForm.Get("blocks")), &blocks); err != nil || len(blocks) == 0 {
		io.WriteString(w, `{"ok":false,"error":"invalid_blocks"}`)
		return
	}
	if err := json.Unmarshal([]byte(r.PostForm.Get("attachments")), &attachments); err != nil {
		io.WriteString(w, `{"ok":false,"error":"invalid_attachments"}`)
		return
	}
	channel := r.PostForm.Get("channel")
	if channel != "#mail-alerts" && channel != "C0123ABCD" {
		io.WriteString(w, `{"ok":false,"error":"channel_not_found"}`)
		return
	}
	f.mu.Lock()
	f.posts = append(f.posts, r.PostForm)
	f.n++
	ts := fmt.Sprintf("1795428000.%06d", f.n)
	f.mu.Unlock()
	fmt.Fprintf(w, `{"ok":true,"channel":"C0123ABCD","ts":%q,"message":{"type":"message","text":%q,"ts":%q,"thread_ts":%q}}`,
		ts, r.PostForm.Get("text"), ts, r.PostForm.Get("thread_ts"))
}

func (f *fakeAPI) sent() []url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]url.Values(nil), f.posts...)
}

func newBot(t *testing.T, apiURL, dir string, extra string) *Slack {
	t.Helper()
	s, err := newOutput(t, fmt.Sprintf(`{"mode":"bot","token":"xoxb-test","channel":"#mail-alerts","api_url":%q%s}`, apiURL, extra))
	if err != nil {
		t.Fatal(err)
	}
	if dir != "" {
		if err := s.SetStateDir(dir); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func TestBotThreads(t *testing.T) {
	f := &fakeAPI{t: t}
	srv := httptest.NewServer(f)
	defer srv.Close()
	dir := t.TempDir()
	s := newBot(t, srv.URL+"/api/", dir, "")
	ctx := context.Background()

	if err := s.Send(ctx, testEvent(outputs.Trigger, "WARNING")); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(ctx, testEvent(outputs.Renotify, "WARNING")); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(ctx, testEvent(outputs.Trigger, "CRITICAL")); err != nil { // escalation
		t.Fatal(err)
	}
	// Another incident gets its own thread.
	other := testEvent(outputs.Trigger, "UNKNOWN")
	other.DedupKey = "mx1/dnsbl/mx-a"
	if err := s.Send(ctx, other); err != nil {
		t.Fatal(err)
	}

	// Restart: a new output with the same state dir threads the resolve
	// under the trigger of the old one.
	s2 := newBot(t, srv.URL+"/api/", dir, "")
	res := testEvent(outputs.Resolve, "OK")
	res.PreviousStatus = "CRITICAL"
	if err := s2.Send(ctx, res); err != nil {
		t.Fatal(err)
	}
	posts := f.sent()
	if len(posts) != 5 {
		t.Fatalf("%d posts", len(posts))
	}
	trigger := "1795428000.000001"
	want := []struct{ channel, threadTS, broadcast, color string }{
		{"#mail-alerts", "", "", "warning"},
		{"C0123ABCD", trigger, "", "warning"},
		{"C0123ABCD", trigger, "true", "danger"},
		{"#mail-alerts", "", "", "#808080"},
		{"C0123ABCD", trigger, "", "good"},
	}
	for i, p := range posts {
		if p.Get("channel") != want[i].channel || p.Get("thread_ts") != want[i].threadTS || p.Get("reply_broadcast") != want[i].broadcast {
			t.Errorf("post %d: channel %q thread_ts %q reply_broadcast %q, want %+v", i, p.Get("channel"), p.Get("thread_ts"), p.Get("reply_broadcast"), want[i])
		}
		if p.Get("token") != "xoxb-test" {
			t.Errorf("post %d: token %q", i, p.Get("token"))
		}
		var blocks, atts []map[string]any
		_ = json.Unmarshal([]byte(p.Get("blocks")), &blocks)
		_ = json.Unmarshal([]byte(p.Get("attachments")), &atts)
		e := []*outputs.Event{testEvent(outputs.Trigger, "WARNING"), testEvent(outputs.Renotify, "WARNING"), testEvent(outputs.Trigger, "CRITICAL"), other, res}[i]
		checkMessage(t, p.Get("text"), blocks, atts, e.Summary(), want[i].color)
	}
	if sec := mustBlocks(t, posts[4])[1]["text"].(map[string]any)["text"]; sec != "Recovered from CRITICAL after 3m0s: connection refused &lt;25&gt;" {
		t.Errorf("resolve section %q", sec)
	}

	// The resolved incident is forgotten on disk; the open one is kept.
	raw, err := os.ReadFile(filepath.Join(dir, "slack-threads.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]thread
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if _, ok := m["mx1/smtp-banner/mx-a"]; ok || len(m) != 1 || m["mx1/dnsbl/mx-a"].TS != "1795428000.000004" || m["mx1/dnsbl/mx-a"].Channel != "C0123ABCD" {
		t.Errorf("state %s", raw)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}

	// A resolve without a known thread is a new message.
	if err := s2.Send(ctx, res); err != nil {
		t.Fatal(err)
	}
	if p := f.sent()[5]; p.Get("thread_ts") != "" || p.Get("channel") != "#mail-alerts" {
		t.Errorf("unthreaded resolve: %v", p)
	}
}

func mustBlocks(t *testing.T, p url.Values) []map[string]any {
	t.Helper()
	var blocks []map[string]any
	if err := json.Unmarshal([]byte(p.Get("blocks")), &blocks); err != nil {
		t.Fatal(err)
	}
	return blocks
}

func TestBotReplyBroadcastAndFlapping(t *testing.T) {
	f := &fakeAPI{t: t}
	srv := httptest.NewServer(f)
	defer srv.Close()
	s := newBot(t, srv.URL+"/api", "", `,"reply_broadcast":true`) // no state dir: memory only
	ctx := context.Background()
	for _, e := range []*outputs.Event{
		testEvent(outputs.Flapping, "CRITICAL"), // no incident yet: a new message, not remembered
		testEvent(outputs.Trigger, "CRITICAL"),
		testEvent(outputs.Flapping, "CRITICAL"),
		testEvent(outputs.FlappingEnd, "CRITICAL"),
	} {
		if err := s.Send(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	posts := f.sent()
	for i, want := range []string{"", "", "1795428000.000002", "1795428000.000002"} {
		if posts[i].Get("thread_ts") != want {
			t.Errorf("post %d: thread_ts %q, want %q", i, posts[i].Get("thread_ts"), want)
		}
		if want != "" && posts[i].Get("reply_broadcast") != "true" {
			t.Errorf("post %d: not broadcast", i)
		}
	}
}

func TestBotErrors(t *testing.T) {
	tests := []struct {
		name      string
		fail      func(w http.ResponseWriter) bool
		channel   string
		want      string
		permanent bool
		wait      time.Duration
	}{
		{name: "channel_not_found", channel: "#nope", want: "channel_not_found", permanent: true},
		{name: "invalid_auth", fail: okFalse("invalid_auth"), want: "invalid_auth", permanent: true},
		{name: "not_in_channel", fail: okFalse("not_in_channel"), want: "not_in_channel", permanent: true},
		{name: "invalid_blocks", fail: okFalse("invalid_blocks"), want: "invalid_blocks", permanent: true},
		{name: "internal_error", fail: okFalse("internal_error"), want: "internal_error"},
		{name: "ratelimited in body", fail: okFalse("ratelimited"), want: "ratelimited (retry after 30s)", wait: 30 * time.Second},
		{name: "429", fail: status(429, "7", ""), want: "429 Too Many Requests (retry after 7s)", wait: 7 * time.Second},
		{name: "429 date", fail: status(429, time.Now().Add(time.Minute+500*time.Millisecond).UTC().Format(http.TimeFormat), ""), want: "429 Too Many Requests (retry after 1m0s)", wait: time.Minute},
		{name: "503", fail: status(503, "", "<html>down</html>"), want: "503 Service Unavailable: <html>down</html>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeAPI{t: t, fail: tt.fail}
			srv := httptest.NewServer(f)
			defer srv.Close()
			channel := tt.channel
			if channel == "" {
				channel = "#mail-alerts"
			}
			s, err := newOutput(t, fmt.Sprintf(`{"mode":"bot","token":"xoxb-test","channel":%q,"api_url":%q}`, channel, srv.URL+"/api/"))
			if err != nil {
				t.Fatal(err)
			}
			err = s.Send(context.Background(), testEvent(outputs.Trigger, "CRITICAL"))
			want := "slack chat.postMessage to " + channel + ": " + tt.want
			if err == nil || err.Error() != want {
				t.Fatalf("got %v\nwant %s", err, want)
			}
			if outputs.IsPermanent(err) != tt.permanent {
				t.Errorf("permanent = %v", outputs.IsPermanent(err))
			}
			wait, ok := outputs.RetryAfter(err)
			if ok != (tt.wait > 0) || ok && (wait-tt.wait).Abs() > time.Second {
				t.Errorf("retry after %v %v, want %v", wait, ok, tt.wait)
			}
		})
	}
}

func okFalse(code string) func(w http.ResponseWriter) bool {
	return func(w http.ResponseWriter) bool {
		fmt.Fprintf(w, `{"ok":false,"error":%q}`, code)
		return true
	}
}

func status(code int, retryAfter, body string) func(w http.ResponseWriter) bool {
	return func(w http.ResponseWriter) bool {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(code)
		io.WriteString(w, body)
		return true
	}
}

func TestThreadStore(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, threadFile), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadThreadStore(dir); err == nil || !strings.HasPrefix(err.Error(), "load slack threads "+filepath.Join(dir, threadFile)+": ") {
		t.Errorf("corrupt file: %v", err)
	}

	now := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	st := newThreadStore(filepath.Join(t.TempDir(), threadFile))
	st.now = func() time.Time { return now }
	st.put("old", thread{Channel: "C", TS: "1", Opened: now.Add(-maxThreadAge - time.Hour)})
	for i := range maxThreads + 5 {
		st.put(fmt.Sprint("k", i), thread{Channel: "C", TS: "2", Opened: now.Add(time.Duration(i) * time.Second)})
	}
	if err := st.save(); err != nil {
		t.Fatal(err)
	}
	back, err := loadThreadStore(filepath.Dir(st.path))
	if err != nil {
		t.Fatal(err)
	}
	if len(back.m) != maxThreads {
		t.Errorf("%d threads kept, want %d", len(back.m), maxThreads)
	}
	for _, k := range []string{"old", "k0", "k4"} {
		if _, ok := back.get(k); ok {
			t.Errorf("%s kept", k)
		}
	}
	if _, ok := back.get(fmt.Sprint("k", maxThreads+4)); !ok {
		t.Error("newest thread dropped")
	}
}

func TestMessageLimits(t *testing.T) {
	e := testEvent(outputs.Trigger, "CRITICAL")
	e.Instance = strings.Repeat("i", 300)
	e.Metrics = map[string]any{"nan": 0.0, "text": "x"}
	m, err := newMessage(e)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(m.blocks)
	var blocks []map[string]any
	_ = json.Unmarshal(raw, &blocks)
	if h := blocks[0]["text"].(map[string]any)["text"].(string); len([]rune(h)) != 150 || !strings.HasSuffix(h, "…") {
		t.Errorf("header of %d characters", len([]rune(h)))
	}
	if _, err := newMessage(&outputs.Event{Type: "page"}); !outputs.IsPermanent(err) {
		t.Errorf("unknown type: %v", err)
	}
}

func TestSampleConfig(t *testing.T) {
	sampletest.Check(t, "slack", (&Slack{}).SampleConfig(), &Slack{})
}
