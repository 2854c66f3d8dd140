package c1

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/lifecycle"
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

// idleFleet is a configured test env whose storage holds n managed
// connectors, none due for a month.
func idleFleet(b *testing.B, n int) *testEnv {
	b.Helper()
	e := newTestEnv(b, upstreamsim.Options{})
	e.configure(nil)
	now := e.clock.Now()
	for i := range n {
		rec := &lifecycle.Record{AppID: fmt.Sprintf("app%05d", i), ConnectorID: "conn", RegisteredAt: now,
			Current: &lifecycle.Credential{ID: fmt.Sprintf("cred%05d", i), ClientID: "client", ClientSecret: "secret",
				CreatedAt: now, ExpiresTime: now.Add(720 * time.Hour)}}
		if err := storeRecord(e.storage, rec); err != nil {
			b.Fatal(err)
		}
	}
	return e
}

// BenchmarkIdleTick10000Connectors runs the periodic function over ten
// thousand managed connectors of which none is due: it reads no record.
func BenchmarkIdleTick10000Connectors(b *testing.B) {
	const connectors = 10000
	e := idleFleet(b, connectors)
	if err := e.tick(); err != nil { // builds the schedule
		b.Fatal(err)
	}
	counted := e.countStorage()
	b.ResetTimer()
	for range b.N {
		if err := e.tick(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	gets, _ := counted.counts()
	b.ReportMetric(float64(gets["connectors"])/float64(b.N), "records-read/tick")
}

// BenchmarkMetricsScrape10000Connectors reads the metrics path with ten
// thousand managed connectors, none changed since the first scrape: it reads
// no record.
func BenchmarkMetricsScrape10000Connectors(b *testing.B) {
	const connectors = 10000
	e := idleFleet(b, connectors)
	e.mustDo(logical.ReadOperation, "metrics", nil) // builds the index
	counted := e.countStorage()
	b.ResetTimer()
	for range b.N {
		e.mustDo(logical.ReadOperation, "metrics", nil)
	}
	b.StopTimer()
	gets, _ := counted.counts()
	b.ReportMetric(float64(gets["connectors"])/float64(b.N), "records-read/scrape")
}

// BenchmarkCredsRead reads one connector's credential as a lease, in process.
func BenchmarkCredsRead(b *testing.B) {
	e := newTestEnv(b, upstreamsim.Options{CredentialTTL: 720 * time.Hour})
	e.configure(nil)
	e.register(nil)
	counted := e.countStorage()
	b.ResetTimer()
	for range b.N {
		e.mustDo(logical.ReadOperation, credsPath, nil)
	}
	b.StopTimer()
	gets, writes := counted.counts()
	b.ReportMetric(float64(gets["connectors"]+gets["config"])/float64(b.N), "storage-reads/op")
	b.ReportMetric(float64(writes["connectors"])/float64(b.N), "storage-writes/op")
}

// BenchmarkMemoryPerIdleConnector reports the engine's in-memory bytes per
// managed connector of an idle fleet of ten thousand, once its index is
// built by a tick and a metrics scrape (goal: at most 512). Storage, which
// holds the records, is counted out: it is Vault's, not the plugin's.
func BenchmarkMemoryPerIdleConnector(b *testing.B) {
	const connectors = 10000
	var perConnector float64
	for range b.N {
		e := idleFleet(b, connectors)
		before := liveHeap()
		if err := e.tick(); err != nil {
			b.Fatal(err)
		}
		e.mustDo(logical.ReadOperation, "metrics", nil)
		perConnector = float64(liveHeap()-before) / connectors
		runtime.KeepAlive(e)
	}
	b.ReportMetric(perConnector, "bytes/connector")
}

// liveHeap is the heap in use after a full collection.
func liveHeap() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// BenchmarkVerificationOfAnUnchangedFleet runs a periodic tick a minute over
// a thousand connectors whose credentials are all valid, with the default
// verify_interval, for a whole interval after a first one: each connector is
// checked upstream once, spread over the ticks, and a check that finds the
// credential valid, as before, writes nothing to storage.
func BenchmarkVerificationOfAnUnchangedFleet(b *testing.B) {
	const connectors = 1000
	e := newTestEnv(b, upstreamsim.Options{CredentialTTL: 720 * time.Hour})
	e.configure(nil)
	for i := range connectors {
		app := fmt.Sprintf("app%04d", i)
		e.sim.AddConnector(app, "conn")
		e.mustDo(logical.UpdateOperation, "creds/"+app+"/conn", nil)
	}
	if err := e.tick(); err != nil { // builds the index
		b.Fatal(err)
	}
	ticks := int(defaultVerifyInterval / time.Minute)
	interval := func() {
		for range ticks {
			e.clock.Advance(time.Minute)
			if err := e.tick(); err != nil {
				b.Fatal(err)
			}
		}
	}
	interval() // a first interval: each connector's first check
	counted := e.countStorage()
	gets := e.sim.Calls(upstreamsim.OpGet)
	b.ResetTimer()
	for range b.N {
		interval()
	}
	b.StopTimer()
	_, writes := counted.counts()
	minutes := float64(b.N * ticks)
	b.ReportMetric(float64(e.sim.Calls(upstreamsim.OpGet)-gets)/minutes, "upstream-checks/min")
	b.ReportMetric(float64(writes["connectors"])/minutes, "storage-writes/min")
}
