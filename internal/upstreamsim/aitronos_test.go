package upstreamsim

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

const connPath = "/v1/personal-connectors/admin/credentials/"

func aitronosEnv(t *testing.T, opts Options) (*env, string) {
	t.Helper()
	e := newEnv(t, opts)
	key := GenerateAPIKey()
	if !strings.HasPrefix(key, "ak_") || len(key) != 43 {
		t.Fatalf("key %q", key)
	}
	e.s.AddAPIKey(key, KeyActive)
	e.s.SetConnection(Connection{
		CredentialID: "cred_1", ConnectionID: "conn_1", Status: "ACTIVE", AppName: "github",
		AuthScheme: "OAUTH2", AccountEmail: "a@example.com", AccessToken: "gho_access",
		RefreshToken: "ghr_refresh", IDToken: "eyJid", TokenType: "bearer", Scope: "repo",
		BaseURL: "https://api.github.com", ExpiresAt: t0.Add(time.Hour),
		ExtraHeaders: map[string]any{"X-Extra": "1"},
	})
	return e, key
}

func apiKey(k string) map[string]string { return map[string]string{"X-API-Key": k} }

func checkEnvelope(t *testing.T, r resp, status int, code, typ string) {
	t.Helper()
	wantStatus(t, r, status)
	if r.body["success"] != false {
		t.Fatalf("success: %s", r.raw)
	}
	e := sub(r.body, "error")
	if e["code"] != code || e["type"] != typ || e["status"] != float64(status) {
		t.Fatalf("error %v, want %s/%s/%d", e, code, typ, status)
	}
	for _, k := range []string{"message", "system_message"} {
		if s, _ := e[k].(string); s == "" {
			t.Fatalf("%s empty: %s", k, r.raw)
		}
	}
	if tr, _ := e["trace_id"].(string); !strings.HasPrefix(tr, "req_") {
		t.Fatalf("trace_id %v", e["trace_id"])
	}
	if ts, _ := e["timestamp"].(string); ts == "" {
		t.Fatal("no timestamp")
	} else if _, err := time.Parse(time.RFC3339, ts); err != nil {
		t.Fatal(err)
	}
	if d, ok := e["details"].(map[string]any); !ok || len(d) != 0 {
		t.Fatalf("details %v", e["details"])
	}
	if len(e) != 8 {
		t.Fatalf("envelope has %d fields: %v", len(e), e)
	}
}

func TestAitronosAuth(t *testing.T) {
	e, key := aitronosEnv(t, Options{})
	for _, st := range []KeyState{KeyExpired, KeyDeactivated, KeyPaused, KeyNoAdmin} {
		e.s.AddAPIKey("ak_"+string(st), st)
	}
	for _, tc := range []struct {
		name   string
		h      map[string]string
		status int
		code   string
		typ    string
	}{
		{"missing", nil, 401, "AUTHENTICATION_REQUIRED", "authentication_error"},
		{"bearer is not a key", map[string]string{"Authorization": "Bearer " + key}, 401, "AUTHENTICATION_REQUIRED", "authentication_error"},
		{"unknown", apiKey("ak_unknown"), 401, "INVALID_API_KEY", "authentication_error"},
		{"expired", apiKey("ak_expired"), 401, "API_KEY_EXPIRED", "authentication_error"},
		{"deactivated", apiKey("ak_deactivated"), 401, "API_KEY_DEACTIVATED", "authentication_error"},
		{"paused", apiKey("ak_paused"), 401, "API_KEY_PAUSED", "authentication_error"},
		{"no admin", apiKey("ak_no_admin"), 403, "INSUFFICIENT_PERMISSIONS", "authorization_error"},
		{"conflicting keys", map[string]string{"X-API-Key": key, "X-Flowplate-Key": "ak_unknown"}, 401, "INVALID_API_KEY", "authentication_error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkEnvelope(t, e.do(http.MethodGet, connPath+"cred_1", tc.h, ""), tc.status, tc.code, tc.typ)
		})
	}
	for _, h := range []string{"X-API-Key", "X-Flowplate-Key", "X-Aitronos-Hub-Key"} {
		wantStatus(t, e.do(http.MethodGet, connPath+"cred_1", map[string]string{h: key}, ""), http.StatusOK)
	}
	a := sub(e.do(http.MethodGet, connPath+"cred_1", nil, "").body, "error")["trace_id"]
	b := sub(e.do(http.MethodGet, connPath+"cred_1", nil, "").body, "error")["trace_id"]
	if a == b {
		t.Fatal("trace_id reused")
	}
	checkEnvelope(t, e.do(http.MethodPost, connPath+"cred_1", apiKey(key), ""), 405, "METHOD_NOT_ALLOWED", "invalid_request_error")
}

