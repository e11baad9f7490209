"""``inmanta.ast.entity.Entity``: a name for annotations and isinstance checks only.

Entities live in Cairn; plugins see instances through ``DynamicProxy``.
"""


class Entity:
    def __init__(self, name: str = "", namespace: object = None) -> None:
        self.name = name
        self.namespace = namespace

    def get_full_name(self) -> str:
        return self.name
