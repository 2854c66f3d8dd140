package c1

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/hashicorp/vault/sdk/logical"
	"golang.org/x/sync/errgroup"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/c1api"
	"github.com/vault-plugin-c1/vault-plugin-c1/internal/httpx"
	"github.com/vault-plugin-c1/vault-plugin-c1/internal/lifecycle"
)

// This file is the periodic sweep: it goes through the managed connectors
// and carries out, for each, the work that lifecycle.PlanWork decides.

// sweep maintains the connectors whose work is due (connector_index.go),
// with at most rotation_concurrency upstream requests in flight.
func (b *backend) sweep(ctx context.Context, s logical.Storage) error {
	due, cfg, err := b.dueConnectors(ctx, s)
	if err != nil || cfg == nil {
		return err // nil, nil: nothing to maintain yet
	}
	c, err := b.upstream(ctx, s)
	if err != nil {
		return err
	}
	if c.c1 == nil {
		return nil // C1 is not configured
	}
	client := c.c1
	var (
		g      errgroup.Group
		mu     sync.Mutex
		failed int
	)
	g.SetLimit(sweepWorkersPerSlot * cfg.RotationConcurrency)
	ctx = httpx.WithGate(ctx, cfg.RotationConcurrency)
	for _, w := range due {
		g.Go(func() error {
			e, err := b.maintain(ctx, s, client, cfg, w)
			if err != nil {
				// Its index entry stays marked: the next tick reads it again.
				b.Logger().Warn("connector maintenance failed; retrying on the next tick", "connector", w.key.String(), "error", err)
				mu.Lock()
				failed++
				mu.Unlock()
				return nil
			}
			b.mem.settle(w.key, w.mark, e, cfg, b.now())
			return nil
		})
	}
	_ = g.Wait()
	if failed > 0 {
		return fmt.Errorf("maintenance failed for %d of %d connectors", failed, len(due))
	}
	return nil
}

// maintain does a connector's due work, as the lifecycle decides it under
// the op lock: finish a deregistration, check the current credential
// upstream when that is due, make a left-over pending credential current
// when the upstream says it works, create a credential (rotation, or a
// record without a working current one), revoke the credentials whose time
// has come. It returns the record as it stands after the work.
func (b *backend) maintain(ctx context.Context, s logical.Storage, client *c1api.Client, cfg *pluginConfig, w dueWork) (*lifecycle.Record, error) {
	k := w.key
	unlock := b.lockOp(k)
	defer unlock()

	e, err := b.getRecord(ctx, s, k)
	if err != nil || e == nil {
		return e, err
	}
	if e.Deregistering {
		if err := b.deregisterLocked(ctx, s, client, k); err != nil {
			return nil, err
		}
		return b.getRecord(ctx, s, k)
	}
	p, now := policyFor(cfg, e), b.now()
	if e, err = b.verifyCurrent(ctx, s, client, cfg.VerifyInterval, k, e, w.checked, now); err != nil || e == nil {
		return e, err
	}
	plan := lifecycle.PlanWork(p, e, now)
	if plan.Idle() {
		return e, nil
	}
	var errs []error
	if plan.PromotePending {
		if _, err := b.promoteLeftOver(ctx, s, client, cfg, k, e.Pending, nil); err != nil && !errors.Is(err, errLeftOverUnusable) {
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
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return b.getRecord(ctx, s, k)
}

// The sweep bounds the upstream requests it has in flight, not the
// connectors it works on: a connector's storage work (WAL entry, record
// writes) then overlaps other connectors' upstream calls, and a sweep of many
// due connectors takes about connectors × upstream latency / rotation_concurrency.

// sweepWorkersPerSlot is how many connectors the sweep works on per upstream
// request it may have in flight.
const sweepWorkersPerSlot = 4
