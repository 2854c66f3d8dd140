package upstreamsim

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

const clientID = "vault-plugin@tenant.conductor.one/spc"

func setupClient(t *testing.T, opts Options) (*env, string) {
	t.Helper()
	e := newEnv(t, opts)
	secret, err := e.s.RegisterClient(clientID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, "secret-token:conductorone.com:v1:") {
		t.Fatalf("secret form: %q", secret)
	}
	return e, secret
}

func TestTokenAssertionAccepted(t *testing.T) {
	e, secret := setupClient(t, Options{})
	a := mint(t, jose.EdDSA, keyOf(t, secret), sdkClaims(clientID, e.aud, t0))
	r := e.form(assertionForm(clientID, a), nil)
	wantStatus(t, r, http.StatusOK)
	if r.body["token_type"] != "Bearer" || r.body["expires_in"] != float64(3600) || r.body["access_token"] == "" {
		t.Fatalf("answer %v", r.body)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("Cache-Control %q", r.header.Get("Cache-Control"))
	}
	// The token authenticates API calls.
	g := e.do(http.MethodGet, credPath("a", "c", "nope"), bearer(r.body["access_token"].(string)), "")
	wantStatus(t, g, http.StatusNotFound)
	if e.s.Calls(OpToken) != 1 || e.s.Calls(OpGet) != 1 {
		t.Fatalf("calls token=%d get=%d", e.s.Calls(OpToken), e.s.Calls(OpGet))
	}
}

func TestTokenAssertionRejected(t *testing.T) {
	e, secret := setupClient(t, Options{})
	key := keyOf(t, secret)
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	good := func() jwt.Claims { return sdkClaims(clientID, e.aud, t0) }
	with := func(f func(c *jwt.Claims)) jwt.Claims { c := good(); f(&c); return c }
	_, port, _ := strings.Cut(strings.TrimPrefix(e.url, "http://"), ":")

	cases := []struct {
		name      string
		clientID  string
		assertion string
	}{
		{"wrong aud", clientID, mint(t, jose.EdDSA, key, with(func(c *jwt.Claims) { c.Audience = jwt.Audience{"tenant.conductor.one"} }))},
		{"aud with port", clientID, mint(t, jose.EdDSA, key, with(func(c *jwt.Claims) { c.Audience = jwt.Audience{e.aud + ":" + port} }))},
		{"no aud", clientID, mint(t, jose.EdDSA, key, with(func(c *jwt.Claims) { c.Audience = nil }))},
		{"wrong key", clientID, mint(t, jose.EdDSA, otherKey, good())},
		{"wrong alg ES256", clientID, mint(t, jose.ES256, ecKey, good())},
		{"wrong alg HS256", clientID, mint(t, jose.HS256, []byte("0123456789abcdef0123456789abcdef"), good())},
		{"expired", clientID, mint(t, jose.EdDSA, key, with(func(c *jwt.Claims) {
			c.IssuedAt = jwt.NewNumericDate(t0.Add(-3 * time.Minute))
			c.NotBefore = jwt.NewNumericDate(t0.Add(-4 * time.Minute))
			c.Expiry = jwt.NewNumericDate(t0)
		}))},
		{"exp-iat over 5 min", clientID, mint(t, jose.EdDSA, key, with(func(c *jwt.Claims) {
			c.NotBefore = nil
			c.Expiry = jwt.NewNumericDate(t0.Add(5*time.Minute + time.Second))
		}))},
		{"exp-nbf over 5 min", clientID, mint(t, jose.EdDSA, key, with(func(c *jwt.Claims) {
			c.NotBefore = jwt.NewNumericDate(t0.Add(-3*time.Minute - time.Second))
		}))},
		{"iat in the future", clientID, mint(t, jose.EdDSA, key, with(func(c *jwt.Claims) {
			c.IssuedAt = jwt.NewNumericDate(t0.Add(time.Minute))
		}))},
		{"nbf in the future", clientID, mint(t, jose.EdDSA, key, with(func(c *jwt.Claims) {
			c.NotBefore = jwt.NewNumericDate(t0.Add(time.Minute))
		}))},
		{"no exp", clientID, mint(t, jose.EdDSA, key, with(func(c *jwt.Claims) { c.Expiry = nil }))},
		{"neither iat nor nbf", clientID, mint(t, jose.EdDSA, key, with(func(c *jwt.Claims) { c.IssuedAt, c.NotBefore = nil, nil }))},
		{"iss mismatch", clientID, mint(t, jose.EdDSA, key, with(func(c *jwt.Claims) { c.Issuer = "other@tenant.conductor.one/spc" }))},
		{"sub mismatch", clientID, mint(t, jose.EdDSA, key, with(func(c *jwt.Claims) { c.Subject = "other@tenant.conductor.one/spc" }))},
		{"unknown client", "ghost@tenant.conductor.one/spc", mint(t, jose.EdDSA, key, with(func(c *jwt.Claims) {
			c.Issuer, c.Subject = "ghost@tenant.conductor.one/spc", "ghost@tenant.conductor.one/spc"
		}))},
		{"not a JWS", clientID, "not.a.jws"},
		{"unsigned", clientID, unsignedJWT(good())},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.form(assertionForm(tc.clientID, tc.assertion), nil)
			wantStatus(t, r, http.StatusUnauthorized)
			if r.body["error"] != "invalid_client" || r.body["error_description"] == "" {
				t.Fatalf("body %s", r.raw)
			}
		})
	}
	// The SDK's window, and the maximum, are accepted; skew is tolerated.
	for name, c := range map[string]jwt.Claims{
		"sdk": good(),
		"exactly 5 min": with(func(c *jwt.Claims) {
			c.NotBefore = nil
			c.Expiry = jwt.NewNumericDate(t0.Add(5 * time.Minute))
		}),
		"iat within skew": with(func(c *jwt.Claims) { c.IssuedAt = jwt.NewNumericDate(t0.Add(AssertionClockSkew)) }),
	} {
		if r := e.form(assertionForm(clientID, mint(t, jose.EdDSA, key, c)), nil); r.status != http.StatusOK {
			t.Errorf("%s: %d %s", name, r.status, r.raw)
		}
	}
}

