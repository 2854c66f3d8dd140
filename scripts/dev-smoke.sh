#!/usr/bin/env bash
# Smoke test of scripts/dev.sh: starts it in the background, runs the vault
# commands it prints, stops it the way Ctrl-C does (SIGINT to its process
# group) and checks that nothing it started is left running.
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

out="$(mktemp "${TMPDIR:-/tmp}/dev-smoke.XXXXXX")"
pid=""
fail() {
	echo "dev-smoke: FAIL: $*" >&2
	echo "---- dev.sh output ----" >&2
	cat "$out" >&2
	[ -n "$pid" ] && kill -TERM -- "-$pid" 2>/dev/null || true
	exit 1
}
trap 'rm -f "$out"' EXIT

"$root/scripts/dev.sh" >"$out" 2>&1 &
pid=$!
echo "dev-smoke: dev.sh started (pid $pid)"
for _ in $(seq 1 600); do
	grep -q 'Press Ctrl-C to stop' "$out" && break
	kill -0 "$pid" 2>/dev/null || fail "dev.sh exited before it was ready"
	sleep 0.2
done
grep -q 'Press Ctrl-C to stop' "$out" || fail "dev.sh was not ready within 120s"
dev_dir="$(sed -n 's/^Logs: \(.*\)\/vault.log, .*/\1/p' "$out")"

# The exports and commands dev.sh printed, indented by four spaces.
eval "$(sed -n 's/^    \(export VAULT_[A-Z]*=[^ ]*\)$/\1/p' "$out")"
[ -n "${VAULT_ADDR:-}" ] && [ -n "${VAULT_TOKEN:-}" ] || fail "dev.sh printed no VAULT_ADDR/VAULT_TOKEN exports"
mapfile -t cmds < <(sed -n 's/^    \(vault [^<#]*\)$/\1/p' "$out" | sed 's/ *$//')
[ "${#cmds[@]}" -ge 5 ] || fail "dev.sh printed only ${#cmds[@]} vault commands"
n=0
for c in "${cmds[@]}"; do
	read -r -a argv <<<"$c"
	argv[0]="$VAULT_BIN"
	# Print what each command returns, with secret values masked.
	if ! res="$("${argv[@]}" 2>&1)"; then
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
