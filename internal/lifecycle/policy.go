package lifecycle

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
)

// Tick is how often Vault runs the periodic function (its rollback
// manager ticks about once a minute). A rotation window narrower than two
// ticks could be missed between them.
const Tick = time.Minute

// Policy says when a credential is rotated and when a replaced one is revoked.
type Policy struct {
	// RotationPeriod rotates a credential once it is this old; 0 = off.
	RotationPeriod time.Duration `json:"rotation_period"`
	// RotationSchedule (cron, UTC) rotates a credential at the first
	// scheduled time after its creation, instead of RotationPeriod; see
	// ScheduledRotation. RotationWindow limits how late after that time.
	RotationSchedule string        `json:"rotation_schedule,omitempty"`
	RotationWindow   time.Duration `json:"rotation_window,omitempty"`
	// RotateBeforeExpiry rotates a credential when less than this remains
	// before its expiry.
	RotateBeforeExpiry time.Duration `json:"rotate_before_expiry"`
	// RevokeGrace is how long a replaced credential stays valid; and how
	// long it must have been unused upstream before it is revoked.
	RevokeGrace time.Duration `json:"revoke_grace"`
	// RevokeMaxDelay is how long past its planned revocation a replaced
	// credential that is still in use upstream may be held back.
	RevokeMaxDelay time.Duration `json:"revoke_max_delay"`
}

// Overrides are per-connector settings that replace the config's.
type Overrides struct {
	RotationPeriod     *time.Duration `json:"rotation_period,omitempty"`
	RotationSchedule   *string        `json:"rotation_schedule,omitempty"`
	RotationWindow     *time.Duration `json:"rotation_window,omitempty"`
	RotateBeforeExpiry *time.Duration `json:"rotate_before_expiry,omitempty"`
	RevokeGrace        *time.Duration `json:"revoke_grace,omitempty"`
	RevokeMaxDelay     *time.Duration `json:"revoke_max_delay,omitempty"`
}

// Apply returns p with the overrides that are set. A connector's schedule
// replaces the config's period, and a connector's period the config's schedule.
func (o Overrides) Apply(p Policy) Policy {
	if o.RotationPeriod != nil {
		p.RotationPeriod = *o.RotationPeriod
		if *o.RotationPeriod > 0 {
			p.RotationSchedule, p.RotationWindow = "", 0
		}
	}
	if o.RotationSchedule != nil {
		p.RotationSchedule, p.RotationWindow = *o.RotationSchedule, 0
		if *o.RotationSchedule != "" {
			p.RotationPeriod = 0
		}
	}
	if o.RotationWindow != nil {
		p.RotationWindow = *o.RotationWindow
	}
	if o.RotateBeforeExpiry != nil {
		p.RotateBeforeExpiry = *o.RotateBeforeExpiry
	}
	if o.RevokeGrace != nil {
		p.RevokeGrace = *o.RevokeGrace
	}
	if o.RevokeMaxDelay != nil {
		p.RevokeMaxDelay = *o.RevokeMaxDelay
	}
	return p
}

// Merge sets on o the overrides that n sets. A schedule drops a period
// override and a period a schedule (and its window), so that o never holds
// both.
func (o *Overrides) Merge(n Overrides) {
	if n.RotationPeriod != nil && *n.RotationPeriod > 0 {
		o.RotationSchedule, o.RotationWindow = nil, nil
	}
	if n.RotationSchedule != nil {
		o.RotationWindow = nil
		if *n.RotationSchedule != "" {
			o.RotationPeriod = nil
		}
	}
	for _, f := range []struct{ dst, src **time.Duration }{
		{&o.RotationPeriod, &n.RotationPeriod}, {&o.RotateBeforeExpiry, &n.RotateBeforeExpiry},
		{&o.RevokeGrace, &n.RevokeGrace}, {&o.RotationWindow, &n.RotationWindow},
		{&o.RevokeMaxDelay, &n.RevokeMaxDelay},
	} {
		if *f.src != nil {
			*f.dst = *f.src
		}
	}
	if n.RotationSchedule != nil {
		o.RotationSchedule = n.RotationSchedule
	}
}

