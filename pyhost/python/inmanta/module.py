"""``inmanta.module.Project``: the project and its modules, as Cairn's ``hello`` names them.

``Project.get().modules`` maps a module's name to an object whose ``_path`` is the module's own
folder (a v1 module's folder, the parent of ``plugins/``; a v2 module's installed package
folder), where its ``files/`` and ``templates/`` are. ``project_path`` is the project folder.
"""

import os
from typing import Optional

__all__ = ["Project", "Module", "ModuleV1", "ModuleV2", "InmantaModuleRequirement"]


class Module:
    def __init__(self, name: str, path: str, kind: str = "v1") -> None:
        self.name = name
        self._path = path
        self._kind = kind

    @property
    def path(self) -> str:
        return self._path

    def get_name(self) -> str:
        return self.name

    def get_plugin_dir(self) -> str:
        return os.path.join(self._path, "plugins") if self._kind == "v1" else self._path

    def get_template_dir(self) -> str:
        return os.path.join(self._path, "templates")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {self._path!r})"


class ModuleV1(Module):
    pass


class ModuleV2(Module):
    pass


class InmantaModuleRequirement:
    def __init__(self, text: str) -> None:
        self.text = text

    @classmethod
    def parse(cls, text: str) -> "InmantaModuleRequirement":
        return cls(text)

    def __str__(self) -> str:
        return self.text


class Project:
    """The running project; there is exactly one (``Project.get()``)."""

    def __init__(self, path: str) -> None:
        self._path = path
        self.project_path = path

    @property
    def path(self) -> str:
        return self._path

    @property
    def modules(self) -> dict:
        from inmanta._cairn import RUNTIME

        out = {}
        for name, (kind, folder) in RUNTIME.modules.items():
            own = os.path.dirname(folder) if kind == "v1" else folder
            out[name] = (ModuleV1 if kind == "v1" else ModuleV2)(name, own, kind)
        return out

    @classmethod
    def get(cls, main_module: Optional[str] = None) -> "Project":
        from inmanta._cairn import RUNTIME

        return cls(RUNTIME.project or os.getcwd())

    def get_metadata(self) -> None:
        return None
