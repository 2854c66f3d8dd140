package c1

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/errutil"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/httpx"
	"github.com/vault-plugin-c1/vault-plugin-c1/internal/lifecycle"
	"github.com/vault-plugin-c1/vault-plugin-c1/internal/upstreamsim"
)

// testClock is a clock the tests move by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testEnv is a backend on in-memory storage talking to the upstream simulator,
// both on one test clock.
type testEnv struct {
	t            testing.TB
	b            *backend
	storage      logical.Storage
	sim          *upstreamsim.Server
	url          string
	clock        *testClock
	clientID     string
	clientSecret string
	rotations    *inFlight
	logs         *syncBuffer
	events       *logical.MockEventSender
	tamper       *answerTamper
}

// answerTamper rewrites the upstream's answers to one request path, as a
// faulty upstream or proxy would.
type answerTamper struct {
	mu      sync.Mutex
	path    string
	rewrite func(body []byte) []byte
}

// set rewrites every answer to path with rewrite.
func (a *answerTamper) set(path string, rewrite func([]byte) []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.path, a.rewrite = path, rewrite
}

func (a *answerTamper) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		rewrite := a.rewrite
		if r.URL.Path != a.path {
			rewrite = nil
		}
		a.mu.Unlock()
		if rewrite == nil {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		body := rewrite(rec.Body.Bytes())
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
	})
}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// inFlight measures how many rotate calls reach the upstream at once.
type inFlight struct {
	mu       sync.Mutex
	now, max int
}

func (f *inFlight) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/api/v1/apps/connectors/credentials" {
			f.mu.Lock()
			f.now++
			f.max = max(f.max, f.now)
			f.mu.Unlock()
			defer func() {
				f.mu.Lock()
				f.now--
				f.mu.Unlock()
			}()
		}
		next.ServeHTTP(w, r)
	})
}

// Max is the most rotate calls that were under way at once.
func (f *inFlight) Max() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.max
}

const (
	testApp       = "app1"
	testConnector = "conn1"
)

func newTestEnv(t testing.TB, opts upstreamsim.Options) *testEnv {
	t.Helper()
	clock := newTestClock()
	opts.Now = clock.Now
	opts.Admin = true
	sim := upstreamsim.New(opts)
	flight := &inFlight{}
	tamper := &answerTamper{}
	srv := httptest.NewServer(tamper.wrap(flight.wrap(sim)))
	t.Cleanup(srv.Close)

	b := newBackend(clock.Now)
	b.tuneHTTP = func(o *httpx.Options) { o.MinBackoff, o.MaxBackoff = time.Millisecond, 5*time.Millisecond }
	conf := logical.TestBackendConfig()
	conf.StorageView = &logical.InmemStorage{}
	sys := logical.TestSystemView()
	sys.PluginEnvironment = &logical.PluginEnvironment{VaultVersion: "1.21.0"}
	conf.System = sys
	logs := &syncBuffer{}
	conf.Logger = hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Trace})
	events := logical.NewMockEventSender()
	conf.EventsSender = events
	if err := b.Setup(context.Background(), conf); err != nil {
		t.Fatal(err)
	}
	clientID := "vault-plugin@" + strings.TrimPrefix(srv.URL, "http://") + "/pcc"
	secret, err := sim.RegisterClient(clientID)
	if err != nil {
		t.Fatal(err)
	}
	sim.AddConnector(testApp, testConnector)
	// Whatever a test did, no secret may reach the log.
	t.Cleanup(func() {
		text := logs.String()
		secrets := []string{secret}
		for _, c := range sim.Credentials("", "") {
			secrets = append(secrets, c.Secret)
		}
		for _, s := range secrets {
			if s != "" && strings.Contains(text, s) {
				t.Error("a secret reached the log")
			}
		}
	})
	return &testEnv{t: t, b: b, storage: conf.StorageView, sim: sim, url: srv.URL, clock: clock,
		clientID: clientID, clientSecret: secret, rotations: flight, logs: logs, tamper: tamper, events: events}
}

