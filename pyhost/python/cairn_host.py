"""Cairn's Python plugin host (see docs/plugin-host.md).

Started by Cairn as ``PYTHON -I -u cairn_host.py`` with the project as working folder. Speaks
JSON lines: requests on stdin, answers and questions on the original stdout. Runs the Python
plugins and resource declarations of Inmanta modules against Cairn's own ``inmanta`` shim
package, which sits next to this file.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
# -I leaves the script's folder off sys.path: put ours first, so the shim ``inmanta`` wins
sys.path[:] = [HERE] + [p for p in sys.path if os.path.abspath(p or ".") != HERE]

import importlib  # noqa: E402
import importlib.abc  # noqa: E402
import importlib.machinery  # noqa: E402
import importlib.util  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import threading  # noqa: E402
import traceback  # noqa: E402
import types  # noqa: E402

PROTOCOL = 1
MAX_LINE = 64 * 1024 * 1024
MAX_FRAMES = 10
PLUGINS_PACKAGE = "inmanta_plugins"
FALLBACK_STD = os.path.join(HERE, "cairn_std")
IMPORTLIB_DIR = os.path.dirname(os.path.abspath(importlib.__file__))


# ---------------------------------------------------------------------------------------------
# Imports


class ShimGuard(importlib.abc.MetaPathFinder):
    """``inmanta`` and ``inmanta.*`` come from the shim only; anything else named so fails."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "inmanta" and not fullname.startswith("inmanta."):
            return None
        base = os.path.join(HERE, *fullname.split("."))
        if os.path.isfile(os.path.join(base, "__init__.py")) or os.path.isfile(base + ".py"):
            return None  # provided: the path finder loads it from HERE (first on sys.path)
        raise ModuleNotFoundError(f"Cairn's plugin host does not provide {fullname}", name=fullname)


class ModulesFinder(importlib.abc.MetaPathFinder):
    """``inmanta_plugins.NAME`` is the Python folder of module NAME, as ``hello`` gives it."""

    def __init__(self) -> None:
        self.folders: dict = {}

    def find_spec(self, fullname, path, target=None):
        parts = fullname.split(".")
        if len(parts) != 2 or parts[0] != PLUGINS_PACKAGE:
            return None
        folder = self.folders.get(parts[1])
        if folder is None:
            if parts[1] != "std":
                return None  # not named by hello: the virtualenv's site-packages (inmanta_plugins.__path__)
            return std_spec(fullname)
        init = os.path.join(folder, "__init__.py")
        if os.path.isfile(init):
            return importlib.util.spec_from_file_location(fullname, init, submodule_search_locations=[folder])
        if os.path.isdir(folder):
            spec = importlib.machinery.ModuleSpec(fullname, None, is_package=True)
            spec.submodule_search_locations = [folder]
            return spec
        return None


MODULES_FINDER = ModulesFinder()


def installed_std() -> "str | None":
    """The folder of the std module installed in the virtualenv (``inmanta_plugins/std``), if any."""
    package = sys.modules.get(PLUGINS_PACKAGE)
    for location in list(getattr(package, "__path__", None) or []):
        folder = os.path.join(location, "std")
        if os.path.isfile(os.path.join(folder, "__init__.py")):
            return folder
    return None


def std_spec(fullname: str):
    """``inmanta_plugins.std`` when Cairn's std is native (std is never in hello).

    Modules use std's Python helpers (``get_file_content``, ``getfact``, ``is_unknown``, the
    Jinja proxies): the std installed in the virtualenv is imported against the shim, so they
    behave as std's own. Without one, or if it fails to import, ``cairn_std`` stands in. What
    std registers (plugins) is not reported to Cairn, whose std is native.
    """
    real = installed_std()
    loader = StdLoader(real)
    folder = real if real is not None else FALLBACK_STD
    spec = importlib.machinery.ModuleSpec(fullname, loader, origin=os.path.join(folder, "__init__.py"), is_package=True)
    spec.submodule_search_locations = [folder]
    spec.has_location = True
    return spec


