package c1

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/httpx"
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

// walRollback undoes an interrupted rotation. A pending credential that was
// stored but never promoted is revoked upstream. Where the crash came before
// the new credential was stored, its id is unknown and the C1 API has no call
// to list a connector's credentials: the rollback logs that such a credential
// may stay valid until it expires.
func (b *backend) walRollback(ctx context.Context, req *logical.Request, kind string, data any) error {
	if kind != walKindRotation {
		return fmt.Errorf("unknown WAL entry kind %q", kind)
	}
	var w walRotation
	raw, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("decoding rotation WAL entry: %w", err)
	}
	if err := json.Unmarshal(raw, &w); err != nil {
		return fmt.Errorf("decoding rotation WAL entry: %w", err)
	}
	k := connectorKey{w.AppID, w.ConnectorID}

	unlock := b.lockOp(k)
	defer unlock()

	e, err := getConnector(ctx, req.Storage, k)
	if err != nil {
		return err
	}
	switch {
	case e != nil && e.Pending != nil && e.Pending.RotationID == w.RotationID:
		client, _, err := b.c1Client(ctx, req.Storage)
		if err != nil {
			return fmt.Errorf("rolling back the rotation of connector %s: %w", k, err)
		}
		id := e.Pending.ID
		if err := client.RevokeCredential(ctx, k.AppID, k.ConnectorID, id); err != nil && !httpx.IsNotFound(err) {
			return upstreamError(fmt.Sprintf("rolling back the rotation of connector %s: revoking credential %s", k, id), err)
		}
		_, err = b.updateConnector(ctx, req.Storage, k, func(e *connectorEntry) (*connectorEntry, error) {
			if e == nil || e.Pending == nil || e.Pending.ID != id {
				return nil, nil
			}
			e.Pending = nil
			if e.Current == nil && len(e.Retiring) == 0 {
				return deleteRecord, nil // a registration that never finished
			}
			return e, nil
		})
		if err != nil {
			return err
		}
		b.Logger().Warn("rolled back an interrupted rotation: revoked its never-promoted credential",
			"connector", k.String(), "credential_id", id)
	case e != nil && e.holdsRotation(w.RotationID):
		// Stored and promoted (or already retiring); only the WAL entry's
		// deletion was lost.
	default:
		b.Logger().Warn("an interrupted rotation created no stored credential; if the upstream created one before the "+
			"interruption, it cannot be found (the C1 API cannot list credentials) and stays valid until it expires",
			"connector", k.String(), "started_at", w.StartedAt)
	}
	return nil
}
