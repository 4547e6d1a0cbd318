"""The pull bounded to what a device needs, shared between devices, compressed, with ETag/304 (issue 13)."""

from __future__ import annotations

import gzip
import threading
from types import SimpleNamespace

import pytest

from fieldapp import accounts, deployments, records, turns
from fieldapp.clock import now_iso
from fieldapp.ids import new_id
from fieldapp.offline import pull as pull_domain
from fieldapp.offline import sync
from fieldapp.routes import offline as offline_routes
from fieldapp.turns import Rate, Turns
from fieldapp.services import recording

WINDOW = pull_domain.WINDOW


def _officers(db, deployment: dict, count: int) -> list:
    """Synthetic officers assigned to this deployment (as bench/bench_storm.py makes them)."""
    stamp = now_iso()
    rows = [(new_id(), f"pull-officer-{n}", f"Pull Officer {n}", "!", "officer", deployment["unit_id"], stamp, stamp)
            for n in range(count)]
    with db.conn:
        db.conn.executemany("INSERT INTO users (id, username, display_name, password_hash, role, unit_id, created_at, "
                            "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        db.conn.executemany("INSERT INTO assignments (deployment_id, user_id, created_at) VALUES (?, ?, ?)",
                            [(deployment["id"], row[0], stamp) for row in rows])
    return [accounts.get_user(db, row[0]) for row in rows]


def _current(db) -> dict:
    return deployments.current_for_user(db, accounts.by_username(db, "officer1"))


def _tension(db, user, deployment: dict, severity: str = "3") -> dict:
    return recording.create(db, user, "tension", deployment["id"], {"kind": "provocation", "severity": severity})


def _window_ids(db, deployment: dict, kind: str) -> set[str]:
    return {r.id for r in sync.recent_records(db, [deployment["id"]]) if r.kind == kind}


def test_a_storm_of_colleagues_records_is_bounded_to_the_newest_of_each_kind_and_the_devices_own(db):
    deployment = _current(db)
    me, *colleagues = _officers(db, deployment, 4)
    start = sync.pull(db, me, 10**9).cursor
    mine = [_tension(db, me, deployment)["id"] for _ in range(3)]
    theirs = [_tension(db, officer, deployment)["id"] for officer in colleagues for _ in range(15)]  # 45, newest last
    answer = sync.pull(db, me, start)
    got = {r.id: r for r in answer.records}
    assert set(mine) <= set(got)  # every own record, with its server version
    assert all(got[record_id].version == 1 for record_id in mine)
    assert set(theirs[-WINDOW:]) <= set(got)  # the newest colleagues' records of the kind
    assert not set(theirs[:-WINDOW - len(mine)]) & set(got)  # older ones are not sent
    assert len(answer.records) <= WINDOW + len(mine)
    assert answer.changed == [deployment["id"]] and answer.more is False
    # What the device then holds of the deployment's tensions is the deployment's recent list.
    assert _window_ids(db, deployment, "tension") <= set(got)


def test_a_colleagues_new_record_reaches_the_device_and_an_older_one_names_the_deployment(db):
    deployment = _current(db)
    me, colleague = _officers(db, deployment, 2)
    start = sync.pull(db, me, 10**9).cursor
    new = _tension(db, colleague, deployment)
    answer = sync.pull(db, me, start)
    assert [r.id for r in answer.records] == [new["id"]] and answer.records[0].record["author"] == "Pull Officer 1"
    # A colleague's record that is not among the newest of its kind (saved offline, an hour old) is not sent, but
    # the deployment is named: the device fetches its page again.
    for _ in range(WINDOW):
        _tension(db, me, deployment)
    answer = sync.pull(db, me, answer.cursor)
    old = _tension(db, colleague, deployment)
    table = records.KINDS["tension"].table
    oldest = db.execute(f"SELECT min(occurred_at) FROM {table} WHERE deployment_id = ?", [deployment["id"]]).fetchone()[0]
    db.execute(f"UPDATE {table} SET occurred_at = ? WHERE id = ?", [oldest, old["id"]])
    assert old["id"] not in _window_ids(db, deployment, "tension")
    later = sync.pull(db, me, answer.cursor)
    assert old["id"] not in {r.id for r in later.records} and later.changed == [deployment["id"]]
    # A deletion in the window lets the next older record in: the whole window comes with the deletion.
    recording.delete(db, colleague, "tension", new["id"])
    answer = sync.pull(db, me, answer.cursor)
    got = {r.id: r for r in answer.records}
    assert got[new["id"]].deleted is True
    assert _window_ids(db, deployment, "tension") <= set(got)


