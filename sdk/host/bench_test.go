package host_test

import (
	"context"
	"testing"
	"time"

	"github.com/mailmon/mailmon/sdk/checktest"
	"github.com/mailmon/mailmon/sdk/host"
)

// BenchmarkStart measures launching a plugin: exec, handshake with mutual
// TLS, dispense and Info.
func BenchmarkStart(b *testing.B) {
	bin := checktest.Build(b, testPluginPkg)
	for b.Loop() {
		p, err := host.Start(context.Background(), host.Config{Path: bin})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		p.Kill()
		b.StartTimer()
	}
}

// BenchmarkRunRPC measures the protocol's cost per run: a Run call whose
// check does nothing but return one metric.
func BenchmarkRunRPC(b *testing.B) {
	p := startTest(b)
	configure(b, p, "a", `{"label": "a"}`)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for b.Loop() {
		if _, err := p.Run(ctx, "a"); err != nil {
			b.Fatal(err)
		}
	}
}
