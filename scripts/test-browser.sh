#!/usr/bin/env bash
# Runs the tag's browser tests (tag/test/browser): Debian's Chromium, driven
# by playwright-core, against a real Sillage binary on the embedded default.
# Installs what it needs on a fresh Debian machine (chromium through apt-get
# when /usr/bin/chromium is missing, the pinned npm packages with npm ci),
# builds the binary, and runs node --test. Bounded in time: each test has
# BROWSER_TEST_TIMEOUT seconds (default 90), the whole run
# BROWSER_SUITE_TIMEOUT (default 420). Everything it starts (node, the
# sillage binary, Chromium, which Playwright puts in its own process group)
# is stopped at exit, on interrupt and on timeout. Exits non-zero on any
# failure. SILLAGE_KEEP=1 keeps the work directory (the binary's data and
# log, the browser profiles).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
per_test="${BROWSER_TEST_TIMEOUT:-90}"
limit="${BROWSER_SUITE_TIMEOUT:-420}"
chromium="${CHROMIUM:-/usr/bin/chromium}"
work="$(mktemp -d "${TMPDIR:-/tmp}/sillage-browser.XXXXXX")"
# shellcheck source=scripts/lib/bounded.sh
source "$root/scripts/lib/bounded.sh"

# The functions run from traps, which shellcheck does not follow.
# shellcheck disable=SC2317
# ours lists the processes whose command line names $work: the binary, and
# Chromium with its profile there (the tests' TMPDIR is $work).
ours() {
	local p
	for p in /proc/[0-9]*; do
		if tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -qF -- "$work"; then
			echo "${p#/proc/}"
		fi
	done
}

# shellcheck disable=SC2317
cleanup() {
	kill_group
	local left
	left="$(ours)"
	if [[ -n "$left" ]]; then
		# shellcheck disable=SC2086 # one pid per word
		kill -KILL $left 2>/dev/null || true
	fi
	if [[ -n "${SILLAGE_KEEP:-}" ]]; then
		echo "test-browser: kept $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ ! -x "$chromium" ]]; then
	echo "test-browser: installing Debian's chromium"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q chromium; }
fi

echo "test-browser: building sillage"
(cd "$root" && go build -o "$work/sillage" ./cmd/sillage)

cd "$root/tag"
echo "test-browser: npm ci"
npm ci --no-audit --no-fund --loglevel=error

echo "test-browser: node --test test/browser/ (limit ${per_test}s a test, ${limit}s in all)"
status=0
TMPDIR="$work" SILLAGE_BIN="$work/sillage" CHROMIUM="$chromium" \
	run_bounded test-browser "$limit" node --test --test-reporter=spec --test-timeout="$((per_test * 1000))" test/browser/ || status=$?
exit "$status"
