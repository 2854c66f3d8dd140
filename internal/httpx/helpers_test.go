package httpx

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// fastOptions has tiny backoffs so that retry tests do not wait.
func fastOptions(retries int) Options {
	return Options{
		MaxRetries:    retries,
		MinBackoff:    time.Microsecond,
		MaxBackoff:    2 * time.Microsecond,
		MaxRetryAfter: time.Microsecond,
		Timeout:       5 * time.Second,
	}
}

// recorder is an httptest server answering from a script of handlers, one
// per request (the last repeats), and recording what it received.
type recorder struct {
	mu     sync.Mutex
	hits   int
	bodies []string
	reqs   []*http.Request
	script []http.HandlerFunc
	srv    *httptest.Server
}

func newRecorder(t *testing.T, script ...http.HandlerFunc) *recorder {
	t.Helper()
	r := &recorder{script: script}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		i := r.hits
		r.hits++
		r.bodies = append(r.bodies, string(body))
		r.reqs = append(r.reqs, req.Clone(req.Context()))
		h := r.script[min(i, len(r.script)-1)]
		r.mu.Unlock()
		h(w, req)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hits
}

func status(code int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
	}
}
