# vault-plugin-c1 — build, test and run the C1 secrets engine.

SHELL := /usr/bin/env bash
# The plugin's semantic version, reported to Vault: a release tag (vX.Y.Z) on
# HEAD, else a dev pre-release carrying the commit. VERSION=vX.Y.Z overrides it.
GIT_COMMIT := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
GIT_TAG := $(shell git describe --tags --exact-match --match 'v[0-9]*' 2>/dev/null)
VERSION ?= $(if $(GIT_TAG),$(GIT_TAG),v0.1.0-dev+$(GIT_COMMIT))
PLUGIN_VERSION := $(VERSION)
LDFLAGS := -X github.com/vault-plugin-c1/vault-plugin-c1.Version=$(PLUGIN_VERSION)
BIN := bin
GO ?= go

.PHONY: build test unit e2e chaos dev-smoke bench dev vault release fmt vet clean

## build: the plugin, the upstream simulator and the baton connector stand-in, into bin/
build:
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/vault-plugin-c1 ./cmd/vault-plugin-c1
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/upstream-sim ./cmd/upstream-sim
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/baton-standin ./cmd/baton-standin

## test: unit tests with the race detector, then the end-to-end suite under a real Vault
test: vet unit e2e dev-smoke

unit:
	$(GO) test -race -count=1 ./...

E2E_ENV = VAULT_BIN=$(CURDIR)/.tools/bin/vault PLUGIN_BIN=$(CURDIR)/$(BIN)/vault-plugin-c1 SIM_BIN=$(CURDIR)/$(BIN)/upstream-sim \
	STANDIN_BIN=$(CURDIR)/$(BIN)/baton-standin PLUGIN_VERSION=$(PLUGIN_VERSION)

## e2e: the real-Vault suite (installs the pinned Vault binary first). Its
## tests mostly wait on Vault's once-a-minute periodic function, so they run
## side by side beyond the CPU count.
e2e: build vault
	$(E2E_ENV) $(GO) test -count=1 -v -timeout 25m -parallel 8 -tags e2e ./test/e2e/

## chaos: the crash test with 100 kills (CHAOS_KILLS, CHAOS_SEED); figures in bin/chaos-report.md
CHAOS_KILLS ?= 100
chaos: build vault
	$(E2E_ENV) CHAOS_KILLS=$(CHAOS_KILLS) CHAOS_REPORT=$(CURDIR)/$(BIN)/chaos-report.md \
	$(GO) test -count=1 -v -timeout 60m -tags e2e -run '^TestChaos$$' ./test/e2e/

## dev-smoke: run `make dev`'s script, try the commands it prints, stop it, check nothing is left
dev-smoke: build vault
	PLUGIN_VERSION=$(PLUGIN_VERSION) ./scripts/dev-smoke.sh

## bench: speed goals. The Go benchmarks, then the real-Vault figures written to docs/performance.md
bench: build vault
	$(GO) test -run '^$$' -bench . -benchtime 3x ./...
	$(GO) run ./test/bench -vault $(CURDIR)/.tools/bin/vault -plugin $(CURDIR)/$(BIN)/vault-plugin-c1 \
	  -plugin-version $(PLUGIN_VERSION) -out docs/performance.md

## dev: a Vault dev server with the plugin mounted at c1/, against the simulator
dev: build vault
	PLUGIN_VERSION=$(PLUGIN_VERSION) ./scripts/dev.sh

## release: linux and darwin binaries (amd64, arm64) with SHA256SUMS into dist/; prints the register lines
release:
	VERSION=$(PLUGIN_VERSION) GO=$(GO) ./scripts/release.sh

## vault: the pinned Vault binary at .tools/bin/vault
vault:
	./scripts/install-vault.sh

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { gofmt -l .; echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	$(GO) vet -tags e2e ./test/e2e/

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf $(BIN) dist
