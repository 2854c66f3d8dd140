package httpx

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// The causes of an *Error whose 2xx answer could not be used.
var (
	// ErrBodyTooLarge: the answer exceeded Options.MaxBodyBytes.
	ErrBodyTooLarge = errors.New("answer body too large")
	// ErrMalformedBody: the answer could not be decoded.
	ErrMalformedBody = errors.New("malformed answer body")
)

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

// outcomeNames are the names of the outcomes other than unknown.
var outcomeNames = map[Outcome]string{OutcomeNotApplied: "not_applied", OutcomeApplied: "applied"}

// String returns "unknown", "not_applied" or "applied".
func (o Outcome) String() string { return cmp.Or(outcomeNames[o], "unknown") }

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
	Op       string // the operation, e.g. "c1 rotate credential"
	Method   string
	Path     string  // the URL path only (escaped), never the query
	Status   int     // of the last answer; 0 when none came
	Code     string  // the upstream error code, when the answer carried one
	Message  string  // the upstream message, sanitised and truncated
	TraceID  string  // the upstream trace or request id, when known
	Attempts int     // how many attempts were made
	Outcome  Outcome // whether the upstream may have carried the request out
	// RetryAfter is the wait the last answer asked for in Retry-After (0
	// when none). One longer than the request could still wait fails the
	// call at once; callers can defer to it.
	RetryAfter time.Duration
	Err        error // the cause of a network error, cancellation or bad answer
}

// Error formats e as "op: METHOD /path: 429 Too Many Requests: CODE: message
// (trace id T): cause (the upstream asks to wait 1m0s) (after N attempts)".
func (e *Error) Error() string {
	var b strings.Builder
	add := func(ok bool, format string, args ...any) {
		if ok {
			fmt.Fprintf(&b, format, args...)
		}
	}
	add(e.Op != "", "%s: ", e.Op)
	add(true, "%s %s", e.Method, e.Path)
	add(e.Status != 0, ": %s", strings.TrimSpace(fmt.Sprint(e.Status, " ", http.StatusText(e.Status))))
	add(e.Code != "", ": %s", e.Code)
	add(e.Message != "", ": %s", e.Message)
	add(e.TraceID != "", " (trace id %s)", e.TraceID)
	add(e.Err != nil, ": %v", e.Err)
	add(e.RetryAfter > 0, " (the upstream asks to wait %s)", e.RetryAfter)
	add(e.Attempts == 1, " (after 1 attempt)")
	add(e.Attempts != 1, " (after %d attempts)", e.Attempts)
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
