#!/usr/bin/env bash
# Apache Kafka 4.x (KRaft) on 127.0.0.1, assembled from Maven Central jars: one node (the
# default) or a three-node cluster (KAFKA_NODES=3). Shipped in the package with its config files
# beside it; the caller says where the jars and the data go (the checkout's deploy/kafka.sh:
# deploy/kafka/; `broker demo`: its state dir).
#
#   kafka.sh fetch    copy the broker's jars into KAFKA_LIB_DIR (only when missing/outdated)
#   kafka.sh start    fetch if needed, format storage once, start, wait until ready
#   kafka.sh stop     SIGTERM, wait for a clean exit, SIGKILL as a last resort
#   kafka.sh status   exit 0 if running and ready, 1 otherwise
#   kafka.sh reset    stop and delete the data dir (next start makes a fresh cluster)
#   kafka.sh topics [list | create NAME [PARTITIONS] | delete NAME]   small admin helper
#   kafka.sh credentials   secure profile: create the CA and missing certificates
#   kafka.sh bootstrap     print the bootstrap servers (a cluster: all three, comma-separated)
#   kafka.sh node N stop|kill|start|status   one node of the cluster: stop (SIGTERM), kill
#                     (SIGKILL, as a crash), start (and wait until it is back in the cluster
#                     and no partition is under-replicated), status
#
# The cluster: KAFKA_NODES=3 kafka.sh start. Three JVMs, each broker and controller (three
# voters), node.id 1-3, client ports KAFKA_PORT, +2, +4 (controllers one above each), storage
# and logs in KAFKA_DATA_DIR/node-N/; replication factor 3, min.insync.replicas 2
# (cluster.properties beside this script). The data dir remembers it is a cluster
# (cluster.env): stop, status, topics, reset and node need no KAFKA_NODES or KAFKA_PORT.
#
# Environment:
#   KAFKA_LIB_DIR          required: Kafka's jars (fetched with Maven; never inside the package)
#   KAFKA_DATA_DIR         required: storage, generated config, kafka.log, pid
#   KAFKA_NODES            1 (default) or 3: a three-node cluster
#   KAFKA_PROFILE          plaintext (default) or secure: mutual TLS on both listeners, no
#                          plaintext listener, StandardAuthorizer denying what no ACL allows
#                          (secure.properties beside this script; ACLs: `broker acl apply`)
#   KAFKA_CREDENTIALS_DIR  secure profile: CA, certificates and keys, default KAFKA_DATA_DIR/credentials
#                          (ca.crt; ca/ the CA key; nodes/ the broker's; admin/; clients/)
#   BROKER_POLICY_DIR      secure profile: the recipients to make certificates for, default ./policies
#   KAFKA_PYTHON           Python with the broker package (secure profile), default python3
#   KAFKA_PORT             client port, default 9092; the controller uses KAFKA_PORT+1
#                          (a cluster: node N on KAFKA_PORT+2(N-1), its controller one above)
#   KAFKA_CONTROLLER_PORT  override the controller port (one node only)
#   KAFKA_START_TIMEOUT    seconds to wait for readiness, default 90
#   KAFKA_STOP_TIMEOUT     seconds to wait for a clean exit before SIGKILL, default 30
#   KAFKA_HEAP_OPTS        default -Xmx512m (each node)
#   KAFKA_JVM_OPTS         extra JVM options for the broker
#   JAVA_HOME              Java 17+; otherwise `java` from PATH
set -euo pipefail

KAFKA_HOME="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
POM="$KAFKA_HOME/pom.xml"
TEMPLATE="$KAFKA_HOME/server.properties"
LOG4J_CONF="$KAFKA_HOME/log4j2.properties"
READY_SRC="$KAFKA_HOME/Ready.java"
SECURE_TEMPLATE="$KAFKA_HOME/secure.properties"
CLUSTER_TEMPLATE="$KAFKA_HOME/cluster.properties"

