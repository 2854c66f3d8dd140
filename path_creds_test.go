package c1

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/upstreamsim"
)

const credsPath = "creds/" + testApp + "/" + testConnector

func TestRegisterCreatesAndStoresTheFirstCredential(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 10 * time.Hour})
	e.configure(nil)

	resp := e.register(nil)
	if _, ok := resp.Data["client_secret"]; ok {
		t.Error("registration answer carries the secret")
	}
	creds := e.sim.Credentials(testApp, testConnector)
	if len(creds) != 1 {
		t.Fatalf("upstream has %d credentials, want 1", len(creds))
	}
	if resp.Data["credential_id"] != creds[0].ID {
		t.Errorf("answer credential_id %v, upstream %s", resp.Data["credential_id"], creds[0].ID)
	}
	entry := e.connector()
	if entry.Current == nil || entry.Current.ID != creds[0].ID || entry.Current.ClientSecret != creds[0].Secret {
		t.Fatal("the stored current credential is not the one created upstream")
	}
	if entry.Pending != nil {
		t.Error("a pending credential is left after registration")
	}
	if wal := e.walKeys(); len(wal) != 0 {
		t.Errorf("WAL entries left: %v", wal)
	}
}

func TestCredsReadServesTheCredentialAsALease(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 10 * time.Hour})
	// A grace longer than the expiry window puts the planned revocation past
	// the expiry, so the lease ends exactly at expiresTime.
	e.configure(map[string]any{"revoke_grace": "24h"})
	e.register(nil)

	resp := e.mustDo(logical.ReadOperation, credsPath, nil)
	if resp.Secret == nil {
		t.Fatal("creds read has no lease")
	}
	if resp.Secret.TTL != 10*time.Hour || resp.Secret.MaxTTL != 10*time.Hour {
		t.Errorf("lease TTL %v max %v, want the remaining life 10h", resp.Secret.TTL, resp.Secret.MaxTTL)
	}
	if resp.Secret.Renewable {
		t.Error("lease is renewable")
	}
	id, _ := resp.Data["client_id"].(string)
	secret, _ := resp.Data["client_secret"].(string)
	if !e.sim.ValidCredential(id, secret) {
		t.Error("the served client id and secret do not work upstream")
	}
	for _, k := range []string{"credential_id", "app_id", "connector_id", "expires_time", "created_at"} {
		if resp.Data[k] == "" || resp.Data[k] == nil {
			t.Errorf("creds read lacks %s", k)
		}
	}

	e.clock.Advance(2*time.Hour + 30*time.Minute)
	resp = e.mustDo(logical.ReadOperation, credsPath, nil)
	if want := 7*time.Hour + 30*time.Minute; resp.Secret.TTL != want {
		t.Errorf("lease TTL after 2h30m = %v, want the remaining life %v", resp.Secret.TTL, want)
	}
}

func TestCredsLeaseEndsAtThePlannedRevocation(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 12 * time.Hour})
	e.configure(map[string]any{"revoke_grace": "1h"})
	e.register(nil)
	// Rotated 4h (a third of 12h) before expiry, revoked 1h after that: 9h.
	resp := e.mustDo(logical.ReadOperation, credsPath, nil)
	if resp.Secret.TTL != 9*time.Hour {
		t.Errorf("lease TTL %v, want the planned revocation 9h", resp.Secret.TTL)
	}
}

func TestCredsLeaseIsCappedByTheMountMaxTTL(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 720 * time.Hour})
	e.configure(nil)
	e.register(nil)
	resp := e.mustDo(logical.ReadOperation, credsPath, nil)
	if max := e.b.System().MaxLeaseTTL(); resp.Secret.TTL != max {
		t.Errorf("lease TTL %v, want the mount max %v", resp.Secret.TTL, max)
	}
}

func TestExpiredCredentialIsRefusedNotServedWithTTLZero(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 10 * time.Hour})
	e.configure(nil)
	e.register(nil)
	e.clock.Advance(10 * time.Hour) // no periodic run in between
	resp, err := e.do(logical.ReadOperation, credsPath, nil)
	if err == nil {
		t.Fatalf("an expired credential was served with TTL %v", resp.Secret.TTL)
	}
	if statusOf(err) != http.StatusServiceUnavailable || !strings.Contains(err.Error(), "rotate/") {
		t.Errorf("status %d: %v", statusOf(err), err)
	}
}

func TestCredsReadOfAnUnmanagedConnectorIs404(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{})
	e.configure(nil)
	_, err := e.do(logical.ReadOperation, credsPath, nil)
	if statusOf(err) != http.StatusNotFound {
		t.Fatalf("status %d: %v", statusOf(err), err)
	}
	if !strings.Contains(err.Error(), testApp+"/"+testConnector) || !strings.Contains(err.Error(), "register") {
		t.Errorf("404 message does not name the connector or say how to register it: %v", err)
	}
}

