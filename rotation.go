package c1

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-uuid"
	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/locksutil"
	"github.com/hashicorp/vault/sdk/logical"
	"golang.org/x/sync/errgroup"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/c1api"
	"github.com/vault-plugin-c1/vault-plugin-c1/internal/httpx"
)

// This file is the rotation state machine: the only place that decides when
// a credential is created, promoted, retired or revoked. Paths and the
// periodic function call it.

// rotationResult says what a rotation did.
type rotationResult struct {
	Current  *storedCredential
	Previous *storedCredential // the replaced credential, now retiring; nil on registration
}

// lockOp takes the operation lock of a connector. Long operations (anything
// that calls upstream) hold it; storage updates take the entry lock inside.
func (b *backend) lockOp(k connectorKey) func() {
	l := locksutil.LockForKey(b.opLocks, k.String())
	l.Lock()
	return l.Unlock
}

// policyFor is the rotation policy in force for a connector.
func policyFor(cfg *pluginConfig, e *connectorEntry) rotationPolicy {
	return e.Overrides.apply(cfg.Policy)
}

// register starts managing a connector: its first credential is created
// upstream and stored before the call returns. Nothing is stored when
// the upstream refuses.
func (b *backend) register(ctx context.Context, s logical.Storage, k connectorKey, o policyOverrides) (*rotationResult, error) {
	client, cfg, err := b.c1Client(ctx, s)
	if err != nil {
		return nil, err
	}
	unlock := b.lockOp(k)
	defer unlock()
	return b.rotateLocked(ctx, s, client, cfg, k, &o)
}

// rotateNow rotates a managed connector. Concurrent calls for one connector
// make one rotation: a call that waited while another rotation finished is
// answered by that rotation.
func (b *backend) rotateNow(ctx context.Context, s logical.Storage, k connectorKey) (*rotationResult, error) {
	client, cfg, err := b.c1Client(ctx, s)
	if err != nil {
		return nil, err
	}
	seen, _ := b.rotations.last(k)
	unlock := b.lockOp(k)
	defer unlock()
	if n, result := b.rotations.last(k); n != seen {
		return result, nil
	}
	return b.rotateLocked(ctx, s, client, cfg, k, nil)
}

// rotationLog counts each connector's completed rotations and keeps the
// result of the last one, in memory.
type rotationLog struct {
	mu      sync.Mutex
	entries map[connectorKey]rotationLogEntry
}

type rotationLogEntry struct {
	count  uint64
	result *rotationResult
}

// record notes a completed rotation of k.
func (l *rotationLog) record(k connectorKey, result *rotationResult) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.entries == nil {
		l.entries = map[connectorKey]rotationLogEntry{}
	}
	l.entries[k] = rotationLogEntry{count: l.entries[k].count + 1, result: result}
}

// last returns how many rotations of k completed, and the last one's result.
func (l *rotationLog) last(k connectorKey) (uint64, *rotationResult) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entries[k]
	return e.count, e.result
}

