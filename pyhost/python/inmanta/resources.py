"""Resource declarations: ``@resource`` classes and how a model instance maps to their fields.

Cairn asks the host for one field of one instance at a time (``map``); the host runs the
class's ``get_FIELD(exporter, instance)`` static method, its ``map`` entry, or reads the
attribute of the same name.
"""

import re
from typing import Any, Callable, Optional

from inmanta.execute.util import Unknown

__all__ = [
    "resource",
    "Resource",
    "PurgeableResource",
    "ManagedResource",
    "DiscoveryResource",
    "IgnoreResourceException",
    "ResourceNotFoundExcpetion",
    "ResourceException",
    "Id",
    "PARSE_ID_REGEX",
    "PARSE_RVID_REGEX",
    "to_id",
]


class ResourceException(Exception):
    pass


class ResourceNotFoundExcpetion(Exception):
    """No resource was found."""


class IgnoreResourceException(Exception):
    """Raised by a field mapping: this instance is not exported as a resource."""


class resource:  # noqa: N801 (Inmanta's name)
    """``@resource("mod::Entity", id_attribute="name", agent="host.name")`` registers a class."""

    _resources: dict = {}

    def __init__(self, name: str, id_attribute: str, agent: str) -> None:
        if not isinstance(agent, str):
            raise ResourceException(f"The agent parameter has to be a string, got {agent} of type {type(agent)}")
        self._cls_name = name
        self._options = {"agent": agent, "name": id_attribute}

    def __call__(self, cls: type) -> type:
        resource._resources[self._cls_name] = (cls, self._options)
        return cls

    @classmethod
    def get_class(cls, name: str) -> tuple:
        return cls._resources.get(name, (None, None))

    @classmethod
    def get_entity_resources(cls) -> list:
        return list(cls._resources.keys())

    @classmethod
    def get_resources(cls) -> list:
        return [(name, c) for name, (c, _o) in cls._resources.items()]

    @classmethod
    def reset(cls) -> None:
        cls._resources = {}

    @classmethod
    def validate(cls) -> None:
        pass


class ResourceMeta(type):
    """Merges the ``fields`` of a class over those of its bases.

    The merged tuple is ordered from the root class down (each class's own fields in the order
    it lists them, duplicates dropped), so it is the same on every run.
    """

    def __new__(mcs, class_name: str, bases: tuple, dct: dict) -> type:
        own = dct.get("fields", ())
        if not isinstance(own, (tuple, list)):
            raise Exception(f"fields attribute of {class_name} should be a tuple or list")
        dct["_cairn_own_fields"] = tuple(own)
        cls = type.__new__(mcs, class_name, bases, dct)
        merged: list = []
        for klass in reversed(cls.__mro__):
            for f in klass.__dict__.get("_cairn_own_fields", ()):
                if f not in merged:
                    merged.append(f)
        cls.fields = tuple(merged)
        return cls


RESERVED_FOR_RESOURCE = {"id", "version", "model", "requires", "unknowns", "set_version", "clone", "is_type", "serialize"}


class Resource(metaclass=ResourceMeta):
    """Base of every resource declaration."""

    fields: Any = ("send_event", "receive_events")
    map: dict = {}

    @staticmethod
    def get_send_event(_exporter: object, obj: object) -> bool:
        try:
            return obj.send_event
        except Exception:
            return False

    @staticmethod
    def get_receive_events(_exporter: object, obj: object) -> bool:
        try:
            return obj.receive_events
        except Exception:
            return True

    def __init__(self, _id: "Id") -> None:
        self.id = _id
        self.version = _id.version
        self.requires: set = set()
        self.resource_requires: set = set()
        self.unknowns: set = set()

    @classmethod
    def is_mapped(cls, field_name: str) -> bool:
        mapping = getattr(cls, "map", None)
        return hasattr(cls, "get_" + field_name) or (isinstance(mapping, dict) and field_name in mapping)

    @classmethod
    def map_field(cls, exporter: object, entity_name: str, field_name: str, model_object: object) -> object:
        """One field of one instance, in the plugin domain (proxies unwrapped by the caller)."""
        from inmanta.execute.proxy import UnknownException

        try:
            getter = getattr(cls, "get_" + field_name, None)
            mapping = getattr(cls, "map", None)
            if getter is not None:
                return getter(exporter, model_object)
            if isinstance(mapping, dict) and field_name in mapping:
                return mapping[field_name](exporter, model_object)
            return getattr(model_object, field_name)
        except UnknownException as e:
            return e.unknown

    @classmethod
    def kind(cls) -> str:
        for klass in cls.__mro__:
            if klass is ManagedResource:
                return "managed"
            if klass is PurgeableResource:
                return "purgeable"
        return "resource"

    def __str__(self) -> str:
        return str(self.id)

    def __repr__(self) -> str:
        return str(self.id)


