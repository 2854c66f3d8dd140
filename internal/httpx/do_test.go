package httpx

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

type thing struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

func TestDoRetries503ThenSucceeds(t *testing.T) {
	r := newRecorder(t, status(503, ``), status(503, ``), status(200, `{"name":"x","count":3}`))
	var out thing
	err := New(fastOptions(3)).Do(context.Background(), Request{Op: "test get", Method: "GET", URL: r.srv.URL + "/a"}, &out)
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	if out != (thing{"x", 3}) {
		t.Fatalf("decoded %+v", out)
	}
	if r.count() != 3 {
		t.Fatalf("server saw %d requests, want 3", r.count())
	}
}

func TestDoGivesUpAfterMaxRetries(t *testing.T) {
	r := newRecorder(t, status(503, `try later`))
	err := New(fastOptions(2)).Do(context.Background(), Request{Op: "test get", Method: "GET", URL: r.srv.URL + "/a/b?x=1"}, nil)
	var he *Error
	if !errors.As(err, &he) {
		t.Fatalf("want *Error, got %T %v", err, err)
	}
	if he.Status != 503 || he.Attempts != 3 || StatusOf(err) != 503 {
		t.Fatalf("status %d attempts %d, want 503 and 3", he.Status, he.Attempts)
	}
	if r.count() != 3 {
		t.Fatalf("server saw %d requests, want 3", r.count())
	}
	want := "test get: GET /a/b: 503 Service Unavailable: try later (after 3 attempts)"
	if err.Error() != want {
		t.Fatalf("error text\n got %q\nwant %q", err.Error(), want)
	}
}

func TestDoRetryPolicyByStatus(t *testing.T) {
	cases := map[int]bool{400: false, 401: false, 403: false, 404: false, 409: false, 429: true, 500: true, 501: false, 502: true, 503: true, 504: true, 505: false}
	for code, retried := range cases {
		r := newRecorder(t, status(code, `{}`))
		err := New(fastOptions(1)).Do(context.Background(), Request{Method: "POST", URL: r.srv.URL, Body: map[string]string{}, Idempotent: true}, nil)
		want := 1
		if retried {
			want = 2
		}
		if r.count() != want || StatusOf(err) != code {
			t.Errorf("status %d: %d requests and status %d, want %d requests", code, r.count(), StatusOf(err), want)
		}
	}
}

func TestDoMalformedBodyRetriedOnlyWhenIdempotent(t *testing.T) {
	t.Run("idempotent", func(t *testing.T) {
		r := newRecorder(t, status(200, `{"name":`), status(200, `{"name":"ok"}`))
		var out thing
		err := New(fastOptions(3)).Do(context.Background(), Request{Method: "GET", URL: r.srv.URL, Idempotent: true}, &out)
		if err != nil || out.Name != "ok" || r.count() != 2 {
			t.Fatalf("err %v out %+v requests %d", err, out, r.count())
		}
	})
	t.Run("idempotent exhausted", func(t *testing.T) {
		r := newRecorder(t, status(200, `not json`))
		var out thing
		err := New(fastOptions(2)).Do(context.Background(), Request{Method: "GET", URL: r.srv.URL, Idempotent: true}, &out)
		var he *Error
		if !errors.As(err, &he) || !errors.Is(err, ErrMalformedBody) || he.Attempts != 3 || r.count() != 3 {
			t.Fatalf("err %v requests %d", err, r.count())
		}
	})
	t.Run("not idempotent", func(t *testing.T) {
		r := newRecorder(t, status(200, `{"name":`), status(200, `{"name":"ok"}`))
		out := thing{Name: "before"}
		err := New(fastOptions(3)).Do(context.Background(), Request{Method: "POST", URL: r.srv.URL, Body: struct{}{}}, &out)
		if !errors.Is(err, ErrMalformedBody) || StatusOf(err) != 200 {
			t.Fatalf("want malformed body error with status 200, got %v", err)
		}
		if r.count() != 1 {
			t.Fatalf("server saw %d requests, want 1", r.count())
		}
		if out.Name != "before" {
			t.Fatalf("failed decode changed output: %+v", out)
		}
	})
	t.Run("valid JSON of the wrong shape is not retried", func(t *testing.T) {
		r := newRecorder(t, status(200, `{"count":"many"}`))
		err := New(fastOptions(3)).Do(context.Background(), Request{Method: "GET", URL: r.srv.URL, Idempotent: true}, &thing{})
		if !errors.Is(err, ErrMalformedBody) || strings.Contains(err.Error(), "many") || strings.Contains(err.Error(), "undecodable") {
			t.Fatalf("got %v", err)
		}
		if r.count() != 1 {
			t.Fatalf("server saw %d requests, want 1", r.count())
		}
	})
}

