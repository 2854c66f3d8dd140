package aitronos

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/httpx"
)

const testKey = "ak_0123456789abcdefghij0123456789abcdefghij"

var fetchedAt = time.Date(2025, 11, 15, 9, 0, 0, 0, time.UTC)

// fake is an httptest server answering one handler and recording requests.
type fake struct {
	mu   sync.Mutex
	reqs []*http.Request
	srv  *httptest.Server
}

func newFake(t *testing.T, h http.HandlerFunc) *fake {
	t.Helper()
	f := &fake{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.reqs = append(f.reqs, r.Clone(context.Background()))
		f.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fake) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reqs)
}

func (f *fake) client(t *testing.T, header string) *Client {
	t.Helper()
	c, err := New(Config{
		BaseURL:   f.srv.URL + "/",
		APIKey:    testKey,
		KeyHeader: header,
		HTTP:      httpx.Options{MaxRetries: 2, MinBackoff: time.Microsecond, MaxBackoff: 2 * time.Microsecond, MaxRetryAfter: time.Microsecond},
		Now:       func() time.Time { return fetchedAt },
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func reply(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
}

const fullAnswer = `{
  "connection_id": "conn_abc123def456",
  "status": "active",
  "app_name": "googledrive",
  "auth_scheme": "OAUTH2",
  "credentials": {"access_token": "ya29.token", "refresh_token": "1//refresh", "token_type": "Bearer",
                  "scope": "drive.readonly", "expires_in": "3599", "id_token": "ignored"},
  "account_email": "a@example.com",
  "account_id": 12345,
  "entity_id": "freddy_user_1",
  "auth_config_id": "ac_1",
  "is_composio_managed": true,
  "base_url": "https://www.googleapis.com/drive/v3",
  "id_token": "eyJhbGciOiJIUzI1NiIs",
  "extra_headers": {"X-Goog-User-Project": "p1"},
  "query_params": {"alt": "json"},
  "extra_data": {"anything": [1, 2]},
  "expires_at": "2025-11-15T10:30:00Z",
  "created_at": "2025-11-15T10:30:00.123456",
  "updated_at": 1763202600,
  "status_reason": "ok",
  "is_disabled": false,
  "is_redacted": "false"
}`

func TestByCredentialIDDecodesAnswer(t *testing.T) {
	f := newFake(t, reply(200, fullAnswer))
	conn, err := f.client(t, "").ByCredentialID(context.Background(), "cred/1 x")
	if err != nil {
		t.Fatalf("ByCredentialID: %v", err)
	}
	r := f.reqs[0]
	if r.URL.EscapedPath() != "/v1/personal-connectors/admin/credentials/cred%2F1%20x" || r.Method != "GET" {
		t.Fatalf("request %s %s", r.Method, r.URL.EscapedPath())
	}
	if r.Header.Get("X-API-Key") != testKey {
		t.Fatal("API key not sent in X-API-Key")
	}
	want := OAuthCredentials{AccessToken: "ya29.token", RefreshToken: "1//refresh", TokenType: "Bearer", Scope: "drive.readonly", ExpiresIn: 3599}
	if conn.Credentials != want {
		t.Fatalf("credentials %+v", conn.Credentials)
	}
	if conn.ConnectionID != "conn_abc123def456" || conn.Status != "ACTIVE" || conn.AccountID != "12345" ||
		conn.BaseURL != "https://www.googleapis.com/drive/v3" || conn.IDToken != "eyJhbGciOiJIUzI1NiIs" ||
		conn.StatusReason != "ok" || conn.IsDisabled || conn.IsRedacted || conn.AuthConfigID != "ac_1" {
		t.Fatalf("connection %+v", conn)
	}
	if conn.ExtraHeaders["X-Goog-User-Project"] != "p1" || conn.QueryParams["alt"] != "json" {
		t.Fatalf("maps %v %v", conn.ExtraHeaders, conn.QueryParams)
	}
	if !conn.ExpiresAt.Equal(time.Date(2025, 11, 15, 10, 30, 0, 0, time.UTC)) ||
		!conn.CreatedAt.Equal(time.Date(2025, 11, 15, 10, 30, 0, 123456000, time.UTC)) ||
		!conn.UpdatedAt.Equal(time.Unix(1763202600, 0)) || !conn.FetchedAt.Equal(fetchedAt) {
		t.Fatalf("times %v %v %v %v", conn.ExpiresAt, conn.CreatedAt, conn.UpdatedAt, conn.FetchedAt)
	}
}

func TestNullFieldsDecode(t *testing.T) {
	body := `{"connection_id":"conn_1","status":null,"app_name":null,"auth_scheme":null,"credentials":null,
	"account_email":null,"account_id":null,"entity_id":null,"auth_config_id":null,"is_composio_managed":null,
	"base_url":null,"test_request_endpoint":null,"callback_url":null,"id_token":null,"code_verifier":null,
	"extra_headers":null,"query_params":null,"extra_data":null,"expires_at":null,"created_at":null,
	"updated_at":null,"status_reason":null,"is_disabled":null,"is_redacted":true}`
	f := newFake(t, reply(200, body))
	conn, err := f.client(t, "").ByConnectionID(context.Background(), "conn_1")
	if err != nil {
		t.Fatalf("ByConnectionID: %v", err)
	}
	if f.reqs[0].URL.Path != "/v1/personal-connectors/admin/credentials/by-connection/conn_1" {
		t.Fatalf("path %s", f.reqs[0].URL.Path)
	}
	want := Connection{ConnectionID: "conn_1", IsRedacted: true, FetchedAt: fetchedAt}
	if conn.ConnectionID != want.ConnectionID || conn.Status != "" || conn.Credentials != (OAuthCredentials{}) ||
		conn.ExtraHeaders != nil || !conn.ExpiresAt.IsZero() || conn.IsDisabled || !conn.IsRedacted {
		t.Fatalf("got %+v", conn)
	}
	// Empty credentials object and absent fields decode too.
	f = newFake(t, reply(200, `{"connection_id":"conn_2","credentials":{}}`))
	if conn, err = f.client(t, "").ByConnectionID(context.Background(), "conn_2"); err != nil || conn.Credentials.ExpiresIn != 0 {
		t.Fatalf("got %+v, %v", conn, err)
	}
}

func TestKeyHeaderChoice(t *testing.T) {
	for _, h := range []string{"x-flowplate-key", "X-Aitronos-Hub-Key", "X-API-KEY"} {
		f := newFake(t, reply(200, `{"connection_id":"c"}`))
		if _, err := f.client(t, h).ByCredentialID(context.Background(), "id"); err != nil {
			t.Fatal(err)
		}
		canon, _ := ValidKeyHeader(h)
		r := f.reqs[0]
		if r.Header.Get(canon) != testKey {
			t.Errorf("%s: key not in %s", h, canon)
		}
		for _, other := range KeyHeaders {
			if other != canon && r.Header.Get(other) != "" {
				t.Errorf("%s: key also sent in %s", h, other)
			}
		}
	}
	if _, ok := ValidKeyHeader("Authorization"); ok {
		t.Fatal("Authorization accepted as a key header")
	}
}

func TestErrorEnvelope(t *testing.T) {
	body := `{"success":false,"error":{"code":"INVALID_API_KEY","message":"Invalid API key ` + testKey + `",
	"system_message":"key lookup failed","type":"authentication_error","status":401,"trace_id":"req_abc123xyz",
	"timestamp":"2025-11-11T10:30:00Z","details":{}}}`
	f := newFake(t, reply(401, body))
	_, err := f.client(t, "").ByCredentialID(context.Background(), "cred_1")
	var he *httpx.Error
	if !errors.As(err, &he) {
		t.Fatalf("want *httpx.Error, got %v", err)
	}
	if he.Status != 401 || he.Code != "INVALID_API_KEY" || he.TraceID != "req_abc123xyz" || f.count() != 1 {
		t.Fatalf("error %+v after %d requests", he, f.count())
	}
	text := err.Error()
	if !strings.Contains(text, "INVALID_API_KEY") || !strings.Contains(text, "req_abc123xyz") || !strings.Contains(text, "401") {
		t.Fatalf("error text %q", text)
	}
	if strings.Contains(text, testKey) || strings.Contains(he.Message, testKey) {
		t.Fatalf("error leaks the API key: %q", text)
	}
}

func TestParseErrorFallsBack(t *testing.T) {
	code, msg, trace := ParseError(422, []byte(`{"detail":"id must be a string"}`))
	if code != "" || msg != "id must be a string" || trace != "" {
		t.Fatalf("got %q %q %q", code, msg, trace)
	}
	_, msg, _ = ParseError(500, []byte(`{"success":false,"error":{"code":"X","system_message":"db down"}}`))
	if msg != "db down" {
		t.Fatalf("system_message not used: %q", msg)
	}
	code, msg, trace = ParseError(400, []byte(`{"success":false,"error":{"code":"INVALID_API_KEY","message":"nope","trace_id":"req_9"}}`))
	if code != "INVALID_API_KEY" || msg != "nope" || trace != "req_9" {
		t.Fatalf("envelope: got %q %q %q", code, msg, trace)
	}
	if code, msg, trace = ParseError(502, []byte("<html>bad gateway</html>")); code+msg+trace != "" {
		t.Fatalf("not an envelope: got %q %q %q", code, msg, trace)
	}
}

func TestRateLimitRetriedWithRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		retryAfter string
		requests   int
	}{
		// Within MaxRetryAfter (1µs in the test options): waited and retried.
		{"0", 2},
		// Two minutes: not shortened; the call fails at once with the wait.
		{"120", 1},
	} {
		var n int
		var mu sync.Mutex
		f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			n++
			first := n == 1
			mu.Unlock()
			if first {
				w.Header().Set("Retry-After", tc.retryAfter)
				reply(429, `{"success":false,"error":{"code":"RATE_LIMITED","message":"slow down"}}`)(w, r)
				return
			}
			reply(200, `{"connection_id":"c"}`)(w, r)
		})
		_, err := f.client(t, "").ByCredentialID(context.Background(), "id")
		if f.count() != tc.requests {
			t.Fatalf("Retry-After %s: %d requests, want %d", tc.retryAfter, f.count(), tc.requests)
		}
		var he *httpx.Error
		switch {
		case tc.requests == 2 && err != nil:
			t.Fatalf("want success after a 429, got %v", err)
		case tc.requests == 1 && (!errors.As(err, &he) || he.RetryAfter != 2*time.Minute || httpx.OutcomeOf(err) != httpx.OutcomeNotApplied):
			t.Fatalf("want a not-applied error carrying the 2m wait, got %v", err)
		}
	}
}

