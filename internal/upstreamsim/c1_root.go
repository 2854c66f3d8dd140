package upstreamsim

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// RootKind is the kind of a root credential: a C1 credential that an API
// client such as the plugin logs in with.
type RootKind string

// The kinds of root credential.
const (
	// RootPersonalClient is a personal client: it acts for a user, with
	// that user's permissions narrowed by its scoped roles.
	RootPersonalClient RootKind = "personal_client"
	// RootServicePrincipalCredential is a credential of a service
	// principal.
	RootServicePrincipalCredential RootKind = "service_principal_credential"
)

const (
	// DefaultUserID is the user that RegisterClient's clients, personal
	// clients registered without a user, and static bearer tokens act for.
	DefaultUserID = "user-default"
	// MaxServicePrincipalCredentialLifetime is the longest lifetime C1 gives
	// a service-principal credential (180 days).
	MaxServicePrincipalCredentialLifetime = 180 * 24 * time.Hour
	// DefaultPageSize is the number of items a list answers per page, and
	// the most it answers, when Options.PageSize is zero.
	DefaultPageSize = 50
)

// errAlreadyRegistered is wrapped by the error of a registration whose
// client id is taken.
var errAlreadyRegistered = errors.New("already registered")

// rootCred is a root credential: a personal client or a service-principal
// credential.
type rootCred struct {
	kind                      RootKind
	id, clientID, displayName string
	userID                    string // personal clients
	spID                      string // service-principal credentials
	scopedRoles, cidrs        []string
	prefixes                  []netip.Prefix // cidrs, parsed
	secret                    string
	priv                      ed25519.PrivateKey
	createdAt, updatedAt      time.Time
	expires                   time.Time // zero: never
	lastUsedAt, deletedAt     time.Time
	seq                       int
}

// usable reports whether the credential can still authenticate at now.
func (c *rootCred) usable(now time.Time) bool {
	return c.deletedAt.IsZero() && (c.expires.IsZero() || now.Before(c.expires))
}

// deleted reports whether the credential was deleted (revoked).
func (c *rootCred) deleted() bool { return !c.deletedAt.IsZero() }

// allowsSource reports whether a login may come from remoteAddr (host:port):
// always when the credential has no allowed source CIDRs.
func (c *rootCred) allowsSource(remoteAddr string) bool {
	if len(c.prefixes) == 0 {
		return true
	}
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return false
	}
	addr := ap.Addr().Unmap()
	return slices.ContainsFunc(c.prefixes, func(p netip.Prefix) bool { return p.Contains(addr) })
}

// RootOptions describe a root credential to register.
type RootOptions struct {
	// DisplayName is the credential's display name; empty selects the name
	// part of its client id.
	DisplayName string
	// UserID is the user a personal client acts for; empty selects
	// DefaultUserID. Service-principal credentials have none.
	UserID string
	// CreatedAt is when the credential was created; zero selects the
	// simulator's now. It may lie in the past (a credential made before the
	// test began), never in the future.
	CreatedAt time.Time
	// ExpiresIn is the lifetime from the creation time (CreatedAt, else the
	// simulator's now); ExpiresTime an absolute expiry (it may lie in the
	// past, never before CreatedAt). Set at most one. With neither, a
	// personal client never expires and a service-principal credential
	// lives MaxServicePrincipalCredentialLifetime from its creation.
	ExpiresIn   time.Duration
	ExpiresTime time.Time
	// ScopedRoles are the role ids the credential is narrowed to.
	ScopedRoles []string
	// AllowSourceCIDRs, when not empty, are the only networks the token
	// endpoint accepts the credential's logins from.
	AllowSourceCIDRs []string
}

// RootCredentialState is the simulator's view of one root credential.
type RootCredentialState struct {
	// Kind says whether it is a personal client or a service-principal
	// credential.
	Kind RootKind
	// ID is its id in the API paths.
	ID string
	// ClientID is its client id, <name>@<host>/<kind>.
	ClientID    string
	DisplayName string
	// UserID is the user a personal client acts for.
	UserID string
	// ServicePrincipalID is the service principal a credential belongs to.
	ServicePrincipalID string
	ScopedRoles        []string
	AllowSourceCIDRs   []string
	CreatedAt          time.Time
	UpdatedAt          time.Time
	// ExpiresTime is when it expires; zero means never.
	ExpiresTime time.Time
	// LastUsedAt is when it last obtained a token; zero means never.
	LastUsedAt time.Time
	// Deleted reports whether it was deleted (revoked), through the API or
	// out of band; DeletedAt is when.
	Deleted   bool
	DeletedAt time.Time
	// Live reports whether it could authenticate when the state was taken:
	// neither deleted nor expired.
	Live bool
	// Secret is its client secret, for test assertions only; the API never
	// returns it after creation.
	Secret string
}

