package c1

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/lifecycle"
	"github.com/vault-plugin-c1/vault-plugin-c1/internal/upstreamsim"
)

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
	e.configure(map[string]any{"verify_interval": 0}) // idle: no upstream checks due either
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
	e.writeBehindTheBack(func(c *lifecycle.Record) { c.Overrides.RotationPeriod = &hour })
	e.b.invalidate(context.Background(), recordKey(lifecycle.Key{AppID: testApp, ConnectorID: testConnector}))
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
	e.writeBehindTheBack(func(c *lifecycle.Record) { c.Overrides.RotationPeriod = &hour })
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
	// Refused (not applied), so no unknown-outcome backoff delays the retry.
	e.sim.InjectFault(upstreamsim.Fault{Op: "rotate", Status: 429, Count: 1})
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
