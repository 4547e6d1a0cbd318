"""Requests served beside the server's event loop (issue 13: blocking work never runs on the event loop).

The server's event loop (uvicorn's) only moves bytes. Everything a route does (the session lookup, the guard,
the handler's SQLite reads and writes, Jinja, gzip) runs on one of LOOPS event loops, each in a thread of its own
with its own connection to the database (`connection()`): a page waiting for SQLite's write lock, a long report
or a burst of pages keeps one page loop busy while the server's loop goes on accepting and answering, and
SQLite's work (which lets go of the GIL) on one page loop overlaps with Python on the other.

Routes with `opt={"on_loop": True}` stay on the server's loop: `/livez` must answer while every page loop is busy.
The loops are the process's, started on first use and shared by every app of the process (tests build many).
Each request goes to the loop with the fewest requests in hand; its receive() and send() are awaited on the
server's loop, so the server sees an ordinary ASGI app.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import sqlite_utils

LOOPS = 2  # two cores: Python on one loop while SQLite (no GIL) works for the other
CONNECTIONS_PER_THREAD = 4  # tests open many databases from the same threads; the oldest is closed

_local = threading.local()
_lock = threading.Lock()
_loops: list[asyncio.AbstractEventLoop] = []
_in_hand: list[int] = []  # requests each loop holds; changed on the server's loop only
_opened: dict[str, list[sqlite_utils.Database]] = {}  # file -> the page loops' connections to it (connections())


def on_page_loop() -> bool:
    return getattr(_local, "page_loop", False)


def _run(loop: asyncio.AbstractEventLoop, started: threading.Event) -> None:
    _local.page_loop = True
    asyncio.set_event_loop(loop)
    loop.call_soon(started.set)
    loop.run_forever()


def _started() -> list[asyncio.AbstractEventLoop]:
    if len(_loops) == LOOPS:
        return _loops
    with _lock:
        while len(_loops) < LOOPS:
            loop, started = asyncio.new_event_loop(), threading.Event()
            threading.Thread(target=_run, args=(loop, started), name=f"fieldapp-pages-{len(_loops)}",
                             daemon=True).start()
            started.wait(10)
            _in_hand.append(0)
            _loops.append(loop)
    return _loops


def connection(path: Path | str) -> sqlite_utils.Database:
    """This page loop's connection to the database file, with the app's pragmas (opened on first use, kept).
    WAL: its reads never wait for the writer; its writes take SQLite's lock as the app's connection's did."""
    key = str(path)
    kept = getattr(_local, "connections", None)
    if kept is None:
        kept = _local.connections = {}
    db = kept.get(key)
    if db is None:
        while len(kept) >= CONNECTIONS_PER_THREAD:
            old_key = next(iter(kept))
            old = kept.pop(old_key)
            with _lock:
                _opened[old_key].remove(old)
            old.conn.close()
        conn = sqlite3.connect(key, isolation_level=None, check_same_thread=False, timeout=10)
        for pragma in ("synchronous=FULL", "foreign_keys=ON", "busy_timeout=10000"):
            conn.execute(f"PRAGMA {pragma}")
        db = kept[key] = sqlite_utils.Database(conn)
        with _lock:
            _opened.setdefault(key, []).append(db)
    return db


def connections(path: Path | str) -> list[sqlite_utils.Database]:
    """The page loops' open connections to the file (for tests that set a per-connection PRAGMA on each)."""
    with _lock:
        return list(_opened.get(str(path), ()))


def _on(loop: asyncio.AbstractEventLoop, call):
    """call(...) awaited on `loop` (the server's), from a page loop."""

    async def bridged(*args):
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(call(*args), loop))

    return bridged


def middleware(app):
    """The app's outermost route middleware: the rest of the route's stack runs on a page loop."""

    async def beside(scope, receive, send):
        if scope["type"] != "http" or on_page_loop() or scope["route_handler"].opt.get("on_loop"):
            await app(scope, receive, send)
            return
        loops = _started()
        index = min(range(len(loops)), key=_in_hand.__getitem__)
        server_loop = asyncio.get_running_loop()
        _in_hand[index] += 1
        try:
            # Cancelling this (the client went away, the server stops) cancels the request's task on its loop.
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(
                app(scope, _on(server_loop, receive), _on(server_loop, send)), loops[index]))
        finally:
            _in_hand[index] -= 1

    return beside
