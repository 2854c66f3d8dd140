//go:build e2e

package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// chaosFigures are the measured results of a crash test run.
type chaosFigures struct {
	seed                    uint64
	kills, pluginKills      int
	vaultKills              int
	chaos, total            time.Duration
	rec                     map[string]int
	creates, unknownCreates int
	unknownRevoked          int
	unknownRecorded         int // the engine's unknown_outcome_creates, summed
	interrupted             int // WAL entries left by the kills, rolled back
	leftUnknownLogged       int // unknown creates left live whose connector's rollback warned
	leases, leasesStopped   int
	outlived                int
	connectors, servesLive  int
	leftKnown, leftUnknown  int
	// The engine's root: rotate-root calls answered and failed, kills that
	// landed while one was in flight (and of them, those aimed at one),
	// checks after kills and at the end, live root credentials nothing
	// named, checks that found the config's root not live, live roots a WAL
	// entry accounted for (summed over the checks); at the end, root
	// credentials created upstream, live, and pending deletion.
	rootRotations, rootRotationsFailed int
	rootKillsDuring, rootKillsAimed    int
	rootChecks, rootStrays             int
	rootNotWorking                     int
	rootWALCreated, rootWALReplaced    int
	rootsCreated, rootsLiveAtEnd       int
	rootsPendingAtEnd                  int
}

// markdown is the figures as a Markdown table, with the machine they were
// measured on.
func (f chaosFigures) markdown() string {
	var b strings.Builder
	row := func(k string, v any) { fmt.Fprintf(&b, "| %s | %v |\n", k, v) }
	b.WriteString("| Figure | Value |\n|---|---|\n")
	row("Kills requested (`CHAOS_KILLS`)", f.kills)
	row("Seed (`CHAOS_SEED`)", f.seed)
	row("Plugin processes killed (SIGKILL)", f.pluginKills)
	row("Vault servers killed (SIGKILL, restarted, unsealed)", f.vaultKills)
	row("Rotations answered (failed)", fmt.Sprintf("%d (%d)", f.rec["rotations"], f.rec["rotations failed"]))
	row("Credential reads answered (failed)", fmt.Sprintf("%d (%d)", f.rec["reads"], f.rec["reads failed"]))
	row("Credentials created upstream", f.creates)
	row("Creates never seen in an answer, a status or the storage (of which the engine revoked)",
		fmt.Sprintf("%d (%d)", f.unknownCreates, f.unknownRevoked))
	row("Interrupted rotations rolled back (WAL entries left by the kills)", f.interrupted)
	row("Creates of unknown outcome the engine recorded (rotate/ status)", f.unknownRecorded)
	row("Leases recorded / checked against a stopped credential", fmt.Sprintf("%d / %d", f.leases, f.leasesStopped))
	row("(a) Connectors serving a live credential", fmt.Sprintf("%d of %d", f.servesLive, f.connectors))
	row("(b) Leases that outlived their credential", f.outlived)
	row("(c) Served or stored credentials left live after deletion", f.leftKnown)
	row("Unknown creates left live (id never reached the engine; live until they expire) / on a connector whose rollback logged a possible stray credential",
		fmt.Sprintf("%d / %d", f.leftUnknown, f.leftUnknownLogged))
	row("Root rotations that succeeded / failed (cut short by a kill, or refused)", fmt.Sprintf("%d / %d", f.rootRotations, f.rootRotationsFailed))
	row("Kills while a root rotation was in flight (aimed at one)", fmt.Sprintf("%d (%d)", f.rootKillsDuring, f.rootKillsAimed))
	row("(d) Root checks (after each kill, at the end): config's root not live / live roots nothing named",
		fmt.Sprintf("%d: %d / %d", f.rootChecks, f.rootNotWorking, f.rootStrays))
	row("Live roots a WAL entry accounted for, summed over the checks after kills: created by the interrupted rotation / the root it replaced",
		fmt.Sprintf("%d / %d", f.rootWALCreated, f.rootWALReplaced))
	row("Root credentials created upstream / live at the end (of them pending deletion)",
		fmt.Sprintf("%d / %d (%d)", f.rootsCreated, f.rootsLiveAtEnd, f.rootsPendingAtEnd))
	row("Duration of the kills / of the whole test", fmt.Sprintf("%s / %s", f.chaos.Round(time.Second), f.total.Round(time.Second)))
	row("Machine", machine())
	return b.String()
}

// machine describes where the test ran: CPU model and count, memory, OS,
// Go and Vault versions.
func machine() string {
	model := "unknown CPU"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
				var kb int
				fmt.Sscan(f[1], &kb)
				mem = fmt.Sprintf(", %.1f GiB RAM", float64(kb)/(1<<20))
			}
		}
	}
	vault := "vault ?"
	if out, err := exec.Command(vaultBin, "version").Output(); err == nil {
		vault, _, _ = strings.Cut(strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0]), ", built")
	}
	return fmt.Sprintf("%s, %d CPUs%s, %s/%s, %s, %s", model, runtime.NumCPU(), mem, runtime.GOOS, runtime.GOARCH, runtime.Version(), vault)
}
