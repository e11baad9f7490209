"""``inmanta.util.dict_path``: paths into nested dicts and lists (``a.b[name=x].c``).

A path is made of segments separated by dots: ``key`` (a key of a dict), ``rel[k=v][k2=v2]``
(the dict in the list ``rel`` whose ``k`` is ``v``, ...), ``*`` (any key, wild paths only);
``.`` alone is the whole container. The characters ``\\ [ ] . * =`` are escaped with a backslash
in a segment's text when they are data: ``str(InDict("a.b"))`` is ``a\\.b``. ``\\0`` as a key
value matches a missing or null value.
"""

import re
from typing import Optional, Sequence

__all__ = [
    "InvalidPathException",
    "ContainerStructureException",
    "WildDictPath",
    "DictPath",
    "WildInDict",
    "InDict",
    "WildKeyedList",
    "KeyedList",
    "WildComposedPath",
    "ComposedPath",
    "WildNullPath",
    "NullPath",
    "to_path",
    "to_wild_path",
]

SPECIAL_CHARACTERS = ["\\", "[", "]", ".", "*", "="]
WILDCARD = "*"
NULL = "\\0"
_SPECIAL = re.compile(r"([\\\[\].*=])")
_ESCAPED = re.compile(r"\\([\\\[\].*=])")
_TEXT = r"(?:[^\\\[\].*=]|\\[\\\[\].*=])"
_SEGMENT_SPLIT = re.compile(r"(?:[^.\\]|\\.)+")
_IN_DICT = re.compile(rf"^(?:{_TEXT}+|\*)$")
_KEYED = re.compile(rf"^(?P<rel>{_TEXT}+|\*)(?P<sel>(?:\[(?:{_TEXT}+|\*)=(?:{_TEXT}*|\*|\\0)\])+)$")
_PAIR = re.compile(rf"\[(?P<k>{_TEXT}+|\*)=(?P<v>{_TEXT}*|\*|\\0)\]")


class InvalidPathException(Exception):
    """A path (or segment) that can not be parsed or used."""


class ContainerStructureException(LookupError):
    """The container does not have the structure the path expects."""


def escape(text: str) -> str:
    return _SPECIAL.sub(r"\\\1", text)


def unescape(text: str) -> str:
    return _ESCAPED.sub(r"\1", text)


def _matches(wanted: Optional[str], value: object) -> bool:
    """A key value of a keyed list against an item's value (numbers compare as numbers)."""
    if wanted == WILDCARD:
        return True
    if wanted is None:
        return value is None
    if value is None:
        return False
    if isinstance(value, bool):
        return wanted == str(value).lower() or wanted == str(value)
    if isinstance(value, (int, float)):
        try:
            return float(wanted) == float(value)
        except ValueError:
            return False
    return wanted == str(value)


class WildDictPath:
    """A path that may hold wildcards: it points at zero or more elements."""

    def get_elements(self, container: object) -> list:
        raise NotImplementedError()

    def to_str(self) -> str:
        raise NotImplementedError()

    def get_path_sections(self) -> Sequence["WildDictPath"]:
        return [self]

    def __str__(self) -> str:
        return self.to_str()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_str()!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WildDictPath) and type(self).__name__.replace("Wild", "") == type(other).__name__.replace(
            "Wild", ""
        ) and self.to_str() == other.to_str()

    def __hash__(self) -> int:
        return hash(self.to_str())

    def __add__(self, other: object) -> "WildDictPath":
        if not isinstance(other, WildDictPath):
            return NotImplemented
        sections = [*self.get_path_sections(), *other.get_path_sections()]
        if all(isinstance(s, DictPath) for s in sections):
            return ComposedPath(path=sections)
        return WildComposedPath(path=sections)

    @staticmethod
    def _dict(container: object) -> dict:
        if not isinstance(container, dict):
            raise ContainerStructureException(f"{container} is not a Dict")
        return container


class DictPath(WildDictPath):
    """A path without wildcards: it points at exactly one element."""

    def get_element(self, container: object, construct: bool = False) -> object:
        raise NotImplementedError()

    def get_elements(self, container: object) -> list:
        try:
            return [self.get_element(container)]
        except (KeyError, IndexError, LookupError):
            return []

    def set_element(self, container: object, value: object, construct: bool = True) -> None:
        raise NotImplementedError()

    def remove(self, container: object) -> None:
        raise NotImplementedError()

    def get_key(self) -> str:
        raise NotImplementedError()

    def get_path_sections(self) -> Sequence["DictPath"]:
        return [self]

    def __add__(self, other: object) -> "WildDictPath":
        return WildDictPath.__add__(self, other)


class WildInDict(WildDictPath):
    """``key``: the value of a key of a dict; ``*`` is every value."""

    def __init__(self, key: str) -> None:
        self.key = key if key == WILDCARD else unescape(key)
        self._wild = key == WILDCARD

    def to_str(self) -> str:
        return WILDCARD if self._wild else escape(self.key)

    def get_elements(self, container: object) -> list:
        d = self._dict(container)
        if self._wild:
            return list(d.values())
        return [d[self.key]] if self.key in d else []

    @classmethod
    def parse(cls, inp: str) -> Optional["WildInDict"]:
        return cls(inp) if _IN_DICT.match(inp) else None


