"""Per-process serving housekeeping, off the request path: one daemon thread per process.

A serving process keeps state that must follow the database: the catalog snapshot (its
fingerprint checked every 5 s), the active model version and the merchandising rules and
settings (every 2 s), and the buffered API traffic counters (flushed every 5 s). Done by
whichever request found them due, each cost that request a query or a transaction (the
catalog check 40-200 ms at 100k items): they made the storefront's tail latency.

With ``JEWELREC_BACKGROUND_REFRESH`` (on outside tests) this thread runs them all and
requests only read what it keeps current. A request still loads what is missing (the
first use, or a value a change in this process invalidated), and does the work itself when
the thread is off or not running, so nothing depends on the thread to be correct.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings

logger = logging.getLogger(__name__)
TICK_SECONDS = 0.25


@dataclass
class _Task:
    run: Callable[[], None]
    interval: Callable[[], float]
    due: float = 0.0


class Housekeeper:
    """Runs registered periodic tasks in one daemon thread per process (started on first
    use in each process: a thread started before a fork does not run in the child)."""

    def __init__(self) -> None:
        self._tasks: dict[str, _Task] = {}
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def register(self, name: str, run: Callable[[], None], interval: Callable[[], float] | float) -> None:
        """Run ``run`` every ``interval`` seconds (a callable is read each round, so a
        changed setting applies); registering a name again replaces its task."""
        every = interval if callable(interval) else (lambda: float(interval))
        with self._lock:
            self._tasks[name] = _Task(run, every, time.monotonic() + every())

    def running(self) -> bool:
        """Whether this process's thread keeps the registered state current: starts it when
        the setting is on and it is not running here yet."""
        if not getattr(settings, "JEWELREC_BACKGROUND_REFRESH", False):
            return False
        thread = self._thread
        if self._pid == os.getpid() and thread is not None and thread.is_alive():
            return True
        with self._lock:
            if self._pid != os.getpid() or self._thread is None or not self._thread.is_alive():
                self._pid = os.getpid()
                self._stopping.clear()
                self._thread = threading.Thread(target=self._loop, name="serving-housekeeping", daemon=True)
                self._thread.start()
        return True

    def _loop(self) -> None:
        from django.db import connection

        try:
            while not self._stopping.wait(TICK_SECONDS):
                now = time.monotonic()
                with self._lock:
                    due = [(name, task) for name, task in self._tasks.items() if task.due <= now]
                for name, task in due:
                    connection.close_if_unusable_or_obsolete()  # this thread's own connection
                    try:
                        task.run()
                    except Exception:  # noqa: BLE001 - keep what is served; retry next round
                        logger.exception("serving housekeeping task %s failed", name)
                    task.due = time.monotonic() + task.interval()
        finally:
            connection.close()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop this process's thread (tests; a clean shutdown); the next ``running`` starts
        a new one."""
        self._stopping.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        self._thread, self._pid = None, None


housekeeper = Housekeeper()
