package httpx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// call is the state of one Do across its attempts. The retry loop runs the
// attempts one after another; the fields the transport's goroutines touch
// (sent, secrets) are guarded.
type call struct {
	c      *Client
	req    Request
	ctx    context.Context
	method string
	path   string
	strict bool // resend only after an attempt that was surely not applied

	mu      sync.Mutex
	secrets []string
	sent    atomic.Bool // the attempt under way got a connection

	attempts   int
	start      time.Time
	status     int
	elapsed    time.Duration
	last       Outcome // of the last attempt
	unsure     bool    // some attempt may have been carried out
	retryAfter time.Duration
	body       []byte // the 2xx answer, once read
	read       bool
}

// bodyError is a failure to read or decode a 2xx answer.
type bodyError struct {
	err   error
	retry bool // another attempt may read it well
}

func (e *bodyError) Error() string { return e.err.Error() }

// encode returns the body of the first attempt and its content type.
func (a *call) encode() (any, string, error) {
	switch {
	case a.req.Body != nil:
		b, err := json.Marshal(a.req.Body)
		if err != nil {
			return nil, "", fmt.Errorf("encode request body: %w", err)
		}
		a.addSecrets(string(b))
		return b, "application/json", nil
	case a.req.Form != nil:
		return a.formBody(a.req.Form), "application/x-www-form-urlencoded", nil
	case a.req.FormFunc != nil:
		form, err := a.req.FormFunc()
		if err != nil {
			return nil, "", err
		}
		return a.formBody(form), "application/x-www-form-urlencoded", nil
	}
	return nil, "", nil
}

// formBody encodes form, noting its secret values.
func (a *call) formBody(form url.Values) []byte {
	a.addSecrets(formSecrets(form)...)
	return []byte(form.Encode())
}

// resign gives the next attempt a freshly built form.
func (a *call) resign(rreq *retryablehttp.Request) error {
	form, err := a.req.FormFunc()
	if err != nil {
		return err
	}
	return rreq.SetBody(a.formBody(form))
}

func (a *call) addSecrets(values ...string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, v := range values {
		if len(v) >= minSecretLen {
			a.secrets = append(a.secrets, v)
		}
	}
}

// wroteHeader notes the value of every header sent that may be secret,
// including those a transport adds (an Authorization from oauth2).
func (a *call) wroteHeader(key string, values []string) { a.addSecrets(headerSecrets(key, values)...) }

func (a *call) gotConn(httptrace.GotConnInfo) { a.sent.Store(true) }

// begin starts an attempt, reporting the one before it.
func (a *call) begin() {
	a.report()
	a.attempts++
	a.start, a.status, a.read = time.Now(), 0, false
	a.sent.Store(false)
}

// report passes the last attempt, if not yet reported, to Options.Observe.
func (a *call) report() {
	if !a.start.IsZero() && a.c.opts.Observe != nil {
		a.c.opts.Observe(a.req.Op, a.status, a.elapsed)
	}
	a.start = time.Time{}
}

// checkRetry is the retry policy, called after each attempt (twice when a
// 2xx answer's body was read). It classifies the attempt, then retries
// network errors and timeouts unless permanent, bodies that might read well
// another time, and answers 429, 500, 502, 503 and 504; a strict request
// only after an attempt that was surely not applied. A Retry-After longer
// than the request may still wait ends the call at once.
func (a *call) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	a.elapsed, a.status, a.retryAfter = time.Since(a.start), 0, 0
	if resp != nil {
		a.status = resp.StatusCode
	}
	a.last = a.outcome(resp, err)
	a.unsure = a.unsure || a.last == OutcomeUnknown
	var be *bodyError
	var login *Error
	switch {
	case errors.As(err, &be):
		return be.retry && !a.strict, nil
	case errors.As(err, &login) || a.strict && a.last != OutcomeNotApplied:
		// A failed login under this request has had its own retries.
		return false, nil
	case err != nil:
		return retryablehttp.ErrorPropagatedRetryPolicy(ctx, nil, err)
	}
	wait, ok := retryAfter(resp)
	if ok {
		a.retryAfter = wait
	}
	if !retryableStatus(resp.StatusCode) {
		return false, nil
	}
	deadline, hasDeadline := ctx.Deadline()
	return !ok || wait <= a.c.opts.MaxRetryAfter && (!hasDeadline || time.Now().Add(wait).Before(deadline)), nil
}

