package c1api

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/httpx"
)

const testClientID = "strange-hydra-68836@acme.conductor.one/pcc"

// testKey returns a fresh Ed25519 key and its C1 client secret.
func testKey(t *testing.T) (ed25519.PublicKey, string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, secretFor(t, map[string]string{
		"kty": "OKP",
		"crv": "Ed25519",
		"x":   base64.RawURLEncoding.EncodeToString(pub),
		"d":   base64.RawURLEncoding.EncodeToString(priv.Seed()),
	})
}

// secretFor frames a JWK as a C1 client secret.
func secretFor(t *testing.T, jwk any) string {
	t.Helper()
	b, err := json.Marshal(jwk)
	if err != nil {
		t.Fatal(err)
	}
	return "secret-token:conductorone.com:v1:" + base64.RawURLEncoding.EncodeToString(b)
}

// fastHTTP has tiny backoffs so that retry tests do not wait.
func fastHTTP() httpx.Options {
	return httpx.Options{MaxRetries: 2, MinBackoff: time.Microsecond, MaxBackoff: 2 * time.Microsecond, MaxRetryAfter: time.Microsecond}
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// server is an httptest server with per-path handlers that records hits.
type server struct {
	mu   sync.Mutex
	hits map[string]int
	mux  *http.ServeMux
	srv  *httptest.Server
}

func newServer(t *testing.T) *server {
	t.Helper()
	s := &server{hits: map[string]int{}, mux: http.NewServeMux()}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hits[r.Method+" "+r.URL.EscapedPath()]++
		s.mu.Unlock()
		s.mux.ServeHTTP(w, r)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *server) count(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[key]
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func decodeBody(r *http.Request, v any) error { return json.NewDecoder(r.Body).Decode(v) }
