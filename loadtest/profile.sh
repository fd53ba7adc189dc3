#!/usr/bin/env bash
# Profiles Commonground under one loadtest scenario with `perf record`, so the "What limits
# us" section of BENCHMARKS.md can be reproduced. The server runs pinned to core 0 and the
# generator to core 1, as in run-benchmarks.sh; perf samples only the server, from the moment
# it is up until the loadtest ends, with DWARF call graphs (the release profile keeps line
# tables, and Rust release builds have no frame pointers for `-g` to follow).
#
#   loadtest/profile.sh NAME LOADTEST-ARGS...
#   loadtest/profile.sh unsat townhall --listeners 2000 --rate 20 --duration 15
#   loadtest/profile.sh sat   townhall --listeners 10000 --rate 20 --duration 5 --drain 30
#   loadtest/profile.sh storm join-storm --clients 10000 --window-ms 1000
#
# NO_BUILD=1 profiles the release binaries as they are. Writes $OUT/NAME.perf.data, NAME.flat.txt (self time by symbol) and NAME.tree.txt (callers
# folded into callees, children included); OUT defaults to loadtest/results/profile.
set -euo pipefail
cd "$(dirname "$0")/.."

NAME=$1; shift
OUT=${OUT:-loadtest/results/profile}
FREQ=${FREQ:-499}
KEY=loadtest-organizer-key
R=target/release
mkdir -p "$OUT"

if [[ -z "${NO_BUILD:-}" ]]; then  # NO_BUILD=1: profile the binaries already built
  cargo build --release --quiet -p loadtest --bins
  cargo build --release --quiet -p commonground --bin commonground
fi

PROTOCOLS=$(mktemp -d)
cp protocols/*.toml "$PROTOCOLS/"
"$R/loadtest" protocol > "$PROTOCOLS/loadtest-go-round.toml"

taskset -c 0 "$R/commonground" serve --bind 127.0.0.1:18090 --organizer-key "$KEY" \
  --protocols "$PROTOCOLS" --demo false --max-connections 30000 \
  --connect-rate 1000000 --connect-burst 1000000 --command-rate 100000 --command-burst 100000 \
  >"$OUT/$NAME.server.log" 2>&1 &
SERVER_PID=$!
PERF_PID=""
cleanup() {
  if [[ -n "$PERF_PID" ]]; then kill -INT "$PERF_PID" 2>/dev/null || true; fi
  kill "$SERVER_PID" 2>/dev/null || true
  rm -rf "$PROTOCOLS"
}
trap cleanup EXIT
for _ in $(seq 200); do
  if (exec 3<>/dev/tcp/127.0.0.1/18090) 2>/dev/null; then break; fi
  sleep 0.05
done

perf record -F "$FREQ" --call-graph dwarf,16384 -p "$SERVER_PID" -o "$OUT/$NAME.perf.data" \
  2>"$OUT/$NAME.perf.log" &
PERF_PID=$!
sleep 1
COMMONGROUND_ORGANIZER_KEY=$KEY taskset -c 1 "$R/loadtest" "$@" --url http://127.0.0.1:18090 \
  --server-pid "$SERVER_PID" --out "$OUT" --quiet | tee "$OUT/$NAME.loadtest.txt"
kill -INT "$PERF_PID"
wait "$PERF_PID" 2>/dev/null || true
PERF_PID=""

perf report -i "$OUT/$NAME.perf.data" --no-children --sort symbol --percent-limit 0.7 \
  --stdio -g none 2>/dev/null > "$OUT/$NAME.flat.txt"
perf report -i "$OUT/$NAME.perf.data" --children --sort symbol --percent-limit 3 \
  --stdio -g none 2>/dev/null > "$OUT/$NAME.tree.txt"
echo "profile in $OUT/$NAME.{flat,tree}.txt"
