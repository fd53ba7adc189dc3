#!/usr/bin/env bash
# Makes sure the browser tests (web/e2e, run by tests/web_e2e.rs) have what they need:
# Debian's Chromium and Node.js. Installs them with apt-get when missing (CI runs as root);
# otherwise says exactly what to install. Browser downloads (npx playwright install) are never
# used: the tests drive the system Chromium through playwright-core.
set -euo pipefail

need=()
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || need+=(chromium chromium-driver)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
  echo "The browser tests need: ${need[*]}. Install them with: sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "== installing ${need[*]} for the browser tests"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
