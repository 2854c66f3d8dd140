// Package e2e is the end-to-end suite of the C1 secrets engine: it runs the
// plugin in a real Vault server (file storage, initialised and unsealed like a
// production node) against the upstream simulator, and drives it with the
// vault CLI, the Vault Go API client and Vault Agent.
//
// The tests carry the build tag e2e and need the binaries named by VAULT_BIN,
// PLUGIN_BIN, SIM_BIN and STANDIN_BIN (the baton connector stand-in), and the
// plugin's version in PLUGIN_VERSION; `make e2e` builds and sets all of them:
//
//	make e2e
//
// or by hand:
//
//	VAULT_BIN=.tools/bin/vault PLUGIN_BIN=bin/vault-plugin-c1 SIM_BIN=bin/upstream-sim \
//	STANDIN_BIN=bin/baton-standin PLUGIN_VERSION=v0.1.0 go test -count=1 -v -tags e2e ./test/e2e/
//
// Without them the suite fails: it never skips silently.
package e2e
