#!/usr/bin/env bash
# scripts/s3.sh — install and run a real S3-compatible server (versitygw, posix
# backend) for Sillage's tests.
#
#   scripts/s3.sh install     build versitygw with `go install` through the Go module
#                             proxy (cached in .tools/s3/; .tools/s3/bin/versitygw)
#   scripts/s3.sh start       start it on a fresh data directory, create the test
#                             bucket, wait until it answers, print the endpoint
#   scripts/s3.sh stop        stop the server started by `start`, delete its data
#   scripts/s3.sh down        stop the server but keep its data (outage tests)
#   scripts/s3.sh up          start it again on its data after `down`
#   scripts/s3.sh status      say whether it runs (exit 0 if it does, 3 otherwise)
#   scripts/s3.sh endpoint    print the endpoint (http://127.0.0.1:PORT)
#   scripts/s3.sh env         print the variables a client needs (export lines)
#   scripts/s3.sh logs        print the tail of the server's log
#
# Needs only Go (for `install`) and curl. Environment:
#   S3_VERSION        github.com/versity/versitygw version (default below)
#   S3_PORT           listen port on 127.0.0.1 (default 17070)
#   S3_BUCKET         bucket created by `start` (default sillage-test)
#   S3_ACCESS_KEY, S3_SECRET_KEY   root credentials (defaults: the tests' ones,
#                     internal/tests3)
#   S3_TOOLS_DIR      where the binary and run state live (default <repo>/.tools/s3)
#   S3_START_TIMEOUT  seconds to wait for the server (default 30)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
S3_VERSION=${S3_VERSION:-v1.8.0}
S3_TOOLS_DIR=${S3_TOOLS_DIR:-$ROOT/.tools/s3}
S3_PORT=${S3_PORT:-17070}
S3_BUCKET=${S3_BUCKET:-sillage-test}
S3_ACCESS_KEY=${S3_ACCESS_KEY:-sillage-test}
S3_SECRET_KEY=${S3_SECRET_KEY:-sillage-test-secret}
S3_REGION=us-east-1
S3_START_TIMEOUT=${S3_START_TIMEOUT:-30}
S3_HOST=127.0.0.1
EMPTY_SHA256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855

VERSION_DIR=$S3_TOOLS_DIR/$S3_VERSION
BIN=$VERSION_DIR/versitygw
LINK=$S3_TOOLS_DIR/bin/versitygw
RUN_DIR=$S3_TOOLS_DIR/run

