package c1

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/helper/locksutil"
	"github.com/hashicorp/vault/sdk/logical"
)

// Storage keys. Both prefixes are seal-wrapped (see the backend's PathsSpecial).
const (
	configStorageKey       = "config"
	connectorStoragePrefix = "connectors/"
)

// storedCredential is one C1 connector credential the engine created.
type storedCredential struct {
	ID           string    `json:"id"`
	ClientID     string    `json:"client_id"`
	ClientSecret string    `json:"client_secret,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	ExpiresTime  time.Time `json:"expires_time,omitempty"`
	// RotationID ties a pending credential to the WAL entry of the rotation
	// that created it.
	RotationID string `json:"rotation_id,omitempty"`
	// LeaseHorizon is the latest end of any lease issued for this credential.
	LeaseHorizon time.Time `json:"lease_horizon,omitempty"`
	// RetiredAt and RevokeAt are set once a newer credential replaced it.
	RetiredAt time.Time `json:"retired_at,omitempty"`
	RevokeAt  time.Time `json:"revoke_at,omitempty"`
	// RevokeNow marks a retiring credential to be revoked at once, without
	// grace, on every periodic run until the upstream confirms.
	RevokeNow bool `json:"revoke_now,omitempty"`
	// LastUsedAt is the upstream's lastUsedAt of a retiring credential, read
	// when its revocation came due; HeldSince is when a use after its
	// retirement first held the revocation back.
	LastUsedAt time.Time `json:"last_used_at,omitempty"`
	HeldSince  time.Time `json:"held_since,omitempty"`
}

// connectorEntry is the stored state of one managed C1 connector.
type connectorEntry struct {
	AppID       string          `json:"app_id"`
	ConnectorID string          `json:"connector_id"`
	Overrides   policyOverrides `json:"overrides"`

	// Current is the credential served by creds reads.
	Current *storedCredential `json:"current,omitempty"`
	// Pending is a credential created upstream and persisted, not yet
	// promoted to current. It exists only in the middle of a rotation, or
	// after a crash there (the WAL rollback revokes it).
	Pending *storedCredential `json:"pending,omitempty"`
	// Retiring are replaced credentials waiting for their revocation time.
	Retiring []*storedCredential `json:"retiring,omitempty"`

	RegisteredAt time.Time `json:"registered_at"`
	LastRotation time.Time `json:"last_rotation,omitempty"`
	LastError    string    `json:"last_error,omitempty"`
	LastErrorAt  time.Time `json:"last_error_at,omitempty"`

	// Deregistering is set once a delete began: every credential is to be
	// revoked, nothing new is created, and the record goes once it is empty.
	Deregistering bool `json:"deregistering,omitempty"`

	// UnknownCreates are the time windows of the latest creates whose
	// outcome is unknown (each may have left a credential upstream that the
	// engine never saw), UnknownCreateCount how many there were in all, and
	// UnknownStreak how many in a row since the last create that succeeded.
	UnknownCreates     []unknownCreate `json:"unknown_creates,omitempty"`
	UnknownCreateCount int             `json:"unknown_create_count,omitempty"`
	UnknownStreak      int             `json:"unknown_streak,omitempty"`

	// LastVerified is when the current credential was last found valid
	// upstream, LastVerifyResult what the last check found.
	LastVerified     time.Time `json:"last_verified,omitempty"`
	LastVerifyResult string    `json:"last_verify_result,omitempty"`
}

// connectorKey identifies a connector: its app id and connector id.
type connectorKey struct {
	AppID       string
	ConnectorID string
}

func (k connectorKey) String() string { return k.AppID + "/" + k.ConnectorID }

func (k connectorKey) storageKey() string { return connectorStoragePrefix + k.String() }

// getConnector loads a connector's record; nil when it is not managed. Through
// a recordStore it is a copy of the record held in memory, or read once and
// then held. The caller may modify it.
func getConnector(ctx context.Context, s logical.Storage, k connectorKey) (*connectorEntry, error) {
	rs, ok := s.(*recordStore)
	if !ok {
		return readConnector(ctx, s, k)
	}
	e, slot := rs.mem.records.lookup(k)
	if slot == nil {
		return e, nil
	}
	e, err := readConnector(ctx, rs.Storage, k)
	if err != nil {
		return nil, err
	}
	rs.mem.records.fill(k, slot, e)
	return e, nil
}

// readConnector reads and decodes a connector's record from s.
func readConnector(ctx context.Context, s logical.Storage, k connectorKey) (*connectorEntry, error) {
	raw, err := s.Get(ctx, k.storageKey())
	if err != nil {
		return nil, fmt.Errorf("reading connector %s: %w", k, err)
	}
	if raw == nil {
		return nil, nil
	}
	entry := new(connectorEntry)
	if err := raw.DecodeJSON(entry); err != nil {
		return nil, fmt.Errorf("decoding connector %s: %w", k, err)
	}
	return entry, nil
}

// putConnector stores a connector's record. Through a recordStore, memory
// then holds it and the due-time schedule notes it. Writers hold the
// connector's entry lock (updateConnector).
func putConnector(ctx context.Context, s logical.Storage, e *connectorEntry) error {
	k := connectorKey{e.AppID, e.ConnectorID}
	raw, err := logical.StorageEntryJSON(k.storageKey(), e)
	if err != nil {
		return fmt.Errorf("encoding connector %s: %w", k, err)
	}
	// Through a recordStore, Put drops memory's copy before and after the write.
	if err := s.Put(ctx, raw); err != nil {
		return fmt.Errorf("storing connector %s: %w", k, err)
	}
	if rs, ok := s.(*recordStore); ok {
		rs.mem.records.set(k, e)
		_, _ = cachedConfig(ctx, rs) // so that the note can say when the record is due
		rs.mem.noteRecord(k, e)
		rs.mem.expiries.set(k, e)
	}
	return nil
}

// deleteConnector deletes a connector's record (and memory's copy).
func deleteConnector(ctx context.Context, s logical.Storage, k connectorKey) error {
	if err := s.Delete(ctx, k.storageKey()); err != nil {
		return fmt.Errorf("deleting connector %s: %w", k, err)
	}
	return nil
}

// eachConnector calls fn with every connector record in storage. It reads
// past memory's copies, so that a scan of the whole fleet neither serves
// from nor fills the bounded record cache, whose hot records stay.
func eachConnector(ctx context.Context, s logical.Storage, fn func(connectorKey, *connectorEntry)) error {
	if rs, ok := s.(*recordStore); ok {
		s = rs.Storage
	}
	keys, err := listConnectors(ctx, s)
	if err != nil {
		return err
	}
	for _, k := range keys {
		e, err := getConnector(ctx, s, k)
		if err != nil {
			return err
		}
		if e != nil {
			fn(k, e)
		}
	}
	return nil
}

// listConnectors returns every managed connector, sorted.
func listConnectors(ctx context.Context, s logical.Storage) ([]connectorKey, error) {
	apps, err := s.List(ctx, connectorStoragePrefix)
	if err != nil {
		return nil, fmt.Errorf("listing connectors: %w", err)
	}
	var keys []connectorKey
	for _, app := range apps {
		if !strings.HasSuffix(app, "/") {
			continue
		}
		conns, err := s.List(ctx, connectorStoragePrefix+app)
		if err != nil {
			return nil, fmt.Errorf("listing connectors of app %s: %w", strings.TrimSuffix(app, "/"), err)
		}
		for _, c := range conns {
			if strings.HasSuffix(c, "/") {
				continue
			}
			keys = append(keys, connectorKey{strings.TrimSuffix(app, "/"), c})
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	return keys, nil
}

// errConnectorGone is returned by an update of a connector that is no longer managed.
var errConnectorGone = fmt.Errorf("connector is not managed")

// updateConnector applies change to a connector's record under its entry lock
// and stores the result. change may delete the record by returning
// deleteRecord; it sees nil when the connector is not managed, and then must
// return a record to create one.
func (b *backend) updateConnector(ctx context.Context, s logical.Storage, k connectorKey,
	change func(e *connectorEntry) (*connectorEntry, error),
) (*connectorEntry, error) {
	s = b.storageOf(s)
	lock := locksutil.LockForKey(b.entryLocks, k.String())
	lock.Lock()
	defer lock.Unlock()

	entry, err := getConnector(ctx, s, k)
	if err != nil {
		return nil, err
	}
	next, err := change(entry)
	if err != nil {
		return nil, err
	}
	switch {
	case next == deleteRecord:
		return nil, deleteConnector(ctx, s, k)
	case next == nil:
		return entry, nil
	}
	if err := putConnector(ctx, s, next); err != nil {
		return nil, err
	}
	return next, nil
}

// deleteRecord is the value an updateConnector change returns to delete the record.
var deleteRecord = &connectorEntry{}
