package c1

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/c1api"
	"github.com/vault-plugin-c1/vault-plugin-c1/internal/httpx"
	"github.com/vault-plugin-c1/vault-plugin-c1/internal/lifecycle"
)

// This file carries out revocation by evidence (the rules are in
// lifecycle.go): it reads credentials upstream before revoking a retired
// one, and checks the current one for an out-of-band revocation.

// readUpstream reads credential id of k upstream. An error means the
// upstream did not answer usably; a 404 is an answer: gone.
func readUpstream(ctx context.Context, client *c1api.Client, k lifecycle.Key, id string) (lifecycle.UpstreamView, error) {
	cred, err := client.GetCredential(ctx, k.AppID, k.ConnectorID, id)
	switch {
	case err == nil:
		return lifecycle.UpstreamView{Known: true, Gone: !cred.DeletedAt.IsZero(), LastUsedAt: cred.LastUsedAt}, nil
	case httpx.IsNotFound(err):
		return lifecycle.UpstreamView{Known: true, Gone: true}, nil
	}
	return lifecycle.UpstreamView{}, err
}

// revokeDue revokes the credentials ids whose revocation lifecycle.PlanWork found
// due: those to revoke at once directly, the others once their upstream
// usage allows. The caller holds the op lock.
func (b *backend) revokeDue(ctx context.Context, s logical.Storage, client *c1api.Client, p lifecycle.Policy, k lifecycle.Key, ids []string) error {
	e, err := getConnector(ctx, s, k)
	if err != nil || e == nil {
		return err
	}
	var errs []error
	for _, id := range ids {
		c := findCredential(e.Retiring, id)
		if c == nil || !e.UsageChecked(c) {
			if err := b.revokeCredential(ctx, s, client, k, id); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		view, rerr := readUpstream(ctx, client, k, id)
		now := b.now()
		switch lifecycle.DecideRevocation(p, c, view, now) {
		case lifecycle.VerdictForget:
			b.report(ctx, eventRevoked, k, id, nil, "reason", "already revoked or deleted upstream")
			if err := b.forget(ctx, s, k, id); err != nil {
				errs = append(errs, err)
			}
		case lifecycle.VerdictHold:
			if err := b.holdRevocation(ctx, s, k, c, view, rerr, p, now); err != nil {
				errs = append(errs, err)
			}
		case lifecycle.VerdictRevoke:
			if err := b.revokeCredential(ctx, s, client, k, id); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// findCredential is the credential id in list, or nil.
func findCredential(list []*lifecycle.Credential, id string) *lifecycle.Credential {
	for _, c := range list {
		if c.ID == id {
			return c
		}
	}
	return nil
}

// holdRevocation records a held-back revocation: the credential is still in
// use upstream, or its usage could not be read (rerr).
func (b *backend) holdRevocation(ctx context.Context, s logical.Storage, k lifecycle.Key, c *lifecycle.Credential,
	view lifecycle.UpstreamView, rerr error, p lifecycle.Policy, now time.Time,
) error {
	var first bool
	_, err := b.updateConnector(ctx, s, k, func(e *lifecycle.Record) (*lifecycle.Record, error) {
		if e == nil {
			return nil, nil
		}
		first = e.HoldRevocation(c.ID, view.LastUsedAt, now)
		return e, nil
	})
	if err != nil {
		return err
	}
	deadline := formatTime(p.RevokeDeadline(c))
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

// verifyCurrent checks, when due, that the current credential of e still
// works upstream. It reports true when the upstream revoked or deleted it out
// of band: the caller rotates at once. A failed read is logged and retried on
// the next tick.
func (b *backend) verifyCurrent(ctx context.Context, s logical.Storage, client *c1api.Client, interval time.Duration,
	k lifecycle.Key, e *lifecycle.Record, now time.Time,
) bool {
	if !lifecycle.VerifyDue(e, lifecycle.VerifyPhase(k, interval), interval, now) {
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
	_, uerr := b.updateConnector(ctx, s, k, func(e *lifecycle.Record) (*lifecycle.Record, error) {
		if e == nil || e.Current == nil || e.Current.ID != id {
			return nil, nil
		}
		e.RecordVerify(result, err == nil && !view.Gone, now)
		return e, nil
	})
	if uerr != nil {
		b.Logger().Warn("recording a check of the current credential", "connector", k.String(), "error", uerr)
	}
	return err == nil && view.Gone
}

// heldBackStatus lists, for the status read, the replaced credentials whose
// revocation is held back because they are still used upstream.
func heldBackStatus(p lifecycle.Policy, e *lifecycle.Record) []map[string]any {
	out := make([]map[string]any, 0)
	for _, c := range e.HeldBack() {
		out = append(out, map[string]any{
			"credential_id":   c.ID,
			"last_used_at":    formatTime(c.LastUsedAt),
			"retired_at":      formatTime(c.RetiredAt),
			"held_since":      formatTime(c.HeldSince),
			"revoke_deadline": formatTime(p.RevokeDeadline(c)),
		})
	}
	return out
}

// nextDue is when the sweep next has work on connector k under cfg.
func nextDue(cfg *pluginConfig, k lifecycle.Key, e *lifecycle.Record, now time.Time) time.Time {
	return lifecycle.NextDue(policyFor(cfg, e), cfg.VerifyInterval, k, e, now)
}
