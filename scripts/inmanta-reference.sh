#!/usr/bin/env bash
# inmanta-reference.sh: produce the committed reference outputs of the REAL Inmanta.
#
# Not run by CI: the outputs are committed, and Cairn's tests compare against them. Run it by
# hand when a project under tests/export/inmanta/ or a case in tests/export/jinja/ changes:
#
#   scripts/inmanta-reference.sh                 # every project, then the Jinja2 cases
#   scripts/inmanta-reference.sh fs-file exec-run # only these projects (no Jinja2 cases)
#   CAIRN_INMANTA_VENV=/some/dir scripts/inmanta-reference.sh
#
# What it does
#   1. Creates (or reuses) a throw-away virtualenv, by default /tmp/cairn-inmanta-venv, and
#      installs into it, with every version pinned (scripts/inmanta-reference.constraints.txt
#      pins the transitive dependencies too):
#        inmanta-core 14.0.0 (the newest that installs on Python 3.11), inmanta-module-std 8.4.2,
#        inmanta-module-fs 1.1.2 (1.2.0 needs core 15), inmanta-module-exec 2.1.1,
#        inmanta-module-apt 1.1.0, and their dependency inmanta-module-mitogen 0.2.5 (with the
#        mitogen library 0.3.54). All of them install together without a clash in Inmanta's
#        dependency check, so one venv serves every project.
#   2. For every folder tests/export/inmanta/NAME/ holding a project.yml: copies the project to
#      a fresh temporary folder (so that .cfcache and other compiler droppings never reach the
#      repository), runs `inmanta export -j` there through scripts/inmanta_reference_tool.py,
#      which also captures the bodies the exporter would upload to the server's file store, and
#      writes next to the project:
#        expected.json        the exported resources, normalised as below;
#        expected-files.json  one entry per resource with a `hash` (fs::File): its id, the sha1
#                             and the body it is the sha1 of ("text", or "base64" if not UTF-8);
#                             absent when no resource has a hash.
#      A project holding a file EXPECT_FAILURE must fail to export; its error text (from
#      Inmanta's "COMPILATION FAILURE" or "EXPORT FAILURE" banner on, empty lines dropped) is
#      written to expected-error.txt instead.
#   3. Without project arguments: runs scripts/jinja-reference.py, which regenerates
#      tests/export/jinja/cases.json's expected outputs with the same venv.
#
# Normalisations (Cairn's test must apply the same ones to its own `cairn export -j`):
#   N1. Resources are sorted by their `id` string (Inmanta writes them in a dict order).
#   N2. Every `requires` list is sorted (Inmanta builds it from a set, so its order varies
#       between runs).
#   N3. Object keys are sorted and the JSON is re-indented (2 spaces, UTF-8, final newline);
#       Inmanta's key order comes from a set of field names and varies between runs.
#   N4. Any string holding the absolute path of the temporary project copy is rewritten to
#       `<project>` and the virtualenv's path to `<venv>`. (No current project exports such a
#       path; the rule exists so that a future one stays deterministic.)
#   Nothing else is touched. In particular `version` is 0 and every `id` ends in `,v=0`
#   because `export -j` runs without a server or environment (Inmanta then reserves no version
#   number), while the entries of `requires` carry no `,v=` suffix at all: both are exactly what
#   Inmanta writes. No timestamps or environment ids appear in an `export -j` output.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${CAIRN_INMANTA_VENV:-/tmp/cairn-inmanta-venv}
PROJECTS="$ROOT/tests/export/inmanta"
TOOL="$ROOT/scripts/inmanta_reference_tool.py"
CONSTRAINTS="$ROOT/scripts/inmanta-reference.constraints.txt"
PYTHON=${PYTHON:-python3}

PINS=(
  "inmanta-core==14.0.0"
  "inmanta-module-std==8.4.2"
  "inmanta-module-fs==1.1.2"
  "inmanta-module-exec==2.1.1"
  "inmanta-module-apt==1.1.0"
  "inmanta-module-mitogen==0.2.5"
  "mitogen==0.3.54"
  # inmanta-core 14.0.0 imports importlib_metadata without declaring it.
  "importlib-metadata==10.2.0"
)

say() { printf '[inmanta-reference] %s\n' "$*"; }

if [ ! -x "$VENV/bin/python" ]; then
  say "creating virtualenv $VENV"
  "$PYTHON" -m venv "$VENV"
fi
say "installing pinned packages into $VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check -c "$CONSTRAINTS" "${PINS[@]}"
say "installed: $("$VENV/bin/pip" freeze --disable-pip-version-check | grep -E '^(inmanta-core|inmanta-module-[a-z]+|Jinja2|mitogen)==' | tr '\n' ' ')"

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
        | sed "s#$copy#<project>#g; s#$VENV#<venv>#g" >"$src/expected-error.txt"
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
    say "$name: $count resources -> tests/export/inmanta/$name/expected.json$files"
  fi
  rm -rf "$work"
done

if [ "$#" -eq 0 ]; then
  say "regenerating the Jinja2 cases"
  "$VENV/bin/python" "$ROOT/scripts/jinja-reference.py"
fi

if [ "$failures" -ne 0 ]; then
  say "$failures project(s) failed"; exit 1
fi
say "done"
