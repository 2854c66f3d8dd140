package c1api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/httpx"
)

// Operation names used in errors.
const (
	opRotate = "c1 rotate credential"
	opGet    = "c1 get credential"
	opRevoke = "c1 revoke credential"
)

// RotateCredential creates a new credential for the connector (POST
// /api/v1/apps/connectors/credentials) and returns it with its ClientSecret,
// which C1 never returns again. It does not revoke older credentials. The
// answer's credential.clientSecret is read, falling back to a top-level
// clientSecret; an answer without id or secret is an error. It is not
// idempotent: an unreadable 2xx answer is not retried.
func (c *Client) RotateCredential(ctx context.Context, appID, connectorID string) (*Credential, error) {
	if err := checkIDs(opRotate, "app id", appID, "connector id", connectorID); err != nil {
		return nil, err
	}
	body := map[string]string{"appId": appID, "connectorId": connectorID}
	var ans credentialAnswer
	req := httpx.Request{Op: opRotate, Method: http.MethodPost, URL: c.server + "/api/v1/apps/connectors/credentials", Body: body}
	if err := c.call(ctx, req, &ans); err != nil {
		return nil, err
	}
	w := ans.Credential
	if w == nil {
		w = &ans.wireCredential
	}
	if w.ClientSecret == "" {
		w.ClientSecret = ans.wireCredential.ClientSecret
	}
	if w.ID == "" {
		return nil, fmt.Errorf("%s: answer lacks the credential id", opRotate)
	}
	if w.ClientSecret == "" {
		return nil, &UnusableCredentialError{CredentialID: w.ID, Reason: "the answer lacks the client secret"}
	}
	return w.credential(), nil
}

// UnusableCredentialError is the error of a RotateCredential or a
// CreateRootCredential whose answer names the new credential but cannot be
// used: the credential exists upstream, and the caller should revoke (delete)
// it by CredentialID. It never holds the secret.
type UnusableCredentialError struct {
	// Op is the call, e.g. "c1 create personal client"; empty means
	// RotateCredential.
	Op           string
	CredentialID string
	Reason       string
}

func (e *UnusableCredentialError) Error() string {
	op := e.Op
	if op == "" {
		op = opRotate
	}
	return fmt.Sprintf("%s: answer for credential %s cannot be used: %s", op, e.CredentialID, e.Reason)
}

// GetCredential reads one credential (GET
// /api/v1/apps/{app}/connectors/{conn}/credentials/{id}). ClientSecret is
// always empty. A missing credential is an error for which
// httpx.IsNotFound is true.
func (c *Client) GetCredential(ctx context.Context, appID, connectorID, id string) (*Credential, error) {
	u, err := c.credentialURL(opGet, appID, connectorID, id)
	if err != nil {
		return nil, err
	}
	var ans credentialAnswer
	if err := c.call(ctx, httpx.Request{Op: opGet, Method: http.MethodGet, URL: u, Idempotent: true}, &ans); err != nil {
		return nil, err
	}
	if ans.Credential == nil {
		return nil, fmt.Errorf("%s: answer has no credential", opGet)
	}
	cred := ans.Credential.credential()
	cred.ClientSecret = ""
	return cred, nil
}

// RevokeCredential revokes one credential (POST
// /api/v1/apps/{app}/connectors/{conn}/credentials/{id} with body {}). A
// missing credential is an error for which httpx.IsNotFound is true.
func (c *Client) RevokeCredential(ctx context.Context, appID, connectorID, id string) error {
	u, err := c.credentialURL(opRevoke, appID, connectorID, id)
	if err != nil {
		return err
	}
	return c.call(ctx, httpx.Request{Op: opRevoke, Method: http.MethodPost, URL: u, Body: struct{}{}, Idempotent: true}, nil)
}

// credentialURL builds the per-credential URL with escaped segments.
func (c *Client) credentialURL(op, appID, connectorID, id string) (string, error) {
	if err := checkIDs(op, "app id", appID, "connector id", connectorID, "credential id", id); err != nil {
		return "", err
	}
	return c.server + "/api/v1/apps/" + url.PathEscape(appID) + "/connectors/" + url.PathEscape(connectorID) +
		"/credentials/" + url.PathEscape(id), nil
}

// checkIDs refuses empty ids and the dot segments "." and "..", which
// escaping leaves as they are. Pairs are (name, value).
func checkIDs(op string, pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		switch pairs[i+1] {
		case "":
			return fmt.Errorf("%s: %s is required", op, pairs[i])
		case ".", "..":
			return fmt.Errorf("%s: %s is not valid", op, pairs[i])
		}
	}
	return nil
}

// call sends req. A 401 answer to a cached token (not a failed login)
// drops it, and the request is sent once more with a fresh one.
func (c *Client) call(ctx context.Context, req httpx.Request, out any) error {
	err := c.http.Do(ctx, req, out)
	var he *httpx.Error
	if c.tokens != nil && errors.As(err, &he) && he.Status == http.StatusUnauthorized && he.Op != opLogin {
		c.tokens.reset()
		err = c.http.Do(ctx, req, out)
	}
	return err
}
