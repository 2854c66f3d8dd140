package c1

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/lifecycle"
)

// memory is the one owner of what the engine holds in memory of storage, so
// that a creds read makes no storage round trip and a tick costs what is
// due. Storage stays the truth. It is told of every write of this node
// (wroteRecord, wroteConfig) and every write elsewhere (invalidate, from
// Vault's Invalidate); reset (Clean, or storage not writable) drops it all.
// What each part holds, what makes it stale and who repairs it:
//   - cfg: the decoded config. A config write or invalidation drops it (and
//     bumps gen, so a read begun before never fills it); the next use reads it.
//   - records: decoded records, at most maxCachedRecords. A write replaces a
//     copy, an invalidation drops it; each key's slot keeps a read begun
//     before a write from filling the cache.
//   - index (connector_index.go): each connector's due work, expiry and last
//     check. A write recomputes the entry, an invalidation marks it for the
//     next tick or scrape to read, a config change rebuilds it.
//   - maxTTL: the mount's max lease TTL, asked of Vault after maxLeaseTTLFresh.
type memory struct {
	clock func() time.Time

	mu      sync.Mutex
	gen     uint64
	cfg     *pluginConfig
	records map[lifecycle.Key]*recordSlot
	index   connectorIndex

	ttlMu    sync.Mutex
	maxTTL   time.Duration
	maxTTLAt time.Time
}

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

// recordSlot is a connector's place in the record cache.
type recordSlot struct {
	entry  *lifecycle.Record // never modified once filled; readers get clones
	filled bool
}

// reset forgets everything; the next uses read storage again.
func (m *memory) reset() {
	m.mu.Lock()
	m.gen++
	m.cfg, m.records = nil, nil
	m.index.reset()
	m.mu.Unlock()
	m.ttlMu.Lock()
	m.maxTTLAt = time.Time{}
	m.ttlMu.Unlock()
}

// invalidate drops what memory holds of a storage key written elsewhere, or
// written here with an outcome that is not known.
func (m *memory) invalidate(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case key == configStorageKey:
		m.configChangedLocked()
	case strings.HasPrefix(key, connectorStoragePrefix):
		if k, ok := connectorKeyOf(key); ok {
			delete(m.records, k)
			m.index.markStale(k)
		}
	}
}

// wroteRecord is told of every connector record this node stored (nil: deleted).
func (m *memory) wroteRecord(k lifecycle.Key, e *lifecycle.Record) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e == nil {
		delete(m.records, k)
	} else {
		m.putSlotLocked(k, &recordSlot{entry: e.Clone(), filled: true})
	}
	m.index.wrote(k, e, m.cfg, m.gen, m.clock())
}

// wroteConfig is told of every config write or delete of this node.
func (m *memory) wroteConfig() {
	m.mu.Lock()
	m.configChangedLocked()
	m.mu.Unlock()
}

// configChangedLocked drops the config and the due times computed with it.
func (m *memory) configChangedLocked() {
	m.gen++
	m.cfg = nil
	m.index.policyChanged()
}

// lookupRecord returns a copy of k's record held in memory, or the slot a
// storage read of k is to fill.
func (m *memory) lookupRecord(k lifecycle.Key) (*lifecycle.Record, *recordSlot) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.records[k]; s != nil {
		if s.filled {
			return s.entry.Clone(), nil
		}
		return nil, s
	}
	s := &recordSlot{}
	m.putSlotLocked(k, s)
	return nil, s
}

// fillRecord keeps e, read from storage into slot, unless k was written or
// invalidated since. A connector that is not managed is not kept.
func (m *memory) fillRecord(k lifecycle.Key, slot *recordSlot, e *lifecycle.Record) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.records[k] != slot || slot.filled {
		return
	}
	if e == nil {
		delete(m.records, k)
		return
	}
	slot.entry, slot.filled = e.Clone(), true
}

