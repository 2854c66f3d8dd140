#!/usr/bin/env bash
# One-command demo: a Vault dev server with the C1 secrets engine mounted at
# c1/, configured against the upstream simulator, with a demo connector and an
# Aitronos connection ready to read. Run by `make dev` (after `make build vault`).
#
# Ctrl-C (or SIGTERM) stops everything the script started.
#
# Environment:
#   PLUGIN_VERSION      version the plugin was built with (set by make; required)
#   VAULT_BIN           vault binary       (default .tools/bin/vault)
#   PLUGIN_BIN          plugin binary      (default bin/vault-plugin-c1)
#   SIM_BIN             simulator binary   (default bin/upstream-sim)
#   VAULT_PORT          dev server port    (default 8200, or the next free one)
#   DEV_CREDENTIAL_TTL  lifetime of simulated C1 credentials, e.g. 10m to watch
#                       the periodic rotation (default: the simulator's, 720h)
#   DEV_REVOKE_GRACE    revoke_grace written to config (default: the engine's)
#   C1_CLIENT_ID, C1_CLIENT_SECRET
#                       configure a real C1 tenant instead of the simulator
#                       (no simulated C1 client is created); then also
#   C1_SERVER_URL       optional, derived from the client id when unset
#   C1_APP_ID, C1_CONNECTOR_ID
#                       the real connector to register (skipped when unset)
#   AITRONOS_API_KEY    a real Aitronos key (with AITRONOS_URL, default
#                       https://api.aitronos.com) instead of the simulator's
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VAULT_BIN="${VAULT_BIN:-$root/.tools/bin/vault}"
PLUGIN_BIN="${PLUGIN_BIN:-$root/bin/vault-plugin-c1}"
SIM_BIN="${SIM_BIN:-$root/bin/upstream-sim}"
PLUGIN_NAME=vault-plugin-c1
MOUNT=c1

die() { echo "dev.sh: $*" >&2; exit 1; }
trap 'echo "dev.sh: command failed at line $LINENO" >&2' ERR
say() { echo "==> $*"; }

[ -n "${PLUGIN_VERSION:-}" ] || die "PLUGIN_VERSION is not set (run \`make dev\`)"
for b in "$VAULT_BIN" "$PLUGIN_BIN" "$SIM_BIN"; do
	[ -x "$b" ] || die "$b is missing: run \`make build vault\` (or \`make dev\`)"
done
command -v curl >/dev/null || die "curl is needed"

real_c1=false
if [ -n "${C1_CLIENT_ID:-}" ] || [ -n "${C1_CLIENT_SECRET:-}" ]; then
	[ -n "${C1_CLIENT_ID:-}" ] && [ -n "${C1_CLIENT_SECRET:-}" ] || die "set both C1_CLIENT_ID and C1_CLIENT_SECRET"
	real_c1=true
fi
real_aitronos=false
[ -n "${AITRONOS_API_KEY:-}" ] && real_aitronos=true

dir="$(mktemp -d "${TMPDIR:-/tmp}/vault-plugin-c1-dev.XXXXXX")"
plugin_dir="$dir/plugins"
mkdir -p "$plugin_dir"
sim_pid="" vault_pid=""

