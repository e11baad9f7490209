from inmanta.plugins import plugin


@plugin
def double(x: "int") -> "int":
    return 2 * x
