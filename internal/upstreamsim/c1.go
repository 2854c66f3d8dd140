package upstreamsim

import (
	"crypto/ed25519"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
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

type apiClient struct {
	id     string
	priv   ed25519.PrivateKey
	secret string
}

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
	cred    *credential // nil for registered API clients
}

// principal is whoever may authenticate at the token endpoint.
type principal struct {
	priv ed25519.PrivateKey
	cred *credential
}

func (s *Server) principalLocked(clientID string) *principal {
	if c, ok := s.clients[clientID]; ok {
		return &principal{priv: c.priv}
	}
	if c, ok := s.credByClient[clientID]; ok {
		return &principal{priv: c.priv, cred: c}
	}
	return nil
}

// RegisterClient registers an API client allowed to call the C1 connector
// credential API, with a fresh Ed25519 key, and returns its client secret in
// the secret-token:conductorone.com:v1:<base64url JWK> form. It fails for an
// empty or already registered client id.
func (s *Server) RegisterClient(clientID string) (clientSecret string, err error) {
	if clientID == "" {
		return "", errors.New("upstreamsim: empty client id")
	}
	priv, secret, err := newClientKey()
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.principalLocked(clientID) != nil {
		return "", fmt.Errorf("upstreamsim: client %q is already registered", clientID)
	}
	s.clients[clientID] = &apiClient{id: clientID, priv: priv, secret: secret}
	return secret, nil
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
	// Secret is its client secret, for test assertions only; the API never
	// returns it after creation.
	Secret string
}

func (c *credential) state() CredentialState {
	return CredentialState{
		ID: c.id, AppID: c.appID, ConnectorID: c.connectorID, ClientID: c.clientID,
		DisplayName: c.displayName, CreatedAt: c.createdAt, ExpiresTime: c.expires,
		LastUsedAt: c.lastUsedAt, Revoked: c.revoked, RevokedAt: c.revokedAt, Secret: c.secret,
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
	return c.state(), true
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
	out := make([]CredentialState, len(list))
	for i, c := range list {
		out[i] = c.state()
	}
	return out
}

// ValidCredential reports whether the pair currently authenticates at the
// token endpoint: a connector credential that exists, is not revoked and has
// not expired, or a registered API client, whose secret matches.
func (s *Server) ValidCredential(clientID, clientSecret string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.principalLocked(clientID)
	if p == nil || (p.cred != nil && !p.cred.usable(s.nowLocked())) {
		return false
	}
	return verifySecret(clientSecret, p.priv) == nil
}

// ---- token endpoint ----

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeOAuthError(w, http.StatusMethodNotAllowed, "invalid_request", "the token endpoint accepts POST only")
		return
	}
	if len(r.Header.Values("Authorization")) > 0 {
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client",
			"client credentials must be sent in the request body, not in the Authorization header")
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request",
			"Content-Type must be application/x-www-form-urlencoded")
		return
	}
	q := r.URL.Query()
	for _, k := range []string{"grant_type", "client_id", "client_secret", "client_assertion", "client_assertion_type"} {
		if q.Has(k) {
			writeOAuthError(w, http.StatusBadRequest, "invalid_request",
				"parameters must be sent in the request body, not in the URL")
			return
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxFormBody))
	if err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "request body unreadable or too large")
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "malformed form body")
		return
	}
	for k, v := range form {
		if len(v) > 1 {
			writeOAuthError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("parameter %q included more than once", k))
			return
		}
	}
	switch grant := form.Get("grant_type"); grant {
	case "":
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "missing grant_type")
		return
	case "client_credentials":
	default:
		writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type", "only client_credentials is supported")
		return
	}
	clientID := form.Get("client_id")
	if clientID == "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "missing client_id")
		return
	}
	assertion, secret := form.Get("client_assertion"), form.Get("client_secret")
	switch {
	case assertion != "" && secret != "":
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "more than one client authentication method")
		return
	case assertion != "" && form.Get("client_assertion_type") != JWTBearerAssertionType:
		writeOAuthError(w, http.StatusBadRequest, "invalid_request",
			"client_assertion_type must be "+JWTBearerAssertionType)
		return
	case assertion == "" && secret == "":
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "no client authentication")
		return
	}
	host := hostWithoutPort(r.Host)

	s.mu.Lock()
	now := s.nowLocked()
	p := s.principalLocked(clientID)
	var authErr error
	switch {
	case p == nil:
		authErr = errors.New("unknown client")
	case p.cred != nil && !p.cred.usable(now):
		authErr = errors.New("client credential is revoked or expired")
	case assertion != "":
		authErr = verifyAssertion(assertion, p.priv.Public().(ed25519.PublicKey), clientID, host, now)
	default:
		authErr = verifySecret(secret, p.priv)
	}
	if authErr != nil {
		s.mu.Unlock()
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client", authErr.Error())
		return
	}
	tok := randToken()
	s.tokens[tok] = &accessToken{expires: now.Add(s.tokenTTL), cred: p.cred}
	if p.cred != nil {
		p.cred.lastUsedAt = now
	}
	ttl := s.tokenTTL
	s.mu.Unlock()

	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok,
		"token_type":   "Bearer",
		"expires_in":   int64(ttl / time.Second),
	})
}

