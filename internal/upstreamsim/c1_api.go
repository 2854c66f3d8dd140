package upstreamsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
)

type c1Error struct {
	status int
	code   int
	msg    string
}

func (e *c1Error) write(w http.ResponseWriter) {
	writeC1Error(w, e.status, e.code, e.msg)
}

var (
	errUnauthenticated   = &c1Error{http.StatusUnauthorized, grpcUnauthenticated, "unauthenticated"}
	errPermissionDenied  = &c1Error{http.StatusForbidden, grpcPermissionDenied, "permission denied"}
	errBodyUnreadable    = &c1Error{http.StatusBadRequest, grpcInvalidArgument, "request body unreadable or too large"}
	errCredentialMissing = &c1Error{http.StatusNotFound, grpcNotFound, "credential not found"}
)

// caller is who sent an authenticated C1 API request.
type caller struct {
	// userID is the user a personal client or a static bearer token acts
	// for; "" for a service principal's or a connector's credential.
	userID string
	// root is the root credential whose token it is; nil for a static
	// bearer token and for a connector credential.
	root *rootCred
	// conn is the connector credential whose token it is, if any.
	conn *credential
}

// callerLocked checks the request's bearer token and says who sent it. A
// static bearer token acts for DefaultUserID. The caller holds s.mu.
func (s *Server) callerLocked(r *http.Request, now time.Time) (*caller, *c1Error) {
	vals := r.Header.Values("Authorization")
	if len(vals) != 1 {
		return nil, errUnauthenticated
	}
	scheme, tok, ok := strings.Cut(vals[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" || strings.ContainsAny(tok, " \t") {
		return nil, errUnauthenticated
	}
	if s.bearer[tok] {
		return &caller{userID: DefaultUserID}, nil
	}
	t, ok := s.tokens[tok]
	if !ok {
		return nil, errUnauthenticated
	}
	if !now.Before(t.expires) {
		delete(s.tokens, tok)
		return nil, errUnauthenticated
	}
	switch {
	case t.cred != nil:
		if !t.cred.usable(now) {
			return nil, errUnauthenticated
		}
		return &caller{conn: t.cred}, nil
	case t.root != nil:
		if !t.root.usable(now) {
			return nil, errUnauthenticated
		}
		c := &caller{root: t.root}
		if t.root.kind == RootPersonalClient {
			c.userID = t.root.userID
		}
		return c, nil
	}
	return nil, errUnauthenticated
}

// authC1Locked checks the request's bearer token for the connector
// credential API. The caller holds s.mu.
func (s *Server) authC1Locked(r *http.Request, now time.Time) *c1Error {
	c, e := s.callerLocked(r, now)
	if e != nil {
		return e
	}
	if c.conn != nil {
		// A connector credential authenticates a connector, which may not
		// manage connector credentials.
		return errPermissionDenied
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
	DeletedAt    string `json:"deletedAt,omitempty"`
}

func (c *credential) toJSON(withSecret bool) credentialJSON {
	out := credentialJSON{
		AppID: c.appID, ClientID: c.clientID, ConnectorID: c.connectorID,
		CreatedAt: protoTime(c.createdAt), DisplayName: c.displayName,
		ExpiresTime: protoTime(c.expires), ID: c.id, LastUsedAt: protoTime(c.lastUsedAt),
		UpdatedAt: protoTime(c.updatedAt), DeletedAt: protoTime(c.revokedAt),
	}
	if withSecret {
		out.ClientSecret = c.secret
	}
	return out
}

// authorizedRotateBody checks a rotate request's bearer token, then decodes
// its body, a JSON object with appId and connectorId at most. It answers a
// failure itself and reports ok=false. The caller holds s.mu.
func (s *Server) authorizedRotateBody(w http.ResponseWriter, r *http.Request, now time.Time,
	body []byte, readErr error, allowEmpty bool,
) (fields map[string]string, ok bool) {
	if e := s.authC1Locked(r, now); e != nil {
		e.write(w)
		return nil, false
	}
	if readErr != nil {
		writeC1Error(w, http.StatusBadRequest, grpcInvalidArgument, "request body unreadable or too large")
		return nil, false
	}
	fields, err := decodeStrictObject(body, allowEmpty, "appId", "connectorId")
	if err != nil {
		writeC1Error(w, http.StatusBadRequest, grpcInvalidArgument, err.Error())
		return nil, false
	}
	return fields, true
}

// handleRotate is RotateCredential: POST /api/v1/apps/connectors/credentials.
func (s *Server) handleRotate(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxJSONBody))
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.nowLocked()
	fields, ok := s.authorizedRotateBody(w, r, now, body, err, false)
	if !ok {
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

// handleRotateLegacy is the older rotate path, POST
// /api/v1/apps/{app_id}/connectors/{connector_id}/credentials, whose answer
// puts clientSecret at the top level.
func (s *Server) handleRotateLegacy(w http.ResponseWriter, r *http.Request) {
	appID, connectorID := r.PathValue("app_id"), r.PathValue("connector_id")
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxJSONBody))
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.nowLocked()
	fields, ok := s.authorizedRotateBody(w, r, now, body, err, true)
	if !ok {
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

// lookupLocked finds a credential of the given connector, revoked ones
// included.
func (s *Server) lookupLocked(r *http.Request) *credential {
	c, ok := s.creds[r.PathValue("id")]
	if !ok || c.appID != r.PathValue("app_id") || c.connectorID != r.PathValue("connector_id") {
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
	// A revoked credential answers with its deletedAt, or 404 once the
	// simulator is told to forget revoked credentials.
	c := s.lookupLocked(r)
	if c == nil || (c.revoked && s.hideDeleted) {
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
	if c == nil || c.revoked {
		writeC1Error(w, http.StatusNotFound, grpcNotFound, "credential not found")
		return
	}
	s.revokeLocked(c, now)
	writeJSON(w, http.StatusOK, struct{}{})
}

// revokeLocked revokes c at now and drops the access tokens it obtained.
// The caller holds s.mu.
func (s *Server) revokeLocked(c *credential, now time.Time) {
	c.revoked = true
	c.revokedAt = now
	c.updatedAt = now
	for k, t := range s.tokens {
		if t.cred == c {
			delete(s.tokens, k)
		}
	}
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
