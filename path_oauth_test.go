package c1

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/upstreamsim"
)

var testAPIKey = "ak_" + strings.Repeat("a1B2c3D4e5", 4)

const (
	testAccessToken  = "gho_accesstoken_value_1234"
	testRefreshToken = "ghr_refreshtoken_value_5678"
)

// newOAuthEnv is a test env with an Aitronos key, a connection whose token
// expires in 40 minutes, and config pointing at the simulator.
func newOAuthEnv(t *testing.T, extra map[string]any) *testEnv {
	t.Helper()
	e := newTestEnv(t, upstreamsim.Options{})
	e.sim.AddAPIKey(testAPIKey, upstreamsim.KeyActive)
	e.sim.SetConnection(upstreamsim.Connection{
		CredentialID: "cred_1", ConnectionID: "conn_abc", Status: "ACTIVE", AppName: "github", AuthScheme: "OAUTH2",
		AccountEmail: "dev@example.com", AccountID: "42", AccessToken: testAccessToken, RefreshToken: testRefreshToken,
		IDToken: "eyJ.id.token", TokenType: "Bearer", Scope: "repo", BaseURL: "https://api.github.com",
		ExpiresAt: e.clock.Now().Add(40 * time.Minute), ExtraHeaders: map[string]any{"X-Extra": "1"},
	})
	data := map[string]any{"aitronos_url": e.url, "aitronos_api_key": testAPIKey, "max_retries": 2}
	for k, v := range extra {
		data[k] = v
	}
	e.mustDo(logical.UpdateOperation, "config", data)
	return e
}

func TestOAuthReadIsALeaseEndingAtTokenExpiry(t *testing.T) {
	e := newOAuthEnv(t, nil)
	for _, path := range []string{"oauth/cred_1", "oauth/by-connection/conn_abc"} {
		resp := e.mustDo(logical.ReadOperation, path, nil)
		if resp.Secret == nil || resp.Secret.TTL != 40*time.Minute || resp.Secret.Renewable {
			t.Fatalf("%s: lease %+v, want 40m, not renewable", path, resp.Secret)
		}
		if resp.Data["access_token"] != testAccessToken {
			t.Errorf("%s: wrong access token", path)
		}
		if _, ok := resp.Data["refresh_token"]; ok {
			t.Errorf("%s: refresh token served without aitronos_return_refresh_token", path)
		}
		for k, want := range map[string]any{
			"connection_id": "conn_abc", "app_name": "github", "auth_scheme": "OAUTH2", "token_type": "Bearer",
			"scope": "repo", "account_email": "dev@example.com", "account_id": "42", "status": "ACTIVE",
			"base_url": "https://api.github.com", "id_token": "eyJ.id.token",
			"expires_at": formatTime(e.clock.Now().Add(40 * time.Minute)),
		} {
			if resp.Data[k] != want {
				t.Errorf("%s: %s = %v, want %v", path, k, resp.Data[k], want)
			}
		}
		if h, _ := resp.Data["extra_headers"].(map[string]any); h["X-Extra"] != "1" {
			t.Errorf("%s: extra_headers = %v", path, resp.Data["extra_headers"])
		}
	}
}

func TestOAuthRefreshTokenOnlyWhenAllowed(t *testing.T) {
	e := newOAuthEnv(t, map[string]any{"aitronos_return_refresh_token": true})
	resp := e.mustDo(logical.ReadOperation, "oauth/cred_1", nil)
	if resp.Data["refresh_token"] != testRefreshToken {
		t.Error("refresh token not served though allowed")
	}
}

func TestOAuthLeaseCappedByMaxTTLAndUsesExpiresIn(t *testing.T) {
	e := newOAuthEnv(t, nil)
	e.sim.SetConnection(upstreamsim.Connection{
		ConnectionID: "conn_long", Status: "active", AccessToken: testAccessToken,
		ExpiresAt: e.clock.Now().Add(100 * time.Hour),
	})
	resp := e.mustDo(logical.ReadOperation, "oauth/by-connection/conn_long", nil)
	if resp.Secret.TTL != e.b.System().MaxLeaseTTL() {
		t.Errorf("lease TTL %v, want the mount max", resp.Secret.TTL)
	}
}

