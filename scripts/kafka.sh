#!/usr/bin/env bash
# scripts/kafka.sh — install and run a real Apache Kafka (KRaft) for Sillage's tests.
#
#   scripts/kafka.sh install     fetch the broker's jars from Maven Central (cached in .tools/kafka/)
#   scripts/kafka.sh start       format storage, start the broker(s), wait until they answer,
#                                print the bootstrap address
#   scripts/kafka.sh stop        stop the broker(s) started by `start`, delete their data
#   scripts/kafka.sh status      say whether they run (exit 0 if all do, 3 otherwise)
#   scripts/kafka.sh bootstrap   print the bootstrap address (host:port,...)
#   scripts/kafka.sh logs        print the tail of each node's log
#   scripts/kafka.sh stop-node I [SIGNAL]   stop node I (TERM, or KILL for a crash), keep its data
#   scripts/kafka.sh start-node I           start node I again on its data (failure tests)
#
# Needs only Java 17+ and Maven (for `install`). Environment:
#   KAFKA_VERSION          org.apache.kafka:kafka_2.13 version (default below; any 4.x that resolves)
#   KAFKA_PORT             client port of node 1 (default 19092); node i listens on KAFKA_PORT+i-1
#   KAFKA_CONTROLLER_PORT  KRaft controller port of node 1 (default KAFKA_PORT+10000)
#   KAFKA_NODES            number of combined broker+controller nodes (default 1)
#   KAFKA_HEAP             JVM heap per node (default 512m)
#   KAFKA_START_TIMEOUT    seconds to wait for the broker(s) (default 120)
#   KAFKA_EXTRA_CONFIG     extra server.properties lines (newline-separated), applied to every node
#   KAFKA_TOOLS_DIR        where jars and run state live (default <repo>/.tools/kafka)
#   KAFKA_STOP_TIMEOUT     seconds `stop` waits before SIGKILL (default 15)
#   KAFKA_KEEP_DATA=1      `stop` keeps the data directory
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KAFKA_VERSION=${KAFKA_VERSION:-4.4.0}
KAFKA_TOOLS_DIR=${KAFKA_TOOLS_DIR:-$ROOT/.tools/kafka}
KAFKA_PORT=${KAFKA_PORT:-19092}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 10000))}
KAFKA_NODES=${KAFKA_NODES:-1}
KAFKA_HEAP=${KAFKA_HEAP:-512m}
KAFKA_START_TIMEOUT=${KAFKA_START_TIMEOUT:-120}
KAFKA_HOST=127.0.0.1
# The SLF4J 1.x binding Kafka's distribution ships but its pom does not declare.
LOG4J_VERSION=${LOG4J_VERSION:-2.25.5}
MAVEN_DEPENDENCY_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.8.1

VERSION_DIR=$KAFKA_TOOLS_DIR/$KAFKA_VERSION
LIBS=$VERSION_DIR/libs
RUN_DIR=$KAFKA_TOOLS_DIR/run

log() { printf 'kafka.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# tail_log FILE: print the end of FILE to stderr, for failures.
tail_log() {
	[[ -f $1 ]] || return 0
	log "last lines of $1:"
	tail -n 40 "$1" | sed 's/^/    /' >&2
}

need_java() {
	command -v java >/dev/null || die "java not found: Kafka needs Java 17 or newer (Debian: apt-get install openjdk-17-jre-headless)"
	local v
	v=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1)
	[[ -n $v && $v -ge 17 ]] || die "java ${v:-?} found, Kafka ${KAFKA_VERSION} needs Java 17 or newer"
}

cmd_install() {
	if [[ -f $LIBS/.complete ]]; then
		log "Kafka $KAFKA_VERSION already installed in $LIBS"
		return 0
	fi
	need_java
	command -v mvn >/dev/null || die "mvn not found: installing Kafka's jars needs Maven (Debian: apt-get install maven)"
	mkdir -p "$VERSION_DIR"
	# Serialise concurrent installs of one version; the lock's descriptor is
	# closed with the subshell, so a broker started afterwards never holds it.
	(
		flock 9
		[[ -f $LIBS/.complete ]] || install_locked
	) 9>"$VERSION_DIR/.lock" || exit 1
}

