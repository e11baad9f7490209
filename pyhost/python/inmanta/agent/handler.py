"""Handler base classes and decorators: stubs so that modules defining handlers import.

Cairn's plugin host never runs a handler; calling one of these methods raises.
"""

import enum
import functools
import logging
from typing import Any, Callable, Generic, Optional, TypeVar

from inmanta import const

__all__ = [
    "provider",
    "cache",
    "HandlerAPI",
    "ResourceHandler",
    "CRUDHandler",
    "CRUDHandlerGeneric",
    "DiscoveryHandler",
    "HandlerContext",
    "LoggerABC",
    "PythonLogger",
    "ResourcePurged",
    "SkipResource",
    "SkipResourceForDependencies",
    "InvalidOperation",
    "Commander",
]

R = TypeVar("R")
D = TypeVar("D")

# (resource type, handler name) -> handler class, in registration order
PROVIDERS: dict = {}


class provider:  # noqa: N801 (Inmanta's name)
    """``@provider("mod::Entity", name="x")``: records the handler class, changes nothing."""

    def __init__(self, resource_type: str, name: str = "") -> None:
        self._resource_type = resource_type
        self._name = name

    def __call__(self, cls: type) -> type:
        PROVIDERS[(self._resource_type, self._name)] = cls
        return cls


def cache(func: Optional[Callable] = None, ignore: Optional[list] = None, timeout: int = 5000, for_version: bool = True,
          cache_none: bool = True, cacheNone: bool = True, call_on_delete: Optional[Callable] = None,
          evict_after_creation: float = 0.0, **kwargs: Any) -> Callable:
    """``@cache`` / ``@cache(timeout=...)`` on handler methods: leaves the method as it is."""

    def decorate(f: Callable) -> Callable:
        @functools.wraps(f)
        def wrapper(*args: Any, **kw: Any) -> Any:
            return f(*args, **kw)

        return wrapper

    if func is None:
        return decorate
    return decorate(func)


class SkipResource(Exception):
    pass


class SkipResourceForDependencies(SkipResource):
    pass


class ResourcePurged(Exception):
    pass


class InvalidOperation(Exception):
    pass


class LoggerABC:
    def debug(self, msg: str, *args: Any, exc_info: bool = False, **kwargs: Any) -> None:
        pass

    def info(self, msg: str, *args: Any, exc_info: bool = False, **kwargs: Any) -> None:
        pass

    def warning(self, msg: str, *args: Any, exc_info: bool = False, **kwargs: Any) -> None:
        pass

    def error(self, msg: str, *args: Any, exc_info: bool = False, **kwargs: Any) -> None:
        pass

    def exception(self, msg: str, *args: Any, exc_info: bool = True, **kwargs: Any) -> None:
        pass

    def critical(self, msg: str, *args: Any, exc_info: bool = False, **kwargs: Any) -> None:
        pass


class PythonLogger(LoggerABC):
    """Logs to a Python logger (stderr in the host)."""

    def __init__(self, logger: Optional[logging.Logger] = None) -> None:
        self.logger = logger or logging.getLogger("inmanta")

    def _log(self, level: int, msg: str, kwargs: dict, exc_info: bool) -> None:
        try:
            text = msg % kwargs if kwargs else msg
        except Exception:
            text = msg
        self.logger.log(level, text, exc_info=exc_info)

    def debug(self, msg: str, *args: Any, exc_info: bool = False, **kwargs: Any) -> None:
        self._log(logging.DEBUG, msg, kwargs, exc_info)

    def info(self, msg: str, *args: Any, exc_info: bool = False, **kwargs: Any) -> None:
        self._log(logging.INFO, msg, kwargs, exc_info)

    def warning(self, msg: str, *args: Any, exc_info: bool = False, **kwargs: Any) -> None:
        self._log(logging.WARNING, msg, kwargs, exc_info)

    def error(self, msg: str, *args: Any, exc_info: bool = False, **kwargs: Any) -> None:
        self._log(logging.ERROR, msg, kwargs, exc_info)

    def exception(self, msg: str, *args: Any, exc_info: bool = True, **kwargs: Any) -> None:
        self._log(logging.ERROR, msg, kwargs, exc_info)

    def critical(self, msg: str, *args: Any, exc_info: bool = False, **kwargs: Any) -> None:
        self._log(logging.CRITICAL, msg, kwargs, exc_info)


class HandlerContext(LoggerABC):
    """The context a handler gets; only a type to annotate with in the host."""

    def __init__(self, resource: Any = None, dry_run: bool = False, action_id: Any = None, logger: Any = None) -> None:
        self._resource = resource
        self._dry_run = dry_run
        self.changes: dict = {}
        self.facts: list = []
        self.status: Optional[const.ResourceState] = None

    def set_status(self, status: Any) -> None:
        self.status = status

    def set_created(self) -> None:
        pass

    def set_updated(self) -> None:
        pass

    def set_purged(self) -> None:
        pass

    def update_changes(self, changes: dict) -> None:
        self.changes.update(changes)

    def add_change(self, name: str, desired: Any, current: Any = None) -> None:
        self.changes[name] = {"current": current, "desired": desired}

    def set_fact(self, fact_id: str, value: str, expires: bool = True) -> None:
        self.facts.append({"id": fact_id, "value": value})

    def is_dry_run(self) -> bool:
        return self._dry_run


def _not_in_host(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("handlers do not run in Cairn's plugin host")


class HandlerAPI(Generic[R]):
    def __init__(self, agent: Any = None, io: Any = None) -> None:
        self._agent = agent
        self._io = io

    def set_cache(self, cache: Any) -> None:
        pass

    def close(self) -> None:
        pass

    def pre(self, ctx: HandlerContext, resource: Any) -> None:
        pass

    def post(self, ctx: HandlerContext, resource: Any) -> None:
        pass

    execute = _not_in_host
    deploy = _not_in_host
    check_facts = _not_in_host
    facts = _not_in_host
    run_sync = _not_in_host


class ResourceHandler(HandlerAPI[R]):
    def can_reload(self) -> bool:
        return False

    def do_reload(self, ctx: HandlerContext, resource: Any) -> None:
        pass

    check_resource = _not_in_host
    list_changes = _not_in_host
    do_changes = _not_in_host


class CRUDHandler(ResourceHandler[R]):
    read_resource = _not_in_host
    create_resource = _not_in_host
    delete_resource = _not_in_host
    update_resource = _not_in_host
    calculate_diff = _not_in_host


CRUDHandlerGeneric = CRUDHandler


class DiscoveryHandler(HandlerAPI[R], Generic[R, D]):
    discover_resources = _not_in_host


class Commander:
    @classmethod
    def get_providers(cls) -> dict:
        return dict(PROVIDERS)
