# The three-node cluster's commands, sourced by kafka.sh (KAFKA_NODES=3; see its header). Uses
# kafka.sh's functions and the node they act on (use_node N).
# shellcheck shell=bash

# Pids of the running nodes ("N:PID" words).
running_nodes() {
  local i pid out=""
  for ((i = 1; i <= NODES; i++)); do
    use_node "$i"
    if pid=$(broker_pid); then out+="${out:+ }$i:$pid"; fi
  done
  echo "$out"
}

# The profile and credentials the cluster was started with (node 1's config), else the asked.
cluster_profile() {
  use_node 1
  if [[ -f "$CONF" ]]; then running_profile; else echo "$PROFILE"; fi
}
cluster_creds() {
  use_node 1
  if [[ -f "$CONF" ]]; then running_creds_dir; else echo "$CREDS_DIR"; fi
}

# Remembers that the data dir is a cluster, and on which ports.
record_cluster() {
  local recorded
  if [[ -f "$CLUSTER_FILE" ]]; then
    recorded=$(sed -n 's/^port=//p' "$CLUSTER_FILE" | head -n1)
    if [[ "$recorded" != "$PORT" && -n "$(running_nodes)" ]]; then
      die "the cluster runs on port $recorded, not $PORT; stop it first"
    fi
  fi
  printf 'nodes=%s\nport=%s\n' "$NODES" "$PORT" >"$CLUSTER_FILE.tmp"
  mv -f -- "$CLUSTER_FILE.tmp" "$CLUSTER_FILE"
}

# The cluster's id: a formatted node's, else a new one.
cluster_storage_id() {
  local i cid
  for ((i = 1; i <= NODES; i++)); do
    use_node "$i"
    cid=$(cluster_id)
    if [[ -n "$cid" ]]; then echo "$cid"; return; fi
  done
  use_node 1
  new_cluster_id
}

