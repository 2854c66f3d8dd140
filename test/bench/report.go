package main

import (
	"fmt"
	"strings"
	"time"
)

type burstResult struct{ calls, failed int }

type tickResult struct {
	connectors          int
	firstCPU, firstWall time.Duration
	cpu, wall           []time.Duration
	rss                 int64
}

type loginResult struct {
	logins, calls      int
	elapsed, tokenLife time.Duration
}

type sweepResult struct {
	connectors, rotations, concurrency, maxInFlight int
	latency, took                                   time.Duration
}

// ideal is the sweep's time if every rotation slot were always waiting on the upstream.
func (s sweepResult) ideal() time.Duration {
	return time.Duration(s.connectors) * s.latency / time.Duration(s.concurrency)
}

// report is one run's figures.
type report struct {
	machine, goVersion, vaultVersion string
	started                          time.Time
	elapsed                          time.Duration
	rounds                           int
	creds, oauth, floor, kv          latency
	credsBurst, oauthBurst           burstResult
	logins                           loginResult
	ticks                            []tickResult
	verify                           *verifyResult
	sweep                            sweepResult
}

// interval writes a duration of whole minutes as "10m".
func interval(d time.Duration) string {
	if d > 0 && d%time.Minute == 0 {
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}

func met(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f", float64(d)/float64(time.Millisecond)) }

func ratio(a, b time.Duration) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", float64(a)/float64(b))
}

func (r *report) markdown() string {
	var w strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&w, format+"\n", args...) }
	p("# Performance")
	p("")
	p("Written by `make bench` (`test/bench`); do not edit by hand. Measured on %s,", r.machine)
	p("%s, %s, on %s in %s.", r.vaultVersion, r.goVersion, r.started.Format("2006-01-02 15:04 MST"), r.elapsed.Round(time.Second))
	p("")
	p("The benchmark runs the upstream simulator in its own process and starts a Vault dev")
	p("server (in-memory storage) on the same machine, mounts the built plugin, and")
	p("drives it over Vault's HTTP API. Other work on the machine shows in the figures:")
	p("compare ratios, which share the machine's state, rather than absolute times.")
	p("")
	p("## Goals")
	p("")
	p("| goal | measured | met |")
	p("| --- | ---: | :---: |")
	last := r.ticks[len(r.ticks)-1]
	p("| `creds/` read p50 at most 1.0× the floor | %s× | %s |", ratio(r.creds.p50, r.floor.p50), met(r.creds.p50 <= r.floor.p50))
	p("| one upstream call for %d concurrent uncached `oauth/` reads | %d | %s |", burstReads, r.oauthBurst.calls, met(r.oauthBurst.calls == 1))
	p("| one C1 login per token life | %d | %s |", r.logins.logins, met(r.logins.logins == 1))
	p("| sweep within 10%% of the ideal, never over the limit in flight | %s×, %d in flight | %s |", ratio(r.sweep.took, r.sweep.ideal()),
		r.sweep.maxInFlight, met(r.sweep.rotations == r.sweep.connectors && float64(r.sweep.took) <= 1.1*float64(r.sweep.ideal()) && r.sweep.maxInFlight <= r.sweep.concurrency))
	p("| idle tick at most 0.05 CPU s at %d connectors | %.4f s | %s |", last.connectors, median(last.cpu).Seconds(), met(median(last.cpu).Seconds() <= 0.05))
	p("| plugin RSS under 64 MB at %d connectors | %.1f MB | %s |", last.connectors, float64(last.rss)/(1<<20), met(last.rss < 64<<20))
	if v := r.verify; v != nil {
		p("| no storage writes from verifying %d unchanged connectors, a minute (`verify_interval` %s) | %d | %s |",
			v.connectors, interval(v.on.interval), round(v.writes()), met(round(v.writes()) <= 0))
		p("| plugin CPU at most %.3f s a minute at %d unchanged connectors (`verify_interval` %s) | %.3f s | %s |",
			verifyCPUGoal.Seconds(), v.connectors, interval(v.on.interval), v.cpu().Seconds(), met(v.cpu() <= verifyCPUGoal))
	}
	p("")
	p("## Reads")
	p("")
	p("%d reads of each path, one at a time, the four paths in turn (after 200 warm-up", r.rounds)
	p("rounds). The floor is a minimal external plugin built by the benchmark")
	p("(`test/bench/floorplugin`): one storage read and one non-renewable lease per read,")
	p("the least any leased read of an external plugin can cost. KV v2 is builtin:")
	p("no plugin hop, no lease.")
	p("")
	p("| read | p50 ms | p99 ms | p50 / floor | p99 / floor | p50 / KV v2 | p99 / KV v2 |")
	p("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, row := range []struct {
		name string
		l    latency
	}{{"`creds/` (C1 credential lease)", r.creds}, {"`oauth/` warm (from the cache)", r.oauth},
		{"floor: minimal leased plugin", r.floor}, {"KV v2 `secret/data/...`", r.kv}} {
		p("| %s | %s | %s | %s | %s | %s | %s |", row.name, ms(row.l.p50), ms(row.l.p99),
			ratio(row.l.p50, r.floor.p50), ratio(row.l.p99, r.floor.p99), ratio(row.l.p50, r.kv.p50), ratio(row.l.p99, r.kv.p99))
	}
	p("")
	p("Goal: `creds/` p50 at most 1.0× the floor.")
	p("")
	p("## Upstream calls")
	p("")
	p("| what | upstream calls | goal |")
	p("| --- | ---: | ---: |")
	p("| %d concurrent `creds/` reads of one connector (%d failed) | %d | 0 |", burstReads, r.credsBurst.failed, r.credsBurst.calls)
	p("| %d concurrent `oauth/` reads of one uncached credential, upstream answering in 200 ms (%d failed) | %d | 1 |",
		burstReads, r.oauthBurst.failed, r.oauthBurst.calls)
	p("| C1 logins of one mount while it made %d C1 calls over %s (token life %s) | %d | 1 |",
		r.logins.calls, r.logins.elapsed.Round(time.Second), r.logins.tokenLife, r.logins.logins)
	p("")
	p("## Rotation sweep")
	p("")
	p("%d connectors due at once, every rotation taking %s upstream, `rotation_concurrency` %d.",
		r.sweep.connectors, r.sweep.latency, r.sweep.concurrency)
	p("The time runs from the first rotation call's start to the last one's end, as the")
	p("upstream saw them; the ideal is %d × %s / %d.", r.sweep.connectors, r.sweep.latency, r.sweep.concurrency)
	p("")
	p("| rotations | took | ideal | took / ideal | most in flight | limit |")
	p("| ---: | ---: | ---: | ---: | ---: | ---: |")
	p("| %d | %s | %s | %s | %d | %d |", r.sweep.rotations, r.sweep.took.Round(time.Millisecond), r.sweep.ideal(),
		ratio(r.sweep.took, r.sweep.ideal()), r.sweep.maxInFlight, r.sweep.concurrency)
	p("")
	p("Goal: took / ideal at most 1.10, never more in flight than the limit.")
	p("")
	p("## Idle periodic tick")
	p("")
	p("Vault runs the periodic function of a mount about once a minute, and at once")
	p("before it moves a mount (`sys/remount`). Each tick here is one move of a mount")
	p("whose connectors are all registered and none due; its cost is the plugin")
	p("process's CPU time across the move (the sum of its threads' run time in")
	p("`/proc/<pid>/task/*/schedstat`). The first tick after the registrations is shown")
	p("apart (the mount's first tick reads every record once to build its in-memory")
	p("schedule); the median is of the %d ticks after it. Memory is the plugin process's", ticksPerSize)
	p("resident set (`VmRSS`) after them; the process also serves the other mounts of")
	p("the run (a few connectors).")
	p("")
	p("| connectors | first tick CPU s | idle tick CPU s (median) | idle tick wall s (median) | plugin RSS MB |")
	p("| ---: | ---: | ---: | ---: | ---: |")
	for _, t := range r.ticks {
		p("| %d | %.4f | %.4f | %.4f | %.1f |", t.connectors, t.firstCPU.Seconds(), median(t.cpu).Seconds(),
			median(t.wall).Seconds(), float64(t.rss)/(1<<20))
	}
	p("")
	p("Goals at 10,000 connectors: at most 0.05 CPU seconds per idle tick, RSS under 64 MB.")
	if v := r.verify; v != nil {
		p("")
		p("## Verification of an unchanged fleet")
		p("")
		p("Once per `verify_interval` the plugin reads each connector's current credential")
		p("upstream, in a slot set by a hash of the connector, so that a fleet's checks spread")
		p("over the interval: with the default of %s, each once-a-minute tick checks about", interval(v.on.interval))
		p("1/%.0f of the fleet. The slots follow the real clock, so a real minute passes for", float64(v.on.interval)/float64(time.Minute))
		p("each row: the %d connectors of the idle tick above, none due, first with", v.connectors)
		p("`verify_interval` 0 (no checks), then with the default. Each minute is bracketed")
		p("by moves of the mount, two at each end (a move runs the periodic function at once,")
		p("or waits for a run of Vault's own under way), and opens a few seconds after one of")
		p("Vault's own once-a-minute ticks: Vault's next tick, near the minute's end, checks")
		p("the slots of nearly the whole minute at once, as in service, and the closing moves")
		p("the last few seconds' worth. The figures run from the end of the opening moves to")
		p("the end of the closing ones and are scaled to the minute of slots between them;")
		p("Vault's own ticks in it are told by its `vault_rollback_attempt_count`.")
		p("Upstream reads are counted by the simulator;")
		p("storage writes are Vault's own count of its storage barrier's puts and deletes")
		p("(`vault_barrier_put_count` + `vault_barrier_delete_count` in `sys/metrics`), for")
		p("every mount, which is why the minute without checks, measured the same way, is")
		p("taken off; CPU is the plugin process's user and system time from")
		p("`/proc/<pid>/stat` (the process also serves the run's other mounts, a few")
		p("connectors).")
		p("")
		p("| `verify_interval` | minute measured s | Vault's own ticks | upstream reads / min | storage writes / min | plugin CPU s / min |")
		p("| --- | ---: | ---: | ---: | ---: | ---: |")
		for _, m := range []struct {
			name string
			m    minuteResult
		}{{"0 (off)", v.off}, {interval(v.on.interval) + " (default)", v.on}} {
			p("| %s | %.1f | %d | %d | %d | %.3f |", m.name, m.m.span.Seconds(), m.m.ownTicks, round(m.m.perMinute(float64(m.m.reads))),
				round(m.m.perMinute(float64(m.m.writes))), m.m.perMinute(m.m.cpu.Seconds()))
		}
		p("")
		p("From verification, a minute: %d upstream reads, %d storage writes, %.3f plugin CPU s.",
			round(v.reads()), round(v.writes()), v.on.perMinute(v.on.cpu.Seconds())-v.off.perMinute(v.off.cpu.Seconds()))
		p("")
		p("Goals at 10,000 connectors with the default `verify_interval`: no storage writes")
		p("from verification, at most %.3f plugin CPU seconds a minute.", verifyCPUGoal.Seconds())
	}
	return w.String()
}