func TestRegisterUnknownConnectorStoresNothing(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{})
	e.configure(nil)
	_, err := e.do(logical.UpdateOperation, "creds/app1/nosuch", nil)
	if statusOf(err) != http.StatusNotFound || !strings.Contains(err.Error(), "app1/nosuch") {
		t.Fatalf("status %d: %v", statusOf(err), err)
	}
	for _, k := range e.storageKeys() {
		if k != configStorageKey {
			t.Errorf("stored %s", k)
		}
	}
}

func TestRegisterAgainChangesOnlyOverrides(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 10 * time.Hour})
	before := e.configureAndRegister(nil)
	e.register(map[string]any{"rotation_period": "2h", "revoke_grace": 60})
	if n := len(e.sim.Credentials(testApp, testConnector)); n != 1 {
		t.Errorf("update created credentials: %d upstream", n)
	}
	entry := e.connector()
	if entry.Current.ID != before {
		t.Error("update replaced the credential")
	}
	if o := entry.Overrides; o.RotationPeriod == nil || *o.RotationPeriod != 2*time.Hour || o.RevokeGrace == nil ||
		*o.RevokeGrace != time.Minute || o.RotateBeforeExpiry != nil {
		t.Errorf("overrides = %+v", o)
	}
	status := e.mustDo(logical.ReadOperation, "rotate/"+testApp+"/"+testConnector, nil)
	if status.Data["rotation_period"] != int64(7200) || status.Data["revoke_grace"] != int64(60) {
		t.Errorf("policy in force: %v %v", status.Data["rotation_period"], status.Data["revoke_grace"])
	}
}

func TestListManagedConnectors(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{})
	e.configure(nil)
	e.sim.AddConnector("app2", "connA")
	e.register(nil)
	e.mustDo(logical.UpdateOperation, "creds/app2/connA", nil)
	resp := e.mustDo(logical.ListOperation, "creds/", nil)
	keys, _ := resp.Data["keys"].([]string)
	if strings.Join(keys, ",") != "app1/conn1,app2/connA" {
		t.Errorf("list = %v", keys)
	}
}

func TestDeleteRevokesEveryCredentialAndIsIdempotent(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 10 * time.Hour})
	e.configure(nil)
	e.register(nil)
	e.mustDo(logical.UpdateOperation, "rotate/"+testApp+"/"+testConnector, nil)

	e.mustDo(logical.DeleteOperation, credsPath, nil)
	creds := e.sim.Credentials(testApp, testConnector)
	if len(creds) != 2 {
		t.Fatalf("upstream has %d credentials, want 2", len(creds))
	}
	for _, c := range creds {
		if !c.Revoked {
			t.Errorf("credential %s not revoked upstream", c.ID)
		}
	}
	if e.connector() != nil {
		t.Error("connector still stored")
	}
	e.mustDo(logical.DeleteOperation, credsPath, nil)
	e.mustDo(logical.DeleteOperation, "creds/app1/never-registered", nil)
}

func TestDeleteKeepsWhatCouldNotBeRevoked(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 10 * time.Hour})
	e.configure(nil)
	e.register(nil)
	e.sim.InjectFault(upstreamsim.Fault{Op: "revoke", Status: http.StatusInternalServerError})
	if _, err := e.do(logical.DeleteOperation, credsPath, nil); statusOf(err) != http.StatusBadGateway {
		t.Fatalf("status %d: %v", statusOf(err), err)
	}
	if e.connector() == nil || e.connector().Current == nil {
		t.Fatal("a credential that could not be revoked was forgotten")
	}
	e.sim.ClearFaults()
	e.mustDo(logical.DeleteOperation, credsPath, nil)
	if e.connector() != nil {
		t.Error("retried delete left the connector")
	}
}

func TestCredentialMetadataRead(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 10 * time.Hour})
	id := e.configureAndRegister(nil)
	resp := e.mustDo(logical.ReadOperation, credsPath+"/"+id, nil)
	if resp.Data["credential_id"] != id || resp.Data["state"] != "current" || resp.Data["expires_time"] == "" {
		t.Errorf("metadata: id %v state %v expires %v", resp.Data["credential_id"], resp.Data["state"], resp.Data["expires_time"])
	}
	if _, ok := resp.Data["client_secret"]; ok {
		t.Error("metadata read has a client_secret field")
	}
	if resp.Secret != nil {
		t.Error("metadata read is a lease")
	}
	e.mustDo(logical.UpdateOperation, "rotate/"+testApp+"/"+testConnector, nil)
	if resp := e.mustDo(logical.ReadOperation, credsPath+"/"+id, nil); resp.Data["state"] != "retiring" {
		t.Errorf("state after a rotation = %v", resp.Data["state"])
	}
	_, err := e.do(logical.ReadOperation, credsPath+"/nosuchcred", nil)
	if statusOf(err) != http.StatusNotFound || !strings.Contains(err.Error(), "nosuchcred") {
		t.Errorf("unknown credential: status %d: %v", statusOf(err), err)
	}
}
