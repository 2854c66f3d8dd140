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

// This file reads credentials upstream and carries out what the evidence
// rules (internal/lifecycle, evidence.go) make of the answers: before a
// retired credential is revoked, and the periodic check of the current one
// for an out-of-band revocation.

// readUpstream reads credential id of k upstream. An error means the
// upstream did not answer usably; a 404 is an answer, weighed by the
// lifecycle like any other.
func readUpstream(ctx context.Context, client *c1api.Client, k lifecycle.Key, id string) (lifecycle.Reading, error) {
	cred, err := client.GetCredential(ctx, k.AppID, k.ConnectorID, id)
	switch {
	case err == nil:
		return lifecycle.Reading{Outcome: lifecycle.ReadFound, DeletedAt: cred.DeletedAt, LastUsedAt: cred.LastUsedAt}, nil
	case httpx.IsNotFound(err):
		return lifecycle.Reading{Outcome: lifecycle.ReadNotFound}, nil
	}
	return lifecycle.Reading{}, err
}

// revokeDue revokes the credentials ids whose revocation lifecycle.PlanWork found
// due: those to revoke at once directly, the others once their upstream
// usage allows. The caller holds the op lock.
func (b *backend) revokeDue(ctx context.Context, s logical.Storage, client *c1api.Client, p lifecycle.Policy, k lifecycle.Key, ids []string) error {
	e, err := b.getRecord(ctx, s, k)
	if err != nil || e == nil {
		return err
	}
	var errs []error
	for _, id := range ids {
		c := e.Find(id)
		if c == nil || !e.UsageChecked(c) {
			if err := b.revokeCredential(ctx, s, client, k, id); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		reading, rerr := readUpstream(ctx, client, k, id)
		now := b.now()
		switch lifecycle.DecideRevocation(p, c, reading, now) {
		case lifecycle.VerdictHold:
			if err := b.holdRevocation(ctx, s, k, c, reading, rerr, p, now); err != nil {
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

// holdRevocation records a held-back revocation: the credential is still in
// use upstream, or its usage could not be read (rerr).
func (b *backend) holdRevocation(ctx context.Context, s logical.Storage, k lifecycle.Key, c *lifecycle.Credential,
	reading lifecycle.Reading, rerr error, p lifecycle.Policy, now time.Time,
) error {
	var first bool
	_, err := b.modify(ctx, s, k, func(e *lifecycle.Record) bool {
		first = e.HoldRevocation(c.ID, reading.LastUsedAt, now)
		return true
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
		b.report(ctx, eventRevokeHeldBackInUse, k, c.ID, nil, "last_used_at", formatTime(reading.LastUsedAt),
			"retired_at", formatTime(c.RetiredAt), "revoke_deadline", deadline)
	}
	return nil
}

// verifyCurrent checks, when due, that the current credential of e still
// works upstream, and records what the lifecycle makes of the answer: a
// credential found revoked out of band is no longer served, and the plan
// that follows replaces it; reads that cannot be trusted suspend the
// connector's verification. A check that finds what the last one found
// writes nothing: memory keeps its time. A failed read is logged and
// retried on the next tick. It returns the record as it stands after the check.
func (b *backend) verifyCurrent(ctx context.Context, s logical.Storage, client *c1api.Client, interval time.Duration,
	k lifecycle.Key, e *lifecycle.Record, checked, now time.Time,
) (*lifecycle.Record, error) {
	if !lifecycle.VerifyDue(e, checked, lifecycle.VerifyPhase(k, interval), interval, now) {
		return e, nil
	}
	id := e.Current.ID
	reading, err := readUpstream(ctx, client, k, id)
	verdict := e.JudgeCheck(reading, interval, now)
	var result string
	switch verdict {
	case lifecycle.CheckFailed:
		b.Logger().Warn("checking the current credential upstream failed; retrying on the next tick", "connector", k.String(),
			"credential_id", id, "error", err)
		return e, nil
	case lifecycle.CheckValid:
		result = lifecycle.CheckResultValid
	case lifecycle.CheckRevoked:
		result = fmt.Sprintf("the current credential %s was revoked or deleted upstream, out of band: it is no longer served, "+
			"and a replacement is being made", id)
	case lifecycle.CheckDistrusted:
		result = fmt.Sprintf("credential %s reads as revoked upstream, but such reads are not trusted for this connector now "+
			"(it was made to replace a credential that read as revoked, or one was replaced within verify_interval): "+
			"verification is suspended until a check finds the credential; check the engine's C1 permissions", id)
	}
	b.mem.noteChecked(k, now)
	wasSuspended := e.VerifySuspended != ""
	updated, uerr := b.modify(ctx, s, k, func(e *lifecycle.Record) bool {
		return e.Current != nil && e.Current.ID == id && e.RecordCheck(verdict, result, now)
	})
	if uerr != nil {
		return nil, fmt.Errorf("recording a check of the current credential: %w", uerr)
	}
	switch {
	case verdict == lifecycle.CheckRevoked:
		b.report(ctx, eventRevokedOutOfBand, k, id, nil)
	case verdict == lifecycle.CheckDistrusted && !wasSuspended:
		b.report(ctx, eventVerifySuspended, k, id, nil)
	case verdict == lifecycle.CheckValid && wasSuspended:
		b.Logger().Info("a check found the current credential: verification of the connector resumes", "connector", k.String(), "credential_id", id)
	}
	return updated, nil
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
