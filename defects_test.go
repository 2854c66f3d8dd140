package c1

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/upstreamsim"
)

// Regression tests for known defects. Each drives the engine through
// requests, ticks, rollbacks and the simulator, and asserts on answers, the
// rotate/ status read and the simulator's view of the credentials. They fail
// on the code they were written against; each one's comment names the defect.
//
// Interleavings are made deterministic without sleeps on time: storage
// wrappers run a write inside a read, the test env's answer tamper holds an
// upstream answer until released, and the tests that need another request to
// be waiting for a lock look for its goroutine parked on a sync.Mutex or
// sync.RWMutex in the goroutine dump (waitingForLock).

// ---- helpers ----

// registerWith writes a working config (plus extra fields), registers the
// test connector and returns the id of its first credential, as the
// registration answered it.
func registerWith(e *testEnv, config map[string]any) string {
	e.t.Helper()
	e.configure(config)
	resp := e.register(nil)
	id, _ := resp.Data["credential_id"].(string)
	if id == "" {
		e.t.Fatalf("the registration answered no credential id: %v", resp.Data)
	}
	return id
}

// rotateStatus reads the rotate/ status of the test connector.
func rotateStatus(e *testEnv) map[string]any {
	e.t.Helper()
	return e.mustDo(logical.ReadOperation, rotatePath, nil).Data
}

// heldIDs are the credentials a rotate/ status says the engine holds:
// the current one and the retiring ones.
func heldIDs(st map[string]any) map[string]bool {
	held := map[string]bool{}
	if id, _ := st["current_credential_id"].(string); id != "" {
		held[id] = true
	}
	ids, _ := st["retiring_credential_ids"].([]string)
	for _, id := range ids {
		held[id] = true
	}
	return held
}

// liveUnmanaged are the test connector's credentials that still work
// upstream but that the engine no longer holds.
func liveUnmanaged(e *testEnv) []string {
	e.t.Helper()
	held := heldIDs(rotateStatus(e))
	var out []string
	for _, c := range e.sim.Credentials(testApp, testConnector) {
		if c.Live && !held[c.ID] {
			out = append(out, c.ID)
		}
	}
	return out
}

// mentions reports whether the status says word: a string value holding it,
// or a field named with it whose value is set.
func mentions(v any, word string) bool {
	switch v := v.(type) {
	case string:
		return strings.Contains(strings.ToLower(v), word)
	case map[string]any:
		for k, x := range v {
			if strings.Contains(strings.ToLower(k), word) && set(x) {
				return true
			}
			if mentions(x, word) {
				return true
			}
		}
	case []map[string]any:
		for _, x := range v {
			if mentions(x, word) {
				return true
			}
		}
	case []any:
		for _, x := range v {
			if mentions(x, word) {
				return true
			}
		}
	}
	return false
}

// set reports whether a status value is set (true, non-empty, non-zero).
func set(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case bool:
		return v
	case string:
		return v != ""
	}
	return fmt.Sprint(v) != "0"
}

// isRecordKey reports whether a storage key holds the test connector's
// record (not a WAL entry).
func isRecordKey(key string) bool {
	return strings.Contains(key, testConnector) && !strings.HasPrefix(key, framework.WALPrefix)
}

// recordPutFault fails the nth write of the test connector's record. With
// applied set the write reaches storage first and only its acknowledgement
// is lost; without, nothing is written (a crash before the write).
type recordPutFault struct {
	logical.Storage
	n       int
	applied bool

	mu   sync.Mutex
	puts int
}

func (s *recordPutFault) Put(ctx context.Context, entry *logical.StorageEntry) error {
	if isRecordKey(entry.Key) {
		s.mu.Lock()
		s.puts++
		hit := s.puts == s.n
		s.mu.Unlock()
		if hit {
			if s.applied {
				if err := s.Storage.Put(ctx, entry); err != nil {
					return err
				}
			}
			return errors.New("storage: the write's acknowledgement was lost")
		}
	}
	return s.Storage.Put(ctx, entry)
}

// walDeleteFault fails every deletion of a WAL entry.
type walDeleteFault struct{ logical.Storage }

func (s *walDeleteFault) Delete(ctx context.Context, key string) error {
	if strings.HasPrefix(key, framework.WALPrefix) {
		return errors.New("storage: the deletion was lost")
	}
	return s.Storage.Delete(ctx, key)
}

