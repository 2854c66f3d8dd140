package upstreamsim

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

func TestFaultStatusCountAndRetryAfter(t *testing.T) {
	e := newEnv(t, Options{})
	e.s.AddBearerToken("tok")
	e.s.AddConnector("a", "c")
	e.s.InjectFault(Fault{Op: OpRotate, Status: 503, RetryAfter: "7", Count: 2})
	for range 2 {
		r := e.rotate("tok", "a", "c")
		wantStatus(t, r, http.StatusServiceUnavailable)
		if r.header.Get("Retry-After") != "7" || r.body["code"] != float64(14) {
			t.Fatalf("fault answer %v %s", r.header, r.raw)
		}
	}
	wantStatus(t, e.rotate("tok", "a", "c"), http.StatusOK)
	if n := len(e.s.Credentials("a", "c")); n != 1 {
		t.Fatalf("%d credentials; faults without Commit must not create any", n)
	}
	if e.s.Calls(OpRotate) != 3 {
		t.Fatalf("calls %d", e.s.Calls(OpRotate))
	}

	// Count 0 lasts until cleared; a custom body is sent as is.
	e.s.InjectFault(Fault{Op: OpGet, Status: 500, Body: "upstream exploded"})
	for range 3 {
		r := e.do(http.MethodGet, credPath("a", "c", "x"), bearer("tok"), "")
		if r.status != 500 || r.raw != "upstream exploded" {
			t.Fatalf("%d %q", r.status, r.raw)
		}
	}
	e.s.ClearFaults()
	wantStatus(t, e.do(http.MethodGet, credPath("a", "c", "x"), bearer("tok"), ""), http.StatusNotFound)
}

func TestFaultMalformedAndDefaults(t *testing.T) {
	e, secret := setupClient(t, Options{})
	key := GenerateAPIKey()
	e.s.AddAPIKey(key, KeyActive)
	e.s.AddBearerToken("tok")

	e.s.InjectFault(Fault{Op: OpGet, Malformed: true, Count: 1})
	r := e.do(http.MethodGet, credPath("a", "c", "x"), bearer("tok"), "")
	wantStatus(t, r, http.StatusOK)
	if json.Valid([]byte(r.raw)) || r.raw == "" {
		t.Fatalf("malformed body is valid JSON: %q", r.raw)
	}

	e.s.InjectFault(Fault{Op: OpToken, Status: 502, Count: 1})
	a := mint(t, jose.EdDSA, keyOf(t, secret), sdkClaims(clientID, e.aud, t0))
	r = e.form(assertionForm(clientID, a), nil)
	if r.status != 502 || r.body["error"] != "server_error" {
		t.Fatalf("token fault %d %s", r.status, r.raw)
	}

	e.s.InjectFault(Fault{Op: OpAny, Status: 429, RetryAfter: "3", Count: 1})
	r = e.do(http.MethodGet, connPath+"x", apiKey(key), "")
	checkEnvelope(t, r, 429, "RATE_LIMIT_EXCEEDED", "rate_limit_error")
	if r.header.Get("Retry-After") != "3" {
		t.Fatal("Retry-After")
	}
	wantStatus(t, e.do(http.MethodGet, connPath+"x", apiKey(key), ""), http.StatusNotFound)
}

func TestFaultCommit(t *testing.T) {
	e := newEnv(t, Options{})
	e.s.AddBearerToken("tok")
	e.s.AddConnector("a", "c")
	e.s.InjectFault(Fault{Op: OpRotate, Status: 500, Commit: true, Count: 1})
	wantStatus(t, e.rotate("tok", "a", "c"), 500)
	list := e.s.Credentials("a", "c")
	if len(list) != 1 || list[0].Revoked {
		t.Fatalf("commit fault: %+v", list)
	}
	e.s.InjectFault(Fault{Op: OpRevoke, Status: 504, Commit: true, Count: 1})
	wantStatus(t, e.do(http.MethodPost, credPath("a", "c", list[0].ID), bearer("tok"), "{}"), 504)
	if st, _ := e.s.Credential(list[0].ID); !st.Revoked {
		t.Fatal("commit fault did not revoke")
	}
}

