"""Turns for refused requests: a crowd told to come back is spread over the time the server needs for it.

When more work waits than a server part takes at once (sync batches for the writer, pulls and bootstraps for the
read threads), the next request is refused at once with 503 and a Retry-After. Each refusal is given a turn after
the turns given before it, at the rate the part is measured to work, as in a queue that waits on the devices
instead of in the server. The turn is rounded to the nearest whole second (Retry-After has no fractions), at least
one: the client adds up to a second at random (sync-client.js), so a device comes back between half a second
before its turn and a second and a half after it.
"""

from __future__ import annotations

import threading
import time
from collections import deque


class Turns:
    def __init__(self) -> None:
        self._next = 0.0  # monotonic time after the last turn given
        self._lock = threading.Lock()

    def retry_after(self, rate: float, waiting: float, units: float = 1) -> int:
        """Whole seconds to wait for a refused request of `units` (records, reads) while `waiting` units wait
        already, at `rate` units a second."""
        with self._lock:
            now = time.monotonic()
            rate = max(rate, 1.0)
            start = max(now + waiting / rate, self._next)
            self._next = start + units / rate
            return max(1, round(start - now))


class Rate:
    """Units done a second, counted over the last `seconds` (at least `floor` until enough has been seen)."""

    def __init__(self, seconds: float = 2.0, floor: float = 1.0) -> None:
        self.seconds, self.floor = seconds, floor
        self._done: deque[float] = deque()
        self._lock = threading.Lock()

    def done(self) -> None:
        with self._lock:
            self._done.append(self._trim())

    @property
    def per_second(self) -> float:
        with self._lock:
            self._trim()
            return max(self.floor, len(self._done) / self.seconds)

    def _trim(self) -> float:
        """Forget what was done before the window; returns now."""
        now = time.monotonic()
        while self._done and self._done[0] < now - self.seconds:
            self._done.popleft()
        return now
