package c1

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/aitronos"
	"github.com/vault-plugin-c1/vault-plugin-c1/internal/lifecycle"
)

// unknownExpiryTTL is the lease of a token whose expiry the upstream does not
// say: short, so consumers come back for a fresh one.
const unknownExpiryTTL = 5 * time.Minute

const pathOAuthHelpDesc = `
Reads an Aitronos personal connector's OAuth access token, by credential id or by
connection id, as a lease that ends no later than the token expires. The refresh
token is included only when config sets aitronos_return_refresh_token. A connection
that is not ACTIVE (expired, not yet authorized, revoked, or any other status),
disabled or redacted is a 409 naming why, never a token. A read that the caller
abandons returns at once; the upstream call it shared with other reads goes on.
`

// pathOAuth are the oauth/ paths: by connection id, and by credential id.
func pathOAuth(b *backend) []*framework.Path {
	path := func(pattern, field, what, suffix string) *framework.Path {
		return &framework.Path{
			Pattern:      pattern + segment(field) + "$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: "c1"},
			Fields:       map[string]*framework.FieldSchema{field: idSchema("The Aitronos " + what + " id.")},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: operation(b.oauthRead(field), "read", suffix,
					"Read the OAuth access token of an Aitronos "+what+" as a lease that ends when the token expires."),
			},
			HelpSynopsis:    "Read the OAuth access token of an Aitronos " + what + ".",
			HelpDescription: strings.TrimSpace(pathOAuthHelpDesc),
		}
	}
	return []*framework.Path{
		path("oauth/by-connection/", "connection_id", "connection", "oauth-token-by-connection"),
		path("oauth/", "credential_id", "credential", "oauth-token"),
	}
}

// oauthRead reads a token by the id in field (credential_id or connection_id).
func (b *backend) oauthRead(field string) framework.OperationFunc {
	return func(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		id := d.Get(field).(string)
		if err := checkID(field, id); err != nil {
			return nil, err
		}
		c, err := b.upstream(ctx, req.Storage)
		if err != nil {
			return nil, err
		}
		client, err := c.aitronosClient()
		if err != nil {
			return nil, err
		}
		what := "Aitronos credential " + id
		fetch := client.ByCredentialID
		if field == "connection_id" {
			what, fetch = "Aitronos connection "+id, client.ByConnectionID
		}
		conn, err := b.oauth.Get(ctx, field+"/"+id, c.config.AitronosCacheTTL, func(ctx context.Context) (*aitronos.Connection, error) {
			return fetch(ctx, id)
		})
		if err != nil {
			return nil, upstreamError("reading "+what, err)
		}
		now := b.now()
		if err := usable(what, conn, now); err != nil {
			return nil, err
		}
		ends := []time.Time{conn.TokenExpiry()}
		if ends[0].IsZero() {
			ends[0] = now.Add(unknownExpiryTTL)
		}
		ttl, ok := lifecycle.LeaseTTL(now, b.maxLeaseTTL(), ends...)
		if !ok {
			return nil, unusable(what, "its access token has expired; the upstream refreshes it, read again shortly")
		}
		data := oauthData(conn, c.config.AitronosReturnRefreshToken)
		internal := map[string]any{field: id}
		return leaseResponse(b.Secret(secretTypeAitronosToken), data, internal, ttl), nil
	}
}

// unusable is the answer for a connection whose token cannot be served.
func unusable(what, why string) error {
	return logical.CodedError(http.StatusConflict, fmt.Sprintf("%s cannot be used: %s", what, why))
}

// usable checks that a connection may be served, in words an operator can act on.
func usable(what string, conn *aitronos.Connection, now time.Time) error {
	reason := ""
	if conn.StatusReason != "" {
		reason = fmt.Sprintf(" (upstream reason: %q)", conn.StatusReason)
	}
	// Only an ACTIVE connection is served: a status the engine does not know
	// (REVOKED, a new one, or none) may mean the token must not be used.
	switch status := strings.ToUpper(strings.TrimSpace(conn.Status)); status {
	case "ACTIVE":
	case "EXPIRED":
		return unusable(what, "the connection's status is EXPIRED"+reason+"; the account owner must reconnect it in Aitronos")
	case "INITIATED":
		return unusable(what, "the connection's status is INITIATED"+reason+"; its OAuth authorization was never completed")
	case "":
		return unusable(what, "the upstream answer has no connection status"+reason+"; only ACTIVE connections are served")
	default:
		return unusable(what, fmt.Sprintf("the connection's status is %q%s; only ACTIVE connections are served", status, reason))
	}
	switch {
	case conn.IsDisabled:
		return unusable(what, "the connection is disabled"+reason+"; enable it in Aitronos")
	case conn.IsRedacted:
		return unusable(what, "the upstream redacted its secrets: the configured aitronos_api_key lacks the right to read credentials")
	case conn.Credentials.AccessToken == "":
		return unusable(what, "the upstream answer has no access_token"+reason)
	}
	if exp := conn.TokenExpiry(); !exp.IsZero() && !now.Before(exp) {
		return unusable(what, "its access token expired at "+formatTime(exp)+"; the upstream refreshes it, read again shortly")
	}
	return nil
}

// oauthData is the lease data of a connection.
func oauthData(conn *aitronos.Connection, withRefresh bool) map[string]any {
	data := map[string]any{
		"access_token":  conn.Credentials.AccessToken,
		"token_type":    conn.Credentials.TokenType,
		"scope":         conn.Credentials.Scope,
		"expires_at":    formatTime(conn.TokenExpiry()),
		"connection_id": conn.ConnectionID,
		"app_name":      conn.AppName,
		"auth_scheme":   conn.AuthScheme,
		"account_email": conn.AccountEmail,
		"account_id":    conn.AccountID,
		"base_url":      conn.BaseURL,
		"extra_headers": nonNilMap(conn.ExtraHeaders),
		"query_params":  nonNilMap(conn.QueryParams),
		"status":        conn.Status,
	}
	if conn.IDToken != "" {
		data["id_token"] = conn.IDToken
	}
	if withRefresh && conn.Credentials.RefreshToken != "" {
		data["refresh_token"] = conn.Credentials.RefreshToken
	}
	return data
}

func nonNilMap(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}