// putSlotLocked installs a slot, making room first. The caller holds mu.
func (m *memory) putSlotLocked(k lifecycle.Key, s *recordSlot) {
	if m.records == nil {
		m.records = map[lifecycle.Key]*recordSlot{}
	}
	if _, ok := m.records[k]; !ok && len(m.records) >= maxCachedRecords {
		for other := range m.records {
			delete(m.records, other)
			break
		}
	}
	m.records[k] = s
}

// connectorKeyOf parses a connector record's storage key.
func connectorKeyOf(key string) (lifecycle.Key, bool) {
	app, conn, ok := strings.Cut(strings.TrimPrefix(key, connectorStoragePrefix), "/")
	if !ok || app == "" || conn == "" || strings.Contains(conn, "/") {
		return lifecycle.Key{}, false
	}
	return lifecycle.Key{AppID: app, ConnectorID: conn}, true
}

// getRecord loads a connector's record, from memory when it holds it; nil
// when the connector is not managed. The caller may modify it.
func (b *backend) getRecord(ctx context.Context, s logical.Storage, k lifecycle.Key) (*lifecycle.Record, error) {
	e, slot := b.mem.lookupRecord(k)
	if slot == nil {
		return e, nil
	}
	e, err := readRecord(ctx, s, k)
	if err != nil {
		return nil, err
	}
	b.mem.fillRecord(k, slot, e)
	return e, nil
}

// putRecord stores a connector's record and tells memory. A failed write may
// still have been applied: memory then forgets the key. Writers hold the
// connector's entry lock (updateConnector).
func (b *backend) putRecord(ctx context.Context, s logical.Storage, e *lifecycle.Record) error {
	k := lifecycle.Key{AppID: e.AppID, ConnectorID: e.ConnectorID}
	raw, err := logical.StorageEntryJSON(recordKey(k), e)
	if err != nil {
		return fmt.Errorf("encoding connector %s: %w", k, err)
	}
	if err := s.Put(ctx, raw); err != nil {
		b.mem.invalidate(recordKey(k))
		return fmt.Errorf("storing connector %s: %w", k, err)
	}
	b.mem.wroteRecord(k, e)
	return nil
}

// deleteRecordStored deletes a connector's record and tells memory.
func (b *backend) deleteRecordStored(ctx context.Context, s logical.Storage, k lifecycle.Key) error {
	if err := s.Delete(ctx, recordKey(k)); err != nil {
		b.mem.invalidate(recordKey(k))
		return fmt.Errorf("deleting connector %s: %w", k, err)
	}
	b.mem.wroteRecord(k, nil)
	return nil
}

// config is the stored config, from memory when it holds it. It answers
// errNotConfigured like requireConfig. The caller must not modify it.
func (b *backend) config(ctx context.Context, s logical.Storage) (*pluginConfig, error) {
	cfg, _, err := b.mem.configAndGen(ctx, s)
	return cfg, err
}

// configAndGen is the config with the generation it belongs to.
func (m *memory) configAndGen(ctx context.Context, s logical.Storage) (*pluginConfig, uint64, error) {
	m.mu.Lock()
	cfg, gen := m.cfg, m.gen
	m.mu.Unlock()
	if cfg != nil {
		return cfg, gen, nil
	}
	cfg, err := requireConfig(ctx, s)
	if err != nil {
		return nil, gen, err
	}
	m.mu.Lock()
	if m.gen == gen {
		m.cfg = cfg
	}
	m.mu.Unlock()
	return cfg, gen, nil
}

// storeConfig stores the config and tells memory.
func (b *backend) storeConfig(ctx context.Context, s logical.Storage, cfg *pluginConfig) error {
	err := putConfig(ctx, s, cfg)
	b.mem.wroteConfig()
	b.resetClients()
	return err
}

// deleteConfig deletes the config and tells memory.
func (b *backend) deleteConfig(ctx context.Context, s logical.Storage) error {
	err := s.Delete(ctx, configStorageKey)
	b.mem.wroteConfig()
	b.resetClients()
	if err != nil {
		return fmt.Errorf("deleting config: %w", err)
	}
	return nil
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

// errIndexReset ends an index build that a reset or config change overtook.
var errIndexReset = errors.New("the connector index was reset while it was built")
