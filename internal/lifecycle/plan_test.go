package lifecycle

import (
	"slices"
	"testing"
	"time"
)

func TestPlanWork(t *testing.T) {
	later := t0.Add(2 * time.Hour)
	dueRetiring := cred("due", t0, 0)
	dueRetiring.RevokeAt = t0.Add(time.Hour)
	notYet := cred("notyet", t0, 0)
	notYet.RevokeAt = t0.Add(3 * time.Hour)
	leaked := &Credential{ID: "leaked", RevokeNow: true, RevokeAt: t0}

	unregistered := NewRecord(Key{"app", "conn"}, Overrides{}, t0)
	unregistered.Pending = cred("p", t0, 0)
	noCurrent := record(nil)
	noCurrent.LastRotation = t0
	withPending := record(nil)
	withPending.LastRotation = t0
	withPending.Pending = cred("p", t0, 10*time.Hour)
	expiredPending := record(nil)
	expiredPending.LastRotation = t0
	expiredPending.Pending = cred("p", t0, time.Hour)
	deregistering := record(cred("cur", t0, 0), cred("old", t0, 0))
	deregistering.Deregistering = true
	emptyDeregistering := record(nil)
	emptyDeregistering.Deregistering = true

	for name, tc := range map[string]struct {
		e    *Record
		now  time.Time
		want Plan
	}{
		"nothing due":             {record(cred("c", t0, 0), notYet), later, Plan{}},
		"rotation due":            {record(cred("c", t0, 0)), t0.Add(10 * time.Hour), Plan{Create: true}},
		"rotation before expiry":  {record(cred("c", t0, 3*time.Hour)), later, Plan{Create: true}},
		"revocations due":         {record(cred("c", t0, 0), dueRetiring, notYet, leaked), later, Plan{Revoke: []string{"due", "leaked"}}},
		"no current: create":      {noCurrent, later, Plan{Create: true}},
		"no current: promote":     {withPending, later, Plan{PromotePending: true}},
		"expired pending":         {expiredPending, later, Plan{Create: true}},
		"registration unfinished": {unregistered, later, Plan{}},
		"deregistering":           {deregistering, later, Plan{Revoke: []string{"cur", "old"}}},
		"deregistered":            {emptyDeregistering, later, Plan{Delete: true}},
	} {
		t.Run(name, func(t *testing.T) {
			got := PlanWork(testPolicy, tc.e, tc.now)
			if got.Create != tc.want.Create || got.PromotePending != tc.want.PromotePending || got.Delete != tc.want.Delete ||
				!slices.Equal(got.Revoke, tc.want.Revoke) {
				t.Errorf("plan %+v, want %+v", got, tc.want)
			}
			if next := NextWork(testPolicy, tc.e, tc.now); (next.Equal(tc.now)) != (tc.want.Create || tc.want.PromotePending ||
				tc.want.Delete || len(tc.want.Revoke) > 0) {
				t.Errorf("nextWork %v at %v disagrees with the plan", next, tc.now)
			}
		})
	}
}

func TestNextWork(t *testing.T) {
	notYet := cred("notyet", t0, 0)
	notYet.RevokeAt = t0.Add(3 * time.Hour)
	for name, tc := range map[string]struct {
		e    *Record
		want time.Time
	}{
		"rotation by age":    {record(cred("c", t0, 0)), t0.Add(10 * time.Hour)},
		"rotation by expiry": {record(cred("c", t0, 3*time.Hour)), t0.Add(2 * time.Hour)},
		"revocation first":   {record(cred("c", t0, 0), notYet), t0.Add(3 * time.Hour)},
		"never":              {record(cred("c", t0, 0)), time.Time{}},
	} {
		t.Run(name, func(t *testing.T) {
			p := testPolicy
			if name == "never" {
				p.RotationPeriod = 0
			}
			if got := NextWork(p, tc.e, t0); !got.Equal(tc.want) {
				t.Errorf("nextWork = %v, want %v", got, tc.want)
			}
		})
	}
}

