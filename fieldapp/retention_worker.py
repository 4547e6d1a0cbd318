"""The daily purge while the server runs: a thread with its own connection that runs retention.purge() a few
minutes after start and then once a day (`settings.extra`: retention_first_seconds, retention_every_seconds)."""

from __future__ import annotations

import logging

from fieldapp import retention
from fieldapp.workers import PeriodicWorker


class RetentionWorker(PeriodicWorker):
    thread_name = "fieldapp-retention"
    setting = "retention"
    first_default, every_default = 300.0, 24 * 3600.0
    log = logging.getLogger("fieldapp.retention")

    def __init__(self, settings):
        self.periods = retention.Periods.from_settings(settings)
        super().__init__(settings)

    def once_on(self, db) -> None:
        self.log.info(retention.summary(retention.purge(db, self.periods)))


def install(settings, on_startup: list, on_shutdown: list) -> RetentionWorker:
    """Register the daily purge with the app's start and stop."""
    worker = RetentionWorker(settings)
    on_startup.append(worker.start)
    on_shutdown.append(worker.stop)
    return worker
