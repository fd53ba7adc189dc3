#!/usr/bin/env bash
# The whole test suite, as the README's second command. CI (.ci/run) runs this after the
# format and lint checks. It needs only the Rust toolchain today; when a suite needs a service
# (Redis, Chromium), this script starts or installs it, or stops with a clear message.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace --locked "$@"
