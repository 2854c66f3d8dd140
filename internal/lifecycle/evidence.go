package lifecycle

import (
	"hash/fnv"
	"time"
)

// Evidence: what an upstream read of a credential proves.
//
// A retired credential whose revocation is due is read first: a use after
// its retirement (lastUsedAt) holds the revocation back until it has been
// unused for revoke_grace, at most until revoke_max_delay past its planned
// revocation and never past its expiry. A credential to revoke at once
// (leaked, revoked by hand, deregistration) is never held back.
//
// A read is weak evidence: a 404 may come from a token that may not read
// credentials or a routing fault, and a future deletedAt has not happened.
// So a read never makes the engine forget a credential: only a revoke that
// succeeded or answered 404 does. A current credential that reads as gone is
// no longer served and is replaced, at most once per verify interval; when
// its replacement reads as gone too, the reads are not trusted and
// verification of the connector is suspended instead of minting again.

// ReadOutcome is how an upstream read of one credential ended.
type ReadOutcome int

const (
	// ReadFailed: no usable answer (an error, a timeout): no evidence.
	ReadFailed ReadOutcome = iota
	// ReadFound: the upstream answered with the credential.
	ReadFound
	// ReadNotFound: the upstream answered 404.
	ReadNotFound
)

// Reading is what an upstream read of one credential said.
type Reading struct {
	Outcome ReadOutcome
	// DeletedAt is when the upstream says the credential was deleted; zero when not.
	DeletedAt time.Time
	// LastUsedAt is when it last authenticated; zero when never or unknown.
	LastUsedAt time.Time
}

// ReadsGone reports whether r says the credential no longer works at now:
// a 404, or a deletedAt that is not in the future.
func (r Reading) ReadsGone(now time.Time) bool {
	switch r.Outcome {
	case ReadNotFound:
		return true
	case ReadFound:
		return !r.DeletedAt.IsZero() && !r.DeletedAt.After(now)
	}
	return false
}

// ReadsAlive reports whether r positively says the credential works at now.
func (r Reading) ReadsAlive(now time.Time) bool {
	return r.Outcome == ReadFound && !r.ReadsGone(now)
}

// Verdict is what to do with a retiring credential whose revocation is due.
type Verdict int

const (
	// VerdictRevoke: send its revoke now; a success or a 404 ends it.
	VerdictRevoke Verdict = iota
	// VerdictHold: still in use, or no answer: check again next tick.
	VerdictHold
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
// what the upstream said of it at now. A credential that reads as gone is
// revoked all the same: the read is not proof, the revoke's answer is.
func DecideRevocation(p Policy, c *Credential, r Reading, now time.Time) Verdict {
	switch {
	case r.ReadsGone(now):
		return VerdictRevoke
	case !now.Before(p.RevokeDeadline(c)):
		return VerdictRevoke
	case r.Outcome != ReadFound:
		return VerdictHold // no evidence either way: the lease rules allow waiting a tick
	case r.LastUsedAt.After(c.RetiredAt) && now.Before(r.LastUsedAt.Add(p.RevokeGrace)):
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
// waits for the next one. checked is the last check the engine remembers
// (it keeps it in memory; zero when none): a failed check is not one, and is
// retried on the next tick.
func VerifyDue(e *Record, checked time.Time, phase, interval time.Duration, now time.Time) bool {
	if !verified(e, interval) {
		return false
	}
	return verifySlot(now, phase, interval) > verifySlot(e.lastCheck(checked), phase, interval)
}

// verified reports whether the current credential of e is checked upstream at all.
func verified(e *Record, interval time.Duration) bool {
	return interval > 0 && e.Current != nil && !e.Deregistering && e.Registered()
}

// lastCheck is the latest of checked, the last check the record holds and
// the last rotation.
func (e *Record) lastCheck(checked time.Time) time.Time {
	last := checked
	for _, t := range []time.Time{e.LastVerified, e.LastRotation} {
		if t.After(last) {
			last = t
		}
	}
	return last
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
func NextVerify(e *Record, checked time.Time, phase, interval time.Duration, now time.Time) time.Time {
	if !verified(e, interval) {
		return time.Time{}
	}
	if VerifyDue(e, checked, phase, interval, now) {
		return now
	}
	return time.Unix(0, (verifySlot(e.lastCheck(checked), phase, interval)+1)*int64(interval)+int64(phase)).UTC()
}

// NextDue is when the sweep next has work on connector k: its lifecycle
// work (NextWork) or the upstream check of its current credential, whichever
// comes first; the zero time when neither is planned.
func NextDue(p Policy, verifyInterval time.Duration, k Key, e *Record, checked, now time.Time) time.Time {
	next := NextWork(p, e, now)
	if v := NextVerify(e, checked, VerifyPhase(k, verifyInterval), verifyInterval, now); !v.IsZero() && (next.IsZero() || v.Before(next)) {
		next = v
	}
	return next
}

// CheckVerdict is what a check of the current credential found.
type CheckVerdict int

const (
	// CheckFailed: no usable answer; the check is retried on the next tick.
	CheckFailed CheckVerdict = iota
	// CheckValid: the credential is there; a suspended verification resumes.
	CheckValid
	// CheckRevoked: revoked upstream out of band: stop serving it and replace it.
	CheckRevoked
	// CheckDistrusted: it reads as gone, but such reads are not trusted for
	// this connector now: verification is (or stays) suspended, nothing is created.
	CheckDistrusted
)

// Check result texts kept in the record; a check whose text did not change
// writes nothing.
const (
	CheckResultValid = "ok"
)

// JudgeCheck weighs what a read of the current credential of e said at now.
// A read that says it is gone is trusted at most once per verify interval,
// and never for a credential made to replace one that read as gone: then
// the reads themselves are suspect (a token that may not read credentials,
// a routing fault) and minting again would only leave more credentials live.
func (e *Record) JudgeCheck(r Reading, interval time.Duration, now time.Time) CheckVerdict {
	switch {
	case r.ReadsAlive(now):
		return CheckValid
	case !r.ReadsGone(now):
		return CheckFailed
	case e.VerifySuspended != "",
		e.Current != nil && e.Current.ID == e.OutOfBandReplacement,
		!e.OutOfBandAt.IsZero() && now.Before(e.OutOfBandAt.Add(interval)):
		return CheckDistrusted
	}
	return CheckRevoked
}

// RecordCheck applies the verdict of a check of the current credential at
// now, with result its text for the status. It reports whether the record
// changed (a check that found what the last one found changes nothing, and
// is not stored; nor does a first check that finds the credential valid).
func (e *Record) RecordCheck(v CheckVerdict, result string, now time.Time) (changed bool) {
	if e.Current == nil {
		return false
	}
	switch v {
	case CheckFailed:
		return false
	case CheckValid:
		// A credential never checked is presumed valid: finding it so
		// changes nothing worth storing either.
		changed = e.VerifySuspended != "" || (e.LastVerifyResult != "" && e.LastVerifyResult != result)
		if !changed {
			return false
		}
		e.VerifySuspended, e.VerifySuspendedAt, e.LastVerified = "", time.Time{}, now
	case CheckRevoked:
		e.Current.RevokedUpstreamAt = now
		e.OutOfBandAt = now
		changed = true
	case CheckDistrusted:
		changed = e.VerifySuspended == ""
		if changed {
			e.VerifySuspended, e.VerifySuspendedAt = result, now
		}
	}
	if e.LastVerifyResult != result {
		e.LastVerifyResult, changed = result, true
	}
	return changed
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
