package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"
)

// benchTargets and benchZones are the figures `make bench` reports: 100
// addresses (198.51.100.1-100, 11 of them listed) on 50 zones
// (bench1..bench50.mailmon.test) served by the local rbldnsd.
const (
	benchTargets = 100
	benchZones   = 50
	benchListed  = 11 * benchZones
)

func benchSetup(b *testing.B) (rbldnsd string, addrs, zones []string) {
	env := dnsStack(b)
	if n, _ := strconv.Atoi(env["DNSSTACK_BENCH_ZONES"]); n < benchZones {
		b.Fatalf("scripts/dnsstack serves %d bench zones, want %d", n, benchZones)
	}
	for i := 1; i <= benchTargets; i++ {
		addrs = append(addrs, fmt.Sprintf("198.51.100.%d", i))
	}
	for i := 1; i <= benchZones; i++ {
		zones = append(zones, fmt.Sprintf("bench%d.mailmon.test", i))
	}
	return env["DNSSTACK_RBLDNSD"], addrs, zones
}

// BenchmarkZones100x50 checks 100 addresses on 50 zones: "check" is this
// plugin (self-tests, every A record, TXT for listings, bounded
// concurrency); "naive" is what a simple script does: net.Resolver, one
// query at a time, A then TXT when listed, no self-test.
func BenchmarkZones100x50(b *testing.B) {
	b.Run("check", func(b *testing.B) {
		server, addrs, zones := benchSetup(b)
		var custom []any
		for _, z := range zones {
			custom = append(custom, map[string]any{"name": z, "severity": "critical"})
		}
		raw, _ := json.Marshal(map[string]any{"resolver": server, "zones": []string{}, "custom_zone": custom, "addresses": addrs})
		d := &DNSBL{}
		if err := d.Configure(raw); err != nil {
			b.Fatal(err)
		}
		var queries int64
		b.ResetTimer()
		for b.Loop() {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			res, err := d.Run(ctx)
			cancel()
			if err != nil {
				b.Fatal(err)
			}
			f := res.Metrics[0].Fields
			if f["listed_count"] != int64(benchListed) || f["lookup_errors"] != int64(0) || f["lookups"] != int64(benchTargets*benchZones) {
				b.Fatalf("wrong result: %v", f)
			}
			queries += f["queries"].(int64)
		}
		b.ReportMetric(float64(queries)/b.Elapsed().Seconds(), "queries/s")
		b.ReportMetric(float64(queries)/float64(b.N), "queries/op")
	})
	b.Run("naive", func(b *testing.B) {
		server, addrs, zones := benchSetup(b)
		r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "udp", server)
		}}
		var queries int64
		b.ResetTimer()
		for b.Loop() {
			listed := 0
			ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
			for _, a := range addrs {
				rev := reverse(netip.MustParseAddr(a))
				for _, z := range zones {
					name := rev + "." + z + "."
					queries++
					if _, err := r.LookupIP(ctx, "ip4", name); err != nil {
						continue
					}
					listed++
					queries++
					_, _ = r.LookupTXT(ctx, name)
				}
			}
			cancel()
			if listed != benchListed {
				b.Fatalf("naive lookup found %d listings, want %d", listed, benchListed)
			}
		}
		b.ReportMetric(float64(queries)/b.Elapsed().Seconds(), "queries/s")
		b.ReportMetric(float64(queries)/float64(b.N), "queries/op")
	})
}
