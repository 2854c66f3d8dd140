package lifecycle

import "time"

// Plan is what a connector needs done now. The sweep carries it out in
// this order: promote, create, revoke, delete.
type Plan struct {
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

// Idle reports whether the plan has nothing to do.
func (p Plan) Idle() bool {
	return !p.PromotePending && !p.Create && !p.Delete && len(p.Revoke) == 0
}

// PlanWork decides what record e needs at now, under policy p. It is the one
// place where the periodic function's decisions are made.
func PlanWork(p Policy, e *Record, now time.Time) Plan {
	var plan Plan
	if e.Deregistering {
		for _, c := range e.Credentials() {
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
	if !e.Registered() {
		// A registration under way or interrupted: its request or the WAL
		// rollback finishes it.
		return plan
	}
	if e.Current == nil && e.Pending != nil && e.Pending.ValidAt(now) {
		plan.PromotePending = true
		return plan
	}
	if at, ok := CreateDue(p, e, now); ok && !now.Before(at) {
		plan.Create = true
	}
	return plan
}

// CreateDue is when the connector next needs a new credential: its current
// one's rotation, or at once when it has none that works; delayed by the
// backoff after unknown outcomes, which every create obeys. False when never.
func CreateDue(p Policy, e *Record, now time.Time) (time.Time, bool) {
	var due time.Time
	if c := e.Working(); c != nil {
		var ok bool
		if due, ok = p.RotationDue(c, now); !ok {
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
// ticks, at most MaxCreateBackoff, or at most NoCredentialBackoff while the
// connector has no working credential (service comes back soon, and each
// create in doubt still waits); no later than two ticks before a working
// current credential expires, and never in the tick of the last attempt.
// Times sit half a tick early, so a tick that runs a little early still counts.
func createBackoffUntil(e *Record) time.Time {
	if e.UnknownStreak == 0 || len(e.UnknownCreates) == 0 {
		return time.Time{}
	}
	last := e.UnknownCreates[len(e.UnknownCreates)-1].From
	working := e.Working()
	limit := MaxCreateBackoff
	if working == nil {
		limit = NoCredentialBackoff
	}
	skip := limit
	if e.UnknownStreak <= 7 { // 2^6 ticks already exceed either cap
		skip = min(Tick<<(e.UnknownStreak-1), limit)
	}
	at := last.Add(skip + Tick/2)
	if working == nil {
		return at
	}
	if exp := working.ExpiresTime; !exp.IsZero() {
		if deadline := exp.Add(-2 * Tick); deadline.Before(at) {
			at = deadline
		}
	}
	if floor := last.Add(Tick / 2); at.Before(floor) {
		at = floor
	}
	return at
}

// NextWork is when record e next needs the periodic function: the earliest
// of its next create and its next revocation. The zero time means never
// (nothing is planned until the record changes). A time at or before now
// means at once.
func NextWork(p Policy, e *Record, now time.Time) time.Time {
	if !PlanWork(p, e, now).Idle() {
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
	if e.Registered() {
		if at, ok := CreateDue(p, e, now); ok {
			earliest(at)
		}
	}
	return next
}

// ValidAt reports whether c has not expired at now.
func (c *Credential) ValidAt(now time.Time) bool {
	return c.ExpiresTime.IsZero() || c.ExpiresTime.After(now)
}

// CreateStep is what a request that creates a credential does with the
// record it finds under the connector's lock.
type CreateStep int

const (
	// CreateNew creates a credential upstream.
	CreateNew CreateStep = iota
	// CreateNotManaged refuses a rotation of a connector that is not managed.
	CreateNotManaged
	// CreateDeregistering refuses: the connector's deletion began.
	CreateDeregistering
	// CreateAlreadyDone answers a registration with the credential a
	// concurrent one made: one credential, not two.
	CreateAlreadyDone
	// CreateCompleteLeftOver completes an earlier registration that stored
	// its credential but did not promote it (when the upstream says it works).
	CreateCompleteLeftOver
)

// DecideCreate decides what a create request does with record e (nil: not
// managed); registering says the request registers the connector.
func DecideCreate(e *Record, registering bool) CreateStep {
	switch {
	case e == nil && !registering:
		return CreateNotManaged
	case e == nil:
		return CreateNew
	case e.Deregistering:
		return CreateDeregistering
	case registering && e.Current != nil:
		return CreateAlreadyDone
	case registering && e.Pending != nil:
		return CreateCompleteLeftOver
	}
	return CreateNew
}

// ReplacedSince reports whether the current credential of e is no longer
// credential id, seen current by a request when it arrived: another rotation
// completed meanwhile, and answers that request.
func (e *Record) ReplacedSince(id string) bool {
	return e != nil && id != "" && !e.Deregistering && e.Current != nil && e.Current.ID != id
}
