//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// Settings of the crash test. CHAOS_KILLS sets the number of kills (a few by
// default, 100 in `make chaos`); CHAOS_SEED replays a kill schedule;
// CHAOS_REPORT names a file that receives the figures as Markdown.
const (
	chaosDefaultKills = 6
	// chaosSpan is the least time the kills are spread over, so that the
	// periodic function runs while the plugin is being killed.
	chaosSpan       = 40 * time.Second
	chaosMinGap     = 800 * time.Millisecond
	chaosConnectors = 4
	// Credentials live an hour upstream, so none expires during the test:
	// after the connectors are deleted, every credential the engine knew
	// of must have been revoked by it. The mount's max_lease_ttl caps
	// leases a little above the periodic tick, so that a revocation that
	// ignored a lease would show before the next tick, yet the sweep
	// revokes what the load replaced within about two ticks.
	chaosCredentialTTL  = time.Hour
	chaosMaxLeaseTTL    = 70 * time.Second
	chaosVaultKillRatio = 10 // about one kill in ten is of Vault itself
	// Root rotations: config/rotate-root every few seconds, and about one
	// kill in three aimed at one in flight (the third kill always is),
	// landing up to chaosRootKillWithin after its request was sent. Each
	// root create takes chaosRootCreateLatency upstream, so that a kill
	// lands before, during or after it.
	chaosRootKillRatio     = 3
	chaosRootKillWithin    = 600 * time.Millisecond
	chaosRootCreateLatency = 300 * time.Millisecond
)

