package httpx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
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
	// Header holds extra headers (e.g. Authorization); they override defaults.
	Header http.Header
	// Body, when non-nil, is sent JSON-encoded.
	Body any
	// Form, when non-nil, is sent form-encoded. Body and Form are exclusive.
	Form url.Values
	// Idempotent says the request may be sent again whatever happened to the
	// last attempt: after a timeout, a 5xx, or a 2xx answer whose body could
	// not be read or decoded. A request that is not idempotent is sent again
	// only when the upstream surely did not act on it (429, 503, or no
	// connection made). GET and HEAD requests are always idempotent.
	Idempotent bool
}

// encoded is a Request ready to send.
type encoded struct {
	body        []byte
	contentType string
	path        string
	secrets     []string
}

// encode validates req and encodes its body. Its errors never quote the URL.
func (c *Client) encode(req Request) (*encoded, error) {
	if req.Body != nil && req.Form != nil {
		return nil, errors.New("request has both a JSON body and a form")
	}
	u, err := url.Parse(req.URL)
	if err != nil {
		return nil, errors.New("invalid request URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, errors.New("request URL scheme must be http or https")
	}
	if u.Host == "" {
		return nil, errors.New("request URL has no host")
	}
	e := &encoded{path: u.EscapedPath()}
	if e.path == "" {
		e.path = "/"
	}
	switch {
	case req.Body != nil:
		e.body, err = json.Marshal(req.Body)
		if err != nil {
			return nil, fmt.Errorf("encode request body: %w", err)
		}
		e.contentType = "application/json"
	case req.Form != nil:
		e.body = []byte(req.Form.Encode())
		e.contentType = "application/x-www-form-urlencoded"
	}
	e.secrets = secretsOf(req.Header, req.Form, e.body)
	return e, nil
}

// build makes the retryable request, with the body re-sent on every attempt.
func (c *Client) build(ctx context.Context, req Request, e *encoded) (*retryablehttp.Request, error) {
	var raw any
	if e.body != nil {
		raw = e.body
	}
	method := strings.ToUpper(req.Method)
	if method == "" {
		method = http.MethodGet
	}
	rreq, err := retryablehttp.NewRequestWithContext(ctx, method, req.URL, raw)
	if err != nil {
		return nil, errors.New("cannot build request")
	}
	rreq.Header.Set("Accept", "application/json")
	rreq.Header.Set("User-Agent", c.opts.UserAgent)
	if e.contentType != "" {
		rreq.Header.Set("Content-Type", e.contentType)
	}
	for k, vs := range req.Header {
		rreq.Header.Del(k)
		for _, v := range vs {
			rreq.Header.Add(k, v)
		}
	}
	return rreq, nil
}