// verifyAssertion checks a client assertion the way the token endpoint does.
func verifyAssertion(raw string, pub ed25519.PublicKey, clientID, host string, now time.Time) error {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		return fmt.Errorf("client_assertion is not a compact JWS signed with EdDSA: %v", err)
	}
	if len(tok.Headers) != 1 || tok.Headers[0].Algorithm != string(jose.EdDSA) {
		return errors.New("client_assertion alg must be EdDSA")
	}
	var c jwt.Claims
	if err := tok.Claims(pub, &c); err != nil {
		return errors.New("client_assertion signature does not verify with the client's key")
	}
	if c.Issuer != clientID {
		return errors.New("client_assertion iss must equal client_id")
	}
	if c.Subject != clientID {
		return errors.New("client_assertion sub must equal client_id")
	}
	if !slices.ContainsFunc(c.Audience, func(a string) bool { return strings.EqualFold(a, host) }) {
		return fmt.Errorf("client_assertion aud must be %q", host)
	}
	if c.Expiry == nil {
		return errors.New("client_assertion has no exp")
	}
	exp := c.Expiry.Time()
	if !now.Before(exp) {
		return errors.New("client_assertion has expired")
	}
	if c.IssuedAt == nil && c.NotBefore == nil {
		return errors.New("client_assertion has neither iat nor nbf")
	}
	for _, d := range []struct {
		name string
		v    *jwt.NumericDate
	}{{"iat", c.IssuedAt}, {"nbf", c.NotBefore}} {
		if d.v == nil {
			continue
		}
		t := d.v.Time()
		if t.After(now.Add(AssertionClockSkew)) {
			return fmt.Errorf("client_assertion %s is in the future", d.name)
		}
		if !exp.After(t) {
			return fmt.Errorf("client_assertion exp is not after %s", d.name)
		}
		if exp.Sub(t) > MaxAssertionLifetime {
			return fmt.Errorf("client_assertion lifetime (exp - %s) exceeds %s", d.name, MaxAssertionLifetime)
		}
	}
	return nil
}

// verifySecret checks a client_secret against the registered key.
func verifySecret(secret string, want ed25519.PrivateKey) error {
	priv, err := parseClientSecret(secret)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare(priv, want) != 1 {
		return errors.New("client_secret does not match the client's key")
	}
	return nil
}

func hostWithoutPort(hostport string) string {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return strings.ToLower(host)
}

// ---- API authentication ----

type c1Error struct {
	status int
	code   int
	msg    string
}

func (e *c1Error) write(w http.ResponseWriter) {
	writeC1Error(w, e.status, e.code, e.msg)
}

var errUnauthenticated = &c1Error{http.StatusUnauthorized, grpcUnauthenticated, "unauthenticated"}

