package httpx

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ErrBodyTooLarge is the cause of an *Error whose 2xx answer exceeded
// Options.MaxBodyBytes.
var ErrBodyTooLarge = errors.New("answer body too large")

// ErrMalformedBody is the cause of an *Error whose 2xx answer could not be
// decoded.
var ErrMalformedBody = errors.New("malformed answer body")

// Error describes a failed request. It never holds a header value, a request
// body, a query string or any other request secret.
type Error struct {
	// Op names the operation, e.g. "c1 rotate credential".
	Op string
	// Method is the HTTP method.
	Method string
	// Path is the URL path only (escaped form), never the query.
	Path string
	// Status is the HTTP status of the last answer, 0 when there was none
	// (network error, timeout, cancellation).
	Status int
	// Code is the upstream error code, when the answer carried one.
	Code string
	// Message is the upstream error message, sanitised and truncated.
	Message string
	// TraceID is the upstream trace or request id, when known.
	TraceID string
	// Attempts is how many attempts were made.
	Attempts int
	// Outcome says whether the upstream may have carried the request out.
	Outcome Outcome
	// RetryAfter is the wait the upstream asked for in a Retry-After header
	// of its last answer (0 when none). A wait longer than the request
	// could still wait fails the call at once; callers can defer to it.
	RetryAfter time.Duration
	// Err is the underlying cause for network errors, cancellations and
	// undecodable or oversized answers.
	Err error
}

// Error formats e as
// "op: METHOD /path: 429 Too Many Requests: CODE: message (trace id T): cause
// (the upstream asks to wait 1m0s) (after N attempts)".
func (e *Error) Error() string {
	var b strings.Builder
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteString(": ")
	}
	b.WriteString(e.Method)
	b.WriteByte(' ')
	b.WriteString(e.Path)
	if e.Status != 0 {
		b.WriteString(": ")
		b.WriteString(strconv.Itoa(e.Status))
		if t := http.StatusText(e.Status); t != "" {
			b.WriteByte(' ')
			b.WriteString(t)
		}
	}
	if e.Code != "" {
		b.WriteString(": ")
		b.WriteString(e.Code)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.TraceID != "" {
		b.WriteString(" (trace id ")
		b.WriteString(e.TraceID)
		b.WriteByte(')')
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if e.RetryAfter > 0 {
		b.WriteString(" (the upstream asks to wait ")
		b.WriteString(e.RetryAfter.String())
		b.WriteByte(')')
	}
	b.WriteString(" (after ")
	b.WriteString(strconv.Itoa(e.Attempts))
	if e.Attempts == 1 {
		b.WriteString(" attempt)")
	} else {
		b.WriteString(" attempts)")
	}
	return b.String()
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// StatusOf returns the HTTP status carried by the first *Error in err's
// chain, or 0 when there is none.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// IsNotFound reports whether err carries an HTTP 404 answer.
func IsNotFound(err error) bool { return StatusOf(err) == http.StatusNotFound }
