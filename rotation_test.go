package c1

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/lifecycle"
	"github.com/vault-plugin-c1/vault-plugin-c1/internal/upstreamsim"
)

const rotatePath = "rotate/" + testApp + "/" + testConnector

func TestPeriodicRotatesAtThePeriod(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: upstreamsim.NoExpiry}) // credentials that never expire
	first := e.configureAndRegister(map[string]any{"rotation_period": "2h"})

	e.clock.Advance(2*time.Hour - time.Second)
	if err := e.tick(); err != nil {
		t.Fatal(err)
	}
	if e.connector().Current.ID != first {
		t.Fatal("rotated before the period")
	}
	e.clock.Advance(time.Second)
	if err := e.tick(); err != nil {
		t.Fatal(err)
	}
	entry := e.connector()
	if entry.Current.ID == first {
		t.Fatal("not rotated at the period")
	}
	if len(entry.Retiring) != 1 || entry.Retiring[0].ID != first || entry.Retiring[0].ClientSecret != "" {
		t.Errorf("the replaced credential is not retiring without its secret: %+v", entry.Retiring)
	}
	if !entry.LastRotation.Equal(e.clock.Now()) {
		t.Errorf("last rotation %v", entry.LastRotation)
	}
}

func TestPeriodicRotatesBeforeExpiry(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 10 * time.Hour})
	first := e.configureAndRegister(nil)
	// rotate_before_expiry is 24h, but a third of the 10h lifetime is smaller: due at 6h40m.
	e.clock.Advance(6*time.Hour + 39*time.Minute)
	_ = e.tick()
	if e.connector().Current.ID != first {
		t.Fatal("rotated too early")
	}
	e.clock.Advance(time.Minute)
	if err := e.tick(); err != nil {
		t.Fatal(err)
	}
	if e.connector().Current.ID == first {
		t.Fatal("not rotated a third of its lifetime before expiry")
	}
	status := e.mustDo(logical.ReadOperation, rotatePath, nil)
	if status.Data["current_credential_id"] != e.connector().Current.ID {
		t.Errorf("status current = %v", status.Data["current_credential_id"])
	}
}

func TestShortLivedCredentialsRotateAtLeastTwoTicksBeforeExpiry(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 3 * time.Minute})
	first := e.configureAndRegister(nil)
	// A third of 3m is 1m, narrower than two ticks: the window is 2m, due at 1m.
	e.clock.Advance(time.Minute)
	if err := e.tick(); err != nil {
		t.Fatal(err)
	}
	if e.connector().Current.ID == first {
		t.Fatal("not rotated two ticks before expiry")
	}
}

func TestRetiredCredentialIsRevokedAfterTheGrace(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: upstreamsim.NoExpiry})
	first := e.configureAndRegister(map[string]any{"revoke_grace": "1h", "rotation_period": "24h"})

	e.mustDo(logical.UpdateOperation, rotatePath, nil)
	e.clock.Advance(time.Hour - time.Second)
	_ = e.tick()
	if c, _ := e.sim.Credential(first); c.Revoked {
		t.Fatal("revoked before the grace passed")
	}
	e.clock.Advance(time.Second)
	if err := e.tick(); err != nil {
		t.Fatal(err)
	}
	if c, _ := e.sim.Credential(first); !c.Revoked {
		t.Fatal("not revoked after the grace")
	}
	if len(e.connector().Retiring) != 0 {
		t.Error("revoked credential still retiring")
	}
	current := e.connector().Current.ID
	if c, _ := e.sim.Credential(current); c.Revoked {
		t.Error("the current credential was revoked")
	}
}

