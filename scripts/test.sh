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

# The MongoDB store's tests run against a real MongoDB-wire server, SecantusDB (PyPI, pinned),
# started by the tests themselves from this virtualenv. Made when missing or incomplete.
SECANTUS_PACKAGE="SecantusDB==0.7.0b3"
VENV="$PWD/.venv-test"
installed_version() {
    "$VENV/bin/python" -c 'import importlib.metadata as m; print("SecantusDB==" + m.version("SecantusDB"))' 2>/dev/null
}
if [ ! -x "$VENV/bin/secantusd-py" ] || [ "$(installed_version)" != "$SECANTUS_PACKAGE" ]; then
    if ! command -v python3 >/dev/null; then
        echo "python3 is required (for SecantusDB, the MongoDB-wire server the store tests use)" >&2
        exit 1
    fi
    rm -rf "$VENV"
    started=$(date +%s)
    if ! python3 -m venv "$VENV"; then
        echo "cannot create the virtualenv $VENV (is python3-venv installed?)" >&2
        exit 1
    fi
    if ! "$VENV/bin/pip" install --quiet --disable-pip-version-check "$SECANTUS_PACKAGE"; then
        echo "pip could not install $SECANTUS_PACKAGE into $VENV: the MongoDB store tests need it" >&2
        rm -rf "$VENV"
        exit 1
    fi
    echo "installed $SECANTUS_PACKAGE into $VENV in $(( $(date +%s) - started )) s"
fi
export CAIRN_TEST_VENV="$VENV"

if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast
else
    cargo test --workspace --no-fail-fast
fi
