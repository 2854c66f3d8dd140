package c1

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/lifecycle"
	"github.com/vault-plugin-c1/vault-plugin-c1/internal/upstreamsim"
)

// registerMany starts managing n connectors app%03d/conn.
func (e *testEnv) registerMany(n int) {
	e.t.Helper()
	for i := range n {
		app := fmt.Sprintf("app%03d", i)
		e.sim.AddConnector(app, "conn")
		e.mustDo(logical.UpdateOperation, "creds/"+app+"/conn", nil)
	}
}

func TestIdleTickReadsNoConnectorRecord(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 720 * time.Hour})
	e.configure(map[string]any{"verify_interval": 0}) // idle: no upstream checks due either
	e.registerMany(20)
	counted := e.countStorage()
	if err := e.tick(); err != nil { // the first tick indexes every connector
		t.Fatal(err)
	}
	if gets, _ := counted.counts(); gets["connectors"] != 20 {
		t.Errorf("the first tick read %d records, want all 20", gets["connectors"])
	}
	for range 3 {
		e.clock.Advance(time.Minute)
		if err := e.tick(); err != nil {
			t.Fatal(err)
		}
	}
	if gets, writes := counted.counts(); gets["connectors"] != 0 || writes["connectors"] != 0 {
		t.Errorf("idle ticks read %d and wrote %d records, want none", gets["connectors"], writes["connectors"])
	}
}

func TestTickWorksOnlyOnDueConnectors(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: upstreamsim.NoExpiry})
	e.configure(map[string]any{"rotation_period": "10h"})
	e.registerMany(5)
	if err := e.tick(); err != nil {
		t.Fatal(err)
	}
	// One connector registered after the schedule was built, with a shorter period.
	e.sim.AddConnector("late", "conn")
	e.mustDo(logical.UpdateOperation, "creds/late/conn", map[string]any{"rotation_period": "1h"})
	counted := e.countStorage()
	e.clock.Advance(time.Hour)
	if err := e.tick(); err != nil {
		t.Fatal(err)
	}
	if got := e.sim.Calls("rotate"); got != 7 {
		t.Errorf("rotate calls = %d, want the 6 registrations and the one due rotation", got)
	}
	if gets, _ := counted.counts(); gets["connectors"] > 1 {
		t.Errorf("the tick read %d records, want at most the one due", gets["connectors"])
	}
}

func TestInvalidatedConnectorIsRescheduled(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: upstreamsim.NoExpiry})
	first := e.configureAndRegister(map[string]any{"rotation_period": "10h"})
	if err := e.tick(); err != nil {
		t.Fatal(err)
	}
	// Another node set a one-hour period on the connector.
	hour := time.Hour
	e.writeBehindTheBack(func(c *lifecycle.Record) { c.Overrides.RotationPeriod = &hour })
	e.b.invalidate(context.Background(), recordKey(lifecycle.Key{AppID: testApp, ConnectorID: testConnector}))
	e.clock.Advance(time.Hour)
	if err := e.tick(); err != nil {
		t.Fatal(err)
	}
	if e.connector().Current.ID == first {
		t.Error("the connector another node made due was not rotated")
	}
}

func TestConfigChangeReschedulesEveryConnector(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: upstreamsim.NoExpiry})
	first := e.configureAndRegister(map[string]any{"rotation_period": "10h"})
	if err := e.tick(); err != nil {
		t.Fatal(err)
	}
	e.configure(map[string]any{"rotation_period": "1h"})
	e.clock.Advance(time.Hour)
	if err := e.tick(); err != nil {
		t.Fatal(err)
	}
	if e.connector().Current.ID == first {
		t.Error("not rotated at the new period")
	}
}

// TestStandbyThatBecomesActiveRebuildsItsSchedule: while the node cannot
// write, another node changes records without invalidating them here (as in
// an HA cluster, where only the active node runs the engine); once it can
// write, its first tick works from storage.
func TestStandbyThatBecomesActiveRebuildsItsSchedule(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: upstreamsim.NoExpiry})
	first := e.configureAndRegister(map[string]any{"rotation_period": "10h"})
	if err := e.tick(); err != nil {
		t.Fatal(err)
	}
	sys := e.b.System().(*logical.StaticSystemView)
	sys.ReplicationStateVal = consts.ReplicationPerformanceStandby
	if err := e.tick(); err != nil {
		t.Fatal(err)
	}
	hour := time.Hour
	e.writeBehindTheBack(func(c *lifecycle.Record) { c.Overrides.RotationPeriod = &hour })
	sys.ReplicationStateVal = 0
	e.clock.Advance(time.Hour)
	if err := e.tick(); err != nil {
		t.Fatal(err)
	}
	if e.connector().Current.ID == first {
		t.Error("the node that became writable did not rebuild its schedule from storage")
	}
}

func TestFailedMaintenanceIsRetriedOnTheNextTick(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: upstreamsim.NoExpiry})
	first := e.configureAndRegister(map[string]any{"rotation_period": "1h", "max_retries": 0})
	e.clock.Advance(time.Hour)
	// Refused (not applied), so no unknown-outcome backoff delays the retry.
	e.sim.InjectFault(upstreamsim.Fault{Op: "rotate", Status: 429, Count: 1})
	if err := e.tick(); err == nil {
		t.Fatal("the failed rotation was not reported")
	}
	e.clock.Advance(time.Minute)
	if err := e.tick(); err != nil {
		t.Fatal(err)
	}
	if e.connector().Current.ID == first {
		t.Error("the rotation that failed was not retried on the next tick")
	}
}

