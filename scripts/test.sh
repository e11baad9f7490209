#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what the tests need, then runs
# every test of the workspace once (one build). Used by CI (.ci/run) and by developers.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null; then
    echo "cargo is required (https://rustup.rs)" >&2
    exit 1
fi

# The apt::Package test installs a tiny real package when run as root: it needs package lists.
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && ! ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1; then
    apt-get update -qq || echo "warning: apt-get update failed; the apt test will report it" >&2
fi

if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast
else
    cargo test --workspace --no-fail-fast
fi
