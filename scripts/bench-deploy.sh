#!/usr/bin/env bash
# Deploy benchmark (embedded mode): N fs::File resources (default 10,000) in one directory.
# Prints the first deploy, the no-change redeploy (which reads and compares every file: the
# default), the same with --incremental (which trusts the store), and a redeploy that
# repairs 100 files edited by hand: wall time, resources/s and peak RSS.
# Targets: first deploy >= 5,000 resources/s, no-change redeploy under 1 s in total.
#   SKIP_BUILD=1 reuses target/release/cairn as it is.
# Needs /usr/bin/time (Debian package `time`; installed here if missing and we are root).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
if [ ! -x /usr/bin/time ] && [ "$(id -u)" = 0 ]; then apt-get install -y -qq time >/dev/null; fi
[ -n "${SKIP_BUILD:-}" ] || cargo build --release --quiet
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/project.yml" <<YML
name: bench
YML
cat > "$work/main.cf" <<CF
import fs
import mitogen
h = std::Host(name="localhost", os=std::linux, via=mitogen::Local())
d = fs::Directory(host=h, path="files")
for i in std::sequence($N):
    fs::File(host=h, path=f"files/f{i}.txt", content=f"file {i}\n", requires=d)
end
CF
run() {
    local label=$1
    shift
    /usr/bin/time -f "%e %M" -o "$work/time" ./target/release/cairn deploy "$work" "$@" > "$work/out"
    read -r wall rss < "$work/time"
    deploy=$(grep -o 'resources in [0-9.]* s' "$work/out" | awk '{print $3}')
    compile=$(grep -o 'in [0-9]* ms (export' "$work/out" | awk '{print $2}')
    rate=$(awk -v n="$N" -v t="$deploy" 'BEGIN { if (t > 0) printf "%.0f", (n + 1) / t; else print "inf" }')
    printf "%-22s wall %6.2f s  compile %5s ms  deploy %6s s  %8s resources/s  peak RSS %6.1f MB\n" \
        "$label" "$wall" "$compile" "$deploy" "$rate" "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')"
}
echo "deploy benchmark: $N fs::File resources ($(nproc) cores)"
run "first deploy"
run "no-change redeploy"
run "no-change --incremental" --incremental
for i in $(seq 0 99); do echo "edited by hand" > "$work/files/f$i.txt"; done
run "repair 100 edits"
