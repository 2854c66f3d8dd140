package c1

import (
	"context"
	"fmt"
	"net/http"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/aitronos"
	"github.com/vault-plugin-c1/vault-plugin-c1/internal/c1api"
	"github.com/vault-plugin-c1/vault-plugin-c1/internal/httpx"
)

// upstreamClients are the clients built from one version of the config.
type upstreamClients struct {
	config   *pluginConfig
	c1       *c1api.Client // nil when C1 is not configured
	aitronos *aitronos.Client
}

// httpOptions are the request settings both clients share.
func (b *backend) httpOptions(c *pluginConfig) httpx.Options {
	opts := httpx.Options{
		Timeout:    c.RequestTimeout,
		MaxRetries: c.MaxRetries,
		UserAgent:  "vault-plugin-c1/" + Version,
		Transport:  gateTransport(nil), // the sweep's bound on upstream requests in flight
	}
	if b.tuneHTTP != nil {
		b.tuneHTTP(&opts)
	}
	return opts
}

// resetClients drops the cached clients; the next use rebuilds them from storage.
func (b *backend) resetClients() {
	b.clientsMu.Lock()
	b.clients = nil
	b.clientsMu.Unlock()
	b.oauth.reset()
}

// upstream returns the clients for the stored config, building them on first use.
func (b *backend) upstream(ctx context.Context, s logical.Storage) (*upstreamClients, error) {
	b.clientsMu.RLock()
	c := b.clients
	b.clientsMu.RUnlock()
	if c != nil {
		return c, nil
	}

	b.clientsMu.Lock()
	defer b.clientsMu.Unlock()
	if b.clients != nil {
		return b.clients, nil
	}
	cfg, err := requireConfig(ctx, s)
	if err != nil {
		return nil, err
	}
	c = &upstreamClients{config: cfg}
	if cfg.c1Configured() {
		serverURL, err := cfg.c1ServerURL()
		if err != nil {
			return nil, err
		}
		c.c1, err = c1api.New(c1api.Config{
			ServerURL:    serverURL,
			ClientID:     cfg.C1ClientID,
			ClientSecret: cfg.C1ClientSecret,
			AccessToken:  cfg.C1AccessToken,
			HTTP:         b.httpOptions(cfg),
			Now:          b.now,
		})
		if err != nil {
			return nil, fmt.Errorf("building the C1 client: %w", err)
		}
	}
	if cfg.aitronosConfigured() {
		c.aitronos, err = aitronos.New(aitronos.Config{
			BaseURL:   cfg.AitronosURL,
			APIKey:    cfg.AitronosAPIKey,
			KeyHeader: cfg.AitronosKeyHeader,
			HTTP:      b.httpOptions(cfg),
			Now:       b.now,
		})
		if err != nil {
			return nil, fmt.Errorf("building the Aitronos client: %w", err)
		}
	}
	b.clients = c
	return c, nil
}

// c1Client returns the C1 client, or a 400 saying what config is missing.
func (b *backend) c1Client(ctx context.Context, s logical.Storage) (*c1api.Client, *pluginConfig, error) {
	c, err := b.upstream(ctx, s)
	if err != nil {
		return nil, nil, err
	}
	if c.c1 == nil {
		return nil, nil, logical.CodedError(http.StatusBadRequest,
			"C1 is not configured: write c1_client_id with c1_client_secret, or c1_access_token, to config")
	}
	return c.c1, c.config, nil
}
