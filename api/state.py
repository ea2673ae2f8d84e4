"""What every request handler may need, built once by the app factory."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine

from crawler.blobs import BlobStore
from crawler.settings import Settings

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
