package c1api

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/httpx"
)

// tokenPath is the C1 OAuth 2 token endpoint, relative to the server URL.
const tokenPath = "/auth/v1/token"

// maxEarlyRefresh is how long before its expiry a cached token is replaced.
const maxEarlyRefresh = time.Minute

// authorizer supplies the bearer token for API calls.
type authorizer interface {
	// token returns a bearer token and whether it came from a cache (and so
	// may be stale).
	token(ctx context.Context) (tok string, cached bool, err error)
	// invalidate drops tok from the cache, if it is still there.
	invalidate(tok string)
}

// staticToken is an operator-supplied bearer token.
type staticToken string

func (s staticToken) token(context.Context) (string, bool, error) { return string(s), false, nil }
func (staticToken) invalidate(string)                             {}

// clientCredentials fetches tokens with a signed JWT client assertion and
// caches them until shortly before they expire. One fetch serves all
// concurrent callers.
type clientCredentials struct {
	http     *httpx.Client
	tokenURL string
	audience string
	clientID string
	key      ed25519.PrivateKey
	now      func() time.Time

	flight singleflight.Group

	mu        sync.Mutex
	tok       string
	refreshAt time.Time // zero: no known expiry, reuse until a 401
}

// token returns the cached token, or fetches one. A caller whose ctx ends
// stops waiting; the shared fetch runs on and fills the cache.
func (c *clientCredentials) token(ctx context.Context) (string, bool, error) {
	if tok := c.cached(); tok != "" {
		return tok, true, nil
	}
	ch := c.flight.DoChan("token", func() (any, error) {
		if tok := c.cached(); tok != "" {
			return tok, nil
		}
		return c.fetch(context.WithoutCancel(ctx))
	})
	select {
	case <-ctx.Done():
		return "", false, ctx.Err()
	case r := <-ch:
		if r.Err != nil {
			return "", false, r.Err
		}
		return r.Val.(string), false, nil
	}
}

// cached returns the cached token while it is fresh, else "".
func (c *clientCredentials) cached() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tok != "" && (c.refreshAt.IsZero() || c.now().Before(c.refreshAt)) {
		return c.tok
	}
	return ""
}

func (c *clientCredentials) invalidate(tok string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tok == tok {
		c.tok, c.refreshAt = "", time.Time{}
	}
}

// tokenAnswer is the token endpoint's answer.
type tokenAnswer struct {
	AccessToken string  `json:"access_token"`
	TokenType   string  `json:"token_type"`
	ExpiresIn   seconds `json:"expires_in"`
}

// fetch signs a fresh assertion, exchanges it for a token and caches it.
func (c *clientCredentials) fetch(ctx context.Context) (string, error) {
	now := c.now()
	assertion, err := signAssertion(c.key, c.clientID, c.audience, now)
	if err != nil {
		return "", fmt.Errorf("c1 login: %w", err)
	}
	form := url.Values{
		"grant_type":            {"client_credentials"},
		"client_id":             {c.clientID},
		"client_assertion_type": {assertionType},
		"client_assertion":      {assertion},
	}
	var ans tokenAnswer
	err = c.http.Do(ctx, httpx.Request{Op: "c1 login", Method: "POST", URL: c.tokenURL, Form: form, Idempotent: true}, &ans)
	if err != nil {
		return "", loginFailure(err)
	}
	if ans.AccessToken == "" {
		return "", errors.New("c1 login: token endpoint answer has no access_token")
	}
	if ans.TokenType != "" && !strings.EqualFold(ans.TokenType, "bearer") {
		return "", errors.New("c1 login: token endpoint answered a token type other than Bearer")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tok, c.refreshAt = ans.AccessToken, time.Time{}
	if life := time.Duration(ans.ExpiresIn) * time.Second; life > 0 {
		c.refreshAt = now.Add(life - min(maxEarlyRefresh, life/2))
	}
	return ans.AccessToken, nil
}

// seconds decodes a JSON number or numeric string of whole seconds.
type seconds int64

// UnmarshalJSON implements json.Unmarshaler; null means 0.
func (s *seconds) UnmarshalJSON(b []byte) error {
	str := strings.TrimSpace(string(b))
	if str == "null" {
		*s = 0
		return nil
	}
	if strings.HasPrefix(str, `"`) {
		if err := json.Unmarshal(b, &str); err != nil {
			return errors.New("expires_in is not a number")
		}
		str = strings.TrimSpace(str)
	}
	f, err := strconv.ParseFloat(str, 64)
	if err != nil || f < 0 || f > 1e12 {
		return errors.New("expires_in is not a non-negative number")
	}
	*s = seconds(f)
	return nil
}
