package c1

import (
	"context"
	"errors"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/httpx"
	"github.com/vault-plugin-c1/vault-plugin-c1/internal/lifecycle"
)

// This file is the one place where a lifecycle event becomes a log line, a
// metric and a Vault event. The lifecycle code calls report once per event.
//
// Log keys are the same everywhere: connector (<app_id>/<connector_id>),
// credential_id, connection_id, outcome (of the upstream request: applied,
// not_applied, unknown) and error. Levels: INFO for each rotation and
// revocation; WARN for what needs a human (a failure that lasts, a create
// whose outcome is unknown: look for the credential in C1); ERROR for what
// was lost (a credential valid upstream that the engine no longer holds).

// lifecycleEvent is something that happened to a connector's credentials.
type lifecycleEvent string

const (
	// eventRotated: a new credential was created and made current.
	eventRotated lifecycleEvent = "rotate"
	// eventRotateFailed: a create failed; its outcome says whether the
	// upstream may hold a credential the engine never saw.
	eventRotateFailed lifecycleEvent = "rotate-failed"
	// eventRevoked: a credential was revoked upstream (or was already).
	eventRevoked lifecycleEvent = "revoke"
	// eventRevokeFailed: a revocation failed; the credential stays valid
	// upstream and the periodic function retries it.
	eventRevokeFailed lifecycleEvent = "revoke-failed"
	// eventRevokeHeldBack: a replaced credential's revocation waits past its
	// grace, for leases that are still out.
	eventRevokeHeldBack lifecycleEvent = "revoke-held-back"
	// eventRevokeHeldBackInUse: a replaced credential's revocation waits
	// because the credential is still used upstream: a consumer has not
	// moved to the new one.
	eventRevokeHeldBackInUse lifecycleEvent = "revoke-held-back-in-use"
	// eventCredentialLost: a credential created upstream could be neither
	// stored nor revoked; it stays valid until it expires.
	eventCredentialLost lifecycleEvent = "credential-lost"
	// eventRevokedOutOfBand: a check found the current credential revoked
	// upstream out of band; it is no longer served and is being replaced.
	eventRevokedOutOfBand lifecycleEvent = "revoked-out-of-band"
	// eventAdopted: a connector's existing credential, made outside Vault,
	// was taken over as its current credential.
	eventAdopted lifecycleEvent = "adopt"
	// eventRootRotated: the engine's own credential was replaced.
	eventRootRotated lifecycleEvent = "root-rotated"
	// eventRootRotateFailed: a rotation of the engine's own credential failed.
	eventRootRotateFailed lifecycleEvent = "root-rotate-failed"
	// eventRootExpiring: the engine's own credential nears its expiry and
	// could not be rotated (warned once a day).
	eventRootExpiring lifecycleEvent = "root-expiring"
	// eventVerifySuspended: a credential made to replace one that read as
	// revoked reads as revoked too: such reads are not trusted, and checks
	// of the connector no longer act until one finds its credential.
	eventVerifySuspended lifecycleEvent = "verify-suspended"
)

// eventTypePrefix prefixes the Vault event types the engine sends, e.g.
// "c1/credential-rotate".
const eventTypePrefix = "c1/credential-"

// eventSpec is how one kind of event is reported.
type eventSpec struct {
	level   hclog.Level
	message string
	// send says whether a Vault event is sent.
	send bool
	// count increments the event's metrics.
	count func(m *engineMetrics, connector, outcome string)
}

