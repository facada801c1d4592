package sdk_test

import (
	"context"
	"time"

	"github.com/mailmon/mailmon/sdk"
)

// Countdown reports how many days remain until a date.
type Countdown struct {
	cfg struct {
		Date string `json:"date"`
	}
	date time.Time
}

var _ sdk.Check = (*Countdown)(nil)

func (*Countdown) Info() sdk.Info {
	return sdk.Info{
		Name:         "countdown",
		Version:      "1.0.0",
		Description:  "Counts the days to a date.",
		SampleConfig: "## The day to count down to.\ndate = \"2030-01-01\"\n",
	}
}

func (c *Countdown) Configure(raw []byte) error {
	if err := sdk.DecodeConfig(raw, &c.cfg); err != nil {
		return err
	}
	d, err := time.Parse(time.DateOnly, c.cfg.Date)
	if err != nil {
		return sdk.OptionError("date", "want YYYY-MM-DD, got %q", c.cfg.Date)
	}
	c.date = d
	return nil
}

func (c *Countdown) Run(ctx context.Context) (*sdk.Result, error) {
	days := int64(time.Until(c.date).Hours() / 24)
	res := sdk.Resultf(sdk.OK, "ok", "%d days to go", days)
	if days < 30 {
		res = sdk.Resultf(sdk.Warning, "soon", "only %d days to go", days)
	}
	m := sdk.NewMetric("mailmon_countdown")
	m.Tags["date"] = c.cfg.Date
	m.Fields["remaining_days"] = days
	res.Metrics = []sdk.Metric{m}
	return res, nil
}

// A plugin's main function serves the check; build it as
// mailmon-check-countdown and the agent starts it.
func Example() {
	// func main() {
	sdk.Serve(&sdk.ServeOpts{New: func() sdk.Check { return &Countdown{} }})
	// }
}
