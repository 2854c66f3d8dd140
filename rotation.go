package c1

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hashicorp/go-uuid"
	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/locksutil"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/c1api"
	"github.com/vault-plugin-c1/vault-plugin-c1/internal/httpx"
	"github.com/vault-plugin-c1/vault-plugin-c1/internal/lifecycle"
)

// This file creates credentials: registration, rotation now, and the create
// the periodic function asks for. What happens to the record at each step is
// decided in internal/lifecycle.

// rotationResult says what a rotation did.
type rotationResult struct {
	Current  *lifecycle.Credential
	Previous *lifecycle.Credential // the replaced credential, now retiring; nil on registration
}

// lockOp takes the operation lock of a connector. Long operations (anything
// that calls upstream) hold it; storage updates take the entry lock inside.
func (b *backend) lockOp(k lifecycle.Key) func() {
	l := locksutil.LockForKey(b.opLocks, k.String())
	l.Lock()
	return l.Unlock
}

// policyFor is the rotation policy in force for a connector.
func policyFor(cfg *pluginConfig, e *lifecycle.Record) lifecycle.Policy {
	return e.Overrides.Apply(cfg.Policy)
}

// rotateNow rotates a managed connector. Concurrent calls for one connector
// make one rotation: a call that waited while another rotation replaced the
// credential it saw on arrival is answered by that rotation. Either way the
// answer's Previous is the credential that was current when the call
// arrived, so that revoke_previous revokes that one and no other.
func (b *backend) rotateNow(ctx context.Context, s logical.Storage, k lifecycle.Key) (*rotationResult, error) {
	client, cfg, err := b.c1Client(ctx, s)
	if err != nil {
		return nil, err
	}
	arrived, err := b.getRecord(ctx, s, k)
	if err != nil {
		return nil, err
	}
	unlock := b.lockOp(k)
	defer unlock()
	e, err := b.getRecord(ctx, s, k)
	if err != nil {
		return nil, err
	}
	if seen := arrived.CurrentID(); e.ReplacedSince(seen) {
		return &rotationResult{Current: e.Current, Previous: e.Find(seen)}, nil
	}
	return b.rotateLocked(ctx, s, client, cfg, k, nil)
}

