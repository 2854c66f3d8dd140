package c1

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/lifecycle"
	"github.com/vault-plugin-c1/vault-plugin-c1/internal/upstreamsim"
)

func TestRevokeOneRetiringCredential(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 10 * time.Hour})
	first := e.configureAndRegister(map[string]any{"revoke_grace": "24h"})
	e.mustDo(logical.UpdateOperation, rotatePath, nil)
	second := e.connector().Current.ID

	_, err := e.do(logical.DeleteOperation, credsPath+"/"+second, nil)
	if statusOf(err) != http.StatusConflict || !strings.Contains(err.Error(), "rotate") {
		t.Errorf("revoking the current credential: status %d: %v", statusOf(err), err)
	}
	if _, err := e.do(logical.DeleteOperation, credsPath+"/nosuch", nil); statusOf(err) != http.StatusNotFound {
		t.Errorf("revoking an unknown credential: status %d: %v", statusOf(err), err)
	}

	e.sim.InjectFault(upstreamsim.Fault{Op: upstreamsim.OpRevoke, Status: http.StatusBadGateway, Count: 2})
	_, err = e.do(logical.DeleteOperation, credsPath+"/"+first, nil)
	if statusOf(err) != http.StatusBadGateway || !strings.Contains(err.Error(), "revoke-now") {
		t.Errorf("failed revoke: status %d: %v", statusOf(err), err)
	}
	if st := e.connector().StateOf(first); st != lifecycle.StateRevokeNow {
		t.Errorf("state %v, want revoke-now", st)
	}
	e.sim.ClearFaults()
	e.mustDo(logical.DeleteOperation, credsPath+"/"+first, nil)
	if !e.revoked(first) {
		t.Error("not revoked upstream")
	}
	if entry := e.connector(); len(entry.Retiring) != 0 || entry.Current.ID != second {
		t.Errorf("record after the revoke: current %s, retiring %d", entry.Current.ID, len(entry.Retiring))
	}
}

func TestDeregistrationAndRegistrationTakeTurns(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 10 * time.Hour})
	e.configureAndRegister(nil)
	e.sim.InjectFault(upstreamsim.Fault{Op: upstreamsim.OpRevoke, Latency: time.Second, Count: 1})
	deleted := make(chan error, 1)
	go func() {
		_, err := e.do(logical.DeleteOperation, credsPath, nil)
		deleted <- err
	}()
	waitUntil(t, func() bool { return e.sim.Calls(upstreamsim.OpRevoke) > 0 })
	// A write while the delete is under way: it must not answer for a
	// record that the delete then removes.
	_, werr := e.do(logical.UpdateOperation, credsPath, map[string]any{"revoke_grace": "2h"})
	if err := <-deleted; err != nil {
		t.Fatal(err)
	}
	if werr == nil {
		entry := e.connector()
		if entry == nil || entry.Current == nil {
			t.Fatal("the write succeeded but the connector is not managed")
		}
		if e.revoked(entry.Current.ID) {
			t.Error("the connector serves a revoked credential")
		}
	}
}

func TestRetiredCredentialIsRevokedAfterTheGrace(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: upstreamsim.NoExpiry})
	first := e.configureAndRegister(map[string]any{"revoke_grace": "1h", "connector_rotation_period": "24h"})

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
	first := e.configureAndRegister(map[string]any{"revoke_grace": "1h", "connector_rotation_period": "24h"})
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

func TestRevokeOfAnAlreadyRevokedCredentialCountsAsDone(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: upstreamsim.NoExpiry})
	first := e.configureAndRegister(map[string]any{"revoke_grace": "1h", "connector_rotation_period": "24h"})
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

func TestRevocationHeldBackWhileTheCredentialIsUsed(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: upstreamsim.NoExpiry})
	first := e.configureAndRegister(map[string]any{"revoke_grace": "10m", "revoke_max_delay": "1h", "connector_rotation_period": "24h", "verify_interval": 0})
	e.mustDo(logical.UpdateOperation, rotatePath, nil)

	// Not due yet: no revocation, and no upstream read either.
	e.clock.Advance(9 * time.Minute)
	e.connectorLogin(first) // a consumer still on the old credential
	gets := e.sim.Calls(upstreamsim.OpGet)
	e.mustTick()
	if e.revoked(first) || e.sim.Calls(upstreamsim.OpGet) != gets {
		t.Fatal("a revocation that is not due was done or checked")
	}

	// Due at 10m, but used at 9m: held until unused for the grace (19m).
	e.clock.Advance(time.Minute)
	e.mustTick()
	if e.revoked(first) {
		t.Fatal("revoked a credential used after its retirement")
	}
	st := e.mustDo(logical.ReadOperation, rotatePath, nil)
	held, _ := st.Data["held_back_revocations"].([]map[string]any)
	if len(held) != 1 || held[0]["credential_id"] != first || held[0]["last_used_at"] != "2026-03-01T12:09:00Z" ||
		held[0]["revoke_deadline"] != "2026-03-01T13:10:00Z" {
		t.Fatalf("held_back_revocations %v", st.Data["held_back_revocations"])
	}
	if !strings.Contains(e.logs.String(), "held back") {
		t.Error("the log does not say the revocation was held back")
	}
	e.clock.Advance(8*time.Minute + 59*time.Second) // 18:59
	e.mustTick()
	if e.revoked(first) {
		t.Fatal("revoked before the credential was unused for the grace")
	}
	e.clock.Advance(time.Second) // 19:00
	e.mustTick()
	if !e.revoked(first) {
		t.Fatal("not revoked once unused for the grace")
	}
	if st := e.mustDo(logical.ReadOperation, rotatePath, nil); len(st.Data["held_back_revocations"].([]map[string]any)) != 0 {
		t.Error("a revoked credential is still listed as held back")
	}
}

