package c1

import (
	"context"
	"maps"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/aitronos"
	"github.com/vault-plugin-c1/vault-plugin-c1/internal/c1api"
)

const pathConfigHelpSyn = `Configure the upstream APIs and the rotation policy.`

const pathConfigHelpDesc = `
C1: either c1_client_id with c1_client_secret (the "secret-token:conductorone.com:v1:..."
form; the engine logs in with a signed client assertion and never sends the secret), or
c1_access_token (a bearer token). c1_server_url defaults to https:// and the host in the
client id. Aitronos: aitronos_api_key, sent in the aitronos_key_header header.
Secrets are write-only: a read reports only whether they are set. Writing an empty
string to a secret field clears it.

connector_rotation_period (or connector_rotation_schedule with connector_rotation_window),
rotate_before_expiry, revoke_grace and revoke_max_delay are the connectors' defaults.
rotation_period, rotation_schedule, rotation_window and disable_automated_rotation are
those of the engine's own C1 credential, which it also rotates before it expires
(write config/rotate-root to rotate it now; root_service_principal_id names the service
principal when the credential is one of its; root_credential_ttl sets a new one's life).
A read shows the engine's credential: root_credential_id, root_expires_time,
root_last_rotation, root_next_rotation, root_pending_deletions, root_last_error.
`

// pathConfig is the config path.
func pathConfig(b *backend) []*framework.Path {
	write := operation(b.configWrite, "configure", "",
		"Configure the upstream APIs and the rotation policy; a write changes only the fields it names.")
	return []*framework.Path{{
		Pattern: "config",
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: "c1",
		},
		Fields: map[string]*framework.FieldSchema{
			"c1_client_id":                stringSchema("", `C1 OAuth client id, "<name>@<tenant host>/<kind>".`),
			"c1_client_secret":            secretField(`C1 client secret, "secret-token:conductorone.com:v1:...". Write-only.`),
			"c1_access_token":             secretField("Static C1 bearer token, instead of client credentials. Write-only."),
			"c1_server_url":               stringSchema("", "C1 API URL. Default: https:// and the host of c1_client_id. Plain http only to loopback."),
			"connector_rotation_period":   durationSchema(defaultRotationPeriod, "Rotate a connector's credential once it is this old: 0 (off) or at least 2m (two periodic runs)."),
			"rotate_before_expiry":        durationSchema(defaultRotateBeforeExpiry, "Rotate a credential when less than this remains before its expiresTime (or a third of its lifetime, if smaller; never less than two periodic ticks)."),
			"revoke_grace":                durationSchema(defaultRevokeGrace, "How long a replaced credential stays valid (and at least until its leases end) before it is revoked upstream."),
			"revoke_max_delay":            durationSchema(defaultRevokeMaxDelay, "How long past its planned revocation a replaced credential still used upstream may be held back (never past its expiry). 0 never holds one back."),
			"verify_interval":             durationSchema(defaultVerifyInterval, "How often each current credential is read upstream to notice a revocation made outside Vault: one found revoked is no longer served and is replaced, at most once per interval. A check that finds nothing new writes nothing. 0 turns the check off."),
			"connector_rotation_schedule": rotationScheduleField("every connector's credential", "connector_rotation_period"),
			"connector_rotation_window":   rotationWindowField(),
			"rotation_period": durationSchema(0, "Rotate the engine's own C1 credential once it is this old: 0 (off) or at least 2m. "+
				"Excludes rotation_schedule. The engine also rotates it before it expires, by rotate_before_expiry."),
			"rotation_schedule": stringSchema("", "Rotate the engine's own C1 credential at the times of this cron schedule (5 fields, UTC), "+
				"instead of by age. An empty string turns it off."),
			"rotation_window": durationSchema(0, "With rotation_schedule: a rotation of the engine's own credential may start only this long "+
				"after a scheduled time (at least 1h)."),
			"disable_automated_rotation": boolSchema(false, "Stop rotating the engine's own C1 credential automatically, by schedule, "+
				"period or expiry (config/rotate-root still does); the daily warning near its expiry stays."),
			"rotation_policy":     stringSchema("", "The rotation policy Vault's rotation manager (Vault Enterprise) applies to the engine's own credential."),
			"root_credential_ttl": durationSchema(0, "Lifetime of a new credential made by rotating the engine's own: 0 keeps the old one's."),
			"root_service_principal_id": stringSchema("", "The service principal whose credential the engine logs in with; "+
				"empty when it is a personal client."),
			"request_timeout":               durationSchema(defaultRequestTimeout, "Timeout of one upstream request attempt."),
			"max_retries":                   intSchema(defaultMaxRetries, "Retries of an upstream request after a timeout, 429 or 5xx (0 to 10)."),
			"rotation_concurrency":          intSchema(defaultRotationConcurrency, "How many upstream requests the periodic sweep has in flight at once (1 to 64)."),
			"aitronos_url":                  stringSchema(defaultAitronosURL, "Aitronos API URL. Plain http only to loopback."),
			"aitronos_api_key":              secretField("Aitronos admin API key. Write-only."),
			"aitronos_key_header":           stringSchema(defaultAitronosKeyHeader, "Header that carries the Aitronos API key: X-API-Key, X-Flowplate-Key or X-Aitronos-Hub-Key."),
			"aitronos_return_refresh_token": boolSchema(false, "Include the connection's refresh token in oauth/ reads."),
			"aitronos_cache_ttl":            durationSchema(defaultAitronosCacheTTL, "How long an Aitronos answer is reused (never past the token's expiry). 0 turns the cache off."),
		},
		ExistenceCheck: b.configExists,
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.CreateOperation: write,
			logical.UpdateOperation: write,
			logical.ReadOperation: operation(b.configRead, "read", "configuration",
				"Read the configuration; secrets are reported only as set or not."),
			logical.DeleteOperation: operation(b.configDelete, "delete", "configuration",
				"Delete the configuration. Managed connectors stay stored; nothing reaches the upstream until config is written again."),
		},
		HelpSynopsis:    pathConfigHelpSyn,
		HelpDescription: strings.TrimSpace(pathConfigHelpDesc),
	}}
}

