package lifecycle

import (
	"slices"
	"time"
)

// Credential is one C1 connector credential the engine created.
type Credential struct {
	ID           string    `json:"id"`
	ClientID     string    `json:"client_id"`
	ClientSecret string    `json:"client_secret,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	ExpiresTime  time.Time `json:"expires_time,omitempty"`
	// RotationID ties a pending credential to the WAL entry of the rotation
	// that created it.
	RotationID string `json:"rotation_id,omitempty"`
	// LeaseHorizon is the latest end of any lease issued for this credential.
	LeaseHorizon time.Time `json:"lease_horizon,omitempty"`
	// RetiredAt and RevokeAt are set once a newer credential replaced it.
	RetiredAt time.Time `json:"retired_at,omitempty"`
	RevokeAt  time.Time `json:"revoke_at,omitempty"`
	// RevokeNow marks a retiring credential to be revoked at once, without
	// grace, on every periodic run until the upstream confirms.
	RevokeNow bool `json:"revoke_now,omitempty"`
	// LastUsedAt is the upstream's lastUsedAt of a retiring credential, read
	// when its revocation came due; HeldSince is when a use after its
	// retirement first held the revocation back.
	LastUsedAt time.Time `json:"last_used_at,omitempty"`
	HeldSince  time.Time `json:"held_since,omitempty"`
	// RevokedUpstreamAt is when a check found this current credential
	// revoked upstream out of band: from then on it is not served.
	RevokedUpstreamAt time.Time `json:"revoked_upstream_at,omitempty"`
	// AdoptedAt is when the engine took over this credential, made outside
	// it; zero for one it created.
	AdoptedAt time.Time `json:"adopted_at,omitempty"`
}

// Record is the stored state of one managed C1 connector.
type Record struct {
	AppID       string    `json:"app_id"`
	ConnectorID string    `json:"connector_id"`
	Overrides   Overrides `json:"overrides"`

	// Current is the credential served by creds reads.
	Current *Credential `json:"current,omitempty"`
	// Pending is a credential created upstream and persisted, not yet
	// promoted to current. It exists only in the middle of a rotation, or
	// after a crash there (the WAL rollback revokes it).
	Pending *Credential `json:"pending,omitempty"`
	// Retiring are replaced credentials waiting for their revocation time.
	Retiring []*Credential `json:"retiring,omitempty"`

	RegisteredAt time.Time `json:"registered_at"`
	LastRotation time.Time `json:"last_rotation,omitempty"`
	LastError    string    `json:"last_error,omitempty"`
	LastErrorAt  time.Time `json:"last_error_at,omitempty"`

	// Deregistering is set once a delete began: every credential is to be
	// revoked, nothing new is created, and the record goes once it is empty.
	Deregistering bool `json:"deregistering,omitempty"`

	// UnknownCreates are the time windows of the latest creates whose
	// outcome is unknown (each may have left a credential upstream that the
	// engine never saw), UnknownCreateCount how many there were in all, and
	// UnknownStreak how many in a row since the last create that succeeded.
	UnknownCreates     []UnknownCreate `json:"unknown_creates,omitempty"`
	UnknownCreateCount int             `json:"unknown_create_count,omitempty"`
	UnknownStreak      int             `json:"unknown_streak,omitempty"`

	// LastVerified is when the current credential was last found valid
	// upstream, LastVerifyResult what the last check found.
	LastVerified     time.Time `json:"last_verified,omitempty"`
	LastVerifyResult string    `json:"last_verify_result,omitempty"`

	// OutOfBandAt is when a check last found the current credential revoked
	// upstream out of band, and OutOfBandReplacement the credential created
	// to replace it. VerifySuspended, when set, says why checks of this
	// connector are not trusted (since VerifySuspendedAt).
	OutOfBandAt          time.Time `json:"out_of_band_at,omitempty"`
	OutOfBandReplacement string    `json:"out_of_band_replacement,omitempty"`
	VerifySuspended      string    `json:"verify_suspended,omitempty"`
	VerifySuspendedAt    time.Time `json:"verify_suspended_at,omitempty"`

	// ForgottenRotations are the rotation ids of the latest credentials
	// revoked and forgotten, so that a late WAL rollback of their rotation
	// knows it completed.
	ForgottenRotations []string `json:"forgotten_rotations,omitempty"`
}

// Key identifies a connector: its app id and connector id.
type Key struct {
	AppID       string
	ConnectorID string
}

// String is the key as <app_id>/<connector_id>.
func (k Key) String() string { return k.AppID + "/" + k.ConnectorID }

// Clone is a deep copy of the record.
func (e *Record) Clone() *Record {
	if e == nil {
		return nil
	}
	out := *e
	out.Overrides = e.Overrides.Clone()
	out.Current = e.Current.Clone()
	out.Pending = e.Pending.Clone()
	if e.Retiring != nil {
		out.Retiring = make([]*Credential, len(e.Retiring))
		for i, c := range e.Retiring {
			out.Retiring[i] = clonePtr(c)
		}
	}
	out.UnknownCreates = slices.Clone(e.UnknownCreates)
	out.ForgottenRotations = slices.Clone(e.ForgottenRotations)
	return &out
}

// Clone is a copy of the credential.
func (c *Credential) Clone() *Credential { return clonePtr(c) }

// Clone is a deep copy of the overrides.
func (o Overrides) Clone() Overrides {
	return Overrides{RotationPeriod: clonePtr(o.RotationPeriod), RotationSchedule: clonePtr(o.RotationSchedule),
		RotationWindow: clonePtr(o.RotationWindow), RotateBeforeExpiry: clonePtr(o.RotateBeforeExpiry),
		RevokeGrace: clonePtr(o.RevokeGrace), RevokeMaxDelay: clonePtr(o.RevokeMaxDelay)}
}

// clonePtr is a pointer to a copy of *p; nil for nil.
func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// CurrentID is the id of e's current credential; "" when e is nil or has none.
func (e *Record) CurrentID() string {
	if e == nil || e.Current == nil {
		return ""
	}
	return e.Current.ID
}

// CurrentExpiry is when e's current credential expires; zero when e has
// none or its expiry is unknown.
func (e *Record) CurrentExpiry() time.Time {
	if e == nil || e.Current == nil {
		return time.Time{}
	}
	return e.Current.ExpiresTime
}