// authC1Locked checks the request's bearer token. The caller holds s.mu.
func (s *Server) authC1Locked(r *http.Request, now time.Time) *c1Error {
	vals := r.Header.Values("Authorization")
	if len(vals) != 1 {
		return errUnauthenticated
	}
	scheme, tok, ok := strings.Cut(vals[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" || strings.ContainsAny(tok, " \t") {
		return errUnauthenticated
	}
	if s.bearer[tok] {
		return nil
	}
	t, ok := s.tokens[tok]
	if !ok {
		return errUnauthenticated
	}
	if !now.Before(t.expires) {
		delete(s.tokens, tok)
		return errUnauthenticated
	}
	if t.cred != nil {
		if !t.cred.usable(now) {
			return errUnauthenticated
		}
		// A connector credential authenticates a connector, which may not
		// manage connector credentials.
		return &c1Error{http.StatusForbidden, grpcPermissionDenied, "permission denied"}
	}
	return nil
}

// ---- connector credential operations ----

type credentialJSON struct {
	AppID        string `json:"appId"`
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret,omitempty"`
	ConnectorID  string `json:"connectorId"`
	CreatedAt    string `json:"createdAt,omitempty"`
	DisplayName  string `json:"displayName,omitempty"`
	ExpiresTime  string `json:"expiresTime,omitempty"`
	ID           string `json:"id"`
	LastUsedAt   string `json:"lastUsedAt,omitempty"`
	UpdatedAt    string `json:"updatedAt,omitempty"`
}

func (c *credential) toJSON(withSecret bool) credentialJSON {
	out := credentialJSON{
		AppID: c.appID, ClientID: c.clientID, ConnectorID: c.connectorID,
		CreatedAt: protoTime(c.createdAt), DisplayName: c.displayName,
		ExpiresTime: protoTime(c.expires), ID: c.id, LastUsedAt: protoTime(c.lastUsedAt),
		UpdatedAt: protoTime(c.updatedAt),
	}
	if withSecret {
		out.ClientSecret = c.secret
	}
	return out
}

func (s *Server) handleRotate(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxJSONBody))
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.nowLocked()
	if e := s.authC1Locked(r, now); e != nil {
		e.write(w)
		return
	}
	if err != nil {
		writeC1Error(w, http.StatusBadRequest, grpcInvalidArgument, "request body unreadable or too large")
		return
	}
	fields, err := decodeStrictObject(body, false, "appId", "connectorId")
	if err != nil {
		writeC1Error(w, http.StatusBadRequest, grpcInvalidArgument, err.Error())
		return
	}
	for _, k := range []string{"appId", "connectorId"} {
		if fields[k] == "" {
			writeC1Error(w, http.StatusBadRequest, grpcInvalidArgument, k+" is required")
			return
		}
	}
	s.rotateLocked(w, r, now, fields["appId"], fields["connectorId"])
}

func (s *Server) handleRotateLegacy(w http.ResponseWriter, r *http.Request) {
	appID, connectorID := r.PathValue("app_id"), r.PathValue("connector_id")
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxJSONBody))
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.nowLocked()
	if e := s.authC1Locked(r, now); e != nil {
		e.write(w)
		return
	}
	if err != nil {
		writeC1Error(w, http.StatusBadRequest, grpcInvalidArgument, "request body unreadable or too large")
		return
	}
	fields, err := decodeStrictObject(body, true, "appId", "connectorId")
	if err != nil {
		writeC1Error(w, http.StatusBadRequest, grpcInvalidArgument, err.Error())
		return
	}
	if (fields["appId"] != "" && fields["appId"] != appID) || (fields["connectorId"] != "" && fields["connectorId"] != connectorID) {
		writeC1Error(w, http.StatusBadRequest, grpcInvalidArgument, "body ids do not match the path")
		return
	}
	s.rotateLocked(w, r, now, appID, connectorID)
}

func (s *Server) rotateLocked(w http.ResponseWriter, r *http.Request, now time.Time, appID, connectorID string) {
	if !s.connectors[connectorKey{appID, connectorID}] {
		writeC1Error(w, http.StatusNotFound, grpcNotFound, "connector not found")
		return
	}
	priv, secret, err := newClientKey()
	if err != nil {
		writeC1Error(w, http.StatusInternalServerError, grpcInternal, "internal error")
		return
	}
	c := &credential{
		appID: appID, connectorID: connectorID, secret: secret, priv: priv,
		createdAt: now, updatedAt: now,
	}
	for c.id == "" || s.creds[c.id] != nil {
		c.id = randString(27, alnum)
	}
	for c.clientID == "" || s.principalLocked(c.clientID) != nil {
		c.displayName = randClientName()
		c.clientID = c.displayName + "@" + r.Host + "/pcc"
	}
	if s.credTTL > 0 {
		c.expires = now.Add(s.credTTL)
	}
	s.credSeq++
	c.seq = s.credSeq
	s.creds[c.id] = c
	s.credByClient[c.clientID] = c

	if s.legacy {
		writeJSON(w, http.StatusOK, map[string]any{"credential": c.toJSON(false), "clientSecret": c.secret})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"credential": c.toJSON(true)})
}