func TestDoRefusesLargeBody(t *testing.T) {
	big := `{"name":"` + strings.Repeat("a", 200) + `"}`
	chunked := func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(200)
		w.(http.Flusher).Flush() // no Content-Length: the cap must hold while reading
		_, _ = w.Write([]byte(big))
	}
	for name, h := range map[string]http.HandlerFunc{"with length": status(200, big), "chunked": chunked} {
		r := newRecorder(t, h)
		opts := fastOptions(3)
		opts.MaxBodyBytes = 64
		err := New(opts).Do(context.Background(), Request{Method: "GET", URL: r.srv.URL, Idempotent: true}, &thing{})
		if !errors.Is(err, ErrBodyTooLarge) {
			t.Fatalf("%s: want ErrBodyTooLarge, got %v", name, err)
		}
		if r.count() != 1 {
			t.Fatalf("%s: oversized answer retried: %d requests", name, r.count())
		}
	}
	r := newRecorder(t, status(200, `{"name":"small"}`))
	opts := fastOptions(0)
	opts.MaxBodyBytes = 64
	if err := New(opts).Do(context.Background(), Request{Method: "GET", URL: r.srv.URL}, &thing{}); err != nil {
		t.Fatalf("answer under the cap: %v", err)
	}
}

func TestDoContextCancelStopsRetries(t *testing.T) {
	hit := make(chan struct{}, 10)
	r := newRecorder(t, func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(503)
		hit <- struct{}{}
	})
	opts := fastOptions(5)
	opts.MinBackoff = 1 << 40 // the retry wait would be hours
	opts.MaxBackoff = 1 << 40
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- New(opts).Do(ctx, Request{Method: "GET", URL: r.srv.URL}, nil) }()
	<-hit
	cancel()
	err := <-done
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
	var he *Error
	if !errors.As(err, &he) || he.Attempts != 1 {
		t.Fatalf("want *Error after 1 attempt, got %#v", err)
	}
	if r.count() != 1 {
		t.Fatalf("server saw %d requests, want 1", r.count())
	}
}

func TestDoRetriesACreatingRequestOnlyWhenTheUpstreamDidNotActOnIt(t *testing.T) {
	// A 503 may come from a server that acted and then failed: unknown.
	cases := map[int]bool{429: true, 503: false, 500: false, 502: false, 504: false}
	for code, retried := range cases {
		r := newRecorder(t, status(code, `{}`), status(200, `{}`))
		err := New(fastOptions(2)).Do(context.Background(), Request{Method: "POST", URL: r.srv.URL, Body: map[string]string{}}, nil)
		want := 1
		if retried {
			want = 2
		}
		if r.count() != want || (retried != (err == nil)) {
			t.Errorf("status %d: %d requests, error %v; want %d requests", code, r.count(), err, want)
		}
	}

	// A connection refused never reached the upstream: sent again.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	err = New(fastOptions(2)).Do(context.Background(), Request{Method: "POST", URL: "http://" + addr + "/", Body: map[string]string{}}, nil)
	var he *Error
	if !errors.As(err, &he) || he.Attempts != 3 {
		t.Errorf("refused connection: %v", err)
	}

	// A timeout may have reached it: not sent again.
	slow := newRecorder(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	opts := fastOptions(2)
	opts.Timeout = 50 * time.Millisecond
	err = New(opts).Do(context.Background(), Request{Method: "POST", URL: slow.srv.URL, Body: map[string]string{}}, nil)
	if err == nil || slow.count() != 1 {
		t.Errorf("timed-out creating request: %d requests, error %v", slow.count(), err)
	}
}

func TestDoResendsPostBodyIdentically(t *testing.T) {
	r := newRecorder(t, status(429, ``), status(429, ``), status(200, `{}`))
	body := map[string]string{"appId": "app-1", "connectorId": "conn-1"}
	if err := New(fastOptions(3)).Do(context.Background(), Request{Method: "POST", URL: r.srv.URL, Body: body}, nil); err != nil {
		t.Fatalf("Do: %v", err)
	}
	want := `{"appId":"app-1","connectorId":"conn-1"}`
	if len(r.bodies) != 3 {
		t.Fatalf("server saw %d requests, want 3", len(r.bodies))
	}
	for i, b := range r.bodies {
		if b != want {
			t.Errorf("attempt %d body %q, want %q", i+1, b, want)
		}
		if ct := r.reqs[i].Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("attempt %d content type %q", i+1, ct)
		}
	}
}

