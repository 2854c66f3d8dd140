package c1

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/lifecycle"
	"github.com/vault-plugin-c1/vault-plugin-c1/internal/upstreamsim"
)

// These tests drive the lifecycle through the paths and the periodic
// function against the simulator's faults, on the injected clock.

// waitUntil waits for cond, which another goroutine makes true; it never
// waits on time.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for !cond() {
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}

func TestUnknownOutcomeCreatesAreRecordedAndBackedOff(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 10 * time.Hour})
	first := e.configureAndRegister(map[string]any{"rotation_period": "1h"})
	// The upstream creates the credential, then the answer is lost (500).
	e.sim.InjectFault(upstreamsim.Fault{Op: upstreamsim.OpRotate, Status: http.StatusInternalServerError, Commit: true})
	e.clock.Advance(time.Hour)
	before := e.sim.Calls(upstreamsim.OpRotate)
	for range 4 {
		_ = e.tick()
		e.clock.Advance(lifecycle.Tick)
	}
	creates := e.sim.Calls(upstreamsim.OpRotate) - before
	if creates > 2 {
		t.Errorf("%d creates in 4 ticks of an ambiguous upstream, want at most 2", creates)
	}
	entry := e.connector()
	if entry.Current.ID != first {
		t.Error("the current credential changed")
	}
	status := e.mustDo(logical.ReadOperation, rotatePath, nil)
	if status.Data["unknown_outcome_creates"] != creates || creates == 0 {
		t.Errorf("status counts %v unknown creates, the upstream saw %d", status.Data["unknown_outcome_creates"], creates)
	}
	windows, _ := status.Data["unknown_outcome_windows"].([]map[string]any)
	if len(windows) != creates || windows[0]["from"] != formatTime(e.clock.Now().Add(-4*lifecycle.Tick)) {
		t.Errorf("windows %v", windows)
	}
	if status.Data["next_periodic_create"] == "" {
		t.Error("status does not say when the next periodic create comes")
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "[WARN]") || !strings.Contains(logs, "unknown outcome") || !strings.Contains(logs, testApp+"/"+testConnector) {
		t.Errorf("no WARN naming the connector and the window:\n%s", logs)
	}
	// Once the upstream answers again, the next periodic create succeeds and the backoff ends.
	e.sim.ClearFaults()
	e.clock.Advance(10 * lifecycle.Tick)
	e.mustTick()
	status = e.mustDo(logical.ReadOperation, rotatePath, nil)
	if e.connector().Current.ID == first || status.Data["next_periodic_create"] != "" || status.Data["unknown_outcome_creates"] != creates {
		t.Errorf("after recovery: current %s, status %v", e.connector().Current.ID, status.Data)
	}
}

func TestRevokePreviousThatFailsStillAnswersTheRotation(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 10 * time.Hour})
	leaked := e.configureAndRegister(map[string]any{"revoke_grace": "24h"})
	e.sim.InjectFault(upstreamsim.Fault{Op: upstreamsim.OpRevoke, Status: http.StatusInternalServerError})
	resp, err := e.do(logical.UpdateOperation, rotatePath, map[string]any{"revoke_previous": true})
	if err != nil {
		t.Fatalf("a rotation that succeeded answers an error: %v", err)
	}
	newID := e.connector().Current.ID
	if resp.Data["credential_id"] != newID || resp.Data["previous_credential_id"] != leaked || resp.Data["previous_revoked"] != false {
		t.Errorf("answer %v", resp.Data)
	}
	if len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], leaked) {
		t.Errorf("warnings %v do not name the credential still to revoke", resp.Warnings)
	}
	if st := e.connector().StateOf(leaked); st != lifecycle.StateRevokeNow {
		t.Errorf("the leaked credential is %v, want revoke-now", st)
	}
	// Retried on the next tick, without waiting for the 24h grace.
	e.sim.ClearFaults()
	e.clock.Advance(lifecycle.Tick)
	e.mustTick()
	if !e.revoked(leaked) {
		t.Error("the leaked credential is still valid upstream")
	}
	if e.revoked(newID) {
		t.Error("the new credential was revoked")
	}
}

