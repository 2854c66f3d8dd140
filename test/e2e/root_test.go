//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// The engine's rotation of its own C1 credential, its root.
const (
	// expiringMount is the second mount of TestRoot, whose root expires.
	expiringMount = "c1-expiring"
	// rootNamePrefix starts the display name of a root the engine created:
	// "vault-plugin-c1 root <rotation id>".
	rootNamePrefix = "vault-plugin-c1 root "

	// The sweep under way during a rotate-root: every connector's
	// credential lives two minutes, so that it is due at once (its expiry
	// window is the floor of two ticks) and every tick rotates all of them;
	// each create takes sweepCreateLatency upstream, with the default
	// rotation_concurrency (8) in flight.
	sweepRootConnectors = 100
	sweepRootReaders    = 8
	sweepCredentialTTL  = 2 * time.Minute
	sweepCreateLatency  = 400 * time.Millisecond
	// request_timeout × (max_retries+1) = 60 s: the old root is deleted a
	// minute (the floor of the drain) after the switch.
	rootRequestTimeout = 15
	rootMaxRetries     = 3
	rootDrain          = time.Minute

	// The expiring root: created 7 minutes before the test with a
	// 10-minute lifetime, so that it expires 3 minutes into the test, and a
	// third of its lifetime (3m20s) before its expiry is already past.
	expiringRootLifetime = 10 * time.Minute
	expiringRootAge      = 7 * time.Minute
	expiringConnectors   = 4
)

// TestRoot runs the engine against a real Vault while it rotates its own
// credential, on two mounts of one Vault, each with its own simulator:
//
//   - c1/: config/rotate-root called while the periodic sweep rotates 100
//     connectors and 8 readers read their credentials. No request fails, the
//     old root is deleted upstream once the drain has passed, and the sweep
//     goes on rotating every connector with the new root, also after the old
//     one is gone.
//   - c1-expiring/: a root registered as created 7 minutes ago with a
//     10-minute lifetime is rotated by the periodic function before it
//     expires, readers going on throughout; the new root lives 10 minutes.
//
// Both wait on Vault's once-a-minute periodic function; side by side they
// take about three minutes and a half.
func TestRoot(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	v := startVault(t, dir, vaultOptions{})
	v.installPlugin()
	v.cli("secrets", "enable", "-path="+expiringMount, "-plugin-version="+pluginVersion, pluginName)
	t.Run("RotateDuringSweep", func(t *testing.T) {
		t.Parallel()
		testRootRotateDuringSweep(t, filepath.Join(dir, "sweep"), v.with(t))
	})
	t.Run("BeforeExpiry", func(t *testing.T) {
		t.Parallel()
		testRootBeforeExpiry(t, filepath.Join(dir, "expiry"), v.with(t))
	})
}

// with is v for a subtest: failures go to t.
func (v *vaultServer) with(t *testing.T) *vaultServer {
	c := *v
	c.t = t
	return &c
}

