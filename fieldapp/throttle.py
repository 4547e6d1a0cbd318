"""Failed logins counted per account and per client address; too many in a window lock the key for a while.

Kept in the server's memory (one process serves the app): a restart forgets the counts, which costs an attacker
nothing they could not get by waiting, and no anonymous request writes to the database just to be counted.
A lock grows with each one that follows within the window (1 min, 2, 4, ... at most 1 h); while a key is locked,
even the right password is refused, so guessing on does not pay. The number of keys kept is bounded, so a flood
of made-up names or addresses cannot fill the memory. No web imports.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field

WINDOW_SECONDS = 15 * 60
FIRST_LOCK_SECONDS = 60
LONGEST_LOCK_SECONDS = 3600
MAX_KEYS = 50_000


@dataclass
class _Failures:
    times: deque = field(default_factory=deque)
    locked_until: float = 0.0
    locks: int = 0


class FailureCounter:
    """Failures per key (an account name or a client address) with a limit per WINDOW_SECONDS."""

    def __init__(self, limit: int, clock=time.monotonic, max_keys: int = MAX_KEYS):
        self.limit = max(1, limit)
        self.clock = clock
        self.max_keys = max_keys
        self._keys: OrderedDict[str, _Failures] = OrderedDict()
        self._lock = threading.Lock()

    def _prune(self, entry: _Failures, now: float) -> None:
        while entry.times and entry.times[0] <= now - WINDOW_SECONDS:
            entry.times.popleft()
        if not entry.times and entry.locked_until <= now:
            entry.locks = 0  # a quiet window forgives earlier locks

    def retry_after(self, key: str) -> float:
        """Seconds until this key may try again (0: it may try now)."""
        with self._lock:
            entry = self._keys.get(key)
            if entry is None:
                return 0.0
            return max(0.0, entry.locked_until - self.clock())

    def fail(self, key: str) -> float:
        """Count a failure; returns the seconds the key is now locked for (0: not locked)."""
        now = self.clock()
        with self._lock:
            entry = self._keys.pop(key, None) or _Failures()
            self._keys[key] = entry  # most recently failed last: the oldest go first when the table is full
            while len(self._keys) > self.max_keys:
                self._keys.popitem(last=False)
            self._prune(entry, now)
            entry.times.append(now)
            if len(entry.times) >= self.limit and entry.locked_until <= now:
                lock = min(LONGEST_LOCK_SECONDS, FIRST_LOCK_SECONDS * 2 ** min(entry.locks, 16))
                entry.locks += 1
                entry.locked_until = now + lock
            return max(0.0, entry.locked_until - now)

    def forget(self, key: str) -> None:
        """A successful login clears its account's failures."""
        with self._lock:
            self._keys.pop(key, None)


class LoginThrottle:
    """The two counters a login is checked against: its account name and the address it comes from."""

    def __init__(self, per_account: int, per_address: int, clock=time.monotonic):
        self.accounts = FailureCounter(per_account, clock)
        self.addresses = FailureCounter(per_address, clock)

    @staticmethod
    def account_key(username: str) -> str:
        # Known and unknown names are counted alike, so the lock does not tell which names exist.
        return username.strip().lower()

    def retry_after(self, username: str, address: str) -> float:
        """Seconds until a login for this name from this address is looked at (0: now)."""
        return max(self.accounts.retry_after(self.account_key(username)), self.addresses.retry_after(address))

    def failed(self, username: str, address: str) -> float:
        """Count a failed login; returns the seconds both keys together are now locked for."""
        return max(self.accounts.fail(self.account_key(username)), self.addresses.fail(address))

    def succeeded(self, username: str) -> None:
        # Only the account: a success must not clear the address, or one valid login would reset a guesser's count.
        self.accounts.forget(self.account_key(username))
