"""The link between the shim and Cairn: instances that live in Cairn, questions about them.

Everything here is Cairn's own; no module imports it directly. ``cairn_host`` installs the
channel (``RUNTIME.channel``) before any module is imported.
"""

import math
import os
import re
from typing import Any, Callable, Optional

from inmanta.execute.util import NoneValue, Unknown


class CairnWait(BaseException):
    """Cairn replied ``wait``: a value read is not known yet; the running call is abandoned.

    A ``BaseException`` so that ``except Exception`` in plugin code cannot swallow it.
    """


class ProtocolError(Exception):
    """Cairn sent something the host cannot understand."""


class HostValueError(Exception):
    """A value cannot cross the protocol (NaN, a set, a non-string dict key, ...)."""


class Runtime:
    def __init__(self) -> None:
        # ask(question: dict) -> reply: dict; None outside of a request
        self.ask: Optional[Callable[[dict], dict]] = None
        self.in_call = False
        self.settings: dict = {}
        self.project = ""
        # module name -> (kind, python package folder)
        self.modules: dict = {}
        self.cache: dict = {}
        # set when a wait reply was turned into CairnWait during the running request
        self.waited = False
        # a ``map`` request (the export) is running
        self.exporting = False
        # (entity full name, relation name) of relations without upper bound 1, from the model files
        self._many_relations: Optional[dict] = None

    def question(self, q: dict) -> dict:
        if self.ask is None or not self.in_call:
            raise RuntimeError(
                "Cairn's plugin host can only ask about instances while a plugin call or a resource mapping runs"
            )
        reply = self.ask(q)
        if not isinstance(reply, dict):
            raise ProtocolError(f"reply to {q.get('op')} is not a JSON object")
        if reply.get("wait") is True:
            self.waited = True
            raise CairnWait()
        return reply

    def setting(self, key: str) -> object:
        if key in self.settings:
            return self.settings[key]
        if self.ask is None or not self.in_call:
            return None
        ck = ("setting", key)
        if ck not in self.cache:
            reply = self.question({"op": "setting", "key": key})
            self.cache[ck] = decode(reply.get("value"))
        return self.cache[ck]


RUNTIME = Runtime()


# ``A.x [0:] -- B.y [1]`` or ``A.x [0:1] -- B``, optionally with annotations before ``--``
_RELATION = re.compile(
    r"^[ \t]*(?P<le>[A-Za-z_][\w:]*)\.(?P<la>[A-Za-z_]\w*)[ \t]*\[(?P<l1>\d+)(?P<c1>:(?P<u1>\d*))?\][^\n]*?--[ \t]*"
    r"(?P<re>[A-Za-z_][\w:]*)(?:\.(?P<ra>[A-Za-z_]\w*)[ \t]*\[(?P<l2>\d+)(?P<c2>:(?P<u2>\d*))?\])?",
    re.MULTILINE,
)


def _is_many(colon: Optional[str], lower: str, upper: Optional[str]) -> bool:
    if not colon:
        return int(lower) > 1  # [n]: exactly n
    return not upper or int(upper) > 1


def _model_files() -> list:
    """(namespace of the file, path) for the .cf files of the project and of every module."""
    import sys

    found = []
    seen = set()

    def walk(top: str, module: str) -> None:
        top = os.path.abspath(top)
        if top in seen or not os.path.isdir(top):
            return
        seen.add(top)
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames.sort()
            rel = os.path.relpath(dirpath, top)
            parts = [] if rel == "." else rel.split(os.sep)
            for f in sorted(filenames):
                if not f.endswith(".cf"):
                    continue
                stem = f[:-3]
                ns = [module, *parts] + ([] if stem == "_init" else [stem])
                found.append(("::".join(ns), os.path.join(dirpath, f)))

    for name, (kind, folder) in RUNTIME.modules.items():
        walk(os.path.join(os.path.dirname(folder) if kind == "v1" else folder, "model"), name)
    package = sys.modules.get("inmanta_plugins")
    for location in list(getattr(package, "__path__", None) or []):
        try:
            names = sorted(os.listdir(location))
        except OSError:
            continue
        for name in names:
            if name.isidentifier() and name not in RUNTIME.modules:
                walk(os.path.join(location, name, "model"), name)
    main = os.path.join(RUNTIME.project or os.getcwd(), "main.cf")
    if os.path.isfile(main):
        found.append(("__config__", main))
    return found


def many_relations() -> dict:
    """relation name -> entity full names that declare it without upper bound 1 (read once)."""
    if RUNTIME._many_relations is None:
        table: dict = {}

        def full(name: str, ns: str) -> str:
            return name if "::" in name else f"{ns}::{name}"

        for ns, path in _model_files():
            try:
                with open(path, encoding="utf-8") as fd:
                    text = fd.read()
            except (OSError, UnicodeDecodeError):
                continue
            for m in _RELATION.finditer(text):
                if _is_many(m.group("c1"), m.group("l1"), m.group("u1")):
                    table.setdefault(m.group("la"), set()).add(full(m.group("le"), ns))
                if m.group("ra") and _is_many(m.group("c2"), m.group("l2"), m.group("u2")):
                    table.setdefault(m.group("ra"), set()).add(full(m.group("re"), ns))
        RUNTIME._many_relations = table
    return RUNTIME._many_relations


