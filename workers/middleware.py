"""Cross-cutting worker concerns as Dramatiq middleware: the browser's lifecycle."""

from __future__ import annotations

import dramatiq

from workers.runtime import Runtime


class BrowserLifecycle(dramatiq.Middleware):
    """Start Chromium when the worker boots and close it when the worker shuts down."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self.runtime.browser.start()

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        # After, not before: Worker.stop lets running captures finish first, and
        # they need the browser until then.
        self.runtime.browser.stop()
