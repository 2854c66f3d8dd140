package c1

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/upstreamsim"
)

// badIDs are path segments Vault hands over as they are.
var badIDs = []string{"..", ".", "a b", "a%2Fb", "%2e%2e", "a?b", "a\nb", "a#b", "ä", strings.Repeat("x", 129)}

func TestBadIDsAreRefusedBeforeAnyUpstreamCall(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{})
	e.configure(nil)
	e.register(nil)
	before := e.storageKeys()
	calls := e.sim.Calls("rotate") + e.sim.Calls("get") + e.sim.Calls("revoke")

	for _, id := range badIDs {
		for _, tc := range []struct {
			op    logical.Operation
			path  string
			field string
		}{
			{logical.UpdateOperation, "creds/" + id + "/conn1", "app_id"},
			{logical.UpdateOperation, "creds/app1/" + id, "connector_id"},
			{logical.ReadOperation, "creds/app1/" + id, "connector_id"},
			{logical.DeleteOperation, "creds/" + id + "/conn1", "app_id"},
			{logical.ReadOperation, "creds/app1/conn1/" + id, "credential_id"},
			{logical.UpdateOperation, "rotate/app1/" + id, "connector_id"},
			{logical.ReadOperation, "rotate/" + id + "/conn1", "app_id"},
			{logical.ReadOperation, "oauth/" + id, "credential_id"},
			{logical.ReadOperation, "oauth/by-connection/" + id, "connection_id"},
		} {
			_, err := e.do(tc.op, tc.path, nil)
			if statusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), tc.field) {
				t.Errorf("%s %q: status %d, %v", tc.op, tc.path, statusOf(err), err)
			}
		}
	}
	if after := e.sim.Calls("rotate") + e.sim.Calls("get") + e.sim.Calls("revoke"); after != calls {
		t.Errorf("bad ids reached the upstream: %d calls", after-calls)
	}
	if after := e.storageKeys(); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Errorf("storage changed: %v -> %v", before, after)
	}
}

func TestBadFieldsAreRefusedAndChangeNothing(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: 10 * time.Hour})
	e.configure(nil)
	for name, tc := range map[string]struct {
		path  string
		data  map[string]any
		field string
	}{
		"unknown field on register":    {credsPath, map[string]any{"ttl": "1h"}, "ttl"},
		"duration that does not parse": {credsPath, map[string]any{"rotation_period": "monthly"}, "rotation_period"},
		"wrong type":                   {credsPath, map[string]any{"revoke_grace": []any{1}}, "revoke_grace"},
		"negative override":            {credsPath, map[string]any{"rotate_before_expiry": "-5m"}, "rotate_before_expiry"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := e.do(logical.UpdateOperation, tc.path, tc.data)
			if statusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("status %d: %v", statusOf(err), err)
			}
			if e.sim.Calls("rotate") != 0 || e.connector() != nil {
				t.Error("a refused registration reached the upstream or stored something")
			}
		})
	}

	e.register(nil)
	before := *e.connector()
	for name, data := range map[string]map[string]any{
		"unknown field on rotate":  {"revoke_old": true},
		"bool that does not parse": {"revoke_previous": "perhaps"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := e.do(logical.UpdateOperation, rotatePath, data)
			if statusOf(err) != http.StatusBadRequest {
				t.Fatalf("status %d: %v", statusOf(err), err)
			}
			if e.connector().Current.ID != before.Current.ID || e.sim.Calls("rotate") != 1 {
				t.Error("a refused rotation rotated")
			}
		})
	}
	t.Run("bad override on update", func(t *testing.T) {
		_, err := e.do(logical.UpdateOperation, credsPath, map[string]any{"rotation_period": "1h", "revoke_grace": "x"})
		if statusOf(err) != http.StatusBadRequest {
			t.Fatalf("status %d: %v", statusOf(err), err)
		}
		if e.connector().Overrides.RotationPeriod != nil {
			t.Error("half of a refused update was stored")
		}
	})
}

func TestLoginRefusedIsAClearErrorWithoutTheSecret(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{})
	// A well-formed secret of a client the upstream does not know.
	other := upstreamsim.New(upstreamsim.Options{})
	secret, err := other.RegisterClient("stranger@127.0.0.1/pcc")
	if err != nil {
		t.Fatal(err)
	}
	e.mustDo(logical.UpdateOperation, "config", map[string]any{
		"c1_client_id": "stranger@127.0.0.1/pcc", "c1_client_secret": secret, "c1_server_url": e.url,
	})
	_, err = e.do(logical.UpdateOperation, credsPath, nil)
	if err == nil {
		t.Fatal("registration succeeded with an unknown client")
	}
	msg := err.Error()
	if statusOf(err) != http.StatusBadGateway || !strings.Contains(msg, "401") || !strings.Contains(msg, "login") {
		t.Errorf("status %d: %s", statusOf(err), msg)
	}
	jwk := strings.TrimPrefix(secret, "secret-token:conductorone.com:v1:")
	if strings.Contains(msg, jwk[:20]) || strings.Contains(msg, "secret-token") {
		t.Error("the error carries the client secret")
	}
	if e.connector() != nil {
		t.Error("stored a connector")
	}
}

func TestScheduleFieldsRefusedWithA400(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{CredentialTTL: upstreamsim.NoExpiry})
	e.configure(nil)
	e.register(nil)
	before := e.mustDo(logical.ReadOperation, "config", nil).Data
	for name, tc := range map[string]struct {
		data  map[string]any
		field string
	}{
		"both schedule and period":   {map[string]any{"rotation_schedule": "0 3 * * *", "rotation_period": "24h"}, "rotation_schedule or rotation_period"},
		"cron that does not parse":   {map[string]any{"rotation_schedule": "every night"}, "rotation_schedule"},
		"six fields":                 {map[string]any{"rotation_schedule": "0 0 3 * * *"}, "rotation_schedule"},
		"never fires":                {map[string]any{"rotation_schedule": "0 3 30 2 *"}, "rotation_schedule"},
		"window under an hour":       {map[string]any{"rotation_schedule": "0 3 * * *", "rotation_window": "30m"}, "rotation_window"},
		"window without a schedule":  {map[string]any{"rotation_window": "2h"}, "rotation_window"},
		"negative window":            {map[string]any{"rotation_schedule": "0 3 * * *", "rotation_window": "-2h"}, "rotation_window"},
		"window with a period write": {map[string]any{"rotation_period": "2h", "rotation_window": "2h"}, "rotation_window"},
	} {
		for path, prefix := range map[string]string{"config": "connector_", credsPath: ""} {
			t.Run(name+" on "+path, func(t *testing.T) {
				data := map[string]any{}
				for k, v := range tc.data {
					data[prefix+k] = v
				}
				field := strings.ReplaceAll(tc.field, "rotation_", prefix+"rotation_")
				_, err := e.do(logical.UpdateOperation, path, data)
				if statusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), field) {
					t.Fatalf("status %d, error %v; want a 400 naming %s", statusOf(err), err, field)
				}
			})
		}
	}
	after := e.mustDo(logical.ReadOperation, "config", nil).Data
	if !equalJSON(t, before, after) || e.connector().Overrides.RotationSchedule != nil || e.connector().Overrides.RotationWindow != nil {
		t.Error("a refused write changed what is stored")
	}
}