func (c *rootCred) state(now time.Time) RootCredentialState {
	return RootCredentialState{
		Kind: c.kind, ID: c.id, ClientID: c.clientID, DisplayName: c.displayName,
		UserID: c.userID, ServicePrincipalID: c.spID,
		ScopedRoles: slices.Clone(c.scopedRoles), AllowSourceCIDRs: slices.Clone(c.cidrs),
		CreatedAt: c.createdAt, UpdatedAt: c.updatedAt, ExpiresTime: c.expires, LastUsedAt: c.lastUsedAt,
		Deleted: c.deleted(), DeletedAt: c.deletedAt, Live: c.usable(now), Secret: c.secret,
	}
}

// RegisterPersonalClient registers a personal client with the given client
// id and a fresh Ed25519 key, and returns its state, Secret included. It
// fails for an empty or already registered client id and for invalid
// options.
func (s *Server) RegisterPersonalClient(clientID string, o RootOptions) (RootCredentialState, error) {
	return s.registerRoot(RootPersonalClient, "", clientID, o)
}

// AddServicePrincipal makes a service principal known, so that credentials
// can be registered and created for it. An empty id is ignored.
func (s *Server) AddServicePrincipal(id string) {
	if id == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sps[id] = true
}

// RegisterServicePrincipalCredential registers a credential of the service
// principal spID (see AddServicePrincipal) with the given client id, such as
// "name@tenant.conductor.one/spc", and a fresh Ed25519 key, and returns its
// state, Secret included. It fails for an unknown service principal, an
// empty or already registered client id, a UserID, a lifetime over
// MaxServicePrincipalCredentialLifetime and other invalid options.
func (s *Server) RegisterServicePrincipalCredential(spID, clientID string, o RootOptions) (RootCredentialState, error) {
	return s.registerRoot(RootServicePrincipalCredential, spID, clientID, o)
}

