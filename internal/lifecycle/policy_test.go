package lifecycle

import (
	"testing"
	"time"
)

// t0 of the test clock: 2026-03-01 12:00 UTC (a Sunday).
var scheduleT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func at(day, hour, minute int) time.Time {
	return time.Date(2026, 3, day, hour, minute, 0, 0, time.UTC)
}

func TestRotationDueBySchedule(t *testing.T) {
	never := &Credential{CreatedAt: scheduleT0}
	expiring := &Credential{CreatedAt: scheduleT0, ExpiresTime: scheduleT0.Add(8 * time.Hour)}
	nightly := Policy{RotationSchedule: "0 3 * * *", RotateBeforeExpiry: 24 * time.Hour}
	windowed := nightly
	windowed.RotationWindow = time.Hour
	weekly := Policy{RotationSchedule: "30 2 * * 6", RotationPeriod: 0}

	for _, tc := range []struct {
		name string
		p    Policy
		c    *Credential
		now  time.Time
		want time.Time
	}{
		{"first scheduled time after creation", nightly, never, at(1, 12, 1), at(2, 3, 0)},
		{"a due time stays due without a window", nightly, never, at(2, 9, 0), at(2, 3, 0)},
		{"inside the window", windowed, never, at(2, 3, 59), at(2, 3, 0)},
		{"a missed window waits for the next", windowed, never, at(2, 4, 0), at(3, 3, 0)},
		{"many missed windows skip to the next open one", windowed, never, at(9, 5, 0), at(10, 3, 0)},
		{"day of week", weekly, never, at(1, 12, 0), at(7, 2, 30)},
		// 8h lifetime: rotated a third of it (2h40m) before expiry, 17:20, before the night.
		{"expiry wins over the schedule", nightly, expiring, at(1, 12, 0), at(1, 17, 20)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.p.RotationDue(tc.c, tc.now)
			if !ok || !got.Equal(tc.want) {
				t.Fatalf("rotationDue = %s, %v; want %s", got, ok, tc.want)
			}
		})
	}
	// A schedule replaces the period; with neither and no expiry, never.
	if _, ok := (Policy{}).RotationDue(never, scheduleT0); ok {
		t.Error("a policy without period, schedule or expiry is due")
	}
}
