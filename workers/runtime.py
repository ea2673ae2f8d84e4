"""What a worker process needs to capture: settings, store, blobs and its browser."""

from __future__ import annotations

import os
import socket
import threading
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from crawler.blobs import BlobStore
from crawler.clock import utcnow
from crawler.settings import Settings
from extractors.engine.browser import BrowserService


def make_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident() % 100000}"


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    blobs: BlobStore
    browser: BrowserService
    worker_id: str = field(default_factory=make_worker_id)
    started_at: object = field(default_factory=utcnow)
    counters: Counter[str] = field(default_factory=Counter)
    current: dict[int, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, key: str, amount: int = 1) -> None:
        with self.lock:
            self.counters[key] += amount
