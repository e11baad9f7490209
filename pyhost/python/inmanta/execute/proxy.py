"""Read-only views of model values handed to plugins.

An entity instance becomes a ``DynamicProxy``: reading an attribute asks Cairn (``get``),
a list becomes a ``SequenceProxy``, a dict a ``DictProxy``. Reading an unknown value raises
``UnknownException``; the host turns a plugin call that lets it escape into an unknown result.
"""

import dataclasses
from collections.abc import Mapping
from typing import Optional

from inmanta._cairn import Instance
from inmanta.ast import NotFoundException, RuntimeException, UnsetException
from inmanta.ast.attribute import Attribute, RelationAttribute
from inmanta.ast.entity import Entity
from inmanta.execute.util import NoneValue, Unknown
from inmanta.util import JSONSerializable

__all__ = [
    "UnsetException",
    "UnknownException",
    "AttributeNotFound",
    "ProxyContext",
    "DynamicProxy",
    "SequenceProxy",
    "DictProxy",
    "CallProxy",
    "IteratorProxy",
]


class UnknownException(Exception):
    """An unknown value was read; whatever depends on it is unknown too."""

    def __init__(self, unknown: Optional[Unknown] = None) -> None:
        super().__init__()
        self.unknown = unknown if unknown is not None else Unknown(None)


class AttributeNotFound(NotFoundException, AttributeError):
    """No such attribute; also an ``AttributeError`` so that ``hasattr`` works."""


@dataclasses.dataclass(frozen=True)
class ProxyContext:
    path: str = ""
    validated: bool = True

    def nested(self, relative_path: str) -> "ProxyContext":
        return ProxyContext(path=self.path + relative_path, validated=self.validated)


class DynamicProxy:
    """Wraps a value of the compiler domain; the model can not be changed through it."""

    def __init__(self, instance: object) -> None:
        object.__setattr__(self, "_DynamicProxy__instance", instance)

    def _get_instance(self) -> object:
        return object.__getattribute__(self, "_DynamicProxy__instance")

    def _get_context(self) -> ProxyContext:
        return ProxyContext(path=repr(self._get_instance()))

    @classmethod
    def unwrap(cls, item: object) -> object:
        """Plugin domain to compiler domain."""
        if item is None:
            return NoneValue()
        if isinstance(item, DynamicProxy):
            return item._get_instance()
        if isinstance(item, (list, tuple)):
            return [cls.unwrap(x) for x in item]
        if isinstance(item, dict):
            out = {}
            for key, value in item.items():
                if not isinstance(key, str):
                    raise RuntimeException(
                        None, f"dict keys should be strings, got {key} of type {type(key)} with dict value {value}"
                    )
                out[key] = cls.unwrap(value)
            return out
        return item

    @classmethod
    def return_value(cls, value: object, *, context: Optional[ProxyContext] = None) -> object:
        """Compiler domain to plugin domain."""
        if value is None or isinstance(value, NoneValue):
            return None
        if isinstance(value, Unknown):
            raise UnknownException(value)
        if isinstance(value, (str, int, float, bool, tuple)):
            return value
        if isinstance(value, DynamicProxy):
            return value
        if isinstance(value, dict):
            return DictProxy(value)
        if isinstance(value, list):
            return SequenceProxy(value)
        if isinstance(value, Instance):
            return DynamicProxy(value)
        if hasattr(value, "__len__"):
            return SequenceProxy(value)
        if callable(value):
            return CallProxy(value)
        return DynamicProxy(value)

    def _return_value(self, value: object, *, relative_path: str = "") -> object:
        return DynamicProxy.return_value(value)

    def __getattr__(self, attribute: str) -> object:
        if attribute.startswith("__") and attribute.endswith("__"):
            raise AttributeError(attribute)
        instance = self._get_instance()
        if not isinstance(instance, Instance):
            raise AttributeError(f"{type(instance).__name__} value has no attribute {attribute}")
        try:
            value = instance.get_attribute(attribute)
        except NotFoundException as e:
            raise AttributeNotFound(None, attribute, e.msg) from None
        return self._return_value(value, relative_path=f".{attribute}")

    def __setattr__(self, attribute: str, value: object) -> None:
        raise Exception("Readonly object")

    def __delattr__(self, attribute: str) -> None:
        raise Exception("Readonly object")

    def _type(self) -> "EntityTypeRef":
        instance = self._get_instance()
        if isinstance(instance, Instance):
            return EntityTypeRef(instance.type, instance)
        return EntityTypeRef(type(instance).__name__)

    def _attributes(self) -> list:
        instance = self._get_instance()
        return instance.attributes() if isinstance(instance, Instance) else []

    def __dir__(self) -> list:
        instance = self._get_instance()
        if isinstance(instance, Instance):
            return instance.attributes()
        return object.__dir__(self)

    def is_unknown(self) -> bool:
        return isinstance(self._get_instance(), Unknown)

    def __hash__(self) -> int:
        return hash(self._get_instance())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, DynamicProxy):
            other = other._get_instance()
        return self._get_instance() == other

    def __lt__(self, other: object) -> bool:
        if isinstance(other, DynamicProxy):
            other = other._get_instance()
        return self._get_instance() < other

    def __repr__(self) -> str:
        return "@%r" % (self._get_instance(),)

    def __str__(self) -> str:
        instance = self._get_instance()
        if isinstance(instance, Instance):
            return repr(instance)
        return repr(self)


