package upstreamsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// The control API is documented in the package comment (server.go).

type adminRoute struct {
	method string
	path   string
	h      func(s *Server, r *http.Request) (any, int, error)
}

var adminRoutes = []adminRoute{
	{http.MethodPost, "/_sim/c1/clients", (*Server).adminRegisterClient},
	{http.MethodPost, "/_sim/c1/bearer-tokens", (*Server).adminBearerToken},
	{http.MethodPost, "/_sim/c1/connectors", (*Server).adminConnector},
	{http.MethodPut, "/_sim/c1/credential-ttl", (*Server).adminCredentialTTL},
	{http.MethodGet, "/_sim/c1/credentials", (*Server).adminListCredentials},
	{http.MethodPost, "/_sim/c1/credentials/revoke", (*Server).adminRevokeCredential},
	{http.MethodPut, "/_sim/c1/deleted-credentials", (*Server).adminDeletedCredentials},
	{http.MethodPost, "/_sim/c1/validate", (*Server).adminValidate},
	{http.MethodPost, "/_sim/faults", (*Server).adminInjectFault},
	{http.MethodDelete, "/_sim/faults", (*Server).adminClearFaults},
	{http.MethodGet, "/_sim/calls", (*Server).adminCalls},
	{http.MethodPost, "/_sim/aitronos/keys", (*Server).adminAPIKey},
	{http.MethodPut, "/_sim/aitronos/connections", (*Server).adminConnection},
	{http.MethodPut, "/_sim/aitronos/rate-limit", (*Server).adminRateLimit},
	{http.MethodGet, "/_sim/clock", (*Server).adminClock},
	{http.MethodPost, "/_sim/clock", (*Server).adminAdvance},
}

func (s *Server) handleAdmin(w http.ResponseWriter, r *http.Request) {
	pathKnown := false
	for _, rt := range adminRoutes {
		if rt.path != r.URL.Path {
			continue
		}
		pathKnown = true
		if rt.method != r.Method {
			continue
		}
		out, status, err := rt.h(s, r)
		if err != nil {
			writeJSON(w, status, map[string]string{"error": err.Error()})
			return
		}
		if out == nil {
			out = struct{}{}
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	if pathKnown {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed"})
		return
	}
	writeJSON(w, http.StatusNotFound, map[string]string{"error": "unknown control endpoint"})
}

// decodeAdmin decodes a JSON body into v, refusing unknown fields.
func decodeAdmin(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxJSONBody))
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("malformed JSON body: %v", err)
	}
	if dec.More() {
		return errors.New("trailing data after JSON body")
	}
	return nil
}

func badRequest(err error) (any, int, error) { return nil, http.StatusBadRequest, err }

func (s *Server) adminRegisterClient(r *http.Request) (any, int, error) {
	var in struct {
		ClientID string `json:"client_id"`
	}
	if err := decodeAdmin(r, &in); err != nil {
		return badRequest(err)
	}
	if in.ClientID == "" {
		return badRequest(errors.New("client_id is required"))
	}
	secret, err := s.RegisterClient(in.ClientID)
	if err != nil {
		return nil, http.StatusConflict, err
	}
	return map[string]string{"client_id": in.ClientID, "client_secret": secret}, 0, nil
}

func (s *Server) adminBearerToken(r *http.Request) (any, int, error) {
	var in struct {
		Token string `json:"token"`
	}
	if err := decodeAdmin(r, &in); err != nil {
		return badRequest(err)
	}
	if in.Token == "" {
		return badRequest(errors.New("token is required"))
	}
	s.AddBearerToken(in.Token)
	return nil, 0, nil
}

func (s *Server) adminConnector(r *http.Request) (any, int, error) {
	var in struct {
		AppID       string `json:"app_id"`
		ConnectorID string `json:"connector_id"`
	}
	if err := decodeAdmin(r, &in); err != nil {
		return badRequest(err)
	}
	if in.AppID == "" || in.ConnectorID == "" {
		return badRequest(errors.New("app_id and connector_id are required"))
	}
	s.AddConnector(in.AppID, in.ConnectorID)
	return nil, 0, nil
}

func (s *Server) adminCredentialTTL(r *http.Request) (any, int, error) {
	var in struct {
		TTL *string `json:"ttl"`
	}
	if err := decodeAdmin(r, &in); err != nil {
		return badRequest(err)
	}
	if in.TTL == nil {
		return badRequest(errors.New("ttl is required"))
	}
	d, err := time.ParseDuration(*in.TTL)
	if err != nil || d < 0 {
		return badRequest(fmt.Errorf("ttl must be a non-negative Go duration such as \"4m\": %q", *in.TTL))
	}
	s.SetCredentialTTL(d)
	return map[string]string{"ttl": d.String()}, 0, nil
}