// TestChaos rotates and reads credentials under load against a Vault server
// on integrated storage (see envOptions.raft) while the plugin process is killed with SIGKILL and, now
// and then, Vault itself (restarted and unsealed). Afterwards:
//
//	(a) every connector serves a credential that authenticates upstream;
//	(b) no lease served outlived its credential: every lease is recorded
//	    (credential, earliest possible end) and compared with when the
//	    simulator saw that credential stop working (revoked or expired);
//	(c) once every connector is deleted, no credential the engine ever
//	    served, answered or stored is live upstream;
//	(d) root rotations (config/rotate-root, some of them cut short by a
//	    kill) leave the engine a working root, and no root credential
//	    live upstream that nothing names: after every kill, every live root
//	    credential is the config's, one pending deletion, or one a WAL
//	    entry may still roll back (the credential its rotation created,
//	    named for it, or the root it replaced); once the rollbacks ran, only
//	    the config's and those pending deletion are.
//
// "Stored" is observed from outside: the test reads the engine's storage
// through sys/raw every second and notes every upstream credential id that
// appears in it. A credential created upstream whose id never reached the
// engine (the process died before the answer arrived) is an unknown create:
// the C1 API cannot list credentials, so nothing can find it; those are
// counted and reported, not failed.
func TestChaos(t *testing.T) {
	t.Parallel()
	kills := envInt(t, "CHAOS_KILLS", chaosDefaultKills)
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("CHAOS_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("CHAOS_SEED=%q is not a number", v)
		}
		seed = n
	}
	t.Logf("chaos: %d kills, seed %d (CHAOS_KILLS=%d CHAOS_SEED=%d replays the kill schedule)", kills, seed, kills, seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	start := time.Now()

	e := newEnv(t, envOptions{
		credentialTTL: chaosCredentialTTL,
		rawStorage:    true,
		raft:          true,
		config:        map[string]any{"revoke_grace": 5, "request_timeout": 10},
	})
	e.v.cli("secrets", "tune", "-max-lease-ttl="+chaosMaxLeaseTTL.String(), mountPath)
	const app = "app-chaos"
	var conns []string
	rec := newChaosRecord()
	for i := range chaosConnectors {
		conn := fmt.Sprintf("conn-%d", i)
		rec.see(e.register(app, conn))
		conns = append(conns, conn)
	}
	mountUUID := e.v.mountUUID()
	walPrefix := "logical/" + mountUUID + "/wal/"
	e.sim.inject(map[string]any{"op": "personal_client_create", "latency": chaosRootCreateLatency.String()})
	roots := &chaosRoots{}

	// The load: two readers, a rotator, a rotator of the root, and an
	// observer of the engine's status and storage.
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { chaosReader(ctx, e, app, conns, rec) })
	}
	wg.Go(func() { chaosRotator(ctx, e, app, conns, rec) })
	wg.Go(func() { chaosRootRotator(ctx, e, roots) })
	wg.Go(func() { chaosObserver(ctx, e, app, conns, mountUUID, rec) })

	chaosStart := time.Now()
	gap := max(chaosMinGap, chaosSpan/time.Duration(max(kills, 1)))
	var pluginKills, vaultKills int
	var checked time.Duration // the last root check's time, taken from the next gap
	for i := range kills {
		time.Sleep(max(0, time.Duration(float64(gap)*(0.5+rng.Float64()))-checked))
		// One early kill of Vault in every run, then about one in ten.
		vault := i == 1 || (i > 1 && rng.IntN(chaosVaultKillRatio) == 0)
		// The third kill, then about one in three, lands in a root rotation.
		aimed := rng.IntN(chaosRootKillRatio) == 0 || i == 2
		within := time.Duration(rng.Float64() * float64(chaosRootKillWithin))
		var answered chan struct{}
		if aimed {
			roots.gate.Lock() // once the root rotator's call, if any, is answered
			answered = make(chan struct{})
			go func() {
				defer close(answered)
				roots.rotate(e)
			}()
			time.Sleep(within)
		}
		if roots.inFlight.Load() > 0 {
			roots.killsDuring.Add(1)
			if aimed {
				roots.aimedKills.Add(1)
			}
		}
		if vault {
			e.v.kill()
			e.v.start()
			e.v.unseal(true)
			vaultKills++
		} else {
			killPlugin(t, e.v.pluginPath())
			pluginKills++
		}
		if aimed {
			<-answered
		} else {
			roots.gate.Lock() // once the root rotator's call the kill may have cut short is answered
		}
		began := time.Now()
		roots.check(t, e, walPrefix, fmt.Sprintf("after kill %d", i+1), false)
		checked = time.Since(began)
		roots.gate.Unlock()
	}
	stop()
	wg.Wait()
	loadStopped := time.Now()
	chaosTime := loadStopped.Sub(chaosStart)

	// The WAL entries left are those of rotations a kill interrupted. Age
	// them so that the next periodic run rolls them back (see ageWAL).
	interrupted, err := e.v.rawList(walPrefix)
	if err != nil {
		t.Fatalf("listing the WAL: %v", err)
	}
	for _, id := range interrupted {
		if err := e.v.ageWAL(walPrefix + id); err != nil {
			t.Errorf("ageing WAL entry %s: %v", id, err)
		}
	}
	t.Logf("chaos: %d plugin kills, %d Vault kills in %s; %s; %s", pluginKills, vaultKills, chaosTime.Round(time.Second),
		rec.summary(), roots.summary())

	// (a) Every connector serves a live credential (the sweep may first
	// have to heal one; allow two ticks).
	servesLive := 0
	for _, conn := range conns {
		ok, last := eventually(150*time.Second, 2*time.Second, func() (bool, string) {
			c, err := e.tryReadCreds(app, conn)
			if err != nil {
				return false, err.Error()
			}
			rec.lease(c)
			if !e.sim.valid(c.clientID, c.clientSecret) {
				return false, "credential " + c.credentialID + " served but not valid upstream"
			}
			return true, ""
		})
		if ok {
			servesLive++
		} else {
			t.Errorf("(a) connector %s does not serve a live credential: %s", conn, last)
		}
	}

	// Let the sweep revoke what the load retired, so that (b) compares the
	// leases with real revocations, and the rollback undo the interrupted
	// rotations. (Every sweep retires the credentials it replaces; only
	// those retired while the load ran are waited for.)
	unknownRecorded := 0
	settled, retiring := eventually(3*time.Minute, 3*time.Second, func() (bool, string) {
		n := 0
		unknownRecorded = 0
		for _, conn := range conns {
			s, err := e.v.api.Logical().Read(mountPath + "/rotate/" + app + "/" + conn)
			if err != nil || s == nil {
				return false, fmt.Sprintf("status of %s: %v", conn, err)
			}
			rec.seeStatus(s)
			if u, err := strconv.Atoi(fmt.Sprint(s.Data["unknown_outcome_creates"])); err == nil {
				unknownRecorded += u
			}
			pending, _ := s.Data["pending_revocations"].([]any)
			for _, p := range pending {
				m, _ := p.(map[string]any)
				if at, err := time.Parse(time.RFC3339, fmt.Sprint(m["retired_at"])); err != nil || !at.After(loadStopped) {
					n++
				}
			}
		}
		left, err := e.v.rawList(walPrefix)
		if err != nil {
			return false, "listing the WAL: " + err.Error()
		}
		walLeft := 0
		for _, id := range interrupted {
			if slices.Contains(left, id) {
				walLeft++
			}
		}
		return n == 0 && walLeft == 0, fmt.Sprintf("%d credentials retired under load not revoked yet, %d interrupted rotations not rolled back", n, walLeft)
	})
	if !settled {
		t.Logf("chaos: not every credential retired under load was revoked before the checks: %s", retiring)
	}
	// (d) Once the rollbacks ran: the config's root and those pending
	// deletion, nothing else.
	rootsEnd := roots.check(t, e, walPrefix, "at the end", true)

	// (b) No lease outlived its credential.
	upstream := e.sim.credentials(app, "")
	byID := map[string]simCredential{}
	for _, c := range upstream {
		byID[c.ID] = c
	}
	leases := rec.allLeases()
	outlived, checkedStopped := 0, 0
	for _, l := range leases {
		c, ok := byID[l.credentialID]
		if !ok {
			t.Errorf("(b) a lease served credential %s, which the upstream never created", l.credentialID)
			continue
		}
		stopped, how := stoppedAt(t, c)
		if stopped.IsZero() {
			continue
		}
		checkedStopped++
		if end := l.readAt.Add(l.ttl); stopped.Before(end) {
			outlived++
			if outlived <= 10 {
				t.Errorf("(b) a lease of credential %s (read at %s, TTL %s) ends at %s, but the credential was %s at %s",
					l.credentialID, l.readAt.Format(time.RFC3339Nano), l.ttl, end.Format(time.RFC3339Nano), how, stopped.Format(time.RFC3339Nano))
			}
		}
	}
	if outlived > 10 {
		t.Errorf("(b) %d leases in all outlived their credential", outlived)
	}

	// (c) Delete every connector; nothing the engine knew stays live.
	for _, conn := range conns {
		ok, last := eventually(time.Minute, time.Second, func() (bool, string) {
			if _, err := e.v.api.Logical().Delete(mountPath + "/creds/" + app + "/" + conn); err != nil {
				return false, err.Error()
			}
			return true, ""
		})
		if !ok {
			t.Errorf("(c) deleting connector %s: %s", conn, last)
		}
	}
	upstream = e.sim.credentials(app, "")
	var leftKnown, leftUnknown, unknownCreates []string
	unknownRevoked := 0
	for _, c := range upstream {
		known := rec.known(c.ID)
		if !known {
			unknownCreates = append(unknownCreates, c.ID)
			if c.Revoked {
				unknownRevoked++
			}
		}
		if !c.Live {
			continue
		}
		if known {
			leftKnown = append(leftKnown, c.ID)
		} else {
			leftUnknown = append(leftUnknown, c.ID)
		}
	}
	if len(leftKnown) > 0 {
		t.Errorf("(c) %d credentials the engine served or stored are live upstream after every connector was deleted: %s",
			len(leftKnown), strings.Join(leftKnown, ", "))
	}
	// Each of those may only exist where the engine said so: a rollback
	// warning naming its connector.
	logged := 0
	vaultLog, _ := os.ReadFile(e.v.logPath)
	for _, c := range upstream {
		if slices.Contains(leftUnknown, c.ID) && rollbackWarned(string(vaultLog), c.AppID+"/"+c.ConnectorID) {
			logged++
		}
	}
	if len(leftUnknown) > 0 {
		t.Logf("chaos: %d credentials the engine never learned of (unknown creates) stay live until they expire, "+
			"%d on a connector whose interrupted rotation the rollback logged: %s",
			len(leftUnknown), logged, strings.Join(leftUnknown, ", "))
	}

	f := chaosFigures{
		seed: seed, kills: kills, pluginKills: pluginKills, vaultKills: vaultKills,
		chaos: chaosTime, total: time.Since(start),
		rec:     rec.counts(),
		creates: len(upstream), unknownCreates: len(unknownCreates), unknownRevoked: unknownRevoked,
		unknownRecorded: unknownRecorded, interrupted: len(interrupted),
		leases: len(leases), leasesStopped: checkedStopped, outlived: outlived,
		connectors: len(conns), servesLive: servesLive,
		leftKnown: len(leftKnown), leftUnknown: len(leftUnknown), leftUnknownLogged: logged,
		rootRotations: int(roots.rotations.Load()), rootRotationsFailed: int(roots.failed.Load()),
		rootKillsDuring: int(roots.killsDuring.Load()), rootKillsAimed: int(roots.aimedKills.Load()),
		rootChecks: int(roots.checks.Load()), rootStrays: int(roots.strays.Load()), rootNotWorking: int(roots.notWorking.Load()),
		rootWALCreated: int(roots.walCreated.Load()), rootWALReplaced: int(roots.walReplaced.Load()),
		rootsCreated: rootsEnd.created, rootsLiveAtEnd: rootsEnd.live, rootsPendingAtEnd: rootsEnd.pending,
	}
	report := f.markdown()
	t.Logf("chaos figures:\n%s", report)
	if path := os.Getenv("CHAOS_REPORT"); path != "" {
		if err := os.WriteFile(path, []byte(report), 0o644); err != nil {
			t.Errorf("writing CHAOS_REPORT %s: %v", path, err)
		}
	}
}