func (s *Server) registerRoot(kind RootKind, spID, clientID string, o RootOptions) (RootCredentialState, error) {
	if clientID == "" {
		return RootCredentialState{}, errors.New("upstreamsim: empty client id")
	}
	if o.ExpiresIn < 0 {
		return RootCredentialState{}, errors.New("upstreamsim: negative ExpiresIn")
	}
	if o.ExpiresIn != 0 && !o.ExpiresTime.IsZero() {
		return RootCredentialState{}, errors.New("upstreamsim: set ExpiresIn or ExpiresTime, not both")
	}
	prefixes, err := parseCIDRs(o.AllowSourceCIDRs)
	if err != nil {
		return RootCredentialState{}, fmt.Errorf("upstreamsim: %w", err)
	}
	if err := checkRoles(o.ScopedRoles); err != nil {
		return RootCredentialState{}, fmt.Errorf("upstreamsim: %w", err)
	}
	priv, secret, err := newClientKey()
	if err != nil {
		return RootCredentialState{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.nowLocked()
	created := now
	if !o.CreatedAt.IsZero() {
		switch {
		case o.CreatedAt.After(now):
			return RootCredentialState{}, fmt.Errorf("upstreamsim: CreatedAt %s is after the simulator's now %s",
				o.CreatedAt.Format(time.RFC3339), now.Format(time.RFC3339))
		case !o.ExpiresTime.IsZero() && o.ExpiresTime.Before(o.CreatedAt):
			return RootCredentialState{}, errors.New("upstreamsim: ExpiresTime is before CreatedAt")
		}
		created = o.CreatedAt
	}
	c := &rootCred{
		kind: kind, clientID: clientID, displayName: o.DisplayName, spID: spID,
		scopedRoles: slices.Clone(o.ScopedRoles), cidrs: slices.Clone(o.AllowSourceCIDRs), prefixes: prefixes,
		secret: secret, priv: priv, createdAt: created, updatedAt: created, expires: o.ExpiresTime,
	}
	if o.ExpiresIn > 0 {
		c.expires = created.Add(o.ExpiresIn)
	}
	switch kind {
	case RootPersonalClient:
		c.userID = o.UserID
		if c.userID == "" {
			c.userID = DefaultUserID
		}
	case RootServicePrincipalCredential:
		switch {
		case !s.sps[spID]:
			return RootCredentialState{}, fmt.Errorf("upstreamsim: unknown service principal %q", spID)
		case o.UserID != "":
			return RootCredentialState{}, errors.New("upstreamsim: a service-principal credential has no user")
		case c.expires.IsZero():
			c.expires = created.Add(MaxServicePrincipalCredentialLifetime)
		case c.expires.Sub(created) > MaxServicePrincipalCredentialLifetime:
			return RootCredentialState{}, fmt.Errorf("upstreamsim: a service-principal credential lives at most %s",
				MaxServicePrincipalCredentialLifetime)
		}
	}
	if c.displayName == "" {
		c.displayName, _, _ = strings.Cut(clientID, "@")
	}
	if s.principalLocked(clientID) != nil {
		return RootCredentialState{}, fmt.Errorf("upstreamsim: client %q is %w", clientID, errAlreadyRegistered)
	}
	s.addRootLocked(c)
	return c.state(now), nil
}

// addRootLocked gives c a fresh id and sequence number and stores it. The
// caller holds s.mu.
func (s *Server) addRootLocked(c *rootCred) {
	for c.id == "" || s.roots[c.id] != nil {
		c.id = randString(27, alnum)
	}
	s.rootSeq++
	c.seq = s.rootSeq
	s.roots[c.id] = c
	s.rootByClient[c.clientID] = c
}

// rootLocked finds a root credential by id or client id. The caller holds
// s.mu.
func (s *Server) rootLocked(idOrClientID string) *rootCred {
	if c, ok := s.roots[idOrClientID]; ok {
		return c
	}
	return s.rootByClient[idOrClientID]
}

// RootCredential returns the root credential with the given id or client
// id, deleted or not.
func (s *Server) RootCredential(idOrClientID string) (RootCredentialState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.rootLocked(idOrClientID)
	if c == nil {
		return RootCredentialState{}, false
	}
	return c.state(s.nowLocked()), true
}

// RootCredentials returns every root credential, deleted ones included, in
// registration (creation) order.
func (s *Server) RootCredentials() []RootCredentialState {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.rootsLocked(func(*rootCred) bool { return true })
	now := s.nowLocked()
	out := make([]RootCredentialState, len(list))
	for i, c := range list {
		out[i] = c.state(now)
	}
	return out
}

// rootsLocked returns the root credentials that keep accepts, in creation
// order. The caller holds s.mu.
func (s *Server) rootsLocked(keep func(*rootCred) bool) []*rootCred {
	var list []*rootCred
	for _, c := range s.roots {
		if keep(c) {
			list = append(list, c)
		}
	}
	slices.SortFunc(list, func(a, b *rootCred) int { return a.seq - b.seq })
	return list
}

// DeleteRootOutOfBand deletes a root credential, by id or client id, the way
// a C1 administrator does in the UI: it can no longer log in and the tokens
// it obtained stop working. It reports the credential's state afterwards and
// false when it is unknown. An already deleted credential keeps its first
// deletion time.
func (s *Server) DeleteRootOutOfBand(idOrClientID string) (RootCredentialState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.rootLocked(idOrClientID)
	if c == nil {
		return RootCredentialState{}, false
	}
	now := s.nowLocked()
	if !c.deleted() {
		s.deleteRootLocked(c, now)
	}
	return c.state(now), true
}

// deleteRootLocked deletes c at now and drops the access tokens it
// obtained. The caller holds s.mu.
func (s *Server) deleteRootLocked(c *rootCred, now time.Time) {
	c.deletedAt = now
	c.updatedAt = now
	for k, t := range s.tokens {
		if t.root == c {
			delete(s.tokens, k)
		}
	}
}

// SetPageSize sets how many items a list answers per page at most (also
// when the request asks for more); zero or negative selects
// DefaultPageSize.
func (s *Server) SetPageSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pageSize = n
	if n <= 0 {
		s.pageSize = DefaultPageSize
	}
}

// parseCIDRs parses source networks such as "10.0.0.0/8".
func parseCIDRs(cidrs []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(cidrs))
	for _, c := range cidrs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, fmt.Errorf("invalid source CIDR %q", c)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// checkRoles refuses empty role ids.
func checkRoles(roles []string) error {
	if slices.Contains(roles, "") {
		return errors.New("a scoped role id is empty")
	}
	return nil
}
