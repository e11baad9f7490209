"""The dashboard and event stream benchmark (figures, not a test), run by
scripts/bench-dashboard.sh.

1. Events per second the stream delivers during a deploy of EVENTS_N (10,000) null resources
   over 10 agent names hosted by 2 `cairn agent` processes (the agent throughput benchmark's
   setup, scripts/bench_agents.py), on SQLite: a reader follows `GET /api/v1/events` from
   before the release; the figure is the `resource.state` events it received divided by the
   time from the first to the last, and the lag is from the status poll that saw every resource
   deployed to the reader having the last result (negative: the reader had it first).
2. The resources page of DASHBOARD_N (65,000) deployed resources in headless Chromium
   (tests/browser/dashboard.mjs, scenario `scroll`): the time from opening the page to its
   first rows, to every row loaded, and to the last row drawn after a jump to the end.
3. The graph of a version of GRAPH_N (3,000) resources in ten layers (each resource of agent k
   requires one of agent k-1): its first paint, and one repaint while it is dragged.
"""

import argparse
import contextlib
import http.client
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_agents as base  # noqa: E402

EVENTS_N = int(os.environ.get("EVENTS_N", "10000"))
DASHBOARD_N = int(os.environ.get("DASHBOARD_N", "65000"))
GRAPH_N = int(os.environ.get("GRAPH_N", "3000"))
RUNS = int(os.environ.get("RUNS", "3"))
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class StreamReader(threading.Thread):
    """Follows the event stream of one environment; notes when each event arrived."""

    def __init__(self, server, env):
        super().__init__(daemon=True)
        self.connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=600)
        self.connection.request("GET", f"/api/v1/events?environment={env}", headers={"Authorization": f"Bearer {base.ADMIN}"})
        self.response = self.connection.getresponse()
        if self.response.status != 200:
            raise SystemExit(f"bench: the event stream answered {self.response.status}")
        self.received = []
        self.lock = threading.Lock()

    def run(self):
        kind = None
        try:
            for raw in self.response:
                line = raw.decode().rstrip("\n")
                if line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("data:"):
                    data = json.loads(line[5:])
                    with self.lock:
                        self.received.append((time.monotonic(), kind, data["data"]))
        except (OSError, ValueError, AttributeError):
            # The connection closed under the reader (the benchmark is done with it).
            pass

    def states(self, state):
        with self.lock:
            return [(t, d) for t, k, d in self.received if k == "resource.state" and d.get("state") == state]

    def close(self):
        self.connection.close()


def deploy(bench, server, env, count, poll, timeout, during=None, kind="flat"):
    """Releases `count` null resources over 10 agent names hosted by 2 processes and waits
    until they are deployed; `during` (a context manager) is entered just before the
    release. Returns the seconds from the release to all deployed, when that was seen
    (`time.monotonic()`), and what `during` gave."""
    token, version = bench.prepare(server, env, kind, count)
    agents = [base.Agent(bench, server, env, token, label, names, env) for label, names in (("proc-a", base.NAMES[:5]), ("proc-b", base.NAMES[5:]))]
    try:
        bench.wait_agents(server, env, base.NAMES)
        with (during or contextlib.nullcontext)() as value:
            total, _, _ = bench.release_and_wait(server, env, version, count, env, poll, timeout)
            return total, time.monotonic(), value
    finally:
        for agent in agents:
            agent.stop()


def events_section(bench, server):
    env = "events"

    @contextlib.contextmanager
    def reading():
        reader = StreamReader(server, env)
        reader.start()
        time.sleep(0.3)
        yield reader

    total, all_deployed, reader = deploy(bench, server, env, EVENTS_N, base.THROUGHPUT_POLL, base.TIMEOUT, reading)
    deadline = all_deployed + 60
    while len(reader.states("deployed")) < EVENTS_N and time.monotonic() < deadline:
        time.sleep(0.01)
    deployed = reader.states("deployed")
    with reader.lock:
        states = [(t, d) for t, k, d in reader.received if k == "resource.state"]
    reader.close()
    if len(deployed) != EVENTS_N:
        base.fail(bench.logs, f"the stream delivered {len(deployed)} `deployed` events of {EVENTS_N}")
    resources = {d["resource"] for _, d in deployed}
    if len(resources) != EVENTS_N:
        base.fail(bench.logs, f"the stream delivered {len(resources)} distinct deployed resources, not {EVENTS_N}")
    span = states[-1][0] - states[0][0]
    rate = len(states) / span if span > 0 else float("inf")
    # Negative: the reader had the last result before the status poll (every 50 ms) saw it.
    lag = deployed[-1][0] - all_deployed
    print(f"  event stream during a deploy of {EVENTS_N} resources (release to all deployed {total:.2f} s):")
    print(f"    {len(states)} resource.state events in {span:.2f} s: {rate:,.0f} events/s; the last result reached the reader {lag * 1000:+.0f} ms from the status poll that saw all deployed")


