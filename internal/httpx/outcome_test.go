package httpx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestOutcomeStringAndOutcomeOf(t *testing.T) {
	names := map[Outcome]string{OutcomeUnknown: "unknown", OutcomeNotApplied: "not_applied", OutcomeApplied: "applied", Outcome(42): "unknown"}
	for o, want := range names {
		if o.String() != want {
			t.Errorf("%d.String() = %q, want %q", int(o), o.String(), want)
		}
	}
	if OutcomeOf(nil) != OutcomeApplied {
		t.Error("nil error is not applied")
	}
	if OutcomeOf(errors.New("plain")) != OutcomeUnknown {
		t.Error("a plain error is not unknown")
	}
	wrapped := fmt.Errorf("outer: %w", &Error{Status: 429, Outcome: OutcomeNotApplied})
	if OutcomeOf(wrapped) != OutcomeNotApplied {
		t.Error("outcome lost through wrapping")
	}
	var zero Outcome
	if zero != OutcomeUnknown {
		t.Error("the zero outcome is not unknown")
	}
}

// refusedURL returns a URL on which nothing listens.
func refusedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr + "/"
}

func TestDoOutcomes(t *testing.T) {
	hang := func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }
	cases := []struct {
		name    string
		script  []http.HandlerFunc
		refused bool
		req     Request
		want    Outcome
	}{
		{"2xx decoded", []http.HandlerFunc{status(200, `{"name":"x"}`)}, false, Request{Method: "POST", Body: 1}, OutcomeApplied},
		{"429", []http.HandlerFunc{status(429, `{}`)}, false, Request{Method: "POST", Body: 1}, OutcomeNotApplied},
		{"404", []http.HandlerFunc{status(404, `{}`)}, false, Request{Method: "POST", Body: 1}, OutcomeNotApplied},
		{"500", []http.HandlerFunc{status(500, `{}`)}, false, Request{Method: "POST", Body: 1}, OutcomeUnknown},
		{"undecodable 2xx", []http.HandlerFunc{status(200, `{"name":`)}, false, Request{Method: "POST", Body: 1}, OutcomeUnknown},
		{"timeout", []http.HandlerFunc{hang}, false, Request{Method: "POST", Body: 1}, OutcomeUnknown},
		{"refused", nil, true, Request{Method: "POST", Body: 1}, OutcomeNotApplied},
		{"500 then 429", []http.HandlerFunc{status(500, `{}`), status(429, `{}`)}, false, Request{Method: "POST", Body: 1, Idempotent: true}, OutcomeUnknown},
		{"429 then 404", []http.HandlerFunc{status(429, `{}`), status(404, `{}`)}, false, Request{Method: "POST", Body: 1}, OutcomeNotApplied},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.req
			if tc.refused {
				req.URL = refusedURL(t)
			} else {
				req.URL = newRecorder(t, tc.script...).srv.URL
			}
			opts := fastOptions(1)
			opts.Timeout = 100 * time.Millisecond
			err := New(opts).Do(context.Background(), req, &thing{})
			if got := OutcomeOf(err); got != tc.want {
				t.Fatalf("outcome %v, want %v (error %v)", got, tc.want, err)
			}
		})
	}
}

func TestDoErrorCarriesRetryAfter(t *testing.T) {
	r := newRecorder(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	err := New(fastOptions(0)).Do(context.Background(), Request{Method: "GET", URL: r.srv.URL}, nil)
	var he *Error
	if !errors.As(err, &he) || he.Outcome != OutcomeNotApplied || he.RetryAfter != 7*time.Second {
		t.Fatalf("got %#v", err)
	}
}

func TestDoObservesEveryAttempt(t *testing.T) {
	type obs struct {
		op     string
		status int
	}
	var mu sync.Mutex
	var got []obs
	opts := fastOptions(2)
	opts.Observe = func(op string, status int, elapsed time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		if elapsed < 0 {
			t.Errorf("negative elapsed %v", elapsed)
		}
		got = append(got, obs{op, status})
	}
	r := newRecorder(t, status(503, ``), status(200, `{"name":"x"}`))
	if err := New(opts).Do(context.Background(), Request{Op: "probe", Method: "GET", URL: r.srv.URL}, &thing{}); err != nil {
		t.Fatal(err)
	}
	if err := New(opts).Do(context.Background(), Request{Op: "refused", Method: "GET", URL: refusedURL(t)}, nil); err == nil {
		t.Fatal("want an error")
	}
	want := []obs{{"probe", 503}, {"probe", 200}, {"refused", 0}, {"refused", 0}, {"refused", 0}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("observed %v, want %v", got, want)
	}
}

func TestLongRetryAfterFailsAtOnceCarryingTheWait(t *testing.T) {
	date := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	for _, value := range []string{"600", date} {
		r := newRecorder(t, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Retry-After", value)
			w.WriteHeader(http.StatusTooManyRequests)
		}, status(200, `{}`))
		opts := fastOptions(3)
		opts.MaxRetryAfter = time.Minute
		err := New(opts).Do(context.Background(), Request{Op: "op", Method: "POST", URL: r.srv.URL, Body: 1}, nil)
		var he *Error
		if !errors.As(err, &he) || he.RetryAfter < 9*time.Minute || he.Outcome != OutcomeNotApplied || r.count() != 1 {
			t.Fatalf("Retry-After %s: %d requests, error %#v", value, r.count(), err)
		}
		if !strings.Contains(err.Error(), "the upstream asks to wait") {
			t.Fatalf("error text %q does not carry the wait", err.Error())
		}
	}

	// A wait within MaxRetryAfter but past the caller's deadline fails too.
	r := newRecorder(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusServiceUnavailable)
	}, status(200, `{}`))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	opts := fastOptions(3)
	opts.MaxRetryAfter = time.Minute
	err := New(opts).Do(ctx, Request{Method: "GET", URL: r.srv.URL}, nil)
	var he *Error
	if !errors.As(err, &he) || he.RetryAfter != 30*time.Second || he.Outcome != OutcomeUnknown || r.count() != 1 {
		t.Fatalf("%d requests, error %#v", r.count(), err)
	}
}

