#!/usr/bin/env bash
# python-reference.sh: produce the committed reference outputs of the REAL Inmanta for the
# projects under tests/export/python/, which use published v2 modules with Python plugins and
# Python-declared resources (ip, net, yaml, ssh, rest, files, kubernetes, user).
#
# Not run by CI: the outputs are committed, and Cairn's tests compare against them. Run it by
# hand when a project under tests/export/python/ changes:
#
#   scripts/python-reference.sh                    # every project
#   scripts/python-reference.sh ip-plugins rest-call  # only these projects
#   CAIRN_INMANTA_VENV=/some/dir scripts/python-reference.sh
#
# What it does
#   1. Creates (or reuses) the same throw-away virtualenv as scripts/inmanta-reference.sh, by
#      default /tmp/cairn-inmanta-venv, and installs into it everything that script installs
#      (pinned by scripts/inmanta-reference.constraints.txt) plus the modules these projects use
#      and their third-party libraries, pinned by scripts/python-reference.constraints.txt
#      (every transitive dependency; none of them is also in the first file, so the two
#      constraint files cannot clash):
#        inmanta-module-ip 2.0.3, -net 1.1.3, -yaml 1.0.0, -ssh 1.0.5, -rest 1.0.1,
#        -files 2.1.1 (2.2.0 and later need inmanta-core >= 15.1), -kubernetes 0.0.5,
#        -user 0.1.23; netaddr, jq, kubernetes (client) and theirs.
#      The projects use these modules as installed v2 modules (Inmanta 14's normal way); each
#      project's requirements.txt lists the inmanta-module-* it imports, with the same pins.
#   2. For every folder tests/export/python/NAME/ holding a project.yml: exactly what
#      scripts/inmanta-reference.sh does for tests/export/inmanta/ (fresh temporary copy,
#      `inmanta export -j` through scripts/inmanta_reference_tool.py, which also captures the
#      file-store bodies), writing expected.json / expected-files.json, or expected-error.txt for
#      a project holding EXPECT_FAILURE. The copy is the working directory of the export, so a
#      plugin reading a path relative to it (ssh::get_public_key reads data/ssh/NAME[.pub]) sees
#      the project's committed files.
#
# Normalisations: N1-N4 of scripts/inmanta-reference.sh, unchanged (same tool, same code):
#   N1 resources sorted by id; N2 every `requires` sorted; N3 keys sorted, 2-space indent,
#   UTF-8, final newline; N4 the temporary project path -> `<project>`, the venv -> `<venv>`.
# plus one for error texts only:
#   N5. In expected-error.txt, the hexadecimal object address that Python prints after an
#       entity's type in the repr of a model instance (`@kubernetes::resources::Namespace
#       7fa0662de050`, the repr of inmanta.execute.proxy.DynamicProxy a plugin put in its
#       PluginException message) is replaced by `<address>`; it changes on every run.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${CAIRN_INMANTA_VENV:-/tmp/cairn-inmanta-venv}
PROJECTS="$ROOT/tests/export/python"
TOOL="$ROOT/scripts/inmanta_reference_tool.py"
CONSTRAINTS="$ROOT/scripts/inmanta-reference.constraints.txt"
PY_CONSTRAINTS="$ROOT/scripts/python-reference.constraints.txt"
PYTHON=${PYTHON:-python3}

PINS=(
  # What scripts/inmanta-reference.sh installs (the same venv serves both scripts).
  "inmanta-core==14.0.0"
  "inmanta-module-std==8.4.2"
  "inmanta-module-fs==1.1.2"
  "inmanta-module-exec==2.1.1"
  "inmanta-module-apt==1.1.0"
  "inmanta-module-mitogen==0.2.5"
  "mitogen==0.3.54"
  "importlib-metadata==10.2.0"
  # The modules of tests/export/python/.
  "inmanta-module-ip==2.0.3"
  "inmanta-module-net==1.1.3"
  "inmanta-module-yaml==1.0.0"
  "inmanta-module-ssh==1.0.5"
  "inmanta-module-rest==1.0.1"
  "inmanta-module-files==2.1.1"
  "inmanta-module-kubernetes==0.0.5"
  "inmanta-module-user==0.1.23"
)

say() { printf '[python-reference] %s\n' "$*"; }

if [ ! -x "$VENV/bin/python" ]; then
  say "creating virtualenv $VENV"
  "$PYTHON" -m venv "$VENV"
fi
say "installing pinned packages into $VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check -c "$CONSTRAINTS" -c "$PY_CONSTRAINTS" "${PINS[@]}"
say "installed: $("$VENV/bin/pip" freeze --disable-pip-version-check | grep -E '^(inmanta-core|inmanta-module-[a-z]+|netaddr|PyYAML|jq|kubernetes|mitogen)==' | tr '\n' ' ')"

if [ "$#" -gt 0 ]; then
  names=("$@")
else
  names=()
  for d in "$PROJECTS"/*/; do
    [ -f "$d/project.yml" ] && names+=("$(basename "$d")")
  done
fi

failures=0
for name in "${names[@]}"; do
  src="$PROJECTS/$name"
  if [ ! -f "$src/project.yml" ] || [ ! -f "$src/main.cf" ]; then
    say "$name: no project.yml/main.cf in $src"; exit 1
  fi
  work=$(mktemp -d /tmp/cairn-inmanta-ref.XXXXXX)
  copy="$work/$name"
  mkdir "$copy"
  # The project as a user has it: everything but our own outputs and notes.
  (cd "$src" && tar --exclude=./expected.json --exclude=./expected-files.json \
      --exclude=./expected-error.txt --exclude=./README.md --exclude=./EXPECT_FAILURE \
      --exclude=./.cfcache -cf - .) | (cd "$copy" && tar -xf -)
  rc=0
  (cd "$copy" && "$VENV/bin/python" "$TOOL" capture "$work/raw.json" "$work/store.json" -- \
      export -j "$work/raw.json") >"$work/log.txt" 2>&1 || rc=$?
  if [ -f "$src/EXPECT_FAILURE" ]; then
    if [ "$rc" -eq 0 ]; then
      say "$name: expected a failure, but the export succeeded"; failures=$((failures + 1))
    else
      sed -n '/^=* [A-Z]* FAILURE =*$/,$p' "$work/log.txt" | sed '/^$/d' \
        | sed "s#$copy#<project>#g; s#$VENV#<venv>#g" \
        | sed -E 's/(@[A-Za-z_][A-Za-z0-9_:]*) [0-9a-f]{6,}/\1 <address>/g' >"$src/expected-error.txt"
      rm -f "$src/expected.json" "$src/expected-files.json"
      say "$name: failed as expected: $(sed -n 2p "$src/expected-error.txt")"
    fi
  elif [ "$rc" -ne 0 ]; then
    say "$name: inmanta export failed (exit $rc):"; cat "$work/log.txt"; failures=$((failures + 1))
  else
    "$VENV/bin/python" "$TOOL" normalise "$work/raw.json" "$work/store.json" "$copy" "$VENV" "$src"
    rm -f "$src/expected-error.txt"
    count=$("$VENV/bin/python" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$src/expected.json")
    files=""
    [ -f "$src/expected-files.json" ] && files=" + expected-files.json"
    say "$name: $count resources -> tests/export/python/$name/expected.json$files"
  fi
  rm -rf "$work"
done


if [ "$failures" -ne 0 ]; then
  say "$failures project(s) failed"; exit 1
fi
say "done"
