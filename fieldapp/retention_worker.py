"""The daily purge while the server runs: a thread with its own connection that runs retention.purge() a few
minutes after start and then once a day (`settings.extra`: retention_first_seconds, retention_every_seconds)."""

from __future__ import annotations

import logging

from fieldapp import retention
from fieldapp.db import open_db
from fieldapp.workers import BackgroundWorker

log = logging.getLogger("fieldapp.retention")


class RetentionWorker(BackgroundWorker):
    thread_name = "fieldapp-retention"

    def __init__(self, settings):
        extra = settings.extra or {}
        self.settings = settings
        self.periods = retention.Periods.from_settings(settings)
        self.first_seconds = float(extra.get("retention_first_seconds", 300))
        self.every_seconds = float(extra.get("retention_every_seconds", 24 * 3600))
        self.runs = 0
        super().__init__()

    def _run(self) -> None:
        wait = self.first_seconds
        while not self._stop.wait(wait):
            db = open_db(self.settings.db_path)
            try:
                log.info(retention.summary(retention.purge(db, self.periods)))
                self.runs += 1
            except Exception:  # a busy or broken database must not end the daily purge: try again tomorrow
                log.exception("retention purge failed")
            finally:
                db.conn.close()
            wait = self.every_seconds


def install(settings, on_startup: list, on_shutdown: list) -> RetentionWorker:
    """Register the daily purge with the app's start and stop."""
    worker = RetentionWorker(settings)
    on_startup.append(worker.start)
    on_shutdown.append(worker.stop)
    return worker
