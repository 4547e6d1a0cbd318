"""The situation picture's backlog after a restart, applied in a background thread so the server answers at once.

A crash right after a sync's commit (or a stop during a storm) leaves records that the projections have not
applied yet; applying tens of thousands of them took up to 35 s, and the server did not answer meanwhile.
This thread has its own connection and calls projections.catch_up() for CHUNK records at a time, one short
write transaction each, and then leaves the lock free for at least as long as it held it: SQLite does not
queue writers, and back-to-back transactions would starve the requests' writes (and the workers' start). Each chunk reads the cursor
inside its transaction, so a request-path catch_up() running at the same time never applies a record twice.
The picture pages say "updating" while projections.behind() > 0.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time

from fieldapp import projections
from fieldapp.db import open_db, unavailable_reason
from fieldapp.workers import BackgroundWorker

log = logging.getLogger("fieldapp.catch_up")
CHUNK = 200  # records per transaction: about 15 ms of holding the write lock
MIN_PAUSE = 0.005


class CatchUpWorker(BackgroundWorker):
    """Applies the backlog once, then stops."""

    thread_name = "fieldapp-catch-up"

    def __init__(self, settings):
        self.settings = settings
        self.applied = 0
        self.finished = threading.Event()
        super().__init__()

    def _run(self) -> None:
        db = None
        try:
            db = open_db(self.settings.db_path)
            while not self._stop.is_set():
                began = time.monotonic()
                try:
                    applied = projections.catch_up(db, chunk=CHUNK, most=CHUNK)
                except sqlite3.OperationalError as exc:
                    if unavailable_reason(exc) is None:
                        raise
                    log.warning("catching up waits: database %s", unavailable_reason(exc))
                    self._stop.wait(1.0)
                    continue
                if not applied:
                    log.info("situation picture caught up: %d records applied", self.applied)
                    break
                self.applied += applied
                self._stop.wait(max(MIN_PAUSE, time.monotonic() - began))
        except Exception:
            log.exception("catching up the situation picture stopped; the next write continues it")
        finally:
            if db is not None:
                db.conn.close()
            self.finished.set()


def install(db, settings, on_startup: list, on_shutdown: list) -> CatchUpWorker | None:
    """A worker that starts with the server when records wait to be projected; None when the picture is current."""
    if projections.behind(db) <= 0:
        return None
    worker = CatchUpWorker(settings)
    on_startup.append(worker.start)
    on_shutdown.append(worker.stop)
    return worker
