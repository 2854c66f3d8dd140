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
	// dueKey is the token's extra value holding when, by login.now, it is
	// to be replaced.
	dueKey = "vault-plugin-c1/due"
)

// tokenCache is the API calls' oauth2.TokenSource with client credentials:
// oauth2.ReuseTokenSourceWithExpiry over the login, so that concurrent
// callers share one fetch and a token is replaced a minute before it
// expires. oauth2 checks Expiry on the real clock; tokenCache also replaces
// a token due by login.now, the clock the upstream's lifetimes are measured
// on in tests (they move it by hours, never sleep), and one that reset
// dropped (after a 401). In production both clocks are the real one.
type tokenCache struct {
	login *login
	mu    sync.Mutex
	reuse oauth2.TokenSource // nil once reset
	due   time.Time          // the cached token's due time, if any
}

// Token implements oauth2.TokenSource.
func (c *tokenCache) Token() (*oauth2.Token, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reuse == nil || !c.due.IsZero() && !c.login.now().Before(c.due) {
		c.reuse = oauth2.ReuseTokenSourceWithExpiry(nil, c.login, earlyRefresh)
	}
	tok, err := c.reuse.Token()
	if err == nil {
		c.due, _ = tok.Extra(dueKey).(time.Time)
	}
	return tok, err
}

// reset drops the cached token.
func (c *tokenCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reuse = nil
}

// login is the oauth2.TokenSource of client credentials: every token
// request, each retry included, carries a freshly signed JWT client
// assertion (a re-sent one could be past its life or refused as a replay).
// The client secret itself is never sent.
type login struct {
	http                         *httpx.Client
	tokenURL, audience, clientID string
	key                          ed25519.PrivateKey
	now                          func() time.Time // stamps the assertions and due times
}

// Token fetches a token. A failure is an *httpx.Error that says not
// applied: no API request was sent.
func (l *login) Token() (*oauth2.Token, error) {
	var ans struct {
		AccessToken string      `json:"access_token"`
		TokenType   string      `json:"token_type"`
		ExpiresIn   json.Number `json:"expires_in"` // a number or a numeric string
	}
	req := httpx.Request{Op: opLogin, Method: http.MethodPost, URL: l.tokenURL, FormFunc: l.form, Idempotent: true}
	err := l.http.Do(context.Background(), req, &ans)
	secs, nerr := ans.ExpiresIn.Float64()
	switch {
	case err != nil:
	case ans.AccessToken == "":
		err = errors.New("token endpoint answer has no access_token")
	case ans.TokenType != "" && !strings.EqualFold(ans.TokenType, "bearer"):
		err = errors.New("token endpoint answered a token type other than Bearer")
	case ans.ExpiresIn != "" && (nerr != nil || secs < 0):
		err = errors.New("token endpoint answered an expires_in that is not a non-negative number")
	default:
		tok := &oauth2.Token{AccessToken: ans.AccessToken, TokenType: "Bearer"}
		if life := time.Duration(secs * float64(time.Second)); life > 0 {
			tok.Expiry = time.Now().Add(life)
			tok = tok.WithExtra(map[string]any{dueKey: l.now().Add(life - earlyRefresh)})
		}
		return tok, nil
	}
	var he *httpx.Error
	if !errors.As(err, &he) { // a 200 answer that is not a token
		he = &httpx.Error{Op: opLogin, Method: http.MethodPost, Path: tokenPath, Status: http.StatusOK, Attempts: 1, Err: err}
	}
	failed := *he
	failed.Outcome = httpx.OutcomeNotApplied
	return nil, &failed
}

// form is the token request's form, with a new assertion: iss = sub = the
// client id, aud = the server host, a random jti and header nonce, iat now,
// nbf two minutes ago, exp two minutes ahead. Errors hold no key material.
func (l *login) form() (url.Values, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: l.key}, &jose.SignerOptions{NonceSource: randomText{}})
	if err != nil {
		return nil, fmt.Errorf("create assertion signer: %w", err)
	}
	now := l.now()
	assertion, err := jwt.Signed(signer).Claims(jwt.Claims{
		Issuer: l.clientID, Subject: l.clientID, Audience: jwt.Audience{l.audience}, ID: rand.Text(),
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
