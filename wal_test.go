package c1

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/lifecycle"
	"github.com/vault-plugin-c1/vault-plugin-c1/internal/upstreamsim"
)

func TestWALEntriesAreLocal(t *testing.T) {
	b := newBackend(time.Now)
	if paths := b.SpecialPaths(); paths == nil || len(paths.LocalStorage) != 1 || paths.LocalStorage[0] != framework.WALPrefix {
		t.Errorf("local storage paths %v", paths)
	}
}

// crashBeforePromotion leaves a stored pending credential and its WAL entry.
func (e *testEnv) crashBeforePromotion() string {
	e.t.Helper()
	inner := e.storage
	e.storage = &crashingStorage{Storage: inner, key: recordKey(lifecycle.Key{AppID: testApp, ConnectorID: testConnector}), n: 2}
	if _, err := e.do(logical.UpdateOperation, rotatePath, nil); err == nil {
		e.t.Fatal("the rotation did not fail")
	}
	e.storage = inner
	return e.connector().Pending.ID
}

func TestRollbackDoesNothingWhereStorageIsNotWritable(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 10 * time.Hour})
	e.configureAndRegister(nil)
	pending := e.crashBeforePromotion()

	sys := logical.TestSystemView()
	sys.ReplicationStateVal = consts.ReplicationPerformanceStandby
	standby := newBackend(e.clock.Now)
	conf := logical.TestBackendConfig()
	conf.System = sys
	conf.StorageView = e.storage
	if err := standby.Setup(context.Background(), conf); err != nil {
		t.Fatal(err)
	}
	revokes := e.sim.Calls(upstreamsim.OpRevoke)
	_, _ = standby.HandleRequest(context.Background(), &logical.Request{
		Operation: logical.RollbackOperation, Storage: e.storage, Data: map[string]any{"immediate": true},
	})
	if e.sim.Calls(upstreamsim.OpRevoke) != revokes || len(e.walKeys()) != 1 || e.connector().Pending.ID != pending {
		t.Error("a node that cannot write storage rolled back")
	}
}

func TestRollbackGivesUpAfterADayNamingWhatItCouldNotUndo(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 100 * time.Hour})
	e.configureAndRegister(nil)
	pending := e.crashBeforePromotion()
	e.sim.InjectFault(upstreamsim.Fault{Op: upstreamsim.OpRevoke, Status: http.StatusInternalServerError})

	_, _ = e.b.HandleRequest(context.Background(), &logical.Request{
		Operation: logical.RollbackOperation, Storage: e.storage, Data: map[string]any{"immediate": true},
	})
	if len(e.walKeys()) != 1 {
		t.Fatal("a failed rollback dropped its entry within a day")
	}
	e.clock.Advance(walGiveUpAge)
	e.rollback()
	if len(e.walKeys()) != 0 {
		t.Error("the entry was not dropped after a day")
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "[ERROR]") || !strings.Contains(logs, pending) {
		t.Errorf("no ERROR naming the credential it could not revoke:\n%s", logs)
	}
	// Not forgotten: the credential is to be revoked on the next periodic runs.
	if st := e.connector().StateOf(pending); st != lifecycle.StateRevokeNow {
		t.Errorf("the never-promoted credential is %v, want revoke-now", st)
	}
	e.sim.ClearFaults()
	_ = e.tick()
	if !e.revoked(pending) {
		t.Error("the never-promoted credential is still valid upstream")
	}
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

// A WAL rollback of a completed rotation (only its WAL entry's deletion was
// lost) whose credential was since rotated, retired, revoked and forgotten
// counts no unknown outcome.
func TestRollbackOfACompletedRotationCountsNoUnknownOutcome(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: upstreamsim.NoExpiry})
	registerWith(e, map[string]any{"revoke_grace": "10m", "connector_rotation_period": "24h", "verify_interval": 0})
	plain := e.storage
	e.storage = &walDeleteFault{Storage: plain}
	made := e.mustDo(logical.UpdateOperation, rotatePath, nil).Data["credential_id"].(string)
	e.storage = plain
	if n := len(e.walKeys()); n != 1 {
		t.Fatalf("precondition: %d WAL entries left, want the completed rotation's", n)
	}
	e.mustDo(logical.UpdateOperation, rotatePath, nil)
	e.clock.Advance(11 * time.Minute)
	e.mustTick()
	if !e.revoked(made) || heldIDs(rotateStatus(e))[made] {
		t.Fatalf("precondition: credential %s is not revoked upstream and forgotten", made)
	}
	before := rotateStatus(e)["unknown_outcome_creates"]

	e.rollback()
	st := rotateStatus(e)
	if fmt.Sprint(st["unknown_outcome_creates"]) != fmt.Sprint(before) {
		t.Errorf("the rollback of a completed rotation counted an unknown outcome: unknown_outcome_creates %v -> %v (windows %v)",
			before, st["unknown_outcome_creates"], st["unknown_outcome_windows"])
	}
}
