package c1

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/upstreamsim"
)

func TestScheduledRotationByThePeriodicFunction(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: upstreamsim.NoExpiry})
	e.configure(map[string]any{"rotation_schedule": "0 3 * * *", "rotation_window": "1h", "revoke_grace": "10m"})
	cfg := e.mustDo(logical.ReadOperation, "config", nil)
	if cfg.Data["rotation_schedule"] != "0 3 * * *" || cfg.Data["rotation_window"] != int64(3600) || cfg.Data["rotation_period"] != int64(0) {
		t.Fatalf("config read: schedule %v window %v period %v; a schedule replaces the default period",
			cfg.Data["rotation_schedule"], cfg.Data["rotation_window"], cfg.Data["rotation_period"])
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
	e.configure(map[string]any{"rotation_schedule": "0 3 * * *", "rotation_window": "1h"})
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

func TestScheduleOrPeriodPerConnector(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: upstreamsim.NoExpiry})
	e.configure(map[string]any{"rotation_period": "24h"})
	e.register(map[string]any{"rotation_schedule": "0 3 * * *"})
	st := e.mustDo(logical.ReadOperation, rotatePath, nil)
	if st.Data["rotation_schedule"] != "0 3 * * *" || st.Data["rotation_period"] != int64(0) || st.Data["next_rotation"] != "2026-03-02T03:00:00Z" {
		t.Fatalf("connector schedule over the config period: %v %v %v",
			st.Data["rotation_schedule"], st.Data["rotation_period"], st.Data["next_rotation"])
	}
	// A later period on the connector replaces its schedule (and window).
	e.mustDo(logical.UpdateOperation, credsPath, map[string]any{"rotation_period": "2h"})
	o := e.connector().Overrides
	if o.RotationSchedule != nil || o.RotationWindow != nil || o.RotationPeriod == nil || *o.RotationPeriod != 2*time.Hour {
		t.Fatalf("overrides after a period write: %+v", o)
	}
	if st := e.mustDo(logical.ReadOperation, rotatePath, nil); st.Data["next_rotation"] != "2026-03-01T14:00:00Z" || st.Data["rotation_schedule"] != "" {
		t.Fatalf("after a period override: %v %v", st.Data["next_rotation"], st.Data["rotation_schedule"])
	}
	// A config schedule applies to connectors without their own timing;
	// a connector's period still wins.
	e.mustDo(logical.UpdateOperation, "config", map[string]any{"rotation_schedule": "0 4 * * *"})
	if st := e.mustDo(logical.ReadOperation, rotatePath, nil); st.Data["next_rotation"] != "2026-03-01T14:00:00Z" {
		t.Fatalf("the connector's period lost to the config's schedule: %v", st.Data["next_rotation"])
	}
	// Setting the period on the config turns the config's schedule off.
	e.mustDo(logical.UpdateOperation, "config", map[string]any{"rotation_period": "48h"})
	if cfg := e.mustDo(logical.ReadOperation, "config", nil); cfg.Data["rotation_schedule"] != "" || cfg.Data["rotation_period"] != int64(48*3600) {
		t.Fatalf("config after a period write: %v %v", cfg.Data["rotation_schedule"], cfg.Data["rotation_period"])
	}
}

func TestScheduleFieldsRefusedWithA400(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: upstreamsim.NoExpiry})
	e.configure(nil)
	e.register(nil)
	before := e.mustDo(logical.ReadOperation, "config", nil).Data
	for name, tc := range map[string]struct {
		data  map[string]any
		field string
	}{
		"both schedule and period":   {map[string]any{"rotation_schedule": "0 3 * * *", "rotation_period": "24h"}, "rotation_schedule or rotation_period"},
		"cron that does not parse":   {map[string]any{"rotation_schedule": "every night"}, "rotation_schedule"},
		"six fields":                 {map[string]any{"rotation_schedule": "0 0 3 * * *"}, "rotation_schedule"},
		"never fires":                {map[string]any{"rotation_schedule": "0 3 30 2 *"}, "rotation_schedule"},
		"window under an hour":       {map[string]any{"rotation_schedule": "0 3 * * *", "rotation_window": "30m"}, "rotation_window"},
		"window without a schedule":  {map[string]any{"rotation_window": "2h"}, "rotation_window"},
		"negative window":            {map[string]any{"rotation_schedule": "0 3 * * *", "rotation_window": "-2h"}, "rotation_window"},
		"window with a period write": {map[string]any{"rotation_period": "2h", "rotation_window": "2h"}, "rotation_window"},
	} {
		for _, path := range []string{"config", credsPath} {
			t.Run(name+" on "+path, func(t *testing.T) {
				_, err := e.do(logical.UpdateOperation, path, tc.data)
				if statusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), tc.field) {
					t.Fatalf("status %d, error %v; want a 400 naming %s", statusOf(err), err, tc.field)
				}
			})
		}
	}
	after := e.mustDo(logical.ReadOperation, "config", nil).Data
	if !equalJSON(t, before, after) || e.connector().Overrides.RotationSchedule != nil || e.connector().Overrides.RotationWindow != nil {
		t.Error("a refused write changed what is stored")
	}
}
