package lifecycle

import (
	"errors"
	"slices"
	"time"
)

// State is where a credential stands in its lifecycle.
type State int

const (
	// StateUnmanaged: the engine holds nothing of the credential.
	StateUnmanaged State = iota
	// StatePending: created upstream and stored with its secret, not yet
	// served. It exists only during a rotation, or after one was interrupted.
	StatePending
	// StateCurrent: the credential creds reads serve.
	StateCurrent
	// StateRetiring: replaced; revoked upstream once its grace has passed and
	// every lease issued for it has ended.
	StateRetiring
	// StateRevokeNow: to be revoked upstream at once, without grace; retried
	// on every periodic run until the upstream confirms.
	StateRevokeNow
	// StateOrphanSuspected: a create whose outcome is unknown. The upstream
	// may hold a credential the engine never saw; its id is unknown, so only
	// the time window of the request is recorded.
	StateOrphanSuspected
)

// String is the state's name as the API reports it.
func (s State) String() string {
	names := [...]string{"unmanaged", "pending", "current", "retiring", "revoke-now", "orphan-suspected"}
	if s < 0 || int(s) >= len(names) {
		return names[0]
	}
	return names[s]
}

// Backoff of periodic creates after unknown outcomes: after the n-th unknown
// outcome in a row the connector sits out 2^(n-1) periodic ticks (1, 2, 4,
// ...), at most MaxCreateBackoff, unless its current credential would expire
// first.
const (
	MaxCreateBackoff = time.Hour
	// NoCredentialBackoff caps the backoff while the connector has no
	// working credential.
	NoCredentialBackoff = 5 * time.Minute
	// maxUnknownCreatesKept bounds the windows kept in the record; the count
	// goes on.
	maxUnknownCreatesKept = 20
	// maxForgottenRotationsKept bounds the rotation ids of forgotten
	// credentials kept: more than a WAL entry's life (24h) of rotations.
	maxForgottenRotationsKept = 32
)

// UnknownCreate is the time window of a create whose outcome is unknown: a
// stray credential, if the upstream made one, was created in it.
type UnknownCreate struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// Errors of the transitions. Paths map them to answers.
var (
	ErrCredentialIsCurrent = errors.New("the credential is current")
	ErrCredentialIsPending = errors.New("the credential is pending")
	ErrCredentialUnknown   = errors.New("the connector holds no such credential")
	ErrPendingChanged      = errors.New("the pending credential changed during its rotation")
)

// NewRecord is the record of a connector whose registration has begun.
func NewRecord(k Key, o Overrides, now time.Time) *Record {
	return &Record{AppID: k.AppID, ConnectorID: k.ConnectorID, Overrides: o, RegisteredAt: now}
}

// StateOf says where credential id stands in the record.
func (e *Record) StateOf(id string) State {
	switch {
	case e.Current != nil && e.Current.ID == id:
		return StateCurrent
	case e.Pending != nil && e.Pending.ID == id:
		return StatePending
	}
	for _, c := range e.Retiring {
		if c.ID == id {
			if c.RevokeNow || e.Deregistering {
				return StateRevokeNow
			}
			return StateRetiring
		}
	}
	return StateUnmanaged
}

// Credentials are all the credentials of the record: current, pending, retiring.
func (e *Record) Credentials() []*Credential {
	var all []*Credential
	if e.Current != nil {
		all = append(all, e.Current)
	}
	if e.Pending != nil {
		all = append(all, e.Pending)
	}
	return append(all, e.Retiring...)
}

// retire moves c to the retiring list without its secret: revoked once
// revokeAt has passed, or at once when revokeNow.
func (e *Record) retire(c *Credential, now, revokeAt time.Time, revokeNow bool) {
	c.RetiredAt, c.RevokeAt, c.ClientSecret, c.RevokeNow = now, revokeAt, "", revokeNow
	if revokeNow {
		c.RevokeAt = now
	}
	e.Retiring = append(e.Retiring, c)
}

// StorePending records a credential that the upstream just created, before
// anything else happens to it. A pending credential left by an interrupted
// rotation was never served: it is to be revoked at once.
func (e *Record) StorePending(c *Credential, now time.Time) {
	if e.Pending != nil {
		e.retire(e.Pending, now, now, true)
	}
	e.Pending = c
}

// AbandonPending moves pending credential id to revoke-now; false when the
// record holds no such pending credential.
func (e *Record) AbandonPending(id string, now time.Time) bool {
	if e.Pending == nil || e.Pending.ID != id {
		return false
	}
	e.retire(e.Pending, now, now, true)
	e.Pending = nil
	return true
}

// StoreUnusable records a credential that the upstream created but whose
// answer cannot be used (no secret): it is to be revoked at once.
func (e *Record) StoreUnusable(c *Credential, now time.Time) {
	e.retire(c, now, now, true)
}

// Promote makes pending credential id current. The replaced current
// credential retires with its planned revocation time; it is returned.
// A successful create ends any backoff after unknown outcomes.
func (e *Record) Promote(id string, p Policy, now time.Time) (*Credential, error) {
	if e.Pending == nil || e.Pending.ID != id {
		return nil, ErrPendingChanged
	}
	prev := e.Current
	if prev != nil {
		e.retire(prev, now, p.RevokeAt(prev, now), false)
		if !prev.RevokedUpstreamAt.IsZero() {
			e.OutOfBandReplacement = id
		}
	}
	e.Current, e.Pending = e.Pending, nil
	e.LastRotation, e.LastError, e.LastErrorAt = now, "", time.Time{}
	e.UnknownStreak = 0
	return prev, nil
}

// MarkRevokeNow marks a retiring credential for revocation at once. The
// current and a pending credential are refused: they are still in use.
func (e *Record) MarkRevokeNow(id string, now time.Time) error {
	switch e.StateOf(id) {
	case StateCurrent:
		return ErrCredentialIsCurrent
	case StatePending:
		return ErrCredentialIsPending
	case StateUnmanaged:
		return ErrCredentialUnknown
	}
	for _, c := range e.Retiring {
		if c.ID == id {
			c.RevokeNow, c.RevokeAt = true, now
		}
	}
	return nil
}

// Forget drops credential id from the record once the upstream confirmed
// that it no longer works.
func (e *Record) Forget(id string) {
	for _, c := range e.Credentials() {
		if c.ID == id && c.RotationID != "" {
			e.ForgottenRotations = append(e.ForgottenRotations, c.RotationID)
			if n := len(e.ForgottenRotations); n > maxForgottenRotationsKept {
				e.ForgottenRotations = append([]string(nil), e.ForgottenRotations[n-maxForgottenRotationsKept:]...)
			}
		}
	}
	e.Retiring = removeCredential(e.Retiring, id)
	if e.Pending != nil && e.Pending.ID == id {
		e.Pending = nil
	}
	if e.Current != nil && e.Current.ID == id {
		e.Current = nil
	}
}

// removeCredential returns list without the credential id.
func removeCredential(list []*Credential, id string) []*Credential {
	out := list[:0]
	for _, c := range list {
		if c.ID != id {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// RecordUnknownCreate notes a create whose outcome is unknown, made in the
// window [from, to], and backs off the periodic creates that follow.
func (e *Record) RecordUnknownCreate(from, to time.Time) {
	e.UnknownStreak++
	e.RecordPossibleOrphan(from, to)
}

// RecordPossibleOrphan counts a create that may have left, in the window
// [from, to], a credential upstream that the engine does not hold (its id is
// unknown), so that the status shows where to look for it in C1.
func (e *Record) RecordPossibleOrphan(from, to time.Time) {
	e.UnknownCreateCount++
	e.UnknownCreates = append(e.UnknownCreates, UnknownCreate{From: from, To: to})
	if n := len(e.UnknownCreates); n > maxUnknownCreatesKept {
		e.UnknownCreates = append([]UnknownCreate(nil), e.UnknownCreates[n-maxUnknownCreatesKept:]...)
	}
}

// RecordError keeps the last error of the connector's background work.
func (e *Record) RecordError(cause error, now time.Time) {
	e.LastError, e.LastErrorAt = cause.Error(), now
}

// BeginDeregistration marks the record for deletion: from now on every
// credential it holds is to be revoked at once, and nothing new is created.
func (e *Record) BeginDeregistration() {
	e.Deregistering = true
}

// Registered reports whether the connector's registration ever completed
// (a first credential was made current).
func (e *Record) Registered() bool { return !e.LastRotation.IsZero() }

// RollBackPending drops pending credential id, revoked upstream by a WAL
// rollback. It reports whether the record is now an empty shell of a
// registration that never completed, to be deleted.
func (e *Record) RollBackPending(id string) (deleteRecord bool) {
	if e.Pending == nil || e.Pending.ID != id {
		return false
	}
	e.Pending = nil
	return e.Current == nil && len(e.Retiring) == 0 && !e.Registered()
}

// HoldsRotation reports whether a credential created by rotation id is in
// the record as current or retiring.
func (e *Record) HoldsRotation(id string) bool {
	if e.Current != nil && e.Current.RotationID == id {
		return true
	}
	for _, c := range e.Retiring {
		if c.RotationID == id {
			return true
		}
	}
	return slices.Contains(e.ForgottenRotations, id)
}

// RevokeNowIDs are the ids of the retiring credentials marked revoke-now.
func (e *Record) RevokeNowIDs() []string {
	var ids []string
	for _, c := range e.Retiring {
		if c.RevokeNow {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

// Find is the credential id of the record (current, pending or retiring), or nil.
func (e *Record) Find(id string) *Credential {
	for _, c := range e.Credentials() {
		if c.ID == id {
			return c
		}
	}
	return nil
}

// Working is the current credential when it works: nil when there is none,
// or when it was found revoked upstream.
func (e *Record) Working() *Credential {
	if e.Current == nil || !e.Current.RevokedUpstreamAt.IsZero() {
		return nil
	}
	return e.Current
}

// PromotableLeftOver reports whether a pending credential left by an earlier
// request may be made current, from what a read of it upstream said at now:
// only on positive evidence that it works, since the engine may have revoked
// it when storing it seemed to fail.
func PromotableLeftOver(c *Credential, r Reading, now time.Time) bool {
	return c.ValidAt(now) && r.ReadsAlive(now)
}
