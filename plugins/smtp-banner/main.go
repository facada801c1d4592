// Command mailmon-check-smtp-banner is the smtp-banner check plugin: it
// runs one SMTP transaction (greeting, EHLO, STARTTLS or implicit TLS,
// optional AUTH, QUIT) and reports timing, TLS and certificate metrics.
package main

import "github.com/mailmon/mailmon/sdk"

func main() { sdk.Serve(&sdk.ServeOpts{New: func() sdk.Check { return &Banner{} }}) }
