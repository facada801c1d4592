// Command testplugin serves testcheck for the sdk's process tests.
package main

import (
	"github.com/mailmon/mailmon/sdk"
	"github.com/mailmon/mailmon/sdk/internal/testcheck"
)

func main() {
	sdk.Serve(&sdk.ServeOpts{New: testcheck.New})
}
