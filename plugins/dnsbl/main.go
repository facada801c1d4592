// Command mailmon-check-dnsbl is the dnsbl check plugin: it looks IP
// addresses, host names and domains up on DNS blocklists, reads every
// answer, self-tests every zone and reports listings per target and zone.
package main

import "github.com/mailmon/mailmon/sdk"

func main() { sdk.Serve(&sdk.ServeOpts{New: func() sdk.Check { return &DNSBL{} }}) }
