package c1api

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/httpx"
)

// The engine's own credential, its root credential, is a C1 personal client
// (/api/v1/iam/personal_clients) or a service-principal credential
// (/api/v1/service_principals/{id}/credentials). Both kinds are served here
// through one shape.

// MaxServicePrincipalCredentialLifetime is the longest lifetime C1 gives a
// service-principal credential (180 days).
const MaxServicePrincipalCredentialLifetime = 180 * 24 * time.Hour

// maxListPages bounds how many pages a list follows: an upstream that keeps
// answering a next page is misbehaving.
const maxListPages = 1000

// ErrRootCredentialNotFound is wrapped by the error of FindRootCredential
// when no credential has the client id, and by the 404 errors of
// GetRootCredential and DeleteRootCredential (for which httpx.IsNotFound is
// true as well).
var ErrRootCredentialNotFound = errors.New("root credential not found")

// RootScope says where the engine's own credential lives: its user's
// personal clients (ServicePrincipalID "") or a service principal's
// credentials.
type RootScope struct{ ServicePrincipalID string }

// RootCredential is a personal client or a service-principal credential,
// never with its secret. UserID is set for personal clients,
// ServicePrincipalID for service-principal credentials. Times are zero when
// absent; ExpiresTime zero means no expiry, DeletedAt zero not deleted (C1
// answers no deletedAt for service-principal credentials).
type RootCredential struct {
	ID, ClientID, DisplayName, UserID, ServicePrincipalID string
	ScopedRoles, AllowSourceCIDRs                         []string
	CreatedAt, ExpiresTime, LastUsedAt, DeletedAt         time.Time
}

// RootCredentialSpec is what a new root credential is created with.
type RootCredentialSpec struct {
	DisplayName string
	// Expires is the lifetime, sent in whole seconds (any fraction is
	// dropped); at least a second. 0: no expiry, for personal clients only;
	// a service-principal credential must expire within
	// MaxServicePrincipalCredentialLifetime.
	Expires                       time.Duration
	ScopedRoles, AllowSourceCIDRs []string
}

func (s RootScope) personal() bool { return s.ServicePrincipalID == "" }

// op names the call in errors, e.g. "c1 create personal client".
func (s RootScope) op(verb string, plural bool) string {
	noun := "personal client"
	if !s.personal() {
		noun = "service-principal credential"
	}
	if plural {
		noun += "s"
	}
	return "c1 " + verb + " " + noun
}

// path is the collection's path, with the service principal id escaped.
func (s RootScope) path() string {
	if s.personal() {
		return "/api/v1/iam/personal_clients"
	}
	return "/api/v1/service_principals/" + url.PathEscape(s.ServicePrincipalID) + "/credentials"
}

// check refuses a service principal id that escaping leaves a dot segment.
func (s RootScope) check() error {
	if s.personal() {
		return nil
	}
	return checkID("service principal id", s.ServicePrincipalID)
}

// checkID refuses an empty id and the dot segments "." and "..", which
// escaping leaves as they are.
func checkID(name, v string) error {
	switch v {
	case "":
		return fmt.Errorf("%s is required", name)
	case ".", "..":
		return fmt.Errorf("%s is not valid", name)
	}
	return nil
}

// wireRoot is a PersonalClient or a ServicePrincipalCredential as C1 sends
// it: the two spell some fields differently, and both spellings are read.
type wireRoot struct {
	ID                 string    `json:"id"`
	ClientID           string    `json:"clientId"`
	ClientSecret       string    `json:"clientSecret"` // not expected here; read as a fallback on create
	DisplayName        string    `json:"displayName"`
	UserID             string    `json:"userId"`
	ServicePrincipalID string    `json:"servicePrincipalId"`
	ScopedRoles        []string  `json:"scopedRoles"`
	ScopedRoleIDs      []string  `json:"scopedRoleIds"`
	AllowSourceCidr    []string  `json:"allowSourceCidr"`
	AllowSourceCidrs   []string  `json:"allowSourceCidrs"`
	CreatedAt          timestamp `json:"createdAt"`
	ExpiresTime        timestamp `json:"expiresTime"`
	ExpiresAt          timestamp `json:"expiresAt"`
	LastUsedAt         timestamp `json:"lastUsedAt"`
	DeletedAt          timestamp `json:"deletedAt"`
}

// root converts w, found in scope.
func (w *wireRoot) root(scope RootScope) *RootCredential {
	r := &RootCredential{
		ID: w.ID, ClientID: w.ClientID, DisplayName: w.DisplayName, UserID: w.UserID,
		ServicePrincipalID: w.ServicePrincipalID,
		ScopedRoles:        firstNonEmpty(w.ScopedRoles, w.ScopedRoleIDs),
		AllowSourceCIDRs:   firstNonEmpty(w.AllowSourceCidr, w.AllowSourceCidrs),
		CreatedAt:          time.Time(w.CreatedAt), ExpiresTime: time.Time(w.ExpiresTime),
		LastUsedAt: time.Time(w.LastUsedAt), DeletedAt: time.Time(w.DeletedAt),
	}
	if r.ExpiresTime.IsZero() {
		r.ExpiresTime = time.Time(w.ExpiresAt)
	}
	if r.ServicePrincipalID == "" && !scope.personal() {
		r.ServicePrincipalID = scope.ServicePrincipalID
	}
	return r
}

