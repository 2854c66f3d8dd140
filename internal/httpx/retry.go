package httpx

import (
	"context"
	"errors"
	"net/http"

	"github.com/hashicorp/go-retryablehttp"
)

// attemptState tracks one Do call across its attempts. The retry loop runs
// attempts one after another, so it needs no lock.
type attemptState struct {
	attempts int
	lastErr  error
}

type stateKey struct{}

// withState returns ctx carrying st for checkRetry and countRetry.
func withState(ctx context.Context, st *attemptState) context.Context {
	return context.WithValue(ctx, stateKey{}, st)
}

// stateFrom returns the state in ctx, or nil (HTTPClient requests).
func stateFrom(ctx context.Context) *attemptState {
	st, _ := ctx.Value(stateKey{}).(*attemptState)
	return st
}

// countRetry counts each retry; it runs just before every attempt but the
// first.
func countRetry(req *http.Request) error {
	if st := stateFrom(req.Context()); st != nil {
		st.attempts++
	}
	return nil
}

// retryableStatus reports whether an answer with this status is retried.
func retryableStatus(status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// checkRetry is the retry policy: never after cancellation; network errors
// and timeouts unless permanent (bad certificate, bad scheme, bad header);
// body errors as they say; answers 429, 500, 502, 503 and 504.
func checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if err != nil {
		if st := stateFrom(ctx); st != nil {
			st.lastErr = err
		}
	}
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil {
		var be *bodyError
		if errors.As(err, &be) {
			return be.retry, nil
		}
		return retryablehttp.ErrorPropagatedRetryPolicy(ctx, nil, err)
	}
	return retryableStatus(resp.StatusCode), nil
}
