package c1

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/lifecycle"
)

const pathCredsHelpSyn = `Manage C1 connectors and read their current credential as a lease.`

const pathCredsHelpDesc = `
A write registers a connector: the engine creates its first credential upstream and
stores it before answering. A later write changes only the connector's rotation
overrides. A read returns the current credential (client_id, client_secret) as a
lease that ends no later than the credential stops working: its expiry, its planned
revocation, or the mount's max TTL. Leases are not renewable: read again. Revoking a
lease does not revoke the credential, which all consumers of the connector share.
A delete revokes upstream every credential the engine created for the connector
and forgets it; what cannot be revoked yet stays in the record and is retried.

Disabling the mount ("vault secrets disable") deletes everything the engine stored
without revoking anything upstream: every credential it created stays valid in C1
until it expires. Delete every connector first (creds/<app_id>/<connector_id>),
check that "creds/" lists none, then disable the mount.
`

const pathCredentialHelpDesc = `
A read returns the credential's upstream metadata and its state in the engine:
current, pending, retiring, revoke-now or unmanaged. Never its secret.
A delete revokes a replaced (retiring) credential upstream at once, without waiting
for its grace or its leases (for a leaked secret). The current credential is refused
with a 409: rotate first. If the upstream fails, the credential is marked revoke-now
and the periodic function retries it on every run.
`

// connectorFields are the fields of creds/<app_id>/<connector_id>.
func connectorFields() map[string]*framework.FieldSchema {
	return connectorIDFields(map[string]*framework.FieldSchema{
		"rotation_period":      durationSchema(0, "Overrides the config's connector_rotation_period for this connector: 0 (off) or at least 2m."),
		"rotate_before_expiry": durationSchema(0, "Overrides the config's rotate_before_expiry for this connector."),
		"revoke_grace":         durationSchema(0, "Overrides the config's revoke_grace for this connector."),
		"revoke_max_delay":     durationSchema(0, "Overrides the config's revoke_max_delay for this connector."),
		"rotation_schedule":    rotationScheduleField("this connector's credential", "rotation_period"),
		"rotation_window":      rotationWindowField(),
		"credential_id": stringSchema("", "Adopt this existing credential of the connector (made outside Vault) "+
			"instead of creating one; with client_id and client_secret."),
		"client_id":       stringSchema("", "With credential_id: the adopted credential's client id."),
		"client_secret":   secretField("With credential_id: the adopted credential's client secret. Write-only."),
		"replace_current": boolSchema(false, "With credential_id on a managed connector: replace its current credential, which then retires like a rotated one."),
	})
}

// pathCreds are the creds/ paths.
func pathCreds(b *backend) []*framework.Path {
	register := forwarded(operation(b.credsWrite, "register", "connector",
		"Register a connector: create its first credential upstream and store it; on a managed connector, change its rotation overrides."))
	return []*framework.Path{
		{
			Pattern:      "creds/?$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: "c1"},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ListOperation: operation(b.credsList, "list", "connectors",
					"List the managed connectors as <app_id>/<connector_id>."),
			},
			HelpSynopsis:    "List the managed connectors as <app_id>/<connector_id>.",
			HelpDescription: "Lists every connector the engine manages, as <app_id>/<connector_id>; read creds/<app_id>/<connector_id> for its credential.",
		},
		{
			Pattern:        "creds/" + segment("app_id") + "/" + segment("connector_id") + "$",
			DisplayAttrs:   &framework.DisplayAttributes{OperationPrefix: "c1"},
			Fields:         connectorFields(),
			ExistenceCheck: b.connectorExists,
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.CreateOperation: register,
				logical.UpdateOperation: register,
				logical.ReadOperation: operation(b.credsRead, "read", "connector-credentials",
					"Read the connector's current credential as a lease that ends no later than the credential stops working."),
				logical.DeleteOperation: forwarded(operation(b.credsDelete, "deregister", "connector",
					"Deregister a connector: revoke upstream every credential the engine created for it, then forget it.")),
			},
			HelpSynopsis:    pathCredsHelpSyn,
			HelpDescription: strings.TrimSpace(pathCredsHelpDesc),
		},
		{
			Pattern:      "creds/" + segment("app_id") + "/" + segment("connector_id") + "/" + segment("credential_id") + "$",
			DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: "c1"},
			Fields: connectorIDFields(map[string]*framework.FieldSchema{
				"credential_id": idSchema("The id of one of the connector's credentials."),
			}),
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: operation(b.credentialMetadataRead, "read", "connector-credential-metadata",
					"Read a credential's upstream metadata and its state in the engine, never its secret."),
				logical.DeleteOperation: forwarded(operation(b.credentialRevoke, "revoke", "connector-credential",
					"Revoke a replaced (retiring) credential upstream now, without waiting for its grace or leases.")),
			},
			HelpSynopsis:    "Read a connector credential's upstream metadata (never its secret), or revoke a replaced one now.",
			HelpDescription: strings.TrimSpace(pathCredentialHelpDesc),
		},
	}
}

