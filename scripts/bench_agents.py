#!/usr/bin/env python3
"""Agent benchmarks of scripts/bench-server.sh (figures, not a test).

Sections (--sections, comma separated):
  throughput  release-to-all-deployed of AGENT_N null resources over 10 agent names hosted by
              2 agent processes (5 names each): without requires, then with every resource
              of agent k requiring the one of the same index of agent k-1 (a chain across
              both processes), on SQLite and, when --mongo-port is given, on SecantusDB, with
              the same state writes through a plain driver (pymongo) for the ratio.
  failover    two agent processes hosting one agent name with FAILOVER_N resources, a deploy
              in progress: `kill -9` of the primary (default --agent-timeout, 10 s), then
              SIGSTOP of the primary (--agent-timeout STOP_TIMEOUT, 3 s): the time until the
              standby is the primary and until its first result is stored.

Every figure is measured from the release (`POST .../versions/N/release`, the version uploaded
unreleased before, agents connected and primary before) or from the signal, by polling the
environment's status (counts by state, agent names' primaries). Every wait is bounded
(BENCH_TIMEOUT, 120 s): on a timeout the script prints the tails of the logs and fails.
Logs are kept under --work (the calling script keeps the directory on failure or with
KEEP_WORK=1).
"""

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

TIMEOUT = float(os.environ.get("BENCH_TIMEOUT", "120"))
AGENT_N = int(os.environ.get("AGENT_N", "10000"))
FAILOVER_N = int(os.environ.get("FAILOVER_N", "50000"))
STOP_TIMEOUT = int(os.environ.get("STOP_TIMEOUT", "3"))
# Polling of the status during throughput runs (each poll is a count by state on the server,
# kept rare enough not to weigh on what it measures) and during failovers (fast).
THROUGHPUT_POLL = float(os.environ.get("THROUGHPUT_POLL", "0.05"))
# SecantusDB is a Python server, some 100 times slower than SQLite here: its deploys get a
# longer bound, and a rarer poll (a count by state is an aggregation it runs in Python).
SECANTUS_TIMEOUT = float(os.environ.get("SECANTUS_TIMEOUT", "900"))
SECANTUS_POLL = float(os.environ.get("SECANTUS_POLL", "0.5"))
BACKENDS = os.environ.get("AGENT_BACKENDS", "sqlite,secantus").split(",")
FAILOVER_POLL = float(os.environ.get("FAILOVER_POLL", "0.02"))
NAMES = [f"agent{k}" for k in range(10)]
ADMIN = f"bench-admin-token-{time.time_ns()}"


class BenchFailure(Exception):
    pass


def now():
    return time.monotonic()


def load():
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Logs:
    """Every log file a scenario writes, to show when something goes wrong."""

    def __init__(self):
        self.files = []

    def add(self, path):
        self.files.append(path)
        return path

    def tails(self, lines=25):
        for path in self.files:
            if not os.path.exists(path):
                continue
            with open(path, errors="replace") as f:
                content = f.read().splitlines()
            print(f"---- last {lines} lines of {path}", file=sys.stderr)
            for line in content[-lines:]:
                print("    " + line, file=sys.stderr)

    def problems(self):
        """WARN and ERROR lines of every log: (path, line)."""
        found = []
        for path in self.files:
            if not os.path.exists(path):
                continue
            with open(path, errors="replace") as f:
                for line in f:
                    if re.search(r"\b(WARN|ERROR)\b|panicked", line):
                        found.append((path, line.rstrip()))
        return found


def fail(logs, message):
    print(f"bench: {message}", file=sys.stderr)
    logs.tails()
    for path, line in logs.problems()[:20]:
        print(f"bench: {os.path.basename(path)}: {line}", file=sys.stderr)
    raise BenchFailure(message)


def report_problems(logs, label, expected=()):
    """Prints the WARN/ERROR lines of a scenario's logs (those matching `expected`, which the
    scenario causes on purpose, are only counted)."""
    problems = logs.problems()
    unexpected = [(p, l) for p, l in problems if not any(re.search(e, l) for e in expected)]
    expected_count = len(problems) - len(unexpected)
    note = f" ({expected_count} expected from the scenario)" if expected_count else ""
    if not unexpected:
        print(f"    logs of {label}: no unexpected WARN/ERROR lines{note}")
        return
    print(f"    logs of {label}: {len(unexpected)} unexpected WARN/ERROR lines{note}, the first:")
    for path, line in unexpected[:5]:
        print(f"      {os.path.basename(path)}: {line[:300]}")


