package httpx

import "errors"

// Outcome says whether a request was carried out upstream. Every upstream
// call can fail after it acted, so a caller that creates something upstream
// decides from the outcome, never from the mere presence of an error.
type Outcome int

// The outcomes of a request.
const (
	// OutcomeUnknown: the request was sent and may or may not have been
	// carried out (timeout, 5xx, a reset mid-answer, a 2xx that cannot be
	// decoded or lacks what it must carry). The zero value: the safe default.
	OutcomeUnknown Outcome = iota
	// OutcomeNotApplied: the upstream surely did not act (a 429 or another
	// 4xx answer; a connection refused; a DNS or TLS failure before the
	// request was sent).
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
	if err == nil {
		return OutcomeApplied
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Outcome
	}
	return OutcomeUnknown
}
