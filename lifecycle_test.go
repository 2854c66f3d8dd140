package c1

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// The lifecycle's transitions are pure: these tests build records by hand
// and need no HTTP, storage or clock.

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func cred(id string, created time.Time, life time.Duration) *storedCredential {
	c := &storedCredential{ID: id, ClientID: "client-" + id, ClientSecret: "secret-" + id, CreatedAt: created}
	if life > 0 {
		c.ExpiresTime = created.Add(life)
	}
	return c
}

func record(current *storedCredential, retiring ...*storedCredential) *connectorEntry {
	e := newRecord(connectorKey{"app", "conn"}, policyOverrides{}, t0)
	e.Current, e.Retiring = current, retiring
	if current != nil {
		e.LastRotation = current.CreatedAt
	}
	return e
}

var testPolicy = rotationPolicy{RotationPeriod: 10 * time.Hour, RotateBeforeExpiry: time.Hour, RevokeGrace: time.Hour}

func TestLifecycleStates(t *testing.T) {
	e := record(cred("cur", t0, 0), cred("old", t0, 0), &storedCredential{ID: "leaked", RevokeNow: true})
	e.Pending = cred("new", t0, 0)
	for id, want := range map[string]credentialState{
		"cur": stateCurrent, "new": statePending, "old": stateRetiring, "leaked": stateRevokeNow, "other": stateUnmanaged,
	} {
		if got := e.stateOf(id); got != want {
			t.Errorf("state of %s = %v, want %v", id, got, want)
		}
	}
	e.beginDeregistration()
	if got := e.stateOf("old"); got != stateRevokeNow {
		t.Errorf("a retiring credential of a deregistering connector is %v, want revoke-now", got)
	}
	names := []string{}
	for s := stateUnmanaged; s <= stateOrphanSuspected; s++ {
		names = append(names, s.String())
	}
	if want := []string{"unmanaged", "pending", "current", "retiring", "revoke-now", "orphan-suspected"}; !slices.Equal(names, want) {
		t.Errorf("state names %v", names)
	}
}

func TestLifecyclePromoteRetiresTheCurrentAndEndsTheBackoff(t *testing.T) {
	e := record(cred("cur", t0, 0))
	e.recordUnknownCreate(t0, t0.Add(time.Second))
	e.LastError = "boom"
	now := t0.Add(time.Hour)
	e.Current.LeaseHorizon = now.Add(3 * time.Hour)
	e.storePending(cred("new", now, 0), now)

	prev, err := e.promote("new", testPolicy, now)
	if err != nil {
		t.Fatal(err)
	}
	if prev.ID != "cur" || e.Current.ID != "new" || e.Pending != nil {
		t.Fatalf("after promote: prev %v current %v pending %v", prev.ID, e.Current.ID, e.Pending)
	}
	if prev.ClientSecret != "" || !prev.RetiredAt.Equal(now) || !prev.RevokeAt.Equal(now.Add(3*time.Hour)) {
		t.Errorf("retired: secret kept %v, retired %v, revoke at %v (want the lease horizon)", prev.ClientSecret != "", prev.RetiredAt, prev.RevokeAt)
	}
	if e.UnknownStreak != 0 || e.UnknownCreateCount != 1 || e.LastError != "" || !e.LastRotation.Equal(now) {
		t.Errorf("streak %d count %d error %q last rotation %v", e.UnknownStreak, e.UnknownCreateCount, e.LastError, e.LastRotation)
	}
	if _, err := e.promote("other", testPolicy, now); !errors.Is(err, errPendingChanged) {
		t.Errorf("promote of a credential that is not pending: %v", err)
	}
}

func TestLifecycleALeftOverPendingIsRevokedNow(t *testing.T) {
	e := record(cred("cur", t0, 0))
	e.Pending = cred("stale", t0, 0)
	e.storePending(cred("new", t0.Add(time.Minute), 0), t0.Add(time.Minute))
	if e.Pending.ID != "new" || e.stateOf("stale") != stateRevokeNow || e.Retiring[0].ClientSecret != "" {
		t.Errorf("left-over pending: pending %s, stale %v", e.Pending.ID, e.stateOf("stale"))
	}
}