# cleanup stops what the script started: the dev server (which stops its
# plugin process), any plugin process left from our plugin directory, and the
# simulator. It runs once, on Ctrl-C, SIGTERM or any exit.
cleaned=false
cleanup() {
	$cleaned && return
	cleaned=true
	trap - EXIT
	trap '' INT TERM
	echo
	say "stopping"
	stop_pid "$vault_pid" "vault server"
	local p exe
	for p in /proc/[0-9]*; do
		exe="$(readlink "$p/exe" 2>/dev/null || true)"
		case "$exe" in "$plugin_dir"/*)
			echo "    killing leftover plugin process ${p#/proc/}"
			kill -KILL "${p#/proc/}" 2>/dev/null || true ;;
		esac
	done
	stop_pid "$sim_pid" "upstream simulator"
	rm -rf "$dir"
	say "stopped; removed $dir"
}
stop_pid() { # pid name
	local pid="$1" i
	[ -n "$pid" ] || return 0
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for i in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "    $2 ($pid) ignored SIGTERM; killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
	echo "    $2 ($pid) stopped"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The dev server listens on port and port+1 (its cluster port).
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port="${VAULT_PORT:-8200}"
if [ -z "${VAULT_PORT:-}" ]; then
	while ! port_free "$port" || ! port_free "$((port + 1))"; do
		port=$((port + 2))
		[ "$port" -lt 8300 ] || die "no free port pair in 8200-8299 (set VAULT_PORT)"
	done
	[ "$port" = 8200 ] || say "port 8200 (or 8201) is in use: the dev server listens on $port instead"
elif ! port_free "$port"; then
	die "port $port is in use"
fi
export VAULT_ADDR="http://127.0.0.1:$port"
export VAULT_TOKEN=root
unset VAULT_NAMESPACE VAULT_AGENT_ADDR VAULT_CACERT VAULT_CAPATH VAULT_CLIENT_CERT VAULT_CLIENT_KEY

# ---- the simulator ----
sim_args=(-listen 127.0.0.1:0 -addr-file "$dir/sim.addr")
[ -n "${DEV_CREDENTIAL_TTL:-}" ] && sim_args+=(-credential-ttl "$DEV_CREDENTIAL_TTL")
say "starting the upstream simulator (log: $dir/sim.log)"
"$SIM_BIN" "${sim_args[@]}" >"$dir/sim.log" 2>&1 &
sim_pid=$!
for i in $(seq 1 100); do
	[ -s "$dir/sim.addr" ] && break
	kill -0 "$sim_pid" 2>/dev/null || { cat "$dir/sim.log" >&2; die "the simulator exited"; }
	sleep 0.1
done
[ -s "$dir/sim.addr" ] || die "the simulator did not start; log: $(cat "$dir/sim.log")"
sim_url="$(tr -d '[:space:]' <"$dir/sim.addr")"
case "$sim_url" in *://*) ;; *) sim_url="http://$sim_url" ;; esac

sim() { # method path [json] -> answer on stdout
	curl -fsS -X "$1" -H 'Content-Type: application/json' ${3:+--data "$3"} "$sim_url$2" ||
		die "simulator control API $1 $2 failed"
}
json_field() { # name < json -> value of a string field
	sed -n 's/.*"'"$1"'":"\([^"]*\)".*/\1/p'
}
rand_alnum() { # n -> n random letters and digits
	local s=""
	while [ "${#s}" -lt "$1" ]; do
		s+="$(head -c 256 /dev/urandom | LC_ALL=C tr -dc 'A-Za-z0-9')"
	done
	printf '%s' "${s:0:$1}"
}
json_escape() { # string -> JSON string body
	local s="$1"
	s="${s//\\/\\\\}"
	s="${s//\"/\\\"}"
	printf '%s' "$s"
}

# ---- the Vault dev server ----
cp "$PLUGIN_BIN" "$plugin_dir/$PLUGIN_NAME"
chmod 0755 "$plugin_dir/$PLUGIN_NAME"
say "starting a Vault dev server on $VAULT_ADDR (log: $dir/vault.log)"
"$VAULT_BIN" server -dev -dev-root-token-id=root -dev-listen-address="127.0.0.1:$port" \
	-dev-plugin-dir="$plugin_dir" -dev-no-store-token >"$dir/vault.log" 2>&1 &
vault_pid=$!
for i in $(seq 1 300); do
	curl -fsS "$VAULT_ADDR/v1/sys/health" >/dev/null 2>&1 && break
	kill -0 "$vault_pid" 2>/dev/null || { tail -30 "$dir/vault.log" >&2; die "the Vault dev server exited"; }
	sleep 0.2
done
curl -fsS "$VAULT_ADDR/v1/sys/health" >/dev/null || { tail -30 "$dir/vault.log" >&2; die "the Vault dev server did not start"; }

if command -v sha256sum >/dev/null; then
	sha="$(sha256sum "$plugin_dir/$PLUGIN_NAME" | cut -d' ' -f1)"
else
	sha="$(shasum -a 256 "$plugin_dir/$PLUGIN_NAME" | cut -d' ' -f1)"
fi
say "registering $PLUGIN_NAME $PLUGIN_VERSION (sha256 ${sha:0:12}…) and mounting it at $MOUNT/"
"$VAULT_BIN" plugin register -sha256="$sha" -version="$PLUGIN_VERSION" secret "$PLUGIN_NAME" >/dev/null
"$VAULT_BIN" secrets enable -path="$MOUNT" -plugin-version="$PLUGIN_VERSION" "$PLUGIN_NAME" >/dev/null

# ---- upstream accounts ----
if $real_c1; then
	c1_id="$C1_CLIENT_ID" c1_secret="$C1_CLIENT_SECRET" c1_url="${C1_SERVER_URL:-}"
	app="${C1_APP_ID:-}" conn="${C1_CONNECTOR_ID:-}"
	say "C1: the real tenant of $c1_id"
else
	c1_id="vault-dev-$RANDOM@127.0.0.1/pcc"
	c1_secret="$(sim POST /_sim/c1/clients "{\"client_id\":\"$c1_id\"}" | json_field client_secret)"
	[ -n "$c1_secret" ] || die "the simulator returned no client secret"
	c1_url="$sim_url"
	app=demo-app conn=demo-connector
	sim POST /_sim/c1/connectors "{\"app_id\":\"$app\",\"connector_id\":\"$conn\"}" >/dev/null
	say "C1: simulated API client $c1_id, connector $app/$conn"
