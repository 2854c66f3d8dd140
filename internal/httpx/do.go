package httpx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"time"
)

// shapeError is a 2xx answer that is valid JSON of the wrong shape.
type shapeError struct{ err error }

func (e *shapeError) Error() string   { return e.err.Error() }
func (e *shapeError) Unwrap() []error { return []error{e.err, errUndecodable} }

// bodyError is a failure to read or decode a 2xx answer; retry tells
// checkRetry whether another attempt may help.
type bodyError struct {
	err   error
	retry bool
}

func (e *bodyError) Error() string { return e.err.Error() }
func (e *bodyError) Unwrap() error { return e.err }

// Do sends req with bounded retries and decodes a 2xx JSON answer into out,
// which must be nil or a non-nil pointer; on success *out is replaced by the
// decoded value. A non-2xx answer, a network failure, an oversized answer
// and an undecodable 2xx answer are all *Error. An undecodable 2xx answer is
// retried only when req.Idempotent. A 204 answer or, when out is nil, any
// 2xx body is accepted without decoding.
func (c *Client) Do(ctx context.Context, req Request, out any) error {
	if out != nil {
		if v := reflect.ValueOf(out); v.Kind() != reflect.Pointer || v.IsNil() {
			return fmt.Errorf("%s: output must be a non-nil pointer, not %T", req.Op, out)
		}
	}
	e, err := c.encode(req)
	if err != nil {
		return fmt.Errorf("%s: %w", req.Op, err)
	}
	st := &attemptState{attempts: 1, idempotent: req.Idempotent || req.Method == http.MethodGet || req.Method == http.MethodHead,
		op: req.Op, observe: c.opts.Observe}
	rreq, err := c.build(withState(ctx, st), req, e)
	if err != nil {
		return fmt.Errorf("%s: %w", req.Op, err)
	}
	fail := func(status int, cause error) *Error {
		return &Error{Op: req.Op, Method: rreq.Method, Path: e.path, Status: status, Attempts: st.attempts, Err: cause}
	}
	// The attempt handled last is reported once the retry loop is done.
	defer st.report()

	var decoded reflect.Value
	rreq.SetResponseHandler(func(resp *http.Response) error {
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return nil
		}
		v, err := c.readAnswer(resp, out)
		if err != nil {
			return &bodyError{err: err, retry: req.Idempotent && transientBodyError(err)}
		}
		decoded = v
		return nil
	})

	resp, err := c.rc.Do(rreq)
	if resp == nil {
		fe := fail(0, networkCause(ctx, st, err))
		if st.lastErr != nil && notSent(st.lastErr) {
			fe.Outcome = st.outcome(OutcomeNotApplied)
		}
		return fe
	}
	defer resp.Body.Close()

	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		var be *bodyError
		switch {
		case errors.As(err, &be):
			return fail(resp.StatusCode, be.err)
		case out != nil && decoded.IsValid():
			reflect.ValueOf(out).Elem().Set(decoded.Elem())
			return nil
		case out == nil && (err == nil || ctx.Err() != nil):
			// The upstream answered 2xx: the call happened even if the
			// caller gave up meanwhile.
			return nil
		default:
			return fail(resp.StatusCode, networkCause(ctx, st, err))
		}
	}

	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBodyBytes))
	code, msg, trace := c.opts.ParseError(resp.StatusCode, body)
	fe := fail(resp.StatusCode, nil)
	fe.Outcome = st.outcome(outcomeOfStatus(resp.StatusCode))
	if d, ok := retryAfter(resp, time.Now()); ok {
		fe.RetryAfter = d
	}
	fe.Code = safeText(code, maxCodeRunes, e.secrets)
	fe.Message = safeText(msg, maxMessageRunes, e.secrets)
	fe.TraceID = safeText(trace, maxTraceRunes, e.secrets)
	if ctx.Err() != nil {
		// The caller gave up while a retryable answer was being handled.
		fe.Err = ctx.Err()
	}
	return fe
}

// readAnswer reads a 2xx answer within the size cap and, when out is
// non-nil, decodes it into a fresh value of out's type (so a failed attempt
// leaves nothing behind).
func (c *Client) readAnswer(resp *http.Response, out any) (reflect.Value, error) {
	limit := c.opts.MaxBodyBytes
	if resp.ContentLength > limit {
		return reflect.Value{}, fmt.Errorf("%w: more than %d bytes", ErrBodyTooLarge, limit)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return reflect.Value{}, fmt.Errorf("read answer: %w", stripURL(err))
	}
	if int64(len(body)) > limit {
		return reflect.Value{}, fmt.Errorf("%w: more than %d bytes", ErrBodyTooLarge, limit)
	}
	if out == nil {
		return reflect.Value{}, nil
	}
	v := reflect.New(reflect.TypeOf(out).Elem())
	if resp.StatusCode == http.StatusNoContent && len(bytes.TrimSpace(body)) == 0 {
		return v, nil
	}
	if err := json.Unmarshal(body, v.Interface()); err != nil {
		if !json.Valid(body) {
			return reflect.Value{}, fmt.Errorf("%w: %s", ErrMalformedBody, describeJSONError(err))
		}
		return reflect.Value{}, &shapeError{fmt.Errorf("%w: %s", ErrMalformedBody, describeJSONError(err))}
	}
	return v, nil
}

// errUndecodable marks a 2xx answer that is valid JSON of the wrong shape.
var errUndecodable = errors.New("undecodable")

// transientBodyError reports whether another attempt might read the answer
// well: a broken or truncated read or invalid JSON might not recur; an
// oversized answer or valid JSON of the wrong shape would.
func transientBodyError(err error) bool {
	return !errors.Is(err, ErrBodyTooLarge) && !errors.Is(err, errUndecodable)
}

// describeJSONError explains a decoding failure without quoting the body.
func describeJSONError(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		if te.Field != "" {
			return fmt.Sprintf("field %s: unexpected JSON %s", te.Field, te.Value)
		}
		return fmt.Sprintf("unexpected JSON %s", te.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated JSON"
	}
	// Other errors come from encoding/json (which quotes no more than a
	// character) or from this module's own decoders, which quote no values.
	return err.Error()
}

// networkCause picks the most useful cause of a failure with no usable
// answer: the cancellation, else the last transport error, else err.
func networkCause(ctx context.Context, st *attemptState, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var be *bodyError
	if st.lastErr != nil && !errors.As(st.lastErr, &be) {
		return stripURL(st.lastErr)
	}
	if err == nil {
		return errors.New("no answer")
	}
	return stripURL(err)
}

// stripURL drops the *url.Error wrapper, whose text quotes the full URL.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Err
	}
	return err
}
