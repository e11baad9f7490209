#!/usr/bin/env bash
# Benchmark of the Python plugin host: 10,000 calls of a small Python plugin in one compile
# (time per call), and the N=2,000 scale model with one Python call per host, against the
# real Inmanta on the same project in the same run. See scripts/bench_python.py.
#
#   bash scripts/bench-python.sh               # builds target/release/cairn first
#   SKIP_BUILD=1 bash scripts/bench-python.sh --hosts 2000 --calls 10000 --runs 3
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${SKIP_BUILD:-}" ]; then
    echo "bench: cargo build --release" >&2
    cargo build --release --quiet
fi
exec python3 scripts/bench_python.py "$@"