HOST=127.0.0.1
PORT="${KAFKA_PORT:-9092}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-}"
LIB_DIR="${KAFKA_LIB_DIR:-}"
DATA_DIR="${KAFKA_DATA_DIR:-}"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"
read -r -a HEAP_OPTS <<<"${KAFKA_HEAP_OPTS:--Xmx512m}"
read -r -a EXTRA_JVM_OPTS <<<"${KAFKA_JVM_OPTS:-}"
if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then JAVA="$JAVA_HOME/bin/java"; else JAVA=java; fi
PROFILE="${KAFKA_PROFILE:-plaintext}"
PYTHON="${KAFKA_PYTHON:-python3}"
NODES_ASKED="${KAFKA_NODES:-}"

die() { echo "kafka.sh: $*" >&2; exit 1; }
say() { echo "kafka.sh: $*"; }

is_port_number() { [[ "$1" =~ ^[0-9]+$ ]] && (("$1" > 0 && "$1" < 65536)); }
is_port_number "$PORT" || die "KAFKA_PORT must be a port number, got '$PORT'"
[[ -n "$CONTROLLER_PORT" ]] || CONTROLLER_PORT=$((PORT + 1))
is_port_number "$CONTROLLER_PORT" || die "controller port must be a port number, got '$CONTROLLER_PORT'"
[[ "$CONTROLLER_PORT" != "$PORT" ]] || die "client and controller ports must differ"
[[ "$START_TIMEOUT" =~ ^[0-9]+$ ]] || die "KAFKA_START_TIMEOUT must be whole seconds"
[[ "$STOP_TIMEOUT" =~ ^[0-9]+$ ]] || die "KAFKA_STOP_TIMEOUT must be whole seconds"
[[ "$PROFILE" == plaintext || "$PROFILE" == secure ]] || die "KAFKA_PROFILE must be plaintext or secure, got '$PROFILE'"
[[ -z "$NODES_ASKED" || "$NODES_ASKED" == 1 || "$NODES_ASKED" == 3 ]] || die "KAFKA_NODES must be 1 or 3, got '$NODES_ASKED'"
case "${1:-}" in -h | --help | help | "") ;; *)
  [[ -n "$LIB_DIR" && -n "$DATA_DIR" ]] \
    || die "set KAFKA_LIB_DIR (Kafka's jars) and KAFKA_DATA_DIR (its data); the checkout's deploy/kafka.sh sets both"
esac

