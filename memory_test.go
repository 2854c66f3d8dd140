package c1

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/lifecycle"
	"github.com/vault-plugin-c1/vault-plugin-c1/internal/upstreamsim"
)

// countingStorage counts the reads and writes that reach storage, by key prefix.
type countingStorage struct {
	logical.Storage
	mu           sync.Mutex
	gets, writes map[string]int
}

func newCountingStorage(s logical.Storage) *countingStorage {
	return &countingStorage{Storage: s, gets: map[string]int{}, writes: map[string]int{}}
}

func prefixOf(key string) string {
	p, _, _ := strings.Cut(key, "/")
	return p
}

func (s *countingStorage) Get(ctx context.Context, key string) (*logical.StorageEntry, error) {
	s.mu.Lock()
	s.gets[prefixOf(key)]++
	s.mu.Unlock()
	return s.Storage.Get(ctx, key)
}

func (s *countingStorage) Put(ctx context.Context, e *logical.StorageEntry) error {
	s.mu.Lock()
	s.writes[prefixOf(e.Key)]++
	s.mu.Unlock()
	return s.Storage.Put(ctx, e)
}

func (s *countingStorage) Delete(ctx context.Context, key string) error {
	s.mu.Lock()
	s.writes[prefixOf(key)]++
	s.mu.Unlock()
	return s.Storage.Delete(ctx, key)
}

// counts returns the reads and writes so far and starts counting from zero.
func (s *countingStorage) counts() (gets, writes map[string]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	gets, writes = s.gets, s.writes
	s.gets, s.writes = map[string]int{}, map[string]int{}
	return gets, writes
}

// countStorage routes the test env's requests through a countingStorage.
func (e *testEnv) countStorage() *countingStorage {
	c := newCountingStorage(e.storage)
	e.storage = c
	return c
}

// writeBehindTheBack changes the stored record of the test connector as
// another Vault node would: in storage only, with no word to this backend.
func (e *testEnv) writeBehindTheBack(change func(*lifecycle.Record)) {
	e.t.Helper()
	entry := e.connector()
	change(entry)
	if err := storeRecord(e.storage, entry); err != nil {
		e.t.Fatal(err)
	}
}

func servedID(t *testing.T, e *testEnv) string {
	t.Helper()
	resp := e.mustDo(logical.ReadOperation, credsPath, nil)
	return resp.Data["credential_id"].(string)
}

func TestCredsReadsAreServedFromMemory(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 720 * time.Hour})
	first := e.configureAndRegister(nil)
	counted := e.countStorage()
	servedID(t, e)
	counted.counts()
	for range 50 {
		if id := servedID(t, e); id != first {
			t.Fatalf("served %s, want %s", id, first)
		}
		e.clock.Advance(time.Second)
	}
	gets, writes := counted.counts()
	if len(gets) != 0 {
		t.Errorf("50 reads read storage: %v", gets)
	}
	// The lease is capped by the planned revocation, which stays put: the
	// first read moved the horizon there, the others write nothing.
	if len(writes) != 0 {
		t.Errorf("50 reads wrote storage: %v", writes)
	}
}

func TestLeaseHorizonMovesAtMostOnceAMinuteWhenTheMaxTTLCapsTheLease(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: upstreamsim.NoExpiry})
	e.configureAndRegister(map[string]any{"connector_rotation_period": 0}) // no planned revocation: the mount max caps
	counted := e.countStorage()
	for range 120 {
		resp := e.mustDo(logical.ReadOperation, credsPath, nil)
		if h := e.connector().Current.LeaseHorizon; h.Before(e.clock.Now().Add(resp.Secret.TTL)) {
			t.Fatalf("lease horizon %v before the end of the lease just issued", h)
		}
		e.clock.Advance(time.Second)
	}
	if _, writes := counted.counts(); writes["connectors"] > 2 {
		t.Errorf("120 reads over two minutes wrote the record %d times, want at most 2", writes["connectors"])
	}
}

func TestOwnWritesKeepMemoryCoherent(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 720 * time.Hour})
	first := e.configureAndRegister(nil)
	servedID(t, e)
	e.mustDo(logical.UpdateOperation, rotatePath, nil)
	second := e.connector().Current.ID
	if id := servedID(t, e); id != second || id == first {
		t.Fatalf("after a rotation the read served %s, want the new %s", id, second)
	}
	e.mustDo(logical.DeleteOperation, credsPath, nil)
	if _, err := e.do(logical.ReadOperation, credsPath, nil); statusOf(err) != 404 {
		t.Fatalf("a deregistered connector's read: %v, want a 404", err)
	}
}

