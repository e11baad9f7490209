"""Tests of Cairn's Python plugin host, speaking the protocol of docs/plugin-host.md."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from hostlib import UNKNOWN, WAIT, Host, Model, hello, ref, v1, write  # noqa: E402

ALPHA = '''
import os
import typing

import inmanta.agent.handler
from inmanta.agent.handler import CRUDHandler, HandlerContext, ResourcePurged, cache, provider
from inmanta.ast import NotFoundException, OptionalValueException, RuntimeException
from inmanta.config import Config
from inmanta.execute import proxy
from inmanta.execute.proxy import DictProxy, DynamicProxy, SequenceProxy
from inmanta.execute.util import NoneValue, Unknown
from inmanta.export import dependency_manager
from inmanta.plugins import Context, ModelType, PluginException, deprecated, plugin

print("alpha loaded")


@plugin
def annotated(
    h: typing.Annotated[DynamicProxy, ModelType["std::Host"]], n: "std::hoststring"
) -> typing.Annotated[str, ModelType["std::hoststring"]]:
    return h.name + n


@plugin
def add(a: "int", b: "int" = 1) -> "int":
    return a + b


@plugin("greet")
def _greet(name: str, *, punct: str = "!") -> str:
    return f"hello {name}{punct}"


@plugin(commands=["cairn-no-such-binary-xyz"])
def needs_binary() -> "string":
    return "ran"


@plugin(commands=["sh"])
def has_binary() -> "string":
    return "ran"


@plugin()
def kind(which: "string") -> "any":
    return {
        "null": None,
        "bool": True,
        "int": 7,
        "float": 1.0,
        "string": "s",
        "list": [1, "a", [None]],
        "dict": {"a": 1, "b": [2.5]},
        "dollar": {"$weird": 1},
        "unknown": Unknown(None),
        "tuple": (1, 2),
        "nan": float("nan"),
        "set": {1},
    }[which]


@plugin
def echo(x: "any") -> "any":
    return x


@plugin
def strings(x: "string[]") -> "int":
    return len(x)


@plugin
def maybe(x: "string?") -> "string":
    return "none" if x is None else x


@plugin
def pytyped(a: typing.Optional[int], b: list[str], c: dict, d: float) -> list[str]:
    return [str(a), *b, str(len(c)), str(d)]


@plugin
def vararg(first: "string", *rest: "int", **opts: "bool") -> "string":
    return first + ":" + ",".join(str(r) for r in rest) + ":" + ",".join(sorted(k for k, v in opts.items() if v))


@plugin
def bad_return() -> "int":
    return "not an int"


@plugin
def returns_null(x: "any") -> None:
    return x


@plugin
def no_annotation_return(x: "any"):
    return x


@plugin
def host_info(h: "std::Host") -> "string":
    names = [i.name for i in h.ifaces]
    return f"{h.name}:{','.join(names)}:{len(h.ifaces)}:{isinstance(h.ifaces, SequenceProxy)}"


@plugin
def first_iface(h: "std::Host") -> "std::Entity":
    return h.ifaces[0]


@plugin
def opt_rel(h: "std::Host") -> "string":
    return "none" if h.parent is None else h.parent.name


@plugin
def read_missing(h: "std::Host") -> "string":
    try:
        return h.nosuch
    except NotFoundException as e:
        return "notfound:" + str(hasattr(h, "nosuch"))


@plugin
def swallow_exception(h: "std::Host") -> "string":
    try:
        return h.name
    except Exception:
        return "swallowed"


@plugin
def swallow_everything(h: "std::Host") -> "string":
    try:
        return h.name
    except BaseException:
        return "swallowed"


@plugin
def attribute_names(h: "std::Host") -> "string[]":
    return dir(h)


@plugin
def count_calls(h: "std::Host") -> "string":
    return h.name + h.name + h.name


@plugin
def type_name(h: "std::Entity") -> "string":
    return h._type().get_full_name()


@plugin
def loud(x: "string") -> "string":
    print("called with", x)
    return x


@plugin
def write_fd1(x: "string") -> "string":
    os.write(1, b"raw bytes on fd 1\\n")
    import sys
    sys.stdout.buffer.write(b"via buffer\\n")
    import subprocess
    subprocess.run(["echo", "from a child"])
    subprocess.run(["cat"], timeout=10)  # a child's stdin is /dev/null, not the protocol
    print("partial", end="")
    return x


def _deeper(msg):
    raise PluginException(msg)


@plugin
def fail(msg: "string") -> "string":
    _deeper(msg)


@plugin
def crash() -> "string":
    return {}["missing"]


@plugin
def env(ctx: Context) -> "string":
    return ctx.get_environment()


@plugin
def ctx_middle(a: "string", ctx: Context, b: "string" = "B") -> "string":
    return a + b + ctx.get_data_dir()


@plugin
def setting(key: "string") -> "any":
    return Config.get("cairn", key, "default")


@plugin(allow_unknown=True)
def sees_unknown(x: "any") -> "bool":
    return isinstance(x, Unknown)


@plugin
def list_of_unknown(x: "list") -> "int":
    return sum(1 for _ in x)


@plugin
def dict_arg(d: "dict") -> "string":
    return f"{isinstance(d, DictProxy)}:{','.join(sorted(d))}:{d['k']}"


@deprecated(replaced_by="alpha::add")
@plugin
def old(a: "int") -> "int":
    return a


@dependency_manager
def deps(model, resources):
    pass


@provider("alpha::File", name="thing")
class FileHandler(CRUDHandler):
    @cache(timeout=10)
    def helper(self):
        return 1

    def read_resource(self, ctx: HandlerContext, resource) -> None:
        raise ResourcePurged()
'''

ALPHA_FUTURE = '''
from __future__ import annotations

import typing

from inmanta.plugins import Context, plugin


@plugin
def fut(ctx: Context, a: int, b: typing.Optional[str] = None) -> list[str]:
    return [str(a), str(b), ctx.get_data_dir()]
'''

ALPHA_SUB = '''
from inmanta.plugins import plugin


@plugin
def deep(x: "int") -> "int":
    return x * 10
'''

ALPHA_RES = '''
import enum
import uuid

import inmanta.resources
from inmanta.resources import IgnoreResourceException, ManagedResource, PurgeableResource, Resource, resource


class Base(PurgeableResource):
    fields = ("path", "owner")

    @staticmethod
    def get_owner(exporter, obj):
        return obj.host.name


@resource("alpha::File", agent="host.name", id_attribute="path")
class FileRes(Base):
    fields = ("content", "mode", "path")
    map = {"mode": lambda exporter, obj: int(obj.mode) + 1}

    @staticmethod
    def get_content(exporter, obj):
        return obj.content.upper()


class Colour(enum.Enum):
    RED = 1


class Mode(str, enum.Enum):
    fast = "fast-mode"


@resource("alpha::Extra", agent="agent", id_attribute="name")
class Extra(Resource):
    fields = ("tags", "colour", "mode", "uid", "labels")
    map = {
        "colour": lambda e, o: Colour.RED,
        "mode": lambda e, o: Mode.fast,
        "uid": lambda e, o: uuid.UUID(int=1),
    }

    @staticmethod
    def get_tags(exporter, obj):
        return obj.tags

    @staticmethod
    def get_labels(exporter, obj):
        return obj.labels


@resource("alpha::Svc", agent="agent", id_attribute="name")
class Svc(ManagedResource):
    fields = ("name",)


@resource("alpha::Skip", agent="agent", id_attribute="name")
class Skip(Resource):
    fields = ("name",)

    @staticmethod
    def get_name(exporter, obj):
        raise IgnoreResourceException()
'''

BETA = '''
from inmanta_plugins.alpha import add
from inmanta_plugins.alpha.sub import deep
from inmanta.plugins import plugin


@plugin
def twice(x: "int") -> "int":
    return add(x, x) + deep(0)
'''

BROKEN = '''
from inmanta.plugins import plugin


@plugin
def never(x: "int") -> "int":
    return x

import no_such_dependency_cairn_test
'''

NOSHIM = '''
import inmanta.something_not_provided
'''


class HostTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.project = tempfile.mkdtemp(prefix="cairn-pyhost-test-")
        p = cls.project
        write(os.path.join(p, "libs/alpha/plugins/__init__.py"), ALPHA)
        write(os.path.join(p, "libs/alpha/plugins/sub.py"), ALPHA_SUB)
        write(os.path.join(p, "libs/alpha/plugins/future.py"), ALPHA_FUTURE)
        write(os.path.join(p, "libs/alpha/plugins/res.py"), ALPHA_RES)
        write(os.path.join(p, "libs/beta/plugins/__init__.py"), BETA)
        write(os.path.join(p, "libs/broken/plugins/__init__.py"), BROKEN)
        write(os.path.join(p, "libs/noshim/plugins/__init__.py"), NOSHIM)
        cls.host = Host(p)
        modules = [v1(p, "beta"), v1(p, "broken"), v1(p, "alpha"), v1(p, "noshim"), v1(p, "modelonly")]
        cls.ready, cls.hello_prints = cls.host.request(hello(p, modules, {"environment": "env-1"}))

    @classmethod
    def tearDownClass(cls):
        rc = cls.host.close()
        shutil.rmtree(cls.project, ignore_errors=True)
        assert rc == 0, rc

    def call(self, plugin, args=(), kwargs=(), model=None):
        return self.host.call(plugin, args, kwargs, model)

    def assertReturns(self, plugin, args, expected, kwargs=(), model=None):
        answer, _ = self.call(plugin, args, kwargs, model)
        self.assertEqual(answer, {"op": "return", "value": expected})

    def assertRaises_(self, answer, kind, contains=""):
        self.assertEqual(answer["op"], "raise", answer)
        self.assertEqual(answer["kind"], kind, answer)
        self.assertIn(contains, answer["message"])
        self.assertIsInstance(answer["traceback"], list)

    # hello ------------------------------------------------------------------------------------

    def test_ready(self):
        r = self.ready
        self.assertEqual(r["op"], "ready")
        self.assertEqual(r["protocol"], 1)
        self.assertEqual(r["python"], "%d.%d.%d" % sys.version_info[:3])
        self.assertEqual(list(r["plugins"]), sorted(r["plugins"]))
        for name in ("alpha::add", "alpha::greet", "alpha::sub::deep", "beta::twice"):
            self.assertIn(name, r["plugins"])
        self.assertEqual(
            r["plugins"]["alpha::add"],
            {
                "params": [
                    {"name": "a", "type": "int", "default": None, "has_default": False, "kind": "positional_or_keyword"},
                    {"name": "b", "type": "int", "default": 1, "has_default": True, "kind": "positional_or_keyword"},
                ],
                "returns": "int",
            },
        )
        greet = r["plugins"]["alpha::greet"]
        self.assertEqual([(p["name"], p["type"], p["kind"]) for p in greet["params"]],
                         [("name", "string", "positional_or_keyword"), ("punct", "string", "keyword_only")])
        self.assertEqual(greet["params"][1]["default"], "!")
        py = r["plugins"]["alpha::pytyped"]
        self.assertEqual([p["type"] for p in py["params"]], ["int?", "string[]", "dict", "float"])
        self.assertEqual(py["returns"], "string[]")
        self.assertEqual(r["plugins"]["alpha::returns_null"]["returns"], "null")
        self.assertEqual(r["plugins"]["alpha::no_annotation_return"]["returns"], "any")
        # Context parameters are not parameters of the model
        self.assertEqual([p["name"] for p in r["plugins"]["alpha::ctx_middle"]["params"]], ["a", "b"])
        va = r["plugins"]["alpha::vararg"]["params"]
        self.assertEqual([(p["name"], p["kind"]) for p in va],
                         [("first", "positional_or_keyword"), ("rest", "var_positional"), ("opts", "var_keyword")])
        self.assertEqual(r["dependency_managers"], ["alpha.deps"])
        ann = r["plugins"]["alpha::annotated"]
        self.assertEqual(([p["type"] for p in ann["params"]], ann["returns"]), (["std::Host", "std::hoststring"], "std::hoststring"))

    def test_import_errors(self):
        self.assertEqual(self.hello_prints, ["alpha loaded"])
        errors = self.ready["errors"]
        self.assertEqual(sorted(errors), ["broken", "noshim"])
        self.assertEqual(errors["broken"]["message"], "ModuleNotFoundError: No module named 'no_such_dependency_cairn_test'")
        self.assertTrue(errors["broken"]["traceback"][-1].startswith('  File "'), errors["broken"])
        self.assertIn("libs/broken/plugins/__init__.py", errors["broken"]["traceback"][-1])
        self.assertEqual(
            errors["noshim"]["message"],
            "ModuleNotFoundError: Cairn's plugin host does not provide inmanta.something_not_provided",
        )
        # a failing module registers nothing
        self.assertNotIn("broken::never", self.ready["plugins"])

    def test_resources(self):
        res = self.ready["resources"]
        self.assertEqual(list(res), ["alpha::Extra", "alpha::File", "alpha::Skip", "alpha::Svc"])
        f = res["alpha::File"]
        self.assertEqual(f["module"], "alpha")
        self.assertEqual(f["agent"], "host.name")
        self.assertEqual(f["id_attribute"], "path")
        self.assertEqual(f["kind"], "purgeable")
        self.assertEqual(
            f["fields"],
            [
                {"name": "send_event", "mapped": True},
                {"name": "receive_events", "mapped": True},
                {"name": "purged", "mapped": False},
                {"name": "purge_on_delete", "mapped": False},
                {"name": "path", "mapped": False},
                {"name": "owner", "mapped": True},
                {"name": "content", "mapped": True},
                {"name": "mode", "mapped": True},
            ],
        )
        self.assertEqual(res["alpha::Svc"]["kind"], "managed")
        self.assertEqual([x["name"] for x in res["alpha::Svc"]["fields"]], ["send_event", "receive_events", "managed", "name"])
        self.assertEqual(res["alpha::Skip"]["kind"], "resource")

    # calls ------------------------------------------------------------------------------------

    def test_value_kinds(self):
        cases = {
            "null": None,
            "bool": True,
            "int": 7,
            "float": 1.0,
            "string": "s",
            "list": [1, "a", [None]],
            "dict": {"a": 1, "b": [2.5]},
            "dollar": {"$dict": {"$weird": 1}},
            "unknown": UNKNOWN,
            "tuple": [1, 2],
        }
        for which, expected in cases.items():
            with self.subTest(which=which):
                self.assertReturns("alpha::kind", [which], expected)
        # a float crosses as a float: the JSON keeps its "."
        self.host.send({"op": "call", "plugin": "alpha::kind", "args": ["float"], "kwargs": []})
        raw = self.host.lines.get(timeout=30)
        self.assertIn(b'"value":1.0', raw)
        answer, _ = self.call("alpha::kind", ["nan"])
        self.assertRaises_(answer, "ValueTypeError", "NaN")
        answer, _ = self.call("alpha::kind", ["set"])
        self.assertRaises_(answer, "ValueTypeError", "set")

    def test_values_in(self):
        for value in (None, True, 3, 2.5, "x", [1, [2]], {"a": {"b": None}}):
            with self.subTest(value=value):
                self.assertReturns("alpha::echo", [value], value)
        self.assertReturns("alpha::echo", [{"$dict": {"$a": 1}}], {"$dict": {"$a": 1}})
        self.assertReturns("alpha::echo", [ref(5, "std::Host")], ref(5, "std::Host"))
        self.assertReturns("alpha::dict_arg", [{"k": "v", "a": 1}], "True:a,k:v")

    def test_kwargs_and_defaults(self):
        self.assertReturns("alpha::add", [1], 2)
        self.assertReturns("alpha::add", [1], 11, kwargs=[("b", 10)])
        self.assertReturns("alpha::add", [], 5, kwargs=[("b", 3), ("a", 2)])
        self.assertReturns("alpha::greet", ["bob"], "hello bob?", kwargs=[("punct", "?")])
        self.assertReturns("alpha::vararg", ["a", 1, 2], "a:1,2:x", kwargs=[("x", True), ("y", False)])
        self.assertReturns("alpha::ctx_middle", ["A"], "AB" + os.path.join("data", "alpha"))
        self.assertTrue(os.path.isdir(os.path.join(self.project, "data", "alpha")))
        self.assertReturns("alpha::ctx_middle", ["A"], "AC" + os.path.join("data", "alpha"), kwargs=[("b", "C")])

    def test_binding_errors(self):
        cases = [
            (("alpha::add", [], []), "alpha::add() missing 1 required positional argument: 'a'"),
            (("alpha::add", [1, 2, 3], []), "alpha::add() takes 2 positional arguments but 3 were given"),
            (("alpha::add", [1], [("c", 1)]), "alpha::add() got an unexpected keyword argument 'c'"),
            (("alpha::add", [1], [("a", 1)]), "alpha::add() got multiple values for argument 'a'"),
            (("alpha::greet", ["x"], [("nope", 1)]), "alpha::greet() got an unexpected keyword argument 'nope'"),
            (("alpha::ctx_middle", ["x"], [("ctx", 1)]), "alpha::ctx_middle() got an unexpected keyword argument 'ctx'"),
        ]
        for (plugin, args, kwargs), message in cases:
            with self.subTest(message=message):
                answer, _ = self.call(plugin, args, kwargs)
                self.assertEqual(answer, {"op": "raise", "kind": "TypeError", "message": message, "traceback": []})

    def test_type_errors(self):
        cases = [
            ("alpha::add", ["1"], "argument 'a'"),
            ("alpha::add", [True], "argument 'a'"),
            ("alpha::add", [1.5], "argument 'a'"),
            ("alpha::strings", [["a", 1]], "argument 'x'"),
            ("alpha::strings", ["a"], "argument 'x'"),
            ("alpha::maybe", [3], "argument 'x'"),
            ("alpha::pytyped", [None, [1], {}, 1.0], "argument 'b'"),
            ("alpha::pytyped", [None, [], [], 1.0], "argument 'c'"),
            ("alpha::greet", [None], "argument 'name'"),
            ("alpha::bad_return", [], "Return value"),
            ("alpha::returns_null", [1], "Return value"),
        ]
        for plugin, args, contains in cases:
            with self.subTest(plugin=plugin, args=args):
                answer, _ = self.call(plugin, args)
                self.assertRaises_(answer, "ValueTypeError", contains)
        self.assertReturns("alpha::maybe", [None], "none")
        self.assertReturns("alpha::strings", [["a", "b"]], 2)
        self.assertReturns("alpha::pytyped", [None, ["x"], {"k": 1}, 2], ["None", "x", "1", "2"])
        self.assertReturns("alpha::returns_null", [None], None)
        self.assertReturns("alpha::no_annotation_return", [[1]], [1])

    def model(self, **over):
        m = Model(
            {
                1: {"type": "std::Host", "attrs": {"name": "srv", "ifaces": [ref(2, "net::Iface"), ref(3, "net::Iface")], "parent": None}},
                2: {"type": "net::Iface", "attrs": {"name": "eth0"}},
                3: {"type": "net::Iface", "attrs": {"name": "eth1"}},
                4: {"type": "std::File", "isa": ["std::Entity"], "attrs": {}},
                5: {"type": "my::Server", "isa": ["std::Host"], "attrs": {"name": "sub", "ifaces": [], "parent": ref(1, "std::Host")}},
            }
        )
        for k, v in over.items():
            m.instances[int(k[1:])]["attrs"].update(v)
        return m

    def test_instances(self):
        m = self.model()
        self.assertReturns("alpha::host_info", [ref(1, "std::Host")], "srv:eth0,eth1:2:True", model=m)
        self.assertReturns("alpha::first_iface", [ref(1, "std::Host")], ref(2, "net::Iface"), model=m)
        self.assertReturns("alpha::opt_rel", [ref(1, "std::Host")], "none", model=m)
        # a subtype passes the annotation after an isa question
        m = self.model()
        self.assertReturns("alpha::opt_rel", [ref(5, "my::Server")], "srv", model=m)
        self.assertIn({"op": "isa", "instance": 5, "entity": "std::Host"}, m.questions)
        self.assertReturns("alpha::read_missing", [ref(1, "std::Host")], "notfound:False", model=m)
        self.assertReturns("alpha::type_name", [ref(2, "net::Iface")], "net::Iface", model=m)
        self.assertReturns("alpha::annotated", [ref(1, "std::Host"), ".x"], "srv.x", model=m)
        answer, _ = self.call("alpha::annotated", [ref(1, "std::Host"), ["no"]], model=m)
        self.assertRaises_(answer, "ValueTypeError", "argument 'n'")
        self.assertReturns("alpha::attribute_names", [ref(1, "std::Host")], ["ifaces", "name", "parent"], model=m)
        self.assertIn({"op": "attributes", "instance": 1}, m.questions)
        answer, _ = self.call("alpha::host_info", [ref(4, "std::File")], model=m)
        self.assertRaises_(answer, "ValueTypeError", "argument 'h'")
        answer, _ = self.call("alpha::host_info", ["srv"], model=m)
        self.assertRaises_(answer, "ValueTypeError", "argument 'h'")

    def test_answers_cached_per_call(self):
        m = self.model()
        self.assertReturns("alpha::count_calls", [ref(1, "std::Host")], "srvsrvsrv", model=m)
        self.assertEqual([q for q in m.questions if q["op"] == "get"], [{"op": "get", "instance": 1, "attr": "name"}])
        self.assertReturns("alpha::count_calls", [ref(1, "std::Host")], "srvsrvsrv", model=m)
        self.assertEqual(len([q for q in m.questions if q["op"] == "get"]), 2)

    def test_wait_and_rerun(self):
        for plugin in ("alpha::host_info", "alpha::swallow_exception", "alpha::swallow_everything"):
            with self.subTest(plugin=plugin):
                m = self.model(i1={"name": WAIT})
                answer, _ = self.call(plugin, [ref(1, "std::Host")], model=m)
                self.assertEqual(answer, {"op": "wait"})
                m.instances[1]["attrs"]["name"] = "srv"
                answer, _ = self.call(plugin, [ref(1, "std::Host")], model=m)
                self.assertEqual(answer["op"], "return")
                self.assertTrue(answer["value"].startswith("srv"))

    def test_unknowns(self):
        answer, prints = self.call("alpha::loud", [UNKNOWN])
        self.assertEqual((answer, prints), ({"op": "return", "value": UNKNOWN}, []))
        self.assertReturns("alpha::add", [1], UNKNOWN, kwargs=[("b", UNKNOWN)])
        self.assertReturns("alpha::sees_unknown", [UNKNOWN], True)
        self.assertReturns("alpha::list_of_unknown", [[1, UNKNOWN]], UNKNOWN)
        m = self.model(i1={"name": UNKNOWN})
        self.assertReturns("alpha::host_info", [ref(1, "std::Host")], UNKNOWN, model=m)
        self.assertReturns("alpha::echo", [[1, UNKNOWN]], [1, UNKNOWN])

    def test_plugin_exception(self):
        answer, _ = self.call("alpha::fail", ["boom"])
        self.assertEqual(answer["op"], "raise")
        self.assertEqual(answer["kind"], "PluginException")
        self.assertEqual(answer["message"], "boom")
        tb = answer["traceback"]
        self.assertEqual(len(tb), 2, tb)
        self.assertRegex(tb[0], r'^  File ".*libs/alpha/plugins/__init__\.py", line \d+, in fail$')
        self.assertRegex(tb[1], r'^  File ".*libs/alpha/plugins/__init__\.py", line \d+, in _deeper$')
        answer, _ = self.call("alpha::needs_binary")
        self.assertRaises_(answer, "Exception", "requires cairn-no-such-binary-xyz to be available in $PATH")
        self.assertReturns("alpha::has_binary", [], "ran")
        answer, _ = self.call("alpha::crash")
        self.assertRaises_(answer, "KeyError", "missing")
        answer, _ = self.call("alpha::nope")
        self.assertRaises_(answer, "NotFound", "alpha::nope")

    def test_print_and_fd1(self):
        answer, prints = self.call("alpha::loud", ["x"])
        self.assertEqual(answer, {"op": "return", "value": "x"})
        self.assertEqual(prints, ["called with x"])
        answer, prints = self.call("alpha::write_fd1", ["y"])
        self.assertEqual(answer, {"op": "return", "value": "y"})
        self.assertEqual(prints, ["via buffer", "partial"])
        self.assertReturns("alpha::add", [1], 2)  # the protocol is intact
        stderr = "".join(self.host.stderr)
        self.assertIn("raw bytes on fd 1", stderr)
        self.assertIn("from a child", stderr)

    def test_context_and_settings(self):
        self.assertReturns("alpha::env", [], "env-1")
        m = Model(settings={"cairn.colour": "blue"})
        self.assertReturns("alpha::setting", ["colour"], "blue", model=m)
        self.assertEqual(m.questions, [{"op": "setting", "key": "cairn.colour"}])
        self.assertReturns("alpha::setting", ["other"], "default", model=Model())

    def test_cross_module_and_submodule(self):
        self.assertReturns("beta::twice", [4], 8)
        self.assertReturns("alpha::sub::deep", [4], 40)
        self.assertEqual(self.ready["plugins"]["alpha::future::fut"], {
            "params": [
                {"name": "a", "type": "int", "default": None, "has_default": False, "kind": "positional_or_keyword"},
                {"name": "b", "type": "string?", "default": None, "has_default": True, "kind": "positional_or_keyword"},
            ],
            "returns": "string[]",
        })
        self.assertReturns("alpha::future::fut", [1], ["1", "None", os.path.join("data", "alpha::future")])
        self.assertReturns("alpha::old", [4], 4)

    # map --------------------------------------------------------------------------------------

    def test_map(self):
        m = Model(
            {
                7: {"type": "alpha::File", "attrs": {"path": "/p", "content": "abc", "mode": 640, "host": ref(1, "std::Host"),
                                                    "purged": False, "send_event": True}},
                1: {"type": "std::Host", "attrs": {"name": "srv"}},
                8: {"type": "alpha::Svc", "attrs": {"name": "s", "managed": False}},
                9: {"type": "alpha::Svc", "attrs": {"name": "s", "managed": True}},
                10: {"type": "alpha::Skip", "attrs": {"name": "x"}},
                11: {"type": "alpha::File", "attrs": {"content": WAIT}},
                12: {"type": "alpha::File", "attrs": {"content": UNKNOWN}},
            }
        )

        def mp(res, field, n):
            answer, _ = self.host.request({"op": "map", "resource": res, "field": field, "instance": ref(n, res)}, m)
            return answer

        self.assertEqual(mp("alpha::File", "content", 7), {"op": "return", "value": "ABC"})
        self.assertEqual(mp("alpha::File", "mode", 7), {"op": "return", "value": 641})
        self.assertEqual(mp("alpha::File", "owner", 7), {"op": "return", "value": "srv"})
        self.assertEqual(mp("alpha::File", "path", 7), {"op": "return", "value": "/p"})
        self.assertEqual(mp("alpha::File", "send_event", 7), {"op": "return", "value": True})
        self.assertEqual(mp("alpha::File", "receive_events", 7), {"op": "return", "value": True})
        self.assertEqual(mp("alpha::Svc", "managed", 8), {"op": "ignore"})
        self.assertEqual(mp("alpha::Svc", "managed", 9), {"op": "return", "value": True})
        self.assertEqual(mp("alpha::Skip", "name", 10), {"op": "ignore"})
        self.assertEqual(mp("alpha::File", "content", 11), {"op": "wait"})
        self.assertEqual(mp("alpha::File", "content", 12), {"op": "return", "value": UNKNOWN})
        m.instances[13] = {"type": "alpha::Extra", "attrs": {"tags": ["a", UNKNOWN], "labels": {"k": [1, 2], "$x": None}}}
        self.assertEqual(mp("alpha::Extra", "tags", 13), {"op": "return", "value": UNKNOWN})
        self.assertEqual(mp("alpha::Extra", "labels", 13), {"op": "return", "value": {"$dict": {"k": [1, 2], "$x": None}}})
        self.assertEqual(mp("alpha::Extra", "colour", 13), {"op": "return", "value": "RED"})
        self.assertEqual(mp("alpha::Extra", "mode", 13), {"op": "return", "value": "fast-mode"})
        self.assertEqual(mp("alpha::Extra", "uid", 13), {"op": "return", "value": "00000000-0000-0000-0000-000000000001"})
        answer = mp("alpha::File", "nosuch", 7)
        self.assertRaises_(answer, "AttributeNotFound", "nosuch")
        answer = mp("alpha::Nope", "x", 7)
        self.assertRaises_(answer, "NotFound", "alpha::Nope")


class ProtocolEdgeTest(unittest.TestCase):
    def setUp(self):
        self.project = tempfile.mkdtemp(prefix="cairn-pyhost-edge-")

    def tearDown(self):
        shutil.rmtree(self.project, ignore_errors=True)

    def test_eof_exits_cleanly(self):
        host = Host(self.project)
        answer, _ = host.request(hello(self.project, []))
        self.assertEqual((answer["op"], answer["plugins"], answer["errors"]), ("ready", {}, {}))
        host.proc.stdin.close()
        self.assertEqual(host.proc.wait(timeout=10), 0)
        host.close()

    def test_bye(self):
        host = Host(self.project)
        host.request(hello(self.project, []))
        self.assertEqual(host.close(), 0)

    def test_import_of_unprovided_inmanta_module(self):
        write(os.path.join(self.project, "libs/m/plugins/__init__.py"), textwrap.dedent('''
            from inmanta.plugins import plugin

            @plugin
            def probe(name: "string") -> "string":
                import importlib
                try:
                    importlib.import_module(name)
                except ImportError as e:
                    return str(e)
                return "imported"
            '''))
        host = Host(self.project)
        host.request(hello(self.project, [v1(self.project, "m")]))
        for name, expected in [
            ("inmanta.protocol", "Cairn's plugin host does not provide inmanta.protocol"),
            ("inmanta.data", "Cairn's plugin host does not provide inmanta.data"),
            ("inmanta.compiler", "Cairn's plugin host does not provide inmanta.compiler"),
            ("inmanta.plugins", "imported"),
            ("inmanta.agent.handler", "imported"),
        ]:
            with self.subTest(name=name):
                answer, _ = host.call("m::probe", [name])
                self.assertEqual(answer, {"op": "return", "value": expected})
        host.close()

    def test_line_too_long(self):
        host = Host(self.project)
        host.request(hello(self.project, []))
        try:
            host.proc.stdin.write(b'{"op":"call","plugin":"' + b"x" * (64 * 1024 * 1024 + 10))
            host.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass
        self.assertEqual(host.proc.wait(timeout=60), 2)
        host.close()
        self.assertIn("longer than 64 MiB", "".join(host.stderr))

    def test_not_json(self):
        host = Host(self.project)
        host.proc.stdin.write(b"this is not json\n")
        host.proc.stdin.flush()
        self.assertEqual(host.proc.wait(timeout=10), 2)
        host.close()


if __name__ == "__main__":
    unittest.main()