class PurgeableResource(Resource):
    fields = ("purged", "purge_on_delete")


class DiscoveryResource(Resource):
    fields = ()


class ManagedResource(Resource):
    fields = ("managed",)

    @staticmethod
    def get_managed(exporter: object, obj: object) -> bool:
        if not obj.managed:
            raise IgnoreResourceException()
        return obj.managed


PARSE_ID_REGEX = re.compile(
    r"^(?P<id>(?P<type>(?P<ns>[\w-]+(::[\w-]+)*)::(?P<class>[\w-]+))\[(?P<hostname>[^,]+),"
    r"(?P<attr>[^=]+)=(?P<value>[^\]]+)\])(,v=(?P<version>[0-9]+))?$"
)

PARSE_RVID_REGEX = re.compile(
    r"^(?P<id>(?P<type>(?P<ns>[\w-]+(::[\w-]+)*)::(?P<class>[\w-]+))\[(?P<hostname>[^,]+),"
    r"(?P<attr>[^=]+)=(?P<value>[^\]]+)\]),v=(?P<version>[0-9]+)$"
)


class Id:
    """A resource id: ``type[agent,attribute=value]`` with an optional ``,v=version``."""

    def __init__(self, entity_type: str, agent_name: str, attribute: str, attribute_value: str, version: int = 0) -> None:
        self._entity_type = entity_type
        self._agent_name = agent_name
        self._attribute = attribute
        self._attribute_value = attribute_value
        self._version = version

    entity_type = property(lambda self: self._entity_type)
    agent_name = property(lambda self: self._agent_name)
    attribute = property(lambda self: self._attribute)
    attribute_value = property(lambda self: self._attribute_value)
    version = property(lambda self: self._version)

    def get_entity_type(self) -> str:
        return self._entity_type

    def get_agent_name(self) -> str:
        return self._agent_name

    def get_attribute(self) -> str:
        return self._attribute

    def get_attribute_value(self) -> str:
        return self._attribute_value

    def get_version(self) -> int:
        return self._version

    def resource_str(self) -> str:
        return f"{self._entity_type}[{self._agent_name},{self._attribute}={self._attribute_value}]"

    def resource_version_str(self) -> str:
        return f"{self.resource_str()},v={self._version}"

    def __str__(self) -> str:
        return self.resource_version_str() if self._version else self.resource_str()

    __repr__ = __str__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Id) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))

    @classmethod
    def parse_id(cls, resource_id: str, version: Optional[int] = None) -> "Id":
        match = PARSE_ID_REGEX.match(str(resource_id))
        if match is None:
            raise ValueError(f"Invalid id for resource {resource_id}")
        parts = match.groupdict()
        v = version if version is not None else int(parts["version"] or 0)
        return cls(parts["type"], parts["hostname"], parts["attr"], parts["value"], v)

    parse_resource_version_id = parse_id

    @classmethod
    def is_resource_version_id(cls, value: str) -> bool:
        return PARSE_RVID_REGEX.match(str(value)) is not None


def to_id(entity: object) -> Optional[str]:
    """The resource id of a model instance: not computable inside the plugin host."""
    raise ResourceException("Cairn's plugin host does not compute resource ids (inmanta.resources.to_id)")
