package c1

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// Fault injection and interleaving helpers of the tests that try the engine
// with an upstream and a storage that are plausible but not kind. They drive
// the engine through requests, ticks, rollbacks and the simulator.
//
// Interleavings are made deterministic without sleeps on time: storage
// wrappers run a write inside a read, the test env's answer tamper holds an
// upstream answer until released, and the tests that need another request to
// be waiting for a lock look for its goroutine parked on a sync.Mutex or
// sync.RWMutex in the goroutine dump (waitingForLock).

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
