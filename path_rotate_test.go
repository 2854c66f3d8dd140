package c1

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/lifecycle"
	"github.com/vault-plugin-c1/vault-plugin-c1/internal/upstreamsim"
)

func TestRevokePreviousThatFailsStillAnswersTheRotation(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 10 * time.Hour})
	leaked := e.configureAndRegister(map[string]any{"revoke_grace": "24h"})
	e.sim.InjectFault(upstreamsim.Fault{Op: upstreamsim.OpRevoke, Status: http.StatusInternalServerError})
	resp, err := e.do(logical.UpdateOperation, rotatePath, map[string]any{"revoke_previous": true})
	if err != nil {
		t.Fatalf("a rotation that succeeded answers an error: %v", err)
	}
	newID := e.connector().Current.ID
	if resp.Data["credential_id"] != newID || resp.Data["previous_credential_id"] != leaked || resp.Data["previous_revoked"] != false {
		t.Errorf("answer %v", resp.Data)
	}
	if len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], leaked) {
		t.Errorf("warnings %v do not name the credential still to revoke", resp.Warnings)
	}
	if st := e.connector().StateOf(leaked); st != lifecycle.StateRevokeNow {
		t.Errorf("the leaked credential is %v, want revoke-now", st)
	}
	// Retried on the next tick, without waiting for the 24h grace.
	e.sim.ClearFaults()
	e.clock.Advance(lifecycle.Tick)
	e.mustTick()
	if !e.revoked(leaked) {
		t.Error("the leaked credential is still valid upstream")
	}
	if e.revoked(newID) {
		t.Error("the new credential was revoked")
	}
}

func TestRotateWithRevokePrevious(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 10 * time.Hour})
	first := e.configureAndRegister(nil)
	resp := e.mustDo(logical.UpdateOperation, rotatePath, map[string]any{"revoke_previous": true})
	if resp.Data["previous_revoked"] != true {
		t.Errorf("answer: previous_revoked %v", resp.Data["previous_revoked"])
	}
	if c, _ := e.sim.Credential(first); !c.Revoked {
		t.Fatal("previous credential not revoked at once")
	}
	read := e.mustDo(logical.ReadOperation, credsPath, nil)
	if read.Data["credential_id"] == first {
		t.Error("creds still serves the revoked credential")
	}
}

func TestRotateStatus(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: upstreamsim.NoExpiry})
	first := e.configureAndRegister(map[string]any{"connector_rotation_period": "10h", "revoke_grace": "1h"})
	e.mustDo(logical.UpdateOperation, rotatePath, nil)
	status := e.mustDo(logical.ReadOperation, rotatePath, nil)
	now := e.clock.Now()
	if status.Data["next_rotation"] != formatTime(now.Add(10*time.Hour)) || status.Data["last_rotation"] != formatTime(now) {
		t.Errorf("next %v last %v", status.Data["next_rotation"], status.Data["last_rotation"])
	}
	ids, _ := status.Data["retiring_credential_ids"].([]string)
	if len(ids) != 1 || ids[0] != first {
		t.Errorf("retiring = %v", ids)
	}
	pending, _ := status.Data["pending_revocations"].([]map[string]any)
	if len(pending) != 1 || pending[0]["revoke_at"] != formatTime(now.Add(time.Hour)) {
		t.Errorf("pending revocations = %v", pending)
	}
	if _, err := e.do(logical.ReadOperation, "rotate/app1/unknown", nil); statusOf(err) != http.StatusNotFound {
		t.Errorf("status of an unmanaged connector: %v", err)
	}
}

// rotate revoke_previous=true revokes the credential that was current when
// the request arrived, even when it waited for the connector while two other
// rotations completed; the credential made in between is left alone.
func TestRevokePreviousRevokesTheCredentialCurrentOnArrival(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: upstreamsim.NoExpiry})
	arrivalCurrent := registerWith(e, map[string]any{"connector_rotation_period": "2h", "verify_interval": 0})

	// The first rotation's create is held upstream (after the upstream made
	// the credential) until released; later creates pass.
	entered, release := make(chan struct{}), make(chan struct{})
	var hold atomic.Bool
	hold.Store(true)
	var releaseOnce sync.Once
	releaseIt := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(releaseIt) // before the env's cleanup closes the server
	e.tamper.set("/api/v1/apps/connectors/credentials", func(body []byte) []byte {
		if hold.CompareAndSwap(true, false) {
			close(entered)
			<-release
		}
		return body
	})

	type answer struct {
		resp *logical.Response
		err  error
	}
	firstRotation := make(chan answer, 1)
	go func() {
		resp, err := e.do(logical.UpdateOperation, rotatePath, nil)
		firstRotation <- answer{resp, err}
	}()
	<-entered

	// The credential's rotation falls due: a periodic run queues for the
	// connector behind the first rotation.
	e.clock.Advance(2 * time.Hour)
	if n := waitingForLock("vault-plugin-c1"); n != 0 {
		t.Fatalf("precondition: %d engine goroutines already wait for a lock", n)
	}
	ticked := make(chan error, 1)
	go func() { ticked <- e.tick() }()
	waitFor(t, "the periodic run to wait for the connector", func() bool {
		return waitingForLock("vault-plugin-c1", ".waitingRotate(") == 1
	})

	// The request arrives while the first credential is current, and waits too.
	waiting := make(chan answer, 1)
	go func() {
		resp, err := waitingRotate(e, map[string]any{"revoke_previous": true})
		waiting <- answer{resp, err}
	}()
	waitFor(t, "the rotate request to wait for the connector", func() bool {
		return waitingForLock(".waitingRotate(") == 1
	})
	releaseIt()

	first := <-firstRotation
	<-ticked
	got := <-waiting
	if first.err != nil {
		t.Fatalf("precondition: the first rotation failed: %v", first.err)
	}
	if got.err != nil {
		t.Fatalf("the rotation with revoke_previous failed: %v", got.err)
	}
	if n := len(e.sim.Credentials(testApp, testConnector)); n < 3 {
		t.Fatalf("precondition: %d credentials upstream, want two rotations completed while the request waited", n)
	}
	if !e.revoked(arrivalCurrent) {
		prev, _ := got.resp.Data["previous_credential_id"].(string)
		t.Errorf("credential %s, current when the revoke_previous request arrived, is still valid upstream; "+
			"the request answered previous_credential_id %s (revoked upstream: %v) and credential_id %v",
			arrivalCurrent, prev, e.revoked(prev), got.resp.Data["credential_id"])
	}
}