type adminCredential struct {
	ID          string  `json:"id"`
	AppID       string  `json:"app_id"`
	ConnectorID string  `json:"connector_id"`
	ClientID    string  `json:"client_id"`
	DisplayName string  `json:"display_name"`
	CreatedAt   string  `json:"created_at"`
	ExpiresTime *string `json:"expires_time"`
	LastUsedAt  *string `json:"last_used_at"`
	Revoked     bool    `json:"revoked"`
	RevokedAt   *string `json:"revoked_at"`
	Live        bool    `json:"live"`
}

// toAdmin is a credential as the control API shows it: no secret.
func (c CredentialState) toAdmin() adminCredential {
	opt := func(t time.Time) *string {
		if t.IsZero() {
			return nil
		}
		v := protoTime(t)
		return &v
	}
	return adminCredential{
		ID: c.ID, AppID: c.AppID, ConnectorID: c.ConnectorID, ClientID: c.ClientID,
		DisplayName: c.DisplayName, CreatedAt: protoTime(c.CreatedAt),
		ExpiresTime: opt(c.ExpiresTime), LastUsedAt: opt(c.LastUsedAt),
		Revoked: c.Revoked, RevokedAt: opt(c.RevokedAt), Live: c.Live,
	}
}

func (s *Server) adminListCredentials(r *http.Request) (any, int, error) {
	q := r.URL.Query()
	list := s.Credentials(q.Get("app_id"), q.Get("connector_id"))
	out := make([]adminCredential, len(list))
	for i, c := range list {
		out[i] = c.toAdmin()
	}
	return map[string]any{"credentials": out}, 0, nil
}

// adminRevokeCredential revokes a credential as a C1 administrator would.
func (s *Server) adminRevokeCredential(r *http.Request) (any, int, error) {
	var in struct {
		ID string `json:"id"`
	}
	if err := decodeAdmin(r, &in); err != nil {
		return badRequest(err)
	}
	if in.ID == "" {
		return badRequest(errors.New("id is required"))
	}
	c, ok := s.RevokeOutOfBand(in.ID)
	if !ok {
		return nil, http.StatusNotFound, fmt.Errorf("no credential %q", in.ID)
	}
	return c.toAdmin(), 0, nil
}

// adminDeletedCredentials sets how GetCredentials answers for a revoked credential.
func (s *Server) adminDeletedCredentials(r *http.Request) (any, int, error) {
	var in struct {
		Answer string `json:"answer"`
	}
	if err := decodeAdmin(r, &in); err != nil {
		return badRequest(err)
	}
	switch in.Answer {
	case "deleted_at":
		s.SetHideDeleted(false)
	case "not_found":
		s.SetHideDeleted(true)
	default:
		return badRequest(fmt.Errorf("answer must be deleted_at or not_found: %q", in.Answer))
	}
	return nil, 0, nil
}

func (s *Server) adminValidate(r *http.Request) (any, int, error) {
	var in struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := decodeAdmin(r, &in); err != nil {
		return badRequest(err)
	}
	return map[string]bool{"valid": s.ValidCredential(in.ClientID, in.ClientSecret)}, 0, nil
}

func (s *Server) adminInjectFault(r *http.Request) (any, int, error) {
	var in struct {
		Op         string `json:"op"`
		Status     int    `json:"status"`
		RetryAfter string `json:"retry_after"`
		Body       string `json:"body"`
		Malformed  bool   `json:"malformed"`
		Latency    string `json:"latency"`
		Count      int    `json:"count"`
		Commit     bool   `json:"commit"`
	}
	if err := decodeAdmin(r, &in); err != nil {
		return badRequest(err)
	}
	if !knownOps[in.Op] && in.Op != OpAny {
		return badRequest(fmt.Errorf("op must be one of token, rotate, get, revoke, aitronos or *: %q", in.Op))
	}
	if in.Status != 0 && (in.Status < 100 || in.Status > 599) {
		return badRequest(fmt.Errorf("status %d out of range", in.Status))
	}
	var lat time.Duration
	if in.Latency != "" {
		d, err := time.ParseDuration(in.Latency)
		if err != nil || d < 0 {
			return badRequest(fmt.Errorf("latency must be a non-negative Go duration: %q", in.Latency))
		}
		lat = d
	}
	if in.Status == 0 && !in.Malformed && lat == 0 {
		return badRequest(errors.New("a fault needs a status, malformed or a latency"))
	}
	s.InjectFault(Fault{
		Op: in.Op, Status: in.Status, RetryAfter: in.RetryAfter, Body: in.Body,
		Malformed: in.Malformed, Latency: lat, Count: in.Count, Commit: in.Commit,
	})
	return nil, 0, nil
}

func (s *Server) adminClearFaults(*http.Request) (any, int, error) {
	s.ClearFaults()
	return nil, 0, nil
}

func (s *Server) adminCalls(*http.Request) (any, int, error) {
	return s.allCalls(), 0, nil
}

