package upstreamsim

import (
	"encoding/json"
	"maps"
	"net/http"
	"strconv"
	"time"
)

// KeyState is the state of an Aitronos API key registered with AddAPIKey.
type KeyState string

// Aitronos API key states.
const (
	// KeyActive is a working key with admin rights.
	KeyActive KeyState = "active"
	// KeyExpired answers 401 API_KEY_EXPIRED.
	KeyExpired KeyState = "expired"
	// KeyDeactivated answers 401 API_KEY_DEACTIVATED.
	KeyDeactivated KeyState = "deactivated"
	// KeyPaused answers 401 API_KEY_PAUSED.
	KeyPaused KeyState = "paused"
	// KeyNoAdmin is a working key without admin rights: 403
	// INSUFFICIENT_PERMISSIONS.
	KeyNoAdmin KeyState = "no_admin"
)

func (k KeyState) valid() bool {
	switch k {
	case KeyActive, KeyExpired, KeyDeactivated, KeyPaused, KeyNoAdmin:
		return true
	}
	return false
}

// aitronosKeyHeaders are the headers that may carry an API key, in the order
// they are consulted.
var aitronosKeyHeaders = []string{"X-API-Key", "X-Flowplate-Key", "X-Aitronos-Hub-Key"}

// AddAPIKey registers (or re-registers) an Aitronos API key in the given
// state. It panics on an empty key or an unknown state.
func (s *Server) AddAPIKey(key string, state KeyState) {
	if key == "" || !state.valid() {
		panic("upstreamsim: AddAPIKey needs a key and a valid KeyState")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[key] = state
}

// SetAitronosRateLimit sets the per-minute request limit per API key; zero or
// negative turns Aitronos rate limiting off (per-minute and daily). Counters
// are reset.
func (s *Server) SetAitronosRateLimit(perMinute int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rateLimit = max(perMinute, 0)
	s.buckets = map[string]*rateBucket{}
}

// Connection is an Aitronos personal connection, as answered by the admin
// credentials endpoints. Empty strings and zero times are answered as null.
type Connection struct {
	// CredentialID is the id served at /admin/credentials/{credential_id};
	// empty means the connection is reachable by connection id only.
	CredentialID string
	// ConnectionID is the external connection id (required), served at
	// /admin/credentials/by-connection/{connection_id}.
	ConnectionID string
	// Status is answered as given: ACTIVE, EXPIRED, INITIATED, in any case.
	Status string
	// AppName is the connected app (github, googledrive, ...).
	AppName string
	// AuthScheme is OAUTH2, API_KEY, BASIC, ...
	AuthScheme string
	// AccountEmail is the connected account's email.
	AccountEmail string
	// AccountID is the account id on the external service.
	AccountID string
	// EntityID is the entity id (freddy_user_xxx).
	EntityID string
	// AuthConfigID is the auth config id (ac_xxx).
	AuthConfigID string
	// AccessToken is credentials.access_token.
	AccessToken string
	// RefreshToken is credentials.refresh_token.
	RefreshToken string
	// IDToken is the OpenID Connect id_token.
	IDToken string
	// CodeVerifier is the PKCE code verifier.
	CodeVerifier string
	// TokenType is credentials.token_type.
	TokenType string
	// Scope is credentials.scope.
	Scope string
	// BaseURL is the base API URL.
	BaseURL string
	// TestRequestEndpoint is the URL to test the connection.
	TestRequestEndpoint string
	// CallbackURL is the OAuth callback URL.
	CallbackURL string
	// StatusReason is the reason for the current status.
	StatusReason string
	// ExpiresAt is when the access token expires; credentials.expires_in is
	// computed from it and the clock.
	ExpiresAt time.Time
	// CreatedAt is answered as created_at; zero means the time of the first
	// SetConnection.
	CreatedAt time.Time
	// UpdatedAt is answered as updated_at; zero means the time of the last
	// SetConnection.
	UpdatedAt time.Time
	// IsComposioManaged is answered as is_composio_managed.
	IsComposioManaged bool
	// IsDisabled is answered as is_disabled.
	IsDisabled bool
	// IsRedacted redacts the secret values (access, refresh and id tokens,
	// code verifier): they are answered as "REDACTED".
	IsRedacted bool
	// ExtraHeaders is answered as extra_headers ({} when nil).
	ExtraHeaders map[string]any
	// QueryParams is answered as query_params ({} when nil).
	QueryParams map[string]any
	// ExtraData is answered as extra_data ({} when nil).
	ExtraData map[string]any
}

// RedactedValue replaces secret values of a redacted connection.
const RedactedValue = "REDACTED"

// SetConnection adds or replaces (by ConnectionID) an Aitronos connection.
// It panics on an empty ConnectionID.
func (s *Server) SetConnection(c Connection) {
	if c.ConnectionID == "" {
		panic("upstreamsim: SetConnection needs a ConnectionID")
	}
	c.ExtraHeaders = maps.Clone(c.ExtraHeaders)
	c.QueryParams = maps.Clone(c.QueryParams)
	c.ExtraData = maps.Clone(c.ExtraData)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.nowLocked()
	if old, ok := s.conns[c.ConnectionID]; ok {
		delete(s.connByCred, old.CredentialID)
		if c.CreatedAt.IsZero() {
			c.CreatedAt = old.CreatedAt
		}
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now
	}
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = now
	}
	if c.CredentialID != "" {
		if prev, ok := s.connByCred[c.CredentialID]; ok && prev != c.ConnectionID {
			delete(s.conns, prev)
		}
		s.connByCred[c.CredentialID] = c.ConnectionID
	}
	s.conns[c.ConnectionID] = &c
}

