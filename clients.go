package c1

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/aitronos"
	"github.com/vault-plugin-c1/vault-plugin-c1/internal/c1api"
	"github.com/vault-plugin-c1/vault-plugin-c1/internal/httpx"
)

// upstreamClients are one version of the config and the clients built from
// it. Each client is built on its own: settings one cannot use leave it nil
// with its error, and never stop the other.
type upstreamClients struct {
	config      *pluginConfig
	c1          *c1api.Client // nil when C1 is not configured, or c1Err
	c1Err       error
	aitronos    *aitronos.Client // nil when Aitronos is not configured, or aitronosErr
	aitronosErr error
}

// clientCache holds the clients of the stored config. Each client is kept
// with the settings it was built from, so that a config write that leaves
// its settings as they were keeps it (and the C1 client its token).
type clientCache struct {
	current  *upstreamClients // nil until built from the stored config
	c1       cached[clientSettings, *c1api.Client]
	aitronos cached[clientSettings, *aitronos.Client]
}

// clientSettings are the config values a client is built from.
type clientSettings struct {
	url, id, secret, token, header string
	timeout                        time.Duration
	retries                        int
}

// cached is a client with the settings it was built from.
type cached[K comparable, C any] struct {
	key    K
	client C
	err    error
	built  bool
}

// get returns the client built from key, building it unless it already was.
func (c *cached[K, C]) get(key K, build func() (C, error)) (C, error) {
	if !c.built || c.key != key {
		c.client, c.err = build()
		c.key, c.built = key, true
	}
	return c.client, c.err
}

// httpOptions are the request settings both clients share.
func (b *backend) httpOptions(c *pluginConfig) httpx.Options {
	opts := httpx.Options{
		Timeout:    c.RequestTimeout,
		MaxRetries: c.MaxRetries,
		UserAgent:  "vault-plugin-c1/" + Version,
		Observe:    b.metrics.observeUpstream,
	}
	if b.tuneHTTP != nil {
		b.tuneHTTP(&opts)
	}
	return opts
}

// c1Settings are the config values the C1 client is built from. The server
// URL, when not set, derives from the client id, which they hold.
func c1Settings(cfg *pluginConfig) clientSettings {
	return clientSettings{url: cfg.C1ServerURL, id: cfg.C1ClientID, secret: cfg.C1ClientSecret, token: cfg.C1AccessToken,
		timeout: cfg.RequestTimeout, retries: cfg.MaxRetries}
}

// aitronosSettings are the config values the Aitronos client is built from.
func aitronosSettings(cfg *pluginConfig) clientSettings {
	return clientSettings{url: cfg.AitronosURL, secret: cfg.AitronosAPIKey, header: cfg.AitronosKeyHeader,
		timeout: cfg.RequestTimeout, retries: cfg.MaxRetries}
}

// newC1 builds the C1 client from cfg (nil when C1 is not configured); its
// errors are 400 answers naming the field. It is the one check of the C1
// settings, on config writes and on use.
func (b *backend) newC1(cfg *pluginConfig) (*c1api.Client, error) {
	if !cfg.c1Configured() {
		return nil, nil
	}
	serverURL, err := cfg.c1ServerURL()
	if err != nil {
		return nil, err
	}
	c, err := c1api.New(c1api.Config{ServerURL: serverURL, ClientID: cfg.C1ClientID, ClientSecret: cfg.C1ClientSecret,
		AccessToken: cfg.C1AccessToken, HTTP: b.httpOptions(cfg), Now: b.now})
	return c, refusedField(err)
}

// newAitronos builds the Aitronos client from cfg (nil when Aitronos is not
// configured), like newC1.
func (b *backend) newAitronos(cfg *pluginConfig) (*aitronos.Client, error) {
	if !cfg.aitronosConfigured() {
		return nil, nil
	}
	c, err := aitronos.New(aitronos.Config{BaseURL: cfg.AitronosURL, APIKey: cfg.AitronosAPIKey,
		KeyHeader: cfg.AitronosKeyHeader, HTTP: b.httpOptions(cfg), Now: b.now})
	return c, refusedField(err)
}

