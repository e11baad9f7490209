"""Plugins: the ``@plugin`` decorator, ``Context``, ``PluginException`` and type checking.

A plugin is a Python function of a module's ``inmanta_plugins.NAME`` package, registered under
``NAME::function`` (``NAME::sub::function`` for a submodule). Its annotations declare the model
types of its arguments and return value: Inmanta type strings (``"string"``, ``"int?"``,
``"std::Entity"``, ...) or Python types (``str``, ``list[str]``, ``typing.Optional[int]``, ...).
"""

import dataclasses
import inspect
import os
import shutil
import types
import typing
from collections import abc
from typing import Any, Callable, Optional

from inmanta._cairn import RUNTIME, Instance
from inmanta.ast import Namespace, RuntimeException
from inmanta.execute.util import NoneValue, Unknown

PLUGINS_PACKAGE = "inmanta_plugins"


class PluginException(Exception):
    """Raise this from a plugin to report an error to the model."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return str(self.message)


class PluginDeprecationWarning(DeprecationWarning):
    pass


class ValueTypeError(Exception):
    """A value does not match a plugin parameter's or return value's annotation."""


class BindingError(TypeError):
    """The arguments of a call do not match the plugin's parameters."""


# ---------------------------------------------------------------------------------------------
# Types


class ModelType:
    """``ModelType["std::Entity"]``: names a model type inside ``typing.Annotated``."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __class_getitem__(cls, name: str) -> "ModelType":
        return cls(name)

    def __repr__(self) -> str:
        return f"ModelType[{self.name!r}]"


def allow_reference_values(value: object) -> object:
    """Cairn has no reference values; the value is returned as it is."""
    return value


_PRIMITIVES = ("string", "int", "float", "number", "bool", "list", "dict")


class PluginType:
    """A parsed annotation: ``kind`` is any, null, prim, list, dict, opt, model, union or pyclass."""

    def __init__(self, kind: str, arg: object = None) -> None:
        self.kind = kind
        self.arg = arg

    def type_string(self) -> str:
        k = self.kind
        if k == "any":
            return "any"
        if k == "null":
            return "null"
        if k in ("prim", "model"):
            return str(self.arg)
        if k == "list":
            inner = self.arg
            if inner is None or inner.kind == "any":
                return "list"
            s = inner.type_string()
            return "list" if (s.endswith("?") or s.endswith("[]") or inner.kind == "union") else s + "[]"
        if k == "dict":
            return "dict"
        if k == "opt":
            s = self.arg.type_string()
            return s if s in ("any", "null") or s.endswith("?") else s + "?"
        return "any"

    def check(self, value: object) -> bool:
        """True when ``value`` (compiler domain) fits; unknown values always fit."""
        if isinstance(value, Unknown):
            return True
        if isinstance(value, NoneValue):
            value = None
        k = self.kind
        if k == "any":
            return True
        if k == "null":
            return value is None
        if k == "opt":
            return value is None or self.arg.check(value)
        if value is None:
            return False
        if k == "prim":
            name = self.arg
            if name == "string":
                return isinstance(value, str)
            if name == "bool":
                return isinstance(value, bool)
            if name == "int":
                return isinstance(value, int) and not isinstance(value, bool)
            if name in ("float", "number"):
                return isinstance(value, (int, float)) and not isinstance(value, bool)
            if name == "list":
                return isinstance(value, (list, tuple))
            if name == "dict":
                return isinstance(value, dict)
            return True
        if k == "list":
            if not isinstance(value, (list, tuple)):
                return False
            return self.arg is None or all(self.arg.check(v) for v in value)
        if k == "dict":
            if not isinstance(value, dict):
                return False
            return self.arg is None or all(self.arg.check(v) for v in value.values())
        if k == "union":
            return any(t.check(value) for t in self.arg)
        if k == "model":
            if isinstance(value, Instance):
                if self.arg in ("std::Entity", value.type):
                    return True
                return value.isa(str(self.arg))
            # Inmanta entity names start with a capital, typedef names (ip::ip, std::hoststring) do not.
            # A typedef's constraint is Cairn's to check: the host only checks it is not a collection.
            last = str(self.arg).rsplit("::", 1)[-1]
            if last[:1].isupper():
                return False
            return not isinstance(value, (list, tuple, dict))
        if k == "pyclass":
            return isinstance(value, self.arg)
        return True


ANY = PluginType("any")


def parse_type_string(text: str) -> PluginType:
    s = text.strip()
    if s.endswith("?"):
        return PluginType("opt", parse_type_string(s[:-1]))
    if s.endswith("[]"):
        return PluginType("list", parse_type_string(s[:-2]))
    if s in ("any", "expression"):
        return ANY
    if s == "null":
        return PluginType("null")
    if s in _PRIMITIVES:
        return PluginType("prim", s)
    return PluginType("model", s)


_PY_PRIMS = {str: "string", bool: "bool", int: "int", float: "float", list: "list", dict: "dict"}


def _looks_like_inmanta_type(s: str) -> bool:
    base = s.strip().rstrip("?")
    while base.endswith("[]"):
        base = base[:-2].rstrip("?")
    return base in _PRIMITIVES or base in ("any", "expression", "null") or "::" in base


def parse_annotation(annotation: object, globalns: Optional[dict] = None) -> PluginType:
    from inmanta.execute.proxy import DynamicProxy

    if annotation is inspect.Parameter.empty:
        return ANY
    if isinstance(annotation, str):
        if _looks_like_inmanta_type(annotation):
            return parse_type_string(annotation)
        try:
            evaluated = eval(annotation, dict(globalns or {}))  # a postponed Python annotation
        except Exception:
            return parse_type_string(annotation)
        return parse_annotation(evaluated, globalns)
    if annotation is None or annotation is type(None):
        return PluginType("null")
    if annotation is Any or annotation is object:
        return ANY
    if isinstance(annotation, ModelType):
        return parse_type_string(annotation.name)
    if annotation in _PY_PRIMS:
        return PluginType("prim", _PY_PRIMS[annotation])
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        for meta in annotation.__metadata__:
            if isinstance(meta, ModelType):
                return parse_type_string(meta.name)
        return parse_annotation(args[0], globalns)
    if origin is typing.Union or (hasattr(types, "UnionType") and origin is types.UnionType):
        members = [a for a in args if a is not type(None)]
        inner = [parse_annotation(a, globalns) for a in members]
        core = inner[0] if len(inner) == 1 else PluginType("union", inner)
        if any(t.kind == "any" for t in inner):
            core = ANY
        if len(members) != len(args):
            return PluginType("opt", core) if core.kind != "any" else ANY
        return core
    if origin in (list, tuple, abc.Sequence, abc.MutableSequence, abc.Collection, abc.Iterable):
        inner = parse_annotation(args[0], globalns) if args else None
        return PluginType("list", inner if inner is not None and inner.kind != "any" else None)
    if origin in (dict, abc.Mapping, abc.MutableMapping):
        inner = parse_annotation(args[1], globalns) if len(args) == 2 else None
        return PluginType("dict", inner if inner is not None and inner.kind != "any" else None)
    if origin is typing.Literal:
        return ANY
    if isinstance(annotation, type):
        if issubclass(annotation, DynamicProxy):
            return PluginType("model", "std::Entity")
        return PluginType("pyclass", annotation)
    return ANY


def _shown(value: object) -> str:
    from inmanta._cairn import encode

    try:
        text = repr(encode(value))
    except Exception:
        text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


# ---------------------------------------------------------------------------------------------
# Plugins


@dataclasses.dataclass
class Parameter:
    name: str
    kind: str  # positional_only, positional_or_keyword, var_positional, keyword_only, var_keyword
    type: PluginType
    default: object
    has_default: bool


@dataclasses.dataclass
class CheckedArgs:
    args: list
    kwargs: dict


class PluginMeta(type):
    """Keeps the registry of plugins (``PluginMeta.get_functions()``)."""

    __functions: dict = {}

    @classmethod
    def add_function(mcs, plugin: "Plugin") -> None:
        mcs.__functions[plugin.get_full_name()] = plugin

    @classmethod
    def get_functions(mcs) -> dict:
        return dict(mcs.__functions)

    @classmethod
    def remove(mcs, name: str) -> None:
        mcs.__functions.pop(name, None)

    @classmethod
    def clear(mcs, inmanta_module: Optional[str] = None) -> None:
        if inmanta_module is None:
            mcs.__functions.clear()
            return
        for name in [n for n in mcs.__functions if n == inmanta_module or n.startswith(inmanta_module + "::")]:
            del mcs.__functions[name]


class Plugin:
    """One registered plugin: its function and what its annotations declare."""

    deprecated = False
    replaced_by: Optional[str] = None

    def __init__(self, function: Callable, name: str, namespace: str, opts: dict) -> None:
        self.function = function
        self.__function__ = function
        self.__function_name__ = name
        self.ns = Namespace(namespace)
        self.namespace = self.ns
        self.opts = opts
        self.python_module = function.__module__
        self.context_param: Optional[str] = None
        self.params: list = []
        self.returns = ANY
        self._analyse()

    def get_full_name(self) -> str:
        return f"{self.ns.get_full_name()}::{self.__function_name__}"

    def is_accept_unknowns(self) -> bool:
        return bool(self.opts.get("allow_unknown"))

    @classmethod
    def deprecate_function(cls, replaced_by: Optional[str] = None) -> None:
        cls.deprecated = True
        cls.replaced_by = replaced_by

    def _analyse(self) -> None:
        fn = self.function
        signature = inspect.signature(fn)
        globalns = getattr(fn, "__globals__", {})
        for p in signature.parameters.values():
            ann = p.annotation
            if isinstance(ann, str) and not _looks_like_inmanta_type(ann):
                try:
                    ann = eval(ann, dict(globalns))  # a postponed annotation (from __future__ import annotations)
                except Exception:
                    pass
            if ann is Context or (isinstance(ann, str) and ann in ("Context", "inmanta.plugins.Context", "plugins.Context")):
                self.context_param = p.name
                continue
            kind = {
                p.POSITIONAL_ONLY: "positional_only",
                p.POSITIONAL_OR_KEYWORD: "positional_or_keyword",
                p.VAR_POSITIONAL: "var_positional",
                p.KEYWORD_ONLY: "keyword_only",
                p.VAR_KEYWORD: "var_keyword",
            }[p.kind]
            has_default = p.default is not p.empty
            self.params.append(
                Parameter(p.name, kind, parse_annotation(ann, globalns), p.default if has_default else None, has_default)
            )
        self.returns = parse_annotation(signature.return_annotation, globalns)

    # binding -------------------------------------------------------------------------------

    def bind(self, args: list, kwargs: list) -> tuple:
        """Match a call's arguments to the parameters.

        Returns ``(checks, call_args, call_kwargs)``: ``checks`` lists ``(Parameter, value)``
        for every value given, in order. Raises ``BindingError`` as Python would (a TypeError).
        """
        fq = self.get_full_name()
        shape = self.__dict__.get("_shape")
        if shape is None:
            # What binding needs of the signature, worked out once per plugin.
            shape = (
                [p for p in self.params if p.kind in ("positional_only", "positional_or_keyword")],
                {p.name: p for p in self.params if p.kind == "keyword_only"},
                next((p for p in self.params if p.kind == "var_positional"), None),
                next((p for p in self.params if p.kind == "var_keyword"), None),
                list(inspect.signature(self.function).parameters.values()),
            )
            self.__dict__["_shape"] = shape
        positional, kwonly, var_pos, var_kw, order = shape
        if var_pos is None and len(args) > len(positional):
            raise BindingError(f"{fq}() takes {len(positional)} positional arguments but {len(args)} were given")
        checks: list = []
        given: dict = {}
        for i, value in enumerate(args):
            param = positional[i] if i < len(positional) else var_pos
            checks.append((param, value))
            if i < len(positional):
                given[param.name] = value
        extra_kwargs: dict = {}
        kw_given: dict = {}
        by_name = {p.name: p for p in positional if p.kind == "positional_or_keyword"}
        for name, value in kwargs:
            if name in given or name in kw_given or name in extra_kwargs:
                raise BindingError(f"{fq}() got multiple values for argument '{name}'")
            if name in by_name:
                given[name] = value
                checks.append((by_name[name], value))
            elif name in kwonly:
                kw_given[name] = value
                checks.append((kwonly[name], value))
            elif var_kw is not None and name != self.context_param:
                extra_kwargs[name] = value
                checks.append((var_kw, value))
            else:
                raise BindingError(f"{fq}() got an unexpected keyword argument '{name}'")
        missing = [p.name for p in positional if p.name not in given and not p.has_default]
        self._report_missing(missing, "positional")
        missing = [n for n, p in kwonly.items() if n not in kw_given and not p.has_default]
        self._report_missing(missing, "keyword-only")

        call_args: list = []
        call_kwargs: dict = {}
        for p in order:
            if p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
                continue
            if p.name == self.context_param:
                call_args.append(_CONTEXT_SLOT)
            elif p.name in given:
                call_args.append(_Arg(given[p.name]))
            else:
                call_args.append(_Raw(p.default))
        if len(args) > len(positional):
            call_args.extend(_Arg(v) for v in args[len(positional):])
        for p in order:
            if p.kind == p.KEYWORD_ONLY:
                if p.name == self.context_param:
                    call_kwargs[p.name] = _CONTEXT_SLOT
                elif p.name in kw_given:
                    call_kwargs[p.name] = _Arg(kw_given[p.name])
        for name, value in extra_kwargs.items():
            call_kwargs[name] = _Arg(value)
        return checks, call_args, call_kwargs

    def _report_missing(self, missing: list, sort: str) -> None:
        fq = self.get_full_name()
        if len(missing) == 1:
            raise BindingError(f"{fq}() missing 1 required {sort} argument: '{missing[0]}'")
        if len(missing) > 1:
            names = ", ".join(repr(m) for m in missing[:-1]) + " and " + repr(missing[-1])
            raise BindingError(f"{fq}() missing {len(missing)} required {sort} arguments: {names}")

    # calling -------------------------------------------------------------------------------

    def invoke(self, args: list, kwargs: list, caller_namespace: Optional[str] = None) -> object:
        """Run the plugin on compiler-domain values; returns a compiler-domain value (or Unknown).

        Raises ``BindingError``, ``ValueTypeError``, whatever the plugin raises, or ``CairnWait``.
        """
        from inmanta.execute.proxy import DynamicProxy, UnknownException

        checks, call_args, call_kwargs = self.bind(args, kwargs)
        fq = self.get_full_name()
        for command in self.opts.get("bin") or ():
            if shutil.which(command) is None:
                raise Exception(f"{self.__function_name__} requires {command} to be available in $PATH")
        accept_unknown = self.is_accept_unknowns()
        for param, value in checks:
            if isinstance(value, Unknown):
                if accept_unknown:
                    continue
                return Unknown(None)
            if not param.type.check(value):
                raise ValueTypeError(
                    f"Value {_shown(value)} for argument '{param.name}' of plugin {fq} has incompatible type."
                    f" Expected type: {param.type.type_string()}"
                )

        context = Context(self, caller_namespace)

        def to_plugin(slot: object) -> object:
            if slot is _CONTEXT_SLOT:
                return context
            if isinstance(slot, _Raw):
                return slot.value
            value = slot.value
            if isinstance(value, Unknown):
                return value
            return DynamicProxy.return_value(value)

        py_args = [to_plugin(s) for s in call_args]
        py_kwargs = {k: to_plugin(s) for k, s in call_kwargs.items()}
        try:
            result = self.function(*py_args, **py_kwargs)
        except UnknownException as e:
            return e.unknown
        result = DynamicProxy.unwrap(result)
        if isinstance(result, NoneValue):
            result = None
        if not isinstance(result, Unknown) and not self.returns.check(result):
            raise ValueTypeError(
                f"Return value {_shown(result)} of plugin {fq} has incompatible type."
                f" Expected type: {self.returns.type_string()}"
            )
        return result

    def describe(self) -> dict:
        from inmanta._cairn import encode

        params = []
        for p in self.params:
            try:
                default = encode(p.default) if p.has_default else None
            except Exception:
                default = None
            params.append(
                {"name": p.name, "type": p.type.type_string(), "default": default, "has_default": p.has_default, "kind": p.kind}
            )
        return {"params": params, "returns": self.returns.type_string()}


class _Arg:
    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value


class _Raw(_Arg):
    """A parameter's own default: handed to the function as it is."""


