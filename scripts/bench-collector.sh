#!/usr/bin/env bash
# Load benchmark of the collector against the machine's HTTP ceiling
# (issue 3, "What must be shown" → Benchmarks). Everything on 127.0.0.1,
# every run bounded in time; one invocation measures, side by side:
#
#   ceiling   bench/collector/ceiling: bare fasthttp answering 200 to any POST
#             without work; the same ~1 KB event body (and the 20-event batch
#             body) POSTed by wrk: requests/s and p99.
#   track     the sillage binary (BENCH_MODE below; by default the collector
#             alone on the embedded broker, acks=all, the 200 waits for
#             Kafka): POST /v1/track, one event per request, a fresh
#             messageId each.
#   batch     POST /v1/batch with BENCH_BATCH (20) events per request: events/s.
#   @70%      p99 at 70% of the best wrk rate of each, with the open-loop
#             fixed-rate generator bench/collector/loadgen (wrk is closed-loop
#             and wrk2 is not in Debian), and the sillage process's peak RSS
#             (VmHWM, reset through /proc/<pid>/clear_refs before each run).
#
# wrk (Debian's) is installed when missing. The load generators share the
# machine's cores with the server, as they would on any single-host test.
#
# Environment: BENCH_DURATION seconds per run (15), BENCH_CONNS connection
# counts for wrk ("16 64"), BENCH_RATE_CONNS connections of loadgen (64),
# BENCH_BATCH events per batch (20), BENCH_PORT_BASE first of the ports used
# (18080: ceiling +0, collector +1, admin +2, broker +12), BENCH_PROFILE a
# file to write a CPU profile of the sillage process under the single-event
# load (and print its top; a heap profile goes to $BENCH_PROFILE.heap; off
# when empty).
#
# Kills everything it started and removes its temporary directory at exit.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dur="${BENCH_DURATION:-15}"
conns_list="${BENCH_CONNS:-16 64}"
rate_conns="${BENCH_RATE_CONNS:-64}"
batch="${BENCH_BATCH:-20}"
base="${BENCH_PORT_BASE:-18080}"
profile="${BENCH_PROFILE:-}"
threads="$(nproc)"
auth="Basic $(printf 'sillage-demo:' | base64)"
admin_auth="Authorization: Bearer sillage-admin-dev"
lua="$root/bench/collector/wrk/event.lua"
run_id="$(date +%s)"

ceiling_addr="127.0.0.1:$base"
coll_addr="127.0.0.1:$((base + 1))"
admin_addr="127.0.0.1:$((base + 2))"
broker_addr="127.0.0.1:$((base + 12))"

work="$(mktemp -d "${TMPDIR:-/tmp}/sillage-bench.XXXXXX")"
pids=()
stop_kafka=0

# shellcheck disable=SC2317 # invoked by the trap
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${pids[@]}"; do
		for _ in $(seq 1 50); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null || true
	done
	if ((stop_kafka)); then bash "$root/scripts/kafka.sh" stop >/dev/null 2>&1 || true; fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "bench-collector: $*" >&2; }
die() {
	log "$*"
	exit 1
}

