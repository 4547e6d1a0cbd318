"""The POR feed's background thread: sends due outbox rows, sleeps until the next one, stops promptly.

It opens its own database connection (the app's single connection belongs to the request path).
Tuning for tests comes from `settings.extra`: por_backoff_base, por_backoff_max, por_poll_seconds,
por_timeout (seconds).
"""

from __future__ import annotations

import logging
import time

from fieldapp import por
from fieldapp.clock import utcnow
from fieldapp.db import open_db
from fieldapp.workers import BackgroundWorker

log = logging.getLogger("fieldapp.por")


class PorWorker(BackgroundWorker):
    """Delivers the outbox to settings.por_url until stop() is called."""

    thread_name = "fieldapp-por-worker"

    def __init__(self, settings):
        extra = settings.extra or {}
        self.settings = settings
        self.url = settings.por_url
        self.token = settings.por_token
        self.backoff_base = float(extra.get("por_backoff_base", por.DEFAULT_BACKOFF_BASE))
        self.backoff_max = float(extra.get("por_backoff_max", por.DEFAULT_BACKOFF_MAX))
        self.poll_seconds = float(extra.get("por_poll_seconds", 2.0))
        self.timeout = float(extra.get("por_timeout", 5.0))
        self._paused_until = 0.0   # monotonic time: the endpoint asked us to wait (or was unreachable)
        self.join_seconds = self.timeout + 2
        super().__init__()

    def wake(self) -> None:
        """Look at the queue now instead of at the next poll (after 'retry now')."""
        self._paused_until = 0.0
        super().wake()

    def _run(self) -> None:
        import httpx

        db = open_db(self.settings.db_path)
        timeout = httpx.Timeout(self.timeout, connect=min(self.timeout, 2.0))
        try:
            with httpx.Client(timeout=timeout, follow_redirects=False) as client:
                while not self._stop.is_set():
                    try:
                        sent = self._send_due(db, client)
                    except Exception:  # a database hiccup must not end the feed; try again after a pause
                        log.exception("POR delivery round failed")
                        sent = 0
                    if not sent:
                        self._sleep(db)
        finally:
            db.conn.close()

    def _send_due(self, db, client) -> int:
        if time.monotonic() < self._paused_until:
            return 0
        sent = 0
        for row in por.due(db):
            if self._stop.is_set():
                break
            outcome = por.deliver(db, client, row, self.url, self.token,
                                  backoff_base=self.backoff_base, backoff_max=self.backoff_max)
            sent += 1
            if outcome.hold_queue:
                self._paused_until = time.monotonic() + outcome.wait
                break
        return sent

    def _sleep(self, db) -> None:
        wait = self.poll_seconds
        next_at = por.next_due_at(db)
        if next_at is not None:
            wait = min(wait, max(0.0, (next_at - utcnow()).total_seconds()))
        wait = max(wait, self._paused_until - time.monotonic(), 0.01)
        self._wake.wait(min(wait, self.poll_seconds))
        self._wake.clear()


def install(db, settings, on_startup: list, on_shutdown: list) -> PorWorker | None:
    """Record the endpoint in the database and, when one is set, start the worker with the app."""
    por.configure(db, settings.por_url)
    if not settings.por_url:
        return None
    worker = PorWorker(settings)
    on_startup.append(worker.start)
    on_shutdown.append(worker.stop)
    return worker
