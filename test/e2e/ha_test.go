//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestHA runs the engine in a three-node Raft cluster of the pinned Vault and
// checks what an operator of an HA deployment relies on:
//
//   - Standbys serve every path: Vault OSS standbys forward each request to
//     the active node, so registration, rotation, reads and the status work
//     through any node, and each makes exactly one credential upstream.
//   - The active node is killed in the middle of a periodic sweep, while one
//     rotation hangs upstream (the simulator delays its answer). The new
//     active node serves the credentials the old one served, completes the
//     interrupted rotation exactly once and leaves the completed ones alone,
//     and rolls back the dead node's WAL entry.
//
// Where the WAL lives: the engine declares its WAL prefix as LocalStorage. In
// Vault OSS that declaration has no effect (only Enterprise replication reads
// it, to keep such paths out of performance replication); within one Raft
// cluster every node applies the same log, so the dead node's WAL entry is in
// the storage the new active node reads. The test asserts exactly that: the
// entry written by the old active node is listed on the new one and is
// rolled back there.
//
// Time: Vault runs the periodic function (sweep, then WAL rollback) once a
// minute on the active node only, from when that node became active. The
// test reads that moment from sys/leader and gives the connectors a
// credential lifetime that makes them due 10 s before a tick, so that one
// tick rotates them. A WAL entry is rolled back only once older than the
// engine's minimum age (minutes); instead of waiting for it, the test ages
// the dead node's entry in storage through sys/raw, so the new node's first
// tick rolls it back.
func TestHA(t *testing.T) {
	t.Parallel()
	start := time.Now()
	dir := t.TempDir()
	s := startSim(t, dir, "-credential-ttl", time.Hour.String())
	c := startRaftCluster(t, dir, 3, vaultOptions{rawStorage: true})
	active, activeSince := c.leader()
	standbys := c.standbys(active)
	t.Logf("cluster of %d nodes up after %s; active: %s", len(c.nodes), time.Since(start).Round(time.Second), active.name)

	c.installPlugin(standbys[0])
	e := envOn(t, dir, s, standbys[0])
	// Upstream attempts may last 5 minutes, so the hung rotation is still
	// waiting when its node is killed.
	e.configure(map[string]any{"revoke_grace": 60, "request_timeout": 300})
	const app = "app-ha"

	// Registration, rotation, reads and status through the standbys.
	const viaStandby = "conn-standby"
	e.v = standbys[0]
	first := e.register(app, viaStandby)
	e.v = standbys[1]
	rotated := str(e.v.write(mountPath+"/rotate/"+app+"/"+viaStandby, nil), "credential_id")
	if rotated == "" || rotated == first {
		t.Fatalf("rotation through a standby answered credential %q (registered %s)", rotated, first)
	}
	e.v = standbys[0]
	if got := e.readCreds(app, viaStandby); got.credentialID != rotated || !s.valid(got.clientID, got.clientSecret) {
		t.Fatalf("read through a standby: %s (valid upstream: %t), want the rotated %s", got.credentialID,
			s.valid(got.clientID, got.clientSecret), rotated)
	}
	st := e.status(app, viaStandby)
	if str(st, "current_credential_id") != rotated || !slices.Contains(strs(st, "retiring_credential_ids"), first) {
		t.Errorf("status through a standby: current %s, retiring %v; want %s and %s",
			str(st, "current_credential_id"), strs(st, "retiring_credential_ids"), rotated, first)
	}
	if n := len(s.credentials(app, viaStandby)); n != 2 {
		t.Errorf("registration and rotation through standbys made %d credentials upstream, want 2", n)
	}

	// The engine's own credential, rotated through a standby: the active
	// node does it, and every node then serves with the new one.
	e.v = standbys[1]
	root := e.v.write(mountPath+"/config/rotate-root", nil)
	if str(root, "credential_id") == "" || str(root, "previous_credential_id") == "" {
		t.Fatalf("rotate-root through a standby answered %v", root.Data)
	}
	e.v = standbys[0]
	if got := str(e.v.read(mountPath+"/config"), "root_credential_id"); got != str(root, "credential_id") {
		t.Errorf("after rotate-root through a standby the config names root %s, want %s", got, str(root, "credential_id"))
	}
	if got := e.readCreds(app, viaStandby); got.credentialID != rotated {
		t.Errorf("a read after the root rotation served %s, want %s", got.credentialID, rotated)
	}

	// Connectors due just before the next periodic tick of the active node.
	const sweepConnectors = 3
	regStart := time.Now()
	tick := activeSince.Add(time.Minute)
	for tick.Before(regStart.Add(25 * time.Second)) {
		tick = tick.Add(time.Minute)
	}
	due := tick.Add(-10 * time.Second)
	// A credential living between two and six minutes is due two minutes
	// (two ticks) before it expires.
	s.setCredentialTTL(2*time.Minute + due.Sub(regStart))
	var conns []string
	registered := map[string]string{}
	for i := range sweepConnectors {
		conn := fmt.Sprintf("conn-sweep-%d", i)
		e.v = standbys[i%len(standbys)]
		registered[conn] = e.register(app, conn)
		conns = append(conns, conn)
	}
	s.setCredentialTTL(time.Hour) // rotated credentials are not due again
	for _, conn := range conns {
		next := parseTime(t, "next_rotation", str(e.status(app, conn), "next_rotation"))
		if !next.Before(tick.Add(-2*time.Second)) || !next.After(time.Now()) {
			t.Fatalf("%s: next_rotation %s, want between now and the tick at %s", conn, next.Format(time.RFC3339), tick.Format(time.RFC3339))
		}
	}
	before := map[string]creds{}
	for _, conn := range append([]string{viaStandby}, conns...) {
		before[conn] = e.readCreds(app, conn)
	}
	// The sweep's first create hangs upstream until its caller goes away.
	rotateCalls := s.calls()["rotate"]
	s.inject(map[string]any{"op": "rotate", "latency": "10m", "count": 1})
	t.Logf("%d connectors due at %s, the tick expected at %s", sweepConnectors, due.Format(time.TimeOnly), tick.Format(time.TimeOnly))

	// Mid-sweep: every due connector's create reached the upstream, all but
	// the hung one finished.
	hung := ""
	waitFor(t, "the sweep rotating all but the hung connector", time.Until(tick)+90*time.Second, time.Second, func() (bool, string) {
		calls := s.calls()["rotate"] - rotateCalls
		hung = ""
		done := 0
		for _, conn := range conns {
			if str(e.status(app, conn), "current_credential_id") != registered[conn] {
				done++
			} else {
				hung = conn
			}
		}
		return calls == sweepConnectors && done == sweepConnectors-1,
			fmt.Sprintf("%d of %d creates reached the upstream, %d rotations finished", calls, sweepConnectors, done)
	})
	for _, conn := range conns {
		if conn != hung {
			before[conn] = e.readCreds(app, conn)
		}
	}
	walPrefix := "logical/" + e.v.mountUUID() + "/wal/"
	wal, err := e.v.rawList(walPrefix)
	if err != nil || len(wal) != 1 {
		t.Fatalf("WAL entries of the active node mid-sweep: %v (%v), want the hung rotation's one", wal, err)
	}

	// Kill the active node (the one active now, should leadership have
	// moved since the start); a standby takes over.
	active, _ = c.leader()
	c.kill(active)
	killedAt := time.Now()
	newActive, newSince := c.leader()
	left := c.standbys(newActive)
	t.Logf("%s killed mid-sweep; %s active after %s", active.name, newActive.name, time.Since(killedAt).Round(100*time.Millisecond))
	e.v = left[0]
	if n := len(s.credentials(app, hung)); n != 1 {
		t.Fatalf("the hung create went through upstream after its node died (%d credentials of %s)", n, hung)
	}

	// The new active node serves the same credentials.
	for conn, was := range before {
		var got creds
		waitFor(t, "creds read of "+conn+" after the failover", time.Minute, 500*time.Millisecond, func() (bool, string) {
			var err error
			got, err = e.tryReadCreds(app, conn)
			if err != nil {
				return false, err.Error()
			}
			return true, ""
		})
		if got.credentialID != was.credentialID || got.clientID != was.clientID || got.clientSecret != was.clientSecret {
			t.Errorf("%s after the failover: credential %s, want the one served before, %s", conn, got.credentialID, was.credentialID)
		}
		if !s.valid(got.clientID, got.clientSecret) {
			t.Errorf("%s after the failover: the served credential does not authenticate upstream", conn)
		}
	}

	// The dead node's WAL entry is in the shared storage; age it past the
	// engine's minimum rollback age.
	walKey := walPrefix + wal[0]
	if _, ok, err := newActive.rawGet(walKey); err != nil || !ok {
		t.Fatalf("the dead node's WAL entry %s on the new active node: present %t (%v); Raft shares every path", wal[0], ok, err)
	}
	if err := newActive.ageWAL(walKey); err != nil {
		t.Fatal(err)
	}

	// The new active node's first tick rotates the hung connector and rolls
	// back the WAL entry.
	waitFor(t, "the new active node's sweep and rollback", time.Until(newSince.Add(time.Minute))+75*time.Second, time.Second, func() (bool, string) {
		cur := str(e.status(app, hung), "current_credential_id")
		_, present, err := newActive.rawGet(walKey)
		if err != nil {
			return false, err.Error()
		}
		return cur != registered[hung] && !present, fmt.Sprintf("%s current %s, dead node's WAL entry present %t", hung, cur, present)
	})
	if log, err := os.ReadFile(newActive.logPath); err != nil || !strings.Contains(string(log), "interrupted rotation") ||
		!strings.Contains(string(log), "connector="+app+"/"+hung) {
		t.Errorf("the new active node's log does not tell of rolling back the interrupted rotation of %s (%v)", hung, err)
	}
	after := e.readCreds(app, hung)
	if after.credentialID == registered[hung] || !s.valid(after.clientID, after.clientSecret) {
		t.Errorf("%s after the new sweep: serving %s (valid %t), want a new credential",
			hung, after.credentialID, s.valid(after.clientID, after.clientSecret))
	}

	// Nothing rotated twice: two credentials per connector upstream, and
	// one create call per registration and rotation plus the hung one.
	for _, conn := range append([]string{viaStandby}, conns...) {
		ids := []string{}
		for _, cr := range s.credentials(app, conn) {
			ids = append(ids, cr.ID)
		}
		if len(ids) != 2 {
			t.Errorf("%s has %d credentials upstream (%s), want 2: its registration and one rotation", conn, len(ids), strings.Join(ids, ", "))
		}
	}
	if got, want := s.calls()["rotate"]-rotateCalls, sweepConnectors+1; got != want {
		t.Errorf("%d create calls since the fault, want %d (the sweep's %d, the new node's one)", got, want, sweepConnectors)
	}
	t.Logf("HA test done in %s", time.Since(start).Round(time.Second))
}