class StdLoader(importlib.abc.Loader):
    def __init__(self, real: "str | None") -> None:
        self.real = real

    def create_module(self, spec):
        return None

    @staticmethod
    def _run(module, folder: str) -> None:
        init = os.path.join(folder, "__init__.py")
        with open(init, "rb") as f:
            code = compile(f.read(), init, "exec", dont_inherit=True)
        module.__file__ = init
        module.__path__ = [folder]
        module.__spec__.submodule_search_locations = [folder]
        module.__spec__.origin = init
        exec(code, module.__dict__)

    def exec_module(self, module) -> None:
        if self.real is not None:
            try:
                self._run(module, self.real)
                # std's getfact asks an Inmanta server for resource ids and facts: Cairn's instead
                # (as its native std::getfact), for modules that call it from Python
                import cairn_std

                module.getfact = cairn_std.getfact
                return
            except Exception as e:  # noqa: B902 (any failure: fall back to Cairn's stand-in)
                sys.stderr.write(
                    f"cairn plugin host: std's Python ({self.real}) failed to import ({type(e).__name__}: {e}); "
                    "using Cairn's stand-in\n"
                )
                forget_registrations(module.__name__)
                keep = {k: module.__dict__[k] for k in ("__name__", "__loader__", "__package__", "__spec__", "__builtins__")
                        if k in module.__dict__}
                module.__dict__.clear()
                module.__dict__.update(keep)
        self._run(module, FALLBACK_STD)


def forget_registrations(package: str) -> None:
    """Drops the plugins, resources and dependency managers of a Python package, and its submodules."""
    from inmanta import export
    from inmanta.plugins import PluginMeta
    from inmanta.resources import resource

    def ours(module: str) -> bool:
        return module == package or module.startswith(package + ".")

    for fq, p in list(PluginMeta.get_functions().items()):
        if ours(p.python_module):
            PluginMeta.remove(fq)
    for rname, (cls, _o) in list(resource._resources.items()):
        if ours(str(cls.__module__)):
            del resource._resources[rname]
    export.DEPENDENCY_MANAGERS[:] = [
        (n, f) for n, f in export.DEPENDENCY_MANAGERS if not ours(str(getattr(f, "__module__", "")))
    ]
    for mod in [m for m in sys.modules if ours(m) and m != package]:
        del sys.modules[mod]


def install_import_machinery() -> None:
    sys.meta_path.insert(0, MODULES_FINDER)
    sys.meta_path.insert(0, ShimGuard())
    for name in [n for n in sys.modules if n == "inmanta" or n.startswith("inmanta.")]:
        del sys.modules[name]
    locations = []
    for entry in sys.path[1:]:
        candidate = os.path.join(entry or ".", PLUGINS_PACKAGE)
        if os.path.isdir(candidate) and candidate not in locations:
            locations.append(os.path.abspath(candidate))
    package = types.ModuleType(PLUGINS_PACKAGE)
    spec = importlib.machinery.ModuleSpec(PLUGINS_PACKAGE, None, is_package=True)
    spec.submodule_search_locations = locations
    package.__spec__ = spec
    package.__path__ = locations
    package.__package__ = PLUGINS_PACKAGE
    sys.modules[PLUGINS_PACKAGE] = package


def submodule_names(package: str, folder: str) -> list:
    """Every Python file under a module's folder as a module name, sorted (Inmanta loads them all)."""
    names = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if d.isidentifier() and d != "__pycache__")
        rel = os.path.relpath(dirpath, folder)
        prefix = package if rel == "." else package + "." + ".".join(rel.split(os.sep))
        for f in sorted(filenames):
            if not f.endswith(".py"):
                continue
            stem = f[:-3]
            if stem == "__init__":
                if rel != ".":
                    names.append(prefix)
            elif stem.isidentifier():
                names.append(prefix + "." + stem)
    return names


# ---------------------------------------------------------------------------------------------
# Protocol


