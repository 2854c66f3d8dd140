// Command floorplugin is the smallest useful leased secrets engine: a read of
// creds/<name> makes one storage read and answers one non-renewable lease. It
// is the floor the benchmark compares the C1 engine's reads with: no external
// plugin can serve a leased read for less.
package main

import (
	"context"
	"os"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/hashicorp/vault/sdk/plugin"
)

const secretType = "floor_secret"

func main() {
	if err := plugin.ServeMultiplex(&plugin.ServeOpts{BackendFactoryFunc: factory}); err != nil {
		os.Exit(1)
	}
}

func factory(ctx context.Context, conf *logical.BackendConfig) (logical.Backend, error) {
	b := &framework.Backend{
		BackendType: logical.TypeLogical,
		Paths: []*framework.Path{{
			Pattern: "creds/" + framework.GenericNameRegex("name"),
			Fields:  map[string]*framework.FieldSchema{"name": {Type: framework.TypeString}, "value": {Type: framework.TypeString}},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.UpdateOperation: &framework.PathOperation{Callback: write},
				logical.ReadOperation:   &framework.PathOperation{Callback: read},
			},
		}},
		Secrets: []*framework.Secret{{
			Type: secretType,
			Revoke: func(context.Context, *logical.Request, *framework.FieldData) (*logical.Response, error) {
				return nil, nil
			},
		}},
	}
	return b, b.Setup(ctx, conf)
}

func write(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	return nil, req.Storage.Put(ctx, &logical.StorageEntry{Key: "creds/" + d.Get("name").(string), Value: []byte(d.Get("value").(string))})
}

func read(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	e, err := req.Storage.Get(ctx, "creds/"+d.Get("name").(string))
	if err != nil || e == nil {
		return nil, err
	}
	resp := &logical.Response{
		Secret: &logical.Secret{LeaseOptions: logical.LeaseOptions{TTL: time.Hour, Renewable: false}, InternalData: map[string]any{"secret_type": secretType}},
		Data:   map[string]any{"value": string(e.Value)},
	}
	return resp, nil
}
