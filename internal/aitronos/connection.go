package aitronos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/httpx"
)

// OAuthCredentials are the tokens of a connected account.
type OAuthCredentials struct {
	AccessToken  string
	RefreshToken string
	TokenType    string
	Scope        string
	// ExpiresIn is the access token lifetime in seconds as of
	// Connection.FetchedAt; 0 when absent.
	ExpiresIn int64
}

// Connection is a personal connector's connected account with its OAuth
// credentials.
type Connection struct {
	ConnectionID string
	// Status is upper-cased: ACTIVE, EXPIRED, INITIATED, ...
	Status       string
	AppName      string
	AuthScheme   string
	AccountEmail string
	AccountID    string
	EntityID     string
	AuthConfigID string
	BaseURL      string
	IDToken      string
	StatusReason string
	Credentials  OAuthCredentials
	ExtraHeaders map[string]any
	QueryParams  map[string]any
	// Times are zero when absent or null.
	ExpiresAt  time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
	IsDisabled bool
	IsRedacted bool
	// FetchedAt is when the answer arrived (Config.Now), the reference
	// point of Credentials.ExpiresIn.
	FetchedAt time.Time
}

// Operation names used in errors.
const (
	opByCredential = "aitronos get credentials"
	opByConnection = "aitronos get credentials by connection"
)

// ByCredentialID reads a connection by credential id (GET
// {base}/v1/personal-connectors/admin/credentials/{id}).
func (c *Client) ByCredentialID(ctx context.Context, id string) (*Connection, error) {
	return c.get(ctx, opByCredential, "/v1/personal-connectors/admin/credentials/", id)
}

// ByConnectionID reads a connection by connection id (GET
// {base}/v1/personal-connectors/admin/credentials/by-connection/{id}).
func (c *Client) ByConnectionID(ctx context.Context, id string) (*Connection, error) {
	return c.get(ctx, opByConnection, "/v1/personal-connectors/admin/credentials/by-connection/", id)
}

// get fetches prefix+escaped id and decodes the connection.
func (c *Client) get(ctx context.Context, op, prefix, id string) (*Connection, error) {
	switch id {
	case "":
		return nil, fmt.Errorf("%s: id is required", op)
	case ".", "..":
		return nil, fmt.Errorf("%s: id is not valid", op)
	}
	req := httpx.Request{
		Op:         op,
		Method:     http.MethodGet,
		URL:        c.base + prefix + url.PathEscape(id),
		Header:     http.Header{c.header: {c.key}},
		Idempotent: true,
	}
	var ans answer
	if err := c.http.Do(ctx, req, &ans); err != nil {
		return nil, err
	}
	conn, err := ans.connection()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	conn.FetchedAt = c.now()
	return conn, nil
}

// answer is a 200 body: the connection itself or, leniently, wrapped as
// {"success": true, "data": {...}}.
type answer struct {
	conn wireConnection
}