func TestRevokeOneRetiringCredential(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 10 * time.Hour})
	first := e.configureAndRegister(map[string]any{"revoke_grace": "24h"})
	e.mustDo(logical.UpdateOperation, rotatePath, nil)
	second := e.connector().Current.ID

	_, err := e.do(logical.DeleteOperation, credsPath+"/"+second, nil)
	if statusOf(err) != http.StatusConflict || !strings.Contains(err.Error(), "rotate") {
		t.Errorf("revoking the current credential: status %d: %v", statusOf(err), err)
	}
	if _, err := e.do(logical.DeleteOperation, credsPath+"/nosuch", nil); statusOf(err) != http.StatusNotFound {
		t.Errorf("revoking an unknown credential: status %d: %v", statusOf(err), err)
	}

	e.sim.InjectFault(upstreamsim.Fault{Op: upstreamsim.OpRevoke, Status: http.StatusBadGateway, Count: 2})
	_, err = e.do(logical.DeleteOperation, credsPath+"/"+first, nil)
	if statusOf(err) != http.StatusBadGateway || !strings.Contains(err.Error(), "revoke-now") {
		t.Errorf("failed revoke: status %d: %v", statusOf(err), err)
	}
	if st := e.connector().StateOf(first); st != lifecycle.StateRevokeNow {
		t.Errorf("state %v, want revoke-now", st)
	}
	e.sim.ClearFaults()
	e.mustDo(logical.DeleteOperation, credsPath+"/"+first, nil)
	if !e.revoked(first) {
		t.Error("not revoked upstream")
	}
	if entry := e.connector(); len(entry.Retiring) != 0 || entry.Current.ID != second {
		t.Errorf("record after the revoke: current %s, retiring %d", entry.Current.ID, len(entry.Retiring))
	}
}

func TestNoGraceStillServesAValidCredential(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 4 * time.Minute})
	e.configure(map[string]any{"revoke_grace": 0})
	e.register(nil)
	// Due at 2m; the periodic run is late, however late.
	for _, at := range []time.Duration{2 * time.Minute, 2*time.Minute + 50*time.Second, 3*time.Minute + 30*time.Second} {
		e.clock.Advance(at - e.clock.Now().Sub(newTestClock().Now()))
		resp, err := e.do(logical.ReadOperation, credsPath, nil)
		if err != nil {
			t.Fatalf("at %v: a valid credential that nothing replaced is refused: %v", at, err)
		}
		if resp.Secret.TTL <= 0 {
			t.Errorf("at %v: TTL %v", at, resp.Secret.TTL)
		}
	}
	// The replaced credential is revoked only once that lease has ended.
	first := e.connector().Current.ID
	e.mustTick()
	if e.revoked(first) {
		t.Error("revoked while a lease for it runs")
	}
	e.clock.Advance(30 * time.Second)
	e.mustTick()
	if !e.revoked(first) {
		t.Error("not revoked once its lease ended")
	}
}

func TestRotationPeriodUnderTwoTicksIsRefused(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 10 * time.Hour})
	e.configureAndRegister(nil)
	for _, tc := range []struct {
		path string
		v    any
	}{{"config", 60}, {"config", "119s"}, {credsPath, "90s"}} {
		_, err := e.do(logical.UpdateOperation, tc.path, map[string]any{"rotation_period": tc.v})
		if statusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "rotation_period") {
			t.Errorf("%s rotation_period=%v: status %d: %v", tc.path, tc.v, statusOf(err), err)
		}
	}
	if e.connector().Overrides.RotationPeriod != nil {
		t.Error("a refused override was stored")
	}
	e.mustDo(logical.UpdateOperation, "config", map[string]any{"rotation_period": 0})
	e.mustDo(logical.UpdateOperation, credsPath, map[string]any{"rotation_period": "2m"})
}

func TestRetriedRegistrationCompletes(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 10 * time.Hour})
	e.configure(nil)
	inner := e.storage
	// The registration stores its credential, then fails to promote it.
	e.storage = &crashingStorage{Storage: inner, key: recordKey(lifecycle.Key{AppID: testApp, ConnectorID: testConnector}), n: 2}
	if _, err := e.do(logical.UpdateOperation, credsPath, nil); err == nil {
		t.Fatal("the registration did not fail")
	}
	e.storage = inner
	resp := e.register(nil)
	entry := e.connector()
	if entry.Current == nil || resp == nil || resp.Data["credential_id"] != entry.Current.ID {
		t.Fatalf("the retried registration did not complete: %v", resp)
	}
	if n := len(e.sim.Credentials(testApp, testConnector)); n != 1 {
		t.Errorf("%d credentials upstream, want the stored one promoted", n)
	}
	read := e.mustDo(logical.ReadOperation, credsPath, nil)
	if !e.sim.ValidCredential(read.Data["client_id"].(string), read.Data["client_secret"].(string)) {
		t.Error("the served credential does not work")
	}
	// The interrupted registration's WAL entry now finds its credential current.
	e.rollback()
	if entry := e.connector(); entry == nil || entry.Current == nil {
		t.Fatal("the rollback undid a completed registration")
	}
	if e.revoked(entry.Current.ID) {
		t.Error("the rollback revoked the current credential")
	}
}

