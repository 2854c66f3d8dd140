package c1

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/aitronos"
)

// oauthCache coalesces concurrent Aitronos reads of one id into one upstream
// call and reuses an answer for a short while, never past its token's expiry.
// The upstream allows about 100 requests a minute, and a fleet of Vault Agents
// reads the same connection at once.
type oauthCache struct {
	clock   func() time.Time
	flights singleflight.Group

	mu      sync.Mutex
	entries map[string]oauthCacheEntry
	// generation changes on reset, so a fetch that started before a config
	// change does not fill the cache after it.
	generation uint64
}

type oauthCacheEntry struct {
	conn  *aitronos.Connection
	until time.Time
}

func newOAuthCache(clock func() time.Time) *oauthCache {
	return &oauthCache{clock: clock, entries: map[string]oauthCacheEntry{}}
}

// reset forgets every cached answer.
func (c *oauthCache) reset() {
	c.mu.Lock()
	c.entries = map[string]oauthCacheEntry{}
	c.generation++
	c.mu.Unlock()
}

// get returns the answer for key: cached if still fresh, else from fetch,
// with concurrent callers sharing one fetch. ttl 0 disables reuse but still
// coalesces concurrent callers.
func (c *oauthCache) get(ctx context.Context, key string, ttl time.Duration,
	fetch func(context.Context) (*aitronos.Connection, error),
) (*aitronos.Connection, error) {
	c.mu.Lock()
	e, ok := c.entries[key]
	gen := c.generation
	c.mu.Unlock()
	if ok && c.clock().Before(e.until) {
		return e.conn, nil
	}

	// DoChan, not Do: a caller whose request is cancelled or times out stops
	// waiting at once, while the shared fetch goes on for the others.
	ch := c.flights.DoChan(key, func() (any, error) {
		conn, err := fetch(context.WithoutCancel(ctx))
		if err != nil {
			return nil, err
		}
		if ttl > 0 {
			until := c.clock().Add(ttl)
			if exp := tokenExpiry(conn); !exp.IsZero() && exp.Before(until) {
				until = exp
			}
			c.mu.Lock()
			if c.generation == gen {
				c.entries[key] = oauthCacheEntry{conn: conn, until: until}
			}
			c.mu.Unlock()
		}
		return conn, nil
	})
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for the Aitronos answer: %w", ctx.Err())
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*aitronos.Connection), nil
	}
}

// tokenExpiry is when a connection's access token expires: expires_at, else
// credentials.expires_in counted from when the answer arrived; zero if unknown.
func tokenExpiry(conn *aitronos.Connection) time.Time {
	if !conn.ExpiresAt.IsZero() {
		return conn.ExpiresAt
	}
	if conn.Credentials.ExpiresIn > 0 && !conn.FetchedAt.IsZero() {
		return conn.FetchedAt.Add(time.Duration(conn.Credentials.ExpiresIn) * time.Second)
	}
	return time.Time{}
}