// fleetFigures scrapes the metrics path for the number of managed connectors
// and the seconds until the earliest expiry.
func fleetFigures(t *testing.T, e *testEnv) (managed, earliest float64) {
	t.Helper()
	m := scrape(t, e)
	managed, _ = sample(m, "c1_connectors_managed")
	earliest, ok := sample(m, "c1_credential_earliest_expiry_seconds")
	if !ok {
		t.Fatal("no c1_credential_earliest_expiry_seconds in the scrape")
	}
	return managed, earliest
}

// registerOthers registers n more connectors of the test app.
func registerOthers(t *testing.T, e *testEnv, n int) {
	t.Helper()
	for i := range n {
		conn := fmt.Sprintf("other-%d", i)
		e.sim.AddConnector(testApp, conn)
		e.mustDo(logical.UpdateOperation, "creds/"+testApp+"/"+conn, nil)
	}
}

func TestMetricsScrapeReadsOnlyTheRecordsChangedElsewhere(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 720 * time.Hour})
	e.configureAndRegister(nil)
	registerOthers(t, e, 3)
	counted := e.countStorage()
	if managed, earliest := fleetFigures(t, e); managed != 4 || earliest <= 0 {
		t.Fatalf("first scrape: %v managed, earliest expiry in %vs; want 4 and a positive time", managed, earliest)
	}

	// Records memory does not hold are not read again by the next scrape.
	e.b.mem.dropRecords()
	counted.counts()
	fleetFigures(t, e)
	if gets, _ := counted.counts(); gets["connectors"] != 0 {
		t.Errorf("a scrape with nothing changed read %d connector records", gets["connectors"])
	}

	// The engine's own writes keep the index: a rotation is no read either.
	e.mustDo(logical.UpdateOperation, rotatePath, nil)
	e.b.mem.dropRecords()
	counted.counts()
	fleetFigures(t, e)
	if gets, _ := counted.counts(); gets["connectors"] != 0 {
		t.Errorf("a scrape after a rotation read %d connector records", gets["connectors"])
	}

	// A write by another node (storage, then Invalidate) is read once.
	soon := e.clock.Now().Add(time.Hour)
	e.writeBehindTheBack(func(c *lifecycle.Record) { c.Current.ExpiresTime = soon })
	e.b.invalidate(context.Background(), recordKey(lifecycle.Key{AppID: testApp, ConnectorID: testConnector}))
	e.b.mem.dropRecords()
	counted.counts()
	if _, earliest := fleetFigures(t, e); earliest != time.Hour.Seconds() {
		t.Errorf("after another node's write the earliest expiry is in %vs, want %vs", earliest, time.Hour.Seconds())
	}
	if gets, _ := counted.counts(); gets["connectors"] != 1 {
		t.Errorf("a scrape after one invalidation read %d connector records, want 1", gets["connectors"])
	}

	// A record deleted elsewhere leaves the count.
	other := lifecycle.Key{AppID: testApp, ConnectorID: "other-0"}
	if err := e.storage.Delete(context.Background(), recordKey(other)); err != nil {
		t.Fatal(err)
	}
	e.b.invalidate(context.Background(), recordKey(other))
	if managed, _ := fleetFigures(t, e); managed != 3 {
		t.Errorf("after another node deleted a record: %v managed, want 3", managed)
	}
}

// writeDuringReadStorage stores a connector's record anew through the
// backend, once, right after the record's first read reached storage and
// before that read returns the old value: a write that a scrape's first
// read of every record can miss.
type writeDuringReadStorage struct {
	logical.Storage
	key   string
	once  sync.Once
	write func()
}

func (s *writeDuringReadStorage) Get(ctx context.Context, key string) (*logical.StorageEntry, error) {
	entry, err := s.Storage.Get(ctx, key)
	if key == s.key {
		s.once.Do(s.write)
	}
	return entry, err
}

func TestMetricsScrapeRereadsARecordWrittenWhileItsIndexWasBuilt(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 720 * time.Hour})
	e.configureAndRegister(nil)
	k := lifecycle.Key{AppID: testApp, ConnectorID: testConnector}
	soon := e.clock.Now().Add(time.Hour)
	plain := e.storage
	e.storage = &writeDuringReadStorage{Storage: plain, key: recordKey(k), write: func() {
		entry, err := readRecord(context.Background(), plain, k)
		if err != nil {
			t.Error(err)
			return
		}
		entry.Current.ExpiresTime = soon
		if err := e.b.putRecord(context.Background(), plain, entry); err != nil {
			t.Error(err)
		}
	}}
	e.b.mem.dropRecords()
	if _, earliest := fleetFigures(t, e); earliest != time.Hour.Seconds() {
		t.Errorf("the scrape during whose build the record changed shows the earliest expiry in %vs, want %vs",
			earliest, time.Hour.Seconds())
	}
	if _, earliest := fleetFigures(t, e); earliest != time.Hour.Seconds() {
		t.Errorf("the next scrape shows the earliest expiry in %vs, want %vs", earliest, time.Hour.Seconds())
	}
}

func TestMetricsScrapeLeavesTheRecordCacheAlone(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 720 * time.Hour})
	e.configureAndRegister(nil)
	registerOthers(t, e, 3)
	e.b.mem.dropRecords()
	e.mustDo(logical.ReadOperation, credsPath, nil) // the one hot record
	fleetFigures(t, e)
	held := e.b.mem.recordsHeld()
	if held != 1 {
		t.Errorf("after a scrape of 4 connectors memory holds %d records, want only the one read", held)
	}
}

// dropRecords empties the record cache, as if every record had been evicted.
func (m *memory) dropRecords() {
	m.mu.Lock()
	m.records = nil
	m.mu.Unlock()
}

// recordsHeld is how many records the cache holds.
func (m *memory) recordsHeld() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.records)
}
