package c1

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/c1api"
	"github.com/vault-plugin-c1/vault-plugin-c1/internal/lifecycle"
	"github.com/vault-plugin-c1/vault-plugin-c1/internal/upstreamsim"
)

// connectorLogin logs in upstream with credential id, as a connector would.
func (e *testEnv) connectorLogin(id string) {
	e.t.Helper()
	st, ok := e.sim.Credential(id)
	if !ok {
		e.t.Fatalf("no credential %s upstream", id)
	}
	c, err := c1api.New(c1api.Config{ServerURL: e.url, ClientID: st.ClientID, ClientSecret: st.Secret, Now: e.clock.Now})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := c.Login(context.Background()); err != nil {
		e.t.Fatalf("connector login with %s: %v", id, err)
	}
}

func TestRevocationHeldBackWhileTheCredentialIsUsed(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: upstreamsim.NoExpiry})
	first := e.configureAndRegister(map[string]any{"revoke_grace": "10m", "revoke_max_delay": "1h", "rotation_period": "24h", "verify_interval": 0})
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
	e.configure(map[string]any{"revoke_grace": "10m", "rotation_period": "24h", "verify_interval": 0})
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
	first := e.configureAndRegister(map[string]any{"revoke_grace": "10m", "rotation_period": "24h"})
	e.connectorLogin(first)
	e.clock.Advance(time.Minute)
	e.connectorLogin(first)
	resp := e.mustDo(logical.UpdateOperation, rotatePath, map[string]any{"revoke_previous": true})
	if resp.Data["previous_revoked"] != true || !e.revoked(first) {
		t.Fatalf("revoke_previous did not revoke a credential in use: %v", resp.Data)
	}
}

// A retiring credential that reads as gone (deletedAt or a 404) is not
// forgotten on that read alone: its revoke is sent, and its answer (a
// success, or a 404) takes it out of the record.
func TestCredentialGoneUpstreamIsRevokedThenForgotten(t *testing.T) {
	for _, hide := range []bool{false, true} {
		name := map[bool]string{false: "deletedAt", true: "404"}[hide]
		t.Run(name, func(t *testing.T) {
			e := newTestEnv(t, upstreamsim.Options{CredentialTTL: upstreamsim.NoExpiry})
			first := e.configureAndRegister(map[string]any{"revoke_grace": "10m", "rotation_period": "24h", "verify_interval": 0})
			e.mustDo(logical.UpdateOperation, rotatePath, nil)
			e.sim.RevokeOutOfBand(first)
			e.sim.SetHideDeleted(hide)
			revokes := e.sim.Calls(upstreamsim.OpRevoke)
			e.clock.Advance(10 * time.Minute)
			e.mustTick()
			if e.connector().StateOf(first) != lifecycle.StateUnmanaged {
				t.Fatal("a credential gone upstream is still held")
			}
			if got := e.sim.Calls(upstreamsim.OpRevoke) - revokes; got != 1 {
				t.Errorf("%d revoke calls for a credential that read as gone, want the one whose answer proves it", got)
			}
		})
	}
}

func TestUnreadableUsageWaitsUntilTheDeadline(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: upstreamsim.NoExpiry})
	first := e.configureAndRegister(map[string]any{"revoke_grace": "10m", "revoke_max_delay": "20m", "rotation_period": "24h",
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

func TestOutOfBandRevocationOfTheCurrentCredentialRotatesAtOnce(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: upstreamsim.NoExpiry})
	first := e.configureAndRegister(map[string]any{"rotation_period": "24h", "verify_interval": "10m"})
	e.sim.RevokeOutOfBand(first)
	// Within at most one interval (plus a tick) the check falls due.
	for i := 0; i < 11 && e.connector().Current.ID == first; i++ {
		e.clock.Advance(time.Minute)
		e.mustTick()
	}
	cur := e.connector().Current.ID
	if cur == first {
		t.Fatal("the current credential revoked upstream was not replaced within verify_interval")
	}
	st := e.mustDo(logical.ReadOperation, rotatePath, nil)
	if why, _ := st.Data["last_verify_result"].(string); !strings.Contains(why, first) || !strings.Contains(why, "out of band") {
		t.Errorf("status does not say why it rotated: %q", why)
	}
	if !strings.Contains(e.logs.String(), "revoked or deleted upstream, out of band; it is no longer served and is being replaced") {
		t.Error("the log does not say why it rotated")
	}
	resp := e.mustDo(logical.ReadOperation, credsPath, nil)
	if resp.Data["credential_id"] != cur || !e.sim.ValidCredential(resp.Data["client_id"].(string), resp.Data["client_secret"].(string)) {
		t.Error("the credential served after the rotation does not work upstream")
	}
}

func TestVerifyIntervalZeroChecksNothing(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: upstreamsim.NoExpiry})
	first := e.configureAndRegister(map[string]any{"rotation_period": "24h", "verify_interval": 0})
	e.sim.RevokeOutOfBand(first)
	gets := e.sim.Calls(upstreamsim.OpGet)
	for i := 0; i < 30; i++ {
		e.clock.Advance(time.Minute)
		e.mustTick()
	}
	if e.connector().Current.ID != first || e.sim.Calls(upstreamsim.OpGet) != gets {
		t.Fatal("verify_interval 0 still read or rotated the current credential")
	}
	if cfg := e.mustDo(logical.ReadOperation, "config", nil); cfg.Data["verify_interval"] != int64(0) || cfg.Data["revoke_max_delay"] != int64(86400) {
		t.Errorf("config read: verify_interval %v revoke_max_delay %v", cfg.Data["verify_interval"], cfg.Data["revoke_max_delay"])
	}
}
