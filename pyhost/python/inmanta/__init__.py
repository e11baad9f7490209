"""Cairn's own implementation of the part of Inmanta's Python API that modules use.

This package is not Inmanta: it is the shim that Cairn's plugin host puts first on
``sys.path`` so that published modules' plugins and resource declarations import and run.
Handlers are never run here; the agent-side names exist only so that modules import.
"""

__version__ = "0+cairn"