// UnmarshalJSON implements json.Unmarshaler.
func (a *answer) UnmarshalJSON(b []byte) error {
	var head struct {
		Success      *bool           `json:"success"`
		Data         json.RawMessage `json:"data"`
		ConnectionID json.RawMessage `json:"connection_id"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return errors.New("answer is not a JSON object")
	}
	if head.Success != nil && !*head.Success {
		return errors.New("answer reports failure")
	}
	if len(head.ConnectionID) == 0 && len(head.Data) > 0 && head.Data[0] == '{' {
		b = head.Data
	}
	return a.conn.UnmarshalJSON(b)
}

// connection checks and converts a.
func (a *answer) connection() (*Connection, error) {
	if a.conn.ConnectionID == "" {
		return nil, errors.New("answer lacks connection_id")
	}
	return a.conn.connection(), nil
}

// wireConnection is a connection as Aitronos sends it.
type wireConnection struct {
	ConnectionID text            `json:"connection_id"`
	Status       text            `json:"status"`
	AppName      text            `json:"app_name"`
	AuthScheme   text            `json:"auth_scheme"`
	AccountEmail text            `json:"account_email"`
	AccountID    text            `json:"account_id"`
	EntityID     text            `json:"entity_id"`
	AuthConfigID text            `json:"auth_config_id"`
	BaseURL      text            `json:"base_url"`
	IDToken      text            `json:"id_token"`
	StatusReason text            `json:"status_reason"`
	Credentials  wireCredentials `json:"credentials"`
	ExtraHeaders object          `json:"extra_headers"`
	QueryParams  object          `json:"query_params"`
	ExpiresAt    timestamp       `json:"expires_at"`
	CreatedAt    timestamp       `json:"created_at"`
	UpdatedAt    timestamp       `json:"updated_at"`
	IsDisabled   flag            `json:"is_disabled"`
	IsRedacted   flag            `json:"is_redacted"`
}

// wireCredentials is the credentials object; null is all empty.
type wireCredentials struct {
	AccessToken  text    `json:"access_token"`
	RefreshToken text    `json:"refresh_token"`
	TokenType    text    `json:"token_type"`
	Scope        text    `json:"scope"`
	ExpiresIn    seconds `json:"expires_in"`
}

// UnmarshalJSON decodes the known fields one by one so that an error names
// its field; unknown fields are ignored.
func (w *wireConnection) UnmarshalJSON(b []byte) error {
	return decodeFields(b, map[string]any{
		"connection_id":  &w.ConnectionID,
		"status":         &w.Status,
		"app_name":       &w.AppName,
		"auth_scheme":    &w.AuthScheme,
		"account_email":  &w.AccountEmail,
		"account_id":     &w.AccountID,
		"entity_id":      &w.EntityID,
		"auth_config_id": &w.AuthConfigID,
		"base_url":       &w.BaseURL,
		"id_token":       &w.IDToken,
		"status_reason":  &w.StatusReason,
		"credentials":    &w.Credentials,
		"extra_headers":  &w.ExtraHeaders,
		"query_params":   &w.QueryParams,
		"expires_at":     &w.ExpiresAt,
		"created_at":     &w.CreatedAt,
		"updated_at":     &w.UpdatedAt,
		"is_disabled":    &w.IsDisabled,
		"is_redacted":    &w.IsRedacted,
	})
}

// UnmarshalJSON decodes the known fields one by one, naming a failing one.
func (w *wireCredentials) UnmarshalJSON(b []byte) error {
	return decodeFields(b, map[string]any{
		"access_token":  &w.AccessToken,
		"refresh_token": &w.RefreshToken,
		"token_type":    &w.TokenType,
		"scope":         &w.Scope,
		"expires_in":    &w.ExpiresIn,
	})
}

// connection converts w.
func (w *wireConnection) connection() *Connection {
	return &Connection{
		ConnectionID: string(w.ConnectionID),
		Status:       strings.ToUpper(strings.TrimSpace(string(w.Status))),
		AppName:      string(w.AppName),
		AuthScheme:   string(w.AuthScheme),
		AccountEmail: string(w.AccountEmail),
		AccountID:    string(w.AccountID),
		EntityID:     string(w.EntityID),
		AuthConfigID: string(w.AuthConfigID),
		BaseURL:      string(w.BaseURL),
		IDToken:      string(w.IDToken),
		StatusReason: string(w.StatusReason),
		Credentials: OAuthCredentials{
			AccessToken:  string(w.Credentials.AccessToken),
			RefreshToken: string(w.Credentials.RefreshToken),
			TokenType:    string(w.Credentials.TokenType),
			Scope:        string(w.Credentials.Scope),
			ExpiresIn:    int64(w.Credentials.ExpiresIn),
		},
		ExtraHeaders: w.ExtraHeaders,
		QueryParams:  w.QueryParams,
		ExpiresAt:    time.Time(w.ExpiresAt),
		CreatedAt:    time.Time(w.CreatedAt),
		UpdatedAt:    time.Time(w.UpdatedAt),
		IsDisabled:   bool(w.IsDisabled),
		IsRedacted:   bool(w.IsRedacted),
	}
}

// TokenExpiry is when a connection's access token expires: expires_at, else
// credentials.expires_in counted from when the answer arrived; zero if unknown.
func (conn *Connection) TokenExpiry() time.Time {
	if !conn.ExpiresAt.IsZero() {
		return conn.ExpiresAt
	}
	if conn.Credentials.ExpiresIn > 0 && !conn.FetchedAt.IsZero() {
		return conn.FetchedAt.Add(time.Duration(conn.Credentials.ExpiresIn) * time.Second)
	}
	return time.Time{}
}