func (s *Server) adminAPIKey(r *http.Request) (any, int, error) {
	var in struct {
		Key   string   `json:"key"`
		State KeyState `json:"state"`
	}
	if err := decodeAdmin(r, &in); err != nil {
		return badRequest(err)
	}
	if in.State == "" {
		in.State = KeyActive
	}
	if in.Key == "" || !in.State.valid() {
		return badRequest(errors.New("key is required and state must be active, expired, deactivated, paused or no_admin"))
	}
	s.AddAPIKey(in.Key, in.State)
	return nil, 0, nil
}

func (s *Server) adminConnection(r *http.Request) (any, int, error) {
	var in struct {
		CredentialID        string         `json:"credential_id"`
		ConnectionID        string         `json:"connection_id"`
		Status              string         `json:"status"`
		AppName             string         `json:"app_name"`
		AuthScheme          string         `json:"auth_scheme"`
		AccountEmail        string         `json:"account_email"`
		AccountID           string         `json:"account_id"`
		EntityID            string         `json:"entity_id"`
		AuthConfigID        string         `json:"auth_config_id"`
		AccessToken         string         `json:"access_token"`
		RefreshToken        string         `json:"refresh_token"`
		IDToken             string         `json:"id_token"`
		CodeVerifier        string         `json:"code_verifier"`
		TokenType           string         `json:"token_type"`
		Scope               string         `json:"scope"`
		BaseURL             string         `json:"base_url"`
		TestRequestEndpoint string         `json:"test_request_endpoint"`
		CallbackURL         string         `json:"callback_url"`
		StatusReason        string         `json:"status_reason"`
		ExpiresAt           string         `json:"expires_at"`
		ExpiresIn           *int64         `json:"expires_in"`
		IsComposioManaged   bool           `json:"is_composio_managed"`
		IsDisabled          bool           `json:"is_disabled"`
		IsRedacted          bool           `json:"is_redacted"`
		ExtraHeaders        map[string]any `json:"extra_headers"`
		QueryParams         map[string]any `json:"query_params"`
		ExtraData           map[string]any `json:"extra_data"`
	}
	if err := decodeAdmin(r, &in); err != nil {
		return badRequest(err)
	}
	if in.ConnectionID == "" {
		return badRequest(errors.New("connection_id is required"))
	}
	if in.ExpiresAt != "" && in.ExpiresIn != nil {
		return badRequest(errors.New("give expires_at or expires_in, not both"))
	}
	var exp time.Time
	switch {
	case in.ExpiresAt != "":
		t, err := time.Parse(time.RFC3339, in.ExpiresAt)
		if err != nil {
			return badRequest(fmt.Errorf("expires_at must be RFC 3339: %v", err))
		}
		exp = t
	case in.ExpiresIn != nil:
		exp = s.Now().Add(time.Duration(*in.ExpiresIn) * time.Second)
	}
	s.SetConnection(Connection{
		CredentialID: in.CredentialID, ConnectionID: in.ConnectionID, Status: in.Status,
		AppName: in.AppName, AuthScheme: in.AuthScheme, AccountEmail: in.AccountEmail,
		AccountID: in.AccountID, EntityID: in.EntityID, AuthConfigID: in.AuthConfigID,
		AccessToken: in.AccessToken, RefreshToken: in.RefreshToken, IDToken: in.IDToken,
		CodeVerifier: in.CodeVerifier, TokenType: in.TokenType, Scope: in.Scope,
		BaseURL: in.BaseURL, TestRequestEndpoint: in.TestRequestEndpoint,
		CallbackURL: in.CallbackURL, StatusReason: in.StatusReason, ExpiresAt: exp,
		IsComposioManaged: in.IsComposioManaged, IsDisabled: in.IsDisabled, IsRedacted: in.IsRedacted,
		ExtraHeaders: in.ExtraHeaders, QueryParams: in.QueryParams, ExtraData: in.ExtraData,
	})
	return nil, 0, nil
}

func (s *Server) adminRateLimit(r *http.Request) (any, int, error) {
	var in struct {
		PerMinute *int `json:"per_minute"`
	}
	if err := decodeAdmin(r, &in); err != nil {
		return badRequest(err)
	}
	if in.PerMinute == nil {
		return badRequest(errors.New("per_minute is required"))
	}
	s.SetAitronosRateLimit(*in.PerMinute)
	return nil, 0, nil
}

func (s *Server) adminClock(*http.Request) (any, int, error) {
	return map[string]string{"now": s.Now().Format(time.RFC3339Nano)}, 0, nil
}

func (s *Server) adminAdvance(r *http.Request) (any, int, error) {
	var in struct {
		Advance string `json:"advance"`
	}
	if err := decodeAdmin(r, &in); err != nil {
		return badRequest(err)
	}
	d, err := time.ParseDuration(in.Advance)
	if err != nil {
		return badRequest(fmt.Errorf("advance must be a Go duration such as \"10m\": %q", in.Advance))
	}
	s.Advance(d)
	return s.adminClock(r)
}
