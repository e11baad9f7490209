"""Execution-time values: proxies and markers."""
