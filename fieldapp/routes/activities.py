"""Preventive activities in the browser: the officer's own list and the form that logs one (plain form post,
POST-redirect-GET; with JavaScript the form goes into the offline outbox first, kind "activity")."""

from __future__ import annotations

from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template

from fieldapp import activities, ids, web
from fieldapp.errors import ValidationFailed
from fieldapp.i18n import gettext

LINK_CHOICES = 8  # the user's latest contacts and interventions offered for linking
_FORM = ("pages/activities/new.html", "partials/activities/_form.html")


def field_labels() -> dict[str, str]:
    return {
        "kind": gettext("Kind of activity"), "day": gettext("Date"), "start": gettext("Start time"),
        "minutes": gettext("Duration in minutes"), "place_name": gettext("Place"),
        "platform": gettext("Platform (online presence)"), "online_activity": gettext("Kind of online activity"),
        "people_reached": gettext("People reached (estimate)"), "languages": gettext("Languages used"),
        "topics": gettext("Topics"), "contact_ids": gettext("Contacts made during it"),
        "intervention_ids": gettext("Interventions made during it"), "id": gettext("Activity"),
    }


def _context(db, user, values: dict, errors: dict | None = None, activity_id: str | None = None) -> dict:
    return {"values": values, "errors": errors or {}, "F": field_labels(), "activity_id": activity_id or ids.new_id(),
            "contacts": activities.own_recent_records(db, user, "contacts", LINK_CHOICES),
            "interventions": activities.own_recent_records(db, user, "interventions", LINK_CHOICES)}


def _form_values(raw: dict) -> dict:
    values = activities.new_values()
    for name in activities.FIELDS:
        value = raw.get(name)
        if name in activities.MULTI:
            values[name] = [str(v) for v in (value if isinstance(value, list) else ([value] if value else []))]
        elif value is not None:
            values[name] = str(value[-1] if isinstance(value, list) and value else value)
    return values


class ActivitiesController(Controller):
    """An officer's preventive activities outside deployments: list and log."""

    path = "/activities"
    guards = [web.roles("officer", "staff", "lead")]
    dependencies = web.DEPENDENCIES

    @get("/", name="activities")
    async def activity_list(self, request: Request, db: web.DB, user: web.CurrentUser) -> Template:
        """The user's own latest activities, newest first."""
        rows = activities.recent(db, user)
        return web.render(request, "pages/activities/list.html", "partials/activities/_list.html",
                          {"activities": rows, "saved": request.query_params.get("saved") == "1"})

    @get("/new", name="activity-new")
    async def new_activity(self, request: Request, db: web.DB, user: web.CurrentUser) -> Template:
        """The form; a fresh id made here (or on the device) makes a resend the same activity."""
        return web.render(request, *_FORM, _context(db, user, activities.new_values()))

    @post("/", name="activity-create")
    async def create_activity(self, request: Request, db: web.DB, user: web.CurrentUser) -> Template | Redirect:
        raw = web.form_dict(await request.form())
        activity_id = str(raw.pop("id", "") or "")
        if isinstance(raw.get("id"), list):
            activity_id = raw["id"][-1]
        device_time = raw.pop("device_time", None)
        try:
            activities.create(db, user, raw, activity_id, device_time=device_time if isinstance(device_time, str)
                              else None)
        except ValidationFailed as exc:
            return web.render(request, *_FORM, _context(db, user, _form_values(raw), exc.errors, activity_id
                                                        if ids.is_valid_id(activity_id) else None), status=400)
        except activities.ActivityConflict:
            errors = {"id": gettext("Another activity was already saved with this form. Check the list; "
                                    "to log a new one, send the form again.")}
            return web.render(request, *_FORM, _context(db, user, _form_values(raw), errors), status=409)
        return Redirect("/activities?saved=1", status_code=303)


ROUTES = [ActivitiesController]
