"""Requests served beside the server's event loop (issue 13: blocking work never runs on the event loop).

The server's event loop (uvicorn's) only moves bytes. Everything a route does (the session lookup, the guard,
the handler's SQLite reads and writes, Jinja, gzip) runs on a page loop: an event loop (uvloop) in a thread of its
own with its own connection to the database (`connection()`). A page waiting for SQLite's write lock or a long
report holds up that page loop, never the server's loop, which goes on accepting connections and answering
/livez and the sync batches (whose work is the writer thread's, `opt={"on_loop": True}`; their session is read
by a thread of its own, web._SESSIONS, so no SQLite runs on the server's loop).

Requests go to the first page loop; the second is a spare, used while the first has not turned over for STALLED
seconds (it waits for a lock, or is very busy). Measured (bench/README.md, "Reconnect storm"): a full round of 300
devices took less time with every page on one page loop than all on the server's loop (the server's loop reads
and writes the sockets while the page loop's SQLite has let go of the GIL), and more time when the two page loops
shared the pages evenly (two threads of Python contending for the GIL on two cores).

The loops are the process's, started on first use and shared by every app of the process (tests build many). A
request's receive() and send() are awaited on the server's loop, so the server sees an ordinary ASGI app.
`serve_beside(app)` puts Litestar's handler (routing, the route's stack, the exception handlers) on the page
loops, so a path no route matches gets its error page there too.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

import sqlite_utils

from fieldapp.db import kept_by, per_thread

LOOPS = 2  # the first and a spare
STALLED = 1.0  # seconds without a turn of the first loop before requests go to the spare
TICK = 0.1  # how often each loop notes that it turns
CONNECTIONS_PER_THREAD = 4  # tests open many databases from the same threads; the oldest is closed

_local = threading.local()
_lock = threading.Lock()
_loops: list[asyncio.AbstractEventLoop] = []
_turned: list[float] = []  # when each loop last turned (monotonic), noted by the loop itself every TICK


def on_page_loop() -> bool:
    return getattr(_local, "page_loop", False)


def _run(loop: asyncio.AbstractEventLoop, index: int, started: threading.Event) -> None:
    _local.page_loop = True
    asyncio.set_event_loop(loop)

    def tick():
        _turned[index] = time.monotonic()
        loop.call_later(TICK, tick)

    loop.call_soon(tick)
    loop.call_soon(started.set)
    loop.run_forever()


def _new_loop() -> asyncio.AbstractEventLoop:
    """uvloop's, as the server's (cli.SERVER_OPTIONS): asyncio's own loop made a storm's pages cost more CPU."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - installed with uvicorn[standard]
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _started() -> list[asyncio.AbstractEventLoop]:
    if len(_loops) == LOOPS:
        return _loops
    with _lock:
        while len(_loops) < LOOPS:
            loop, started, index = _new_loop(), threading.Event(), len(_loops)
            _turned.append(time.monotonic())
            threading.Thread(target=_run, args=(loop, index, started), name=f"fieldapp-pages-{index}",
                             daemon=True).start()
            started.wait(10)
            _loops.append(loop)
    return _loops


def _connect(key: str) -> sqlite_utils.Database:
    conn = sqlite3.connect(key, isolation_level=None, check_same_thread=False, timeout=10)
    for pragma in ("synchronous=FULL", "foreign_keys=ON", "busy_timeout=10000"):
        conn.execute(f"PRAGMA {pragma}")
    return sqlite_utils.Database(conn)


def connection(path: Path | str) -> sqlite_utils.Database:
    """This page loop's connection to the database file, with the app's pragmas (opened on first use, kept).
    WAL: its reads never wait for the writer; its writes take SQLite's lock as the app's connection's did."""
    return per_thread(_local, path, _connect, CONNECTIONS_PER_THREAD, owner="page_loops")


def connections(path: Path | str) -> list[sqlite_utils.Database]:
    """The page loops' open connections to the file (for tests that set a per-connection PRAGMA on each)."""
    return kept_by(path, "page_loops")


def _on(loop: asyncio.AbstractEventLoop, call):
    """call(...) awaited on `loop` (the server's), from a page loop."""

    async def bridged(*args):
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(call(*args), loop))

    return bridged


def _sender(loop: asyncio.AbstractEventLoop, send):
    """send() awaited on `loop`, the response's start kept until its first body part so both go in one hop."""
    start = None

    async def both(first, message):
        await send(first)
        await send(message)

    async def bridged(message):
        nonlocal start
        if message["type"] == "http.response.start":
            start = message
            return None
        if start is not None:
            first, start = start, None
            call = both(first, message)
        else:
            call = send(message)
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(call, loop))

    return bridged


def _choose(loops: list[asyncio.AbstractEventLoop]) -> asyncio.AbstractEventLoop:
    """The first loop that turned within STALLED seconds; when none did, the one that turned last."""
    now = time.monotonic()
    for index, loop in enumerate(loops):
        if now - _turned[index] < STALLED:
            return loop
    return loops[max(range(len(loops)), key=_turned.__getitem__)]


async def run_beside(fn, *args):
    """fn(*args) on a page loop, awaited from the server's loop: blocking work met by a route that stays there."""

    async def call():
        return fn(*args)

    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(call(), _choose(_started())))


def serve_beside(app) -> None:
    """Every request of the Litestar `app` runs on a page loop, from routing on: a route's whole stack, and the
    error page of a path no route matches (404, 405; the revoked-device check there reads and may write). The
    routes marked `opt={"on_loop": True}` stay on the server's loop, found by method and path (they have no path
    parameters)."""
    on_loop = {(method, route.path) for route in app.routes for handler in getattr(route, "route_handlers", ())
               if handler.opt.get("on_loop") for method in handler.http_methods}
    inner = app.asgi_handler

    async def beside(scope, receive, send):
        if scope["type"] != "http" or on_page_loop() or (scope["method"], scope["path"]) in on_loop:
            await inner(scope, receive, send)
            return
        loop = _choose(_started())
        server_loop = asyncio.get_running_loop()
        # Cancelling this (the client went away, the server stops) cancels the request's task on its loop.
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(
            inner(scope, _on(server_loop, receive), _sender(server_loop, send)), loop))

    app.asgi_handler = beside
