package lifecycle

import "time"

// MinLeaseTTL is the shortest lease the engine issues. Vault reads a TTL of
// zero as "the mount's default", so a credential with less life left than
// this is refused instead of being served.
const MinLeaseTTL = time.Second

// LeaseTTL is the one computation of a lease TTL: the time from now to the
// earliest of the ends (zero ends are ignored), capped at maxTTL. ok is false
// when less than MinLeaseTTL remains.
func LeaseTTL(now time.Time, maxTTL time.Duration, ends ...time.Time) (ttl time.Duration, ok bool) {
	ttl = maxTTL
	for _, end := range ends {
		if end.IsZero() {
			continue
		}
		if left := end.Sub(now); left < ttl {
			ttl = left
		}
	}
	ttl = ttl.Truncate(time.Second)
	return ttl, ttl >= MinLeaseTTL
}

// leaseHorizonSlack is how far past the end of the lease it issues a creds
// read may move the credential's lease horizon, so that the reads of the
// next minute find their leases covered and write nothing.
const leaseHorizonSlack = time.Minute

// LeaseHorizon is where a read that issues a lease ending at end moves the
// credential's lease horizon: end plus leaseHorizonSlack, but never past the
// credential's planned revocation while that is fixed (its rotation is not
// yet due) nor past its expiry. Leases capped by the planned revocation, the
// usual case, thus move the horizon once, exactly to their end; a replaced
// credential's revocation waits at most leaseHorizonSlack longer otherwise.
func LeaseHorizon(p Policy, c *Credential, now, end time.Time) time.Time {
	h := end.Add(leaseHorizonSlack)
	if due, ok := p.RotationDue(c, now); ok && now.Before(due) {
		if planned, _ := p.PlannedRevocation(c, now); planned.Before(h) {
			h = planned
		}
	}
	if exp := c.ExpiresTime; !exp.IsZero() && exp.Before(h) {
		h = exp
	}
	if h.Before(end) {
		h = end
	}
	return h
}
