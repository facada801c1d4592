package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/influxdata/telegraf/plugins/serializers/influx"

	"github.com/mailmon/mailmon/agent"
	"github.com/mailmon/mailmon/agent/config"
	"github.com/mailmon/mailmon/outputs"
	_ "github.com/mailmon/mailmon/outputs/all"
	"github.com/mailmon/mailmon/sdk"
	"github.com/mailmon/mailmon/sdk/host"
)

// flags makes a command's flag set with --config.
func flags(name, summary string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("mailmon "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", config.DefaultPath, "config `FILE` (TOML, or YAML if it ends in .yaml/.yml)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: mailmon %s [flags]\n\n%s\n\nFlags:\n", name, summary)
		fs.PrintDefaults()
	}
	return fs, path
}

// parse returns -1 to go on, else the exit code (0 for --help).
func parse(fs *flag.FlagSet, args []string) int {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	return -1
}

func newLogger(cfg *config.Config, stderr io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.Agent.LogLevel))
	opts := &slog.HandlerOptions{Level: lvl}
	if cfg.Agent.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(stderr, opts))
	}
	return slog.New(slog.NewTextHandler(stderr, opts))
}

// withDefaultOutput makes `mailmon run` without [[outputs.*]] write line
// protocol to stdout, which is what Telegraf's inputs.execd reads.
func withDefaultOutput(cfg *config.Config) {
	if len(cfg.Outputs) == 0 {
		cfg.Outputs = []config.Output{config.DefaultOutput("influx", map[string]any{"mode": "stdout"})}
	}
}

