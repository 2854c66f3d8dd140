package c1

import "time"

// nextWork is when the sweep next has work to do on a connector's record: the
// rotation of its current credential, or the earliest revocation of a
// retired one; the zero time when neither is planned. A time at or before now
// means the work is due.
func nextWork(p rotationPolicy, e *connectorEntry, now time.Time) time.Time {
	var next time.Time
	earlier := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	if e.Current != nil {
		if due, ok := p.rotationDue(e.Current); ok {
			earlier(due)
		}
	}
	for _, c := range e.Retiring {
		at := c.RevokeAt
		if at.IsZero() {
			at = now // no revocation time: revoke at once
		}
		earlier(at)
	}
	return next
}
