package lifecycle

import (
	"hash/fnv"
	"time"
)

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

// UpstreamView is what a read of one credential upstream said.
type UpstreamView struct {
	// Known: the upstream answered (a 404 counts as an answer).
	Known bool
	// Gone: revoked or deleted upstream already.
	Gone bool
	// LastUsedAt is when it last authenticated; zero when never or unknown.
	LastUsedAt time.Time
}

// Verdict is what to do with a retiring credential whose revocation is due.
type Verdict int

const (
	VerdictRevoke Verdict = iota // revoke it upstream now
	VerdictHold                  // still in use, or unknown: check again next tick
	VerdictForget                // already gone upstream: forget it
)

// UsageChecked reports whether the due revocation of c waits on its upstream
// usage. A credential to revoke at once never does.
func (e *Record) UsageChecked(c *Credential) bool {
	return !c.RevokeNow && !e.Deregistering
}

// RevokeDeadline is the latest a held-back revocation of c may wait:
// revoke_max_delay past its planned revocation, and never past its expiry.
func (p Policy) RevokeDeadline(c *Credential) time.Time {
	at := c.RevokeAt.Add(p.RevokeMaxDelay)
	if !c.ExpiresTime.IsZero() && c.ExpiresTime.Before(at) {
		at = c.ExpiresTime
	}
	return at
}

// DecideRevocation decides the due revocation of retiring credential c from
// what the upstream said of it at now.
func DecideRevocation(p Policy, c *Credential, v UpstreamView, now time.Time) Verdict {
	switch {
	case v.Gone:
		return VerdictForget
	case !now.Before(p.RevokeDeadline(c)):
		return VerdictRevoke
	case !v.Known:
		return VerdictHold // no evidence either way: the lease rules allow waiting a tick
	case v.LastUsedAt.After(c.RetiredAt) && now.Before(v.LastUsedAt.Add(p.RevokeGrace)):
		return VerdictHold
	}
	return VerdictRevoke
}

// HoldRevocation records that retiring credential id was still in use at
// lastUsed; it reports whether this is the first hold (worth a log line).
func (e *Record) HoldRevocation(id string, lastUsed, now time.Time) (first bool) {
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

// HeldBack are the retiring credentials whose revocation is held back.
func (e *Record) HeldBack() []*Credential {
	var out []*Credential
	for _, c := range e.Retiring {
		if !c.HeldSince.IsZero() && !c.RevokeNow {
			out = append(out, c)
		}
	}
	return out
}

// VerifyDue reports whether the current credential is to be checked
// upstream at now. Checks fall once per interval in slots offset by phase
// (see VerifyPhase), so that connectors are spread over the interval rather
// than all checked in one tick; a credential made current within the slot
// waits for the next one. A failed check is retried on the next tick.
func VerifyDue(e *Record, phase, interval time.Duration, now time.Time) bool {
	if interval <= 0 || e.Current == nil || e.Deregistering || !e.Registered() {
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

// NextVerify is when the current credential of e is next to be checked
// upstream: now when a check is due, the start of its next slot otherwise,
// the zero time when it is never checked.
func NextVerify(e *Record, phase, interval time.Duration, now time.Time) time.Time {
	if interval <= 0 || e.Current == nil || e.Deregistering || !e.Registered() {
		return time.Time{}
	}
	if VerifyDue(e, phase, interval, now) {
		return now
	}
	last := e.LastVerified
	if last.Before(e.LastRotation) {
		last = e.LastRotation
	}
	return time.Unix(0, (verifySlot(last, phase, interval)+1)*int64(interval)+int64(phase)).UTC()
}

// NextDue is when the sweep next has work on connector k: its lifecycle
// work (NextWork) or the upstream check of its current credential, whichever
// comes first; the zero time when neither is planned.
func NextDue(p Policy, verifyInterval time.Duration, k Key, e *Record, now time.Time) time.Time {
	next := NextWork(p, e, now)
	if v := NextVerify(e, VerifyPhase(k, verifyInterval), verifyInterval, now); !v.IsZero() && (next.IsZero() || v.Before(next)) {
		next = v
	}
	return next
}

// RecordVerify notes a check of the current credential: ok when the upstream
// said it is valid.
func (e *Record) RecordVerify(result string, ok bool, now time.Time) {
	e.LastVerifyResult = result
	if ok {
		e.LastVerified = now
	}
}

// VerifyPhase is connector k's offset within the verify interval, so that
// checks of many connectors spread over the interval.
func VerifyPhase(k Key, interval time.Duration) time.Duration {
	if interval <= 0 {
		return 0
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(k.String()))
	return time.Duration(h.Sum64() % uint64(interval))
}
