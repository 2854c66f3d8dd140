//go:build e2e

package e2e

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// TestFaultAnswersThroughVault drives the lifecycle's unhappy paths through a
// real Vault: the answers must keep their HTTP status and words across the
// plugin boundary, and warnings must reach the CLI.
func TestFaultAnswersThroughVault(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{credentialTTL: 2 * time.Hour, config: map[string]any{
		"connector_rotation_period": "0", "rotate_before_expiry": "10m", "revoke_grace": "1h", "max_retries": 0,
	}})
	v := e.v
	const app, conn = "app-faults", "conn-1"
	base := mountPath + "/creds/" + app + "/" + conn
	rotate := mountPath + "/rotate/" + app + "/" + conn
	leaked := e.register(app, conn)

	// A rotation period the periodic function could not keep is refused.
	_, err := v.api.Logical().Write(mountPath+"/config", map[string]any{"connector_rotation_period": "60s"})
	wantStatus(t, "config connector_rotation_period=60s", err, http.StatusBadRequest, "connector_rotation_period")

	// revoke_previous whose revoke fails: the rotation's success, with a
	// warning naming the credential still to revoke (shown by the CLI).
	e.sim.do(http.MethodPost, "/_sim/faults", map[string]any{"op": "revoke", "status": 500}, nil)
	var rotated api.Secret
	v.cliJSON(&rotated, "write", "-format=json", rotate, "revoke_previous=true")
	current := str(&rotated, "credential_id")
	if current == "" || current == leaked || rotated.Data["previous_revoked"] != false {
		t.Errorf("rotate answer: %v", rotated.Data)
	}
	if !slices.ContainsFunc(rotated.Warnings, func(w string) bool { return strings.Contains(w, leaked) }) {
		t.Errorf("warnings %v do not name %s", rotated.Warnings, leaked)
	}

	// A direct revoke: the current one is refused; a failed one says it is retried.
	_, err = v.api.Logical().Delete(base + "/" + current)
	wantStatus(t, "delete of the current credential", err, http.StatusConflict, "rotate")
	_, err = v.api.Logical().Delete(base + "/" + leaked)
	wantStatus(t, "delete while revokes fail", err, http.StatusBadGateway, "revoke-now")
	if s := v.read(base + "/" + leaked); str(s, "state") != "revoke-now" {
		t.Errorf("state of the leaked credential: %q", str(s, "state"))
	}
	e.sim.do(http.MethodDelete, "/_sim/faults", nil, nil)
	v.cli("delete", base+"/"+leaked)
	if !e.sim.credential(app, conn, leaked).Revoked {
		t.Error("the leaked credential is still valid upstream")
	}

	// A create whose answer is lost: a 502 that says the outcome is unknown,
	// counted in the status.
	known := map[string]bool{}
	for _, c := range e.sim.credentials(app, conn) {
		known[c.ID] = true
	}
	e.sim.do(http.MethodPost, "/_sim/faults", map[string]any{"op": "rotate", "status": 500, "commit": true, "count": 1}, nil)
	_, err = v.api.Logical().Write(rotate, nil)
	wantStatus(t, "rotate with a lost answer", err, http.StatusBadGateway, "outcome is unknown")
	orphan := ""
	for _, c := range e.sim.credentials(app, conn) {
		if !known[c.ID] {
			orphan = c.ID // the engine never saw it: the stray credential the status points at
		}
	}
	if n := fmt.Sprint(e.status(app, conn).Data["unknown_outcome_creates"]); n != "1" {
		t.Errorf("unknown_outcome_creates = %s", n)
	}

	// An Aitronos connection that is not ACTIVE is a 409 naming its status.
	e.sim.do(http.MethodPut, "/_sim/aitronos/connections", map[string]any{
		"connection_id": "conn_revoked", "status": "REVOKED", "access_token": "ya29." + randAlnum(40),
		"expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
	}, nil)
	_, err = v.api.Logical().Read(mountPath + "/oauth/by-connection/conn_revoked")
	wantStatus(t, "oauth read of a REVOKED connection", err, http.StatusConflict, "REVOKED")

	// A delete that cannot revoke everything keeps the rest and refuses new
	// writes; a repeated delete finishes it.
	e.sim.do(http.MethodPost, "/_sim/faults", map[string]any{"op": "revoke", "status": 500}, nil)
	_, err = v.api.Logical().Delete(base)
	wantStatus(t, "delete while revokes fail", err, http.StatusBadGateway, "retr")
	_, err = v.api.Logical().Write(base, nil)
	wantStatus(t, "write while the delete is unfinished", err, http.StatusConflict, "deregistered")
	e.sim.do(http.MethodDelete, "/_sim/faults", nil, nil)
	v.cli("delete", base)
	for _, c := range e.sim.credentials(app, conn) {
		if !c.Revoked && c.ID != orphan {
			t.Errorf("credential %s is still valid upstream after the delete", c.ID)
		}
	}
}

// wantStatus fails the test unless err is a Vault answer with the status and
// a message containing word.
func wantStatus(t *testing.T, what string, err error, status int, word string) {
	t.Helper()
	var re *api.ResponseError
	if !errors.As(err, &re) {
		t.Errorf("%s: want a %d answer, got %v", what, status, err)
		return
	}
	if re.StatusCode != status || !strings.Contains(err.Error(), word) {
		t.Errorf("%s: status %d, want %d with %q: %v", what, re.StatusCode, status, word, err)
	}
}
