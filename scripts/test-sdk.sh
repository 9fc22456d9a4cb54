#!/usr/bin/env bash
# Runs the Segment SDK compatibility test (collector/sdktest): builds the
# sillage binary, installs the pinned npm packages (npm ci) and runs
# node --test against a real embedded Sillage that the tests start.
# Bounded in time (SDKTEST_TIMEOUT seconds, default 300); node and the
# sillage it started run in their own process group, which is killed on
# timeout, on interrupt and at exit. Exits non-zero on any failure.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
limit="${SDKTEST_TIMEOUT:-300}"
work="$(mktemp -d "${TMPDIR:-/tmp}/sillage-sdktest.XXXXXX")"
pgid=""

# shellcheck disable=SC2317 # invoked by the trap
cleanup() {
	if [[ -n "$pgid" ]] && kill -0 -- "-$pgid" 2>/dev/null; then
		kill -TERM -- "-$pgid" 2>/dev/null || true
		sleep 2
		kill -KILL -- "-$pgid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "test-sdk: building sillage"
(cd "$root" && go build -o "$work/sillage" ./cmd/sillage)

cd "$root/collector/sdktest"
echo "test-sdk: npm ci"
npm ci --no-audit --no-fund --loglevel=error

echo "test-sdk: node --test (limit ${limit}s)"
# setsid makes node the leader of a new process group (its pid is $!);
# the sillage it spawns inherits the group.
SILLAGE_BIN="$work/sillage" setsid node --test --test-reporter=spec ./*.test.mjs &
pgid=$!
(
	for ((i = 0; i < limit; i++)); do
		sleep 1
		kill -0 "$pgid" 2>/dev/null || exit 0
	done
	echo "test-sdk: timed out after ${limit}s" >&2
	kill -TERM -- "-$pgid" 2>/dev/null
) &
status=0
wait "$pgid" || status=$?
wait
if [[ $status -ne 0 ]]; then
	echo "test-sdk: FAILED (exit $status)" >&2
fi
exit "$status"
