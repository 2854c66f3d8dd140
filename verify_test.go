package c1

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/c1api"
	"github.com/vault-plugin-c1/vault-plugin-c1/internal/lifecycle"
	"github.com/vault-plugin-c1/vault-plugin-c1/internal/upstreamsim"
)

// connectorLogin logs in upstream with credential id, as a connector would.
func (e *testEnv) connectorLogin(id string) {
	e.t.Helper()
	st, ok := e.sim.Credential(id)
	if !ok {
		e.t.Fatalf("no credential %s upstream", id)
	}
	c, err := c1api.New(c1api.Config{ServerURL: e.url, ClientID: st.ClientID, ClientSecret: st.Secret, Now: e.clock.Now})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := c.Login(context.Background()); err != nil {
		e.t.Fatalf("connector login with %s: %v", id, err)
	}
}

// A retiring credential that reads as gone (deletedAt or a 404) is not
// forgotten on that read alone: its revoke is sent, and its answer (a
// success, or a 404) takes it out of the record.
func TestCredentialGoneUpstreamIsRevokedThenForgotten(t *testing.T) {
	for _, hide := range []bool{false, true} {
		name := map[bool]string{false: "deletedAt", true: "404"}[hide]
		t.Run(name, func(t *testing.T) {
			e := newTestEnv(t, upstreamsim.Options{CredentialTTL: upstreamsim.NoExpiry})
			first := e.configureAndRegister(map[string]any{"revoke_grace": "10m", "connector_rotation_period": "24h", "verify_interval": 0})
			e.mustDo(logical.UpdateOperation, rotatePath, nil)
			e.sim.RevokeOutOfBand(first)
			e.sim.SetHideDeleted(hide)
			revokes := e.sim.Calls(upstreamsim.OpRevoke)
			e.clock.Advance(10 * time.Minute)
			e.mustTick()
			if e.connector().StateOf(first) != lifecycle.StateUnmanaged {
				t.Fatal("a credential gone upstream is still held")
			}
			if got := e.sim.Calls(upstreamsim.OpRevoke) - revokes; got != 1 {
				t.Errorf("%d revoke calls for a credential that read as gone, want the one whose answer proves it", got)
			}
		})
	}
}

func TestOutOfBandRevocationOfTheCurrentCredentialRotatesAtOnce(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: upstreamsim.NoExpiry})
	first := e.configureAndRegister(map[string]any{"connector_rotation_period": "24h", "verify_interval": "10m"})
	e.sim.RevokeOutOfBand(first)
	// Within at most one interval (plus a tick) the check falls due.
	for i := 0; i < 11 && e.connector().Current.ID == first; i++ {
		e.clock.Advance(time.Minute)
		e.mustTick()
	}
	cur := e.connector().Current.ID
	if cur == first {
		t.Fatal("the current credential revoked upstream was not replaced within verify_interval")
	}
	st := e.mustDo(logical.ReadOperation, rotatePath, nil)
	if why, _ := st.Data["last_verify_result"].(string); !strings.Contains(why, first) || !strings.Contains(why, "out of band") {
		t.Errorf("status does not say why it rotated: %q", why)
	}
	if !strings.Contains(e.logs.String(), "revoked or deleted upstream, out of band; it is no longer served and is being replaced") {
		t.Error("the log does not say why it rotated")
	}
	resp := e.mustDo(logical.ReadOperation, credsPath, nil)
	if resp.Data["credential_id"] != cur || !e.sim.ValidCredential(resp.Data["client_id"].(string), resp.Data["client_secret"].(string)) {
		t.Error("the credential served after the rotation does not work upstream")
	}
}

func TestVerifyIntervalZeroChecksNothing(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: upstreamsim.NoExpiry})
	first := e.configureAndRegister(map[string]any{"connector_rotation_period": "24h", "verify_interval": 0})
	e.sim.RevokeOutOfBand(first)
	gets := e.sim.Calls(upstreamsim.OpGet)
	for i := 0; i < 30; i++ {
		e.clock.Advance(time.Minute)
		e.mustTick()
	}
	if e.connector().Current.ID != first || e.sim.Calls(upstreamsim.OpGet) != gets {
		t.Fatal("verify_interval 0 still read or rotated the current credential")
	}
	if cfg := e.mustDo(logical.ReadOperation, "config", nil); cfg.Data["verify_interval"] != int64(0) || cfg.Data["revoke_max_delay"] != int64(86400) {
		t.Errorf("config read: verify_interval %v revoke_max_delay %v", cfg.Data["verify_interval"], cfg.Data["revoke_max_delay"])
	}
}

// A credential known to be dead is not served: the sweep finds the current
// credential revoked upstream, its replacement's create fails, and creds
// reads answer a 503 that says why and that a replacement is being made.
func TestACredentialFoundRevokedUpstreamIsNotServed(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: upstreamsim.NoExpiry})
	first := registerWith(e, map[string]any{"connector_rotation_period": "24h", "verify_interval": "10m"})
	e.sim.RevokeOutOfBand(first)
	e.sim.InjectFault(upstreamsim.Fault{Op: upstreamsim.OpRotate, Status: http.StatusForbidden})
	creates := e.sim.Calls(upstreamsim.OpRotate)
	// Within one verify interval (plus a tick) the check falls due, finds the
	// credential revoked and tries to replace it.
	for i := 0; i < 11 && e.sim.Calls(upstreamsim.OpRotate) == creates; i++ {
		e.clock.Advance(time.Minute)
		_ = e.tick() // the failed replacement makes the tick fail
	}
	if e.sim.Calls(upstreamsim.OpRotate) == creates {
		t.Fatal("precondition: the sweep never tried to replace the credential revoked upstream")
	}
	resp, err := e.do(logical.ReadOperation, credsPath, nil)
	if err == nil {
		ttl := time.Duration(0)
		if resp.Secret != nil {
			ttl = resp.Secret.TTL
		}
		t.Fatalf("creds read served credential %v (revoked upstream: %v) with a %v lease; "+
			"want a 503 saying it was revoked upstream and a replacement is being made",
			resp.Data["credential_id"], e.revoked(first), ttl)
	}
	msg := strings.ToLower(err.Error())
	if statusOf(err) != http.StatusServiceUnavailable || !strings.Contains(msg, "revoked") || !strings.Contains(msg, "replac") {
		t.Errorf("creds read: status %d: %v; want a 503 saying the credential was revoked upstream and a replacement is being made",
			statusOf(err), err)
	}
}

// A 404 that persists for every GET (say the engine's token may not read
// credentials) does not mint a credential at every verify interval: one
// replacement, then verification is suspended, and nothing is left live
// and unmanaged.
func TestPersistent404sSuspendVerificationInsteadOfMinting(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: upstreamsim.NoExpiry})
	registerWith(e, map[string]any{"revoke_grace": "10m", "connector_rotation_period": "24h", "verify_interval": "10m"})
	e.sim.InjectFault(upstreamsim.Fault{Op: upstreamsim.OpGet, Status: http.StatusNotFound})
	creates := e.sim.Calls(upstreamsim.OpRotate)
	for range 60 {
		e.clock.Advance(time.Minute)
		_ = e.tick()
	}
	made := e.sim.Calls(upstreamsim.OpRotate) - creates
	st := rotateStatus(e)
	live := liveUnmanaged(e)
	if made > 1 {
		t.Errorf("%d creates in an hour of 404s on every GET; want at most one out-of-band replacement, "+
			"then verification suspended", made)
	}
	if !mentions(st, "suspend") {
		t.Errorf("the rotate/ status does not say verification is suspended (last_verify_result %q)", st["last_verify_result"])
	}
	if len(live) > 0 {
		t.Errorf("%d credentials are valid upstream but no longer held by the engine: %v", len(live), live)
	}
}

// A check that finds what the last one found writes nothing to storage: on
// an unchanged fleet each connector is read upstream once per
// verify_interval, spread over the ticks, and no record is written.
// After a restart (memory dropped) the checks spread over the interval
// again, rather than all falling on the first tick.
func TestAnUnchangedFleetIsVerifiedWithoutWrites(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 720 * time.Hour})
	e.configure(map[string]any{"verify_interval": "10m"})
	e.registerMany(40)
	e.mustTick()
	ticks := func(n int) (perTick []int, writes int) {
		counted := e.countStorage()
		for range n {
			gets := e.sim.Calls(upstreamsim.OpGet)
			e.clock.Advance(time.Minute)
			e.mustTick()
			perTick = append(perTick, e.sim.Calls(upstreamsim.OpGet)-gets)
		}
		_, w := counted.counts()
		return perTick, w["connectors"]
	}
	if _, writes := ticks(10); writes != 0 { // the first check finds each valid: nothing to store either
		t.Errorf("the first interval wrote %d records, want none", writes)
	}
	perTick, writes := ticks(10)
	if total := sum(perTick); total != 40 || writes != 0 {
		t.Errorf("an unchanged fleet of 40: %d checks and %d record writes in an interval, want 40 and 0", total, writes)
	}
	e.b.clean(context.Background()) // a restart: memory is gone, storage stays
	// The first tick rebuilds the index; the checks count from then.
	perTick, writes = ticks(11)
	if total := sum(perTick); total != 40 || writes != 0 || slices.Max(perTick) > 20 {
		t.Errorf("after a restart: checks per tick %v, %d record writes; want 40 spread over the interval and none", perTick, writes)
	}
	if st := e.mustDo(logical.ReadOperation, "rotate/app000/conn", nil); st.Data["last_verified"] == "" {
		t.Error("the status shows no last check")
	}
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}
