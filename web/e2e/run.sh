#!/usr/bin/env bash
# Runs the browser tests: headless Chromium (Debian's `chromium`) drives the real server.
#
#   web/e2e/run.sh                 uses target/debug/commonground (build it first)
#   COMMONGROUND_BIN=... run.sh    uses another server binary
#   CHROMIUM=/path/to/chromium     uses another Chromium
#
# Fails with a clear message when node, npm or Chromium is missing; never skips.
set -euo pipefail
cd "$(dirname "$0")"

die() { echo "web e2e: $*" >&2; exit 1; }

command -v node >/dev/null || die "node is not installed (apt-get install -y nodejs npm)"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' \
  || die "node 20 or newer is needed (playwright-core) (found $(node --version))"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
[ -x "$CHROMIUM" ] || die "Chromium not found at $CHROMIUM: run scripts/ensure-chromium.sh (apt-get install -y chromium chromium-driver)"
export CHROMIUM

# Install when any dev dependency (playwright-core, axe-core) is missing, so a checkout that
# installed before a dependency was added gets it too.
if [ ! -d node_modules/playwright-core ] || [ ! -d node_modules/axe-core ]; then
  command -v npm >/dev/null || die "npm is not installed (apt-get install -y npm)"
  npm ci --no-audit --no-fund --loglevel=error || die "npm ci failed (is the npm registry reachable?)"
fi

# Never let Playwright download a browser: we use the system Chromium.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
# With arguments, run just those test files (for example: run.sh forum.test.mjs).
if [ $# -gt 0 ]; then files=("$@"); else files=(./*.test.mjs); fi
exec node --test --test-concurrency=1 --test-reporter=spec "${files[@]}"
