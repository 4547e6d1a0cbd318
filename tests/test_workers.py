"""The periodic background threads (fieldapp/workers.py PeriodicWorker: follow-up reminders, the daily purge)."""

from __future__ import annotations

import logging
import time

from fieldapp.db import open_db
from fieldapp.settings import Settings
from fieldapp.workers import PeriodicWorker


class _Flaky(PeriodicWorker):
    thread_name = "fieldapp-test-flaky"
    setting = "flaky"

    def __init__(self, settings):
        self.tries: list[bool] = []  # each round: whether it had a usable connection
        super().__init__(settings)

    def once_on(self, db) -> None:
        self.tries.append(db.execute("SELECT 1").fetchone() == (1,))
        if len(self.tries) == 1:
            raise RuntimeError("database is locked")  # the first round fails


def test_a_round_that_fails_is_logged_and_the_next_round_runs_on_a_new_connection(tmp_path, caplog):
    settings = Settings(db_path=tmp_path / "worker.db", extra={"flaky_first_seconds": 0.01,
                                                                 "flaky_every_seconds": 0.05})
    open_db(settings.db_path).conn.close()
    worker = _Flaky(settings)
    assert (worker.first_seconds, worker.every_seconds) == (0.01, 0.05)  # from settings.extra, by its name
    with caplog.at_level(logging.ERROR, logger="fieldapp.workers"):
        worker.start()
        try:
            deadline = time.monotonic() + 10
            while worker.runs < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            worker.stop()
    assert worker.runs >= 2 and all(worker.tries)
    assert len(worker.tries) == worker.runs + 1  # the failed round is not counted as run
    assert [r for r in caplog.records if "fieldapp-test-flaky failed" in r.getMessage() and r.exc_info]
    assert not worker.running


def test_defaults_apply_without_settings(tmp_path):
    worker = _Flaky(Settings(db_path=tmp_path / "worker.db"))
    assert (worker.first_seconds, worker.every_seconds) == (300.0, 3600.0)
