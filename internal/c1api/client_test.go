package c1api

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/httpx"
)

var epoch = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// fakeC1 serves the token endpoint and the credential API.
type fakeC1 struct {
	*server
	t      *testing.T
	pub    ed25519.PublicKey
	secret string
	clock  *fakeClock

	mu         sync.Mutex
	issued     int
	valid      map[string]bool
	expiresIn  any
	tokenFail  func(w http.ResponseWriter) bool
	assertions []string
}

func newFakeC1(t *testing.T) *fakeC1 {
	pub, secret := testKey(t)
	f := &fakeC1{server: newServer(t), t: t, pub: pub, secret: secret, clock: &fakeClock{t: epoch}, valid: map[string]bool{}, expiresIn: 600}
	f.mux.HandleFunc("POST /auth/v1/token", f.token)
	return f
}

func (f *fakeC1) client(t *testing.T) *Client {
	t.Helper()
	c, err := New(Config{ServerURL: f.srv.URL, ClientID: testClientID, ClientSecret: f.secret, HTTP: fastHTTP(), Now: f.clock.Now})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// token checks the client-credentials request and its JWT assertion.
func (f *fakeC1) token(w http.ResponseWriter, r *http.Request) {
	t := f.t
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		t.Errorf("token request content type %q", ct)
	}
	if r.Header.Get("Authorization") != "" {
		t.Error("token request carries an Authorization header")
	}
	if err := r.ParseForm(); err != nil {
		t.Errorf("parse form: %v", err)
	}
	form := r.PostForm
	for k, want := range map[string]string{
		"grant_type":            "client_credentials",
		"client_id":             testClientID,
		"client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
	} {
		if got := form.Get(k); got != want {
			t.Errorf("form %s = %q, want %q", k, got, want)
		}
	}
	if len(form) != 4 {
		t.Errorf("form has %d fields, want 4: %v", len(form), keys(form))
	}
	if strings.Contains(form.Encode(), strings.TrimPrefix(f.secret, "secret-token:conductorone.com:v1:")) {
		t.Error("the client secret was sent")
	}
	assertion := form.Get("client_assertion")
	f.checkAssertion(assertion)

	f.mu.Lock()
	f.assertions = append(f.assertions, assertion)
	fail := f.tokenFail
	f.mu.Unlock()
	if fail != nil && fail(w) {
		return
	}
	f.mu.Lock()
	f.issued++
	tok := fmt.Sprintf("access-%d", f.issued)
	f.valid[tok] = true
	exp := f.expiresIn
	f.mu.Unlock()
	writeJSON(w, 200, map[string]any{"access_token": tok, "token_type": "bearer", "expires_in": exp})
}

// checkFreshAssertions fails the test unless every token request carried a
// different assertion with a different jti and header nonce.
func (f *fakeC1) checkFreshAssertions() {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	seen := map[string]bool{}
	for _, a := range f.assertions {
		tok, err := jwt.ParseSigned(a, []jose.SignatureAlgorithm{jose.EdDSA})
		if err != nil {
			f.t.Fatal(err)
		}
		var c jwt.Claims
		if err := tok.UnsafeClaimsWithoutVerification(&c); err != nil {
			f.t.Fatal(err)
		}
		for _, v := range []string{"assertion " + a, "jti " + c.ID, "nonce " + tok.Headers[0].Nonce} {
			if seen[v] || strings.HasSuffix(v, " ") {
				f.t.Fatalf("%d token requests: %s empty or sent twice", len(f.assertions), strings.Fields(v)[0])
			}
			seen[v] = true
		}
	}
}

func keys(v url.Values) []string {
	var out []string
	for k := range v {
		out = append(out, k)
	}
	return out
}