# Absolute dirs (a relative one is taken from the caller's directory).
[[ "$DATA_DIR" == /* ]] || DATA_DIR="$PWD/$DATA_DIR"
DATA_DIR="${DATA_DIR%/}"
[[ -n "$DATA_DIR" ]] || die "KAFKA_DATA_DIR must not be /"
[[ "$LIB_DIR" == /* ]] || LIB_DIR="$PWD/$LIB_DIR"
LIB_DIR="${LIB_DIR%/}"
STAMP="$LIB_DIR/.pom.sha256"
CREDS_DIR="${KAFKA_CREDENTIALS_DIR:-$DATA_DIR/credentials}"
[[ "$CREDS_DIR" == /* ]] || CREDS_DIR="$PWD/$CREDS_DIR"
CREDS_DIR="${CREDS_DIR%/}"
[[ "$CREDS_DIR" =~ ^[A-Za-z0-9/._-]+$ ]] || die "KAFKA_CREDENTIALS_DIR may hold only letters, digits, '/', '.', '_' and '-'"
LOCK_FILE="$DATA_DIR/kafka.lock"
CLUSTER_FILE="$DATA_DIR/cluster.env"

# How many nodes: a data dir that holds a cluster says so (cluster.env: nodes, first port).
NODES=${NODES_ASKED:-1}
if [[ -f "$CLUSTER_FILE" ]]; then
  recorded=$(sed -n 's/^nodes=//p' "$CLUSTER_FILE" | head -n1)
  [[ -z "$NODES_ASKED" || "$NODES_ASKED" == "$recorded" ]] \
    || die "$DATA_DIR holds a $recorded-node cluster, not KAFKA_NODES=$NODES_ASKED; use another KAFKA_DATA_DIR or reset it"
  NODES=$recorded
  [[ -n "${KAFKA_PORT:-}" ]] || PORT=$(sed -n 's/^port=//p' "$CLUSTER_FILE" | head -n1)
  is_port_number "$PORT" || die "$CLUSTER_FILE names no port"
  CONTROLLER_PORT=$((PORT + 1))
fi
if ((NODES > 1)); then
  [[ -z "${KAFKA_CONTROLLER_PORT:-}" ]] || die "KAFKA_CONTROLLER_PORT is for one node; a cluster's controllers listen one above each client port"
  ((PORT + 2 * NODES - 1 < 65536)) || die "KAFKA_PORT $PORT leaves no room for $NODES nodes' ports"
fi

# use_node N : the node whose files and ports the functions below act on. One node keeps its
# files in the data dir itself (as before clusters existed); a cluster's node N in node-N/.
use_node() {
  NODE_ID=$1
  if ((NODES == 1)); then
    NODE_DIR=$DATA_DIR
    NODE_PORT=$PORT
    NODE_CONTROLLER_PORT=$CONTROLLER_PORT
  else
    NODE_DIR="$DATA_DIR/node-$NODE_ID"
    NODE_PORT=$((PORT + 2 * (NODE_ID - 1)))
    NODE_CONTROLLER_PORT=$((NODE_PORT + 1))
  fi
  CONF="$NODE_DIR/server.properties"
  STORAGE_DIR="$NODE_DIR/kraft-logs"
  PID_FILE="$NODE_DIR/kafka.pid"
  LOG_FILE="$NODE_DIR/kafka.log"
  OUT_FILE="$NODE_DIR/kafka.out"
}
use_node 1

# Every node's client address (the bootstrap servers) and the controller quorum's voters.
bootstrap_list() {
  local i out=""
  for ((i = 1; i <= NODES; i++)); do out+="${out:+,}$HOST:$((PORT + 2 * (i - 1)))"; done
  echo "$out"
}
voters() {
  local i out=""
  ((NODES > 1)) || { echo "1@$HOST:$CONTROLLER_PORT"; return; }
  for ((i = 1; i <= NODES; i++)); do out+="${out:+,}$i@$HOST:$((PORT + 2 * (i - 1) + 1))"; done
  echo "$out"
}

now_ms() { date +%s%3N; }
elapsed() { local ms=$(($(now_ms) - $1)); printf '%d.%01d s' $((ms / 1000)) $((ms % 1000 / 100)); }

# ---------------------------------------------------------------- jars

pom_hash() { sha256sum "$POM" | cut -d' ' -f1; }

fetch_needed() {
  [[ -f "$STAMP" && "$(cat "$STAMP")" == "$(pom_hash)" ]] || return 0
  compgen -G "$LIB_DIR/kafka_2.13-*.jar" >/dev/null || return 0
  return 1
}

do_fetch() {
  fetch_needed || return 0
  local out
  if broker_pid >/dev/null; then
    die "$LIB_DIR is outdated but the broker is running; run 'stop' first"
  fi
  command -v mvn >/dev/null || die "mvn not found (needed once to fetch Kafka's jars from Maven Central)"
  local t0; t0=$(now_ms)
  say "fetching Kafka jars with Maven into $LIB_DIR ..."
  # Start from an empty lib/ so jars of an older pom never linger on the classpath.
  rm -rf -- "$LIB_DIR"
  # -q still prints terminal escape codes: keep the output, show it only on failure.
  if ! out=$(mvn -q -B -f "$POM" -Dkafka.lib.dir="$LIB_DIR" dependency:copy-dependencies 2>&1); then
    printf '%s\n' "$out" >&2
    rm -f -- "$STAMP"
    die "mvn dependency:copy-dependencies failed"
  fi
  compgen -G "$LIB_DIR/kafka_2.13-*.jar" >/dev/null || die "mvn ran but $LIB_DIR has no kafka_2.13 jar"
  pom_hash >"$STAMP"
  say "fetched $(find "$LIB_DIR" -name '*.jar' | wc -l) jars in $(elapsed "$t0")"
}

# ---------------------------------------------------------------- process

# Alive and not a zombie.
pid_alive() {
  local pid=$1 state
  kill -0 "$pid" 2>/dev/null || return 1
  state=$(ps -o stat= -p "$pid" 2>/dev/null || true)
  [[ -n "$state" && "$state" != Z* ]]
}

# Prints the broker's pid if the pid file names a live kafka.Kafka process.
broker_pid() {
  local pid
  [[ -f "$PID_FILE" ]] || return 1
  pid=$(tr -dc '0-9' <"$PID_FILE")
  [[ -n "$pid" ]] && pid_alive "$pid" || return 1
  # Guard against pid reuse by an unrelated process.
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'kafka\.Kafka' || return 1
  echo "$pid"
}

port_in_use() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

cluster_id() { sed -n 's/^cluster\.id=//p' "$STORAGE_DIR/meta.properties" 2>/dev/null | head -n1; }

# Client port of the running broker, from the config it was started with.
running_port() {
  sed -n "s|^advertised\.listeners=[A-Z_]*://$HOST:\([0-9]*\).*|\1|p" "$CONF" 2>/dev/null | head -n1
}

# Profile and credentials dir of the running broker (marker lines written by write_config).
running_profile() {
  local p
  p=$(sed -n 's/^# kafka\.sh profile=//p' "$CONF" 2>/dev/null | head -n1)
  echo "${p:-plaintext}"
}
running_creds_dir() {
  local d
  d=$(sed -n 's/^# kafka\.sh credentials=//p' "$CONF" 2>/dev/null | head -n1)
  echo "${d:-$CREDS_DIR}"
}

# Sets ADMIN_ARGS: Java client properties for the admin principal (secure profile), or none.
ADMIN_ARGS=()
admin_client_args() {
  local profile=$1 creds=$2
  ADMIN_ARGS=()
  [[ "$profile" == secure ]] || return 0
  [[ -f "$creds/admin/admin.properties" ]] || die "$creds/admin/admin.properties is missing; run 'credentials'"
  ADMIN_ARGS=(--command-config "$creds/admin/admin.properties")
}

# ready_check BOOTSTRAP TIMEOUT PIDS PROFILE CREDS [READY OPTIONS] : a real admin round trip
# (see Ready.java); PIDS: space-separated, give up when one exits; a cluster needs all nodes.
ready_check() {
  local bootstrap=$1 timeout=$2 pids=$3 profile=$4 creds=$5 cid p args=()
  shift 5
  args=(--bootstrap "$bootstrap" --timeout "$timeout" --brokers "$NODES")
  admin_client_args "$profile" "$creds"
  args+=("${ADMIN_ARGS[@]}")
  for p in $pids; do args+=(--pid "$p"); done
  cid=$(cluster_id)
  [[ -z "$cid" ]] || args+=(--cluster-id "$cid")
  "$JAVA" -Xshare:auto -XX:TieredStopAtLevel=1 -cp "$LIB_DIR/*" "$READY_SRC" "${args[@]}" "$@" ready
}

with_lock() {
  mkdir -p -- "$DATA_DIR"
  if command -v flock >/dev/null; then
    exec 9>"$LOCK_FILE"
    flock -w $((START_TIMEOUT + STOP_TIMEOUT + 60)) 9 || die "another kafka.sh holds $LOCK_FILE"
  fi
}

# The keys an overlay file sets, as an extended regular expression's alternatives.
overlay_keys() {
  sed -n 's/^\([a-z][a-z0-9._-]*\)[[:space:]]*=.*/\1/p' "$1" | sed 's/\./\\./g' | paste -sd'|' -
}

# The current node's config: server.properties minus the settings generated here and those the
# overlays set; the secure profile adds secure.properties (its listeners), a cluster
# cluster.properties (its replication) and the node's id.
write_config() {
  local drop='controller\.quorum\.voters|listeners|advertised\.listeners|log\.dirs' listener=PLAINTEXT
  if [[ "$PROFILE" == secure ]]; then
    drop+='|listener\.security\.protocol\.map|inter\.broker\.listener\.name|controller\.listener\.names'
    listener=CLIENTS
  fi
  ((NODES == 1)) || drop+="|node\\.id|$(overlay_keys "$CLUSTER_TEMPLATE")"
  mkdir -p -- "$NODE_DIR"
  {
    grep -v -E "^($drop)[[:space:]]*=|^# \[generated\]" "$TEMPLATE"
    if [[ "$PROFILE" == secure ]]; then
      echo
      echo "############################# Secure profile (secure.properties) #######################"
      sed "s|@CREDENTIALS_DIR@|$CREDS_DIR|g" "$SECURE_TEMPLATE"
    fi
    if ((NODES > 1)); then
      echo
      echo "############################# Cluster (cluster.properties) #############################"
      cat "$CLUSTER_TEMPLATE"
    fi
    echo
    echo "############################# Generated by kafka.sh ###################################"
    if [[ "$PROFILE" == secure ]]; then
      echo "# kafka.sh profile=secure"
      echo "# kafka.sh credentials=$CREDS_DIR"
    fi
    ((NODES == 1)) || echo "node.id=$NODE_ID"
    echo "controller.quorum.voters=$(voters)"
    echo "listeners=$listener://$HOST:$NODE_PORT,CONTROLLER://$HOST:$NODE_CONTROLLER_PORT"
    echo "advertised.listeners=$listener://$HOST:$NODE_PORT"
    echo "log.dirs=$STORAGE_DIR"
  } >"$CONF.tmp"
  [[ "$PROFILE" != secure ]] || chmod 600 "$CONF.tmp"
  mv -f -- "$CONF.tmp" "$CONF"
}

# Secure profile: the CA and a certificate per principal (broker/adapters/kafka/tls/);
# existing ones are kept. Recipients come from BROKER_POLICY_DIR (default ./policies).
ensure_credentials() {
  local policy_dir=${BROKER_POLICY_DIR:-$PWD/policies}
  [[ -d "$policy_dir" ]] || die "no policy directory $policy_dir for the recipients' certificates; set BROKER_POLICY_DIR"
  "$PYTHON" -m broker.adapters.kafka.tls init "$CREDS_DIR" --policy-dir "$policy_dir" \
    || die "creating credentials in $CREDS_DIR failed (KAFKA_PYTHON=$PYTHON)"
}

java_common() {
  echo "-Dlog4j2.configurationFile=$LOG4J_CONF"
  echo "-Dkafka.logs.dir=$NODE_DIR"
}

new_cluster_id() {
  local cid jopts=()
  mapfile -t jopts < <(java_common)
  cid=$("$JAVA" "${jopts[@]}" -cp "$LIB_DIR/*" kafka.tools.StorageTool random-uuid) || die "StorageTool random-uuid failed"
  printf '%s\n' "$cid" | tail -n1
}

# format_storage [CLUSTER_ID] : the current node's storage, once (a cluster's nodes share an id).
format_storage() {
  [[ -f "$STORAGE_DIR/meta.properties" ]] && return 0
  local cid=${1:-} out jopts=()
  mapfile -t jopts < <(java_common)
  [[ -n "$cid" ]] || cid=$(new_cluster_id)
  if ! out=$("$JAVA" "${jopts[@]}" -cp "$LIB_DIR/*" kafka.tools.StorageTool format \
      --config "$CONF" --cluster-id "$cid" --ignore-formatted 2>&1); then
    echo "$out" >&2
    die "formatting $STORAGE_DIR failed"
  fi
  say "formatted $STORAGE_DIR (cluster id $cid)"
}

# show_log_tail LINES_BEFORE : the end of what this start added to kafka.log.
show_log_tail() {
  local before=${1:-0} new
  new=$(tail -n +$((before + 1)) "$LOG_FILE" 2>/dev/null | tail -n 40) || true
  echo "----- last lines logged by this start ($LOG_FILE) -----" >&2
  if [[ -n "$new" ]]; then printf '%s\n' "$new" >&2; else echo "(nothing)" >&2; fi
  if [[ -s "$OUT_FILE" ]]; then
    echo "----- $OUT_FILE -----" >&2
    tail -n 20 "$OUT_FILE" >&2
  fi
  echo "-----" >&2
}

# terminate PID : SIGTERM, wait up to STOP_TIMEOUT, then SIGKILL.
terminate() {
  local pid=$1 t0 deadline
  t0=$(now_ms)
  deadline=$((t0 + STOP_TIMEOUT * 1000))
  kill -TERM "$pid" 2>/dev/null || true
  while pid_alive "$pid" && (($(now_ms) < deadline)); do sleep 0.2; done
  if pid_alive "$pid"; then
    echo "kafka.sh: broker (pid $pid) still running after ${STOP_TIMEOUT} s; sending SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
    while pid_alive "$pid"; do sleep 0.1; done
  fi
  rm -f -- "$PID_FILE"
  say "stopped (pid $pid) in $(elapsed "$t0")"
}

# launch : start the current node's JVM in the background; LAUNCHED is its pid.
LAUNCHED=
launch() {
  local jopts=()
  mapfile -t jopts < <(java_common)
  : >"$OUT_FILE"
  (
    cd -- "$NODE_DIR"
    exec nohup "$JAVA" "${HEAP_OPTS[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
      -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true "${jopts[@]}" "${EXTRA_JVM_OPTS[@]}" \
      -cp "$LIB_DIR/*" kafka.Kafka "$CONF"
  ) >>"$OUT_FILE" 2>&1 </dev/null 9>&- &
  LAUNCHED=$!
  echo "$LAUNCHED" >"$PID_FILE"
}

# ---------------------------------------------------------------- commands

cmd_fetch() { with_lock; do_fetch; }

cmd_start() {
  if ((NODES > 1)); then cluster_start; return; fi
  with_lock
  do_fetch
  local t0 pid rport rc
  if pid=$(broker_pid); then
    rport=$(running_port)
    rport=${rport:-$PORT}
    [[ "$rport" == "$PORT" ]] || die "already running (pid $pid) on port $rport, not $PORT; stop it first"
    [[ "$(running_profile)" == "$PROFILE" ]] \
      || die "already running (pid $pid) with the $(running_profile) profile, not $PROFILE; stop it first"
    if ready_check "$HOST:$PORT" "$START_TIMEOUT" "$pid" "$PROFILE" "$CREDS_DIR" >/dev/null; then
      say "already running (pid $pid) on $HOST:$PORT"
      return 0
    fi
    die "running (pid $pid) but not ready; see $LOG_FILE or run 'stop'"
  fi
  if [[ -f "$PID_FILE" ]]; then
    say "removing stale pid file (pid $(cat "$PID_FILE" 2>/dev/null) is not a running broker)"
    rm -f -- "$PID_FILE"
  fi
  [[ ! -d "$DATA_DIR/node-1" ]] || die "$DATA_DIR holds a cluster's nodes (node-1/); use another KAFKA_DATA_DIR or reset it"
  for p in "$PORT" "$CONTROLLER_PORT"; do
    ! port_in_use "$p" || die "$HOST:$p is already in use by another process"
  done

  t0=$(now_ms)
  [[ "$PROFILE" != secure ]] || ensure_credentials
  write_config
  format_storage

  local log_before=0
  [[ ! -f "$LOG_FILE" ]] || log_before=$(wc -l <"$LOG_FILE")
  launch
  pid=$LAUNCHED

  set +e
  ready_check "$HOST:$PORT" "$START_TIMEOUT" "$pid" "$PROFILE" "$CREDS_DIR" >/dev/null
  rc=$?
  set -e
  if ((rc != 0)); then
    if ((rc == 3)); then
      echo "kafka.sh: broker (pid $pid) exited during start-up" >&2
      rm -f -- "$PID_FILE"
    else
      echo "kafka.sh: broker (pid $pid) not ready after ${START_TIMEOUT} s; stopping it" >&2
    fi
    show_log_tail "$log_before"
    pid_alive "$pid" && terminate "$pid" >/dev/null
    rm -f -- "$PID_FILE"
    exit 1
  fi
  if [[ "$PROFILE" == secure ]]; then
    say "started (secure profile: mutual TLS, ACLs; credentials in $CREDS_DIR)"
  fi
  say "started on $HOST:$PORT (controller $HOST:$CONTROLLER_PORT, pid $pid, cluster $(cluster_id)) in $(elapsed "$t0")"
  say "log: $LOG_FILE"
}

cmd_stop() {
  local pid
  if [[ ! -d "$DATA_DIR" ]]; then
    say "not running"
    return 0
  fi
  if ((NODES > 1)); then cluster_stop; return; fi
  with_lock
  if ! pid=$(broker_pid); then
    [[ ! -f "$PID_FILE" ]] || rm -f -- "$PID_FILE"
    say "not running"
    return 0
  fi
  terminate "$pid"
}

cmd_status() {
  local pid rport
  if ((NODES > 1)); then cluster_status; return; fi
  if ! pid=$(broker_pid); then
    say "not running"
    return 1
  fi
  rport=$(running_port)
  rport=${rport:-$PORT}
  if ready_check "$HOST:$rport" 5 "$pid" "$(running_profile)" "$(running_creds_dir)" >/dev/null 2>&1; then
    if [[ "$(running_profile)" == secure ]]; then
      say "running and ready (pid $pid) on $HOST:$rport, cluster $(cluster_id), secure profile"
      return 0
    fi
    say "running and ready (pid $pid) on $HOST:$rport, cluster $(cluster_id)"
    return 0
  fi
  say "running (pid $pid) but not ready on $HOST:$rport"
  return 1
}

cmd_reset() {
  if [[ ! -d "$DATA_DIR" ]]; then
    say "nothing to reset ($DATA_DIR does not exist)"
    return 0
  fi
  # Refuse to delete a directory that holds anything this script did not put there.
  local entry name
  for entry in "$DATA_DIR"/* "$DATA_DIR"/.[!.]*; do
    [[ -e "$entry" ]] || continue
    name=${entry##*/}
    case "$name" in
      kraft-logs | server.properties | server.properties.tmp | kafka.log | kafka.log.* | kafka.out | kafka.pid | kafka.lock) ;;
      cluster.env | node-[1-9]) ;;
      *) die "refusing to delete $DATA_DIR: it contains '$name', which kafka.sh did not create" ;;
    esac
  done
  cmd_stop
  rm -rf -- "$DATA_DIR"
  say "deleted $DATA_DIR"
}

