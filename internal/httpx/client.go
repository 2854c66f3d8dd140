package httpx

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// Request is one API call.
type Request struct {
	Op     string      // names the operation in errors, e.g. "c1 rotate credential"
	Method string      // default GET
	URL    string      // absolute, with path segments already escaped
	Header http.Header // extra headers; they override the defaults
	Body   any         // when non-nil, sent JSON-encoded
	Form   url.Values  // when non-nil, sent form-encoded
	// FormFunc, when set, builds the form afresh for every attempt, so that
	// each one carries a new one-time value (a signed client assertion).
	FormFunc func() (url.Values, error)
	// Idempotent requests are sent again whatever happened to the last
	// attempt; others (they create something upstream, such as a credential
	// whose secret is shown once) only after an attempt surely not applied.
	// GET and HEAD are always idempotent.
	Idempotent bool
}

// Client sends requests through go-retryablehttp: bounded retries with its
// backoff and Retry-After handling, an Outcome on every error, capped
// answers, no redirects. It is safe for concurrent use.
type Client struct{ opts Options }

// New returns a Client configured by opts (zero fields take defaults).
func New(opts Options) *Client { return &Client{opts: opts.withDefaults()} }

// retryable are the statuses retried.
var retryable = map[int]bool{429: true, 500: true, 502: true, 503: true, 504: true}

// call is one Do across its attempts, which run one after another; the
// transport's goroutines touch only sent and (under mu) secrets.
type call struct {
	Request
	opts         *Options
	ctx          context.Context
	method, path string
	mu           sync.Mutex
	secrets      []string    // request values no error may quote
	sent         atomic.Bool // the attempt under way got a connection
	attempts     int
	last         Outcome // of the last attempt
	unsure       bool    // some attempt may have been carried out
	retryAfter   time.Duration
	body         []byte // the 2xx answer, once read
}

// bodyError is a 2xx answer that could not be read or decoded.
type bodyError struct {
	error
	retry bool // another attempt might read it well
}

// Do sends req and decodes a 2xx JSON answer into out, which must be nil or
// a non-nil pointer. Every failure is an *Error carrying its Outcome. A 204
// or, when out is nil, any 2xx body is accepted without decoding.
func (c *Client) Do(ctx context.Context, req Request, out any) error {
	if v := reflect.ValueOf(out); out != nil && (v.Kind() != reflect.Pointer || v.IsNil()) {
		return fmt.Errorf("%s: output must be a non-nil pointer, not %T", req.Op, out)
	}
	a := &call{Request: req, opts: &c.opts, ctx: ctx}
	u, err := url.Parse(req.URL)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fmt.Errorf("%s: request URL must be an absolute http or https URL", req.Op)
	case req.Body != nil && (req.Form != nil || req.FormFunc != nil) || req.Form != nil && req.FormFunc != nil:
		return fmt.Errorf("%s: request has more than one body", req.Op)
	}
	a.method, a.path = cmp.Or(strings.ToUpper(req.Method), http.MethodGet), cmp.Or(u.EscapedPath(), "/")
	trace := &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { a.sent.Store(true) },
		// Every header sent, one a transport adds included (oauth2's
		// Authorization), may be secret.
		WroteHeaderField: func(k string, vs []string) { a.addSecrets(headerSecrets(k, vs)...) },
	}
	rreq, err := retryablehttp.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), a.method, req.URL, nil)
	if err == nil {
		err = a.setBody(rreq)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", req.Op, err)
	}
	rreq.Header.Set("Accept", "application/json")
	rreq.Header.Set("User-Agent", c.opts.UserAgent)
	for k, vs := range req.Header {
		rreq.Header[http.CanonicalHeaderKey(k)] = vs
	}
	rreq.SetResponseHandler(func(resp *http.Response) error { return a.readAnswer(resp, out != nil) })
	rc := &retryablehttp.Client{
		HTTPClient:   &http.Client{Transport: a, Timeout: c.opts.Timeout, CheckRedirect: noRedirects},
		RetryWaitMin: c.opts.MinBackoff, RetryWaitMax: c.opts.MaxBackoff, RetryMax: c.opts.MaxRetries,
		CheckRetry: a.checkRetry, Backoff: Backoff, ErrorHandler: retryablehttp.PassthroughErrorHandler,
	}
	if req.FormFunc != nil {
		rc.PrepareRetry = func(*http.Request) error { return a.setBody(rreq) }
	}
	resp, err := rc.Do(rreq)
	if resp != nil {
		defer resp.Body.Close()
	}
	return a.finish(resp, err, out)
}