// firstAccessHook runs fn once, right after the first read or list that
// reaches storage has read it (so that read returns what was there before fn).
type firstAccessHook struct {
	logical.Storage
	once sync.Once
	fn   func()
}

func (s *firstAccessHook) Get(ctx context.Context, key string) (*logical.StorageEntry, error) {
	entry, err := s.Storage.Get(ctx, key)
	s.once.Do(s.fn)
	return entry, err
}

func (s *firstAccessHook) List(ctx context.Context, prefix string) ([]string, error) {
	keys, err := s.Storage.List(ctx, prefix)
	s.once.Do(s.fn)
	return keys, err
}

// getHook runs fn once, right after a read of key has read storage and
// before it returns the value it read.
type getHook struct {
	logical.Storage
	key  string
	once sync.Once
	fn   func()
}

func (s *getHook) Get(ctx context.Context, key string) (*logical.StorageEntry, error) {
	entry, err := s.Storage.Get(ctx, key)
	if key == s.key {
		s.once.Do(s.fn)
	}
	return entry, err
}

// writeRecorder records the keys written or deleted through it, as Vault
// notes what another node wrote in order to invalidate it here.
type writeRecorder struct {
	logical.Storage
	mu   sync.Mutex
	keys []string
}

func (s *writeRecorder) Put(ctx context.Context, entry *logical.StorageEntry) error {
	s.note(entry.Key)
	return s.Storage.Put(ctx, entry)
}

func (s *writeRecorder) Delete(ctx context.Context, key string) error {
	s.note(key)
	return s.Storage.Delete(ctx, key)
}

func (s *writeRecorder) note(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Contains(s.keys, key) {
		s.keys = append(s.keys, key)
	}
}

// take returns the keys written since the last take.
func (s *writeRecorder) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := s.keys
	s.keys = nil
	return keys
}

// waitFor polls cond, which other goroutines make true; it gives up (and
// fails the test) only after a long real-time guard, so a test never hangs.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	guard := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(guard) {
			t.Fatalf("gave up waiting for %s", what)
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}

// lockWait matches the header of a goroutine's stack while it is parked
// waiting for a sync.Mutex or sync.RWMutex, and lockFrame the frame of that
// wait (the runtime's bare "semacquire" state is left out: it is also shown
// for waits of the runtime's own).
var (
	lockWait  = regexp.MustCompile(`^goroutine \d+ \[sync\.(Mutex\.Lock|RWMutex\.R?Lock)`)
	lockFrame = regexp.MustCompile(`\nsync\.\(\*(Mutex|RWMutex)\)\.R?Lock\(`)
)

// goroutineStacks are the stacks of every goroutine.
func goroutineStacks() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Split(string(buf[:n]), "\n\n")
		}
		buf = make([]byte, 2*len(buf))
	}
}

// waitingForLock counts the goroutines that wait for a sync lock in the
// engine's code and whose stack holds want and none of skip.
func waitingForLock(want string, skip ...string) int {
	n := 0
next:
	for _, g := range goroutineStacks() {
		if !lockWait.MatchString(g) || !lockFrame.MatchString(g) || !strings.Contains(g, "vault-plugin-c1") || !strings.Contains(g, want) {
			continue
		}
		for _, s := range skip {
			if strings.Contains(g, s) {
				continue next
			}
		}
		n++
	}
	return n
}

// waitingRotate sends a rotation request; its frame marks the goroutine
// that waits in it.
//
//go:noinline
func waitingRotate(e *testEnv, data map[string]any) (*logical.Response, error) {
	return e.do(logical.UpdateOperation, rotatePath, data)
}

// concurrentConfigWrite writes config through storage s; its frame marks the
// goroutine that waits in it.
//
//go:noinline
func concurrentConfigWrite(e *testEnv, s logical.Storage, data map[string]any) error {
	resp, err := e.b.HandleRequest(context.Background(), &logical.Request{
		Operation: logical.UpdateOperation, Path: "config", Data: data, Storage: s,
	})
	if err == nil && resp != nil && resp.IsError() {
		err = resp.Error()
	}
	return err
}

// withDeletedAt rewrites a credential answer to carry deletedAt at; any other
// answer passes unchanged.
func withDeletedAt(at time.Time) func([]byte) []byte {
	return func(body []byte) []byte {
		var ans map[string]any
		if json.Unmarshal(body, &ans) != nil {
			return body
		}
		cred, ok := ans["credential"].(map[string]any)
		if !ok {
			return body
		}
		cred["deletedAt"] = at.UTC().Format(time.RFC3339)
		out, err := json.Marshal(ans)
		if err != nil {
			return body
		}
		return out
	}
}

