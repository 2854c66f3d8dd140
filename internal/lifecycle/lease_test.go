package lifecycle

import (
	"testing"
	"time"
)

func TestLeaseTTL(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		max  time.Duration
		ends []time.Time
		want time.Duration
		ok   bool
	}{
		{"no ends: max", time.Hour, nil, time.Hour, true},
		{"earliest end", 10 * time.Hour, []time.Time{now.Add(3 * time.Hour), now.Add(2 * time.Hour)}, 2 * time.Hour, true},
		{"zero ends ignored", time.Hour, []time.Time{{}, now.Add(30 * time.Minute)}, 30 * time.Minute, true},
		{"max caps", time.Hour, []time.Time{now.Add(3 * time.Hour)}, time.Hour, true},
		{"past end refused", time.Hour, []time.Time{now.Add(-time.Second)}, -time.Second, false},
		{"under a second refused", time.Hour, []time.Time{now.Add(500 * time.Millisecond)}, 0, false},
	} {
		got, ok := LeaseTTL(now, tc.max, tc.ends...)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: got %v %v, want %v %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}
