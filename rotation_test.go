package c1

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/c1api"
	"github.com/vault-plugin-c1/vault-plugin-c1/internal/lifecycle"
	"github.com/vault-plugin-c1/vault-plugin-c1/internal/upstreamsim"
)

func TestRotationFailureKeepsTheCurrentCredentialAndRecordsTheError(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 10 * time.Hour})
	first := e.configureAndRegister(nil)
	e.sim.InjectFault(upstreamsim.Fault{Op: "rotate", Status: http.StatusBadGateway})
	_, err := e.do(logical.UpdateOperation, rotatePath, nil)
	if statusOf(err) != http.StatusBadGateway || !strings.Contains(err.Error(), "502") {
		t.Fatalf("status %d: %v", statusOf(err), err)
	}
	entry := e.connector()
	if entry.Current.ID != first || entry.Pending != nil || len(entry.Retiring) != 0 {
		t.Error("a failed rotation changed the stored credentials")
	}
	if entry.LastError == "" {
		t.Error("the failure is not recorded")
	}
	if wal := e.walKeys(); len(wal) != 0 {
		t.Errorf("WAL entries left: %v", wal)
	}
	e.sim.ClearFaults()
	e.mustDo(logical.UpdateOperation, rotatePath, nil)
	if e.connector().LastError != "" {
		t.Error("a successful rotation does not clear the last error")
	}
}

func TestUpstreamFaultsAreRetried(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 10 * time.Hour})
	e.configure(map[string]any{"max_retries": 2})
	e.sim.InjectFault(upstreamsim.Fault{Op: "rotate", Status: http.StatusTooManyRequests, RetryAfter: "0", Count: 2})
	e.register(nil)
	if n := e.sim.Calls("rotate"); n != 3 {
		t.Errorf("rotate calls = %d, want 2 refused then 1 served", n)
	}
}

// crashingStorage fails the nth write of one key, as a crash at that point would leave things.
type crashingStorage struct {
	logical.Storage
	key string
	n   int

	mu     sync.Mutex
	writes int
}

func (s *crashingStorage) Put(ctx context.Context, entry *logical.StorageEntry) error {
	if entry.Key == s.key {
		s.mu.Lock()
		s.writes++
		crash := s.writes == s.n
		s.mu.Unlock()
		if crash {
			return context.Canceled
		}
	}
	return s.Storage.Put(ctx, entry)
}

func TestStoreFailureRevokesTheUnstoredCredential(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 10 * time.Hour})
	e.configure(nil)
	e.register(nil)
	inner := e.storage
	e.storage = &crashingStorage{Storage: inner, key: recordKey(lifecycle.Key{AppID: testApp, ConnectorID: testConnector}), n: 1}
	if _, err := e.do(logical.UpdateOperation, rotatePath, nil); err == nil {
		t.Fatal("the rotation did not fail")
	}
	e.storage = inner
	creds := e.sim.Credentials(testApp, testConnector)
	if len(creds) != 2 || !creds[1].Revoked || creds[0].Revoked {
		t.Errorf("the credential whose secret could not be stored is not revoked: %+v", creds)
	}
	if len(e.walKeys()) != 0 {
		t.Error("WAL entry left")
	}
}

func TestConcurrentRotationsMakeOneCredential(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 10 * time.Hour})
	e.configure(nil)
	e.register(nil)
	// Slow the upstream so that every call arrives while the first is under way
	// (the upstream takes its time; the test waits on nothing but the calls).
	e.sim.InjectFault(upstreamsim.Fault{Op: "rotate", Latency: time.Second})

	const callers = 8
	var wg sync.WaitGroup
	start := make(chan struct{})
	ids := make([]any, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resp, err := e.do(logical.UpdateOperation, rotatePath, nil)
			errs[i] = err
			if resp != nil {
				ids[i] = resp.Data["credential_id"]
			}
		}()
	}
	close(start)
	wg.Wait()
	for i := range callers {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if ids[i] != ids[0] {
			t.Errorf("caller %d got credential %v, caller 0 %v", i, ids[i], ids[0])
		}
	}
	if n := len(e.sim.Credentials(testApp, testConnector)); n != 2 {
		t.Errorf("upstream has %d credentials, want the first and one rotation", n)
	}
}

