package c1

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/c1api"
	"github.com/vault-plugin-c1/vault-plugin-c1/internal/httpx"
)

// This file carries out revocation by evidence (the rules are in
// lifecycle.go): it reads credentials upstream before revoking a retired
// one, and checks the current one for an out-of-band revocation.

// readUpstream reads credential id of k upstream. An error means the
// upstream did not answer usably; a 404 is an answer: gone.
func readUpstream(ctx context.Context, client *c1api.Client, k connectorKey, id string) (upstreamView, error) {
	cred, err := client.GetCredential(ctx, k.AppID, k.ConnectorID, id)
	switch {
	case err == nil:
		return upstreamView{Known: true, Gone: !cred.DeletedAt.IsZero(), LastUsedAt: cred.LastUsedAt}, nil
	case httpx.IsNotFound(err):
		return upstreamView{Known: true, Gone: true}, nil
	}
	return upstreamView{}, err
}

// revokeDue revokes the credentials ids whose revocation planWork found
// due: those to revoke at once directly, the others once their upstream
// usage allows. The caller holds the op lock.
func (b *backend) revokeDue(ctx context.Context, s logical.Storage, client *c1api.Client, p rotationPolicy, k connectorKey, ids []string) error {
	e, err := getConnector(ctx, s, k)
	if err != nil || e == nil {
		return err
	}
	var errs []error
	for _, id := range ids {
		c := findCredential(e.Retiring, id)
		if c == nil || !e.usageChecked(c) {
			if err := b.revokeCredential(ctx, s, client, k, id); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		view, rerr := readUpstream(ctx, client, k, id)
		now := b.now()
		switch decideRevocation(p, c, view, now) {
		case verdictForget:
			b.report(ctx, eventRevoked, k, id, nil, "reason", "already revoked or deleted upstream")
			if err := b.forget(ctx, s, k, id); err != nil {
				errs = append(errs, err)
			}
		case verdictHold:
			if err := b.holdRevocation(ctx, s, k, c, view, rerr, p, now); err != nil {
				errs = append(errs, err)
			}
		case verdictRevoke:
			if err := b.revokeCredential(ctx, s, client, k, id); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// findCredential is the credential id in list, or nil.
func findCredential(list []*storedCredential, id string) *storedCredential {
	for _, c := range list {
		if c.ID == id {
			return c
		}
	}
	return nil
}

// holdRevocation records a held-back revocation: the credential is still in
// use upstream, or its usage could not be read (rerr).
func (b *backend) holdRevocation(ctx context.Context, s logical.Storage, k connectorKey, c *storedCredential,
	view upstreamView, rerr error, p rotationPolicy, now time.Time,
) error {
	var first bool
	_, err := b.updateConnector(ctx, s, k, func(e *connectorEntry) (*connectorEntry, error) {
		if e == nil {
			return nil, nil
		}
		first = e.holdRevocation(c.ID, view.LastUsedAt, now)
		return e, nil
	})
	if err != nil {
		return err
	}
	deadline := formatTime(p.revokeDeadline(c))
	if rerr != nil {
		b.Logger().Warn("revocation of a replaced credential waits: its upstream usage could not be read",
			"connector", k.String(), "credential_id", c.ID, "revoke_deadline", deadline, "error", rerr)
		return nil
	}
	if first {
		b.report(ctx, eventRevokeHeldBackInUse, k, c.ID, nil, "last_used_at", formatTime(view.LastUsedAt),
			"retired_at", formatTime(c.RetiredAt), "revoke_deadline", deadline)
	}
	return nil
}

// verifyPhase is connector k's offset within the verify interval, so that
// checks of many connectors spread over the interval.
func verifyPhase(k connectorKey, interval time.Duration) time.Duration {
	if interval <= 0 {
		return 0
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(k.String()))
	return time.Duration(h.Sum64() % uint64(interval))
}

// verifyCurrent checks, when due, that the current credential of e still
// works upstream. It reports true when the upstream revoked or deleted it out
// of band: the caller rotates at once. A failed read is logged and retried on
// the next tick.
func (b *backend) verifyCurrent(ctx context.Context, s logical.Storage, client *c1api.Client, interval time.Duration,
	k connectorKey, e *connectorEntry, now time.Time,
) bool {
	if !verifyDue(e, verifyPhase(k, interval), interval, now) {
		return false
	}
	id := e.Current.ID
	view, err := readUpstream(ctx, client, k, id)
	var result string
	switch {
	case err != nil:
		result = fmt.Sprintf("could not read the current credential %s upstream: %v", id, err)
		b.Logger().Warn("checking the current credential upstream failed; retrying on the next tick", "connector", k.String(),
			"credential_id", id, "error", err)
	case view.Gone:
		result = fmt.Sprintf("the current credential %s was revoked or deleted upstream, out of band; rotated at once", id)
		b.Logger().Warn("the current credential was revoked or deleted upstream, out of band; rotating at once",
			"connector", k.String(), "credential_id", id)
	default:
		result = "ok"
	}
	_, uerr := b.updateConnector(ctx, s, k, func(e *connectorEntry) (*connectorEntry, error) {
		if e == nil || e.Current == nil || e.Current.ID != id {
			return nil, nil
		}
		e.recordVerify(result, err == nil && !view.Gone, now)
		return e, nil
	})
	if uerr != nil {
		b.Logger().Warn("recording a check of the current credential", "connector", k.String(), "error", uerr)
	}
	return err == nil && view.Gone
}

// heldBackStatus lists, for the status read, the replaced credentials whose
// revocation is held back because they are still used upstream.
func heldBackStatus(p rotationPolicy, e *connectorEntry) []map[string]any {
	out := make([]map[string]any, 0)
	for _, c := range e.heldBack() {
		out = append(out, map[string]any{
			"credential_id":   c.ID,
			"last_used_at":    formatTime(c.LastUsedAt),
			"retired_at":      formatTime(c.RetiredAt),
			"held_since":      formatTime(c.HeldSince),
			"revoke_deadline": formatTime(p.revokeDeadline(c)),
		})
	}
	return out
}
