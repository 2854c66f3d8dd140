package c1

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/httpx"
	"github.com/vault-plugin-c1/vault-plugin-c1/internal/lifecycle"
)

// walKindRotation is the WAL entry kind written before a credential is
// created upstream.
const walKindRotation = "c1_rotation"

// walRollbackMinAge is how old a WAL entry must be before it is rolled back.
// It is far longer than any rotation takes, retries included.
const walRollbackMinAge = 10 * time.Minute

// walRotation is the data of a rotation WAL entry.
type walRotation struct {
	AppID       string    `json:"app_id"`
	ConnectorID string    `json:"connector_id"`
	RotationID  string    `json:"rotation_id"`
	StartedAt   time.Time `json:"started_at"`
}

// walGiveUpAge is how long a rollback that keeps failing is retried. Past
// it, the entry is dropped with an ERROR log that names what it could not
// undo, instead of failing every rollback run forever.
const walGiveUpAge = 24 * time.Hour

// errRollbackElsewhere keeps a WAL entry where storage is not writable: the
// node that can write rolls it back.
var errRollbackElsewhere = errors.New("storage is not writable here; the active node rolls this entry back")

// walRollback undoes an interrupted rotation. A pending credential that was
// stored but never promoted is revoked upstream. Where the crash came before
// the new credential was stored, its id is unknown and the C1 API has no call
// to list a connector's credentials: the rollback logs that such a credential
// may stay valid until it expires. Where storage is not writable it does
// nothing and keeps the entry.
func (b *backend) walRollback(ctx context.Context, req *logical.Request, kind string, data any) error {
	if kind != walKindRotation && kind != walKindRootRotation {
		return fmt.Errorf("unknown WAL entry kind %q", kind)
	}
	if !b.WriteSafeReplicationState() {
		return errRollbackElsewhere
	}
	if kind == walKindRootRotation {
		var w walRootRotation
		if err := decodeWAL(data, &w); err != nil {
			return err
		}
		err := b.rollBackRootRotation(ctx, req.Storage, w)
		if err != nil && b.now().Sub(w.StartedAt) >= walGiveUpAge {
			b.Logger().Error("giving up the rollback of an interrupted root rotation after "+walGiveUpAge.String()+
				"; dropping its WAL entry: look in C1 for a credential named "+rootDisplayName(w.RotationID)+" and delete it",
				"rotation_id", w.RotationID, "started_at", formatTime(w.StartedAt), "error", err)
			return nil
		}
		return err
	}
	var w walRotation
	if err := decodeWAL(data, &w); err != nil {
		return err
	}
	k := lifecycle.Key{AppID: w.AppID, ConnectorID: w.ConnectorID}
	pendingID, err := b.rollBackRotation(ctx, req.Storage, k, w)
	if err == nil || b.now().Sub(w.StartedAt) < walGiveUpAge {
		return err
	}
	notUndone := "the rotation's record"
	if pendingID != "" {
		// Not forgotten: the periodic function goes on trying to revoke it.
		notUndone = "the revocation of never-promoted credential " + pendingID
		b.retirePendingNow(ctx, req.Storage, k, pendingID)
	}
	b.Logger().Error("giving up the rollback of an interrupted rotation after "+walGiveUpAge.String()+"; dropping its WAL entry",
		"connector", k.String(), "rotation_id", w.RotationID, "started_at", w.StartedAt.Format(time.RFC3339),
		"not_undone", notUndone, "error", err)
	return nil
}

// decodeWAL decodes a WAL entry's data into out.
func decodeWAL(data, out any) error {
	raw, err := json.Marshal(data)
	if err == nil {
		err = json.Unmarshal(raw, out)
	}
	if err != nil {
		return fmt.Errorf("decoding a WAL entry: %w", err)
	}
	return nil
}

// retirePendingNow marks pending credential id revoke-now, so the periodic
// function retries its revocation.
func (b *backend) retirePendingNow(ctx context.Context, s logical.Storage, k lifecycle.Key, id string) {
	now := b.now()
	_, err := b.modify(ctx, s, k, func(e *lifecycle.Record) bool { return e.AbandonPending(id, now) })
	if err != nil {
		b.Logger().Error("marking a never-promoted credential revoke-now", "connector", k.String(), "credential_id", id, "error", err)
	}
}

// rollBackRotation revokes the pending credential of rotation w, if the
// record still holds it as pending, and returns its id.
func (b *backend) rollBackRotation(ctx context.Context, s logical.Storage, k lifecycle.Key, w walRotation) (string, error) {
	unlock := b.lockOp(k)
	defer unlock()

	e, err := b.getRecord(ctx, s, k)
	if err != nil {
		return "", err
	}
	switch {
	case e != nil && e.Pending != nil && e.Pending.RotationID == w.RotationID:
		id := e.Pending.ID
		client, _, err := b.c1Client(ctx, s)
		if err != nil {
			return id, fmt.Errorf("rolling back the rotation of connector %s: %w", k, err)
		}
		if err := client.RevokeCredential(ctx, k.AppID, k.ConnectorID, id); err != nil && !httpx.IsNotFound(err) {
			return id, upstreamError(fmt.Sprintf("rolling back the rotation of connector %s: revoking credential %s", k, id), err)
		}
		_, err = b.updateConnector(ctx, s, k, func(e *lifecycle.Record) (*lifecycle.Record, error) {
			if e != nil && e.RollBackPending(id) {
				return deleteRecord, nil // a registration that never finished
			}
			return e, nil
		})
		if err != nil {
			return id, err
		}
		b.report(ctx, eventRevoked, k, id, nil, "reason", "rollback of an interrupted rotation: the credential was never made current")
	case e != nil && e.HoldsRotation(w.RotationID):
		// Stored and promoted (or already retiring); only the WAL entry's
		// deletion was lost.
	default:
		now := b.now()
		b.Logger().Warn("an interrupted rotation created no stored credential; if the upstream created one before the "+
			"interruption, it cannot be found (the C1 API cannot list credentials) and stays valid until it expires",
			"connector", k.String(), "outcome", httpx.OutcomeUnknown.String(), "from", formatTime(w.StartedAt), "to", formatTime(now))
		if e == nil {
			break // a registration that never stored anything: no record to show it in
		}
		_, err := b.modify(ctx, s, k, func(e *lifecycle.Record) bool {
			e.RecordPossibleOrphan(w.StartedAt, now)
			return true
		})
		if err != nil {
			return "", err
		}
	}
	return "", nil
}
