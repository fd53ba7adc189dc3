#!/usr/bin/env bash
# Runs every fuzz target (fuzz/fuzz_targets/) for a bounded time and prints a summary, so the
# promise "no input crashes the server" is checked the same way every time.
#
#   scripts/fuzz.sh [SECONDS] [--cmin]
#
# SECONDS per target (default 60). The corpus lives in fuzz/corpus/<target>/ and grows as
# the fuzzer finds new paths; --cmin minimizes it afterwards, like `cargo fuzz cmin` (commit
# the minimized corpus).
# Crashes are saved under fuzz/artifacts/<target>/; turn each into a regression test next to
# the code it broke. Needs cargo-fuzz (`cargo install cargo-fuzz --locked`) and a nightly
# toolchain (FUZZ_TOOLCHAIN, default `nightly`). Results go in docs/fuzzing.md.
set -uo pipefail
cd "$(dirname "$0")/../fuzz"

SECS=60
CMIN=0
for arg in "$@"; do
  case "$arg" in
    --cmin) CMIN=1 ;;
    '' | *[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS] [--cmin]" >&2; exit 64 ;;
    *) SECS="$arg" ;;
  esac
done
TOOLCHAIN="${FUZZ_TOOLCHAIN:-nightly}"
TARGETS=(wire_frame command protocol_file http_json media_signaling)

command -v cargo-fuzz >/dev/null || {
  echo "scripts/fuzz.sh: cargo-fuzz is not installed (cargo install cargo-fuzz --locked)" >&2
  exit 1
}

# One release build with debug assertions (the engine's debug_assert! invariants are checked
# too), then the built binaries run directly: `cargo fuzz run` would rebuild whenever a source
# file changed, mid-run.
cargo "+$TOOLCHAIN" fuzz build --release --debug-assertions || exit 1
BIN_DIR="target/$(rustc "+$TOOLCHAIN" -vV | sed -n 's/^host: //p')/release"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_odr_violation=0}"

mkdir -p logs
declare -a ROWS
failed=0
for t in "${TARGETS[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  before=$(find "corpus/$t" -type f | wc -l)
  log="logs/$t.log"
  "$BIN_DIR/$t" "corpus/$t" -artifact_prefix="artifacts/$t/" \
    -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    >"$log" 2>&1
  status=$?
  execs=$(grep -m1 'stat::number_of_executed_units:' "$log" | awk '{print $2}')
  secs=$(grep -m1 -oE 'Done [0-9]+ runs in [0-9]+ second' "$log" | awk '{print $5}')
  cov=$(grep -E '^#[0-9]+' "$log" | tail -1 | grep -oE 'cov: [0-9]+' | awk '{print $2}')
  after=$(find "corpus/$t" -type f | wc -l)
  if [ "$status" -eq 0 ]; then
    result="clean"
  else
    result="FAILED (exit $status, see fuzz/$log and fuzz/artifacts/$t/)"
    failed=1
  fi
  ROWS+=("$(printf '%-14s %6ss %12s execs %6s cov %5s -> %5s corpus  %s' \
    "$t" "${secs:-?}" "${execs:-?}" "${cov:-?}" "$before" "$after" "$result")")
  if [ "$CMIN" -eq 1 ] && [ "$status" -eq 0 ]; then
    # Keep a smallest set of inputs with the same coverage (libFuzzer's set-cover merge into
    # an empty directory).
    rm -rf "corpus/$t.min" && mkdir -p "corpus/$t.min"
    if "$BIN_DIR/$t" -set_cover_merge=1 "corpus/$t.min" "corpus/$t" >"logs/$t.cmin.log" 2>&1; then
      rm -rf "corpus/$t" && mv "corpus/$t.min" "corpus/$t"
    else
      rm -rf "corpus/$t.min"
      echo "scripts/fuzz.sh: minimizing $t failed (see fuzz/logs/$t.cmin.log)" >&2
    fi
  fi
done

echo
echo "fuzzing summary ($SECS s per target, $(date -u +%Y-%m-%dT%H:%MZ))"
for row in "${ROWS[@]}"; do
  echo "  $row"
done
if [ "$CMIN" -eq 1 ]; then
  for t in "${TARGETS[@]}"; do
    echo "  $t corpus after cmin: $(find "corpus/$t" -type f | wc -l) files"
  done
fi
exit "$failed"
