"""Amber's core: settings, the store, blobs, URL rules and the snapshot state machine.

Nothing here imports `api`, `workers`, `extractors` or `cli`; they import this.
"""

__version__ = "0.1.0"
