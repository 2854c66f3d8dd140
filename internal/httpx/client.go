package httpx

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"reflect"
	"strings"

	"github.com/hashicorp/go-retryablehttp"
)

// Request is one API call.
type Request struct {
	// Op names the operation in errors, e.g. "c1 rotate credential".
	Op string
	// Method is the HTTP method.
	Method string
	// URL is the absolute URL; path segments must already be escaped.
	URL string
	// Header holds extra headers; they override defaults.
	Header http.Header
	// Body, when non-nil, is sent JSON-encoded.
	Body any
	// Form, when non-nil, is sent form-encoded. Body and Form are exclusive.
	Form url.Values
	// FormFunc, when set instead of Form, builds the form afresh for every
	// attempt, so that each attempt carries a new one-time value (a signed
	// client assertion).
	FormFunc func() (url.Values, error)
	// Idempotent says the request may be sent again whatever happened to the
	// last attempt. A request that is not idempotent (it creates something
	// upstream, such as a credential whose secret is shown once) is sent
	// again only after an attempt the upstream surely did not act on.
	// GET and HEAD requests are always idempotent.
	Idempotent bool
}

// Client sends requests through go-retryablehttp: bounded retries with its
// backoff and Retry-After handling, an outcome on every error, answers
// capped in size, no redirects. It is safe for concurrent use.
type Client struct {
	opts Options
	hc   *http.Client
}

// New returns a Client configured by opts (zero fields take defaults).
func New(opts Options) *Client {
	opts = opts.withDefaults()
	hc := &http.Client{Transport: opts.Transport, Timeout: opts.Timeout, CheckRedirect: noRedirects}
	return &Client{opts: opts, hc: hc}
}

// noRedirects refuses every redirect: an API that redirects is misbehaving,
// and following one could carry a key header to another host.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Do sends req and decodes a 2xx JSON answer into out, which must be nil or
// a non-nil pointer. Every failure is an *Error with its Outcome. A 204 or,
// when out is nil, any 2xx body is accepted without decoding.
func (c *Client) Do(ctx context.Context, req Request, out any) error {
	if v := reflect.ValueOf(out); out != nil && (v.Kind() != reflect.Pointer || v.IsNil()) {
		return fmt.Errorf("%s: output must be a non-nil pointer, not %T", req.Op, out)
	}
	a := &call{c: c, req: req, ctx: ctx}
	rreq, err := a.build()
	if err != nil {
		return fmt.Errorf("%s: %w", req.Op, err)
	}
	a.strict = !req.Idempotent && a.method != http.MethodGet && a.method != http.MethodHead
	rreq.SetResponseHandler(func(resp *http.Response) error { return a.readBody(resp, out != nil) })
	rc := &retryablehttp.Client{
		HTTPClient:     c.hc,
		RetryWaitMin:   c.opts.MinBackoff,
		RetryWaitMax:   c.opts.MaxBackoff,
		RetryMax:       c.opts.MaxRetries,
		CheckRetry:     a.checkRetry,
		Backoff:        Backoff,
		ErrorHandler:   retryablehttp.PassthroughErrorHandler,
		RequestLogHook: func(retryablehttp.Logger, *http.Request, int) { a.begin() },
	}
	if req.FormFunc != nil {
		rc.PrepareRetry = func(*http.Request) error { return a.resign(rreq) }
	}
	resp, err := rc.Do(rreq)
	a.report()
	return a.finish(resp, err, out)
}

// build validates req and makes the retryable request. Its errors never
// quote the URL.
func (a *call) build() (*retryablehttp.Request, error) {
	req := a.req
	if req.Body != nil && (req.Form != nil || req.FormFunc != nil) || req.Form != nil && req.FormFunc != nil {
		return nil, errors.New("request has more than one body")
	}
	u, err := url.Parse(req.URL)
	switch {
	case err != nil:
		return nil, errors.New("invalid request URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, errors.New("request URL scheme must be http or https")
	case u.Host == "":
		return nil, errors.New("request URL has no host")
	}
	if a.path = u.EscapedPath(); a.path == "" {
		a.path = "/"
	}
	body, contentType, err := a.encode()
	if err != nil {
		return nil, err
	}
	if a.method = strings.ToUpper(req.Method); a.method == "" {
		a.method = http.MethodGet
	}
	trace := &httptrace.ClientTrace{GotConn: a.gotConn, WroteHeaderField: a.wroteHeader}
	rreq, err := retryablehttp.NewRequestWithContext(httptrace.WithClientTrace(a.ctx, trace), a.method, req.URL, body)
	if err != nil {
		return nil, errors.New("cannot build request")
	}
	rreq.Header.Set("Accept", "application/json")
	rreq.Header.Set("User-Agent", a.c.opts.UserAgent)
	if contentType != "" {
		rreq.Header.Set("Content-Type", contentType)
	}
	for k, vs := range req.Header {
		rreq.Header[http.CanonicalHeaderKey(k)] = vs
	}
	return rreq, nil
}