func TestConcurrentRegistrationsMakeOneCredential(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 10 * time.Hour})
	e.configure(nil)
	e.sim.InjectFault(upstreamsim.Fault{Op: "rotate", Latency: 200 * time.Millisecond})
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if _, err := e.do(logical.UpdateOperation, credsPath, nil); err != nil {
				t.Error(err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if n := len(e.sim.Credentials(testApp, testConnector)); n != 1 {
		t.Errorf("concurrent registrations made %d credentials upstream", n)
	}
}

func TestUnknownOutcomeCreatesAreRecordedAndBackedOff(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 10 * time.Hour})
	first := e.configureAndRegister(map[string]any{"connector_rotation_period": "1h"})
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

// A lost storage acknowledgement does not revive a revoked credential: the
// registration's write of its pending credential reaches storage but reports
// a failure, the engine revokes the credential, and registering again never
// promotes or serves it.
func TestARevokedPendingCredentialIsNeverPromoted(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 10 * time.Hour})
	e.configure(nil)
	plain := e.storage
	e.storage = &recordPutFault{Storage: plain, n: 1, applied: true}
	_, err := e.do(logical.UpdateOperation, credsPath, nil)
	e.storage = plain
	if err == nil {
		t.Fatal("precondition: the registration whose write was reported failed succeeded")
	}
	made := e.sim.Credentials(testApp, testConnector)
	if len(made) != 1 || !made[0].Revoked {
		t.Fatalf("precondition: want the one credential created revoked upstream, have %+v", made)
	}
	revoked := made[0].ID

	resp, err := e.do(logical.UpdateOperation, credsPath, nil)
	if err == nil && resp != nil && resp.Data["credential_id"] == revoked {
		t.Errorf("registering again made credential %s current, which the engine itself revoked upstream", revoked)
	}
	read, err := e.do(logical.ReadOperation, credsPath, nil)
	if err != nil {
		return // nothing served
	}
	id, _ := read.Data["credential_id"].(string)
	clientID, _ := read.Data["client_id"].(string)
	secret, _ := read.Data["client_secret"].(string)
	if id == revoked || !e.sim.ValidCredential(clientID, secret) {
		t.Errorf("creds read serves credential %s (revoked upstream: %v); the revoked credential must never be served",
			id, e.revoked(id))
	}
}

// A registration that completes one cut short after its credential was
// stored (the promote failed) applies its own overrides.
func TestCompletingRegistrationAppliesItsOverrides(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: upstreamsim.NoExpiry})
	e.configure(nil)
	plain := e.storage
	// The pending credential is stored (first write); the promote is not (second).
	e.storage = &recordPutFault{Storage: plain, n: 2}
	_, err := e.do(logical.UpdateOperation, credsPath, nil)
	e.storage = plain
	if err == nil {
		t.Fatal("precondition: the registration whose promote failed succeeded")
	}
	if _, err := e.do(logical.UpdateOperation, credsPath, map[string]any{"revoke_grace": "2h", "rotation_period": "3h"}); err != nil {
		t.Fatalf("the second registration failed: %v", err)
	}
	st := rotateStatus(e)
	if fmt.Sprint(st["revoke_grace"]) != "7200" || fmt.Sprint(st["rotation_period"]) != "10800" {
		t.Errorf("after the completing registration with revoke_grace=2h and rotation_period=3h the status says "+
			"revoke_grace %v, rotation_period %v; want 7200 and 10800", st["revoke_grace"], st["rotation_period"])
	}
}

