#!/bin/sh
# adopt-all.sh: adopt into the C1 secrets engine the existing credential of
# every connector listed in a file, with the vault CLI.
#
#   adopt-all.sh [-m mount] [-r] LIST
#
# LIST holds one connector a line, five fields separated by blanks:
#
#   app_id connector_id credential_id client_id secret_file
#
# secret_file is a file that holds the credential's client secret (and
# nothing else; a final newline is fine). A relative path is taken from the
# directory of LIST. Blank lines and lines starting with # are skipped.
#
# Each connector is adopted with
#
#   vault write <mount>/creds/<app_id>/<connector_id> credential_id=... client_id=... client_secret=@<secret_file>
#
# so the secret is read by the vault CLI from its file and never appears on a
# command line. The engine checks the credential upstream before storing it;
# nothing is created upstream. One line is printed per connector ("adopted"
# or "FAILED" with the engine's reason); no secret is ever printed.
#
#   -m mount  where the engine is mounted (default: c1)
#   -r        replace the current credential of a connector the engine
#             manages already (replace_current=true; the replaced one then
#             retires like a rotated one). Without it such a connector fails
#             with a 409.
#
# VAULT_ADDR and VAULT_TOKEN (or the CLI's other settings) say which Vault
# and which token; the token needs "create" and "update" on
# <mount>/creds/* (see policy.hcl).
#
# Exit status: 0 when every connector was adopted, 1 when any failed, 2 on a
# usage error.

set -u

usage() {
	echo "usage: adopt-all.sh [-m mount] [-r] LIST" >&2
	echo "  LIST: one connector a line: app_id connector_id credential_id client_id secret_file" >&2
}

mount=c1
replace=
while getopts m:rh opt; do
	case $opt in
	m) mount=${OPTARG%/} ;;
	r) replace=replace_current=true ;;
	h)
		usage
		exit 0
		;;
	*)
		usage
		exit 2
		;;
	esac
done
shift $((OPTIND - 1))
if [ $# -ne 1 ]; then
	usage
	exit 2
fi
list=$1
if [ ! -f "$list" ] || [ ! -r "$list" ]; then
	echo "adopt-all: cannot read the list $list" >&2
	exit 2
fi
if ! command -v vault >/dev/null 2>&1; then
	echo "adopt-all: no vault CLI on PATH" >&2
	exit 2
fi
listdir=$(dirname -- "$list")

errfile=$(mktemp) || exit 2
trap 'rm -f "$errfile"' EXIT
trap 'exit 1' HUP INT TERM

adopted=0
failed=0
lineno=0
while IFS= read -r line || [ -n "$line" ]; do
	lineno=$((lineno + 1))
	# Split on blanks, without expanding * or ? in the fields.
	set -f
	# shellcheck disable=SC2086
	set -- $line
	set +f
	if [ $# -eq 0 ]; then
		continue
	fi
	case $1 in '#'*) continue ;; esac
	if [ $# -ne 5 ]; then
		echo "FAILED  line $lineno: want 5 fields (app_id connector_id credential_id client_id secret_file), got $#"
		failed=$((failed + 1))
		continue
	fi
	app=$1 conn=$2 cred=$3 client=$4 file=$5
	case $file in
	/*) ;;
	*) file=$listdir/$file ;;
	esac
	name="$app/$conn"
	if [ ! -f "$file" ] || [ ! -r "$file" ] || [ ! -s "$file" ]; then
		echo "FAILED  $name (line $lineno): the secret file $file is missing, unreadable or empty"
		failed=$((failed + 1))
		continue
	fi
	# Kept in this shell only (never passed to a command), to make sure no
	# output below ever shows it.
	secret=$(cat -- "$file")
	if [ -z "$secret" ]; then
		echo "FAILED  $name (line $lineno): the secret file $file holds no secret"
		failed=$((failed + 1))
		continue
	fi

	# stdin is not the list: the CLI must not read from it.
	# shellcheck disable=SC2086
	if at=$(vault write -field=adopted_at "$mount/creds/$app/$conn" \
		credential_id="$cred" client_id="$client" client_secret=@"$file" $replace \
		</dev/null 2>"$errfile"); then
		case $at in *"$secret"*) at="(withheld)" ;; esac
		echo "adopted $name: credential $cred, adopted_at $at"
		adopted=$((adopted + 1))
	else
		reason=$(cat -- "$errfile")
		case $reason in *"$secret"*) reason="(the error is withheld: it contained the client secret)" ;; esac
		echo "FAILED  $name (line $lineno): credential $cred:"
		printf '%s\n' "$reason" | sed 's/^/        /'
		failed=$((failed + 1))
	fi
	secret=
done <"$list"

echo "adopt-all: $adopted adopted, $failed failed"
[ "$failed" -eq 0 ]