func TestFormFuncBuildsEveryAttemptAfresh(t *testing.T) {
	r := newRecorder(t, status(503, ``), status(503, ``), status(200, `{}`))
	n := 0
	fresh := func() (url.Values, error) {
		n++
		return url.Values{"grant_type": {"client_credentials"}, "client_assertion": {fmt.Sprintf("one-time-%d", n)}}, nil
	}
	if err := New(fastOptions(3)).Do(context.Background(), Request{Method: "POST", URL: r.srv.URL, FormFunc: fresh, Idempotent: true}, nil); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i, b := range r.bodies {
		v, _ := url.ParseQuery(b)
		a := v.Get("client_assertion")
		if a == "" || seen[a] || r.reqs[i].Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			t.Fatalf("attempt %d sent %q (content type %q)", i+1, b, r.reqs[i].Header.Get("Content-Type"))
		}
		seen[a] = true
	}
	if len(seen) != 3 {
		t.Fatalf("%d distinct forms for 3 attempts", len(seen))
	}
}

// authTransport adds a bearer token the caller never saw, as oauth2 does.
type authTransport struct{ token string }

func (a authTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+a.token)
	return http.DefaultTransport.RoundTrip(r)
}

func TestErrorHidesHeadersATransportAdded(t *testing.T) {
	const token = "tok_added_by_the_transport_123"
	r := newRecorder(t, func(w http.ResponseWriter, req *http.Request) {
		w.WriteHeader(401)
		_, _ = w.Write([]byte(`{"message":"bad ` + req.Header.Get("Authorization") + `"}`))
	})
	opts := fastOptions(0)
	opts.Transport = authTransport{token}
	err := New(opts).Do(context.Background(), Request{Method: "GET", URL: r.srv.URL}, nil)
	if err == nil || strings.Contains(err.Error(), token) || !strings.Contains(err.Error(), redacted) {
		t.Fatalf("error %v", err)
	}
}

func TestTLSFailureIsNotAppliedAndNotRetried(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	t.Cleanup(srv.Close)
	// The default transport does not trust the test server's certificate.
	err := New(fastOptions(2)).Do(context.Background(), Request{Method: "POST", URL: srv.URL, Body: 1}, nil)
	var he *Error
	if !errors.As(err, &he) || he.Outcome != OutcomeNotApplied || he.Attempts != 1 || hits.Load() != 0 {
		t.Fatalf("%d requests served, error %#v", hits.Load(), err)
	}
}

// failingLogin answers its first request from the server, then fails as a
// login under the request would.
type failingLogin struct {
	login *Error
	calls atomic.Int32
}

func (f *failingLogin) RoundTrip(r *http.Request) (*http.Response, error) {
	if f.calls.Add(1) > 1 {
		return nil, f.login
	}
	return http.DefaultTransport.RoundTrip(r)
}

func TestAFailedLoginBelowARequest(t *testing.T) {
	login := &Error{Op: "login", Status: 401, Outcome: OutcomeNotApplied, Attempts: 1}
	r := newRecorder(t, status(500, `{}`))
	opts := fastOptions(2)
	opts.Transport = &failingLogin{login: login}
	// After an attempt that may have been carried out, the call is unknown.
	err := New(opts).Do(context.Background(), Request{Method: "POST", URL: r.srv.URL, Body: 1, Idempotent: true}, nil)
	if OutcomeOf(err) != OutcomeUnknown || !errors.Is(err, login) || r.count() != 1 {
		t.Fatalf("after a 500: %d requests, error %v", r.count(), err)
	}
	// As the first attempt, the login's own error, not retried.
	failing := &failingLogin{login: login}
	failing.calls.Store(1)
	opts.Transport = failing
	err = New(opts).Do(context.Background(), Request{Method: "POST", URL: r.srv.URL, Body: 1}, nil)
	if err != error(login) || failing.calls.Load() != 2 {
		t.Fatalf("%d attempts, error %v", failing.calls.Load()-1, err)
	}
}
