// Command mailmon-check-roundtrip is the roundtrip check plugin: it sends a
// test message over SMTP, watches the mailbox over IMAP (IDLE plus a short
// fast poll) or POP3 until the message arrives, reports the delivery time
// and deletes the message again, touching nothing but its own probes.
package main

import "github.com/mailmon/mailmon/sdk"

func main() { sdk.Serve(&sdk.ServeOpts{New: func() sdk.Check { return &Roundtrip{} }}) }
