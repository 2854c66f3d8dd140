package c1

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/upstreamsim"
)

func TestConfigReadNeverReturnsSecrets(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{})
	e.configure(map[string]any{"aitronos_api_key": "ak_" + strings.Repeat("k", 40), "aitronos_url": e.url})

	resp := e.mustDo(logical.ReadOperation, "config", nil)
	for k, v := range resp.Data {
		if s, ok := v.(string); ok && (strings.Contains(s, "secret-token") || strings.HasPrefix(s, "ak_")) {
			t.Errorf("config read returns a secret in %q", k)
		}
	}
	for _, k := range []string{"c1_client_secret", "c1_access_token", "aitronos_api_key"} {
		if _, ok := resp.Data[k]; ok {
			t.Errorf("config read has field %q", k)
		}
	}
	if resp.Data["c1_client_secret_set"] != true || resp.Data["aitronos_api_key_set"] != true {
		t.Errorf("config read does not say the secrets are set: %v %v", resp.Data["c1_client_secret_set"], resp.Data["aitronos_api_key_set"])
	}
	if resp.Data["c1_server_url"] != e.url || resp.Data["c1_client_id"] != e.clientID {
		t.Errorf("config read: server url %v, client id %v", resp.Data["c1_server_url"], resp.Data["c1_client_id"])
	}
	if resp.Data["connector_rotation_period"] != int64(720*3600) || resp.Data["revoke_grace"] != int64(3600) ||
		resp.Data["rotate_before_expiry"] != int64(24*3600) || resp.Data["rotation_concurrency"] != defaultRotationConcurrency {
		t.Errorf("config defaults: %v %v %v %v", resp.Data["connector_rotation_period"], resp.Data["revoke_grace"],
			resp.Data["rotate_before_expiry"], resp.Data["rotation_concurrency"])
	}
}

func TestConfigUpdateKeepsSecretsAndDerivesServerURL(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{})
	e.configure(nil)
	e.mustDo(logical.UpdateOperation, "config", map[string]any{"connector_rotation_period": "2h"})
	cfg, err := getConfig(t.Context(), e.storage)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.C1ClientSecret != e.clientSecret {
		t.Error("an update without c1_client_secret dropped the stored secret")
	}
	if cfg.Policy.RotationPeriod.Hours() != 2 {
		t.Errorf("rotation_period = %v", cfg.Policy.RotationPeriod)
	}

	// With no c1_server_url, the URL comes from the client id's host.
	e.mustDo(logical.UpdateOperation, "config", map[string]any{
		"c1_server_url": "", "c1_client_id": "vault@acme.conductor.one/pcc",
	})
	resp := e.mustDo(logical.ReadOperation, "config", nil)
	if got := resp.Data["c1_server_url"]; got != "https://acme.conductor.one" {
		t.Errorf("derived c1_server_url = %v", got)
	}

	// Switching to a bearer token needs the client credentials cleared.
	if _, err := e.do(logical.UpdateOperation, "config", map[string]any{"c1_access_token": "tok"}); statusOf(err) != http.StatusBadRequest {
		t.Errorf("token beside client credentials: %v", err)
	}
	e.mustDo(logical.UpdateOperation, "config", map[string]any{
		"c1_access_token": "tok", "c1_client_id": "", "c1_client_secret": "", "c1_server_url": "https://acme.conductor.one",
	})
	resp = e.mustDo(logical.ReadOperation, "config", nil)
	if resp.Data["c1_access_token_set"] != true || resp.Data["c1_client_secret_set"] != false {
		t.Errorf("after switching to a token: %v %v", resp.Data["c1_access_token_set"], resp.Data["c1_client_secret_set"])
	}
}

func TestConfigRefusesBadInputAndStoresNothing(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{})
	good := func() map[string]any {
		return map[string]any{"c1_client_id": e.clientID, "c1_client_secret": e.clientSecret, "c1_server_url": e.url}
	}
	with := func(k string, v any) map[string]any {
		d := good()
		d[k] = v
		return d
	}
	cases := map[string]struct {
		data  map[string]any
		field string
	}{
		"unknown field":            {with("rotation_perod", "1h"), "rotation_perod"},
		"duration does not parse":  {with("rotation_period", "soon"), "rotation_period"},
		"negative duration":        {with("revoke_grace", "-1h"), "revoke_grace"},
		"int does not parse":       {with("max_retries", "many"), "max_retries"},
		"bool does not parse":      {with("aitronos_return_refresh_token", "maybe"), "aitronos_return_refresh_token"},
		"too many retries":         {with("max_retries", 99), "max_retries"},
		"concurrency zero":         {with("rotation_concurrency", 0), "rotation_concurrency"},
		"secret not a token":       {with("c1_client_secret", "hunter2-not-a-token"), "c1_client_secret"},
		"client id without host":   {with("c1_client_id", "no-at-sign"), "c1_client_id"},
		"plain http to a remote":   {with("c1_server_url", "http://acme.conductor.one"), "c1_server_url"},
		"url with a query":         {with("c1_server_url", "https://acme.conductor.one/?x=1"), "c1_server_url"},
		"unknown key header":       {with("aitronos_key_header", "Authorization"), "aitronos_key_header"},
		"aitronos http remote":     {with("aitronos_url", "http://api.aitronos.com"), "aitronos_url"},
		"secret without client id": {map[string]any{"c1_client_secret": e.clientSecret, "c1_server_url": e.url}, "c1_client_id"},
		"nothing to talk to":       {map[string]any{"rotation_period": "1h"}, "c1_client_id"},
		"token without server url": {map[string]any{"c1_access_token": "tok"}, "c1_server_url"},
		// What the clients themselves refuse, each for its own fields.
		"c1 server url with a path": {with("c1_server_url", e.url+"/api"), "c1_server_url"},
		"c1 token with a space": {map[string]any{"c1_access_token": "hunter2 token", "c1_server_url": e.url},
			"c1_access_token"},
		"c1 token with a control character": {map[string]any{"c1_access_token": "hunter2\x01token", "c1_server_url": e.url},
			"c1_access_token"},
		"aitronos key with a space": {map[string]any{"aitronos_api_key": "ak_hunter2 key", "aitronos_url": e.url},
			"aitronos_api_key"},
		"aitronos key with a control character": {with("aitronos_api_key", "ak_hunter2\x7fkey"), "aitronos_api_key"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := e.do(logical.UpdateOperation, "config", tc.data)
			if statusOf(err) != http.StatusBadRequest {
				t.Fatalf("status %d, error %v", statusOf(err), err)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Errorf("error does not name %q: %v", tc.field, err)
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), e.clientSecret) {
				t.Error("error echoes a secret value")
			}
			if keys := e.storageKeys(); len(keys) != 0 {
				t.Errorf("stored %v", keys)
			}
		})
	}
}