func TestInvalidateOfAConnectorKeyDropsItsCopy(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 720 * time.Hour})
	first := e.configureAndRegister(nil)
	servedID(t, e)
	// Another node rotated: the credential the backend holds is retired in storage.
	e.writeBehindTheBack(func(c *lifecycle.Record) {
		old := c.Current
		c.Current = &lifecycle.Credential{ID: "cred-from-another-node", ClientID: "x", ClientSecret: "y",
			CreatedAt: e.clock.Now(), ExpiresTime: e.clock.Now().Add(720 * time.Hour)}
		old.RetiredAt, old.RevokeAt, old.ClientSecret = e.clock.Now(), e.clock.Now(), ""
		c.Retiring = append(c.Retiring, old)
	})
	if id := servedID(t, e); id != first {
		t.Fatalf("served %s before any invalidation; the read does not come from memory", id)
	}
	e.b.invalidate(context.Background(), recordKey(lifecycle.Key{AppID: testApp, ConnectorID: testConnector}))
	if id := servedID(t, e); id != "cred-from-another-node" {
		t.Fatalf("after the invalidation the read served %s", id)
	}
}

func TestInvalidateOfTheConfigDropsItsCopy(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: upstreamsim.NoExpiry})
	e.configureAndRegister(map[string]any{"connector_rotation_period": "24h", "revoke_grace": "1h"})
	if ttl := e.mustDo(logical.ReadOperation, credsPath, nil).Secret.TTL; ttl != 25*time.Hour {
		t.Fatalf("lease TTL %v", ttl)
	}
	cfg, err := getConfig(context.Background(), e.storage)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Policy.RevokeGrace = 2 * time.Hour
	if err := putConfig(context.Background(), e.storage, cfg); err != nil { // another node
		t.Fatal(err)
	}
	e.b.invalidate(context.Background(), configStorageKey)
	if ttl := e.mustDo(logical.ReadOperation, credsPath, nil).Secret.TTL; ttl != 26*time.Hour {
		t.Fatalf("after the config changed, lease TTL %v, want 26h", ttl)
	}
}

func TestCleanForgetsMemory(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 720 * time.Hour})
	e.configureAndRegister(nil)
	servedID(t, e)
	e.writeBehindTheBack(func(c *lifecycle.Record) { c.Current.ID = "cred-replaced" })
	e.b.clean(context.Background())
	if id := servedID(t, e); id != "cred-replaced" {
		t.Fatalf("after Clean the read served %s from memory", id)
	}
}

func TestFailedWriteLeavesNoCopyBehind(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 10 * time.Hour})
	first := e.configureAndRegister(nil)
	servedID(t, e)
	inner := e.storage
	// The pending credential is stored, then its promotion fails.
	e.storage = &crashingStorage{Storage: inner, key: recordKey(lifecycle.Key{AppID: testApp, ConnectorID: testConnector}), n: 2}
	if _, err := e.do(logical.UpdateOperation, rotatePath, nil); err == nil {
		t.Fatal("the rotation did not fail")
	}
	e.storage = inner
	if id := servedID(t, e); id != first {
		t.Fatalf("served %s, want the still current %s", id, first)
	}
}

// TestReadsNeverServeACredentialRetiredBeforeTheyBegan runs reads while
// rotations retire credentials: a read that began after a rotation returned
// must not serve the credential that rotation retired.
func TestReadsNeverServeACredentialRetiredBeforeTheyBegan(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 720 * time.Hour})
	e.configureAndRegister(nil)
	var (
		mu      sync.Mutex
		retired = map[string]bool{}
		done    = make(chan struct{})
		wg      sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		for range 20 {
			resp, err := e.do(logical.UpdateOperation, rotatePath, nil)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			retired[resp.Data["previous_credential_id"].(string)] = true
			mu.Unlock()
		}
	}()
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				mu.Lock()
				before := make(map[string]bool, len(retired))
				for id := range retired {
					before[id] = true
				}
				mu.Unlock()
				resp, err := e.do(logical.ReadOperation, credsPath, nil)
				if err != nil {
					t.Error(err)
					return
				}
				if id := resp.Data["credential_id"].(string); before[id] {
					t.Errorf("served %s, retired before the read began", id)
					return
				}
			}
		}()
	}
	wg.Wait()
}
