package c1

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/upstreamsim"
)

// useRoot registers a personal client with opts upstream and writes a
// config that logs in with it (plus extra fields); it returns its state.
func (e *testEnv) useRoot(opts upstreamsim.RootOptions, extra map[string]any) upstreamsim.RootCredentialState {
	e.t.Helper()
	clientID := "vault-root@" + strings.TrimPrefix(e.url, "http://") + "/pcc"
	st, err := e.sim.RegisterPersonalClient(clientID, opts)
	if err != nil {
		e.t.Fatal(err)
	}
	e.clientID, e.clientSecret = clientID, st.Secret
	e.configure(extra)
	return st
}

// rootNow is the sim's view of the credential the config logs in with.
func (e *testEnv) rootNow() upstreamsim.RootCredentialState {
	e.t.Helper()
	cfg, err := getConfig(context.Background(), e.storage)
	if err != nil || cfg == nil {
		e.t.Fatalf("config: %v", err)
	}
	st, ok := e.sim.RootCredential(cfg.C1ClientID)
	if !ok {
		e.t.Fatalf("the config's client %s is unknown upstream", cfg.C1ClientID)
	}
	return st
}

func TestRotateRootReplacesTheEnginesCredential(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 720 * time.Hour})
	old := e.useRoot(upstreamsim.RootOptions{ExpiresIn: 90 * 24 * time.Hour, ScopedRoles: []string{"role-a"},
		AllowSourceCIDRs: []string{"127.0.0.0/8"}}, nil)
	e.register(nil)
	if cfg := e.mustDo(logical.ReadOperation, "config", nil); cfg.Data["root_credential_id"] != old.ID ||
		cfg.Data["root_expires_time"] != formatTime(old.ExpiresTime) {
		t.Fatalf("config read after the write: root %v expiring %v, want %s %s", cfg.Data["root_credential_id"],
			cfg.Data["root_expires_time"], old.ID, formatTime(old.ExpiresTime))
	}

	resp := e.mustDo(logical.UpdateOperation, "config/rotate-root", nil)
	now := e.rootNow()
	if now.ID == old.ID || resp.Data["credential_id"] != now.ID || resp.Data["previous_credential_id"] != old.ID {
		t.Fatalf("rotate-root answered %v; the config logs in with %s (old %s)", resp.Data, now.ID, old.ID)
	}
	if now.ExpiresTime.Sub(now.CreatedAt) != 90*24*time.Hour || fmt.Sprint(now.ScopedRoles) != "[role-a]" ||
		fmt.Sprint(now.AllowSourceCIDRs) != "[127.0.0.0/8]" {
		t.Errorf("the new root: life %s, roles %v, networks %v; want the old one's", now.ExpiresTime.Sub(now.CreatedAt),
			now.ScopedRoles, now.AllowSourceCIDRs)
	}
	for k, v := range resp.Data {
		if strings.Contains(fmt.Sprint(v), now.Secret) {
			t.Errorf("the answer's %s carries the secret", k)
		}
	}
	// The clients use the new root: a rotation works.
	e.mustDo(logical.UpdateOperation, rotatePath, nil)
	// The old root is deleted once requests made with it have ended.
	e.mustTick()
	if st, _ := e.sim.RootCredential(old.ID); st.Deleted {
		t.Error("the old root was deleted before the requests made with it could end")
	}
	e.clock.Advance(rootDrain(defaultConfig()))
	e.mustTick()
	if st, _ := e.sim.RootCredential(old.ID); !st.Deleted {
		t.Error("the old root is not deleted upstream")
	}
	cfg := e.mustDo(logical.ReadOperation, "config", nil)
	if cfg.Data["root_credential_id"] != now.ID || cfg.Data["root_last_rotation"] == "" ||
		len(cfg.Data["root_pending_deletions"].([]map[string]any)) != 0 {
		t.Errorf("config read: %v %v %v", cfg.Data["root_credential_id"], cfg.Data["root_last_rotation"], cfg.Data["root_pending_deletions"])
	}
	if !strings.Contains(e.logs.String(), "the engine's own C1 credential was rotated") {
		t.Error("no WARN log of the root rotation")
	}
	e.events.Lock()
	sent := false
	for _, ev := range e.events.Events {
		sent = sent || string(ev.Type) == "c1/root-rotated"
	}
	e.events.Unlock()
	if !sent {
		t.Error("no c1/root-rotated Vault event")
	}
	if len(e.walKeys()) != 0 {
		t.Error("a WAL entry is left")
	}
}

