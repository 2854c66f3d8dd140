package c1

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/lifecycle"
	"github.com/vault-plugin-c1/vault-plugin-c1/internal/upstreamsim"
)

func TestSweepHealsARecordWithoutACurrentCredential(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 10 * time.Hour})
	first := e.configureAndRegister(nil)
	k := lifecycle.Key{AppID: testApp, ConnectorID: testConnector}
	lose := func(keepPending bool) {
		t.Helper()
		if _, err := e.b.updateConnector(context.Background(), e.storage, k, func(c *lifecycle.Record) (*lifecycle.Record, error) {
			if keepPending {
				c.Pending = c.Current
			}
			c.Current = nil
			return c, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	// A stored, valid pending credential is made current.
	lose(true)
	e.mustTick()
	if c := e.connector().Current; c == nil || c.ID != first {
		t.Fatalf("not healed from the pending credential: %+v", c)
	}
	// Without one, a new credential is created.
	lose(false)
	e.mustTick()
	if c := e.connector().Current; c == nil || c.ID == first {
		t.Fatalf("not healed with a new credential: %+v", c)
	}
	e.mustDo(logical.ReadOperation, credsPath, nil)
}

func TestSweepFinishesADeregistration(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 10 * time.Hour})
	e.configureAndRegister(nil)
	e.mustDo(logical.UpdateOperation, rotatePath, nil)
	e.sim.InjectFault(upstreamsim.Fault{Op: upstreamsim.OpRevoke, Status: http.StatusInternalServerError})
	if _, err := e.do(logical.DeleteOperation, credsPath, nil); statusOf(err) != http.StatusBadGateway {
		t.Fatalf("status %d: %v", statusOf(err), err)
	}
	if _, err := e.do(logical.UpdateOperation, credsPath, nil); statusOf(err) != http.StatusConflict {
		t.Errorf("a write to a connector being deregistered: status %d: %v", statusOf(err), err)
	}
	if _, err := e.do(logical.UpdateOperation, rotatePath, nil); statusOf(err) != http.StatusConflict {
		t.Errorf("a rotation of a connector being deregistered: status %d: %v", statusOf(err), err)
	}
	e.sim.ClearFaults()
	e.mustTick()
	if e.connector() != nil {
		t.Error("the sweep did not finish the deregistration")
	}
	for _, c := range e.sim.Credentials(testApp, testConnector) {
		if !c.Revoked {
			t.Errorf("credential %s is still valid upstream", c.ID)
		}
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

func TestPeriodicRotatesAtThePeriod(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: upstreamsim.NoExpiry}) // credentials that never expire
	first := e.configureAndRegister(map[string]any{"connector_rotation_period": "2h"})

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

func TestScheduledRotationByThePeriodicFunction(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: upstreamsim.NoExpiry})
	e.configure(map[string]any{"connector_rotation_schedule": "0 3 * * *", "connector_rotation_window": "1h", "revoke_grace": "10m"})
	cfg := e.mustDo(logical.ReadOperation, "config", nil)
	if cfg.Data["connector_rotation_schedule"] != "0 3 * * *" || cfg.Data["connector_rotation_window"] != int64(3600) || cfg.Data["connector_rotation_period"] != int64(0) {
		t.Fatalf("config read: schedule %v window %v period %v; a schedule replaces the default period",
			cfg.Data["connector_rotation_schedule"], cfg.Data["connector_rotation_window"], cfg.Data["connector_rotation_period"])
	}
	e.register(nil)
	first := e.connector().Current.ID

	st := e.mustDo(logical.ReadOperation, rotatePath, nil)
	if st.Data["next_rotation"] != "2026-03-02T03:00:00Z" || st.Data["rotation_schedule"] != "0 3 * * *" {
		t.Fatalf("status: next_rotation %v schedule %v", st.Data["next_rotation"], st.Data["rotation_schedule"])
	}
	// The lease ends at the scheduled rotation plus the grace.
	if resp := e.mustDo(logical.ReadOperation, credsPath, nil); resp.Secret.TTL != 15*time.Hour+10*time.Minute {
		t.Errorf("lease TTL %s, want to 03:10", resp.Secret.TTL)
	}

	e.clock.Advance(14*time.Hour + 59*time.Minute) // 02:59
	if err := e.tick(); err != nil {
		t.Fatal(err)
	}
	if e.connector().Current.ID != first {
		t.Fatal("rotated before the scheduled time")
	}
	e.clock.Advance(time.Minute) // 03:00
	if err := e.tick(); err != nil {
		t.Fatal(err)
	}
	second := e.connector().Current.ID
	if second == first {
		t.Fatal("not rotated at the scheduled time")
	}

	// The next night's window is missed (Vault down from 02:00 to 04:30):
	// no rotation outside the window; the one after is planned.
	e.clock.Advance(25*time.Hour + 30*time.Minute) // day 3, 04:30
	if err := e.tick(); err != nil {
		t.Fatal(err)
	}
	if e.connector().Current.ID != second {
		t.Fatal("rotated outside the rotation window")
	}
	if st := e.mustDo(logical.ReadOperation, rotatePath, nil); st.Data["next_rotation"] != "2026-03-04T03:00:00Z" {
		t.Fatalf("next_rotation after a missed window: %v", st.Data["next_rotation"])
	}
	// VSO sees the schedule, not a period.
	if m := vsoView(t, e.mustDo(logical.ReadOperation, credsPath, nil)); m.RotationSchedule != "0 3 * * *" || m.RotationPeriod != 0 || m.TTL != 22*3600+30*60 {
		t.Fatalf("static creds fields %+v", m)
	}
}

