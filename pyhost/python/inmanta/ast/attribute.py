"""Attribute kinds, as names modules import (the model itself lives in Cairn)."""


class Attribute:
    def __init__(self, entity: object = None, value_type: object = None, name: str = "") -> None:
        self.entity = entity
        self.type = value_type
        self.name = name

    def get_name(self) -> str:
        return self.name


class RelationAttribute(Attribute):
    def __init__(self, entity: object = None, value_type: object = None, name: str = "", low: int = 0, high: object = None) -> None:
        super().__init__(entity, value_type, name)
        self.low = low
        self.high = high
        self.end = None
