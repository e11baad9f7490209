"""Compiler exceptions and the few AST helpers modules name."""

from typing import Optional


class Location:
    def __init__(self, file: str = "", lnr: int = 0) -> None:
        self.file = file
        self.lnr = lnr

    def __str__(self) -> str:
        return f"{self.file}:{self.lnr}"


class Range(Location):
    def __init__(self, file: str = "", start_lnr: int = 0, start_char: int = 0, end_lnr: int = 0, end_char: int = 0) -> None:
        super().__init__(file, start_lnr)
        self.start_char = start_char
        self.end_lnr = end_lnr
        self.end_char = end_char


class Locatable:
    location: Optional[Location] = None

    def get_location(self) -> Optional[Location]:
        return self.location


class Namespace:
    """A module namespace, as far as plugins look at it (its full name)."""

    def __init__(self, name: str, parent: "Optional[Namespace]" = None) -> None:
        self.name = name
        self.parent = parent

    def get_full_name(self) -> str:
        return self.name

    def get_name(self) -> str:
        return self.name.rsplit("::", 1)[-1]

    def __str__(self) -> str:
        return self.name


class CompilerException(Exception):
    """Base of every compiler error."""

    def __init__(self, msg: str = "") -> None:
        super().__init__(msg)
        self.msg = msg
        self.location: Optional[Location] = None

    def get_message(self) -> str:
        return self.msg

    def set_location(self, location: Location) -> None:
        self.location = location

    def __str__(self) -> str:
        return self.msg


class RuntimeException(CompilerException):
    def __init__(self, stmt: object = None, msg: str = "") -> None:
        super().__init__(msg)
        self.stmt = stmt


class TypingException(RuntimeException):
    pass


class KeyException(RuntimeException):
    pass


class IndexException(RuntimeException):
    pass


class DuplicateException(RuntimeException):
    def __init__(self, stmt: object = None, other: object = None, msg: str = "") -> None:
        super().__init__(stmt, msg)
        self.other = other


class NotFoundException(RuntimeException):
    def __init__(self, stmt: object = None, name: object = None, msg: Optional[str] = None) -> None:
        super().__init__(stmt, msg if msg is not None else f"could not find value {name}")
        self.name = name


class TypeNotFoundException(RuntimeException):
    def __init__(self, type: object = None, ns: object = None) -> None:
        super().__init__(None, f"could not find type {type} in namespace {ns}")
        self.type = type
        self.ns = ns


class OptionalValueException(RuntimeException):
    def __init__(self, instance: object = None, attribute: object = None) -> None:
        super().__init__(None, f"Optional variable accessed that has no value (attribute `{attribute}` of `{instance}`)")
        self.instance = instance
        self.attribute = attribute


class ExternalException(RuntimeException):
    def __init__(self, stmt: object = None, msg: str = "", cause: Optional[BaseException] = None) -> None:
        super().__init__(stmt, msg)
        self.__cause__ = cause


class ExplicitPluginException(ExternalException):
    pass


class WrappingRuntimeException(RuntimeException):
    def __init__(self, stmt: object = None, msg: str = "", cause: Optional[BaseException] = None) -> None:
        super().__init__(stmt, msg)
        self.__cause__ = cause


class AttributeException(WrappingRuntimeException):
    def __init__(self, stmt: object = None, instance: object = None, attribute: str = "", cause: Optional[BaseException] = None) -> None:
        super().__init__(stmt, f"Could not set attribute `{attribute}` on instance `{instance}`", cause)
        self.instance = instance
        self.attribute = attribute


class UnsetException(RuntimeException):
    """A value that is not available yet was read."""

    def __init__(self, msg: str = "", instance: object = None, attribute: object = None) -> None:
        super().__init__(None, msg)
        self.instance = instance
        self.attribute = attribute

    def get_result_variable(self) -> object:
        return self.instance


class MultiUnsetException(RuntimeException):
    def __init__(self, msg: str = "", result_variables: object = ()) -> None:
        super().__init__(None, msg)
        self.result_variables = list(result_variables)
