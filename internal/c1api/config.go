package c1api

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/go-cleanhttp"
	"golang.org/x/oauth2"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/httpx"
)

// Config configures a Client.
type Config struct {
	// ServerURL is the tenant API server, scheme://host[:port] (required);
	// see ServerURLFromClientID.
	ServerURL string
	// ClientID is the OAuth 2 client id, "<name>@<host>/<kind>"; set with
	// ClientSecret.
	ClientID string
	// ClientSecret is "secret-token:conductorone.com:v1:<base64url JWK>"
	// holding an Ed25519 key. It signs assertions and is never sent.
	ClientSecret string
	// AccessToken is a static bearer token. Set exactly one of AccessToken
	// or ClientID with ClientSecret.
	AccessToken string
	// HTTP configures the request path (timeouts, retries, transport). Its
	// ParseError, when nil, reads C1's error bodies.
	HTTP httpx.Options
	// Now is the clock for assertion times and token expiry; default time.Now.
	Now func() time.Time
}

// Errors of New that name the Config field refused (besides
// ErrInvalidClientID and ErrInvalidClientSecret).
var (
	ErrInvalidServerURL   = errors.New("invalid server URL")
	ErrInvalidAccessToken = errors.New("invalid access token")
)

// Client calls the C1 connector-credential API. It is safe for concurrent
// use.
type Client struct {
	server string
	http   *httpx.Client // through oauth2.Transport
	tokens *tokenCache   // nil with a static token
}

// New validates cfg and returns a Client. It makes no request. Its errors
// never quote a secret or token.
func New(cfg Config) (*Client, error) {
	server, err := normalizeServerURL(cfg.ServerURL)
	if err != nil {
		return nil, err
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	if cfg.HTTP.Transport == nil { // one connection pool for logins and calls
		cfg.HTTP.Transport = cleanhttp.DefaultPooledTransport()
	}
	if cfg.HTTP.ParseError == nil {
		cfg.HTTP.ParseError = parseError
	}
	c := &Client{server: server}
	var src oauth2.TokenSource
	hasToken := cfg.AccessToken != ""
	hasCreds := cfg.ClientID != "" || cfg.ClientSecret != ""
	switch {
	case hasToken && hasCreds:
		return nil, errors.New("c1: set either an access token or a client id and secret, not both")
	case hasToken:
		tok, err := bearerToken(cfg.AccessToken)
		if err != nil {
			return nil, err
		}
		src = oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok, TokenType: "Bearer"})
	case cfg.ClientID == "" || cfg.ClientSecret == "":
		return nil, errors.New("c1: an access token, or both a client id and a client secret, are required")
	default:
		if err := ValidateClientID(cfg.ClientID); err != nil {
			return nil, fmt.Errorf("c1: %w", err)
		}
		key, err := ParseClientSecret(cfg.ClientSecret)
		if err != nil {
			return nil, fmt.Errorf("c1: %w", err)
		}
		u, _ := url.Parse(server)
		c.tokens = &tokenCache{login: &login{http: httpx.New(cfg.HTTP), tokenURL: server + tokenPath,
			audience: u.Hostname(), clientID: cfg.ClientID, key: key, now: now}}
		src = c.tokens
	}
	api := cfg.HTTP
	api.Transport = &oauth2.Transport{Source: src, Base: cfg.HTTP.Transport}
	c.http = httpx.New(api)
	return c, nil
}

// normalizeServerURL checks that s is scheme://host[:port] (http or https,
// an optional trailing slash) and returns it without the slash.
func normalizeServerURL(s string) (string, error) {
	u, err := httpx.BaseURL(s, false)
	if err != nil {
		return "", fmt.Errorf("c1: %w: %v", ErrInvalidServerURL, err)
	}
	return u, nil
}

// bearerToken accepts a token with or without a "Bearer " prefix and refuses
// characters that cannot go in a header.
func bearerToken(t string) (string, error) {
	t = strings.TrimSpace(t)
	if len(t) > 7 && strings.EqualFold(t[:7], "bearer ") {
		t = strings.TrimSpace(t[7:])
	}
	if err := httpx.CheckToken(t); err != nil {
		return "", fmt.Errorf("c1: %w: %v", ErrInvalidAccessToken, err)
	}
	return t, nil
}
