package c1

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/c1api"
	"github.com/vault-plugin-c1/vault-plugin-c1/internal/upstreamsim"
)

func TestDecideRevocation(t *testing.T) {
	retired := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	p := rotationPolicy{RevokeGrace: 10 * time.Minute, RevokeMaxDelay: time.Hour}
	c := &storedCredential{RetiredAt: retired, RevokeAt: retired.Add(10 * time.Minute)}
	expiring := &storedCredential{RetiredAt: retired, RevokeAt: retired.Add(10 * time.Minute), ExpiresTime: retired.Add(30 * time.Minute)}
	due := retired.Add(10 * time.Minute)
	used := func(at time.Time) upstreamView { return upstreamView{Known: true, LastUsedAt: at} }
	for _, tc := range []struct {
		name string
		c    *storedCredential
		v    upstreamView
		now  time.Time
		want revokeVerdict
	}{
		{"never used", c, used(time.Time{}), due, verdictRevoke},
		{"last used before its retirement", c, used(retired.Add(-time.Minute)), due, verdictRevoke},
		{"used after its retirement, within the grace", c, used(retired.Add(5 * time.Minute)), due, verdictHold},
		{"unused for the grace since its last use", c, used(retired.Add(5 * time.Minute)), retired.Add(15 * time.Minute), verdictRevoke},
		{"still used at the hard deadline", c, used(retired.Add(69 * time.Minute)), retired.Add(70 * time.Minute), verdictRevoke},
		{"still used just before the deadline", c, used(retired.Add(69 * time.Minute)), retired.Add(70*time.Minute - time.Second), verdictHold},
		{"the deadline never passes the expiry", expiring, used(retired.Add(29 * time.Minute)), retired.Add(30 * time.Minute), verdictRevoke},
		{"deleted upstream", c, upstreamView{Known: true, Gone: true, LastUsedAt: due}, due, verdictForget},
		{"usage unknown: wait a tick", c, upstreamView{}, due, verdictHold},
		{"usage unknown at the deadline", c, upstreamView{}, retired.Add(70 * time.Minute), verdictRevoke},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := decideRevocation(p, tc.c, tc.v, tc.now); got != tc.want {
				t.Fatalf("verdict %d, want %d", got, tc.want)
			}
		})
	}
	// revoke_max_delay 0: nothing is ever held back.
	if got := decideRevocation(rotationPolicy{RevokeGrace: time.Hour}, c, used(due), due); got != verdictRevoke {
		t.Errorf("with revoke_max_delay 0 a used credential was held back")
	}
	// A credential to revoke at once is never checked.
	leaked := &storedCredential{RevokeNow: true}
	if (&connectorEntry{}).usageChecked(leaked) || (&connectorEntry{Deregistering: true}).usageChecked(c) {
		t.Error("a revoke-now or deregistering credential waits on its usage")
	}
}

func TestVerifyDueSpreadsChecksOverTheInterval(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	e := &connectorEntry{Current: &storedCredential{ID: "c"}, LastRotation: t0}
	const interval = 10 * time.Minute
	phase := 3 * time.Minute // slots start at :03, :13, :23, ...
	for _, tc := range []struct {
		now  time.Time
		want bool
	}{
		{t0.Add(2 * time.Minute), false},
		{t0.Add(3 * time.Minute), true},
		{t0.Add(12 * time.Minute), true},
	} {
		if got := verifyDue(e, phase, interval, tc.now); got != tc.want {
			t.Errorf("at %s: due %v, want %v", tc.now.Format("15:04"), got, tc.want)
		}
	}
	e.recordVerify("ok", true, t0.Add(3*time.Minute))
	if verifyDue(e, phase, interval, t0.Add(12*time.Minute)) || !verifyDue(e, phase, interval, t0.Add(13*time.Minute)) {
		t.Error("after a check at 12:03 the next is due at 12:13, not before")
	}
	e.recordVerify("could not read", false, t0.Add(13*time.Minute))
	if !verifyDue(e, phase, interval, t0.Add(14*time.Minute)) {
		t.Error("a failed check is not retried on the next tick")
	}
	if verifyDue(e, phase, 0, t0.Add(time.Hour)) {
		t.Error("verify_interval 0 still checks")
	}
	// Phases of many connectors cover the interval.
	seen := map[time.Duration]bool{}
	for _, id := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		seen[verifyPhase(connectorKey{"app", id}, interval)/time.Minute] = true
	}
	if len(seen) < 4 {
		t.Errorf("8 connectors fall in %d distinct minutes of a 10-minute interval", len(seen))
	}
}

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

func TestNextVerifyIsTheStartOfTheNextSlot(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	e := &connectorEntry{Current: &storedCredential{ID: "c"}, LastRotation: t0}
	const interval = 10 * time.Minute
	phase := 3 * time.Minute // slots start at :03, :13, :23, ...
	if got := nextVerify(e, phase, interval, t0.Add(time.Minute)); !got.Equal(t0.Add(3 * time.Minute)) {
		t.Errorf("before the first slot: next check %s, want 12:03", got.Format("15:04"))
	}
	if got := nextVerify(e, phase, interval, t0.Add(5*time.Minute)); !got.Equal(t0.Add(5 * time.Minute)) {
		t.Errorf("a check that is due: next check %s, want now (12:05)", got.Format("15:04"))
	}
	e.recordVerify("ok", true, t0.Add(5*time.Minute))
	if got := nextVerify(e, phase, interval, t0.Add(6*time.Minute)); !got.Equal(t0.Add(13 * time.Minute)) {
		t.Errorf("after a check at 12:05: next check %s, want 12:13", got.Format("15:04"))
	}
	if got := nextVerify(e, phase, 0, t0); !got.IsZero() {
		t.Errorf("verify_interval 0: next check %s, want none", got)
	}
	// The sweep's index takes the check when it comes before any other work.
	cfg := &pluginConfig{Policy: rotationPolicy{RotationPeriod: 24 * time.Hour}, VerifyInterval: interval}
	k := connectorKey{"app", "conn"}
	e.Current.CreatedAt = t0
	want := nextVerify(e, verifyPhase(k, interval), interval, t0.Add(6*time.Minute))
	if got := sweepDue(cfg, k, e, t0.Add(6*time.Minute)); !got.Equal(want) || got.After(t0.Add(16*time.Minute)) {
		t.Errorf("sweepDue %s, want the next check %s", got, want)
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

func TestCredentialGoneUpstreamIsForgotten(t *testing.T) {
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
			if e.connector().stateOf(first) != stateUnmanaged {
				t.Fatal("a credential gone upstream is still held")
			}
			if e.sim.Calls(upstreamsim.OpRevoke) != revokes {
				t.Error("revoked again a credential already gone")
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
	if !strings.Contains(e.logs.String(), "out of band; rotating at once") {
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
