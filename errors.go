package c1

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/httpx"
	"github.com/vault-plugin-c1/vault-plugin-c1/internal/lifecycle"
)

// upstreamError maps an error of an upstream client to a Vault answer: the
// one place where upstream statuses become HTTP codes. what says what was
// being done, e.g. `C1 rotate of connector app/conn`. Upstream errors carry
// status, code and upstream message, never a secret.
func upstreamError(what string, err error) error {
	if err == nil {
		return nil
	}
	var coded logical.HTTPCodedError
	if errors.As(err, &coded) {
		return err
	}
	var he *httpx.Error
	switch {
	case errors.As(err, &he) && he.Status == http.StatusNotFound:
		return logical.CodedError(http.StatusNotFound, fmt.Sprintf("%s: not found upstream: %v", what, err))
	case errors.As(err, &he) && (he.Status == http.StatusUnauthorized || he.Status == http.StatusForbidden):
		return logical.CodedError(http.StatusBadGateway,
			fmt.Sprintf("%s: the upstream refused the engine's credentials; check config: %v", what, err))
	case errors.As(err, &he) && he.Status == http.StatusBadRequest:
		return logical.CodedError(http.StatusBadRequest, fmt.Sprintf("%s: the upstream refused the request: %v", what, err))
	case errors.Is(err, context.DeadlineExceeded):
		return logical.CodedError(http.StatusGatewayTimeout, fmt.Sprintf("%s: the upstream did not answer in time: %v", what, err))
	}
	return logical.CodedError(http.StatusBadGateway, fmt.Sprintf("%s: %v", what, err))
}

// errDeregistering is the answer to work on a connector whose deletion began.
func errDeregistering(k lifecycle.Key) error {
	return logical.CodedError(http.StatusConflict, fmt.Sprintf(
		"connector %s is being deregistered: some of its credentials are still to be revoked upstream; "+
			"delete creds/%s again to finish, then register it anew", k, k))
}

// withNote adds a sentence to an error's message and keeps its HTTP status.
// Vault reads the status only from an error that is itself coded, so a
// wrapped coded error would turn into a 500.
func withNote(err error, note string) error {
	var coded logical.HTTPCodedError
	if errors.As(err, &coded) {
		return logical.CodedError(coded.Code(), err.Error()+"; "+note)
	}
	return fmt.Errorf("%w; %s", err, note)
}

// notManaged is the 404 of a connector the engine does not manage.
func notManaged(k lifecycle.Key) error {
	return notFound("connector %s is not managed: register it with a write to creds/%s", k, k)
}

// lifecycleError maps a refusal of a lifecycle transition on credential id
// of connector k to a Vault answer.
func lifecycleError(k lifecycle.Key, id string, err error) error {
	switch {
	case errors.Is(err, lifecycle.ErrCredentialIsCurrent):
		return logical.CodedError(http.StatusConflict, fmt.Sprintf(
			"credential %s is the current credential of connector %s: rotate first (write rotate/%s), then revoke it", id, k, k))
	case errors.Is(err, lifecycle.ErrCredentialIsPending):
		return logical.CodedError(http.StatusConflict, fmt.Sprintf(
			"credential %s of connector %s is pending: a rotation is under way or was interrupted; "+
				"the WAL rollback revokes it if it is never made current", id, k))
	case errors.Is(err, lifecycle.ErrCredentialUnknown):
		return notFound("connector %s holds no credential %s", k, id)
	}
	return err // nil included
}