// ---- tests ----

// Defect 1: a credential known to be dead is served. The sweep finds the
// current credential revoked upstream, its replacement's create fails, and
// creds reads go on serving the revoked credential with a full lease.
func TestDefect1RevokedCurrentCredentialIsNotServed(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: upstreamsim.NoExpiry})
	first := registerWith(e, map[string]any{"rotation_period": "24h", "verify_interval": "10m"})
	e.sim.RevokeOutOfBand(first)
	e.sim.InjectFault(upstreamsim.Fault{Op: upstreamsim.OpRotate, Status: http.StatusForbidden})
	creates := e.sim.Calls(upstreamsim.OpRotate)
	// Within one verify interval (plus a tick) the check falls due, finds the
	// credential revoked and tries to replace it.
	for i := 0; i < 11 && e.sim.Calls(upstreamsim.OpRotate) == creates; i++ {
		e.clock.Advance(time.Minute)
		_ = e.tick() // the failed replacement makes the tick fail
	}
	if e.sim.Calls(upstreamsim.OpRotate) == creates {
		t.Fatal("precondition: the sweep never tried to replace the credential revoked upstream")
	}
	resp, err := e.do(logical.ReadOperation, credsPath, nil)
	if err == nil {
		ttl := time.Duration(0)
		if resp.Secret != nil {
			ttl = resp.Secret.TTL
		}
		t.Fatalf("creds read served credential %v (revoked upstream: %v) with a %v lease; "+
			"want a 503 saying it was revoked upstream and a replacement is being made",
			resp.Data["credential_id"], e.revoked(first), ttl)
	}
	msg := strings.ToLower(err.Error())
	if statusOf(err) != http.StatusServiceUnavailable || !strings.Contains(msg, "revoked") || !strings.Contains(msg, "replac") {
		t.Errorf("creds read: status %d: %v; want a 503 saying the credential was revoked upstream and a replacement is being made",
			statusOf(err), err)
	}
}

// Defect 2a: a transient 404 on the GET of a retiring credential makes the
// engine forget it without ever revoking it.
func TestDefect2aTransient404DoesNotForgetARetiringCredentialUnrevoked(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: upstreamsim.NoExpiry})
	first := registerWith(e, map[string]any{"revoke_grace": "10m", "rotation_period": "24h", "verify_interval": 0})
	e.mustDo(logical.UpdateOperation, rotatePath, nil)
	e.clock.Advance(10 * time.Minute) // its revocation is due
	e.sim.InjectFault(upstreamsim.Fault{Op: upstreamsim.OpGet, Status: http.StatusNotFound, Count: 1})
	revokes := e.sim.Calls(upstreamsim.OpRevoke)
	for i := range 3 {
		_ = e.tick()
		if !heldIDs(rotateStatus(e))[first] && !e.revoked(first) {
			t.Fatalf("tick %d: retiring credential %s left the record but is still valid upstream "+
				"(%d revoke calls since the 404); a 404 on a GET alone must not make it gone",
				i+1, first, e.sim.Calls(upstreamsim.OpRevoke)-revokes)
		}
		e.clock.Advance(time.Minute)
	}
	if !e.revoked(first) {
		t.Errorf("retiring credential %s is still valid upstream after its revocation came due", first)
	}
}

// Defect 2b: a GET answering a deletedAt in the future makes the engine
// forget a retiring credential that still works.
func TestDefect2bFutureDeletedAtIsNotGone(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: upstreamsim.NoExpiry})
	first := registerWith(e, map[string]any{"revoke_grace": "10m", "rotation_period": "24h", "verify_interval": 0})
	e.mustDo(logical.UpdateOperation, rotatePath, nil)
	// The upstream reports a deletion scheduled a day from now.
	e.tamper.set("/api/v1/apps/"+testApp+"/connectors/"+testConnector+"/credentials/"+first,
		withDeletedAt(e.clock.Now().Add(24*time.Hour)))
	e.clock.Advance(10 * time.Minute) // its revocation is due
	gets := e.sim.Calls(upstreamsim.OpGet)
	for i := range 3 {
		_ = e.tick()
		if !heldIDs(rotateStatus(e))[first] && !e.revoked(first) {
			t.Fatalf("tick %d: retiring credential %s, whose deletedAt lies in the future, left the record "+
				"but is still valid upstream (%d GETs)", i+1, first, e.sim.Calls(upstreamsim.OpGet)-gets)
		}
		e.clock.Advance(time.Minute)
	}
	if !e.revoked(first) {
		t.Errorf("retiring credential %s is still valid upstream after its revocation came due", first)
	}
}

