package lifecycle

import (
	"testing"
	"time"
)

func TestRootRotationDue(t *testing.T) {
	p := Policy{RotationPeriod: 30 * 24 * time.Hour, RotateBeforeExpiry: 24 * time.Hour}
	r := &Root{ID: "r1", CreatedAt: t0, ExpiresTime: t0.Add(90 * 24 * time.Hour)}
	if due, ok := r.RotationDue(p, true, t0); !ok || !due.Equal(t0.Add(30*24*time.Hour)) {
		t.Errorf("by the period: %s %v", due, ok)
	}
	if due, ok := r.RotationDue(p, false, t0); !ok || !due.Equal(t0.Add(89*24*time.Hour)) {
		t.Errorf("the rotation manager keeps the period: due by expiry only, got %s %v", due, ok)
	}
	// A 10-minute root is rotated a third of its life before it expires.
	short := &Root{ID: "r2", CreatedAt: t0, ExpiresTime: t0.Add(10 * time.Minute)}
	if due, ok := short.RotationDue(p, false, t0); !ok || !due.Equal(t0.Add(10*time.Minute-10*time.Minute/3)) {
		t.Errorf("a 10-minute root: due %s %v", due, ok)
	}
	// No expiry and no policy: never.
	if _, ok := (&Root{ID: "r3", CreatedAt: t0}).RotationDue(Policy{}, true, t0); ok {
		t.Error("a root without expiry or policy is due")
	}
	// After failed attempts, the backoff.
	short.Failed("refused", false, t0.Add(8*time.Minute), t0.Add(8*time.Minute))
	short.Failed("refused", true, t0.Add(9*time.Minute), t0.Add(9*time.Minute))
	// Two ticks out, then given way near the expiry: the next tick tries.
	if due, _ := short.RotationDue(p, false, t0); !due.Equal(t0.Add(9*time.Minute + Tick/2)) {
		t.Errorf("after two failures near the expiry: due %s", due)
	}
	long := &Root{ID: "r4", CreatedAt: t0, ExpiresTime: t0.Add(90 * 24 * time.Hour)}
	long.Failed("refused", false, t0, t0)
	long.Failed("refused", false, t0.Add(2*time.Minute), t0.Add(2*time.Minute))
	if due, _ := long.RotationDue(p, true, t0.Add(31*24*time.Hour)); !due.Equal(t0.Add(30 * 24 * time.Hour)) {
		t.Errorf("an old failure delays a later due rotation: %s", due)
	}
	if len(short.UnknownCreates) != 1 || short.LastError != "refused" {
		t.Errorf("unknown windows %v, last error %q", short.UnknownCreates, short.LastError)
	}
}

func TestRootRotatedRetiresTheOldOneAndEndsTheBackoff(t *testing.T) {
	r := &Root{ID: "old", ClientID: "c-old", CreatedAt: t0, UnknownStreak: 3, LastError: "x", WarnedAt: t0}
	r.Rotated(Root{ID: "new", ClientID: "c-new", CreatedAt: t0.Add(time.Hour), ExpiresTime: t0.Add(48 * time.Hour)}, "rot-1",
		t0.Add(time.Hour), t0.Add(time.Hour+2*time.Minute))
	if r.ID != "new" || r.RotationID != "rot-1" || r.UnknownStreak != 0 || r.LastError != "" || !r.WarnedAt.IsZero() {
		t.Fatalf("after rotation: %+v", r)
	}
	if got := r.DeleteDue(t0.Add(time.Hour + time.Minute)); len(got) != 0 {
		t.Errorf("deleted before requests with it ended: %v", got)
	}
	due := r.DeleteDue(t0.Add(time.Hour + 2*time.Minute))
	if len(due) != 1 || due[0].ID != "old" {
		t.Fatalf("delete due %v", due)
	}
	r.Deleted("old", "upstream down")
	if len(r.Retired) != 1 || r.Retired[0].LastError != "upstream down" {
		t.Errorf("a failed delete: %v", r.Retired)
	}
	r.Deleted("old", "")
	if len(r.Retired) != 0 {
		t.Errorf("a deleted root is still retired: %v", r.Retired)
	}
}

func TestRootWarningOnceADayNearItsExpiry(t *testing.T) {
	p := Policy{RotateBeforeExpiry: 24 * time.Hour}
	r := &Root{ID: "r", CreatedAt: t0, ExpiresTime: t0.Add(30 * 24 * time.Hour)}
	if r.WarningDue(p, t0.Add(28*24*time.Hour)) {
		t.Error("warned two days before expiry with a one-day window")
	}
	near := t0.Add(29*24*time.Hour + time.Hour)
	if !r.WarningDue(p, near) {
		t.Fatal("no warning within the window")
	}
	r.WarnedAt = near
	if r.WarningDue(p, near.Add(23*time.Hour)) || !r.WarningDue(p, near.Add(24*time.Hour)) {
		t.Error("not once a day")
	}
	if (&Root{ID: "r"}).WarningDue(p, near) {
		t.Error("a root without expiry is warned about")
	}
}

func TestRootCheckDue(t *testing.T) {
	r := &Root{}
	if !r.CheckDue(t0) {
		t.Error("an unknown root is not read")
	}
	r.Found("id", "client", t0, t0.Add(time.Hour), t0)
	if r.CheckDue(t0.Add(RootCheckInterval-time.Second)) || !r.CheckDue(t0.Add(RootCheckInterval)) {
		t.Error("not read once per RootCheckInterval")
	}
}

func TestARootNotFoundIsNotRotated(t *testing.T) {
	r := &Root{ID: "r", CreatedAt: t0, ExpiresTime: t0.Add(time.Hour)}
	r.NotFound("client", "not among the personal clients", t0)
	if _, ok := r.RotationDue(Policy{RotationPeriod: time.Hour}, true, t0.Add(2*time.Hour)); ok {
		t.Error("a root not found upstream is due")
	}
	if r.CheckDue(t0.Add(time.Minute)) || !r.CheckDue(t0.Add(RootCheckInterval)) {
		t.Error("a root not found is read again before an hour, or not after")
	}
}

func TestCompleteRotationOfARotationCutShort(t *testing.T) {
	next := Root{ID: "new", ClientID: "c-new", CreatedAt: t0}
	// The config holds the new root; what the engine knew still names the old.
	r := &Root{ID: "old", ClientID: "c-old"}
	if !r.CompleteRotation("old", next, true, "rot", t0, t0.Add(time.Minute)) || r.ID != "new" || !r.Retiring("old") {
		t.Fatalf("after completing: %+v", r)
	}
	if r.CompleteRotation("old", next, true, "rot", t0, t0.Add(time.Minute)) {
		t.Error("completing twice changed the root again")
	}
	// A later rotation replaced the new one and a tick forgot the old one.
	later := &Root{ID: "newer", Retired: []RetiredRoot{{ID: "new"}}}
	if !later.CompleteRotation("old", next, false, "rot", t0, t0.Add(time.Minute)) || later.ID != "newer" || !later.Retiring("old") {
		t.Fatalf("after a later rotation: %+v", later)
	}
	// The old root is the current one (the create never happened): nothing to retire.
	same := &Root{ID: "old"}
	if same.CompleteRotation("old", Root{}, false, "rot", t0, t0) || len(same.Retired) != 0 {
		t.Error("the current root was retired")
	}
}
