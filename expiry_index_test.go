package c1

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/lifecycle"
	"github.com/vault-plugin-c1/vault-plugin-c1/internal/upstreamsim"
)

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
	e.b.mem.records.reset()
	counted.counts()
	fleetFigures(t, e)
	if gets, _ := counted.counts(); gets["connectors"] != 0 {
		t.Errorf("a scrape with nothing changed read %d connector records", gets["connectors"])
	}

	// The engine's own writes keep the index: a rotation is no read either.
	e.mustDo(logical.UpdateOperation, rotatePath, nil)
	e.b.mem.records.reset()
	counted.counts()
	fleetFigures(t, e)
	if gets, _ := counted.counts(); gets["connectors"] != 0 {
		t.Errorf("a scrape after a rotation read %d connector records", gets["connectors"])
	}

	// A write by another node (storage, then Invalidate) is read once.
	soon := e.clock.Now().Add(time.Hour)
	e.writeBehindTheBack(func(c *lifecycle.Record) { c.Current.ExpiresTime = soon })
	e.b.invalidate(context.Background(), recordKey(lifecycle.Key{AppID: testApp, ConnectorID: testConnector}))
	e.b.mem.records.reset()
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
		entry, err := getConnector(context.Background(), plain, k)
		if err != nil {
			t.Error(err)
			return
		}
		entry.Current.ExpiresTime = soon
		if err := putConnector(context.Background(), e.b.storageOf(plain), entry); err != nil {
			t.Error(err)
		}
	}}
	e.b.mem.records.reset()
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
	e.b.mem.records.reset()
	e.mustDo(logical.ReadOperation, credsPath, nil) // the one hot record
	fleetFigures(t, e)
	e.b.mem.records.mu.Lock()
	held := len(e.b.mem.records.slots)
	e.b.mem.records.mu.Unlock()
	if held != 1 {
		t.Errorf("after a scrape of 4 connectors memory holds %d records, want only the one read", held)
	}
}