func TestRotateRootRefusesWhatItCannotRotate(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{})
	token := "static-token-1234567890"
	e.sim.AddBearerToken(token)
	e.mustDo(logical.UpdateOperation, "config", map[string]any{"c1_access_token": token, "c1_server_url": e.url})
	_, err := e.do(logical.UpdateOperation, "config/rotate-root", nil)
	if statusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "c1_access_token") {
		t.Fatalf("rotate-root with a static token: %v", err)
	}
	// A service-principal credential the engine is not told of is not found
	// among the personal clients: the 400 says what to set.
	e2 := newTestEnv(t, upstreamsim.Options{})
	e2.sim.AddServicePrincipal("sp-1")
	clientID := "vault-sp@" + strings.TrimPrefix(e2.url, "http://") + "/spc"
	st, err := e2.sim.RegisterServicePrincipalCredential("sp-1", clientID, upstreamsim.RootOptions{ExpiresIn: 180 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	e2.clientID, e2.clientSecret = clientID, st.Secret
	e2.configure(nil)
	_, err = e2.do(logical.UpdateOperation, "config/rotate-root", nil)
	if statusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "root_service_principal_id") {
		t.Fatalf("rotate-root of an unnamed service principal's credential: %v", err)
	}
	// Named, it is rotated within the service principal.
	e2.mustDo(logical.UpdateOperation, "config", map[string]any{"root_service_principal_id": "sp-1"})
	e2.mustDo(logical.UpdateOperation, "config/rotate-root", nil)
	if now := e2.rootNow(); now.ID == st.ID || now.ServicePrincipalID != "sp-1" || now.Kind != upstreamsim.RootServicePrincipalCredential {
		t.Errorf("the new root: %+v", now)
	}
}

func TestRotateRootFailuresKeepTheOldRoot(t *testing.T) {
	for _, tc := range []struct {
		name      string
		fault     func(e *testEnv)
		unknown   bool
		newLeft   bool // the new credential stays upstream (until the rollback)
		wantInErr string
	}{
		{"the create's outcome unknown", func(e *testEnv) {
			e.sim.InjectFault(upstreamsim.Fault{Op: upstreamsim.OpPersonalClientCreate, Status: 502, Commit: true, Count: 1})
		}, true, true, "outcome is unknown"},
		{"the create refused", func(e *testEnv) {
			e.sim.InjectFault(upstreamsim.Fault{Op: upstreamsim.OpPersonalClientCreate, Status: 403, Count: 1})
		}, false, false, "403"},
		{"the login with the new one refused", func(e *testEnv) {
			e.sim.InjectFault(upstreamsim.Fault{Op: upstreamsim.OpToken, Status: 401, Count: 1})
		}, false, false, "could not log in"},
		{"the store failing after the create", func(e *testEnv) {
			e.storage = &crashingStorage{Storage: e.storage, key: configStorageKey, n: 1}
		}, false, false, "storing the new root"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t, upstreamsim.Options{})
			old := e.useRoot(upstreamsim.RootOptions{ExpiresIn: 30 * 24 * time.Hour}, map[string]any{"max_retries": 0})
			liveNow := func() int {
				live := 0
				for _, st := range e.sim.RootCredentials() {
					if st.Live {
						live++
					}
				}
				return live
			}
			before := liveNow()
			tc.fault(e)
			_, err := e.do(logical.UpdateOperation, "config/rotate-root", nil)
			if err == nil || !strings.Contains(err.Error(), tc.wantInErr) {
				t.Fatalf("rotate-root: %v, want an error saying %q", err, tc.wantInErr)
			}
			if e.rootNow().ID != old.ID {
				t.Fatal("the engine switched away from its old root")
			}
			if want := before + map[bool]int{true: 1, false: 0}[tc.newLeft]; liveNow() != want {
				t.Fatalf("%d live root credentials upstream, want %d", liveNow(), want)
			}
			cfg := e.mustDo(logical.ReadOperation, "config", nil)
			windows := cfg.Data["root_unknown_outcome_windows"].([]map[string]any)
			if (len(windows) == 1) != tc.unknown || cfg.Data["root_last_error"] == "" {
				t.Errorf("config read: windows %v, last error %q", windows, cfg.Data["root_last_error"])
			}
			// The engine still works with the old root.
			e.register(nil)
			if tc.newLeft {
				// The WAL rollback finds the new credential by its name and deletes it.
				e.clock.Advance(walRollbackMinAge + time.Minute)
				e.rollback()
				if liveNow() != before {
					t.Errorf("the rollback left the new root live: %d live, want %d", liveNow(), before)
				}
			}
		})
	}
}