func TestSweepHealsARecordWithoutACurrentCredential(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 10 * time.Hour})
	first := e.configureAndRegister(nil)
	k := lifecycle.Key{AppID: testApp, ConnectorID: testConnector}
	lose := func(keepPending bool) {
		t.Helper()
		if _, err := e.b.updateConnector(context.Background(), e.storage, k, func(c *lifecycle.Record) (*lifecycle.Record, error) {
			if keepPending {
				c.Pending = c.Current
			}
			c.Current = nil
			return c, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	// A stored, valid pending credential is made current.
	lose(true)
	e.mustTick()
	if c := e.connector().Current; c == nil || c.ID != first {
		t.Fatalf("not healed from the pending credential: %+v", c)
	}
	// Without one, a new credential is created.
	lose(false)
	e.mustTick()
	if c := e.connector().Current; c == nil || c.ID == first {
		t.Fatalf("not healed with a new credential: %+v", c)
	}
	e.mustDo(logical.ReadOperation, credsPath, nil)
}

func TestDeregistrationAndRegistrationTakeTurns(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 10 * time.Hour})
	e.configureAndRegister(nil)
	e.sim.InjectFault(upstreamsim.Fault{Op: upstreamsim.OpRevoke, Latency: time.Second, Count: 1})
	deleted := make(chan error, 1)
	go func() {
		_, err := e.do(logical.DeleteOperation, credsPath, nil)
		deleted <- err
	}()
	waitUntil(t, func() bool { return e.sim.Calls(upstreamsim.OpRevoke) > 0 })
	// A write while the delete is under way: it must not answer for a
	// record that the delete then removes.
	_, werr := e.do(logical.UpdateOperation, credsPath, map[string]any{"revoke_grace": "2h"})
	if err := <-deleted; err != nil {
		t.Fatal(err)
	}
	if werr == nil {
		entry := e.connector()
		if entry == nil || entry.Current == nil {
			t.Fatal("the write succeeded but the connector is not managed")
		}
		if e.revoked(entry.Current.ID) {
			t.Error("the connector serves a revoked credential")
		}
	}
}

func TestSweepFinishesADeregistration(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 10 * time.Hour})
	e.configureAndRegister(nil)
	e.mustDo(logical.UpdateOperation, rotatePath, nil)
	e.sim.InjectFault(upstreamsim.Fault{Op: upstreamsim.OpRevoke, Status: http.StatusInternalServerError})
	if _, err := e.do(logical.DeleteOperation, credsPath, nil); statusOf(err) != http.StatusBadGateway {
		t.Fatalf("status %d: %v", statusOf(err), err)
	}
	if _, err := e.do(logical.UpdateOperation, credsPath, nil); statusOf(err) != http.StatusConflict {
		t.Errorf("a write to a connector being deregistered: status %d: %v", statusOf(err), err)
	}
	if _, err := e.do(logical.UpdateOperation, rotatePath, nil); statusOf(err) != http.StatusConflict {
		t.Errorf("a rotation of a connector being deregistered: status %d: %v", statusOf(err), err)
	}
	e.sim.ClearFaults()
	e.mustTick()
	if e.connector() != nil {
		t.Error("the sweep did not finish the deregistration")
	}
	for _, c := range e.sim.Credentials(testApp, testConnector) {
		if !c.Revoked {
			t.Errorf("credential %s is still valid upstream", c.ID)
		}
	}
}

// barrierStorage holds every read of one key, once read, until two readers have arrived
// (or a while has passed), so two read-modify-writes overlap if nothing
// serializes them.
type barrierStorage struct {
	logical.Storage
	key  string
	mu   sync.Mutex
	n    int
	both chan struct{}
}

func (s *barrierStorage) Get(ctx context.Context, key string) (*logical.StorageEntry, error) {
	entry, err := s.Storage.Get(ctx, key)
	if key == s.key {
		s.mu.Lock()
		s.n++
		if s.n == 2 {
			close(s.both)
		}
		s.mu.Unlock()
		select {
		case <-s.both:
		case <-time.After(300 * time.Millisecond): // serialized: the other reader cannot come
		}
	}
	return entry, err
}

