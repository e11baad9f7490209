"""Cairn's stand-in for ``inmanta_plugins.std`` in the plugin host.

Cairn's ``std`` is native, so the host does not run std's own Python; other modules that
import helpers from it (``yaml`` imports ``get_file_content``) get these. Nothing here is a
plugin: Cairn's native std plugins win.
"""

import os

from inmanta._cairn import RUNTIME

__all__ = ["determine_path", "get_file_content", "FileMarker", "getfact", "is_unknown"]


def _module_folder(name: str) -> str:
    """A module's own folder: the parent of plugins/ for v1, the package folder for v2."""
    if name not in RUNTIME.modules:
        raise Exception(f"Module {name} does not exist")
    kind, folder = RUNTIME.modules[name]
    return os.path.dirname(folder) if kind == "v1" else folder


def determine_path(ctx, module_dir: str, path: str) -> str:
    """``MODULE/rel/path`` to the file ``rel/path`` in ``module_dir`` (e.g. files) of MODULE."""
    if path.startswith("./"):
        # relative to the module of the calling statement (Context.owner.namespace)
        owner = getattr(getattr(ctx, "owner", None), "namespace", None)
        module = owner.get_full_name().split("::")[0] if owner is not None else ""
        if module not in RUNTIME.modules:
            raise Exception(f"Unable to determine current module for path {path}, called from {module}")
        path = module + "/" + path[2:]
    parts = path.split("/")
    if parts[0] == "":
        base = RUNTIME.project or os.getcwd()
    elif parts[0] not in RUNTIME.modules:
        raise Exception(f"Module {parts[0]} does not exist for path {path}")
    else:
        base = _module_folder(parts[0])
    return os.path.join(base, module_dir, *parts[1:])


def get_file_content(ctx, module_dir: str, path: str) -> str:
    filename = determine_path(ctx, module_dir, path)
    if not os.path.isfile(filename):
        raise Exception(f"{path} isn't a valid file ({filename})")
    with open(filename, "r") as fd:
        return fd.read()


class FileMarker(str):
    """Marks a string that names a file (std's in-band convention)."""

    def __new__(cls, filename: str) -> "FileMarker":
        obj = str.__new__(cls, "imp-module-source:file://" + filename)
        obj.filename = filename
        return obj


def getfact(context, resource, fact_name: str, default_value=None):
    """As Cairn's native ``std::getfact``: facts come from agents after a deploy, so a compile
    never knows one; the result is ``default_value`` when given, else unknown."""
    from inmanta._cairn import Instance
    from inmanta.execute.proxy import DynamicProxy
    from inmanta.execute.util import Unknown

    instance = resource._get_instance() if isinstance(resource, DynamicProxy) else resource
    if not isinstance(instance, Instance) or not instance.isa("std::Resource"):
        raise Exception("Facts can only be retrieved from resources.")
    if default_value is not None:
        return default_value
    return Unknown(source=resource)


def is_unknown(value) -> bool:
    from inmanta.execute.util import Unknown

    return isinstance(value, Unknown)
