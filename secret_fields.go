package c1

import (
	"context"
	"sort"
	"strings"

	"github.com/hashicorp/vault/sdk/logical"
)

// secretFieldNames are the request fields that carry secrets.
var secretFieldNames = []string{"c1_client_secret", "c1_access_token", "aitronos_api_key"}

// secretFieldTypeError refuses a secret field whose value is not a string.
// The SDK's own conversion error would quote the value, so this check comes
// first and names only the field.
func secretFieldTypeError(req *logical.Request) error {
	var bad []string
	for _, name := range secretFieldNames {
		if v, ok := req.Data[name]; ok {
			if _, isString := v.(string); !isString {
				bad = append(bad, name)
			}
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	return badRequest("field(s) %s must be a string", strings.Join(bad, ", "))
}

// HandleRequest refuses secret fields of the wrong type before the SDK sees
// them.
func (b *backend) HandleRequest(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	if err := secretFieldTypeError(req); err != nil {
		return nil, err
	}
	return b.Backend.HandleRequest(ctx, req)
}

// HandleExistenceCheck leaves a request with a secret field of the wrong type
// to HandleRequest, which refuses it without quoting the value.
func (b *backend) HandleExistenceCheck(ctx context.Context, req *logical.Request) (checkFound, exists bool, err error) {
	if secretFieldTypeError(req) != nil {
		return false, false, nil
	}
	// Its error goes back unwrapped: Vault answers an errutil.UserError, by
	// its type, with a 400.
	return b.Backend.HandleExistenceCheck(ctx, req)
}