// lookupLocked finds a live credential of the given connector.
func (s *Server) lookupLocked(r *http.Request) *credential {
	c, ok := s.creds[r.PathValue("id")]
	if !ok || c.revoked || c.appID != r.PathValue("app_id") || c.connectorID != r.PathValue("connector_id") {
		return nil
	}
	return c
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.nowLocked()
	if e := s.authC1Locked(r, now); e != nil {
		e.write(w)
		return
	}
	c := s.lookupLocked(r)
	if c == nil {
		writeC1Error(w, http.StatusNotFound, grpcNotFound, "credential not found")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"credential": c.toJSON(false)})
}

func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxJSONBody))
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.nowLocked()
	if e := s.authC1Locked(r, now); e != nil {
		e.write(w)
		return
	}
	if err != nil {
		writeC1Error(w, http.StatusBadRequest, grpcInvalidArgument, "request body unreadable or too large")
		return
	}
	if _, err := decodeStrictObject(body, true); err != nil {
		writeC1Error(w, http.StatusBadRequest, grpcInvalidArgument, err.Error())
		return
	}
	c := s.lookupLocked(r)
	if c == nil {
		writeC1Error(w, http.StatusNotFound, grpcNotFound, "credential not found")
		return
	}
	c.revoked = true
	c.revokedAt = now
	c.updatedAt = now
	for k, t := range s.tokens {
		if t.cred == c {
			delete(s.tokens, k)
		}
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// decodeStrictObject decodes a JSON object whose keys must all be in allowed
// (matched exactly, unlike encoding/json) and whose values are strings or
// null. An empty body is accepted only when allowEmpty is set.
func decodeStrictObject(body []byte, allowEmpty bool, allowed ...string) (map[string]string, error) {
	trimmed := strings.TrimSpace(string(body))
	if trimmed == "" {
		if allowEmpty {
			return map[string]string{}, nil
		}
		return nil, errors.New("request body is required")
	}
	if !strings.HasPrefix(trimmed, "{") {
		return nil, errors.New("request body must be a JSON object")
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(trimmed), &raw); err != nil {
		return nil, fmt.Errorf("malformed JSON body: %v", err)
	}
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		if !slices.Contains(allowed, k) {
			return nil, fmt.Errorf("unknown field %q", k)
		}
		if string(v) == "null" {
			continue
		}
		var str string
		if err := json.Unmarshal(v, &str); err != nil {
			return nil, fmt.Errorf("field %q must be a string", k)
		}
		out[k] = str
	}
	return out, nil
}

// ---- writers ----

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeC1Error(w http.ResponseWriter, status, code int, msg string) {
	writeJSON(w, status, map[string]any{"code": code, "message": msg, "details": []any{}})
}

func methodNotAllowedC1(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	writeC1Error(w, http.StatusMethodNotAllowed, grpcUnimplemented, "Method Not Allowed")
}

func writeOAuthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func oauthErrorForStatus(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return "invalid_client"
	case status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable:
		return "temporarily_unavailable"
	case status >= 500:
		return "server_error"
	default:
		return "invalid_request"
	}
}

func grpcCodeForStatus(status int) int {
	switch status {
	case http.StatusBadRequest:
		return grpcInvalidArgument
	case http.StatusUnauthorized:
		return grpcUnauthenticated
	case http.StatusForbidden:
		return grpcPermissionDenied
	case http.StatusNotFound:
		return grpcNotFound
	case http.StatusConflict:
		return grpcAlreadyExists
	case http.StatusTooManyRequests:
		return grpcResourceExhausted
	case http.StatusInternalServerError:
		return grpcInternal
	case http.StatusBadGateway, http.StatusServiceUnavailable:
		return grpcUnavailable
	case http.StatusGatewayTimeout:
		return grpcDeadlineExceeded
	default:
		return grpcUnknown
	}
}

// protoTime formats t as protobuf JSON does: RFC 3339 in UTC with 0, 3, 6 or
// 9 fractional digits. The zero time gives "".
func protoTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	t = t.UTC()
	ns := t.Nanosecond()
	switch {
	case ns == 0:
		return t.Format("2006-01-02T15:04:05Z")
	case ns%1e6 == 0:
		return t.Format("2006-01-02T15:04:05.000Z")
	case ns%1e3 == 0:
		return t.Format("2006-01-02T15:04:05.000000Z")
	default:
		return t.Format("2006-01-02T15:04:05.000000000Z")
	}
}