func TestRefusesAnswersWithUnclearMeaning(t *testing.T) {
	cases := map[string]string{
		"no connection id":     `{"status":"active"}`,
		"fractional expiry":    `{"connection_id":"c","credentials":{"expires_in":1.5}}`,
		"negative expiry":      `{"connection_id":"c","credentials":{"expires_in":"-3"}}`,
		"word expiry":          `{"connection_id":"c","credentials":{"expires_in":"soon"}}`,
		"bad time":             `{"connection_id":"c","expires_at":"tomorrow"}`,
		"bad flag":             `{"connection_id":"c","is_disabled":"maybe"}`,
		"headers not object":   `{"connection_id":"c","extra_headers":["a"]}`,
		"token is an object":   `{"connection_id":"c","credentials":{"access_token":{"v":"x"}}}`,
		"success false on 200": `{"success":false,"connection_id":"c"}`,
	}
	for name, body := range cases {
		f := newFake(t, reply(200, body))
		_, err := f.client(t, "").ByCredentialID(context.Background(), "id")
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		for _, leak := range []string{"soon", "tomorrow", "maybe", `"v":"x"`} {
			if strings.Contains(err.Error(), leak) {
				t.Errorf("%s: error quotes the value: %v", name, err)
			}
		}
	}
	f := newFake(t, reply(200, `{"connection_id":"c","is_disabled":"maybe"}`))
	_, err := f.client(t, "").ByCredentialID(context.Background(), "id")
	if !strings.Contains(err.Error(), "is_disabled") {
		t.Fatalf("error does not name the field: %v", err)
	}
}

