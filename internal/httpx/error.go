package httpx

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// ErrBodyTooLarge is the cause of an *Error whose 2xx answer exceeded
// Options.MaxBodyBytes.
var ErrBodyTooLarge = errors.New("answer body too large")

// ErrMalformedBody is the cause of an *Error whose 2xx answer could not be
// decoded.
var ErrMalformedBody = errors.New("malformed answer body")

// Outcome says whether a request was carried out upstream. Every upstream
// call can fail after it acted: a caller that creates something upstream
// decides from the outcome, never from the mere presence of an error.
type Outcome int

// The outcomes of a request.
const (
	// OutcomeUnknown: the request was sent and may have been carried out
	// (timeout, 5xx, a reset mid-answer, a 2xx that cannot be decoded or
	// lacks what it must carry). The zero value: the safe default.
	OutcomeUnknown Outcome = iota
	// OutcomeNotApplied: the upstream surely did not act (a 429 or another
	// 4xx; a connection refused; a DNS or TLS failure before sending).
	OutcomeNotApplied
	// OutcomeApplied: a 2xx answer whose body was read and decoded.
	OutcomeApplied
)

// String returns "unknown", "not_applied" or "applied".
func (o Outcome) String() string {
	switch o {
	case OutcomeNotApplied:
		return "not_applied"
	case OutcomeApplied:
		return "applied"
	}
	return "unknown"
}

// OutcomeOf returns the outcome of the call that returned err: applied for
// nil, the Outcome of the first *Error in err's chain, else unknown.
func OutcomeOf(err error) Outcome {
	var e *Error
	switch {
	case err == nil:
		return OutcomeApplied
	case errors.As(err, &e):
		return e.Outcome
	}
	return OutcomeUnknown
}

// Error describes a failed request. It never holds a header value, a request
// body, a query string or any other request secret.
type Error struct {
	Op      string // the operation, e.g. "c1 rotate credential"
	Method  string
	Path    string // the URL path only (escaped), never the query
	Status  int    // of the last answer; 0 when none came
	Code    string // the upstream error code, when the answer carried one
	Message string // the upstream message, sanitised and truncated
	TraceID string // the upstream trace or request id, when known
	// Attempts is how many attempts were made.
	Attempts int
	// Outcome says whether the upstream may have carried the request out.
	Outcome Outcome
	// RetryAfter is the wait the last answer asked for in Retry-After (0
	// when none). One longer than the request could still wait fails the
	// call at once; callers can defer to it.
	RetryAfter time.Duration
	// Err is the cause of a network error, cancellation or bad answer.
	Err error
}

// Error formats e as "op: METHOD /path: 429 Too Many Requests: CODE: message
// (trace id T): cause (the upstream asks to wait 1m0s) (after N attempts)".
func (e *Error) Error() string {
	s := e.Method + " " + e.Path
	if e.Op != "" {
		s = e.Op + ": " + s
	}
	if e.Status != 0 {
		s += strings.TrimRight(fmt.Sprintf(": %d %s", e.Status, http.StatusText(e.Status)), " ")
	}
	for _, part := range []string{e.Code, e.Message} {
		if part != "" {
			s += ": " + part
		}
	}
	if e.TraceID != "" {
		s += " (trace id " + e.TraceID + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	if e.RetryAfter > 0 {
		s += " (the upstream asks to wait " + e.RetryAfter.String() + ")"
	}
	if e.Attempts == 1 {
		return s + " (after 1 attempt)"
	}
	return fmt.Sprintf("%s (after %d attempts)", s, e.Attempts)
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
