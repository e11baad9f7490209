"""Reference values: Cairn has none. The names exist so that modules that declare them import;
creating a reference in a plugin raises."""

from typing import Any, Callable, Generic, TypeVar

T = TypeVar("T")

ArgumentTypes = Any

REFERENCES: dict = {}


class Reference(Generic[T]):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("Cairn does not support reference values (inmanta.references.Reference)")

    def resolve(self, logger: Any) -> T:
        raise NotImplementedError("Cairn does not support reference values")


def reference(name: str) -> Callable[[type], type]:
    """``@reference("mod::Name")``: records the class."""

    def register(cls: type) -> type:
        REFERENCES[name] = cls
        return cls

    return register
