"""What every request handler may need, built once by the app factory."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from sqlalchemy.engine import Engine

from crawler.blobs import BlobStore
from crawler.secrets import server_secret
from crawler.settings import Settings
from crawler.warcindex import IndexCache, index_cache

Dispatch = Callable[[Sequence[str]], None]


def _no_dispatch(_ids: Sequence[str]) -> None:
    """Index-only servers store work and leave delivery to a reconciler elsewhere."""


@dataclass
class AppState:
    settings: Settings
    engine: Engine
    blobs: BlobStore
    dispatch: Dispatch = field(default=_no_dispatch)
    node: Any = None  # the worker node in this process, when there is one (fleet views)
    replay_port: int = 0  # where this process serves the replay origin (0: none here)

    @property
    def warc_indexes(self) -> IndexCache:
        return index_cache(self.blobs)

    @cached_property
    def replay_key(self) -> bytes:
        """Signs replay capabilities; shared by every node through the store."""
        return server_secret(self.engine, "replay")
