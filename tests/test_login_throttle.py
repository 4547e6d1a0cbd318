"""Login that cannot be used against the service: throttled per account and per address, audited, bounded hashing."""

from __future__ import annotations

import asyncio
import concurrent.futures

import pytest
from litestar.testing import TestClient

from fieldapp import accounts, demo
from fieldapp.app import create_app
from fieldapp.services import login as login_service
from fieldapp.settings import Settings
from fieldapp.throttle import (
    FIRST_LOCK_SECONDS,
    WINDOW_SECONDS,
    FailureCounter,
    LoginThrottle,
)
from tests.conftest import CSRF_RE

NO_TARPIT = {"login_tarpit_seconds": 0, "login_busy_wait_seconds": 0}  # refused logins answered at once


def run_isolated(coro):
    """asyncio.run() in a thread of its own: in a full run the browser tests (Playwright's sync API) leave an
    event loop running in this thread, where asyncio.run() refuses to start."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def _attempt(client, username, password, **headers):
    token = CSRF_RE.search(client.get("/login").text).group(1)
    return client.post("/login", data={"_csrf": token, "username": username, "password": password, "next": "/"},
                       headers=headers, follow_redirects=False)


@pytest.fixture
def strict_client(db_path):
    app = create_app(Settings(db_path=db_path, login_failures_per_account=3, login_failures_per_address=5,
                              extra=NO_TARPIT))
    with TestClient(app=app, base_url="http://127.0.0.1") as client:
        yield client


def test_too_many_wrong_passwords_give_429_with_retry_after_and_then_even_the_right_one_waits(strict_client):
    for _ in range(2):
        assert _attempt(strict_client, "officer1", "wrong-password").status_code == 400
    locked = _attempt(strict_client, "officer1", "wrong-password", **{"Accept-Language": "fi"})
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) == FIRST_LOCK_SECONDS
    assert "Liian monta epäonnistunutta kirjautumista" in locked.text and '<html lang="fi">' in locked.text
    right = _attempt(strict_client, "officer1", demo.DEMO_PASSWORD, **{"Accept-Language": "sv"})
    assert right.status_code == 429 and "För många misslyckade inloggningar" in right.text
    assert "fieldapp_session" not in right.headers.get("set-cookie", "")


def test_a_locked_account_does_not_lock_another_account(strict_client):
    for _ in range(3):
        _attempt(strict_client, "officer1", "wrong-password")
    assert _attempt(strict_client, "officer2", demo.DEMO_PASSWORD).status_code == 303


def test_many_names_from_one_address_lock_the_address(strict_client):
    answers = [_attempt(strict_client, f"guess{n}", "wrong-password").status_code for n in range(5)]
    assert answers == [400, 400, 400, 400, 429]
    assert _attempt(strict_client, "lead1", demo.DEMO_PASSWORD).status_code == 429


def test_unknown_and_known_names_are_answered_alike(strict_client):
    known = [_attempt(strict_client, "officer1", "wrong-password") for _ in range(3)]
    unknown = [_attempt(strict_client, "nobody-here", "wrong-password") for _ in range(2)]
    assert [r.status_code for r in known] == [400, 400, 429]
    assert [r.status_code for r in unknown] == [400, 429]  # the address reached its 5 here, not the name
    assert known[0].text.replace("officer1", "X") == unknown[0].text.replace("nobody-here", "X")


def test_every_failed_login_leaves_an_audit_row(client, db):
    officer = accounts.by_username(db, "officer1")
    _attempt(client, "officer1", "wrong-password")
    _attempt(client, "no-such-user", "wrong-password")
    rows = db.execute("SELECT user_id, record_id, detail FROM audit_log WHERE action = 'login_failed' "
                      "ORDER BY id").fetchall()
    assert [(user_id, record_id) for user_id, record_id, _detail in rows] == [(None, officer.id), (None, None)]
    assert all("address=" in detail for _u, _r, detail in rows) and "unknown_user" in rows[1][2]
    assert "wrong-password" not in str(rows) and "no-such-user" not in str(rows)


def test_a_success_clears_the_accounts_failures():
    clock = Clock()
    throttle = LoginThrottle(per_account=3, per_address=100, clock=clock)
    throttle.failed("officer1", "10.0.0.1")
    throttle.failed("officer1", "10.0.0.1")
    throttle.succeeded("Officer1")
    assert throttle.failed("officer1", "10.0.0.1") == 0


def test_locks_grow_while_failures_go_on_and_a_quiet_window_forgives():
    clock = Clock()
    counter = FailureCounter(limit=3, clock=clock)
    assert [counter.fail("x") for _ in range(3)] == [0, 0, FIRST_LOCK_SECONDS]
    assert counter.retry_after("x") == FIRST_LOCK_SECONDS
    clock.now += FIRST_LOCK_SECONDS
    assert counter.retry_after("x") == 0
    assert counter.fail("x") == 2 * FIRST_LOCK_SECONDS  # still 3 failures in the window: locked again, longer
    clock.now += 2 * FIRST_LOCK_SECONDS
    assert counter.fail("x") == 4 * FIRST_LOCK_SECONDS
    clock.now += WINDOW_SECONDS + 4 * FIRST_LOCK_SECONDS
    assert counter.fail("x") == 0 and counter.retry_after("x") == 0


def test_the_counter_keeps_a_bounded_number_of_keys():
    counter = FailureCounter(limit=3, clock=Clock(), max_keys=100)
    for n in range(1000):
        counter.fail(f"name{n}")
    assert len(counter._keys) == 100


def test_password_checks_beyond_the_pool_and_its_queue_are_turned_away_busy():
    """At most `workers` run and as many wait; a third concurrent login with one worker, not allowed to wait for a
    slot, is answered busy."""
    checks = login_service.PasswordChecks(workers=1, wait_seconds=0)
    password_hash = accounts._hasher.hash("a-long-password")

    async def three_at_once():
        return await asyncio.gather(*(checks.matches(password_hash, "a-long-password") for _ in range(3)),
                                    return_exceptions=True)

    try:
        first, second, third = run_isolated(three_at_once())
    finally:
        checks.close()
    assert first is True and second is True
    assert isinstance(third, login_service.TooManyAttempts) and third.busy and third.retry_after == 1


def test_logins_at_the_start_of_a_shift_wait_for_a_slot_instead_of_being_refused():
    checks = login_service.PasswordChecks(workers=1, wait_seconds=30)
    password_hash = accounts._hasher.hash("a-long-password")

    async def six_at_once():
        return await asyncio.gather(*(checks.matches(password_hash, "a-long-password") for _ in range(6)))

    try:
        assert run_isolated(six_at_once()) == [True] * 6
    finally:
        checks.close()
    assert checks._in_flight == 0


def test_password_checks_do_not_block_the_event_loop():
    """While a hash runs in the pool, the loop keeps ticking (the flood benchmark measures the effect on requests)."""
    checks = login_service.PasswordChecks(workers=1)
    password_hash = accounts._hasher.hash("a-long-password")
    ticks = 0

    async def run():
        nonlocal ticks
        check = asyncio.ensure_future(checks.matches(password_hash, "wrong"))
        while not check.done():
            ticks += 1
            await asyncio.sleep(0.001)
        return check.result()

    try:
        assert run_isolated(run()) is False
    finally:
        checks.close()
    assert ticks >= 5


def test_a_busy_login_is_answered_429_in_the_users_language(db_path):
    app = create_app(Settings(db_path=db_path, extra=NO_TARPIT))
    guard = app.state.login_guard
    guard.checks._in_flight = guard.checks.limit  # every slot taken by other logins
    with TestClient(app=app, base_url="http://127.0.0.1") as client:
        response = _attempt(client, "officer1", demo.DEMO_PASSWORD, **{"Accept-Language": "en"})
    assert response.status_code == 429 and response.headers["retry-after"] == "1"
    assert "The server is busy checking other logins." in response.text


def test_a_refused_login_is_held_back_before_it_is_answered(db_path):
    """A flooding connection gets at most one 429 per tarpit period: the wait is an asyncio sleep, not work."""
    settings = Settings(db_path=db_path, login_failures_per_account=1, extra={"login_tarpit_seconds": 0.3})
    guard = login_service.LoginGuard(settings)
    app = create_app(settings)
    db = app.state.db
    guard.throttle.failed("officer1", "10.0.0.9")

    async def attempt():
        started = asyncio.get_running_loop().time()
        with pytest.raises(login_service.TooManyAttempts):
            await login_service.log_in(db, guard, "officer1", demo.DEMO_PASSWORD, "10.0.0.9")
        return asyncio.get_running_loop().time() - started

    try:
        assert run_isolated(attempt()) >= 0.3
    finally:
        guard.close()


def test_a_fresh_lock_says_its_own_length_whatever_the_clock_reads():
    """The lock's end is kept as clock + length; read back as end - clock, floating point may give a hair more
    (2020.276103 + 60 - 2020.276103 = 60.00000000000023), which rounded up said "Retry-After: 61" and "try again in
    2 min" for a one-minute lock (seen in CI). The wait is the lock's length: 60 and 1 min."""
    clock = Clock()
    clock.now = 2020.276103
    throttle = LoginThrottle(per_account=3, per_address=100, clock=clock)
    locked = [throttle.failed("officer1", "10.0.0.1") for _ in range(3)][-1]
    refused = login_service.TooManyAttempts(locked)
    assert refused.retry_after == FIRST_LOCK_SECONDS == 60
    assert login_service.TooManyAttempts(throttle.retry_after("officer1", "10.0.0.1")).retry_after == 60
    assert login_service.TooManyAttempts(59.2).retry_after == 60 and login_service.TooManyAttempts(0.2).retry_after == 1
