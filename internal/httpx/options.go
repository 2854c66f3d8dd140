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

// Options configures a Client. Zero values take defaults, except MaxRetries,
// which is used as is (callers apply their own default; 0 means no retries
// and a negative value counts as 0).
type Options struct {
	// Timeout bounds each attempt, including reading the answer. Default 30s.
	Timeout time.Duration
	// MaxRetries is the number of retries after the first attempt.
	MaxRetries int
	// MinBackoff is the first retry wait. Default 250ms.
	MinBackoff time.Duration
	// MaxBackoff caps the exponential retry wait. Default 30s.
	MaxBackoff time.Duration
	// MaxRetryAfter is the longest Retry-After wait honoured. A longer one
	// is not shortened: the call fails at once with an *Error carrying it
	// in RetryAfter. Default 2m.
	MaxRetryAfter time.Duration
	// MaxBodyBytes caps a 2xx answer; a larger answer is an error. Default 4 MiB.
	MaxBodyBytes int64
	// Transport is the base transport. Default cleanhttp.DefaultPooledTransport()
	// (TLS verified).
	Transport http.RoundTripper
	// UserAgent is sent on every request. Default "vault-plugin-c1".
	UserAgent string
	// ParseError extracts an upstream error code, message and trace id from a
	// non-2xx answer body. Default DefaultParseError. Whatever it returns is
	// sanitised, truncated and scrubbed of request secrets before use.
	ParseError func(status int, body []byte) (code, message, traceID string)
	// Observe, when set, is called once per attempt with the operation name,
	// the HTTP status of the answer (0 when no answer came) and how long the
	// attempt took. It is never given a secret.
	Observe func(op string, status int, elapsed time.Duration)
}

// withDefaults returns o with zero fields replaced by defaults.
func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxRetries < 0 {
		o.MaxRetries = 0
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = o.MinBackoff
	}
	if o.MaxRetryAfter <= 0 {
		o.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
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
