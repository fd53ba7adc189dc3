#!/usr/bin/env bash
# Reproduces the tables in BENCHMARKS.md. Each server runs alone, pinned to core 0
# (taskset -c 0); the load generator is pinned to core 1; every server gets the same scenario
# and flags. Results (one JSON + SVG per run, and summary.txt with every table) go to $OUT.
#
#   loadtest/run-benchmarks.sh [SUITE...]
#       SUITE: unsat sat storm breakouts cluster-unsat cluster-sat (default: these)
#              cluster-hall (a 10,000-member hall on two and on three nodes; on request)
#   TARGETS="bare socketio commonground" DURATION=20 loadtest/run-benchmarks.sh unsat
#
# The cluster suites run Commonground only: one node without Redis, one node with Redis, and
# two nodes over Redis, with the same townhall (cluster-hall: two and three nodes). Only two cores: every server process (both
# nodes and a Redis started for the run on port $REDIS_PORT) shares core 0 and the generator
# keeps core 1, so "per core used" is deliveries per CPU-second of all server processes
# together, and a saturated run's deliveries/s compare directly (one core either way).
#
# Commonground's per-address connect and per-connection command limits are raised (they
# protect a public server, not what we measure here) except in the join storm, which reports
# what the default limiter refuses as well as what a raised one lets through.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=${TARGETS:-"bare socketio commonground"}
DURATION=${DURATION:-20}
OUT=${OUT:-loadtest/results/bench-$(date -u +%Y%m%dT%H%M%SZ)}
SUITES=${*:-"unsat sat storm breakouts cluster-unsat cluster-sat"}
REDIS_PORT=${REDIS_PORT:-16379}
# The Commonground server command; override to measure another build of the same server.
CG_CMD=${CG_CMD:-}
KEY=loadtest-organizer-key
R=target/release
mkdir -p "$OUT"

cargo build --release --quiet -p loadtest --bins
if [[ ( " $TARGETS " == *" commonground "* || " $SUITES " == *" cluster-"* ) && -z "$CG_CMD" ]]; then
  cargo build --release --quiet -p commonground --bin commonground
  CG_CMD="$R/commonground serve"
fi
if [[ " $TARGETS " == *" socketio "* && ! -d loadtest/peers/socketio/node_modules ]]; then
  (cd loadtest/peers/socketio && npm ci --no-audit --no-fund)
fi

