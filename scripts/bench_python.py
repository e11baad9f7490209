#!/usr/bin/env python3
"""Benchmark of the Python plugin host (docs/plugin-host.md), figures for issue 16.

    python3 scripts/bench_python.py [--hosts 2000] [--calls 10000] [--runs 3] [--inmanta VENV]

1. Calls: a project whose main.cf calls a small Python plugin (`pybench::label`, a v1 module
   written here) 10,000 times in one compile, and the same project calling a native plugin
   (`std::replace`) instead. The time per Python call is the difference over the count.
2. Scale: the N-host model of examples/scale (about 7 instances per host) with one Python
   plugin call per host (each host gets a `std::testing::NullResource` named by the plugin),
   compiled and exported by `cairn compile` and by the real Inmanta's `inmanta compile` on the
   same project in the same run (Inmanta from the virtualenv of scripts/inmanta-reference.sh,
   default /tmp/cairn-inmanta-venv; skipped with a message when it is missing).

Cairn is target/release/cairn (build it first: cargo build --release). Wall times are best of
--runs (Inmanta: one run; it takes minutes). Nothing is timed inside Cairn.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CAIRN = os.path.join(ROOT, "target", "release", "cairn")
SCALE = os.path.join(ROOT, "examples", "scale")

PLUGIN = '''from inmanta.plugins import plugin


@plugin
def label(name: "string", number: "int") -> "string":
    return f"{name}-{number % 97:02d}"
'''


def write_module(libs: str) -> None:
    module = os.path.join(libs, "pybench")
    os.makedirs(os.path.join(module, "model"), exist_ok=True)
    os.makedirs(os.path.join(module, "plugins"), exist_ok=True)
    with open(os.path.join(module, "module.yml"), "w") as f:
        f.write("name: pybench\nversion: 1.0.0\nlicense: Apache 2.0\n")
    with open(os.path.join(module, "model", "_init.cf"), "w") as f:
        f.write("")
    with open(os.path.join(module, "plugins", "__init__.py"), "w") as f:
        f.write(PLUGIN)


def project(folder: str, main: str, libs: str) -> str:
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "project.yml"), "w") as f:
        f.write(f"name: bench\nmodulepath: {libs}\ndownloadpath: {libs}\nrepo: []\ninstall_mode: release\n")
    with open(os.path.join(folder, "main.cf"), "w") as f:
        f.write(main)
    return folder


def timed(command, cwd, env=None) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"bench: {' '.join(command)} failed in {cwd}:\n{done.stderr[-3000:]}")
    return elapsed


def best(command, cwd, runs, env=None) -> float:
    return min(timed(command, cwd, env) for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=2000)
    parser.add_argument("--calls", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--inmanta", default=os.environ.get("CAIRN_INMANTA_VENV", "/tmp/cairn-inmanta-venv"))
    args = parser.parse_args()
    if not os.access(CAIRN, os.X_OK):
        sys.exit(f"bench: {CAIRN} is missing: cargo build --release")
    work = tempfile.mkdtemp(prefix="cairn-bench-python-")
    env = dict(os.environ, XDG_CACHE_HOME=os.path.join(work, "cache"))
    try:
        libs = os.path.join(work, "libs")
        shutil.copytree(os.path.join(SCALE, "libs"), libs)
        write_module(libs)

        # 1. Many calls in one compile.
        loop = f"for i in std::sequence({args.calls}):\n    x = {{call}}\nend\n"
        python_main = "import pybench\n" + loop.format(call='pybench::label("h", i)')
        native_main = "import pybench\n" + loop.format(call='std::replace("h", "h", "g")')
        with_python = project(os.path.join(work, "calls-python"), python_main, libs)
        with_native = project(os.path.join(work, "calls-native"), native_main, libs)
        timed([CAIRN, "compile", "."], with_python, env)  # installs the host into the cache once
        python_wall = best([CAIRN, "compile", "."], with_python, args.runs, env)
        native_wall = best([CAIRN, "compile", "."], with_native, args.runs, env)
        per_call = (python_wall - native_wall) / args.calls
        print(f"{args.calls} Python plugin calls in one compile: {python_wall:.3f} s wall "
              f"(the same loop with a native plugin: {native_wall:.3f} s); "
              f"{per_call * 1e6:.1f} us per Python call, host start included")

        # 2. The scale model with one Python call per host.
        sys.path.insert(0, SCALE)
        import generate  # examples/scale/generate.py

        scale_main = generate.main_cf(args.hosts).replace("import scale\n", "import scale\nimport pybench\nimport std::testing\n", 1)
        scale_main = scale_main.replace(
            "end\n",
            '    std::testing::NullResource(name=pybench::label(host["name"], host["number"]))\nend\n',
            1,
        ) if scale_main.rstrip().endswith("end") else scale_main
        if "pybench::label" not in scale_main:
            sys.exit("bench: could not add the plugin call to the scale model's loop")
        scale = project(os.path.join(work, f"scale-{args.hosts}"), scale_main, libs)
        cairn_wall = best([CAIRN, "compile", "."], scale, args.runs, env)
        print(f"scale model, N={args.hosts} with one Python call per host: cairn compile (with export) {cairn_wall:.3f} s wall")
        inmanta = os.path.join(args.inmanta, "bin", "inmanta")
        if os.access(inmanta, os.X_OK):
            inmanta_wall = timed([inmanta, "-q", "compile"], scale)
            print(f"  the real Inmanta on the same project (inmanta compile): {inmanta_wall:.1f} s wall; "
                  f"Cairn is {inmanta_wall / cairn_wall:.0f}x faster")
        else:
            print(f"  the real Inmanta is not installed at {args.inmanta} (scripts/inmanta-reference.sh makes it): no comparison")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
