package c1

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	hclog "github.com/hashicorp/go-hclog"
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
	e.configure(map[string]any{"connector_rotation_period": "10h"})
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
	first := e.configureAndRegister(map[string]any{"connector_rotation_period": "10h"})
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
	first := e.configureAndRegister(map[string]any{"connector_rotation_period": "10h"})
	if err := e.tick(); err != nil {
		t.Fatal(err)
	}
	e.configure(map[string]any{"connector_rotation_period": "1h"})
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
	first := e.configureAndRegister(map[string]any{"connector_rotation_period": "10h"})
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
	first := e.configureAndRegister(map[string]any{"connector_rotation_period": "1h", "max_retries": 0})
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

// A config write that lands during a tick leaves the index built from the
// newer config, not from the one the tick read before the write.
func TestConfigWriteDuringATickReschedules(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: upstreamsim.NoExpiry})
	first := registerWith(e, map[string]any{"verify_interval": 0}) // rotation_period: the default 720h
	e.mustTick()
	// An earlier config write: what the engine held of the config is gone.
	e.mustDo(logical.UpdateOperation, "config", map[string]any{"revoke_grace": "1h"})

	plain := e.storage
	var written atomic.Bool
	writeErr := make(chan error, 1)
	e.storage = &firstAccessHook{Storage: plain, fn: func() {
		// The write lands right after the tick's first storage read.
		go func() {
			writeErr <- concurrentConfigWrite(e, plain, map[string]any{"connector_rotation_period": "2h"})
			written.Store(true)
		}()
		waitFor(t, "the config write to land", func() bool {
			return written.Load() || waitingForLock(".concurrentConfigWrite(") > 0
		})
	}}
	e.mustTick()
	e.storage = plain
	if err := <-writeErr; err != nil {
		t.Fatalf("the config write failed: %v", err)
	}
	if cfg := e.mustDo(logical.ReadOperation, "config", nil); fmt.Sprint(cfg.Data["connector_rotation_period"]) != "7200" {
		t.Fatalf("precondition: config connector_rotation_period %v, want 7200", cfg.Data["connector_rotation_period"])
	}

	e.clock.Advance(2*time.Hour + time.Minute)
	rotated := false
	for range 3 {
		e.mustTick()
		if rotateStatus(e)["current_credential_id"] != first {
			rotated = true
			break
		}
		e.clock.Advance(time.Minute)
	}
	if !rotated {
		st := rotateStatus(e)
		t.Errorf("rotation_period was shortened to 2h during a tick; more than 2h after registration nothing rotated "+
			"(current %v, next_rotation %v)", st["current_credential_id"], st["next_rotation"])
	}
}

// An Invalidate of a connector's record that lands between the index's read
// of the record and its check is not lost: a later scrape reports the
// expiry the record holds now. A second backend on the same storage plays
// the other node.
func TestInvalidationDuringAScrapeIsNotLost(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 720 * time.Hour})
	registerWith(e, nil)
	ctx := context.Background()

	// Another node of the cluster, on the same storage: Vault invalidates
	// here every key it writes.
	plain := e.storage
	other := &writeRecorder{Storage: plain}
	node2 := newBackend(e.clock.Now)
	conf := logical.TestBackendConfig()
	conf.StorageView = other
	conf.Logger = hclog.NewNullLogger()
	if err := node2.Setup(ctx, conf); err != nil {
		t.Fatal(err)
	}
	var recordKey string
	rotateElsewhere := func() time.Time {
		resp, err := node2.HandleRequest(ctx, &logical.Request{Operation: logical.UpdateOperation, Path: rotatePath, Storage: other})
		if err != nil {
			t.Fatalf("rotation on the other node: %v", err)
		}
		exp, err := time.Parse(time.RFC3339, fmt.Sprint(resp.Data["expires_time"]))
		if err != nil {
			t.Fatalf("rotation on the other node answered expires_time %v", resp.Data["expires_time"])
		}
		for _, k := range other.take() {
			if isRecordKey(k) {
				recordKey = k
			}
			e.b.InvalidateKey(ctx, k)
		}
		return exp
	}

	fleetFigures(t, e) // the first scrape indexes every record
	e.clock.Advance(time.Hour)
	rotateElsewhere()
	if recordKey == "" {
		t.Fatal("precondition: the other node wrote no record of the connector")
	}

	// The next scrape reads the record again; right after its read, the
	// other node rotates again and the record is invalidated again.
	var latest time.Time
	e.storage = &getHook{Storage: plain, key: recordKey, fn: func() {
		e.clock.Advance(time.Hour)
		latest = rotateElsewhere()
	}}
	fleetFigures(t, e)
	e.storage = plain
	if latest.IsZero() {
		t.Fatal("precondition: the scrape after the invalidation did not read the record")
	}

	_, earliest := fleetFigures(t, e)
	if want := latest.Sub(e.clock.Now()).Seconds(); earliest != want {
		t.Errorf("the scrape after the last invalidation reports the earliest expiry in %vs, want %vs "+
			"(the expiry the invalidated record holds now)", earliest, want)
	}
}