class Channel:
    def __init__(self, rfile, wfd: int) -> None:
        self.rfile = rfile
        self.wfd = wfd
        self.lock = threading.Lock()  # a plugin's threads may print while the main thread asks

    def send(self, obj: dict) -> None:
        data = json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        raw = (data + "\n").encode("utf-8", errors="replace")
        with self.lock:
            view = memoryview(raw)
            while view:
                n = os.write(self.wfd, view)
                view = view[n:]

    def receive(self):
        from inmanta._cairn import ProtocolError

        line = self.rfile.readline(MAX_LINE + 1)
        if not line:
            return None
        if not line.endswith(b"\n") and len(line) > MAX_LINE:
            raise ProtocolError("a protocol line is longer than 64 MiB")
        try:
            obj = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise ProtocolError(f"not a JSON line: {e}") from None
        if not isinstance(obj, dict):
            raise ProtocolError("a protocol line is not a JSON object")
        return obj


class PrintWriter(io.TextIOBase):
    """``sys.stdout`` of the host: every complete line becomes a ``print`` message."""

    def __init__(self, channel: Channel) -> None:
        super().__init__()
        self._channel = channel
        self._buffer = ""

    @property
    def encoding(self) -> str:
        return "utf-8"

    @property
    def errors(self) -> str:
        return "strict"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return 1  # now the stderr of the host

    @property
    def buffer(self) -> "_BinaryPrintWriter":
        return _BinaryPrintWriter(self)

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self._buffer += text
        while "\n" in self._buffer:
            line, self._buffer = self._buffer.split("\n", 1)
            self._channel.send({"op": "print", "text": line})
        return len(text)

    def flush(self) -> None:
        pass

    def drain(self) -> None:
        """Send a last partial line (at the end of a request)."""
        if self._buffer:
            text, self._buffer = self._buffer, ""
            self._channel.send({"op": "print", "text": text})


class _BinaryPrintWriter(io.RawIOBase):
    """``sys.stdout.buffer``: bytes are decoded (UTF-8, replacing errors) and printed."""

    def __init__(self, text: PrintWriter) -> None:
        super().__init__()
        self._text = text

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._text.write(bytes(data).decode("utf-8", errors="replace"))
        return len(data)


def frames_of(exc: BaseException) -> list:
    """The last frames of a traceback (innermost last), without the host's own frames."""
    frames = []
    for fs in traceback.extract_tb(exc.__traceback__):
        filename = fs.filename or ""
        absolute = os.path.abspath(filename)
        if filename.startswith("<frozen") or absolute.startswith(HERE + os.sep) or absolute.startswith(IMPORTLIB_DIR + os.sep):
            continue
        frames.append(f'  File "{filename}", line {fs.lineno}, in {fs.name}')
    if isinstance(exc, SyntaxError) and exc.filename:
        frames.append(f'  File "{exc.filename}", line {exc.lineno}')
    return frames[-MAX_FRAMES:]


def message_of(exc: BaseException) -> str:
    from inmanta.plugins import PluginException

    if isinstance(exc, PluginException):
        return str(exc.message)
    text = str(exc)
    if not text and isinstance(exc, SystemExit):
        return f"SystemExit({exc.code!r})"
    return text


def raise_answer(kind: str, message: str, frames: list) -> dict:
    return {"op": "raise", "kind": kind, "message": message, "traceback": frames}


