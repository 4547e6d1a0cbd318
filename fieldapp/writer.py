"""The one writer of sync batches: a thread with its own connection, group commit, and a bounded queue.

SQLite takes one writer at a time, and with `synchronous=FULL` every commit waits for the disk. A reconnect
storm (hundreds of devices sending their outboxes within a second) used to run each batch's ingest, its commit
and its projections on the event loop, one after the other, so every other request waited behind all of them
(500 x 50 records: the last answer after 22 s, the lead's map stalled meanwhile). Here:

- **One place for the writes.** Sync batches (and the sessions' sliding expiry) are queued to this thread;
  the event loop only decodes the request, waits for the answer without blocking, and encodes it. Reads
  stay on their own connections and run meanwhile (WAL: readers never wait for the writer).
- **Group commit.** The thread takes every batch waiting (up to GROUP_RECORDS records) into one transaction,
  each batch in a savepoint of its own (a failing batch rolls back alone), and commits once: one wait for
  the disk for the whole group. Nobody is answered before that commit, so an acknowledged record is on disk.
  A failure of the transaction itself (full disk, a lock held elsewhere) fails every batch of the group with
  that error (503 with Retry-After): nothing of them was stored and the devices send them again.
- **Admission control.** When more records already wait than the writer is expected to write in QUEUE_SECONDS
  (at its measured rate; at most `queue_records`, FIELDAPP_SYNC_QUEUE_RECORDS), a new batch is refused at once
  (QueueFull -> 503 with Retry-After) instead of queueing until the device's request times out; the device
  keeps its outbox and comes back as told (sync-client.js honours it, adding up to a second of its own). Each
  refused batch is given a turn after the ones refused before it, at the writer's measured rate (retry_after()),
  so a crowd comes back spread over the time the writer needs for it, not all at once.
- **Projections after, never before.** The situation picture, alerts and POR feed follow the records in
  bounded steps (projections.catch_up): at once on a quiet server; in a storm once no batch has come for
  PROJECT_AFTER_QUIET, or at the latest every PROJECT_EVERY seconds, so a storm is acknowledged first and the
  picture catches up right after (it says "updating" meanwhile).

Jobs run in the submitting request's contextvars (its language for the messages of refused records).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

from fieldapp import projections
from fieldapp.db import open_db, write, writes_waiting
from fieldapp.turns import Turns
from fieldapp.workers import BackgroundWorker

log = logging.getLogger("fieldapp.writer")
GROUP_RECORDS = 500  # most records in one transaction (50-150 ms of holding the write lock on the 2-core machine)
QUEUE_SECONDS = 0.5  # a batch is admitted while the writer is expected to get to it within this time
PROJECT_CHUNK = 200  # records the projections apply in one step (one short transaction)
# The projections cost more than the ingest (the hotspot rule reads each record's cell: about 3,000 records a
# second on the loaded 2-core machine, against 4,000-15,000 for the ingest), and in one process their Python
# takes the event loop's turns: in a storm they wait until no batch has come for PROJECT_AFTER_QUIET seconds
# (devices told to come back later leave such gaps), or at the latest PROJECT_EVERY seconds.
PROJECT_AFTER_QUIET = 1.0
PROJECT_EVERY = 10.0
PROJECTED_WAIT = 5.0  # seconds a sync request's background task waits for its records to be projected
LIGHT_RECORDS = 200  # fewer records than this in the last second: no storm, the projections follow at once
YIELD_SECONDS = 0.1  # most the writer waits for other connections' writes before its next transaction
DEFAULT_RATE = 5000.0  # records a second, until the writer has measured its own


class QueueFull(Exception):
    """Too many records wait for the writer: answer 503 with Retry-After (retry_after seconds) at once."""

    def __init__(self, retry_after: int):
        super().__init__(retry_after)
        self.retry_after = retry_after


@dataclass(eq=False)
class _Job:
    fn: Callable[[Any], Any]
    records: int
    context: contextvars.Context
    future: asyncio.Future | None = None
    loop: asyncio.AbstractEventLoop | None = None
    result: Any = None
    error: BaseException | None = None


class Writer(BackgroundWorker):
    """Runs write jobs on its own connection, in groups, one transaction per group."""

    thread_name = "fieldapp-writer"
    join_seconds = 30.0

    def __init__(self, db_path, queue_records: int, *, group_records: int = GROUP_RECORDS,
                 project: bool = True):
        super().__init__()
        self.db_path = db_path
        self.queue_records = queue_records
        self.group_records = group_records
        self.project = project
        self.db = None
        self.broken: BaseException | None = None  # why the thread could not open the database
        self.opened = threading.Event()  # set once the thread has its connection (self.db)
        self._lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._jobs: deque[_Job] = deque()
        self._waiting_records = 0
        self._projection_waiters: list[_Job] = []
        self._rate = DEFAULT_RATE  # records a second, measured (moving average over the groups)
        self._turns = Turns()  # Retry-After for refused batches
        self._paused = threading.Event()
        self._paused.set()
        self.groups = 0
        self.refused = 0
        self._last_batch = 0.0
        self._recent: deque[tuple[float, int]] = deque()  # (when, records) of the groups of the last second

    # ------------------------------------------------------------------ the event loop's side

    def stop(self) -> None:
        self._paused.set()
        super().stop()

    def _ensure_running(self) -> None:
        """Started with the app (on_startup); also on first use, for an app run without its lifespan (tests).
        A writer that could not open the database tries again at the next use."""
        if not self.running:
            with self._start_lock:
                if not self.running:
                    self.start()

    @property
    def waiting_records(self) -> int:
        return self._waiting_records

    def admit_records(self) -> int:
        """Most records that may wait: what the writer is expected to write in QUEUE_SECONDS at its measured rate
        (at least one group), never more than queue_records (FIELDAPP_SYNC_QUEUE_RECORDS)."""
        return min(self.queue_records, max(self.group_records, int(self._rate * QUEUE_SECONDS)))

    def retry_after(self, records: int) -> int:
        """Whole seconds a refused batch of `records` should wait: its turn (fieldapp/turns.py) after the records
        waiting and the turns given before, at the writer's measured rate. Before 2026-12-03 the turn was rounded
        up and 0-1 s added here on top of the client's own random second: devices came back 1.5 s late on
        average, and the last of a 500 x 50 storm was acknowledged after 6.0 s on a quiet machine (now 4.0 s)."""
        return self._turns.retry_after(self._rate, self._waiting_records, records)

    async def run(self, fn: Callable[[Any], Any], records: int = 1) -> Any:
        """fn(db) in the writer's transaction, in this request's context; its result, or its exception raised
        here. QueueFull (at once) when more than queue_records records wait already; a job of no records (a read's
        audit row, web.log_read) is never refused: it is one row, and what it logs was already read."""
        loop = asyncio.get_running_loop()
        job = _Job(fn, records, contextvars.copy_context(), loop.create_future(), loop)
        with self._lock:
            if records:
                self._admit(records)
            self._jobs.append(job)
            self._waiting_records += records
        self._ensure_running()
        self._wake.set()
        return await job.future

    def check(self, expected_records: int) -> None:
        """QueueFull when the queue is full already, before a request's body is even read (what it holds is only
        estimated here, for its turn; run() decides on the exact count)."""
        with self._lock:
            if self._waiting_records >= self.admit_records():
                self.refused += 1
                raise QueueFull(self.retry_after(max(1, expected_records)))

    def _admit(self, records: int) -> None:
        if self._waiting_records and self._waiting_records + records > self.admit_records():
            self.refused += 1
            raise QueueFull(self.retry_after(records))

    def later(self, fn: Callable[[Any], Any]) -> None:
        """fn(db) in a coming group, not waited for (a session's sliding expiry); never refused, failures logged."""
        job = _Job(fn, 0, contextvars.copy_context())
        with self._lock:
            self._jobs.append(job)
        self._ensure_running()
        self._wake.set()

    async def projected(self, most_seconds: float = PROJECTED_WAIT) -> None:
        """Returns once the projections have applied every record committed before this call, or after
        most_seconds (in a storm they come later; the waiting request must not hold up a shutdown)."""
        if not self.project:
            return
        loop = asyncio.get_running_loop()
        job = _Job(lambda db: None, 0, contextvars.copy_context(), loop.create_future(), loop)
        with self._lock:
            self._projection_waiters.append(job)
        self._ensure_running()
        self._wake.set()
        try:
            await asyncio.wait_for(job.future, most_seconds)
        except asyncio.TimeoutError:
            pass
        except RuntimeError:  # the server is stopping: the next start's catch-up applies the rest
            pass

    def pause(self) -> None:
        """Hold the thread before its next group (tests: make a queue build up)."""
        self._paused.clear()

    def resume(self) -> None:
        self._paused.set()
        self._wake.set()

    # ------------------------------------------------------------------ the thread

    def _run(self) -> None:
        try:
            self.db = open_db(self.db_path)
        except Exception as exc:  # every waiting request gets the error (a 503 for a lock, else a 500)
            log.exception("the sync writer cannot open the database")
            self.broken = exc
            self._fail_rest(exc)
            return
        self.broken = None
        self.opened.set()
        last_projection = time.monotonic()
        try:
            while True:
                self._paused.wait()
                group = self._take()
                if group:
                    self._write(group)
                    self._last_batch = time.monotonic()
                    if time.monotonic() - last_projection >= PROJECT_EVERY:
                        self._project_step()  # a storm that goes on: the picture still moves
                        last_projection = time.monotonic()
                    continue
                if self._stop.is_set():  # what is not projected yet is the next start's (catch_up_worker.py)
                    break
                quiet = time.monotonic() - self._last_batch
                if quiet >= PROJECT_AFTER_QUIET or self._light():
                    if self._project_step():
                        last_projection = time.monotonic()
                        continue
                    self._wake.wait(1.0)
                else:  # batches came a moment ago: more are likely, and they go first
                    self._wake.wait(PROJECT_AFTER_QUIET - quiet)
                self._wake.clear()
        finally:
            self._fail_rest(RuntimeError("the server is stopping"))
            self.db.conn.close()

    def _light(self) -> bool:
        """Fewer than LIGHT_RECORDS records written in the last second: no storm, project at once."""
        now = time.monotonic()
        while self._recent and self._recent[0][0] < now - 1.0:
            self._recent.popleft()
        return sum(records for _when, records in self._recent) < LIGHT_RECORDS

    def _take(self) -> list[_Job]:
        group, records = [], 0
        with self._lock:
            while self._jobs and (not group or records + self._jobs[0].records <= self.group_records):
                job = self._jobs.popleft()
                group.append(job)
                records += job.records
        return group

    def _let_others_go_first(self) -> None:
        """Wait (at most YIELD_SECONDS) while another connection of this process writes or waits to: SQLite does
        not queue writers, and a form's save or a read's audit row on the event loop's connection blocks every
        request until it has the lock; the writer's next group can wait a moment."""
        deadline = time.monotonic() + YIELD_SECONDS
        while writes_waiting() and time.monotonic() < deadline:
            time.sleep(0.001)

    def _write(self, group: list[_Job]) -> None:
        self._let_others_go_first()
        began = time.perf_counter()
        # A group of no records (reads' audit rows, sessions' sliding expiry) is committed without waiting for the
        # disk, as audit.read does on its own: in WAL mode lost only if the machine itself stops before the next
        # change's commit syncs it, never when the app crashes. Records always wait for the disk.
        light = not any(job.records for job in group)
        if light:
            self.db.conn.execute("PRAGMA synchronous=NORMAL")
        try:
            with write(self.db):
                for job in group:
                    try:
                        job.result = job.context.run(job.fn, self.db)
                    except Exception as exc:  # the job's savepoint is rolled back; the others go on
                        if not self.db.conn.in_transaction:  # SQLite ended the transaction (disk full, I/O)
                            raise
                        job.error = exc
        except Exception as exc:  # BEGIN, a job or COMMIT failed: nothing of the group was stored
            for job in group:
                job.result, job.error = None, exc
        finally:
            if light:
                self.db.conn.execute("PRAGMA synchronous=FULL")
        records = sum(job.records for job in group)
        elapsed = time.perf_counter() - began
        if records and elapsed > 0:
            self._rate = 0.7 * self._rate + 0.3 * (records / elapsed)
        self.groups += 1
        self._recent.append((time.monotonic(), records))
        log.debug("group of %d batches, %d records: %.1f ms", len(group), records, elapsed * 1000)
        with self._lock:
            self._waiting_records -= records
        for job in group:
            self._answer(job)

    def _answer(self, job: _Job) -> None:
        if job.future is None:
            if job.error is not None:
                log.warning("deferred write failed: %s", job.error)
            return
        try:
            job.loop.call_soon_threadsafe(_settle, job.future, job.result, job.error)
        except RuntimeError:  # the loop is closed: nobody waits any more
            pass

    def _project_step(self) -> bool:
        """One bounded step of the projections; True when it applied something. Answers the waiters once
        the projections are current."""
        with self._lock:
            waiters, self._projection_waiters = self._projection_waiters, []
        applied = 0
        if self.project and projections.behind(self.db) > 0:
            self._let_others_go_first()
            try:
                applied = projections.catch_up(self.db, chunk=PROJECT_CHUNK, most=PROJECT_CHUNK)
            except Exception:
                log.exception("projections failed; the next step tries again")
        if applied and projections.behind(self.db) > 0:
            with self._lock:  # not current yet: they wait for the next step
                self._projection_waiters[:0] = waiters
            return True
        for job in waiters:
            self._answer(job)
        return bool(applied)

    def _fail_rest(self, exc: BaseException) -> None:
        with self._lock:
            rest, self._jobs = list(self._jobs), deque()
            rest += self._projection_waiters
            self._projection_waiters = []
            self._waiting_records = 0
        for job in rest:
            job.error = exc
            self._answer(job)


def _settle(future: asyncio.Future, result, error) -> None:
    if future.done():  # the request was cancelled meanwhile (the client went away)
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
