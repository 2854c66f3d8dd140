// Command vault-plugin-c1 serves the ConductorOne connector-credential
// secrets engine as a Vault plugin.
package main

import (
	"os"
	"runtime/debug"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/sdk/plugin"

	c1 "github.com/vault-plugin-c1/vault-plugin-c1"
)

// defaultMemoryLimit is the plugin process's soft memory limit when
// GOMEMLIMIT does not set one (e.g. through `vault plugin register -env`).
// Near it the Go runtime collects garbage sooner instead of letting the heap
// grow to twice its live data; it never refuses memory that live data needs,
// and the runtime bounds the CPU its collections may take.
const defaultMemoryLimit = 48 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}

	apiClientMeta := &api.PluginAPIClientMeta{}
	flags := apiClientMeta.FlagSet()
	if err := flags.Parse(os.Args[1:]); err != nil {
		fatal(err)
	}

	tlsConfig := apiClientMeta.GetTLSConfig()
	tlsProviderFunc := api.VaultPluginTLSProvider(tlsConfig)

	if err := plugin.ServeMultiplex(&plugin.ServeOpts{
		BackendFactoryFunc: c1.Factory,
		TLSProviderFunc:    tlsProviderFunc,
	}); err != nil {
		fatal(err)
	}
}

func fatal(err error) {
	hclog.New(&hclog.LoggerOptions{}).Error("plugin shutting down", "error", err)
	os.Exit(1)
}
