//go:build tools

// Package tools pins the Vault server as a dependency of this module so that
// `go build github.com/hashicorp/vault` resolves it from the module proxy.
package tools

import _ "github.com/hashicorp/vault"
