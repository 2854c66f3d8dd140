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
	Method string      // the HTTP method; default GET
	URL    string      // absolute, with path segments already escaped
	Header http.Header // extra headers; they override the defaults
	Body   any         // when non-nil, sent JSON-encoded
	Form   url.Values  // when non-nil, sent form-encoded
	// FormFunc, when set, builds the form afresh for every attempt, so that
	// each attempt carries a new one-time value (a signed client assertion).
	FormFunc func() (url.Values, error)
	// Idempotent requests are sent again whatever happened to the last
	// attempt. Others (they create something upstream, such as a credential
	// whose secret is shown once) only after an attempt that was surely not
	// applied. GET and HEAD are always idempotent.
	Idempotent bool
}

// Client sends requests through go-retryablehttp: bounded retries with its
// backoff and Retry-After handling, an Outcome on every error, capped
// answers, no redirects. It is safe for concurrent use.
type Client struct{ opts Options }

// New returns a Client configured by opts (zero fields take defaults).
func New(opts Options) *Client { return &Client{opts: opts.withDefaults()} }

// Do sends req and decodes a 2xx JSON answer into out, which must be nil or
// a non-nil pointer. Every failure is an *Error carrying its Outcome. A 204
// or, when out is nil, any 2xx body is accepted without decoding.
func (c *Client) Do(ctx context.Context, req Request, out any) error {
	if v := reflect.ValueOf(out); out != nil && (v.Kind() != reflect.Pointer || v.IsNil()) {
		return fmt.Errorf("%s: output must be a non-nil pointer, not %T", req.Op, out)
	}
	a := &call{Request: req, opts: &c.opts, ctx: ctx}
	rreq, err := a.build(out != nil)
	if err != nil {
		return fmt.Errorf("%s: %w", req.Op, err)
	}
	rc := &retryablehttp.Client{
		HTTPClient:   &http.Client{Transport: a, Timeout: c.opts.Timeout, CheckRedirect: noRedirects},
		RetryWaitMin: c.opts.MinBackoff,
		RetryWaitMax: c.opts.MaxBackoff,
		RetryMax:     c.opts.MaxRetries,
		CheckRetry:   a.checkRetry,
		Backoff:      Backoff,
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
	}
	if req.FormFunc != nil {
		rc.PrepareRetry = func(*http.Request) error { return a.setBody(rreq) }
	}
	resp, err := rc.Do(rreq)
	return a.finish(resp, err, out)
}

// noRedirects refuses every redirect: an API that redirects is misbehaving,
// and following one could carry a key header to another host.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// call is one Do across its attempts, which run one after another. The
// transport's goroutines touch only sent and (under mu) secrets.
type call struct {
	Request
	opts          *Options
	ctx           context.Context
	method, path  string
	strict        bool // sent again only after a surely not applied attempt
	mu            sync.Mutex
	secrets       []string    // request values no error may quote
	sent          atomic.Bool // the attempt under way got a connection
	attempts      int
	last          Outcome // of the last attempt
	unsure        bool    // some attempt may have been carried out
	retryAfter    time.Duration
	body          []byte // the 2xx answer, once read
	fromTransport error  // an *Error the transport returned (a failed login)
}

// build validates the request and makes the retryable one. Its errors never
// quote the URL.
func (a *call) build(decode bool) (*retryablehttp.Request, error) {
	u, err := url.Parse(a.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("request URL must be an absolute http or https URL")
	}
	if a.Body != nil && (a.Form != nil || a.FormFunc != nil) || a.Form != nil && a.FormFunc != nil {
		return nil, errors.New("request has more than one body")
	}
	a.method, a.path = cmp.Or(strings.ToUpper(a.Method), http.MethodGet), cmp.Or(u.EscapedPath(), "/")
	a.strict = !a.Idempotent && a.method != http.MethodGet && a.method != http.MethodHead
	trace := &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { a.sent.Store(true) },
		// Every header sent, including one a transport adds (oauth2's
		// Authorization), is a possible secret.
		WroteHeaderField: func(k string, vs []string) { a.addSecrets(headerSecrets(k, vs)...) },
	}
	rreq, err := retryablehttp.NewRequestWithContext(httptrace.WithClientTrace(a.ctx, trace), a.method, a.URL, nil)
	if err != nil {
		return nil, errors.New("cannot build request")
	}
	rreq.Header.Set("Accept", "application/json")
	rreq.Header.Set("User-Agent", a.opts.UserAgent)
	if err := a.setBody(rreq); err != nil {
		return nil, err
	}
	for k, vs := range a.Header {
		rreq.Header[http.CanonicalHeaderKey(k)] = vs
	}
	rreq.SetResponseHandler(func(resp *http.Response) error { return a.readAnswer(resp, decode) })
	return rreq, nil
}