_CONTEXT_SLOT = object()


def _namespace_of(python_module: str) -> str:
    parts = python_module.split(".")
    if parts[0] != PLUGINS_PACKAGE or len(parts) < 2:
        raise Exception(f"All plugin modules should be loaded in the {PLUGINS_PACKAGE} package, not in {python_module}")
    return "::".join(parts[1:])


def plugin(
    function: Optional[Callable] = None,
    commands: Optional[list] = None,
    emits_statements: bool = False,
    allow_unknown: bool = False,
) -> Callable:
    """Register a function as a plugin: ``@plugin``, ``@plugin()``, ``@plugin("name")``."""

    def register(name: Optional[str]) -> Callable:
        def decorate(fnc: Callable) -> Callable:
            namespace = _namespace_of(str(fnc.__module__))
            opts = {"bin": commands, "emits_statements": emits_statements, "allow_unknown": allow_unknown}
            p = Plugin(fnc, name or fnc.__name__, namespace, opts)
            PluginMeta.add_function(p)
            fnc.__plugin__ = p
            return fnc

        return decorate

    if function is None:
        return register(None)
    if isinstance(function, str):
        return register(function)
    return register(None)(function)


def deprecated(function: Optional[Callable] = None, *, replaced_by: Optional[str] = None, **kwargs: object) -> Callable:
    """Mark a plugin as deprecated (``@deprecated`` or ``@deprecated(replaced_by="x::y")``)."""

    def mark(fnc: Callable) -> Callable:
        p = getattr(fnc, "__plugin__", None)
        if isinstance(p, Plugin):
            p.deprecated = True
            p.replaced_by = replaced_by
        return fnc

    if function is None:
        return mark
    return mark(function)