func TestOAuthUnusableConnectionsAreExplainedNotServed(t *testing.T) {
	e := newOAuthEnv(t, map[string]any{"aitronos_cache_ttl": 0})
	now := e.clock.Now()
	for name, tc := range map[string]struct {
		conn upstreamsim.Connection
		word string
	}{
		"expired status":    {upstreamsim.Connection{Status: "expired"}, "EXPIRED"},
		"initiated status":  {upstreamsim.Connection{Status: "INITIATED"}, "INITIATED"},
		"disabled":          {upstreamsim.Connection{Status: "ACTIVE", IsDisabled: true}, "disabled"},
		"redacted":          {upstreamsim.Connection{Status: "ACTIVE", IsRedacted: true}, "aitronos_api_key"},
		"no access token":   {upstreamsim.Connection{Status: "ACTIVE", AccessToken: "-"}, "access_token"},
		"token past expiry": {upstreamsim.Connection{Status: "ACTIVE", ExpiresAt: now.Add(-time.Minute)}, "expired"},
	} {
		t.Run(name, func(t *testing.T) {
			c := tc.conn
			c.ConnectionID = "conn_x"
			if c.AccessToken == "" {
				c.AccessToken = testAccessToken
			} else if c.AccessToken == "-" {
				c.AccessToken = ""
			}
			if c.ExpiresAt.IsZero() {
				c.ExpiresAt = now.Add(time.Hour)
			}
			e.sim.SetConnection(c)
			resp, err := e.do(logical.ReadOperation, "oauth/by-connection/conn_x", nil)
			if err == nil {
				t.Fatalf("served: lease %v", resp.Secret)
			}
			if statusOf(err) != http.StatusConflict || !strings.Contains(err.Error(), tc.word) || !strings.Contains(err.Error(), "conn_x") {
				t.Errorf("status %d: %v", statusOf(err), err)
			}
			if strings.Contains(err.Error(), testAccessToken) {
				t.Error("error carries the token")
			}
		})
	}
}

func TestOAuthUpstreamErrorsKeepTheirMeaning(t *testing.T) {
	e := newOAuthEnv(t, nil)
	_, err := e.do(logical.ReadOperation, "oauth/cred_missing", nil)
	if statusOf(err) != http.StatusNotFound || !strings.Contains(err.Error(), "cred_missing") {
		t.Errorf("unknown id: status %d: %v", statusOf(err), err)
	}

	for state, code := range map[upstreamsim.KeyState]string{
		upstreamsim.KeyExpired: "API_KEY_EXPIRED", upstreamsim.KeyNoAdmin: "INSUFFICIENT_PERMISSIONS",
	} {
		key := "ak_" + strings.Repeat(string(state[0]), 40)
		e.sim.AddAPIKey(key, state)
		e.mustDo(logical.UpdateOperation, "config", map[string]any{"aitronos_api_key": key})
		_, err := e.do(logical.ReadOperation, "oauth/cred_1", nil)
		if statusOf(err) != http.StatusBadGateway || !strings.Contains(err.Error(), code) || !strings.Contains(err.Error(), "req_") {
			t.Errorf("%s: status %d: %v", state, statusOf(err), err)
		}
		if strings.Contains(err.Error(), key) {
			t.Errorf("%s: error carries the API key", state)
		}
	}
	e.mustDo(logical.UpdateOperation, "config", map[string]any{"aitronos_api_key": "ak_" + strings.Repeat("z", 40)})
	if _, err := e.do(logical.ReadOperation, "oauth/cred_1", nil); !strings.Contains(err.Error(), "INVALID_API_KEY") {
		t.Errorf("unknown key: %v", err)
	}
}

func TestOAuthRetriesRateLimitsAndServerErrors(t *testing.T) {
	e := newOAuthEnv(t, nil)
	e.sim.InjectFault(upstreamsim.Fault{Op: "aitronos", Status: http.StatusTooManyRequests, RetryAfter: "0", Count: 1})
	e.sim.InjectFault(upstreamsim.Fault{Op: "aitronos", Status: http.StatusServiceUnavailable, Count: 1})
	e.mustDo(logical.ReadOperation, "oauth/cred_1", nil)
	if n := e.sim.Calls("aitronos"); n != 3 {
		t.Errorf("upstream calls = %d, want 3", n)
	}
	e.sim.InjectFault(upstreamsim.Fault{Op: "aitronos", Status: http.StatusBadGateway})
	_, err := e.do(logical.ReadOperation, "oauth/by-connection/conn_abc", nil)
	if statusOf(err) != http.StatusBadGateway || !strings.Contains(err.Error(), "502") {
		t.Errorf("status %d: %v", statusOf(err), err)
	}
}

func TestOAuthConcurrentReadsMakeOneUpstreamCall(t *testing.T) {
	e := newOAuthEnv(t, map[string]any{"aitronos_cache_ttl": 0})
	e.sim.InjectFault(upstreamsim.Fault{Op: "aitronos", Latency: time.Second})
	const readers = 20
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, readers)
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resp, err := e.do(logical.ReadOperation, "oauth/by-connection/conn_abc", nil)
			if err == nil && resp.Secret.TTL != 40*time.Minute {
				t.Errorf("reader lease %v", resp.Secret.TTL)
			}
			errs <- err
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := e.sim.Calls("aitronos"); n != 1 {
		t.Errorf("%d concurrent reads made %d upstream calls, want 1", readers, n)
	}
}

