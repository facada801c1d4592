package pagerduty

import (
	"strings"
	"time"

	"github.com/mailmon/mailmon/outputs/internal/httpx"
	"github.com/mailmon/mailmon/sdk"
)

// Defaults.
const (
	defaultEndpoint = "https://events.pagerduty.com/v2/enqueue"
	defaultTimeout  = 10 * time.Second
	enqueuePath     = "/v2/enqueue"
)

func (p *PagerDuty) validate() error {
	switch {
	case p.RoutingKey == "":
		return sdk.OptionError("routing_key", "required (the integration key of an Events API v2 integration)")
	case strings.TrimSpace(p.RoutingKey) != p.RoutingKey:
		return sdk.OptionError("routing_key", "has leading or trailing white space")
	case strings.ContainsAny(p.RoutingKey, " \t\r\n"):
		return sdk.OptionError("routing_key", "contains white space")
	}
	if p.Endpoint != "" {
		u, err := httpx.CheckURL("endpoint", p.Endpoint)
		if err != nil {
			return err
		}
		if !strings.HasSuffix(u.Path, enqueuePath) || u.RawQuery != "" || u.Fragment != "" {
			return sdk.OptionError("endpoint", "want the full enqueue URL ending in %s, got %q", enqueuePath, p.Endpoint)
		}
	}
	if p.ClientURL != "" {
		if _, err := httpx.CheckURL("client_url", p.ClientURL); err != nil {
			return err
		}
	}
	return nil
}

func (p *PagerDuty) setDefaults() {
	if p.Endpoint == "" {
		p.Endpoint = defaultEndpoint
	}
	if p.Timeout == 0 {
		p.Timeout = sdk.Duration(defaultTimeout)
	}
}