// outsideCredential creates a credential of connector app/conn upstream as
// an operator would, outside Vault, and returns it with its secret.
func (e *testEnv) outsideCredential(app, conn string) *c1api.Credential {
	e.t.Helper()
	c, err := c1api.New(c1api.Config{ServerURL: e.url, ClientID: e.clientID, ClientSecret: e.clientSecret, Now: e.clock.Now})
	if err != nil {
		e.t.Fatal(err)
	}
	cred, err := c.RotateCredential(context.Background(), app, conn)
	if err != nil {
		e.t.Fatal(err)
	}
	return cred
}

func adoptData(c *c1api.Credential) map[string]any {
	return map[string]any{"credential_id": c.ID, "client_id": c.ClientID, "client_secret": c.ClientSecret}
}

func TestAdoptTakesOverAnExistingCredential(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 48 * time.Hour})
	e.configure(map[string]any{"revoke_grace": "10m", "verify_interval": 0})
	outside := e.outsideCredential(testApp, testConnector)
	creates := e.sim.Calls(upstreamsim.OpRotate)
	resp := e.mustDo(logical.UpdateOperation, credsPath, adoptData(outside))
	if e.sim.Calls(upstreamsim.OpRotate) != creates {
		t.Fatal("adopting created a credential upstream")
	}
	for k, v := range resp.Data {
		if strings.Contains(fmt.Sprint(v), outside.ClientSecret) {
			t.Errorf("the answer's %s carries the secret", k)
		}
	}
	if resp.Data["credential_id"] != outside.ID || resp.Data["adopted_at"] == "" {
		t.Fatalf("answer %v", resp.Data)
	}
	read := e.mustDo(logical.ReadOperation, credsPath, nil)
	if read.Data["credential_id"] != outside.ID || read.Data["client_secret"] != outside.ClientSecret {
		t.Fatalf("the read serves %v", read.Data["credential_id"])
	}
	if end := e.clock.Now().Add(read.Secret.TTL); end.After(outside.ExpiresTime) {
		t.Errorf("the lease ends %s, after the adopted credential expires %s", end, outside.ExpiresTime)
	}
	st := e.mustDo(logical.ReadOperation, rotatePath, nil)
	if st.Data["current_adopted"] != true || st.Data["current_adopted_at"] == "" {
		t.Errorf("the status does not say the credential was adopted: %v %v", st.Data["current_adopted"], st.Data["current_adopted_at"])
	}
	// From then on it is like any other: rotated, then revoked once its
	// grace has passed and the lease issued for it has ended.
	e.mustDo(logical.UpdateOperation, rotatePath, nil)
	retired := e.connector().Find(outside.ID)
	if e.connector().StateOf(outside.ID) != lifecycle.StateRetiring || e.revoked(outside.ID) {
		t.Fatal("the adopted credential is not retiring after the rotation")
	}
	if end := e.clock.Now().Add(read.Secret.TTL); retired.RevokeAt.Before(end) {
		t.Errorf("its revocation at %s comes before the end of its lease %s", retired.RevokeAt, end)
	}
	e.clock.Advance(retired.RevokeAt.Sub(e.clock.Now()) - time.Minute)
	e.mustTick()
	if e.revoked(outside.ID) {
		t.Fatal("the adopted credential was revoked before its lease ended")
	}
	e.clock.Advance(2 * time.Minute)
	e.mustTick()
	if !e.revoked(outside.ID) {
		t.Error("the adopted credential was not revoked once its lease ended")
	}
}

