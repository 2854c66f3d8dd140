package httpx

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// Requests made with a gated context, by any number of goroutines, are at
// most the gate's size in flight; without a gate they are not held.
func TestGateBoundsRequestsInFlight(t *testing.T) {
	var mu sync.Mutex
	now, most := 0, 0
	release, opened := make(chan struct{}), sync.Once{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		now++
		most = max(most, now)
		reached := now
		mu.Unlock()
		if reached >= 2 {
			opened.Do(func() { close(release) }) // the gate let two in: let everyone finish
		}
		<-release
		mu.Lock()
		now--
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	c := New(fastOptions(0))
	ctx := WithGate(context.Background(), 2)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := c.Do(ctx, Request{Op: "gated", Method: http.MethodGet, URL: srv.URL}, nil); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if most != 2 {
		t.Errorf("%d requests in flight at most, want the gate's 2", most)
	}
}