func firstNonEmpty(a, b []string) []string {
	if len(a) > 0 {
		return a
	}
	return b
}

// rootAnswer is the answer of create and get.
type rootAnswer struct {
	PersonalClient *wireRoot `json:"personalClient"`
	Credential     *wireRoot `json:"credential"`
	ClientSecret   string    `json:"clientSecret"`
}

// item is the credential the answer holds for scope, or nil.
func (a *rootAnswer) item(scope RootScope) *wireRoot {
	if scope.personal() {
		return a.PersonalClient
	}
	return a.Credential
}

// rootListAnswer is one page of a list.
type rootListAnswer struct {
	List          []*wireRoot `json:"list"`
	NextPageToken string      `json:"nextPageToken"`
}

// notSent is the error of a call refused before any request was sent: the
// upstream surely did not act.
func notSent(op, method, path string, err error) error {
	return &httpx.Error{Op: op, Method: method, Path: path, Outcome: httpx.OutcomeNotApplied, Err: err}
}

// ListRootCredentials lists the credentials of scope (GET
// /api/v1/iam/personal_clients, or GET
// /api/v1/service_principals/{id}/credentials), following every page, in
// the upstream's order. Deleted credentials are returned if the upstream
// lists them.
func (c *Client) ListRootCredentials(ctx context.Context, scope RootScope) ([]RootCredential, error) {
	op := scope.op("list", true)
	if err := scope.check(); err != nil {
		return nil, notSent(op, http.MethodGet, scope.path(), err)
	}
	var out []RootCredential
	token, seen := "", map[string]bool{}
	for range maxListPages {
		u := c.server + scope.path()
		if token != "" {
			u += "?page_token=" + url.QueryEscape(token)
		}
		var ans rootListAnswer
		if err := c.call(ctx, httpx.Request{Op: op, Method: http.MethodGet, URL: u, Idempotent: true}, &ans); err != nil {
			return nil, err
		}
		for _, w := range ans.List {
			if w == nil || w.ID == "" {
				return nil, fmt.Errorf("%s: a listed credential has no id", op)
			}
			out = append(out, *w.root(scope))
		}
		token = ans.NextPageToken
		if token == "" {
			return out, nil
		}
		if seen[token] {
			return nil, fmt.Errorf("%s: the upstream answered the same next page token twice", op)
		}
		seen[token] = true
	}
	return nil, fmt.Errorf("%s: more than %d pages", op, maxListPages)
}

// FindRootCredential returns the credential of scope whose client id is
// clientID, looked up through ListRootCredentials, deleted or not. When none
// has it, the error wraps ErrRootCredentialNotFound.
func (c *Client) FindRootCredential(ctx context.Context, scope RootScope, clientID string) (*RootCredential, error) {
	op := scope.op("find", false)
	if clientID == "" {
		return nil, notSent(op, http.MethodGet, scope.path(), errors.New("client id is required"))
	}
	list, err := c.ListRootCredentials(ctx, scope)
	if err != nil {
		return nil, err
	}
	for i := range list {
		if list[i].ClientID == clientID {
			return &list[i], nil
		}
	}
	return nil, fmt.Errorf("%s: %w", op, ErrRootCredentialNotFound)
}

// GetRootCredential reads one credential of scope by id (GET
// .../personal_clients/{id} or .../credentials/{id}). A missing one is an
// error for which httpx.IsNotFound is true and which wraps
// ErrRootCredentialNotFound; a deleted personal client may instead come back
// with DeletedAt set.
func (c *Client) GetRootCredential(ctx context.Context, scope RootScope, id string) (*RootCredential, error) {
	op := scope.op("get", false)
	path := scope.path() + "/" + url.PathEscape(id)
	if err := cmp.Or(scope.check(), checkID("credential id", id)); err != nil {
		return nil, notSent(op, http.MethodGet, path, err)
	}
	var ans rootAnswer
	err := c.call(ctx, httpx.Request{Op: op, Method: http.MethodGet, URL: c.server + path, Idempotent: true}, &ans)
	if err != nil {
		return nil, wrapNotFound(err)
	}
	w := ans.item(scope)
	if w == nil || w.ID == "" {
		return nil, fmt.Errorf("%s: answer has no credential", op)
	}
	return w.root(scope), nil
}