// Defect 2c: a 404 that persists for every GET (say the engine's token may
// not read credentials) mints a credential at every verify interval and
// forgets each one replaced, unrevoked.
func TestDefect2cPersistent404SuspendsVerificationInsteadOfMinting(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: upstreamsim.NoExpiry})
	registerWith(e, map[string]any{"revoke_grace": "10m", "rotation_period": "24h", "verify_interval": "10m"})
	e.sim.InjectFault(upstreamsim.Fault{Op: upstreamsim.OpGet, Status: http.StatusNotFound})
	creates := e.sim.Calls(upstreamsim.OpRotate)
	for range 60 {
		e.clock.Advance(time.Minute)
		_ = e.tick()
	}
	made := e.sim.Calls(upstreamsim.OpRotate) - creates
	st := rotateStatus(e)
	live := liveUnmanaged(e)
	if made > 1 {
		t.Errorf("%d creates in an hour of 404s on every GET; want at most one out-of-band replacement, "+
			"then verification suspended", made)
	}
	if !mentions(st, "suspend") {
		t.Errorf("the rotate/ status does not say verification is suspended (last_verify_result %q)", st["last_verify_result"])
	}
	if len(live) > 0 {
		t.Errorf("%d credentials are valid upstream but no longer held by the engine: %v", len(live), live)
	}
}

// Defect 3: the create after an out-of-band revocation ignores the backoff
// after unknown outcomes, and creates on every tick.
func TestDefect3CreatesAfterOutOfBandRevocationObeyTheBackoff(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: upstreamsim.NoExpiry})
	first := registerWith(e, map[string]any{"rotation_period": "24h", "verify_interval": "10m", "max_retries": 0})
	e.sim.RevokeOutOfBand(first)
	// Every create acts upstream, then its answer is lost.
	e.sim.InjectFault(upstreamsim.Fault{Op: upstreamsim.OpRotate, Status: http.StatusInternalServerError, Commit: true})
	var createdAt []int // the minutes whose tick created
	for minute := 1; minute <= 40; minute++ {
		e.clock.Advance(time.Minute)
		before := e.sim.Calls(upstreamsim.OpRotate)
		_ = e.tick()
		if n := e.sim.Calls(upstreamsim.OpRotate) - before; n > 0 {
			for range n {
				createdAt = append(createdAt, minute)
			}
		}
	}
	if len(createdAt) == 0 {
		t.Fatal("precondition: no create after the out-of-band revocation")
	}
	for i := 1; i < len(createdAt); i++ {
		if gap := createdAt[i] - createdAt[i-1]; gap < 2 {
			t.Fatalf("creates with unknown outcomes at minutes %v: a create %d minute(s) after the previous one; "+
				"want the backoff (1, 2, 4, ... ticks sat out, at most 5 minutes)", createdAt, gap)
		}
	}
	for i := 1; i < len(createdAt); i++ {
		if gap := createdAt[i] - createdAt[i-1]; gap > 6 {
			t.Errorf("creates at minutes %v: %d minutes without a create while the connector has no working credential; "+
				"want a backoff capped at 5 minutes", createdAt, gap)
		}
	}
	if gap := 40 - createdAt[len(createdAt)-1]; gap > 6 {
		t.Errorf("creates at minutes %v: none in the last %d minutes; want a backoff capped at 5 minutes", createdAt, gap)
	}
}