def dashboard_section(bench, server):
    env = "dashboard"
    total, _, _ = deploy(bench, server, env, DASHBOARD_N, 0.2, max(base.TIMEOUT, 600))
    print(f"  resources page of {DASHBOARD_N} deployed resources (deployed in {total:.1f} s):")
    page = server.api("GET", f"/api/v1/environments/{env}/resources?limit=10000")
    last = page["resources"][-1]["resource"]
    while page.get("next"):
        page = server.api("GET", f"/api/v1/environments/{env}/resources?limit=10000&after={page['next']}")
        if page["resources"]:
            last = page["resources"][-1]["resource"]
    figures = browser(bench, "scroll", {"env": env, "expected": DASHBOARD_N, "last_id": last})
    for n, run in enumerate(figures, 1):
        print(f"    run {n}: first rows {run['first_rows_ms']} ms, all {DASHBOARD_N} loaded {run['all_loaded_ms']} ms, "
              f"jump to the end drawn {run['scroll_to_end_ms']} ms ({run['rows_in_document']} rows in the document)")
    best = min(figures, key=lambda r: r["first_rows_ms"] + r["scroll_to_end_ms"])
    print(f"    best: first rows {best['first_rows_ms']} ms; every row loaded {best['all_loaded_ms']} ms; end of the list drawn {best['scroll_to_end_ms']} ms after the jump")


def browser(bench, scenario, config):
    """Runs a figures scenario of tests/browser/dashboard.mjs; its runs."""
    config = {"url": bench.server.url, "token": base.ADMIN, "runs": RUNS, "timeout_ms": 300000,
              "screenshots": os.path.join(bench.work, "screenshots"), **config}
    done = subprocess.run(["node", os.path.join(ROOT, "tests/browser/dashboard.mjs"), scenario], env={**os.environ, "CAIRN_BROWSER": json.dumps(config)},
                          capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        base.fail(bench.logs, f"the browser failed ({scenario}): {done.stderr[-3000:]}")
    return [json.loads(line[len("FIGURES "):]) for line in done.stdout.splitlines() if line.startswith("FIGURES ")][0]


def graph_section(bench, server):
    env = "graph"
    # Each resource of agent k requires one of agent k-1: ten layers, with edges between them.
    total, _, _ = deploy(bench, server, env, GRAPH_N, 0.1, base.TIMEOUT, kind="chain")
    figures = browser(bench, "graph", {"env": env, "version": 1, "expected": GRAPH_N})
    print(f"  graph of a version of {GRAPH_N} resources (deployed in {total:.1f} s):")
    for n, run in enumerate(figures, 1):
        print(f"    run {n}: first paint {run['first_paint_ms']} ms after opening it, one repaint while dragged {run['drag_frame_ms']} ms (median of 10)")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--sections", default="events,dashboard,graph")
    args = parser.parse_args()
    args.mongo_port = None
    bench = base.Bench(args)
    server = base.Server(bench, "dashboard", f"sqlite:{os.path.join(args.work, 'state.db')}")
    bench.server = server
    print(f"bench-dashboard ({os.cpu_count()} cores, load {base.load()}):")
    try:
        if "events" in args.sections:
            events_section(bench, server)
        if "dashboard" in args.sections:
            dashboard_section(bench, server)
        if "graph" in args.sections:
            graph_section(bench, server)
        base.report_problems(bench.logs, "the benchmark")
    finally:
        server.stop()


if __name__ == "__main__":
    try:
        main()
    except base.BenchFailure:
        sys.exit(1)