class Host:
    def __init__(self, channel: Channel, writer: PrintWriter) -> None:
        self.channel = channel
        self.writer = writer
        self.hello_done = False
        from inmanta._cairn import RUNTIME
        from inmanta.export import Exporter

        self.runtime = RUNTIME
        self.exporter = Exporter()
        RUNTIME.ask = self.ask

    def ask(self, question: dict) -> dict:
        from inmanta._cairn import ProtocolError

        self.writer.drain()
        self.channel.send(question)
        reply = self.channel.receive()
        if reply is None:
            raise ProtocolError("Cairn closed the channel while a question was open")
        return reply

    # requests -----------------------------------------------------------------------------

    def serve(self) -> int:
        while True:
            request = self.channel.receive()
            if request is None:
                return 0
            op = request.get("op")
            if op == "bye":
                return 0
            if op == "hello":
                answer = self.hello(request)
            elif op == "call":
                answer = self.run(request, self.call)
            elif op == "map":
                answer = self.run(request, self.map)
            else:
                answer = raise_answer("ProtocolError", f"unknown request {op!r}", [])
            self.writer.drain()
            self.channel.send(answer)

    def hello(self, request: dict) -> dict:
        from inmanta.agent.handler import PROVIDERS
        from inmanta.export import DEPENDENCY_MANAGERS
        from inmanta.plugins import PluginMeta
        from inmanta.resources import resource

        if self.hello_done:
            return raise_answer("ProtocolError", "hello was already sent", [])
        if request.get("protocol") != PROTOCOL:
            return raise_answer("ProtocolError", f"protocol {request.get('protocol')!r} is not supported (only {PROTOCOL})", [])
        self.hello_done = True
        rt = self.runtime
        rt.project = str(request.get("project") or os.getcwd())
        settings = request.get("settings") or {}
        rt.settings = dict(settings) if isinstance(settings, dict) else {}
        modules = [m for m in (request.get("modules") or []) if isinstance(m, dict) and m.get("name")]
        for m in modules:
            folder = os.path.abspath(str(m.get("path") or ""))
            MODULES_FINDER.folders[str(m["name"])] = folder
            rt.modules[str(m["name"])] = (str(m.get("kind") or "v1"), folder)

        errors = {}
        for m in modules:
            name = str(m["name"])
            package = f"{PLUGINS_PACKAGE}.{name}"
            if not os.path.isdir(MODULES_FINDER.folders[name]):
                continue  # a module without Python
            try:
                importlib.import_module(package)
                for sub in submodule_names(package, MODULES_FINDER.folders[name]):
                    importlib.import_module(sub)
            except BaseException as e:  # noqa: B902 (a module may even sys.exit at import)
                if isinstance(e, KeyboardInterrupt):
                    raise
                errors[name] = {"message": f"{type(e).__name__}: {message_of(e)}", "traceback": frames_of(e)}
                self._forget(name)
        # a failing module also drops what other modules registered under its name
        for name in errors:
            self._forget(name)

        def reported(python_module: str) -> bool:
            # what a module hello did not name registers (std's Python, imported for its helpers:
            # Cairn's std is native) is not Cairn's to call
            parts = python_module.split(".")
            return len(parts) < 2 or parts[0] != PLUGINS_PACKAGE or parts[1] in MODULES_FINDER.folders

        plugins = {}
        for fq, p in sorted(PluginMeta.get_functions().items()):
            if reported(str(p.python_module)):
                plugins[fq] = p.describe()
        resources = {}
        for rname, (cls, opts) in sorted(resource._resources.items()):
            if not reported(str(cls.__module__)):
                continue
            pymod = str(cls.__module__).split(".")
            module = pymod[1] if len(pymod) > 1 and pymod[0] == PLUGINS_PACKAGE else rname.split("::")[0]
            resources[rname] = {
                "module": module,
                "agent": opts["agent"],
                "id_attribute": opts["name"],
                "fields": [{"name": f, "mapped": cls.is_mapped(f)} for f in cls.fields],
                "id_mapped": cls.is_mapped(opts["name"]),
                "kind": cls.kind(),
            }
        _ = PROVIDERS  # handlers are recorded but never run
        return {
            "op": "ready",
            "protocol": PROTOCOL,
            "python": platform.python_version(),
            "plugins": plugins,
            "resources": resources,
            "dependency_managers": [n for n, f in DEPENDENCY_MANAGERS if reported(str(getattr(f, "__module__", "")))],
            "errors": {k: errors[k] for k in sorted(errors)},
        }

    def _forget(self, name: str) -> None:
        package = f"{PLUGINS_PACKAGE}.{name}"
        forget_registrations(package)
        sys.modules.pop(package, None)

    def run(self, request: dict, body) -> dict:
        from inmanta._cairn import CairnWait, HostValueError, ProtocolError
        from inmanta.plugins import BindingError, ValueTypeError
        from inmanta.resources import IgnoreResourceException

        rt = self.runtime
        rt.cache = {}
        rt.in_call = True
        rt.waited = False
        try:
            answer = body(request)
            if rt.waited:
                answer = {"op": "wait"}  # the plugin swallowed the wait: its result can not be trusted
        except CairnWait:
            answer = {"op": "wait"}
        except ProtocolError:
            raise
        except BindingError as e:
            answer = raise_answer("TypeError", str(e), [])
        except (ValueTypeError, HostValueError) as e:
            answer = raise_answer("ValueTypeError", str(e), frames_of(e))
        except IgnoreResourceException as e:
            if request.get("op") == "map":
                answer = {"op": "ignore"}
            else:
                answer = raise_answer(type(e).__name__, message_of(e), frames_of(e))
        except (Exception, SystemExit, GeneratorExit) as e:
            answer = raise_answer(type(e).__name__, message_of(e), frames_of(e))
        finally:
            rt.in_call = False
            rt.cache = {}
        if rt.waited:
            answer = {"op": "wait"}
        return answer

    def call(self, request: dict) -> dict:
        from inmanta._cairn import decode, encode
        from inmanta.plugins import PluginMeta

        name = str(request.get("plugin"))
        plugin = PluginMeta.get_functions().get(name)
        if plugin is None:
            return raise_answer("NotFound", f"no Python plugin named {name}", [])
        args = [decode(a) for a in (request.get("args") or [])]
        kwargs = []
        for pair in request.get("kwargs") or []:
            if not isinstance(pair, list) or len(pair) != 2 or not isinstance(pair[0], str):
                return raise_answer("ProtocolError", "kwargs must be [name, value] pairs", [])
            kwargs.append((pair[0], decode(pair[1])))
        caller = request.get("namespace")
        result = plugin.invoke(args, kwargs, caller if isinstance(caller, str) else None)
        return {"op": "return", "value": encode(result)}

    def map(self, request: dict) -> dict:
        from inmanta._cairn import Instance, decode, encode
        from inmanta.execute.proxy import DynamicProxy
        from inmanta.resources import resource

        name = str(request.get("resource"))
        cls, _opts = resource.get_class(name)
        if cls is None:
            return raise_answer("NotFound", f"no Python resource declaration for {name}", [])
        instance = decode(request.get("instance"))
        if not isinstance(instance, Instance):
            return raise_answer("ProtocolError", "map needs an instance ($ref)", [])
        field = str(request.get("field"))
        self.runtime.exporting = True
        try:
            value = cls.map_field(self.exporter, name, field, DynamicProxy(instance))
        finally:
            self.runtime.exporting = False
        encoded = encode(value, lenient=True)
        if contains_unknown_json(encoded):
            # as Inmanta's exporter: a field that holds an unknown anywhere is unknown as a whole
            encoded = {"$unknown": True}
        return {"op": "return", "value": encoded}


def contains_unknown_json(value: object) -> bool:
    if isinstance(value, dict):
        if value.get("$unknown") is True and len(value) == 1:
            return True
        inner = value["$dict"] if len(value) == 1 and isinstance(value.get("$dict"), dict) else value
        return any(contains_unknown_json(v) for v in inner.values())
    if isinstance(value, list):
        return any(contains_unknown_json(v) for v in value)
    return False


def main() -> int:
    sys.dont_write_bytecode = True
    install_import_machinery()
    import inmanta._cairn as cairn

    # the protocol keeps the real fd 1 and fd 0; fd 1 becomes stderr, fd 0 /dev/null
    sys.stdout.flush()
    proto_out = os.dup(1)
    os.dup2(2, 1)
    proto_in = os.dup(0)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    channel = Channel(os.fdopen(proto_in, "rb", buffering=1 << 16), proto_out)
    writer = PrintWriter(channel)
    sys.stdout = writer
    host = Host(channel, writer)
    try:
        return host.serve()
    except cairn.ProtocolError as e:
        sys.stderr.write(f"cairn plugin host: protocol error: {e}\n")
        sys.stderr.flush()
        return 2


if __name__ == "__main__":
    sys.exit(main())
