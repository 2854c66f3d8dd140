package c1

import (
	"fmt"
	"time"
)

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

// merge sets the overrides that other sets.
func (o *policyOverrides) merge(other policyOverrides) {
	if other.RotationPeriod != nil {
		o.RotationPeriod = other.RotationPeriod
	}
	if other.RotateBeforeExpiry != nil {
		o.RotateBeforeExpiry = other.RotateBeforeExpiry
	}
	if other.RevokeGrace != nil {
		o.RevokeGrace = other.RevokeGrace
	}
}

// check refuses overrides the engine could not keep.
func (o policyOverrides) check() error {
	if o.RotationPeriod != nil {
		return checkRotationPeriod(*o.RotationPeriod)
	}
	return nil
}

// check refuses a policy the engine could not keep.
func (p rotationPolicy) check() error { return checkRotationPeriod(p.RotationPeriod) }

// checkRotationPeriod refuses a rotation period shorter than two periodic
// ticks: the periodic function could not keep it, and a credential would be
// due again before its rotation is done.
func checkRotationPeriod(d time.Duration) error {
	if d != 0 && d < 2*periodicTick {
		return badRequest("field %q must be 0 (off) or at least %s (two periodic runs), not %s",
			"rotation_period", fmtDuration(2*periodicTick), fmtDuration(d))
	}
	return nil
}

// fmtDuration writes d in seconds, the unit the API's duration fields use.
func fmtDuration(d time.Duration) string { return fmt.Sprintf("%ds", int64(d.Seconds())) }

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

// overdueLeaseFloor is the shortest planned life of a current credential
// whose rotation is due but has not run yet (the periodic function comes
// about once a minute, and may come late). Its revocation waits for every
// lease issued for it, so serving it a while longer is safe.
const overdueLeaseFloor = 30 * time.Second

// plannedRevocation is when c, while current at now, is planned to stop
// working: its rotation plus the grace, or its expiry if sooner; false when
// neither. A rotation that is due but has not run yet counts as happening
// now, and then the credential is planned to work at least
// overdueLeaseFloor more, whatever the grace (0 included): a valid credential
// that nothing replaced yet is always served.
func (p rotationPolicy) plannedRevocation(c *storedCredential, now time.Time) (time.Time, bool) {
	end, has := p.rotationDue(c)
	if has {
		if end.Before(now) {
			end = now
		}
		end = end.Add(p.RevokeGrace)
		if floor := now.Add(overdueLeaseFloor); end.Before(floor) {
			end = floor
		}
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
