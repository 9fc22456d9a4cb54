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
# shellcheck source=scripts/lib/bounded.sh
source "$root/scripts/lib/bounded.sh"

# shellcheck disable=SC2317 # invoked by the trap
cleanup() {
	kill_group
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
status=0
SILLAGE_BIN="$work/sillage" run_bounded test-sdk "$limit" node --test --test-reporter=spec ./*.test.mjs || status=$?
exit "$status"