// rotateLocked creates a new credential upstream and makes it current. With
// register set it creates the connector's record. The caller holds the op lock.
//
// Crash safety: a WAL entry is written before the upstream call; the answer,
// secret included, is stored at once as the pending credential, then promoted
// to current, and only then the WAL entry is deleted. A rollback of a stale
// entry revokes a pending credential that was never promoted.
func (b *backend) rotateLocked(ctx context.Context, s logical.Storage, client *c1api.Client, cfg *pluginConfig,
	k connectorKey, register *policyOverrides,
) (*rotationResult, error) {
	existing, err := getConnector(ctx, s, k)
	if err != nil {
		return nil, err
	}
	switch {
	case register == nil && existing == nil:
		return nil, notManaged(k)
	case register != nil && existing != nil && existing.Current != nil:
		// A concurrent registration won: one credential, not two.
		return &rotationResult{Current: existing.Current}, nil
	}
	// Once the upstream is asked for a credential, the caller going away must
	// not cut the rotation short between creating the secret and storing it.
	// Every upstream attempt has its own timeout.
	ctx = context.WithoutCancel(ctx)

	rotationID, err := uuid.GenerateUUID()
	if err != nil {
		return nil, fmt.Errorf("generating rotation id: %w", err)
	}
	walID, err := framework.PutWAL(ctx, s, walKindRotation, &walRotation{
		AppID: k.AppID, ConnectorID: k.ConnectorID, RotationID: rotationID, StartedAt: b.now(),
	})
	if err != nil {
		return nil, fmt.Errorf("writing the rotation WAL entry: %w", err)
	}

	created, err := client.RotateCredential(ctx, k.AppID, k.ConnectorID)
	if err != nil {
		b.deleteWAL(ctx, s, walID)
		mapped := upstreamError(fmt.Sprintf("creating a credential for connector %s", k), err)
		if register == nil {
			b.recordError(ctx, s, k, mapped)
		}
		return nil, mapped
	}
	pending := &storedCredential{
		ID:           created.ID,
		ClientID:     created.ClientID,
		ClientSecret: created.ClientSecret,
		CreatedAt:    created.CreatedAt.UTC(),
		ExpiresTime:  created.ExpiresTime.UTC(),
		RotationID:   rotationID,
	}
	if created.CreatedAt.IsZero() {
		pending.CreatedAt = b.now()
	}

	// Persist the one-time secret before anything else.
	now := b.now()
	_, err = b.updateConnector(ctx, s, k, func(e *connectorEntry) (*connectorEntry, error) {
		switch {
		case e == nil && register != nil:
			e = &connectorEntry{AppID: k.AppID, ConnectorID: k.ConnectorID, Overrides: *register, RegisteredAt: now}
		case e == nil:
			return nil, errConnectorGone
		case e.Pending != nil:
			// Left by an interrupted rotation: never served, revoke it now.
			e.Pending.RetiredAt, e.Pending.RevokeAt, e.Pending.ClientSecret = now, now, ""
			e.Retiring = append(e.Retiring, e.Pending)
		}
		e.Pending = pending
		return e, nil
	})
	if err != nil {
		// Unstored, the secret is lost: revoke the credential while its id is known.
		if rerr := client.RevokeCredential(ctx, k.AppID, k.ConnectorID, pending.ID); rerr != nil && !httpx.IsNotFound(rerr) {
			b.Logger().Error("a new credential could not be stored nor revoked; it stays valid upstream until it expires",
				"connector", k.String(), "credential_id", pending.ID, "error", rerr)
		}
		b.deleteWAL(ctx, s, walID)
		return nil, fmt.Errorf("storing the new credential of connector %s: %w", k, err)
	}

	// Promote it. On failure the WAL entry stays and its rollback revokes the pending credential.
	result := &rotationResult{}
	_, err = b.updateConnector(ctx, s, k, func(e *connectorEntry) (*connectorEntry, error) {
		if e == nil || e.Pending == nil || e.Pending.ID != pending.ID {
			return nil, fmt.Errorf("the pending credential of connector %s changed during its rotation", k)
		}
		if e.Current != nil {
			prev := e.Current
			prev.RetiredAt, prev.RevokeAt, prev.ClientSecret = now, policyFor(cfg, e).revokeAt(prev, now), ""
			e.Retiring = append(e.Retiring, prev)
			result.Previous = prev
		}
		e.Current, e.Pending = e.Pending, nil
		e.LastRotation, e.LastError, e.LastErrorAt = now, "", time.Time{}
		result.Current = e.Current
		return e, nil
	})
	if err != nil {
		return nil, fmt.Errorf("promoting the new credential of connector %s: %w", k, err)
	}
	b.deleteWAL(ctx, s, walID)
	b.rotations.record(k, result)
	b.Logger().Info("connector credential rotated", "connector", k.String(), "credential_id", pending.ID,
		"expires_time", pending.ExpiresTime)
	return result, nil
}

// notManaged is the 404 of a connector the engine does not manage.
func notManaged(k connectorKey) error {
	return notFound("connector %s is not managed: register it with a write to creds/%s", k, k)
}

// deleteWAL removes a finished rotation's WAL entry; a leftover entry only
// costs a harmless rollback later.
func (b *backend) deleteWAL(ctx context.Context, s logical.Storage, id string) {
	if err := framework.DeleteWAL(ctx, s, id); err != nil {
		b.Logger().Warn("deleting a rotation WAL entry", "wal_id", id, "error", err)
	}
}

// recordError keeps the last error of a connector's background work for the status read.
func (b *backend) recordError(ctx context.Context, s logical.Storage, k connectorKey, cause error) {
	now := b.now()
	_, err := b.updateConnector(ctx, s, k, func(e *connectorEntry) (*connectorEntry, error) {
		if e == nil {
			return nil, nil
		}
		e.LastError, e.LastErrorAt = cause.Error(), now
		return e, nil
	})
	if err != nil {
		b.Logger().Warn("recording a connector error", "connector", k.String(), "error", err)
	}
}

// revokeCredential revokes one credential upstream and removes it from the
// connector's record. A 404 means it is already revoked.
func (b *backend) revokeCredential(ctx context.Context, s logical.Storage, client *c1api.Client, k connectorKey, id string) error {
	if err := client.RevokeCredential(ctx, k.AppID, k.ConnectorID, id); err != nil && !httpx.IsNotFound(err) {
		return upstreamError(fmt.Sprintf("revoking credential %s of connector %s", id, k), err)
	}
	_, err := b.updateConnector(ctx, s, k, func(e *connectorEntry) (*connectorEntry, error) {
		if e == nil {
			return nil, nil
		}
		e.Retiring = removeCredential(e.Retiring, id)
		if e.Pending != nil && e.Pending.ID == id {
			e.Pending = nil
		}
		if e.Current != nil && e.Current.ID == id {
			e.Current = nil
		}
		return e, nil
	})
	if err == nil {
		b.Logger().Info("connector credential revoked", "connector", k.String(), "credential_id", id)
	}
	return err
}