func (f *fakeC1) checkAssertion(assertion string) {
	t := f.t
	tok, err := jwt.ParseSigned(assertion, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Errorf("assertion does not parse as an EdDSA JWT: %v", err)
		return
	}
	h := tok.Headers[0]
	if h.Algorithm != "EdDSA" || h.Nonce == "" {
		t.Errorf("assertion header alg %q nonce %q", h.Algorithm, h.Nonce)
	}
	var c jwt.Claims
	if err := tok.Claims(f.pub, &c); err != nil {
		t.Errorf("assertion signature does not verify: %v", err)
		return
	}
	now := f.clock.Now()
	if c.Issuer != testClientID || c.Subject != testClientID {
		t.Errorf("iss %q sub %q", c.Issuer, c.Subject)
	}
	if len(c.Audience) != 1 || c.Audience[0] != "127.0.0.1" {
		t.Errorf("aud %v, want the token host without port", c.Audience)
	}
	iat, nbf, exp := c.IssuedAt.Time(), c.NotBefore.Time(), c.Expiry.Time()
	if !iat.Equal(now) || !nbf.Equal(now.Add(-2*time.Minute)) || !exp.Equal(now.Add(2*time.Minute)) {
		t.Errorf("iat %v nbf %v exp %v for now %v", iat, nbf, exp, now)
	}
	if exp.Sub(iat) > 5*time.Minute || exp.Sub(nbf) > 5*time.Minute {
		t.Errorf("assertion window too long")
	}
	if err := c.ValidateWithLeeway(jwt.Expected{Issuer: testClientID, AnyAudience: jwt.Audience{"127.0.0.1"}, Time: now}, 0); err != nil {
		t.Errorf("assertion invalid at now: %v", err)
	}
}

// authorized reports whether r carries a token the fake issued and still
// honours.
func (f *fakeC1) authorized(r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.mu.Lock()
	defer f.mu.Unlock()
	return ok && f.valid[tok]
}

// serveGetWithToken serves GET credPath to callers with a valid token.
func (f *fakeC1) serveGetWithToken() {
	f.mux.HandleFunc("GET "+credPath, func(w http.ResponseWriter, r *http.Request) {
		if !f.authorized(r) {
			writeJSON(w, 401, map[string]any{"message": "unauthenticated"})
			return
		}
		writeJSON(w, 200, map[string]any{"credential": fullCredential("")})
	})
}

const credPath = "/api/v1/apps/app%2F1/connectors/conn%201/credentials/cred-1"

func fullCredential(secret string) map[string]any {
	c := map[string]any{
		"id": "cred-2", "appId": "app/1", "connectorId": "conn 1", "clientId": "new@acme.conductor.one/pcc",
		"displayName": "vault", "createdAt": "2025-06-01T12:00:00.5Z", "expiresTime": nil,
		"updatedAt": "2025-06-01T12:00:00Z", "lastUsedAt": nil,
	}
	if secret != "" {
		c["clientSecret"] = secret
	}
	return c
}

func TestClientCredentialsAssertionAndTokenReuse(t *testing.T) {
	// oauth2 decides reuse on the real clock, so the lifetimes lie either
	// side of the one-minute early refresh instead of waiting for one.
	for _, tc := range []struct {
		expiresIn any
		fetches   int
	}{
		{600, 1},   // one login for many calls within a token's life
		{120, 1},   // not refreshed too early: only in its last minute
		{59, 3},    // in its last minute: a new token for every call
		{nil, 1},   // no expiry: reused until a 401
		{"600", 1}, // a numeric string is accepted
	} {
		f := newFakeC1(t)
		f.expiresIn = tc.expiresIn
		f.serveGetWithToken()
		c := f.client(t)
		for i := 0; i < 3; i++ {
			if _, err := c.GetCredential(context.Background(), "app/1", "conn 1", "cred-1"); err != nil {
				t.Fatalf("expires_in %v: GetCredential %d: %v", tc.expiresIn, i, err)
			}
		}
		if n := f.count("POST /auth/v1/token"); n != tc.fetches {
			t.Fatalf("expires_in %v: %d token fetches for 3 calls, want %d", tc.expiresIn, n, tc.fetches)
		}
		f.checkFreshAssertions()
	}
}

func TestTokenReplacedOnTheEngineClock(t *testing.T) {
	f := newFakeC1(t)
	f.serveGetWithToken()
	c := f.client(t)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := c.GetCredential(ctx, "app/1", "conn 1", "cred-1"); err != nil {
			t.Fatalf("GetCredential %d: %v", i, err)
		}
	}
	if n := f.count("POST /auth/v1/token"); n != 1 {
		t.Fatalf("%d token fetches for 3 calls, want 1", n)
	}
	// 600s token, refreshed one minute early.
	f.clock.Add(8*time.Minute + 59*time.Second)
	if _, err := c.GetCredential(ctx, "app/1", "conn 1", "cred-1"); err != nil {
		t.Fatal(err)
	}
	if n := f.count("POST /auth/v1/token"); n != 1 {
		t.Fatalf("token refreshed too early (%d fetches)", n)
	}
	f.clock.Add(2 * time.Second)
	if _, err := c.GetCredential(ctx, "app/1", "conn 1", "cred-1"); err != nil {
		t.Fatal(err)
	}
	if n, calls := f.count("POST /auth/v1/token"), f.count("GET "+credPath); n != 2 || calls != 5 {
		t.Fatalf("%d token fetches and %d calls after the refresh time, want 2 and 5 (no 401)", n, calls)
	}
	if f.assertions[0] == f.assertions[1] {
		t.Fatal("assertion reused instead of signed afresh")
	}
}

func TestTokenEndpointAnswersThatAreNoToken(t *testing.T) {
	for name, answer := range map[string]map[string]any{
		"no token":      {"token_type": "bearer", "expires_in": 60},
		"not bearer":    {"access_token": "a", "token_type": "mac"},
		"word lifetime": {"access_token": "a", "expires_in": "soon"},
	} {
		f := newFakeC1(t)
		f.tokenFail = func(w http.ResponseWriter) bool { writeJSON(w, 200, answer); return true }
		f.mux.HandleFunc("POST "+credPath, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, map[string]any{}) })
		err := f.client(t).RevokeCredential(context.Background(), "app/1", "conn 1", "cred-1")
		if err == nil || !strings.Contains(err.Error(), "c1 login") || httpx.OutcomeOf(err) != httpx.OutcomeNotApplied {
			t.Errorf("%s: got %v", name, err)
		}
		if n := f.count("POST " + credPath); n != 0 {
			t.Errorf("%s: the API was called without a token", name)
		}
	}
}

func TestConcurrentCallsShareOneTokenFetch(t *testing.T) {
	f := newFakeC1(t)
	f.mux.HandleFunc("POST "+credPath, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, map[string]any{}) })
	c := f.client(t)
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.RevokeCredential(context.Background(), "app/1", "conn 1", "cred-1"); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := f.count("POST /auth/v1/token"); n != 1 {
		t.Fatalf("%d token fetches for 10 concurrent calls, want 1", n)
	}
}

func TestStale401RefetchesTokenOnce(t *testing.T) {
	f := newFakeC1(t)
	f.expiresIn = "3600" // numeric string is accepted
	f.mux.HandleFunc("GET "+credPath, func(w http.ResponseWriter, r *http.Request) {
		if !f.authorized(r) {
			writeJSON(w, 401, map[string]any{"message": "token revoked"})
			return
		}
		writeJSON(w, 200, map[string]any{"credential": fullCredential("")})
	})
	c := f.client(t)
	ctx := context.Background()
	if _, err := c.GetCredential(ctx, "app/1", "conn 1", "cred-1"); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.valid = map[string]bool{} // the server forgets every token
	f.mu.Unlock()
	if _, err := c.GetCredential(ctx, "app/1", "conn 1", "cred-1"); err != nil {
		t.Fatalf("after a stale token: %v", err)
	}
	if n, calls := f.count("POST /auth/v1/token"), f.count("GET "+credPath); n != 2 || calls != 3 {
		t.Fatalf("%d token fetches and %d calls, want 2 and 3", n, calls)
	}

	// A fresh token that is refused is not retried again.
	f.mux.HandleFunc("POST "+credPath, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 401, map[string]any{"message": "no"})
	})
	f.mu.Lock()
	f.valid = map[string]bool{}
	f.mu.Unlock()
	err := c.RevokeCredential(ctx, "app/1", "conn 1", "cred-1")
	if httpx.StatusOf(err) != 401 {
		t.Fatalf("want 401, got %v", err)
	}
	if n, calls := f.count("POST /auth/v1/token"), f.count("POST "+credPath); n != 3 || calls != 2 {
		t.Fatalf("%d token fetches and %d revoke calls, want 3 and 2", n, calls)
	}
}

