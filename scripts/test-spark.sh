#!/usr/bin/env bash
# Runs README's Spark recipe for real (internal/lake, TestSparkReadsTheLake,
# build tag spark): Apache Spark in local mode creates the events table with
# `sillage lake ddl -engine spark` over a lake the sink wrote from the REES46
# replay, and must count what DuckDB counts. Installs pyspark (PyPI, pinned)
# into .tools/spark-venv once (needs python3 with venv, and Java 17 as
# `make test` already does). Bounded in time (SPARKTEST_TIMEOUT seconds,
# default 600); the test, the JVM and Python run in their own process group,
# killed on timeout, on interrupt and at exit. Spark's files stay in the
# test's temporary folder.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
limit="${SPARKTEST_TIMEOUT:-600}"
version="4.3.0"
venv="$root/.tools/spark-venv"
# shellcheck source=scripts/lib/bounded.sh
source "$root/scripts/lib/bounded.sh"

# shellcheck disable=SC2317 # invoked by the trap
cleanup() {
	kill_group
}
trap cleanup EXIT
trap 'exit 130' INT TERM

command -v java >/dev/null || { echo "test-spark: java (17 or later) is required" >&2; exit 1; }
if ! "$venv/bin/python" -c "import sys, pyspark; sys.exit(pyspark.__version__ != '$version')" 2>/dev/null; then
	echo "test-spark: installing pyspark $version into $venv"
	rm -rf "$venv"
	python3 -m venv "$venv"
	"$venv/bin/pip" install --quiet --disable-pip-version-check "pyspark==$version"
fi

cd "$root"
echo "test-spark: go test -tags spark -run TestSparkReadsTheLake ./internal/lake (limit ${limit}s)"
status=0
SILLAGE_TEST_SPARK_PYTHON="$venv/bin/python" run_bounded test-spark "$limit" \
	go test -count=1 -tags spark -run TestSparkReadsTheLake -v ./internal/lake || status=$?
exit "$status"