// segment is a path pattern capturing one whole segment. It takes anything
// but '/', so the handlers see bad ids and refuse them with a 400 that says why.
func segment(name string) string { return `(?P<` + name + `>[^/]+)` }

// connectorKeyFrom reads and checks the connector ids of a request.
func connectorKeyFrom(d *framework.FieldData) (lifecycle.Key, error) {
	k := lifecycle.Key{AppID: d.Get("app_id").(string), ConnectorID: d.Get("connector_id").(string)}
	if err := checkID("app_id", k.AppID); err != nil {
		return k, err
	}
	return k, checkID("connector_id", k.ConnectorID)
}

func (b *backend) connectorExists(ctx context.Context, req *logical.Request, d *framework.FieldData) (bool, error) {
	k, err := connectorKeyFrom(d)
	if err != nil {
		return false, nil // the handler answers the 400
	}
	e, err := b.getRecord(ctx, req.Storage, k)
	// A registration in doubt or cut short is completed by registering
	// again, which takes the create capability.
	return e != nil && e.Registered(), err
}

func (b *backend) credsList(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	keys, err := listConnectors(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.String()
	}
	return logical.ListResponse(names), nil
}

func (b *backend) credsWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if err := rejectUnknownFields(req, d); err != nil {
		return nil, err
	}
	k, err := connectorKeyFrom(d)
	if err != nil {
		return nil, err
	}
	o, err := overridesFrom(d, "")
	if err != nil {
		return nil, err
	}
	adopt, err := adoptionFrom(d)
	if err != nil {
		return nil, err
	}

	cfg, err := requireConfig(ctx, req.Storage)
	if err != nil {
		return nil, err
	}

	// Registration, an overrides update and deregistration of one connector
	// take turns: a write never answers for a record that a delete is removing.
	unlock := b.lockOp(k)
	defer unlock()
	existing, err := b.getRecord(ctx, req.Storage, k)
	if err != nil {
		return nil, err
	}
	if existing != nil && existing.Deregistering {
		return nil, errDeregistering(k)
	}
	if adopt != nil {
		if err := validateSchedule(o.Apply(cfg.Policy), ""); err != nil {
			return nil, err
		}
		return b.adoptCredential(ctx, req.Storage, k, existing, o, adopt)
	}
	if existing != nil && existing.Registered() {
		_, err := b.updateConnector(ctx, req.Storage, k, func(e *lifecycle.Record) (*lifecycle.Record, error) {
			if e == nil {
				return nil, notManaged(k)
			}
			merged := e.Overrides
			merged.Merge(o)
			if err := validateSchedule(merged.Apply(cfg.Policy), ""); err != nil {
				return nil, err
			}
			e.Overrides = merged
			return e, nil
		})
		return nil, err
	}
	if err := validateSchedule(o.Apply(cfg.Policy), ""); err != nil {
		return nil, err
	}

	// Create its first credential upstream (or complete a registration an
	// earlier request left unfinished) before answering; nothing is stored
	// when the upstream refuses.
	client, _, err := b.c1Client(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	result, err := b.rotateLocked(ctx, req.Storage, client, cfg, k, &o)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: credentialSummary(k, result.Current)}, nil
}

