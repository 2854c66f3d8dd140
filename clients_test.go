package c1

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/upstreamsim"
)

// storeConfig writes cfg as another node or an older version could have,
// bypassing the checks of a config write.
func storeConfig(t *testing.T, e *testEnv, change func(*pluginConfig)) {
	t.Helper()
	cfg, err := getConfig(context.Background(), e.storage)
	if err != nil {
		t.Fatal(err)
	}
	change(cfg)
	if err := putConfig(context.Background(), e.storage, cfg); err != nil {
		t.Fatal(err)
	}
	e.b.invalidate(context.Background(), configStorageKey)
}

func TestAClientThatCannotBeBuiltDoesNotStopTheOther(t *testing.T) {
	t.Run("C1 unusable, Aitronos serves", func(t *testing.T) {
		e := newOAuthEnv(t, map[string]any{"c1_client_id": "", "c1_client_secret": ""})
		storeConfig(t, e, func(c *pluginConfig) { c.C1AccessToken, c.C1ServerURL = "bad token", e.url })
		e.mustDo(logical.ReadOperation, "oauth/cred_1", nil)
		_, err := e.do(logical.UpdateOperation, "creds/"+testApp+"/"+testConnector, nil)
		if statusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "c1_access_token") || strings.Contains(err.Error(), "bad token") {
			t.Fatalf("C1 use with an unusable token: %v", err)
		}
	})
	t.Run("Aitronos unusable, C1 serves", func(t *testing.T) {
		e := newTestEnv(t, upstreamsim.Options{})
		e.configure(nil)
		storeConfig(t, e, func(c *pluginConfig) { c.AitronosAPIKey = "ak bad key" })
		e.register(nil)
		_, err := e.do(logical.ReadOperation, "oauth/cred_1", nil)
		if statusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "aitronos_api_key") || strings.Contains(err.Error(), "ak bad key") {
			t.Fatalf("Aitronos use with an unusable key: %v", err)
		}
	})
}

func TestAConfigWriteKeepsTheClientWhoseSettingsItLeaves(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{})
	e.configureAndRegister(nil)
	first, _, err := e.b.c1Client(context.Background(), e.storage)
	if err != nil {
		t.Fatal(err)
	}
	logins := e.sim.Calls(upstreamsim.OpToken)

	e.mustDo(logical.UpdateOperation, "config", map[string]any{"aitronos_cache_ttl": "1m", "connector_rotation_period": "100h"})
	again, cfg, err := e.b.c1Client(context.Background(), e.storage)
	if err != nil {
		t.Fatal(err)
	}
	if again != first || cfg.Policy.RotationPeriod.Hours() != 100 {
		t.Fatal("a write that left the C1 settings as they were rebuilt the C1 client")
	}
	e.mustDo(logical.UpdateOperation, "rotate/"+testApp+"/"+testConnector, nil)
	if n := e.sim.Calls(upstreamsim.OpToken); n != logins {
		t.Fatalf("%d logins after the write, want none", n-logins)
	}

	e.mustDo(logical.UpdateOperation, "config", map[string]any{"request_timeout": "20s"})
	if again, _, _ := e.b.c1Client(context.Background(), e.storage); again == first {
		t.Fatal("a changed request timeout kept the old C1 client")
	}
}
