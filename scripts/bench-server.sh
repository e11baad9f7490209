#!/usr/bin/env bash
# Server benchmark (figures, not a test): a 65,000-resource version uploaded with
# `cairn export --server` (seconds, bytes sent, the server's peak RSS) and read back page by
# page (1,000 resources a page), on the SQLite store and on SecantusDB. SecantusDB is itself
# a Python server, so its targets are ratios to its own speed: the script also inserts and
# reads the same documents through a plain driver (pymongo) and prints the ratio.
#
#   bash scripts/bench-server.sh            # N = 65000
#   N=10000 bash scripts/bench-server.sh
#   SKIP_BUILD=1 bash scripts/bench-server.sh
#   ONLY=agents SKIP_BUILD=1 bash scripts/bench-server.sh    # only the agent sections
#
# Targets: on SQLite, upload and store at most 2 s and the listing at most 1 s; on
# SecantusDB, both within 1.5x of the raw driver doing the same inserts and reads.
#
# Then the agent sections (scripts/bench_agents.py): release-to-all-deployed of AGENT_N
# (10,000) null resources over 10 agent names hosted by 2 `cairn agent` processes, without
# and with requires across agents, on SQLite (targets: 5,000 and 2,000 resources/s) and on
# SecantusDB (target: within 2x of a plain driver doing the same state writes); and the
# failover of an agent name's primary in the middle of a deploy of FAILOVER_N (50,000)
# resources, by `kill -9` (default --agent-timeout 10; target: the standby's first result
# stored within 10 s, aim 3 s) and by SIGSTOP (--agent-timeout STOP_TIMEOUT, 3 s).
#
# ONLY selects sections: upload (the version upload and listing), agents (throughput and
# failover), throughput, failover; several with commas. Empty: all of them. The work
# directory (logs, stores) is removed at the end unless the run fails or KEEP_WORK=1.
# The agent sections also read AGENT_BACKENDS (sqlite,secantus), BENCH_TIMEOUT (120 s, every
# wait), SECANTUS_TIMEOUT (900 s, a deploy on SecantusDB), STOP_TIMEOUT (3 s) and the poll
# intervals (see scripts/bench_agents.py).
# Needs: cargo, python3, and the test virtualenv with SecantusDB and pymongo (scripts/test.sh
# makes it).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
N="${N:-65000}"
VENV="${CAIRN_TEST_VENV:-$ROOT/.venv-test}"
BIN="$ROOT/target/release/cairn"
if [ -z "${SKIP_BUILD:-}" ]; then
    echo "bench: cargo build --release" >&2
    cargo build --release --quiet
fi
[ -x "$VENV/bin/secantusd-py" ] || { echo "bench: $VENV/bin/secantusd-py is missing: run bash scripts/test.sh once" >&2; exit 1; }

ONLY="${ONLY:-}"
# Whether section $1 runs.
wanted() {
    [ -z "$ONLY" ] && return 0
    local item
    for item in ${ONLY//,/ }; do
        case "$item" in
            "$1") return 0 ;;
            agents) [ "$1" = throughput ] || [ "$1" = failover ] && return 0 ;;
            upload | throughput | failover) ;;
            *) echo "bench: unknown section \`$item\` in ONLY (upload, agents, throughput, failover)" >&2; exit 2 ;;
        esac
    done
    return 1
}
# Refuses an unknown section before anything runs.
wanted upload || wanted throughput || wanted failover || true

work="$(mktemp -d)"
pids=()
cleanup() {
    local status=$?
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    if [ "$status" -ne 0 ] || [ -n "${KEEP_WORK:-}" ]; then
        echo "bench: logs and stores kept in $work" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() {
    for _ in $(seq 300); do
        python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $1), 0.2)" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "bench: nothing listens on port $1" >&2
    exit 1
}

# The model: N null resources over 10 agents, each with a small value.
mkdir -p "$work/project"
echo "name: bench" > "$work/project/project.yml"
python3 - "$N" > "$work/project/main.cf" <<'PY'
import sys
n = int(sys.argv[1])
print("import std::testing")
for agent in range(10):
    count = n // 10 + (1 if agent < n % 10 else 0)
    print(f"for i in std::sequence({count}):")
    print(f'    std::testing::NullResource(name=f"r{{i}}", agentname="agent{agent}", value=f"value of resource {{i}} of agent{agent}")')
    print("end")
PY

