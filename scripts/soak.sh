#!/usr/bin/env bash
# Soak: a realistic mixed load (a town hall and breakout groups at once) against a release
# build for MINUTES (default 30), sampled every SAMPLE_SECS: server memory, CPU, open sockets,
# latency per interval, gaps and errors. Prints the time series and writes the run's JSON to
# $OUT (default loadtest/results). docs/soak.md holds the last results.
#
#   scripts/soak.sh [MINUTES]
#
# Load (environment): LISTENERS (1000) in the hall, RATE (2) utterances per second from its
# speaker, BREAKOUTS (100) breakout groups of GROUP_SIZE (5) running go-rounds with TURN_MS
# (3000) turns, SAMPLE_SECS (60). PORT (18480) is where the server listens, on loopback.
set -euo pipefail

MINUTES=${1:-30}
LISTENERS=${LISTENERS:-1000}
RATE=${RATE:-2}
BREAKOUTS=${BREAKOUTS:-100}
GROUP_SIZE=${GROUP_SIZE:-5}
TURN_MS=${TURN_MS:-3000}
SAMPLE_SECS=${SAMPLE_SECS:-60}
PORT=${PORT:-18480}
OUT=${OUT:-loadtest/results}
KEY=soak-organizer-key-0123456789

case $MINUTES in '' | *[!0-9]*) echo "soak.sh: MINUTES must be a whole number" >&2; exit 64 ;; esac
[ "$MINUTES" -ge 1 ] || { echo "soak.sh: MINUTES must be at least 1" >&2; exit 64; }
cd "$(dirname "$0")/.."

cargo build --release --quiet -p commonground -p loadtest --bins
R=target/release
DURATION=$((MINUTES * 60))
# Enough go-round phases that the groups outlast the run (a round is one turn per member).
PHASES=$((DURATION * 1000 / (TURN_MS * (GROUP_SIZE - 1)) + 2))

WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

mkdir "$WORK/protocols"
cp protocols/*.toml "$WORK/protocols/"
$R/loadtest protocol --name soak-go-round --turn-ms "$TURN_MS" --phases "$PHASES" \
    > "$WORK/protocols/soak-go-round.toml"
$R/loadtest soak --print-hall-protocol > "$WORK/protocols/soak-hall.toml"

$R/commonground serve --bind "127.0.0.1:$PORT" --organizer-key "$KEY" \
    --protocols "$WORK/protocols" --demo false --max-connections 30000 \
    --connect-rate 1000000 --connect-burst 1000000 \
    > "$WORK/server.out" 2> "$WORK/server.err" &
SERVER_PID=$!
for _ in $(seq 1 100); do
    grep -q "listening on" "$WORK/server.out" 2>/dev/null && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.err" >&2; exit 1; }
    sleep 0.1
done
grep -q "listening on" "$WORK/server.out" || { echo "soak.sh: the server did not start" >&2; exit 1; }

echo "soak: $MINUTES min, hall of $LISTENERS listeners at $RATE/s, $BREAKOUTS groups of $GROUP_SIZE" \
     "($TURN_MS ms turns), a sample every $SAMPLE_SECS s"
echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with local changes)');" \
     "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
COMMONGROUND_ORGANIZER_KEY=$KEY $R/loadtest soak --url "http://127.0.0.1:$PORT" \
    --server-pid "$SERVER_PID" --out "$OUT" --quiet \
    --max-secs $((DURATION + 900)) --connect-deadline 300 \
    --duration "$DURATION" --sample-secs "$SAMPLE_SECS" \
    --listeners "$LISTENERS" --rate "$RATE" --groups "$BREAKOUTS" --group-size "$GROUP_SIZE"
