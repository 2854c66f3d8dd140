package httpx

import (
	"net/http"
	"time"

	"github.com/hashicorp/go-cleanhttp"
)

// Defaults applied by New to zero-valued Options fields.
const (
	DefaultTimeout       = 30 * time.Second
	DefaultMinBackoff    = 250 * time.Millisecond
	DefaultMaxBackoff    = 30 * time.Second
	DefaultMaxRetryAfter = 2 * time.Minute
	DefaultMaxBodyBytes  = 4 << 20
	DefaultUserAgent     = "vault-plugin-c1"
)

// maxErrorBodyBytes caps how much of a non-2xx answer is read for its message.
const maxErrorBodyBytes = 64 << 10

// Options configures a Client. Zero values take the defaults above, except
// MaxRetries, which is used as is (0 means no retries; negative counts as 0).
type Options struct {
	Timeout    time.Duration // bounds each attempt, reading the answer included
	MaxRetries int           // retries after the first attempt
	MinBackoff time.Duration // the first retry wait
	MaxBackoff time.Duration // caps the exponential retry wait
	// MaxRetryAfter is the longest Retry-After wait honoured. A longer one
	// is not shortened: the call fails at once with an *Error carrying it.
	MaxRetryAfter time.Duration
	MaxBodyBytes  int64 // caps a 2xx answer; a larger one is an error
	// Transport is the base transport; default
	// cleanhttp.DefaultPooledTransport() (TLS verified).
	Transport http.RoundTripper
	UserAgent string
	// ParseError extracts an upstream error code, message and trace id from
	// a non-2xx answer body; default DefaultParseError. What it returns is
	// sanitised, truncated and scrubbed of request secrets before use.
	ParseError func(status int, body []byte) (code, message, traceID string)
	// Observe, when set, is called once per attempt with the operation, the
	// status of the answer (0 when none came) and how long the attempt took
	// until the answer's headers. It is never given a secret.
	Observe func(op string, status int, elapsed time.Duration)
}

// withDefaults returns o with zero fields replaced by defaults.
func (o Options) withDefaults() Options {
	o.Timeout = orDefault(o.Timeout, DefaultTimeout)
	o.MaxRetries = max(o.MaxRetries, 0)
	o.MinBackoff = orDefault(o.MinBackoff, DefaultMinBackoff)
	o.MaxBackoff = max(orDefault(o.MaxBackoff, DefaultMaxBackoff), o.MinBackoff)
	o.MaxRetryAfter = orDefault(o.MaxRetryAfter, DefaultMaxRetryAfter)
	o.MaxBodyBytes = orDefault(o.MaxBodyBytes, DefaultMaxBodyBytes)
	if o.Transport == nil {
		o.Transport = cleanhttp.DefaultPooledTransport()
	}
	if o.UserAgent == "" {
		o.UserAgent = DefaultUserAgent
	}
	if o.ParseError == nil {
		o.ParseError = DefaultParseError
	}
	return o
}

// orDefault returns v when it is positive, else d.
func orDefault[T time.Duration | int64](v, d T) T {
	if v > 0 {
		return v
	}
	return d
}
