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

func TestHelpAndOpenAPIDocumentEveryPath(t *testing.T) {
	e := newTestEnv(t, upstreamsim.Options{})
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
	paths := doc.Paths
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
