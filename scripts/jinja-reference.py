#!/usr/bin/env python3
"""jinja-reference.py: regenerate the expected outputs of tests/export/jinja/cases.json.

Run it with the python of the reference virtualenv that scripts/inmanta-reference.sh makes
(default /tmp/cairn-inmanta-venv, which holds inmanta-core 14.0.0, inmanta-module-std 8.4.2 and
Jinja2 3.1.6); inmanta-reference.sh runs it at its end:

    /tmp/cairn-inmanta-venv/bin/python scripts/jinja-reference.py [--check]

Each case of cases.json gives a template (the exact text of a template file, trailing newline or
not) and how the template is called. Inputs, written by hand:
    name      a unique name, [a-z0-9_]+
    template  the text of the template file
    vars      keyword arguments of the call: std::template("/NAME.j2", k=v, ...). When there are
              none, std::template("/NAME.j2") is called without keyword arguments and the template
              sees the variables of the calling scope instead.
    scope     variables assigned at the top level of main.cf (k = v), the calling scope
    model     extra statements of main.cf (for example an entity instance the template reads)
    note      what the case shows
Outputs, written by this script:
    expected  the string std::template returned, or absent when the compile failed;
    error     when the compile failed: Inmanta's error message (normalised as below);
    cause     with error, when Inmanta names one: the "caused by" text (for a template error,
              Jinja2's own message such as "'missing' is undefined");
    plain_jinja2  only when it differs from the above (and not when both fail, whose messages
              always differ): what a bare Jinja2 Environment
              configured like std 8.4.2's (below) renders from the same values given as plain
              Python objects. It shows where Inmanta's value proxies change the outcome.

How the expected outputs are made: every case really runs through inmanta-core 14.0.0 and std
8.4.2. The template is put in the project's templates/ folder, main.cf calls std::template on it
(with the keyword arguments converted to Inmanta literals), the result is stored in the value
of a std::testing::NullResource, and `inmanta export -j` gives that value back. Cases whose
expected outcome is an error, or which use scope/model, are compiled one project each; the
others share one project (and are compiled one by one if that shared compile fails).

How std 8.4.2's std::template configures Jinja2 (read from inmanta_plugins/std/__init__.py):
  - jinja2.Environment(loader=PrefixLoader({"": FileSystemLoader(<project>/templates),
    "<module>": FileSystemLoader(<module>/templates), ...}), undefined=jinja2.StrictUndefined);
    every other option is Jinja2's default: keep_trailing_newline=False (one final newline of
    the template file is dropped), trim_blocks=False, lstrip_blocks=False, autoescape=False, no
    extensions, the default delimiters, the default filters and tests.
  - Every Inmanta plugin is added as a filter named with "." for "::" (std::upper -> std.upper),
    which raises on an undefined argument.
  - The context class resolves names first in the calling scope of the model (when no keyword
    arguments are given), then in the render variables; with keyword arguments only those are
    visible (the scope is replaced by an empty resolver).
  - Values reach the template through Inmanta's DynamicProxy: lists and dicts are proxies, not
    Python lists and dicts (this is where the output can differ from bare Jinja2).
  - A "./x.j2" path means the calling module's templates/x.j2; "/x.j2" the project's templates/.
  - An UndefinedError becomes a compile error (NotFoundException) naming the missing variable.

Normalisation of error messages: the absolute path of the temporary project is replaced by
<project>; error is the line starting with "Error:" (without that word) and cause the indented
lines under the "caused by:" that follows it.

With --check the script only verifies that cases.json already holds what it would write.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import jinja2
from jinja2 import Environment, FileSystemLoader, PrefixLoader

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CASES = os.path.join(ROOT, "tests", "export", "jinja", "cases.json")
INMANTA = os.path.join(os.path.dirname(sys.executable), "inmanta")

KEYWORDS = set(
    "typedef as entity extends end in implementation for matching index implement using when "
    "and or not true false import is defined dict null undef parents if else elif".split()
)


def literal(value) -> str:
    """A JSON value as an Inmanta literal."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        if "{{" in value:
            raise SystemExit(f"string {value!r} would be interpolated by Inmanta")
        out = []
        for ch in value:
            if ch == "\\":
                out.append("\\\\")
            elif ch == '"':
                out.append('\\"')
            elif ch == "\n":
                out.append("\\n")
            elif ch == "\t":
                out.append("\\t")
            elif ord(ch) < 32 or ord(ch) > 126:
                # The lexer decodes escapes with unicode_escape: \\uXXXX is the safe way to
                # write a non-ASCII character (a raw one would be read as Latin-1 bytes).
                out.append("\\u%04x" % ord(ch) if ord(ch) <= 0xFFFF else "\\U%08x" % ord(ch))
            else:
                out.append(ch)
        return '"' + "".join(out) + '"'
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    raise SystemExit(f"cannot write {value!r} as an Inmanta literal")


def check_name(name: str) -> None:
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name) or name in KEYWORDS:
        raise SystemExit(f"{name!r} cannot be an Inmanta variable or keyword argument name")


def statements(case) -> list[str]:
    lines = []
    for k, v in case.get("scope", {}).items():
        check_name(k)
        lines.append(f"{k} = {literal(v)}")
    if case.get("model"):
        lines.append(case["model"])
    args = [f'"/{case["name"]}.j2"']
    for k, v in case.get("vars", {}).items():
        check_name(k)
        args.append(f"{k}={literal(v)}")
    call = "std::template(" + ", ".join(args) + ")"
    lines.append(f'std::testing::NullResource(name="case-{case["name"]}", value={call})')
    return lines


def compile_cases(cases) -> dict[str, dict]:
    """Run the cases through the real Inmanta in one project; {name: {"expected"|"error": ...}}."""
    work = tempfile.mkdtemp(prefix="cairn-jinja-ref.")
    try:
        proj = os.path.join(work, "jinjacases")
        os.makedirs(os.path.join(proj, "templates"))
        with open(os.path.join(proj, "project.yml"), "w") as fd:
            fd.write("name: jinjacases\nmodulepath: libs\ndownloadpath: libs\ninstall_mode: release\n")
        lines = ["import std::testing", ""]
        for case in cases:
            with open(os.path.join(proj, "templates", case["name"] + ".j2"), "w", encoding="utf-8", newline="") as fd:
                fd.write(case["template"])
            lines.extend(statements(case))
        with open(os.path.join(proj, "main.cf"), "w", encoding="utf-8") as fd:
            fd.write("\n".join(lines) + "\n")
        out = os.path.join(work, "out.json")
        run = subprocess.run([INMANTA, "export", "-j", out], cwd=proj, capture_output=True, text=True)
        if run.returncode != 0:
            log = (run.stdout + run.stderr).replace(proj, "<project>").splitlines()
            starts = [i for i, l in enumerate(log) if l.startswith("Error: ")]
            if not starts:
                return {"__failed__": {"error": log[-1].strip() if log else "no output"}}
            first = starts[0]
            failure = {"error": log[first][len("Error: "):].strip()}
            if first + 1 < len(log) and log[first + 1].strip() == "caused by:":
                cause = []
                for line in log[first + 2:]:
                    if not line.startswith("  "):
                        break
                    cause.append(line.strip())
                failure["cause"] = "\n".join(cause)
            return {"__failed__": failure}
        with open(out, encoding="utf-8") as fd:
            values = {r["name"]: r["value"] for r in json.load(fd)}
        return {c["name"]: {"expected": values["case-" + c["name"]]} for c in cases}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def plain_jinja2(case):
    """The same template in a bare Jinja2 Environment configured like std 8.4.2's."""
    import inmanta_plugins.std as std_plugins

    work = tempfile.mkdtemp(prefix="cairn-jinja-plain.")
    try:
        with open(os.path.join(work, case["name"] + ".j2"), "w", encoding="utf-8", newline="") as fd:
            fd.write(case["template"])
        env = Environment(loader=PrefixLoader({"": FileSystemLoader(work)}), undefined=jinja2.StrictUndefined)
        for name in ("upper", "lower", "capitalize", "replace", "limit", "hostname", "split", "length"):
            env.filters["std." + name] = getattr(std_plugins, name)
        variables = dict(case.get("vars") or case.get("scope") or {})
        try:
            return {"expected": env.get_template("/" + case["name"] + ".j2").render(variables)}
        except Exception as e:  # noqa: BLE001 - any error of the template is the outcome
            return {"error": f"{type(e).__name__}: {e}"}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    check = "--check" in sys.argv[1:]
    with open(CASES, encoding="utf-8") as fd:
        doc = json.load(fd)
    cases = doc["cases"]
    names = [c["name"] for c in cases]
    if len(names) != len(set(names)):
        raise SystemExit("duplicate case names")

    def needs_own_project(c) -> bool:
        if c.get("scope") or c.get("model") or not c.get("vars") or "error" in c:
            return True
        return "error" in plain_jinja2(c)

    alone = [c for c in cases if needs_own_project(c)]
    shared = [c for c in cases if c not in alone]
    results = {}
    print(f"[jinja-reference] {len(shared)} cases in one project, {len(alone)} alone", flush=True)
    batch = compile_cases(shared) if shared else {}
    if "__failed__" in batch:
        print(f"[jinja-reference] the shared project failed ({batch['__failed__']['error']}); one by one", flush=True)
        alone = cases
    else:
        results.update(batch)
    for case in alone:
        result = compile_cases([case])
        if "__failed__" in result:
            result = {case["name"]: result["__failed__"]}
        results.update(result)

    new_cases = []
    for case in cases:
        inputs = {k: case[k] for k in ("name", "note", "template", "vars", "scope", "model") if k in case}
        real = results[case["name"]]
        plain = plain_jinja2(case) if not case.get("model") else None
        out = {**inputs, **real}
        both_fail = plain is not None and "error" in plain and "error" in real
        if plain is not None and plain != real and not both_fail:
            out["plain_jinja2"] = plain
        new_cases.append(out)
        state = "error" if "error" in real else "ok"
        print(f"[jinja-reference] {case['name']}: {state}{' (bare Jinja2 differs)' if 'plain_jinja2' in out else ''}")

    doc["cases"] = new_cases
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    if check:
        with open(CASES, encoding="utf-8") as fd:
            if fd.read() != text:
                raise SystemExit("cases.json is not up to date")
        print("[jinja-reference] cases.json is up to date")
        return
    with open(CASES, "w", encoding="utf-8") as fd:
        fd.write(text)
    print(f"[jinja-reference] wrote {len(new_cases)} cases to {os.path.relpath(CASES, ROOT)}")


if __name__ == "__main__":
    main()
