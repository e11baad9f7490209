#!/usr/bin/env bash
# A throw-away OpenSSH server on a free loopback port, for tests of SSH targets
# (docs: ../shared/spec/test-servers.md). Needs openssh-server (apt-get install -y openssh-server)
# and root (sshd, and logins as root).
#
#   scripts/test-sshd.sh start DIR   makes DIR, keys, sshd_config, starts sshd in the background
#                                    and prints shell assignments:
#                                      SSHD_PORT=... SSHD_USER=root SSHD_KEY=DIR/userkey
#                                      SSHD_KNOWN_HOSTS=DIR/known_hosts SSHD_PID=... SSHD_LOG=DIR/sshd.log
#                                    (use: eval "$(scripts/test-sshd.sh start /tmp/x)")
#   scripts/test-sshd.sh stop DIR    stops that sshd by its pid and waits for it to exit.
#
# The private keys stay in DIR (mode 0600) and are never printed.
set -euo pipefail

command=${1:-}
dir=${2:-}
if [[ -z "$command" || -z "$dir" ]]; then
    echo "usage: $0 start|stop DIR" >&2
    exit 2
fi

case "$command" in
start)
    [[ -x /usr/sbin/sshd ]] || { echo "/usr/sbin/sshd is missing: apt-get install -y openssh-server" >&2; exit 1; }
    mkdir -p "$dir" /run/sshd
    dir=$(cd "$dir" && pwd)
    rm -f "$dir"/hostkey* "$dir"/userkey*
    ssh-keygen -q -t ed25519 -N '' -C cairn-test-host -f "$dir/hostkey"
    ssh-keygen -q -t ed25519 -N '' -C cairn-test-user -f "$dir/userkey"
    cp "$dir/userkey.pub" "$dir/authorized_keys"
    chmod 644 "$dir/authorized_keys"
    # A free port: the kernel picks one for a socket bound to port 0.
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    cat > "$dir/sshd_config" <<CONFIG
ListenAddress 127.0.0.1
Port $port
HostKey $dir/hostkey
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
Subsystem sftp /usr/lib/openssh/sftp-server
LogLevel VERBOSE
MaxStartups 100
MaxSessions 100
CONFIG
    /usr/sbin/sshd -f "$dir/sshd_config" -D -e < /dev/null > /dev/null 2> "$dir/sshd.log" &
    pid=$!
    echo "$pid" > "$dir/sshd.daemon-pid"
    for _ in $(seq 1 200); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
        if ! kill -0 "$pid" 2>/dev/null; then cat "$dir/sshd.log" >&2; exit 1; fi
        sleep 0.05
    done
    echo "[127.0.0.1]:$port $(cat "$dir/hostkey.pub")" > "$dir/known_hosts"
    echo "SSHD_PORT=$port"
    echo "SSHD_USER=root"
    echo "SSHD_KEY=$dir/userkey"
    echo "SSHD_KNOWN_HOSTS=$dir/known_hosts"
    echo "SSHD_PID=$pid"
    echo "SSHD_LOG=$dir/sshd.log"
    ;;
stop)
    pidfile="$dir/sshd.daemon-pid"
    [[ -f "$pidfile" ]] || exit 0
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    # kill -0 is true on a zombie: wait on /proc's state instead, bounded.
    for _ in $(seq 1 100); do
        state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo gone)
        [[ "$state" == gone || "$state" == Z ]] && break
        sleep 0.05
    done
    wait "$pid" 2>/dev/null || true
    rm -f "$pidfile"
    ;;
*)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac
