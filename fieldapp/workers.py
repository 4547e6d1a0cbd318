"""A background thread with prompt start, stop and wake-up (the push sender, the POR feed), and one that does a task
periodically on a connection of its own (the follow-up reminders, the daily purge)."""

from __future__ import annotations

import logging
import threading

from fieldapp.db import open_db


class BackgroundWorker:
    """Subclasses implement _run(), which loops until self._stop is set and waits on self._wake."""

    thread_name = "fieldapp-worker"
    join_seconds = 5.0

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._before_start()
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to stop and wait for it (at most join_seconds)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(self.join_seconds)
            self._thread = None

    def wake(self) -> None:
        """Look at the queue now instead of at the next poll."""
        self._wake.set()

    def _before_start(self) -> None:
        """Reset per-run state (queues) before the thread starts."""

    def _run(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class PeriodicWorker(BackgroundWorker):
    """Runs once_on(db) `first_seconds` after start and then every `every_seconds` (both from `settings.extra` under
    the names given by `setting`, for tests), each time on a connection of its own. A failure is logged and the next
    round tries again: a busy or broken database must not end the task."""

    setting = "worker"  # settings.extra: <setting>_first_seconds, <setting>_every_seconds
    first_default = 300.0
    every_default = 3600.0
    log = logging.getLogger("fieldapp.workers")

    def __init__(self, settings) -> None:
        extra = settings.extra or {}
        self.settings = settings
        self.first_seconds = float(extra.get(f"{self.setting}_first_seconds", self.first_default))
        self.every_seconds = float(extra.get(f"{self.setting}_every_seconds", self.every_default))
        self.runs = 0
        super().__init__()

    def once_on(self, db) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _run(self) -> None:
        wait = self.first_seconds
        while not self._stop.wait(wait):
            db = open_db(self.settings.db_path)
            try:
                self.once_on(db)
                self.runs += 1
            except Exception:
                self.log.exception("%s failed; trying again in %s s", self.thread_name, self.every_seconds)
            finally:
                db.conn.close()
            wait = self.every_seconds
