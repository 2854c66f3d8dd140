package c1

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/httpx"
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
