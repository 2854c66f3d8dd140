package httpx

import (
	"context"

	"golang.org/x/sync/semaphore"
)

// A gate bounds the requests in flight of every call made with one context
// (or one derived from it), whichever client makes them: the engine's sweep
// bounds its upstream requests, not the connectors it works on, so that one
// connector's storage work overlaps other connectors' upstream waits. An
// attempt holds the gate until its answer's headers arrive.

type gateKey struct{}

// WithGate returns ctx carrying a limit of n requests in flight at once.
func WithGate(ctx context.Context, n int) context.Context {
	return context.WithValue(ctx, gateKey{}, semaphore.NewWeighted(int64(n)))
}

// acquireGate waits for room in ctx's gate, if it carries one.
func acquireGate(ctx context.Context) error {
	if gate, ok := ctx.Value(gateKey{}).(*semaphore.Weighted); ok {
		return gate.Acquire(ctx, 1)
	}
	return nil
}

// releaseGate gives back the room acquireGate took.
func releaseGate(ctx context.Context) {
	if gate, ok := ctx.Value(gateKey{}).(*semaphore.Weighted); ok {
		gate.Release(1)
	}
}
