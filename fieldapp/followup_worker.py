"""The follow-up reminders while the server runs: a thread with its own connection that sends the due day's
reminders (followups.remind_due) five minutes after start and then every hour, so a follow-up made or reassigned
during its due day is reminded that day too (`settings.extra`: followup_first_seconds, followup_every_seconds)."""

from __future__ import annotations

import logging

from fieldapp import followups
from fieldapp.workers import PeriodicWorker


class FollowupWorker(PeriodicWorker):
    thread_name = "fieldapp-followups"
    setting = "followup"
    first_default, every_default = 300.0, 3600.0
    log = logging.getLogger("fieldapp.followups")

    def __init__(self, settings, wake_push=None):
        self.wake_push = wake_push
        super().__init__(settings)

    def once_on(self, db) -> None:
        sent = followups.remind_due(db)
        if sent:
            self.log.info("%d follow-up reminders queued", sent)
            if self.wake_push is not None:
                self.wake_push()


def install(settings, on_startup: list, on_shutdown: list, wake_push=None) -> FollowupWorker:
    """Register the reminders with the app's start and stop."""
    worker = FollowupWorker(settings, wake_push)
    on_startup.append(worker.start)
    on_shutdown.append(worker.stop)
    return worker
