#!/usr/bin/env bash
# Smoke test of scripts/dev.sh, as a newcomer meets it: with no vault CLI on
# PATH and port 8200 taken. It starts dev.sh in the background, runs the
# export lines and vault commands it prints in a shell whose PATH has no other
# vault, stops it the way Ctrl-C does (SIGINT to its process group) and checks
# that nothing it started is left running.
#
# Needs `make build vault` first. PLUGIN_VERSION defaults to the Makefile's.
set -euo pipefail
set -m # the demo gets its own process group, as in a terminal

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VAULT_BIN="${VAULT_BIN:-$root/.tools/bin/vault}"
if [ -z "${PLUGIN_VERSION:-}" ]; then
	PLUGIN_VERSION="$(make -s --no-print-directory -C "$root" -f Makefile \
		-f <(printf 'print-plugin-version:\n\t@echo $(PLUGIN_VERSION)\n') print-plugin-version)"
fi
export PLUGIN_VERSION

SIM_BIN="${SIM_BIN:-$root/bin/upstream-sim}"

# PATH without any directory holding a vault executable.
bare_path=""
IFS=: read -r -a path_dirs <<<"$PATH"
for d in "${path_dirs[@]}"; do
	[ -n "$d" ] && [ ! -x "$d/vault" ] && bare_path+="${bare_path:+:}$d"
done

out="$(mktemp "${TMPDIR:-/tmp}/dev-smoke.XXXXXX")"
pid="" blocker=""
fail() {
	echo "dev-smoke: FAIL: $*" >&2
	echo "---- dev.sh output ----" >&2
	cat "$out" >&2
	[ -n "$pid" ] && kill -TERM -- "-$pid" 2>/dev/null || true
	exit 1
}
stop_blocker() {
	[ -n "$blocker" ] || return 0
	kill -TERM "$blocker" 2>/dev/null || true
	wait "$blocker" 2>/dev/null || true
	blocker=""
}
trap 'stop_blocker; rm -f "$out"' EXIT

# Take port 8200 when it is free, so that dev.sh must move to another port.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if port_free 8200; then
	"$SIM_BIN" -listen 127.0.0.1:8200 2>/dev/null &
	blocker=$!
	for _ in $(seq 1 50); do port_free 8200 || break; sleep 0.1; done
	port_free 8200 && fail "could not occupy port 8200 for the test"
fi

PATH="$bare_path" "$root/scripts/dev.sh" >"$out" 2>&1 &
pid=$!
echo "dev-smoke: dev.sh started (pid $pid)"
for _ in $(seq 1 600); do
	grep -q 'Press Ctrl-C to stop' "$out" && break
	kill -0 "$pid" 2>/dev/null || fail "dev.sh exited before it was ready"
	sleep 0.2
done
grep -q 'Press Ctrl-C to stop' "$out" || fail "dev.sh was not ready within 120s"
dev_dir="$(sed -n 's/^Logs: \(.*\)\/vault.log, .*/\1/p' "$out")"

grep -q '^==> port 8200 (or 8201) is in use: the dev server listens on [0-9]* instead$' "$out" ||
	fail "port 8200 was taken and dev.sh did not say which port it took instead"

# The exports dev.sh printed, indented by four spaces: with no vault on PATH,
# the first puts the pinned CLI on PATH.
mapfile -t exports < <(sed -n 's/^    \(export [A-Z_]*=.*\)$/\1/p' "$out")
case "${exports[0]:-}" in
export\ PATH=*) ;;
*) fail "with no vault on PATH, dev.sh's first export is not PATH: ${exports[0]:-none}" ;;
esac
unset VAULT_ADDR VAULT_TOKEN
PATH="$bare_path"
for x in "${exports[@]}"; do eval "$x"; done
[ -n "${VAULT_ADDR:-}" ] && [ -n "${VAULT_TOKEN:-}" ] || fail "dev.sh printed no VAULT_ADDR/VAULT_TOKEN exports"
case "$VAULT_ADDR" in *:8200) [ -z "$blocker" ] || fail "dev.sh took the occupied port 8200" ;; esac
found="$(command -v vault || true)"
[ "$(readlink -f "$found")" = "$(readlink -f "$VAULT_BIN")" ] ||
	fail "after the printed exports, vault is ${found:-not found}, not $VAULT_BIN"
echo "dev-smoke: the printed exports put $found on PATH; Vault is at $VAULT_ADDR"

# The commands, run as printed by a shell with that PATH.
mapfile -t cmds < <(sed -n 's/^    \(\(vault\|curl\) [^<#]*\)$/\1/p' "$out" | sed 's/ *$//')
[ "${#cmds[@]}" -ge 5 ] || fail "dev.sh printed only ${#cmds[@]} commands"
n=0
for c in "${cmds[@]}"; do
	# Print what each command returns, with secret values masked.
	if ! res="$(bash -c "set -o pipefail; $c" 2>&1)"; then
		echo "$res" >&2
		fail "\`$c\` failed"
	fi
	echo "dev-smoke: ok: $c"
	printf '%s\n' "$res" | sed -E 's/^((client_secret|access_token|refresh_token)[[:space:]]+).*/\1<masked>/' | sed 's/^/      /'
	n=$((n + 1))
done

# Ctrl-C: SIGINT to the demo's process group.
members() { # pgid -> pids of live processes in that group
	local p st
	for p in /proc/[0-9]*; do
		st="$(cat "$p/stat" 2>/dev/null)" || continue
		st="${st##*) }"
		read -r -a f <<<"$st"
		if [ "${f[2]}" = "$1" ] && [ "${f[0]}" != Z ]; then echo "${p#/proc/}"; fi
	done
	return 0
}
echo "dev-smoke: group $pid before Ctrl-C: $(members "$pid" | tr '\n' ' ')"
kill -INT -- "-$pid"
for _ in $(seq 1 300); do
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$pid" 2>/dev/null && fail "dev.sh did not stop within 30s of Ctrl-C"
wait "$pid" 2>/dev/null || true
sleep 0.5
left="$(members "$pid")"
[ -z "$left" ] || fail "processes left running after Ctrl-C: $left"
if curl -s -o /dev/null "$VAULT_ADDR/v1/sys/health"; then
	fail "something still answers at $VAULT_ADDR"
fi
[ -z "$dev_dir" ] || [ ! -e "$dev_dir" ] || fail "dev.sh left $dev_dir behind"
echo "dev-smoke: PASS: $n commands ran; after Ctrl-C nothing is left running and $dev_dir is removed"
