"""``inmanta.agent.agent``: modules import it next to their handlers; the host runs no agent."""

__all__ = ["Agent", "AgentInstance"]


class AgentInstance:
    """The agent a handler runs in; only a name to annotate with in the host."""

    def __init__(self, name: str = "", *args: object, **kwargs: object) -> None:
        self.name = name


class Agent:
    """The agent process; never started by Cairn's plugin host."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        raise NotImplementedError("Cairn's plugin host runs no agent")