fi
connection=""
if $real_aitronos; then
	ai_key="$AITRONOS_API_KEY" ai_url="${AITRONOS_URL:-https://api.aitronos.com}"
	say "Aitronos: $ai_url"
else
	ai_key="ak_$(rand_alnum 40)"
	ai_url="$sim_url"
	connection=ca_demo
	sim POST /_sim/aitronos/keys "{\"key\":\"$ai_key\"}" >/dev/null
	sim PUT /_sim/aitronos/connections "{\"connection_id\":\"$connection\",\"credential_id\":\"cred_demo\",\"status\":\"ACTIVE\",\"app_name\":\"github\",\"auth_scheme\":\"OAUTH2\",\"account_email\":\"demo@example.com\",\"access_token\":\"gho_demo$(rand_alnum 32)\",\"token_type\":\"Bearer\",\"scope\":\"repo\",\"base_url\":\"https://api.github.com\",\"expires_in\":3600}" >/dev/null
	say "Aitronos: simulated key and connection $connection (token expires in 1h)"
fi

# ---- config (secrets on stdin, never on a command line) ----
config="{\"c1_client_id\":\"$(json_escape "$c1_id")\",\"c1_client_secret\":\"$(json_escape "$c1_secret")\""
[ -n "$c1_url" ] && config+=",\"c1_server_url\":\"$(json_escape "$c1_url")\""
config+=",\"aitronos_url\":\"$(json_escape "$ai_url")\",\"aitronos_api_key\":\"$(json_escape "$ai_key")\""
[ -n "${DEV_REVOKE_GRACE:-}" ] && config+=",\"revoke_grace\":\"$(json_escape "$DEV_REVOKE_GRACE")\""
config+="}"
printf '%s' "$config" | "$VAULT_BIN" write "$MOUNT/config" - >/dev/null
unset c1_secret ai_key config

if [ -n "$app" ] && [ -n "$conn" ]; then
	say "registering connector $app/$conn"
	"$VAULT_BIN" write -force "$MOUNT/creds/$app/$conn" >/dev/null
fi

cat <<EOF

The C1 secrets engine $PLUGIN_VERSION is mounted at $MOUNT/ on a Vault dev server.
In another shell:

EOF
# The commands below need a vault CLI: when the shell would not find this
# one, the first line puts its directory first on PATH.
vault_dir="$(cd "$(dirname "$VAULT_BIN")" && pwd)"
on_path="$(command -v vault 2>/dev/null || true)"
if [ -z "$on_path" ]; then
	echo "    export PATH=\"$vault_dir:\$PATH\""
elif [ "$(readlink -f "$on_path")" != "$(readlink -f "$VAULT_BIN")" ]; then
	echo "    export PATH=\"$vault_dir:\$PATH\"    # the vault CLI this demo runs (yours: $on_path)"
fi
cat <<EOF
    export VAULT_ADDR=$VAULT_ADDR
    export VAULT_TOKEN=root

    vault read $MOUNT/config
    vault list $MOUNT/creds
EOF
if [ -n "$app" ] && [ -n "$conn" ]; then
	cat <<EOF
    vault read $MOUNT/creds/$app/$conn
    vault write -f $MOUNT/rotate/$app/$conn
    vault read $MOUNT/rotate/$app/$conn
    vault write $MOUNT/rotate/$app/$conn revoke_previous=true
EOF
else
	cat <<EOF
    vault write -f $MOUNT/creds/<app_id>/<connector_id>     # register a connector
    vault read $MOUNT/creds/<app_id>/<connector_id>
EOF
fi
if [ -n "$connection" ]; then
	echo "    vault read $MOUNT/oauth/by-connection/$connection"
	echo "    vault read $MOUNT/oauth/cred_demo"
else
	echo "    vault read $MOUNT/oauth/by-connection/<connection_id>"
fi
echo "    curl -fsS -H \"X-Vault-Token: \$VAULT_TOKEN\" \$VAULT_ADDR/v1/$MOUNT/metrics"
echo
if ! $real_c1; then
	echo "Simulator control API: $sim_url/_sim/ (e.g. curl -s '$sim_url/_sim/c1/credentials?app_id=$app')"
fi
cat <<EOF
Logs: $dir/vault.log, $dir/sim.log
Press Ctrl-C to stop.
EOF

# Wait until Vault or the simulator ends, or a signal arrives (the trap
# runs once the current sleep returns, within a second).
while kill -0 "$vault_pid" 2>/dev/null && kill -0 "$sim_pid" 2>/dev/null; do
	sleep 1
done
echo "dev.sh: the Vault dev server or the simulator stopped on its own" >&2
exit 1