func TestRetiredCredentialOutlivesItsLeases(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: upstreamsim.NoExpiry})
	first := e.configureAndRegister(map[string]any{"revoke_grace": "1h", "rotation_period": "24h"})
	// A lease issued now runs to the planned revocation: 24h + 1h.
	lease := e.mustDo(logical.ReadOperation, credsPath, nil)
	if lease.Secret.TTL != 25*time.Hour {
		t.Fatalf("lease TTL %v", lease.Secret.TTL)
	}
	e.clock.Advance(time.Hour)
	resp := e.mustDo(logical.UpdateOperation, rotatePath, nil)
	if resp.Data["previous_credential_id"] != first {
		t.Fatalf("previous_credential_id = %v", resp.Data["previous_credential_id"])
	}
	if _, ok := resp.Data["client_secret"]; ok {
		t.Error("rotate answers with the secret")
	}
	// The grace ends 2h after registration, the lease 25h after it.
	e.clock.Advance(2 * time.Hour)
	_ = e.tick()
	if c, _ := e.sim.Credential(first); c.Revoked {
		t.Fatal("revoked while a lease for it is still running")
	}
	e.clock.Advance(22 * time.Hour)
	if err := e.tick(); err != nil {
		t.Fatal(err)
	}
	if c, _ := e.sim.Credential(first); !c.Revoked {
		t.Fatal("not revoked once its last lease ended")
	}
}

func TestRotateWithRevokePrevious(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 10 * time.Hour})
	first := e.configureAndRegister(nil)
	resp := e.mustDo(logical.UpdateOperation, rotatePath, map[string]any{"revoke_previous": true})
	if resp.Data["previous_revoked"] != true {
		t.Errorf("answer: previous_revoked %v", resp.Data["previous_revoked"])
	}
	if c, _ := e.sim.Credential(first); !c.Revoked {
		t.Fatal("previous credential not revoked at once")
	}
	read := e.mustDo(logical.ReadOperation, credsPath, nil)
	if read.Data["credential_id"] == first {
		t.Error("creds still serves the revoked credential")
	}
}

func TestRotateStatus(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: upstreamsim.NoExpiry})
	first := e.configureAndRegister(map[string]any{"rotation_period": "10h", "revoke_grace": "1h"})
	e.mustDo(logical.UpdateOperation, rotatePath, nil)
	status := e.mustDo(logical.ReadOperation, rotatePath, nil)
	now := e.clock.Now()
	if status.Data["next_rotation"] != formatTime(now.Add(10*time.Hour)) || status.Data["last_rotation"] != formatTime(now) {
		t.Errorf("next %v last %v", status.Data["next_rotation"], status.Data["last_rotation"])
	}
	ids, _ := status.Data["retiring_credential_ids"].([]string)
	if len(ids) != 1 || ids[0] != first {
		t.Errorf("retiring = %v", ids)
	}
	pending, _ := status.Data["pending_revocations"].([]map[string]any)
	if len(pending) != 1 || pending[0]["revoke_at"] != formatTime(now.Add(time.Hour)) {
		t.Errorf("pending revocations = %v", pending)
	}
	if _, err := e.do(logical.ReadOperation, "rotate/app1/unknown", nil); statusOf(err) != http.StatusNotFound {
		t.Errorf("status of an unmanaged connector: %v", err)
	}
}

func TestRotationFailureKeepsTheCurrentCredentialAndRecordsTheError(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 10 * time.Hour})
	first := e.configureAndRegister(nil)
	e.sim.InjectFault(upstreamsim.Fault{Op: "rotate", Status: http.StatusBadGateway})
	_, err := e.do(logical.UpdateOperation, rotatePath, nil)
	if statusOf(err) != http.StatusBadGateway || !strings.Contains(err.Error(), "502") {
		t.Fatalf("status %d: %v", statusOf(err), err)
	}
	entry := e.connector()
	if entry.Current.ID != first || entry.Pending != nil || len(entry.Retiring) != 0 {
		t.Error("a failed rotation changed the stored credentials")
	}
	if entry.LastError == "" {
		t.Error("the failure is not recorded")
	}
	if wal := e.walKeys(); len(wal) != 0 {
		t.Errorf("WAL entries left: %v", wal)
	}
	e.sim.ClearFaults()
	e.mustDo(logical.UpdateOperation, rotatePath, nil)
	if e.connector().LastError != "" {
		t.Error("a successful rotation does not clear the last error")
	}
}