// testRootRotateDuringSweep calls config/rotate-root on c1/ in the middle of
// a periodic sweep.
func testRootRotateDuringSweep(t *testing.T, dir string, v *vaultServer) {
	start := time.Now()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	s := startSim(t, dir, "-credential-ttl", sweepCredentialTTL.String())
	e := envOn(t, dir, s, v)
	e.configure(map[string]any{
		"request_timeout": rootRequestTimeout, "max_retries": rootMaxRetries,
		// Replaced connector credentials are left to expire: the test
		// watches root credentials, not connector revocations.
		"revoke_grace": "1h", "verify_interval": 0,
	})
	oldRoot := s.rootCredential(e.c1ClientID, true)
	const app = "app-root"
	conns := make([]string, sweepRootConnectors)
	for i := range conns {
		conns[i] = fmt.Sprintf("conn-%03d", i)
	}
	registered := registerMany(t, v, s, mountPath, app, conns)
	t.Logf("%d connectors registered in %s", len(conns), time.Since(start).Round(time.Second))

	s.inject(map[string]any{"op": "rotate", "latency": sweepCreateLatency.String()})
	readers := startReaders(sweepRootReaders, 100*time.Millisecond, func(n int) error {
		_, err := e.tryReadCreds(app, conns[n%len(conns)])
		return err
	})
	defer readers.end()

	// The next tick's sweep: rotate-root once it is under way.
	base := s.calls()["rotate"]
	var sweepSeen time.Time
	waitFor(t, "a sweep under way", 150*time.Second, 100*time.Millisecond, func() (bool, string) {
		n := s.calls()["rotate"] - base
		if n > 0 && sweepSeen.IsZero() {
			sweepSeen = time.Now()
		}
		return n >= 16, "no periodic sweep yet"
	})
	sentAtCall := s.calls()["rotate"] - base
	calledAt := time.Now()
	rr, err := v.api.Logical().Write(mountPath+"/config/rotate-root", nil)
	answeredAt := time.Now()
	sentAtAnswer := s.calls()["rotate"] - base
	if err != nil {
		t.Fatalf("config/rotate-root during the sweep failed: %v", err)
	}
	if sentAtCall >= sweepRootConnectors {
		t.Errorf("rotate-root was called after the sweep had sent all its creates (%d)", sentAtCall)
	}
	t.Logf("rotate-root called %s into the sweep, with %d of its %d creates sent; answered in %s, with %d sent",
		calledAt.Sub(sweepSeen).Round(100*time.Millisecond), sentAtCall, sweepRootConnectors,
		answeredAt.Sub(calledAt).Round(10*time.Millisecond), sentAtAnswer)

	newID, newClientID := str(rr, "credential_id"), str(rr, "client_id")
	if newID == "" || newClientID == "" || newClientID == oldRoot.ClientID {
		t.Fatalf("rotate-root answered credential %q, client %q; want a new one", newID, newClientID)
	}
	if _, ok := rr.Data["client_secret"]; ok {
		t.Error("rotate-root answered a client_secret; it must never")
	}
	if got := str(rr, "previous_credential_id"); got != oldRoot.ID {
		t.Errorf("rotate-root: previous_credential_id %q, want the old root %s", got, oldRoot.ID)
	}
	rotated := parseTime(t, "last_rotation", str(rr, "last_rotation"))
	deleteAt := parseTime(t, "previous_delete_at", str(rr, "previous_delete_at"))
	near(t, "drain of the old root (previous_delete_at - last_rotation)", deleteAt.Sub(rotated), rootDrain, time.Second)
	newRoot := s.rootCredential(newID, false)
	if !newRoot.Live || newRoot.ClientID != newClientID || !strings.HasPrefix(newRoot.DisplayName, rootNamePrefix) ||
		newRoot.UserID != oldRoot.UserID || newRoot.ExpiresTime != nil {
		t.Errorf("the new root upstream: %+v; want live, named %q…, of user %s, never expiring like the old one",
			newRoot, rootNamePrefix, oldRoot.UserID)
	}
	if !s.rootCredential(oldRoot.ID, false).Live {
		t.Error("the old root was deleted at once; it must stay through the drain")
	}
	cfg := v.read(mountPath + "/config")
	if str(cfg, "c1_client_id") != newClientID || str(cfg, "root_credential_id") != newID {
		t.Errorf("config after rotate-root: c1_client_id %q, root_credential_id %q; want %s, %s",
			str(cfg, "c1_client_id"), str(cfg, "root_credential_id"), newClientID, newID)
	}
	if !slices.Contains(pendingRootDeletions(cfg), oldRoot.ID) {
		t.Errorf("config after rotate-root: root_pending_deletions %v lacks the old root %s", cfg.Data["root_pending_deletions"], oldRoot.ID)
	}

	// The sweep goes on and rotates every connector.
	var sweepDone time.Time
	waitFor(t, "the sweep to rotate every connector", 90*time.Second, 200*time.Millisecond, func() (bool, string) {
		n := s.calls()["rotate"] - base
		if n >= sweepRootConnectors && sweepDone.IsZero() {
			sweepDone = time.Now()
		}
		left := rotatedSince(t, s, app, registered, time.Time{})
		return len(left) == 0, fmt.Sprintf("%d creates sent; %d connectors not rotated", n, len(left))
	})
	t.Logf("the sweep sent its %d creates in %s (seen by polling)", sweepRootConnectors, sweepDone.Sub(sweepSeen).Round(100*time.Millisecond))

	// The old root is deleted once the drain has passed (by the first tick
	// after it), and the next sweep rotates every connector with the new root.
	var deletedAt time.Time
	waitFor(t, "deletion of the old root upstream", time.Until(deleteAt)+100*time.Second, time.Second, func() (bool, string) {
		old := s.rootCredential(oldRoot.ID, false)
		if old.Deleted && old.DeletedAt != nil {
			deletedAt = parseTime(t, "deleted_at", *old.DeletedAt)
			return true, ""
		}
		return false, fmt.Sprintf("old root live %t; delete_at %s", old.Live, deleteAt.Format(time.TimeOnly))
	})
	if deletedAt.Before(deleteAt) {
		t.Errorf("the old root was deleted at %s, before the drain ended at %s", deletedAt.Format(time.RFC3339Nano), deleteAt.Format(time.RFC3339Nano))
	}
	waitFor(t, "a sweep rotating every connector after the old root's deletion", 100*time.Second, time.Second, func() (bool, string) {
		left := rotatedSince(t, s, app, registered, deletedAt)
		return len(left) == 0, fmt.Sprintf("%d connectors without a credential created since", len(left))
	})
	readers.end()

	cfg = v.read(mountPath + "/config")
	if str(cfg, "c1_client_id") != newClientID || len(pendingRootDeletions(cfg)) != 0 || str(cfg, "root_last_error") != "" {
		t.Errorf("config at the end: c1_client_id %q (want %s), root_pending_deletions %v, root_last_error %q",
			str(cfg, "c1_client_id"), newClientID, cfg.Data["root_pending_deletions"], str(cfg, "root_last_error"))
	}
	if !s.rootCredential(newID, false).Live {
		t.Error("the new root is not live upstream at the end")
	}
	failed := requestFailures(t, v, mountPath, readers)
	perConn := map[string]int{}
	for _, c := range s.credentials(app, "") {
		perConn[c.ConnectorID]++
	}
	rotations := 0
	for _, n := range perConn {
		rotations += n - 1
	}
	t.Logf("root rotation during a sweep: %d failed requests (%d reads, %d connector rotations); old root deleted %s after "+
		"rotate-root answered (drain %s, deleted %s after it ended); rotate-root took %s; test took %s",
		failed, readers.reads.Load(), rotations, deletedAt.Sub(answeredAt).Round(100*time.Millisecond), deleteAt.Sub(rotated),
		deletedAt.Sub(deleteAt).Round(100*time.Millisecond), answeredAt.Sub(calledAt).Round(10*time.Millisecond),
		time.Since(start).Round(time.Second))
}

// testRootBeforeExpiry gives c1-expiring/ a root created 7 minutes ago with
// a 10-minute lifetime and lets the periodic function rotate it.
func testRootBeforeExpiry(t *testing.T, dir string, v *vaultServer) {
	start := time.Now()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	s := startSim(t, dir)
	created := start.Add(-expiringRootAge).Truncate(time.Second)
	old, secret := s.personalClient("vault-e2e-"+randID(6)+"@127.0.0.1/pcc", created, expiringRootLifetime)
	expires := parseTime(t, "expires_time", *old.ExpiresTime)
	near(t, "the old root's lifetime upstream", expires.Sub(parseTime(t, "created_at", old.CreatedAt)), expiringRootLifetime, 0)

	// Automated rotation stays off until the readers run.
	v.write(expiringMount+"/config", map[string]any{
		"c1_client_id": old.ClientID, "c1_client_secret": secret, "c1_server_url": s.url, "aitronos_url": s.url,
		"request_timeout": rootRequestTimeout, "max_retries": rootMaxRetries, "disable_automated_rotation": true,
	})
	cfg := v.read(expiringMount + "/config")
	if str(cfg, "root_credential_id") != old.ID || !parseTime(t, "root_expires_time", str(cfg, "root_expires_time")).Equal(expires) {
		t.Fatalf("config: root_credential_id %q, root_expires_time %q; want %s expiring at %s",
			str(cfg, "root_credential_id"), str(cfg, "root_expires_time"), old.ID, expires.Format(time.RFC3339))
	}
	const app = "app-expiring"
	conns := make([]string, expiringConnectors)
	for i := range conns {
		conns[i] = fmt.Sprintf("conn-%d", i)
	}
	registerMany(t, v, s, expiringMount, app, conns)
	readers := startReaders(expiringConnectors, 200*time.Millisecond, func(n int) error {
		sec, err := v.api.Logical().Read(expiringMount + "/creds/" + app + "/" + conns[n%len(conns)])
		if err == nil && (sec == nil || str(sec, "client_secret") == "") {
			err = fmt.Errorf("read creds/%s/%s: no credential", app, conns[n%len(conns)])
		}
		return err
	})
	defer readers.end()

	v.write(expiringMount+"/config", map[string]any{"disable_automated_rotation": false})
	enabled := time.Now()
	cfg = v.read(expiringMount + "/config")
	window := expiringRootLifetime / 3
	if next := str(cfg, "root_next_rotation"); next == "" {
		t.Error("no root_next_rotation once automated rotation is on")
	} else {
		near(t, "root_next_rotation before the old root's expiry (a third of its lifetime)",
			expires.Sub(parseTime(t, "root_next_rotation", next)), window, time.Second)
	}
	t.Logf("the root expires at %s (in %s); due since %s", expires.Format(time.TimeOnly),
		time.Until(expires).Round(time.Second), expires.Add(-window).Format(time.TimeOnly))

	// The first tick rotates it.
	var newClientID string
	waitFor(t, "the periodic rotation of the expiring root", time.Until(expires)+30*time.Second, time.Second, func() (bool, string) {
		cfg = v.read(expiringMount + "/config")
		if id := str(cfg, "c1_client_id"); id != old.ClientID {
			newClientID = id
			return true, ""
		}
		return false, fmt.Sprintf("still the old root; root_last_error %q", str(cfg, "root_last_error"))
	})
	rotatedAt := parseTime(t, "root_last_rotation", str(cfg, "root_last_rotation"))
	if !rotatedAt.Before(expires) {
		t.Fatalf("the root was rotated at %s, once it had expired (%s)", rotatedAt.Format(time.RFC3339), expires.Format(time.RFC3339))
	}
	fresh := s.rootCredential(newClientID, true)
	if fresh.ExpiresTime == nil {
		t.Fatal("the new root never expires; want the old one's 10-minute lifetime")
	}
	freshCreated := parseTime(t, "created_at", fresh.CreatedAt)
	freshExpires := parseTime(t, "expires_time", *fresh.ExpiresTime)
	near(t, "the new root's lifetime", freshExpires.Sub(freshCreated), expiringRootLifetime, time.Second)
	if !fresh.Live || !strings.HasPrefix(fresh.DisplayName, rootNamePrefix) || fresh.UserID != old.UserID {
		t.Errorf("the new root upstream: %+v; want live, named %q…, of user %s", fresh, rootNamePrefix, old.UserID)
	}
	if str(cfg, "root_credential_id") != fresh.ID {
		t.Errorf("config after the rotation: root_credential_id %q, want %s", str(cfg, "root_credential_id"), fresh.ID)
	}
	near(t, "config's root_expires_time vs the new root's expiry upstream",
		parseTime(t, "root_expires_time", str(cfg, "root_expires_time")).Sub(freshExpires), 0, time.Second)
	near(t, "root_next_rotation before the new root's expiry (a third of its lifetime)",
		freshExpires.Sub(parseTime(t, "root_next_rotation", str(cfg, "root_next_rotation"))), window, time.Second)
	if !slices.Contains(pendingRootDeletions(cfg), old.ID) || str(cfg, "root_last_error") != "" {
		t.Errorf("config after the rotation: root_pending_deletions %v (want the old root %s), root_last_error %q",
			cfg.Data["root_pending_deletions"], old.ID, str(cfg, "root_last_error"))
	}

	// Connector rotation goes on with the new root.
	rot := v.write(expiringMount+"/rotate/"+app+"/"+conns[0], nil)
	if c := s.credential(app, conns[0], str(rot, "credential_id")); !c.Live {
		t.Errorf("a connector rotation after the root's: credential %s not live upstream", c.ID)
	}
	readers.end()
	failed := requestFailures(t, v, expiringMount, readers)
	t.Logf("root near its expiry: rotated by the periodic function at %s, %s after automated rotation was enabled, "+
		"%s before the old root would have expired; new root lives %s; %d failed requests (%d reads); test took %s",
		rotatedAt.Format(time.TimeOnly), rotatedAt.Sub(enabled).Round(time.Second), expires.Sub(rotatedAt).Round(time.Second),
		freshExpires.Sub(freshCreated), failed, readers.reads.Load(), time.Since(start).Round(time.Second))
}

