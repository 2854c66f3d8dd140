package aitronos

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// Cache coalesces concurrent reads of one id into one upstream
// call and reuses an answer for a short while, never past its token's expiry.
// The upstream allows about 100 requests a minute, and a fleet of Vault Agents
// reads the same connection at once.
type Cache struct {
	clock   func() time.Time
	flights singleflight.Group
	// observe, when set, is told how each read was answered: "hit" from
	// the cache, "coalesced" by a fetch shared with concurrent reads, or
	// "miss" by a fetch of its own.
	observe func(result string)

	mu      sync.Mutex
	entries map[string]cacheEntry
	// generation changes on reset, so a fetch that started before a config
	// change does not fill the cache after it.
	generation uint64
}

type cacheEntry struct {
	conn  *Connection
	until time.Time
}

// NewCache is a cache on clock; observe, when set, is told how each read was
// answered.
func NewCache(clock func() time.Time, observe func(result string)) *Cache {
	return &Cache{clock: clock, observe: observe, entries: map[string]cacheEntry{}}
}

// Reset forgets every cached answer.
func (c *Cache) Reset() {
	c.mu.Lock()
	c.entries = map[string]cacheEntry{}
	c.generation++
	c.mu.Unlock()
}

// Get returns the answer for key: cached if still fresh, else from fetch,
// with concurrent callers sharing one fetch. ttl 0 disables reuse but still
// coalesces concurrent callers.
func (c *Cache) Get(ctx context.Context, key string, ttl time.Duration,
	fetch func(context.Context) (*Connection, error),
) (*Connection, error) {
	c.mu.Lock()
	e, ok := c.entries[key]
	gen := c.generation
	c.mu.Unlock()
	if ok && c.clock().Before(e.until) {
		c.observed("hit")
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
			if exp := conn.TokenExpiry(); !exp.IsZero() && exp.Before(until) {
				until = exp
			}
			c.mu.Lock()
			if c.generation == gen {
				c.entries[key] = cacheEntry{conn: conn, until: until}
			}
			c.mu.Unlock()
		}
		return conn, nil
	})
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for the Aitronos answer: %w", ctx.Err())
	case r := <-ch:
		if r.Shared {
			c.observed("coalesced")
		} else {
			c.observed("miss")
		}
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*Connection), nil
	}
}

// observed reports how a read was answered, when an observer is set.
func (c *Cache) observed(result string) {
	if c.observe != nil {
		c.observe(result)
	}
}
