#!/usr/bin/env bash
# Builds the release binaries of the plugin: linux and darwin, amd64 and
# arm64, static (CGO_ENABLED=0), with the version stamped in. Writes them and
# SHA256SUMS to dist/ and prints the `vault plugin register` line of each.
# Run by `make release`.
#
# Environment:
#   VERSION   the version to stamp, vX.Y.Z or vX.Y.Z-pre (set by make; required)
#   DIST      output directory (default dist)
#   GO        go command (default go)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NAME=vault-plugin-c1
DIST="${DIST:-$root/dist}"
GO="${GO:-go}"
PLATFORMS=(linux/amd64 linux/arm64 darwin/amd64 darwin/arm64)

die() { echo "release.sh: $*" >&2; exit 1; }
[ -n "${VERSION:-}" ] || die "VERSION is not set (run \`make release\`)"
# Vault reads the version as semantic: v, three numbers, optional pre-release
# and build metadata.
[[ "$VERSION" =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$ ]] ||
	die "VERSION=$VERSION is not a semantic version (vX.Y.Z)"

sha256() { # file -> hex digest
	if command -v sha256sum >/dev/null; then
		sha256sum "$1" | cut -d' ' -f1
	else
		shasum -a 256 "$1" | cut -d' ' -f1
	fi
}

rm -rf "$DIST"
mkdir -p "$DIST"
files=()
for platform in "${PLATFORMS[@]}"; do
	os="${platform%/*}" arch="${platform#*/}"
	file="${NAME}_${VERSION}_${os}_${arch}"
	echo "==> $file"
	(
		cd "$root"
		CGO_ENABLED=0 GOOS="$os" GOARCH="$arch" "$GO" build -trimpath \
			-ldflags "-s -w -X github.com/vault-plugin-c1/vault-plugin-c1.Version=$VERSION" \
			-o "$DIST/$file" ./cmd/vault-plugin-c1
	)
	files+=("$file")
done

(cd "$DIST" && for f in "${files[@]}"; do printf '%s  %s\n' "$(sha256 "$f")" "$f"; done) >"$DIST/SHA256SUMS"

cat <<EOF

Built $NAME $VERSION into $DIST (checksums in SHA256SUMS). On the Vault
server, copy the binary of its platform into the plugin directory, then:

EOF
while read -r sum file; do
	echo "  # $file"
	echo "  vault plugin register -sha256=$sum -version=$VERSION -command=$file secret $NAME"
done <"$DIST/SHA256SUMS"
cat <<EOF

then mount it (or move a mount to it with \`vault secrets tune -plugin-version=$VERSION c1/\`
and \`vault plugin reload -plugin=$NAME\`):

  vault secrets enable -path=c1 -plugin-version=$VERSION $NAME
EOF
