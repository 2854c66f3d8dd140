package c1

import (
	"context"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// Secret types of the leases the engine issues.
const (
	secretTypeC1Credential  = "c1_connector_credential"
	secretTypeAitronosToken = "aitronos_oauth_token"
)

// leaseResponse wraps data in a non-renewable lease of ttl.
func leaseResponse(secret *framework.Secret, data, internal map[string]any, ttl time.Duration) *logical.Response {
	resp := secret.Response(data, internal)
	resp.Secret.TTL = ttl
	resp.Secret.MaxTTL = ttl
	resp.Secret.Renewable = false
	return resp
}

// secretC1Credential is the lease type of creds reads. Revoking such a lease
// does not revoke the upstream credential: every consumer of the connector
// shares it, and the engine revokes it itself once it is replaced.
func secretC1Credential(b *backend) *framework.Secret {
	return &framework.Secret{
		Type: secretTypeC1Credential,
		Fields: map[string]*framework.FieldSchema{
			"client_id":     {Type: framework.TypeString, Description: "The connector credential's client id."},
			"client_secret": {Type: framework.TypeString, Description: "The connector credential's client secret.", DisplayAttrs: &framework.DisplayAttributes{Sensitive: true}},
		},
		Revoke: noUpstreamRevoke,
	}
}

// secretAitronosToken is the lease type of oauth reads. The token belongs to
// the upstream connection: revoking the lease leaves it alone.
func secretAitronosToken(b *backend) *framework.Secret {
	return &framework.Secret{
		Type: secretTypeAitronosToken,
		Fields: map[string]*framework.FieldSchema{
			"access_token": {Type: framework.TypeString, Description: "The OAuth access token.", DisplayAttrs: &framework.DisplayAttributes{Sensitive: true}},
		},
		Revoke: noUpstreamRevoke,
	}
}

// noUpstreamRevoke ends a lease without touching the shared upstream secret.
func noUpstreamRevoke(context.Context, *logical.Request, *framework.FieldData) (*logical.Response, error) {
	return nil, nil
}
