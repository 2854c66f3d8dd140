package httpx

import (
	"bytes"
	"cmp"
	"net/http"
	"time"

	"github.com/hashicorp/go-cleanhttp"
)

// Options configures a Client. Zero or negative values take the defaults
// named, except MaxRetries, which is used as is (0 means no retries).
type Options struct {
	Timeout    time.Duration // bounds each attempt, reading the answer included; 30s
	MaxRetries int           // retries after the first attempt
	MinBackoff time.Duration // the first retry wait; 250ms
	MaxBackoff time.Duration // caps the exponential retry wait; 30s
	// MaxRetryAfter is the longest Retry-After wait honoured; 2m. A longer
	// one is not shortened: the call fails at once with an *Error carrying it.
	MaxRetryAfter time.Duration
	MaxBodyBytes  int64 // caps a 2xx answer, a larger one is an error; 4 MiB
	// Transport is the base transport; cleanhttp.DefaultPooledTransport()
	// (TLS verified).
	Transport http.RoundTripper
	UserAgent string // "vault-plugin-c1"
	// ParseError extracts an upstream error code, message and trace id from
	// a non-2xx answer body. When it is nil or finds neither code nor
	// message, the body is the message, unless it is HTML. What it returns
	// is sanitised, truncated and scrubbed of request secrets before use.
	ParseError func(status int, body []byte) (code, message, traceID string)
	// Observe, when set, is called once per attempt with the operation, the
	// status of the answer (0 when none came) and how long the attempt took
	// until the answer's headers. It is never given a secret.
	Observe func(op string, status int, elapsed time.Duration)
}

// Client sends requests through go-retryablehttp: bounded retries with its
// backoff and Retry-After handling, an Outcome on every error, capped
// answers, no redirects. It is safe for concurrent use.
type Client struct{ opts Options }

// New returns a Client configured by opts.
func New(opts Options) *Client {
	opts.Timeout = cmp.Or(max(opts.Timeout, 0), 30*time.Second)
	opts.MinBackoff = cmp.Or(max(opts.MinBackoff, 0), 250*time.Millisecond)
	opts.MaxBackoff = cmp.Or(max(opts.MaxBackoff, 0), 30*time.Second)
	opts.MaxRetryAfter = cmp.Or(max(opts.MaxRetryAfter, 0), 2*time.Minute)
	opts.MaxBodyBytes = cmp.Or(max(opts.MaxBodyBytes, 0), 4<<20)
	opts.UserAgent = cmp.Or(opts.UserAgent, "vault-plugin-c1")
	if opts.Transport == nil {
		opts.Transport = cleanhttp.DefaultPooledTransport()
	}
	return &Client{opts}
}

// parseError is ParseError, falling back to the body as the message unless
// it is an HTML page (a proxy's, most likely).
func (o *Options) parseError(status int, body []byte) (code, message, traceID string) {
	if o.ParseError != nil {
		code, message, traceID = o.ParseError(status, body)
	}
	if code == "" && message == "" && !bytes.HasPrefix(bytes.TrimSpace(body), []byte("<")) {
		message = string(body)
	}
	return code, message, traceID
}