func TestLoginFailureHidesSecrets(t *testing.T) {
	f := newFakeC1(t)
	f.tokenFail = func(w http.ResponseWriter) bool {
		f.mu.Lock()
		echo := f.assertions[len(f.assertions)-1]
		f.mu.Unlock()
		writeJSON(w, 401, map[string]any{"error": "invalid_client", "error_description": "assertion rejected: " + echo})
		return true
	}
	c := f.client(t)
	_, err := c.RotateCredential(context.Background(), "app/1", "conn 1")
	if err == nil {
		t.Fatal("want an error")
	}
	text := err.Error()
	if text != "c1 login: POST /auth/v1/token: 401 Unauthorized: invalid_client: assertion rejected: [redacted] (after 1 attempt)" {
		t.Fatalf("error text %q", text)
	}
	var he *httpx.Error
	if !errors.As(err, &he) || he.Status != 401 || httpx.StatusOf(err) != 401 {
		t.Fatalf("no *httpx.Error with status 401 in %v", err)
	}
	f.mu.Lock()
	assertion := f.assertions[0]
	f.mu.Unlock()
	key := strings.TrimPrefix(f.secret, "secret-token:conductorone.com:v1:")
	for _, s := range []string{key, assertion, strings.Split(assertion, ".")[2]} {
		if strings.Contains(text, s) || strings.Contains(he.Error(), s) {
			t.Fatalf("login error leaks a secret: %q", text)
		}
	}
	if n := f.count("POST /auth/v1/token"); n != 1 {
		t.Fatalf("401 from the token endpoint retried: %d fetches", n)
	}
}

func TestTokenEndpoint503IsRetried(t *testing.T) {
	f := newFakeC1(t)
	fails := 1
	f.tokenFail = func(w http.ResponseWriter) bool {
		if fails > 0 {
			fails--
			w.WriteHeader(503)
			return true
		}
		return false
	}
	f.mux.HandleFunc("POST "+credPath, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, map[string]any{}) })
	if err := f.client(t).RevokeCredential(context.Background(), "app/1", "conn 1", "cred-1"); err != nil {
		t.Fatal(err)
	}
	if n := f.count("POST /auth/v1/token"); n != 2 {
		t.Fatalf("%d token requests, want 2", n)
	}
	f.checkFreshAssertions()
}

func TestRotateParsesBothAnswerShapes(t *testing.T) {
	cases := map[string]map[string]any{
		"nested":    {"credential": fullCredential("secret-token:conductorone.com:v1:NEW")},
		"top-level": {"credential": fullCredential(""), "clientSecret": "secret-token:conductorone.com:v1:NEW"},
		"flat":      fullCredential("secret-token:conductorone.com:v1:NEW"),
	}
	for name, answer := range cases {
		t.Run(name, func(t *testing.T) {
			s := newServer(t)
			var got map[string]any
			s.mux.HandleFunc("POST /api/v1/apps/connectors/credentials", func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") != "Bearer static-token" {
					t.Errorf("authorization %q", r.Header.Get("Authorization"))
				}
				_ = decodeBody(r, &got)
				writeJSON(w, 200, answer)
			})
			c, err := New(Config{ServerURL: s.srv.URL + "/", AccessToken: "Bearer static-token", HTTP: fastHTTP()})
			if err != nil {
				t.Fatal(err)
			}
			cred, err := c.RotateCredential(context.Background(), "app/1", "conn 1")
			if err != nil {
				t.Fatal(err)
			}
			if got["appId"] != "app/1" || got["connectorId"] != "conn 1" || len(got) != 2 {
				t.Fatalf("request body %v", got)
			}
			want := Credential{
				ID: "cred-2", AppID: "app/1", ConnectorID: "conn 1", ClientID: "new@acme.conductor.one/pcc",
				ClientSecret: "secret-token:conductorone.com:v1:NEW", DisplayName: "vault",
				CreatedAt: time.Date(2025, 6, 1, 12, 0, 0, 5e8, time.UTC), UpdatedAt: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC),
			}
			if *cred != want {
				t.Fatalf("got  %+v\nwant %+v", *cred, want)
			}
		})
	}
}