func TestAitronosNotFound(t *testing.T) {
	e, key := aitronosEnv(t, Options{})
	for _, p := range []string{connPath + "nope", connPath + "by-connection/nope", connPath + "conn_1", connPath + "by-connection/cred_1"} {
		checkEnvelope(t, e.do(http.MethodGet, p, apiKey(key), ""), 404, "RESOURCE_NOT_FOUND", "not_found_error")
	}
}

var connectionFields = []string{
	"connection_id", "status", "app_name", "auth_scheme", "credentials", "account_email", "account_id",
	"entity_id", "auth_config_id", "is_composio_managed", "base_url", "test_request_endpoint",
	"callback_url", "id_token", "code_verifier", "extra_headers", "query_params", "extra_data",
	"expires_at", "created_at", "updated_at", "status_reason", "is_disabled", "is_redacted",
}

func TestAitronosConnection(t *testing.T) {
	e, key := aitronosEnv(t, Options{})
	r := e.do(http.MethodGet, connPath+"cred_1", apiKey(key), "")
	wantStatus(t, r, http.StatusOK)
	var keys []string
	for k := range r.body {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := slices.Clone(connectionFields)
	slices.Sort(want)
	if !slices.Equal(keys, want) {
		t.Fatalf("fields %v\nwant %v", keys, want)
	}
	c := sub(r.body, "credentials")
	if c["access_token"] != "gho_access" || c["refresh_token"] != "ghr_refresh" || c["token_type"] != "bearer" ||
		c["scope"] != "repo" || c["expires_in"] != float64(3600) {
		t.Fatalf("credentials %v", c)
	}
	if r.body["status"] != "ACTIVE" || r.body["expires_at"] != "2026-03-01T13:00:00Z" || r.body["account_id"] != nil ||
		r.body["id_token"] != "eyJid" || sub(r.body, "extra_headers")["X-Extra"] != "1" || sub(r.body, "query_params") == nil {
		t.Fatalf("answer %s", r.raw)
	}
	if rl := r.header.Get("X-RateLimit-Limit"); rl != "100" {
		t.Fatalf("X-RateLimit-Limit %q", rl)
	}

	// expires_in follows the clock; by-connection answers the same.
	e.s.Advance(10 * time.Minute)
	r = e.do(http.MethodGet, connPath+"by-connection/conn_1", apiKey(key), "")
	wantStatus(t, r, http.StatusOK)
	if sub(r.body, "credentials")["expires_in"] != float64(3000) || r.body["connection_id"] != "conn_1" {
		t.Fatalf("by-connection %s", r.raw)
	}
	e.s.Advance(time.Hour)
	r = e.do(http.MethodGet, connPath+"cred_1", apiKey(key), "")
	if sub(r.body, "credentials")["expires_in"] != float64(0) {
		t.Fatalf("expired expires_in %v", sub(r.body, "credentials")["expires_in"])
	}

	// Status in any case, disabled and redacted.
	e.s.SetConnection(Connection{
		CredentialID: "cred_1", ConnectionID: "conn_1", Status: "expired", AccessToken: "gho_access",
		RefreshToken: "ghr_refresh", IDToken: "eyJid", IsDisabled: true, IsRedacted: true,
		StatusReason: "token revoked by user",
	})
	r = e.do(http.MethodGet, connPath+"cred_1", apiKey(key), "")
	c = sub(r.body, "credentials")
	if r.body["status"] != "expired" || r.body["is_disabled"] != true || r.body["is_redacted"] != true ||
		r.body["status_reason"] != "token revoked by user" || r.body["expires_at"] != nil {
		t.Fatalf("answer %s", r.raw)
	}
	if strings.Contains(r.raw, "gho_access") || strings.Contains(r.raw, "ghr_refresh") || strings.Contains(r.raw, "eyJid") {
		t.Fatalf("redacted connection leaks secrets: %s", r.raw)
	}
	if c["access_token"] != RedactedValue || c["refresh_token"] != RedactedValue || r.body["id_token"] != RedactedValue {
		t.Fatalf("redaction %s", r.raw)
	}
	if _, ok := c["expires_in"]; ok {
		t.Fatal("expires_in without expires_at")
	}
	if e.s.Calls(OpAitronos) != 4 {
		t.Fatalf("calls %d", e.s.Calls(OpAitronos))
	}
}

func TestAitronosRateLimit(t *testing.T) {
	e, key := aitronosEnv(t, Options{AitronosRateLimit: 3})
	other := GenerateAPIKey()
	e.s.AddAPIKey(other, KeyActive)
	for i := range 3 {
		r := e.do(http.MethodGet, connPath+"cred_1", apiKey(key), "")
		wantStatus(t, r, http.StatusOK)
		if r.header.Get("X-RateLimit-Limit") != "3" || r.header.Get("X-RateLimit-Remaining") != strconv.Itoa(2-i) ||
			r.header.Get("X-RateLimit-Reset") != strconv.FormatInt(t0.Add(time.Minute).Unix(), 10) {
			t.Fatalf("headers %v", r.header)
		}
		e.s.Advance(10 * time.Second)
	}
	r := e.do(http.MethodGet, connPath+"cred_1", apiKey(key), "")
	checkEnvelope(t, r, http.StatusTooManyRequests, "RATE_LIMIT_EXCEEDED", "rate_limit_error")
	if r.header.Get("Retry-After") != "30" || r.header.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("headers %v", r.header)
	}
	// Errors carry the headers too, and other keys have their own window.
	r = e.do(http.MethodGet, connPath+"nope", apiKey(other), "")
	wantStatus(t, r, http.StatusNotFound)
	if r.header.Get("X-RateLimit-Remaining") != "2" {
		t.Fatalf("other key headers %v", r.header)
	}
	e.s.Advance(30 * time.Second)
	wantStatus(t, e.do(http.MethodGet, connPath+"cred_1", apiKey(key), ""), http.StatusOK)

	// Turning the limit off removes it and its headers.
	e.s.SetAitronosRateLimit(0)
	for range 5 {
		r = e.do(http.MethodGet, connPath+"cred_1", apiKey(key), "")
		wantStatus(t, r, http.StatusOK)
	}
	if r.header.Get("X-RateLimit-Limit") != "" {
		t.Fatal("headers with the limit off")
	}
}