// Defect 4: a lost storage acknowledgement revives a revoked credential. The
// registration's write of its pending credential reaches storage but reports
// a failure; the engine revokes the credential but it stays stored as
// pending, and registering again promotes and serves it.
func TestDefect4RevokedPendingCredentialIsNeverPromoted(t *testing.T) {
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

// Defect 5: rotate revoke_previous=true that waited for the connector while
// two other rotations completed is answered with the last one's result and
// revokes the credential made in between; the credential current when the
// request arrived stays valid.
func TestDefect5RevokePreviousRevokesTheCredentialCurrentOnArrival(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: upstreamsim.NoExpiry})
	arrivalCurrent := registerWith(e, map[string]any{"rotation_period": "2h", "verify_interval": 0})

	// The first rotation's create is held upstream (after the upstream made
	// the credential) until released; later creates pass.
	entered, release := make(chan struct{}), make(chan struct{})
	var hold atomic.Bool
	hold.Store(true)
	var releaseOnce sync.Once
	releaseIt := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(releaseIt) // before the env's cleanup closes the server
	e.tamper.set("/api/v1/apps/connectors/credentials", func(body []byte) []byte {
		if hold.CompareAndSwap(true, false) {
			close(entered)
			<-release
		}
		return body
	})

	type answer struct {
		resp *logical.Response
		err  error
	}
	firstRotation := make(chan answer, 1)
	go func() {
		resp, err := e.do(logical.UpdateOperation, rotatePath, nil)
		firstRotation <- answer{resp, err}
	}()
	<-entered

	// The credential's rotation falls due: a periodic run queues for the
	// connector behind the first rotation.
	e.clock.Advance(2 * time.Hour)
	if n := waitingForLock("vault-plugin-c1"); n != 0 {
		t.Fatalf("precondition: %d engine goroutines already wait for a lock", n)
	}
	ticked := make(chan error, 1)
	go func() { ticked <- e.tick() }()
	waitFor(t, "the periodic run to wait for the connector", func() bool {
		return waitingForLock("vault-plugin-c1", ".waitingRotate(") == 1
	})

	// The request arrives while the first credential is current, and waits too.
	waiting := make(chan answer, 1)
	go func() {
		resp, err := waitingRotate(e, map[string]any{"revoke_previous": true})
		waiting <- answer{resp, err}
	}()
	waitFor(t, "the rotate request to wait for the connector", func() bool {
		return waitingForLock(".waitingRotate(") == 1
	})
	releaseIt()

	first := <-firstRotation
	<-ticked
	got := <-waiting
	if first.err != nil {
		t.Fatalf("precondition: the first rotation failed: %v", first.err)
	}
	if got.err != nil {
		t.Fatalf("the rotation with revoke_previous failed: %v", got.err)
	}
	if n := len(e.sim.Credentials(testApp, testConnector)); n < 3 {
		t.Fatalf("precondition: %d credentials upstream, want two rotations completed while the request waited", n)
	}
	if !e.revoked(arrivalCurrent) {
		prev, _ := got.resp.Data["previous_credential_id"].(string)
		t.Errorf("credential %s, current when the revoke_previous request arrived, is still valid upstream; "+
			"the request answered previous_credential_id %s (revoked upstream: %v) and credential_id %v",
			arrivalCurrent, prev, e.revoked(prev), got.resp.Data["credential_id"])
	}
}

// Defect 6: a retried registration that completes one cut short after its
// credential was stored (the promote failed) drops its own overrides.
func TestDefect6CompletingRegistrationAppliesItsOverrides(t *testing.T) {
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

// Defect 7: a config write during a tick leaves a stale schedule: the tick
// rebuilds its due index with the config it read before the write.
func TestDefect7ConfigWriteDuringATickReschedules(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: upstreamsim.NoExpiry})
	first := registerWith(e, map[string]any{"verify_interval": 0}) // rotation_period: the default 720h
	e.mustTick()
	// An earlier config write: what the engine held of the config is gone.
	e.mustDo(logical.UpdateOperation, "config", map[string]any{"revoke_grace": "1h"})

	plain := e.storage
	var written atomic.Bool
	writeErr := make(chan error, 1)
	e.storage = &firstAccessHook{Storage: plain, fn: func() {
		// The write lands right after the tick's first storage read.
		go func() {
			writeErr <- concurrentConfigWrite(e, plain, map[string]any{"rotation_period": "2h"})
			written.Store(true)
		}()
		waitFor(t, "the config write to land", func() bool {
			return written.Load() || waitingForLock(".concurrentConfigWrite(") > 0
		})
	}}
	e.mustTick()
	e.storage = plain
	if err := <-writeErr; err != nil {
		t.Fatalf("the config write failed: %v", err)
	}
	if cfg := e.mustDo(logical.ReadOperation, "config", nil); fmt.Sprint(cfg.Data["rotation_period"]) != "7200" {
		t.Fatalf("precondition: config rotation_period %v, want 7200", cfg.Data["rotation_period"])
	}

	e.clock.Advance(2*time.Hour + time.Minute)
	rotated := false
	for range 3 {
		e.mustTick()
		if rotateStatus(e)["current_credential_id"] != first {
			rotated = true
			break
		}
		e.clock.Advance(time.Minute)
	}
	if !rotated {
		st := rotateStatus(e)
		t.Errorf("rotation_period was shortened to 2h during a tick; more than 2h after registration nothing rotated "+
			"(current %v, next_rotation %v)", st["current_credential_id"], st["next_rotation"])
	}
}

