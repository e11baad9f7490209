"""Agent-side names, as far as modules need them to import (handlers never run in the host)."""