// outcome classifies one attempt.
func (a *call) outcome(resp *http.Response, err error) Outcome {
	var be *bodyError
	var login *Error
	switch {
	case errors.As(err, &be):
		return OutcomeUnknown
	case errors.As(err, &login) || err != nil && !a.sent.Load():
		return OutcomeNotApplied
	case err != nil:
		return OutcomeUnknown
	case resp.StatusCode >= 200 && resp.StatusCode <= 299:
		return OutcomeApplied
	case resp.StatusCode >= 400 && resp.StatusCode <= 499:
		return OutcomeNotApplied
	}
	return OutcomeUnknown
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

// readBody is the response handler: it reads a 2xx answer within the size
// cap and checks that it is JSON when it is to be decoded.
func (a *call) readBody(resp *http.Response, decode bool) error {
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil
	}
	limit := a.c.opts.MaxBodyBytes
	tooLarge := &bodyError{err: fmt.Errorf("%w: more than %d bytes", ErrBodyTooLarge, limit)}
	if resp.ContentLength > limit {
		return tooLarge
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	switch {
	case err != nil:
		return &bodyError{err: fmt.Errorf("read answer: %w", stripURL(err)), retry: true}
	case int64(len(body)) > limit:
		return tooLarge
	case decode && !json.Valid(body) && !(resp.StatusCode == http.StatusNoContent && len(bytes.TrimSpace(body)) == 0):
		return &bodyError{err: fmt.Errorf("%w: %s", ErrMalformedBody, describeJSONError(json.Unmarshal(body, new(any)))), retry: true}
	}
	a.body, a.read = body, true
	return nil
}

// finish turns the retry loop's result into Do's answer.
func (a *call) finish(resp *http.Response, err error, out any) error {
	if resp != nil {
		defer resp.Body.Close()
	}
	var be *bodyError
	var login *Error
	switch {
	case errors.As(err, &be):
		return a.fail(resp.StatusCode, be.err)
	case resp != nil && a.read:
		// A 2xx answer was read: the call happened even if the caller
		// gave up meanwhile.
		if out == nil || len(bytes.TrimSpace(a.body)) == 0 && resp.StatusCode == http.StatusNoContent {
			return nil
		}
		if err := json.Unmarshal(a.body, out); err != nil {
			a.last = OutcomeUnknown
			return a.fail(resp.StatusCode, fmt.Errorf("%w: %s", ErrMalformedBody, describeJSONError(err)))
		}
		return nil
	case errors.As(err, &login):
		return stripURL(err)
	case a.ctx.Err() != nil:
		err = a.ctx.Err()
	case resp == nil && err == nil:
		err = errors.New("no answer")
	}
	if resp == nil {
		return a.fail(0, stripURL(err))
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBodyBytes))
	code, msg, trace := a.c.opts.ParseError(resp.StatusCode, body)
	a.mu.Lock()
	defer a.mu.Unlock()
	fe := a.fail(resp.StatusCode, err)
	fe.Code = safeText(code, maxCodeRunes, a.secrets)
	fe.Message = safeText(msg, maxMessageRunes, a.secrets)
	fe.TraceID = safeText(trace, maxTraceRunes, a.secrets)
	return fe
}

// fail builds the *Error of the call: not applied only when no attempt may
// have been carried out.
func (a *call) fail(status int, cause error) *Error {
	outcome := a.last
	if a.unsure || outcome == OutcomeApplied {
		outcome = OutcomeUnknown
	}
	return &Error{Op: a.req.Op, Method: a.method, Path: a.path, Status: status, Attempts: a.attempts,
		Outcome: outcome, RetryAfter: a.retryAfter, Err: cause}
}