install_locked() {
	log "installing Kafka $KAFKA_VERSION from Maven Central into $LIBS"
	cat >"$VERSION_DIR/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.sillage.test</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>${KAFKA_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>${LOG4J_VERSION}</version>
    </dependency>
  </dependencies>
</project>
EOF
	local tmp=$LIBS.tmp install_log=$VERSION_DIR/install.log
	rm -rf "$tmp"
	if ! mvn -B -f "$VERSION_DIR/pom.xml" "$MAVEN_DEPENDENCY_PLUGIN:copy-dependencies" \
		-DincludeScope=runtime -DoutputDirectory="$tmp" >"$install_log" 2>&1; then
		tail_log "$install_log"
		die "fetching Kafka $KAFKA_VERSION with Maven failed (log: $install_log)"
	fi
	ls "$tmp"/kafka_2.13-*.jar >/dev/null 2>&1 || die "Maven fetched no kafka_2.13 jar into $tmp (log: $install_log)"
	rm -rf "$LIBS"
	mv "$tmp" "$LIBS"
	touch "$LIBS/.complete"
	log "installed $(find "$LIBS" -name '*.jar' | wc -l) jars"
}

node_dir() { echo "$RUN_DIR/node-$1"; }
node_port() { echo $((KAFKA_PORT + $1 - 1)); }
node_controller_port() { echo $((KAFKA_CONTROLLER_PORT + $1 - 1)); }

bootstrap() {
	local i out=()
	for ((i = 1; i <= KAFKA_NODES; i++)); do
		out+=("$KAFKA_HOST:$(node_port "$i")")
	done
	local IFS=,
	echo "${out[*]}"
}

# The node count of the running cluster wins over KAFKA_NODES for stop/status.
load_state() {
	if [[ -f $RUN_DIR/nodes ]]; then
		KAFKA_NODES=$(<"$RUN_DIR/nodes")
		KAFKA_PORT=$(<"$RUN_DIR/port")
		KAFKA_CONTROLLER_PORT=$(<"$RUN_DIR/controller-port")
	fi
}

node_pid() {
	local f
	f="$(node_dir "$1")/pid"
	[[ -f $f ]] && cat "$f"
}

# node_alive I: node I's recorded pid is alive and still that broker (a pid
# file outliving its process must never make us signal someone else's).
node_alive() {
	local pid
	pid=$(node_pid "$1") || return 1
	[[ -n $pid ]] && kill -0 "$pid" 2>/dev/null &&
		tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$(node_dir "$1")/server.properties"
}

port_open() { (exec 3<>"/dev/tcp/$KAFKA_HOST/$1") 2>/dev/null; }

# api_versions_ok PORT: send a Kafka ApiVersions request and check that an
# answer with our correlation id comes back — the broker speaks Kafka.
api_versions_ok() {
	local resp
	resp=$(
		exec 3<>"/dev/tcp/$KAFKA_HOST/$1" || exit 1
		# size 15 | api_key 18 | api_version 0 | correlation_id 7 | client_id "probe"
		printf '\x00\x00\x00\x0f\x00\x12\x00\x00\x00\x00\x00\x07\x00\x05probe' >&3
		timeout 5 head -c 8 <&3 | od -An -tx1 | tr -d ' \n'
	) 2>/dev/null || return 1
	[[ ${resp:8:8} == 00000007 ]]
}

write_config() {
	local i=$1 dir data=$2 voters="" j rf isr
	dir=$(node_dir "$i")
	for ((j = 1; j <= KAFKA_NODES; j++)); do
		voters+="${voters:+,}$j@$KAFKA_HOST:$(node_controller_port "$j")"
	done
	rf=$((KAFKA_NODES < 3 ? KAFKA_NODES : 3))
	isr=$((rf > 1 ? 2 : 1))
	cat >"$dir/server.properties" <<EOF
# Generated by scripts/kafka.sh; node $i of $KAFKA_NODES.
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$voters
listeners=PLAINTEXT://$KAFKA_HOST:$(node_port "$i"),CONTROLLER://$KAFKA_HOST:$(node_controller_port "$i")
advertised.listeners=PLAINTEXT://$KAFKA_HOST:$(node_port "$i")
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$data/node-$i
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=$rf
min.insync.replicas=$isr
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$isr
share.coordinator.state.topic.num.partitions=10
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
log.retention.hours=-1
log.retention.bytes=-1
log.segment.bytes=67108864
log.cleaner.dedupe.buffer.size=16777216
EOF
	if [[ -n ${KAFKA_EXTRA_CONFIG:-} ]]; then
		printf '%s\n' "$KAFKA_EXTRA_CONFIG" >>"$dir/server.properties"
	fi
	cat >"$dir/log4j2.properties" <<EOF
status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = out
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = WARN
EOF
}

