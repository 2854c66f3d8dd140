package c1

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/lifecycle"
)

const pathRotateHelpDesc = `
A write rotates the connector's credential now: a new credential is created
upstream, stored and made current; the previous one is revoked after the grace
and once its leases have ended, or at once with revoke_previous=true (for a
leaked secret). The answer carries ids and times, never the secret.
A read reports the rotation status: current and retiring credentials, last and
next rotation, pending revocations (with their state: retiring or revoke-now), the
last error, and the creates whose outcome is unknown (unknown_outcome_creates, and
the time windows in which each may have left a credential upstream that the engine
never saw: look for it in C1 and revoke it there). After such a create the periodic
function backs off: it sits out 1, 2, 4, ... runs (at most an hour) before the next
create, unless the current credential would expire first (next_periodic_create).
With revoke_previous=true, a replaced credential that cannot be revoked at once is
named in a warning of a successful answer and retried on every periodic run.
`

// pathRotate is rotate/<app_id>/<connector_id>.
func pathRotate(b *backend) []*framework.Path {
	return []*framework.Path{{
		Pattern:      "rotate/" + segment("app_id") + "/" + segment("connector_id") + "$",
		DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: "c1"},
		Fields: connectorIDFields(map[string]*framework.FieldSchema{
			"revoke_previous": boolSchema(false, "Revoke the credential current when the request arrived at once, instead of after the grace "+
				"(and retry every credential of the connector still marked revoke-now)."),
		}),
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.UpdateOperation: forwarded(operation(b.rotateWrite, "rotate", "connector-credential",
				"Rotate the connector's credential now; the previous one is revoked after the grace, or at once with revoke_previous.")),
			logical.ReadOperation: operation(b.rotateStatus, "read", "rotation-status",
				"Read the connector's rotation status: current and retiring credentials, last and next rotation, last error."),
		},
		HelpSynopsis:    "Rotate a connector's credential now, or read its rotation status.",
		HelpDescription: strings.TrimSpace(pathRotateHelpDesc),
	}}
}

func (b *backend) rotateWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if err := rejectUnknownFields(req, d); err != nil {
		return nil, err
	}
	k, err := connectorKeyFrom(d)
	if err != nil {
		return nil, err
	}
	result, err := b.rotateNow(ctx, req.Storage, k)
	if err != nil {
		return nil, err
	}
	data := credentialSummary(k, result.Current)
	resp := &logical.Response{Data: data}
	if prev := result.Previous; prev != nil {
		data["previous_credential_id"] = prev.ID
		data["previous_revoke_at"] = formatTime(prev.RevokeAt)
	}
	if d.Get("revoke_previous").(bool) {
		// The rotation is done: the answer is a success that names the new
		// credential, whatever the revokes do. A failed revoke stays marked
		// revoke-now and is retried on every periodic run.
		revoked, failures := b.revokePrevious(ctx, req.Storage, k, result.Previous)
		if prev := result.Previous; prev != nil {
			data["previous_revoke_at"] = formatTime(b.now())
			data["previous_revoked"] = revoked
		}
		for _, f := range failures {
			resp.AddWarning(f)
		}
	}
	return resp, nil
}

// revokePrevious revokes at once prev, the credential that was current when
// a rotate request with revoke_previous arrived, and retries every other
// credential of the connector still marked revoke-now. It reports whether
// prev is revoked, and a warning for each revoke that failed.
func (b *backend) revokePrevious(ctx context.Context, s logical.Storage, k lifecycle.Key, prev *lifecycle.Credential) (bool, []string) {
	client, _, err := b.c1Client(ctx, s)
	if err != nil {
		return false, []string{fmt.Sprintf("the replaced credentials could not be revoked yet: %v", err)}
	}
	unlock := b.lockOp(k)
	defer unlock()
	e, err := b.getRecord(ctx, s, k)
	if err != nil || e == nil {
		return false, []string{fmt.Sprintf("the replaced credentials could not be revoked yet: %v", err)}
	}
	ids := e.RevokeNowIDs()
	if prev != nil && e.StateOf(prev.ID) == lifecycle.StateRetiring {
		ids = append([]string{prev.ID}, ids...)
	}
	var warnings []string
	prevRevoked := prev != nil && e.Find(prev.ID) == nil // already revoked and forgotten
	for _, id := range ids {
		if err := b.revokeNow(ctx, s, client, k, id); err != nil {
			warnings = append(warnings, fmt.Sprintf("credential %s was replaced but could not be revoked yet: %v", id, err))
			continue
		}
		if prev != nil && id == prev.ID {
			prevRevoked = true
		}
	}
	return prevRevoked, warnings
}

