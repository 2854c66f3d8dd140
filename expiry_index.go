package c1

import (
	"context"
	"maps"
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/lifecycle"
)

// expiryIndex is each managed connector's current credential expiry, in
// memory, for the metrics scrape: the first scrape reads every record, later
// ones only those that Vault's Invalidate named since (another node's
// writes); this node's writes through a recordStore update it. Without it a
// scrape would read every connector's record, 10,000 storage reads a scrape
// at 10,000 connectors.
type expiryIndex struct {
	scrape sync.Mutex // one scrape at a time uses the index
	mu     sync.Mutex
	built  bool
	gen    uint64                      // changes on reset, so a build that overlapped one is dropped
	expiry map[lifecycle.Key]time.Time // every record; zero when it has no expiring current credential
	stale  map[lifecycle.Key]bool      // to read again from storage
	// changed, not nil while a build runs, are the connectors written
	// meanwhile: the build may have read them before the write, so they are
	// read again after it.
	changed map[lifecycle.Key]bool
}

// reset makes the next scrape read every record again.
func (x *expiryIndex) reset() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.built, x.expiry, x.stale = false, nil, nil
	x.gen++ // a build under way is dropped when it ends
}

// set notes that k's record is now e (nil: deleted).
func (x *expiryIndex) set(k lifecycle.Key, e *lifecycle.Record) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.noteChangedLocked(k)
	if !x.built {
		return
	}
	delete(x.stale, k)
	if e == nil {
		delete(x.expiry, k)
		return
	}
	x.expiry[k] = e.CurrentExpiry()
}

// forget notes that k's record changed in a way not known here.
func (x *expiryIndex) forget(k lifecycle.Key) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.noteChangedLocked(k)
	if x.built {
		x.stale[k] = true
	}
}

// noteChangedLocked remembers a change during a build. The caller holds mu.
func (x *expiryIndex) noteChangedLocked(k lifecycle.Key) {
	if x.changed != nil {
		x.changed[k] = true
	}
}

// managedAndEarliest returns the number of managed connectors and the
// earliest expiry of a current credential (zero when none expires), reading
// from storage only what the index does not know.
func (x *expiryIndex) managedAndEarliest(ctx context.Context, s logical.Storage) (int, time.Time, error) {
	x.scrape.Lock()
	defer x.scrape.Unlock()
	x.mu.Lock()
	built := x.built
	x.mu.Unlock()
	if !built {
		fresh, err := x.build(ctx, s)
		if err != nil {
			return 0, time.Time{}, err
		}
		x.mu.Lock()
		built = x.built
		x.mu.Unlock()
		if !built { // reset meanwhile: answer from what was just read
			managed, earliest := summarize(fresh)
			return managed, earliest, nil
		}
	}
	if err := x.refresh(ctx, s); err != nil {
		return 0, time.Time{}, err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	managed, earliest := summarize(x.expiry)
	return managed, earliest, nil
}

// summarize counts the records and finds the earliest non-zero expiry.
func summarize(expiry map[lifecycle.Key]time.Time) (int, time.Time) {
	var earliest time.Time
	for _, at := range expiry {
		if !at.IsZero() && (earliest.IsZero() || at.Before(earliest)) {
			earliest = at
		}
	}
	return len(expiry), earliest
}

// refresh reads the stale records again.
func (x *expiryIndex) refresh(ctx context.Context, s logical.Storage) error {
	x.mu.Lock()
	stale := make([]lifecycle.Key, 0, len(x.stale))
	for k := range x.stale {
		stale = append(stale, k)
	}
	x.mu.Unlock()
	for _, k := range stale {
		e, err := getConnector(ctx, s, k)
		if err != nil {
			return err
		}
		x.mu.Lock()
		if x.built && x.stale[k] { // not reset or written again meanwhile
			delete(x.stale, k)
			if e == nil {
				delete(x.expiry, k)
			} else {
				x.expiry[k] = e.CurrentExpiry()
			}
		}
		x.mu.Unlock()
	}
	return nil
}

// build reads every record and makes it the index, unless a reset came
// meanwhile. Records written during the build are marked stale, so the index
// never keeps a value older than storage's. It returns what it read.
func (x *expiryIndex) build(ctx context.Context, s logical.Storage) (map[lifecycle.Key]time.Time, error) {
	x.mu.Lock()
	x.changed = map[lifecycle.Key]bool{}
	gen := x.gen
	x.mu.Unlock()

	expiry, err := readExpiries(ctx, s)

	x.mu.Lock()
	defer x.mu.Unlock()
	changed := x.changed
	x.changed = nil
	if err != nil || x.gen != gen {
		return expiry, err
	}
	x.built, x.expiry, x.stale = true, maps.Clone(expiry), changed
	return expiry, nil
}

// readExpiries reads every connector record's current expiry from storage.
func readExpiries(ctx context.Context, s logical.Storage) (map[lifecycle.Key]time.Time, error) {
	expiry := map[lifecycle.Key]time.Time{}
	err := eachConnector(ctx, s, func(k lifecycle.Key, e *lifecycle.Record) { expiry[k] = e.CurrentExpiry() })
	return expiry, err
}
