#!/usr/bin/env bash
# Segment-entry latency benchmark (issue 5, "What must be shown" →
# Benchmarks): the time from the collector's acknowledgement of an event
# (the 2xx of POST /v1/track) to its segment-entry record on
# sillage.segments.membership, seen by a read_committed consumer, on the
# embedded default (every stage and the broker in one sillage process).
#
# Builds sillage and bench/segment-latency, which starts sillage on free
# 127.0.0.1 ports in a temporary data directory with one event segment
# ("Signed Up"), then steps the rate up: for each rate, BENCH_STEP of
# "Signed Up" events of distinct users sent open-loop at that rate, then up
# to BENCH_DRAIN for the last entries. One "STEP" line per rate (ack→entry
# p50/p90/p99/max in ms, achieved rate, failures, missing entries), and a
# "RESULT" line with the highest sustainable rate (no failure, no missing
# entry, ≥ 95% of the rate achieved, ack→entry and request p99 under
# BENCH_MAX_P99); "STAGE" lines give the enricher's and the segmenter's
# transactions during each step (count, mean duration, mean size). The load
# generator shares the machine's cores with sillage; the load average is
# printed before and after.
#
# Environment: BENCH_RATES events/s of the steps, increasing
# ("2000,4000,6000,8000,9000,10000,12000"), BENCH_STEP sending time per step
# (12s), BENCH_DRAIN longest wait for the entries after each step (10s),
# BENCH_CONNS HTTP connections (64), BENCH_MAX_P99 p99 (ack→entry or
# request) above which a step is not sustainable (1s), BENCH_PROFILE a file
# to write a CPU profile of sillage to, taken during the step at
# BENCH_PROFILE_RATE (default: the first), and print its top, flat and
# cumulative (off when empty).
#
# Needs Go (the module's toolchain); kills sillage and removes its temporary
# directory at exit.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rates="${BENCH_RATES:-2000,4000,6000,8000,9000,10000,12000}"
step="${BENCH_STEP:-12s}"
drain="${BENCH_DRAIN:-10s}"
conns="${BENCH_CONNS:-64}"
max_p99="${BENCH_MAX_P99:-1s}"
profile="${BENCH_PROFILE:-}"
profile_rate="${BENCH_PROFILE_RATE:-0}"

work="$(mktemp -d "${TMPDIR:-/tmp}/sillage-seglat-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

log() { echo "bench-segment-latency: $*" >&2; }

command -v go >/dev/null || {
	log "go is required"
	exit 1
}
log "building sillage and bench/segment-latency"
(cd "$root" && go build -o "$work/sillage" ./cmd/sillage &&
	go build -o "$work/segment-latency" ./bench/segment-latency)

load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
log "load average before: $load_before ($(nproc) cores); rates $rates, $step per step"
args=(-sillage "$work/sillage" -rates "$rates" -step "$step" -drain "$drain" -conns "$conns" -max-p99 "$max_p99")
if [[ -n "$profile" ]]; then
	args+=(-profile "$profile" -profile-rate "$profile_rate")
fi
"$work/segment-latency" "${args[@]}"
log "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
if [[ -n "$profile" && -s "$profile" ]]; then
	(cd "$root" && go tool pprof -top -nodecount=20 "$work/sillage" "$profile" &&
		go tool pprof -top -cum -nodecount=40 "$work/sillage" "$profile")
fi
