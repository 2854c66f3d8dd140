package lifecycle

import (
	"testing"
	"time"
)

func TestDecideRevocation(t *testing.T) {
	retired := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	p := Policy{RevokeGrace: 10 * time.Minute, RevokeMaxDelay: time.Hour}
	c := &Credential{RetiredAt: retired, RevokeAt: retired.Add(10 * time.Minute)}
	expiring := &Credential{RetiredAt: retired, RevokeAt: retired.Add(10 * time.Minute), ExpiresTime: retired.Add(30 * time.Minute)}
	due := retired.Add(10 * time.Minute)
	used := func(at time.Time) Reading { return Reading{Outcome: ReadFound, LastUsedAt: at} }
	for _, tc := range []struct {
		name string
		c    *Credential
		r    Reading
		now  time.Time
		want Verdict
	}{
		{"never used", c, used(time.Time{}), due, VerdictRevoke},
		{"last used before its retirement", c, used(retired.Add(-time.Minute)), due, VerdictRevoke},
		{"used after its retirement, within the grace", c, used(retired.Add(5 * time.Minute)), due, VerdictHold},
		{"unused for the grace since its last use", c, used(retired.Add(5 * time.Minute)), retired.Add(15 * time.Minute), VerdictRevoke},
		{"still used at the hard deadline", c, used(retired.Add(69 * time.Minute)), retired.Add(70 * time.Minute), VerdictRevoke},
		{"still used just before the deadline", c, used(retired.Add(69 * time.Minute)), retired.Add(70*time.Minute - time.Second), VerdictHold},
		{"the deadline never passes the expiry", expiring, used(retired.Add(29 * time.Minute)), retired.Add(30 * time.Minute), VerdictRevoke},
		{"deleted upstream: revoked all the same", c, Reading{Outcome: ReadFound, DeletedAt: due, LastUsedAt: due}, due, VerdictRevoke},
		{"a 404: revoked all the same, never forgotten on the read alone", c, Reading{Outcome: ReadNotFound}, due, VerdictRevoke},
		{"a deletedAt in the future is not gone", c, Reading{Outcome: ReadFound, DeletedAt: due.Add(time.Hour), LastUsedAt: retired.Add(5 * time.Minute)}, due, VerdictHold},
		{"usage unknown: wait a tick", c, Reading{}, due, VerdictHold},
		{"usage unknown at the deadline", c, Reading{}, retired.Add(70 * time.Minute), VerdictRevoke},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := DecideRevocation(p, tc.c, tc.r, tc.now); got != tc.want {
				t.Fatalf("verdict %d, want %d", got, tc.want)
			}
		})
	}
	// revoke_max_delay 0: nothing is ever held back.
	if got := DecideRevocation(Policy{RevokeGrace: time.Hour}, c, used(due), due); got != VerdictRevoke {
		t.Errorf("with revoke_max_delay 0 a used credential was held back")
	}
	// A credential to revoke at once is never checked.
	leaked := &Credential{RevokeNow: true}
	if (&Record{}).UsageChecked(leaked) || (&Record{Deregistering: true}).UsageChecked(c) {
		t.Error("a revoke-now or deregistering credential waits on its usage")
	}
}

func TestVerifyDueSpreadsChecksOverTheInterval(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	e := &Record{Current: &Credential{ID: "c"}, LastRotation: t0}
	const interval = 10 * time.Minute
	phase := 3 * time.Minute // slots start at :03, :13, :23, ...
	for _, tc := range []struct {
		now  time.Time
		want bool
	}{
		{t0.Add(2 * time.Minute), false},
		{t0.Add(3 * time.Minute), true},
		{t0.Add(12 * time.Minute), true},
	} {
		if got := VerifyDue(e, time.Time{}, phase, interval, tc.now); got != tc.want {
			t.Errorf("at %s: due %v, want %v", tc.now.Format("15:04"), got, tc.want)
		}
	}
	checked := t0.Add(3 * time.Minute) // a check remembered in memory, not stored
	if VerifyDue(e, checked, phase, interval, t0.Add(12*time.Minute)) || !VerifyDue(e, checked, phase, interval, t0.Add(13*time.Minute)) {
		t.Error("after a check at 12:03 the next is due at 12:13, not before")
	}
	// A failed check is remembered by no one: the 12:03 one stays the last.
	if !VerifyDue(e, checked, phase, interval, t0.Add(14*time.Minute)) {
		t.Error("a failed check is not retried on the next tick")
	}
	if VerifyDue(e, time.Time{}, phase, 0, t0.Add(time.Hour)) {
		t.Error("verify_interval 0 still checks")
	}
	// Phases of many connectors cover the interval.
	seen := map[time.Duration]bool{}
	for _, id := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		seen[VerifyPhase(Key{"app", id}, interval)/time.Minute] = true
	}
	if len(seen) < 4 {
		t.Errorf("8 connectors fall in %d distinct minutes of a 10-minute interval", len(seen))
	}
}

