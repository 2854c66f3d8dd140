package c1

import (
	"errors"
	"time"
)

// This file is the credential lifecycle: the states a credential passes
// through and the pure transitions of a connector's record between them. It
// calls nothing upstream and touches no storage; rotation.go, revocation.go,
// sweep.go, wal.go and the paths carry out what it decides.
//
//	(create asked) --unknown outcome--> orphan-suspected (id unknown: logged, counted, backed off)
//	(create asked) --answer stored----> pending --promote--> current --replaced--> retiring
//	retiring --grace and leases passed, or revoked by hand--> (revoked upstream, forgotten)
//	retiring --due, but used upstream since its retirement--> held back (until unused for the grace, or revoke_max_delay)
//	retiring / current --revoked or deleted upstream out of band--> (forgotten; a current one is replaced at once)
//	retiring / left-over pending / deregistering --> revoke-now --revoked--> (forgotten)

// credentialState is where a credential stands in its lifecycle.
type credentialState int

const (
	// stateUnmanaged: the engine holds nothing of the credential.
	stateUnmanaged credentialState = iota
	// statePending: created upstream and stored with its secret, not yet
	// served. It exists only during a rotation, or after one was interrupted.
	statePending
	// stateCurrent: the credential creds reads serve.
	stateCurrent
	// stateRetiring: replaced; revoked upstream once its grace has passed and
	// every lease issued for it has ended.
	stateRetiring
	// stateRevokeNow: to be revoked upstream at once, without grace; retried
	// on every periodic run until the upstream confirms.
	stateRevokeNow
	// stateOrphanSuspected: a create whose outcome is unknown. The upstream
	// may hold a credential the engine never saw; its id is unknown, so only
	// the time window of the request is recorded.
	stateOrphanSuspected
)

// String is the state's name as the API reports it.
func (s credentialState) String() string {
	switch s {
	case statePending:
		return "pending"
	case stateCurrent:
		return "current"
	case stateRetiring:
		return "retiring"
	case stateRevokeNow:
		return "revoke-now"
	case stateOrphanSuspected:
		return "orphan-suspected"
	}
	return "unmanaged"
}

// Backoff of periodic creates after unknown outcomes: after the n-th unknown
// outcome in a row the connector sits out 2^(n-1) periodic ticks (1, 2, 4,
// ...), at most maxCreateBackoff, unless its current credential would expire
// first.
const (
	maxCreateBackoff = time.Hour
	// maxUnknownCreatesKept bounds the windows kept in the record; the count
	// goes on.
	maxUnknownCreatesKept = 20
)

// unknownCreate is the time window of a create whose outcome is unknown: a
// stray credential, if the upstream made one, was created in it.
type unknownCreate struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// Errors of the transitions. Paths map them to answers.
var (
	errCredentialIsCurrent = errors.New("the credential is current")
	errCredentialIsPending = errors.New("the credential is pending")
	errCredentialUnknown   = errors.New("the connector holds no such credential")
	errPendingChanged      = errors.New("the pending credential changed during its rotation")
)

// newRecord is the record of a connector whose registration has begun.
func newRecord(k connectorKey, o policyOverrides, now time.Time) *connectorEntry {
	return &connectorEntry{AppID: k.AppID, ConnectorID: k.ConnectorID, Overrides: o, RegisteredAt: now}
}

// stateOf says where credential id stands in the record.
func (e *connectorEntry) stateOf(id string) credentialState {
	switch {
	case e.Current != nil && e.Current.ID == id:
		return stateCurrent
	case e.Pending != nil && e.Pending.ID == id:
		return statePending
	}
	for _, c := range e.Retiring {
		if c.ID == id {
			if c.RevokeNow || e.Deregistering {
				return stateRevokeNow
			}
			return stateRetiring
		}
	}
	return stateUnmanaged
}

