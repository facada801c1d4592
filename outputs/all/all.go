// Package all compiles in every mailmon output: the agent imports it for
// its side effect of registering them.
package all

import (
	_ "github.com/mailmon/mailmon/outputs/influx" // mode stdout, udp, tcp, unix, http
)