// A persistently ambiguous upstream: every periodic create ends with an
// unknown outcome. Creates happen at ticks 0, 2, 5, 10, 19, ...: at most 2 in
// any 4 ticks, and at most one an hour once the backoff is capped.
func TestCreateBackoffAfterUnknownOutcomes(t *testing.T) {
	e := record(cred("c", t0.Add(-100*time.Hour), 0)) // due long ago, never expires
	var creates []int
	for tick := 0; tick < 1500; tick++ {
		now := t0.Add(time.Duration(tick) * Tick)
		if PlanWork(testPolicy, e, now).Create {
			creates = append(creates, tick)
			e.RecordUnknownCreate(now, now.Add(20*time.Second))
		}
	}
	if !slices.Equal(creates[:5], []int{0, 2, 5, 10, 19}) {
		t.Errorf("creates at ticks %v", creates)
	}
	for i := 2; i < len(creates); i++ {
		if creates[i]-creates[i-2] < 4 {
			t.Errorf("three creates within 4 ticks: %v", creates[i-2:i+1])
		}
	}
	if gap := creates[len(creates)-1] - creates[len(creates)-2]; gap != 61 {
		t.Errorf("capped gap %d ticks, want an hour and one tick", gap)
	}
	if len(e.UnknownCreates) != maxUnknownCreatesKept || e.UnknownCreateCount != len(creates) {
		t.Errorf("kept %d windows, counted %d of %d", len(e.UnknownCreates), e.UnknownCreateCount, len(creates))
	}
}

// The backoff gives way when the current credential would expire before the
// next attempt: then it tries every tick.
func TestCreateBackoffGivesWayBeforeExpiry(t *testing.T) {
	e := record(cred("c", t0.Add(-50*time.Minute), time.Hour)) // expires at t0+10m, due since t0-30m
	for i := range 5 {
		e.RecordUnknownCreate(t0.Add(time.Duration(i-5)*time.Hour), t0.Add(time.Duration(i-5)*time.Hour))
	}
	e.UnknownCreates[len(e.UnknownCreates)-1].From = t0
	var creates []int
	for tick := 1; tick <= 10; tick++ {
		now := t0.Add(time.Duration(tick) * Tick)
		if PlanWork(testPolicy, e, now).Create {
			creates = append(creates, tick)
			e.RecordUnknownCreate(now, now)
		}
	}
	// Two ticks before the expiry at 10m, then every tick.
	if !slices.Equal(creates, []int{8, 9, 10}) {
		t.Errorf("creates at ticks %v, want 8, 9, 10", creates)
	}
}

// A current credential found revoked upstream is replaced at once, but the
// create obeys the backoff after unknown outcomes like any other, with a
// cap of NoCredentialBackoff while the connector has no working credential.
func TestCreateForADeadCredentialObeysTheShortBackoff(t *testing.T) {
	p := Policy{RotationPeriod: 720 * time.Hour}
	e := record(cred("cur", t0, 0))
	e.Current.RevokedUpstreamAt = t0
	if plan := PlanWork(p, e, t0); !plan.Create {
		t.Fatal("a dead current credential is not replaced at once")
	}
	var creates []time.Duration
	now := t0
	for range 30 {
		if PlanWork(p, e, now).Create {
			creates = append(creates, now.Sub(t0))
			e.RecordUnknownCreate(now, now.Add(time.Second))
		}
		now = now.Add(Tick)
	}
	want := []time.Duration{0, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 16 * time.Minute, 22 * time.Minute, 28 * time.Minute}
	if !slices.Equal(creates, want) {
		t.Errorf("creates at %v, want %v (1, 2, 4 ticks sat out, then at most 5 minutes)", creates, want)
	}
	// Without any current credential, the same.
	n := record(nil)
	n.LastRotation = t0
	n.RecordUnknownCreate(t0, t0.Add(time.Second))
	if PlanWork(p, n, t0.Add(Tick/2)).Create || !PlanWork(p, n, t0.Add(2*Tick)).Create {
		t.Error("a connector without a current credential ignores the backoff")
	}
}

func TestPromoteOfAReplacementForAnOutOfBandRevocation(t *testing.T) {
	e := record(cred("dead", t0, 0))
	e.Current.RevokedUpstreamAt = t0
	e.Pending = cred("new", t0, 0)
	prev, err := e.Promote("new", testPolicy, t0.Add(time.Minute))
	if err != nil || prev.ID != "dead" {
		t.Fatal(prev, err)
	}
	if e.OutOfBandReplacement != "new" || e.StateOf("dead") != StateRetiring {
		t.Errorf("replacement %q, the dead one %v", e.OutOfBandReplacement, e.StateOf("dead"))
	}
}