// credentialSummary describes a credential without its secret.
func credentialSummary(k lifecycle.Key, c *lifecycle.Credential) map[string]any {
	return map[string]any{
		"app_id":        k.AppID,
		"connector_id":  k.ConnectorID,
		"credential_id": c.ID,
		"client_id":     c.ClientID,
		"created_at":    formatTime(c.CreatedAt),
		"expires_time":  formatTime(c.ExpiresTime),
	}
}

// formatTime is RFC 3339 in UTC, or "" for the zero time.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// credsRead serves the current credential as a lease. The config and the
// record come from memory (memory.go keeps them coherent); storage is
// written only when the lease reaches past the credential's lease horizon.
func (b *backend) credsRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	k, err := connectorKeyFrom(d)
	if err != nil {
		return nil, err
	}
	cfg, err := b.config(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	maxTTL := b.maxLeaseTTL()
	now := b.now()

	e, err := b.getRecord(ctx, req.Storage, k)
	if err != nil {
		return nil, err
	}
	served, ttl, err := credsLease(cfg, k, e, now, maxTTL)
	if err != nil {
		return nil, err
	}
	policy := policyFor(cfg, e)
	if end := now.Add(ttl); end.After(served.LeaseHorizon) {
		// Record how far the lease reaches, so the credential, once
		// replaced, is revoked only after this lease has ended. Under the
		// entry lock, from the record as stored now.
		_, err = b.updateConnector(ctx, req.Storage, k, func(e *lifecycle.Record) (*lifecycle.Record, error) {
			if served, ttl, err = credsLease(cfg, k, e, now, maxTTL); err != nil {
				return nil, err
			}
			policy = policyFor(cfg, e)
			end := now.Add(ttl)
			if !end.After(served.LeaseHorizon) {
				return nil, nil
			}
			served.LeaseHorizon = lifecycle.LeaseHorizon(policy, served, now, end)
			return e, nil
		})
		if err != nil {
			return nil, err
		}
	}

	data := credentialSummary(k, served)
	data["client_secret"] = served.ClientSecret
	maps.Copy(data, staticCredsFields(policy, served, now))
	internal := map[string]any{"app_id": k.AppID, "connector_id": k.ConnectorID, "credential_id": served.ID}
	return leaseResponse(b.Secret(secretTypeC1Credential), data, internal, ttl), nil
}

// credsLease is the credential a creds read of record e serves at now, and
// its lease TTL; an error when there is none to serve.
func credsLease(cfg *pluginConfig, k lifecycle.Key, e *lifecycle.Record, now time.Time, maxTTL time.Duration) (*lifecycle.Credential, time.Duration, error) {
	if e == nil {
		return nil, 0, notManaged(k)
	}
	if e.Deregistering {
		return nil, 0, errDeregistering(k)
	}
	if !e.Registered() {
		return nil, 0, logical.CodedError(http.StatusServiceUnavailable, fmt.Sprintf(
			"the registration of connector %s did not complete (see rotate/%s for why): write creds/%s again", k, k, k))
	}
	c := e.Current
	if c == nil {
		return nil, 0, logical.CodedError(http.StatusServiceUnavailable,
			fmt.Sprintf("connector %s has no current credential: write rotate/%s to create one", k, k))
	}
	if !c.RevokedUpstreamAt.IsZero() {
		return nil, 0, logical.CodedError(http.StatusServiceUnavailable, fmt.Sprintf(
			"the current credential %s of connector %s was found revoked upstream at %s, out of band: it is no longer served; "+
				"a replacement is being made by the periodic function (see rotate/%s), or now with a write to rotate/%s",
			c.ID, k, formatTime(c.RevokedUpstreamAt), k, k))
	}
	planned, _ := policyFor(cfg, e).PlannedRevocation(c, now)
	ttl, ok := lifecycle.LeaseTTL(now, maxTTL, c.ExpiresTime, planned)
	if !ok {
		return nil, 0, logical.CodedError(http.StatusServiceUnavailable,
			fmt.Sprintf("the current credential %s of connector %s has expired or is about to; "+
				"it is rotated on the next periodic run, or now with a write to rotate/%s", c.ID, k, k))
	}
	return c, ttl, nil
}