// rotateLocked creates a new credential upstream and makes it current. With
// register set it creates the connector's record, or completes an unfinished
// registration. The caller holds the op lock.
//
// Crash safety: a WAL entry is written before the upstream call; the answer,
// secret included, is stored at once as the pending credential, then promoted
// to current, and only then the WAL entry is deleted. A rollback of a stale
// entry revokes a pending credential that was never promoted.
func (b *backend) rotateLocked(ctx context.Context, s logical.Storage, client *c1api.Client, cfg *pluginConfig,
	k lifecycle.Key, register *lifecycle.Overrides,
) (*rotationResult, error) {
	existing, err := b.getRecord(ctx, s, k)
	if err != nil {
		return nil, err
	}
	switch lifecycle.DecideCreate(existing, register != nil) {
	case lifecycle.CreateNotManaged:
		return nil, notManaged(k)
	case lifecycle.CreateDeregistering:
		return nil, errDeregistering(k)
	case lifecycle.CreateAlreadyDone:
		return &rotationResult{Current: existing.Current}, nil
	case lifecycle.CreateCompleteLeftOver:
		result, err := b.promoteLeftOver(ctx, s, client, cfg, k, existing.Pending, register)
		if !errors.Is(err, errLeftOverUnusable) {
			return result, err
		}
	}
	// Once the upstream is asked for a credential, the caller going away must
	// not cut the rotation short between creating the secret and storing it.
	// Every upstream attempt has its own timeout.
	ctx = context.WithoutCancel(ctx)

	rotationID, err := uuid.GenerateUUID()
	if err != nil {
		return nil, fmt.Errorf("generating rotation id: %w", err)
	}
	started := b.now()
	walID, err := framework.PutWAL(ctx, s, walKindRotation, &walRotation{
		AppID: k.AppID, ConnectorID: k.ConnectorID, RotationID: rotationID, StartedAt: started,
	})
	if err != nil {
		return nil, fmt.Errorf("writing the rotation WAL entry: %w", err)
	}

	created, err := client.RotateCredential(ctx, k.AppID, k.ConnectorID)
	if err != nil {
		b.deleteWAL(ctx, s, walID)
		var unusable *c1api.UnusableCredentialError
		if errors.As(err, &unusable) {
			return nil, b.revokeUnusable(ctx, s, client, k, unusable)
		}
		return nil, b.createFailed(ctx, s, k, register, started, err)
	}
	pending := &lifecycle.Credential{
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
	_, err = b.updateConnector(ctx, s, k, func(e *lifecycle.Record) (*lifecycle.Record, error) {
		switch {
		case e == nil && register != nil:
			e = lifecycle.NewRecord(k, *register, now)
		case e == nil:
			return nil, errConnectorGone
		case register != nil && !e.Registered():
			e.Overrides = *register // this request's, not those of the attempt in doubt
		}
		e.StorePending(pending, now)
		return e, nil
	})
	if err != nil {
		// Unstored, the secret is lost: revoke the credential while its id
		// is known. The write may still have been applied: the record is
		// then marked too, so that it is never promoted.
		if rerr := client.RevokeCredential(ctx, k.AppID, k.ConnectorID, pending.ID); rerr != nil && !httpx.IsNotFound(rerr) {
			b.report(ctx, eventCredentialLost, k, pending.ID, rerr, "storage_error", err)
		}
		b.retirePendingNow(ctx, s, k, pending.ID)
		b.deleteWAL(ctx, s, walID)
		return nil, fmt.Errorf("storing the new credential of connector %s: %w", k, err)
	}

	// Promote it. On failure the WAL entry stays and its rollback revokes the pending credential.
	result, err := b.promotePending(ctx, s, cfg, k, pending.ID, register)
	if err != nil {
		return nil, err
	}
	b.deleteWAL(ctx, s, walID)
	return result, nil
}

// errLeftOverUnusable: a left-over pending credential was not made current,
// since the upstream does not say it works; it is revoked instead.
var errLeftOverUnusable = errors.New("the left-over pending credential is not known to work upstream")

// promoteLeftOver makes a pending credential that an earlier request left
// current, once a read upstream says that it works (the engine may have
// revoked it when storing it seemed to fail). Otherwise it is marked
// revoke-now and errLeftOverUnusable returned; a failed read is an error.
// A registration that completes an earlier one applies its own overrides.
func (b *backend) promoteLeftOver(ctx context.Context, s logical.Storage, client *c1api.Client, cfg *pluginConfig,
	k lifecycle.Key, pending *lifecycle.Credential, register *lifecycle.Overrides,
) (*rotationResult, error) {
	reading, err := readUpstream(ctx, client, k, pending.ID)
	now := b.now()
	if lifecycle.PromotableLeftOver(pending, reading, now) {
		return b.promotePending(ctx, s, cfg, k, pending.ID, register)
	}
	if err != nil {
		return nil, upstreamError(fmt.Sprintf("checking the left-over pending credential %s of connector %s", pending.ID, k), err)
	}
	b.retirePendingNow(ctx, s, k, pending.ID)
	return nil, errLeftOverUnusable
}

// promotePending makes the stored pending credential id current. With
// register set, a registration that had not completed takes its overrides.
func (b *backend) promotePending(ctx context.Context, s logical.Storage, cfg *pluginConfig, k lifecycle.Key, id string,
	register *lifecycle.Overrides,
) (*rotationResult, error) {
	now := b.now()
	result := &rotationResult{}
	heldBack := false
	_, err := b.updateConnector(ctx, s, k, func(e *lifecycle.Record) (*lifecycle.Record, error) {
		if e == nil {
			return nil, lifecycle.ErrPendingChanged
		}
		if register != nil && !e.Registered() {
			e.Overrides = *register
		}
		p := policyFor(cfg, e)
		prev, err := e.Promote(id, p, now)
		if err != nil {
			return nil, err
		}
		result.Current, result.Previous = e.Current, prev
		heldBack = prev != nil && prev.RevokeAt.After(now.Add(p.RevokeGrace))
		return e, nil
	})
	if err != nil {
		return nil, fmt.Errorf("promoting the new credential %s of connector %s: %w", id, k, err)
	}
	b.report(ctx, eventRotated, k, id, nil, "expires_time", formatTime(result.Current.ExpiresTime))
	if heldBack {
		b.report(ctx, eventRevokeHeldBack, k, result.Previous.ID, nil, "revoke_at", formatTime(result.Previous.RevokeAt))
	}
	return result, nil
}

// createFailed records a failed create and words its answer. A create whose
// outcome is unknown may have left a credential upstream that the engine
// never saw: it is counted in the record (the periodic function then backs
// off) and logged with its time window, so an operator can find it in C1.
// A registration in doubt keeps a record too, with no credential and not
// registered: the rotate/ status shows the window, a creds read says to
// register again, and the sweep leaves it alone.
func (b *backend) createFailed(ctx context.Context, s logical.Storage, k lifecycle.Key, register *lifecycle.Overrides, started time.Time, cause error) error {
	mapped := upstreamError(fmt.Sprintf("creating a credential for connector %s", k), cause)
	if !createOutcomeUnknown(cause) {
		if register == nil {
			b.report(ctx, eventRotateFailed, k, "", cause)
			b.recordError(ctx, s, k, mapped)
		}
		return mapped
	}
	ended := b.now()
	b.report(ctx, eventRotateFailed, k, "", cause, "from", started.Format(time.RFC3339), "to", ended.Format(time.RFC3339))
	_, err := b.updateConnector(ctx, s, k, func(e *lifecycle.Record) (*lifecycle.Record, error) {
		switch {
		case e == nil && register != nil:
			e = lifecycle.NewRecord(k, *register, started)
		case e == nil:
			return nil, nil
		}
		e.RecordUnknownCreate(started, ended)
		e.RecordError(mapped, ended)
		return e, nil
	})
	if err != nil {
		b.Logger().Warn("recording a create with an unknown outcome", "connector", k.String(), "error", err)
	}
	return withNote(mapped, fmt.Sprintf("the outcome is unknown: a credential may have been created upstream between %s and %s",
		formatTime(started), formatTime(ended)))
}

// createOutcomeUnknown reports whether a failed create may still have been
// carried out upstream.
func createOutcomeUnknown(err error) bool { return httpx.OutcomeOf(err) == httpx.OutcomeUnknown }

// revokeUnusable handles a create whose answer names the new credential but
// cannot be used: the credential exists upstream, so it is revoked by its id
// at once. Where that fails it stays in the record as revoke-now (retried on
// every periodic run), or, for a registration without a record, the ERROR
// log names it.
func (b *backend) revokeUnusable(ctx context.Context, s logical.Storage, client *c1api.Client, k lifecycle.Key,
	cause *c1api.UnusableCredentialError,
) error {
	id, now := cause.CredentialID, b.now()
	e, err := b.modify(ctx, s, k, func(e *lifecycle.Record) bool {
		e.StoreUnusable(&lifecycle.Credential{ID: id, CreatedAt: now}, now)
		e.RecordError(cause, now)
		return true
	})
	if err != nil {
		b.Logger().Warn("recording an unusable new credential", "connector", k.String(), "credential_id", id, "error", err)
	}
	what := fmt.Sprintf("the upstream created credential %s for connector %s, but %s", id, k, cause.Reason)
	if err := b.revokeCredential(ctx, s, client, k, id); err != nil {
		left := "it is marked revoke-now and retried on every periodic run"
		if e == nil {
			left = "it stays valid upstream until it expires: revoke it in C1"
			b.report(ctx, eventCredentialLost, k, id, err, "reason", cause.Reason)
		}
		return logical.CodedError(http.StatusBadGateway, fmt.Sprintf("%s; revoking it failed (%v): %s", what, err, left))
	}
	return logical.CodedError(http.StatusBadGateway, what+"; it was revoked")
}

// deleteWAL removes a finished rotation's WAL entry; a leftover entry only
// costs a harmless rollback later.
func (b *backend) deleteWAL(ctx context.Context, s logical.Storage, id string) {
	if err := framework.DeleteWAL(ctx, s, id); err != nil {
		b.Logger().Warn("deleting a rotation WAL entry", "wal_id", id, "error", err)
	}
}

// recordError keeps the last error of a connector's background work for the status read.
func (b *backend) recordError(ctx context.Context, s logical.Storage, k lifecycle.Key, cause error) {
	now := b.now()
	_, err := b.modify(ctx, s, k, func(e *lifecycle.Record) bool {
		e.RecordError(cause, now)
		return true
	})
	if err != nil {
		b.Logger().Warn("recording a connector error", "connector", k.String(), "error", err)
	}
}

// adoptCredential takes over a connector's existing credential, made
// outside Vault, as its current one. Nothing is stored, and nothing created
// upstream, unless the upstream confirms it: a login with the offered client
// id and secret succeeds, and a read of the credential under the connector
// answers, not deleted nor expired, with that client id. A current
// credential it replaces (replace_current) retires like a rotated one. The
// caller holds the op lock, under which it read existing, the record.
func (b *backend) adoptCredential(ctx context.Context, s logical.Storage, k lifecycle.Key, existing *lifecycle.Record,
	o lifecycle.Overrides, a *adoption,
) (*logical.Response, error) {
	switch lifecycle.DecideAdopt(existing, a.replace) {
	case lifecycle.AdoptConflict:
		return nil, logical.CodedError(http.StatusConflict, fmt.Sprintf("connector %s is managed already: "+
			"set replace_current=true to replace its current credential (which then retires like a rotated one)", k))
	case lifecycle.AdoptDeregistering:
		return nil, errDeregistering(k)
	}
	client, cfg, err := b.c1Client(ctx, s)
	if err != nil {
		return nil, err
	}
	var ev lifecycle.AdoptionEvidence
	cred, err := client.GetCredential(ctx, k.AppID, k.ConnectorID, a.credentialID)
	switch {
	case err == nil:
		ev.Found, ev.AppID, ev.ConnectorID, ev.ClientID = true, cred.AppID, cred.ConnectorID, cred.ClientID
		ev.DeletedAt, ev.ExpiresTime = cred.DeletedAt, cred.ExpiresTime
		a.adoptedCreated, a.adoptedExpires = cred.CreatedAt, cred.ExpiresTime
	case !httpx.IsNotFound(err):
		return nil, upstreamError(fmt.Sprintf("reading credential %s of connector %s to adopt it", a.credentialID, k), err)
	}
	if err := b.loginWith(ctx, cfg, a.clientID, a.clientSecret); err == nil {
		ev.LoggedIn = true
	} else if he := (*httpx.Error)(nil); !errors.As(err, &he) || he.Status < 400 || he.Status > 499 {
		return nil, upstreamError("logging in with the credential to adopt", err)
	}
	now := b.now()
	if field, why := ev.Problem(k, a.clientID, now); field != "" {
		return nil, badRequest("field %q: %s; nothing was stored", field, why)
	}
	adopted := &lifecycle.Credential{ID: a.credentialID, ClientID: a.clientID, ClientSecret: a.clientSecret,
		CreatedAt: a.adoptedCreated.UTC(), ExpiresTime: a.adoptedExpires.UTC()}
	if adopted.CreatedAt.IsZero() {
		adopted.CreatedAt = now
	}
	var replaced *lifecycle.Credential
	rec, err := b.updateConnector(ctx, s, k, func(e *lifecycle.Record) (*lifecycle.Record, error) {
		if e == nil {
			e = lifecycle.NewRecord(k, o, now)
		} else {
			merged := e.Overrides
			merged.Merge(o)
			e.Overrides = merged
		}
		replaced = e.Adopt(adopted, policyFor(cfg, e), now)
		return e, nil
	})
	if err != nil {
		return nil, fmt.Errorf("storing the adopted credential of connector %s: %w", k, err)
	}
	b.report(ctx, eventAdopted, k, adopted.ID, nil, "expires_time", formatTime(adopted.ExpiresTime))
	data := credentialSummary(k, rec.Current)
	data["adopted_at"] = formatTime(now)
	if replaced != nil {
		data["previous_credential_id"] = replaced.ID
		data["previous_revoke_at"] = formatTime(replaced.RevokeAt)
	}
	return &logical.Response{Data: data}, nil
}
