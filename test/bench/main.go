// Command bench measures the C1 secrets engine under a real Vault dev server
// and writes the figures to docs/performance.md: read latency against KV v2
// and a minimal leased plugin (the floor, built from ./floorplugin), upstream
// calls of concurrent read bursts, C1 logins, the rotation sweep against its
// ideal time, the periodic function's CPU time and memory at 1,000 and
// 10,000 managed connectors, and a minute of the largest fleet, unchanged,
// with and without the upstream checks of the current credentials (its
// storage writes, upstream reads and CPU time). `make bench` runs it.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/upstreamsim"
)

const (
	pluginName       = "vault-plugin-c1"
	floorName        = "bench-floor"
	clientID         = "vault-bench@127.0.0.1/pcc"
	aitronosKey      = "bench-aitronos-key"
	burstReads       = 1000
	sweepConnectors  = 1000
	sweepLatency     = 50 * time.Millisecond
	ticksPerSize     = 5
	sweepConcurrency = 8
)

type options struct {
	vault, plugin, version, out string
	rounds                      int
	sizes                       []int
}

func main() {
	var o options
	var sizes string
	flag.StringVar(&o.vault, "vault", ".tools/bin/vault", "the Vault server `binary`")
	flag.StringVar(&o.plugin, "plugin", "bin/vault-plugin-c1", "the plugin `binary`")
	flag.StringVar(&o.version, "plugin-version", "", "the plugin's version to register it with")
	flag.StringVar(&o.out, "out", "docs/performance.md", "where to write the figures")
	flag.IntVar(&o.rounds, "rounds", 3000, "timed reads of each target")
	flag.StringVar(&sizes, "connectors", "1000,10000", "fleet sizes of the idle tick measurement")
	flag.Parse()
	for _, s := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			log.Fatalf("-connectors: %q is not a positive number", s)
		}
		o.sizes = append(o.sizes, n)
	}
	log.SetFlags(log.Ltime)
	r, err := run(o)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(o.out, []byte(r.markdown()), 0o644); err != nil {
		log.Fatal(err)
	}
	log.Printf("figures written to %s", o.out)
}

// bench is one run's environment.
type bench struct {
	o         options
	up        *upstream
	v         *devVault
	secret    string // the C1 client secret registered upstream
	pluginBin string // the plugin as installed
}

func run(o options) (*report, error) {
	dir, err := os.MkdirTemp("", "c1-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	floorBin := filepath.Join(dir, floorName)
	build := exec.Command("go", "build", "-o", floorBin, "./test/bench/floorplugin")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("building the floor plugin: %w", err)
	}

	b := &bench{o: o, up: startUpstream()}
	defer b.up.srv.Close()
	if b.secret, err = b.up.sim.RegisterClient(clientID); err != nil {
		return nil, err
	}
	b.up.sim.AddAPIKey(aitronosKey, upstreamsim.KeyActive)

	log.Printf("starting a Vault dev server")
	if b.v, err = startDevVault(o.vault, dir); err != nil {
		return nil, err
	}
	defer b.v.stop()
	if b.pluginBin, err = b.v.installPlugin(o.plugin, pluginName, o.version, "c1"); err != nil {
		return nil, err
	}
	if _, err := b.v.installPlugin(floorBin, floorName, "", "floor"); err != nil {
		return nil, err
	}

	r := &report{machine: machine(), goVersion: goVersion(), vaultVersion: b.vaultVersion(), started: time.Now().UTC()}
	steps := []func(*report) error{b.reads, b.bursts, b.ticks, b.sweep}
	for _, step := range steps {
		if err := step(r); err != nil {
			return nil, err
		}
	}
	r.elapsed = time.Since(r.started)
	return r, nil
}

// configure writes a mount's config, pointing at the simulator.
func (b *bench) configure(mount string, extra map[string]any) error {
	cfg := map[string]any{
		"c1_client_id": clientID, "c1_client_secret": b.secret, "c1_server_url": b.up.srv.URL,
		"aitronos_url": b.up.srv.URL, "aitronos_api_key": aitronosKey,
	}
	for k, v := range extra {
		cfg[k] = v
	}
	return b.v.write(mount+"/config", cfg)
}