func TestRotateRefusesIncompleteAnswers(t *testing.T) {
	cases := map[string]string{
		"no secret": `{"credential":{"id":"cred-2"}}`,
		"no id":     `{"credential":{"clientSecret":"secret-token:conductorone.com:v1:LEAKME"}}`,
		"malformed": `{"credential":{"id":"cred-2","clientSecret":"secret-token:conductorone.com:v1:LEAKME"`,
	}
	for name, body := range cases {
		s := newServer(t)
		s.mux.HandleFunc("POST /api/v1/apps/connectors/credentials", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(200)
			_, _ = w.Write([]byte(body))
		})
		c, _ := New(Config{ServerURL: s.srv.URL, AccessToken: "tok", HTTP: fastHTTP()})
		_, err := c.RotateCredential(context.Background(), "a", "b")
		if err == nil || strings.Contains(err.Error(), "LEAKME") {
			t.Errorf("%s: got %v", name, err)
		}
		if n := s.count("POST /api/v1/apps/connectors/credentials"); n != 1 {
			t.Errorf("%s: rotate sent %d times, want 1", name, n)
		}
	}
}

func TestGetNeverReturnsSecret(t *testing.T) {
	s := newServer(t)
	s.mux.HandleFunc("GET "+credPath, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"credential": fullCredential("secret-token:should-not-surface")})
	})
	c, _ := New(Config{ServerURL: s.srv.URL, AccessToken: "tok", HTTP: fastHTTP()})
	cred, err := c.GetCredential(context.Background(), "app/1", "conn 1", "cred-1")
	if err != nil {
		t.Fatal(err)
	}
	if cred.ClientSecret != "" || cred.ID != "cred-2" || !cred.ExpiresTime.IsZero() || !cred.LastUsedAt.IsZero() {
		t.Fatalf("got %+v", cred)
	}
}

func TestRevoke(t *testing.T) {
	s := newServer(t)
	var body string
	s.mux.HandleFunc("POST "+credPath, func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 64)
		n, _ := r.Body.Read(b)
		body = string(b[:n])
		writeJSON(w, 200, map[string]any{})
	})
	s.mux.HandleFunc("POST /api/v1/apps/app/connectors/conn/credentials/gone", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 404, map[string]any{"code": 5, "message": "not found"})
	})
	c, _ := New(Config{ServerURL: s.srv.URL, AccessToken: "tok", HTTP: fastHTTP()})
	if err := c.RevokeCredential(context.Background(), "app/1", "conn 1", "cred-1"); err != nil {
		t.Fatal(err)
	}
	if body != "{}" {
		t.Fatalf("revoke body %q, want {}", body)
	}
	err := c.RevokeCredential(context.Background(), "app", "conn", "gone")
	if !httpx.IsNotFound(err) {
		t.Fatalf("want not found, got %v", err)
	}
	if !strings.Contains(err.Error(), "c1 revoke credential: POST /api/v1/apps/app/connectors/conn/credentials/gone: 404 Not Found") {
		t.Fatalf("error text %q", err.Error())
	}
}

func TestBearerModeDoesNotRetry401(t *testing.T) {
	s := newServer(t)
	s.mux.HandleFunc("GET "+credPath, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 401, map[string]any{"message": "bad token static-secret-token"})
	})
	c, _ := New(Config{ServerURL: s.srv.URL, AccessToken: "static-secret-token", HTTP: fastHTTP()})
	_, err := c.GetCredential(context.Background(), "app/1", "conn 1", "cred-1")
	if httpx.StatusOf(err) != 401 || s.count("GET "+credPath) != 1 {
		t.Fatalf("got %v after %d calls", err, s.count("GET "+credPath))
	}
	if strings.Contains(err.Error(), "static-secret-token") {
		t.Fatalf("error leaks the token: %v", err)
	}
}