cmd_topics() {
  [[ -f "$STAMP" ]] || die "jars not fetched; run 'start' first"
  local rport action=${1:-list} profile=$PROFILE creds=$CREDS_DIR bootstrap
  rport=$(running_port)
  if [[ -n "$rport" ]] && broker_pid >/dev/null; then
    profile=$(running_profile)
    creds=$(running_creds_dir)
  else
    rport=$PORT
  fi
  bootstrap="$HOST:$rport"
  ((NODES == 1)) || bootstrap=$(bootstrap_list)
  admin_client_args "$profile" "$creds"
  shift || true
  case "$action" in
    list) set -- list-topics ;;
    create) set -- create-topic "$@" ;;
    delete) set -- delete-topic "$@" ;;
    *) die "usage: kafka.sh topics [list | create NAME [PARTITIONS] | delete NAME]" ;;
  esac
  exec "$JAVA" -XX:TieredStopAtLevel=1 -cp "$LIB_DIR/*" "$READY_SRC" --bootstrap "$bootstrap" \
    --brokers "$NODES" "${ADMIN_ARGS[@]}" "$@"
}

# The cluster's commands (KAFKA_NODES=3): cluster.sh beside this script.
# shellcheck source=cluster.sh
source "$KAFKA_HOME/cluster.sh"


cmd_credentials() { ensure_credentials; }

usage() {
  sed -n '2,44s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

case "${1:-}" in
  fetch) cmd_fetch ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  reset) cmd_reset ;;
  topics) shift; cmd_topics "$@" ;;
  credentials) cmd_credentials ;;
  bootstrap) bootstrap_list ;;
  node) shift; cmd_node "$@" ;;
  -h | --help | help) usage ;;
  *) usage >&2; exit 2 ;;
esac
