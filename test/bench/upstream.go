package main

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/upstreamsim"
)

// upstream is the simulator of both upstream APIs, served in this process so
// the benchmark can count calls and watch rotations in flight.
type upstream struct {
	sim *upstreamsim.Server
	srv *httptest.Server
	rot rotationWatch
}

// rotationWatch records the rotate calls in flight and when they started and ended.
type rotationWatch struct {
	mu          sync.Mutex
	now, max    int
	first, last time.Time
}

func (w *rotationWatch) reset() {
	w.mu.Lock()
	w.max, w.first, w.last = w.now, time.Time{}, time.Time{}
	w.mu.Unlock()
}

// span is the time from the first rotate call's start to the last one's end,
// and the most calls in flight at once, since the last reset.
func (w *rotationWatch) span() (time.Duration, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last.Sub(w.first), w.max
}

func (w *rotationWatch) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/api/v1/apps/connectors/credentials" {
			next.ServeHTTP(rw, r)
			return
		}
		w.mu.Lock()
		w.now++
		w.max = max(w.max, w.now)
		if w.first.IsZero() {
			w.first = time.Now()
		}
		w.mu.Unlock()
		next.ServeHTTP(rw, r)
		w.mu.Lock()
		w.now--
		w.last = time.Now()
		w.mu.Unlock()
	})
}

func startUpstream() *upstream {
	u := &upstream{sim: upstreamsim.New(upstreamsim.Options{AitronosRateLimit: upstreamsim.RateLimitOff})}
	u.srv = httptest.NewServer(u.rot.wrap(u.sim))
	return u
}

// calls is the simulator's call count of every operation.
func (u *upstream) calls() map[string]int {
	out := map[string]int{}
	for _, op := range []string{upstreamsim.OpToken, upstreamsim.OpRotate, upstreamsim.OpGet, upstreamsim.OpRevoke, upstreamsim.OpAitronos} {
		out[op] = u.sim.Calls(op)
	}
	return out
}

// callsSince is the number of upstream calls of every kind since before.
func (u *upstream) callsSince(before map[string]int) int {
	n := 0
	for op, c := range u.calls() {
		n += c - before[op]
	}
	return n
}

// total is the simulator's count of calls of every kind.
func (u *upstream) total() int { return u.callsSince(nil) }
