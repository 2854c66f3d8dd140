package httpx

import (
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
	// FormFunc, when set, builds a form body afresh for every attempt, so
	// that each one carries a new one-time value (a signed client assertion).
	FormFunc func() (url.Values, error)
	// Idempotent requests are sent again whatever happened to the last
	// attempt; others (they create something upstream, such as a credential
	// whose secret is shown once) only while no attempt may have been
	// carried out. GET and HEAD are always idempotent.
	Idempotent bool
}

// retryable are the statuses retried.
var retryable = map[int]bool{429: true, 500: true, 502: true, 503: true, 504: true}

// call is one Do across its attempts, which run one after another; the
// transport's goroutines touch only secrets, under mu.
type call struct {
	Request
	opts         *Options
	method, path string
	mu           sync.Mutex
	secrets      []string // request values no error may quote
	attempts     int
	acted        bool // some attempt may have been carried out
	retryAfter   time.Duration
}

// Do sends req and decodes a 2xx JSON answer into out, unless out is nil.
// Every failure of a request sent is an *Error carrying its Outcome.
func (c *Client) Do(ctx context.Context, req Request, out any) error {
	if v := reflect.ValueOf(out); out != nil && (v.Kind() != reflect.Pointer || v.IsNil()) {
		return fmt.Errorf("%s: output must be a non-nil pointer, not %T", req.Op, out)
	}
	a := &call{Request: req, opts: &c.opts, method: cmp.Or(strings.ToUpper(req.Method), http.MethodGet)}
	a.Idempotent = a.Idempotent || a.method == http.MethodGet || a.method == http.MethodHead
	rreq, err := retryablehttp.NewRequestWithContext(ctx, a.method, req.URL, nil)
	if err == nil {
		err = a.setBody(rreq)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", req.Op, stripURL(err))
	}
	a.path = cmp.Or(rreq.URL.EscapedPath(), "/")
	rreq.Header.Set("Accept", "application/json")
	rreq.Header.Set("User-Agent", c.opts.UserAgent)
	for k, vs := range req.Header {
		rreq.Header[http.CanonicalHeaderKey(k)] = vs
	}
	rreq.SetResponseHandler(func(resp *http.Response) error { return a.decode(resp, out) })
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
	return a.finish(resp, err)
}

// noRedirects refuses every redirect: an API that redirects is misbehaving,
// and following one could carry a key header to another host.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// setBody encodes the body (a fresh form from FormFunc), noting its secrets.
func (a *call) setBody(rreq *retryablehttp.Request) error {
	var body []byte
	var err error
	switch {
	case a.Body != nil && a.FormFunc != nil:
		return errors.New("request has more than one body")
	case a.Body != nil:
		if body, err = json.Marshal(a.Body); err != nil {
			return fmt.Errorf("encode request body: %w", err)
		}
		a.addSecrets("", []string{string(body)})
		rreq.Header.Set("Content-Type", "application/json")
	case a.FormFunc != nil:
		form, err := a.FormFunc()
		if err != nil {
			return err
		}
		for k, vs := range form {
			a.addSecrets(k, vs)
		}
		body = []byte(form.Encode())
		rreq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	default:
		return nil
	}
	return rreq.SetBody(body)
}

// addSecrets notes the values of a header or form field sent, unless it is
// public: each value, a bearer token without its scheme, and the value as
// escaped in a form.
func (a *call) addSecrets(key string, values []string) {
	if public[key] {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, v := range values {
		_, tok, _ := strings.Cut(v, " ")
		a.secrets = append(a.secrets, v, tok, url.QueryEscape(v))
	}
}

// RoundTrip makes one attempt through Options.Transport, notes whether it
// may have been carried out (unknown unless refused with a 4xx or never
// sent) and the header values it sent, and reports it to Options.Observe.
func (a *call) RoundTrip(r *http.Request) (*http.Response, error) {
	a.attempts++
	var sent atomic.Bool // the attempt got a connection
	r = r.WithContext(httptrace.WithClientTrace(r.Context(), &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { sent.Store(true) },
		// Every header sent, one a transport adds included (oauth2's
		// Authorization), may be secret.
		WroteHeaderField: a.addSecrets,
	}))
	if err := acquireGate(r.Context()); err != nil {
		return nil, err
	}
	defer releaseGate(r.Context())
	start := time.Now()
	resp, err := a.opts.Transport.RoundTrip(r)
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	a.acted = a.acted || err != nil && sent.Load() || err == nil && (status < 400 || status > 499)
	if a.opts.Observe != nil {
		a.opts.Observe(a.Op, status, time.Since(start))
	}
	return resp, err
}

// checkRetry is the retry policy (applied again once a 2xx answer was
// read): network errors unless permanent, answers that might read well
// another time, and 429, 500, 502, 503 and 504; a request that is not
// idempotent only while no attempt may have been carried out; never after a
// failed login below this request (it had its own retries) or a Retry-After
// longer than the request may still wait.
func (a *call) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	wait, hasWait := retryAfter(resp)
	deadline, hasDeadline := ctx.Deadline()
	a.retryAfter = wait
	// Invalid JSON (a cut answer) may read well another time; valid JSON of
	// the wrong shape or too much of it will not.
	malformed := errors.Is(err, ErrMalformedBody) && !errors.As(err, new(*json.SyntaxError))
	switch {
	case a.acted && !a.Idempotent, errors.As(err, new(*Error)), errors.Is(err, ErrBodyTooLarge), malformed:
		return false, nil
	case err != nil:
		return retryablehttp.ErrorPropagatedRetryPolicy(ctx, nil, err)
	case hasWait && (wait > a.opts.MaxRetryAfter || hasDeadline && time.Now().Add(wait).After(deadline)):
		return false, nil
	}
	return retryable[resp.StatusCode], nil
}

// decode reads a 2xx answer within the size cap and decodes it into out
// (left as it was when the answer is not valid JSON). encoding/json's
// errors quote no more of the answer than a character or a number.
func (a *call) decode(resp *http.Response, out any) error {
	if resp.StatusCode/100 != 2 {
		return nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, resp.Body, a.opts.MaxBodyBytes))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return fmt.Errorf("%w: more than %d bytes", ErrBodyTooLarge, tooLarge.Limit)
	case err != nil:
		return fmt.Errorf("read answer: %w", err)
	case out == nil:
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformedBody, err)
	}
	return nil
}

// finish turns the retry loop's result into Do's answer.
func (a *call) finish(resp *http.Response, err error) error {
	switch {
	case err == nil && resp.StatusCode/100 == 2:
		return nil
	case errors.As(err, new(*Error)) && !a.acted: // a failed login; it says not applied
		return stripURL(err)
	}
	e := &Error{Op: a.Op, Method: a.method, Path: a.path, Attempts: a.attempts, Outcome: OutcomeNotApplied,
		RetryAfter: a.retryAfter, Err: stripURL(err)}
	if a.acted {
		e.Outcome = OutcomeUnknown
	}
	if resp != nil {
		e.Status = resp.StatusCode
	}
	if resp != nil && resp.StatusCode/100 != 2 { // what the upstream says
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBodyBytes))
		code, msg, trace := a.opts.parseError(resp.StatusCode, body)
		a.mu.Lock()
		defer a.mu.Unlock()
		e.Code, e.Message, e.TraceID = safeText(code, 100, a.secrets), safeText(msg, 200, a.secrets), safeText(trace, 100, a.secrets)
	}
	return e
}