func (b *backend) rotateStatus(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	k, err := connectorKeyFrom(d)
	if err != nil {
		return nil, err
	}
	cfg, err := requireConfig(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	e, err := b.getRecord(ctx, req.Storage, k)
	if err != nil {
		return nil, err
	}
	if e == nil {
		return nil, notManaged(k)
	}
	p := policyFor(cfg, e)
	data := map[string]any{
		"app_id":                     k.AppID,
		"connector_id":               k.ConnectorID,
		"registered_at":              formatTime(e.RegisteredAt),
		"last_rotation":              formatTime(e.LastRotation),
		"last_error":                 e.LastError,
		"last_error_at":              formatTime(e.LastErrorAt),
		"rotation_period":            int64(p.RotationPeriod.Seconds()),
		"rotation_schedule":          p.RotationSchedule,
		"rotation_window":            int64(p.RotationWindow.Seconds()),
		"rotate_before_expiry":       int64(p.RotateBeforeExpiry.Seconds()),
		"revoke_grace":               int64(p.RevokeGrace.Seconds()),
		"revoke_max_delay":           int64(p.RevokeMaxDelay.Seconds()),
		"last_verified":              formatTime(b.lastVerified(k, e)),
		"last_verify_result":         lastVerifyResult(e, b.lastVerified(k, e)),
		"verification_suspended":     e.VerifySuspended != "",
		"verification_suspended_at":  formatTime(e.VerifySuspendedAt),
		"verification_suspended_why": e.VerifySuspended,
		"out_of_band_revoked_at":     formatTime(e.OutOfBandAt),
		"current_credential_id":      "",
		"next_rotation":              "",
	}
	if c := e.Current; c != nil {
		data["current_credential_id"] = c.ID
		data["current_expires_time"] = formatTime(c.ExpiresTime)
		data["current_revoked_upstream_at"] = formatTime(c.RevokedUpstreamAt)
		data["current_adopted"] = !c.AdoptedAt.IsZero()
		data["current_adopted_at"] = formatTime(c.AdoptedAt)
		if due, ok := p.RotationDue(c, b.now()); ok {
			data["next_rotation"] = formatTime(due)
		}
	}
	retiring := make([]map[string]any, 0, len(e.Retiring))
	ids := make([]string, 0, len(e.Retiring))
	for _, c := range e.Retiring {
		ids = append(ids, c.ID)
		retiring = append(retiring, map[string]any{
			"credential_id": c.ID,
			"retired_at":    formatTime(c.RetiredAt),
			"revoke_at":     formatTime(c.RevokeAt),
			"expires_time":  formatTime(c.ExpiresTime),
			"state":         e.StateOf(c.ID).String(),
			"last_used_at":  formatTime(c.LastUsedAt),
		})
	}
	data["retiring_credential_ids"] = ids
	data["pending_revocations"] = retiring
	data["held_back_revocations"] = heldBackStatus(p, e)
	data["deregistering"] = e.Deregistering
	// Creates whose outcome is unknown: each may have left a credential
	// upstream that the engine never saw, created within its window.
	windows := make([]map[string]any, 0, len(e.UnknownCreates))
	for _, w := range e.UnknownCreates {
		windows = append(windows, map[string]any{
			"from": formatTime(w.From), "to": formatTime(w.To), "state": lifecycle.StateOrphanSuspected.String(),
		})
	}
	data["unknown_outcome_creates"] = e.UnknownCreateCount
	data["unknown_outcome_windows"] = windows
	// While the backoff after unknown outcomes holds, the next periodic
	// create comes no earlier than this.
	data["next_periodic_create"] = ""
	if at, ok := lifecycle.CreateDue(p, e, b.now()); ok && e.UnknownStreak > 0 && e.Registered() {
		data["next_periodic_create"] = formatTime(at)
	}
	return &logical.Response{Data: data}, nil
}

// lastVerifyResult is what the last check of the current credential found: a
// credential found valid by a check that stored nothing is reported so.
func lastVerifyResult(e *lifecycle.Record, lastVerified time.Time) string {
	if e.LastVerifyResult == "" && !lastVerified.IsZero() {
		return lifecycle.CheckResultValid
	}
	return e.LastVerifyResult
}