log() { printf 's3.sh: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

tail_log() {
	[[ -f $1 ]] || return 0
	log "last lines of $1:"
	tail -n 30 "$1" | sed 's/^/    /' >&2
}

cmd_install() {
	if [[ -x $BIN && -f $VERSION_DIR/.complete ]]; then
		ln -sfn "$BIN" "$LINK"
		log "versitygw $S3_VERSION already installed in $VERSION_DIR"
		return 0
	fi
	command -v go >/dev/null || die "go not found: installing versitygw needs Go"
	mkdir -p "$VERSION_DIR" "$S3_TOOLS_DIR/bin"
	(
		flock 9
		[[ -f $VERSION_DIR/.complete ]] || install_locked
	) 9>"$VERSION_DIR/.lock" || exit 1
	ln -sfn "$BIN" "$LINK"
}

install_locked() {
	log "building github.com/versity/versitygw $S3_VERSION with go install (a few minutes on 2 cores)"
	local install_log=$VERSION_DIR/install.log
	# GOFLAGS=-p=1: the machine's cores are shared; GOWORK=off: not our module.
	if ! (cd "$VERSION_DIR" && GOWORK=off GOFLAGS=-p=1 GOBIN="$VERSION_DIR" \
		go install "github.com/versity/versitygw/cmd/versitygw@$S3_VERSION") >"$install_log" 2>&1; then
		tail_log "$install_log"
		die "go install github.com/versity/versitygw/cmd/versitygw@$S3_VERSION failed (log: $install_log)"
	fi
	[[ -x $BIN ]] || die "go install produced no $BIN"
	touch "$VERSION_DIR/.complete"
	log "installed versitygw $S3_VERSION in $VERSION_DIR"
}

pid() { [[ -f $RUN_DIR/pid ]] && cat "$RUN_DIR/pid"; }

# alive: the recorded pid runs and is still our server (never signal a stranger).
alive() {
	local p
	p=$(pid) || return 1
	[[ -n $p ]] && kill -0 "$p" 2>/dev/null &&
		tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF "posix $(<"$RUN_DIR/data-dir")"
}

endpoint() { echo "http://$S3_HOST:$S3_PORT"; }

load_state() {
	[[ -f $RUN_DIR/port ]] && S3_PORT=$(<"$RUN_DIR/port")
	return 0
}

# answers: the server speaks HTTP (an anonymous GET / gets 403 from S3).
answers() {
	local code
	code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$(endpoint)/") || return 1
	[[ $code == 403 || $code == 200 ]]
}

launch() {
	local data=$1
	(exec "$BIN" --access "$S3_ACCESS_KEY" --secret "$S3_SECRET_KEY" --region "$S3_REGION" \
		--port "$S3_HOST:$S3_PORT" --quiet posix "$data") >>"$RUN_DIR/server.log" 2>&1 </dev/null &
	echo $! >"$RUN_DIR/pid"
	local deadline=$((SECONDS + S3_START_TIMEOUT))
	until answers; do
		if ! kill -0 "$(pid)" 2>/dev/null; then
			tail_log "$RUN_DIR/server.log"
			die "versitygw exited during start (log: $RUN_DIR/server.log)"
		fi
		if ((SECONDS >= deadline)); then
			tail_log "$RUN_DIR/server.log"
			die "versitygw did not answer on $(endpoint) within ${S3_START_TIMEOUT}s"
		fi
		sleep 0.2
	done
}

cmd_start() {
	if [[ -f $RUN_DIR/data-dir ]]; then
		load_state
		if alive; then
			log "already running"
			endpoint
			return 0
		fi
		log "cleaning up a previous server that is not running"
		cmd_stop >/dev/null 2>&1 || true
	fi
	[[ -x $LINK ]] || cmd_install
	command -v curl >/dev/null || die "curl not found (Debian: apt-get install curl)"
	! answers || die "port $S3_HOST:$S3_PORT is already in use (set S3_PORT)"
	mkdir -p "$RUN_DIR"
	local data
	data=$(mktemp -d "${TMPDIR:-/tmp}/sillage-s3.XXXXXX")
	echo "$data" >"$RUN_DIR/data-dir"
	echo "$S3_PORT" >"$RUN_DIR/port"
	: >"$RUN_DIR/server.log"
	BIN=$(readlink -f "$LINK")
	launch "$data"
	# The test bucket (posix backend: a directory is a bucket; created through
	# the API so that its owner metadata is right).
	local code
	code=$(curl -s -o "$RUN_DIR/mkbucket.out" -w '%{http_code}' -X PUT \
		--aws-sigv4 "aws:amz:$S3_REGION:s3" --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" \
		-H "x-amz-content-sha256: $EMPTY_SHA256" \
		"$(endpoint)/$S3_BUCKET") || code=000
	if [[ $code != 200 ]]; then
		cat "$RUN_DIR/mkbucket.out" >&2 2>/dev/null || true
		cmd_stop >/dev/null 2>&1 || true
		die "creating bucket $S3_BUCKET answered HTTP $code"
	fi
	log "versitygw ready on $(endpoint), bucket $S3_BUCKET, data in $data"
	endpoint
}

kill_server() {
	local p
	alive || return 0
	p=$(pid)
	kill -TERM "$p" 2>/dev/null || true
	local deadline=$((SECONDS + 10))
	while alive && ((SECONDS < deadline)); do sleep 0.1; done
	if alive; then
		log "still running after 10s, killing it"
		kill -KILL "$p" 2>/dev/null || true
		sleep 0.2
	fi
}

cmd_stop() {
	if [[ ! -f $RUN_DIR/data-dir ]]; then
		log "not running"
		return 0
	fi
	load_state
	kill_server
	local data
	data=$(<"$RUN_DIR/data-dir")
	if [[ $data == */sillage-s3.* ]]; then
		rm -rf "$data"
	fi
	rm -f "$RUN_DIR/pid" "$RUN_DIR/data-dir" "$RUN_DIR/port"
	log "stopped"
}

cmd_down() {
	[[ -f $RUN_DIR/data-dir ]] || die "not running"
	load_state
	alive || die "the server is not running"
	kill_server
	log "server stopped, data kept ($(<"$RUN_DIR/data-dir"))"
}

cmd_up() {
	[[ -f $RUN_DIR/data-dir ]] || die "not started (use start)"
	load_state
	alive && die "the server is already running"
	BIN=$(readlink -f "$LINK")
	launch "$(<"$RUN_DIR/data-dir")"
	log "server started again on its data"
}

cmd_status() {
	load_state
	if [[ -f $RUN_DIR/data-dir ]] && alive; then
		echo "running (pid $(pid)) on $(endpoint)"
		return 0
	fi
	echo "not running"
	return 3
}

case ${1:-} in
install) cmd_install ;;
start) cmd_start ;;
stop) cmd_stop ;;
down) cmd_down ;;
up) cmd_up ;;
status) cmd_status ;;
endpoint)
	load_state
	endpoint
	;;
env)
	load_state
	printf 'export AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s AWS_REGION=%s\n' "$S3_ACCESS_KEY" "$S3_SECRET_KEY" "$S3_REGION"
	printf '# lake root: s3://%s/lake?endpoint=%s&path_style=true\n' "$S3_BUCKET" "$(endpoint)"
	;;
logs) tail_log "$RUN_DIR/server.log" ;;
*)
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | grep '^#' | sed 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac
