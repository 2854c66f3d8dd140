package c1

import (
	"context"
	"net/http"

	"github.com/hashicorp/go-cleanhttp"
	"golang.org/x/sync/semaphore"
)

// The sweep bounds the upstream requests it has in flight, not the
// connectors it works on: a connector's storage work (WAL entry, record
// writes) then overlaps other connectors' upstream calls, and a sweep of many
// due connectors takes about connectors × upstream latency / rotation_concurrency.

// sweepWorkersPerSlot is how many connectors the sweep works on per upstream
// request it may have in flight.
const sweepWorkersPerSlot = 4

type upstreamGateKey struct{}

// withUpstreamGate returns ctx carrying a limit of n upstream requests in
// flight at once, shared by every request made with ctx or a context derived from it.
func withUpstreamGate(ctx context.Context, n int) context.Context {
	return context.WithValue(ctx, upstreamGateKey{}, semaphore.NewWeighted(int64(n)))
}

// gatedTransport holds each request whose context carries an upstream gate
// until the gate has room, and until its answer's headers arrive.
type gatedTransport struct{ next http.RoundTripper }

// gateTransport wraps next (nil: the pooled default transport) in a gatedTransport.
func gateTransport(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = cleanhttp.DefaultPooledTransport()
	}
	return gatedTransport{next: next}
}

func (t gatedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	gate, ok := r.Context().Value(upstreamGateKey{}).(*semaphore.Weighted)
	if !ok {
		return t.next.RoundTrip(r)
	}
	if err := gate.Acquire(r.Context(), 1); err != nil {
		return nil, err
	}
	defer gate.Release(1)
	return t.next.RoundTrip(r)
}
