#!/usr/bin/env python3
"""Benchmark of agentless deploys over SSH (issue 17), figures for the note.

    python3 scripts/bench_ssh.py [--files 500] [--runs 3]

Starts a throw-away sshd on a loopback port (scripts/test-sshd.sh; needs root and
openssh-server), a `cairn server` (target/release/cairn, SQLite in a temporary folder) whose
agent map sends agent `web1` to that sshd with a server-side agent (`--autostart`), and a model
of N `fs::File` resources (distinct contents) in one `fs::Directory` on web1. It measures:

- the first deploy: from the release of the version to the agent's "deployed" log line
  (every file written over the one SSH connection), in resources per second;
- a no-change redeploy: a repair run (`cairn deploy -e prod --full`: every file read back and
  compared), from the request to the "deployed" line, best of --runs;
- for comparison on the same target: `scp` in a loop (one process and connection per file,
  as a shell loop does), and one `scp` of all the files (one connection).

The machine is the target too (sshd on 127.0.0.1), so the network is loopback.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CAIRN = os.path.join(ROOT, "target", "release", "cairn")
ADMIN = "bench-ssh-admin-token-0123456789"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(*args, env=None, cwd=None, check=True):
    done = subprocess.run(list(args), env=env, cwd=cwd, capture_output=True, text=True)
    if check and done.returncode != 0:
        sys.exit(f"bench: {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done


def deployed_lines(log_path: str):
    lines = []
    try:
        with open(log_path) as f:
            for line in f:
                line = line.strip()
                if line.startswith("{"):
                    try:
                        record = json.loads(line)
                    except ValueError:
                        continue
                    if record.get("fields", {}).get("message") == "deployed":
                        lines.append(record["fields"])
    except FileNotFoundError:
        pass
    return lines


def wait_deployed(log_path: str, seen: int, limit: float = 300.0) -> dict:
    started = time.perf_counter()
    while time.perf_counter() - started < limit:
        lines = deployed_lines(log_path)
        if len(lines) > seen:
            return lines[seen]
        time.sleep(0.005)
    sys.exit(f"bench: no deploy finished within {limit} s; see {log_path}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not os.access(CAIRN, os.X_OK):
        sys.exit(f"bench: {CAIRN} is missing: cargo build --release")
    work = tempfile.mkdtemp(prefix="cairn-bench-ssh-")
    sshd_dir = os.path.join(work, "sshd")
    server = None
    try:
        out = run("bash", os.path.join(ROOT, "scripts", "test-sshd.sh"), "start", sshd_dir).stdout
        sshd = dict(line.split("=", 1) for line in out.split() if "=" in line)
        port = free_port()
        log_path = os.path.join(work, "server.log")
        env = dict(os.environ, CAIRN_SERVER=f"http://127.0.0.1:{port}", CAIRN_TOKEN=ADMIN)
        env.pop("CAIRN_ADMIN_TOKEN", None)
        server = subprocess.Popen(
            [CAIRN, "server", "--bind", f"127.0.0.1:{port}", "--store", f"sqlite:{work}/state.db", "--admin-token", ADMIN, "--agent-timeout", "5"],
            stdout=subprocess.DEVNULL, stderr=open(log_path, "w"), env=env,
        )
        for _ in range(200):
            if run("bash", "-c", f"exec 3<>/dev/tcp/127.0.0.1/{port}", check=False).returncode == 0:
                break
            time.sleep(0.05)
        run(CAIRN, "env", "create", "prod", env=env)
        target = f"ssh://{sshd['SSHD_USER']}@127.0.0.1:{sshd['SSHD_PORT']}"
        run(CAIRN, "env", "set-agent", "prod", "web1", target, "--key", sshd["SSHD_KEY"], "--known-hosts", sshd["SSHD_KNOWN_HOSTS"], "--autostart", env=env)

        remote = os.path.join(work, "remote")
        project = os.path.join(work, "project")
        os.makedirs(project)
        with open(os.path.join(project, "project.yml"), "w") as f:
            f.write("name: benchssh\n")
        lines = ["import fs", "import mitogen", 'web1 = std::Host(name="web1", os=std::linux, via=mitogen::Local())',
                 f'site = fs::Directory(host=web1, path="{remote}", mode=755)']
        for i in range(args.files):
            lines.append(f'fs::File(host=web1, path="{remote}/f{i:04d}.conf", content="file {i}\\nline two\\n", mode=644, requires=site)')
        with open(os.path.join(project, "main.cf"), "w") as f:
            f.write("\n".join(lines) + "\n")
        count = args.files + 1

        started = time.perf_counter()
        run(CAIRN, "export", project, "-e", "prod", "--release", env=env)
        pushed = time.perf_counter() - started
        first = wait_deployed(log_path, 0)
        first_wall = time.perf_counter() - started
        if first.get("changed") != count or first.get("failed") != 0:
            sys.exit(f"bench: the first deploy did not change {count} resources: {first}")
        print(f"first deploy of {count} resources over one SSH connection: {first_wall:.2f} s from export to done "
              f"(compile and upload {pushed:.2f} s): {count / first_wall:.0f} resources/s "
              f"({count / (first_wall - pushed):.0f}/s after the upload)")

        best = None
        for run_index in range(args.runs):
            seen = len(deployed_lines(log_path))
            started = time.perf_counter()
            run(CAIRN, "deploy", "-e", "prod", "--full", env=env)
            again = wait_deployed(log_path, seen)
            wall = time.perf_counter() - started
            if again.get("unchanged") != count:
                sys.exit(f"bench: the repair run changed something: {again}")
            best = wall if best is None else min(best, wall)
        print(f"no-change redeploy (repair run: every file read back and compared): {best:.2f} s, {count / best:.0f} resources/s (best of {args.runs})")

        # scp on the same target.
        local = os.path.join(work, "local")
        os.makedirs(local)
        for i in range(args.files):
            with open(os.path.join(local, f"f{i:04d}.conf"), "w") as f:
                f.write(f"file {i}\nline two\n")
        scp = ["scp", "-q", "-i", sshd["SSHD_KEY"], "-P", sshd["SSHD_PORT"], "-o", f"UserKnownHostsFile={sshd['SSHD_KNOWN_HOSTS']}",
               "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes"]
        dest = f"{sshd['SSHD_USER']}@127.0.0.1:{work}/scp-loop/"
        os.makedirs(os.path.join(work, "scp-loop"))
        started = time.perf_counter()
        for i in range(args.files):
            run(*scp, os.path.join(local, f"f{i:04d}.conf"), dest)
        loop = time.perf_counter() - started
        os.makedirs(os.path.join(work, "scp-one"))
        started = time.perf_counter()
        run(*scp, *[os.path.join(local, f"f{i:04d}.conf") for i in range(args.files)], f"{sshd['SSHD_USER']}@127.0.0.1:{work}/scp-one/")
        one = time.perf_counter() - started
        print(f"scp in a loop ({args.files} files, one connection each): {loop:.2f} s, {args.files / loop:.0f} files/s; "
              f"one scp of all of them: {one:.2f} s, {args.files / one:.0f} files/s (copies only: no compare, no modes, no report)")
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
        run("bash", os.path.join(ROOT, "scripts", "test-sshd.sh"), "stop", sshd_dir, check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
