package upstreamsim

import (
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type env struct {
	t   *testing.T
	s   *Server
	url string
	aud string // host without port, as the SDK sends it
}

func newEnv(t *testing.T, opts Options) *env {
	t.Helper()
	if opts.Now == nil {
		opts.Now = func() time.Time { return t0 }
	}
	s := New(opts)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	u, _ := url.Parse(ts.URL)
	return &env{t: t, s: s, url: ts.URL, aud: u.Hostname()}
}

type resp struct {
	status int
	header http.Header
	raw    string
	body   map[string]any
}

func (e *env) do(method, path string, header map[string]string, body string) resp {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	out := resp{status: res.StatusCode, header: res.Header, raw: string(b)}
	_ = json.Unmarshal(b, &out.body)
	return out
}

func (e *env) form(vals url.Values, header map[string]string) resp {
	e.t.Helper()
	h := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	for k, v := range header {
		h[k] = v
	}
	return e.do(http.MethodPost, "/auth/v1/token", h, vals.Encode())
}

func assertionForm(clientID, assertion string) url.Values {
	return url.Values{
		"grant_type":            {"client_credentials"},
		"client_id":             {clientID},
		"client_assertion_type": {JWTBearerAssertionType},
		"client_assertion":      {assertion},
	}
}

func secretForm(clientID, secret string) url.Values {
	return url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {clientID},
		"client_secret": {secret},
	}
}

// sdkClaims are the claims the official SDK signs.
func sdkClaims(clientID, aud string, now time.Time) jwt.Claims {
	return jwt.Claims{
		Issuer:    clientID,
		Subject:   clientID,
		Audience:  jwt.Audience{aud},
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now.Add(-2 * time.Minute)),
		Expiry:    jwt.NewNumericDate(now.Add(2 * time.Minute)),
	}
}

func mint(t *testing.T, alg jose.SignatureAlgorithm, key any, claims any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("nonce", randToken()))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func keyOf(t *testing.T, secret string) ed25519.PrivateKey {
	t.Helper()
	k, err := parseClientSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// token obtains an access token for a registered client with the SDK's
// assertion flow.
func (e *env) token(clientID, secret string) string {
	e.t.Helper()
	a := mint(e.t, jose.EdDSA, keyOf(e.t, secret), sdkClaims(clientID, e.aud, e.s.Now()))
	r := e.form(assertionForm(clientID, a), nil)
	if r.status != http.StatusOK {
		e.t.Fatalf("token: %d %s", r.status, r.raw)
	}
	return r.body["access_token"].(string)
}

func bearer(tok string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + tok}
}

func (e *env) rotate(tok, appID, connectorID string) resp {
	e.t.Helper()
	b, _ := json.Marshal(map[string]string{"appId": appID, "connectorId": connectorID})
	h := bearer(tok)
	h["Content-Type"] = "application/json"
	return e.do(http.MethodPost, "/api/v1/apps/connectors/credentials", h, string(b))
}

func credPath(appID, connectorID, id string) string {
	return "/api/v1/apps/" + appID + "/connectors/" + connectorID + "/credentials/" + id
}

func sub(m map[string]any, k string) map[string]any {
	v, _ := m[k].(map[string]any)
	return v
}

func wantStatus(t *testing.T, r resp, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, r.raw)
	}
}
