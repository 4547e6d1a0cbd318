"""When to try again after a failed delivery: exponential backoff with jitter, and a server's Retry-After.

Shared by the POR feed (fieldapp/por.py) and the Web Push queue (fieldapp/alerts/deliveries.py, through
fieldapp/push.py for the header), so that both read a Retry-After the same way. Each caller keeps its own
numbers (base, cap, jitter spread, how long a Retry-After is honoured). No web imports.
"""

from __future__ import annotations

import random
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from fieldapp.clock import utcnow

EQUAL_JITTER = (0.5, 1.0)
# 2 ** 64 times any sane base is beyond every cap; a larger exponent would not fit in a float.
MAX_DOUBLINGS = 64


def backoff(attempts: int, base: float, cap: float, rng: random.Random | None = None,
            spread: tuple[float, float] = EQUAL_JITTER) -> float:
    """Seconds to wait after the n-th failed attempt: base doubled per earlier attempt, at most cap, times a
    random factor from `spread` (many clients that failed together must not all come back together)."""
    rng = rng or random
    delay = min(cap, base * 2.0 ** min(max(0, attempts - 1), MAX_DOUBLINGS))
    return delay * rng.uniform(*spread)


def retry_after_seconds(header_value: str | None, now: datetime | None = None) -> float | None:
    """The wait a Retry-After header asks for: delta-seconds or an HTTP date (a past date: 0).

    None when the header is absent or unreadable (a negative number, a word), so that the caller falls
    back to its own backoff instead of failing on a broken header.
    """
    if not header_value:
        return None
    value = header_value.strip()
    if value.isascii() and value.isdigit():  # str.isdigit() also accepts '²', which float() refuses
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # '-0000': an HTTP date is always GMT
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or utcnow())).total_seconds())