func TestFaultLatencyHonoursCancellation(t *testing.T) {
	s := New(Options{Now: func() time.Time { return t0 }})
	s.AddBearerToken("tok")
	s.AddConnector("a", "c")
	s.InjectFault(Fault{Op: OpRotate, Latency: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/api/v1/apps/connectors/credentials",
		strings.NewReader(`{"appId":"a","connectorId":"c"}`))
	req.Header.Set("Authorization", "Bearer tok")
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		s.ServeHTTP(rec, req)
		close(done)
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(30 * time.Second): // failsafe only; normally returns at once
		t.Fatal("latency ignored the cancelled context")
	}
	if rec.Body.Len() != 0 || len(s.Credentials("a", "c")) != 0 {
		t.Fatalf("cancelled request was served: %q", rec.Body.String())
	}

	// A latency-only fault then serves normally.
	s.ClearFaults()
	s.InjectFault(Fault{Op: OpRotate, Latency: time.Millisecond, Count: 1})
	rec = httptest.NewRecorder()
	req = httptest.NewRequest(http.MethodPost, "/api/v1/apps/connectors/credentials",
		strings.NewReader(`{"appId":"a","connectorId":"c"}`))
	req.Header.Set("Authorization", "Bearer tok")
	s.ServeHTTP(rec, req)
	if rec.Code != 200 || len(s.Credentials("a", "c")) != 1 {
		t.Fatalf("latency fault: %d %s", rec.Code, rec.Body.String())
	}
}

func TestAdminOff(t *testing.T) {
	e := newEnv(t, Options{})
	wantStatus(t, e.do(http.MethodGet, "/_sim/calls", nil, ""), http.StatusNotFound)
	wantStatus(t, e.do(http.MethodPost, "/_sim/c1/clients", nil, `{"client_id":"x"}`), http.StatusNotFound)
}