# The repository's protocols plus the short go-round the breakouts scenario needs.
PROTOCOLS=$(mktemp -d)
cp protocols/*.toml "$PROTOCOLS/"
"$R/loadtest" protocol > "$PROTOCOLS/loadtest-go-round.toml"

SERVER_PID=""
NODE_PIDS=()
REDIS_PID=""
cleanup() {
  if [[ -n "$SERVER_PID" ]]; then kill "$SERVER_PID" 2>/dev/null || true; fi
  for p in "${NODE_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  if [[ -n "$REDIS_PID" ]]; then kill "$REDIS_PID" 2>/dev/null || true; fi
  rm -rf "$PROTOCOLS"
}
trap cleanup EXIT

wait_port() {
  for _ in $(seq 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "server on port $1 did not come up; see $OUT/*.log" >&2
  return 1
}

# start_server TARGET [relaxed|default]: sets SERVER_PID and URL.
start_server() {
  local limits=${2:-relaxed}
  case $1 in
    bare)
      taskset -c 0 "$R/bare_broadcast" --bind 127.0.0.1:19001 >"$OUT/bare.log" 2>&1 &
      SERVER_PID=$!; URL=ws://127.0.0.1:19001; wait_port 19001 ;;
    socketio)
      (cd loadtest/peers/socketio && PORT=13000 exec taskset -c 0 node server.js) \
        >"$OUT/socketio.log" 2>&1 &
      SERVER_PID=$!; URL=http://127.0.0.1:13000; wait_port 13000 ;;
    commonground)
      local extra=()
      if [[ $limits == relaxed ]]; then
        extra=(--connect-rate 1000000 --connect-burst 1000000
               --command-rate 100000 --command-burst 100000)
      fi
      # shellcheck disable=SC2086 # CG_CMD is a command line
      # A fresh data dir per run: the default durable journal, nothing left from a previous run.
      taskset -c 0 $CG_CMD --bind 127.0.0.1:18080 --organizer-key "$KEY" \
        --data-dir "$(mktemp -d "${TMPDIR:-/tmp}/cg-bench-data.XXXXXX")" \
        --protocols "$PROTOCOLS" --demo false --max-connections 30000 "${extra[@]}" \
        >"$OUT/commonground.log" 2>&1 &
      SERVER_PID=$!; URL=http://127.0.0.1:18080; wait_port 18080 ;;
  esac
}

stop_server() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
  sleep 1
}

# run TARGET LIMITS SCENARIO ARGS...
run() {
  local target=$1 limits=$2; shift 2
  start_server "$target" "$limits"
  echo "+ loadtest $* --target $target ($limits limits)" | tee -a "$OUT/summary.txt"
  COMMONGROUND_ORGANIZER_KEY=$KEY taskset -c 1 "$R/loadtest" "$@" --target "$target" \
    --url "$URL" --server-pid "$SERVER_PID" --out "$OUT" --quiet | tee -a "$OUT/summary.txt" \
    || echo "(run failed: $target $*)" | tee -a "$OUT/summary.txt"
  stop_server
}

# cluster_run NODES ARGS...: a fresh Redis and NODES Commonground nodes on it (all on core 0),
# then `loadtest cluster` with listeners spread over the nodes. NODES=0 runs the plain
# single node (no Redis) through `loadtest townhall`, for the comparison.
cluster_run() {
  local nodes=$1; shift
  if [[ $nodes == 0 ]]; then
    run commonground relaxed townhall "$@"
    return
  fi
  taskset -c 0 redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    >"$OUT/redis.log" 2>&1 &
  REDIS_PID=$!
  wait_port "$REDIS_PORT"
  local urls=() pids=()
  for n in $(seq "$nodes"); do
    local port=$((18180 + n))
    # shellcheck disable=SC2086 # CG_CMD is a command line
    taskset -c 0 $CG_CMD --bind "127.0.0.1:$port" --organizer-key "$KEY" \
      --protocols "$PROTOCOLS" --demo false --max-connections 30000 \
      --connect-rate 1000000 --connect-burst 1000000 --command-rate 100000 \
      --command-burst 100000 --redis "redis://127.0.0.1:$REDIS_PORT" \
      --redis-prefix "bench-$$" --node-id "node$n" \
      --token-secret loadtest-token-secret-0123456789 >"$OUT/node$n.log" 2>&1 &
    NODE_PIDS+=($!); pids+=($!); urls+=("http://127.0.0.1:$port")
    wait_port "$port"
  done
  echo "+ loadtest cluster $* over $nodes node(s) + redis" | tee -a "$OUT/summary.txt"
  COMMONGROUND_ORGANIZER_KEY=$KEY taskset -c 1 "$R/loadtest" cluster "$@" \
    --urls "$(IFS=,; echo "${urls[*]}")" --pids "$(IFS=,; echo "${pids[*]}")" \
    --redis-pid "$REDIS_PID" --out "$OUT" --quiet | tee -a "$OUT/summary.txt" \
    || echo "(run failed: cluster $nodes $*)" | tee -a "$OUT/summary.txt"
  for p in "${NODE_PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  NODE_PIDS=()
  kill "$REDIS_PID" 2>/dev/null || true; wait "$REDIS_PID" 2>/dev/null || true
  REDIS_PID=""
  sleep 1
}

{
  echo "# $(date -u) on $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
  echo "# kernel $(uname -r); $(rustc --version); node $(node --version 2>/dev/null || echo none)"
  echo "# targets: $TARGETS; commonground: ${CG_CMD:-not run}; git $(git rev-parse --short HEAD)"
} | tee -a "$OUT/summary.txt"

for suite in $SUITES; do
  case $suite in
    cluster-unsat|cluster-sat|cluster-hall)
      node_counts="0 1 2"
      if [[ $suite == cluster-unsat ]]; then
        args=(--listeners 2000 --rate 20 --duration "$DURATION")
      elif [[ $suite == cluster-hall ]]; then
        # A 10,000-member hall on two and on three nodes: does it fill, and what does the
        # fan-out cost per server CPU-second when it has.
        args=(--listeners 10000 --rate 20 --duration 5 --drain 30)
        node_counts="2 3"
      else
        # 200,000 deliveries/s offered like `sat`, but over 4,000 listeners: a cluster hall
        # takes joins far more slowly than one node (BENCHMARKS.md, "What limits us"), and
        # 10,000 of them do not get in within the gateway's waits.
        args=(--listeners 4000 --rate 50 --duration 5 --drain 30)
      fi
      # A listener the owner could not take in time is told `unavailable` and retries, as a
      # client does (the retries are reported).
      args+=(--join-retries 4)
      for nodes in $node_counts; do cluster_run "$nodes" "${args[@]}"; done
      continue ;;
  esac
  for t in $TARGETS; do
    case $suite in
      unsat) run "$t" relaxed townhall --listeners 2000 --rate 20 --duration "$DURATION" ;;
      sat) run "$t" relaxed townhall --listeners 10000 --rate 20 --duration 5 --drain 30 ;;
      storm)
        run "$t" relaxed join-storm --clients 10000 --window-ms 1000
        if [[ $t == commonground ]]; then
          run "$t" default join-storm --clients 10000 --window-ms 1000
        fi ;;
      breakouts)
        if [[ $t == commonground ]]; then
          run "$t" relaxed breakouts --rooms 2000 --room-size 5 --duration "$DURATION"
          run "$t" relaxed breakouts --rooms 2000 --room-size 5 --duration "$DURATION" --start-spread-ms 2000
        fi ;;
    esac
  done
done
echo "results in $OUT"