// registerMany makes connectors known upstream and registers them in Vault
// at mount, a few at a time; it returns each one's first credential id.
func registerMany(t *testing.T, v *vaultServer, s *sim, mount, app string, conns []string) map[string]string {
	t.Helper()
	var (
		mu    sync.Mutex
		first = map[string]string{}
		errs  []string
		next  atomic.Int64
		wg    sync.WaitGroup
	)
	for range 8 {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < len(conns); i = int(next.Add(1)) - 1 {
				conn := conns[i]
				err := s.try(http.MethodPost, "/_sim/c1/connectors", map[string]string{"app_id": app, "connector_id": conn}, nil)
				var sec *api.Secret
				if err == nil {
					sec, err = v.api.Logical().Write(mount+"/creds/"+app+"/"+conn, nil)
				}
				mu.Lock()
				if id := str(sec, "credential_id"); err == nil && id != "" {
					first[conn] = id
				} else {
					errs = append(errs, fmt.Sprintf("%s: %v", conn, err))
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("registering %d connectors at %s: %d failed: %s", len(conns), mount, len(errs), strings.Join(errs[:min(len(errs), 5)], "; "))
	}
	return first
}

// rotatedSince lists the connectors of registered that have no credential
// upstream other than the registered one created at or after since.
func rotatedSince(t *testing.T, s *sim, app string, registered map[string]string, since time.Time) []string {
	t.Helper()
	done := map[string]bool{}
	for _, c := range s.credentials(app, "") {
		if c.ID != registered[c.ConnectorID] && !parseTime(t, "created_at", c.CreatedAt).Before(since) {
			done[c.ConnectorID] = true
		}
	}
	var left []string
	for conn := range registered {
		if !done[conn] {
			left = append(left, conn)
		}
	}
	sort.Strings(left)
	return left
}

// pendingRootDeletions are the credential ids of a config read's
// root_pending_deletions.
func pendingRootDeletions(cfg *api.Secret) []string {
	var ids []string
	list, _ := cfg.Data["root_pending_deletions"].([]any)
	for _, p := range list {
		if m, _ := p.(map[string]any); m != nil {
			ids = append(ids, fmt.Sprint(m["credential_id"]))
		}
	}
	return ids
}

// readLoad is readers reading in a loop until ended: how many reads
// succeeded and failed, and the first failures.
type readLoad struct {
	reads, failed atomic.Int64
	mu            sync.Mutex
	errs          []string
	stop          context.CancelFunc
	wg            sync.WaitGroup
}

// startReaders starts n readers, each calling read (with a growing number
// that picks what to read) and pausing between reads.
func startReaders(n int, pause time.Duration, read func(n int) error) *readLoad {
	ctx, cancel := context.WithCancel(context.Background())
	l := &readLoad{stop: cancel}
	for range n {
		l.wg.Go(func() {
			for k := rand.IntN(1 << 20); ctx.Err() == nil; k++ {
				if err := read(k); err != nil {
					l.failed.Add(1)
					l.mu.Lock()
					if len(l.errs) < 5 {
						l.errs = append(l.errs, time.Now().Format(time.TimeOnly)+" "+err.Error())
					}
					l.mu.Unlock()
				} else {
					l.reads.Add(1)
				}
				sleepCtx(ctx, pause)
			}
		})
	}
	return l
}

// end stops the readers and waits for them.
func (l *readLoad) end() {
	l.stop()
	l.wg.Wait()
}

// upstreamRequestsRE matches a line of the upstream request counter.
var upstreamRequestsRE = regexp.MustCompile(`^c1_upstream_requests_total\{endpoint="([^"]*)",status="([^"]*)"\} (\S+)$`)

// requestFailures fails the test for every failed request: a failed read of
// readers, and, from the metrics of the engine at mount, an upstream request
// attempt that was not answered with a 2xx and a failed connector
// rotation. It returns how many there were.
func requestFailures(t *testing.T, v *vaultServer, mount string, readers *readLoad) int {
	t.Helper()
	failed := int(readers.failed.Load())
	if failed > 0 {
		t.Errorf("%d of %d reads failed; the first: %s", failed, failed+int(readers.reads.Load()), strings.Join(readers.errs, "; "))
	}
	req, err := http.NewRequest(http.MethodGet, v.addr+"/v1/"+mount+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Vault-Token", v.rootToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s/metrics: %v", mount, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s/metrics: %s", mount, resp.Status)
	}
	upstream := 0
	for _, line := range strings.Split(string(body), "\n") {
		if m := upstreamRequestsRE.FindStringSubmatch(line); m != nil {
			n, _ := strconv.ParseFloat(m[3], 64)
			upstream += int(n)
			if !strings.HasPrefix(m[2], "2") && n > 0 {
				failed += int(n)
				t.Errorf("%s: %d upstream %s requests answered %s", mount, int(n), m[1], m[2])
			}
		}
		if strings.HasPrefix(line, "c1_credential_rotation_failures_total{") {
			if f := strings.Fields(line); len(f) == 2 && f[1] != "0" {
				n, _ := strconv.ParseFloat(f[1], 64)
				failed += int(n)
				t.Errorf("%s: failed connector rotations: %s", mount, line)
			}
		}
	}
	if upstream == 0 {
		t.Errorf("%s/metrics counts no upstream request at all", mount)
	}
	return failed
}
