"""Offline routes: the service worker and manifest, the sync API, the pending list. Glue only:
the protocol lives in fieldapp.offline.sync, the shell in fieldapp.offline.shell."""

from __future__ import annotations

import functools
import asyncio
import gzip
import hashlib
import threading
import weakref

import anyio
import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.background_tasks import BackgroundTask
from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException
from litestar.handlers import BaseRouteHandler
from litestar.params import FromPath, JSONBody, Parameter
from litestar.openapi.datastructures import ResponseSpec
from litestar.response import Template

from fieldapp import followups, i18n, web
from fieldapp.clock import now_iso
from fieldapp.db import reader
from fieldapp.i18n import gettext as _
from fieldapp.offline import presence_taps, refusals, sealing, shell, sync
from fieldapp.record_labels import FIELD_LABELS, KIND_SLUGS, KIND_TEXT
from fieldapp.turns import Rate, Turns

PUBLIC = {"public": True}
NO_CACHE = {"Cache-Control": "no-cache"}
OWN_FOLLOWUPS_KEPT = 20  # open follow-ups whose pages a device keeps for offline work, due soonest first


class Bootstrap(msgspec.Struct, kw_only=True):
    """What a device refreshes whenever it is online: enough to work offline in the user's language."""

    user: dict
    locale: str
    cursor: int
    batch_max: int
    deployments: list[dict]
    categories: dict[str, list[list[str]]]
    categories_version: int
    records: list[sync.PulledRecord]
    pages: list[str]
    seal_key: SealKey


class SealKey(msgspec.Struct, kw_only=True):
    """The server's current outbox key: devices seal each record's values to it at save time."""

    kid: str
    alg: str
    key: str  # the uncompressed P-256 point, base64url


class OpenSealed(msgspec.Struct, kw_only=True):
    """A record this user sealed on their device, to be shown again (a fix form, a conflict)."""

    sealed: sealing.SealedRecord


class Opened(msgspec.Struct, kw_only=True):
    values: dict


class Resolved(msgspec.Struct):
    resolved: bool


BYTES_PER_RECORD = 200  # about what one outbox record takes in a sync body (for a refused batch's turn only)