// killPlugin kills the running plugin processes of binary with SIGKILL,
// first waiting (under the test's load, Vault restarts a dead plugin on the
// next request) until one runs.
func killPlugin(t *testing.T, binary string) {
	t.Helper()
	var pids []int
	waitFor(t, "a plugin process to kill", 30*time.Second, 50*time.Millisecond, func() (bool, string) {
		pids = processesRunning(binary)
		return len(pids) > 0, "no plugin process running"
	})
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// chaosRoots is what the crash test does and sees of the engine's root.
// gate is held by whoever calls config/rotate-root (the root rotator, or the
// kill loop aiming a kill at one) and by the checks, so that no rotation
// runs while the state is read.
type chaosRoots struct {
	gate                       sync.Mutex
	inFlight                   atomic.Int32 // rotate-root requests sent and not answered
	rotations, failed          atomic.Int64
	killsDuring, aimedKills    atomic.Int64
	checks, strays, notWorking atomic.Int64
	// Live roots the checks found accounted for by a WAL entry: created by
	// the interrupted rotation, or the root it replaced.
	walCreated, walReplaced atomic.Int64
}

// rotate calls config/rotate-root once; the caller holds gate.
func (r *chaosRoots) rotate(e *c1env) {
	r.inFlight.Add(1)
	_, err := e.v.api.Logical().Write(mountPath+"/config/rotate-root", nil)
	r.inFlight.Add(-1)
	if err != nil {
		r.failed.Add(1)
	} else {
		r.rotations.Add(1)
	}
}

func (r *chaosRoots) summary() string {
	return fmt.Sprintf("%d root rotations (%d failed), %d kills during one (%d aimed)",
		r.rotations.Load(), r.failed.Load(), r.killsDuring.Load(), r.aimedKills.Load())
}

// chaosRootRotator rotates the engine's root every 2 to 5 seconds until ctx
// ends.
func chaosRootRotator(ctx context.Context, e *c1env, r *chaosRoots) {
	for ctx.Err() == nil {
		sleepCtx(ctx, time.Duration(2000+rand.IntN(3000))*time.Millisecond)
		if ctx.Err() != nil {
			return
		}
		r.gate.Lock()
		r.rotate(e)
		r.gate.Unlock()
	}
}

// rootCensus is what a root check counted upstream.
type rootCensus struct {
	created, live, pending int
}

// check looks, with no root rotation under way (the caller holds gate or
// the load has stopped), at the root credentials live upstream: the
// config's c1_client_id must be one of them, and each must be the config's,
// pending deletion (root_pending_deletions), or, unless final, one a WAL
// entry may still roll back: the credential its rotation created (named
// "vault-plugin-c1 root <rotation id>") or the root it replaced (old_id).
// The config and the WAL are read before the upstream list: without
// rotations, roots only leave the live set, and the engine names a root in
// its WAL or pending deletions until it is deleted upstream.
func (r *chaosRoots) check(t *testing.T, e *c1env, walPrefix, when string, final bool) rootCensus {
	t.Helper()
	r.checks.Add(1)
	var cfg *api.Secret
	ok, last := eventually(90*time.Second, 500*time.Millisecond, func() (bool, string) {
		var err error
		cfg, err = e.v.api.Logical().Read(mountPath + "/config")
		if err != nil || cfg == nil {
			return false, fmt.Sprintf("reading the config: %v", err)
		}
		return true, ""
	})
	if !ok {
		t.Errorf("(d) %s: %s", when, last)
		return rootCensus{}
	}
	current := str(cfg, "c1_client_id")
	pending := pendingRootDeletions(cfg)
	walRotations, walOld := map[string]bool{}, map[string]bool{}
	if !final {
		keys, err := e.v.rawList(walPrefix)
		if err != nil {
			t.Errorf("(d) %s: listing the WAL: %v", when, err)
			return rootCensus{}
		}
		for _, k := range keys {
			raw, present, err := e.v.rawGet(walPrefix + k)
			if err != nil {
				t.Errorf("(d) %s: reading WAL entry %s: %v", when, k, err)
				return rootCensus{}
			}
			var entry struct {
				Type string `json:"type"`
				Data struct {
					RotationID string `json:"rotation_id"`
					OldID      string `json:"old_id"`
				} `json:"data"`
			}
			if !present || json.Unmarshal([]byte(raw), &entry) != nil || entry.Type != "c1_root_rotation" {
				continue
			}
			walRotations[entry.Data.RotationID] = true
			walOld[entry.Data.OldID] = true
		}
	}
	list, err := e.sim.tryRootCredentials()
	if err != nil {
		t.Errorf("(d) %s: listing root credentials upstream: %v", when, err)
		return rootCensus{}
	}
	census := rootCensus{created: len(list), pending: len(pending)}
	working := false
	var strays []string
	livePending, walCreated, walReplaced := 0, 0, 0
	for _, c := range list {
		if !c.Live {
			continue
		}
		census.live++
		rotation, named := strings.CutPrefix(c.DisplayName, rootNamePrefix)
		switch {
		case c.ClientID == current:
			working = true
		case slices.Contains(pending, c.ID):
			livePending++
		case named && walRotations[rotation]:
			walCreated++
		case walOld[c.ID]:
			walReplaced++
		default:
			strays = append(strays, fmt.Sprintf("%s (%q, created %s)", c.ID, c.DisplayName, c.CreatedAt))
		}
	}
	r.walCreated.Add(int64(walCreated))
	r.walReplaced.Add(int64(walReplaced))
	t.Logf("(d) %s: %d live root credentials upstream: the config's (live %t), %d pending deletion, %d created and %d replaced "+
		"by a rotation a WAL entry rolls back, %d else; %d root WAL entries", when, census.live, working, livePending,
		walCreated, walReplaced, len(strays), len(walRotations))
	if !working {
		r.notWorking.Add(1)
		t.Errorf("(d) %s: the config's root %s is not live upstream", when, current)
	}
	if len(strays) > 0 {
		r.strays.Add(int64(len(strays)))
		wal := "once the rollbacks ran"
		if !final {
			wal = fmt.Sprintf("nor accounted for by a root WAL entry (rotations %v, replaced roots %v)",
				slices.Sorted(maps.Keys(walRotations)), slices.Sorted(maps.Keys(walOld)))
		}
		t.Errorf("(d) %s: %d root credentials live upstream that are neither the config's (%s) nor pending deletion %v, %s: %s",
			when, len(strays), current, pending, wal, strings.Join(strays, ", "))
	}
	return census
}

// chaosReader reads random connectors' credentials until ctx ends,
// recording every lease.
func chaosReader(ctx context.Context, e *c1env, app string, conns []string, rec *chaosRecord) {
	for ctx.Err() == nil {
		c, err := e.tryReadCreds(app, conns[rand.IntN(len(conns))])
		if err != nil {
			rec.count("reads failed")
			sleepCtx(ctx, 100*time.Millisecond)
			continue
		}
		rec.lease(c)
		rec.count("reads")
		sleepCtx(ctx, 20*time.Millisecond)
	}
}

// chaosRotator rotates random connectors until ctx ends.
func chaosRotator(ctx context.Context, e *c1env, app string, conns []string, rec *chaosRecord) {
	for ctx.Err() == nil {
		s, err := e.v.api.Logical().Write(mountPath+"/rotate/"+app+"/"+conns[rand.IntN(len(conns))], nil)
		if err != nil {
			rec.count("rotations failed")
			sleepCtx(ctx, 100*time.Millisecond)
			continue
		}
		rec.see(str(s, "credential_id"), str(s, "previous_credential_id"))
		rec.count("rotations")
		sleepCtx(ctx, time.Duration(100+rand.IntN(300))*time.Millisecond)
	}
}

// chaosObserver notes, every second until ctx ends, the credential ids in
// the connectors' status and in the engine's storage (read through sys/raw
// and matched against every credential the upstream created).
func chaosObserver(ctx context.Context, e *c1env, app string, conns []string, mountUUID string, rec *chaosRecord) {
	prefix := "logical/" + mountUUID + "/"
	for ctx.Err() == nil {
		for _, conn := range conns {
			if s, err := e.v.api.Logical().Read(mountPath + "/rotate/" + app + "/" + conn); err == nil && s != nil {
				rec.seeStatus(s)
			}
		}
		var list struct {
			Credentials []simCredential `json:"credentials"`
		}
		if err := e.sim.try("GET", "/_sim/c1/credentials?app_id="+app, nil, &list); err == nil {
			values := rawValues(e.v, prefix, 4)
			for _, c := range list.Credentials {
				for _, v := range values {
					if strings.Contains(v, c.ID) {
						rec.see(c.ID)
						break
					}
				}
			}
			rec.count("storage scans")
		}
		sleepCtx(ctx, time.Second)
	}
}

// rawValues reads every storage value under prefix through sys/raw, down to
// depth levels of keys; errors leave values out.
func rawValues(v *vaultServer, prefix string, depth int) []string {
	keys, err := v.rawList(prefix)
	if err != nil {
		return nil
	}
	var out []string
	for _, k := range keys {
		if strings.HasSuffix(k, "/") {
			if depth > 1 {
				out = append(out, rawValues(v, prefix+k, depth-1)...)
			}
			continue
		}
		if val, ok, err := v.rawGet(prefix + k); err == nil && ok {
			out = append(out, val)
		}
	}
	return out
}

// rollbackWarned reports whether log holds the rollback's warning that an
// interrupted rotation of connector (app/conn) stored no credential.
func rollbackWarned(log, connector string) bool {
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "interrupted rotation created no stored credential") &&
			strings.Contains(line, "connector="+connector+" ") {
			return true
		}
	}
	return false
}