// checkClients builds both clients from cfg, as their use will: a config
// either client would refuse is refused now.
func (b *backend) checkClients(cfg *pluginConfig) error {
	if _, err := b.newC1(cfg); err != nil {
		return err
	}
	_, err := b.newAitronos(cfg)
	return err
}

// refusedField turns a client's refusal of a setting into a 400 naming the
// config field; nil stays nil.
func refusedField(err error) error {
	var coded logical.HTTPCodedError
	if err == nil || errors.As(err, &coded) {
		return err
	}
	for sentinel, field := range map[error]string{
		c1api.ErrInvalidServerURL:    "c1_server_url",
		c1api.ErrInvalidClientID:     "c1_client_id",
		c1api.ErrInvalidClientSecret: "c1_client_secret",
		c1api.ErrInvalidAccessToken:  "c1_access_token",
		aitronos.ErrInvalidBaseURL:   "aitronos_url",
		aitronos.ErrInvalidAPIKey:    "aitronos_api_key",
		aitronos.ErrInvalidKeyHeader: "aitronos_key_header",
	} {
		if errors.Is(err, sentinel) {
			return badRequest("field %q: %v", field, err)
		}
	}
	return badRequest("config: %v", err)
}

// resetClients drops the clients' config; the next use rebuilds the clients
// whose settings changed.
func (b *backend) resetClients() {
	b.clientsMu.Lock()
	b.clients.current = nil
	b.clientsMu.Unlock()
	b.oauth.Reset()
}

// upstream returns the clients for the stored config, building them on first use.
func (b *backend) upstream(ctx context.Context, s logical.Storage) (*upstreamClients, error) {
	b.clientsMu.RLock()
	c := b.clients.current
	b.clientsMu.RUnlock()
	if c != nil {
		return c, nil
	}

	b.clientsMu.Lock()
	defer b.clientsMu.Unlock()
	if b.clients.current != nil {
		return b.clients.current, nil
	}
	cfg, err := b.config(ctx, s) // the copy creds reads use: one storage read serves both
	if err != nil {
		return nil, err
	}
	c = &upstreamClients{config: cfg}
	c.c1, c.c1Err = b.clients.c1.get(c1Settings(cfg), func() (*c1api.Client, error) { return b.newC1(cfg) })
	c.aitronos, c.aitronosErr = b.clients.aitronos.get(aitronosSettings(cfg), func() (*aitronos.Client, error) { return b.newAitronos(cfg) })
	if err := errors.Join(c.c1Err, c.aitronosErr); err != nil {
		b.Logger().Warn("the stored config cannot be used for one upstream", "error", err)
	}
	b.clients.current = c
	return c, nil
}

// c1Client returns the C1 client, or a 400 saying what config is missing or
// cannot be used.
func (b *backend) c1Client(ctx context.Context, s logical.Storage) (*c1api.Client, *pluginConfig, error) {
	c, err := b.upstream(ctx, s)
	switch {
	case err != nil:
		return nil, nil, err
	case c.c1Err != nil:
		return nil, nil, c.c1Err
	case c.c1 == nil:
		return nil, nil, badRequest("C1 is not configured: write c1_client_id with c1_client_secret, or c1_access_token, to config")
	}
	return c.c1, c.config, nil
}

// aitronosClient returns the Aitronos client, or a 400 saying what config is
// missing or cannot be used.
func (c *upstreamClients) aitronosClient() (*aitronos.Client, error) {
	switch {
	case c.aitronosErr != nil:
		return nil, c.aitronosErr
	case c.aitronos == nil:
		return nil, badRequest("Aitronos is not configured: write aitronos_api_key to config")
	}
	return c.aitronos, nil
}
