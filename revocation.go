package c1

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/c1api"
	"github.com/vault-plugin-c1/vault-plugin-c1/internal/httpx"
	"github.com/vault-plugin-c1/vault-plugin-c1/internal/lifecycle"
)

// This file revokes credentials upstream: when their time has come, at once
// on request, and every one of a connector being deregistered. Which
// credential may be revoked when is decided in internal/lifecycle.

// revokeCredential revokes one credential upstream and forgets it. A 404
// means it is already revoked.
func (b *backend) revokeCredential(ctx context.Context, s logical.Storage, client *c1api.Client, k lifecycle.Key, id string) error {
	if err := client.RevokeCredential(ctx, k.AppID, k.ConnectorID, id); err != nil && !httpx.IsNotFound(err) {
		b.report(ctx, eventRevokeFailed, k, id, err)
		return upstreamError(fmt.Sprintf("revoking credential %s of connector %s", id, k), err)
	}
	b.report(ctx, eventRevoked, k, id, nil)
	return b.forget(ctx, s, k, id)
}

// forget drops credential id from the connector's record once the upstream
// confirmed it no longer works.
func (b *backend) forget(ctx context.Context, s logical.Storage, k lifecycle.Key, id string) error {
	_, err := b.modify(ctx, s, k, func(e *lifecycle.Record) bool {
		e.Forget(id)
		return true
	})
	return err
}

// revokeAll revokes the credentials ids, going on past failures.
func (b *backend) revokeAll(ctx context.Context, s logical.Storage, client *c1api.Client, k lifecycle.Key, ids []string) error {
	var errs []error
	for _, id := range ids {
		if err := b.revokeCredential(ctx, s, client, k, id); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// revokeNow marks the retiring credential id revoke-now (from then on the
// periodic function retries its revocation on every run, without grace),
// then revokes it. When the upstream fails, the mark stays, and the error
// says so. The caller holds the op lock.
func (b *backend) revokeNow(ctx context.Context, s logical.Storage, client *c1api.Client, k lifecycle.Key, id string) error {
	now := b.now()
	_, err := b.updateConnector(ctx, s, k, func(e *lifecycle.Record) (*lifecycle.Record, error) {
		if e == nil {
			return nil, notManaged(k)
		}
		return e, lifecycleError(k, id, e.MarkRevokeNow(id, now))
	})
	if err != nil {
		return err
	}
	if err := b.revokeCredential(ctx, s, client, k, id); err != nil {
		return withNote(err, "it is marked revoke-now and retried on every periodic run")
	}
	return nil
}

// revokeOne revokes one retiring credential of a connector at once, on
// request: a credential to revoke by hand, or the one a rotation with
// revoke_previous just replaced.
func (b *backend) revokeOne(ctx context.Context, s logical.Storage, k lifecycle.Key, id string) error {
	client, _, err := b.c1Client(ctx, s)
	if err != nil {
		return err
	}
	unlock := b.lockOp(k)
	defer unlock()
	return b.revokeNow(ctx, s, client, k, id)
}

// deregister stops managing a connector: the record is marked, every
// credential the engine holds for it is revoked upstream, then the record is
// deleted. A connector that is not managed is already deregistered. On a
// partial failure the record keeps the credentials that are left; a repeated
// delete, or the periodic function, retries them.
func (b *backend) deregister(ctx context.Context, s logical.Storage, k lifecycle.Key) error {
	if e, err := b.getRecord(ctx, s, k); err != nil || e == nil {
		return err
	}
	client, _, err := b.c1Client(ctx, s)
	if err != nil {
		return err
	}
	unlock := b.lockOp(k)
	defer unlock()
	if err := b.deregisterLocked(ctx, s, client, k); err != nil {
		code := http.StatusInternalServerError
		var coded logical.HTTPCodedError
		if errors.As(err, &coded) {
			code = coded.Code()
		}
		return logical.CodedError(code, fmt.Sprintf("deregistering connector %s: %v; the periodic function "+
			"revokes the credentials left on its next runs, and a repeated delete retries them at once", k, err))
	}
	return nil
}

// deregisterLocked is deregister with the op lock held; the periodic function
// calls it to finish a deregistration.
func (b *backend) deregisterLocked(ctx context.Context, s logical.Storage, client *c1api.Client, k lifecycle.Key) error {
	e, err := b.updateConnector(ctx, s, k, func(e *lifecycle.Record) (*lifecycle.Record, error) {
		if e == nil || e.Deregistering {
			return nil, nil
		}
		e.BeginDeregistration()
		return e, nil
	})
	if err != nil || e == nil {
		return err
	}
	ids := make([]string, 0, 4)
	for _, c := range e.Credentials() {
		ids = append(ids, c.ID)
	}
	if err := b.revokeAll(ctx, s, client, k, ids); err != nil {
		return err
	}
	_, err = b.updateConnector(ctx, s, k, func(e *lifecycle.Record) (*lifecycle.Record, error) {
		if e == nil || len(e.Credentials()) > 0 {
			return nil, nil
		}
		return deleteRecord, nil
	})
	if err == nil {
		b.Logger().Info("connector deregistered", "connector", k.String())
	}
	return err
}
