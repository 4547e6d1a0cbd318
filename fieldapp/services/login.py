"""What one login attempt does: the throttle first, the argon2id check in a bounded thread pool, an audit row
for every refused password.

argon2id takes tens of milliseconds of CPU by design; run on the event loop, a handful of anonymous clients
posting wrong passwords stalled every request of the server. Here at most `workers` checks run at once, in
threads of lower priority than the event loop's (the hash releases the GIL), and at most as many again wait in
the pool; a login beyond that waits a moment for a slot (an asyncio sleep) and is then answered "busy" (429)
instead of queueing without bound. Locked names and addresses are
refused before any hashing. Every 429 is held back a moment first (an asyncio sleep costs the server nothing),
so a flooding client gets one answer a second per connection instead of as many as the server can render.
"""

from __future__ import annotations

import asyncio
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from fieldapp import accounts
from fieldapp.accounts import User
from fieldapp.throttle import LoginThrottle

BUSY_RETRY_SECONDS = 1
BUSY_WAIT_SECONDS = 2.0  # how long a login waits for a free slot before it is answered busy
BUSY_POLL_SECONDS = 0.05
TARPIT_SECONDS = 1.0  # how long a refused (429) login waits before it is answered
HASH_THREAD_NICE = 10  # password checks yield the CPU to the event loop's requests


def _lower_priority() -> None:
    try:  # Linux: a thread id with PRIO_PROCESS sets that thread's nice value (argon2's own threads inherit it)
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASH_THREAD_NICE)
    except (AttributeError, OSError):
        pass


class WrongPassword(Exception):
    """The name and password do not fit (an unknown name looks the same)."""


class TooManyAttempts(Exception):
    """Refused without looking at the password: locked by the throttle, or the checks are all busy."""

    def __init__(self, retry_after: float, busy: bool = False):
        super().__init__(retry_after)
        # Whole seconds, rounded up, after rounding to the millisecond: a lock's end read back as end - clock may
        # be a hair over its length in floating point (60.00000000000023 said 61 s and "2 min").
        self.retry_after = max(1, math.ceil(round(retry_after, 3)))
        self.busy = busy


class PasswordChecks:
    """A bounded pool for argon2id checks: `workers` at once, as many again waiting, the rest turned away."""

    def __init__(self, workers: int, wait_seconds: float = BUSY_WAIT_SECONDS):
        self.workers = max(1, workers)
        self.limit = 2 * self.workers
        self.wait_seconds = wait_seconds
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="fieldapp-argon2",
                                        initializer=_lower_priority)
        self._lock = threading.Lock()
        self._in_flight = 0

    def _done(self, _future) -> None:
        with self._lock:
            self._in_flight -= 1

    def _take_slot(self) -> bool:
        with self._lock:
            if self._in_flight >= self.limit:
                return False
            self._in_flight += 1
            return True

    async def matches(self, password_hash: str, password: str) -> bool:
        """Whether the password fits; a login finding every slot taken waits up to wait_seconds (many officers
        logging in at the start of a shift), then is answered busy."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_seconds
        while not self._take_slot():
            if loop.time() >= deadline:
                raise TooManyAttempts(BUSY_RETRY_SECONDS, busy=True)
            await asyncio.sleep(BUSY_POLL_SECONDS)
        future = self._pool.submit(accounts.password_matches, password_hash, password)
        # Counted down when the check ends, not when the waiting request goes away (a closed connection does not
        # stop a hash that is already running).
        future.add_done_callback(self._done)
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class LoginGuard:
    """The app's throttle and password pool (one per app: tests build an app per test)."""

    def __init__(self, settings):
        self.throttle = LoginThrottle(settings.login_failures_per_account, settings.login_failures_per_address)
        extra = settings.extra or {}
        self.checks = PasswordChecks(settings.login_hashes, float(extra.get("login_busy_wait_seconds",
                                                                            BUSY_WAIT_SECONDS)))
        self.tarpit_seconds = float(extra.get("login_tarpit_seconds", TARPIT_SECONDS))

    async def refuse(self, refused: TooManyAttempts) -> TooManyAttempts:
        await asyncio.sleep(self.tarpit_seconds)
        return refused

    def close(self) -> None:
        self.checks.close()


async def log_in(db, guard: LoginGuard, username: str, password: str, address: str) -> User:
    """The user for this name and password; WrongPassword or TooManyAttempts otherwise."""
    wait = guard.throttle.retry_after(username, address)
    if wait > 0:
        raise await guard.refuse(TooManyAttempts(wait))
    user, password_hash = accounts.login_candidate(db, username)
    try:
        matches = await guard.checks.matches(password_hash, password)
    except TooManyAttempts as busy:
        raise await guard.refuse(busy) from None
    if matches and user is not None:
        guard.throttle.succeeded(username)
        return user
    locked = guard.throttle.failed(username, address)
    accounts.record_failed_login(db, user, address, locked)
    if locked > 0:
        raise await guard.refuse(TooManyAttempts(locked))
    raise WrongPassword(username)
