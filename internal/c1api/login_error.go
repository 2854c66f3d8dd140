package c1api

import (
	"errors"
	"strconv"
	"strings"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/httpx"
)

// loginError is a non-2xx answer of the token endpoint. It unwraps to the
// *httpx.Error, so httpx.StatusOf and errors.As see the status.
type loginError struct{ err *httpx.Error }

// loginFailure turns a token fetch failure into the error callers see.
// Failures with no non-2xx answer (network, cancellation, bad body) are
// returned as they are; their text already starts with "c1 login".
func loginFailure(err error) error {
	var he *httpx.Error
	if errors.As(err, &he) && (he.Status < 200 || he.Status > 299) && he.Status != 0 {
		return &loginError{err: he}
	}
	return err
}

// Error reads "c1 login: token endpoint answered 401: <error>: <description>".
func (e *loginError) Error() string {
	var b strings.Builder
	b.WriteString("c1 login: token endpoint answered ")
	b.WriteString(strconv.Itoa(e.err.Status))
	for _, part := range []string{e.err.Code, e.err.Message} {
		if part != "" {
			b.WriteString(": ")
			b.WriteString(part)
		}
	}
	if e.err.TraceID != "" {
		b.WriteString(" (trace id ")
		b.WriteString(e.err.TraceID)
		b.WriteByte(')')
	}
	return b.String()
}

// Unwrap returns the *httpx.Error.
func (e *loginError) Unwrap() error { return e.err }
