package main

import (
	"encoding/json"
	"fmt"
	"log"
	"math"
	"time"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/upstreamsim"
)

// The upstream check of the current credentials ("verification"): once per
// verify_interval each connector's current credential is read upstream, in a
// slot of its own (an offset within the interval set by a hash of the
// connector), so that the checks of a fleet spread over the interval: with
// the default interval of 10 minutes a once-a-minute tick checks about a
// tenth of the fleet.
//
// The slots follow the real clock, which the benchmark cannot move, so it
// lets a real minute pass. The minute is bracketed by moves of the mount
// (sys/remount runs the periodic function at once), two at each end: the
// first of a pair may join a run of Vault's own still under way (a move waits
// for it rather than running the function again), the second then runs the
// function itself, so every slot up to its start has been seen to. The
// figures are counted from the end of the opening pair to the end of the
// closing pair; between the starts of the two second moves lie the slots of
// a minute (scaled to exactly one). Vault's own once-a-minute tick falls
// inside: the minute opens a few seconds after one of Vault's own ticks (the
// rollback manager's ticker, started as the server came up), so Vault's next
// tick checks the slots of nearly the whole minute at once, as it does
// outside the benchmark, and the closing moves the last few seconds' worth.
//
// Everything is seen from outside the plugin: upstream reads by the
// simulator, storage writes by Vault's own telemetry (its barrier puts and
// deletes: every storage write of every mount, which is why a minute with
// verification off, measured the same way, is taken off), CPU time from
// /proc/<pid>/stat of the plugin process.

const (
	// verifyCPUGoal is the most plugin CPU time a minute of an unchanged
	// fleet of 10,000 connectors may take with the default verify_interval:
	// half of 0.53 CPU s, the figure the goal was set against.
	verifyCPUGoal = 265 * time.Millisecond
	// A measured minute opens between ownTickLag and ownTickLagMax after one
	// of Vault's own ticks.
	ownTickLag    = 3 * time.Second
	ownTickLagMax = 15 * time.Second
)

// minuteResult is what one measured minute of the fleet's mount cost.
type minuteResult struct {
	interval  time.Duration // verify_interval of the mount
	span      time.Duration // from the opening to the closing move: the slots covered
	cpu       time.Duration // the plugin process's CPU time (utime + stime)
	writes    int           // Vault storage writes: barrier puts and deletes
	reads     int           // upstream reads of a credential by id
	calls     int           // upstream calls of every kind
	ownTicks  int           // Vault's own runs of the periodic function in the minute
	schedstat time.Duration // the plugin's CPU time as the idle tick measures it, a cross-check
}

// perMinute scales a figure of the measured span to one minute.
func (m minuteResult) perMinute(x float64) float64 {
	if m.span <= 0 {
		return 0
	}
	return x * float64(time.Minute) / float64(m.span)
}

// verifyResult is a minute of an unchanged fleet without verification (the
// baseline) and with the default verify_interval.
type verifyResult struct {
	connectors int
	off, on    minuteResult
}

// writes is the storage writes a minute that verification causes: the
// minute's writes less the baseline's, which had the same moves of the mount.
func (v verifyResult) writes() float64 { return v.on.perMinute(float64(v.on.writes - v.off.writes)) }

// reads is the upstream reads a minute that verification makes.
func (v verifyResult) reads() float64 { return v.on.perMinute(float64(v.on.reads - v.off.reads)) }

// cpu is the plugin's CPU time a minute with the default verify_interval.
func (v verifyResult) cpu() time.Duration { return time.Duration(v.on.perMinute(float64(v.on.cpu))) }