func TestDoSendsForm(t *testing.T) {
	r := newRecorder(t, status(200, `{}`))
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"a@b/c"}}
	if err := New(fastOptions(0)).Do(context.Background(), Request{Method: "POST", URL: r.srv.URL, FormFunc: func() (url.Values, error) { return form, nil }}, nil); err != nil {
		t.Fatalf("Do: %v", err)
	}
	got, _ := url.ParseQuery(r.bodies[0])
	if got.Get("grant_type") != "client_credentials" || got.Get("client_id") != "a@b/c" {
		t.Fatalf("form %q", r.bodies[0])
	}
	if ct := r.reqs[0].Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		t.Fatalf("content type %q", ct)
	}
}

func TestDoErrorNeverLeaksRequestSecrets(t *testing.T) {
	const token = "tok_9f8e7d6c5b4a39281706"
	const apiKey = "ak_0123456789abcdef0123456789abcdef01234567"
	const assertion = "eyJhbGciOiJFZERTQSJ9.eyJpc3MiOiJ4In0.c2lnbmF0dXJl"
	echo := func(w http.ResponseWriter, req *http.Request) {
		_ = req.ParseForm()
		msg := "you sent " + req.Header.Get("Authorization") + " " + req.Header.Get("X-API-Key") + " " + req.PostForm.Get("client_assertion")
		w.WriteHeader(400)
		_, _ = w.Write([]byte(`{"error":"bad","error_description":` + quote(msg) + `,"trace_id":` + quote(token) + `}`))
	}
	jsonEcho := func(w http.ResponseWriter, req *http.Request) {
		b := make([]byte, 1024)
		n, _ := req.Body.Read(b)
		w.WriteHeader(409)
		_, _ = w.Write(append([]byte("conflict with "), b[:n]...))
	}
	r := newRecorder(t, echo)
	h := http.Header{"Authorization": {"Bearer " + token}, "X-Api-Key": {apiKey}}
	form := url.Values{"grant_type": {"client_credentials"}, "client_assertion": {assertion}}
	err := New(fastOptions(0)).Do(context.Background(), Request{Method: "POST", URL: r.srv.URL + "/t?secret=querysecret", Header: h, FormFunc: func() (url.Values, error) { return form, nil }}, nil)
	if err == nil {
		t.Fatal("want an error")
	}
	for _, s := range []string{token, apiKey, assertion, "querysecret"} {
		if strings.Contains(err.Error(), s) {
			t.Fatalf("error text leaks a request secret: %s", err.Error())
		}
	}
	if !strings.Contains(err.Error(), redacted) {
		t.Fatalf("error text %q lacks the redaction mark", err.Error())
	}

	r2 := newRecorder(t, jsonEcho)
	body := map[string]string{"password": "hunter2-hunter2"}
	err = New(fastOptions(0)).Do(context.Background(), Request{Method: "POST", URL: r2.srv.URL, Header: h, Body: body}, nil)
	if err == nil || strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), token) {
		t.Fatalf("error text leaks the request body: %v", err)
	}
}

