package lifecycle

import (
	"slices"
	"time"
)

// Root is the engine's own C1 credential (a personal client, or a service
// principal's credential) as the engine knows it. Its secret lives with the
// config; this is what the engine decides its rotation from.
type Root struct {
	// ID and ClientID name the current root upstream; ID is empty until the
	// engine found it (by its client id).
	ID          string    `json:"id,omitempty"`
	ClientID    string    `json:"client_id,omitempty"`
	CreatedAt   time.Time `json:"created_at,omitempty"`
	ExpiresTime time.Time `json:"expires_time,omitempty"`
	// CheckedAt is when the root was last read upstream.
	CheckedAt time.Time `json:"checked_at,omitempty"`
	// LastRotation is when the engine last made a new root current, and
	// RotationID the rotation that did.
	LastRotation time.Time `json:"last_rotation,omitempty"`
	RotationID   string    `json:"rotation_id,omitempty"`
	// Retired are replaced roots still to delete upstream.
	Retired []RetiredRoot `json:"retired,omitempty"`
	// UnknownCreates are the windows of root creates whose outcome is
	// unknown; UnknownStreak how many failed attempts in a row (any
	// failure), LastAttempt the latest.
	UnknownCreates []UnknownCreate `json:"unknown_creates,omitempty"`
	UnknownStreak  int             `json:"unknown_streak,omitempty"`
	LastAttempt    time.Time       `json:"last_attempt,omitempty"`
	LastError      string          `json:"last_error,omitempty"`
	LastErrorAt    time.Time       `json:"last_error_at,omitempty"`
	// WarnedAt is when the engine last warned that the root nears its
	// expiry and could not be rotated.
	WarnedAt time.Time `json:"warned_at,omitempty"`
}

// RetiredRoot is a replaced root to delete upstream once DeleteAt has passed
// (requests still under way with it have ended by then).
type RetiredRoot struct {
	ID       string    `json:"id"`
	ClientID string    `json:"client_id"`
	DeleteAt time.Time `json:"delete_at"`
	// LastError is why its last delete failed; it is retried every tick.
	LastError string `json:"last_error,omitempty"`
}

// Root timing.
const (
	// RootCheckInterval is how often the root is read upstream to learn its
	// expiry (and notice a change made outside Vault).
	RootCheckInterval = time.Hour
	// RootWarnInterval is how often a root that nears its expiry and could
	// not be rotated is warned about.
	RootWarnInterval = 24 * time.Hour
)

// credential is the root as a credential, for the policy's arithmetic.
func (r *Root) credential() *Credential {
	created := r.CreatedAt
	if r.LastRotation.After(created) {
		created = r.LastRotation
	}
	return &Credential{ID: r.ID, CreatedAt: created, ExpiresTime: r.ExpiresTime}
}

// RotationDue is when the root is next to be rotated under p: before its
// expiry by rotate_before_expiry, and by p's period or schedule when
// byPolicy (the engine rotates on the policy itself, where Vault's rotation
// manager does not); delayed after failed attempts by the same backoff as a
// connector's creates, which gives way two ticks before the root expires.
// False when never.
func (r *Root) RotationDue(p Policy, byPolicy bool, now time.Time) (time.Time, bool) {
	if r.ID == "" {
		return time.Time{}, false // not found upstream: nothing to go by
	}
	if !byPolicy {
		p.RotationPeriod, p.RotationSchedule = 0, ""
	}
	due, ok := p.RotationDue(r.credential(), now)
	if !ok {
		return time.Time{}, false
	}
	if r.UnknownStreak > 0 {
		skip := MaxCreateBackoff
		if r.UnknownStreak <= 7 {
			skip = min(Tick<<(r.UnknownStreak-1), MaxCreateBackoff)
		}
		at := r.LastAttempt.Add(skip + Tick/2)
		if exp := r.ExpiresTime; !exp.IsZero() && exp.Add(-2*Tick).Before(at) {
			at = exp.Add(-2 * Tick) // near its expiry, every tick tries
		}
		if floor := r.LastAttempt.Add(Tick / 2); at.Before(floor) {
			at = floor
		}
		if at.After(due) {
			due = at
		}
	}
	return due, true
}

// Expiring reports whether the root is within p's expiry window at now: it
// should have been rotated already.
func (r *Root) Expiring(p Policy, now time.Time) bool {
	if r.ExpiresTime.IsZero() {
		return false
	}
	return !now.Before(r.ExpiresTime.Add(-p.ExpiryWindow(r.credential())))
}