def test_an_edit_of_a_colleagues_record_always_reaches_the_device(db):
    deployment = _current(db)
    me, colleague = _officers(db, deployment, 2)
    record = _tension(db, colleague, deployment)
    start = sync.pull(db, me, 10**9).cursor
    for _ in range(WINDOW + 5):  # the record falls out of the window
        _tension(db, colleague, deployment)
    middle = sync.pull(db, me, start).cursor
    assert record["id"] not in _window_ids(db, deployment, "tension")
    edited = recording.update(db, colleague, "tension", record["id"], {"kind": "provocation", "severity": "5"},
                              base_version=1)
    answer = sync.pull(db, me, middle)
    got = {r.id: r for r in answer.records}
    assert got[record["id"]].version == edited["version"] == 2 and got[record["id"]].record["severity"] == 5


def test_many_devices_asking_about_the_same_deployment_share_one_window(db):
    deployment = _current(db)
    officers = _officers(db, deployment, 30)
    for officer in officers[:5]:
        _tension(db, officer, deployment)
    scope = [d["id"] for d in sync.offline_deployments(db, officers[0])]
    pull_domain.WINDOWS.clear()
    computed, served = pull_domain.WINDOWS.computed, pull_domain.WINDOWS.served
    answers = [sync.pull(db, officer, 0) for officer in officers]
    assert pull_domain.WINDOWS.computed - computed == len(scope)  # once per deployment, not once per device
    assert pull_domain.WINDOWS.served - served >= len(officers) * len(scope)
    shared = {r.id for r in answers[-1].records}
    assert all({r.id for r in answer.records} - shared <= {r.id for r in answer.records if r.record.get("created_by")
                                                            == officer.id}
               for answer, officer in zip(answers, officers))
    # A new write to the deployment makes a new window (the next ask sees the new record).
    new = _tension(db, officers[7], deployment)
    assert new["id"] in {r.id for r in sync.pull(db, officers[0], answers[0].cursor).records}
    assert pull_domain.WINDOWS.computed - computed == len(scope) + 1


def test_the_window_cache_is_bounded():
    cache = pull_domain.WindowCache(size=3)
    for n in range(10):
        cache.get(None, "db", f"deployment-{n}", (n,), "2026-01-01", lambda _db, _d, _s: {})
    assert len(cache._items) == 3 and cache.computed == 10


def test_pages_of_a_pull_move_the_cursor_forward_and_together_give_the_whole_answer(db):
    deployment = _current(db)
    me, colleague = _officers(db, deployment, 2)
    start = sync.pull(db, me, 10**9).cursor
    for n in range(12):
        _tension(db, me if n % 2 else colleague, deployment)
    whole = sync.pull(db, me, start)
    seen, cursor, more = [], start, True
    while more:
        page = sync.pull(db, me, cursor, limit=4)
        assert page.cursor > cursor
        cursor, more = page.cursor, page.more
        seen += [r.id for r in page.records]
    assert set(seen) == {r.id for r in whole.records} and cursor == whole.cursor


