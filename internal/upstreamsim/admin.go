package upstreamsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
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
	{http.MethodPost, "/_sim/c1/service-principals", (*Server).adminServicePrincipal},
	{http.MethodPost, "/_sim/c1/service-principal-credentials", (*Server).adminRegisterSPCredential},
	{http.MethodGet, "/_sim/c1/root-credentials", (*Server).adminListRoots},
	{http.MethodGet, "/_sim/c1/root-credentials/find", (*Server).adminFindRoot},
	{http.MethodPost, "/_sim/c1/root-credentials/delete", (*Server).adminDeleteRoot},
	{http.MethodPut, "/_sim/c1/page-size", (*Server).adminPageSize},
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

// adminRootOptions are the options of a root credential to register.
type adminRootOptions struct {
	ClientID         string   `json:"client_id"`
	DisplayName      string   `json:"display_name"`
	ExpiresIn        string   `json:"expires_in"`
	ExpiresTime      string   `json:"expires_time"`
	CreatedAt        string   `json:"created_at"`
	ScopedRoles      []string `json:"scoped_roles"`
	AllowSourceCIDRs []string `json:"allow_source_cidrs"`
}

func (in *adminRootOptions) options() (RootOptions, error) {
	o := RootOptions{DisplayName: in.DisplayName, ScopedRoles: in.ScopedRoles, AllowSourceCIDRs: in.AllowSourceCIDRs}
	if in.ClientID == "" {
		return o, errors.New("client_id is required")
	}
	if in.ExpiresIn != "" {
		d, err := time.ParseDuration(in.ExpiresIn)
		if err != nil || d < 0 {
			return o, fmt.Errorf("expires_in must be a non-negative Go duration such as \"90m\": %q", in.ExpiresIn)
		}
		o.ExpiresIn = d
	}
	if in.ExpiresTime != "" {
		t, err := time.Parse(time.RFC3339, in.ExpiresTime)
		if err != nil {
			return o, fmt.Errorf("expires_time must be RFC 3339: %v", err)
		}
		o.ExpiresTime = t
	}
	if in.CreatedAt != "" {
		t, err := time.Parse(time.RFC3339, in.CreatedAt)
		if err != nil {
			return o, fmt.Errorf("created_at must be RFC 3339: %v", err)
		}
		o.CreatedAt = t
	}
	return o, nil
}

// adminRegisterClient registers a personal client.
func (s *Server) adminRegisterClient(r *http.Request) (any, int, error) {
	var in struct {
		adminRootOptions
		UserID string `json:"user_id"`
	}
	if err := decodeAdmin(r, &in); err != nil {
		return badRequest(err)
	}
	o, err := in.options()
	if err != nil {
		return badRequest(err)
	}
	o.UserID = in.UserID
	return registered(s.RegisterPersonalClient(in.ClientID, o))
}

func (s *Server) adminServicePrincipal(r *http.Request) (any, int, error) {
	var in struct {
		ID string `json:"id"`
	}
	if err := decodeAdmin(r, &in); err != nil {
		return badRequest(err)
	}
	if in.ID == "" {
		return badRequest(errors.New("id is required"))
	}
	s.AddServicePrincipal(in.ID)
	return map[string]string{"id": in.ID}, 0, nil
}

func (s *Server) adminRegisterSPCredential(r *http.Request) (any, int, error) {
	var in struct {
		adminRootOptions
		ServicePrincipalID string `json:"service_principal_id"`
	}
	if err := decodeAdmin(r, &in); err != nil {
		return badRequest(err)
	}
	o, err := in.options()
	if err != nil {
		return badRequest(err)
	}
	if in.ServicePrincipalID == "" {
		return badRequest(errors.New("service_principal_id is required"))
	}
	return registered(s.RegisterServicePrincipalCredential(in.ServicePrincipalID, in.ClientID, o))
}

// registered answers a registration: the credential with its secret, 409
// when the client id is taken and 400 for other refusals.
func registered(st RootCredentialState, err error) (any, int, error) {
	switch {
	case errors.Is(err, errAlreadyRegistered):
		return nil, http.StatusConflict, err
	case err != nil:
		return badRequest(err)
	}
	out := st.toAdmin()
	out.ClientSecret = st.Secret
	return out, 0, nil
}

type adminRoot struct {
	Kind               RootKind `json:"kind"`
	ID                 string   `json:"id"`
	ClientID           string   `json:"client_id"`
	DisplayName        string   `json:"display_name"`
	UserID             string   `json:"user_id,omitempty"`
	ServicePrincipalID string   `json:"service_principal_id,omitempty"`
	ScopedRoles        []string `json:"scoped_roles"`
	AllowSourceCIDRs   []string `json:"allow_source_cidrs"`
	CreatedAt          string   `json:"created_at"`
	ExpiresTime        *string  `json:"expires_time"`
	LastUsedAt         *string  `json:"last_used_at"`
	Deleted            bool     `json:"deleted"`
	DeletedAt          *string  `json:"deleted_at"`
	Live               bool     `json:"live"`
	ClientSecret       string   `json:"client_secret,omitempty"` // registrations only
}