func TestConcurrentConfigWritesKeepEachOther(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{})
	e.configure(nil)
	barrier := &barrierStorage{Storage: e.storage, key: configStorageKey, both: make(chan struct{})}
	var wg sync.WaitGroup
	for _, data := range []map[string]any{{"revoke_grace": 120}, {"max_retries": 5}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := &logical.Request{Operation: logical.UpdateOperation, Path: "config", Data: data, Storage: barrier}
			if _, err := e.b.HandleRequest(context.Background(), req); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	cfg, err := getConfig(context.Background(), e.storage)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Policy.RevokeGrace != 2*time.Minute || cfg.MaxRetries != 5 {
		t.Errorf("a concurrent config write was lost: revoke_grace %v, max_retries %d", cfg.Policy.RevokeGrace, cfg.MaxRetries)
	}
}

func TestAitronosServesOnlyActiveConnections(t *testing.T) {
	e := newOAuthEnv(t, map[string]any{"aitronos_cache_ttl": 0})
	for status, word := range map[string]string{"REVOKED": "REVOKED", "": "no connection status", "paused": "PAUSED"} {
		e.sim.SetConnection(upstreamsim.Connection{ConnectionID: "conn_x", Status: status, AccessToken: testAccessToken,
			ExpiresAt: e.clock.Now().Add(time.Hour)})
		_, err := e.do(logical.ReadOperation, "oauth/by-connection/conn_x", nil)
		if statusOf(err) != http.StatusConflict || !strings.Contains(err.Error(), word) || !strings.Contains(err.Error(), "ACTIVE") {
			t.Errorf("status %q: %d: %v", status, statusOf(err), err)
		}
	}
	e.sim.SetConnection(upstreamsim.Connection{ConnectionID: "conn_x", Status: "active", AccessToken: testAccessToken,
		ExpiresAt: e.clock.Now().Add(time.Hour)})
	e.mustDo(logical.ReadOperation, "oauth/by-connection/conn_x", nil)
}

func TestOAuthReadHonoursTheCallersCancellation(t *testing.T) {
	e := newOAuthEnv(t, nil)
	e.sim.InjectFault(upstreamsim.Fault{Op: upstreamsim.OpAitronos, Latency: time.Second, Count: 1})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := e.b.HandleRequest(ctx, &logical.Request{
			Operation: logical.ReadOperation, Path: "oauth/by-connection/conn_abc", Storage: e.storage,
		})
		done <- err
	}()
	waitUntil(t, func() bool { return e.sim.Calls(upstreamsim.OpAitronos) > 0 })
	cancel()
	err := <-done
	if err == nil || !errors.Is(err, context.Canceled) && !strings.Contains(err.Error(), "canceled") {
		t.Errorf("a cancelled read answered %v", err)
	}
	if e.sim.Calls(upstreamsim.OpAitronos) != 1 {
		t.Error("the upstream was called again")
	}
}

// revoked reports whether credential id is revoked upstream.
func (e *testEnv) revoked(id string) bool {
	c, _ := e.sim.Credential(id)
	return c.Revoked
}

// mustTick runs the periodic function and fails the test on an error.
func (e *testEnv) mustTick() {
	e.t.Helper()
	if err := e.tick(); err != nil {
		e.t.Fatal(err)
	}
}

// rollback runs Vault's WAL rollback at once, whatever the entries' age.
func (e *testEnv) rollback() {
	e.t.Helper()
	if _, err := e.b.HandleRequest(context.Background(), &logical.Request{
		Operation: logical.RollbackOperation, Storage: e.storage, Data: map[string]any{"immediate": true},
	}); err != nil {
		e.t.Fatal(err)
	}
}

func TestWALEntriesAreLocal(t *testing.T) {
	b := newBackend(time.Now)
	if paths := b.SpecialPaths(); paths == nil || len(paths.LocalStorage) != 1 || paths.LocalStorage[0] != framework.WALPrefix {
		t.Errorf("local storage paths %v", paths)
	}
}

// crashBeforePromotion leaves a stored pending credential and its WAL entry.
func (e *testEnv) crashBeforePromotion() string {
	e.t.Helper()
	inner := e.storage
	e.storage = &crashingStorage{Storage: inner, key: recordKey(lifecycle.Key{AppID: testApp, ConnectorID: testConnector}), n: 2}
	if _, err := e.do(logical.UpdateOperation, rotatePath, nil); err == nil {
		e.t.Fatal("the rotation did not fail")
	}
	e.storage = inner
	return e.connector().Pending.ID
}

