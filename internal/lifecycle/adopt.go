package lifecycle

import "time"

// Adoption: a connector's existing credential, made outside the engine, is
// taken over as its current credential, so that a running connector moves
// under Vault without a new credential or a restart. From then on it is like
// any other: leased until it stops working, rotated by the policy, and
// revoked once replaced, its leases ended and unused upstream.

// AdoptionEvidence is what the upstream said of a credential offered for
// adoption: a read of it under the connector, and whether a login with the
// offered client id and secret succeeded.
type AdoptionEvidence struct {
	// Found: the read under the connector answered with the credential.
	Found                        bool
	AppID, ConnectorID, ClientID string
	DeletedAt, ExpiresTime       time.Time
	// LoggedIn: a login with the offered client id and secret succeeded.
	LoggedIn bool
}

// Problem says why the credential may not be adopted under connector k with
// client id clientID at now: the request field to name, and what is wrong;
// two empty strings when it may be.
func (ev AdoptionEvidence) Problem(k Key, clientID string, now time.Time) (field, why string) {
	switch {
	case !ev.Found:
		return "credential_id", "the upstream knows no such credential of connector " + k.String() + " (it may belong to another connector)"
	case ev.AppID != "" && ev.AppID != k.AppID, ev.ConnectorID != "" && ev.ConnectorID != k.ConnectorID:
		return "credential_id", "the credential belongs to connector " + ev.AppID + "/" + ev.ConnectorID + ", not " + k.String()
	case !ev.DeletedAt.IsZero() && !ev.DeletedAt.After(now):
		return "credential_id", "the credential was revoked or deleted upstream"
	case !ev.ExpiresTime.IsZero() && !ev.ExpiresTime.After(now):
		return "credential_id", "the credential has expired"
	case ev.ClientID != clientID:
		return "client_id", "it is not the client id of the credential"
	case !ev.LoggedIn:
		return "client_secret", "a login with client_id and client_secret was refused"
	}
	return "", ""
}

// AdoptStep is what an adoption does with the record it finds.
type AdoptStep int

const (
	// AdoptNew: the credential becomes current (no record, or a
	// registration that never completed).
	AdoptNew AdoptStep = iota
	// AdoptReplace: it replaces the current credential, which retires like
	// a rotated one.
	AdoptReplace
	// AdoptConflict: the connector is managed and the request did not say
	// to replace its current credential.
	AdoptConflict
	// AdoptDeregistering: the connector's deletion began.
	AdoptDeregistering
)

// DecideAdopt decides what an adoption does with record e (nil: not
// managed); replace says the request asks to replace a current credential.
func DecideAdopt(e *Record, replace bool) AdoptStep {
	switch {
	case e == nil || (!e.Registered() && e.Current == nil):
		return AdoptNew
	case e.Deregistering:
		return AdoptDeregistering
	case !replace:
		return AdoptConflict
	}
	return AdoptReplace
}

// Adopt makes c, a credential made outside the engine and checked upstream,
// current at now. A current credential it replaces retires like a rotated
// one (revoked once its grace and leases passed and it is unused
// upstream); a left-over pending one is revoked at once. It returns the
// replaced credential.
func (e *Record) Adopt(c *Credential, p Policy, now time.Time) *Credential {
	c.AdoptedAt = now
	if e.Pending != nil {
		e.AbandonPending(e.Pending.ID, now)
	}
	prev := e.Current
	if prev != nil {
		e.retire(prev, now, p.RevokeAt(prev, now), false)
	}
	e.Current = c
	e.LastRotation, e.LastError, e.LastErrorAt = now, "", time.Time{}
	e.UnknownStreak = 0
	return prev
}
