package c1

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/lifecycle"
)

// connectorIndex is memory's per-connector index: when each connector next
// needs the sweep, when its current credential expires (for the metrics
// scrape) and when it was last checked upstream (kept only here: a check
// that found nothing new writes nothing). One scan of storage builds it at
// the first tick or scrape, and again after a config change or a reset;
// after a restart the checks count from the build, so they spread over the
// verify interval again. Its methods are called with memory's mu held.
type connectorIndex struct {
	// work serializes the ticks and scrapes that build and refresh it; it
	// is held across storage reads, never together with mu.
	work sync.Mutex

	built   bool
	gen     uint64    // the config generation its due times were computed with
	since   time.Time // when it was built: a check not remembered counts from here
	entries map[lifecycle.Key]indexEntry
	seq     uint64 // numbers stale marks
	// changed, not nil while a build reads storage, are the connectors
	// written or invalidated meanwhile: read again after it.
	changed map[lifecycle.Key]bool
}

// indexEntry is what the index holds of one connector.
type indexEntry struct {
	due     time.Time // next sweep work; zero: none planned
	expiry  time.Time // the current credential's expiry; zero: none
	checked time.Time // the last upstream check of the current credential; zero when none is remembered
	stale   uint64    // non-zero: the record is to be read again (the mark's number)
}

// reset drops the index; the next tick or scrape builds it again.
func (x *connectorIndex) reset() {
	x.built, x.entries, x.changed = false, nil, nil
}

// policyChanged makes the next tick rebuild the due times (they follow the
// config); the times of the last checks are kept.
func (x *connectorIndex) policyChanged() {
	x.built = false
}

// markStale notes that k's record changed in a way not known here.
func (x *connectorIndex) markStale(k lifecycle.Key) {
	x.noteChanged(k)
	if !x.built {
		return
	}
	x.seq++
	e := x.entries[k]
	e.stale = x.seq
	x.entries[k] = e
}

// noteChanged remembers a change during a build.
func (x *connectorIndex) noteChanged(k lifecycle.Key) {
	if x.changed != nil {
		x.changed[k] = true
	}
}

// wrote notes that k's record is now e (nil: deleted), computing its due
// time with cfg of generation gen.
func (x *connectorIndex) wrote(k lifecycle.Key, e *lifecycle.Record, cfg *pluginConfig, gen uint64, now time.Time) {
	x.noteChanged(k)
	if !x.built {
		return
	}
	if e == nil {
		delete(x.entries, k)
		return
	}
	if cfg == nil || gen != x.gen {
		x.markStale(k)
		return
	}
	x.entries[k] = x.entryFor(cfg, k, e, x.entries[k].checked, now)
}

// entryFor is the index entry of record e, last checked at checked.
func (x *connectorIndex) entryFor(cfg *pluginConfig, k lifecycle.Key, e *lifecycle.Record, checked, now time.Time) indexEntry {
	entry := indexEntry{expiry: e.CurrentExpiry(), checked: checked}
	if cfg != nil {
		entry.due = lifecycle.NextDue(policyFor(cfg, e), cfg.VerifyInterval, k, e, x.checksFrom(checked), now)
	}
	return entry
}

// checksFrom is when the next check of a connector last checked at checked
// counts from: that check, or the index's build when it is later (a check
// not remembered, after a restart, counts from the build).
func (x *connectorIndex) checksFrom(checked time.Time) time.Time {
	if checked.Before(x.since) {
		return x.since
	}
	return checked
}

// noteChecked records an upstream check of k's current credential at at.
func (m *memory) noteChecked(k lifecycle.Key, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	x := &m.index
	if e, ok := x.entries[k]; ok && x.built {
		e.checked = at
		x.entries[k] = e
	}
}

// lastVerified is when the current credential of e was last found valid
// upstream: the record's time, or the later check memory remembers.
func (b *backend) lastVerified(k lifecycle.Key, e *lifecycle.Record) time.Time {
	last := e.LastVerified
	if e.LastVerifyResult != lifecycle.CheckResultValid && e.LastVerifyResult != "" {
		return last
	}
	b.mem.mu.Lock()
	defer b.mem.mu.Unlock()
	if checked := b.mem.index.entries[k].checked; checked.After(last) {
		last = checked
	}
	return last
}

// settle recomputes the entry of a connector that the sweep took (mark)
// from record e, as the sweep last saw it, unless it was written or
// invalidated since: then that write's entry stands.
func (m *memory) settle(k lifecycle.Key, mark uint64, e *lifecycle.Record, cfg *pluginConfig, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	x := &m.index
	cur, ok := x.entries[k]
	if !x.built || !ok || cur.stale != mark || m.gen != x.gen {
		return
	}
	if e == nil {
		delete(x.entries, k)
		return
	}
	x.entries[k] = x.entryFor(cfg, k, e, cur.checked, now)
}

// dueWork is a connector the sweep is to maintain, with the stale mark its
// entry got when the sweep took it.
type dueWork struct {
	key     lifecycle.Key
	mark    uint64
	checked time.Time // the last check of its current credential memory knows of
}

