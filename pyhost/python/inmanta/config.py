"""``inmanta.config.Config``: settings come from Cairn (the ``setting`` question).

``Config.get("config", "environment")`` is the setting ``environment``; any other option is
the setting ``SECTION.OPTION``. Outside a call only the settings sent with ``hello`` are known.
"""

from typing import Any, Optional


class Config:
    @classmethod
    def _key(cls, section: str, name: str) -> str:
        if section == "config" and name == "environment":
            return "environment"
        return f"{section}.{name}"

    @classmethod
    def get(cls, section: Optional[str] = None, name: Optional[str] = None, default_value: Any = None) -> Any:
        from inmanta._cairn import RUNTIME

        if section is None or name is None:
            return default_value
        try:
            value = RUNTIME.setting(cls._key(section, name))
        except Exception:
            value = None
        return default_value if value is None else value

    @classmethod
    def getboolean(cls, section: str, name: str, default_value: bool = False) -> bool:
        value = cls.get(section, name, default_value)
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true", "yes", "on")
        return bool(value)

    @classmethod
    def set(cls, section: str, name: str, value: Any) -> None:
        from inmanta._cairn import RUNTIME

        RUNTIME.settings[cls._key(section, name)] = value
