#!/usr/bin/env bash
# Provides the pinned Vault server binary at .tools/bin/vault.
#
# Vault is built from the Go module proxy as an ordinary module dependency
# (tools/vault/go.mod). The built binary is kept in a per-user cache outside
# the clone, so every clone on this machine reuses it. A `vault` already on
# PATH is used when its version matches. The first build downloads about 4 GB
# of modules and takes 10 to 15 minutes on 2 cores.
set -euo pipefail

VAULT_VERSION="${VAULT_VERSION:-1.21.0}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache_dir="${VAULT_PLUGIN_C1_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vault-plugin-c1}"
cached="$cache_dir/vault-$VAULT_VERSION/vault"
dest_dir="$root/.tools/bin"
dest="$dest_dir/vault"

has_version() { # binary -> 0 when it reports VAULT_VERSION
	"$1" version 2>/dev/null | grep -q "^Vault v$VAULT_VERSION\b"
}

link() {
	mkdir -p "$dest_dir"
	ln -sf "$1" "$dest"
	echo "vault $VAULT_VERSION: $dest -> $1"
}

# One build at a time per user: a second caller (another clone, or CI's early
# start) waits here and then finds the cached binary.
mkdir -p "$cache_dir"
exec 9>"$cache_dir/.install.lock"
flock 9

if [ -x "$dest" ] && has_version "$dest"; then
	echo "vault $VAULT_VERSION: $dest is current"
	exit 0
fi
if on_path="$(command -v vault 2>/dev/null)" && [ "$on_path" != "$dest" ] && has_version "$on_path"; then
	link "$on_path"
	exit 0
fi
if [ -x "$cached" ] && has_version "$cached"; then
	link "$cached"
	exit 0
fi

echo "vault $VAULT_VERSION: building from the Go module proxy (first time only, 10-15 minutes)"
mkdir -p "$(dirname "$cached")"
tmp="$(mktemp "$(dirname "$cached")/vault.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
(
	cd "$root/tools/vault"
	# -s -w: no symbol table or DWARF, which roughly halves the link.
	GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$tmp" github.com/hashicorp/vault
)
chmod 0755 "$tmp"
mv "$tmp" "$cached"
trap - EXIT
has_version "$cached" || { echo "built vault does not report v$VAULT_VERSION" >&2; exit 1; }
link "$cached"