func cmdRun(args []string, _, stderr io.Writer) int {
	fs, path := flags("run", "Run the agent until SIGTERM or SIGINT. SIGHUP reloads the config; a config\nthat fails to load is reported and the running one kept.", stderr)
	if code := parse(fs, args); code >= 0 {
		return code
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(stderr, "mailmon:", err)
		return 1
	}
	withDefaultOutput(cfg)
	log := newLogger(cfg, stderr)

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(stop)
	defer signal.Stop(hup)

	var prev *config.Config // the last config that ran, to fall back to
	for {
		a := agent.New(cfg, log)
		if err := a.Setup(context.Background(), nil, true); err != nil {
			a.Close()
			if prev == nil {
				fmt.Fprintln(stderr, "mailmon:", err)
				return 1
			}
			log.Error("reload failed; going back to the previous config", "err", err)
			cfg, log, prev = prev, newLogger(prev, stderr), nil
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		runErr := make(chan error, 1)
		go func() { runErr <- a.Run(ctx) }()

		var next *config.Config
		for next == nil {
			select {
			case err := <-runErr:
				// Run ends by itself only when it cannot run at all.
				cancel()
				if err == nil {
					err = errors.New("agent stopped unexpectedly")
				}
				fmt.Fprintln(stderr, "mailmon:", err)
				return 1
			case sig := <-stop:
				log.Info("signal received; shutting down", "signal", sig.String())
				cancel()
				<-runErr
				return 0
			case <-hup:
				next = reloadConfig(*path, log)
			}
		}
		log.Info("reloading config", "file", *path)
		cancel()
		<-runErr
		prev = cfg
		cfg, log = next, newLogger(next, stderr)
	}
}

// reloadConfig loads the config for a SIGHUP and sets it up on trial (its
// plugins must start and accept their options, its outputs initialise)
// before the running agent is stopped; nil keeps the running config.
func reloadConfig(path string, log *slog.Logger) *config.Config {
	c, err := config.Load(path)
	if err == nil {
		withDefaultOutput(c)
		trial := agent.New(c, log)
		err = trial.Setup(context.Background(), nil, true)
		trial.Close()
	}
	if err != nil {
		log.Error("reload failed; keeping the running config", "err", err)
		return nil
	}
	return c
}

func cmdTest(args []string, stdout, stderr io.Writer) int {
	fs, path := flags("test", "Run every enabled check once (or those named by --check), print their line\nprotocol on stdout and a status table on stderr. The exit code is the worst\nstatus: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (Nagios plugin style).", stderr)
	only := fs.String("check", "", "run only the check instances with this `NAME` (instance name or check type)")
	alerts := fs.Bool("alerts", false, "instead of running checks, send a test trigger and resolve through every alert output")
	if code := parse(fs, args); code >= 0 {
		return code
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(stderr, "mailmon:", err)
		return 3
	}
	log := newLogger(cfg, stderr)
	if *alerts {
		return testAlerts(cfg, log, stdout, stderr)
	}
	var filter agent.Filter
	if *only != "" {
		filter = func(c config.Check) bool { return c.Name == *only || c.Type == *only }
		if !anyCheck(cfg, filter) {
			fmt.Fprintf(stderr, "mailmon: %s: no enabled check named %q\n", cfg.File, *only)
			return 3
		}
	}
	a := agent.New(cfg, log)
	defer a.Close()
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	if err := a.Setup(ctx, filter, false); err != nil {
		fmt.Fprintln(stderr, "mailmon:", err)
		return 3
	}
	reports := a.RunOnce(ctx)
	ser := &influx.Serializer{SortFields: true, UintSupport: true}
	if err := ser.Init(); err != nil {
		fmt.Fprintln(stderr, "mailmon:", err)
		return 3
	}
	for _, r := range reports {
		for _, m := range r.Metrics {
			b, err := ser.Serialize(m)
			if err != nil {
				fmt.Fprintf(stderr, "mailmon: %s: serialize %s: %v\n", r.Check.Name, m.Name(), err)
				continue
			}
			_, _ = stdout.Write(b)
		}
	}
	return printTable(stderr, reports)
}

// testAlerts sends a test trigger and resolve through every alert output
// and says, per output, whether it went through.
func testAlerts(cfg *config.Config, log *slog.Logger, stdout, stderr io.Writer) int {
	a := agent.New(cfg, log)
	defer a.Close()
	if err := a.Setup(context.Background(), func(config.Check) bool { return false }, true); err != nil {
		fmt.Fprintln(stderr, "mailmon:", err)
		return 3
	}
	keys := a.AlertOutputs()
	if len(keys) == 0 {
		fmt.Fprintf(stderr, "mailmon: %s: no alert outputs configured\n", cfg.File)
		return 3
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	errs := a.SendTestAlerts(ctx)
	code := 0
	for _, k := range keys {
		if err := errs[k]; err != nil {
			fmt.Fprintf(stdout, "%s: FAILED: %v\n", k, err)
			code = 2
			continue
		}
		fmt.Fprintf(stdout, "%s: test trigger and resolve delivered\n", k)
	}
	return code
}

func anyCheck(cfg *config.Config, f agent.Filter) bool {
	for _, c := range cfg.Checks {
		if c.Enabled && f(c) {
			return true
		}
	}
	return false
}

// printTable writes the readable summary and returns the exit code.
func printTable(w io.Writer, reports []agent.Report) int {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tINSTANCE\tSTATUS\tREASON\tTIME\tMESSAGE")
	worst := sdk.OK
	for _, r := range reports {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Check.Type, r.Check.Name, r.Result.Status, r.Result.Reason,
			r.Duration.Round(time.Millisecond), oneLine(r.Result.Message))
		worst = sdk.Worse(worst, r.Result.Status)
	}
	_ = tw.Flush()
	if len(reports) == 0 {
		fmt.Fprintln(w, "no enabled checks")
	}
	return int(worst)
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}

func cmdPlugins(args []string, stdout, stderr io.Writer) int {
	fs, path := flags("plugins", "List the check plugins found in the config's plugin_dirs: name, version,\nprotocol, sha256 and path. A plugin that cannot be used says why.", stderr)
	if code := parse(fs, args); code >= 0 {
		return code
	}
	cfg, err := loadOrDefault(*path, fs)
	if err != nil {
		fmt.Fprintln(stderr, "mailmon:", err)
		return 1
	}
	found := agent.Discover(cfg.Agent.PluginDirs)
	if len(found) == 0 {
		fmt.Fprintf(stderr, "no %s* plugins in %s\n", agent.PluginPrefix, strings.Join(cfg.Agent.PluginDirs, ", "))
		return 1
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tVERSION\tPROTOCOL\tSHA256\tPATH\tDESCRIPTION")
	code := 0
	for _, f := range found {
		sum, _ := host.FileSHA256(f.Path)
		if f.Err != nil {
			fmt.Fprintf(tw, "%s\t-\t-\t%s\t%s\tunusable: %v\n", f.Name, short(sum), f.Path, f.Err)
			code = 1
			continue
		}
		p, err := host.Start(context.Background(), host.Config{Path: f.Path, SHA256: cfg.Agent.PluginSHA256[f.Name]})
		if err != nil {
			fmt.Fprintf(tw, "%s\t-\t-\t%s\t%s\tunusable: %v\n", f.Name, short(sum), f.Path, err)
			code = 1
			continue
		}
		info := p.Info()
		major, minor := p.Protocol()
		p.Kill()
		fmt.Fprintf(tw, "%s\t%s\t%d.%d\t%s\t%s\t%s\n", info.Name, info.Version, major, minor, short(sum), f.Path, info.Description)
	}
	_ = tw.Flush()
	return code
}

func short(sum string) string {
	if len(sum) > 16 {
		return sum[:16]
	}
	return sum
}

// loadOrDefault reads the config, or uses the defaults when --config was
// not given and the default file does not exist (plugins, sample-config
// on a fresh install).
func loadOrDefault(path string, fs *flag.FlagSet) (*config.Config, error) {
	explicit := false
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "config" })
	if _, err := os.Stat(path); err != nil && !explicit {
		return config.FromMap(path, map[string]any{})
	}
	return config.Load(path)
}