ADMIN="bench-admin-token-$(date +%s%N)"
run_backend() {
    local name=$1 store=$2
    local port
    port="$(free_port)"
    "$BIN" server --bind "127.0.0.1:$port" --store "$store" --admin-token "$ADMIN" 2>"$work/$name-server.log" &
    local server=$!
    pids+=("$server")
    wait_port "$port"
    export CAIRN_SERVER="http://127.0.0.1:$port" CAIRN_TOKEN="$ADMIN"
    "$BIN" env create bench >/dev/null
    local start end
    start=$(date +%s%N)
    "$BIN" export "$work/project" -e bench --release >"$work/$name-version" 2>"$work/$name-export.log" || { cat "$work/$name-export.log" >&2; exit 1; }
    end=$(date +%s%N)
    local upload_s bytes
    upload_s=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
    bytes=$(grep -o '([0-9]* bytes)' "$work/$name-export.log" | tr -dc '0-9')
    local compile_ms
    compile_ms=$(grep -o 'in [0-9]* ms (export' "$work/$name-export.log" | awk '{print $2}')
    local version
    version=$(cat "$work/$name-version")
    start=$(date +%s%N)
    python3 - "$port" "$ADMIN" "$version" "$N" <<'PY'
import json, sys, urllib.request, urllib.parse
port, token, version, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
after, seen = None, 0
while True:
    query = {"limit": "1000"}
    if after:
        query["after"] = after
    url = f"http://127.0.0.1:{port}/api/v1/environments/bench/versions/{version}?" + urllib.parse.urlencode(query)
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    page = json.load(urllib.request.urlopen(request))
    seen += len(page["resources"])
    after = page["next"]
    if not after:
        break
assert seen == n, f"listed {seen} of {n}"
PY
    end=$(date +%s%N)
    local list_s rss
    list_s=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
    rss=$(awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$server/status")
    printf "%-12s upload %6s s (compile %5s ms, %9s bytes sent)   list %6s s   server peak RSS %5s MB\n" \
        "$name" "$upload_s" "$compile_ms" "$bytes" "$list_s" "$rss"
    echo "$upload_s $list_s" > "$work/$name-figures"
    kill "$server"; wait "$server" 2>/dev/null || true
}

mport=""
start_secantus() {
    mport="$(free_port)"
    mkdir -p "$work/secantus"
    "$VENV/bin/secantusd-py" --host 127.0.0.1 --port "$mport" --storage-path "$work/secantus" >"$work/secantus.log" 2>&1 &
    pids+=($!)
    wait_port "$mport"
}

# The upload section (its lines not indented: the here-documents end at the margin).
if wanted upload; then
echo "server benchmark: a version of $N resources ($(nproc) cores)"
run_backend sqlite "sqlite:$work/state.db"

start_secantus
run_backend secantus "mongodb://127.0.0.1:$mport/cairn_bench"

# The same documents through a plain driver: the store's own speed.
"$VENV/bin/python" - "$mport" "$N" "$work/raw-figures" <<'PY'
import sys, time
from pymongo import MongoClient
port, n, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
db = MongoClient(f"mongodb://127.0.0.1:{port}/", serverSelectionTimeoutMS=5000)["raw_bench"]
docs = [{"environment": "bench", "hash": f"{i:040x}", "document": {"id": f"std::testing::NullResource[agent{i % 10},name=r{i}]",
         "resource_type": "std::testing::NullResource", "agent": f"agent{i % 10}", "attributes": {"name": f"r{i}",
         "agentname": f"agent{i % 10}", "value": f"value of resource {i}", "fail": False, "managed": True, "purged": False,
         "purge_on_delete": False, "send_event": True, "receive_events": True}, "requires": [], "hash": f"{i:040x}",
         "undefined": False, "send_event": True, "receive_events": True}} for i in range(n)]
start = time.time()
for i in range(0, n, 1000):
    db.documents.insert_many(docs[i:i + 1000])
insert = time.time() - start
start = time.time()
count = sum(1 for _ in db.documents.find({"environment": "bench"}).batch_size(1000))
read = time.time() - start
assert count == n
open(out, "w").write(f"{insert:.2f} {read:.2f}\n")
print(f"{'raw driver':<12} insert {insert:6.2f} s{'':43}read {read:6.2f} s")
PY
read -r s_up s_list < "$work/secantus-figures"
read -r r_up r_list < "$work/raw-figures"
awk -v a="$s_up" -v b="$r_up" -v c="$s_list" -v d="$r_list" 'BEGIN {
    printf "SecantusDB through Cairn vs the raw driver: upload %.2fx, listing %.2fx (target: at most 1.5x each)\n", a / b, c / d }'
read -r q_up q_list < "$work/sqlite-figures"
echo "SQLite targets: upload <= 2 s (was $q_up s), listing <= 1 s (was $q_list s)"
fi

# The agent sections: a helper that starts its own servers and agent processes (SecantusDB is
# the one above, or one started here).
sections=()
wanted throughput && sections+=(throughput)
wanted failover && sections+=(failover)
if [ "${#sections[@]}" -gt 0 ]; then
    agent_args=(--bin "$BIN" --work "$work" --sections "$(IFS=,; echo "${sections[*]}")")
    if wanted throughput && [[ ",${AGENT_BACKENDS:-secantus}," == *,secantus,* ]]; then
        [ -n "$mport" ] || start_secantus
        agent_args+=(--mongo-port "$mport")
    fi
    echo "agent benchmarks ($(nproc) cores)"
    "$VENV/bin/python" "$ROOT/scripts/bench_agents.py" "${agent_args[@]}"
fi
