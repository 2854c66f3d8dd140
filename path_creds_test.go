package c1

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"gopkg.in/yaml.v3"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/lifecycle"
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
		if k != configStorageKey && k != rootStorageKey {
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

func TestNoGraceStillServesAValidCredential(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 4 * time.Minute})
	e.configure(map[string]any{"revoke_grace": 0})
	e.register(nil)
	// Due at 2m; the periodic run is late, however late.
	for _, at := range []time.Duration{2 * time.Minute, 2*time.Minute + 50*time.Second, 3*time.Minute + 30*time.Second} {
		e.clock.Advance(at - e.clock.Now().Sub(newTestClock().Now()))
		resp, err := e.do(logical.ReadOperation, credsPath, nil)
		if err != nil {
			t.Fatalf("at %v: a valid credential that nothing replaced is refused: %v", at, err)
		}
		if resp.Secret.TTL <= 0 {
			t.Errorf("at %v: TTL %v", at, resp.Secret.TTL)
		}
	}
	// The replaced credential is revoked only once that lease has ended.
	first := e.connector().Current.ID
	e.mustTick()
	if e.revoked(first) {
		t.Error("revoked while a lease for it runs")
	}
	e.clock.Advance(30 * time.Second)
	e.mustTick()
	if !e.revoked(first) {
		t.Error("not revoked once its lease ended")
	}
}

func TestOverdueRotationStillServesTheValidCredential(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 4 * time.Minute})
	e.configure(map[string]any{"revoke_grace": "30s"})
	e.register(nil)
	// Due at 2m, planned revocation 2m30s; the periodic run is late.
	e.clock.Advance(2*time.Minute + 50*time.Second)
	resp := e.mustDo(logical.ReadOperation, credsPath, nil)
	if resp.Secret.TTL != 30*time.Second {
		t.Errorf("lease TTL %v, want the grace counted from now", resp.Secret.TTL)
	}
}

func TestRevokingALeaseLeavesTheSharedCredential(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 10 * time.Hour})
	e.configure(nil)
	e.register(nil)
	resp := e.mustDo(logical.ReadOperation, credsPath, nil)
	_, err := e.b.HandleRequest(context.Background(), &logical.Request{
		Operation: logical.RevokeOperation, Storage: e.storage, Secret: resp.Secret, Data: resp.Data,
	})
	if err != nil {
		t.Fatal(err)
	}
	id, _ := resp.Data["client_id"].(string)
	secret, _ := resp.Data["client_secret"].(string)
	if !e.sim.ValidCredential(id, secret) {
		t.Error("revoking a lease revoked the credential upstream")
	}
	_, err = e.b.HandleRequest(context.Background(), &logical.Request{
		Operation: logical.RenewOperation, Storage: e.storage, Secret: resp.Secret,
	})
	if err == nil {
		t.Error("a creds lease was renewed")
	}
}