func TestUnwrapsDataEnvelope(t *testing.T) {
	f := newFake(t, reply(200, `{"success":true,"data":{"connection_id":"c9","status":"EXPIRED"}}`))
	conn, err := f.client(t, "").ByConnectionID(context.Background(), "c9")
	if err != nil || conn.ConnectionID != "c9" || conn.Status != "EXPIRED" {
		t.Fatalf("got %+v, %v", conn, err)
	}
}

func TestNewValidatesConfig(t *testing.T) {
	cases := map[string]Config{
		"no base":        {APIKey: testKey},
		"bad scheme":     {BaseURL: "ftp://api.aitronos.com", APIKey: testKey},
		"query":          {BaseURL: "https://api.aitronos.com?x=1", APIKey: testKey},
		"no key":         {BaseURL: "https://api.aitronos.com"},
		"key with space": {BaseURL: "https://api.aitronos.com", APIKey: "ak_ abc"},
		"bad header":     {BaseURL: "https://api.aitronos.com", APIKey: testKey, KeyHeader: "Authorization"},
	}
	for name, cfg := range cases {
		_, err := New(cfg)
		if err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), testKey) || strings.Contains(err.Error(), "ak_ abc") {
			t.Errorf("%s: error leaks the key: %v", name, err)
		}
	}
	c, err := New(Config{BaseURL: "https://api.aitronos.com/prefix/", APIKey: testKey})
	if err != nil || c.base != "https://api.aitronos.com/prefix" || c.header != "X-API-Key" {
		t.Fatalf("got %+v, %v", c, err)
	}
	if _, err := c.ByCredentialID(context.Background(), ".."); err == nil {
		t.Fatal("dot-dot id accepted")
	}
}

func TestTokenExpiryFallsBackToExpiresIn(t *testing.T) {
	fetched := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	conn := &Connection{FetchedAt: fetched, Credentials: OAuthCredentials{ExpiresIn: 600}}
	if got := conn.TokenExpiry(); !got.Equal(fetched.Add(10 * time.Minute)) {
		t.Errorf("expiry from expires_in = %v", got)
	}
	conn.ExpiresAt = fetched.Add(time.Minute)
	if got := conn.TokenExpiry(); !got.Equal(conn.ExpiresAt) {
		t.Errorf("expires_at does not win: %v", got)
	}
	if got := (&Connection{}).TokenExpiry(); !got.IsZero() {
		t.Errorf("unknown expiry = %v", got)
	}
}
