#!/usr/bin/env bash
# The whole test suite, as the README's second command. CI (.ci/run) runs this after the
# format and lint checks. It brings up what the tests need, or stops with a clear message:
# - Redis on 127.0.0.1:6379 (cluster tests use unique key prefixes there; fault tests start
#   their own redis-server on a free port).
set -euo pipefail
cd "$(dirname "$0")/.."

need() {
  echo "scripts/test.sh: $1" >&2
  exit 1
}

if ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
  command -v redis-server >/dev/null || need "Redis is not running on 127.0.0.1:6379 and redis-server is not installed (apt-get install -y redis-server)"
  echo "scripts/test.sh: starting redis-server on 127.0.0.1:6379 (nothing kept on disk)"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
  for _ in $(seq 1 50); do
    (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null && break
    sleep 0.1
  done
fi

# The browser tests (tests/web_e2e.rs) drive Debian's Chromium through playwright-core.
scripts/ensure-chromium.sh

cargo test --workspace --locked "$@"