// verify measures a minute of an unchanged fleet, every connector registered
// and none due, first with verification off (the mount's verify_interval 0)
// and then with the default verify_interval, which it reads from the c1
// mount (configured without one).
func (b *bench) verify(r *report, pid int, mount, other *string, connectors int) error {
	def, err := b.v.api.Logical().Read("c1/config")
	if err != nil {
		return err
	}
	if def == nil {
		return fmt.Errorf("c1/config: no config")
	}
	n, ok := def.Data["verify_interval"].(json.Number)
	if !ok {
		return fmt.Errorf("c1/config: verify_interval is %v", def.Data["verify_interval"])
	}
	secs, err := n.Int64()
	if err != nil {
		return fmt.Errorf("c1/config verify_interval: %w", err)
	}
	interval := time.Duration(secs) * time.Second
	res := verifyResult{connectors: connectors}

	log.Printf("a minute of %d unchanged connectors without verification", connectors)
	if res.off, err = b.minute(pid, mount, other, 0); err != nil {
		return err
	}
	if err := b.configure(*mount, map[string]any{"verify_interval": secs}); err != nil {
		return err
	}
	// The config change makes the next tick rebuild the schedule from
	// storage, and the connectors whose slot passed since they registered
	// are due: this move does both, outside the minute.
	if err := b.move(mount, other); err != nil {
		return err
	}
	log.Printf("a minute of %d unchanged connectors, verify_interval %s", connectors, interval)
	if res.on, err = b.minute(pid, mount, other, interval); err != nil {
		return err
	}
	log.Printf("verification a minute: %.0f upstream reads, %.0f storage writes, plugin CPU %.3f s (%.3f s without verification)",
		res.reads(), res.writes(), res.cpu().Seconds(), res.off.perMinute(res.off.cpu.Seconds()))
	r.verify = &res
	return nil
}

// move moves the fleet's mount (running its periodic function) and swaps the names.
func (b *bench) move(mount, other *string) error {
	if err := b.v.remount(*mount, *other); err != nil {
		return err
	}
	*mount, *other = *other, *mount
	return nil
}

// minuteSnapshot is the state of the counters a minute is measured with.
type minuteSnapshot struct {
	cpu, schedstat    time.Duration
	writes, rollbacks int
	reads, calls      int
	mounts            int
}

func (b *bench) snapshot(pid int) (minuteSnapshot, error) {
	var s minuteSnapshot
	// The CPU time is the process's own: it must be the same process throughout.
	if p, err := processOf(b.pluginBin); err != nil || p != pid {
		return s, fmt.Errorf("the plugin process changed (was %d, now %d, %v)", pid, p, err)
	}
	var err error
	if s.cpu, err = procCPU(pid); err != nil {
		return s, err
	}
	if s.schedstat, err = cpuTime(pid); err != nil {
		return s, err
	}
	s.reads, s.calls = b.up.sim.Calls(upstreamsim.OpGet), b.up.total()
	c, err := b.v.counters()
	if err != nil {
		return s, err
	}
	s.writes = int(c["vault_barrier_put_count"] + c["vault_barrier_delete_count"])
	s.rollbacks = int(c["vault_rollback_attempt_count"])
	if s.mounts, err = b.v.mounts(); err != nil {
		return s, err
	}
	return s, nil
}

// minute measures one minute of the fleet's mount (see the top of this file).
func (b *bench) minute(pid int, mount, other *string, interval time.Duration) (minuteResult, error) {
	m := minuteResult{interval: interval}
	now := time.Now()
	// Open between ownTickLag and ownTickLagMax after one of Vault's own
	// ticks: now, or ownTickLag after the next one.
	open := b.v.nextOwnTick(now.Add(-ownTickLagMax)).Add(ownTickLag)
	if open.Before(now) {
		open = now
	}
	time.Sleep(time.Until(open))
	if err := b.move(mount, other); err != nil {
		return m, err
	}
	opened := time.Now()
	if err := b.move(mount, other); err != nil {
		return m, err
	}
	before, err := b.snapshot(pid)
	if err != nil {
		return m, err
	}
	time.Sleep(time.Until(opened.Add(time.Minute)))
	if err := b.move(mount, other); err != nil {
		return m, err
	}
	closed := time.Now()
	if err := b.move(mount, other); err != nil {
		return m, err
	}
	after, err := b.snapshot(pid)
	if err != nil {
		return m, err
	}
	m.span = closed.Sub(opened)
	m.cpu, m.schedstat = after.cpu-before.cpu, after.schedstat-before.schedstat
	m.writes, m.reads, m.calls = after.writes-before.writes, after.reads-before.reads, after.calls-before.calls
	// Each of Vault's own ticks runs the periodic function of every mount;
	// the closing moves add one or two runs of the fleet's mount only.
	if after.mounts > 2 {
		m.ownTicks = (after.rollbacks - before.rollbacks) / after.mounts
	}
	log.Printf("  %s: %d storage writes, %d upstream reads (%d calls), plugin CPU %.3f s (schedstat %.3f s), %d of Vault's own ticks",
		m.span.Round(time.Millisecond), m.writes, m.reads, m.calls, m.cpu.Seconds(), m.schedstat.Seconds(), m.ownTicks)
	return m, nil
}

// round is x rounded to the nearest whole number, as an int.
func round(x float64) int { return int(math.Round(x)) }