// stoppedAt is when the simulator saw credential c stop working (revoked, or
// expired by now); zero while it works.
func stoppedAt(t *testing.T, c simCredential) (time.Time, string) {
	if c.Revoked && c.RevokedAt != nil {
		return parseTime(t, "revoked_at", *c.RevokedAt), "revoked"
	}
	if !c.Live && c.ExpiresTime != nil {
		return parseTime(t, "expires_time", *c.ExpiresTime), "expired"
	}
	return time.Time{}, ""
}

// sleepCtx sleeps for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// eventually polls cond until it holds or timeout passes, and returns what
// it last said; unlike waitFor it lets the test go on to its other checks.
func eventually(timeout, interval time.Duration, cond func() (bool, string)) (bool, string) {
	deadline := time.Now().Add(timeout)
	for {
		ok, last := cond()
		if ok || time.Now().After(deadline) {
			return ok, last
		}
		time.Sleep(interval)
	}
}

// envInt is a non-negative integer from the environment, or def when unset.
func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q is not a non-negative integer", name, v)
	}
	return n
}

// chaosRecord is what the load saw: leases served, credential ids the
// engine showed, and counters. Safe for concurrent use.
type chaosRecord struct {
	mu       sync.Mutex
	leases   []creds
	seen     map[string]bool
	counters map[string]int
}

