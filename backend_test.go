package c1

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vault-plugin-c1/vault-plugin-c1/internal/upstreamsim"
)

// openAPI is the OpenAPI document of the backend's help answer.
func openAPI(t *testing.T, e *testEnv) *framework.OASDocument {
	t.Helper()
	resp, err := e.b.HandleRequest(context.Background(), &logical.Request{
		Operation: logical.HelpOperation, Path: "", Storage: e.storage,
	})
	if err != nil {
		t.Fatal(err)
	}
	doc, ok := resp.Data["openapi"].(*framework.OASDocument)
	if !ok {
		t.Fatalf("no OpenAPI document in the help answer")
	}
	if strings.Contains(e.logs.String(), "error generating OpenAPI") {
		t.Error("OpenAPI generation failed")
	}
	return doc
}

func TestHelpAndOpenAPIDocumentEveryPath(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{})
	paths := openAPI(t, e).Paths
	for _, p := range []string{
		"/config", "/creds/", "/creds/{app_id}/{connector_id}", "/creds/{app_id}/{connector_id}/{credential_id}",
		"/rotate/{app_id}/{connector_id}", "/oauth/{credential_id}", "/oauth/by-connection/{connection_id}",
	} {
		if _, ok := paths[p]; !ok {
			t.Errorf("OpenAPI lacks %s (has %d paths)", p, len(paths))
		}
	}
}

func TestFactoryReportsTheRunningVersion(t *testing.T) {
	conf := logical.TestBackendConfig()
	conf.StorageView = &logical.InmemStorage{}
	b, err := Factory(context.Background(), conf)
	if err != nil {
		t.Fatal(err)
	}
	if v := b.(*backend).RunningVersion; v != Version || v == "" {
		t.Errorf("RunningVersion = %q", v)
	}
}

func TestInvalidateOfTheConfigRebuildsTheClients(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{})
	e.configure(nil)
	first, err := e.b.upstream(context.Background(), e.storage)
	if err != nil {
		t.Fatal(err)
	}
	e.b.invalidate(context.Background(), "connectors/app1/conn1")
	if again, _ := e.b.upstream(context.Background(), e.storage); again != first {
		t.Error("an unrelated key dropped the clients")
	}
	// Another node changed the config.
	if err := putConfig(context.Background(), e.storage, &pluginConfig{C1AccessToken: "tok", C1ServerURL: e.url,
		RequestTimeout: time.Second, RotationConcurrency: 1, AitronosURL: e.url, AitronosKeyHeader: "X-API-Key"}); err != nil {
		t.Fatal(err)
	}
	e.b.invalidate(context.Background(), configStorageKey)
	again, err := e.b.upstream(context.Background(), e.storage)
	if err != nil {
		t.Fatal(err)
	}
	if again == first || again.config.C1AccessToken != "tok" {
		t.Error("the clients were not rebuilt from the new config")
	}
}

// TestOpenAPIOperationIDs pins the operation id of every operation: clients
// generated from the OpenAPI document are named after them.
func TestOpenAPIOperationIDs(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{})
	want := map[string]string{
		"POST /config":   "c1-configure",
		"GET /config":    "c1-read-configuration",
		"DELETE /config": "c1-delete-configuration",

		"GET /creds/": "c1-list-connectors",

		"POST /creds/{app_id}/{connector_id}":   "c1-register-connector",
		"GET /creds/{app_id}/{connector_id}":    "c1-read-connector-credentials",
		"DELETE /creds/{app_id}/{connector_id}": "c1-deregister-connector",

		"GET /creds/{app_id}/{connector_id}/{credential_id}":    "c1-read-connector-credential-metadata",
		"DELETE /creds/{app_id}/{connector_id}/{credential_id}": "c1-revoke-connector-credential",

		"POST /rotate/{app_id}/{connector_id}": "c1-rotate-connector-credential",
		"GET /rotate/{app_id}/{connector_id}":  "c1-read-rotation-status",

		"GET /oauth/{credential_id}":               "c1-read-oauth-token",
		"GET /oauth/by-connection/{connection_id}": "c1-read-oauth-token-by-connection",

		"GET /metrics": "c1-read-metrics",

		"POST /config/rotate-root": "c1-rotate-root",
	}
	got := map[string]string{}
	for path, item := range openAPI(t, e).Paths {
		for method, op := range map[string]*framework.OASOperation{
			"GET": item.Get, "POST": item.Post, "PATCH": item.Patch, "DELETE": item.Delete,
		} {
			if op == nil {
				continue
			}
			key := method + " " + path
			got[key] = op.OperationID
			if strings.TrimSpace(op.Summary) == "" {
				t.Errorf("%s has no summary", key)
			}
		}
	}
	for key, id := range want {
		if got[key] != id {
			t.Errorf("%s: operation id %q, want %q", key, got[key], id)
		}
	}
	for key, id := range got {
		if _, ok := want[key]; !ok {
			t.Errorf("%s (operation id %q) is not pinned by this test", key, id)
		}
	}
}

// TestPathHelpExplainsEveryField checks that every path has a synopsis and a
// description, and that path-help lists each of its fields with a description.
func TestPathHelpExplainsEveryField(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{})
	examples := map[string]string{
		"app_id": "app1", "connector_id": "conn1", "credential_id": "cred1", "connection_id": "ca_1",
	}
	for _, p := range e.b.Paths {
		if strings.TrimSpace(p.HelpSynopsis) == "" || strings.TrimSpace(p.HelpDescription) == "" {
			t.Errorf("path %q lacks a help synopsis or description", p.Pattern)
		}
		// A concrete request path matching the pattern.
		path := strings.TrimPrefix(p.Pattern, "^")
		for name, v := range examples {
			path = strings.Replace(path, segment(name), v, 1)
		}
		path = strings.TrimSuffix(strings.TrimSuffix(path, "$"), "?")
		resp, err := e.b.HandleRequest(context.Background(), &logical.Request{
			Operation: logical.HelpOperation, Path: path, Storage: e.storage,
		})
		if err != nil {
			t.Errorf("path-help %s: %v", path, err)
			continue
		}
		help, _ := resp.Data["help"].(string)
		if !strings.Contains(help, "Matching Route: "+p.Pattern) {
			t.Errorf("path-help %s answered for another route:\n%s", path, help)
			continue
		}
		for name, f := range p.Fields {
			if strings.TrimSpace(f.Description) == "" {
				t.Errorf("path %q: field %s has no description", p.Pattern, name)
			} else if !strings.Contains(help, name) || !strings.Contains(help, strings.TrimSpace(f.Description)) {
				t.Errorf("path-help %s does not explain field %s", path, name)
			}
		}
	}
}

func TestHelpSaysDisablingTheMountRevokesNothing(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{})
	for _, path := range []string{"", credsPath} {
		resp, err := e.b.HandleRequest(context.Background(), &logical.Request{Operation: logical.HelpOperation, Path: path, Storage: e.storage})
		if err != nil {
			t.Fatal(err)
		}
		help, _ := resp.Data["help"].(string)
		if !strings.Contains(help, "secrets disable") || !strings.Contains(help, "Delete every connector first") {
			t.Errorf("help of %q does not give the safe order before disabling the mount", path)
		}
	}
}