func TestAFailedDeleteOfTheOldRootIsRetriedAndShown(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{})
	old := e.useRoot(upstreamsim.RootOptions{ExpiresIn: 30 * 24 * time.Hour}, map[string]any{"max_retries": 0})
	e.mustDo(logical.UpdateOperation, "config/rotate-root", nil)
	e.sim.InjectFault(upstreamsim.Fault{Op: upstreamsim.OpPersonalClientDelete, Status: 503, Count: 1})
	e.clock.Advance(rootDrain(defaultConfig()))
	_ = e.tick()
	pending := e.mustDo(logical.ReadOperation, "config", nil).Data["root_pending_deletions"].([]map[string]any)
	if len(pending) != 1 || pending[0]["credential_id"] != old.ID || pending[0]["last_error"] == "" {
		t.Fatalf("pending deletions %v", pending)
	}
	e.clock.Advance(time.Minute)
	e.mustTick()
	if st, _ := e.sim.RootCredential(old.ID); !st.Deleted {
		t.Error("the failed delete was not retried")
	}
}

// A root that expires in ten minutes is rotated by the periodic function
// before it runs out, and nothing fails meanwhile.
func TestAShortLivedRootIsRotatedBeforeItExpires(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 720 * time.Hour})
	old := e.useRoot(upstreamsim.RootOptions{ExpiresIn: 10 * time.Minute}, nil)
	e.register(nil)
	for range 9 {
		e.clock.Advance(time.Minute)
		e.mustTick()
		e.mustDo(logical.ReadOperation, credsPath, nil)
	}
	now := e.rootNow()
	if now.ID == old.ID || !now.Live {
		t.Fatalf("after 9 minutes the engine still logs in with its 10-minute root (%s, live %v)", now.ID, now.Live)
	}
	if now.ExpiresTime.Sub(now.CreatedAt) != 10*time.Minute {
		t.Errorf("the new root lives %s, want the old one's 10m", now.ExpiresTime.Sub(now.CreatedAt))
	}
	e.clock.Advance(2 * time.Minute)
	e.mustTick()
	e.mustDo(logical.UpdateOperation, rotatePath, nil) // works past the old root's expiry
}