func TestLifecycleMarkRevokeNow(t *testing.T) {
	e := record(cred("cur", t0, 0), cred("old", t0, 0))
	e.Retiring[0].RevokeAt = t0.Add(time.Hour)
	e.Pending = cred("new", t0, 0)
	for id, want := range map[string]error{"cur": errCredentialIsCurrent, "new": errCredentialIsPending, "nope": errCredentialUnknown, "old": nil} {
		if err := e.markRevokeNow(id, t0); !errors.Is(err, want) {
			t.Errorf("markRevokeNow(%s) = %v, want %v", id, err, want)
		}
	}
	if e.stateOf("old") != stateRevokeNow || !e.Retiring[0].RevokeAt.Equal(t0) {
		t.Error("not marked revoke-now")
	}
}

func TestLifecycleRollBackPending(t *testing.T) {
	unfinished := newRecord(connectorKey{"app", "conn"}, policyOverrides{}, t0)
	unfinished.Pending = cred("p", t0, 0)
	if !unfinished.rollBackPending("p") || unfinished.Pending != nil {
		t.Error("a registration that never finished is not deleted")
	}
	healed := record(nil)
	healed.LastRotation = t0
	healed.Pending = cred("p", t0, 0)
	if healed.rollBackPending("p") {
		t.Error("a registered connector's record would be deleted")
	}
	if record(cred("c", t0, 0)).rollBackPending("p") {
		t.Error("rolled back a pending credential the record does not hold")
	}
}

func TestPlanWork(t *testing.T) {
	later := t0.Add(2 * time.Hour)
	dueRetiring := cred("due", t0, 0)
	dueRetiring.RevokeAt = t0.Add(time.Hour)
	notYet := cred("notyet", t0, 0)
	notYet.RevokeAt = t0.Add(3 * time.Hour)
	leaked := &storedCredential{ID: "leaked", RevokeNow: true, RevokeAt: t0}

	unregistered := newRecord(connectorKey{"app", "conn"}, policyOverrides{}, t0)
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
		e    *connectorEntry
		now  time.Time
		want workPlan
	}{
		"nothing due":             {record(cred("c", t0, 0), notYet), later, workPlan{}},
		"rotation due":            {record(cred("c", t0, 0)), t0.Add(10 * time.Hour), workPlan{Create: true}},
		"rotation before expiry":  {record(cred("c", t0, 3*time.Hour)), later, workPlan{Create: true}},
		"revocations due":         {record(cred("c", t0, 0), dueRetiring, notYet, leaked), later, workPlan{Revoke: []string{"due", "leaked"}}},
		"no current: create":      {noCurrent, later, workPlan{Create: true}},
		"no current: promote":     {withPending, later, workPlan{PromotePending: true}},
		"expired pending":         {expiredPending, later, workPlan{Create: true}},
		"registration unfinished": {unregistered, later, workPlan{}},
		"deregistering":           {deregistering, later, workPlan{Revoke: []string{"cur", "old"}}},
		"deregistered":            {emptyDeregistering, later, workPlan{Delete: true}},
	} {
		t.Run(name, func(t *testing.T) {
			got := planWork(testPolicy, tc.e, tc.now)
			if got.Create != tc.want.Create || got.PromotePending != tc.want.PromotePending || got.Delete != tc.want.Delete ||
				!slices.Equal(got.Revoke, tc.want.Revoke) {
				t.Errorf("plan %+v, want %+v", got, tc.want)
			}
			if next := nextWork(testPolicy, tc.e, tc.now); (next.Equal(tc.now)) != (tc.want.Create || tc.want.PromotePending ||
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
		e    *connectorEntry
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
			if got := nextWork(p, tc.e, t0); !got.Equal(tc.want) {
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
		now := t0.Add(time.Duration(tick) * periodicTick)
		if planWork(testPolicy, e, now).Create {
			creates = append(creates, tick)
			e.recordUnknownCreate(now, now.Add(20*time.Second))
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
		e.recordUnknownCreate(t0.Add(time.Duration(i-5)*time.Hour), t0.Add(time.Duration(i-5)*time.Hour))
	}
	e.UnknownCreates[len(e.UnknownCreates)-1].From = t0
	var creates []int
	for tick := 1; tick <= 10; tick++ {
		now := t0.Add(time.Duration(tick) * periodicTick)
		if planWork(testPolicy, e, now).Create {
			creates = append(creates, tick)
			e.recordUnknownCreate(now, now)
		}
	}
	// Two ticks before the expiry at 10m, then every tick.
	if !slices.Equal(creates, []int{8, 9, 10}) {
		t.Errorf("creates at ticks %v, want 8, 9, 10", creates)
	}
}
