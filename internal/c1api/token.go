package c1api

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/httpx"
)

const (
	tokenPath     = "/auth/v1/token" // the OAuth 2 token endpoint
	opLogin       = "c1 login"
	assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	// An assertion is valid from two minutes ago to two minutes ahead, as
	// in the official SDK (the server accepts at most five minutes).
	assertionLife = 2 * time.Minute
	// earlyRefresh is how long before its expiry a cached token is replaced.
	earlyRefresh = time.Minute
	// refreshAtKey is the token's extra value holding when, by login.now, it
	// is to be replaced.
	refreshAtKey = "vault-plugin-c1/refresh-at"
)

// login is the oauth2.TokenSource of client credentials: every token
// request, each retry included, carries a freshly signed JWT client
// assertion (a re-sent one could be past its life or refused as a replay).
// The client secret itself is never sent.
type login struct {
	http                         *httpx.Client
	tokenURL, audience, clientID string
	key                          ed25519.PrivateKey
	now                          func() time.Time // stamps the assertions
}

// Token fetches a token. Two clocks decide when it is replaced: oauth2
// checks Expiry, stamped from the real clock, as it always does; tokenCache
// also checks refreshAtKey, stamped from login.now, the clock the upstream's
// token lifetimes are measured on in tests (they move it by hours, never
// sleep). In production both are the real clock.
func (l *login) Token() (*oauth2.Token, error) {
	var ans struct {
		AccessToken string      `json:"access_token"`
		TokenType   string      `json:"token_type"`
		ExpiresIn   json.Number `json:"expires_in"` // a number or a numeric string
	}
	req := httpx.Request{Op: opLogin, Method: http.MethodPost, URL: l.tokenURL, FormFunc: l.form, Idempotent: true}
	if err := l.http.Do(context.Background(), req, &ans); err != nil {
		return nil, loginFailure(err)
	}
	secs, err := ans.ExpiresIn.Float64()
	switch {
	case ans.AccessToken == "":
		err = errors.New("token endpoint answer has no access_token")
	case ans.TokenType != "" && !strings.EqualFold(ans.TokenType, "bearer"):
		err = errors.New("token endpoint answered a token type other than Bearer")
	case ans.ExpiresIn != "" && (err != nil || secs < 0):
		err = errors.New("token endpoint answered an expires_in that is not a non-negative number")
	default:
		tok := &oauth2.Token{AccessToken: ans.AccessToken, TokenType: "Bearer"}
		if life := time.Duration(secs * float64(time.Second)); life > 0 {
			tok.Expiry = time.Now().Add(life)
			// By login.now it is replaced at the same time as by oauth2, or
			// half way through a life shorter than two minutes.
			tok = tok.WithExtra(map[string]any{refreshAtKey: l.now().Add(life - min(earlyRefresh, life/2))})
		}
		return tok, nil
	}
	return nil, loginFailure(err)
}

// form is the token request's form, with a new assertion: iss = sub = the
// client id, aud = the server host, a random jti and header nonce, iat now,
// nbf two minutes ago, exp two minutes ahead. Errors hold no key material.
func (l *login) form() (url.Values, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: l.key}, &jose.SignerOptions{NonceSource: randomText{}})
	if err != nil {
		return nil, fmt.Errorf("create assertion signer: %w", err)
	}
	jti, _ := randomText{}.Nonce()
	now := l.now()
	assertion, err := jwt.Signed(signer).Claims(jwt.Claims{
		Issuer: l.clientID, Subject: l.clientID, Audience: jwt.Audience{l.audience}, ID: jti,
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now.Add(-assertionLife)),
		Expiry: jwt.NewNumericDate(now.Add(assertionLife)),
	}).Serialize()
	if err != nil {
		return nil, fmt.Errorf("sign assertion: %w", err)
	}
	return url.Values{"grant_type": {"client_credentials"}, "client_id": {l.clientID},
		"client_assertion_type": {assertionType}, "client_assertion": {assertion}}, nil
}

// randomText is a jose.NonceSource of 128 random bits.
type randomText struct{}

// Nonce implements jose.NonceSource.
func (randomText) Nonce() (string, error) { return rand.Text(), nil }

// tokenCache is oauth2.ReuseTokenSourceWithExpiry over the login, so that
// concurrent callers share one fetch and a token is replaced a minute
// before it expires, or when reset drops it (after a 401).
type tokenCache struct {
	login *login
	mu    sync.Mutex
	reuse oauth2.TokenSource
}

func newTokenCache(l *login) *tokenCache {
	c := &tokenCache{login: l}
	c.reset()
	return c
}

// Token implements oauth2.TokenSource. A token that login.now says is due
// for replacement is dropped once (once for all the callers that saw it).
func (c *tokenCache) Token() (*oauth2.Token, error) {
	for try := 0; ; try++ {
		c.mu.Lock()
		reuse := c.reuse
		c.mu.Unlock()
		tok, err := reuse.Token()
		if err != nil || try > 0 {
			return tok, err
		}
		if at, ok := tok.Extra(refreshAtKey).(time.Time); !ok || c.login.now().Before(at) {
			return tok, nil
		}
		c.mu.Lock()
		if c.reuse == reuse {
			c.reuse = oauth2.ReuseTokenSourceWithExpiry(nil, c.login, earlyRefresh)
		}
		c.mu.Unlock()
	}
}

// reset drops the cached token.
func (c *tokenCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reuse = oauth2.ReuseTokenSourceWithExpiry(nil, c.login, earlyRefresh)
}

// loginError is a failed login. No API request was sent, so it says
// OutcomeNotApplied whatever happened to the token request. It unwraps to
// the *httpx.Error, so httpx.StatusOf and errors.As see the status.
type loginError struct{ err *httpx.Error }

// loginFailure makes err, a failed request or a 200 answer that is not a
// token, a *loginError.
func loginFailure(err error) error {
	var he *httpx.Error
	if !errors.As(err, &he) {
		he = &httpx.Error{Op: opLogin, Method: http.MethodPost, Path: tokenPath, Status: http.StatusOK, Attempts: 1, Err: err}
	}
	cp := *he
	cp.Outcome = httpx.OutcomeNotApplied
	return &loginError{err: &cp}
}

// Error reads "c1 login: token endpoint answered 401: <error>: <description>"
// for an answer that is not 2xx, else the *httpx.Error's text.
func (e *loginError) Error() string {
	if e.err.Status >= 200 && e.err.Status <= 299 || e.err.Status == 0 {
		return e.err.Error()
	}
	s := fmt.Sprintf("%s: token endpoint answered %d", opLogin, e.err.Status)
	for _, part := range []string{e.err.Code, e.err.Message} {
		if part != "" {
			s += ": " + part
		}
	}
	if e.err.TraceID != "" {
		s += " (trace id " + e.err.TraceID + ")"
	}
	return s
}

// Unwrap returns the *httpx.Error.
func (e *loginError) Unwrap() error { return e.err }
