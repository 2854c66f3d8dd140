//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// TestConfigAndCredentials drives config, registration, creds reads, rotation,
// status, list, metadata and delete with the vault CLI and the API client.
func TestConfigAndCredentials(t *testing.T) {
	t.Parallel()
	// Credentials live 2h upstream. With rotation by age off, a 10m
	// rotate_before_expiry and a 1h grace, a credential's planned revocation
	// lies past its expiry, so a lease ends exactly at expiresTime.
	e := newEnv(t, envOptions{credentialTTL: 2 * time.Hour})
	v := e.v
	const app = "app-crud"

	// ---- config: write with the CLI (secrets on stdin), read without secrets ----
	cfg := e.upstreamConfig()
	cfg["connector_rotation_period"] = "0"
	cfg["rotate_before_expiry"] = "10m"
	cfg["revoke_grace"] = "1h"
	cfg["request_timeout"] = "20s"
	cfg["max_retries"] = 2
	body, _ := json.Marshal(cfg)
	if _, stderr, err := v.run(body, "write", mountPath+"/config", "-"); err != nil {
		t.Fatalf("vault write c1/config -: %v: %s", err, stderr)
	}
	secrets := []string{e.c1ClientSecret, e.aitronosKey}
	table := v.cli("read", mountPath+"/config")
	var cfgRead api.Secret
	raw := v.cli("read", "-format=json", mountPath+"/config")
	if err := json.Unmarshal([]byte(raw), &cfgRead); err != nil {
		t.Fatalf("vault read -format=json c1/config: %v", err)
	}
	for _, out := range []string{table, raw} {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Fatal("vault read c1/config shows a secret value")
			}
		}
		// The secret-token prefix alone must not appear either.
		if strings.Contains(out, "secret-token:") {
			t.Fatal("vault read c1/config shows a client secret")
		}
	}
	for k, want := range map[string]string{
		"c1_client_id":              e.c1ClientID,
		"c1_server_url":             e.sim.url,
		"c1_client_secret_set":      "true",
		"aitronos_api_key_set":      "true",
		"aitronos_url":              e.sim.url,
		"connector_rotation_period": "0",
		"rotate_before_expiry":      "600",
		"revoke_grace":              "3600",
		"request_timeout":           "20",
		"max_retries":               "2",
	} {
		if got := fmt.Sprint(cfgRead.Data[k]); got != want {
			t.Errorf("c1/config %s = %s, want %s", k, got, want)
		}
	}
	for _, k := range []string{"c1_client_secret", "aitronos_api_key", "c1_access_token"} {
		if _, ok := cfgRead.Data[k]; ok {
			t.Errorf("c1/config read returns the field %s", k)
		}
	}
	if !strings.Contains(table, "c1_client_secret_set") {
		t.Errorf("vault read c1/config table lacks c1_client_secret_set")
	}

	// ---- registration with the CLI ----
	e.sim.connector(app, "conn-a")
	e.sim.connector(app, "conn-b")
	var reg api.Secret
	v.cliJSON(&reg, "write", "-force", "-format=json", mountPath+"/creds/"+app+"/conn-a")
	firstID := str(&reg, "credential_id")
	if firstID == "" || str(&reg, "client_id") == "" {
		t.Fatalf("register: the answer lacks credential_id or client_id (fields: %v)", keys(reg.Data))
	}
	if _, ok := reg.Data["client_secret"]; ok {
		t.Error("register: the answer carries client_secret")
	}
	up := e.sim.credentials(app, "conn-a")
	if len(up) != 1 || up[0].ID != firstID || up[0].Revoked {
		t.Fatalf("upstream after register: want exactly credential %s live, got %+v", firstID, up)
	}
	if up[0].ExpiresTime == nil {
		t.Fatal("upstream credential has no expires_time; the simulator's credential TTL was not applied")
	}
	expires := parseTime(t, "upstream expires_time", *up[0].ExpiresTime)
	e.register(app, "conn-b")

	// ---- creds read with the CLI: lease TTL = time to expiresTime ----
	readAt := time.Now()
	sec, err := v.cliRead(mountPath + "/creds/" + app + "/conn-a")
	if err != nil {
		t.Fatal(err)
	}
	answeredAt := time.Now()
	if str(sec, "credential_id") != firstID {
		t.Errorf("creds read: credential_id %q, want %q", str(sec, "credential_id"), firstID)
	}
	for _, k := range []string{"client_id", "client_secret", "credential_id", "app_id", "connector_id", "expires_time", "created_at"} {
		if str(sec, k) == "" {
			t.Errorf("creds read: field %s missing or empty", k)
		}
	}
	if sec.LeaseID == "" || !strings.HasPrefix(sec.LeaseID, mountPath+"/creds/"+app+"/conn-a/") {
		t.Errorf("creds read: lease id %q is not under c1/creds/%s/conn-a/", sec.LeaseID, app)
	}
	if sec.Renewable {
		t.Error("creds read: the lease is renewable; it must not be")
	}
	leaseEndsAt(t, "creds read (CLI) vs upstream expiresTime",
		time.Duration(sec.LeaseDuration)*time.Second, expires, readAt, answeredAt)
	if got := parseTime(t, "creds expires_time", str(sec, "expires_time")); !got.Equal(expires.Truncate(time.Second)) {
		t.Errorf("creds read: expires_time %s, upstream %s", got, expires)
	}
	if !e.sim.valid(str(sec, "client_id"), str(sec, "client_secret")) {
		t.Error("the credential served by creds read does not authenticate upstream")
	}

	// ... and with the API client.
	c := e.readCreds(app, "conn-a")
	leaseEndsAt(t, "creds read (API) vs upstream expiresTime", c.ttl, expires, c.readAt, c.answeredAt)
	if c.credentialID != firstID || c.renewable {
		t.Errorf("creds read (API): credential %s renewable=%v, want %s not renewable", c.credentialID, c.renewable, firstID)
	}
	lease, err := v.api.Sys().Lookup(c.leaseID)
	if err != nil {
		t.Fatalf("sys/leases/lookup: %v", err)
	}
	if et := parseTime(t, "lease expire_time", fmt.Sprint(lease.Data["expire_time"])); et.Sub(expires).Abs() > 3*time.Second {
		t.Errorf("lease expire_time %s, upstream expiresTime %s", et, expires)
	}

	// ---- list ----
	var list []string
	v.cliJSON(&list, "list", "-format=json", mountPath+"/creds")
	if !slices.Contains(list, app+"/conn-a") || !slices.Contains(list, app+"/conn-b") {
		t.Errorf("vault list c1/creds = %v, want %s/conn-a and %s/conn-b", list, app, app)
	}
	apiList, err := v.api.Logical().List(mountPath + "/creds")
	if err != nil || apiList == nil {
		t.Fatalf("list c1/creds (API): %v", err)
	}
	if len(strs(apiList, "keys")) != 2 {
		t.Errorf("list c1/creds (API) = %v, want 2 keys", strs(apiList, "keys"))
	}

	// ---- metadata ----
	meta, err := v.cliRead(mountPath + "/creds/" + app + "/conn-a/" + firstID)
	if err != nil {
		t.Fatal(err)
	}
	if str(meta, "state") != "current" || str(meta, "credential_id") != firstID {
		t.Errorf("metadata of %s: state %q id %q, want current", firstID, str(meta, "state"), str(meta, "credential_id"))
	}
	if _, ok := meta.Data["client_secret"]; ok {
		t.Error("metadata read carries client_secret")
	}
	if got := parseTime(t, "metadata expires_time", str(meta, "expires_time")); !got.Equal(expires.Truncate(time.Second)) {
		t.Errorf("metadata expires_time %s, upstream %s", got, expires)
	}

	// ---- status before rotation ----
	st := e.status(app, "conn-a")
	if str(st, "current_credential_id") != firstID {
		t.Errorf("status: current %q, want %q", str(st, "current_credential_id"), firstID)
	}
	if next := parseTime(t, "next_rotation", str(st, "next_rotation")); next.Sub(expires.Add(-10*time.Minute)).Abs() > time.Second {
		t.Errorf("status: next_rotation %s, want expiresTime - 10m = %s", next, expires.Add(-10*time.Minute))
	}

	// ---- rotate (CLI), old one retiring ----
	var rot api.Secret
	v.cliJSON(&rot, "write", "-force", "-format=json", mountPath+"/rotate/"+app+"/conn-a")
	secondID := str(&rot, "credential_id")
	if secondID == "" || secondID == firstID || str(&rot, "previous_credential_id") != firstID {
		t.Fatalf("rotate: credential %q previous %q, want a new one replacing %s", secondID, str(&rot, "previous_credential_id"), firstID)
	}
	if _, ok := rot.Data["client_secret"]; ok {
		t.Error("rotate: the answer carries client_secret")
	}
	if str(&rot, "previous_revoke_at") == "" {
		t.Error("rotate: no previous_revoke_at")
	}
	if old := e.sim.credential(app, "conn-a", firstID); old.Revoked {
		t.Error("rotate revoked the previous credential at once; it must wait for the grace")
	}
	st = e.status(app, "conn-a")
	if str(st, "current_credential_id") != secondID || !slices.Contains(strs(st, "retiring_credential_ids"), firstID) {
		t.Errorf("status after rotate: current %q retiring %v, want %s and [%s]",
			str(st, "current_credential_id"), strs(st, "retiring_credential_ids"), secondID, firstID)
	}
	if str(st, "last_rotation") == "" {
		t.Error("status after rotate: last_rotation empty")
	}
	if pr, _ := st.Data["pending_revocations"].([]any); len(pr) != 1 {
		t.Errorf("status after rotate: %d pending revocations, want 1", len(pr))
	}
	meta, err = v.cliRead(mountPath + "/creds/" + app + "/conn-a/" + firstID)
	if err != nil {
		t.Fatal(err)
	}
	if str(meta, "state") != "retiring" {
		t.Errorf("metadata of the replaced credential: state %q, want retiring", str(meta, "state"))
	}
	if c := e.readCreds(app, "conn-a"); c.credentialID != secondID {
		t.Errorf("creds read after rotate: %s, want %s", c.credentialID, secondID)
	}

	// ---- rotate with revoke_previous ----
	rot2 := v.write(mountPath+"/rotate/"+app+"/conn-a", map[string]any{"revoke_previous": true})
	thirdID := str(rot2, "credential_id")
	if thirdID == "" || str(rot2, "previous_credential_id") != secondID || rot2.Data["previous_revoked"] != true {
		t.Fatalf("rotate revoke_previous=true: credential %q previous %q revoked %v",
			thirdID, str(rot2, "previous_credential_id"), rot2.Data["previous_revoked"])
	}
	if !e.sim.credential(app, "conn-a", secondID).Revoked {
		t.Error("rotate revoke_previous=true: the previous credential is not revoked upstream")
	}
	st = e.status(app, "conn-a")
	if ids := strs(st, "retiring_credential_ids"); slices.Contains(ids, secondID) || !slices.Contains(ids, firstID) {
		t.Errorf("status after revoke_previous: retiring %v, want [%s] only", ids, firstID)
	}

	// ---- 404s ----
	for _, p := range []string{
		mountPath + "/creds/" + app + "/not-registered",
		mountPath + "/rotate/" + app + "/not-registered",
	} {
		_, stderr, err := v.run(nil, "read", p)
		if err == nil || !strings.Contains(stderr, "No value found at "+p) {
			t.Errorf("vault read %s: err %v, stderr %q; want \"No value found\"", p, err, strings.TrimSpace(stderr))
		}
	}
	if s, err := v.api.Logical().Read(mountPath + "/creds/" + app + "/not-registered"); err != nil || s != nil {
		t.Errorf("API read of an unregistered connector: secret %v err %v, want none", s != nil, err)
	}

	// ---- delete: every credential of the connector revoked upstream ----
	v.cli("delete", mountPath+"/creds/"+app+"/conn-a")
	for _, cr := range e.sim.credentials(app, "conn-a") {
		if !cr.Revoked {
			t.Errorf("after delete, credential %s is not revoked upstream", cr.ID)
		}
	}
	if n := len(e.sim.credentials(app, "conn-a")); n != 3 {
		t.Errorf("upstream has %d credentials of conn-a, want 3", n)
	}
	if _, err := v.cliRead(mountPath + "/creds/" + app + "/conn-a"); err != errNotFound {
		t.Errorf("creds read after delete: %v, want No value found", err)
	}
	list = nil
	v.cliJSON(&list, "list", "-format=json", mountPath+"/creds")
	if !slices.Equal(list, []string{app + "/conn-b"}) {
		t.Errorf("list after delete = %v, want [%s/conn-b]", list, app)
	}
	if cr := e.sim.credentials(app, "conn-b"); len(cr) != 1 || cr[0].Revoked {
		t.Errorf("deleting conn-a touched conn-b upstream: %+v", cr)
	}

	// ---- config delete ----
	v.cli("delete", mountPath+"/config")
	if _, err := v.cliRead(mountPath + "/config"); err != errNotFound {
		t.Errorf("config read after delete: %v, want No value found", err)
	}
}

// keys lists a map's keys (for messages that must not show values).
func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
