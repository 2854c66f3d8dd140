package c1

import (
	"time"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/lifecycle"
)

// Vault Secrets Operator reads a non-renewable secret with allowStaticCreds
// set as a "static credential" that Vault rotates itself, from four fields of
// the answer: last_vault_rotation (RFC 3339), rotation_period (whole seconds,
// at least 1) or rotation_schedule, and ttl (whole seconds to the next
// rotation). It re-reads after ttl, and syncs the destination (restarting its
// rollout targets) only when the other fields changed, that is when the
// credential did. These fields give it that view of a creds read.

// staticCredsFields are the rotation fields of a creds read of c, current
// under policy p at now. rotation_period is the policy's period; when the
// policy rotates on a schedule it is left out and rotation_schedule and
// rotation_window are given; when only expiry rotates the credential it is
// the credential's own rotation interval, so that it is never 0 for a
// credential that will be rotated. ttl counts to the rotation that is due
// first, the schedule's or the expiry's.
func staticCredsFields(p lifecycle.Policy, c *lifecycle.Credential, now time.Time) map[string]any {
	out := map[string]any{
		"last_vault_rotation": formatTime(c.CreatedAt),
		"ttl":                 int64(0),
	}
	due, ok := p.RotationDue(c, now)
	if !ok {
		out["rotation_period"] = int64(0)
		return out
	}
	if left := due.Sub(now); left > 0 {
		out["ttl"] = int64(left / time.Second)
	}
	if p.RotationSchedule != "" {
		out["rotation_schedule"] = p.RotationSchedule
		out["rotation_window"] = int64(p.RotationWindow / time.Second)
		return out
	}
	period := p.RotationPeriod
	if period <= 0 {
		period = due.Sub(c.CreatedAt)
	}
	out["rotation_period"] = max(int64(period/time.Second), 1)
	return out
}
