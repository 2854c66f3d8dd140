package httpx

import (
	"net/http"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// Client sends requests with bounded retries. It is safe for concurrent use.
type Client struct {
	opts Options
	// rc serves Do: the last answer comes back through
	// PassthroughErrorHandler and Do turns it into an *Error.
	rc *retryablehttp.Client
	// rt serves HTTPClient: it hands the last answer back as an answer.
	rt *retryablehttp.Client
}

// New returns a Client configured by opts (zero fields take defaults).
func New(opts Options) *Client {
	opts = opts.withDefaults()
	base := &http.Client{
		Transport:     opts.Transport,
		Timeout:       opts.Timeout,
		CheckRedirect: noRedirects,
	}
	c := &Client{opts: opts}
	backoff := func(min, max time.Duration, attempt int, resp *http.Response) time.Duration {
		return Backoff(min, max, opts.MaxRetryAfter, attempt, resp)
	}
	newRC := func(eh retryablehttp.ErrorHandler) *retryablehttp.Client {
		return &retryablehttp.Client{
			HTTPClient:     base,
			Logger:         nil,
			RetryWaitMin:   opts.MinBackoff,
			RetryWaitMax:   opts.MaxBackoff,
			RetryMax:       opts.MaxRetries,
			CheckRetry:     checkRetry,
			Backoff:        backoff,
			ErrorHandler:   eh,
			PrepareRetry:   countRetry,
			RequestLogHook: beginAttempt,
		}
	}
	c.rc = newRC(retryablehttp.PassthroughErrorHandler)
	c.rt = newRC(lastAnswer)
	return c
}

// HTTPClient returns an *http.Client whose transport retries as Do does
// (same policy, backoff and per-attempt timeout) and that follows no
// redirects. After the last attempt it returns the last answer, whatever
// its status, so callers such as golang.org/x/oauth2 see the real status.
// It does not cap answer sizes or decode bodies.
func (c *Client) HTTPClient() *http.Client {
	return &http.Client{
		Transport:     &retryablehttp.RoundTripper{Client: c.rt},
		CheckRedirect: noRedirects,
	}
}

// noRedirects refuses every redirect: an API that redirects is misbehaving,
// and following one could carry an API key header to another host.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// lastAnswer hands back the last answer with no error when there is one, so
// that an http.RoundTripper caller sees it; otherwise the error.
func lastAnswer(resp *http.Response, err error, _ int) (*http.Response, error) {
	if resp != nil {
		return resp, nil
	}
	return nil, err
}
