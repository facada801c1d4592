package slack

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mailmon/mailmon/outputs"
	"github.com/slack-go/slack"
)

// Block Kit limits.
const (
	maxHeader     = 150
	maxSectionTxt = 3000
	maxField      = 2000
	maxMetrics    = 6
)

// message is one event as Slack message parts.
type message struct {
	text       string // the plain-text fallback, also used in notifications
	blocks     []slack.Block
	attachment slack.Attachment // the colour bar with the details
}

// look is how an event shows: the emoji in the header, the word for what
// happened, and the attachment colour.
func look(e *outputs.Event) (emoji, word, color string) {
	switch e.Type {
	case outputs.Resolve:
		return ":white_check_mark:", "RESOLVED", "good"
	case outputs.Flapping:
		return ":repeat:", "FLAPPING", "#439FE0"
	case outputs.FlappingEnd:
		if e.Status == "OK" {
			return ":white_check_mark:", "STABLE (OK)", "good"
		}
		emoji, _, color = statusLook(e.Status)
		return emoji, "STABLE (" + e.Status + ")", color
	case outputs.Renotify:
		emoji, word, color = statusLook(e.Status)
		return emoji, "Still " + word, color
	}
	return statusLook(e.Status)
}

func statusLook(status string) (emoji, word, color string) {
	switch status {
	case "CRITICAL":
		return ":red_circle:", status, "danger"
	case "WARNING":
		return ":warning:", status, "warning"
	case "OK":
		return ":white_check_mark:", status, "good"
	}
	return ":grey_question:", status, "#808080"
}

func newMessage(e *outputs.Event) (*message, error) {
	switch e.Type {
	case outputs.Trigger, outputs.Renotify, outputs.Resolve, outputs.Flapping, outputs.FlappingEnd:
	default:
		return nil, outputs.Permanent(fmt.Errorf("event type %q: not supported", e.Type))
	}
	emoji, word, color := look(e)
	prefix := ""
	if e.Test {
		prefix = "[test] "
	}
	header := fmt.Sprintf("%s %s%s %s/%s on %s", emoji, prefix, word, e.Check, e.Instance, e.Host)
	m := &message{text: prefix + e.Summary()}
	m.blocks = []slack.Block{
		slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, cut(header, maxHeader), true, false)),
		slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, cut(sectionText(e), maxSectionTxt), false, false), nil, nil),
	}
	details := []slack.Block{slack.NewSectionBlock(nil, fields(e), nil)}
	if mf := metricFields(e.Metrics); len(mf) > 0 {
		details = append(details, slack.NewSectionBlock(nil, mf, nil))
	}
	details = append(details, slack.NewContextBlock("",
		slack.NewTextBlockObject(slack.MarkdownType, escape(fmt.Sprintf("mailmon %s · event %s", e.Type, e.ID)), false, false)))
	m.attachment = slack.Attachment{
		Color:    color,
		Fallback: m.text,
		Blocks:   slack.Blocks{BlockSet: details},
	}
	return m, nil
}

func sectionText(e *outputs.Event) string {
	msg := escape(e.Message)
	if msg == "" {
		msg = "_no message_"
	}
	switch e.Type {
	case outputs.Resolve:
		s := "Recovered"
		if e.PreviousStatus != "" {
			s += " from " + e.PreviousStatus
		}
		if !e.FirstFailed.IsZero() && e.Time.After(e.FirstFailed) {
			s += " after " + e.Time.Sub(e.FirstFailed).Round(time.Second).String()
		}
		return s + ": " + msg
	case outputs.Flapping:
		return "Notifications for this check are held back while its state keeps changing. Last: " + msg
	case outputs.FlappingEnd:
		return "No longer flapping; notifications resume. Now " + escape(e.Status) + ": " + msg
	}
	return msg
}

func fields(e *outputs.Event) []*slack.TextBlockObject {
	var out []*slack.TextBlockObject
	add := func(name, value string) {
		if value == "" {
			return
		}
		out = append(out, slack.NewTextBlockObject(slack.MarkdownType, cut("*"+name+"*\n"+value, maxField), false, false))
	}
	add("Check", escape(e.Check))
	add("Instance", escape(e.Instance))
	add("Host", escape(e.Host))
	add("Target", escape(e.Target))
	add("Reason", escape(e.Reason))
	if !e.FirstFailed.IsZero() {
		ff := e.FirstFailed.UTC()
		// Slack shows the date in each reader's time zone; the text after
		// | is for clients that cannot.
		add("First failed", fmt.Sprintf("<!date^%d^{date_short_pretty} {time_secs}|%s>", ff.Unix(), ff.Format(time.RFC3339)))
	}
	return out
}

// metricFields shows up to maxMetrics numeric fields of the primary
// metric, sorted by name; status_code repeats the status and is left out.
func metricFields(metrics map[string]any) []*slack.TextBlockObject {
	names := make([]string, 0, len(metrics))
	for k, v := range metrics {
		if _, ok := number(v); ok && k != "status_code" {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	if len(names) > maxMetrics {
		names = names[:maxMetrics]
	}
	out := make([]*slack.TextBlockObject, 0, len(names))
	for _, k := range names {
		v, _ := number(metrics[k])
		out = append(out, slack.NewTextBlockObject(slack.MarkdownType, cut("*"+escape(k)+"*\n"+v, maxField), false, false))
	}
	return out
}

// number formats v when it is a finite number.
func number(v any) (string, bool) {
	switch n := v.(type) {
	case int:
		return strconv.Itoa(n), true
	case int64:
		return strconv.FormatInt(n, 10), true
	case int32:
		return strconv.FormatInt(int64(n), 10), true
	case uint64:
		return strconv.FormatUint(n, 10), true
	case uint32:
		return strconv.FormatUint(uint64(n), 10), true
	case uint:
		return strconv.FormatUint(uint64(n), 10), true
	case float32:
		return number(float64(n))
	case float64:
		if math.IsNaN(n) || math.IsInf(n, 0) {
			return "", false
		}
		return strconv.FormatFloat(n, 'g', 6, 64), true
	}
	return "", false
}

// escape makes s literal in Slack mrkdwn: &, < and > are control
// characters there.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// cut shortens s to n characters (Block Kit counts characters).
func cut(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