func newChaosRecord() *chaosRecord {
	return &chaosRecord{seen: map[string]bool{}, counters: map[string]int{}}
}

// lease records a served lease (the secret is dropped).
func (r *chaosRecord) lease(c creds) {
	c.clientSecret = ""
	r.mu.Lock()
	defer r.mu.Unlock()
	r.leases = append(r.leases, c)
	r.seen[c.credentialID] = true
}

// see records credential ids the engine showed or stored.
func (r *chaosRecord) see(ids ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		if id != "" {
			r.seen[id] = true
		}
	}
}

// seeStatus records the ids of a rotate/ status answer.
func (r *chaosRecord) seeStatus(s *api.Secret) {
	r.see(append(strs(s, "retiring_credential_ids"), str(s, "current_credential_id"))...)
}

func (r *chaosRecord) count(what string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counters[what]++
}

func (r *chaosRecord) known(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[id]
}

func (r *chaosRecord) allLeases() []creds {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.leases)
}

func (r *chaosRecord) counts() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.counters))
	for k, v := range r.counters {
		out[k] = v
	}
	return out
}

func (r *chaosRecord) summary() string {
	c := r.counts()
	return fmt.Sprintf("%d reads (%d failed), %d rotations (%d failed), %d storage scans",
		c["reads"], c["reads failed"], c["rotations"], c["rotations failed"], c["storage scans"])
}