func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }

func TestDoNetworkErrorIsTypedAndRetried(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens now: connection refused
	err = New(fastOptions(2)).Do(context.Background(), Request{Op: "probe", Method: "GET", URL: "http://" + addr + "/p?k=querysecret"}, nil)
	var he *Error
	if !errors.As(err, &he) {
		t.Fatalf("want *Error, got %T %v", err, err)
	}
	if he.Status != 0 || he.Attempts != 3 || he.Err == nil {
		t.Fatalf("status %d attempts %d cause %v", he.Status, he.Attempts, he.Err)
	}
	var ue *url.Error
	if errors.As(err, &ue) || strings.Contains(err.Error(), "querysecret") {
		t.Fatalf("cause keeps the URL: %v", err)
	}
}

func TestDoPerAttemptTimeout(t *testing.T) {
	r := newRecorder(t, func(_ http.ResponseWriter, req *http.Request) { <-req.Context().Done() })
	opts := fastOptions(1)
	opts.Timeout = 50 * time.Millisecond // the handler never answers
	err := New(opts).Do(context.Background(), Request{Method: "GET", URL: r.srv.URL}, nil)
	var he *Error
	if !errors.As(err, &he) || he.Status != 0 || he.Attempts != 2 {
		t.Fatalf("got %v", err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("cause is not a timeout: %v", he.Err)
	}
}

func TestDoDoesNotFollowRedirects(t *testing.T) {
	target := newRecorder(t, status(200, `{}`))
	r := newRecorder(t, func(w http.ResponseWriter, req *http.Request) {
		http.Redirect(w, req, target.srv.URL, http.StatusFound)
	})
	err := New(fastOptions(0)).Do(context.Background(), Request{Method: "GET", URL: r.srv.URL, Header: http.Header{"X-API-Key": {"ak_secretsecret"}}}, nil)
	if StatusOf(err) != http.StatusFound || target.count() != 0 {
		t.Fatalf("redirect followed or not reported: %v (target hits %d)", err, target.count())
	}
}

func TestDoSetsHeaders(t *testing.T) {
	r := newRecorder(t, status(200, `{}`))
	opts := fastOptions(0)
	opts.UserAgent = "ua-test/1"
	h := http.Header{"Authorization": {"Bearer t0k3n-value"}, "Accept": {"application/vnd+json"}}
	if err := New(opts).Do(context.Background(), Request{Method: "get", URL: r.srv.URL, Header: h}, nil); err != nil {
		t.Fatal(err)
	}
	got := r.reqs[0]
	if got.Method != "GET" || got.Header.Get("User-Agent") != "ua-test/1" || got.Header.Get("Authorization") != "Bearer t0k3n-value" || got.Header.Get("Accept") != "application/vnd+json" {
		t.Fatalf("request %s %v", got.Method, got.Header)
	}
}

func TestDoRejectsBadRequests(t *testing.T) {
	c := New(fastOptions(0))
	cases := []struct {
		name string
		req  Request
		out  any
	}{
		{"body and form", Request{Method: "POST", URL: "http://x", Body: 1, FormFunc: func() (url.Values, error) { return url.Values{}, nil }}, nil},
		{"bad scheme", Request{Method: "GET", URL: "ftp://x/y"}, nil},
		{"no host", Request{Method: "GET", URL: "http:///y"}, nil},
		{"non-pointer output", Request{Method: "GET", URL: "http://x"}, thing{}},
	}
	for _, tc := range cases {
		if err := c.Do(context.Background(), tc.req, tc.out); err == nil {
			t.Errorf("%s: want an error", tc.name)
		}
	}
}

func TestDoConcurrentUse(t *testing.T) {
	r := newRecorder(t, status(200, `{"count":1}`))
	c := New(fastOptions(1))
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out thing
			errs <- c.Do(context.Background(), Request{Method: "GET", URL: r.srv.URL}, &out)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}
