package c1

import (
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/rotation"
)

// Rotation in a maintenance window: rotation_schedule (standard five-field
// cron, in UTC) and rotation_window, the alternative to rotation_period.
// Parsing, window validation and the next fire time all come from the Vault
// SDK's own scheduler (sdk/rotation), the one Vault's rotation manager uses.

// rotationScheduleField is the rotation_schedule field of config and creds/.
func rotationScheduleField(what string) *framework.FieldSchema {
	return &framework.FieldSchema{
		Type: framework.TypeString,
		Description: "Rotate " + what + " at the first time of this cron schedule (5 fields, UTC) after its creation, " +
			"instead of by age. Excludes rotation_period. Expiry still wins. An empty string turns it off.",
	}
}

// rotationWindowField is the rotation_window field of config and creds/.
func rotationWindowField() *framework.FieldSchema {
	return &framework.FieldSchema{
		Type: framework.TypeDurationSecond,
		Description: "With rotation_schedule: a rotation may start only this long after a scheduled time (at least 1h); " +
			"a missed window waits for the next one. 0 means no limit.",
	}
}

// scheduleRequest is what a request set of the rotation timing fields.
type scheduleRequest struct {
	schedule *string
	window   *time.Duration
	period   *time.Duration
}

// scheduleRequestFrom reads rotation_schedule, rotation_window and
// rotation_period from d and refuses a request that sets both a schedule and
// a period.
func scheduleRequestFrom(d *framework.FieldData) (scheduleRequest, error) {
	var r scheduleRequest
	if v, ok := d.GetOk("rotation_schedule"); ok {
		s := strings.TrimSpace(v.(string))
		r.schedule = &s
	}
	for name, dst := range map[string]**time.Duration{"rotation_window": &r.window, "rotation_period": &r.period} {
		v, ok, err := durationField(d, name)
		if err != nil {
			return r, err
		}
		if ok {
			*dst = &v
		}
	}
	if r.schedule != nil && *r.schedule != "" && r.period != nil && *r.period > 0 {
		return r, badRequest("set rotation_schedule or rotation_period, not both: a schedule replaces age-based rotation")
	}
	return r, nil
}

// applyTo sets the requested timing on p. A schedule turns the period off
// and a period turns the schedule (and its window) off, so that p never
// holds both.
func (r scheduleRequest) applyTo(p *rotationPolicy) {
	if r.period != nil {
		p.RotationPeriod = *r.period
		if *r.period > 0 {
			p.RotationSchedule, p.RotationWindow = "", 0
		}
	}
	if r.schedule != nil {
		p.RotationSchedule, p.RotationWindow = *r.schedule, 0
		if *r.schedule != "" {
			p.RotationPeriod = 0
		}
	}
	if r.window != nil {
		p.RotationWindow = *r.window
	}
}

// validateSchedule checks p's schedule and window with the SDK's scheduler;
// messages name the field.
func validateSchedule(p rotationPolicy) error {
	if p.RotationSchedule == "" {
		if p.RotationWindow != 0 {
			return badRequest("field \"rotation_window\" applies only with a rotation_schedule")
		}
		return nil
	}
	sched, err := rotation.DefaultScheduler.Parse(p.RotationSchedule)
	if err != nil {
		return badRequest("field \"rotation_schedule\" is not a 5-field cron schedule: %v", err)
	}
	if sched.Next(time.Now()).IsZero() {
		return badRequest("field \"rotation_schedule\" never fires")
	}
	if p.RotationWindow != 0 {
		if err := rotation.DefaultScheduler.ValidateRotationWindow(int(p.RotationWindow / time.Second)); err != nil {
			return badRequest("field \"rotation_window\": %v", err)
		}
	}
	return nil
}

// scheduledRotation is when c is to be rotated by p's schedule: the first
// scheduled time after its creation whose window has not passed at now. A
// window missed (Vault down, the upstream failing) waits for the next
// scheduled time. False when p has no schedule or it never fires.
func (p rotationPolicy) scheduledRotation(c *storedCredential, now time.Time) (time.Time, bool) {
	if p.RotationSchedule == "" {
		return time.Time{}, false
	}
	sched, err := rotation.DefaultScheduler.Parse(p.RotationSchedule)
	if err != nil {
		return time.Time{}, false // refused on write; never stored
	}
	rs := &rotation.RotationSchedule{Schedule: sched, RotationSchedule: p.RotationSchedule, RotationWindow: p.RotationWindow}
	// The scheduled times whose window is still open at now are those after
	// now - window.
	from := c.CreatedAt
	if p.RotationWindow > 0 && now.Add(-p.RotationWindow).After(from) {
		from = now.Add(-p.RotationWindow)
	}
	at := rotation.DefaultScheduler.NextRotationTimeFromInput(rs, from)
	return at, !at.IsZero()
}