// dueConnectors returns the connectors whose work is due at now under cfg,
// building and refreshing the index first. Each one returned is marked
// stale, so that it is read again unless the sweep settles or writes it.
func (b *backend) dueConnectors(ctx context.Context, s logical.Storage) ([]dueWork, *pluginConfig, error) {
	m := b.mem
	m.index.work.Lock()
	defer m.index.work.Unlock()
	cfg, err := b.readyIndex(ctx, s, true)
	if err != nil || cfg == nil {
		return nil, nil, err
	}
	now := b.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	x := &m.index
	if !x.built {
		return nil, cfg, nil // reset meanwhile: the next tick builds it
	}
	var due []dueWork
	for k, e := range x.entries {
		if e.stale == 0 && !e.due.IsZero() && !now.Before(e.due) {
			x.seq++
			e.stale = x.seq
			x.entries[k] = e
			due = append(due, dueWork{key: k, mark: x.seq, checked: x.checksFrom(e.checked)})
		}
	}
	return due, cfg, nil
}

// managedAndEarliest returns the number of managed connectors and the
// earliest expiry of a current credential (zero when none expires), reading
// from storage only what the index does not know.
func (b *backend) managedAndEarliest(ctx context.Context, s logical.Storage) (int, time.Time, error) {
	m := b.mem
	m.index.work.Lock()
	defer m.index.work.Unlock()
	if _, err := b.readyIndex(ctx, s, false); err != nil {
		return 0, time.Time{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var earliest time.Time
	for _, e := range m.index.entries {
		if !e.expiry.IsZero() && (earliest.IsZero() || e.expiry.Before(earliest)) {
			earliest = e.expiry
		}
	}
	return len(m.index.entries), earliest, nil
}

// readyIndex builds the index when it is not built for the current config,
// then reads again the records marked stale. Without a config it is built
// without due times (needConfig false) or not at all (needConfig true: the
// answer is then nil, nil). The caller holds index.work.
func (b *backend) readyIndex(ctx context.Context, s logical.Storage, needConfig bool) (*pluginConfig, error) {
	m := b.mem
	cfg, gen, err := m.configAndGen(ctx, s)
	switch {
	case err == errNotConfigured && needConfig:
		return nil, nil // nothing to maintain yet
	case err == errNotConfigured:
		cfg = nil
	case err != nil:
		return nil, err
	}
	m.mu.Lock()
	built := m.index.built && m.index.gen == gen && (cfg != nil || !needConfig)
	m.mu.Unlock()
	if !built {
		if err := b.buildIndex(ctx, s, cfg, gen); err != nil {
			if err == errIndexReset {
				return nil, nil
			}
			return nil, err
		}
	}
	return cfg, b.refreshIndex(ctx, s, cfg, gen)
}

// buildIndex reads every connector record from storage (past the record
// cache, which it would only churn) and makes the index of them, unless the
// config changed or memory was reset meanwhile. Records written during the
// scan are read again by the refresh that follows.
func (b *backend) buildIndex(ctx context.Context, s logical.Storage, cfg *pluginConfig, gen uint64) error {
	m := b.mem
	m.mu.Lock()
	if m.gen != gen {
		m.mu.Unlock()
		return errIndexReset
	}
	x := &m.index
	x.changed = map[lifecycle.Key]bool{}
	old := x.entries
	m.mu.Unlock()

	now := b.now()
	fresh := connectorIndex{since: now, entries: map[lifecycle.Key]indexEntry{}}
	err := eachConnector(ctx, s, func(k lifecycle.Key, e *lifecycle.Record) {
		fresh.entries[k] = fresh.entryFor(cfg, k, e, old[k].checked, now)
	})

	m.mu.Lock()
	defer m.mu.Unlock()
	changed := x.changed
	x.changed = nil
	if err != nil {
		return fmt.Errorf("indexing connector records: %w", err)
	}
	if m.gen != gen {
		return errIndexReset
	}
	x.built, x.gen, x.since, x.entries = true, gen, now, fresh.entries
	for k := range changed {
		x.markStale(k)
	}
	return nil
}

// refreshIndex reads the stale records again. An entry marked again while
// its record was read stays stale for the next refresh.
func (b *backend) refreshIndex(ctx context.Context, s logical.Storage, cfg *pluginConfig, gen uint64) error {
	m := b.mem
	m.mu.Lock()
	stale := map[lifecycle.Key]uint64{}
	for k, e := range m.index.entries {
		if e.stale != 0 {
			stale[k] = e.stale
		}
	}
	m.mu.Unlock()
	for k, mark := range stale {
		e, err := readRecord(ctx, s, k)
		if err != nil {
			return err
		}
		now := b.now()
		m.mu.Lock()
		x := &m.index
		if cur, ok := x.entries[k]; ok && x.built && m.gen == gen && cur.stale == mark {
			if e == nil {
				delete(x.entries, k)
			} else {
				x.entries[k] = x.entryFor(cfg, k, e, cur.checked, now)
			}
		}
		m.mu.Unlock()
	}
	return nil
}