# exec_java DIR MAIN ARGS...: run a Kafka class with the node's logging config.
exec_java() {
	local dir=$1
	shift
	exec java -Xms128m "-Xmx$KAFKA_HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
		-Djava.awt.headless=true \
		"-Dlog4j2.configurationFile=$dir/log4j2.properties" \
		"-Dkafka.logs.dir=$dir" \
		-cp "$LIBS/*" "$@"
}

new_cluster_id() {
	local id
	while :; do
		id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
		[[ $id != -* ]] && break
	done
	echo "$id"
}

cmd_start() {
	[[ $KAFKA_NODES =~ ^[1-9][0-9]*$ ]] || die "KAFKA_NODES=$KAFKA_NODES is not a positive number"
	if [[ -f $RUN_DIR/nodes ]]; then
		local want="$KAFKA_NODES $KAFKA_PORT $KAFKA_CONTROLLER_PORT"
		(
			load_state
			if cmd_status >/dev/null 2>&1; then
				[[ $want == "$KAFKA_NODES $KAFKA_PORT $KAFKA_CONTROLLER_PORT" ]] ||
					die "a cluster of $KAFKA_NODES node(s) on port $KAFKA_PORT already runs; stop it first"
				log "already running"
				bootstrap
				exit 10
			fi
			log "cleaning up a previous cluster that is not running"
			cmd_stop >/dev/null 2>&1 || true
		) || {
			local rc=$?
			((rc == 10)) && return 0
			exit "$rc"
		}
	fi
	[[ -f $LIBS/.complete ]] || cmd_install
	need_java
	local i
	for ((i = 1; i <= KAFKA_NODES; i++)); do
		for p in "$(node_port "$i")" "$(node_controller_port "$i")"; do
			! port_open "$p" || die "port $KAFKA_HOST:$p is already in use (set KAFKA_PORT / KAFKA_CONTROLLER_PORT)"
		done
	done

	local started=$SECONDS data cluster_id
	mkdir -p "$RUN_DIR"
	data=$(mktemp -d "${TMPDIR:-/tmp}/sillage-kafka.XXXXXX")
	echo "$data" >"$RUN_DIR/data-dir"
	echo "$KAFKA_NODES" >"$RUN_DIR/nodes"
	echo "$KAFKA_PORT" >"$RUN_DIR/port"
	echo "$KAFKA_CONTROLLER_PORT" >"$RUN_DIR/controller-port"
	cluster_id=$(new_cluster_id)
	for ((i = 1; i <= KAFKA_NODES; i++)); do
		local dir
		dir=$(node_dir "$i")
		rm -rf "$dir"
		mkdir -p "$dir"
		write_config "$i" "$data"
		if ! (exec_java "$dir" kafka.tools.StorageTool format -t "$cluster_id" \
			-c "$dir/server.properties") >"$dir/format.log" 2>&1; then
			tail_log "$dir/format.log"
			cmd_stop >/dev/null 2>&1 || true
			die "formatting the storage of node $i failed"
		fi
	done
	for ((i = 1; i <= KAFKA_NODES; i++)); do
		local dir
		dir=$(node_dir "$i")
		(cd "$dir" && exec_java "$dir" kafka.Kafka "$dir/server.properties") >"$dir/server.log" 2>&1 </dev/null &
		echo $! >"$dir/pid"
	done

	local deadline=$((SECONDS + KAFKA_START_TIMEOUT)) ready
	while :; do
		ready=0
		for ((i = 1; i <= KAFKA_NODES; i++)); do
			local dir
			dir=$(node_dir "$i")
			# kill -0 only: until the forked shell has exec'd java, its
			# command line is not yet the broker's.
			if ! kill -0 "$(node_pid "$i")" 2>/dev/null; then
				tail_log "$dir/server.log"
				cmd_stop >/dev/null 2>&1 || true
				die "Kafka node $i exited during start (log: $dir/server.log)"
			fi
			if grep -q 'Kafka Server started' "$dir/server.log" && api_versions_ok "$(node_port "$i")"; then
				ready=$((ready + 1))
			fi
		done
		((ready == KAFKA_NODES)) && break
		if ((SECONDS >= deadline)); then
			for ((i = 1; i <= KAFKA_NODES; i++)); do tail_log "$(node_dir "$i")/server.log"; done
			cmd_stop >/dev/null 2>&1 || true
			die "Kafka did not answer within ${KAFKA_START_TIMEOUT}s"
		fi
		sleep 0.5
	done
	log "Kafka $KAFKA_VERSION ready: $KAFKA_NODES node(s) in $((SECONDS - started))s, data in $data, logs in $RUN_DIR"
	bootstrap
}

