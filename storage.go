package c1

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/vault/sdk/helper/locksutil"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/lifecycle"
)

// Storage keys. Both prefixes are seal-wrapped (see the backend's PathsSpecial).
const (
	configStorageKey       = "config"
	connectorStoragePrefix = "connectors/"
)

// recordKey is the storage key of connector k's record.
func recordKey(k lifecycle.Key) string { return connectorStoragePrefix + k.String() }

// readRecord reads and decodes a connector's record from s.
func readRecord(ctx context.Context, s logical.Storage, k lifecycle.Key) (*lifecycle.Record, error) {
	raw, err := s.Get(ctx, recordKey(k))
	if err != nil {
		return nil, fmt.Errorf("reading connector %s: %w", k, err)
	}
	if raw == nil {
		return nil, nil
	}
	entry := new(lifecycle.Record)
	if err := raw.DecodeJSON(entry); err != nil {
		return nil, fmt.Errorf("decoding connector %s: %w", k, err)
	}
	return entry, nil
}

// eachConnector calls fn with every connector record in storage. It reads
// past memory's copies, so that a scan of the whole fleet neither serves
// from nor fills the bounded record cache, whose hot records stay.
func eachConnector(ctx context.Context, s logical.Storage, fn func(lifecycle.Key, *lifecycle.Record)) error {
	keys, err := listConnectors(ctx, s)
	if err != nil {
		return err
	}
	for _, k := range keys {
		e, err := readRecord(ctx, s, k)
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
func listConnectors(ctx context.Context, s logical.Storage) ([]lifecycle.Key, error) {
	apps, err := s.List(ctx, connectorStoragePrefix)
	if err != nil {
		return nil, fmt.Errorf("listing connectors: %w", err)
	}
	var keys []lifecycle.Key
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
			keys = append(keys, lifecycle.Key{AppID: strings.TrimSuffix(app, "/"), ConnectorID: c})
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
func (b *backend) updateConnector(ctx context.Context, s logical.Storage, k lifecycle.Key,
	change func(e *lifecycle.Record) (*lifecycle.Record, error),
) (*lifecycle.Record, error) {
	lock := locksutil.LockForKey(b.entryLocks, k.String())
	lock.Lock()
	defer lock.Unlock()

	entry, err := b.getRecord(ctx, s, k)
	if err != nil {
		return nil, err
	}
	next, err := change(entry)
	if err != nil {
		return nil, err
	}
	switch {
	case next == deleteRecord:
		return nil, b.deleteRecordStored(ctx, s, k)
	case next == nil:
		return entry, nil
	}
	if err := b.putRecord(ctx, s, next); err != nil {
		return nil, err
	}
	return next, nil
}

// modify applies change to connector k's record when it is managed, and
// stores the record when change reports that it changed it.
func (b *backend) modify(ctx context.Context, s logical.Storage, k lifecycle.Key, change func(e *lifecycle.Record) bool) (*lifecycle.Record, error) {
	return b.updateConnector(ctx, s, k, func(e *lifecycle.Record) (*lifecycle.Record, error) {
		if e == nil || !change(e) {
			return nil, nil
		}
		return e, nil
	})
}

// deleteRecord is the value an updateConnector change returns to delete the record.
var deleteRecord = &lifecycle.Record{}