func TestArgumentChecks(t *testing.T) {
	c, _ := New(Config{ServerURL: "https://acme.conductor.one", AccessToken: "tok"})
	ctx := context.Background()
	if _, err := c.RotateCredential(ctx, "", "b"); err == nil {
		t.Error("empty app id accepted")
	}
	if _, err := c.GetCredential(ctx, "a", "b", ".."); err == nil {
		t.Error("dot-dot id accepted")
	}
	if err := c.RevokeCredential(ctx, "a", "", "c"); err == nil {
		t.Error("empty connector id accepted")
	}
}

func TestNewValidatesConfig(t *testing.T) {
	_, secret := testKey(t)
	cases := map[string]Config{
		"no server":         {AccessToken: "t"},
		"server with path":  {ServerURL: "https://acme.conductor.one/api", AccessToken: "t"},
		"server with query": {ServerURL: "https://acme.conductor.one?x=1", AccessToken: "t"},
		"server with creds": {ServerURL: "https://u:p@acme.conductor.one", AccessToken: "t"},
		"ftp server":        {ServerURL: "ftp://acme.conductor.one", AccessToken: "t"},
		"no auth":           {ServerURL: "https://acme.conductor.one"},
		"both":              {ServerURL: "https://acme.conductor.one", AccessToken: "t", ClientID: testClientID, ClientSecret: secret},
		"id only":           {ServerURL: "https://acme.conductor.one", ClientID: testClientID},
		"bad id":            {ServerURL: "https://acme.conductor.one", ClientID: "nope", ClientSecret: secret},
		"bad secret":        {ServerURL: "https://acme.conductor.one", ClientID: testClientID, ClientSecret: "secret-token:x:v1:Zm9vYmFy"},
		"token with space":  {ServerURL: "https://acme.conductor.one", AccessToken: "abc def"},
	}
	for name, cfg := range cases {
		_, err := New(cfg)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		for _, s := range []string{secret, "Zm9vYmFy", "abc def"} {
			if strings.Contains(err.Error(), s) {
				t.Errorf("%s: error leaks input: %v", name, err)
			}
		}
	}
	if _, err := New(Config{ServerURL: "https://acme.conductor.one", ClientID: testClientID, ClientSecret: secret}); err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
}

func TestGet404NotRetried(t *testing.T) {
	s := newServer(t)
	s.mux.HandleFunc("GET "+credPath, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 404, map[string]any{"code": 5, "message": "credential not found"})
	})
	c, _ := New(Config{ServerURL: s.srv.URL, AccessToken: "tok", HTTP: fastHTTP()})
	_, err := c.GetCredential(context.Background(), "app/1", "conn 1", "cred-1")
	if !httpx.IsNotFound(err) {
		t.Fatalf("want not found, got %v", err)
	}
	if n := s.count("GET " + credPath); n != 1 {
		t.Fatalf("server saw %d requests, want 1", n)
	}
	var he *httpx.Error
	errors.As(err, &he)
	if he.Code != "5" || he.Message != "credential not found" || he.Attempts != 1 {
		t.Fatalf("parsed %+v", he)
	}
	if !strings.HasSuffix(err.Error(), "(after 1 attempt)") {
		t.Fatalf("error text %q", err.Error())
	}
}

func TestParseError(t *testing.T) {
	cases := []struct {
		body          string
		code, message string
	}{
		{`{"error":"invalid_client","error_description":"bad assertion"}`, "invalid_client", "bad assertion"},
		{`{"code":16,"message":"unauthenticated","details":[]}`, "16", "unauthenticated"},
		{`{"code":"NOT_FOUND","message":"gone"}`, "NOT_FOUND", "gone"},
		{"plain text failure", "", ""},
	}
	for _, tc := range cases {
		c, m, tr := parseError(400, []byte(tc.body))
		if c != tc.code || m != tc.message || tr != "" {
			t.Errorf("%s: got (%q, %q, %q)", tc.body, c, m, tr)
		}
	}
}