type rateBucket struct {
	minuteStart time.Time
	minuteCount int
	dayStart    time.Time
	dayCount    int
}

type aitronosError struct {
	status        int
	code, message string
	systemMessage string
	typ           string
}

var (
	errAuthRequired = aitronosError{http.StatusUnauthorized, "AUTHENTICATION_REQUIRED",
		"Authentication required. Please provide a valid API key.", "Missing or invalid authorization header", "authentication_error"}
	errInvalidKey = aitronosError{http.StatusUnauthorized, "INVALID_API_KEY",
		"The provided API key is invalid.", "API key not found", "authentication_error"}
	errKeyExpired = aitronosError{http.StatusUnauthorized, "API_KEY_EXPIRED",
		"The provided API key has expired.", "API key expired", "authentication_error"}
	errKeyDeactivated = aitronosError{http.StatusUnauthorized, "API_KEY_DEACTIVATED",
		"The provided API key has been deactivated.", "API key deactivated", "authentication_error"}
	errKeyPaused = aitronosError{http.StatusUnauthorized, "API_KEY_PAUSED",
		"The provided API key is paused.", "API key paused", "authentication_error"}
	errForbidden = aitronosError{http.StatusForbidden, "INSUFFICIENT_PERMISSIONS",
		"You do not have permission to access this resource.", "Insufficient permissions for this operation", "authorization_error"}
	errNotFound = aitronosError{http.StatusNotFound, "RESOURCE_NOT_FOUND",
		"The requested credentials were not found.", "Connection not found", "not_found_error"}
	errNotFoundPath = aitronosError{http.StatusNotFound, "RESOURCE_NOT_FOUND",
		"The requested resource was not found.", "No route matches the request path", "not_found_error"}
	errRateLimited = aitronosError{http.StatusTooManyRequests, "RATE_LIMIT_EXCEEDED",
		"Rate limit exceeded. Please try again later.", "Too many requests for this API key", "rate_limit_error"}
	errMethod = aitronosError{http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED",
		"Method not allowed.", "Only GET is supported on this endpoint", "invalid_request_error"}
)

func aitronosErrorForStatus(status int) aitronosError {
	switch status {
	case http.StatusUnauthorized:
		return errAuthRequired
	case http.StatusForbidden:
		return errForbidden
	case http.StatusNotFound:
		return errNotFound
	case http.StatusTooManyRequests:
		return errRateLimited
	case http.StatusBadRequest:
		return aitronosError{status, "VALIDATION_ERROR", "The request is invalid.", "Invalid request", "validation_error"}
	case http.StatusServiceUnavailable:
		return aitronosError{status, "SERVICE_UNAVAILABLE", "The service is temporarily unavailable.", "Service unavailable", "server_error"}
	default:
		return aitronosError{status, "INTERNAL_SERVER_ERROR", "An unexpected error occurred.", http.StatusText(status), "server_error"}
	}
}

