package c1

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/go-uuid"
	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/automatedrotationutil"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/hashicorp/vault/sdk/rotation"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/c1api"
	"github.com/vault-plugin-c1/vault-plugin-c1/internal/httpx"
	"github.com/vault-plugin-c1/vault-plugin-c1/internal/lifecycle"
)

// This file is the engine's own C1 credential, its root: config/rotate-root,
// the root's expiry, its rotation by the periodic function or Vault's
// rotation manager, and the WAL entry that guards a rotation. The rules it
// applies are the lifecycle's (lifecycle.Root).

// rootStorageKey holds what the engine knows of its root (lifecycle.Root);
// the root's secret lives in the config. Seal-wrapped.
const rootStorageKey = "root"

// walKindRootRotation is the WAL entry kind written before a root is created.
const walKindRootRotation = "c1_root_rotation"

// walRootRotation is the data of a root rotation WAL entry.
type walRootRotation struct {
	RotationID string    `json:"rotation_id"`
	OldID      string    `json:"old_id"`
	StartedAt  time.Time `json:"started_at"`
}

// rootDisplayName names the credential a root rotation creates, so that the
// rollback of an interrupted rotation finds it upstream by its name.
func rootDisplayName(rotationID string) string { return "vault-plugin-c1 root " + rotationID }

const pathRotateRootHelp = `
Rotates the engine's own C1 credential: a new credential of the same kind
(a personal client of the same user, or a credential of the service principal
named by root_service_principal_id), with the same scoped roles and allowed
networks and the same lifetime (or root_credential_ttl), is created, logged
in with, stored and used by every client; the old one is deleted upstream a
little later, once requests made with it have ended. The answer names ids and
times, never a secret. A static c1_access_token cannot be rotated.
`

// pathRotateRoot is config/rotate-root.
func pathRotateRoot(b *backend) []*framework.Path {
	return []*framework.Path{{
		Pattern:      "config/rotate-root$",
		DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: "c1"},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.UpdateOperation: forwarded(operation(b.rotateRootWrite, "rotate", "root",
				"Rotate the engine's own C1 credential now.")),
		},
		HelpSynopsis:    "Rotate the engine's own C1 credential.",
		HelpDescription: strings.TrimSpace(pathRotateRootHelp),
	}}
}

