"""The follow-up reminders while the server runs: a thread with its own connection that sends the due day's
reminders (followups.remind_due) five minutes after start and then every hour, so a follow-up made or reassigned
during its due day is reminded that day too (`settings.extra`: followup_first_seconds, followup_every_seconds)."""

from __future__ import annotations

import logging

from fieldapp import followups
from fieldapp.db import open_db
from fieldapp.workers import BackgroundWorker

log = logging.getLogger("fieldapp.followups")


class FollowupWorker(BackgroundWorker):
    thread_name = "fieldapp-followups"

    def __init__(self, settings, wake_push=None):
        extra = settings.extra or {}
        self.settings = settings
        self.wake_push = wake_push
        self.first_seconds = float(extra.get("followup_first_seconds", 300))
        self.every_seconds = float(extra.get("followup_every_seconds", 3600))
        self.runs = 0
        super().__init__()

    def _run(self) -> None:
        wait = self.first_seconds
        while not self._stop.wait(wait):
            db = open_db(self.settings.db_path)
            try:
                sent = followups.remind_due(db)
                self.runs += 1
                if sent:
                    log.info("%d follow-up reminders queued", sent)
                    if self.wake_push is not None:
                        self.wake_push()
            except Exception:  # a busy or broken database must not end the reminders: try again next round
                log.exception("follow-up reminders failed")
            finally:
                db.conn.close()
            wait = self.every_seconds


def install(settings, on_startup: list, on_shutdown: list, wake_push=None) -> FollowupWorker:
    """Register the reminders with the app's start and stop."""
    worker = FollowupWorker(settings, wake_push)
    on_startup.append(worker.start)
    on_shutdown.append(worker.stop)
    return worker