func unsignedJWT(c jwt.Claims) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(`{"alg":"none"}`)) + "." +
		enc.EncodeToString([]byte(`{"iss":"`+c.Issuer+`","sub":"`+c.Subject+`"}`)) + "."
}

func TestTokenFormRules(t *testing.T) {
	e, secret := setupClient(t, Options{})
	a := mint(t, jose.EdDSA, keyOf(t, secret), sdkClaims(clientID, e.aud, t0))
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(clientID)+":"+url.QueryEscape(secret)))

	t.Run("basic header refused", func(t *testing.T) {
		r := e.form(url.Values{"grant_type": {"client_credentials"}}, map[string]string{"Authorization": basic})
		wantStatus(t, r, http.StatusUnauthorized)
		if r.body["error"] != "invalid_client" {
			t.Fatal(r.raw)
		}
		// Even with valid body credentials, the header is refused.
		r = e.form(assertionForm(clientID, a), map[string]string{"Authorization": basic})
		wantStatus(t, r, http.StatusUnauthorized)
	})
	t.Run("json body refused", func(t *testing.T) {
		r := e.do(http.MethodPost, "/auth/v1/token", map[string]string{"Content-Type": "application/json"},
			`{"grant_type":"client_credentials","client_id":"`+clientID+`","client_secret":"`+secret+`"}`)
		wantStatus(t, r, http.StatusBadRequest)
		if r.body["error"] != "invalid_request" {
			t.Fatal(r.raw)
		}
	})
	t.Run("credentials in the query refused", func(t *testing.T) {
		q := secretForm(clientID, secret).Encode()
		r := e.do(http.MethodPost, "/auth/v1/token?"+q, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "")
		wantStatus(t, r, http.StatusBadRequest)
	})
	t.Run("GET refused", func(t *testing.T) {
		wantStatus(t, e.do(http.MethodGet, "/auth/v1/token", nil, ""), http.StatusMethodNotAllowed)
	})
	for name, tc := range map[string]struct {
		vals   url.Values
		status int
		code   string
	}{
		"missing grant_type": {url.Values{"client_id": {clientID}, "client_secret": {secret}}, 400, "invalid_request"},
		"password grant":     {url.Values{"grant_type": {"password"}, "client_id": {clientID}, "client_secret": {secret}}, 400, "unsupported_grant_type"},
		"missing client_id":  {url.Values{"grant_type": {"client_credentials"}, "client_secret": {secret}}, 400, "invalid_request"},
		"duplicate param":    {url.Values{"grant_type": {"client_credentials", "client_credentials"}, "client_id": {clientID}, "client_secret": {secret}}, 400, "invalid_request"},
		"two methods": {func() url.Values {
			v := assertionForm(clientID, a)
			v.Set("client_secret", secret)
			return v
		}(), 400, "invalid_request"},
		"wrong assertion type": {func() url.Values {
			v := assertionForm(clientID, a)
			v.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer")
			return v
		}(), 400, "invalid_request"},
		"no authentication": {url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}}, 401, "invalid_client"},
	} {
		t.Run(name, func(t *testing.T) {
			r := e.form(tc.vals, nil)
			wantStatus(t, r, tc.status)
			if r.body["error"] != tc.code {
				t.Fatalf("error %v, want %s", r.body["error"], tc.code)
			}
		})
	}
}

