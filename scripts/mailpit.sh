#!/usr/bin/env bash
# scripts/mailpit.sh — install the real SMTP server the workflow e-mail tests use.
#
#   scripts/mailpit.sh install   build github.com/axllent/mailpit through the Go module proxy
#                                into .tools/mailpit/<version>/ (cached; a no-op when present)
#   scripts/mailpit.sh path      print the path of the installed binary
#
# The e2e tests start their own mailpit (SMTP and HTTP API on free loopback
# ports, messages in memory) and stop it themselves; SILLAGE_TEST_MAILPIT
# (set by `make test-integration`) tells them where the binary is.
# Environment: MAILPIT_VERSION (default below), MAILPIT_TOOLS_DIR.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MAILPIT_VERSION=${MAILPIT_VERSION:-v1.33.1}
MAILPIT_TOOLS_DIR=${MAILPIT_TOOLS_DIR:-$ROOT/.tools/mailpit}
BIN_DIR=$MAILPIT_TOOLS_DIR/$MAILPIT_VERSION
BIN=$BIN_DIR/mailpit

log() { printf 'mailpit.sh: %s\n' "$*" >&2; }

install() {
	if [[ -x $BIN ]]; then
		return 0
	fi
	command -v go >/dev/null || { log "error: go not found"; exit 1; }
	log "building github.com/axllent/mailpit@$MAILPIT_VERSION (Go module proxy) into $BIN_DIR"
	mkdir -p "$BIN_DIR"
	local tmp
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' RETURN
	# Outside any module: `go install pkg@version` builds with mailpit's own go.mod.
	(cd "$tmp" && GOBIN="$tmp" go install "github.com/axllent/mailpit@$MAILPIT_VERSION")
	mv "$tmp/mailpit" "$BIN"
	log "installed $BIN"
}

case ${1:-} in
install) install ;;
path) echo "$BIN" ;;
*)
	echo "usage: $0 install|path" >&2
	exit 2
	;;
esac