// noRedirects refuses every redirect: an API that redirects is misbehaving,
// and following one could carry a key header to another host.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// setBody encodes the body (a fresh form from FormFunc), noting its secrets.
func (a *call) setBody(rreq *retryablehttp.Request) (err error) {
	form, body, contentType := a.Form, []byte(nil), "application/x-www-form-urlencoded"
	if a.FormFunc != nil {
		if form, err = a.FormFunc(); err != nil {
			return err
		}
	}
	switch {
	case a.Body != nil:
		if body, err = json.Marshal(a.Body); err != nil {
			return fmt.Errorf("encode request body: %w", err)
		}
		a.addSecrets(string(body))
		contentType = "application/json"
	case form != nil:
		body = []byte(form.Encode())
		a.addSecrets(formSecrets(form)...)
	default:
		return nil
	}
	rreq.Header.Set("Content-Type", contentType)
	return rreq.SetBody(body)
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

// RoundTrip makes one attempt through Options.Transport and reports it to
// Options.Observe.
func (a *call) RoundTrip(r *http.Request) (*http.Response, error) {
	a.attempts++
	a.sent.Store(false)
	start := time.Now()
	resp, err := a.opts.Transport.RoundTrip(r)
	if a.opts.Observe != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		a.opts.Observe(a.Op, status, time.Since(start))
	}
	return resp, err
}

// checkRetry classifies each attempt (again once a 2xx answer was read) and
// is the retry policy: network errors unless permanent, answers that might
// read well another time, and 429, 500, 502, 503 and 504; a request that is
// not idempotent only after an attempt surely not applied; never after a
// failed login below this request (it had its own retries) or a Retry-After
// longer than the request may still wait.
func (a *call) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	var be *bodyError
	login := errors.As(err, new(*Error))
	switch {
	case errors.As(err, &be) || err != nil && !login && a.sent.Load():
		a.last = OutcomeUnknown
	case err != nil: // nothing was sent: no connection, or no token
		a.last = OutcomeNotApplied
	case resp.StatusCode >= 200 && resp.StatusCode <= 299:
		a.last = OutcomeApplied
	case resp.StatusCode >= 400 && resp.StatusCode <= 499:
		a.last = OutcomeNotApplied // the upstream refused the request
	default:
		a.last = OutcomeUnknown
	}
	a.unsure = a.unsure || a.last == OutcomeUnknown
	strict := !a.Idempotent && a.method != http.MethodGet && a.method != http.MethodHead
	wait, hasWait := retryAfter(resp)
	a.retryAfter = wait
	deadline, hasDeadline := ctx.Deadline()
	switch {
	case be != nil:
		return be.retry && !strict, nil
	case login || strict && a.last != OutcomeNotApplied:
		return false, nil
	case err != nil:
		return retryablehttp.ErrorPropagatedRetryPolicy(ctx, nil, err)
	case hasWait && (wait > a.opts.MaxRetryAfter || hasDeadline && time.Now().Add(wait).After(deadline)):
		return false, nil
	}
	return retryable[resp.StatusCode], nil
}

// readAnswer reads a 2xx answer within the size cap and, when it is to be
// decoded, checks that it is JSON.
func (a *call) readAnswer(resp *http.Response, decode bool) error {
	limit := a.opts.MaxBodyBytes
	tooLarge := &bodyError{error: fmt.Errorf("%w: more than %d bytes", ErrBodyTooLarge, limit)}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil
	} else if resp.ContentLength > limit {
		return tooLarge
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	switch {
	case err != nil:
		return &bodyError{fmt.Errorf("read answer: %w", stripURL(err)), true}
	case int64(len(body)) > limit:
		return tooLarge
	case decode && !json.Valid(body) && (resp.StatusCode != http.StatusNoContent || len(bytes.TrimSpace(body)) > 0):
		return &bodyError{fmt.Errorf("%w: %s", ErrMalformedBody, describeJSONError(json.Unmarshal(body, new(any)))), true}
	}
	a.body = body
	return nil
}

// finish turns the retry loop's result into Do's answer.
func (a *call) finish(resp *http.Response, err error, out any) error {
	var be *bodyError
	switch {
	case errors.As(err, &be):
		return a.fail(resp.StatusCode, be.error)
	case a.body != nil: // a 2xx answer was read: done, even if the caller gave up
		if out == nil || len(bytes.TrimSpace(a.body)) == 0 && resp.StatusCode == http.StatusNoContent {
			return nil
		}
		if err := json.Unmarshal(a.body, out); err != nil {
			a.unsure = true
			return a.fail(resp.StatusCode, fmt.Errorf("%w: %s", ErrMalformedBody, describeJSONError(err)))
		}
		return nil
	case errors.As(err, new(*Error)) && !a.unsure: // a failed login; it says not applied
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
	code, msg, trace := a.opts.ParseError(resp.StatusCode, body)
	fe := a.fail(resp.StatusCode, err)
	a.mu.Lock()
	defer a.mu.Unlock()
	fe.Code = safeText(code, maxCodeRunes, a.secrets)
	fe.Message = safeText(msg, maxMessageRunes, a.secrets)
	fe.TraceID = safeText(trace, maxTraceRunes, a.secrets)
	return fe
}

// fail builds the call's *Error: not applied only if no attempt may have
// been carried out.
func (a *call) fail(status int, cause error) *Error {
	outcome := a.last
	if a.unsure || outcome == OutcomeApplied {
		outcome = OutcomeUnknown
	}
	return &Error{Op: a.Op, Method: a.method, Path: a.path, Status: status, Attempts: a.attempts,
		Outcome: outcome, RetryAfter: a.retryAfter, Err: cause}
}