// mount mounts the engine at path and configures it.
func (b *bench) mount(path string, extra map[string]any) error {
	if err := b.v.api.Sys().Mount(path, &api.MountInput{Type: pluginName, Config: api.MountConfigInput{PluginVersion: b.o.version}}); err != nil {
		return err
	}
	return b.configure(path, extra)
}

// reads times sequential reads of creds, warm oauth, the floor plugin and KV v2.
func (b *bench) reads(r *report) error {
	if err := b.configure("c1", map[string]any{"aitronos_cache_ttl": "1h"}); err != nil {
		return err
	}
	b.up.sim.AddConnector("bench", "read")
	if err := b.v.write("c1/creds/bench/read", nil); err != nil {
		return err
	}
	b.up.sim.SetConnection(upstreamsim.Connection{
		CredentialID: "cred-warm", ConnectionID: "conn-warm", Status: "ACTIVE", AppName: "github",
		AuthScheme: "OAUTH2", AccessToken: randomHex(20), TokenType: "Bearer", ExpiresAt: time.Now().Add(24 * time.Hour),
	})
	if err := b.v.write("floor/creds/x", map[string]any{"value": randomHex(32)}); err != nil {
		return err
	}
	if err := b.v.write("secret/data/bench", map[string]any{"data": map[string]any{"client_secret": randomHex(32)}}); err != nil {
		return err
	}
	paths := []string{"c1/creds/bench/read", "c1/oauth/cred-warm", "floor/creds/x", "secret/data/bench"}
	log.Printf("timing %d sequential reads of each of %s", b.o.rounds, strings.Join(paths, ", "))
	lat, err := readLatencies(b.v, paths, 200, b.o.rounds)
	if err != nil {
		return err
	}
	r.creds, r.oauth, r.floor, r.kv = lat[0], lat[1], lat[2], lat[3]
	r.rounds = b.o.rounds
	return nil
}

// bursts counts the upstream calls of concurrent reads: of a creds path, and
// of an oauth path not cached yet whose upstream answer takes 200 ms.
func (b *bench) bursts(r *report) error {
	log.Printf("bursts of %d concurrent reads", burstReads)
	before := b.up.calls()
	failed := burst(b.v, "c1/creds/bench/read", burstReads)
	r.credsBurst = burstResult{calls: b.up.callsSince(before), failed: failed}

	b.up.sim.SetConnection(upstreamsim.Connection{
		CredentialID: "cred-burst", ConnectionID: "conn-burst", Status: "ACTIVE", AppName: "github",
		AuthScheme: "OAUTH2", AccessToken: randomHex(20), TokenType: "Bearer", ExpiresAt: time.Now().Add(24 * time.Hour),
	})
	b.up.sim.InjectFault(upstreamsim.Fault{Op: upstreamsim.OpAitronos, Latency: 200 * time.Millisecond})
	defer b.up.sim.ClearFaults()
	before = b.up.calls()
	failed = burst(b.v, "c1/oauth/cred-burst", burstReads)
	r.oauthBurst = burstResult{calls: b.up.callsSince(before), failed: failed}
	return nil
}

// register starts managing connectors [from, to) of mount, named prefix%05d/c.
func (b *bench) register(mount, prefix string, from, to int) error {
	return parallel(to-from, 8, func(i int) error {
		app := fmt.Sprintf("%s%05d", prefix, from+i)
		b.up.sim.AddConnector(app, "c")
		return b.v.write(mount+"/creds/"+app+"/c", nil)
	})
}