port_free() { ! (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; }

wait_http() { # url seconds
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		curl -fs -o /dev/null "$1" && return 0
		sleep 0.1
	done
	return 1
}

# RESULT line → "key=value" words; get KEY from it.
field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

declare -A rps p99 bad
# measure NAME RESULT-line: records requests/s, p99 (ms) and failures.
record() {
	local n dus
	n="$(field "$2" requests)"
	dus="$(field "$2" duration_us)"
	rps[$1]="$(awk -v n="$n" -v d="$dus" 'BEGIN{printf "%.0f", n/(d/1e6)}')"
	p99[$1]="$(awk -v u="$(field "$2" p99_us)" 'BEGIN{printf "%.2f", u/1000}')"
	bad[$1]=$(($(field "$2" non2xx) + $(field "$2" errors)))
	log "  $1: ${rps[$1]} req/s, p99 ${p99[$1]} ms, failed ${bad[$1]}"
}

run_wrk() { # name url mode conns
	local out
	out="$(wrk -t"$threads" -c"$4" -d"${dur}s" --timeout 10s -s "$lua" "$2" -- "$3" "$batch" "$run_id-$1" "$auth")"
	record "$1" "$(grep '^RESULT' <<<"$out")"
}

rss_kb() { awk -v k="$2" '$1==k":"{print $2}' "/proc/$1/status"; }

# --- prerequisites ---------------------------------------------------------
if ! command -v wrk >/dev/null; then
	log "installing wrk (apt-get install -y wrk)"
	if [[ $(id -u) -eq 0 ]]; then apt-get install -y wrk >/dev/null; else sudo apt-get install -y wrk >/dev/null; fi
fi
for a in "$ceiling_addr" "$coll_addr" "$admin_addr" "$broker_addr"; do
	port_free "$a" || die "$a is in use (set BENCH_PORT_BASE)"
done

log "building ceiling, loadgen and sillage"
(cd "$root" && go build -o "$work/ceiling" ./bench/collector/ceiling &&
	go build -o "$work/loadgen" ./bench/collector/loadgen &&
	go build -o "$work/sillage" ./cmd/sillage)

load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
log "load average before: $load_before ($threads cores); ${dur}s per run"

# --- ceiling ---------------------------------------------------------------
log "ceiling on $ceiling_addr"
"$work/ceiling" -addr "$ceiling_addr" &
ceiling_pid=$!
pids+=("$ceiling_pid")
sleep 0.3
port_free "$ceiling_addr" && die "ceiling did not start"
for c in $conns_list; do
	run_wrk "ceiling-track-c$c" "http://$ceiling_addr/v1/track" track "$c"
done
run_wrk "ceiling-batch-c64" "http://$ceiling_addr/v1/batch" batch 64
kill -TERM "$ceiling_pid"
wait "$ceiling_pid" 2>/dev/null || true

# --- sillage ----------------------------------------------------------------
# BENCH_MODE=collector (default): the collector alone (-target=collector)
# on the embedded broker in the same process, acks=all (the issue's setup).
# BENCH_MODE=embedded: the embedded default, every stage and the broker in
# one process. BENCH_MODE=kafka: the collector alone against a real Apache
# Kafka broker (scripts/kafka.sh), as it is deployed; the broker's JVM
# shares the 2 cores.
mode="${BENCH_MODE:-collector}"
mkdir -p "$work/data"
case "$mode" in
kafka)
	log "starting Apache Kafka (scripts/kafka.sh)"
	brokers="$(bash "$root/scripts/kafka.sh" start | tail -1)"
	stop_kafka=1
	log "sillage -target=collector on $coll_addr against $brokers"
	"$work/sillage" -target collector -kafka.brokers "$brokers" -kafka.replication-factor 1 \
		-kafka.topic-prefix "sillage.bench$run_id." -data.dir "$work/data" \
		-collector.source "demo:sillage-demo:*" -admin.token sillage-admin-dev \
		-collector.addr "$coll_addr" -admin.addr "$admin_addr" -log.level warn \
		>"$work/sillage.log" 2>&1 &
	;;
collector | embedded)
	target=collector
	[[ "$mode" == embedded ]] && target=all
	log "sillage -target=$target on $coll_addr, embedded broker on $broker_addr"
	"$work/sillage" -target "$target" -data.dir "$work/data" -embedded.broker-addr "$broker_addr" \
		-collector.addr "$coll_addr" -admin.addr "$admin_addr" -log.level warn \
		>"$work/sillage.log" 2>&1 &
	;;
*) die "BENCH_MODE=$mode: want collector, embedded or kafka" ;;
esac
spid=$!
pids+=("$spid")
if ! wait_http "http://$coll_addr/readyz" 60; then
	tail -20 "$work/sillage.log" >&2
	die "sillage not ready after 60s"
fi
log "warming up (3s)"
wrk -t"$threads" -c16 -d3s -s "$lua" "http://$coll_addr/v1/track" -- track 1 "$run_id-warm" "$auth" >/dev/null

best_track=0 best_batch=0
for c in $conns_list; do
	run_wrk "track-c$c" "http://$coll_addr/v1/track" track "$c"
	r="${rps[track-c$c]}"
	((r > best_track)) && best_track=$r