// credentials are all the credentials of the record: current, pending, retiring.
func (e *connectorEntry) credentials() []*storedCredential {
	var all []*storedCredential
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
func (e *connectorEntry) retire(c *storedCredential, now, revokeAt time.Time, revokeNow bool) {
	c.RetiredAt, c.RevokeAt, c.ClientSecret, c.RevokeNow = now, revokeAt, "", revokeNow
	if revokeNow {
		c.RevokeAt = now
	}
	e.Retiring = append(e.Retiring, c)
}

// storePending records a credential that the upstream just created, before
// anything else happens to it. A pending credential left by an interrupted
// rotation was never served: it is to be revoked at once.
func (e *connectorEntry) storePending(c *storedCredential, now time.Time) {
	if e.Pending != nil {
		e.retire(e.Pending, now, now, true)
	}
	e.Pending = c
}

// abandonPending moves pending credential id to revoke-now; false when the
// record holds no such pending credential.
func (e *connectorEntry) abandonPending(id string, now time.Time) bool {
	if e.Pending == nil || e.Pending.ID != id {
		return false
	}
	e.retire(e.Pending, now, now, true)
	e.Pending = nil
	return true
}

// storeUnusable records a credential that the upstream created but whose
// answer cannot be used (no secret): it is to be revoked at once.
func (e *connectorEntry) storeUnusable(c *storedCredential, now time.Time) {
	e.retire(c, now, now, true)
}

// promote makes pending credential id current. The replaced current
// credential retires with its planned revocation time; it is returned.
// A successful create ends any backoff after unknown outcomes.
func (e *connectorEntry) promote(id string, p rotationPolicy, now time.Time) (*storedCredential, error) {
	if e.Pending == nil || e.Pending.ID != id {
		return nil, errPendingChanged
	}
	prev := e.Current
	if prev != nil {
		e.retire(prev, now, p.revokeAt(prev, now), false)
	}
	e.Current, e.Pending = e.Pending, nil
	e.LastRotation, e.LastError, e.LastErrorAt = now, "", time.Time{}
	e.UnknownStreak = 0
	return prev, nil
}

// markRevokeNow marks a retiring credential for revocation at once. The
// current and a pending credential are refused: they are still in use.
func (e *connectorEntry) markRevokeNow(id string, now time.Time) error {
	switch e.stateOf(id) {
	case stateCurrent:
		return errCredentialIsCurrent
	case statePending:
		return errCredentialIsPending
	case stateUnmanaged:
		return errCredentialUnknown
	}
	for _, c := range e.Retiring {
		if c.ID == id {
			c.RevokeNow, c.RevokeAt = true, now
		}
	}
	return nil
}

// forget drops credential id from the record once the upstream confirmed
// that it no longer works.
func (e *connectorEntry) forget(id string) {
	e.Retiring = removeCredential(e.Retiring, id)
	if e.Pending != nil && e.Pending.ID == id {
		e.Pending = nil
	}
	if e.Current != nil && e.Current.ID == id {
		e.Current = nil
	}
}

// removeCredential returns list without the credential id.
func removeCredential(list []*storedCredential, id string) []*storedCredential {
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

// recordUnknownCreate notes a create whose outcome is unknown, made in the
// window [from, to], and backs off the periodic creates that follow.
func (e *connectorEntry) recordUnknownCreate(from, to time.Time) {
	e.UnknownStreak++
	e.recordPossibleOrphan(from, to)
}

// recordPossibleOrphan counts a create that may have left, in the window
// [from, to], a credential upstream that the engine does not hold (its id is
// unknown), so that the status shows where to look for it in C1.
func (e *connectorEntry) recordPossibleOrphan(from, to time.Time) {
	e.UnknownCreateCount++
	e.UnknownCreates = append(e.UnknownCreates, unknownCreate{From: from, To: to})
	if n := len(e.UnknownCreates); n > maxUnknownCreatesKept {
		e.UnknownCreates = append([]unknownCreate(nil), e.UnknownCreates[n-maxUnknownCreatesKept:]...)
	}
}

// recordError keeps the last error of the connector's background work.
func (e *connectorEntry) recordError(cause error, now time.Time) {
	e.LastError, e.LastErrorAt = cause.Error(), now
}

// beginDeregistration marks the record for deletion: from now on every
// credential it holds is to be revoked at once, and nothing new is created.
func (e *connectorEntry) beginDeregistration() {
	e.Deregistering = true
}

// registered reports whether the connector's registration ever completed
// (a first credential was made current).
func (e *connectorEntry) registered() bool { return !e.LastRotation.IsZero() }

// rollBackPending drops pending credential id, revoked upstream by a WAL
// rollback. It reports whether the record is now an empty shell of a
// registration that never completed, to be deleted.
func (e *connectorEntry) rollBackPending(id string) (deleteRecord bool) {
	if e.Pending == nil || e.Pending.ID != id {
		return false
	}
	e.Pending = nil
	return e.Current == nil && len(e.Retiring) == 0 && !e.registered()
}

// holdsRotation reports whether a credential created by rotation id is in
// the record as current or retiring.
func (e *connectorEntry) holdsRotation(id string) bool {
	if e.Current != nil && e.Current.RotationID == id {
		return true
	}
	for _, c := range e.Retiring {
		if c.RotationID == id {
			return true
		}
	}
	return false
}

// workPlan is what a connector needs done now. The sweep carries it out in
// this order: promote, create, revoke, delete.
type workPlan struct {
	// PromotePending makes a left-over pending credential current: the
	// record has no current credential, and this one is stored and valid.
	PromotePending bool
	// Create asks the upstream for a new credential (a rotation, or healing
	// a record without a current credential).
	Create bool
	// Revoke are the ids to revoke upstream.
	Revoke []string
	// Delete removes the record: a deregistration whose credentials are all revoked.
	Delete bool
}

// planWork decides what record e needs at now, under policy p. It is the one
// place where the periodic function's decisions are made.
func planWork(p rotationPolicy, e *connectorEntry, now time.Time) workPlan {
	var plan workPlan
	if e.Deregistering {
		for _, c := range e.credentials() {
			plan.Revoke = append(plan.Revoke, c.ID)
		}
		plan.Delete = len(plan.Revoke) == 0
		return plan
	}
	for _, c := range e.Retiring {
		if c.RevokeNow || !c.RevokeAt.After(now) {
			plan.Revoke = append(plan.Revoke, c.ID)
		}
	}
	if !e.registered() {
		// A registration under way or interrupted: its request or the WAL
		// rollback finishes it.
		return plan
	}
	if e.Current == nil && e.Pending != nil && e.Pending.validAt(now) {
		plan.PromotePending = true
		return plan
	}
	if at, ok := createDue(p, e, now); ok && !now.Before(at) {
		plan.Create = true
	}
	return plan
}

// createDue is when the connector next needs a new credential: its current
// one's rotation, or at once when it has none; delayed by the backoff after
// unknown outcomes. False when never.
func createDue(p rotationPolicy, e *connectorEntry, now time.Time) (time.Time, bool) {
	var due time.Time
	if e.Current != nil {
		var ok bool
		if due, ok = p.rotationDue(e.Current, now); !ok {
			return time.Time{}, false
		}
	}
	if at := createBackoffUntil(e); at.After(due) {
		due = at
	}
	return due, true
}

// createBackoffUntil is the earliest time of the next periodic create after a
// run of unknown outcomes: the last one's start plus 1, 2, 4, ... skipped
// ticks (at most maxCreateBackoff), but no later than two ticks before the
// current credential expires, and never in the tick of the last attempt.
// Times sit half a tick early, so a tick that runs a little early still counts.
func createBackoffUntil(e *connectorEntry) time.Time {
	if e.UnknownStreak == 0 || len(e.UnknownCreates) == 0 {
		return time.Time{}
	}
	last := e.UnknownCreates[len(e.UnknownCreates)-1].From
	skip := maxCreateBackoff
	if e.UnknownStreak <= 7 { // 2^6 ticks already exceed the cap
		skip = min(periodicTick<<(e.UnknownStreak-1), maxCreateBackoff)
	}
	at := last.Add(skip + periodicTick/2)
	if e.Current == nil {
		return last.Add(periodicTick / 2)
	}
	if exp := e.Current.ExpiresTime; !exp.IsZero() {
		if deadline := exp.Add(-2 * periodicTick); deadline.Before(at) {
			at = deadline
		}
	}
	if floor := last.Add(periodicTick / 2); at.Before(floor) {
		at = floor
	}
	return at
}

// nextWork is when record e next needs the periodic function: the earliest
// of its next create and its next revocation. The zero time means never
// (nothing is planned until the record changes). A time at or before now
// means at once.
func nextWork(p rotationPolicy, e *connectorEntry, now time.Time) time.Time {
	plan := planWork(p, e, now)
	if plan.PromotePending || plan.Create || plan.Delete || len(plan.Revoke) > 0 {
		return now
	}
	var next time.Time
	earliest := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for _, c := range e.Retiring {
		earliest(c.RevokeAt)
	}
	if e.registered() {
		if at, ok := createDue(p, e, now); ok {
			earliest(at)
		}
	}
	return next
}

// validAt reports whether c has not expired at now.
func (c *storedCredential) validAt(now time.Time) bool {
	return c.ExpiresTime.IsZero() || c.ExpiresTime.After(now)
}

// ---- revocation by evidence: upstream usage and out-of-band revocation ----
//
// A replaced credential whose revocation is due is first read upstream. C1
// reports when it last authenticated (lastUsedAt) and whether it is gone
// (deletedAt, or a 404). A use after its retirement means a consumer has not
// moved yet: the revocation is held back, re-checked each tick, until the
// credential has been unused for revoke_grace, and at most until
// revoke_max_delay past its planned revocation (never past its expiry).
// lastUsedAt may lag, so it only ever holds a revocation back; the lease
// rules still decide when one is due. A credential to revoke at once
// (leaked, revoked by hand, deregistration) is never held back.

// upstreamView is what a read of one credential upstream said.
type upstreamView struct {
	// Known: the upstream answered (a 404 counts as an answer).
	Known bool
	// Gone: revoked or deleted upstream already.
	Gone bool
	// LastUsedAt is when it last authenticated; zero when never or unknown.
	LastUsedAt time.Time
}

// revokeVerdict is what to do with a retiring credential whose revocation is due.
type revokeVerdict int

const (
	verdictRevoke revokeVerdict = iota // revoke it upstream now
	verdictHold                        // still in use, or unknown: check again next tick
	verdictForget                      // already gone upstream: forget it
)

// usageChecked reports whether the due revocation of c waits on its upstream
// usage. A credential to revoke at once never does.
func (e *connectorEntry) usageChecked(c *storedCredential) bool {
	return !c.RevokeNow && !e.Deregistering
}

// revokeDeadline is the latest a held-back revocation of c may wait:
// revoke_max_delay past its planned revocation, and never past its expiry.
func (p rotationPolicy) revokeDeadline(c *storedCredential) time.Time {
	at := c.RevokeAt.Add(p.RevokeMaxDelay)
	if !c.ExpiresTime.IsZero() && c.ExpiresTime.Before(at) {
		at = c.ExpiresTime
	}
	return at
}

// decideRevocation decides the due revocation of retiring credential c from
// what the upstream said of it at now.
func decideRevocation(p rotationPolicy, c *storedCredential, v upstreamView, now time.Time) revokeVerdict {
	switch {
	case v.Gone:
		return verdictForget
	case !now.Before(p.revokeDeadline(c)):
		return verdictRevoke
	case !v.Known:
		return verdictHold // no evidence either way: the lease rules allow waiting a tick
	case v.LastUsedAt.After(c.RetiredAt) && now.Before(v.LastUsedAt.Add(p.RevokeGrace)):
		return verdictHold
	}
	return verdictRevoke
}

// holdRevocation records that retiring credential id was still in use at
// lastUsed; it reports whether this is the first hold (worth a log line).
func (e *connectorEntry) holdRevocation(id string, lastUsed, now time.Time) (first bool) {
	for _, c := range e.Retiring {
		if c.ID != id {
			continue
		}
		if lastUsed.After(c.LastUsedAt) {
			c.LastUsedAt = lastUsed
		}
		if c.HeldSince.IsZero() {
			c.HeldSince = now
			return true
		}
	}
	return false
}

// heldBack are the retiring credentials whose revocation is held back.
func (e *connectorEntry) heldBack() []*storedCredential {
	var out []*storedCredential
	for _, c := range e.Retiring {
		if !c.HeldSince.IsZero() && !c.RevokeNow {
			out = append(out, c)
		}
	}
	return out
}

// verifyDue reports whether the current credential is to be checked
// upstream at now. Checks fall once per interval in slots offset by phase
// (see verifyPhase), so that connectors are spread over the interval rather
// than all checked in one tick; a credential made current within the slot
// waits for the next one. A failed check is retried on the next tick.
func verifyDue(e *connectorEntry, phase, interval time.Duration, now time.Time) bool {
	if interval <= 0 || e.Current == nil || e.Deregistering || !e.registered() {
		return false
	}
	last := e.LastVerified
	if last.Before(e.LastRotation) {
		last = e.LastRotation
	}
	return verifySlot(now, phase, interval) > verifySlot(last, phase, interval)
}

// verifySlot numbers the interval-long slot, offset by phase, that t falls in.
func verifySlot(t time.Time, phase, interval time.Duration) int64 {
	d := t.UnixNano() - int64(phase)
	slot := d / int64(interval)
	if d < 0 && d%int64(interval) != 0 {
		slot--
	}
	return slot
}

// nextVerify is when the current credential of e is next to be checked
// upstream: now when a check is due, the start of its next slot otherwise,
// the zero time when it is never checked.
func nextVerify(e *connectorEntry, phase, interval time.Duration, now time.Time) time.Time {
	if interval <= 0 || e.Current == nil || e.Deregistering || !e.registered() {
		return time.Time{}
	}
	if verifyDue(e, phase, interval, now) {
		return now
	}
	last := e.LastVerified
	if last.Before(e.LastRotation) {
		last = e.LastRotation
	}
	return time.Unix(0, (verifySlot(last, phase, interval)+1)*int64(interval)+int64(phase)).UTC()
}

// sweepDue is when the sweep next has work on connector k: its lifecycle
// work (nextWork) or the upstream check of its current credential, whichever
// comes first; the zero time when neither is planned.
func sweepDue(cfg *pluginConfig, k connectorKey, e *connectorEntry, now time.Time) time.Time {
	next := nextWork(policyFor(cfg, e), e, now)
	if v := nextVerify(e, verifyPhase(k, cfg.VerifyInterval), cfg.VerifyInterval, now); !v.IsZero() && (next.IsZero() || v.Before(next)) {
		next = v
	}
	return next
}

// recordVerify notes a check of the current credential: ok when the upstream
// said it is valid.
func (e *connectorEntry) recordVerify(result string, ok bool, now time.Time) {
	e.LastVerifyResult = result
	if ok {
		e.LastVerified = now
	}
}