func TestOAuthCacheReusesAnswersButNeverPastTokenExpiry(t *testing.T) {
	e := newOAuthEnv(t, map[string]any{"aitronos_cache_ttl": "30s"})
	e.mustDo(logical.ReadOperation, "oauth/cred_1", nil)
	e.clock.Advance(29 * time.Second)
	resp := e.mustDo(logical.ReadOperation, "oauth/cred_1", nil)
	if n := e.sim.Calls("aitronos"); n != 1 {
		t.Errorf("read within the cache TTL called upstream: %d calls", n)
	}
	if want := 40*time.Minute - 29*time.Second; resp.Secret.TTL != want {
		t.Errorf("cached answer lease %v, want %v", resp.Secret.TTL, want)
	}
	e.clock.Advance(time.Second)
	e.mustDo(logical.ReadOperation, "oauth/cred_1", nil)
	if n := e.sim.Calls("aitronos"); n != 2 {
		t.Errorf("read after the cache TTL: %d calls, want 2", n)
	}

	// A token that expires in 10s is cached 10s, not 30s.
	e.sim.SetConnection(upstreamsim.Connection{ConnectionID: "conn_short", Status: "ACTIVE", AccessToken: "old",
		ExpiresAt: e.clock.Now().Add(10 * time.Second)})
	e.mustDo(logical.ReadOperation, "oauth/by-connection/conn_short", nil)
	e.sim.SetConnection(upstreamsim.Connection{ConnectionID: "conn_short", Status: "ACTIVE", AccessToken: "new",
		ExpiresAt: e.clock.Now().Add(time.Hour)})
	e.clock.Advance(10 * time.Second)
	resp = e.mustDo(logical.ReadOperation, "oauth/by-connection/conn_short", nil)
	if resp.Data["access_token"] != "new" {
		t.Error("the cache served a token past its expiry")
	}
}

func TestOAuthWithoutAitronosConfig(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{})
	e.configure(nil)
	_, err := e.do(logical.ReadOperation, "oauth/cred_1", nil)
	if statusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "aitronos_api_key") {
		t.Errorf("status %d: %v", statusOf(err), err)
	}
}

func TestOAuthKeyHeaderIsConfigurable(t *testing.T) {
	e := newOAuthEnv(t, map[string]any{"aitronos_key_header": "x-flowplate-key"})
	resp := e.mustDo(logical.ReadOperation, "config", nil)
	if resp.Data["aitronos_key_header"] != "X-Flowplate-Key" {
		t.Errorf("aitronos_key_header = %v", resp.Data["aitronos_key_header"])
	}
	e.mustDo(logical.ReadOperation, "oauth/cred_1", nil)
}

func TestOAuthTokenWithoutExpiryGetsAShortLease(t *testing.T) {
	e := newOAuthEnv(t, nil)
	e.sim.SetConnection(upstreamsim.Connection{ConnectionID: "conn_noexp", Status: "ACTIVE", AccessToken: "tok"})
	resp := e.mustDo(logical.ReadOperation, "oauth/by-connection/conn_noexp", nil)
	if resp.Secret.TTL != unknownExpiryTTL {
		t.Errorf("lease TTL %v, want %v", resp.Secret.TTL, unknownExpiryTTL)
	}
}

func TestAitronosServesOnlyActiveConnections(t *testing.T) {
	e := newOAuthEnv(t, map[string]any{"aitronos_cache_ttl": 0})
	for status, word := range map[string]string{"REVOKED": "REVOKED", "": "no connection status", "paused": "PAUSED"} {
		e.sim.SetConnection(upstreamsim.Connection{ConnectionID: "conn_x", Status: status, AccessToken: testAccessToken,
			ExpiresAt: e.clock.Now().Add(time.Hour)})
		_, err := e.do(logical.ReadOperation, "oauth/by-connection/conn_x", nil)
		if statusOf(err) != http.StatusConflict || !strings.Contains(err.Error(), word) || !strings.Contains(err.Error(), "ACTIVE") {
			t.Errorf("status %q: %d: %v", status, statusOf(err), err)
		}
	}
	e.sim.SetConnection(upstreamsim.Connection{ConnectionID: "conn_x", Status: "active", AccessToken: testAccessToken,
		ExpiresAt: e.clock.Now().Add(time.Hour)})
	e.mustDo(logical.ReadOperation, "oauth/by-connection/conn_x", nil)
}

func TestOAuthReadHonoursTheCallersCancellation(t *testing.T) {
	e := newOAuthEnv(t, nil)
	e.sim.InjectFault(upstreamsim.Fault{Op: upstreamsim.OpAitronos, Latency: time.Second, Count: 1})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := e.b.HandleRequest(ctx, &logical.Request{
			Operation: logical.ReadOperation, Path: "oauth/by-connection/conn_abc", Storage: e.storage,
		})
		done <- err
	}()
	waitUntil(t, func() bool { return e.sim.Calls(upstreamsim.OpAitronos) > 0 })
	cancel()
	err := <-done
	if err == nil || !errors.Is(err, context.Canceled) && !strings.Contains(err.Error(), "canceled") {
		t.Errorf("a cancelled read answered %v", err)
	}
	if e.sim.Calls(upstreamsim.OpAitronos) != 1 {
		t.Error("the upstream was called again")
	}
}
