package c1

import (
	"context"
	"net/http"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/prometheus/common/expfmt"
)

const pathMetricsHelpDesc = `
A read returns the engine's metrics in the Prometheus text format: credential
rotations, rotation failures by outcome and creates with an unknown outcome, by
connector; revocations, failed and held-back revocations; upstream request
attempts by endpoint and status with a latency histogram; Aitronos cache
lookups; the number of managed connectors and the seconds until the earliest
expiry of a current credential. Counters are those of this Vault node since
its plugin process started: scrape every node.

The path is guarded by ACL like any other: scrape it with a Vault token whose
policy may read it, e.g. in Prometheus:

    metrics_path: /v1/c1/metrics
    authorization:
      credentials_file: /etc/prometheus/vault-token
`

// pathMetrics is the metrics path.
func pathMetrics(b *backend) []*framework.Path {
	return []*framework.Path{{
		Pattern:      "metrics$",
		DisplayAttrs: &framework.DisplayAttributes{OperationPrefix: "c1"},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation: operation(b.metricsRead, "read", "metrics",
				"Read the engine's metrics in the Prometheus text format."),
		},
		HelpSynopsis:    "The engine's metrics in the Prometheus text format.",
		HelpDescription: strings.TrimSpace(pathMetricsHelpDesc),
	}}
}

func (b *backend) metricsRead(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	managed, earliest, err := b.managedAndEarliest(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	root, err := getRoot(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	body, err := b.metrics.exposition(managed, earliest, root.ExpiresTime, b.now())
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{
		logical.HTTPContentType: string(expfmt.NewFormat(expfmt.TypeTextPlain)),
		logical.HTTPRawBody:     body,
		logical.HTTPStatusCode:  http.StatusOK,
	}}, nil
}