func TestTokenClientSecret(t *testing.T) {
	e, secret := setupClient(t, Options{})
	other, err := e.s.RegisterClient("other@tenant.conductor.one/spc")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.RegisterClient(clientID); err == nil {
		t.Fatal("duplicate registration accepted")
	}
	wantStatus(t, e.form(secretForm(clientID, secret), nil), http.StatusOK)
	rest := strings.TrimPrefix(secret, clientSecretPrefix)
	raw, _ := base64.RawURLEncoding.DecodeString(rest)
	for name, bad := range map[string]string{
		"other client's secret": other,
		"padded base64":         clientSecretPrefix + strings.TrimRight(base64.URLEncoding.EncodeToString(raw), "=") + "==",
		"bare JWK":              rest,
		"truncated":             secret[:len(secret)-4],
		"public key only": clientSecretPrefix + base64.RawURLEncoding.EncodeToString(
			[]byte(`{"kty":"OKP","crv":"Ed25519","x":"`+base64.RawURLEncoding.EncodeToString(keyOf(t, secret).Public().(ed25519.PublicKey))+`"}`)),
	} {
		r := e.form(secretForm(clientID, bad), nil)
		if r.status != http.StatusUnauthorized || r.body["error"] != "invalid_client" {
			t.Errorf("%s: %d %s", name, r.status, r.raw)
		}
	}
	if !e.s.ValidCredential(clientID, secret) || e.s.ValidCredential(clientID, other) {
		t.Fatal("ValidCredential for registered clients")
	}
}

func TestTokenExpiry(t *testing.T) {
	e, secret := setupClient(t, Options{TokenTTL: 10 * time.Minute})
	a := mint(t, jose.EdDSA, keyOf(t, secret), sdkClaims(clientID, e.aud, t0))
	r := e.form(assertionForm(clientID, a), nil)
	wantStatus(t, r, http.StatusOK)
	if r.body["expires_in"] != float64(600) {
		t.Fatalf("expires_in %v", r.body["expires_in"])
	}
	tok := r.body["access_token"].(string)
	path := credPath("a", "c", "x")
	e.s.Advance(10*time.Minute - time.Second)
	wantStatus(t, e.do(http.MethodGet, path, bearer(tok), ""), http.StatusNotFound)
	e.s.Advance(time.Second)
	r = e.do(http.MethodGet, path, bearer(tok), "")
	wantStatus(t, r, http.StatusUnauthorized)
	if r.body["code"] != float64(16) {
		t.Fatalf("body %s", r.raw)
	}
	// The old assertion has expired with the clock, too.
	wantStatus(t, e.form(assertionForm(clientID, a), nil), http.StatusUnauthorized)
}