// do sends a request to the backend the way Vault does, existence check included.
func (e *testEnv) do(op logical.Operation, path string, data map[string]any) (*logical.Response, error) {
	e.t.Helper()
	req := &logical.Request{Operation: op, Path: path, Data: data, Storage: e.storage, MountPoint: "c1/"}
	if op == logical.UpdateOperation || op == logical.CreateOperation {
		checkFound, exists, err := e.b.HandleExistenceCheck(context.Background(), req)
		var userErr errutil.UserError
		if errors.As(err, &userErr) {
			// Vault answers a user error of an existence check with a 400.
			return nil, logical.CodedError(http.StatusBadRequest, err.Error())
		}
		if err != nil {
			return nil, err
		}
		if checkFound {
			req.Operation = logical.UpdateOperation
			if !exists {
				req.Operation = logical.CreateOperation
			}
		}
	}
	resp, err := e.b.HandleRequest(context.Background(), req)
	if err == nil && resp != nil && resp.IsError() {
		// Vault answers an error response with a 400.
		err = logical.CodedError(http.StatusBadRequest, resp.Error().Error())
	}
	return resp, err
}

// mustDo is do that fails the test on an error.
func (e *testEnv) mustDo(op logical.Operation, path string, data map[string]any) *logical.Response {
	e.t.Helper()
	resp, err := e.do(op, path, data)
	if err != nil {
		e.t.Fatalf("%s %s: %v", op, path, err)
	}
	return resp
}

// configure writes a working config, plus extra fields.
func (e *testEnv) configure(extra map[string]any) {
	e.t.Helper()
	data := map[string]any{
		"c1_client_id":     e.clientID,
		"c1_client_secret": e.clientSecret,
		"c1_server_url":    e.url,
		"max_retries":      1,
	}
	for k, v := range extra {
		data[k] = v
	}
	e.mustDo(logical.UpdateOperation, "config", data)
}

// configureAndRegister writes a working config (plus extra fields), starts
// managing the test connector, and returns its first credential's id.
func (e *testEnv) configureAndRegister(extra map[string]any) string {
	e.t.Helper()
	e.configure(extra)
	e.register(nil)
	return e.connector().Current.ID
}

// register starts managing the test connector.
func (e *testEnv) register(extra map[string]any) *logical.Response {
	e.t.Helper()
	return e.mustDo(logical.UpdateOperation, "creds/"+testApp+"/"+testConnector, extra)
}

// connector loads the stored record of the test connector.
func (e *testEnv) connector() *lifecycle.Record {
	e.t.Helper()
	entry, err := readRecord(context.Background(), e.storage, lifecycle.Key{AppID: testApp, ConnectorID: testConnector})
	if err != nil {
		e.t.Fatal(err)
	}
	return entry
}

// tick runs the periodic function as Vault does.
func (e *testEnv) tick() error {
	return e.b.periodic(context.Background(), &logical.Request{Storage: e.storage})
}

// statusOf extracts the HTTP status Vault would answer with for err.
func statusOf(err error) int {
	var coded logical.HTTPCodedError
	if errors.As(err, &coded) {
		return coded.Code()
	}
	if errors.Is(err, logical.ErrInvalidRequest) {
		return http.StatusBadRequest
	}
	code, _ := logical.RespondErrorCommon(&logical.Request{}, nil, err)
	return code
}

// storageKeys lists every key in the test storage.
func (e *testEnv) storageKeys() []string {
	e.t.Helper()
	keys, err := logical.CollectKeys(context.Background(), e.storage)
	if err != nil {
		e.t.Fatal(err)
	}
	return keys
}

// walKeys lists the WAL entries left in storage.
func (e *testEnv) walKeys() []string {
	e.t.Helper()
	keys, err := framework.ListWAL(context.Background(), e.storage)
	if err != nil {
		e.t.Fatal(err)
	}
	return keys
}

// revokeUpstream revokes a credential upstream behind the engine's back.
func (e *testEnv) revokeUpstream(id string) {
	e.t.Helper()
	client, _, err := e.b.c1Client(context.Background(), e.storage)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := client.RevokeCredential(context.Background(), testApp, testConnector, id); err != nil {
		e.t.Fatal(err)
	}
}

// storeRecord writes a connector record straight to storage, as another
// node would: the backend is not told.
func storeRecord(s logical.Storage, e *lifecycle.Record) error {
	raw, err := logical.StorageEntryJSON(recordKey(lifecycle.Key{AppID: e.AppID, ConnectorID: e.ConnectorID}), e)
	if err != nil {
		return err
	}
	return s.Put(context.Background(), raw)
}

// waitUntil waits for cond, which another goroutine makes true; it never
// waits on time.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for !cond() {
		runtime.Gosched()
		time.Sleep(time.Millisecond)
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

const rotatePath = "rotate/" + testApp + "/" + testConnector