// CheckRotationPeriod refuses a rotation period shorter than two periodic
// ticks: the periodic function could not keep it, and a credential would be
// due again before its rotation is done.
func CheckRotationPeriod(d time.Duration) error {
	if d != 0 && d < 2*Tick {
		return fmt.Errorf("must be 0 (off) or at least %s (two periodic runs), not %s", fmtDuration(2*Tick), fmtDuration(d))
	}
	return nil
}

// fmtDuration writes d in seconds, the unit the API's duration fields use.
func fmtDuration(d time.Duration) string { return fmt.Sprintf("%ds", int64(d.Seconds())) }

// ExpiryWindow is how long before its expiry a credential is rotated:
// RotateBeforeExpiry, or a third of its lifetime if smaller, but never less
// than two periodic ticks, and never more than its whole lifetime.
func (p Policy) ExpiryWindow(c *Credential) time.Duration {
	life := c.ExpiresTime.Sub(c.CreatedAt)
	window := p.RotateBeforeExpiry
	if third := life / 3; third < window {
		window = third
	}
	if window < 2*Tick {
		window = 2 * Tick
	}
	if window > life {
		window = life
	}
	return window
}

// RotationDue is when c, current at now, is to be rotated: by its schedule or
// its age, and before its expiry whatever they say; false when never.
func (p Policy) RotationDue(c *Credential, now time.Time) (time.Time, bool) {
	due, has := p.ScheduledRotation(c, now)
	if !has && p.RotationPeriod > 0 {
		due, has = c.CreatedAt.Add(p.RotationPeriod), true
	}
	if !c.ExpiresTime.IsZero() {
		byExpiry := c.ExpiresTime.Add(-p.ExpiryWindow(c))
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

// PlannedRevocation is when c, while current at now, is planned to stop
// working: its rotation plus the grace, or its expiry if sooner; false when
// neither. A rotation that is due but has not run yet counts as happening
// now, and then the credential is planned to work at least
// overdueLeaseFloor more, whatever the grace (0 included): a valid credential
// that nothing replaced yet is always served.
func (p Policy) PlannedRevocation(c *Credential, now time.Time) (time.Time, bool) {
	end, has := p.RotationDue(c, now)
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

// RevokeAt is when a credential retired at now may be revoked: once the
// grace has passed and every lease issued for it has ended.
func (p Policy) RevokeAt(c *Credential, now time.Time) time.Time {
	at := now.Add(p.RevokeGrace)
	if c.LeaseHorizon.After(at) {
		at = c.LeaseHorizon
	}
	return at
}

// ScheduledRotation is when c is to be rotated by p's schedule: the first
// scheduled time after its creation whose window has not passed at now. A
// window missed (Vault down, the upstream failing) waits for the next
// scheduled time. False when p has no schedule or it never fires.
func (p Policy) ScheduledRotation(c *Credential, now time.Time) (time.Time, bool) {
	if p.RotationSchedule == "" {
		return time.Time{}, false
	}
	sched, err := ParseSchedule(p.RotationSchedule)
	if err != nil {
		return time.Time{}, false // refused on write; never stored
	}
	// The scheduled times whose window is still open at now are those after
	// now - window.
	from := c.CreatedAt
	if p.RotationWindow > 0 && now.Add(-p.RotationWindow).After(from) {
		from = now.Add(-p.RotationWindow)
	}
	at := sched.Next(from)
	return at, !at.IsZero()
}

// ParseSchedule parses a rotation_schedule: five standard cron fields, in
// UTC, read as Vault's own rotation scheduler (sdk/rotation) reads them.
func ParseSchedule(spec string) (cron.Schedule, error) {
	return cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow).Parse(spec)
}