func TestUpstreamFaultsAreRetried(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 10 * time.Hour})
	e.configure(map[string]any{"max_retries": 2})
	e.sim.InjectFault(upstreamsim.Fault{Op: "rotate", Status: http.StatusTooManyRequests, RetryAfter: "0", Count: 2})
	e.register(nil)
	if n := e.sim.Calls("rotate"); n != 3 {
		t.Errorf("rotate calls = %d, want 2 refused then 1 served", n)
	}
}

// crashingStorage fails the nth write of one key, as a crash at that point would leave things.
type crashingStorage struct {
	logical.Storage
	key string
	n   int

	mu     sync.Mutex
	writes int
}

func (s *crashingStorage) Put(ctx context.Context, entry *logical.StorageEntry) error {
	if entry.Key == s.key {
		s.mu.Lock()
		s.writes++
		crash := s.writes == s.n
		s.mu.Unlock()
		if crash {
			return context.Canceled
		}
	}
	return s.Storage.Put(ctx, entry)
}

func TestCrashBeforePromotionIsRolledBackByTheWAL(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 10 * time.Hour})
	first := e.configureAndRegister(nil)

	// The rotation stores the pending credential (write 1), then the crash
	// hits its promotion (write 2).
	inner := e.storage
	e.storage = &crashingStorage{Storage: inner, key: recordKey(lifecycle.Key{AppID: testApp, ConnectorID: testConnector}), n: 2}
	if _, err := e.do(logical.UpdateOperation, rotatePath, nil); err == nil {
		t.Fatal("the rotation did not fail")
	}
	e.storage = inner
	entry := e.connector()
	if entry.Pending == nil || entry.Current.ID != first {
		t.Fatal("expected a stored, unpromoted pending credential")
	}
	pending := entry.Pending.ID
	if len(e.walKeys()) != 1 {
		t.Fatalf("WAL entries: %v", e.walKeys())
	}

	// Vault rolls back stale WAL entries; "immediate" skips the age check.
	_, err := e.b.HandleRequest(context.Background(), &logical.Request{
		Operation: logical.RollbackOperation, Storage: e.storage, Data: map[string]any{"immediate": true},
	})
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := e.sim.Credential(pending); !c.Revoked {
		t.Error("the never-promoted credential was not revoked upstream")
	}
	entry = e.connector()
	if entry.Pending != nil || entry.Current.ID != first {
		t.Error("rollback did not restore the record")
	}
	if len(e.walKeys()) != 0 {
		t.Errorf("WAL entries left: %v", e.walKeys())
	}
	if c, _ := e.sim.Credential(first); c.Revoked {
		t.Error("rollback revoked the current credential")
	}
}

func TestCrashDuringRegistrationIsRolledBack(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 10 * time.Hour})
	e.configure(nil)
	inner := e.storage
	e.storage = &crashingStorage{Storage: inner, key: recordKey(lifecycle.Key{AppID: testApp, ConnectorID: testConnector}), n: 2}
	if _, err := e.do(logical.UpdateOperation, credsPath, nil); err == nil {
		t.Fatal("the registration did not fail")
	}
	e.storage = inner
	_, err := e.b.HandleRequest(context.Background(), &logical.Request{
		Operation: logical.RollbackOperation, Storage: e.storage, Data: map[string]any{"immediate": true},
	})
	if err != nil {
		t.Fatal(err)
	}
	creds := e.sim.Credentials(testApp, testConnector)
	if len(creds) != 1 || !creds[0].Revoked {
		t.Errorf("the half-registered credential is not revoked: %+v", creds)
	}
	if e.connector() != nil {
		t.Error("a half-finished registration left a record")
	}
}

func TestStoreFailureRevokesTheUnstoredCredential(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 10 * time.Hour})
	e.configure(nil)
	e.register(nil)
	inner := e.storage
	e.storage = &crashingStorage{Storage: inner, key: recordKey(lifecycle.Key{AppID: testApp, ConnectorID: testConnector}), n: 1}
	if _, err := e.do(logical.UpdateOperation, rotatePath, nil); err == nil {
		t.Fatal("the rotation did not fail")
	}
	e.storage = inner
	creds := e.sim.Credentials(testApp, testConnector)
	if len(creds) != 2 || !creds[1].Revoked || creds[0].Revoked {
		t.Errorf("the credential whose secret could not be stored is not revoked: %+v", creds)
	}
	if len(e.walKeys()) != 0 {
		t.Error("WAL entry left")
	}
}