// ticks measures the periodic function of a mount with idle connectors (none
// due): its CPU time per tick and the plugin's memory, at each fleet size.
// Vault runs the periodic function once a minute; moving a mount runs it at
// once (Vault rolls a mount back before it moves it), so each tick is one
// move, timed by the plugin process's CPU time around it.
func (b *bench) ticks(r *report) error {
	mount, other := "c1tick", "c1tick-moved"
	// Idle: nothing due, upstream checks of the current credentials included
	// (each verify_interval they are work that is due, one read a connector).
	// The mount's logins count from its config write, which reads the
	// engine's own credential upstream (and so logs in) at once.
	tokens, rotations := b.up.sim.Calls(upstreamsim.OpToken), b.up.sim.Calls(upstreamsim.OpRotate)
	loginStart := time.Now()
	if err := b.mount(mount, map[string]any{"verify_interval": 0}); err != nil {
		return err
	}
	pid, err := processOf(b.pluginBin)
	if err != nil {
		return err
	}
	have := 0
	for _, n := range b.o.sizes {
		log.Printf("registering connectors %d to %d", have, n)
		if err := b.register(mount, "t", have, n); err != nil {
			return err
		}
		have = n
		t := tickResult{connectors: n}
		for i := range ticksPerSize + 1 {
			before, err := cpuTime(pid)
			if err != nil {
				return err
			}
			start := time.Now()
			if err := b.v.remount(mount, other); err != nil {
				return err
			}
			wall := time.Since(start)
			after, err := cpuTime(pid)
			if err != nil {
				return err
			}
			mount, other = other, mount
			if i == 0 {
				t.firstCPU, t.firstWall = after-before, wall
				continue
			}
			t.cpu = append(t.cpu, after-before)
			t.wall = append(t.wall, wall)
		}
		if t.rss, err = rssBytes(pid); err != nil {
			return err
		}
		log.Printf("%d connectors: first tick %s CPU, then median %s CPU", n, t.firstCPU, median(t.cpu))
		r.ticks = append(r.ticks, t)
	}
	r.logins = loginResult{
		logins: b.up.sim.Calls(upstreamsim.OpToken) - tokens, calls: b.up.sim.Calls(upstreamsim.OpRotate) - rotations,
		elapsed: time.Since(loginStart), tokenLife: upstreamsim.DefaultTokenTTL,
	}
	// The same fleet, unchanged, for a minute with and without the upstream
	// checks of the current credentials (verify.go).
	if err := b.verify(r, pid, &mount, &other, have); err != nil {
		return err
	}
	return b.v.api.Sys().Unmount(mount)
}

// sweep makes sweepConnectors connectors due at once, with every rotation
// taking sweepLatency upstream, runs one tick and times the rotations.
func (b *bench) sweep(r *report) error {
	const mount = "c1sweep"
	b.up.sim.SetCredentialTTL(0) // credentials that never expire: due only by age
	if err := b.mount(mount, map[string]any{"connector_rotation_period": 0, "revoke_grace": "24h", "verify_interval": 0,
		"rotation_concurrency": sweepConcurrency}); err != nil {
		return err
	}
	log.Printf("registering %d connectors for the sweep", sweepConnectors)
	if err := b.register(mount, "s", 0, sweepConnectors); err != nil {
		return err
	}
	b.up.sim.InjectFault(upstreamsim.Fault{Op: upstreamsim.OpRotate, Latency: sweepLatency})
	defer b.up.sim.ClearFaults()
	b.up.rot.reset()
	before := b.up.sim.Calls(upstreamsim.OpRotate)
	// A schedule that fires every minute makes every credential due at the
	// next minute boundary (a rotation period under two ticks is refused).
	if err := b.configure(mount, map[string]any{"connector_rotation_schedule": "* * * * *"}); err != nil {
		return err
	}
	time.Sleep(time.Until(time.Now().Truncate(time.Minute).Add(time.Minute + time.Second)))
	log.Printf("sweeping %d due connectors", sweepConnectors)
	if err := b.v.remount(mount, mount+"-moved"); err != nil {
		return err
	}
	if err := b.configure(mount+"-moved", map[string]any{"connector_rotation_schedule": ""}); err != nil {
		return err
	}
	span, inFlight := b.up.rot.span()
	r.sweep = sweepResult{
		connectors: sweepConnectors, rotations: b.up.sim.Calls(upstreamsim.OpRotate) - before,
		latency: sweepLatency, concurrency: sweepConcurrency, took: span, maxInFlight: inFlight,
	}
	return nil
}

func (b *bench) vaultVersion() string {
	out, err := exec.Command(b.o.vault, "version").Output()
	if err != nil {
		return "unknown"
	}
	v, _, _ := strings.Cut(firstLine(string(out)), ",")
	return v
}

func goVersion() string {
	out, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return percentile(s, 50)
}
