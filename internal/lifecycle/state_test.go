package lifecycle

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// The lifecycle's transitions are pure: these tests build records by hand
// and need no HTTP, storage or clock.

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func cred(id string, created time.Time, life time.Duration) *Credential {
	c := &Credential{ID: id, ClientID: "client-" + id, ClientSecret: "secret-" + id, CreatedAt: created}
	if life > 0 {
		c.ExpiresTime = created.Add(life)
	}
	return c
}

func record(current *Credential, retiring ...*Credential) *Record {
	e := NewRecord(Key{"app", "conn"}, Overrides{}, t0)
	e.Current, e.Retiring = current, retiring
	if current != nil {
		e.LastRotation = current.CreatedAt
	}
	return e
}

var testPolicy = Policy{RotationPeriod: 10 * time.Hour, RotateBeforeExpiry: time.Hour, RevokeGrace: time.Hour}

func TestLifecycleStates(t *testing.T) {
	e := record(cred("cur", t0, 0), cred("old", t0, 0), &Credential{ID: "leaked", RevokeNow: true})
	e.Pending = cred("new", t0, 0)
	for id, want := range map[string]State{
		"cur": StateCurrent, "new": StatePending, "old": StateRetiring, "leaked": StateRevokeNow, "other": StateUnmanaged,
	} {
		if got := e.StateOf(id); got != want {
			t.Errorf("state of %s = %v, want %v", id, got, want)
		}
	}
	e.BeginDeregistration()
	if got := e.StateOf("old"); got != StateRevokeNow {
		t.Errorf("a retiring credential of a deregistering connector is %v, want revoke-now", got)
	}
	names := []string{}
	for s := StateUnmanaged; s <= StateOrphanSuspected; s++ {
		names = append(names, s.String())
	}
	if want := []string{"unmanaged", "pending", "current", "retiring", "revoke-now", "orphan-suspected"}; !slices.Equal(names, want) {
		t.Errorf("state names %v", names)
	}
}

func TestLifecyclePromoteRetiresTheCurrentAndEndsTheBackoff(t *testing.T) {
	e := record(cred("cur", t0, 0))
	e.RecordUnknownCreate(t0, t0.Add(time.Second))
	e.LastError = "boom"
	now := t0.Add(time.Hour)
	e.Current.LeaseHorizon = now.Add(3 * time.Hour)
	e.StorePending(cred("new", now, 0), now)

	prev, err := e.Promote("new", testPolicy, now)
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
	if _, err := e.Promote("other", testPolicy, now); !errors.Is(err, ErrPendingChanged) {
		t.Errorf("promote of a credential that is not pending: %v", err)
	}
}

func TestLifecycleALeftOverPendingIsRevokedNow(t *testing.T) {
	e := record(cred("cur", t0, 0))
	e.Pending = cred("stale", t0, 0)
	e.StorePending(cred("new", t0.Add(time.Minute), 0), t0.Add(time.Minute))
	if e.Pending.ID != "new" || e.StateOf("stale") != StateRevokeNow || e.Retiring[0].ClientSecret != "" {
		t.Errorf("left-over pending: pending %s, stale %v", e.Pending.ID, e.StateOf("stale"))
	}
}

func TestLifecycleMarkRevokeNow(t *testing.T) {
	e := record(cred("cur", t0, 0), cred("old", t0, 0))
	e.Retiring[0].RevokeAt = t0.Add(time.Hour)
	e.Pending = cred("new", t0, 0)
	for id, want := range map[string]error{"cur": ErrCredentialIsCurrent, "new": ErrCredentialIsPending, "nope": ErrCredentialUnknown, "old": nil} {
		if err := e.MarkRevokeNow(id, t0); !errors.Is(err, want) {
			t.Errorf("markRevokeNow(%s) = %v, want %v", id, err, want)
		}
	}
	if e.StateOf("old") != StateRevokeNow || !e.Retiring[0].RevokeAt.Equal(t0) {
		t.Error("not marked revoke-now")
	}
}

func TestLifecycleRollBackPending(t *testing.T) {
	unfinished := NewRecord(Key{"app", "conn"}, Overrides{}, t0)
	unfinished.Pending = cred("p", t0, 0)
	if !unfinished.RollBackPending("p") || unfinished.Pending != nil {
		t.Error("a registration that never finished is not deleted")
	}
	healed := record(nil)
	healed.LastRotation = t0
	healed.Pending = cred("p", t0, 0)
	if healed.RollBackPending("p") {
		t.Error("a registered connector's record would be deleted")
	}
	if record(cred("c", t0, 0)).RollBackPending("p") {
		t.Error("rolled back a pending credential the record does not hold")
	}
}

func TestForgottenRotationsAreRemembered(t *testing.T) {
	c := cred("old", t0, 0)
	c.RotationID = "rot-1"
	e := record(cred("cur", t0, 0), c)
	e.Forget("old")
	if e.StateOf("old") != StateUnmanaged || !e.HoldsRotation("rot-1") {
		t.Fatal("a forgotten credential's rotation is not known as completed")
	}
	for i := range 2 * maxForgottenRotationsKept {
		x := cred("x", t0, 0)
		x.RotationID = "r" + string(rune('a'+i%26)) + time.Duration(i).String()
		e.Retiring = append(e.Retiring, x)
		e.Forget("x")
	}
	if len(e.ForgottenRotations) != maxForgottenRotationsKept {
		t.Errorf("%d forgotten rotations kept, want %d", len(e.ForgottenRotations), maxForgottenRotationsKept)
	}
}

func TestLeftOverIsPromotedOnlyOnPositiveEvidence(t *testing.T) {
	p := cred("p", t0, time.Hour)
	for _, tc := range []struct {
		name string
		r    Reading
		now  time.Time
		want bool
	}{
		{"found", Reading{Outcome: ReadFound}, t0, true},
		{"no answer", Reading{}, t0, false},
		{"a 404", Reading{Outcome: ReadNotFound}, t0, false},
		{"deleted", Reading{Outcome: ReadFound, DeletedAt: t0}, t0, false},
		{"expired", Reading{Outcome: ReadFound}, t0.Add(time.Hour), false},
	} {
		if got := PromotableLeftOver(p, tc.r, tc.now); got != tc.want {
			t.Errorf("%s: promotable %v, want %v", tc.name, got, tc.want)
		}
	}
}
