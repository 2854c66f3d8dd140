package aitronos

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/httpx"
)

// DefaultKeyHeader is the usual API key header.
const DefaultKeyHeader = "X-API-Key"

// KeyHeaders are the header names Aitronos accepts an API key in.
var KeyHeaders = []string{"X-API-Key", "X-Flowplate-Key", "X-Aitronos-Hub-Key"}

// ValidKeyHeader reports whether h names one of KeyHeaders, ignoring case,
// and returns its canonical spelling.
func ValidKeyHeader(h string) (canonical string, ok bool) {
	for _, k := range KeyHeaders {
		if strings.EqualFold(strings.TrimSpace(h), k) {
			return k, true
		}
	}
	return "", false
}

// Errors of New that name the Config field refused.
var (
	ErrInvalidBaseURL   = errors.New("invalid base URL")
	ErrInvalidAPIKey    = errors.New("invalid API key")
	ErrInvalidKeyHeader = errors.New("invalid key header")
)

// Config configures a Client.
type Config struct {
	// BaseURL is the API root, e.g. https://api.aitronos.com (a path prefix
	// is kept; a trailing slash is dropped).
	BaseURL string
	// APIKey is the admin API key (e.g. "ak_" and 40 characters).
	APIKey string
	// KeyHeader is the header carrying APIKey: X-API-Key (default),
	// X-Flowplate-Key or X-Aitronos-Hub-Key, in any case.
	KeyHeader string
	// HTTP configures the request path (timeouts, retries, transport). Its
	// ParseError, when nil, defaults to ParseError.
	HTTP httpx.Options
	// Now is the clock for Connection.FetchedAt; default time.Now.
	Now func() time.Time
}

// Client reads personal-connector credentials. It is safe for concurrent
// use.
type Client struct {
	base   string
	header string
	key    string
	http   *httpx.Client
	now    func() time.Time
}

// New validates cfg and returns a Client. It makes no request. Its errors
// never quote the API key.
func New(cfg Config) (*Client, error) {
	base, err := normalizeBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	header := DefaultKeyHeader
	if cfg.KeyHeader != "" {
		var ok bool
		if header, ok = ValidKeyHeader(cfg.KeyHeader); !ok {
			return nil, fmt.Errorf("aitronos: %w: it must be one of %s", ErrInvalidKeyHeader, strings.Join(KeyHeaders, ", "))
		}
	}
	key := strings.TrimSpace(cfg.APIKey)
	if err := httpx.CheckToken(key); err != nil {
		return nil, fmt.Errorf("aitronos: %w: %v", ErrInvalidAPIKey, err)
	}
	opts := cfg.HTTP
	if opts.ParseError == nil {
		opts.ParseError = ParseError
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Client{base: base, header: header, key: key, http: httpx.New(opts), now: now}, nil
}

// normalizeBaseURL checks that s is an http(s) URL with a host and no
// query, fragment or credentials, and drops a trailing slash.
func normalizeBaseURL(s string) (string, error) {
	u, err := httpx.BaseURL(s, true)
	if err != nil {
		return "", fmt.Errorf("aitronos: %w: %v", ErrInvalidBaseURL, err)
	}
	return u, nil
}
