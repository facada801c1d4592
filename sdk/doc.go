// Package sdk is what a third party imports to write a mailmon check.
//
// A check is one kind of probe (an SMTP banner, a TCP connect, a DNSBL
// lookup) built as its own program, named mailmon-check-<name>. The
// mailmon agent starts the program as a plugin process (HashiCorp
// go-plugin over gRPC, mutual TLS), configures it and runs it on a
// schedule. The program's main function is three lines: it calls Serve
// with a constructor for the Check. Run by hand, the program prints a
// notice and exits with status 1.
//
// # Life cycle
//
// The agent calls Info once to learn the check's name, version and sample
// config. For each configured instance ([[checks.NAME]] in the agent's
// config) it calls ServeOpts.New for a fresh value and Configure with the
// instance's options as JSON; Configure decodes, validates and sets
// defaults, and must not touch the network. Then the agent calls Run on
// every interval, with a context whose deadline is the instance's timeout;
// Run probes the target once and honours the context. When the deadline
// passes, a Result that says so (reason "timeout", with what was measured)
// is more useful than ctx's error, and the agent waits a moment for it
// (host.RunGrace). Runs of one instance
// never overlap, but several instances of one check live in the same
// process and run at the same time, so a check keeps all of its state in
// its value and none in package variables. A check that holds resources
// between runs implements Closer.
//
// # Results
//
// Run returns a Result. A target that is down or slow is a Result with a
// non-OK Status, never an error: an error means the check itself could
// not run (and a panic in Run becomes such an error). Status is OK,
// Warning, Critical or Unknown (Nagios codes 0-3); Worse combines two.
// Reason is a short snake_case enum ("ok", "connect_failed", "timeout")
// that becomes the result tag, so keep its set of values small and list it
// in the README. Message is one human sentence for alerts.
//
// # Metrics
//
// Result.Metrics follow Telegraf's model. The measurement is
// mailmon_<check> (mailmon_tcp_connect), with tags such as target. The
// agent adds the host, check (instance name) and result tags to every run
// and the status_code and duration_seconds fields to the first metric, so
// a check sets none of those itself. Durations are float64 fields named
// *_seconds, counts are int64, whole or fractional days are *_days. A
// field never changes type between runs. Field values are float64, int64,
// uint64, string or bool; time.Duration, NaN and infinities are refused
// (Result.Validate says so before the agent does). A metric without a
// Time gets the time the run started. Package checktest checks all of
// this in tests.
//
// # Configuration
//
// DecodeConfig decodes an instance's options strictly: an unknown option,
// a value of the wrong type or trailing data is a *ConfigError whose Key
// is the option's path ("tls.ca_file"), which the agent reports with the
// config file and instance. Validation errors name their option too, with
// OptionError. Duration reads "30s" or a number of seconds. Set defaults
// in the value before decoding, so that options left out keep them.
//
// # Example
//
// A complete check that reports how many days remain until a fixed date:
//
//	type Countdown struct {
//		cfg struct {
//			Date string `json:"date"`
//		}
//		date time.Time
//	}
//
//	func (*Countdown) Info() sdk.Info {
//		return sdk.Info{Name: "countdown", Version: "1.0.0", SampleConfig: "## The day to count down to.\ndate = \"2030-01-01\"\n"}
//	}
//
//	func (c *Countdown) Configure(raw []byte) error {
//		if err := sdk.DecodeConfig(raw, &c.cfg); err != nil {
//			return err
//		}
//		d, err := time.Parse(time.DateOnly, c.cfg.Date)
//		if err != nil {
//			return sdk.OptionError("date", "want YYYY-MM-DD, got %q", c.cfg.Date)
//		}
//		c.date = d
//		return nil
//	}
//
//	func (c *Countdown) Run(ctx context.Context) (*sdk.Result, error) {
//		days := int64(time.Until(c.date).Hours() / 24)
//		res := sdk.Resultf(sdk.OK, "ok", "%d days to go", days)
//		if days < 30 {
//			res = sdk.Resultf(sdk.Warning, "soon", "only %d days to go", days)
//		}
//		m := sdk.NewMetric("mailmon_countdown")
//		m.Tags["date"] = c.cfg.Date
//		m.Fields["remaining_days"] = days
//		res.Metrics = []sdk.Metric{m}
//		return res, nil
//	}
//
//	func main() {
//		sdk.Serve(&sdk.ServeOpts{New: func() sdk.Check { return &Countdown{} }})
//	}
//
// The folder sdk/example/tcp-connect is a complete plugin with its tests,
// sample config and README.
package sdk