func (b *backend) configExists(ctx context.Context, req *logical.Request, _ *framework.FieldData) (bool, error) {
	cfg, err := getConfig(ctx, req.Storage)
	return cfg != nil, err
}

func (b *backend) configRead(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	cfg, err := getConfig(ctx, req.Storage)
	if err != nil || cfg == nil {
		return nil, err
	}
	serverURL, _ := cfg.c1ServerURL()
	data := map[string]any{
		"c1_client_id":                  cfg.C1ClientID,
		"c1_client_secret_set":          cfg.C1ClientSecret != "",
		"c1_access_token_set":           cfg.C1AccessToken != "",
		"c1_server_url":                 serverURL,
		"connector_rotation_period":     int64(cfg.Policy.RotationPeriod.Seconds()),
		"connector_rotation_schedule":   cfg.Policy.RotationSchedule,
		"connector_rotation_window":     int64(cfg.Policy.RotationWindow.Seconds()),
		"rotate_before_expiry":          int64(cfg.Policy.RotateBeforeExpiry.Seconds()),
		"revoke_grace":                  int64(cfg.Policy.RevokeGrace.Seconds()),
		"revoke_max_delay":              int64(cfg.Policy.RevokeMaxDelay.Seconds()),
		"verify_interval":               int64(cfg.VerifyInterval.Seconds()),
		"request_timeout":               int64(cfg.RequestTimeout.Seconds()),
		"max_retries":                   cfg.MaxRetries,
		"rotation_concurrency":          cfg.RotationConcurrency,
		"aitronos_url":                  cfg.AitronosURL,
		"aitronos_api_key_set":          cfg.AitronosAPIKey != "",
		"aitronos_key_header":           cfg.AitronosKeyHeader,
		"aitronos_return_refresh_token": cfg.AitronosReturnRefreshToken,
		"aitronos_cache_ttl":            int64(cfg.AitronosCacheTTL.Seconds()),
		"aitronos_api_key_set_at":       formatTime(cfg.AitronosAPIKeySetAt),
		"root_credential_ttl":           int64(cfg.RootCredentialTTL.Seconds()),
		"root_service_principal_id":     cfg.RootServicePrincipalID,
	}
	cfg.RootRotation.PopulateAutomatedRotationData(data)
	root, err := getRoot(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	maps.Copy(data, rootStatus(root, cfg, b.now()))
	return &logical.Response{Data: data}, nil
}

func (b *backend) configWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if err := rejectUnknownFields(req, d); err != nil {
		return nil, err
	}
	b.configMu.Lock()
	defer b.configMu.Unlock()
	cfg, err := getConfig(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		cfg = defaultConfig()
	}
	rotationBefore := cfg.RootRotation
	if err := applyConfigFields(cfg, d); err != nil {
		return nil, err
	}
	if err := validateConfig(cfg); err != nil {
		return nil, err
	}
	if err := b.checkClients(cfg); err != nil {
		return nil, err
	}
	if cfg.RootRotation != rotationBefore {
		if cfg.RootRotationManaged, err = b.registerRootRotation(ctx, req, cfg); err != nil {
			return nil, err
		}
	}
	if err := b.storeConfig(ctx, req.Storage, cfg); err != nil {
		return nil, err
	}
	// Learn the root's expiry now; what goes wrong is shown in the config
	// read and retried by the periodic function.
	if client, cfg, err := b.rootClient(ctx, req.Storage); err == nil {
		b.rootMu.Lock()
		_, err = b.refreshRoot(ctx, req.Storage, client, cfg)
		b.rootMu.Unlock()
		if err != nil {
			b.Logger().Warn("reading the engine's own credential upstream failed; retried on the next tick", "error", err)
			return &logical.Response{Warnings: []string{"the engine's own C1 credential could not be read upstream, so its expiry is not known yet: " +
				err.Error()}}, nil
		}
	}
	return nil, nil
}

