"""The running sandbox: settings, store, clock and the background worker together.

The worker and the wall-clock due work are flows (``flows.delivery``,
``flows.scheduler``): whoever builds the sandbox passes them in (``app.build_sandbox``),
so this module, which every layer uses, imports nothing above ``core``.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Protocol

from ..settings import SandboxSettings
from .calls import ApiCallCounter
from .clock import Clock
from .store import Store

log = logging.getLogger(__name__)


class Worker(Protocol):
    """The background worker (``flows.delivery.DeliveryWorker``)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def wake(self) -> None: ...

    def run_once(self, now: float | None = None) -> int: ...


class Sandbox:
    """One sandbox's state and background work; shared by the API and the pages."""

    def __init__(
        self,
        settings: SandboxSettings,
        *,
        worker: Callable[[Sandbox], Worker],
        due_work: Callable[[Sandbox], None],
    ) -> None:
        """``worker(sandbox)`` makes the background worker; ``due_work(sandbox)`` runs
        everything due by the wall clock (``run_due_work``)."""
        self.settings = settings
        self.store = Store(settings.db_path)
        self.clock = Clock(self.store)
        self.worker = worker(self)
        self._due_work = due_work
        #: Randomness of shuffled deliveries (seeded by ``settings.random_seed``).
        self.random = random.Random(settings.random_seed)  # noqa: S311 - not for security
        #: Wall-clock tasks that failed: key -> (failures so far, unix time of next try).
        self.task_failures: dict[str, tuple[int, float]] = {}
        #: API requests answered, per route (``GET|DELETE /dashboard/api-calls``).
        self.api_calls = ApiCallCounter()

    def wake_worker(self) -> None:
        """Tell the worker new deliveries are queued."""
        self.worker.wake()

    def run_due_work(self) -> None:
        """Run everything due by the wall clock (expiries, settlements, renewals)."""
        self._due_work(self)

    def start(self) -> None:
        """Start background work."""
        self.worker.start()

    def close(self) -> None:
        """Stop background work and close the store."""
        self.worker.stop()
        self.store.close()

    def reset(self) -> None:
        """Forget every object, event and delivery."""
        self.store.reset()
        self.task_failures.clear()
        log.info("sandbox state reset (%s)", self.settings.db_path)