class InDict(DictPath, WildInDict):
    def __init__(self, key: str) -> None:
        if key == WILDCARD:
            raise ValueError(f"The Wildcard ('{WILDCARD}') can not be used in DictPath's")
        WildInDict.__init__(self, key)

    def get_key(self) -> str:
        return self.key

    def get_element(self, container: object, construct: bool = False) -> object:
        d = self._dict(container)
        if self.key not in d:
            if not construct:
                raise KeyError(f"{self.key} not found in {d}")
            d[self.key] = {}
        return d[self.key]

    def set_element(self, container: object, value: object, construct: bool = True) -> None:
        self._dict(container)[self.key] = value

    def remove(self, container: object) -> None:
        self._dict(container).pop(self.key, None)

    get_elements = DictPath.get_elements

    @classmethod
    def parse(cls, inp: str) -> Optional["InDict"]:
        return cls(inp) if _IN_DICT.match(inp) and inp != WILDCARD else None


class WildKeyedList(WildDictPath):
    """``rel[k=v]...``: the dicts of the list ``rel`` whose keys ``k`` hold ``v`` (``\\0``: null)."""

    def __init__(self, relation: str, key_value_pairs: object, *rest: str) -> None:
        if isinstance(key_value_pairs, str):
            # (relation, key, value) form
            if len(rest) != 1:
                raise TypeError("a keyed list takes (relation, [(key, value), ...]) or (relation, key, value)")
            pairs = [(key_value_pairs, rest[0])]
        else:
            pairs = list(key_value_pairs)
        if not pairs:
            raise ValueError("a keyed list needs at least one key-value pair")
        self.relation = relation if relation == WILDCARD else unescape(relation)
        self._pairs = [
            (k if k == WILDCARD else unescape(k), None if v is None or v == NULL else (v if v == WILDCARD else unescape(v)))
            for k, v in pairs
        ]

    def get_key_value_pairs(self) -> Sequence[tuple]:
        return list(self._pairs)

    @property
    def key_value_pairs(self) -> Sequence[tuple]:
        return list(self._pairs)

    def to_str(self) -> str:
        rel = WILDCARD if self.relation == WILDCARD else escape(self.relation)
        sel = "][".join(
            (WILDCARD if k == WILDCARD else escape(k)) + "=" + (NULL if v is None else WILDCARD if v == WILDCARD else escape(v))
            for k, v in self._pairs
        )
        return f"{rel}[{sel}]"

    def _lists(self, container: object) -> list:
        d = self._dict(container)
        if self.relation == WILDCARD:
            return [v for v in d.values() if isinstance(v, list)]
        if self.relation not in d:
            return []
        value = d[self.relation]
        if not isinstance(value, list):
            raise ContainerStructureException(f"{value} is not a List")
        return [value]

    def _selects(self, item: object) -> bool:
        if not isinstance(item, dict):
            return False
        for k, v in self._pairs:
            keys = list(item) if k == WILDCARD else [k]
            if not any(_matches(v, item.get(key)) for key in keys):
                return False
        return True

    def get_elements(self, container: object) -> list:
        return [item for lst in self._lists(container) for item in lst if self._selects(item)]

    @classmethod
    def parse(cls, inp: str) -> Optional["WildKeyedList"]:
        m = _KEYED.match(inp)
        if m is None:
            return None
        return cls(m.group("rel"), [(p.group("k"), p.group("v")) for p in _PAIR.finditer(m.group("sel"))])


class KeyedList(DictPath, WildKeyedList):
    def __init__(self, relation: str, key_value_pairs: object, *rest: str) -> None:
        WildKeyedList.__init__(self, relation, key_value_pairs, *rest)
        if self.relation == WILDCARD or any(k == WILDCARD or v == WILDCARD for k, v in self._pairs):
            raise ValueError(f"The Wildcard ('{WILDCARD}') can not be used in DictPath's")

    def get_key(self) -> str:
        return self.relation

    def _list(self, container: object, construct: bool) -> list:
        d = self._dict(container)
        if self.relation not in d:
            if not construct:
                raise KeyError(f"{self.relation} not found in {d}")
            d[self.relation] = []
        value = d[self.relation]
        if not isinstance(value, list):
            raise ContainerStructureException(f"{value} is not a List")
        return value

    def get_element(self, container: object, construct: bool = False) -> object:
        lst = self._list(container, construct)
        found = [item for item in lst if self._selects(item)]
        if len(found) > 1:
            raise KeyError(f"Found multiple values for {self} in {lst}")
        if found:
            return found[0]
        if not construct:
            raise KeyError(f"No value for {self} in {lst}")
        item = {k: v for k, v in self._pairs}
        lst.append(item)
        return item

    def set_element(self, container: object, value: object, construct: bool = True) -> None:
        if not isinstance(value, dict) or not self._selects(value):
            raise ContainerStructureException(f"{value} does not match the keys of {self}")
        lst = self._list(container, construct)
        for i, item in enumerate(lst):
            if self._selects(item):
                lst[i] = value
                return
        lst.append(value)

    def remove(self, container: object) -> None:
        try:
            lst = self._list(container, False)
        except KeyError:
            return
        lst[:] = [item for item in lst if not self._selects(item)]

    get_elements = DictPath.get_elements

    @classmethod
    def parse(cls, inp: str) -> Optional["KeyedList"]:
        try:
            return WildKeyedList.parse.__func__(cls, inp)
        except ValueError:
            return None