done
for c in $conns_list; do
	run_wrk "batch-c$c" "http://$coll_addr/v1/batch" batch "$c"
	r="${rps[batch-c$c]}"
	((r > best_batch)) && best_batch=$r
done
hwm_all="$(rss_kb "$spid" VmHWM)"

declare -A hwm
rate_run() { # name path mode rate
	echo 5 >"/proc/$spid/clear_refs" # resets VmHWM to the current RSS
	record "$1" "$("$work/loadgen" -url "http://$coll_addr$2" -mode "$3" -batch "$batch" \
		-rate "$4" -duration "${dur}s" -conns "$rate_conns" -auth sillage-demo:)"
	hwm[$1]="$(rss_kb "$spid" VmHWM)"
	log "  $1: target $4 req/s, collector peak RSS $((${hwm[$1]} / 1024)) MB"
}
rate_run "track-70" /v1/track track $((best_track * 7 / 10))
rate_run "batch-70" /v1/batch batch $((best_batch * 7 / 10))

if [[ -n "$profile" ]]; then
	log "CPU profile under single-event load (wrk -c64, $((dur - 2))s profile) → $profile"
	wrk -t"$threads" -c64 -d"${dur}s" -s "$lua" "http://$coll_addr/v1/track" -- track 1 "$run_id-prof" "$auth" >/dev/null &
	wpid=$!
	pids+=("$wpid")
	sleep 1
	curl -fsS -H "$admin_auth" -o "$profile" "http://$admin_addr/debug/pprof/profile?seconds=$((dur - 2))"
	wait "$wpid" || true
	curl -fsS -H "$admin_auth" -o "$profile.heap" "http://$admin_addr/debug/pprof/heap"
	log "heap profile at the end of that load → $profile.heap"
	(cd "$root" && go tool pprof -top -nodecount=30 "$work/sillage" "$profile")
fi
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"
mb_track=$((${hwm[track-70]} / 1024)) mb_batch=$((${hwm[batch-70]} / 1024)) mb_all=$((hwm_all / 1024))

# --- table -----------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f%%", 100*a/b}'; }
c_top="${conns_list##* }"
printf '\n%-22s %6s %10s %11s %9s %11s %7s\n' run conns "req/s" "events/s" "p99 ms" "vs ceiling" failed
row() { # name conns events-per-req [ceiling-name]
	local ev=$((rps[$1] * $3)) vs="-"
	[[ -n "${4:-}" ]] && vs="$(ratio "$ev" "${rps[$4]}")"
	printf '%-22s %6s %10s %11s %9s %11s %7s\n' "$1" "$2" "${rps[$1]}" "$ev" "${p99[$1]}" "$vs" "${bad[$1]}"
}
for c in $conns_list; do row "ceiling-track-c$c" "$c" 1; done
row "ceiling-batch-c64" 64 "$batch"
for c in $conns_list; do row "track-c$c" "$c" 1 "ceiling-track-c$c"; done
for c in $conns_list; do row "batch-c$c" "$c" "$batch" "ceiling-track-c$c"; done
row "track-70" "$rate_conns" 1 "ceiling-track-c$c_top"
row "batch-70" "$rate_conns" "$batch" "ceiling-track-c$c_top"
cat <<EOF

vs ceiling: events/s over the ceiling's requests/s for the same ~1 KB event
body at the same connection count (the @70% rows: at $c_top connections).
Batch requests are $batch events (~$((batch))KB); the ceiling answers such
requests at ${rps[ceiling-batch-c64]} req/s (c64), so batch-c64 runs at $(ratio "${rps[batch-c64]:-0}" "${rps[ceiling-batch-c64]}") of the
ceiling in requests. @70% rows: loadgen, open-loop at 70% of the best wrk
rate ($((best_track * 7 / 10)) and $((best_batch * 7 / 10)) req/s), p99 measured from each request's due time.
sillage peak RSS (VmHWM): track@70% $mb_track MB, batch@70% $mb_batch MB,
whole run $mb_all MB (mode $mode: "collector" is the collector alone with the embedded
broker in its process; "embedded" adds the enricher, segmenter and sink; "kafka" is the
collector alone against real Apache Kafka).
load average before: $load_before, after: $load_after ($threads cores).
EOF