func TestConfigDelete(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{})
	e.configure(nil)
	e.mustDo(logical.DeleteOperation, "config", nil)
	if resp := e.mustDo(logical.ReadOperation, "config", nil); resp != nil {
		t.Errorf("config still readable after delete")
	}
	_, err := e.do(logical.UpdateOperation, "creds/app1/conn1", nil)
	if statusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "config") {
		t.Errorf("register without config: %v", err)
	}
}

func TestSecretFieldsAreSensitive(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{})
	for _, p := range e.b.Paths {
		for name, f := range p.Fields {
			secret := strings.Contains(name, "secret") || strings.Contains(name, "token") || strings.Contains(name, "api_key")
			if secret && f.Type == 0 {
				continue
			}
			if secret && (f.DisplayAttrs == nil || !f.DisplayAttrs.Sensitive) && !strings.HasSuffix(name, "_refresh_token") {
				t.Errorf("path %s field %s is not marked sensitive", p.Pattern, name)
			}
		}
	}
	special := e.b.PathsSpecial.SealWrapStorage
	if len(special) != 3 || special[0] != configStorageKey || special[1] != connectorStoragePrefix || special[2] != rootStorageKey {
		t.Errorf("seal-wrapped storage = %v", special)
	}
}

func TestConfigNeverQuotesASecretOfTheWrongType(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{})
	for _, field := range []string{"c1_client_secret", "c1_access_token", "aitronos_api_key"} {
		for _, v := range []any{[]any{"SECRETVALUE"}, map[string]any{"k": "SECRETVALUE"}, 12345678} {
			_, err := e.do(logical.UpdateOperation, "config", map[string]any{field: v})
			if statusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), field) {
				t.Errorf("%s as %T: status %d: %v", field, v, statusOf(err), err)
			}
			if strings.Contains(err.Error(), "SECRETVALUE") || strings.Contains(err.Error(), "12345678") {
				t.Errorf("%s as %T: the error quotes the value", field, v)
			}
		}
	}
	if len(e.storageKeys()) != 0 {
		t.Error("stored something")
	}
}

func TestRotationPeriodUnderTwoTicksIsRefused(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 10 * time.Hour})
	e.configureAndRegister(nil)
	for _, tc := range []struct {
		path string
		v    any
	}{{"config", 60}, {"config", "119s"}, {credsPath, "90s"}} {
		_, err := e.do(logical.UpdateOperation, tc.path, map[string]any{"rotation_period": tc.v})
		if statusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "rotation_period") {
			t.Errorf("%s rotation_period=%v: status %d: %v", tc.path, tc.v, statusOf(err), err)
		}
	}
	if e.connector().Overrides.RotationPeriod != nil {
		t.Error("a refused override was stored")
	}
	e.mustDo(logical.UpdateOperation, "config", map[string]any{"connector_rotation_period": 0})
	e.mustDo(logical.UpdateOperation, credsPath, map[string]any{"rotation_period": "2m"})
}

// barrierStorage holds every read of one key, once read, until two readers have arrived
// (or a while has passed), so two read-modify-writes overlap if nothing
// serializes them.
type barrierStorage struct {
	logical.Storage
	key  string
	mu   sync.Mutex
	n    int
	both chan struct{}
}

func (s *barrierStorage) Get(ctx context.Context, key string) (*logical.StorageEntry, error) {
	entry, err := s.Storage.Get(ctx, key)
	if key == s.key {
		s.mu.Lock()
		s.n++
		if s.n == 2 {
			close(s.both)
		}
		s.mu.Unlock()
		select {
		case <-s.both:
		case <-time.After(300 * time.Millisecond): // serialized: the other reader cannot come
		}
	}
	return entry, err
}

func TestConcurrentConfigWritesKeepEachOther(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{})
	e.configure(nil)
	barrier := &barrierStorage{Storage: e.storage, key: configStorageKey, both: make(chan struct{})}
	var wg sync.WaitGroup
	for _, data := range []map[string]any{{"revoke_grace": 120}, {"max_retries": 5}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := &logical.Request{Operation: logical.UpdateOperation, Path: "config", Data: data, Storage: barrier}
			if _, err := e.b.HandleRequest(context.Background(), req); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	cfg, err := getConfig(context.Background(), e.storage)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Policy.RevokeGrace != 2*time.Minute || cfg.MaxRetries != 5 {
		t.Errorf("a concurrent config write was lost: revoke_grace %v, max_retries %d", cfg.Policy.RevokeGrace, cfg.MaxRetries)
	}
}