// toAdmin is a root credential as the control API shows it: no secret.
func (c RootCredentialState) toAdmin() adminRoot {
	return adminRoot{
		Kind: c.Kind, ID: c.ID, ClientID: c.ClientID, DisplayName: c.DisplayName, UserID: c.UserID,
		ServicePrincipalID: c.ServicePrincipalID,
		ScopedRoles:        append([]string{}, c.ScopedRoles...), AllowSourceCIDRs: append([]string{}, c.AllowSourceCIDRs...),
		CreatedAt: protoTime(c.CreatedAt), ExpiresTime: optTime(c.ExpiresTime), LastUsedAt: optTime(c.LastUsedAt),
		Deleted: c.Deleted, DeletedAt: optTime(c.DeletedAt), Live: c.Live,
	}
}

// optTime is t in protobuf JSON form, nil for the zero time.
func optTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	v := protoTime(t)
	return &v
}

// adminListRoots lists root credentials, deleted ones included, filtered
// by kind, user_id and service_principal_id when given.
func (s *Server) adminListRoots(r *http.Request) (any, int, error) {
	q := r.URL.Query()
	kind := RootKind(q.Get("kind"))
	if kind != "" && kind != RootPersonalClient && kind != RootServicePrincipalCredential {
		return badRequest(fmt.Errorf("kind must be %s or %s: %q", RootPersonalClient, RootServicePrincipalCredential, kind))
	}
	out := []adminRoot{}
	for _, c := range s.RootCredentials() {
		if (kind == "" || c.Kind == kind) && (!q.Has("user_id") || c.UserID == q.Get("user_id")) &&
			(!q.Has("service_principal_id") || c.ServicePrincipalID == q.Get("service_principal_id")) {
			out = append(out, c.toAdmin())
		}
	}
	return map[string]any{"root_credentials": out}, 0, nil
}

// rootQuery reads the id or client_id naming one root credential.
func rootQuery(id, clientID string) (string, error) {
	if (id == "") == (clientID == "") {
		return "", errors.New("give id or client_id")
	}
	return id + clientID, nil
}

func (s *Server) adminFindRoot(r *http.Request) (any, int, error) {
	q := r.URL.Query()
	key, err := rootQuery(q.Get("id"), q.Get("client_id"))
	if err != nil {
		return badRequest(err)
	}
	c, ok := s.RootCredential(key)
	if !ok {
		return nil, http.StatusNotFound, fmt.Errorf("no root credential %q", key)
	}
	return c.toAdmin(), 0, nil
}

// adminDeleteRoot deletes a root credential as a C1 administrator would.
func (s *Server) adminDeleteRoot(r *http.Request) (any, int, error) {
	var in struct {
		ID       string `json:"id"`
		ClientID string `json:"client_id"`
	}
	if err := decodeAdmin(r, &in); err != nil {
		return badRequest(err)
	}
	key, err := rootQuery(in.ID, in.ClientID)
	if err != nil {
		return badRequest(err)
	}
	c, ok := s.DeleteRootOutOfBand(key)
	if !ok {
		return nil, http.StatusNotFound, fmt.Errorf("no root credential %q", key)
	}
	return c.toAdmin(), 0, nil
}

func (s *Server) adminPageSize(r *http.Request) (any, int, error) {
	var in struct {
		PageSize *int `json:"page_size"`
	}
	if err := decodeAdmin(r, &in); err != nil {
		return badRequest(err)
	}
	if in.PageSize == nil || *in.PageSize < 0 {
		return badRequest(errors.New("page_size is required and must not be negative"))
	}
	s.SetPageSize(*in.PageSize)
	s.mu.Lock()
	defer s.mu.Unlock()
	return map[string]int{"page_size": s.pageSize}, 0, nil
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
	return adminCredential{
		ID: c.ID, AppID: c.AppID, ConnectorID: c.ConnectorID, ClientID: c.ClientID,
		DisplayName: c.DisplayName, CreatedAt: protoTime(c.CreatedAt),
		ExpiresTime: optTime(c.ExpiresTime), LastUsedAt: optTime(c.LastUsedAt),
		Revoked: c.Revoked, RevokedAt: optTime(c.RevokedAt), Live: c.Live,
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
		ops := slices.Sorted(maps.Keys(knownOps))
		return badRequest(fmt.Errorf("op must be one of %s or *: %q", strings.Join(ops, ", "), in.Op))
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