func TestScheduleExpiryStillWins(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 4 * time.Minute})
	e.configure(map[string]any{"connector_rotation_schedule": "0 3 * * *", "connector_rotation_window": "1h"})
	e.register(nil)
	first := e.connector().Current.ID
	e.clock.Advance(2 * time.Minute) // 2 minutes before expiry, far from 03:00
	if err := e.tick(); err != nil {
		t.Fatal(err)
	}
	if e.connector().Current.ID == first {
		t.Fatal("a credential about to expire waited for the schedule")
	}
}

// The creates after an out-of-band revocation obey the backoff after unknown
// outcomes (at most 5 minutes while no credential works), not one per tick.
func TestCreatesAfterAnOutOfBandRevocationObeyTheBackoff(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: upstreamsim.NoExpiry})
	first := registerWith(e, map[string]any{"connector_rotation_period": "24h", "verify_interval": "10m", "max_retries": 0})
	e.sim.RevokeOutOfBand(first)
	// Every create acts upstream, then its answer is lost.
	e.sim.InjectFault(upstreamsim.Fault{Op: upstreamsim.OpRotate, Status: http.StatusInternalServerError, Commit: true})
	var createdAt []int // the minutes whose tick created
	for minute := 1; minute <= 40; minute++ {
		e.clock.Advance(time.Minute)
		before := e.sim.Calls(upstreamsim.OpRotate)
		_ = e.tick()
		if n := e.sim.Calls(upstreamsim.OpRotate) - before; n > 0 {
			for range n {
				createdAt = append(createdAt, minute)
			}
		}
	}
	if len(createdAt) == 0 {
		t.Fatal("precondition: no create after the out-of-band revocation")
	}
	for i := 1; i < len(createdAt); i++ {
		if gap := createdAt[i] - createdAt[i-1]; gap < 2 {
			t.Fatalf("creates with unknown outcomes at minutes %v: a create %d minute(s) after the previous one; "+
				"want the backoff (1, 2, 4, ... ticks sat out, at most 5 minutes)", createdAt, gap)
		}
	}
	for i := 1; i < len(createdAt); i++ {
		if gap := createdAt[i] - createdAt[i-1]; gap > 6 {
			t.Errorf("creates at minutes %v: %d minutes without a create while the connector has no working credential; "+
				"want a backoff capped at 5 minutes", createdAt, gap)
		}
	}
	if gap := 40 - createdAt[len(createdAt)-1]; gap > 6 {
		t.Errorf("creates at minutes %v: none in the last %d minutes; want a backoff capped at 5 minutes", createdAt, gap)
	}
}