func TestAPIAuth(t *testing.T) {
	e := newEnv(t, Options{})
	e.s.AddBearerToken("static-token")
	path := credPath("a", "c", "x")
	for name, h := range map[string]map[string]string{
		"none":          nil,
		"unknown token": bearer("nope"),
		"basic":         {"Authorization": "Basic c3RhdGljLXRva2Vu"},
		"empty bearer":  {"Authorization": "Bearer "},
		"raw token":     {"Authorization": "static-token"},
	} {
		r := e.do(http.MethodGet, path, h, "")
		if r.status != http.StatusUnauthorized || r.body["code"] != float64(16) || r.body["message"] != "unauthenticated" {
			t.Errorf("%s: %d %s", name, r.status, r.raw)
		}
	}
	wantStatus(t, e.do(http.MethodGet, path, bearer("static-token"), ""), http.StatusNotFound)
	wantStatus(t, e.do(http.MethodGet, path, map[string]string{"Authorization": "bearer static-token"}, ""), http.StatusNotFound)
	// Auth comes before everything else, also on rotate and revoke.
	wantStatus(t, e.rotate("nope", "a", "c"), http.StatusUnauthorized)
	wantStatus(t, e.do(http.MethodPost, path, nil, "{}"), http.StatusUnauthorized)
}

var clientIDRE = regexp.MustCompile(`^[a-z]+-[a-z]+-[0-9]{5}@127\.0\.0\.1:[0-9]+/pcc$`)

func TestRotateGetRevoke(t *testing.T) {
	e := newEnv(t, Options{})
	e.s.AddBearerToken("tok")
	e.s.AddConnector("app1", "conn1")

	r1 := e.rotate("tok", "app1", "conn1")
	wantStatus(t, r1, http.StatusOK)
	c1 := sub(r1.body, "credential")
	secret1, _ := c1["clientSecret"].(string)
	if !strings.HasPrefix(secret1, clientSecretPrefix) {
		t.Fatalf("clientSecret %q", secret1)
	}
	if _, top := r1.body["clientSecret"]; top {
		t.Fatal("clientSecret at top level in the current shape")
	}
	if !clientIDRE.MatchString(c1["clientId"].(string)) {
		t.Fatalf("clientId %q", c1["clientId"])
	}
	if c1["appId"] != "app1" || c1["connectorId"] != "conn1" || c1["id"] == "" || c1["displayName"] == "" {
		t.Fatalf("credential %v", c1)
	}
	if c1["createdAt"] != "2026-03-01T12:00:00Z" || c1["expiresTime"] != "2026-03-31T12:00:00Z" {
		t.Fatalf("times %v %v", c1["createdAt"], c1["expiresTime"])
	}
	id1 := c1["id"].(string)

	r2 := e.rotate("tok", "app1", "conn1")
	wantStatus(t, r2, http.StatusOK)
	c2 := sub(r2.body, "credential")
	id2 := c2["id"].(string)
	if id2 == id1 || c2["clientId"] == c1["clientId"] || c2["clientSecret"] == secret1 {
		t.Fatal("rotate did not create a new credential")
	}
	// Rotate does not revoke the earlier credential.
	if !e.s.ValidCredential(c1["clientId"].(string), secret1) || !e.s.ValidCredential(c2["clientId"].(string), c2["clientSecret"].(string)) {
		t.Fatal("both credentials should be valid")
	}

	g := e.do(http.MethodGet, credPath("app1", "conn1", id1), bearer("tok"), "")
	wantStatus(t, g, http.StatusOK)
	gc := sub(g.body, "credential")
	if _, ok := gc["clientSecret"]; ok || strings.Contains(g.raw, "secret-token") {
		t.Fatalf("get returned the secret: %s", g.raw)
	}
	if gc["id"] != id1 || gc["clientId"] != c1["clientId"] || gc["expiresTime"] != c1["expiresTime"] {
		t.Fatalf("get %v", gc)
	}

	e.s.Advance(time.Minute)
	rv := e.do(http.MethodPost, credPath("app1", "conn1", id1), bearer("tok"), "{}")
	wantStatus(t, rv, http.StatusOK)
	if strings.TrimSpace(rv.raw) != "{}" {
		t.Fatalf("revoke body %q", rv.raw)
	}
	wantStatus(t, e.do(http.MethodPost, credPath("app1", "conn1", id1), bearer("tok"), "{}"), http.StatusNotFound)
	wantStatus(t, e.do(http.MethodGet, credPath("app1", "conn1", id1), bearer("tok"), ""), http.StatusNotFound)
	if e.s.ValidCredential(c1["clientId"].(string), secret1) {
		t.Fatal("revoked credential still valid")
	}
	st, ok := e.s.Credential(id1)
	if !ok || !st.Revoked || !st.RevokedAt.Equal(t0.Add(time.Minute)) || st.Secret != secret1 {
		t.Fatalf("state %+v", st)
	}
	list := e.s.Credentials("app1", "conn1")
	if len(list) != 2 || list[0].ID != id1 || list[1].ID != id2 || list[1].Revoked {
		t.Fatalf("list %+v", list)
	}
	if e.s.Calls(OpRotate) != 2 || e.s.Calls(OpGet) != 2 || e.s.Calls(OpRevoke) != 2 {
		t.Fatal("call counts")
	}
}

func TestRotateErrors(t *testing.T) {
	e := newEnv(t, Options{})
	e.s.AddBearerToken("tok")
	e.s.AddConnector("app1", "conn1")
	wantStatus(t, e.rotate("tok", "app1", "other"), http.StatusNotFound)
	wantStatus(t, e.rotate("tok", "other", "conn1"), http.StatusNotFound)
	for name, body := range map[string]string{
		"malformed":         `{"appId":"app1",`,
		"empty":             ``,
		"array":             `[]`,
		"null":              `null`,
		"missing connector": `{"appId":"app1"}`,
		"empty connector":   `{"appId":"app1","connectorId":""}`,
		"unknown field":     `{"appId":"app1","connectorId":"conn1","extra":1}`,
		"wrong case":        `{"AppId":"app1","connectorId":"conn1"}`,
		"number":            `{"appId":1,"connectorId":"conn1"}`,
		"trailing data":     `{"appId":"app1","connectorId":"conn1"} x`,
	} {
		r := e.do(http.MethodPost, "/api/v1/apps/connectors/credentials", bearer("tok"), body)
		if r.status != http.StatusBadRequest || r.body["code"] != float64(3) {
			t.Errorf("%s: %d %s", name, r.status, r.raw)
		}
	}
	wantStatus(t, e.do(http.MethodGet, "/api/v1/apps/connectors/credentials", bearer("tok"), ""), http.StatusMethodNotAllowed)
	if n := len(e.s.Credentials("", "")); n != 0 {
		t.Fatalf("%d credentials created by failed rotates", n)
	}
}

func TestOtherConnectorIs404(t *testing.T) {
	e := newEnv(t, Options{})
	e.s.AddBearerToken("tok")
	e.s.AddConnector("app1", "conn1")
	e.s.AddConnector("app1", "conn2")
	id := sub(e.rotate("tok", "app1", "conn1").body, "credential")["id"].(string)
	wantStatus(t, e.do(http.MethodGet, credPath("app1", "conn2", id), bearer("tok"), ""), http.StatusNotFound)
	wantStatus(t, e.do(http.MethodGet, credPath("app2", "conn1", id), bearer("tok"), ""), http.StatusNotFound)
	wantStatus(t, e.do(http.MethodPost, credPath("app1", "conn2", id), bearer("tok"), "{}"), http.StatusNotFound)
	if st, _ := e.s.Credential(id); st.Revoked {
		t.Fatal("revoked through another connector")
	}
	wantStatus(t, e.do(http.MethodGet, credPath("app1", "conn1", "unknown"), bearer("tok"), ""), http.StatusNotFound)
	wantStatus(t, e.do(http.MethodPost, credPath("app1", "conn1", "unknown"), bearer("tok"), "{}"), http.StatusNotFound)
	wantStatus(t, e.do(http.MethodDelete, credPath("app1", "conn1", id), bearer("tok"), ""), http.StatusMethodNotAllowed)
}

func TestRevokeBody(t *testing.T) {
	e := newEnv(t, Options{})
	e.s.AddBearerToken("tok")
	e.s.AddConnector("a", "c")
	id := sub(e.rotate("tok", "a", "c").body, "credential")["id"].(string)
	for _, body := range []string{`{"id":"x"}`, `[]`, `{`} {
		wantStatus(t, e.do(http.MethodPost, credPath("a", "c", id), bearer("tok"), body), http.StatusBadRequest)
	}
	if st, _ := e.s.Credential(id); st.Revoked {
		t.Fatal("revoked by a bad request")
	}
	wantStatus(t, e.do(http.MethodPost, credPath("a", "c", id), bearer("tok"), ""), http.StatusOK)
}

func TestCredentialExpiry(t *testing.T) {
	e := newEnv(t, Options{CredentialTTL: time.Hour})
	e.s.AddBearerToken("tok")
	e.s.AddConnector("a", "c")
	e.s.SetCredentialTTL(4 * time.Minute)
	c := sub(e.rotate("tok", "a", "c").body, "credential")
	if c["expiresTime"] != "2026-03-01T12:04:00Z" {
		t.Fatalf("expiresTime %v", c["expiresTime"])
	}
	cid, secret := c["clientId"].(string), c["clientSecret"].(string)
	e.s.Advance(4*time.Minute - time.Second)
	if !e.s.ValidCredential(cid, secret) {
		t.Fatal("valid before expiry")
	}
	e.s.Advance(time.Second)
	if e.s.ValidCredential(cid, secret) {
		t.Fatal("valid after expiry")
	}
	wantStatus(t, e.form(secretForm(cid, secret), nil), http.StatusUnauthorized)
	// An expired credential is still readable until revoked.
	wantStatus(t, e.do(http.MethodGet, credPath("a", "c", c["id"].(string)), bearer("tok"), ""), http.StatusOK)

	e.s.SetCredentialTTL(0)
	r := e.rotate("tok", "a", "c")
	if _, ok := sub(r.body, "credential")["expiresTime"]; ok {
		t.Fatalf("expiresTime present with no TTL: %s", r.raw)
	}
	if e2 := newEnv(t, Options{CredentialTTL: NoExpiry}); e2.s.credTTL != 0 {
		t.Fatal("NoExpiry option")
	}
	if e3 := newEnv(t, Options{}); e3.s.credTTL != DefaultCredentialTTL {
		t.Fatal("default TTL")
	}
}

// A rotated credential authenticates its connector at the token endpoint, but
// may not manage credentials; revoking it ends both.
func TestConnectorCredentialAtTokenEndpoint(t *testing.T) {
	e := newEnv(t, Options{})
	e.s.AddBearerToken("tok")
	e.s.AddConnector("a", "c")
	c := sub(e.rotate("tok", "a", "c").body, "credential")
	cid, secret, id := c["clientId"].(string), c["clientSecret"].(string), c["id"].(string)
	e.s.Advance(time.Minute)
	ctok := e.token(cid, secret)
	if st, _ := e.s.Credential(id); !st.LastUsedAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("lastUsedAt %v", st.LastUsedAt)
	}
	r := e.do(http.MethodGet, credPath("a", "c", id), bearer(ctok), "")
	wantStatus(t, r, http.StatusForbidden)
	wantStatus(t, e.do(http.MethodPost, credPath("a", "c", id), bearer("tok"), "{}"), http.StatusOK)
	wantStatus(t, e.do(http.MethodGet, credPath("a", "c", id), bearer(ctok), ""), http.StatusUnauthorized)
	wantStatus(t, e.form(secretForm(cid, secret), nil), http.StatusUnauthorized)
}

func TestLegacyRotateShape(t *testing.T) {
	e := newEnv(t, Options{LegacyRotateShape: true})
	e.s.AddBearerToken("tok")
	e.s.AddConnector("a", "c")
	r := e.rotate("tok", "a", "c")
	wantStatus(t, r, http.StatusOK)
	if _, in := sub(r.body, "credential")["clientSecret"]; in {
		t.Fatal("clientSecret inside credential in the legacy shape")
	}
	if s, _ := r.body["clientSecret"].(string); !strings.HasPrefix(s, clientSecretPrefix) {
		t.Fatalf("top-level clientSecret %q", s)
	}
	r = e.do(http.MethodPost, "/api/v1/apps/a/connectors/c/credentials", bearer("tok"), "{}")
	wantStatus(t, r, http.StatusOK)
	if r.body["clientSecret"] == nil {
		t.Fatal(r.raw)
	}
	wantStatus(t, e.do(http.MethodPost, "/api/v1/apps/a/connectors/x/credentials", bearer("tok"), "{}"), http.StatusNotFound)

	cur := newEnv(t, Options{})
	cur.s.AddBearerToken("tok")
	cur.s.AddConnector("a", "c")
	wantStatus(t, cur.do(http.MethodPost, "/api/v1/apps/a/connectors/c/credentials", bearer("tok"), "{}"), http.StatusNotFound)
}

func TestProtoTime(t *testing.T) {
	for in, want := range map[time.Time]string{
		t0:                               "2026-03-01T12:00:00Z",
		t0.Add(time.Millisecond):         "2026-03-01T12:00:00.001Z",
		t0.Add(time.Microsecond):         "2026-03-01T12:00:00.000001Z",
		t0.Add(1):                        "2026-03-01T12:00:00.000000001Z",
		t0.In(time.FixedZone("x", 3600)): "2026-03-01T12:00:00Z",
	} {
		if got := protoTime(in); got != want {
			t.Errorf("protoTime(%v) = %s, want %s", in, got, want)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	e, secret := setupClient(t, Options{})
	e.s.AddConnector("a", "c")
	tok := e.token(clientID, secret)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := e.rotate(tok, "a", "c")
			id := sub(r.body, "credential")["id"].(string)
			e.do(http.MethodGet, credPath("a", "c", id), bearer(tok), "")
			e.do(http.MethodPost, credPath("a", "c", id), bearer(tok), "{}")
			e.s.Advance(time.Millisecond)
			_ = e.s.Credentials("a", "c")
		}()
	}
	wg.Wait()
	if n := len(e.s.Credentials("a", "c")); n != 8 {
		t.Fatalf("%d credentials", n)
	}
}

func TestTokenEndpointRefusesAReplayedAssertion(t *testing.T) {
	e, secret := setupClient(t, Options{})
	key := keyOf(t, secret)
	withID := func(id string) jwt.Claims {
		c := sdkClaims(clientID, e.aud, t0)
		c.ID = id
		return c
	}
	first := mint(t, jose.EdDSA, key, withID("jti-1"))
	if r := e.form(assertionForm(clientID, first), nil); r.status != http.StatusOK {
		t.Fatalf("first use: %d %s", r.status, r.raw)
	}
	// The same jti in a newly signed assertion, and the same assertion
	// without a jti, are replays.
	for name, a := range map[string]string{
		"same jti":              mint(t, jose.EdDSA, key, withID("jti-1")),
		"same assertion, no id": "",
	} {
		if a == "" {
			a = mint(t, jose.EdDSA, key, withID(""))
			if r := e.form(assertionForm(clientID, a), nil); r.status != http.StatusOK {
				t.Fatalf("%s: first use: %d %s", name, r.status, r.raw)
			}
		}
		r := e.form(assertionForm(clientID, a), nil)
		wantStatus(t, r, http.StatusUnauthorized)
		if r.body["error"] != "invalid_client" || !strings.Contains(r.raw, "already used") {
			t.Fatalf("%s: body %s", name, r.raw)
		}
	}
	if r := e.form(assertionForm(clientID, mint(t, jose.EdDSA, key, withID("jti-2"))), nil); r.status != http.StatusOK {
		t.Fatalf("a new jti: %d %s", r.status, r.raw)
	}
}
