// Command mailmon-check-tcp-connect is an example mailmon check plugin: it
// measures how long opening a TCP connection takes. The mailmon agent
// starts it; see README.md.
package main

import "github.com/mailmon/mailmon/sdk"

func main() {
	sdk.Serve(&sdk.ServeOpts{New: func() sdk.Check { return &TCPConnect{} }})
}
