#!/usr/bin/env bash
# A throw-away PowerDNS authoritative server for tests (Debian's pdns-server with the sqlite3
# backend), on free loopback ports, in a folder of its own, as ../shared/spec/test-servers.md
# describes.
#
#   eval "$(bash scripts/test-pdns.sh start DIR)"   # starts it; prints PDNS_API, PDNS_DNS_PORT,
#                                                   # PDNS_API_KEY, PDNS_PID, PDNS_DIR
#   bash scripts/test-pdns.sh stop DIR              # stops it by its pid, removes nothing
#
# DIR is created when missing (default: a new temporary folder). The key is random and only
# good for this server. Installs the packages with apt-get when pdns_server is missing and we
# are root. The cairn-mod-pdns tests start their own server the same way (they need no script).
set -euo pipefail
cmd=${1:-start}
dir=${2:-}

case "$cmd" in
start)
    if [ ! -x /usr/sbin/pdns_server ]; then
        [ "$(id -u)" = 0 ] || { echo "test-pdns: pdns_server is missing: apt-get install -y pdns-server pdns-backend-sqlite3 sqlite3" >&2; exit 1; }
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pdns-server pdns-backend-sqlite3 sqlite3 >/dev/null 2>&1 || true
    fi
    [ -n "$dir" ] || dir=$(mktemp -d /tmp/cairn-pdns.XXXXXX)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    read -r dns_port api_port < <(python3 -c 'import socket
s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1",0)) for x in s]
print(*[x.getsockname()[1] for x in s])')
    key=$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')
    rm -f "$dir/pdns.sqlite3"
    sqlite3 "$dir/pdns.sqlite3" < /usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql
    cat > "$dir/pdns.conf" <<CONF
launch=gsqlite3
gsqlite3-database=$dir/pdns.sqlite3
local-address=127.0.0.1
local-port=$dns_port
api=yes
api-key=$key
webserver=yes
webserver-address=127.0.0.1
webserver-port=$api_port
webserver-allow-from=127.0.0.1
socket-dir=$dir
daemon=no
guardian=no
disable-syslog=yes
security-poll-suffix=
CONF
    chmod 600 "$dir/pdns.conf"
    /usr/sbin/pdns_server --config-dir="$dir" --daemon=no --guardian=no --socket-dir="$dir" > "$dir/pdns.log" 2>&1 &
    pid=$!
    echo "$pid" > "$dir/pdns.pid"
    # Bounded wait: about 10 s for the API to answer.
    for _ in $(seq 100); do
        if python3 - "$api_port" "$key" <<'PY' 2>/dev/null; then break; fi
import sys, urllib.request
r = urllib.request.Request(f"http://127.0.0.1:{sys.argv[1]}/api/v1/servers/localhost", headers={"X-API-Key": sys.argv[2]})
urllib.request.urlopen(r, timeout=1)
PY
        kill -0 "$pid" 2>/dev/null || { echo "test-pdns: pdns_server exited; its log:" >&2; cat "$dir/pdns.log" >&2; exit 1; }
        sleep 0.1
    done
    cat > "$dir/env" <<ENV
PDNS_API=http://127.0.0.1:$api_port
PDNS_DNS_PORT=$dns_port
PDNS_API_KEY=$key
PDNS_PID=$pid
PDNS_DIR=$dir
ENV
    chmod 600 "$dir/env"
    cat "$dir/env"
    ;;
stop)
    [ -n "$dir" ] && [ -f "$dir/pdns.pid" ] || { echo "usage: test-pdns.sh stop DIR (DIR/pdns.pid is missing)" >&2; exit 1; }
    pid=$(cat "$dir/pdns.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$dir/pdns.pid"
    ;;
*)
    echo "usage: test-pdns.sh start [DIR] | stop DIR" >&2
    exit 2
    ;;
esac
