package c1

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
	"gopkg.in/yaml.v3"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/lifecycle"
	"github.com/vault-plugin-c1/vault-plugin-c1/internal/upstreamsim"
)

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
	e.configureAndRegister(map[string]any{"rotation_period": "24h", "revoke_grace": "1h"})
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
	e.configureAndRegister(map[string]any{"rotation_period": "0", "revoke_grace": "30s"})
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
