// Package all compiles in every mailmon output: the agent imports it for
// its side effect of registering them.
package all

import (
	_ "github.com/mailmon/mailmon/outputs/influx"    // mode stdout, udp, tcp, unix, http
	_ "github.com/mailmon/mailmon/outputs/pagerduty" // alerts: PagerDuty Events API v2
	_ "github.com/mailmon/mailmon/outputs/slack"     // alerts: Slack incoming webhook or bot
	_ "github.com/mailmon/mailmon/outputs/webhook"   // alerts: signed JSON POST
)