cmd_stop() {
	load_state
	[[ -f $RUN_DIR/nodes ]] || {
		log "not running"
		return 0
	}
	local i pid
	for ((i = 1; i <= KAFKA_NODES; i++)); do
		node_alive "$i" || continue
		pid=$(node_pid "$i")
		kill -TERM "$pid" 2>/dev/null || true
	done
	# When every node stops at once the last ones cannot finish a controlled
	# shutdown (no controller quorum left): their data is deleted anyway, so
	# they get a bounded grace period, then SIGKILL.
	local deadline=$((SECONDS + ${KAFKA_STOP_TIMEOUT:-15}))
	for ((i = 1; i <= KAFKA_NODES; i++)); do
		while node_alive "$i" && ((SECONDS < deadline)); do sleep 0.2; done
		if node_alive "$i"; then
			log "node $i still running after ${KAFKA_STOP_TIMEOUT:-15}s, killing it"
			kill -KILL "$(node_pid "$i")" 2>/dev/null || true
		fi
		rm -f "$(node_dir "$i")/pid"
	done
	local data=""
	[[ -f $RUN_DIR/data-dir ]] && data=$(<"$RUN_DIR/data-dir")
	if [[ -n $data && ${KAFKA_KEEP_DATA:-0} != 1 && $data == */sillage-kafka.* ]]; then
		rm -rf "$data"
	fi
	rm -f "$RUN_DIR/nodes" "$RUN_DIR/port" "$RUN_DIR/controller-port" "$RUN_DIR/data-dir"
	log "stopped"
}

# stop-node I [SIGNAL]: stop one node (TERM by default, KILL for a crash),
# keeping its data, so that start-node brings it back as it was. For
# failure tests.
cmd_stop_node() {
	load_state
	local i=${1:?stop-node needs a node number} sig=${2:-TERM}
	[[ -f $RUN_DIR/nodes ]] || die "not running"
	node_alive "$i" || die "node $i is not running"
	kill -"$sig" "$(node_pid "$i")"
	local deadline=$((SECONDS + ${KAFKA_STOP_TIMEOUT:-15}))
	while node_alive "$i" && ((SECONDS < deadline)); do sleep 0.2; done
	if node_alive "$i"; then
		kill -KILL "$(node_pid "$i")" 2>/dev/null || true
		sleep 0.5
	fi
	log "node $i stopped ($sig), data kept"
}

# start-node I: start a node stopped by stop-node again, on its data.
cmd_start_node() {
	load_state
	local i=${1:?start-node needs a node number} dir
	[[ -f $RUN_DIR/nodes ]] || die "not running"
	node_alive "$i" && die "node $i is already running"
	dir=$(node_dir "$i")
	(cd "$dir" && exec_java "$dir" kafka.Kafka "$dir/server.properties") >>"$dir/server.log" 2>&1 </dev/null &
	echo $! >"$dir/pid"
	local deadline=$((SECONDS + KAFKA_START_TIMEOUT))
	until api_versions_ok "$(node_port "$i")" 2>/dev/null; do
		if ! kill -0 "$(node_pid "$i")" 2>/dev/null || ((SECONDS >= deadline)); then
			tail_log "$dir/server.log"
			die "node $i did not come back"
		fi
		sleep 0.3
	done
	log "node $i started again on its data"
}

cmd_status() {
	load_state
	if [[ ! -f $RUN_DIR/nodes ]]; then
		echo "not running"
		return 3
	fi
	local i up=0
	for ((i = 1; i <= KAFKA_NODES; i++)); do
		if node_alive "$i"; then
			echo "node $i: running (pid $(node_pid "$i")) on $KAFKA_HOST:$(node_port "$i")"
			up=$((up + 1))
		else
			echo "node $i: not running"
		fi
	done
	((up == KAFKA_NODES)) || return 3
}

cmd_logs() {
	load_state
	local i
	for ((i = 1; i <= KAFKA_NODES; i++)); do tail_log "$(node_dir "$i")/server.log"; done
}

case ${1:-} in
install) cmd_install ;;
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
bootstrap)
	load_state
	bootstrap
	;;
logs) cmd_logs ;;
stop-node) cmd_stop_node "${2:-}" "${3:-TERM}" ;;
start-node) cmd_start_node "${2:-}" ;;
*)
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | grep '^#' | sed 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac
