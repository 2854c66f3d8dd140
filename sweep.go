package c1

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/hashicorp/vault/sdk/logical"
	"golang.org/x/sync/errgroup"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/c1api"
	"github.com/vault-plugin-c1/vault-plugin-c1/internal/lifecycle"
)

// This file is the periodic sweep: it goes through the managed connectors
// and carries out, for each, the work that lifecycle.PlanWork (lifecycle.go) decides.

// sweep maintains the connectors whose work is due (due_schedule.go), with at
// most rotation_concurrency upstream requests in flight (sweep_gate.go).
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

// maintain does a connector's due work, as lifecycle.PlanWork decides it under the op
// lock: finish a deregistration, make a left-over pending credential current,
// create a credential (rotation, or a record without a current one), revoke
// the credentials whose time has come.
func (b *backend) maintain(ctx context.Context, s logical.Storage, client *c1api.Client, cfg *pluginConfig, k lifecycle.Key) error {
	unlock := b.lockOp(k)
	defer unlock()

	e, err := getConnector(ctx, s, k)
	if err != nil || e == nil {
		return err
	}
	if e.Deregistering {
		return b.deregisterLocked(ctx, s, client, k)
	}
	p, now := policyFor(cfg, e), b.now()
	revokedUpstream := b.verifyCurrent(ctx, s, client, cfg.VerifyInterval, k, e, now)
	plan := lifecycle.PlanWork(p, e, now)
	if revokedUpstream {
		plan.Create = true // the current credential no longer works: replace it now, backoff or not
	}
	var errs []error
	if plan.PromotePending {
		if _, err := b.promotePending(ctx, s, cfg, k, e.Pending.ID); err != nil {
			errs = append(errs, err)
		}
	}
	if plan.Create {
		if _, err := b.rotateLocked(ctx, s, client, cfg, k, nil); err != nil {
			errs = append(errs, err)
		}
	}
	if err := b.revokeDue(ctx, s, client, p, k, plan.Revoke); err != nil {
		b.recordError(ctx, s, k, err)
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
