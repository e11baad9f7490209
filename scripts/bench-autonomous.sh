#!/usr/bin/env bash
# Benchmark of the autonomous server (docs/autonomous.md): a webhook call to every resource
# of a 1,000-host model deployed, split into queue, fetch, load, compile, export, upload (with
# the release) and deploy. See scripts/bench_autonomous.py.
#
#   bash scripts/bench-autonomous.sh                 # builds target/release/cairn first
#   SKIP_BUILD=1 bash scripts/bench-autonomous.sh --hosts 1000 --runs 3
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${SKIP_BUILD:-}" ]; then
    echo "bench: cargo build --release" >&2
    cargo build --release --quiet
fi
exec python3 scripts/bench_autonomous.py "$@"