class EntityTypeRef(Entity):
    """The entity of an instance, as far as the host can learn it from Cairn.

    Its full name is known; its parents are asked one by one (``isa``): the ancestors can be
    tested with ``in`` but not listed, and a list made of them holds one stand-in that equals
    every ancestor's name. Attribute names are the instance's (``attributes``); whether one is a
    relation is told from its value (an instance, or a list of instances).
    """

    def __init__(self, name: str, instance: Optional[Instance] = None) -> None:
        Entity.__init__(self, name.rsplit("::", 1)[-1])
        self._full_name = name
        self._instance = instance

    def get_full_name(self) -> str:
        return self._full_name

    def type_string(self) -> str:
        return self._full_name

    def get_all_parent_names(self) -> "AncestorNames":
        return AncestorNames(self._full_name, self._instance)

    def get_all_attribute_names(self) -> list:
        return self._instance.attributes() if self._instance is not None else []

    def get_attribute(self, name: str) -> Optional[Attribute]:
        if self._instance is None:
            return None
        try:
            value = self._instance.get_attribute(name)
        except NotFoundException:
            return None
        is_relation = isinstance(value, Instance) or (
            isinstance(value, list) and bool(value) and all(isinstance(v, Instance) for v in value)
        )
        if is_relation:
            return RelationAttribute(self, None, name)
        return Attribute(self, None, name)

    def is_subclass(self, other: object) -> bool:
        name = other.get_full_name() if hasattr(other, "get_full_name") else str(other)
        return name in self.get_all_parent_names()

    def __str__(self) -> str:
        return self._full_name

    __repr__ = __str__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EntityTypeRef) and other._full_name == self._full_name

    def __hash__(self) -> int:
        return hash(self._full_name)


class AncestorNames:
    """The names of an entity's ancestors (not its own): ``in`` asks Cairn (``isa``)."""

    def __init__(self, own: str, instance: Optional[Instance]) -> None:
        self._own = own
        self._instance = instance

    def __contains__(self, name: object) -> bool:
        if self._instance is None or not isinstance(name, str) or name == self._own:
            return False
        return self._instance.isa(name)

    def __iter__(self):
        if self._instance is not None:
            yield AncestorName(self)

    def __len__(self) -> int:
        return 1 if self._instance is not None else 0

    def __repr__(self) -> str:
        return f"<ancestors of {self._own}>"


class AncestorName(str):
    """Stands for every ancestor name at once in a list: equal to a name the entity inherits."""

    def __new__(cls, names: AncestorNames) -> "AncestorName":
        obj = str.__new__(cls, repr(names))
        obj._names = names
        return obj

    def __eq__(self, other: object) -> bool:
        if isinstance(other, AncestorName):
            return other._names is self._names
        return other in self._names

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = str.__hash__


class SequenceProxy(DynamicProxy, JSONSerializable):
    def __init__(self, iterator: object) -> None:
        DynamicProxy.__init__(self, iterator)

    def __getitem__(self, key: object) -> object:
        if isinstance(key, str):
            raise RuntimeException(self, f"can not get a attribute {key}, {self._get_instance()} is a list")
        items = self._get_instance()
        if isinstance(key, slice):
            return SequenceProxy(list(items[key]))
        return DynamicProxy.return_value(items[key])

    def __len__(self) -> int:
        return len(self._get_instance())

    def __iter__(self):
        return IteratorProxy(iter(self._get_instance()))

    def __contains__(self, item: object) -> bool:
        if isinstance(item, DynamicProxy):
            item = item._get_instance()
        return item in self._get_instance()

    def __bool__(self) -> bool:
        return len(self._get_instance()) > 0

    def json_serialization_step(self) -> list:
        return [i for i in self]


class DictProxy(DynamicProxy, Mapping, JSONSerializable):
    def __init__(self, mydict: dict) -> None:
        DynamicProxy.__init__(self, mydict)

    def __getitem__(self, key: object) -> object:
        if not isinstance(key, str):
            raise RuntimeException(self, f"Expected string key, but got {key}, {self._get_instance()} is a dict")
        return DynamicProxy.return_value(self._get_instance()[key])

    def __len__(self) -> int:
        return len(self._get_instance())

    def __iter__(self):
        return IteratorProxy(iter(self._get_instance()))

    def __contains__(self, key: object) -> bool:
        return key in self._get_instance()

    def __bool__(self) -> bool:
        return len(self._get_instance()) > 0

    # Mapping's mixins are defined on the class, DynamicProxy.__eq__ wins by MRO
    __hash__ = DynamicProxy.__hash__

    def json_serialization_step(self) -> dict:
        return {k: v for k, v in self.items()}


class CallProxy(DynamicProxy):
    def __init__(self, instance: object) -> None:
        DynamicProxy.__init__(self, instance)

    def __call__(self, *args: object, **kwargs: object) -> object:
        return self._get_instance()(*args, **kwargs)


class IteratorProxy(DynamicProxy):
    def __init__(self, iterator: object) -> None:
        DynamicProxy.__init__(self, iterator)

    def __iter__(self):
        return self

    def __next__(self) -> object:
        return DynamicProxy.return_value(next(self._get_instance()))
