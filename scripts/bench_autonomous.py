#!/usr/bin/env python3
"""Webhook to all deployed, for the autonomous server (figures, not a test).

A bare Git repository holds a model of HOSTS hosts, one `fs::File` each (every host is an
agent name, all hosted by one `cairn agent` process). A `cairn server` on SQLite compiles it
from the repository (`file://`), releases it, and the agent deploys it. Then, RUNS times: a
commit changes every file, the webhook is called signed as GitHub signs it, and the time until
every file on disk has the new content is measured and split with the compile's report:
queue (webhook to compile start), fetch, load (project and modules), compile, export, upload
(with the release), deploy (compile end to the last file). Every wait is bounded.
"""

import argparse
import hashlib
import hmac
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ADMIN = f"bench-admin-token-{time.time_ns()}"
SECRET = "bench-webhook-secret-0123456789"
TIMEOUT = float(os.environ.get("BENCH_TIMEOUT", "300"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def git(cwd, *args):
    env = dict(os.environ, GIT_CONFIG_GLOBAL="/dev/null", GIT_CONFIG_NOSYSTEM="1")
    subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost", *args], cwd=cwd, env=env, check=True,
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.decode().strip()


def model(out, hosts, version):
    lines = ["import fs", ""]
    lines.append(f"for i in std::sequence({hosts}):")
    lines.append('    h = std::Host(name=f"host{i}", os=std::linux, ip="127.0.0.1")')
    lines.append(f'    fs::File(host=h, path=f"{out}/host{{i}}.conf", content=f"host {{i}} version {version}\\n", mode=644)')
    lines.append("end")
    return "\n".join(lines) + "\n"


def api(port, method, path, body=None, headers=None, token=ADMIN):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    for k, v in (headers or {}).items():
        request.add_header(k, v)
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read() or b"null")


def wait(what, done, limit=TIMEOUT, poll=0.02):
    started = time.monotonic()
    while time.monotonic() - started < limit:
        value = done()
        if value:
            return value
        time.sleep(poll)
    raise SystemExit(f"bench: {what}: not within {limit} s")


def all_written(out, hosts, version):
    for i in range(hosts):
        try:
            with open(f"{out}/host{i}.conf") as f:
                if f.read() != f"host {i} version {version}\n":
                    return False
        except OSError:
            return False
    return True


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cairn", default="target/release/cairn")
    # The server's --agent-timeout (its default is 10 s).
    parser.add_argument("--agent-timeout", default="10")
    args = parser.parse_args()
    cairn = os.path.abspath(args.cairn)
    work = tempfile.mkdtemp(prefix="cairn-bench-autonomous-")
    procs = []
    try:
        bare, clone, out = f"{work}/models.git", f"{work}/models", f"{work}/out"
        os.makedirs(out)
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", bare], check=True)
        subprocess.run(["git", "clone", "-q", bare, clone], check=True, stderr=subprocess.DEVNULL)
        with open(f"{clone}/project.yml", "w") as f:
            f.write("name: fleet\n")
        with open(f"{clone}/main.cf", "w") as f:
            f.write(model(out, args.hosts, 0))
        git(clone, "add", "-A")
        git(clone, "commit", "-q", "-m", "v0")
        git(clone, "push", "-q", "origin", "HEAD:main")
        port = free_port()
        server_log = open(f"{work}/server.log", "w")
        procs.append(subprocess.Popen([cairn, "server", "--bind", f"127.0.0.1:{port}", "--store", f"sqlite:{work}/state.db", "--admin-token", ADMIN,
                                       "--compile-dir", f"{work}/compiles", "--agent-timeout", args.agent_timeout], stdout=subprocess.DEVNULL, stderr=server_log))
        wait("the server", lambda: socket.socket().connect_ex(("127.0.0.1", port)) == 0)
        env = dict(os.environ, CAIRN_SERVER=f"http://127.0.0.1:{port}", CAIRN_TOKEN=ADMIN)
        subprocess.run([cairn, "env", "create", "prod", "--repo", f"file://{bare}", "--auto-release"], env=env, check=True, stdout=subprocess.DEVNULL)
        subprocess.run([cairn, "env", "set", "prod", f"webhook_secret={SECRET}"], env=env, check=True, stdout=subprocess.DEVNULL)
        token = subprocess.run([cairn, "token", "create", "-e", "prod", "--role", "agent"], env=env, check=True, stdout=subprocess.PIPE).stdout.decode().strip()
        names = []
        for i in range(args.hosts):
            names += ["--name", f"host{i}"]
        agent_log = open(f"{work}/agent.log", "w")
        procs.append(subprocess.Popen([cairn, "agent", "--server", f"http://127.0.0.1:{port}", "-e", "prod", *names],
                                      env=dict(env, CAIRN_TOKEN=token), stdout=subprocess.DEVNULL, stderr=agent_log))
        wait("the first deploy", lambda: all_written(out, args.hosts, 0), poll=0.2)
        print(f"bench: {args.hosts} hosts ({args.hosts} fs::File resources, {args.hosts} agent names in one agent process), SQLite store")
        rows = []
        for run in range(1, args.runs + 1):
            with open(f"{clone}/main.cf", "w") as f:
                f.write(model(out, args.hosts, run))
            commit = git(clone, "commit", "-q", "-am", f"v{run}")
            git(clone, "push", "-q", "origin", "HEAD:main")
            body = json.dumps({"ref": "refs/heads/main", "after": commit}).encode()
            signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            started = time.monotonic()
            sent_ms = time.time() * 1000
            api(port, "POST", "/api/v1/environments/prod/notify", body, {"X-Hub-Signature-256": f"sha256={signature}"}, token=None)
            wait("every file deployed", lambda: all_written(out, args.hosts, run))
            total = time.monotonic() - started
            done_ms = time.time() * 1000
            record = api(port, "GET", "/api/v1/environments/prod/compiles?limit=1")["compiles"][0]
            report = record["report"] or {}
            if record["state"] != "succeeded" or report.get("commit") != commit:
                raise SystemExit(f"bench: unexpected compile: {record}")
            phases = report["phases"]
            row = {
                "queue": record["started_ms"] - sent_ms,
                "fetch": phases.get("fetch", 0),
                "load": phases.get("load", 0),
                "compile": phases.get("compile", 0),
                "export": phases.get("export", 0),
                "upload+release": phases.get("upload", 0),
                "deploy": done_ms - record["finished_ms"],
                "total": total * 1000,
            }
            rows.append(row)
            print(f"run {run}: " + ", ".join(f"{k} {v:.0f} ms" for k, v in row.items()), flush=True)
        best = min(rows, key=lambda r: r["total"])
        print("best run: " + ", ".join(f"{k} {v:.0f} ms" for k, v in best.items()))
        print(f"webhook to all {args.hosts} deployed: {best['total'] / 1000:.2f} s (best of {args.runs})")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        if os.environ.get("KEEP_WORK"):
            print(f"bench: work kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