func (b *backend) rotateRootWrite(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	root, err := b.rotateRoot(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	data := map[string]any{
		"credential_id": root.ID, "client_id": root.ClientID,
		"expires_time": formatTime(root.ExpiresTime), "last_rotation": formatTime(root.LastRotation),
	}
	if n := len(root.Retired); n > 0 {
		data["previous_credential_id"] = root.Retired[n-1].ID
		data["previous_delete_at"] = formatTime(root.Retired[n-1].DeleteAt)
	}
	return &logical.Response{Data: data}, nil
}

// getRoot reads what the engine knows of its root.
func getRoot(ctx context.Context, s logical.Storage) (*lifecycle.Root, error) {
	raw, err := s.Get(ctx, rootStorageKey)
	if err != nil {
		return nil, fmt.Errorf("reading the root state: %w", err)
	}
	root := &lifecycle.Root{}
	if raw != nil {
		if err := raw.DecodeJSON(root); err != nil {
			return nil, fmt.Errorf("decoding the root state: %w", err)
		}
	}
	return root, nil
}

// putRoot stores what the engine knows of its root.
func putRoot(ctx context.Context, s logical.Storage, root *lifecycle.Root) error {
	raw, err := logical.StorageEntryJSON(rootStorageKey, root)
	if err == nil {
		err = s.Put(ctx, raw)
	}
	if err != nil {
		return fmt.Errorf("storing the root state: %w", err)
	}
	return nil
}

// changeRoot applies change to the stored root state, and stores it when
// change reports a change. Its callers hold rootMu.
func (b *backend) changeRoot(ctx context.Context, s logical.Storage, change func(*lifecycle.Root) bool) (*lifecycle.Root, error) {
	root, err := getRoot(ctx, s)
	if err != nil || !change(root) {
		return root, err
	}
	return root, putRoot(ctx, s, root)
}

// rootScope is where the engine's own credential lives upstream.
func (c *pluginConfig) rootScope() c1api.RootScope {
	return c1api.RootScope{ServicePrincipalID: c.RootServicePrincipalID}
}

// rootPolicy is the rotation policy of the root: the config's root rotation
// fields, and rotate_before_expiry as for connectors.
func (c *pluginConfig) rootPolicy() lifecycle.Policy {
	r := c.RootRotation
	return lifecycle.Policy{RotationPeriod: r.RotationPeriod, RotationSchedule: r.RotationSchedule,
		RotationWindow: r.RotationWindow, RotateBeforeExpiry: c.Policy.RotateBeforeExpiry}
}

// rootClient is the C1 client when the engine logs in with a credential it
// can rotate; a 400 says why not.
func (b *backend) rootClient(ctx context.Context, s logical.Storage) (*c1api.Client, *pluginConfig, error) {
	client, cfg, err := b.c1Client(ctx, s)
	switch {
	case err != nil:
		return nil, nil, err
	case cfg.C1AccessToken != "":
		return nil, nil, badRequest("the engine logs in with a static c1_access_token, which Vault cannot rotate: " +
			"configure c1_client_id and c1_client_secret (a personal client, or a service principal's credential with " +
			"root_service_principal_id) for the engine to rotate its own credential")
	}
	return client, cfg, nil
}

// locateRoot reads the engine's own credential upstream: by its id when the
// root state knows it for the configured client id, else by the client id
// among the personal clients or the service principal's credentials.
func (b *backend) locateRoot(ctx context.Context, client *c1api.Client, cfg *pluginConfig, root *lifecycle.Root) (*c1api.RootCredential, error) {
	if root.ID != "" && root.ClientID == cfg.C1ClientID {
		rc, err := client.GetRootCredential(ctx, cfg.rootScope(), root.ID)
		if err == nil && rc.DeletedAt.IsZero() {
			return rc, nil
		}
		if err != nil && !errors.Is(err, c1api.ErrRootCredentialNotFound) {
			return nil, upstreamError("reading the engine's own credential", err)
		}
	}
	rc, err := client.FindRootCredential(ctx, cfg.rootScope(), cfg.C1ClientID)
	var he *httpx.Error
	refused := errors.As(err, &he) && (he.Status == http.StatusForbidden || he.Status == http.StatusNotFound)
	if errors.Is(err, c1api.ErrRootCredentialNotFound) || refused {
		where := "the personal clients of its user"
		if cfg.RootServicePrincipalID != "" {
			where = "the credentials of service principal " + cfg.RootServicePrincipalID
		}
		why := ""
		if refused {
			why = fmt.Sprintf(" (the upstream refused to list them: %v)", err)
		}
		return nil, badRequest("the engine's own credential (client id %s) is not among %s%s: if it is a service principal's "+
			"credential, set root_service_principal_id in config", cfg.C1ClientID, where, why)
	}
	if err != nil {
		return nil, upstreamError("finding the engine's own credential", err)
	}
	return rc, nil
}

// refreshRoot reads the root upstream and records its id and expiry. The
// caller holds rootMu.
func (b *backend) refreshRoot(ctx context.Context, s logical.Storage, client *c1api.Client, cfg *pluginConfig) (*lifecycle.Root, error) {
	root, err := getRoot(ctx, s)
	if err != nil {
		return nil, err
	}
	rc, err := b.locateRoot(ctx, client, cfg, root)
	now := b.now()
	var coded logical.HTTPCodedError
	switch {
	case errors.As(err, &coded) && coded.Code() == http.StatusBadRequest:
		// Not found: read again in an hour (or at the next config write);
		// the config read shows why.
		root, serr := b.changeRoot(ctx, s, func(r *lifecycle.Root) bool { r.NotFound(cfg.C1ClientID, err.Error(), now); return true })
		return root, errors.Join(err, serr)
	case err != nil:
		return root, err // the upstream could not say: what is known stands, and the next tick asks again
	}
	return b.changeRoot(ctx, s, func(r *lifecycle.Root) bool {
		r.Found(rc.ID, rc.ClientID, rc.CreatedAt, rc.ExpiresTime, now)
		return true
	})
}

// rootDrain is how long a replaced root stays upstream after the switch, so
// that requests still under way with it end first.
func rootDrain(cfg *pluginConfig) time.Duration {
	return max(lifecycle.Tick, cfg.RequestTimeout*time.Duration(cfg.MaxRetries+1))
}

// rotateRoot replaces the engine's own credential. Its steps:
//  1. find the current root upstream (its roles, networks and lifetime);
//  2. write a WAL entry naming the rotation;
//  3. create the new credential, named for the rotation (a rollback finds it
//     by that name when the answer was lost);
//  4. log in with it: refused, it is deleted and the old one kept;
//  5. store its secret in the config and switch every client to it: a
//     failure deletes it and keeps the old one;
//  6. retire the old one, deleted upstream by the periodic function once
//     requests made with it have ended (rootDrain); a failed delete is
//     retried every tick and shown in the config read;
//  7. delete the WAL entry.
//
// A create whose outcome is unknown keeps the old root, records its window,
// and leaves the WAL entry for the rollback to look for the credential.
func (b *backend) rotateRoot(ctx context.Context, s logical.Storage) (*lifecycle.Root, error) {
	b.rootMu.Lock()
	defer b.rootMu.Unlock()
	client, cfg, err := b.rootClient(ctx, s)
	if err != nil {
		return nil, err
	}
	root, err := getRoot(ctx, s)
	if err != nil {
		return nil, err
	}
	old, err := b.locateRoot(ctx, client, cfg, root)
	if err != nil {
		return nil, err
	}
	ctx = context.WithoutCancel(ctx) // from here, a caller going away must not cut the rotation short
	rotationID, err := uuid.GenerateUUID()
	if err != nil {
		return nil, fmt.Errorf("generating a rotation id: %w", err)
	}
	started := b.now()
	walID, err := framework.PutWAL(ctx, s, walKindRootRotation, &walRootRotation{RotationID: rotationID, OldID: old.ID, StartedAt: started})
	if err != nil {
		return nil, fmt.Errorf("writing the root rotation WAL entry: %w", err)
	}
	spec := c1api.RootCredentialSpec{DisplayName: rootDisplayName(rotationID), Expires: cfg.RootCredentialTTL,
		ScopedRoles: old.ScopedRoles, AllowSourceCIDRs: old.AllowSourceCIDRs}
	if spec.Expires == 0 && !old.ExpiresTime.IsZero() {
		spec.Expires = old.ExpiresTime.Sub(old.CreatedAt).Truncate(time.Second)
	}
	created, secret, err := client.CreateRootCredential(ctx, cfg.rootScope(), spec)
	if err != nil {
		var unusable *c1api.UnusableCredentialError
		unknown := createOutcomeUnknown(err) && !errors.As(err, &unusable)
		if errors.As(err, &unusable) {
			b.dropNewRoot(ctx, client, cfg, unusable.CredentialID, unusable.Reason)
		}
		if !unknown {
			b.deleteWAL(ctx, s, walID)
		}
		return nil, b.rootFailed(ctx, s, upstreamError("creating a new root credential", err), unknown, started)
	}
	if err := b.loginWith(ctx, cfg, created.ClientID, secret); err != nil {
		b.dropNewRoot(ctx, client, cfg, created.ID, "it could not log in")
		b.deleteWAL(ctx, s, walID)
		return nil, b.rootFailed(ctx, s, logical.CodedError(http.StatusBadGateway, fmt.Sprintf(
			"the new root credential %s could not log in (%v): it was deleted, and the engine keeps its old one", created.ID, err)), false, started)
	}
	now := b.now()
	next := lifecycle.Root{ID: created.ID, ClientID: created.ClientID, CreatedAt: created.CreatedAt, ExpiresTime: created.ExpiresTime}
	if next.CreatedAt.IsZero() {
		next.CreatedAt = now
	}
	if err := b.switchRoot(ctx, s, cfg.C1ClientID, created.ClientID, secret); err != nil {
		b.dropNewRoot(ctx, client, cfg, created.ID, "storing it failed")
		b.deleteWAL(ctx, s, walID)
		return nil, b.rootFailed(ctx, s, fmt.Errorf("storing the new root credential %s: %w; it was deleted, and the engine keeps its old one",
			created.ID, err), false, started)
	}
	// From here the new root is in use: what is left to do never undoes it.
	root, err = b.changeRoot(ctx, s, func(r *lifecycle.Root) bool {
		if r.ID == "" {
			r.ID, r.ClientID = old.ID, old.ClientID
		}
		r.Rotated(next, rotationID, now, now.Add(rootDrain(cfg)))
		return true
	})
	if err != nil {
		// The old root is not recorded as retired: the WAL entry stays, and
		// its rollback (which finds the new root current) retires it.
		b.Logger().Warn("recording the root rotation failed; the WAL rollback completes it", "error", err)
		return nil, fmt.Errorf("recording the root rotation: %w", err)
	}
	b.deleteWAL(ctx, s, walID)
	b.reportRoot(ctx, eventRootRotated, next.ID, nil, "client_id", next.ClientID, "expires_time", formatTime(next.ExpiresTime),
		"previous_credential_id", old.ID)
	return root, nil
}

// loginWith logs in with a new client's credentials, as every client will.
func (b *backend) loginWith(ctx context.Context, cfg *pluginConfig, clientID, secret string) error {
	serverURL, err := cfg.c1ServerURL()
	if err != nil {
		return err
	}
	c, err := c1api.New(c1api.Config{ServerURL: serverURL, ClientID: clientID, ClientSecret: secret, HTTP: b.httpOptions(cfg), Now: b.now})
	if err != nil {
		return err
	}
	return c.Login(ctx)
}

// switchRoot stores a new root's client id and secret in the config, unless
// the config no longer holds oldClientID, and switches every client to it.
// A store that failed but was applied counts as done.
func (b *backend) switchRoot(ctx context.Context, s logical.Storage, oldClientID, clientID, secret string) error {
	b.configMu.Lock()
	defer b.configMu.Unlock()
	cfg, err := requireConfig(ctx, s)
	if err != nil {
		return err
	}
	if cfg.C1ClientID != oldClientID {
		return errors.New("the config's c1_client_id changed during the rotation")
	}
	cfg.C1ClientID, cfg.C1ClientSecret = clientID, secret
	err = b.storeConfig(ctx, s, cfg)
	if err != nil {
		if now, rerr := getConfig(ctx, s); rerr == nil && now != nil && now.C1ClientID == clientID {
			return nil
		}
	}
	return err
}

// dropNewRoot deletes a new root the engine will not use; where that fails,
// the ERROR log names it for the operator.
func (b *backend) dropNewRoot(ctx context.Context, client *c1api.Client, cfg *pluginConfig, id, why string) {
	if err := client.DeleteRootCredential(ctx, cfg.rootScope(), id); err != nil && !httpx.IsNotFound(err) {
		b.Logger().Error("a new root credential the engine does not use could not be deleted: delete it in C1",
			"credential_id", id, "reason", why, "error", err)
	}
}

// rootFailed records a failed root rotation begun at started, and returns cause.
func (b *backend) rootFailed(ctx context.Context, s logical.Storage, cause error, unknown bool, started time.Time) error {
	ended := b.now()
	if _, err := b.changeRoot(ctx, s, func(r *lifecycle.Root) bool { r.Failed(cause.Error(), unknown, started, ended); return true }); err != nil {
		b.Logger().Warn("recording a failed root rotation", "error", err)
	}
	extra := []any{}
	if unknown {
		extra = append(extra, "from", formatTime(started), "to", formatTime(ended))
		cause = withNote(cause, fmt.Sprintf("the outcome is unknown: a root credential named %q may have been created upstream "+
			"between %s and %s; the engine keeps its old one, and the WAL rollback deletes the new one if it finds it",
			"vault-plugin-c1 root <rotation id>", formatTime(started), formatTime(ended)))
	}
	b.reportRoot(ctx, eventRootRotateFailed, "", cause, extra...)
	return cause
}

// maintainRoot is the periodic function's care of the root: read it
// upstream now and then, delete replaced roots once due, rotate it when due
// (before its expiry; by the policy unless Vault's rotation manager does),
// and warn once a day while it nears its expiry unrotated.
func (b *backend) maintainRoot(ctx context.Context, s logical.Storage) error {
	cfg, err := b.config(ctx, s)
	if err != nil || cfg.C1AccessToken != "" || cfg.C1ClientID == "" {
		return nil // nothing the engine can rotate
	}
	root, err := getRoot(ctx, s)
	if err != nil {
		return err
	}
	now := b.now()
	var errs []error
	if root.CheckDue(now) || root.ClientID != cfg.C1ClientID || len(root.DeleteDue(now)) > 0 {
		b.rootMu.Lock()
		client, cfg, err := b.rootClient(ctx, s)
		if err == nil && (root.CheckDue(now) || root.ClientID != cfg.C1ClientID) {
			root, err = b.refreshRoot(ctx, s, client, cfg)
		}
		if err == nil {
			root, err = b.deleteRetiredRoots(ctx, s, client, cfg, root, now)
		}
		b.rootMu.Unlock()
		errs = append(errs, err)
	}
	policy := cfg.rootPolicy()
	if due, ok := root.RotationDue(policy, !cfg.RootRotationManaged, now); ok && !due.After(now) && !cfg.RootRotation.DisableAutomatedRotation {
		if root, err = b.rotateRoot(ctx, s); err != nil {
			errs = append(errs, err)
			root, _ = getRoot(ctx, s)
		}
	}
	if root != nil && root.WarningDue(policy, now) {
		b.reportRoot(ctx, eventRootExpiring, root.ID, nil, "expires_time", formatTime(root.ExpiresTime), "why", root.LastError)
		b.rootMu.Lock()
		_, err := b.changeRoot(ctx, s, func(r *lifecycle.Root) bool { r.WarnedAt = now; return true })
		b.rootMu.Unlock()
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// deleteRetiredRoots deletes upstream the replaced roots whose time has
// come; a 404 counts as deleted.
func (b *backend) deleteRetiredRoots(ctx context.Context, s logical.Storage, client *c1api.Client, cfg *pluginConfig,
	root *lifecycle.Root, now time.Time,
) (*lifecycle.Root, error) {
	for _, old := range root.DeleteDue(now) {
		err := client.DeleteRootCredential(ctx, cfg.rootScope(), old.ID)
		cause := ""
		if err != nil && !httpx.IsNotFound(err) {
			cause = err.Error()
			b.Logger().Warn("deleting a replaced root credential failed; retried on the next tick", "credential_id", old.ID, "error", err)
		} else {
			b.Logger().Info("replaced root credential deleted upstream", "credential_id", old.ID)
		}
		var serr error
		root, serr = b.changeRoot(ctx, s, func(r *lifecycle.Root) bool { r.Deleted(old.ID, cause); return true })
		if serr != nil {
			return root, serr
		}
	}
	return root, nil
}

// rollBackRootRotation undoes an interrupted root rotation: a credential it
// created (found upstream by its name) is deleted, unless the config already
// holds it, in which case the rotation is completed (the old root retired).
func (b *backend) rollBackRootRotation(ctx context.Context, s logical.Storage, w walRootRotation) error {
	b.rootMu.Lock()
	defer b.rootMu.Unlock()
	root, err := getRoot(ctx, s)
	if err != nil || root.RotationID == w.RotationID {
		return err // done, only the WAL entry's deletion was lost
	}
	client, cfg, err := b.rootClient(ctx, s)
	if err != nil {
		return err
	}
	list, err := client.ListRootCredentials(ctx, cfg.rootScope())
	if err != nil {
		return upstreamError("listing root credentials to roll back an interrupted root rotation", err)
	}
	now := b.now()
	for _, rc := range list {
		if rc.DisplayName != rootDisplayName(w.RotationID) {
			continue
		}
		// The config holds it, or held it (a later rotation retired it): the
		// rotation switched to it, and the root it replaced is to go.
		if current := rc.ClientID == cfg.C1ClientID; current || root.Retiring(rc.ID) {
			next := lifecycle.Root{ID: rc.ID, ClientID: rc.ClientID, CreatedAt: rc.CreatedAt, ExpiresTime: rc.ExpiresTime}
			_, err := b.changeRoot(ctx, s, func(r *lifecycle.Root) bool {
				return r.CompleteRotation(w.OldID, next, current, w.RotationID, now, now.Add(rootDrain(cfg)))
			})
			if err != nil {
				return err
			}
			continue
		}
		if err := client.DeleteRootCredential(ctx, cfg.rootScope(), rc.ID); err != nil && !httpx.IsNotFound(err) {
			return upstreamError(fmt.Sprintf("deleting root credential %s of an interrupted rotation", rc.ID), err)
		}
		b.Logger().Warn("deleted the root credential an interrupted root rotation created", "credential_id", rc.ID, "rotation_id", w.RotationID)
	}
	// The root the rotation replaced, still live but no longer the config's
	// (the switch happened, and what followed may have forgotten it), is
	// retired like any replaced root.
	for _, rc := range list {
		if rc.ID == w.OldID && rc.ClientID != cfg.C1ClientID && rc.DeletedAt.IsZero() {
			_, err := b.changeRoot(ctx, s, func(r *lifecycle.Root) bool {
				return r.CompleteRotation(w.OldID, lifecycle.Root{}, false, w.RotationID, now, now.Add(rootDrain(cfg)))
			})
			return err
		}
	}
	return nil
}

// registerRootRotation tells Vault's rotation manager of the root's
// rotation policy, or withdraws it. On Vault Community, which has no
// rotation manager, the engine's own periodic function keeps the policy; it
// reports whether the manager took the job.
func (b *backend) registerRootRotation(ctx context.Context, req *logical.Request, cfg *pluginConfig) (bool, error) {
	r := cfg.RootRotation
	var err error
	if r.ShouldDeregisterRotationJob() {
		err = b.System().DeregisterRotationJob(ctx, &rotation.RotationJobDeregisterRequest{MountPoint: req.MountPoint, ReqPath: req.Path})
	} else {
		_, err = b.System().RegisterRotationJob(ctx, &rotation.RotationJobConfigureRequest{
			MountPoint: req.MountPoint, ReqPath: req.Path, RotationSchedule: r.RotationSchedule,
			RotationWindow: r.RotationWindow, RotationPeriod: r.RotationPeriod, RotationPolicy: r.RotationPolicy,
		})
	}
	switch {
	case err == nil:
		return !r.ShouldDeregisterRotationJob(), nil
	case errors.Is(err, automatedrotationutil.ErrRotationManagerUnsupported),
		strings.Contains(err.Error(), "not supported"), strings.Contains(err.Error(), "not implemented"):
		return false, nil // Vault Community: the periodic function keeps the policy
	}
	return false, fmt.Errorf("registering the root's rotation with Vault's rotation manager: %w", err)
}

// rotateRootByVault is the rotation manager's call (Vault Enterprise).
func (b *backend) rotateRootByVault(ctx context.Context, req *logical.Request) error {
	_, err := b.rotateRoot(ctx, req.Storage)
	return err
}

// rootStatus is what a config read shows of the root.
func rootStatus(root *lifecycle.Root, cfg *pluginConfig, now time.Time) map[string]any {
	pending := make([]map[string]any, 0, len(root.Retired))
	for _, o := range root.Retired {
		pending = append(pending, map[string]any{"credential_id": o.ID, "delete_at": formatTime(o.DeleteAt), "last_error": o.LastError})
	}
	windows := make([]map[string]any, 0, len(root.UnknownCreates))
	for _, w := range root.UnknownCreates {
		windows = append(windows, map[string]any{"from": formatTime(w.From), "to": formatTime(w.To)})
	}
	next := ""
	if due, ok := root.RotationDue(cfg.rootPolicy(), true, now); ok && !cfg.RootRotation.DisableAutomatedRotation {
		next = formatTime(due)
	}
	return map[string]any{
		"root_credential_id": root.ID, "root_expires_time": formatTime(root.ExpiresTime),
		"root_last_rotation": formatTime(root.LastRotation), "root_next_rotation": next,
		"root_checked_at": formatTime(root.CheckedAt), "root_last_error": root.LastError,
		"root_pending_deletions": pending, "root_unknown_outcome_windows": windows,
		"root_rotation_by_vault": cfg.RootRotationManaged,
	}
}