func (b *backend) credsDelete(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	k, err := connectorKeyFrom(d)
	if err != nil {
		return nil, err
	}
	return nil, b.deregister(ctx, req.Storage, k)
}

// credentialRevoke revokes one replaced (retiring) credential upstream at
// once, without waiting for its grace or its leases. The current credential
// is refused: rotate first.
func (b *backend) credentialRevoke(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	k, id, err := credentialKeyFrom(d)
	if err != nil {
		return nil, err
	}
	return nil, b.revokeOne(ctx, req.Storage, k, id)
}

// credentialKeyFrom reads and checks the connector and credential ids of a request.
func credentialKeyFrom(d *framework.FieldData) (lifecycle.Key, string, error) {
	k, err := connectorKeyFrom(d)
	if err != nil {
		return k, "", err
	}
	id := d.Get("credential_id").(string)
	return k, id, checkID("credential_id", id)
}

func (b *backend) credentialMetadataRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	k, id, err := credentialKeyFrom(d)
	if err != nil {
		return nil, err
	}
	client, _, err := b.c1Client(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	cred, err := client.GetCredential(ctx, k.AppID, k.ConnectorID, id)
	if err != nil {
		return nil, upstreamError(fmt.Sprintf("reading credential %s of connector %s", id, k), err)
	}
	state := "unmanaged"
	if e, err := b.getRecord(ctx, req.Storage, k); err != nil {
		return nil, err
	} else if e != nil {
		state = e.StateOf(id).String()
	}
	return &logical.Response{Data: map[string]any{
		"credential_id": cred.ID,
		"app_id":        cred.AppID,
		"connector_id":  cred.ConnectorID,
		"client_id":     cred.ClientID,
		"display_name":  cred.DisplayName,
		"created_at":    formatTime(cred.CreatedAt),
		"updated_at":    formatTime(cred.UpdatedAt),
		"expires_time":  formatTime(cred.ExpiresTime),
		"last_used_at":  formatTime(cred.LastUsedAt),
		"deleted_at":    formatTime(cred.DeletedAt),
		"state":         state,
	}}, nil
}

// Vault Secrets Operator reads a non-renewable secret with allowStaticCreds
// set as a "static credential" that Vault rotates itself, from four fields of
// the answer: last_vault_rotation (RFC 3339), rotation_period (whole seconds,
// at least 1) or rotation_schedule, and ttl (whole seconds to the next
// rotation). It re-reads after ttl, and syncs the destination (restarting its
// rollout targets) only when the other fields changed, that is when the
// credential did. These fields give it that view of a creds read.

// staticCredsFields are the rotation fields of a creds read of c, current
// under policy p at now. rotation_period is the policy's period; when the
// policy rotates on a schedule it is left out and rotation_schedule and
// rotation_window are given; when only expiry rotates the credential it is
// the credential's own rotation interval, so that it is never 0 for a
// credential that will be rotated. ttl counts to the rotation that is due
// first, the schedule's or the expiry's.
func staticCredsFields(p lifecycle.Policy, c *lifecycle.Credential, now time.Time) map[string]any {
	out := map[string]any{
		"last_vault_rotation": formatTime(c.CreatedAt),
		"ttl":                 int64(0),
	}
	due, ok := p.RotationDue(c, now)
	if !ok {
		out["rotation_period"] = int64(0)
		return out
	}
	if left := due.Sub(now); left > 0 {
		out["ttl"] = int64(left / time.Second)
	}
	if p.RotationSchedule != "" {
		out["rotation_schedule"] = p.RotationSchedule
		out["rotation_window"] = int64(p.RotationWindow / time.Second)
		return out
	}
	period := p.RotationPeriod
	if period <= 0 {
		period = due.Sub(c.CreatedAt)
	}
	out["rotation_period"] = max(int64(period/time.Second), 1)
	return out
}