// removeCredential returns list without the credential id.
func removeCredential(list []*storedCredential, id string) []*storedCredential {
	out := list[:0]
	for _, c := range list {
		if c.ID != id {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// revokeDue revokes the retired credentials whose time has come. The caller holds the op lock.
func (b *backend) revokeDue(ctx context.Context, s logical.Storage, client *c1api.Client, k connectorKey, now time.Time) error {
	e, err := getConnector(ctx, s, k)
	if err != nil || e == nil {
		return err
	}
	var errs []error
	for _, c := range e.Retiring {
		if c.RevokeAt.After(now) {
			continue
		}
		if err := b.revokeCredential(ctx, s, client, k, c.ID); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// maintain does a connector's due work: rotate when due, revoke retired
// credentials whose grace has passed.
func (b *backend) maintain(ctx context.Context, s logical.Storage, client *c1api.Client, cfg *pluginConfig, k connectorKey) error {
	unlock := b.lockOp(k)
	defer unlock()

	e, err := getConnector(ctx, s, k)
	if err != nil || e == nil {
		return err
	}
	now := b.now()
	var errs []error
	if e.Current != nil {
		if due, ok := policyFor(cfg, e).rotationDue(e.Current); ok && !now.Before(due) {
			if _, err := b.rotateLocked(ctx, s, client, cfg, k, nil); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := b.revokeDue(ctx, s, client, k, now); err != nil {
		b.recordError(ctx, s, k, err)
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// sweep maintains the connectors whose work is due, with at most
// rotation_concurrency upstream requests in flight (sweep_gate.go).
func (b *backend) sweep(ctx context.Context, s logical.Storage) error {
	c, err := b.upstream(ctx, s)
	if err == errNotConfigured {
		return nil // nothing to maintain yet
	}
	if err != nil {
		return err
	}
	if c.c1 == nil {
		return nil // C1 is not configured
	}
	client, cfg := c.c1, c.config
	keys, err := b.dueConnectors(ctx, s, cfg)
	if err != nil {
		return err
	}
	var (
		g      errgroup.Group
		mu     sync.Mutex
		failed int
	)
	g.SetLimit(sweepWorkersPerSlot * cfg.RotationConcurrency)
	ctx = withUpstreamGate(ctx, cfg.RotationConcurrency)
	for _, k := range keys {
		g.Go(func() error {
			if err := b.maintain(ctx, s, client, cfg, k); err != nil {
				b.Logger().Warn("connector maintenance failed; retrying on the next tick", "connector", k.String(), "error", err)
				mu.Lock()
				failed++
				mu.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait()
	if failed > 0 {
		return fmt.Errorf("maintenance failed for %d of %d connectors", failed, len(keys))
	}
	return nil
}

// deregister stops managing a connector: every credential the engine created
// for it is revoked upstream, then its record is deleted. A connector that is
// not managed is already deregistered. On a partial failure the record keeps
// the credentials that are left, and a repeated delete retries them.
func (b *backend) deregister(ctx context.Context, s logical.Storage, k connectorKey) error {
	if e, err := getConnector(ctx, s, k); err != nil || e == nil {
		return err
	}
	client, _, err := b.c1Client(ctx, s)
	if err != nil {
		return err
	}
	unlock := b.lockOp(k)
	defer unlock()

	e, err := getConnector(ctx, s, k)
	if err != nil || e == nil {
		return err
	}
	var errs []error
	for _, c := range e.credentials() {
		if err := b.revokeCredential(ctx, s, client, k, c.ID); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return upstreamError(fmt.Sprintf("deregistering connector %s", k), errors.Join(errs...))
	}
	_, err = b.updateConnector(ctx, s, k, func(e *connectorEntry) (*connectorEntry, error) {
		if e == nil || len(e.credentials()) > 0 {
			return nil, nil
		}
		return deleteRecord, nil
	})
	if err == nil {
		b.Logger().Info("connector deregistered", "connector", k.String())
	}
	return err
}

// credentials are all the credentials of the record: current, pending, retiring.
func (e *connectorEntry) credentials() []*storedCredential {
	var all []*storedCredential
	if e.Current != nil {
		all = append(all, e.Current)
	}
	if e.Pending != nil {
		all = append(all, e.Pending)
	}
	return append(all, e.Retiring...)
}

// revokePrevious revokes at once a credential that a rotation just retired
// (for a leaked secret), instead of waiting for its grace and leases.
func (b *backend) revokePrevious(ctx context.Context, s logical.Storage, k connectorKey, prev *storedCredential) error {
	client, _, err := b.c1Client(ctx, s)
	if err != nil {
		return err
	}
	unlock := b.lockOp(k)
	defer unlock()
	return b.revokeCredential(ctx, s, client, k, prev.ID)
}
