"""The Web Push sender: a background thread working the persistent queue (push_deliveries) off the request path.

One coordinating thread claims due deliveries, hands them to a small pool of sender threads (each
with its own keep-alive HTTP session), and writes the answers back in short transactions. It has
its own database connection (the app's single connection belongs to the request path). A restart
resumes from the table: unsent claimed rows are released at stop, and a crash leaves only leases
that come due again (at least once; the notification's tag makes a repeat replace, not add).
Concurrency is settings.push_concurrency; tests may override it and the timing through `settings.extra`:
push_concurrency, push_poll_seconds, push_timeout (seconds).
"""

from __future__ import annotations

import logging
import queue
import threading
import time

from fieldapp import push
from fieldapp.alerts import deliveries
from fieldapp.alerts.subscriptions import allowed_push_hosts
from fieldapp.clock import iso, utcnow
from fieldapp.db import open_db, write
from fieldapp.workers import BackgroundWorker

log = logging.getLogger("fieldapp.push")
FLUSH_EVERY = 0.25   # seconds: how long answers may wait before they are written
FLUSH_SIZE = 100


class PushWorker(BackgroundWorker):
    """Sends queued alert deliveries until stop() is called."""

    thread_name = "fieldapp-push-worker"

    def __init__(self, settings):
        extra = settings.extra or {}
        self.settings = settings
        self.concurrency = max(1, int(extra.get("push_concurrency", settings.push_concurrency)))
        self.poll_seconds = float(extra.get("push_poll_seconds", 1.0))
        self.timeout = float(extra.get("push_timeout", 10.0))
        self._jobs: queue.Queue = queue.Queue()
        self._results: queue.Queue = queue.Queue()
        super().__init__()

    def _before_start(self) -> None:
        self._jobs, self._results = queue.Queue(), queue.Queue()

    # -- threads --

    def _run(self) -> None:
        db = open_db(self.settings.db_path)
        jobs, results = self._jobs, self._results
        self._senders: list[threading.Thread] = []
        try:
            self._vapid = push.load_vapid(self.settings)
            self._loop(db, jobs, results)
        except Exception:
            log.exception("push worker stopped by an error")
        finally:
            self._release_unsent(db, jobs)
            for _ in self._senders:
                jobs.put(None)
            db.conn.close()

    def _ensure_senders(self, jobs: queue.Queue, results: queue.Queue) -> None:
        """Start the sender pool when there is first something to send (most app instances never need it)."""
        while len(self._senders) < self.concurrency:
            thread = threading.Thread(target=self._sender, args=(self._vapid, jobs, results),
                                      name=f"fieldapp-push-sender-{len(self._senders)}", daemon=True)
            thread.start()
            self._senders.append(thread)

    def _loop(self, db, jobs: queue.Queue, results: queue.Queue) -> None:
        in_flight = 0
        answers: list = []
        last_flush = time.monotonic()
        while not self._stop.is_set():
            try:
                room = self.concurrency * 4 - in_flight
                if room > 0:
                    for row in deliveries.claim_due(db, room):
                        self._ensure_senders(jobs, results)
                        jobs.put(row)
                        in_flight += 1
                if in_flight > len(answers):
                    try:
                        answers.append(results.get(timeout=0.05))
                        while True:
                            answers.append(results.get_nowait())
                    except queue.Empty:
                        pass
                waiting = in_flight - len(answers)
                if answers and (len(answers) >= FLUSH_SIZE or waiting == 0
                                or time.monotonic() - last_flush > FLUSH_EVERY):
                    deliveries.record_outcomes(db, answers)
                    in_flight -= len(answers)
                    answers = []
                    last_flush = time.monotonic()
                if not in_flight:
                    self._sleep(db)
            except Exception:  # a database hiccup must not end the sender; pause and look again
                log.exception("push delivery round failed")
                self._stop.wait(self.poll_seconds)
        if answers:
            deliveries.record_outcomes(db, answers)

    def _sender(self, vapid, jobs: queue.Queue, results: queue.Queue) -> None:
        import requests

        session = requests.Session()
        subject = self.settings.vapid_subject
        default_locale = self.settings.default_locale
        hosts = allowed_push_hosts(self.settings.push_hosts, self.settings.push_loopback)
        while True:
            row = jobs.get()
            if row is None or self._stop.is_set():
                if row is not None:
                    jobs.put(row)  # leave it for _release_unsent
                break
            try:
                data = push.payload(row["alert_id"], row["level"], row["locale"] or default_locale)
                outcome = push.send(row, data, vapid=vapid, subject=subject, timeout=self.timeout, session=session,
                                    allowed_hosts=hosts)
            except Exception as exc:  # every claimed row gets an answer, or the coordinator would wait for it
                log.exception("push send failed")
                outcome = push.Outcome(row["id"], "failed", error=f"{type(exc).__name__}: {exc}"[:200])
            results.put(outcome)
        session.close()

    def _sleep(self, db) -> None:
        wait = self.poll_seconds
        next_at = deliveries.next_due_at(db)
        if next_at is not None:
            wait = min(wait, max(0.0, (next_at - utcnow()).total_seconds()))
        self._wake.wait(max(wait, 0.01))
        self._wake.clear()

    @staticmethod
    def _release_unsent(db, jobs: queue.Queue) -> None:
        """Claimed rows never handed to a sender become due at once again (no waiting for the lease)."""
        ids = []
        while True:
            try:
                row = jobs.get_nowait()
            except queue.Empty:
                break
            if row is not None:
                ids.append((iso(utcnow()), row["id"]))
        if ids:
            try:
                with write(db):
                    db.conn.executemany("UPDATE push_deliveries SET next_attempt_at = ?, attempts = attempts - 1 "
                                        "WHERE id = ? AND state = 'queued'", ids)
            except Exception:
                log.exception("could not release unsent push deliveries")


def install(settings, on_startup: list, on_shutdown: list) -> PushWorker:
    """Create the VAPID keys on first start and run the sender with the app."""
    push.load_vapid(settings)
    worker = PushWorker(settings)
    on_startup.append(worker.start)
    on_shutdown.append(worker.stop)
    return worker
