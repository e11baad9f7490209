"""Value markers used by plugins: ``Unknown`` and ``NoneValue``."""


class AnyType:
    """Base of the marker values."""


class Unknown(AnyType):
    """A value that is not known during this compile (it will be known in a later one)."""

    def __init__(self, source: object = None) -> None:
        self.source = source

    def __iter__(self):
        return iter(())

    def __repr__(self) -> str:
        return "Unknown"

    __str__ = __repr__


class NoneValue:
    """The model's ``null`` inside the compiler domain (plugins see ``None``)."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NoneValue)

    def __hash__(self) -> int:
        return hash(None)

    def __repr__(self) -> str:
        return "null"

    __str__ = __repr__