# ---------------------------------------------------------------------------------------------
# Context


class _Owner:
    def __init__(self, namespace: Namespace) -> None:
        self.namespace = namespace
        self.location = None


class _CompilerStub:
    """What ``Context.get_compiler()`` gives: only the plugin registry and no references."""

    refs: dict = {}

    def get_plugins(self) -> dict:
        return PluginMeta.get_functions()


class _ModelTypeRef:
    def __init__(self, name: str) -> None:
        self.name = name
        self._type = parse_type_string(name)

    def get_full_name(self) -> str:
        return self.name

    def type_string(self) -> str:
        return self.name

    def validate(self, value: object) -> bool:
        from inmanta.execute.proxy import DynamicProxy

        if not self._type.check(DynamicProxy.unwrap(value)):
            raise RuntimeException(None, f"Invalid value '{value}', expected {self.name}")
        return True

    def __str__(self) -> str:
        return self.name


def _no_server(*args: object, **kwargs: object) -> typing.NoReturn:
    raise ConnectionRefusedError("Cairn's plugin host has no connection to an Inmanta server")


class Context:
    """Handed to a plugin whose parameter is annotated with ``Context``."""

    def __init__(self, plugin: Plugin, caller_namespace: Optional[str] = None) -> None:
        self.plugin = plugin
        # the namespace of the calling statement when Cairn says it, else the plugin's own
        self.owner = _Owner(Namespace(caller_namespace) if caller_namespace else plugin.ns)
        self.compiler = _CompilerStub()

    def get_environment_id(self) -> str:
        env = RUNTIME.setting("environment")
        if env is None or env == "":
            raise Exception("The environment of the model should be configured in config>environment")
        return str(env)

    def get_environment(self) -> str:
        return self.get_environment_id()

    def get_data_dir(self) -> str:
        data_dir = os.path.join("data", self.plugin.ns.get_full_name())
        os.makedirs(data_dir, exist_ok=True)
        return data_dir

    def get_compiler(self) -> _CompilerStub:
        return self.compiler

    def get_type(self, name: object) -> _ModelTypeRef:
        return _ModelTypeRef(str(name))

    def get_resolver(self) -> typing.NoReturn:
        raise RuntimeException(None, "Cairn's plugin host does not provide Context.get_resolver")

    def get_queue_scheduler(self) -> typing.NoReturn:
        raise RuntimeException(None, "Cairn's plugin host does not provide Context.get_queue_scheduler")

    get_client = _no_server
    get_sync_client = _no_server
    run_sync = _no_server
