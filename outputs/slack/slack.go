// Package slack is the mailmon alert output that posts alerts to Slack,
// through an incoming webhook or as a bot with chat.postMessage.
//
// A message has a plain-text fallback (Event.Summary), a header and the
// check's message as Block Kit blocks, and an attachment whose colour bar
// shows the status, with the check's details and a few metrics. In bot
// mode the output remembers each incident's first message and posts what
// follows (renotify, resolve, flapping) as replies in its thread, across
// restarts. Incoming webhooks cannot thread: every event is a new message.
package slack

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"

	"github.com/mailmon/mailmon/outputs"
	"github.com/mailmon/mailmon/outputs/internal/httpx"
	"github.com/mailmon/mailmon/sdk"
	"github.com/slack-go/slack"
)

//go:embed sample.toml
var sampleConfig string

// Slack is the slack output. Its exported fields are the options of one
// [[outputs.slack]] table.
type Slack struct {
	Mode    string       `json:"mode"`
	Timeout sdk.Duration `json:"timeout"`

	// webhook.
	WebhookURL string `json:"webhook_url"`

	// bot.
	Token          string `json:"token"`
	Channel        string `json:"channel"`
	APIURL         string `json:"api_url"`
	ReplyBroadcast bool   `json:"reply_broadcast"`

	log    *slog.Logger
	client *http.Client
	api    *slack.Client

	mu      sync.Mutex // one Send at a time: the thread map is shared
	threads *threadStore
}

var (
	_ outputs.AlertOutput  = (*Slack)(nil)
	_ outputs.Initializer  = (*Slack)(nil)
	_ outputs.StateDirUser = (*Slack)(nil)
)

func init() {
	outputs.Add("slack", func() outputs.Output { return &Slack{} })
}

// SampleConfig returns the commented options.
func (*Slack) SampleConfig() string { return sampleConfig }

// Description is one sentence.
func (*Slack) Description() string {
	return "Post alerts to a Slack channel through an incoming webhook or as a bot that threads each incident."
}

// Init validates the options, sets defaults and builds the client
// without touching the network.
func (s *Slack) Init() error {
	if err := s.validate(); err != nil {
		return err
	}
	s.setDefaults()
	if s.log == nil {
		s.log = slog.Default()
	}
	s.client = httpx.NewClient(s.Timeout.D(), nil)
	if s.Mode == modeBot {
		s.api = slack.New(s.Token, slack.OptionAPIURL(s.APIURL), slack.OptionHTTPClient(s.client))
	}
	s.threads = newThreadStore("")
	return nil
}

// SetStateDir loads the threads of open incidents kept in dir by an
// earlier run (bot mode), and keeps them there from now on.
func (s *Slack) SetStateDir(dir string) error {
	if s.Mode != modeBot {
		return nil
	}
	t, err := loadThreadStore(dir)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.threads = t
	s.mu.Unlock()
	return nil
}

// Send posts one event.
func (s *Slack) Send(ctx context.Context, e *outputs.Event) error {
	m, err := newMessage(e)
	if err != nil {
		return err
	}
	if s.Mode == modeWebhook {
		return s.sendWebhook(ctx, m)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sendBot(ctx, e, m)
}

func (s *Slack) sendWebhook(ctx context.Context, m *message) error {
	ctx, capture := httpx.WithCapture(ctx)
	err := slack.PostWebhookCustomHTTPContext(ctx, s.WebhookURL, s.client, &slack.WebhookMessage{
		Text:        m.text,
		Blocks:      &slack.Blocks{BlockSet: m.blocks},
		Attachments: []slack.Attachment{m.attachment},
	})
	if err != nil {
		// The webhook URL is a secret: it stays out of the error.
		return fmt.Errorf("post to slack incoming webhook: %w", classify(err, capture))
	}
	return nil
}

func (s *Slack) sendBot(ctx context.Context, e *outputs.Event, m *message) error {
	channel := s.Channel
	opts := []slack.MsgOption{
		slack.MsgOptionText(m.text, false),
		slack.MsgOptionBlocks(m.blocks...),
		slack.MsgOptionAttachments(m.attachment),
	}
	th, threaded := s.threads.get(e.DedupKey)
	if threaded {
		// A trigger for an open incident is an escalation: it goes to
		// the thread and to the channel.
		channel = th.Channel
		opts = append(opts, slack.MsgOptionTS(th.TS))
		if s.ReplyBroadcast || e.Type == outputs.Trigger {
			opts = append(opts, slack.MsgOptionBroadcast())
		}
	}
	ctx, capture := httpx.WithCapture(ctx)
	gotChannel, ts, err := s.api.PostMessageContext(ctx, channel, opts...)
	if err != nil {
		return fmt.Errorf("slack chat.postMessage to %s: %w", channel, classify(err, capture))
	}
	changed := false
	switch {
	case e.Type == outputs.Resolve:
		changed = s.threads.forget(e.DedupKey)
	case !threaded && (e.Type == outputs.Trigger || e.Type == outputs.Renotify) && ts != "":
		s.threads.put(e.DedupKey, thread{Channel: gotChannel, TS: ts, Opened: e.Time})
		changed = true
	}
	if changed {
		if err := s.threads.save(); err != nil {
			// The message went out; sending it again would not help.
			s.log.Warn("slack output could not save its incident threads; later replies may start new threads",
				"error", err)
		}
	}
	return nil
}

// retryableAPIErrors are the error codes of Slack's Web API that a later
// try may not get; every other code (invalid_auth, channel_not_found,
// not_in_channel, invalid_blocks, msg_too_long, ...) needs a fix by the
// operator, so the event is dropped.
var retryableAPIErrors = map[string]bool{
	"internal_error":      true,
	"fatal_error":         true,
	"service_unavailable": true,
	"request_timeout":     true,
	"team_added_to_org":   true,
}

// classify turns what slack-go returned into the agent's error classes.
// HTTP statuses come from the capture (slack-go drops the body and, for a
// 429 without Retry-After, the rate limit); errors in an HTTP 200 answer
// ({"ok":false,"error":"..."}) come from the error code.
func classify(err error, capture *httpx.Capture) error {
	if capture.Err != nil {
		return capture.Err
	}
	var apiErr slack.SlackErrorResponse
	if errors.As(err, &apiErr) {
		switch {
		case apiErr.Err == "ratelimited" || apiErr.Err == "rate_limited":
			return &outputs.RetryAfterError{Wait: httpx.DefaultRetryAfter, Err: err}
		case retryableAPIErrors[apiErr.Err]:
			return err
		}
		return outputs.Permanent(err)
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Err // it names the URL, a secret in webhook mode
	}
	return err
}