// With rotation_period set on config (Vault Community has no rotation
// manager), the periodic function rotates the root by age.
func TestTheRootRotationPeriodIsKeptByThePeriodicFunction(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{})
	old := e.useRoot(upstreamsim.RootOptions{}, map[string]any{"rotation_period": "1h"})
	cfg := e.mustDo(logical.ReadOperation, "config", nil)
	if fmt.Sprint(cfg.Data["rotation_period"]) != "3600" || cfg.Data["root_rotation_by_vault"] != false || cfg.Data["root_next_rotation"] == "" {
		t.Fatalf("config read: period %v, by vault %v, next %v", cfg.Data["rotation_period"], cfg.Data["root_rotation_by_vault"], cfg.Data["root_next_rotation"])
	}
	e.clock.Advance(59 * time.Minute)
	e.mustTick()
	if e.rootNow().ID != old.ID {
		t.Fatal("rotated before its period")
	}
	e.clock.Advance(time.Minute)
	e.mustTick()
	if e.rootNow().ID == old.ID {
		t.Fatal("not rotated at its period")
	}
	// disable_automated_rotation stops it.
	e.mustDo(logical.UpdateOperation, "config", map[string]any{"disable_automated_rotation": true})
	cur := e.rootNow().ID
	e.clock.Advance(2 * time.Hour)
	e.mustTick()
	if e.rootNow().ID != cur {
		t.Error("rotated with automated rotation disabled")
	}
	for _, bad := range []map[string]any{{"rotation_period": "30s"}, {"rotation_schedule": "every day"}, {"rotation_window": "2h"}} {
		if _, err := e.do(logical.UpdateOperation, "config", bad); statusOf(err) != http.StatusBadRequest {
			t.Errorf("config %v: %v, want a 400", bad, err)
		}
	}
}

// A root within rotate_before_expiry of its expiry that cannot be rotated
// is warned about, once a day, saying why.
func TestARootNearItsExpiryThatCannotBeRotatedIsWarnedDaily(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{})
	e.useRoot(upstreamsim.RootOptions{ExpiresIn: 3 * 24 * time.Hour}, map[string]any{"max_retries": 0})
	e.sim.InjectFault(upstreamsim.Fault{Op: upstreamsim.OpPersonalClientCreate, Status: 403})
	const warning = "nears its expiry and could not be rotated"
	e.clock.Advance(2*24*time.Hour + time.Hour)
	_ = e.tick()
	if n := strings.Count(e.logs.String(), warning); n != 1 {
		t.Fatalf("%d warnings on the first tick in the window, want 1", n)
	}
	for range 5 {
		e.clock.Advance(time.Minute)
		_ = e.tick()
	}
	if n := strings.Count(e.logs.String(), warning); n != 1 {
		t.Errorf("%d warnings within a day, want 1", n)
	}
	if !strings.Contains(string(e.mustDo(logical.ReadOperation, "metrics", nil).Data[logical.HTTPRawBody].([]byte)), "c1_root_credential_expiry_seconds") {
		t.Error("no metric of the root's expiry")
	}
}

// A root rotation while connector rotations and creds reads run makes none
// of them fail.
func TestRotateRootUnderLoad(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 720 * time.Hour})
	e.useRoot(upstreamsim.RootOptions{ExpiresIn: 30 * 24 * time.Hour}, nil)
	e.registerMany(10)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	stop := make(chan struct{})
	for i := range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				path := fmt.Sprintf("creds/app%03d/conn", i)
				if _, err := e.b.HandleRequest(context.Background(), &logical.Request{Operation: logical.ReadOperation, Path: path, Storage: e.storage}); err != nil {
					errs <- fmt.Errorf("read %s: %w", path, err)
				}
				rot := fmt.Sprintf("rotate/app%03d/conn", i+4)
				if _, err := e.b.HandleRequest(context.Background(), &logical.Request{Operation: logical.UpdateOperation, Path: rot, Storage: e.storage}); err != nil {
					errs <- fmt.Errorf("rotate %s: %w", rot, err)
				}
			}
		})
	}
	for range 3 {
		e.mustDo(logical.UpdateOperation, "config/rotate-root", nil)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// A crash after the new root's secret was stored but before the old one was
// recorded retired: the WAL rollback finds the new root current and retires
// the old one, rather than deleting the root in use.
func TestRollbackCompletesARootRotationCutShortAfterTheSwitch(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{})
	old := e.useRoot(upstreamsim.RootOptions{ExpiresIn: 30 * 24 * time.Hour}, nil)
	inner := e.storage
	e.storage = &crashingStorage{Storage: inner, key: rootStorageKey, n: 1}
	if _, err := e.do(logical.UpdateOperation, "config/rotate-root", nil); err == nil {
		t.Fatal("the cut-short rotation answered a success")
	}
	e.storage = inner
	now := e.rootNow()
	if now.ID == old.ID || len(e.walKeys()) != 1 {
		t.Fatalf("precondition: the config logs in with %s (old %s), %d WAL entries", now.ID, old.ID, len(e.walKeys()))
	}
	e.clock.Advance(walRollbackMinAge + time.Minute)
	e.rollback()
	if !e.rootNow().Live {
		t.Fatal("the rollback deleted the root in use")
	}
	e.clock.Advance(rootDrain(defaultConfig()))
	e.mustTick()
	if st, _ := e.sim.RootCredential(old.ID); !st.Deleted {
		t.Error("the old root was not retired and deleted")
	}
}

