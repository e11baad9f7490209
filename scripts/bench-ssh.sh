#!/usr/bin/env bash
# Benchmark of agentless deploys over SSH: N fs::File resources to one SSH target, first deploy
# and no-change redeploy, against scp on the same target. See scripts/bench_ssh.py.
#
#   bash scripts/bench-ssh.sh                    # builds target/release/cairn first
#   SKIP_BUILD=1 bash scripts/bench-ssh.sh --files 500 --runs 3
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${SKIP_BUILD:-}" ]; then
    echo "bench: cargo build --release" >&2
    cargo build --release --quiet
fi
exec python3 scripts/bench_ssh.py "$@"