// setBody encodes the body (a fresh form from FormFunc), noting its secrets.
func (a *call) setBody(rreq *retryablehttp.Request) (err error) {
	form, body, contentType := a.Form, []byte(nil), "application/x-www-form-urlencoded"
	switch {
	case a.Body != nil:
		if body, err = json.Marshal(a.Body); err != nil {
			return fmt.Errorf("encode request body: %w", err)
		}
		a.addSecrets(string(body))
		contentType = "application/json"
	case a.FormFunc != nil:
		if form, err = a.FormFunc(); err != nil {
			return err
		}
		fallthrough
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

// checkRetry is the retry policy (called after each attempt, again once a
// 2xx answer was read). It retries network errors unless permanent, answers
// that might read well another time, and 429, 500, 502, 503 and 504; a
// strict request only after a surely not applied attempt; never after a
// failed login below (it had its own retries) or a Retry-After longer than
// the request may still wait.
func (a *call) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	a.last, a.retryAfter = a.outcome(resp, err), 0
	a.unsure = a.unsure || a.last == OutcomeUnknown
	var be *bodyError
	switch {
	case errors.As(err, &be):
		return be.retry && !a.strict, nil
	case errors.As(err, new(*Error)):
		a.fromTransport = err
		return false, nil
	case a.strict && a.last != OutcomeNotApplied:
		return false, nil
	case err != nil:
		return retryablehttp.ErrorPropagatedRetryPolicy(ctx, nil, err)
	}
	wait, ok := retryAfter(resp)
	if ok {
		a.retryAfter = wait
	}
	deadline, hasDeadline := ctx.Deadline()
	return retryableStatus(resp.StatusCode) && (!ok || wait <= a.opts.MaxRetryAfter &&
		(!hasDeadline || time.Now().Add(wait).Before(deadline))), nil
}

// outcome classifies one attempt.
func (a *call) outcome(resp *http.Response, err error) Outcome {
	switch {
	case errors.As(err, new(*bodyError)):
		return OutcomeUnknown
	case err != nil && (!a.sent.Load() || errors.As(err, new(*Error))):
		return OutcomeNotApplied // nothing was sent: no connection, or a failed login
	case err != nil:
		return OutcomeUnknown
	case resp.StatusCode >= 200 && resp.StatusCode <= 299:
		return OutcomeApplied
	case resp.StatusCode >= 400 && resp.StatusCode <= 499:
		return OutcomeNotApplied // the upstream refused the request
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

// bodyError is a failure to read or decode a 2xx answer.
type bodyError struct {
	err   error
	retry bool // another attempt might read it well
}

func (e *bodyError) Error() string { return e.err.Error() }

// readAnswer reads a 2xx answer within the size cap and, when it is to be
// decoded, checks that it is JSON.
func (a *call) readAnswer(resp *http.Response, decode bool) error {
	limit := a.opts.MaxBodyBytes
	tooLarge := &bodyError{err: fmt.Errorf("%w: more than %d bytes", ErrBodyTooLarge, limit)}
	switch {
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return nil
	case resp.ContentLength > limit:
		return tooLarge
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	switch {
	case err != nil:
		return &bodyError{err: fmt.Errorf("read answer: %w", stripURL(err)), retry: true}
	case int64(len(body)) > limit:
		return tooLarge
	case decode && !json.Valid(body) && (resp.StatusCode != http.StatusNoContent || len(bytes.TrimSpace(body)) > 0):
		return &bodyError{err: fmt.Errorf("%w: %s", ErrMalformedBody, describeJSONError(json.Unmarshal(body, new(any)))), retry: true}
	}
	a.body = body
	return nil
}

// finish turns the retry loop's result into Do's answer.
func (a *call) finish(resp *http.Response, err error, out any) error {
	if resp != nil {
		defer resp.Body.Close()
	}
	var be *bodyError
	switch {
	case errors.As(err, &be):
		return a.fail(resp.StatusCode, be.err)
	case a.body != nil:
		// A 2xx answer was read: the call happened even if the caller gave up.
		if out == nil || resp.StatusCode == http.StatusNoContent && len(bytes.TrimSpace(a.body)) == 0 {
			return nil
		}
		if err := json.Unmarshal(a.body, out); err != nil {
			a.unsure = true
			return a.fail(resp.StatusCode, fmt.Errorf("%w: %s", ErrMalformedBody, describeJSONError(err)))
		}
		return nil
	case a.fromTransport != nil:
		return stripURL(a.fromTransport)
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

// fail builds the call's *Error: not applied only when no attempt may have
// been carried out.
func (a *call) fail(status int, cause error) *Error {
	outcome := a.last
	if a.unsure || outcome == OutcomeApplied {
		outcome = OutcomeUnknown
	}
	return &Error{Op: a.Op, Method: a.method, Path: a.path, Status: status, Attempts: a.attempts,
		Outcome: outcome, RetryAfter: a.retryAfter, Err: cause}
}