func TestConfigReadShowsWhenTheAitronosKeyWasSet(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{})
	e.configure(map[string]any{"aitronos_api_key": "ak_" + strings.Repeat("a", 40)})
	if got := e.mustDo(logical.ReadOperation, "config", nil).Data["aitronos_api_key_set_at"]; got == "" {
		t.Error("the config read does not say when the Aitronos key was set")
	}
}

// config/rotate-root runs where storage is writable: performance standbys
// and secondaries forward it.
func TestRotateRootIsForwarded(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{})
	for _, p := range e.b.Paths {
		if p.Pattern != "config/rotate-root$" {
			continue
		}
		op := p.Operations[logical.UpdateOperation].(*framework.PathOperation)
		if !op.ForwardPerformanceStandby || !op.ForwardPerformanceSecondary {
			t.Error("config/rotate-root is not forwarded to the active node")
		}
		return
	}
	t.Fatal("no config/rotate-root path")
}

// A crash after the switch, then a tick that re-reads the root, then another
// rotation, all before the first rotation's WAL entry is rolled back: the
// rollback still retires the root the first rotation replaced, and deletes
// nothing in use.
func TestRollbackAfterALaterRotationRetiresTheFirstOldRoot(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{})
	first := e.useRoot(upstreamsim.RootOptions{ExpiresIn: 30 * 24 * time.Hour}, nil)
	inner := e.storage
	e.storage = &crashingStorage{Storage: inner, key: rootStorageKey, n: 1}
	if _, err := e.do(logical.UpdateOperation, "config/rotate-root", nil); err == nil {
		t.Fatal("the cut-short rotation answered a success")
	}
	e.storage = inner
	e.clock.Advance(time.Minute)
	e.mustTick() // re-reads the root: the config holds the new one
	e.mustDo(logical.UpdateOperation, "config/rotate-root", nil)
	e.clock.Advance(walRollbackMinAge + time.Minute)
	e.rollback()
	e.clock.Advance(rootDrain(defaultConfig()))
	e.mustTick()
	current := e.rootNow()
	for _, st := range e.sim.RootCredentials() {
		if st.Live && st.ID != current.ID && st.ID != firstEnvRoot(e, first) {
			t.Errorf("root credential %s (%s) is left live", st.ID, st.DisplayName)
		}
	}
	if st, _ := e.sim.RootCredential(first.ID); !st.Deleted {
		t.Error("the root the first rotation replaced is still live")
	}
	if !current.Live {
		t.Error("the rollback deleted the root in use")
	}
}

// firstEnvRoot is the id of the client the test env registered before
// useRoot, which the engine never used as its root.
func firstEnvRoot(e *testEnv, used upstreamsim.RootCredentialState) string {
	for _, st := range e.sim.RootCredentials() {
		if st.ID != used.ID && !strings.HasPrefix(st.DisplayName, "vault-plugin-c1 root ") {
			return st.ID
		}
	}
	return ""
}