// writeAitronosError writes e in the Aitronos error envelope with a fresh
// trace_id.
func (s *Server) writeAitronosError(w http.ResponseWriter, status int, e aitronosError) {
	writeJSON(w, status, map[string]any{
		"success": false,
		"error": map[string]any{
			"code":           e.code,
			"message":        e.message,
			"system_message": e.systemMessage,
			"type":           e.typ,
			"status":         status,
			"trace_id":       "req_" + randString(20, lowerAlnum),
			"timestamp":      s.Now().Format(time.RFC3339),
			"details":        map[string]any{},
		},
	})
}

// rateLimitLocked counts a request for key and sets the X-RateLimit-*
// headers. It returns the Retry-After seconds when the request is over a
// limit, else 0.
func (s *Server) rateLimitLocked(w http.ResponseWriter, key string, now time.Time) int {
	if s.rateLimit <= 0 {
		return 0
	}
	b := s.buckets[key]
	if b == nil {
		b = &rateBucket{}
		s.buckets[key] = b
	}
	if b.minuteStart.IsZero() || !now.Before(b.minuteStart.Add(time.Minute)) {
		b.minuteStart, b.minuteCount = now, 0
	}
	if b.dayStart.IsZero() || !now.Before(b.dayStart.Add(24*time.Hour)) {
		b.dayStart, b.dayCount = now, 0
	}
	b.minuteCount++
	b.dayCount++
	reset := b.minuteStart.Add(time.Minute)
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(s.rateLimit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(max(s.rateLimit-b.minuteCount, 0)))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(ceilUnix(reset), 10))
	var until time.Time
	if b.minuteCount > s.rateLimit {
		until = reset
	}
	if s.dailyLimit > 0 && b.dayCount > s.dailyLimit {
		until = b.dayStart.Add(24 * time.Hour)
	}
	if until.IsZero() {
		return 0
	}
	return max(int((until.Sub(now)+time.Second-1)/time.Second), 1)
}

func ceilUnix(t time.Time) int64 {
	u := t.Unix()
	if t.Nanosecond() > 0 {
		u++
	}
	return u
}

func (s *Server) aitronosHandler(byConnection bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			s.writeAitronosError(w, http.StatusMethodNotAllowed, errMethod)
			return
		}
		key, conflict := "", false
		for _, h := range aitronosKeyHeaders {
			v := r.Header.Get(h)
			if v == "" {
				continue
			}
			if key != "" && v != key {
				conflict = true
			}
			if key == "" {
				key = v
			}
		}
		body, apiErr := s.aitronosLookup(w, r, key, conflict, byConnection)
		if apiErr != nil {
			s.writeAitronosError(w, apiErr.status, *apiErr)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	}
}

func (s *Server) aitronosLookup(w http.ResponseWriter, r *http.Request, key string, conflict, byConnection bool) ([]byte, *aitronosError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.nowLocked()
	if retry := s.rateLimitLocked(w, key, now); retry > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retry))
		return nil, &errRateLimited
	}
	if key == "" {
		return nil, &errAuthRequired
	}
	if conflict {
		return nil, &errInvalidKey
	}
	state, ok := s.keys[key]
	switch {
	case !ok:
		return nil, &errInvalidKey
	case state == KeyExpired:
		return nil, &errKeyExpired
	case state == KeyDeactivated:
		return nil, &errKeyDeactivated
	case state == KeyPaused:
		return nil, &errKeyPaused
	case state == KeyNoAdmin:
		return nil, &errForbidden
	}
	var c *Connection
	if byConnection {
		c = s.conns[r.PathValue("connection_id")]
	} else if id, ok := s.connByCred[r.PathValue("credential_id")]; ok {
		c = s.conns[id]
	}
	if c == nil {
		return nil, &errNotFound
	}
	b, err := json.Marshal(c.toJSON(now))
	if err != nil {
		return nil, &aitronosError{http.StatusInternalServerError, "INTERNAL_SERVER_ERROR",
			"An unexpected error occurred.", "connection not encodable", "server_error"}
	}
	return b, nil
}

