"""The exporter side that modules name: ``dependency_manager`` and ``Exporter``."""

import hashlib
from typing import Any, Callable

__all__ = ["dependency_manager", "unknown_parameters", "Exporter", "ModelDict", "ResourceDict", "hash_file"]

ModelDict = dict
ResourceDict = dict

# Registered dependency managers, in registration order: (name, function)
DEPENDENCY_MANAGERS: list = []

unknown_parameters: list = []


def dependency_manager(function: Callable) -> Callable:
    """Register a function that rewrites resource requires at export (run by Cairn natively or not at all)."""
    module = str(getattr(function, "__module__", ""))
    if module.startswith("inmanta_plugins."):
        module = module[len("inmanta_plugins."):]
    DEPENDENCY_MANAGERS.append((f"{module}.{getattr(function, '__qualname__', getattr(function, '__name__', '?'))}", function))
    return function


def hash_file(content: bytes) -> str:
    return hashlib.sha1(content).hexdigest()


class Exporter:
    """Passed as ``exporter`` to ``get_FIELD`` mappings. Cairn's exporter keeps no file store here."""

    def __init__(self, options: Any = None) -> None:
        self.options = options
        self._file_store: dict = {}

    def upload_file(self, content: Any) -> str:
        if isinstance(content, str):
            content = content.encode("utf-8")
        digest = hash_file(content)
        self._file_store[digest] = content
        return digest

    def get_environment_id(self) -> str:
        from inmanta._cairn import RUNTIME

        env = RUNTIME.setting("environment")
        return "" if env is None else str(env)