func TestConcurrentRotationsMakeOneCredential(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 10 * time.Hour})
	e.configure(nil)
	e.register(nil)
	// Slow the upstream so that every call arrives while the first is under way
	// (the upstream takes its time; the test waits on nothing but the calls).
	e.sim.InjectFault(upstreamsim.Fault{Op: "rotate", Latency: time.Second})

	const callers = 8
	var wg sync.WaitGroup
	start := make(chan struct{})
	ids := make([]any, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resp, err := e.do(logical.UpdateOperation, rotatePath, nil)
			errs[i] = err
			if resp != nil {
				ids[i] = resp.Data["credential_id"]
			}
		}()
	}
	close(start)
	wg.Wait()
	for i := range callers {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if ids[i] != ids[0] {
			t.Errorf("caller %d got credential %v, caller 0 %v", i, ids[i], ids[0])
		}
	}
	if n := len(e.sim.Credentials(testApp, testConnector)); n != 2 {
		t.Errorf("upstream has %d credentials, want the first and one rotation", n)
	}
}

func TestPeriodicDoesNothingWhereStorageIsReadOnly(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 10 * time.Hour})
	first := e.configureAndRegister(nil)
	e.clock.Advance(9 * time.Hour)
	sys := logical.TestSystemView()
	sys.ReplicationStateVal = consts.ReplicationPerformanceStandby
	standby := newBackend(e.clock.Now)
	conf := logical.TestBackendConfig()
	conf.System = sys
	conf.StorageView = e.storage
	if err := standby.Setup(context.Background(), conf); err != nil {
		t.Fatal(err)
	}
	if err := standby.periodic(context.Background(), &logical.Request{Storage: e.storage}); err != nil {
		t.Fatal(err)
	}
	if e.connector().Current.ID != first || e.sim.Calls("rotate") != 1 {
		t.Error("a performance standby rotated")
	}
}

func TestSweepBoundsItsConcurrency(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 10 * time.Hour})
	e.configure(map[string]any{"rotation_concurrency": 3})
	const n = 12
	for i := range n {
		app := "app" + string(rune('a'+i))
		e.sim.AddConnector(app, "conn")
		e.mustDo(logical.UpdateOperation, "creds/"+app+"/conn", nil)
	}
	e.clock.Advance(7 * time.Hour)
	e.sim.InjectFault(upstreamsim.Fault{Op: "rotate", Latency: 50 * time.Millisecond})
	if err := e.tick(); err != nil {
		t.Fatal(err)
	}
	if got := e.sim.Calls("rotate"); got != 2*n {
		t.Errorf("rotate calls = %d, want %d", got, 2*n)
	}
	if max := e.rotations.Max(); max > 3 || max < 2 {
		t.Errorf("at most %d rotations in flight, want up to the limit of 3 and more than 1", max)
	}
}

func TestOverdueRotationStillServesTheValidCredential(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 4 * time.Minute})
	e.configure(map[string]any{"revoke_grace": "30s"})
	e.register(nil)
	// Due at 2m, planned revocation 2m30s; the periodic run is late.
	e.clock.Advance(2*time.Minute + 50*time.Second)
	resp := e.mustDo(logical.ReadOperation, credsPath, nil)
	if resp.Secret.TTL != 30*time.Second {
		t.Errorf("lease TTL %v, want the grace counted from now", resp.Secret.TTL)
	}
}

func TestRevokeOfAnAlreadyRevokedCredentialCountsAsDone(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: upstreamsim.NoExpiry})
	first := e.configureAndRegister(map[string]any{"revoke_grace": "1h", "rotation_period": "24h"})
	e.mustDo(logical.UpdateOperation, rotatePath, nil)
	// An operator revoked it upstream by hand: the engine's revoke meets a 404.
	e.mustDo(logical.UpdateOperation, rotatePath, nil) // a third credential, so the first is not current
	e.revokeUpstream(first)
	e.clock.Advance(time.Hour)
	if err := e.tick(); err != nil {
		t.Fatalf("a 404 on revoke failed the sweep: %v", err)
	}
	for _, c := range e.connector().Retiring {
		if c.ID == first {
			t.Error("the already revoked credential is still retiring")
		}
	}
}

