package c1

import (
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/rotation"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/lifecycle"
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

// scheduleRequestFrom reads rotation_schedule, rotation_window and
// rotation_period from d and refuses a request that sets both a schedule and
// a period.
func scheduleRequestFrom(d *framework.FieldData) (lifecycle.Timing, error) {
	var r lifecycle.Timing
	if v, ok := d.GetOk("rotation_schedule"); ok {
		s := strings.TrimSpace(v.(string))
		r.Schedule = &s
	}
	for name, dst := range map[string]**time.Duration{"rotation_window": &r.Window, "rotation_period": &r.Period} {
		v, ok, err := durationField(d, name)
		if err != nil {
			return r, err
		}
		if ok {
			*dst = &v
		}
	}
	if r.Schedule != nil && *r.Schedule != "" && r.Period != nil && *r.Period > 0 {
		return r, badRequest("set rotation_schedule or rotation_period, not both: a schedule replaces age-based rotation")
	}
	return r, nil
}

// validateSchedule checks p's schedule and window with the SDK's scheduler;
// messages name the field.
func validateSchedule(p lifecycle.Policy) error {
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
