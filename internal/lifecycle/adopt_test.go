package lifecycle

import (
	"testing"
	"time"
)

func TestAdoptionProblem(t *testing.T) {
	k := Key{AppID: "app", ConnectorID: "conn"}
	ok := AdoptionEvidence{Found: true, LoggedIn: true, AppID: "app", ConnectorID: "conn", ClientID: "cid", ExpiresTime: t0.Add(time.Hour)}
	for _, tc := range []struct {
		name  string
		edit  func(*AdoptionEvidence)
		field string
	}{
		{"adoptable", func(*AdoptionEvidence) {}, ""},
		{"login refused", func(ev *AdoptionEvidence) { ev.LoggedIn = false }, "client_secret"},
		{"unknown upstream", func(ev *AdoptionEvidence) { ev.Found = false }, "credential_id"},
		{"another connector's", func(ev *AdoptionEvidence) { ev.ConnectorID = "other" }, "credential_id"},
		{"deleted", func(ev *AdoptionEvidence) { ev.DeletedAt = t0 }, "credential_id"},
		{"a future deletedAt is not deleted", func(ev *AdoptionEvidence) { ev.DeletedAt = t0.Add(time.Minute) }, ""},
		{"expired", func(ev *AdoptionEvidence) { ev.ExpiresTime = t0 }, "credential_id"},
		{"no expiry", func(ev *AdoptionEvidence) { ev.ExpiresTime = time.Time{} }, ""},
		{"another client id", func(ev *AdoptionEvidence) { ev.ClientID = "other" }, "client_id"},
	} {
		ev := ok
		tc.edit(&ev)
		if field, why := ev.Problem(k, "cid", t0); field != tc.field || (field != "" && why == "") {
			t.Errorf("%s: field %q (%s), want %q", tc.name, field, why, tc.field)
		}
	}
}

func TestDecideAdopt(t *testing.T) {
	managed := record(cred("cur", t0, 0))
	inDoubt := NewRecord(Key{"app", "conn"}, Overrides{}, t0)
	deregistering := record(cred("cur", t0, 0))
	deregistering.Deregistering = true
	for _, tc := range []struct {
		name    string
		e       *Record
		replace bool
		want    AdoptStep
	}{
		{"not managed", nil, false, AdoptNew},
		{"a registration that never completed", inDoubt, false, AdoptNew},
		{"managed", managed, false, AdoptConflict},
		{"managed, replace", managed, true, AdoptReplace},
		{"deregistering", deregistering, true, AdoptDeregistering},
	} {
		if got := DecideAdopt(tc.e, tc.replace); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestAdoptRetiresTheReplacedCredentialLikeARotation(t *testing.T) {
	e := record(cred("cur", t0, 0))
	e.Pending = cred("left", t0, 0)
	now := t0.Add(time.Hour)
	prev := e.Adopt(cred("adopted", t0.Add(-24*time.Hour), 0), testPolicy, now)
	if prev == nil || prev.ID != "cur" || e.Current.ID != "adopted" || !e.Current.AdoptedAt.Equal(now) {
		t.Fatalf("after adoption: prev %v current %v", prev, e.Current)
	}
	if e.StateOf("cur") != StateRetiring || !prev.RevokeAt.Equal(now.Add(testPolicy.RevokeGrace)) {
		t.Errorf("the replaced credential: %v, revoke at %s", e.StateOf("cur"), prev.RevokeAt)
	}
	if e.StateOf("left") != StateRevokeNow || e.Pending != nil {
		t.Errorf("the left-over pending credential: %v", e.StateOf("left"))
	}
	if !e.Registered() {
		t.Error("an adopted connector is not registered")
	}
}
