"""Helpers modules import from ``inmanta.util``."""

import datetime
import enum
import hashlib
import json
import uuid
from typing import Any

from inmanta.execute.util import NoneValue, Unknown

__all__ = ["JSONSerializable", "Unknown", "NoneValue", "hash_file", "api_boundary_json_encoder", "internal_json_encoder"]


class JSONSerializable:
    """A value that turns itself into JSON-compatible data."""

    def json_serialization_step(self) -> Any:
        raise NotImplementedError()


def hash_file(content: bytes) -> str:
    """The hash Inmanta's file store uses for content: the sha1 hex digest."""
    return hashlib.sha1(content).hexdigest()


def _encoder(o: object) -> object:
    if isinstance(o, JSONSerializable):
        return o.json_serialization_step()
    if isinstance(o, (uuid.UUID, datetime.datetime, datetime.date)):
        return str(o)
    if isinstance(o, enum.Enum):
        return o.value
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    if isinstance(o, NoneValue):
        return None
    if isinstance(o, Unknown):
        raise ValueError("an unknown value can not be serialized")
    raise TypeError(f"{type(o).__name__} is not JSON serializable")


def api_boundary_json_encoder(o: object) -> object:
    return _encoder(o)


def internal_json_encoder(o: object) -> object:
    return _encoder(o)


def json_encode(value: object) -> str:
    return json.dumps(value, default=_encoder)