async def admission(connection: ASGIConnection, _handler: BaseRouteHandler) -> None:
    """A sync batch finding the writer's queue full is refused before its body is read or decoded (writer.py:
    503 with Retry-After, web.busy_handler): a refusal costs the event loop next to nothing."""
    length = connection.headers.get("content-length", "")
    connection.app.state.writer.check(int(length) // BYTES_PER_RECORD if length.isdigit() else 1)


async def json_body(connection: ASGIConnection, _handler: BaseRouteHandler) -> None:
    """Only JSON bodies are accepted by the sync API (415 otherwise)."""
    content_type = connection.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise HTTPException(status_code=415, detail=_("Send the records as JSON (application/json)."))


class OfflineShellController(Controller):
    """What a device needs to work offline before anyone logs in: the worker, the manifest, the scripts."""

    path = "/"
    opt = PUBLIC
    include_in_schema = False

    @get("/sw.js")
    async def service_worker(self) -> Response:
        """The service worker, from the root so its scope is the whole app; its version hashes what it caches."""
        version, source = shell.worker_source()
        return Response(source, media_type="text/javascript",
                        headers={**NO_CACHE, "X-Fieldapp-Version": version})

    @get("/manifest.webmanifest")
    async def manifest(self) -> Response:
        return Response(shell.manifest(), media_type="application/manifest+json", headers=NO_CACHE)

    @get("/offline/{name:str}")
    async def offline_script(self, name: FromPath[str]) -> Response:
        """The outbox, sync client and page scripts (kept in fieldapp/offline with the worker)."""
        source = shell.client_script(name)
        if source is None:
            return Response({"error": _("Not found."), "status": 404}, status_code=404)
        return Response(source, media_type="text/javascript", headers=NO_CACHE)


# What a pull or a bootstrap may answer besides 200 (both read beside the event loop, read_beside_loop below).
READ_RESPONSES = {304: ResponseSpec(None, description="Unchanged since the answer with this ETag."),
                  503: ResponseSpec(None, description="Too many waiting: try again after Retry-After seconds.")}


class SyncController(Controller):
    """The sync API the outbox talks to: send records, pull changes, the offline bootstrap, conflicts."""

    path = "/api"
    dependencies = web.DEPENDENCIES

    # On the server's loop (fieldapp/page_loops.py): its work is the writer thread's and a worker thread's already,
    # its session is read by a thread of its own (web._SESSIONS); what stays here is the JSON and the answer.
    # Wholly on a page loop the storm of 500 x 50 took 15-20 % more CPU (thread hops for the body, the answer and
    # the writer's reply; bench/README.md).
    @post("/sync", guards=[admission, json_body], status_code=200, summary="Send outbox records", opt={"on_loop": True},
          description="Up to FIELDAPP_SYNC_BATCH_MAX records in one transaction; one result per record: accepted, "
                      "duplicate (the same receipt as the first time), conflict (both versions kept) or rejected "
                      "(validation errors in the user's language; a sealed record that cannot be opened, with the reason). A "
                      "record carries `sealed` (its values sealed on the device to the key of /api/offline/seal-key) "
                      "or plain `values`. 413 when the body or the batch is too large, "
                      "415 for a content type other than JSON, 400 for malformed JSON.")
    async def sync_batch(self, user: web.CurrentUser, settings: web.AppSettings, writer: web.AppWriter,
                         data: JSONBody[sync.SyncBatch]) -> sync.SyncResponse | Response:
        if len(data.records) > settings.sync_batch_max:
            return _too_large(settings.sync_batch_max)
        # Blocking work stays off the event loop: sealed records are opened in a worker thread, and the batch is
        # written by the writer's thread (writer.py: group commit), which may refuse it at once when too many
        # records wait already (503 with Retry-After: the device keeps its outbox and comes back as told).
        opened = None
        if any(item.sealed is not None for item in data.records):
            opened = await anyio.to_thread.run_sync(_open_sealed, data.records, user, settings.data_dir)
        try:  # writer.QueueFull when too many records wait: 503 with Retry-After (web.busy_handler)
            results = await writer.run(functools.partial(_ingest, user=user, batch=data, settings=settings,
                                                         opened=opened), records=len(data.records))
        except sync.BatchTooLarge as exc:
            return _too_large(exc.limit)
        answer: sync.SyncResponse | dict = sync.SyncResponse(results=results, server_time=now_iso())
        if any(result.status in ("rejected", "conflict") for result in results):
            # A refusal is kept on the device for days: its codes let any screen show it in its own language.
            locale = i18n.get_locale()
            answer = {"results": [refusals.with_codes(msgspec.to_builtins(result), locale) for result in results],
                      "server_time": answer.server_time}
        # The device has its answer first; then the writer's thread brings the picture, alerts and POR feed up to
        # date (at once when no batch waits; in a storm after the batches, at least once a second).
        return Response(answer, background=BackgroundTask(writer.projected))

    @post("/sync/presence", guards=[json_body], status_code=200, summary="Send check-in and check-out taps",
          description="Taps kept on a device (each with an id made there and the time tapped), applied in order, "
                      "each exactly once: a resend gets the first answer (duplicate) and changes nothing.")
    async def sync_presence(self, writer: web.AppWriter, user: web.CurrentUser,
                            data: JSONBody[presence_taps.PresenceTaps]) -> dict:
        # Written by the writer's thread like the records (QueueFull in a crowd: 503 with Retry-After).
        results = await writer.run(lambda db: presence_taps.apply(db, user, data.taps),
                                   records=max(1, min(len(data.taps), presence_taps.TAPS_MAX)))
        return {"results": results, "server_time": now_iso()}

    @get("/sync/pull", summary="Changes since a cursor", opt={"precompressed": True},
         description="What the device needs of the changes to its deployments after `cursor`, each record in its "
                     "current state: the newest records of each kind of each deployment that changed (all of them "
                     "after a deletion), every edit and deletion, and the user's own records with their server "
                     "versions; `changed` names every deployment with any change; `cursor` is the one to send next "
                     "time and `more` means call again at once. The answer carries an `ETag`: sent back in "
                     "`If-None-Match`, an unchanged answer is 304 without a body. 503 with `Retry-After` when too "
                     "many wait (come back after that many seconds).",
         responses=READ_RESPONSES)
    async def sync_pull(self, request: Request, writer: web.AppWriter, user: web.CurrentUser,
                        settings: web.AppSettings,
                        cursor: int = Parameter(default=0, ge=0)) -> Response[sync.PullResponse]:
        def work(read_db) -> tuple[sync.PullResponse, Answer]:
            pulled = sync.pull(read_db, user, cursor)
            return pulled, Answer.of(pulled, request.headers)

        done = await read_beside_loop(settings, work)
        if done is None:
            return busy()
        pulled, answer = done
        if pulled.records and answer.status == 200:  # an empty or unchanged pull showed nothing: not logged
            await web.log_read(writer, user.id, "pull", "sync", None, cursor=cursor, records=len(pulled.records))
        return answer.response()

    @get("/offline/bootstrap", summary="What a device needs offline", opt={"precompressed": True},
         description="The user's offline deployments, the category lists in the user's language, the recent records "
                     "(unless records=false), the pages to keep, the batch size and the outbox key. With an `ETag` "
                     "(weak with records=false: it leaves out `cursor`, which a device that pulls does not use); "
                     "sent back in `If-None-Match`, an unchanged answer is 304 without a body.",
         responses=READ_RESPONSES)
    async def offline_bootstrap(self, request: Request, writer: web.AppWriter, user: web.CurrentUser,
                                settings: web.AppSettings,
                                records: bool = Parameter(default=True, description=(
                                    "false: leave out the recent records (the device pulls changes)"))) -> Response[Bootstrap]:
        locale = i18n.get_locale()
        key = SealKey(**sealing.load(settings.data_dir).public())

        def work(read_db) -> tuple[Bootstrap, Answer]:
            data = sync.bootstrap(read_db, user, locale, with_records=records)
            pages = shell.offline_pages([d["id"] for d in data["deployments"]])
            if user.role in web.FIELD_ROLES:  # only pages the role may open (the device fetches each one)
                # The own follow-ups too: feedback is often given at a community visit without network.
                own = followups.own_queue(read_db, user, limit=OWN_FOLLOWUPS_KEPT)
                pages += ["/followups", *(f"/followups/{row['id']}" for row in own)]
                pages.append("/activities/new")  # the activity form, for logging one offline (issue 15)
            booted = Bootstrap(**data, batch_max=settings.sync_batch_max, pages=pages, seal_key=key)
            # A device that pulls (records=false) does not use the cursor: it is left out of the ETag.
            tag = None if records else msgspec.json.encode(msgspec.structs.replace(booted, cursor=0))
            return booted, Answer.of(booted, request.headers, tag_of=tag)

        done = await read_beside_loop(settings, work)
        if done is None:
            return busy()
        booted, answer = done
        if booted.records and answer.status == 200:  # as for a pull: what showed no record is not logged
            await web.log_read(writer, user.id, "pull", "bootstrap", None, deployments=len(booted.deployments),
                               records=len(booted.records))
        return answer.response()

    @get("/offline/seal-key", summary="The key devices seal records to",
         description="The server's current outbox key (ECDH P-256 with HKDF-SHA-256 and AES-256-GCM). After a "
                     "rotation the new key is given here; records sealed to an older key still open.")
    async def seal_key(self, user: web.CurrentUser, settings: web.AppSettings) -> SealKey:
        return SealKey(**sealing.load(settings.data_dir).public())

    @post("/sync/open", guards=[json_body], status_code=200, summary="Open a record sealed on this device",
          description="The values of a record this user sealed on their device, to show it again (a form to fix, "
                      "a conflict to settle); the device keeps them in memory only. 400 when it cannot be opened "
                      "(changed, sealed by another user, or with a key this server does not have).")
    async def open_sealed(self, writer: web.AppWriter, db: web.DB, user: web.CurrentUser, settings: web.AppSettings,
                          data: JSONBody[OpenSealed]) -> Opened | Response:
        try:
            values = sealing.open_sealed(sealing.load(settings.data_dir), data.sealed, user.username)
        except sealing.SealBroken as exc:
            return Response({"error": sync.seal_refusal(exc.code), "status": 400}, status_code=400)
        await web.log_read(writer, user.id, "open", "sealed", None, kid=data.sealed.kid)
        return Opened(values=values)

    @post("/sync/conflicts/{conflict_id:int}/resolve", status_code=200, guards=[json_body],
          summary="Settle a conflict")
    async def resolve_conflict(self, db: web.DB, user: web.CurrentUser, conflict_id: FromPath[int],
                               data: JSONBody[sync.ConflictResolution]) -> Resolved:
        return Resolved(resolved=sync.resolve(db, user, conflict_id, data.resolution, data.record_id))


def _too_large(limit: int) -> Response:
    return Response({"error": _("Too many records in one request (at most %(n)s).", n=limit), "status": 413,
                     "batch_max": limit}, status_code=413)


def _open_sealed(items: list[sync.SyncRecord], user, data_dir) -> list:
    """In a worker thread: the sealed records' values (ECDH and AES-GCM), before the batch is queued."""
    return sync.open_sealed(items, user, sealing.load(data_dir))


def _ingest(db, *, user, batch: sync.SyncBatch, settings, opened) -> list[sync.SyncResult]:
    """In the writer's thread, inside its transaction (the batch in a savepoint of its own)."""
    return sync.ingest(db, user, batch, max_records=settings.sync_batch_max, keys=sealing.load(settings.data_dir),
                       opened=opened)


# ---------------------------------------------------------------- reads beside the event loop (issue 13)

READ_THREADS = 4  # pulls and bootstraps read at once, each on its thread's own read connection
READ_WAITING_MAX = 64  # more waiting than this: 503 with a Retry-After, the refused read's turn (fieldapp/turns.py)
_read_limiters: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # event loop -> its limiter
_waiting = 0  # reads waiting or running, over the page loops (fieldapp/page_loops.py), counted under _waiting_lock
_waiting_lock = threading.Lock()
READS_DONE = Rate(seconds=2.0, floor=READ_THREADS)  # reads finished a second, for the turns of refused ones
_read_turns = Turns()


async def read_beside_loop(settings, work):
    """work(read_db) in a worker thread with that thread's read-only connection (fieldapp.db.reader): SQLite, the
    encoding and the compression never hold up the event loop. None when too many already wait (busy())."""
    global _waiting
    loop = asyncio.get_running_loop()
    limiter = _read_limiters.get(loop)
    if limiter is None:
        limiter = _read_limiters[loop] = anyio.CapacityLimiter(READ_THREADS)
    with _waiting_lock:
        if _waiting >= READ_WAITING_MAX:
            return None
        _waiting += 1
    try:
        done = await anyio.to_thread.run_sync(lambda: work(reader(settings.db_path)), limiter=limiter)
        READS_DONE.done()
        return done
    finally:
        with _waiting_lock:
            _waiting -= 1


def busy() -> Response:
    """503 with a Retry-After: the refused read's turn after those waiting and those refused before it, at the rate
    reads are finished (fieldapp/turns.py), so devices told to come back come back spread over the time the reads
    take. (Until 2026-12-03 a random 1-5 s: under load the crowd came back before the readers had room, or long
    after.)"""
    wait = _read_turns.retry_after(READS_DONE.per_second, _waiting)
    return Response({"error": _("The server is busy. Trying again shortly."), "status": 503}, status_code=503,
                    headers={"Retry-After": str(wait)})


class Answer:
    """A JSON answer made in the worker thread: the body, its ETag, gzip when the device accepts it, or 304 when
    the device already has it (If-None-Match)."""

    GZIP_LEVEL = 6  # for these bodies about a third of level 9's time, for a few per cent more bytes

    def __init__(self, status: int, body: bytes, headers: dict):
        self.status, self.body, self.headers = status, body, headers

    @classmethod
    def of(cls, value, headers, *, tag_of: bytes | None = None) -> Answer:
        body = msgspec.json.encode(value)
        digest = hashlib.blake2b(body if tag_of is None else tag_of, digest_size=12).hexdigest()
        etag = f'"{digest}"' if tag_of is None else f'W/"{digest}"'
        out = {"ETag": etag, "Vary": "Accept-Encoding"}
        sent = {tag.strip().removeprefix("W/") for tag in headers.get("if-none-match", "").split(",")}
        if etag.removeprefix("W/") in sent:  # If-None-Match compares weakly (RFC 9110, 13.1.2)
            return cls(304, b"", out)
        if "gzip" in headers.get("accept-encoding", "") and len(body) >= 500:
            body = gzip.compress(body, cls.GZIP_LEVEL, mtime=0)
            out["Content-Encoding"] = "gzip"
        return cls(200, body, out)

    def response(self) -> Response:
        if self.status == 304:
            return Response(b"", status_code=304, headers=self.headers)
        return Response(self.body, media_type="application/json", headers=self.headers)


class OfflinePagesController(Controller):
    """The pages the service worker shows: what waits on this device, and 'not saved on this device'."""

    path = "/"
    include_in_schema = False
    dependencies = web.DEPENDENCIES

    @get("/pending", name="pending")
    async def pending_page(self, request: Request) -> Template:
        """Records on this device: waiting, needing attention, or safe on the server (filled in from IndexedDB)."""
        singular = {kind: texts["one"] for kind, texts in KIND_TEXT.items()}
        context = {
            "kind_labels": {**{kind: _(text) for kind, text in singular.items()}, "presence": _("Check-in or check-out"),
                            "feedback": _("Feedback given"), "activity": _("Activity")},
            "kind_slugs": KIND_SLUGS,
            "field_labels": {name: _(text) for name, text in FIELD_LABELS.items()},
        }
        return web.render(request, "pages/offline/pending.html", "partials/offline/_pending.html", context)

    @get("/offline", name="offline")
    async def offline_page(self) -> Template:
        """Shown by the service worker for a page that is not saved on this device."""
        return Template("pages/offline/offline.html")


ROUTES = [OfflineShellController, SyncController, OfflinePagesController]