// CreateRootCredential creates a credential in scope (POST
// /api/v1/iam/personal_clients, or POST
// /api/v1/service_principals/{id}/credentials) and returns it with its client
// secret, which C1 never returns again. It does not delete older
// credentials. It is not idempotent: it is sent again only after an attempt
// that surely was not carried out, and an argument refused here sends
// nothing (httpx.OutcomeNotApplied). An answer that names the new
// credential but lacks a usable client id or secret is an
// *UnusableCredentialError naming it: it exists upstream and should be
// deleted. No error carries the secret.
func (c *Client) CreateRootCredential(ctx context.Context, scope RootScope, spec RootCredentialSpec) (*RootCredential, string, error) {
	op := scope.op("create", false)
	body, err := spec.body(scope)
	if err == nil {
		err = scope.check()
	}
	if err != nil {
		return nil, "", notSent(op, http.MethodPost, scope.path(), err)
	}
	var ans rootAnswer
	req := httpx.Request{Op: op, Method: http.MethodPost, URL: c.server + scope.path(), Body: body}
	if err := c.call(ctx, req, &ans); err != nil {
		return nil, "", err
	}
	w := ans.item(scope)
	if w == nil || w.ID == "" {
		return nil, "", fmt.Errorf("%s: answer lacks the credential id", op)
	}
	secret := ans.ClientSecret
	if secret == "" {
		secret = w.ClientSecret
	}
	unusable := func(reason string) error { return &UnusableCredentialError{Op: op, CredentialID: w.ID, Reason: reason} }
	switch {
	case secret == "":
		return nil, "", unusable("the answer lacks the client secret")
	case w.ClientID == "":
		return nil, "", unusable("the answer lacks the client id")
	}
	if err := ValidateClientID(w.ClientID); err != nil {
		return nil, "", unusable(err.Error())
	}
	if _, err := ParseClientSecret(secret); err != nil {
		return nil, "", unusable(err.Error())
	}
	return w.root(scope), secret, nil
}

// DeleteRootCredential deletes (revokes) one credential of scope by id
// (DELETE .../personal_clients/{id} or .../credentials/{id}, body {}). It is
// sent again after a lost answer, so a 404 may follow an earlier attempt
// that deleted it. A missing one is an error for which httpx.IsNotFound is
// true and which wraps ErrRootCredentialNotFound.
func (c *Client) DeleteRootCredential(ctx context.Context, scope RootScope, id string) error {
	op := scope.op("delete", false)
	path := scope.path() + "/" + url.PathEscape(id)
	if err := cmp.Or(scope.check(), checkID("credential id", id)); err != nil {
		return notSent(op, http.MethodDelete, path, err)
	}
	req := httpx.Request{Op: op, Method: http.MethodDelete, URL: c.server + path, Body: struct{}{}, Idempotent: true}
	return wrapNotFound(c.call(ctx, req, nil))
}

// wrapNotFound makes a 404 error wrap ErrRootCredentialNotFound too.
func wrapNotFound(err error) error {
	if httpx.IsNotFound(err) {
		return fmt.Errorf("%w (%w)", err, ErrRootCredentialNotFound)
	}
	return err
}

// personalClientBody is the body of a personal-client create.
type personalClientBody struct {
	DisplayName     string   `json:"displayName"`
	Expires         string   `json:"expires,omitempty"`
	ScopedRoles     []string `json:"scopedRoles"`
	AllowSourceCidr []string `json:"allowSourceCidr"`
}

// spCredentialBody is the body of a service-principal credential create.
type spCredentialBody struct {
	DisplayName      string   `json:"displayName"`
	Expires          string   `json:"expires"`
	ScopedRoles      []string `json:"scopedRoles"`
	AllowSourceCidrs []string `json:"allowSourceCidrs"`
	RequireDpop      bool     `json:"requireDpop"`
}

// body checks spec and returns the create body for scope; expires is a
// protobuf duration in whole seconds, such as "7776000s".
func (spec RootCredentialSpec) body(scope RootScope) (any, error) {
	switch {
	case spec.Expires < 0:
		return nil, errors.New("expires must not be negative")
	case spec.Expires > 0 && spec.Expires < time.Second:
		return nil, errors.New("expires must be at least a second")
	case !scope.personal() && spec.Expires == 0:
		return nil, errors.New("a service-principal credential must expire")
	case !scope.personal() && spec.Expires > MaxServicePrincipalCredentialLifetime:
		return nil, fmt.Errorf("a service-principal credential lives at most %s", MaxServicePrincipalCredentialLifetime)
	}
	expires := ""
	if spec.Expires > 0 {
		expires = strconv.FormatInt(int64(spec.Expires/time.Second), 10) + "s"
	}
	roles, cidrs := nonNil(spec.ScopedRoles), nonNil(spec.AllowSourceCIDRs)
	if scope.personal() {
		return personalClientBody{DisplayName: spec.DisplayName, Expires: expires, ScopedRoles: roles, AllowSourceCidr: cidrs}, nil
	}
	return spCredentialBody{DisplayName: spec.DisplayName, Expires: expires, ScopedRoles: roles, AllowSourceCidrs: cidrs}, nil
}

// nonNil makes a nil list an empty one, sent as [] rather than null.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
