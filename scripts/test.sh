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

# The SSH tests (agent/tests/ssh, modules/*/tests/ssh.rs, tests/remote) and the PowerDNS tests
# run Debian's real servers (see ../shared/spec/test-servers.md; the sudo test logs in with sudo):
# installed here when missing and we are root; the service starts of the packages fail
# without systemd, which is harmless (the tests start their own on loopback ports).
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    missing=()
    [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
    [ -x /usr/bin/sudo ] || missing+=(sudo)
    [ -x /usr/sbin/pdns_server ] || missing+=(pdns-server pdns-backend-sqlite3)
    command -v sqlite3 >/dev/null || missing+=(sqlite3)
    command -v dig >/dev/null || missing+=(dnsutils)
    # The dashboard's browser tests: Debian's Chromium, driven by playwright-core from npm.
    [ -x /usr/bin/chromium ] || missing+=(chromium)
    command -v npm >/dev/null || missing+=(nodejs npm)
    if [ ${#missing[@]} -gt 0 ]; then
        ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1 || apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 \
            || echo "warning: apt-get could not install ${missing[*]}; the SSH, PowerDNS and browser tests will report it" >&2
    fi
fi

# The tests run real servers from a virtualenv: SecantusDB (the MongoDB-wire server the store
# and server tests start) and schemathesis (API property tests), both pinned in
# scripts/test-requirements.txt. Remade when the requirements changed.
REQUIREMENTS="$PWD/scripts/test-requirements.txt"
VENV="$PWD/.venv-test"
STAMP="$VENV/.requirements-sha1"
wanted=$(sha1sum "$REQUIREMENTS" | cut -d' ' -f1)
if [ ! -x "$VENV/bin/secantusd-py" ] || [ ! -x "$VENV/bin/schemathesis" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$wanted" ]; then
    if ! command -v python3 >/dev/null || ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv python3-pip >/dev/null
        else
            echo "python3 with venv is required (apt-get install python3-venv)" >&2
            exit 1
        fi
    fi
    rm -rf "$VENV"
    started=$(date +%s)
    python3 -m venv "$VENV"
    if ! "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQUIREMENTS"; then
        echo "pip could not install $REQUIREMENTS into $VENV: the store and server tests need it" >&2
        rm -rf "$VENV"
        exit 1
    fi
    echo "$wanted" > "$STAMP"
    echo "installed the test virtualenv $VENV in $(( $(date +%s) - started )) s"
fi
export CAIRN_TEST_VENV="$VENV"

# The published Inmanta modules whose Python the plugin host runs (tests/export/python/), with
# the libraries their Python imports, but not inmanta-core: Cairn provides Inmanta's Python API
# itself. Pinned in scripts/python-modules-requirements.txt, installed with --no-deps.
MODULES_REQUIREMENTS="$PWD/scripts/python-modules-requirements.txt"
MODULES_VENV="$PWD/.venv-modules"
MODULES_STAMP="$MODULES_VENV/.requirements-sha1"
wanted=$(sha1sum "$MODULES_REQUIREMENTS" | cut -d' ' -f1)
if [ ! -x "$MODULES_VENV/bin/python" ] || [ "$(cat "$MODULES_STAMP" 2>/dev/null)" != "$wanted" ]; then
    rm -rf "$MODULES_VENV"
    started=$(date +%s)
    python3 -m venv "$MODULES_VENV"
    if ! "$MODULES_VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$MODULES_REQUIREMENTS"; then
        echo "pip could not install $MODULES_REQUIREMENTS into $MODULES_VENV: the plugin host tests need it" >&2
        rm -rf "$MODULES_VENV"
        exit 1
    fi
    echo "$wanted" > "$MODULES_STAMP"
    echo "installed the modules virtualenv $MODULES_VENV in $(( $(date +%s) - started )) s"
fi
export CAIRN_TEST_MODULES_VENV="$MODULES_VENV"

# playwright-core for the browser tests (tests/browser, pinned by its package-lock.json; it
# drives /usr/bin/chromium and downloads no browser). Reinstalled when the lock changed.
BROWSER_DIR="$PWD/tests/browser"
BROWSER_STAMP="$BROWSER_DIR/node_modules/.lock-sha1"
wanted=$(sha1sum "$BROWSER_DIR/package-lock.json" | cut -d' ' -f1)
if [ ! -d "$BROWSER_DIR/node_modules/playwright-core" ] || [ "$(cat "$BROWSER_STAMP" 2>/dev/null)" != "$wanted" ]; then
    if ! (cd "$BROWSER_DIR" && npm ci --no-audit --no-fund --loglevel=error); then
        echo "npm could not install playwright-core into $BROWSER_DIR: the browser tests need it" >&2
        exit 1
    fi
    echo "$wanted" > "$BROWSER_STAMP"
fi

# The plugin host's own tests (Python, standard library only).
python3 -m unittest discover -s pyhost/python/tests

if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast
else
    cargo test --workspace --no-fail-fast
fi