func TestRollbackDoesNothingWhereStorageIsNotWritable(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 10 * time.Hour})
	e.configureAndRegister(nil)
	pending := e.crashBeforePromotion()

	sys := logical.TestSystemView()
	sys.ReplicationStateVal = consts.ReplicationPerformanceStandby
	standby := newBackend(e.clock.Now)
	conf := logical.TestBackendConfig()
	conf.System = sys
	conf.StorageView = e.storage
	if err := standby.Setup(context.Background(), conf); err != nil {
		t.Fatal(err)
	}
	revokes := e.sim.Calls(upstreamsim.OpRevoke)
	_, _ = standby.HandleRequest(context.Background(), &logical.Request{
		Operation: logical.RollbackOperation, Storage: e.storage, Data: map[string]any{"immediate": true},
	})
	if e.sim.Calls(upstreamsim.OpRevoke) != revokes || len(e.walKeys()) != 1 || e.connector().Pending.ID != pending {
		t.Error("a node that cannot write storage rolled back")
	}
}

func TestRollbackGivesUpAfterADayNamingWhatItCouldNotUndo(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 100 * time.Hour})
	e.configureAndRegister(nil)
	pending := e.crashBeforePromotion()
	e.sim.InjectFault(upstreamsim.Fault{Op: upstreamsim.OpRevoke, Status: http.StatusInternalServerError})

	_, _ = e.b.HandleRequest(context.Background(), &logical.Request{
		Operation: logical.RollbackOperation, Storage: e.storage, Data: map[string]any{"immediate": true},
	})
	if len(e.walKeys()) != 1 {
		t.Fatal("a failed rollback dropped its entry within a day")
	}
	e.clock.Advance(walGiveUpAge)
	e.rollback()
	if len(e.walKeys()) != 0 {
		t.Error("the entry was not dropped after a day")
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "[ERROR]") || !strings.Contains(logs, pending) {
		t.Errorf("no ERROR naming the credential it could not revoke:\n%s", logs)
	}
	// Not forgotten: the credential is to be revoked on the next periodic runs.
	if st := e.connector().StateOf(pending); st != lifecycle.StateRevokeNow {
		t.Errorf("the never-promoted credential is %v, want revoke-now", st)
	}
	e.sim.ClearFaults()
	_ = e.tick()
	if !e.revoked(pending) {
		t.Error("the never-promoted credential is still valid upstream")
	}
}

// stripSecret removes the client secret from a rotate answer.
func stripSecret(body []byte) []byte {
	return regexp.MustCompile(`"clientSecret":"[^"]*",?`).ReplaceAll(body, nil)
}

func TestAnswerWithoutSecretIsRevokedByItsID(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 10 * time.Hour})
	first := e.configureAndRegister(nil)
	e.tamper.set("/api/v1/apps/connectors/credentials", stripSecret)
	_, err := e.do(logical.UpdateOperation, rotatePath, nil)
	creds := e.sim.Credentials(testApp, testConnector)
	if len(creds) != 2 {
		t.Fatalf("%d credentials upstream", len(creds))
	}
	made := creds[1]
	if err == nil || !strings.Contains(err.Error(), made.ID) {
		t.Errorf("the error does not name the credential: %v", err)
	}
	if !made.Revoked {
		t.Error("the credential without a usable secret is still valid upstream")
	}
	if entry := e.connector(); entry.Current.ID != first || len(entry.Retiring) != 0 {
		t.Errorf("record: current %s, retiring %d", entry.Current.ID, len(entry.Retiring))
	}

	// When its revoke fails too, it is kept as revoke-now and retried.
	e.sim.InjectFault(upstreamsim.Fault{Op: upstreamsim.OpRevoke, Status: http.StatusInternalServerError})
	_, err = e.do(logical.UpdateOperation, rotatePath, nil)
	made = e.sim.Credentials(testApp, testConnector)[2]
	if err == nil || !strings.Contains(err.Error(), made.ID) || !strings.Contains(err.Error(), "revoke-now") {
		t.Errorf("answer: %v", err)
	}
	e.sim.ClearFaults()
	e.clock.Advance(lifecycle.Tick)
	_ = e.tick()
	if !e.revoked(made.ID) {
		t.Error("the periodic function did not revoke it")
	}

	// A registration answered without a secret stores nothing and leaves nothing valid.
	e.sim.AddConnector(testApp, "conn2")
	if _, err := e.do(logical.UpdateOperation, "creds/"+testApp+"/conn2", nil); err == nil {
		t.Fatal("registered without a secret")
	}
	if c := e.sim.Credentials(testApp, "conn2"); len(c) != 1 || !c[0].Revoked {
		t.Errorf("registration's credential: %+v", c)
	}
}

func TestHelpSaysDisablingTheMountRevokesNothing(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{})
	for _, path := range []string{"", credsPath} {
		resp, err := e.b.HandleRequest(context.Background(), &logical.Request{Operation: logical.HelpOperation, Path: path, Storage: e.storage})
		if err != nil {
			t.Fatal(err)
		}
		help, _ := resp.Data["help"].(string)
		if !strings.Contains(help, "secrets disable") || !strings.Contains(help, "Delete every connector first") {
			t.Errorf("help of %q does not give the safe order before disabling the mount", path)
		}
	}
}

func TestRegistrationInDoubtIsShownAndCompletedByRegisteringAgain(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 10 * time.Hour})
	e.configure(nil)
	// The upstream creates the first credential, then the answer is lost.
	e.sim.InjectFault(upstreamsim.Fault{Op: upstreamsim.OpRotate, Status: http.StatusInternalServerError, Commit: true})
	if _, err := e.do(logical.UpdateOperation, credsPath, nil); err == nil || !strings.Contains(err.Error(), "outcome is unknown") {
		t.Fatalf("registration against an ambiguous upstream: %v", err)
	}
	e.sim.ClearFaults()

	// The rotate/ status says where the stray credential may be.
	status := e.mustDo(logical.ReadOperation, rotatePath, nil)
	windows, _ := status.Data["unknown_outcome_windows"].([]map[string]any)
	if status.Data["unknown_outcome_creates"] != 1 || len(windows) != 1 || status.Data["current_credential_id"] != "" ||
		status.Data["next_periodic_create"] != "" {
		t.Fatalf("status of the registration in doubt: %v", status.Data)
	}
	// A read says to register again; the sweep creates nothing on its own.
	if _, err := e.do(logical.ReadOperation, credsPath, nil); statusOf(err) != http.StatusServiceUnavailable ||
		!strings.Contains(err.Error(), "write creds/"+testApp+"/"+testConnector+" again") {
		t.Errorf("creds read of a registration in doubt: %v", err)
	}
	before := e.sim.Calls(upstreamsim.OpRotate)
	e.clock.Advance(lifecycle.Tick)
	e.mustTick()
	if n := e.sim.Calls(upstreamsim.OpRotate) - before; n != 0 {
		t.Errorf("the sweep made %d creates for a registration in doubt", n)
	}
	// Registering again takes the create capability and this request's overrides.
	req := &logical.Request{Operation: logical.UpdateOperation, Path: credsPath, Storage: e.storage}
	if _, exists, err := e.b.HandleExistenceCheck(context.Background(), req); err != nil || exists {
		t.Errorf("existence check of a registration in doubt: exists %v, %v; want a create", exists, err)
	}
	e.register(map[string]any{"revoke_grace": "2h"})
	entry := e.connector()
	if entry.Current == nil || entry.Overrides.RevokeGrace == nil || *entry.Overrides.RevokeGrace != 2*time.Hour {
		t.Fatalf("the second registration did not complete with its overrides: %+v", entry)
	}
	e.mustDo(logical.ReadOperation, credsPath, nil)
	if status := e.mustDo(logical.ReadOperation, rotatePath, nil); status.Data["unknown_outcome_creates"] != 1 {
		t.Errorf("the completed registration forgot the create in doubt: %v", status.Data["unknown_outcome_creates"])
	}
}

func TestRegistrationInDoubtCanBeDeleted(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 10 * time.Hour})
	e.configure(nil)
	e.sim.InjectFault(upstreamsim.Fault{Op: upstreamsim.OpRotate, Status: http.StatusInternalServerError, Commit: true})
	if _, err := e.do(logical.UpdateOperation, credsPath, nil); err == nil {
		t.Fatal("the registration did not fail")
	}
	e.mustDo(logical.DeleteOperation, credsPath, nil)
	if e.connector() != nil {
		t.Error("the record of the registration in doubt is still stored")
	}
}
