package c1

import "time"

// periodicTick is how often Vault runs the periodic function (its rollback
// manager ticks about once a minute). A rotation window narrower than two
// ticks could be missed between them.
const periodicTick = time.Minute

// rotationPolicy says when a credential is rotated and when a replaced one is revoked.
type rotationPolicy struct {
	// RotationPeriod rotates a credential once it is this old; 0 = off.
	RotationPeriod time.Duration `json:"rotation_period"`
	// RotateBeforeExpiry rotates a credential when less than this remains
	// before its expiry.
	RotateBeforeExpiry time.Duration `json:"rotate_before_expiry"`
	// RevokeGrace is how long a replaced credential stays valid.
	RevokeGrace time.Duration `json:"revoke_grace"`
}

// policyOverrides are per-connector settings that replace the config's.
type policyOverrides struct {
	RotationPeriod     *time.Duration `json:"rotation_period,omitempty"`
	RotateBeforeExpiry *time.Duration `json:"rotate_before_expiry,omitempty"`
	RevokeGrace        *time.Duration `json:"revoke_grace,omitempty"`
}

// apply returns p with the overrides that are set.
func (o policyOverrides) apply(p rotationPolicy) rotationPolicy {
	if o.RotationPeriod != nil {
		p.RotationPeriod = *o.RotationPeriod
	}
	if o.RotateBeforeExpiry != nil {
		p.RotateBeforeExpiry = *o.RotateBeforeExpiry
	}
	if o.RevokeGrace != nil {
		p.RevokeGrace = *o.RevokeGrace
	}
	return p
}

// expiryWindow is how long before its expiry a credential is rotated:
// RotateBeforeExpiry, or a third of its lifetime if smaller, but never less
// than two periodic ticks, and never more than its whole lifetime.
func (p rotationPolicy) expiryWindow(c *storedCredential) time.Duration {
	life := c.ExpiresTime.Sub(c.CreatedAt)
	window := p.RotateBeforeExpiry
	if third := life / 3; third < window {
		window = third
	}
	if window < 2*periodicTick {
		window = 2 * periodicTick
	}
	if window > life {
		window = life
	}
	return window
}

// rotationDue is when c is to be rotated; false when never (no period, no expiry).
func (p rotationPolicy) rotationDue(c *storedCredential) (time.Time, bool) {
	var due time.Time
	has := false
	if p.RotationPeriod > 0 {
		due, has = c.CreatedAt.Add(p.RotationPeriod), true
	}
	if !c.ExpiresTime.IsZero() {
		byExpiry := c.ExpiresTime.Add(-p.expiryWindow(c))
		if !has || byExpiry.Before(due) {
			due, has = byExpiry, true
		}
	}
	return due, has
}

// plannedRevocation is when c, while current at now, is planned to stop
// working: its rotation plus the grace, or its expiry if sooner; false when
// neither. A rotation that is due but has not run yet (it waits for the next
// periodic tick) counts as happening now.
func (p rotationPolicy) plannedRevocation(c *storedCredential, now time.Time) (time.Time, bool) {
	end, has := p.rotationDue(c)
	if has {
		if end.Before(now) {
			end = now
		}
		end = end.Add(p.RevokeGrace)
	}
	if !c.ExpiresTime.IsZero() && (!has || c.ExpiresTime.Before(end)) {
		end, has = c.ExpiresTime, true
	}
	return end, has
}

// revokeAt is when a credential retired at now may be revoked: once the
// grace has passed and every lease issued for it has ended.
func (p rotationPolicy) revokeAt(c *storedCredential, now time.Time) time.Time {
	at := now.Add(p.RevokeGrace)
	if c.LeaseHorizon.After(at) {
		at = c.LeaseHorizon
	}
	return at
}