var eventSpecs = map[lifecycleEvent]eventSpec{
	eventRotated: {hclog.Info, "connector credential rotated", true,
		func(m *engineMetrics, c, _ string) { m.rotations.WithLabelValues(c).Inc() }},
	eventRotateFailed: {hclog.Warn, "creating a connector credential failed; retried on the next periodic run", true,
		func(m *engineMetrics, c, o string) {
			m.rotationFailures.WithLabelValues(c, o).Inc()
			if o == httpx.OutcomeUnknown.String() {
				m.unknownCreates.WithLabelValues(c).Inc()
			}
		}},
	eventRevoked: {hclog.Info, "connector credential revoked", true,
		func(m *engineMetrics, c, _ string) { m.revocations.WithLabelValues(c).Inc() }},
	eventRevokeFailed: {hclog.Warn, "revoking a connector credential failed; it stays valid upstream and is retried on the next periodic run", true,
		func(m *engineMetrics, c, _ string) { m.revocationFailures.WithLabelValues(c).Inc() }},
	eventRevokeHeldBack: {hclog.Info, "a replaced credential's revocation waits past its grace for leases still out", false,
		func(m *engineMetrics, c, _ string) { m.revocationsHeld.WithLabelValues(c, "leases").Inc() }},
	eventRevokeHeldBackInUse: {hclog.Warn, "a replaced credential's revocation is held back: it is still used upstream", false,
		func(m *engineMetrics, c, _ string) { m.revocationsHeld.WithLabelValues(c, "in_use").Inc() }},
	eventCredentialLost: {hclog.Error, "a credential created upstream could be neither stored nor revoked; it stays valid until it expires: revoke it in C1", true,
		func(m *engineMetrics, c, _ string) { m.lostCredentials.WithLabelValues(c).Inc() }},
	eventRevokedOutOfBand: {hclog.Warn, "the current credential was revoked or deleted upstream, out of band; it is no longer served and is being replaced", true,
		func(m *engineMetrics, c, _ string) { m.outOfBand.WithLabelValues(c, "replaced").Inc() }},
	eventAdopted: {hclog.Info, "an existing connector credential was adopted as the current one", true,
		func(*engineMetrics, string, string) {}},
	eventRootRotated: {hclog.Warn, "the engine's own C1 credential was rotated", true,
		func(m *engineMetrics, _, _ string) { m.rootRotations.WithLabelValues("rotated").Inc() }},
	eventRootRotateFailed: {hclog.Warn, "rotating the engine's own C1 credential failed; the engine keeps its old one", true,
		func(m *engineMetrics, _, o string) { m.rootRotations.WithLabelValues("failed_" + o).Inc() }},
	eventRootExpiring: {hclog.Warn, "the engine's own C1 credential nears its expiry and could not be rotated: " +
		"when it expires, every rotation stops; rotate it (config/rotate-root) or replace it in config", true,
		func(m *engineMetrics, _, _ string) { m.rootRotations.WithLabelValues("expiring").Inc() }},
	eventVerifySuspended: {hclog.Warn, "the credential made to replace one found revoked upstream reads as revoked too: such reads are not trusted, " +
		"verification of the connector is suspended (nothing more is created) until a check finds its credential; check the engine's C1 permissions and the upstream", true,
		func(m *engineMetrics, c, _ string) { m.outOfBand.WithLabelValues(c, "suspended").Inc() }},
}

// unknownCreateMessage is the log line of a create with an unknown outcome:
// a credential may exist upstream that the engine never saw.
const unknownCreateMessage = "a credential create ended with an unknown outcome: the upstream may hold a credential the engine " +
	"never saw; look for one created in this window and revoke it in C1"

// report logs, counts and announces one lifecycle event of connector k.
// credentialID may be empty; cause is the error of a failure (its outcome is
// logged and counted); extra are further log key/value pairs, never secrets.
// Sending the Vault event never fails the caller: where the Vault edition
// has no event system it is a no-op.
func (b *backend) report(ctx context.Context, ev lifecycleEvent, k lifecycle.Key, credentialID string, cause error, extra ...any) {
	spec, ok := eventSpecs[ev]
	if !ok {
		b.Logger().Error("unknown lifecycle event", "event", string(ev), "connector", k.String())
		return
	}
	outcome := ""
	if cause != nil {
		outcome = httpx.OutcomeOf(cause).String()
	}
	message := spec.message
	if ev == eventRotateFailed && outcome == httpx.OutcomeUnknown.String() {
		message = unknownCreateMessage
	}

	args := []any{"connector", k.String()}
	if k == rootSubject {
		args = []any{"root", true}
	}
	if credentialID != "" {
		args = append(args, "credential_id", credentialID)
	}
	if outcome != "" {
		args = append(args, "outcome", outcome)
	}
	args = append(args, extra...)
	if cause != nil {
		args = append(args, "error", cause)
	}
	b.Logger().Log(spec.level, message, args...)

	spec.count(b.metrics, k.String(), outcome) // the root's counters take no connector

	if spec.send {
		b.sendEvent(ctx, ev, k, credentialID, outcome)
	}
}

// rootSubject is the key report takes for an event of the engine's own
// credential rather than a connector's.
var rootSubject = lifecycle.Key{}

// reportRoot reports one event of the engine's own credential.
func (b *backend) reportRoot(ctx context.Context, ev lifecycleEvent, credentialID string, cause error, extra ...any) {
	b.report(ctx, ev, rootSubject, credentialID, cause, extra...)
}

// sendEvent sends a Vault event for ev. Its metadata names the connector,
// the credential and the outcome, never a secret.
func (b *backend) sendEvent(ctx context.Context, ev lifecycleEvent, k lifecycle.Key, credentialID, outcome string) {
	meta := []string{
		logical.EventMetadataDataPath, "creds/" + k.String(),
		"connector", k.String(),
		"app_id", k.AppID,
		"connector_id", k.ConnectorID,
	}
	eventType := eventTypePrefix + string(ev)
	if k == rootSubject {
		meta, eventType = []string{logical.EventMetadataDataPath, "config"}, "c1/"+string(ev)
	}
	if credentialID != "" {
		meta = append(meta, "credential_id", credentialID)
	}
	if outcome != "" {
		meta = append(meta, "outcome", outcome)
	}
	if ev == eventRotated || ev == eventRevoked {
		meta = append(meta, logical.EventMetadataModified, "true")
	}
	err := logical.SendEvent(context.WithoutCancel(ctx), b, eventType, meta...)
	if err != nil && !errors.Is(err, framework.ErrNoEvents) {
		b.Logger().Debug("sending a Vault event failed", "event", eventType, "connector", k.String(), "error", err)
	}
}
