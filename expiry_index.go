package c1

import (
	"context"
	"maps"
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
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
	gen    uint64                     // changes on reset, so a build that overlapped one is dropped
	expiry map[connectorKey]time.Time // every record; zero when it has no expiring current credential
	stale  map[connectorKey]bool      // to read again from storage
	// changed, not nil while a build runs, are the connectors written
	// meanwhile: the build may have read them before the write, so they are
	// read again after it.
	changed map[connectorKey]bool
}

// reset makes the next scrape read every record again.
func (x *expiryIndex) reset() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.built, x.expiry, x.stale = false, nil, nil
	x.gen++ // a build under way is dropped when it ends
}

// set notes that k's record is now e (nil: deleted).
func (x *expiryIndex) set(k connectorKey, e *connectorEntry) {
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
	x.expiry[k] = currentExpiry(e)
}

// forget notes that k's record changed in a way not known here.
func (x *expiryIndex) forget(k connectorKey) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.noteChangedLocked(k)
	if x.built {
		x.stale[k] = true
	}
}

// noteChangedLocked remembers a change during a build. The caller holds mu.
func (x *expiryIndex) noteChangedLocked(k connectorKey) {
	if x.changed != nil {
		x.changed[k] = true
	}
}

// currentExpiry is when e's current credential expires; zero when e has
// none or its expiry is unknown.
func currentExpiry(e *connectorEntry) time.Time {
	if e == nil || e.Current == nil {
		return time.Time{}
	}
	return e.Current.ExpiresTime
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
func summarize(expiry map[connectorKey]time.Time) (int, time.Time) {
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
	stale := make([]connectorKey, 0, len(x.stale))
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
				x.expiry[k] = currentExpiry(e)
			}
		}
		x.mu.Unlock()
	}
	return nil
}

// build reads every record and makes it the index, unless a reset came
// meanwhile. Records written during the build are marked stale, so the index
// never keeps a value older than storage's. It returns what it read.
func (x *expiryIndex) build(ctx context.Context, s logical.Storage) (map[connectorKey]time.Time, error) {
	x.mu.Lock()
	x.changed = map[connectorKey]bool{}
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
func readExpiries(ctx context.Context, s logical.Storage) (map[connectorKey]time.Time, error) {
	expiry := map[connectorKey]time.Time{}
	err := eachConnector(ctx, s, func(k connectorKey, e *connectorEntry) { expiry[k] = currentExpiry(e) })
	return expiry, err
}