// Defect 8a: an Invalidate of a connector's record that lands between the
// metrics expiry index's read of the record and its check is lost; later
// scrapes keep reporting the expiry read before it.
//
// Internal surface: newBackend (a second node on the same storage), and the
// metrics figures via fleetFigures.
func TestDefect8aInvalidationDuringAScrapeIsNotLost(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 720 * time.Hour})
	registerWith(e, nil)
	ctx := context.Background()

	// Another node of the cluster, on the same storage: Vault invalidates
	// here every key it writes.
	plain := e.storage
	other := &writeRecorder{Storage: plain}
	node2 := newBackend(e.clock.Now)
	conf := logical.TestBackendConfig()
	conf.StorageView = other
	conf.Logger = hclog.NewNullLogger()
	if err := node2.Setup(ctx, conf); err != nil {
		t.Fatal(err)
	}
	var recordKey string
	rotateElsewhere := func() time.Time {
		resp, err := node2.HandleRequest(ctx, &logical.Request{Operation: logical.UpdateOperation, Path: rotatePath, Storage: other})
		if err != nil {
			t.Fatalf("rotation on the other node: %v", err)
		}
		exp, err := time.Parse(time.RFC3339, fmt.Sprint(resp.Data["expires_time"]))
		if err != nil {
			t.Fatalf("rotation on the other node answered expires_time %v", resp.Data["expires_time"])
		}
		for _, k := range other.take() {
			if isRecordKey(k) {
				recordKey = k
			}
			e.b.InvalidateKey(ctx, k)
		}
		return exp
	}

	fleetFigures(t, e) // the first scrape indexes every record
	e.clock.Advance(time.Hour)
	rotateElsewhere()
	if recordKey == "" {
		t.Fatal("precondition: the other node wrote no record of the connector")
	}

	// The next scrape reads the record again; right after its read, the
	// other node rotates again and the record is invalidated again.
	var latest time.Time
	e.storage = &getHook{Storage: plain, key: recordKey, fn: func() {
		e.clock.Advance(time.Hour)
		latest = rotateElsewhere()
	}}
	fleetFigures(t, e)
	e.storage = plain
	if latest.IsZero() {
		t.Fatal("precondition: the scrape after the invalidation did not read the record")
	}

	_, earliest := fleetFigures(t, e)
	if want := latest.Sub(e.clock.Now()).Seconds(); earliest != want {
		t.Errorf("the scrape after the last invalidation reports the earliest expiry in %vs, want %vs "+
			"(the expiry the invalidated record holds now)", earliest, want)
	}
}

// Defect 8b: a WAL rollback of a completed rotation (only its WAL entry's
// deletion was lost) whose credential was since rotated, retired, revoked and
// forgotten counts a false unknown outcome.
func TestDefect8bRollbackOfACompletedRotationCountsNoUnknownOutcome(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: upstreamsim.NoExpiry})
	registerWith(e, map[string]any{"revoke_grace": "10m", "rotation_period": "24h", "verify_interval": 0})
	plain := e.storage
	e.storage = &walDeleteFault{Storage: plain}
	made := e.mustDo(logical.UpdateOperation, rotatePath, nil).Data["credential_id"].(string)
	e.storage = plain
	if n := len(e.walKeys()); n != 1 {
		t.Fatalf("precondition: %d WAL entries left, want the completed rotation's", n)
	}
	e.mustDo(logical.UpdateOperation, rotatePath, nil)
	e.clock.Advance(11 * time.Minute)
	e.mustTick()
	if !e.revoked(made) || heldIDs(rotateStatus(e))[made] {
		t.Fatalf("precondition: credential %s is not revoked upstream and forgotten", made)
	}
	before := rotateStatus(e)["unknown_outcome_creates"]

	e.rollback()
	st := rotateStatus(e)
	if fmt.Sprint(st["unknown_outcome_creates"]) != fmt.Sprint(before) {
		t.Errorf("the rollback of a completed rotation counted an unknown outcome: unknown_outcome_creates %v -> %v (windows %v)",
			before, st["unknown_outcome_creates"], st["unknown_outcome_windows"])
	}
}