func TestHeldBackAtMostUntilRevokeMaxDelay(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: upstreamsim.NoExpiry})
	e.configure(map[string]any{"revoke_grace": "10m", "connector_rotation_period": "24h", "verify_interval": 0})
	e.register(map[string]any{"revoke_max_delay": "30m"}) // per connector
	first := e.connector().Current.ID
	e.mustDo(logical.UpdateOperation, rotatePath, nil)
	// A consumer that never moves: it logs in every 5 minutes.
	for i := 0; i < 7; i++ { // to 12:35
		e.clock.Advance(5 * time.Minute)
		e.connectorLogin(first)
		e.mustTick()
		if e.revoked(first) {
			t.Fatalf("revoked at %s, before the hard deadline (40m)", e.clock.Now().Format("15:04"))
		}
	}
	e.clock.Advance(5 * time.Minute) // 12:40: planned revocation 12:10 plus 30m
	e.mustTick()
	if !e.revoked(first) {
		t.Fatal("still not revoked past revoke_max_delay")
	}
}

func TestLeakedCredentialIsNeverHeldBack(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: upstreamsim.NoExpiry})
	first := e.configureAndRegister(map[string]any{"revoke_grace": "10m", "connector_rotation_period": "24h"})
	e.connectorLogin(first)
	e.clock.Advance(time.Minute)
	e.connectorLogin(first)
	resp := e.mustDo(logical.UpdateOperation, rotatePath, map[string]any{"revoke_previous": true})
	if resp.Data["previous_revoked"] != true || !e.revoked(first) {
		t.Fatalf("revoke_previous did not revoke a credential in use: %v", resp.Data)
	}
}

func TestUnreadableUsageWaitsUntilTheDeadline(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: upstreamsim.NoExpiry})
	first := e.configureAndRegister(map[string]any{"revoke_grace": "10m", "revoke_max_delay": "20m", "connector_rotation_period": "24h",
		"verify_interval": 0, "max_retries": 0})
	e.mustDo(logical.UpdateOperation, rotatePath, nil)
	e.sim.InjectFault(upstreamsim.Fault{Op: upstreamsim.OpGet, Status: 500})
	e.clock.Advance(10 * time.Minute)
	e.mustTick()
	if e.revoked(first) {
		t.Fatal("revoked although its usage could not be read before the deadline")
	}
	e.clock.Advance(20 * time.Minute)
	e.mustTick()
	if !e.revoked(first) {
		t.Fatal("an unreadable usage held the revocation past revoke_max_delay")
	}
}

// A transient 404 on the GET of a retiring credential is no proof that it is
// gone: its revoke is sent before it leaves the record.
func TestA404OnReadIsNoProofThatARetiringCredentialIsGone(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: upstreamsim.NoExpiry})
	first := registerWith(e, map[string]any{"revoke_grace": "10m", "connector_rotation_period": "24h", "verify_interval": 0})
	e.mustDo(logical.UpdateOperation, rotatePath, nil)
	e.clock.Advance(10 * time.Minute) // its revocation is due
	e.sim.InjectFault(upstreamsim.Fault{Op: upstreamsim.OpGet, Status: http.StatusNotFound, Count: 1})
	revokes := e.sim.Calls(upstreamsim.OpRevoke)
	for i := range 3 {
		_ = e.tick()
		if !heldIDs(rotateStatus(e))[first] && !e.revoked(first) {
			t.Fatalf("tick %d: retiring credential %s left the record but is still valid upstream "+
				"(%d revoke calls since the 404); a 404 on a GET alone must not make it gone",
				i+1, first, e.sim.Calls(upstreamsim.OpRevoke)-revokes)
		}
		e.clock.Advance(time.Minute)
	}
	if !e.revoked(first) {
		t.Errorf("retiring credential %s is still valid upstream after its revocation came due", first)
	}
}

// A deletedAt in the future has not happened: the retiring credential is
// still held (and revoked in its time).
func TestAFutureDeletedAtIsNotGone(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: upstreamsim.NoExpiry})
	first := registerWith(e, map[string]any{"revoke_grace": "10m", "connector_rotation_period": "24h", "verify_interval": 0})
	e.mustDo(logical.UpdateOperation, rotatePath, nil)
	// The upstream reports a deletion scheduled a day from now.
	e.tamper.set("/api/v1/apps/"+testApp+"/connectors/"+testConnector+"/credentials/"+first,
		withDeletedAt(e.clock.Now().Add(24*time.Hour)))
	e.clock.Advance(10 * time.Minute) // its revocation is due
	gets := e.sim.Calls(upstreamsim.OpGet)
	for i := range 3 {
		_ = e.tick()
		if !heldIDs(rotateStatus(e))[first] && !e.revoked(first) {
			t.Fatalf("tick %d: retiring credential %s, whose deletedAt lies in the future, left the record "+
				"but is still valid upstream (%d GETs)", i+1, first, e.sim.Calls(upstreamsim.OpGet)-gets)
		}
		e.clock.Advance(time.Minute)
	}
	if !e.revoked(first) {
		t.Errorf("retiring credential %s is still valid upstream after its revocation came due", first)
	}
}