class Server:
    def __init__(self, bench, name, store, agent_timeout=None):
        self.bench = bench
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = bench.logs.add(os.path.join(bench.work, f"{name}-server.log"))
        command = [bench.bin, "server", "--bind", f"127.0.0.1:{self.port}", "--store", store, "--admin-token", ADMIN]
        if agent_timeout is not None:
            command += ["--agent-timeout", str(agent_timeout)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=open(self.log, "w"), env=bench.env())
        deadline = now() + TIMEOUT
        while now() < deadline:
            if self.process.poll() is not None:
                fail(bench.logs, f"the server ({store}) exited with {self.process.returncode}")
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        fail(bench.logs, f"the server ({store}) does not listen on port {self.port} after {TIMEOUT:.0f} s")

    def api(self, method, path, token=ADMIN, body=None, timeout=30):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method, headers={"Authorization": f"Bearer {token}"})
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.load(response)
        except urllib.error.HTTPError as error:
            fail(self.bench.logs, f"{method} {path}: HTTP {error.code}: {error.read()[:500]!r}")
        except (urllib.error.URLError, OSError) as error:
            fail(self.bench.logs, f"{method} {path}: {error}")

    def status(self, env):
        return self.api("GET", f"/api/v1/environments/{env}/status")

    def cli(self, *args, token=ADMIN):
        env = self.bench.env()
        env.update({"CAIRN_SERVER": self.url, "CAIRN_TOKEN": token})
        try:
            done = subprocess.run([self.bench.bin, *args], env=env, capture_output=True, text=True, timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            fail(self.bench.logs, f"`cairn {' '.join(args)}` did not end within {TIMEOUT:.0f} s")
        if done.returncode != 0:
            fail(self.bench.logs, f"`cairn {' '.join(args)}` failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
        return done.stdout

    def stop(self):
        stop_process(self.process)


def stop_process(process, wait=15):
    if process.poll() is not None:
        return
    try:
        process.send_signal(signal.SIGCONT)
        process.terminate()
        process.wait(wait)
    except subprocess.TimeoutExpired:
        print(f"bench: process {process.pid} did not stop within {wait} s of SIGTERM: killing it", file=sys.stderr)
        process.kill()
        process.wait()


class Agent:
    """A `cairn agent` process."""

    def __init__(self, bench, server, env, token, label, names, scenario=None):
        self.label = label
        self.log = bench.logs.add(os.path.join(bench.work, f"{scenario or env}-{label}.log"))
        process_env = bench.env()
        process_env.update({"CAIRN_SERVER": server.url, "CAIRN_TOKEN": token})
        command = [bench.bin, "agent", "-e", env, "--host", label]
        for name in names:
            command += ["--name", name]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=open(self.log, "w"), env=process_env)
        self.pid = self.process.pid

    def stop(self):
        stop_process(self.process)


def write_model(directory, kind, count):
    """A project: `flat` spreads `count` null resources over the 10 agent names; `chain` does
    too, each resource of agent k (k > 0) requiring the one of the same index of agent k-1;
    `one` puts them all on the agent name `slow`."""
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "project.yml"), "w") as f:
        f.write("name: bench\n")
    lines = ["import std::testing"]
    if kind == "flat":
        for k, name in enumerate(NAMES):
            n = count // 10 + (1 if k < count % 10 else 0)
            lines += [f"for i in std::sequence({n}):",
                      f'    std::testing::NullResource(name=f"r{{i}}", agentname="{name}", value=f"value of resource {{i}} of {name}")',
                      "end"]
    elif kind == "chain":
        if count % 10:
            raise SystemExit("AGENT_N must be a multiple of 10")
        lines.append(f"for i in std::sequence({count // 10}):")
        for k, name in enumerate(NAMES):
            requires = f", requires=a{k - 1}" if k else ""
            lines.append(f'    a{k} = std::testing::NullResource(name=f"r{{i}}", agentname="{name}", value=f"value of resource {{i}} of {name}"{requires})')
        lines.append("end")
    elif kind == "one":
        lines += [f"for i in std::sequence({count}):",
                  '    std::testing::NullResource(name=f"r{i}", agentname="slow", value=f"value of resource {i}")',
                  "end"]
    with open(os.path.join(directory, "main.cf"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return directory


class Bench:
    def __init__(self, args):
        self.bin = args.bin
        self.work = args.work
        self.mongo_port = args.mongo_port
        self.logs = Logs()
        self.projects = {}

    def env(self):
        env = dict(os.environ)
        env["NO_COLOR"] = "1"
        for key in ("CAIRN_SERVER", "CAIRN_TOKEN", "CAIRN_ENVIRONMENT"):
            env.pop(key, None)
        return env

    def project(self, kind, count):
        key = (kind, count)
        if key not in self.projects:
            self.projects[key] = write_model(os.path.join(self.work, f"project-{kind}-{count}"), kind, count)
        return self.projects[key]

    def prepare(self, server, env, kind, count):
        """An environment with a version of the model uploaded, not released; an agent token."""
        server.cli("env", "create", env)
        token = server.cli("token", "create", "-e", env, "--role", "agent").strip()
        out = server.cli("export", self.project(kind, count), "-e", env)
        return token, int(out.strip().splitlines()[-1])

    def wait_agents(self, server, env, names, standbys=0, primary_pid=None):
        """Until each of `names` has a primary (with pid `primary_pid` when given) and at
        least `standbys` processes standing by."""
        deadline = now() + TIMEOUT
        last = None
        while now() < deadline:
            status = server.status(env)
            agents = {a["name"]: a for a in status["agents"]}
            last = agents
            ready = all(
                name in agents
                and agents[name]["primary"] is not None
                and (primary_pid is None or agents[name]["primary"]["pid"] == primary_pid)
                and len(agents[name]["standby"]) >= standbys
                for name in names
            )
            if ready:
                return agents
            time.sleep(0.05)
        fail(self.logs, f"the agent names of {env} have no primary (or not the standbys) after {TIMEOUT:.0f} s: {json.dumps(last)[:1500]}")

    def release_and_wait(self, server, env, version, count, label, poll, timeout):
        """Releases `version` and waits until `count` resources are deployed: seconds from
        the release to the first deployed result and to all deployed."""
        started = now()
        server.api("POST", f"/api/v1/environments/{env}/versions/{version}/release")
        released = now() - started
        first = None
        deadline = started + timeout
        counts = {}
        while now() < deadline:
            counts = server.status(env)["resources"]
            deployed = counts.get("deployed", 0)
            if deployed and first is None:
                first = now() - started
            if deployed >= count:
                return now() - started, first, released
            bad = {s: n for s, n in counts.items() if s not in ("deployed", "deploying", "available") and n}
            if bad:
                fail(self.logs, f"{label}: resources in unexpected states: {counts}")
            time.sleep(poll)
        fail(self.logs, f"{label}: not all {count} resources deployed {timeout:.0f} s after the release: {counts}")

    def throughput(self, server, backend, kind, env, poll=THROUGHPUT_POLL, timeout=TIMEOUT):
        label = f"{backend} {kind}"
        token, version = self.prepare(server, env, kind, AGENT_N)
        scenario = f"{backend}-{env}"
        processes = [Agent(self, server, env, token, "proc-a", NAMES[:5], scenario), Agent(self, server, env, token, "proc-b", NAMES[5:], scenario)]
        try:
            self.wait_agents(server, env, NAMES)
            total, first, released = self.release_and_wait(server, env, version, AGENT_N, label, poll, timeout)
        finally:
            for process in processes:
                process.stop()
        return total, first, released

    def section_throughput(self):
        results = {}
        backends = []
        if "sqlite" in BACKENDS:
            backends.append(("sqlite", f"sqlite:{os.path.join(self.work, 'agents-state.db')}", THROUGHPUT_POLL, TIMEOUT))
        if "secantus" in BACKENDS and self.mongo_port:
            backends.append(("secantus", f"mongodb://127.0.0.1:{self.mongo_port}/cairn_agents_bench", SECANTUS_POLL, SECANTUS_TIMEOUT))
        targets = {"flat": 5000, "chain": 2000}
        print(f"agent benchmark: {AGENT_N} null resources over 10 agent names, 2 agent processes of 5 names "
              f"(timed from POST .../release to the status showing all deployed, polled every {THROUGHPUT_POLL * 1000:.0f} ms, "
              f"on SecantusDB every {SECANTUS_POLL * 1000:.0f} ms)")
        raw = []
        for backend, store, poll, timeout in backends:
            self.logs = Logs()
            print(f"  ({backend}: load average {load()})")
            if backend == "secantus":
                # The plain driver before and after Cairn: the machine's load varies.
                raw.append(self.raw_driver("before"))
            server = Server(self, f"agents-{backend}", store)
            try:
                for kind in ("flat", "chain"):
                    total, first, released = self.throughput(server, backend, kind, f"bench-{kind}", poll, timeout)
                    results[(backend, kind)] = total
                    what = "no requires" if kind == "flat" else "requires across agents"
                    print(f"{backend:<9} {what:<23} all deployed in {total:6.2f} s = {AGENT_N / total:7.0f} resources/s "
                          f"(release call {released * 1000:4.0f} ms, first deployed after {first:5.2f} s; target >= {targets[kind]}/s)")
            finally:
                server.stop()
            report_problems(self.logs, f"{backend} (server and agents)")
            if backend == "secantus":
                raw.append(self.raw_driver("after"))
        if raw:
            plain = sum(r["plain"] for r in raw) / len(raw)
            like = [r["cairn-like"] for r in raw if r.get("cairn-like")]
            like = sum(like) / len(like) if like else None
            for kind in ("flat", "chain"):
                cairn = results[("secantus", kind)]
                print(f"SecantusDB through Cairn ({'no requires' if kind == 'flat' else 'requires'}) vs the raw driver's "
                      f"state writes (mean of before and after): {cairn / plain:.2f}x (target: at most 2x); vs the raw driver "
                      f"writing as Cairn does (intents, transactions): " + (f"{cairn / like:.2f}x" if like else "n/a"))

    def raw_driver(self, when):
        """The state writes of a deploy of AGENT_N resources through pymongo, on the same
        SecantusDB: `plain` is AGENT_N state upserts in batches of 500 (one update command
        each) plus an action-log insert per result (insert_many per batch); `cairn-like` is
        what the Cairn store writes for the same deploy: the intents (one transaction per
        agent name), then per batch of 500 results one transaction with the fencing update,
        the state upserts, the log sequence counter and the log inserts, all w:majority j:true."""
        from pymongo import MongoClient, UpdateOne, ReturnDocument
        from pymongo.write_concern import WriteConcern
        from pymongo.read_concern import ReadConcern
        client = MongoClient(f"mongodb://127.0.0.1:{self.mongo_port}/", serverSelectionTimeoutMS=5000)
        durable = WriteConcern(w="majority", j=True)
        out = {}

        def collections(db_name):
            # A new database each time (dropping one is slow on SecantusDB).
            db = client.get_database(f"{db_name}_{when}", write_concern=durable)
            states, logs, heads, agents = db["resource_states"], db["action_logs"], db["heads"], db["agents"]
            states.create_index([("environment", 1), ("resource_id", 1)], unique=True, name="environment_resource")
            states.create_index([("environment", 1), ("state", 1), ("resource_id", 1)], name="environment_state_resource")
            states.create_index([("environment", 1), ("agent", 1), ("resource_id", 1)], name="environment_agent_resource")
            states.create_index([("environment", 1), ("resource_type", 1), ("resource_id", 1)], name="environment_type_resource")
            logs.create_index([("environment", 1), ("resource_id", 1), ("seq", 1)], unique=True, name="environment_resource_seq")
            return db, states, logs, heads, agents

        ids = [(f"agent{i % 10}", f"std::testing::NullResource[agent{i % 10},name=r{i // 10}]") for i in range(AGENT_N)]

        def state_update(agent, rid, state, version=1):
            return UpdateOne({"environment": "bench", "resource_id": rid},
                             {"$set": {"state": state, "version": version, "updated_ms": int(time.time() * 1000), "agent": agent,
                                       "resource_type": "std::testing::NullResource", "deployed_hash": "0" * 40}}, upsert=True)

        def log_doc(rid, seq):
            return {"environment": "bench", "resource_id": rid, "seq": seq, "version": 1, "time_ms": int(time.time() * 1000),
                    "action": "deploy", "state": "deployed", "changed": False, "changes": "[]", "message": "", "deployed_hash": "0" * 40,
                    "diff": None}

        db, states, logs, heads, agents = collections("raw_agents_bench")
        start = now()
        for i in range(0, AGENT_N, 500):
            batch = ids[i:i + 500]
            states.bulk_write([state_update(a, r, "deployed") for a, r in batch], ordered=True)
            logs.insert_many([log_doc(r, i + n) for n, (a, r) in enumerate(batch)])
        out["plain"] = now() - start
        print(f"{'raw driver':<9} {'state writes, ' + when:<23} {AGENT_N} upserts + log inserts in batches of 500: {out['plain']:6.2f} s = "
              f"{AGENT_N / out['plain']:7.0f} resources/s")

        db, states, logs, heads, agents = collections("raw_agents_bench_tx")
        agents.insert_many([{"environment": "bench", "agent": name, "epoch": 1, "writes": 0} for name in NAMES])
        heads.insert_one({"_id": "log:bench", "environment": "bench", "last": 0})
        try:
            start = now()
            with client.start_session() as session:
                def in_transaction(body):
                    session.with_transaction(body, read_concern=ReadConcern("snapshot"), write_concern=durable)
                for name in NAMES:
                    mine = [r for a, r in ids if a == name]

                    def intents(s, name=name, mine=mine):
                        agents.update_one({"environment": "bench", "agent": name, "epoch": 1}, {"$inc": {"writes": 1}}, session=s)
                        states.bulk_write([state_update(name, r, "deploying") for r in mine], ordered=True, session=s)
                    in_transaction(intents)
                for name in NAMES:
                    mine = [r for a, r in ids if a == name]
                    for i in range(0, len(mine), 500):
                        batch = mine[i:i + 500]

                        def results(s, name=name, batch=batch):
                            agents.update_one({"environment": "bench", "agent": name, "epoch": 1}, {"$inc": {"writes": 1}}, session=s)
                            states.bulk_write([state_update(name, r, "deployed") for r in batch], ordered=True, session=s)
                            head = heads.find_one_and_update({"_id": "log:bench"}, {"$inc": {"last": len(batch)}},
                                                             return_document=ReturnDocument.AFTER, session=s)
                            first = head["last"] - len(batch) + 1
                            logs.insert_many([log_doc(r, first + n) for n, r in enumerate(batch)], session=s)
                        in_transaction(results)
            out["cairn-like"] = now() - start
            print(f"{'raw driver':<9} {'as Cairn, ' + when:<23} intents + results in transactions of 500: {out['cairn-like']:6.2f} s = "
                  f"{AGENT_N / out['cairn-like']:7.0f} resources/s")
        except Exception as error:  # SecantusDB or the driver without transactions: say so
            print(f"{'raw driver':<9} {'as Cairn, ' + when:<23} not measured: {type(error).__name__}: {str(error)[:200]}")
        client.close()
        return out

    def failover(self, how, agent_timeout):
        """A deploy of FAILOVER_N resources of one agent name; `how` (kill or stop) ends its
        primary half-way; the standby takes over."""
        name = f"failover-{how}"
        self.logs = Logs()
        server = Server(self, name, f"sqlite:{os.path.join(self.work, name + '.db')}", agent_timeout)
        processes = []
        victim = None
        try:
            env = "failover"
            token, version = self.prepare(server, env, "one", FAILOVER_N)
            first = Agent(self, server, env, token, "proc-a", ["slow"], name)
            processes.append(first)
            self.wait_agents(server, env, ["slow"], primary_pid=first.pid)
            second = Agent(self, server, env, token, "proc-b", ["slow"], name)
            processes.append(second)
            self.wait_agents(server, env, ["slow"], standbys=1)
            started = now()
            server.api("POST", f"/api/v1/environments/{env}/versions/{version}/release")
            threshold = min(2000, FAILOVER_N // 10)
            deadline = started + TIMEOUT
            deployed = 0
            while now() < deadline:
                deployed = server.status(env)["resources"].get("deployed", 0)
                if deployed >= threshold:
                    break
                time.sleep(FAILOVER_POLL)
            else:
                fail(self.logs, f"{name}: only {deployed} of {FAILOVER_N} deployed {TIMEOUT:.0f} s after the release")
            # The primary as `cairn agents` shows it.
            listing = json.loads(server.cli("agents", "-e", env, "--json"))
            slow = next(a for a in listing["agents"] if a["name"] == "slow")
            pid = slow["primary"]["pid"]
            victim = next((p for p in processes if p.pid == pid), None)
            if victim is None:
                fail(self.logs, f"{name}: the primary's pid {pid} is none of the agent processes {[p.pid for p in processes]}")
            standby = next(p for p in processes if p is not victim)
            before = server.status(env)["resources"].get("deployed", 0)
            if before >= FAILOVER_N:
                fail(self.logs, f"{name}: the deploy ended before the {how}: raise FAILOVER_N (now {FAILOVER_N})")
            os.kill(pid, signal.SIGKILL if how == "kill" else signal.SIGSTOP)
            t0 = now()
            elected = first_result = None
            base = None
            counts = {}
            deadline = t0 + TIMEOUT
            while now() < deadline:
                status = server.status(env)
                counts = status["resources"]
                deployed = counts.get("deployed", 0)
                agent = next((a for a in status["agents"] if a["name"] == "slow"), None)
                primary = agent and agent["primary"]
                if elected is None and primary and primary["pid"] == standby.pid:
                    # Results of the victim that were on their way are stored by now (the
                    # server reads a session's frames in order, before its end): an increase
                    # from here is the standby's.
                    elected = now() - t0
                    base = deployed
                elif elected is not None and deployed > base:
                    first_result = now() - t0
                    break
                time.sleep(FAILOVER_POLL)
            else:
                fail(self.logs, f"{name}: the standby did not take over (primary elected after {elected} s) within {TIMEOUT:.0f} s: {counts}")
            deadline = now() + TIMEOUT
            while now() < deadline:
                counts = server.status(env)["resources"]
                if counts.get("deployed", 0) >= FAILOVER_N:
                    break
                time.sleep(0.1)
            else:
                fail(self.logs, f"{name}: the standby did not deploy the rest within {TIMEOUT:.0f} s: {counts}")
            rest = now() - t0
            return {"deployed_before": before, "elected": elected, "first_result": first_result, "rest": rest}
        finally:
            if victim is not None and victim.process.poll() is None:
                victim.process.kill()
                victim.process.wait()
            for process in processes:
                process.stop()
            server.stop()

    def section_failover(self):
        print(f"failover: 2 agent processes hosting the agent name `slow` ({FAILOVER_N} null resources), the primary "
              f"ended half-way through the deploy (status polled every {FAILOVER_POLL * 1000:.0f} ms; "
              f"load average {load()})")
        for how, timeout, label in (("kill", None, "kill -9 (--agent-timeout 10, the default)"),
                                    ("stop", STOP_TIMEOUT, f"SIGSTOP (--agent-timeout {STOP_TIMEOUT})")):
            figures = self.failover(how, timeout)
            target = "target <= 10 s, aim 3 s" if how == "kill" else f"bounded by the timeout, {STOP_TIMEOUT} s"
            print(f"{label:<43} standby primary after {figures['elected']:5.2f} s, its first result stored after "
                  f"{figures['first_result']:5.2f} s ({target}); {figures['deployed_before']} deployed before, all "
                  f"{FAILOVER_N} after {figures['rest']:5.2f} s")
            # The standby's session of a stopped process ends by timeout on the server, and the
            # stopped process, killed afterwards, never speaks again: nothing is expected.
            report_problems(self.logs, f"failover by {how}", expected=(r"no session with the server",))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--mongo-port", type=int)
    parser.add_argument("--sections", default="throughput,failover")
    args = parser.parse_args()
    bench = Bench(args)
    try:
        for section in args.sections.split(","):
            getattr(bench, f"section_{section.strip()}")()
    except BenchFailure:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
