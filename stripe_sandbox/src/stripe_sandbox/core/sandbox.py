"""The running sandbox: settings, store, clock and the delivery worker together."""

from __future__ import annotations

import logging
import random

from ..flows.delivery import DeliveryWorker
from ..settings import SandboxSettings
from .clock import Clock
from .store import Store

log = logging.getLogger(__name__)


class Sandbox:
    """One sandbox's state and background work; shared by the API and the pages."""

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        self.store = Store(settings.db_path)
        self.clock = Clock(self.store)
        self.worker = DeliveryWorker(self)
        #: Randomness of shuffled deliveries (seeded by ``settings.random_seed``).
        self.random = random.Random(settings.random_seed)  # noqa: S311 - not for security
        #: Wall-clock tasks that failed: key -> (failures so far, unix time of next try).
        self.task_failures: dict[str, tuple[int, float]] = {}

    def wake_worker(self) -> None:
        """Tell the worker new deliveries are queued."""
        self.worker.wake()

    def run_due_work(self) -> None:
        """Run everything due by the wall clock (expiries, settlements, renewals)."""
        from ..flows.scheduler import run_due_work

        run_due_work(self)

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