func TestScheduleOrPeriodPerConnector(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: upstreamsim.NoExpiry})
	e.configure(map[string]any{"connector_rotation_period": "24h"})
	e.register(map[string]any{"rotation_schedule": "0 3 * * *"})
	st := e.mustDo(logical.ReadOperation, rotatePath, nil)
	if st.Data["rotation_schedule"] != "0 3 * * *" || st.Data["rotation_period"] != int64(0) || st.Data["next_rotation"] != "2026-03-02T03:00:00Z" {
		t.Fatalf("connector schedule over the config period: %v %v %v",
			st.Data["rotation_schedule"], st.Data["rotation_period"], st.Data["next_rotation"])
	}
	// A later period on the connector replaces its schedule (and window).
	e.mustDo(logical.UpdateOperation, credsPath, map[string]any{"rotation_period": "2h"})
	o := e.connector().Overrides
	if o.RotationSchedule != nil || o.RotationWindow != nil || o.RotationPeriod == nil || *o.RotationPeriod != 2*time.Hour {
		t.Fatalf("overrides after a period write: %+v", o)
	}
	if st := e.mustDo(logical.ReadOperation, rotatePath, nil); st.Data["next_rotation"] != "2026-03-01T14:00:00Z" || st.Data["rotation_schedule"] != "" {
		t.Fatalf("after a period override: %v %v", st.Data["next_rotation"], st.Data["rotation_schedule"])
	}
	// A config schedule applies to connectors without their own timing;
	// a connector's period still wins.
	e.mustDo(logical.UpdateOperation, "config", map[string]any{"connector_rotation_schedule": "0 4 * * *"})
	if st := e.mustDo(logical.ReadOperation, rotatePath, nil); st.Data["next_rotation"] != "2026-03-01T14:00:00Z" {
		t.Fatalf("the connector's period lost to the config's schedule: %v", st.Data["next_rotation"])
	}
	// Setting the period on the config turns the config's schedule off.
	e.mustDo(logical.UpdateOperation, "config", map[string]any{"connector_rotation_period": "48h"})
	if cfg := e.mustDo(logical.ReadOperation, "config", nil); cfg.Data["connector_rotation_schedule"] != "" || cfg.Data["connector_rotation_period"] != int64(48*3600) {
		t.Fatalf("config after a period write: %v %v", cfg.Data["connector_rotation_schedule"], cfg.Data["connector_rotation_period"])
	}
}

// staticCredsMeta is what Vault Secrets Operator takes from a read in its
// allowStaticCreds mode: the JSON answer's data decoded with numbers kept as
// json.Number, last_vault_rotation as RFC 3339, rotation_period, ttl.
type staticCredsMeta struct {
	LastVaultRotation time.Time
	RotationPeriod    int64
	RotationSchedule  string
	TTL               int64
}

// vsoView decodes a creds read the way VSO sees it over Vault's HTTP API.
func vsoView(t *testing.T, resp *logical.Response) staticCredsMeta {
	t.Helper()
	raw, err := json.Marshal(resp.Data)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var data map[string]any
	if err := dec.Decode(&data); err != nil {
		t.Fatal(err)
	}
	var m staticCredsMeta
	if m.LastVaultRotation, err = time.Parse(time.RFC3339Nano, data["last_vault_rotation"].(string)); err != nil {
		t.Fatalf("last_vault_rotation: %v", err)
	}
	num := func(k string) int64 {
		n, ok := data[k].(json.Number)
		if !ok {
			t.Fatalf("%s is %T, want a JSON number", k, data[k])
		}
		v, err := n.Int64()
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		return v
	}
	if _, ok := data["rotation_period"]; ok {
		m.RotationPeriod = num("rotation_period")
	}
	m.RotationSchedule, _ = data["rotation_schedule"].(string)
	m.TTL = num("ttl")
	return m
}

// isStatic is VSO's test for static-credential semantics.
func (m staticCredsMeta) isStatic() bool {
	return m.LastVaultRotation.Unix() > 0 && (m.RotationPeriod >= 1 || m.RotationSchedule != "")
}

// vsoHashed is the part of the data VSO hashes to decide whether the
// destination changed: everything but the rotation fields.
func vsoHashed(resp *logical.Response) map[string]any {
	out := map[string]any{}
	for k, v := range resp.Data {
		switch k {
		case "ttl", "rotation_schedule", "rotation_period", "last_vault_rotation":
		default:
			out[k] = v
		}
	}
	return out
}