def _split(path_str: str) -> list:
    parts = _SEGMENT_SPLIT.findall(path_str)
    if not parts or ".".join(parts) != path_str:
        raise InvalidPathException(f"Could not parse path {path_str!r}")
    return parts


class WildComposedPath(WildDictPath):
    """Segments applied one after the other."""

    _element_types: tuple = (WildInDict, WildKeyedList)

    def __init__(self, path_str: Optional[str] = None, path: Optional[Sequence[WildDictPath]] = None) -> None:
        if (path_str is None) == (path is None):
            raise ValueError("give exactly one of path_str and path")
        if path is None:
            path = [self._parse_segment(s) for s in _split(path_str)]
        self.expanded_path = [s for p in path for s in p.get_path_sections()]

    @classmethod
    def _parse_segment(cls, text: str) -> WildDictPath:
        for kind in cls._element_types:
            parsed = kind.parse(text)
            if parsed is not None:
                return parsed
        raise InvalidPathException(f"Could not parse path segment {text}")

    def to_str(self) -> str:
        return ".".join(s.to_str() for s in self.expanded_path)

    def get_path_sections(self) -> Sequence[WildDictPath]:
        return list(self.expanded_path)

    def get_elements(self, container: object) -> list:
        current = [container]
        for section in self.expanded_path:
            current = [e for c in current for e in section.get_elements(c)]
        return current

    @classmethod
    def parse(cls, inp: str) -> Optional["WildComposedPath"]:
        try:
            return cls(path_str=inp)
        except (InvalidPathException, ValueError):
            return None


class ComposedPath(DictPath, WildComposedPath):
    _element_types: tuple = (InDict, KeyedList)

    def __init__(self, path_str: Optional[str] = None, path: Optional[Sequence[DictPath]] = None) -> None:
        WildComposedPath.__init__(self, path_str=path_str, path=path)
        if not all(isinstance(s, DictPath) for s in self.expanded_path):
            raise ValueError(f"The Wildcard ('{WILDCARD}') can not be used in DictPath's")

    def get_key(self) -> str:
        return self.expanded_path[-1].get_key()

    def get_element(self, container: object, construct: bool = False) -> object:
        for section in self.expanded_path:
            container = section.get_element(container, construct)
        return container

    def set_element(self, container: object, value: object, construct: bool = True) -> None:
        for section in self.expanded_path[:-1]:
            container = section.get_element(container, construct)
        self.expanded_path[-1].set_element(container, value, construct)

    def remove(self, container: object) -> None:
        try:
            for section in self.expanded_path[:-1]:
                container = section.get_element(container, False)
        except (KeyError, LookupError):
            return
        self.expanded_path[-1].remove(container)

    get_elements = DictPath.get_elements
    get_path_sections = WildComposedPath.get_path_sections


class WildNullPath(WildDictPath):
    """``.``: the container itself."""

    def to_str(self) -> str:
        return "."

    def get_path_sections(self) -> Sequence[WildDictPath]:
        return []

    def get_elements(self, container: object) -> list:
        return [self._dict(container)]

    @classmethod
    def parse(cls, inp: str) -> None:
        raise NotImplementedError("NullPath is not parsed, only made in code")


class NullPath(DictPath, WildNullPath):
    def get_element(self, container: object, construct: bool = False) -> object:
        return self._dict(container)

    def set_element(self, container: object, value: object, construct: bool = True) -> None:
        d = self._dict(container)
        if not isinstance(value, dict):
            raise ContainerStructureException(f"Argument value is not a Dict: {value}")
        d.clear()
        d.update(value)

    def remove(self, container: object) -> None:
        raise NotImplementedError("a NullPath can not be removed")

    def get_key(self) -> str:
        raise NotImplementedError("a NullPath has no key")

    get_elements = DictPath.get_elements
    get_path_sections = WildNullPath.get_path_sections
    to_str = WildNullPath.to_str


def _strip(inp: str) -> str:
    return inp[1:] if inp.startswith(".") else inp


def to_path(inp: str) -> DictPath:
    """A path from its text (``.`` is the whole container; a leading dot is dropped)."""
    if inp == ".":
        return NullPath()
    try:
        return ComposedPath(path_str=_strip(inp))
    except ValueError as e:
        raise InvalidPathException(str(e))


def to_wild_path(inp: str) -> WildDictPath:
    """A path that may hold wildcards, from its text."""
    if inp == ".":
        return WildNullPath()
    try:
        return WildComposedPath(path_str=_strip(inp))
    except ValueError as e:
        raise InvalidPathException(str(e))