func TestRollbackOfAnEntryWithoutAStoredCredentialWarns(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 10 * time.Hour})
	e.configure(nil)
	e.register(nil)
	// A crash between the WAL entry and storing the answer leaves only the entry.
	if _, err := framework.PutWAL(context.Background(), e.storage, walKindRotation, &walRotation{
		AppID: testApp, ConnectorID: testConnector, RotationID: "lost", StartedAt: e.clock.Now(),
	}); err != nil {
		t.Fatal(err)
	}
	// A rotation under way meanwhile has a pending credential of its own.
	if _, err := e.b.updateConnector(context.Background(), e.storage, lifecycle.Key{AppID: testApp, ConnectorID: testConnector},
		func(c *lifecycle.Record) (*lifecycle.Record, error) {
			c.Pending = &lifecycle.Credential{ID: "in-flight", RotationID: "other"}
			return c, nil
		}); err != nil {
		t.Fatal(err)
	}
	_, err := e.b.HandleRequest(context.Background(), &logical.Request{
		Operation: logical.RollbackOperation, Storage: e.storage, Data: map[string]any{"immediate": true},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(e.logs.String(), "cannot be found") {
		t.Error("the rollback did not warn about a credential it cannot reach")
	}
	// The status says too where a stray credential may be, without backing
	// off the next rotation.
	c := e.connector()
	if c.UnknownCreateCount != 1 || len(c.UnknownCreates) != 1 || c.UnknownStreak != 0 {
		t.Errorf("status: %d unknown creates, %d windows, backoff streak %d; want 1, 1, 0",
			c.UnknownCreateCount, len(c.UnknownCreates), c.UnknownStreak)
	}
	if p := e.connector().Pending; p == nil || p.ID != "in-flight" {
		t.Error("the rollback touched another rotation's pending credential")
	}
	if len(e.walKeys()) != 0 {
		t.Error("WAL entry left")
	}
}

func TestRevokingALeaseLeavesTheSharedCredential(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 10 * time.Hour})
	e.configure(nil)
	e.register(nil)
	resp := e.mustDo(logical.ReadOperation, credsPath, nil)
	_, err := e.b.HandleRequest(context.Background(), &logical.Request{
		Operation: logical.RevokeOperation, Storage: e.storage, Secret: resp.Secret, Data: resp.Data,
	})
	if err != nil {
		t.Fatal(err)
	}
	id, _ := resp.Data["client_id"].(string)
	secret, _ := resp.Data["client_secret"].(string)
	if !e.sim.ValidCredential(id, secret) {
		t.Error("revoking a lease revoked the credential upstream")
	}
	_, err = e.b.HandleRequest(context.Background(), &logical.Request{
		Operation: logical.RenewOperation, Storage: e.storage, Secret: resp.Secret,
	})
	if err == nil {
		t.Error("a creds lease was renewed")
	}
}

func TestConcurrentRegistrationsMakeOneCredential(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 10 * time.Hour})
	e.configure(nil)
	e.sim.InjectFault(upstreamsim.Fault{Op: "rotate", Latency: 200 * time.Millisecond})
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if _, err := e.do(logical.UpdateOperation, credsPath, nil); err != nil {
				t.Error(err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if n := len(e.sim.Credentials(testApp, testConnector)); n != 1 {
		t.Errorf("concurrent registrations made %d credentials upstream", n)
	}
}

func TestPeriodicWithoutC1ConfigIsQuiet(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{})
	if err := e.tick(); err != nil {
		t.Errorf("tick before any config: %v", err)
	}
	e.mustDo(logical.UpdateOperation, "config", map[string]any{"aitronos_api_key": "ak_" + strings.Repeat("k", 40)})
	if err := e.tick(); err != nil {
		t.Errorf("tick with an Aitronos-only config: %v", err)
	}
}