func TestAdminRoundTrip(t *testing.T) {
	e := newEnv(t, Options{Admin: true})
	post := func(method, path, body string, status int) resp {
		t.Helper()
		r := e.do(method, path, map[string]string{"Content-Type": "application/json"}, body)
		wantStatus(t, r, status)
		return r
	}

	r := post("POST", "/_sim/c1/clients", `{"client_id":"`+clientID+`"}`, 200)
	secret := r.body["client_secret"].(string)
	if r.body["client_id"] != clientID || !strings.HasPrefix(secret, clientSecretPrefix) {
		t.Fatal(r.raw)
	}
	post("POST", "/_sim/c1/clients", `{"client_id":"`+clientID+`"}`, 409)
	post("POST", "/_sim/c1/bearer-tokens", `{"token":"static"}`, 200)
	post("POST", "/_sim/c1/connectors", `{"app_id":"a","connector_id":"c"}`, 200)
	post("PUT", "/_sim/c1/credential-ttl", `{"ttl":"4m"}`, 200)

	// The registered client works with the documented client_secret form.
	tr := e.form(secretForm(clientID, secret), nil)
	wantStatus(t, tr, 200)
	rot := e.rotate(tr.body["access_token"].(string), "a", "c")
	wantStatus(t, rot, 200)
	c := sub(rot.body, "credential")
	if c["expiresTime"] != "2026-03-01T12:04:00Z" {
		t.Fatalf("ttl via admin: %v", c["expiresTime"])
	}
	wantStatus(t, e.rotate("static", "a", "c"), 200)

	l := post("GET", "/_sim/c1/credentials?app_id=a&connector_id=c", "", 200)
	if strings.Contains(l.raw, "secret-token") {
		t.Fatal("list leaks secrets")
	}
	var list struct {
		Credentials []struct {
			ID, ClientID, ExpiresTime string
			Revoked                   bool
		} `json:"credentials"`
	}
	_ = json.Unmarshal([]byte(l.raw), &list)
	if len(list.Credentials) != 2 || list.Credentials[0].ID != c["id"] || list.Credentials[0].Revoked {
		t.Fatalf("list %s", l.raw)
	}
	if !strings.Contains(l.raw, `"client_id":"`+c["clientId"].(string)+`"`) || !strings.Contains(l.raw, `"expires_time":"2026-03-01T12:04:00Z"`) ||
		strings.Count(l.raw, `"live":true`) != 2 {
		t.Fatalf("list fields %s", l.raw)
	}
	if l := post("GET", "/_sim/c1/credentials?app_id=other", "", 200); !strings.Contains(l.raw, `"credentials":[]`) {
		t.Fatalf("filtered list %s", l.raw)
	}

	v := post("POST", "/_sim/c1/validate", `{"client_id":"`+c["clientId"].(string)+`","client_secret":"`+c["clientSecret"].(string)+`"}`, 200)
	if v.body["valid"] != true {
		t.Fatal(v.raw)
	}
	post("POST", "/_sim/clock", `{"advance":"4m"}`, 200)
	v = post("POST", "/_sim/c1/validate", `{"client_id":"`+c["clientId"].(string)+`","client_secret":"`+c["clientSecret"].(string)+`"}`, 200)
	if v.body["valid"] != false {
		t.Fatal("valid after expiry")
	}
	if clk := post("GET", "/_sim/clock", "", 200); clk.body["now"] != "2026-03-01T12:04:00Z" {
		t.Fatalf("clock %s", clk.raw)
	}
	// The list says which credentials still work: none once both expired.
	if l := post("GET", "/_sim/c1/credentials?app_id=a&connector_id=c", "", 200); strings.Contains(l.raw, `"live":true`) ||
		strings.Count(l.raw, `"live":false`) != 2 {
		t.Fatalf("live after expiry: %s", l.raw)
	}

	post("POST", "/_sim/faults", `{"op":"get","status":503,"retry_after":"2","latency":"1ms","count":1}`, 200)
	g := e.do(http.MethodGet, credPath("a", "c", "x"), bearer("static"), "")
	if g.status != 503 || g.header.Get("Retry-After") != "2" {
		t.Fatalf("fault via admin: %d", g.status)
	}
	post("POST", "/_sim/faults", `{"op":"get","status":500}`, 200)
	post("DELETE", "/_sim/faults", "", 200)
	wantStatus(t, e.do(http.MethodGet, credPath("a", "c", "x"), bearer("static"), ""), 404)
	post("POST", "/_sim/faults", `{"op":"gett","status":500}`, 400)
	post("POST", "/_sim/faults", `{"op":"get","latency":"soon"}`, 400)

	calls := post("GET", "/_sim/calls", "", 200)
	if calls.body["token"] != float64(1) || calls.body["rotate"] != float64(2) || calls.body["get"] != float64(2) ||
		calls.body["revoke"] != float64(0) || calls.body["aitronos"] != float64(0) {
		t.Fatalf("calls %s", calls.raw)
	}

	post("POST", "/_sim/aitronos/keys", `{"key":"ak_admin"}`, 200)
	post("POST", "/_sim/aitronos/keys", `{"key":"ak_paused","state":"paused"}`, 200)
	post("POST", "/_sim/aitronos/keys", `{"key":"ak_x","state":"sleepy"}`, 400)
	post("PUT", "/_sim/aitronos/connections", `{"connection_id":"conn_9","credential_id":"cred_9","status":"active",
		"access_token":"at","refresh_token":"rt","token_type":"Bearer","scope":"s","expires_in":600,
		"extra_headers":{"h":"v"},"is_redacted":false}`, 200)
	post("PUT", "/_sim/aitronos/connections", `{"connection_id":"conn_8","expires_at":"2026-03-01T13:00:00Z"}`, 200)
	post("PUT", "/_sim/aitronos/connections", `{"connection_id":"conn_7","expires_at":"tomorrow"}`, 400)
	post("PUT", "/_sim/aitronos/connections", `{"connection_id":"conn_7","expires_at":"2026-03-01T13:00:00Z","expires_in":5}`, 400)
	ar := e.do(http.MethodGet, connPath+"cred_9", apiKey("ak_admin"), "")
	wantStatus(t, ar, 200)
	if cr := sub(ar.body, "credentials"); cr["access_token"] != "at" || cr["expires_in"] != float64(600) || ar.body["status"] != "active" {
		t.Fatalf("connection via admin %s", ar.raw)
	}
	ar = e.do(http.MethodGet, connPath+"by-connection/conn_8", apiKey("ak_admin"), "")
	if ar.body["expires_at"] != "2026-03-01T13:00:00Z" || sub(ar.body, "credentials")["expires_in"] != float64(56*60) {
		t.Fatalf("expires_at via admin %s", ar.raw)
	}
	checkEnvelope(t, e.do(http.MethodGet, connPath+"cred_9", apiKey("ak_paused"), ""), 401, "API_KEY_PAUSED", "authentication_error")

	post("PUT", "/_sim/aitronos/rate-limit", `{"per_minute":1}`, 200)
	wantStatus(t, e.do(http.MethodGet, connPath+"cred_9", apiKey("ak_admin"), ""), 200)
	wantStatus(t, e.do(http.MethodGet, connPath+"cred_9", apiKey("ak_admin"), ""), 429)

	// Input checking.
	post("POST", "/_sim/c1/connectors", `{"app_id":"a","connectorId":"c"}`, 400)
	post("PUT", "/_sim/c1/credential-ttl", `{"ttl":"-1m"}`, 400)
	post("GET", "/_sim/c1/clients", "", 405)
	post("GET", "/_sim/nope", "", 404)
	post("PUT", "/_sim/c1/credential-ttl", `{"ttl":"0s"}`, 200)
	if rr := e.rotate("static", "a", "c"); sub(rr.body, "credential")["expiresTime"] != nil {
		t.Fatal("ttl 0 via admin should mean no expiry")
	}
}