func TestAitronosDefaultAndDailyLimit(t *testing.T) {
	e, key := aitronosEnv(t, Options{})
	for range DefaultAitronosRateLimit {
		wantStatus(t, e.do(http.MethodGet, connPath+"cred_1", apiKey(key), ""), http.StatusOK)
	}
	r := e.do(http.MethodGet, connPath+"cred_1", apiKey(key), "")
	checkEnvelope(t, r, http.StatusTooManyRequests, "RATE_LIMIT_EXCEEDED", "rate_limit_error")
	if r.header.Get("Retry-After") != "60" {
		t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
	}

	d, key := aitronosEnv(t, Options{AitronosRateLimit: 1000, AitronosDailyLimit: 2})
	for range 2 {
		wantStatus(t, d.do(http.MethodGet, connPath+"cred_1", apiKey(key), ""), http.StatusOK)
		d.s.Advance(time.Hour)
	}
	r = d.do(http.MethodGet, connPath+"cred_1", apiKey(key), "")
	wantStatus(t, r, http.StatusTooManyRequests)
	if r.header.Get("Retry-After") != strconv.Itoa(22*3600) {
		t.Fatalf("daily Retry-After %q", r.header.Get("Retry-After"))
	}

	off, key := aitronosEnv(t, Options{AitronosRateLimit: RateLimitOff})
	for range DefaultAitronosRateLimit + 1 {
		wantStatus(t, off.do(http.MethodGet, connPath+"cred_1", apiKey(key), ""), http.StatusOK)
	}
}
