package c1

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/vault/sdk/helper/automatedrotationutil"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/lifecycle"
)

// Defaults of the config fields.
const (
	defaultRotationPeriod      = 720 * time.Hour
	defaultRotateBeforeExpiry  = 24 * time.Hour
	defaultRevokeGrace         = time.Hour
	defaultRevokeMaxDelay      = 24 * time.Hour
	defaultVerifyInterval      = 10 * time.Minute
	defaultRequestTimeout      = 30 * time.Second
	defaultMaxRetries          = 3
	defaultRotationConcurrency = 8
	defaultAitronosURL         = "https://api.aitronos.com"
	defaultAitronosKeyHeader   = "X-API-Key"
	defaultAitronosCacheTTL    = 30 * time.Second
)

// pluginConfig is the stored config. Secret fields are never returned by a read.
type pluginConfig struct {
	C1ClientID     string `json:"c1_client_id,omitempty"`
	C1ClientSecret string `json:"c1_client_secret,omitempty"`
	C1AccessToken  string `json:"c1_access_token,omitempty"`
	// C1ServerURL is the URL the operator set; empty means derived from the client id.
	C1ServerURL string `json:"c1_server_url,omitempty"`

	Policy lifecycle.Policy `json:"policy"`

	// VerifyInterval is how often each connector's current credential is
	// read upstream to notice an out-of-band revocation; 0 = never.
	VerifyInterval time.Duration `json:"verify_interval"`

	RequestTimeout      time.Duration `json:"request_timeout"`
	MaxRetries          int           `json:"max_retries"`
	RotationConcurrency int           `json:"rotation_concurrency"`

	AitronosURL                string        `json:"aitronos_url,omitempty"`
	AitronosAPIKey             string        `json:"aitronos_api_key,omitempty"`
	AitronosKeyHeader          string        `json:"aitronos_key_header,omitempty"`
	AitronosReturnRefreshToken bool          `json:"aitronos_return_refresh_token"`
	AitronosCacheTTL           time.Duration `json:"aitronos_cache_ttl"`
	// AitronosAPIKeySetAt is when aitronos_api_key was last written.
	AitronosAPIKeySetAt time.Time `json:"aitronos_api_key_set_at,omitempty"`

	// RootRotation is the rotation policy of the engine's own credential
	// (rotation_period, rotation_schedule, rotation_window,
	// disable_automated_rotation), kept by Vault's rotation manager when
	// RootRotationManaged, else by the periodic function.
	RootRotation        automatedrotationutil.AutomatedRotationParams `json:"root_rotation"`
	RootRotationManaged bool                                          `json:"root_rotation_managed,omitempty"`
	// RootCredentialTTL is the lifetime of a new root; 0: the old one's.
	RootCredentialTTL time.Duration `json:"root_credential_ttl,omitempty"`
	// RootServicePrincipalID names the service principal whose credential
	// the engine logs in with; empty: a personal client.
	RootServicePrincipalID string `json:"root_service_principal_id,omitempty"`
}

// defaultConfig is the config a first write starts from.
func defaultConfig() *pluginConfig {
	return &pluginConfig{
		Policy: lifecycle.Policy{
			RotationPeriod:     defaultRotationPeriod,
			RotateBeforeExpiry: defaultRotateBeforeExpiry,
			RevokeGrace:        defaultRevokeGrace,
			RevokeMaxDelay:     defaultRevokeMaxDelay,
		},
		VerifyInterval:      defaultVerifyInterval,
		RequestTimeout:      defaultRequestTimeout,
		MaxRetries:          defaultMaxRetries,
		RotationConcurrency: defaultRotationConcurrency,
		AitronosURL:         defaultAitronosURL,
		AitronosKeyHeader:   defaultAitronosKeyHeader,
		AitronosCacheTTL:    defaultAitronosCacheTTL,
	}
}

// c1Configured reports whether the config holds C1 credentials.
func (c *pluginConfig) c1Configured() bool {
	return c.C1AccessToken != "" || (c.C1ClientID != "" && c.C1ClientSecret != "")
}

// aitronosConfigured reports whether the config holds an Aitronos API key.
func (c *pluginConfig) aitronosConfigured() bool { return c.AitronosAPIKey != "" }

// getConfig loads the stored config; nil when none was written.
func getConfig(ctx context.Context, s logical.Storage) (*pluginConfig, error) {
	raw, err := s.Get(ctx, configStorageKey)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	if raw == nil {
		return nil, nil
	}
	cfg := defaultConfig()
	if err := raw.DecodeJSON(cfg); err != nil {
		return nil, fmt.Errorf("decoding config: %w", err)
	}
	return cfg, nil
}

// errNotConfigured is the answer of a path that needs the config before it is written.
var errNotConfigured = badRequest("the engine is not configured: write its config first")

// requireConfig loads the stored config, or answers errNotConfigured.
func requireConfig(ctx context.Context, s logical.Storage) (*pluginConfig, error) {
	cfg, err := getConfig(ctx, s)
	if err == nil && cfg == nil {
		err = errNotConfigured
	}
	return cfg, err
}

// putConfig stores the config.
func putConfig(ctx context.Context, s logical.Storage, cfg *pluginConfig) error {
	raw, err := logical.StorageEntryJSON(configStorageKey, cfg)
	if err != nil {
		return fmt.Errorf("encoding config: %w", err)
	}
	if err := s.Put(ctx, raw); err != nil {
		return fmt.Errorf("storing config: %w", err)
	}
	return nil
}
