"""The follow-up queue: an officer's own, a lead's unit's; one follow-up with its forms (feedback given, cannot be
done, reassign, reopen); the unit's due days; the lead's "needs action" page; and the sync address for feedback marked
offline. Glue only: the rules live in fieldapp/followups.py, fieldapp/needs_action.py and
fieldapp/offline/followup_actions.py."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, get, post
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.response import Redirect, Template

from fieldapp import followups, needs_action, web
from fieldapp.clock import local_input_value, now_iso
from fieldapp.offline import followup_actions, sealing
from fieldapp.routes.offline import json_body

REFRESH_SECONDS = 60  # how often htmx refreshes the needs-action sections


def _first(raw: dict, name: str) -> str:
    value = raw.get(name, "")
    value = value[-1] if isinstance(value, list) and value else value
    return value if isinstance(value, str) else ""


def _safe_next(target: str, fallback: str) -> str:
    """Only a path of this site (never //host or a scheme)."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else fallback


def _detail_context(db, user, row: dict, *, given: dict | None = None, cannot: dict | None = None,
                    owner: dict | None = None, reopen: dict | None = None, errors: dict | None = None,
                    reopened: bool = False) -> dict:
    return {
        "f": row, "errors": errors or {}, "how_options": followups.HOW, "states": followups.STATES,
        "given": given or {"given_how": "", "given_at": local_input_value(now_iso()), "note": ""},
        "cannot": cannot or {"cannot_reason": ""}, "owner": owner or {"owner_id": row["owner_id"]},
        "reopen": reopen or {"reopen_reason": ""}, "reopenings": followups.reopenings(db, row["id"]),
        "reopened": reopened,
        "owners": followups.owners(db, user) if user.role == "lead" else [],
        "note_max": followups.NOTE_MAX, "reason_max": followups.REASON_MAX, "followups_page": True,
        "due_days": followups.due_days(db, row["unit_id"]),
    }


class FollowupsController(Controller):
    """The queue and one follow-up (owner or a lead of the unit), the unit's due days (a lead)."""

    path = "/followups"
    guards = [web.roles(*followups.FIELD_ROLES)]
    dependencies = web.DEPENDENCIES
    include_in_schema = False

    @get("/", name="followups")
    async def queue(self, writer: web.AppWriter, request: Request, db: web.DB, user: web.CurrentUser,
                    show: Annotated[str, QueryParameter(name="state")] = "open") -> Template:
        """Own open follow-ups (officers, staff); the unit's in one state (leads), overdue ones marked."""
        state = show if show in followups.STATES else "open"
        if user.role == "lead":
            rows = followups.unit_queue(db, user, state=state)
            await web.log_read(writer, user.id, "list", "followups", user.unit_id, state=state, rows=len(rows))
        else:
            state, rows = "open", followups.own_queue(db, user)
        context = {"rows": rows, "state": state, "states": followups.STATES, "unit_view": user.role == "lead",
                   "due_days": followups.due_days(db, user.unit_id), "followups_page": True}
        return web.render(request, "pages/followups/list.html", "partials/followups/_queue.html", context)

    @get("/settings", guards=[web.roles("lead")])
    async def settings_form(self, request: Request, db: web.DB, user: web.CurrentUser) -> Template:
        return web.render(request, "pages/followups/settings.html", "partials/followups/_settings.html",
                          {"due_days": followups.due_days(db, user.unit_id), "errors": {}, "followups_page": True,
                           "range": followups.DUE_DAYS_RANGE})

    @post("/settings", guards=[web.roles("lead")])
    async def save_settings(self, request: Request, db: web.DB, user: web.CurrentUser) -> Template | Redirect:
        typed = _first(web.form_dict(await request.form()), "due_days")
        try:
            followups.set_due_days(db, user, typed)
        except followups.FollowupInvalid as exc:
            return web.render(request, "pages/followups/settings.html", "partials/followups/_settings.html",
                              {"due_days": typed[:12], "errors": exc.errors, "followups_page": True,
                               "range": followups.DUE_DAYS_RANGE}, status=400)
        return Redirect("/followups?state=open", status_code=303)

    @get("/{followup_id:str}", name="followup")
    async def detail(self, writer: web.AppWriter, request: Request, db: web.DB, user: web.CurrentUser,
                     followup_id: FromPath[str],
                     reopened: Annotated[str, QueryParameter(name="reopened")] = "") -> Template:
        row = followups.visible(db, user, followup_id)
        await web.log_read(writer, user.id, "view", "followup", followup_id)
        return web.render(request, "pages/followups/detail.html", "partials/followups/_detail.html",
                          _detail_context(db, user, row, reopened=reopened == "1" and row["state"] == "open"))

    async def _retry(self, request, db, user, followup_id: str, exc: followups.FollowupInvalid, **typed) -> Template:
        """The page (htmx: its part) again with the errors and what was typed: 400, or 409 when the follow-up is no
        longer in a state that allows the change (someone else closed or reopened it meanwhile)."""
        row = followups.visible(db, user, followup_id)
        status = 409 if set(exc.errors) == {"state"} else 400
        return web.render(request, "pages/followups/detail.html", "partials/followups/_detail.html",
                          _detail_context(db, user, row, errors=exc.errors, **typed), status=status)

    @post("/{followup_id:str}/given")
    async def given(self, request: Request, db: web.DB, user: web.CurrentUser,
                    followup_id: FromPath[str]) -> Template | Redirect:
        """Feedback given: when, how, a short note (no personal data)."""
        raw = web.form_dict(await request.form())
        typed = {name: _first(raw, name) for name in ("given_how", "given_at", "note")}
        seen = _first(raw, "reopenings")  # the page's count: a page from before a close and a reopen is refused
        seen_count = int(seen) if seen.isascii() and seen.isdigit() and len(seen) < 7 else None
        try:
            followups.mark_given(db, user, followup_id, typed, reopenings_seen=seen_count)
        except followups.FollowupInvalid as exc:
            return await self._retry(request, db, user, followup_id, exc, given=typed)
        return Redirect(_safe_next(_first(raw, "next"), f"/followups/{followup_id}"), status_code=303)

    @post("/{followup_id:str}/cannot")
    async def cannot(self, request: Request, db: web.DB, user: web.CurrentUser,
                     followup_id: FromPath[str]) -> Template | Redirect:
        """Cannot be done, with a reason."""
        raw = web.form_dict(await request.form())
        typed = {"cannot_reason": _first(raw, "cannot_reason")}
        try:
            followups.mark_cannot(db, user, followup_id, typed["cannot_reason"])
        except followups.FollowupInvalid as exc:
            return await self._retry(request, db, user, followup_id, exc, cannot=typed)
        return Redirect(f"/followups/{followup_id}", status_code=303)

    @post("/{followup_id:str}/reopen")
    async def reopen(self, request: Request, db: web.DB, user: web.CurrentUser,
                     followup_id: FromPath[str]) -> Template | Redirect:
        """A done follow-up open again, with a reason (the owner or a lead of the unit)."""
        raw = web.form_dict(await request.form())
        typed = {"reopen_reason": _first(raw, "reopen_reason")}
        try:
            row = followups.reopen(db, user, followup_id, typed["reopen_reason"])
        except followups.FollowupInvalid as exc:
            return await self._retry(request, db, user, followup_id, exc, reopen=typed)
        if web.is_htmx(request):
            return Template("partials/followups/_detail.html", context=_detail_context(db, user, row, reopened=True))
        return Redirect(f"/followups/{followup_id}?reopened=1", status_code=303)

    @post("/{followup_id:str}/owner", guards=[web.roles("lead")])
    async def reassign(self, request: Request, db: web.DB, user: web.CurrentUser,
                    followup_id: FromPath[str]) -> Template | Redirect:
        """A lead gives the follow-up to someone else of the unit."""
        raw = web.form_dict(await request.form())
        typed = {"owner_id": _first(raw, "owner_id")}
        try:
            followups.reassign(db, user, followup_id, typed["owner_id"])
        except followups.FollowupInvalid as exc:
            return await self._retry(request, db, user, followup_id, exc, owner=typed)
        return Redirect(f"/followups/{followup_id}", status_code=303)


class NeedsActionController(Controller):
    """A lead's "needs action": the page, and its sections alone for htmx's refresh."""

    path = "/needs-action"
    guards = [web.roles("lead")]
    dependencies = web.DEPENDENCIES
    include_in_schema = False

    @get("/", name="needs-action")
    async def page(self, writer: web.AppWriter, request: Request, db: web.DB, user: web.CurrentUser) -> Template:
        found = needs_action.sections(db, user)
        if not web.is_htmx(request):  # the page is logged; its refresh every minute shows the same and is not
            await web.log_read(writer, user.id, "view", "needs_action", user.unit_id, items=needs_action.total(found))
        return web.render(request, "pages/needs_action/page.html", "partials/needs_action/_sections.html",
                          {"sections": found, "refresh_seconds": REFRESH_SECONDS, "needs_action_page": True})


class FollowupSyncController(Controller):
    """Feedback marked on a device (offline or not), sent by the outbox."""

    path = "/api/sync/followups"
    guards = [web.roles(*followups.FIELD_ROLES)]
    dependencies = web.DEPENDENCIES

    @post("/", guards=[json_body], status_code=200, summary="Send feedback given",
          description="Feedback-given actions kept on a device (each with an id made there), applied in order, each "
                      "exactly once: a resend gets the first answer (duplicate) and changes nothing; the same id with "
                      "other content is rejected.")
    async def sync_feedback(self, writer: web.AppWriter, user: web.CurrentUser, settings: web.AppSettings,
                            data: JSONBody[followup_actions.FeedbackActions]) -> dict:
        keys = sealing.load(settings.data_dir)
        # Opened and written by the writer's thread like the records (QueueFull in a crowd: 503 with Retry-After).
        results = await writer.run(lambda db: followup_actions.apply(db, user, data.actions, keys),
                                   records=max(1, len(data.actions)))
        return {"results": results, "server_time": now_iso()}


ROUTES = [FollowupsController, NeedsActionController, FollowupSyncController]
