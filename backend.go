// Package c1 is a Vault secrets engine that holds ConductorOne (C1) connector
// credentials and Aitronos personal-connector OAuth tokens, serves them as
// leases that end no later than the credentials stop working, and rotates the
// C1 credentials before they expire.
package c1

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/locksutil"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/aitronos"
	"github.com/vault-plugin-c1/vault-plugin-c1/internal/httpx"
)

// Version is the plugin's version, set at build time with
// -ldflags "-X github.com/vault-plugin-c1/vault-plugin-c1.Version=v1.2.3".
var Version = "v0.0.0-dev"

const backendHelp = `
The C1 secrets engine holds ConductorOne connector credentials and Aitronos
OAuth access tokens. It creates C1 connector credentials, persists their
one-time secrets, serves them as leases that end before the credential stops
working, rotates them before they expire and revokes the old ones once their
leases have ended.

Write "config" first, then register a connector with "creds/<app_id>/<connector_id>".

Disabling the mount ("vault secrets disable") deletes what the engine stored
without revoking anything upstream: the credentials it created stay valid in C1
until they expire. Delete every connector first (each "creds/<app_id>/<connector_id>"),
check that "creds/" lists none, then disable the mount.
`

// backend is the secrets engine. It embeds the framework backend and holds the
// upstream clients built from the stored config.
type backend struct {
	*framework.Backend

	// clock is the time source of every decision the engine makes.
	clock func() time.Time

	// configMu serializes config writes, so that concurrent writes of
	// different fields cannot lose one another.
	configMu sync.Mutex

	// rootMu serializes the work on the engine's own credential: its
	// rotations, reads and deletions upstream (root.go).
	rootMu sync.Mutex

	// clientsMu guards the cached upstream clients, rebuilt from config on
	// first use after a config change.
	clientsMu sync.RWMutex
	clients   clientCache

	// opLocks serialize long operations on one connector (rotation,
	// revocation, deregistration); entryLocks guard the short
	// read-modify-write of its stored record.
	opLocks    []*locksutil.LockEntry
	entryLocks []*locksutil.LockEntry

	// mem is the one owner of what the engine holds in memory of storage:
	// connector records, the connector index, the config (memory.go).
	mem *memory

	// oauth coalesces and caches Aitronos token reads.
	oauth *aitronos.Cache

	// metrics count lifecycle events and upstream requests (metrics path).
	metrics *engineMetrics

	// tuneHTTP, when set, adjusts the upstream request settings (tests
	// shorten the retry backoff with it).
	tuneHTTP func(*httpx.Options)
}

// Factory returns a configured instance of the secrets engine.
func Factory(ctx context.Context, conf *logical.BackendConfig) (logical.Backend, error) {
	b := newBackend(time.Now)
	if err := b.Setup(ctx, conf); err != nil {
		return nil, err
	}
	return b, nil
}

// newBackend builds the engine with the given clock.
func newBackend(clock func() time.Time) *backend {
	b := &backend{
		clock:      clock,
		opLocks:    locksutil.CreateLocks(),
		entryLocks: locksutil.CreateLocks(),
	}
	b.metrics = newEngineMetrics()
	b.mem = &memory{clock: b.now}
	b.oauth = aitronos.NewCache(func() time.Time { return b.clock() }, b.metrics.observeAitronosCache)
	b.Backend = &framework.Backend{
		Help:        strings.TrimSpace(backendHelp),
		BackendType: logical.TypeLogical,
		PathsSpecial: &logical.Paths{
			SealWrapStorage: []string{
				configStorageKey,
				connectorStoragePrefix,
				rootStorageKey,
			},
			// WAL entries stay with the cluster that wrote them: a
			// performance secondary forwards rotations to the primary, and
			// must never roll back the primary's entries.
			LocalStorage: []string{
				framework.WALPrefix,
			},
		},
		Paths: framework.PathAppend(
			pathConfig(b),
			pathRotateRoot(b),
			pathCreds(b),
			pathRotate(b),
			pathOAuth(b),
			pathMetrics(b),
		),
		Secrets: []*framework.Secret{
			secretC1Credential(b),
			secretAitronosToken(b),
		},
		PeriodicFunc:      b.periodic,
		WALRollback:       b.walRollback,
		WALRollbackMinAge: walRollbackMinAge,
		RotateCredential:  b.rotateRootByVault,
		Invalidate:        b.invalidate,
		Clean:             b.clean,
		RunningVersion:    Version,
	}
	return b
}

// now returns the engine's current time.
func (b *backend) now() time.Time { return b.clock().UTC() }

// invalidate drops what the engine holds in memory of a key another node
// wrote: the clients and config on a config change, a connector's record.
func (b *backend) invalidate(_ context.Context, key string) {
	if key == configStorageKey {
		b.resetClients()
	}
	b.mem.invalidate(key)
}

// clean forgets everything held in memory when Vault unmounts or reloads the engine.
func (b *backend) clean(context.Context) {
	b.resetClients()
	b.mem.reset()
}

// periodic runs the rotation sweep. Vault calls it about once a minute; it
// writes storage, so it runs only where storage is writable. Where it is
// not, memory is dropped, so that the node works from storage once it becomes
// writable (a standby that became active rebuilds its schedule).
func (b *backend) periodic(ctx context.Context, req *logical.Request) error {
	if !b.WriteSafeReplicationState() {
		b.mem.reset()
		return nil
	}
	// The engine's own credential first: the sweep needs it to work.
	rootErr := b.maintainRoot(ctx, req.Storage)
	if rootErr != nil {
		b.Logger().Warn("maintaining the engine's own credential failed; retrying on the next tick", "error", rootErr)
	}
	return errors.Join(rootErr, b.sweep(ctx, req.Storage))
}

// operation is a path operation with its summary and the verb and suffix of
// its OpenAPI operation id (the prefix, "c1", is the path's): verb "rotate"
// and suffix "connector-credential" make "c1-rotate-connector-credential".
func operation(callback framework.OperationFunc, verb, suffix, summary string) *framework.PathOperation {
	return &framework.PathOperation{
		Callback:     callback,
		Summary:      summary,
		DisplayAttrs: &framework.DisplayAttributes{OperationVerb: verb, OperationSuffix: suffix},
	}
}

// forwarded marks op to run where storage is writable: it calls upstream and
// then writes, so performance standbys and secondaries forward it.
func forwarded(op *framework.PathOperation) *framework.PathOperation {
	op.ForwardPerformanceStandby, op.ForwardPerformanceSecondary = true, true
	return op
}