func cmdConfigCheck(args []string, stdout, stderr io.Writer) int {
	fs, path := flags("config check", "Validate the config: syntax, every agent key, every check's options (by\nstarting its plugin, which checks them without touching the network) and\nevery output's options.", stderr)
	if code := parse(fs, args); code >= 0 {
		return code
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(stderr, "mailmon:", err)
		return 1
	}
	withDefaultOutput(cfg)
	a := agent.New(cfg, newLogger(cfg, stderr))
	defer a.Close()
	if err := a.Setup(context.Background(), nil, true); err != nil {
		fmt.Fprintln(stderr, "mailmon:", err)
		return 1
	}
	enabled := 0
	for _, c := range cfg.Checks {
		if c.Enabled {
			enabled++
		}
	}
	fmt.Fprintf(stdout, "%s: OK (%d checks enabled, %d plugins, %d outputs)\n", cfg.File, enabled, len(a.Plugins()), len(cfg.Outputs))
	return 0
}

func cmdSampleConfig(args []string, stdout, stderr io.Writer) int {
	fs, path := flags("sample-config", "Print a complete sample config: the [agent] table, every plugin found in\nplugin_dirs (commented out: enable the ones you need) and every output.", stderr)
	if code := parse(fs, args); code >= 0 {
		return code
	}
	cfg, err := loadOrDefault(*path, fs)
	if err != nil {
		fmt.Fprintln(stderr, "mailmon:", err)
		return 1
	}
	fmt.Fprint(stdout, config.SampleAgent)
	code := 0
	for _, f := range agent.Discover(cfg.Agent.PluginDirs) {
		if f.Err != nil {
			fmt.Fprintf(stderr, "mailmon: skipping %s: %v\n", f.Path, f.Err)
			code = 1
			continue
		}
		p, err := host.Start(context.Background(), host.Config{Path: f.Path, SHA256: cfg.Agent.PluginSHA256[f.Name]})
		if err != nil {
			fmt.Fprintf(stderr, "mailmon: skipping %s: %v\n", f.Path, err)
			code = 1
			continue
		}
		info := p.Info()
		p.Kill()
		fmt.Fprintf(stdout, "\n## %s: %s\n", info.Name, info.Description)
		fmt.Fprint(stdout, commentOut(section("checks", info.Name, info.SampleConfig)))
	}
	names := outputs.Names()
	sort.Strings(names)
	for _, n := range names {
		f, _ := outputs.Get(n)
		o := f()
		fmt.Fprintf(stdout, "\n## %s: %s\n", n, o.Description())
		fmt.Fprint(stdout, section("outputs", n, o.SampleConfig()))
	}
	return code
}

// section puts a [[kind.name]] header on a sample that lacks one.
func section(kind, name, sample string) string {
	header := "[[" + kind + "." + name + "]]"
	if strings.Contains(sample, header) {
		return strings.TrimLeft(sample, "\n")
	}
	return header + "\n" + strings.TrimLeft(sample, "\n")
}

// commentOut disables a sample: checks need a target before they run.
func commentOut(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		switch {
		case strings.HasPrefix(strings.TrimSpace(line), "#"), strings.TrimSpace(line) == "":
			b.WriteString(line)
		default:
			b.WriteString("# " + line)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func cmdVersion(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mailmon version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.String("config", config.DefaultPath, "ignored; accepted like every command")
	if code := parse(fs, args); code >= 0 {
		return code
	}
	fmt.Fprintf(stdout, "mailmon %s (plugin protocol %d, %s %s/%s)\n", version, host.ProtocolMajor, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return 0
}
