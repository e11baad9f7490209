#!/usr/bin/env bash
# The dashboard and event stream benchmark (figures, not a test; scripts/bench_dashboard.py):
# events per second `GET /api/v1/events` delivers during a deploy of EVENTS_N (10,000)
# resources, and the resources page of DASHBOARD_N (65,000) resources in headless Chromium
# (first rows, every row loaded, the end of the list drawn after a jump there), and the
# graph of a version of GRAPH_N (3,000) resources (first paint, one repaint while dragged).
#
#   bash scripts/bench-dashboard.sh
#   SKIP_BUILD=1 SECTIONS=events bash scripts/bench-dashboard.sh
#   SKIP_BUILD=1 DASHBOARD_N=20000 RUNS=1 bash scripts/bench-dashboard.sh
#
# Needs: a release build (made unless SKIP_BUILD), python3, node with tests/browser's
# playwright-core and /usr/bin/chromium (scripts/test.sh installs both). The work folder is
# removed unless the run fails or KEEP_WORK=1.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [ -z "${SKIP_BUILD:-}" ]; then
    echo "bench: cargo build --release" >&2
    cargo build --release --quiet
fi
[ -d tests/browser/node_modules/playwright-core ] || { echo "bench: playwright-core is missing: run bash scripts/test.sh once (or npm ci in tests/browser)" >&2; exit 1; }
work="$(mktemp -d)"
status=0
python3 scripts/bench_dashboard.py --bin "$ROOT/target/release/cairn" --work "$work" --sections "${SECTIONS:-events,dashboard,graph}" || status=$?
if [ "$status" -ne 0 ] || [ -n "${KEEP_WORK:-}" ]; then
    echo "bench: logs kept in $work" >&2
else
    rm -rf "$work"
fi
exit "$status"