func TestAdoptRefusesBadInputAndStoresNothing(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 48 * time.Hour})
	e.configure(map[string]any{"max_retries": 0, "verify_interval": 0})
	e.sim.AddConnector(testApp, "other")
	good := e.outsideCredential(testApp, testConnector)
	otherConn := e.outsideCredential(testApp, "other")
	deleted := e.outsideCredential(testApp, testConnector)
	e.sim.RevokeOutOfBand(deleted.ID)
	another := e.outsideCredential(testApp, testConnector)
	with := func(edit func(map[string]any)) map[string]any {
		d := adoptData(good)
		edit(d)
		return d
	}
	creates := e.sim.Calls(upstreamsim.OpRotate)
	for _, tc := range []struct {
		name   string
		data   map[string]any
		status int
		field  string
	}{
		{"a secret that does not parse", with(func(d map[string]any) { d["client_secret"] = "secret-token:x:v1:notakey" }), 400, "client_secret"},
		{"a secret of another key", with(func(d map[string]any) { d["client_secret"] = otherConn.ClientSecret }), 400, "client_secret"},
		{"a client id that does not parse", with(func(d map[string]any) { d["client_id"] = "no-at-sign" }), 400, "client_id"},
		{"an unknown credential id", with(func(d map[string]any) { d["credential_id"] = "nosuchcredential" }), 400, "credential_id"},
		{"another connector's credential", adoptData(otherConn), 400, "credential_id"},
		{"a deleted credential", adoptData(deleted), 400, "credential_id"},
		{"a client id that differs", with(func(d map[string]any) { d["credential_id"] = another.ID }), 400, "client_id"},
		{"client_secret missing", with(func(d map[string]any) { delete(d, "client_secret") }), 400, "client_secret"},
		{"replace_current alone", map[string]any{"replace_current": true}, 400, "replace_current"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.do(logical.UpdateOperation, credsPath, tc.data)
			if statusOf(err) != tc.status || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("status %d, error %v; want a %d naming %s", statusOf(err), err, tc.status, tc.field)
			}
			if secret, _ := tc.data["client_secret"].(string); secret != "" && strings.Contains(err.Error(), secret) {
				t.Error("the error quotes the secret")
			}
			if e.connector() != nil {
				t.Fatal("a record was stored")
			}
		})
	}
	// An expired credential.
	e.clock.Advance(49 * time.Hour)
	if _, err := e.do(logical.UpdateOperation, credsPath, adoptData(good)); statusOf(err) != 400 ||
		!strings.Contains(err.Error(), "credential_id") && !strings.Contains(err.Error(), "client_secret") {
		t.Errorf("an expired credential: %v", err)
	}
	// The upstream could not be asked: a 502, nothing stored.
	fresh := e.outsideCredential(testApp, testConnector)
	e.sim.InjectFault(upstreamsim.Fault{Op: upstreamsim.OpGet, Status: 500, Count: 1})
	if _, err := e.do(logical.UpdateOperation, credsPath, adoptData(fresh)); statusOf(err) != http.StatusBadGateway {
		t.Errorf("an upstream that fails: %v, want a 502", err)
	}
	if e.connector() != nil {
		t.Error("a record was stored")
	}
	if got := e.sim.Calls(upstreamsim.OpRotate); got != creates+1 {
		t.Errorf("%d creates upstream besides the test's own", got-creates-1)
	}
}

func TestAdoptOntoAManagedConnector(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 48 * time.Hour})
	first := e.configureAndRegister(map[string]any{"revoke_grace": "10m", "verify_interval": 0})
	outside := e.outsideCredential(testApp, testConnector)
	_, err := e.do(logical.UpdateOperation, credsPath, adoptData(outside))
	if statusOf(err) != http.StatusConflict || !strings.Contains(err.Error(), "replace_current") {
		t.Fatalf("adopting onto a managed connector: %v, want a 409 naming replace_current", err)
	}
	if e.connector().Current.ID != first {
		t.Fatal("the refused adoption changed the record")
	}
	data := adoptData(outside)
	data["replace_current"] = true
	resp := e.mustDo(logical.UpdateOperation, credsPath, data)
	rec := e.connector()
	if rec.Current.ID != outside.ID || rec.StateOf(first) != lifecycle.StateRetiring || resp.Data["previous_credential_id"] != first {
		t.Fatalf("after replacing: current %s, the replaced one %v, answer %v", rec.Current.ID, rec.StateOf(first), resp.Data)
	}
	e.clock.Advance(11 * time.Minute)
	e.mustTick()
	if !e.revoked(first) {
		t.Error("the replaced credential was not revoked like a rotated one")
	}
}