class Instance:
    """An entity instance that lives in Cairn, named by its number."""

    __slots__ = ("ref", "type")

    def __init__(self, ref: int, type: str) -> None:
        self.ref = ref
        self.type = type

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Instance) and other.ref == self.ref

    def __lt__(self, other: object) -> bool:
        if isinstance(other, Instance):
            return self.ref < other.ref
        return NotImplemented

    def __hash__(self) -> int:
        return hash(("cairn-instance", self.ref))

    def __repr__(self) -> str:
        return f"{self.type} {self.ref}"

    def get_attribute(self, attr: str) -> object:
        """The attribute's value in the compiler domain (lists, dicts, Instance, Unknown, None)."""
        from inmanta.ast import NotFoundException, RuntimeException

        key = ("get", self.ref, attr)
        cache = RUNTIME.cache
        if key in cache:
            kind, value = cache[key]
        else:
            reply = RUNTIME.question({"op": "get", "instance": self.ref, "attr": attr})
            if "error" in reply:
                kind, value = ("error", (reply.get("kind"), str(reply.get("error"))))
            elif "value" in reply:
                kind, value = ("value", decode(reply["value"]))
            else:
                raise ProtocolError("reply to get has neither value, wait nor error")
            cache[key] = (kind, value)
        if kind == "error":
            ekind, message = value
            if ekind == "NotFound":
                raise NotFoundException(None, attr, message)
            raise RuntimeException(None, message)
        if value is None and RUNTIME.exporting and self._empty_many_relation(attr):
            return []
        return value

    def _empty_many_relation(self, attr: str) -> bool:
        """Cairn's export answers an empty relation of upper bound > 1 as null: it is an empty list.

        Inmanta reads such a relation as an empty list; which relations are multi-valued is
        learnt from the modules' model files (the protocol does not say).
        """
        owners = many_relations().get(attr)
        if not owners:
            return False
        if attr in self.attributes():
            return False  # a plain attribute of the same name: null is its value
        return any(owner == self.type or self.isa(owner) for owner in sorted(owners))

    def isa(self, entity: str) -> bool:
        key = ("isa", self.ref, entity)
        if key not in RUNTIME.cache:
            reply = RUNTIME.question({"op": "isa", "instance": self.ref, "entity": entity})
            RUNTIME.cache[key] = reply.get("value") is True
        return RUNTIME.cache[key]

    def attributes(self) -> list:
        key = ("attributes", self.ref)
        if key not in RUNTIME.cache:
            reply = RUNTIME.question({"op": "attributes", "instance": self.ref})
            value = reply.get("value")
            RUNTIME.cache[key] = [str(x) for x in value] if isinstance(value, list) else []
        return list(RUNTIME.cache[key])


def decode(value: Any) -> object:
    """JSON (protocol encoding) to the compiler domain."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [decode(v) for v in value]
    if isinstance(value, dict):
        if "$ref" in value:
            ref = value["$ref"]
            if not isinstance(ref, int) or isinstance(ref, bool):
                raise ProtocolError(f"bad $ref {ref!r}")
            return Instance(ref, str(value.get("$type", "")))
        if "$unknown" in value:
            return Unknown(None)
        if "$dict" in value:
            inner = value["$dict"]
            if not isinstance(inner, dict):
                raise ProtocolError("$dict does not hold an object")
            return {k: decode(v) for k, v in inner.items()}
        return {k: decode(v) for k, v in value.items()}
    raise ProtocolError(f"not a value: {value!r}")


def _exporter_form(value: object) -> object:
    """What Inmanta's exporter makes of values JSON does not know (uuid, datetime, enum, ...)."""
    import datetime
    import enum
    import uuid

    from inmanta.util import JSONSerializable

    if isinstance(value, JSONSerializable):
        return value.json_serialization_step()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime.datetime):
        return value.isoformat(timespec="microseconds")
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, Exception):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    raise HostValueError(f"a value of Python type {type(value).__name__} is not a model value: {value!r}")


def encode(value: object, _depth: int = 0, lenient: bool = False) -> object:
    """Plugin or compiler domain to JSON (protocol encoding). Proxies are unwrapped.

    ``lenient`` (resource fields) also converts what Inmanta's exporter serializes
    (uuid, datetime, enum names, ...).
    """
    from inmanta.execute.proxy import DynamicProxy

    if _depth > 500:
        raise HostValueError("value nested too deeply (a cycle?)")
    while isinstance(value, DynamicProxy):
        value = value._get_instance()
    if value is None or isinstance(value, NoneValue):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int.__index__(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise HostValueError(f"{value} is not a value (NaN and infinities are not allowed)")
        return float(value)
    if isinstance(value, str):
        return str.__str__(value)  # the characters, also of a str enum
    if isinstance(value, Unknown):
        return {"$unknown": True}
    if isinstance(value, Instance):
        return {"$ref": value.ref, "$type": value.type}
    if isinstance(value, (list, tuple)):
        return [encode(v, _depth + 1, lenient) for v in value]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise HostValueError(f"dict keys should be strings, got {k!r} of type {type(k).__name__}")
            out[str.__str__(k)] = encode(v, _depth + 1, lenient)
        if any(k.startswith("$") for k in out):
            return {"$dict": out}
        return out
    if lenient:
        return encode(_exporter_form(value), _depth + 1, lenient)
    raise HostValueError(f"a value of Python type {type(value).__name__} is not a model value: {value!r}")


def contains_unknown(value: object) -> bool:
    if isinstance(value, Unknown):
        return True
    if isinstance(value, (list, tuple)):
        return any(contains_unknown(v) for v in value)
    if isinstance(value, dict):
        return any(contains_unknown(v) for v in value.values())
    return False