func TestNextVerifyIsTheStartOfTheNextSlot(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	e := &Record{Current: &Credential{ID: "c"}, LastRotation: t0}
	const interval = 10 * time.Minute
	phase := 3 * time.Minute // slots start at :03, :13, :23, ...
	if got := NextVerify(e, time.Time{}, phase, interval, t0.Add(time.Minute)); !got.Equal(t0.Add(3 * time.Minute)) {
		t.Errorf("before the first slot: next check %s, want 12:03", got.Format("15:04"))
	}
	if got := NextVerify(e, time.Time{}, phase, interval, t0.Add(5*time.Minute)); !got.Equal(t0.Add(5 * time.Minute)) {
		t.Errorf("a check that is due: next check %s, want now (12:05)", got.Format("15:04"))
	}
	checked := t0.Add(5 * time.Minute)
	if got := NextVerify(e, checked, phase, interval, t0.Add(6*time.Minute)); !got.Equal(t0.Add(13 * time.Minute)) {
		t.Errorf("after a check at 12:05: next check %s, want 12:13", got.Format("15:04"))
	}
	if got := NextVerify(e, time.Time{}, phase, 0, t0); !got.IsZero() {
		t.Errorf("verify_interval 0: next check %s, want none", got)
	}
	// The sweep's index takes the check when it comes before any other work.
	p := Policy{RotationPeriod: 24 * time.Hour}
	k := Key{"app", "conn"}
	e.Current.CreatedAt = t0
	want := NextVerify(e, checked, VerifyPhase(k, interval), interval, t0.Add(6*time.Minute))
	if got := NextDue(p, interval, k, e, checked, t0.Add(6*time.Minute)); !got.Equal(want) || got.After(t0.Add(16*time.Minute)) {
		t.Errorf("NextDue %s, want the next check %s", got, want)
	}
}

func TestReadsGoneAndAlive(t *testing.T) {
	now := t0
	for _, tc := range []struct {
		name        string
		r           Reading
		gone, alive bool
	}{
		{"found", Reading{Outcome: ReadFound}, false, true},
		{"a 404", Reading{Outcome: ReadNotFound}, true, false},
		{"deletedAt now", Reading{Outcome: ReadFound, DeletedAt: now}, true, false},
		{"deletedAt past", Reading{Outcome: ReadFound, DeletedAt: now.Add(-time.Minute)}, true, false},
		{"deletedAt in the future", Reading{Outcome: ReadFound, DeletedAt: now.Add(time.Minute)}, false, true},
		{"no answer", Reading{}, false, false},
	} {
		if got := tc.r.ReadsGone(now); got != tc.gone {
			t.Errorf("%s: reads gone %v, want %v", tc.name, got, tc.gone)
		}
		if got := tc.r.ReadsAlive(now); got != tc.alive {
			t.Errorf("%s: reads alive %v, want %v", tc.name, got, tc.alive)
		}
	}
}

func TestJudgeCheck(t *testing.T) {
	const interval = 10 * time.Minute
	gone := Reading{Outcome: ReadNotFound}
	plain := func() *Record { return record(cred("cur", t0, 0)) }
	replacement := func() *Record {
		e := plain()
		e.OutOfBandAt, e.OutOfBandReplacement = t0.Add(-time.Hour), "cur"
		return e
	}
	recent := func() *Record {
		e := plain()
		e.OutOfBandAt, e.OutOfBandReplacement = t0.Add(-time.Minute), "other"
		return e
	}
	suspended := func() *Record { e := plain(); e.VerifySuspended = "why"; return e }
	for _, tc := range []struct {
		name string
		e    *Record
		r    Reading
		want CheckVerdict
	}{
		{"found", plain(), Reading{Outcome: ReadFound}, CheckValid},
		{"no answer", plain(), Reading{}, CheckFailed},
		{"gone: replace", plain(), gone, CheckRevoked},
		{"a future deletedAt is valid", plain(), Reading{Outcome: ReadFound, DeletedAt: t0.Add(time.Hour)}, CheckValid},
		{"the replacement of one that read as gone reads as gone too", replacement(), gone, CheckDistrusted},
		{"a second out-of-band revocation within the interval", recent(), gone, CheckDistrusted},
		{"suspended: gone is not trusted", suspended(), gone, CheckDistrusted},
		{"suspended: found resumes", suspended(), Reading{Outcome: ReadFound}, CheckValid},
	} {
		if got := tc.e.JudgeCheck(tc.r, interval, t0); got != tc.want {
			t.Errorf("%s: verdict %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestRecordCheckWritesOnlyWhatChanged(t *testing.T) {
	e := record(cred("cur", t0, 0))
	if e.RecordCheck(CheckValid, CheckResultValid, t0) {
		t.Fatal("a first check that found the credential valid changed the record: it would be written")
	}
	if e.RecordCheck(CheckValid, CheckResultValid, t0.Add(10*time.Minute)) {
		t.Error("a check that found what the last one found changed the record: it would be written")
	}
	if e.RecordCheck(CheckFailed, "no answer", t0.Add(20*time.Minute)) {
		t.Error("a failed check changed the record")
	}
	if !e.RecordCheck(CheckRevoked, "gone", t0.Add(30*time.Minute)) || e.Current.RevokedUpstreamAt.IsZero() || e.Working() != nil {
		t.Error("a revoked current credential is still working")
	}
	if !e.OutOfBandAt.Equal(t0.Add(30 * time.Minute)) {
		t.Errorf("out-of-band time %s", e.OutOfBandAt)
	}
	d := record(cred("cur", t0, 0))
	if !d.RecordCheck(CheckDistrusted, "not trusted", t0) || d.VerifySuspended != "not trusted" || d.Working() == nil {
		t.Errorf("a distrusted read: suspended %q, working %v", d.VerifySuspended, d.Working())
	}
	if d.RecordCheck(CheckDistrusted, "not trusted", t0.Add(time.Minute)) {
		t.Error("a second distrusted read changed the record")
	}
	if !d.RecordCheck(CheckValid, CheckResultValid, t0.Add(2*time.Minute)) || d.VerifySuspended != "" {
		t.Error("a valid check did not lift the suspension")
	}
}