type connectionCredentialsJSON struct {
	AccessToken  string `json:"access_token,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	TokenType    string `json:"token_type,omitempty"`
	Scope        string `json:"scope,omitempty"`
	ExpiresIn    *int64 `json:"expires_in,omitempty"`
}

type connectionJSON struct {
	ConnectionID        string                    `json:"connection_id"`
	Status              *string                   `json:"status"`
	AppName             *string                   `json:"app_name"`
	AuthScheme          *string                   `json:"auth_scheme"`
	Credentials         connectionCredentialsJSON `json:"credentials"`
	AccountEmail        *string                   `json:"account_email"`
	AccountID           *string                   `json:"account_id"`
	EntityID            *string                   `json:"entity_id"`
	AuthConfigID        *string                   `json:"auth_config_id"`
	IsComposioManaged   bool                      `json:"is_composio_managed"`
	BaseURL             *string                   `json:"base_url"`
	TestRequestEndpoint *string                   `json:"test_request_endpoint"`
	CallbackURL         *string                   `json:"callback_url"`
	IDToken             *string                   `json:"id_token"`
	CodeVerifier        *string                   `json:"code_verifier"`
	ExtraHeaders        map[string]any            `json:"extra_headers"`
	QueryParams         map[string]any            `json:"query_params"`
	ExtraData           map[string]any            `json:"extra_data"`
	ExpiresAt           *string                   `json:"expires_at"`
	CreatedAt           *string                   `json:"created_at"`
	UpdatedAt           *string                   `json:"updated_at"`
	StatusReason        *string                   `json:"status_reason"`
	IsDisabled          bool                      `json:"is_disabled"`
	IsRedacted          bool                      `json:"is_redacted"`
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func nullableTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	return nullable(t.UTC().Format(time.RFC3339))
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

func (c *Connection) toJSON(now time.Time) connectionJSON {
	secret := func(v string) string {
		if c.IsRedacted && v != "" {
			return RedactedValue
		}
		return v
	}
	creds := connectionCredentialsJSON{
		AccessToken:  secret(c.AccessToken),
		RefreshToken: secret(c.RefreshToken),
		TokenType:    c.TokenType,
		Scope:        c.Scope,
	}
	if !c.ExpiresAt.IsZero() {
		in := max(int64(c.ExpiresAt.Sub(now)/time.Second), 0)
		creds.ExpiresIn = &in
	}
	return connectionJSON{
		ConnectionID:        c.ConnectionID,
		Status:              nullable(c.Status),
		AppName:             nullable(c.AppName),
		AuthScheme:          nullable(c.AuthScheme),
		Credentials:         creds,
		AccountEmail:        nullable(c.AccountEmail),
		AccountID:           nullable(c.AccountID),
		EntityID:            nullable(c.EntityID),
		AuthConfigID:        nullable(c.AuthConfigID),
		IsComposioManaged:   c.IsComposioManaged,
		BaseURL:             nullable(c.BaseURL),
		TestRequestEndpoint: nullable(c.TestRequestEndpoint),
		CallbackURL:         nullable(c.CallbackURL),
		IDToken:             nullable(secret(c.IDToken)),
		CodeVerifier:        nullable(secret(c.CodeVerifier)),
		ExtraHeaders:        orEmpty(c.ExtraHeaders),
		QueryParams:         orEmpty(c.QueryParams),
		ExtraData:           orEmpty(c.ExtraData),
		ExpiresAt:           nullableTime(c.ExpiresAt),
		CreatedAt:           nullableTime(c.CreatedAt),
		UpdatedAt:           nullableTime(c.UpdatedAt),
		StatusReason:        nullable(c.StatusReason),
		IsDisabled:          c.IsDisabled,
		IsRedacted:          c.IsRedacted,
	}
}
