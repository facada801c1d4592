package slack

import (
	"slices"
	"strings"
	"time"

	"github.com/mailmon/mailmon/outputs/internal/httpx"
	"github.com/mailmon/mailmon/sdk"
)

const (
	modeWebhook = "webhook"
	modeBot     = "bot"
)

// Defaults.
const (
	defaultAPIURL  = "https://slack.com/api/"
	defaultTimeout = 10 * time.Second
)

func (s *Slack) validate() error {
	if s.Mode == "" {
		s.Mode = modeWebhook
	}
	if s.Mode != modeWebhook && s.Mode != modeBot {
		return sdk.OptionError("mode", `must be "webhook" or "bot", got %q`, s.Mode)
	}
	for _, o := range []struct {
		key  string
		set  bool
		mode string
	}{
		{"webhook_url", s.WebhookURL != "", modeWebhook},
		{"token", s.Token != "", modeBot},
		{"channel", s.Channel != "", modeBot},
		{"api_url", s.APIURL != "", modeBot},
		{"reply_broadcast", s.ReplyBroadcast, modeBot},
	} {
		if o.set && o.mode != s.Mode {
			return sdk.OptionError(o.key, "only used with mode %q", o.mode)
		}
	}
	if s.Mode == modeWebhook {
		if s.WebhookURL == "" {
			return sdk.OptionError("webhook_url", "required for mode %q", modeWebhook)
		}
		_, err := httpx.CheckURL("webhook_url", s.WebhookURL)
		return err
	}
	switch {
	case s.Token == "":
		return sdk.OptionError("token", "required for mode %q", modeBot)
	case strings.ContainsAny(s.Token, " \t\r\n"):
		return sdk.OptionError("token", "contains white space")
	case s.Channel == "":
		return sdk.OptionError("channel", "required for mode %q", modeBot)
	case slices.Contains([]string{"#", "@"}, s.Channel) || strings.ContainsAny(s.Channel, " \t\r\n"):
		return sdk.OptionError("channel", "want a channel ID (C0123ABCD) or #name, got %q", s.Channel)
	}
	if s.APIURL != "" {
		if _, err := httpx.CheckURL("api_url", s.APIURL); err != nil {
			return err
		}
	}
	return nil
}

func (s *Slack) setDefaults() {
	if s.Timeout == 0 {
		s.Timeout = sdk.Duration(defaultTimeout)
	}
	if s.Mode != modeBot {
		return
	}
	if s.APIURL == "" {
		s.APIURL = defaultAPIURL
	}
	if !strings.HasSuffix(s.APIURL, "/") {
		s.APIURL += "/" // slack-go appends the method name
	}
}