// applyConfigFields copies the fields the request set onto cfg.
func applyConfigFields(cfg *pluginConfig, d *framework.FieldData) error {
	strs := map[string]*string{
		"c1_client_id":        &cfg.C1ClientID,
		"c1_client_secret":    &cfg.C1ClientSecret,
		"c1_access_token":     &cfg.C1AccessToken,
		"c1_server_url":       &cfg.C1ServerURL,
		"aitronos_url":        &cfg.AitronosURL,
		"aitronos_api_key":    &cfg.AitronosAPIKey,
		"aitronos_key_header": &cfg.AitronosKeyHeader,
	}
	for name, dst := range strs {
		if v, ok := d.GetOk(name); ok {
			*dst = strings.TrimSpace(v.(string))
		}
	}
	policy, err := overridesFrom(d, "connector_")
	if err != nil {
		return err
	}
	cfg.Policy = policy.Apply(cfg.Policy)
	if err := rootRotationFrom(d, cfg); err != nil {
		return err
	}
	if _, ok := d.GetOk("aitronos_api_key"); ok {
		cfg.AitronosAPIKeySetAt = time.Now().UTC()
	}
	if v, ok := d.GetOk("root_service_principal_id"); ok {
		cfg.RootServicePrincipalID = strings.TrimSpace(v.(string))
	}
	durs := map[string]*time.Duration{
		"verify_interval":    &cfg.VerifyInterval,
		"request_timeout":    &cfg.RequestTimeout,
		"aitronos_cache_ttl": &cfg.AitronosCacheTTL,
	}
	for name, dst := range durs {
		v, ok, err := durationField(d, name)
		if err != nil {
			return err
		}
		if ok {
			*dst = v
		}
	}
	if v, ok := d.GetOk("max_retries"); ok {
		cfg.MaxRetries = v.(int)
	}
	if v, ok := d.GetOk("rotation_concurrency"); ok {
		cfg.RotationConcurrency = v.(int)
	}
	if v, ok := d.GetOk("aitronos_return_refresh_token"); ok {
		cfg.AitronosReturnRefreshToken = v.(bool)
	}
	return nil
}

// validateConfig checks the config as a whole. Messages name fields, never values of secrets.
func validateConfig(cfg *pluginConfig) error {
	if cfg.C1AccessToken != "" && (cfg.C1ClientID != "" || cfg.C1ClientSecret != "") {
		return badRequest("set either c1_access_token or c1_client_id with c1_client_secret, not both (write an empty string to clear one)")
	}
	if (cfg.C1ClientID == "") != (cfg.C1ClientSecret == "") {
		return badRequest("c1_client_id and c1_client_secret go together: set both")
	}
	if cfg.C1ServerURL != "" {
		u, err := checkUpstreamURL("c1_server_url", cfg.C1ServerURL)
		if err != nil {
			return err
		}
		cfg.C1ServerURL = u
	}
	if cfg.c1Configured() {
		if _, err := cfg.c1ServerURL(); err != nil {
			return err
		}
	}
	if !cfg.c1Configured() && !cfg.aitronosConfigured() {
		return badRequest("config needs C1 credentials (c1_client_id with c1_client_secret, or c1_access_token) or an Aitronos key (aitronos_api_key)")
	}
	if err := validateSchedule(cfg.Policy, "connector_"); err != nil {
		return err
	}
	if cfg.RequestTimeout < time.Second || cfg.RequestTimeout > 10*time.Minute {
		return badRequest("field \"request_timeout\" must be between 1s and 10m")
	}
	if cfg.MaxRetries < 0 || cfg.MaxRetries > 10 {
		return badRequest("field \"max_retries\" must be between 0 and 10")
	}
	if cfg.RotationConcurrency < 1 || cfg.RotationConcurrency > 64 {
		return badRequest("field \"rotation_concurrency\" must be between 1 and 64")
	}
	u, err := checkUpstreamURL("aitronos_url", cfg.AitronosURL)
	if err != nil {
		return err
	}
	cfg.AitronosURL = u
	header, ok := aitronos.ValidKeyHeader(cfg.AitronosKeyHeader)
	if !ok {
		return badRequest("field \"aitronos_key_header\" must be one of %s", strings.Join(aitronos.KeyHeaders, ", "))
	}
	cfg.AitronosKeyHeader = header
	return nil
}

// c1ServerURL is the C1 API URL: the one set, or the one derived from the client id.
func (c *pluginConfig) c1ServerURL() (string, error) {
	if c.C1ServerURL != "" {
		return c.C1ServerURL, nil
	}
	if c.C1ClientID == "" {
		return "", badRequest("field \"c1_server_url\" is required with c1_access_token")
	}
	u, err := c1api.ServerURLFromClientID(c.C1ClientID)
	if err != nil {
		return "", badRequest("field \"c1_client_id\": %v", err)
	}
	return u, nil
}

func (b *backend) configDelete(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	b.configMu.Lock()
	defer b.configMu.Unlock()
	return nil, b.deleteConfig(ctx, req.Storage)
}
