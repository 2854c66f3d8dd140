package httpx

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// attemptState tracks one Do call across its attempts. The retry loop runs
// attempts one after another, so it needs no lock.
type attemptState struct {
	attempts   int
	lastErr    error
	idempotent bool

	// op and observe report each attempt; start, status and elapsed describe
	// the attempt under way until observed.
	op      string
	observe func(op string, status int, elapsed time.Duration)
	start   time.Time
	status  int
	elapsed time.Duration
	pending bool
	// maybeApplied is set once an attempt may have been carried out.
	maybeApplied bool
}

// begin starts an attempt, reporting the one before it.
func (st *attemptState) begin() {
	st.report()
	st.start, st.status, st.elapsed, st.pending = time.Now(), 0, 0, true
}

// ended records how the attempt under way ended so far; a later call (the
// answer's body read) replaces an earlier one.
func (st *attemptState) ended(resp *http.Response) {
	st.status = 0
	if resp != nil {
		st.status = resp.StatusCode
	}
	st.elapsed = time.Since(st.start)
}

// report passes the attempt under way, if any, to the observer.
func (st *attemptState) report() {
	if st.pending && st.observe != nil {
		st.observe(st.op, st.status, st.elapsed)
	}
	st.pending = false
}

// beginAttempt is the RequestLogHook: it runs before every attempt.
func beginAttempt(_ retryablehttp.Logger, req *http.Request, _ int) {
	if st := stateFrom(req.Context()); st != nil {
		st.begin()
	}
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

// unprocessedStatus reports whether an answer with this status says the
// upstream did not act on the request, so that even a request that is not
// idempotent can be sent again.
func unprocessedStatus(status int) bool {
	return status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable
}

// outcomeOfStatus is what a non-2xx answer says about the request: a 4xx
// (429 included) means the upstream refused it; anything else leaves it open.
func outcomeOfStatus(status int) Outcome {
	if status >= 400 && status <= 499 {
		return OutcomeNotApplied
	}
	return OutcomeUnknown
}

// outcome is the outcome of the whole call whose last attempt ended in
// last: not applied only if no attempt may have been carried out.
func (st *attemptState) outcome(last Outcome) Outcome {
	if st.maybeApplied {
		return OutcomeUnknown
	}
	return last
}

// notSent reports whether a network error happened before the request could
// reach the upstream (no connection was made).
func notSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// checkRetry is the retry policy: never after cancellation; network errors
// and timeouts unless permanent (bad certificate, bad scheme, bad header);
// body errors as they say; answers 429, 500, 502, 503 and 504. A request that
// is not idempotent (it creates something upstream, such as a credential
// whose secret is shown once) is sent again only when the upstream surely
// did not act on it: 429, 503, or no connection made. Otherwise a lost answer
// could leave a second credential that nobody holds.
func checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if st := stateFrom(ctx); st != nil {
		st.ended(resp)
		if err != nil {
			st.lastErr = err
		}
		if (resp != nil && outcomeOfStatus(resp.StatusCode) == OutcomeUnknown) || (resp == nil && err != nil && !notSent(err)) {
			st.maybeApplied = true
		}
	}
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	st := stateFrom(ctx)
	strict := st != nil && !st.idempotent
	if err != nil {
		var be *bodyError
		if errors.As(err, &be) {
			return be.retry, nil
		}
		if strict && !notSent(err) {
			return false, nil
		}
		return retryablehttp.ErrorPropagatedRetryPolicy(ctx, nil, err)
	}
	if strict {
		return unprocessedStatus(resp.StatusCode), nil
	}
	return retryableStatus(resp.StatusCode), nil
}