# terminate_nodes SIGNAL N:PID... : signal every node at once (a controlled shutdown needs the
# quorum, so none waits for another to be gone), wait up to STOP_TIMEOUT, then SIGKILL. A node
# left without a quorum (a majority of the nodes gone) can never finish its controlled
# shutdown: it gets SIGKILL after 2 s of that (what it wrote is in the OS's page cache; the
# next start recovers its log).
terminate_nodes() {
  local sig=$1 entry deadline left pid t0 alive lost_at=0
  shift
  t0=$(now_ms)
  deadline=$((t0 + STOP_TIMEOUT * 1000))
  for entry in "$@"; do kill "-$sig" "${entry#*:}" 2>/dev/null || true; done
  while (($(now_ms) < deadline)); do
    left=0
    for entry in "$@"; do pid_alive "${entry#*:}" && left=1; done
    ((left)) || break
    read -r -a alive <<<"$(running_nodes)"
    if ((${#alive[@]} * 2 <= NODES)); then
      ((lost_at)) || lost_at=$(now_ms)
      (($(now_ms) - lost_at < 2000)) || break
    fi
    sleep 0.2
  done
  for entry in "$@"; do
    pid=${entry#*:}
    if pid_alive "$pid"; then
      if ((lost_at)); then
        echo "kafka.sh: node ${entry%%:*} (pid $pid) has no quorum left to shut down with; sending SIGKILL" >&2
      else
        echo "kafka.sh: node ${entry%%:*} (pid $pid) still running after ${STOP_TIMEOUT} s; sending SIGKILL" >&2
      fi
      kill -KILL "$pid" 2>/dev/null || true
      while pid_alive "$pid"; do sleep 0.1; done
    fi
    use_node "${entry%%:*}"
    rm -f -- "$PID_FILE"
  done
  STOPPED_IN=$(elapsed "$t0")
}

cluster_start() {
  with_lock
  do_fetch
  [[ ! -d "$DATA_DIR/kraft-logs" ]] || die "$DATA_DIR holds a single node's storage; use another KAFKA_DATA_DIR or reset it"
  record_cluster
  local t0 i pid cid rc started=() pids=() profile creds
  t0=$(now_ms)
  profile=$(cluster_profile)
  [[ "$profile" == "$PROFILE" || -z "$(running_nodes)" ]] \
    || die "the cluster runs with the $profile profile, not $PROFILE; stop it first"
  [[ "$PROFILE" != secure ]] || ensure_credentials
  cid=$(cluster_storage_id)
  for ((i = 1; i <= NODES; i++)); do
    use_node "$i"
    if pid=$(broker_pid); then
      pids+=("$pid")
      continue
    fi
    rm -f -- "$PID_FILE"
    for p in "$NODE_PORT" "$NODE_CONTROLLER_PORT"; do
      ! port_in_use "$p" || die "$HOST:$p (node $i) is already in use by another process"
    done
    write_config
    format_storage "$cid"
    launch
    started+=("$i:$LAUNCHED")
    pids+=("$LAUNCHED")
  done
  ((${#started[@]})) || say "already running (pids ${pids[*]})"
  creds=$(cluster_creds)
  set +e
  ready_check "$(bootstrap_list)" "$START_TIMEOUT" "${pids[*]}" "$PROFILE" "$creds" >/dev/null
  rc=$?
  set -e
  if ((rc != 0)); then
    echo "kafka.sh: the cluster is not ready after ${START_TIMEOUT} s (or a node exited); stopping what this start started" >&2
    for ((i = 1; i <= NODES; i++)); do
      use_node "$i"
      echo "----- node $i: $LOG_FILE -----" >&2
      tail -n 15 "$LOG_FILE" 2>/dev/null >&2 || true
      [[ ! -s "$OUT_FILE" ]] || tail -n 10 "$OUT_FILE" >&2
    done
    ((${#started[@]} == 0)) || terminate_nodes TERM "${started[@]}"
    exit 1
  fi
  ((${#started[@]})) || return 0
  [[ "$PROFILE" != secure ]] || say "started (secure profile: mutual TLS, ACLs; credentials in $creds)"
  say "started $NODES nodes (pids ${pids[*]}) on $(bootstrap_list), cluster $(cluster_id) in $(elapsed "$t0")"
  say "logs: $DATA_DIR/node-N/kafka.log"
}

cluster_stop() {
  with_lock
  local nodes
  read -r -a nodes <<<"$(running_nodes)"
  if ((${#nodes[@]} == 0)); then
    say "not running"
    return 0
  fi
  terminate_nodes TERM "${nodes[@]}"
  say "stopped $NODES nodes in $STOPPED_IN"
}

cluster_status() {
  local i pid up=0
  for ((i = 1; i <= NODES; i++)); do
    use_node "$i"
    if pid=$(broker_pid); then
      say "node $i: running (pid $pid) on $HOST:$NODE_PORT"
      up=$((up + 1))
    else
      say "node $i: not running"
    fi
  done
  ((up > 0)) || return 1
  if ((up == NODES)) && ready_check "$(bootstrap_list)" 5 "" "$(cluster_profile)" "$(cluster_creds)" >/dev/null 2>&1; then
    say "cluster ready: $NODES brokers, a quorum of $NODES voters, cluster $(cluster_id), $(cluster_profile) profile"
    return 0
  fi
  say "$up of $NODES nodes running; the cluster is not fully ready"
  return 1
}

# kafka.sh node N stop|kill|start|status
cmd_node() {
  local n=${1:-} action=${2:-} pid t0 rc
  ((NODES > 1)) || die "'node' acts on a cluster's node; $DATA_DIR holds no cluster (start one with KAFKA_NODES=3)"
  [[ "$n" =~ ^[0-9]+$ ]] && ((n >= 1 && n <= NODES)) || die "usage: kafka.sh node N stop|kill|start|status (N from 1 to $NODES)"
  use_node "$n"
  case "$action" in
    stop)
      with_lock
      pid=$(broker_pid) || { say "node $n: not running"; return 0; }
      terminate_nodes TERM "$n:$pid"
      say "node $n: stopped (pid $pid) in $STOPPED_IN"
      ;;
    kill)
      pid=$(broker_pid) || { say "node $n: not running"; return 0; }
      kill -KILL "$pid" 2>/dev/null || true
      # until reaped, not only a zombie: a JVM's other threads still hold its sockets meanwhile
      t0=$(now_ms)
      while kill -0 "$pid" 2>/dev/null && (($(now_ms) - t0 < 10000)); do sleep 0.05; done
      rm -f -- "$PID_FILE"
      say "node $n: killed (pid $pid, SIGKILL)"
      ;;
    start)
      with_lock
      if pid=$(broker_pid); then
        say "node $n: already running (pid $pid)"
        return 0
      fi
      [[ -f "$CONF" && -f "$STORAGE_DIR/meta.properties" ]] \
        || die "node $n has no config or storage; start the cluster (KAFKA_NODES=3 kafka.sh start)"
      for p in "$NODE_PORT" "$NODE_CONTROLLER_PORT"; do
        ! port_in_use "$p" || die "$HOST:$p (node $n) is already in use by another process"
      done
      t0=$(now_ms)
      launch  # with the config it was started with: same profile, ports and voters
      pid=$LAUNCHED
      set +e
      ready_check "$(bootstrap_list)" "$START_TIMEOUT" "$pid" "$(running_profile)" "$(running_creds_dir)" --in-sync >/dev/null
      rc=$?
      set -e
      if ((rc != 0)); then
        echo "kafka.sh: node $n (pid $pid) not back in the cluster after ${START_TIMEOUT} s" >&2
        tail -n 20 "$LOG_FILE" >&2 || true
        use_node "$n"
        ! pid_alive "$pid" || terminate_nodes TERM "$n:$pid"
        exit 1
      fi
      say "node $n: started (pid $pid) on $HOST:$NODE_PORT; $NODES brokers, every partition in sync, in $(elapsed "$t0")"
      ;;
    status)
      if pid=$(broker_pid); then
        say "node $n: running (pid $pid) on $HOST:$NODE_PORT"
        return 0
      fi
      say "node $n: not running"
      return 1
      ;;
    *) die "usage: kafka.sh node N stop|kill|start|status" ;;
  esac
}
