package upstreamsim

import (
	"crypto/ed25519"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// handleToken is POST /auth/v1/token: the OAuth 2 client-credentials grant,
// with a JWT client assertion or the whole client secret in the form.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeOAuthError(w, http.StatusMethodNotAllowed, "invalid_request", "the token endpoint accepts POST only")
		return
	}
	if len(r.Header.Values("Authorization")) > 0 {
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client",
			"client credentials must be sent in the request body, not in the Authorization header")
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request",
			"Content-Type must be application/x-www-form-urlencoded")
		return
	}
	q := r.URL.Query()
	for _, k := range []string{"grant_type", "client_id", "client_secret", "client_assertion", "client_assertion_type"} {
		if q.Has(k) {
			writeOAuthError(w, http.StatusBadRequest, "invalid_request",
				"parameters must be sent in the request body, not in the URL")
			return
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxFormBody))
	if err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "request body unreadable or too large")
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "malformed form body")
		return
	}
	for k, v := range form {
		if len(v) > 1 {
			writeOAuthError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("parameter %q included more than once", k))
			return
		}
	}
	switch grant := form.Get("grant_type"); grant {
	case "":
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "missing grant_type")
		return
	case "client_credentials":
	default:
		writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type", "only client_credentials is supported")
		return
	}
	clientID := form.Get("client_id")
	if clientID == "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "missing client_id")
		return
	}
	assertion, secret := form.Get("client_assertion"), form.Get("client_secret")
	switch {
	case assertion != "" && secret != "":
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "more than one client authentication method")
		return
	case assertion != "" && form.Get("client_assertion_type") != JWTBearerAssertionType:
		writeOAuthError(w, http.StatusBadRequest, "invalid_request",
			"client_assertion_type must be "+JWTBearerAssertionType)
		return
	case assertion == "" && secret == "":
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "no client authentication")
		return
	}
	host := hostWithoutPort(r.Host)

	s.mu.Lock()
	now := s.nowLocked()
	p := s.principalLocked(clientID)
	var authErr error
	switch {
	case p == nil:
		authErr = errors.New("unknown client")
	case !p.usable(now):
		authErr = errors.New("client credential is revoked or expired")
	case p.root != nil && !p.root.allowsSource(r.RemoteAddr):
		authErr = errors.New("client credential may not be used from this source address")
	case assertion != "":
		authErr = s.acceptAssertionLocked(assertion, p.priv.Public().(ed25519.PublicKey), clientID, host, now)
	default:
		authErr = verifySecret(secret, p.priv)
	}
	if authErr != nil {
		s.mu.Unlock()
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client", authErr.Error())
		return
	}
	tok := randToken()
	s.tokens[tok] = &accessToken{expires: now.Add(s.tokenTTL), cred: p.cred, root: p.root}
	switch {
	case p.cred != nil:
		p.cred.lastUsedAt = now
	case p.root != nil:
		p.root.lastUsedAt = now
	}
	ttl := s.tokenTTL
	s.mu.Unlock()

	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok,
		"token_type":   "Bearer",
		"expires_in":   int64(ttl / time.Second),
	})
}

// acceptAssertionLocked verifies a client assertion and refuses a replay: an
// assertion whose jti (or, without one, the assertion itself) was accepted
// before and has not expired yet, as a real OAuth server may.
func (s *Server) acceptAssertionLocked(raw string, pub ed25519.PublicKey, clientID, host string, now time.Time) error {
	c, err := verifyAssertion(raw, pub, clientID, host, now)
	if err != nil {
		return err
	}
	for k, exp := range s.usedAssertions {
		if !now.Before(exp) {
			delete(s.usedAssertions, k)
		}
	}
	key := "jti:" + c.ID
	if c.ID == "" {
		key = "assertion:" + raw
	}
	if _, seen := s.usedAssertions[key]; seen {
		return errors.New("client_assertion was already used (replayed jti)")
	}
	s.usedAssertions[key] = c.Expiry.Time()
	return nil
}

// verifyAssertion checks a client assertion the way the token endpoint does
// and returns its claims.
func verifyAssertion(raw string, pub ed25519.PublicKey, clientID, host string, now time.Time) (*jwt.Claims, error) {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		return nil, fmt.Errorf("client_assertion is not a compact JWS signed with EdDSA: %v", err)
	}
	if len(tok.Headers) != 1 || tok.Headers[0].Algorithm != string(jose.EdDSA) {
		return nil, errors.New("client_assertion alg must be EdDSA")
	}
	var c jwt.Claims
	if err := tok.Claims(pub, &c); err != nil {
		return nil, errors.New("client_assertion signature does not verify with the client's key")
	}
	if c.Issuer != clientID {
		return nil, errors.New("client_assertion iss must equal client_id")
	}
	if c.Subject != clientID {
		return nil, errors.New("client_assertion sub must equal client_id")
	}
	if !slices.ContainsFunc(c.Audience, func(a string) bool { return strings.EqualFold(a, host) }) {
		return nil, fmt.Errorf("client_assertion aud must be %q", host)
	}
	if c.Expiry == nil {
		return nil, errors.New("client_assertion has no exp")
	}
	exp := c.Expiry.Time()
	if !now.Before(exp) {
		return nil, errors.New("client_assertion has expired")
	}
	if c.IssuedAt == nil && c.NotBefore == nil {
		return nil, errors.New("client_assertion has neither iat nor nbf")
	}
	for _, d := range []struct {
		name string
		v    *jwt.NumericDate
	}{{"iat", c.IssuedAt}, {"nbf", c.NotBefore}} {
		if d.v == nil {
			continue
		}
		t := d.v.Time()
		if t.After(now.Add(AssertionClockSkew)) {
			return nil, fmt.Errorf("client_assertion %s is in the future", d.name)
		}
		if !exp.After(t) {
			return nil, fmt.Errorf("client_assertion exp is not after %s", d.name)
		}
		if exp.Sub(t) > MaxAssertionLifetime {
			return nil, fmt.Errorf("client_assertion lifetime (exp - %s) exceeds %s", d.name, MaxAssertionLifetime)
		}
	}
	return &c, nil
}

// verifySecret checks a client_secret against the registered key.
func verifySecret(secret string, want ed25519.PrivateKey) error {
	priv, err := parseClientSecret(secret)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare(priv, want) != 1 {
		return errors.New("client_secret does not match the client's key")
	}
	return nil
}

func hostWithoutPort(hostport string) string {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return strings.ToLower(host)
}

// ---- API authentication ----
