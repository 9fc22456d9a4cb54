# shellcheck shell=bash
# Sourced by the test scripts: run a command in its own process group with
# a time limit, and kill that group (everything the command started) at exit.
#
#   run_bounded NAME LIMIT_SECONDS CMD [ARGS...]   returns the command's status
#   kill_group                                     for the caller's EXIT trap

pgid=""

# kill_group stops the process group of the last run_bounded: TERM, then
# KILL after 2 s.
kill_group() {
	if [[ -n "$pgid" ]] && kill -0 -- "-$pgid" 2>/dev/null; then
		kill -TERM -- "-$pgid" 2>/dev/null || true
		sleep 2
		kill -KILL -- "-$pgid" 2>/dev/null || true
	fi
}

run_bounded() {
	local name=$1 limit=$2 status=0 i
	shift 2
	# setsid makes the command the leader of a new process group (its pid is
	# $!); what it spawns inherits the group.
	setsid "$@" &
	pgid=$!
	(
		for ((i = 0; i < limit; i++)); do
			sleep 1
			kill -0 "$pgid" 2>/dev/null || exit 0
		done
		echo "$name: timed out after ${limit}s" >&2
		kill -TERM -- "-$pgid" 2>/dev/null
	) &
	wait "$pgid" || status=$?
	wait
	if [[ $status -ne 0 ]]; then
		echo "$name: FAILED (exit $status)" >&2
	fi
	return "$status"
}
