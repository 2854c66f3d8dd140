package c1

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/upstreamsim"
)

func TestNextWork(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	p := rotationPolicy{RotationPeriod: 10 * time.Hour, RotateBeforeExpiry: time.Hour, RevokeGrace: time.Hour}
	cred := func(created time.Time, expires time.Time) *storedCredential {
		return &storedCredential{CreatedAt: created, ExpiresTime: expires}
	}
	for _, tc := range []struct {
		name string
		p    rotationPolicy
		e    *connectorEntry
		want time.Time
	}{
		{"rotation by age", p, &connectorEntry{Current: cred(now, time.Time{})}, now.Add(10 * time.Hour)},
		{"rotation before expiry", p, &connectorEntry{Current: cred(now, now.Add(5*time.Hour))}, now.Add(4 * time.Hour)},
		{"a revocation before the rotation", p, &connectorEntry{Current: cred(now, time.Time{}),
			Retiring: []*storedCredential{{RevokeAt: now.Add(3 * time.Hour)}, {RevokeAt: now.Add(2 * time.Hour)}}}, now.Add(2 * time.Hour)},
		{"a retired credential without a revocation time", p, &connectorEntry{Current: cred(now, time.Time{}),
			Retiring: []*storedCredential{{}}}, now},
		{"nothing planned", rotationPolicy{}, &connectorEntry{Current: cred(now, time.Time{})}, time.Time{}},
		{"no credential", p, &connectorEntry{}, time.Time{}},
	} {
		if got := nextWork(tc.p, tc.e, now); !got.Equal(tc.want) {
			t.Errorf("%s: nextWork = %v, want %v", tc.name, got, tc.want)
		}
	}
}

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
	e.configure(nil)
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
	e.configure(map[string]any{"rotation_period": "10h"})
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
	first := e.configureAndRegister(map[string]any{"rotation_period": "10h"})
	if err := e.tick(); err != nil {
		t.Fatal(err)
	}
	// Another node set a one-hour period on the connector.
	hour := time.Hour
	e.writeBehindTheBack(func(c *connectorEntry) { c.Overrides.RotationPeriod = &hour })
	e.b.invalidate(context.Background(), connectorKey{testApp, testConnector}.storageKey())
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
	first := e.configureAndRegister(map[string]any{"rotation_period": "10h"})
	if err := e.tick(); err != nil {
		t.Fatal(err)
	}
	e.configure(map[string]any{"rotation_period": "1h"})
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
	first := e.configureAndRegister(map[string]any{"rotation_period": "10h"})
	if err := e.tick(); err != nil {
		t.Fatal(err)
	}
	sys := e.b.System().(*logical.StaticSystemView)
	sys.ReplicationStateVal = consts.ReplicationPerformanceStandby
	if err := e.tick(); err != nil {
		t.Fatal(err)
	}
	hour := time.Hour
	e.writeBehindTheBack(func(c *connectorEntry) { c.Overrides.RotationPeriod = &hour })
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
	first := e.configureAndRegister(map[string]any{"rotation_period": "1h", "max_retries": 0})
	e.clock.Advance(time.Hour)
	e.sim.InjectFault(upstreamsim.Fault{Op: "rotate", Status: 500, Count: 1})
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