func TestCredsReadCarriesStaticCredsFields(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: upstreamsim.NoExpiry})
	e.configureAndRegister(map[string]any{"connector_rotation_period": "24h", "revoke_grace": "1h"})
	created := e.clock.Now()

	e.clock.Advance(time.Hour)
	first := e.mustDo(logical.ReadOperation, credsPath, nil)
	m := vsoView(t, first)
	if !m.LastVaultRotation.Equal(created) || m.RotationPeriod != 86400 || m.TTL != 23*3600 || !m.isStatic() {
		t.Fatalf("static creds fields %+v: want last rotation %s, period 86400, ttl 82800", m, created)
	}

	// Later reads of the same credential: only ttl moves; VSO's hash is unchanged.
	e.clock.Advance(90 * time.Minute)
	again := e.mustDo(logical.ReadOperation, credsPath, nil)
	if m2 := vsoView(t, again); m2.TTL != m.TTL-5400 || !m2.LastVaultRotation.Equal(m.LastVaultRotation) {
		t.Fatalf("second read %+v, want ttl %d and the same last rotation", m2, m.TTL-5400)
	}
	if !equalJSON(t, vsoHashed(first), vsoHashed(again)) {
		t.Fatal("two reads of one credential differ outside the rotation fields: VSO would restart for nothing")
	}

	// Due but not rotated yet: ttl 0, never negative.
	e.clock.Advance(23 * time.Hour)
	if m3 := vsoView(t, e.mustDo(logical.ReadOperation, credsPath, nil)); m3.TTL != 0 {
		t.Fatalf("ttl of a credential past its rotation time: %d", m3.TTL)
	}

	// After the rotation: a new last_vault_rotation, a full ttl, a changed hash.
	if err := e.tick(); err != nil {
		t.Fatal(err)
	}
	rotated := e.mustDo(logical.ReadOperation, credsPath, nil)
	m4 := vsoView(t, rotated)
	if !m4.LastVaultRotation.Equal(e.clock.Now()) || m4.TTL != 86400 {
		t.Fatalf("after rotation %+v: want last rotation now and ttl 86400", m4)
	}
	if equalJSON(t, vsoHashed(first), vsoHashed(rotated)) {
		t.Fatal("VSO's hash did not change with the credential")
	}
}

func TestStaticCredsPeriodFollowsExpiryWhenAgeRotationIsOff(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 4 * time.Minute})
	e.configureAndRegister(map[string]any{"connector_rotation_period": "0", "revoke_grace": "30s"})
	e.clock.Advance(30 * time.Second)
	m := vsoView(t, e.mustDo(logical.ReadOperation, credsPath, nil))
	// Rotated 2 minutes before its expiry (the floor of two ticks).
	if m.RotationPeriod != 120 || m.TTL != 90 || !m.isStatic() {
		t.Fatalf("static creds fields %+v: want period 120 (the credential's rotation interval), ttl 90", m)
	}
}

func TestStaticCredsFieldsOfACredentialNeverRotated(t *testing.T) {
	p := lifecycle.Policy{}
	c := &lifecycle.Credential{CreatedAt: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	got := staticCredsFields(p, c, c.CreatedAt.Add(time.Hour))
	if got["rotation_period"] != int64(0) || got["ttl"] != int64(0) || got["last_vault_rotation"] != "2026-03-01T12:00:00Z" {
		t.Fatalf("fields %v", got)
	}
}

// equalJSON compares two values by their JSON encoding.
func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	return bytes.Equal(ja, jb)
}

// The documented VSO manifest reads a creds path of this engine as a static
// credential, and its Deployment takes keys the read returns.
func TestVSOExampleManifestMatchesTheEngine(t *testing.T) {
	f, err := os.Open("docs/examples/vso/vault-dynamic-secret.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type secretKeyRef struct {
		Name string `yaml:"name"`
		Key  string `yaml:"key"`
	}
	type doc struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Metadata   struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
		Spec struct {
			Mount            string `yaml:"mount"`
			Path             string `yaml:"path"`
			AllowStaticCreds bool   `yaml:"allowStaticCreds"`
			Destination      struct {
				Name           string `yaml:"name"`
				Create         bool   `yaml:"create"`
				Transformation struct {
					ExcludeRaw bool     `yaml:"excludeRaw"`
					Includes   []string `yaml:"includes"`
				} `yaml:"transformation"`
			} `yaml:"destination"`
			RolloutRestartTargets []struct {
				Kind string `yaml:"kind"`
				Name string `yaml:"name"`
			} `yaml:"rolloutRestartTargets"`
			Template struct {
				Spec struct {
					Containers []struct {
						Env []struct {
							Name      string `yaml:"name"`
							ValueFrom struct {
								SecretKeyRef secretKeyRef `yaml:"secretKeyRef"`
							} `yaml:"valueFrom"`
						} `yaml:"env"`
					} `yaml:"containers"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	var docs []doc
	dec := yaml.NewDecoder(f)
	for {
		var d doc
		if err := dec.Decode(&d); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("manifest: %v", err)
		}
		docs = append(docs, d)
	}
	var vds, deploy *doc
	for i := range docs {
		switch docs[i].Kind {
		case "VaultDynamicSecret":
			vds = &docs[i]
		case "Deployment":
			deploy = &docs[i]
		}
	}
	if vds == nil || deploy == nil {
		t.Fatal("the manifest needs a VaultDynamicSecret and a Deployment")
	}
	if vds.APIVersion != "secrets.hashicorp.com/v1beta1" || !vds.Spec.AllowStaticCreds || vds.Spec.Mount == "" {
		t.Fatalf("VaultDynamicSecret %+v: want secrets.hashicorp.com/v1beta1, allowStaticCreds and a mount", vds.Spec)
	}

	// Its path is a creds read of this engine.
	app, conn := "", ""
	for _, p := range pathCreds(newBackend(time.Now)) {
		if m := regexp.MustCompile(p.Pattern).FindStringSubmatch(vds.Spec.Path); m != nil && len(m) == 3 {
			app, conn = m[1], m[2]
		}
	}
	if app == "" || conn == "" || checkID("app_id", app) != nil || checkID("connector_id", conn) != nil {
		t.Fatalf("path %q is not creds/<app_id>/<connector_id>", vds.Spec.Path)
	}

	// What the engine returns there: a static credential with the keys the
	// Secret keeps and the Deployment reads.
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 4 * time.Minute})
	e.sim.AddConnector(app, conn)
	e.configure(map[string]any{"revoke_grace": "5m"})
	e.mustDo(logical.UpdateOperation, vds.Spec.Path, nil)
	resp := e.mustDo(logical.ReadOperation, vds.Spec.Path, nil)
	if resp.Secret == nil || resp.Secret.Renewable {
		t.Fatal("VSO uses static-creds semantics only for a non-renewable secret")
	}
	if m := vsoView(t, resp); !m.isStatic() {
		t.Fatalf("VSO would not see a static credential: %+v", m)
	}
	var kept []string
	for k := range resp.Data {
		for _, inc := range vds.Spec.Destination.Transformation.Includes {
			if regexp.MustCompile(inc).MatchString(k) {
				kept = append(kept, k)
			}
		}
	}
	slices.Sort(kept)
	if !slices.Equal(kept, []string{"client_id", "client_secret"}) || !vds.Spec.Destination.Transformation.ExcludeRaw {
		t.Fatalf("the Secret keeps %v (excludeRaw %v), want exactly client_id and client_secret",
			kept, vds.Spec.Destination.Transformation.ExcludeRaw)
	}
	want := map[string]string{"BATON_CLIENT_ID": "client_id", "BATON_CLIENT_SECRET": "client_secret"}
	got := map[string]string{}
	for _, c := range deploy.Spec.Template.Spec.Containers {
		for _, env := range c.Env {
			if ref := env.ValueFrom.SecretKeyRef; ref.Name == vds.Spec.Destination.Name {
				got[env.Name] = ref.Key
			}
		}
	}
	if len(got) != len(want) || got["BATON_CLIENT_ID"] != want["BATON_CLIENT_ID"] || got["BATON_CLIENT_SECRET"] != want["BATON_CLIENT_SECRET"] {
		t.Fatalf("the Deployment maps %v from Secret %s, want %v", got, vds.Spec.Destination.Name, want)
	}
	restarts := false
	for _, r := range vds.Spec.RolloutRestartTargets {
		restarts = restarts || (r.Kind == "Deployment" && r.Name == deploy.Metadata.Name)
	}
	if !restarts {
		t.Fatal("the VaultDynamicSecret does not restart the Deployment that reads the credential")
	}
}
