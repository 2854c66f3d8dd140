package upstreamsim

import (
	"crypto/ed25519"
	"slices"
	"time"
)

// JWTBearerAssertionType is the only client_assertion_type the token endpoint
// accepts.
const JWTBearerAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// gRPC status codes used in C1 error bodies (the API is a gRPC gateway).
const (
	grpcUnknown           = 2
	grpcInvalidArgument   = 3
	grpcDeadlineExceeded  = 4
	grpcNotFound          = 5
	grpcAlreadyExists     = 6
	grpcPermissionDenied  = 7
	grpcResourceExhausted = 8
	grpcUnimplemented     = 12
	grpcInternal          = 13
	grpcUnavailable       = 14
	grpcUnauthenticated   = 16
)

const (
	maxFormBody = 64 << 10
	maxJSONBody = 1 << 20
)

type credential struct {
	id, appID, connectorID, clientID, displayName string
	secret                                        string
	priv                                          ed25519.PrivateKey
	createdAt, updatedAt, expires                 time.Time
	lastUsedAt, revokedAt                         time.Time
	revoked                                       bool
	seq                                           int
}

// usable reports whether the credential can still authenticate at now.
func (c *credential) usable(now time.Time) bool {
	return !c.revoked && (c.expires.IsZero() || now.Before(c.expires))
}

type accessToken struct {
	expires time.Time
	cred    *credential // the connector credential that obtained it, if any
	root    *rootCred   // the root credential that obtained it, if any
}

// principal is whoever may authenticate at the token endpoint: a root
// credential (personal client or service-principal credential) or a
// connector credential.
type principal struct {
	priv ed25519.PrivateKey
	cred *credential
	root *rootCred
}

// usable reports whether the principal's credential can still authenticate
// at now: neither revoked (deleted) nor expired.
func (p *principal) usable(now time.Time) bool {
	switch {
	case p.cred != nil:
		return p.cred.usable(now)
	case p.root != nil:
		return p.root.usable(now)
	}
	return false
}

func (s *Server) principalLocked(clientID string) *principal {
	if c, ok := s.rootByClient[clientID]; ok {
		return &principal{priv: c.priv, root: c}
	}
	if c, ok := s.credByClient[clientID]; ok {
		return &principal{priv: c.priv, cred: c}
	}
	return nil
}

// RegisterClient registers an API client allowed to call the C1 API, with a
// fresh Ed25519 key, and returns its client secret in the
// secret-token:conductorone.com:v1:<base64url JWK> form. The client is a
// personal client of DefaultUserID that never expires (RegisterPersonalClient
// with no options). It fails for an empty or already registered client id.
func (s *Server) RegisterClient(clientID string) (clientSecret string, err error) {
	st, err := s.RegisterPersonalClient(clientID, RootOptions{})
	if err != nil {
		return "", err
	}
	return st.Secret, nil
}

// AddBearerToken registers a static bearer token (one "the operator already
// has") accepted by the C1 API; it never expires. An empty token is ignored.
func (s *Server) AddBearerToken(token string) {
	if token == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bearer[token] = true
}

// AddConnector makes a C1 connector known, so that RotateCredential accepts
// it.
func (s *Server) AddConnector(appID, connectorID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.connectors[connectorKey{appID, connectorID}] = true
}

// SetCredentialTTL sets the lifetime of credentials rotated from now on;
// zero or negative means they never expire (no expiresTime).
func (s *Server) SetCredentialTTL(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.credTTL = max(d, 0)
}

// RevokeOutOfBand revokes a connector credential the way a C1 administrator
// does in the UI, without the API client that created it knowing. It reports
// the credential's state afterwards and false when the id is unknown. An
// already revoked credential keeps its first revocation time.
func (s *Server) RevokeOutOfBand(id string) (CredentialState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.creds[id]
	if !ok {
		return CredentialState{}, false
	}
	if !c.revoked {
		s.revokeLocked(c, s.nowLocked())
	}
	return c.state(s.nowLocked()), true
}

// SetHideDeleted makes GetCredentials answer 404 for revoked credentials
// (true), as C1 may once it has deleted them, instead of answering them with
// their deletedAt (false, the default).
func (s *Server) SetHideDeleted(hide bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hideDeleted = hide
}

// CredentialState is the simulator's view of one C1 connector credential.
type CredentialState struct {
	// ID is the credential's id.
	ID string
	// AppID is the app the connector belongs to.
	AppID string
	// ConnectorID is the connector the credential belongs to.
	ConnectorID string
	// ClientID is the credential's client id, <name>@<host>/pcc.
	ClientID string
	// DisplayName is the credential's display name.
	DisplayName string
	// CreatedAt is when RotateCredential created it.
	CreatedAt time.Time
	// ExpiresTime is when it expires; zero means never.
	ExpiresTime time.Time
	// LastUsedAt is when it last obtained a token; zero means never.
	LastUsedAt time.Time
	// Revoked reports whether RevokeCredential revoked it.
	Revoked bool
	// RevokedAt is when it was revoked.
	RevokedAt time.Time
	// Live reports whether it could authenticate when the state was taken:
	// not revoked and not expired.
	Live bool
	// Secret is its client secret, for test assertions only; the API never
	// returns it after creation.
	Secret string
}

// state is the credential's state at now.
func (c *credential) state(now time.Time) CredentialState {
	return CredentialState{
		ID: c.id, AppID: c.appID, ConnectorID: c.connectorID, ClientID: c.clientID,
		DisplayName: c.displayName, CreatedAt: c.createdAt, ExpiresTime: c.expires,
		LastUsedAt: c.lastUsedAt, Revoked: c.revoked, RevokedAt: c.revokedAt, Secret: c.secret,
		Live: c.usable(now),
	}
}

// Credential returns the credential with the given id, revoked or not.
func (s *Server) Credential(id string) (CredentialState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.creds[id]
	if !ok {
		return CredentialState{}, false
	}
	return c.state(s.nowLocked()), true
}

// Credentials returns a connector's credentials, revoked ones included, in
// creation order. Empty appID or connectorID match any.
func (s *Server) Credentials(appID, connectorID string) []CredentialState {
	s.mu.Lock()
	defer s.mu.Unlock()
	var list []*credential
	for _, c := range s.creds {
		if (appID == "" || c.appID == appID) && (connectorID == "" || c.connectorID == connectorID) {
			list = append(list, c)
		}
	}
	slices.SortFunc(list, func(a, b *credential) int { return a.seq - b.seq })
	now := s.nowLocked()
	out := make([]CredentialState, len(list))
	for i, c := range list {
		out[i] = c.state(now)
	}
	return out
}

// ValidCredential reports whether the pair currently authenticates at the
// token endpoint: a connector credential or a root credential (personal
// client or service-principal credential) that exists, is neither revoked
// (deleted) nor expired, and whose secret matches. A root credential's
// allowed source addresses are not considered.
func (s *Server) ValidCredential(clientID, clientSecret string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.principalLocked(clientID)
	if p == nil || !p.usable(s.nowLocked()) {
		return false
	}
	return verifySecret(clientSecret, p.priv) == nil
}

// ---- token endpoint ----