def test_an_unchanged_pull_is_304_and_a_new_record_makes_it_200(login, db):
    officer = login("officer1")
    end = officer.get("/api/sync/pull?cursor=999999999").json()["cursor"]
    first = officer.get(f"/api/sync/pull?cursor={end}")
    etag = first.headers["etag"]
    again = officer.get(f"/api/sync/pull?cursor={end}", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    _tension(db, accounts.by_username(db, "officer2"), _current(db))
    changed = officer.get(f"/api/sync/pull?cursor={end}", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.json()["records"] and changed.headers["etag"] != etag


def test_the_bootstrap_is_304_while_what_the_device_keeps_is_unchanged(login, db):
    officer = login("officer1")
    first = officer.get("/api/offline/bootstrap?records=false")
    etag = first.headers["etag"]
    assert etag.startswith("W/")
    # Records written elsewhere move the cursor, which a device that pulls does not use: still unchanged.
    _tension(db, accounts.by_username(db, "officer2"), _current(db))
    again = officer.get("/api/offline/bootstrap?records=false", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    db.execute("UPDATE categories SET label_fi = label_fi || ' (uusi)' WHERE list = 'tension_kind'")
    relabelled = officer.get("/api/offline/bootstrap?records=false", headers={"If-None-Match": etag})
    assert relabelled.status_code == 200 and relabelled.headers["etag"] != etag
    assert relabelled.json()["categories_version"] != first.json()["categories_version"]


def test_pull_and_bootstrap_are_gzip_compressed_in_the_worker_thread(login, db, monkeypatch):
    officer = login("officer1")
    threads = []
    real_pull = sync.pull

    def spy(read_db, user, cursor, **kw):
        threads.append((threading.current_thread(), read_db.conn is db.conn))
        return real_pull(read_db, user, cursor, **kw)

    monkeypatch.setattr(sync, "pull", spy)
    response = officer.get("/api/sync/pull?cursor=0", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200 and response.headers["content-encoding"] == "gzip"
    assert response.json()["records"]  # httpx undid the gzip
    [(thread, same_connection)] = threads
    assert thread is not threading.main_thread() and not same_connection  # a read connection of a worker thread
    raw = officer.get("/api/sync/pull?cursor=0", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in raw.headers and raw.json() == response.json()
    booted = officer.get("/api/offline/bootstrap", headers={"Accept-Encoding": "gzip"})
    assert booted.headers["content-encoding"] == "gzip" and booted.json()["records"]
    assert len(gzip.compress(raw.content)) < len(raw.content) / 4


def test_too_many_waiting_is_503_with_a_retry_after_at_the_reads_rate(login, monkeypatch):
    """Refused reads are given turns one after the other at the rate reads are finished (fieldapp/turns.py): with
    none finished lately that is the floor of one read a second per read thread (4), so twelve refused reads are
    told to come back over three seconds, in the order they were refused (before: 1-5 s at random)."""
    officer = login("officer1")
    monkeypatch.setattr(offline_routes, "READ_WAITING_MAX", 0)
    monkeypatch.setattr(offline_routes, "READS_DONE", Rate(seconds=2.0, floor=offline_routes.READ_THREADS))
    monkeypatch.setattr(offline_routes, "_read_turns", Turns())
    # The turns' clock stands still: on a busy machine twelve requests took long enough that the later ones were
    # told less than 3 s (their turns had come nearer meanwhile), and the test failed for no fault of the app.
    monkeypatch.setattr(turns, "time", SimpleNamespace(monotonic=lambda: 1000.0))
    waits = []
    for _ in range(12):
        response = officer.get("/api/sync/pull?cursor=0")
        assert response.status_code == 503 and response.json()["error"]
        waits.append(int(response.headers["retry-after"]))
    assert waits == sorted(waits) and waits[0] == 1 and waits[-1] == 3, waits
    monkeypatch.setattr(offline_routes, "READ_WAITING_MAX", 64)
    assert officer.get("/api/offline/bootstrap?records=false").status_code == 200


def test_the_rate_counts_what_was_done_in_its_window(monkeypatch):
    now = [50.0]
    monkeypatch.setattr("fieldapp.turns.time.monotonic", lambda: now[0])
    rate = Rate(seconds=2.0, floor=4)
    assert rate.per_second == 4  # nothing seen yet: the floor
    for _ in range(30):
        rate.done()
        now[0] += 0.05  # 30 reads in 1.5 s
    assert rate.per_second == 15  # 30 in the last two seconds
    now[0] += 0.98  # the first 10 (done before 0.5 s) are out of the window now
    assert rate.per_second == 10
    now[0] += 5.0
    assert rate.per_second == 4


@pytest.mark.parametrize("cursor", [0, 10**12])
def test_a_device_without_deployments_gets_the_end_and_nothing_else(db, cursor):
    lonely = _officers(db, {"id": _current(db)["id"], "unit_id": _current(db)["unit_id"]}, 1)[0]
    db.execute("DELETE FROM assignments WHERE user_id = ?", [lonely.id])
    answer = sync.pull(db, lonely, cursor)
    assert answer.records == [] and answer.more is False and answer.changed == []
