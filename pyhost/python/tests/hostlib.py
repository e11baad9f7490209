"""Test helpers: start the plugin host as Cairn does and speak the protocol like Cairn."""

import json
import os
import queue
import subprocess
import sys
import threading

HOST = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "cairn_host.py")

WAIT = object()  # an attribute value that is "not known yet"
UNKNOWN = {"$unknown": True}


def ref(n, type_):
    return {"$ref": n, "$type": type_}


class Model:
    """A small set of instances that answers the host's questions like Cairn would."""

    def __init__(self, instances=None, settings=None):
        # ref -> {"type": str, "isa": [str], "attrs": {name: value or WAIT}}
        self.instances = instances or {}
        self.settings = settings or {}
        self.questions = []

    def answer(self, q):
        self.questions.append(q)
        op = q["op"]
        if op == "setting":
            return {"value": self.settings.get(q["key"])}
        inst = self.instances.get(q["instance"])
        if inst is None:
            return {"error": f"no instance {q['instance']}", "kind": "NotFound"}
        if op == "get":
            attrs = inst["attrs"]
            if q["attr"] not in attrs:
                return {"error": f"{inst['type']} has no attribute {q['attr']}", "kind": "NotFound"}
            value = attrs[q["attr"]]
            if value is WAIT:
                return {"wait": True}
            return {"value": value}
        if op == "isa":
            return {"value": q["entity"] == inst["type"] or q["entity"] in inst.get("isa", ())}
        if op == "attributes":
            return {"value": sorted(inst["attrs"])}
        raise AssertionError(f"unexpected question {q}")


class Host:
    def __init__(self, project, python=None, env=None):
        self.proc = subprocess.Popen(
            [python or sys.executable, "-I", "-u", HOST],
            cwd=project,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env if env is not None else {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONDONTWRITEBYTECODE": "1"},
        )
        self.lines = queue.Queue()
        self.stderr = []
        threading.Thread(target=self._read_out, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read_out(self):
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _read_err(self):
        for line in self.proc.stderr:
            self.stderr.append(line.decode("utf-8", "replace"))

    def send(self, obj):
        self.proc.stdin.write((json.dumps(obj) + "\n").encode())
        self.proc.stdin.flush()

    def recv(self, timeout=30):
        line = self.lines.get(timeout=timeout)
        if line is None:
            raise EOFError("host closed its stdout; stderr:\n" + "".join(self.stderr))
        try:
            return json.loads(line)
        except ValueError:
            raise AssertionError(f"not a protocol line: {line!r}; stderr:\n" + "".join(self.stderr))

    def request(self, req, model=None):
        """Send a request, answer questions from ``model``; returns (final answer, printed texts)."""
        self.send(req)
        prints = []
        while True:
            msg = self.recv()
            op = msg.get("op")
            if op == "print":
                prints.append(msg["text"])
            elif op in ("get", "isa", "attributes", "setting"):
                if model is None:
                    raise AssertionError(f"unexpected question {msg}")
                self.send(model.answer(msg))
            else:
                return msg, prints

    def call(self, plugin, args=(), kwargs=(), model=None):
        return self.request({"op": "call", "plugin": plugin, "args": list(args), "kwargs": [list(kv) for kv in kwargs]}, model)

    def close(self):
        if self.proc.poll() is None:
            try:
                self.send({"op": "bye"})
            except (BrokenPipeError, OSError):
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except OSError:
                pass
        return self.proc.returncode


def hello(project, modules, settings=None):
    return {"op": "hello", "protocol": 1, "project": project, "modules": modules, "settings": settings or {}}


def v1(project, name):
    return {"name": name, "kind": "v1", "path": os.path.join(project, "libs", name, "plugins")}


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
