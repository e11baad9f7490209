#!/usr/bin/env python3
"""Helper of scripts/inmanta-reference.sh (run with the reference virtualenv's python).

Two sub-commands:

  capture RAW_JSON STORE_JSON -- INMANTA_ARGS...
      Runs the real `inmanta` command line (for example `export -j RAW_JSON`) in the current
      folder, with one addition: once the exporter has run, every body it would have uploaded
      to the server's file store (Exporter.upload_file, used by fs::File for its `hash`) is
      written to STORE_JSON as {sha1: {"text": ...}} (or {"base64": ...} for bytes that are not
      UTF-8). Nothing else about the export is changed.

  normalise RAW_JSON STORE_JSON PROJECT_COPY VENV OUT_DIR
      Turns the raw `inmanta export -j` output into the committed, deterministic form (see the
      header of scripts/inmanta-reference.sh for every normalisation) and writes
      OUT_DIR/expected.json and, when a resource has a `hash`, OUT_DIR/expected-files.json.
"""

import base64
import hashlib
import json
import os
import sys


def capture(raw_json: str, store_json: str, args: list[str]) -> None:
    import inmanta.export

    original_run = inmanta.export.Exporter.run

    def run(self, *a, **kw):
        try:
            return original_run(self, *a, **kw)
        finally:
            store = {}
            for sha1, body in sorted(self._file_store.items()):
                try:
                    store[sha1] = {"text": body.decode("utf-8")}
                except UnicodeDecodeError:
                    store[sha1] = {"base64": base64.b64encode(body).decode("ascii")}
            with open(store_json, "w", encoding="utf-8") as fd:
                json.dump(store, fd, indent=2, sort_keys=True, ensure_ascii=False)

    inmanta.export.Exporter.run = run
    from inmanta.app import app

    sys.argv = ["inmanta", *args]
    app()


def _replace_paths(value, replacements):
    if isinstance(value, str):
        for old, new in replacements:
            value = value.replace(old, new)
        return value
    if isinstance(value, list):
        return [_replace_paths(v, replacements) for v in value]
    if isinstance(value, dict):
        return {k: _replace_paths(v, replacements) for k, v in value.items()}
    return value


def _dump(path: str, data) -> None:
    with open(path, "w", encoding="utf-8") as fd:
        json.dump(data, fd, indent=2, sort_keys=True, ensure_ascii=False)
        fd.write("\n")


def normalise(raw_json: str, store_json: str, project_copy: str, venv: str, out_dir: str) -> None:
    with open(raw_json, encoding="utf-8") as fd:
        resources = json.load(fd)
    store = {}
    if os.path.exists(store_json):
        with open(store_json, encoding="utf-8") as fd:
            store = json.load(fd)

    # Longest first, so that a venv inside the project copy (never the case here) still works.
    replacements = sorted(
        [(os.path.realpath(project_copy), "<project>"), (project_copy, "<project>"),
         (os.path.realpath(venv), "<venv>"), (venv, "<venv>")],
        key=lambda p: -len(p[0]),
    )
    resources = _replace_paths(resources, replacements)
    for res in resources:
        res["requires"] = sorted(res["requires"])
    resources.sort(key=lambda r: r["id"])
    ids = [r["id"] for r in resources]
    if len(ids) != len(set(ids)):
        raise SystemExit(f"duplicate ids in export: {ids}")
    _dump(os.path.join(out_dir, "expected.json"), resources)

    files = []
    for res in resources:
        if "hash" not in res:
            continue
        sha1 = res["hash"]
        body = store.get(sha1)
        if body is None:
            raise SystemExit(f"{res['id']}: hash {sha1} has no body in the captured file store")
        data = body["text"].encode("utf-8") if "text" in body else base64.b64decode(body["base64"])
        if hashlib.sha1(data).hexdigest() != sha1:
            raise SystemExit(f"{res['id']}: sha1 of the captured body is not {sha1}")
        files.append({"id": res["id"], "hash": sha1, **body})
    target = os.path.join(out_dir, "expected-files.json")
    if files:
        _dump(target, files)
    elif os.path.exists(target):
        os.remove(target)


def main() -> None:
    if len(sys.argv) >= 4 and sys.argv[1] == "capture" and "--" in sys.argv:
        sep = sys.argv.index("--")
        capture(sys.argv[2], sys.argv[3], sys.argv[sep + 1 :])
    elif len(sys.argv) == 7 and sys.argv[1] == "normalise":
        normalise(*sys.argv[2:])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
