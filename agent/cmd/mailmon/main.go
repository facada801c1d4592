// Command mailmon is the mailmon agent: it runs mail checks as plugin
// processes and writes InfluxDB line protocol for Telegraf.
package main

import (
	"fmt"
	"io"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `mailmon watches mail systems end to end and writes InfluxDB line protocol.

Usage:
  mailmon run            [--config FILE]   run the agent until SIGTERM/SIGINT (SIGHUP reloads)
  mailmon test           [--config FILE] [--check NAME]
                                           run enabled checks once: line protocol on stdout,
                                           a status table on stderr, exit 0/1/2/3 by the worst status
  mailmon plugins        [--config FILE]   list the check plugins found in plugin_dirs
  mailmon config check   [--config FILE]   validate the config, starting the plugins it needs
  mailmon sample-config  [--config FILE]   print a config with every plugin's and output's sample
  mailmon version                          print the version

The config defaults to /etc/mailmon/mailmon.toml; .yaml/.yml files are YAML.
Run "mailmon COMMAND --help" for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches a command line and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return cmdRun(rest, stdout, stderr)
	case "test":
		return cmdTest(rest, stdout, stderr)
	case "plugins":
		return cmdPlugins(rest, stdout, stderr)
	case "config":
		if len(rest) == 0 || rest[0] != "check" {
			fmt.Fprintln(stderr, "usage: mailmon config check [--config FILE]")
			return 2
		}
		return cmdConfigCheck(rest[1:], stdout, stderr)
	case "sample-config":
		return cmdSampleConfig(rest, stdout, stderr)
	case "version", "--version", "-version":
		return cmdVersion(rest, stdout, stderr)
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "mailmon: unknown command %q\n\n%s", cmd, usage)
	return 2
}
