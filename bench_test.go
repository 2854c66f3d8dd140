package c1

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/upstreamsim"
)

// BenchmarkSweep1000DueConnectors rotates a thousand due connectors against an
// upstream that takes 50 ms a call, at the default rotation_concurrency of 8:
// about 1000 × 50 ms / 8 ≈ 6 s a sweep, not the 50 s of one at a time.
func BenchmarkSweep1000DueConnectors(b *testing.B) {
	const connectors = 1000
	e := newTestEnv(b, upstreamsim.Options{CredentialTTL: 10 * time.Hour})
	e.configure(nil)
	for i := range connectors {
		app := fmt.Sprintf("app%04d", i)
		e.sim.AddConnector(app, "conn")
		if _, err := e.do(logical.UpdateOperation, "creds/"+app+"/conn", nil); err != nil {
			b.Fatal(err)
		}
	}
	e.sim.InjectFault(upstreamsim.Fault{Op: "rotate", Latency: 50 * time.Millisecond})
	b.ResetTimer()
	for range b.N {
		e.clock.Advance(7 * time.Hour) // every current credential is due
		if err := e.b.sweep(context.Background(), e.storage); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if max := e.rotations.Max(); max > defaultRotationConcurrency {
		b.Fatalf("%d rotations in flight, limit %d", max, defaultRotationConcurrency)
	}
	b.ReportMetric(float64(e.rotations.Max()), "max-in-flight")
}