// WarningDue reports whether a root that nears its expiry and is not yet
// rotated is to be warned about at now (once a RootWarnInterval).
func (r *Root) WarningDue(p Policy, now time.Time) bool {
	return r.Expiring(p, now) && (r.WarnedAt.IsZero() || !now.Before(r.WarnedAt.Add(RootWarnInterval)))
}

// CheckDue reports whether the root is to be read upstream at now: once a
// RootCheckInterval, found or not.
func (r *Root) CheckDue(now time.Time) bool {
	return r.CheckedAt.IsZero() || !now.Before(r.CheckedAt.Add(RootCheckInterval))
}

// NotFound records a read of the root, by client id, that did not find it
// at now: nothing is rotated automatically until one does.
func (r *Root) NotFound(clientID, cause string, now time.Time) {
	r.ID, r.ClientID, r.CreatedAt, r.ExpiresTime, r.CheckedAt = "", clientID, time.Time{}, time.Time{}, now
	r.LastError, r.LastErrorAt = cause, now
}

// Found records what a read of the root upstream said at now.
func (r *Root) Found(id, clientID string, created, expires, now time.Time) {
	r.ID, r.ClientID, r.CreatedAt, r.ExpiresTime, r.CheckedAt = id, clientID, created, expires, now
}

// Rotated makes the new root current: the old one is retired, to be
// deleted upstream once deleteAt has passed. A successful rotation ends the
// backoff.
func (r *Root) Rotated(next Root, rotationID string, now, deleteAt time.Time) {
	if r.ID != "" {
		r.Retired = append(r.Retired, RetiredRoot{ID: r.ID, ClientID: r.ClientID, DeleteAt: deleteAt})
	}
	r.ID, r.ClientID, r.CreatedAt, r.ExpiresTime, r.CheckedAt = next.ID, next.ClientID, next.CreatedAt, next.ExpiresTime, now
	r.LastRotation, r.RotationID = now, rotationID
	r.UnknownStreak, r.LastError, r.LastErrorAt, r.WarnedAt = 0, "", time.Time{}, time.Time{}
}

// Failed records a failed rotation attempt begun at from; unknown says the
// upstream may have created a credential in [from, to] that the engine
// never saw.
func (r *Root) Failed(cause string, unknown bool, from, to time.Time) {
	r.UnknownStreak++
	r.LastAttempt, r.LastError, r.LastErrorAt = from, cause, to
	if unknown {
		r.UnknownCreates = append(r.UnknownCreates, UnknownCreate{From: from, To: to})
		if n := len(r.UnknownCreates); n > maxUnknownCreatesKept {
			r.UnknownCreates = slices.Clone(r.UnknownCreates[n-maxUnknownCreatesKept:])
		}
	}
}

// DeleteDue are the retired roots whose deletion is due at now.
func (r *Root) DeleteDue(now time.Time) []RetiredRoot {
	var due []RetiredRoot
	for _, o := range r.Retired {
		if !now.Before(o.DeleteAt) {
			due = append(due, o)
		}
	}
	return due
}

// Deleted drops retired root id once a delete upstream succeeded or
// answered 404; with cause set it records why the delete failed instead.
func (r *Root) Deleted(id, cause string) {
	for i := range r.Retired {
		if r.Retired[i].ID != id {
			continue
		}
		if cause != "" {
			r.Retired[i].LastError = cause
			return
		}
		r.Retired = slices.Delete(r.Retired, i, i+1)
		return
	}
}

// CompleteRotation records, for a rotation cut short after its switch (its
// WAL entry rolled back later), that next, the root it created, is current
// (when current) or was (a later rotation retired it), and so that old, the
// root it replaced, is to be deleted once deleteAt has passed, unless it is
// the current root or retired already. It reports whether r changed.
func (r *Root) CompleteRotation(old string, next Root, current bool, rotationID string, now, deleteAt time.Time) bool {
	changed := false
	if current && r.ID != next.ID {
		r.ID, r.ClientID, r.CreatedAt, r.ExpiresTime, r.CheckedAt = next.ID, next.ClientID, next.CreatedAt, next.ExpiresTime, now
		r.LastRotation, r.RotationID = now, rotationID
		changed = true
	}
	if old != "" && old != r.ID && !r.Retiring(old) {
		r.Retired = append(r.Retired, RetiredRoot{ID: old, DeleteAt: deleteAt})
		changed = true
	}
	return changed
}

// Retiring reports whether root id is retired, to be deleted.
func (r *Root) Retiring(id string) bool {
	return slices.ContainsFunc(r.Retired, func(o RetiredRoot) bool { return o.ID == id })
}
