package c1

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/lifecycle"
)

// The engine keeps in memory what a creds read needs, so that the read makes
// no storage round trip to Vault: the decoded connector records, the config
// and the mount's max lease TTL. The copies stay coherent because every
// request's storage is a recordStore: a write through it replaces or drops
// the copy, Vault's Invalidate (a write by another node) drops it, and Clean
// drops them all. Storage stays the truth: a copy is only ever one that
// storage held at a moment no write has followed.

// maxCachedRecords bounds the records held in memory (under 1 MB); past it,
// an arbitrary one is dropped for each one added, and read from storage again
// when needed. Records read often stay; a fleet's cold records do not fill
// memory, and fewer secrets sit in the plugin's heap.
const maxCachedRecords = 1024

// maxLeaseTTLFresh is how long the mount's max lease TTL is reused. Vault caps
// every lease at the mount's max itself, so a stale value only makes a lease
// (and the lease horizon recorded for it) longer than Vault lets it be, never
// shorter, for at most this long after a tune.
const maxLeaseTTLFresh = 10 * time.Second

// memory is the engine's in-memory state derived from storage.
type memory struct {
	clock    func() time.Time
	records  recordCache
	config   configCache
	schedule dueSchedule
	expiries expiryIndex

	ttlMu    sync.Mutex
	maxTTL   time.Duration
	maxTTLAt time.Time
}

// reset forgets everything; the next uses read storage again.
func (m *memory) reset() {
	m.records.reset()
	m.config.reset()
	m.schedule.reset()
	m.expiries.reset()
	m.ttlMu.Lock()
	m.maxTTLAt = time.Time{}
	m.ttlMu.Unlock()
}

// forgetKey drops what memory holds of a storage key written elsewhere.
func (m *memory) forgetKey(key string) {
	switch {
	case key == configStorageKey:
		m.config.reset()
		m.schedule.reset() // the policy of every connector may have changed
	case strings.HasPrefix(key, connectorStoragePrefix):
		if k, ok := connectorKeyOf(key); ok {
			m.records.forget(k)
			m.schedule.touch(k)
			m.expiries.forget(k)
		}
	}
}

// connectorKeyOf parses a connector record's storage key.
func connectorKeyOf(key string) (lifecycle.Key, bool) {
	app, conn, ok := strings.Cut(strings.TrimPrefix(key, connectorStoragePrefix), "/")
	if !ok || app == "" || conn == "" || strings.Contains(conn, "/") {
		return lifecycle.Key{}, false
	}
	return lifecycle.Key{AppID: app, ConnectorID: conn}, true
}

// maxLeaseTTL is the mount's max lease TTL, asked of Vault at most every maxLeaseTTLFresh.
func (b *backend) maxLeaseTTL() time.Duration {
	m := b.mem
	now := b.now()
	m.ttlMu.Lock()
	defer m.ttlMu.Unlock()
	if m.maxTTLAt.IsZero() || now.Sub(m.maxTTLAt) >= maxLeaseTTLFresh || now.Before(m.maxTTLAt) {
		m.maxTTL, m.maxTTLAt = b.System().MaxLeaseTTL(), now
	}
	return m.maxTTL
}

// recordStore is a request's storage seen through the engine's memory.
// getConnector, putConnector and the config reads use the memory when they
// are given a recordStore; a Put or Delete through it of any other way keeps
// the memory coherent by dropping what it held of the key.
type recordStore struct {
	logical.Storage
	mem *memory
}

// storageOf wraps s in the engine's recordStore (once).
func (b *backend) storageOf(s logical.Storage) logical.Storage {
	if s == nil {
		return nil
	}
	if rs, ok := s.(*recordStore); ok && rs.mem == b.mem {
		return s
	}
	return &recordStore{Storage: s, mem: b.mem}
}

// Put stores an entry, dropping memory's copy of its key before and after.
func (s *recordStore) Put(ctx context.Context, e *logical.StorageEntry) error {
	s.mem.forgetKey(e.Key)
	err := s.Storage.Put(ctx, e)
	s.mem.forgetKey(e.Key)
	return err
}

// Delete deletes an entry, dropping memory's copy of its key before and after.
func (s *recordStore) Delete(ctx context.Context, key string) error {
	s.mem.forgetKey(key)
	err := s.Storage.Delete(ctx, key)
	s.mem.forgetKey(key)
	return err
}

// recordCache holds decoded connector records. Each key has a slot; a write
// or invalidation replaces or removes the slot, so a storage read that began
// before it (and holds the old slot) can never fill the cache with what it read.
type recordCache struct {
	mu    sync.Mutex
	slots map[lifecycle.Key]*recordSlot
}

type recordSlot struct {
	entry  *lifecycle.Record // never modified once filled; readers get clones
	filled bool
}

func (c *recordCache) reset() {
	c.mu.Lock()
	c.slots = nil
	c.mu.Unlock()
}

// lookup returns a copy of the held record of k, or the slot a storage read
// of k is to fill.
func (c *recordCache) lookup(k lifecycle.Key) (*lifecycle.Record, *recordSlot) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.slots[k]; s != nil {
		if s.filled {
			return s.entry.Clone(), nil
		}
		return nil, s
	}
	s := &recordSlot{}
	c.put(k, s)
	return nil, s
}

// fill keeps e, read from storage into slot, unless k was written or
// invalidated since. A connector that is not managed is not kept.
func (c *recordCache) fill(k lifecycle.Key, slot *recordSlot, e *lifecycle.Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.slots[k] != slot || slot.filled {
		return
	}
	if e == nil {
		delete(c.slots, k)
		return
	}
	slot.entry, slot.filled = e.Clone(), true
}

// set keeps e, just stored, as k's record.
func (c *recordCache) set(k lifecycle.Key, e *lifecycle.Record) {
	c.mu.Lock()
	c.put(k, &recordSlot{entry: e.Clone(), filled: true})
	c.mu.Unlock()
}

// forget drops k's record.
func (c *recordCache) forget(k lifecycle.Key) {
	c.mu.Lock()
	delete(c.slots, k)
	c.mu.Unlock()
}

// put installs a slot, making room first. The caller holds mu.
func (c *recordCache) put(k lifecycle.Key, s *recordSlot) {
	if c.slots == nil {
		c.slots = map[lifecycle.Key]*recordSlot{}
	}
	if _, ok := c.slots[k]; !ok && len(c.slots) >= maxCachedRecords {
		for other := range c.slots {
			delete(c.slots, other)
			break
		}
	}
	c.slots[k] = s
}

// configCache holds the decoded config; gen changes on every reset so that a
// read that began before a write does not keep what it read.
type configCache struct {
	mu  sync.Mutex
	cfg *pluginConfig
	gen uint64
}

func (c *configCache) reset() {
	c.mu.Lock()
	c.cfg = nil
	c.gen++
	c.mu.Unlock()
}

// peek is the config held, or nil.
func (c *configCache) peek() *pluginConfig {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cfg
}

// cachedConfig is the stored config, from memory when s is a recordStore.
// It answers errNotConfigured like requireConfig. The caller must not modify it.
func cachedConfig(ctx context.Context, s logical.Storage) (*pluginConfig, error) {
	rs, ok := s.(*recordStore)
	if !ok {
		return requireConfig(ctx, s)
	}
	c := &rs.mem.config
	c.mu.Lock()
	cfg, gen := c.cfg, c.gen
	c.mu.Unlock()
	if cfg != nil {
		return cfg, nil
	}
	cfg, err := requireConfig(ctx, rs.Storage)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.gen == gen {
		c.cfg = cfg
	}
	c.mu.Unlock()
	return cfg, nil
}
