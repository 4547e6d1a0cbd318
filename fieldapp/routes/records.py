"""The three field records in the browser: the deployment page, capture forms, lists, detail, edit, delete.

Routes are glue: parse the form, check access once (fieldapp/access.py), call the recording service (a write)
or the domain (a read), render the page or its partial.
"""

from __future__ import annotations

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from fieldapp import access, audit, clock, i18n, ids, records, web
from fieldapp.errors import NotFound, ValidationFailed
from fieldapp.i18n import gettext
from fieldapp.record_labels import (
    AUDIT_ACTIONS,
    FIELD_LABELS,
    KIND_SLUGS,
    KIND_TEXT,
    SLUGS,
)
from fieldapp.services import recording

# Newest first on the deployment page: tension observations, interventions, contacts.
PAGE_ORDER = ("tension", "intervention", "contact")
DEPLOYMENT_PAGE_LIMIT = 10
LIST_LIMIT = 200
LINK_CHOICES = 40


def _kind_from_slug(slug: str) -> str:
    if slug not in SLUGS:
        raise NotFound(slug)
    return SLUGS[slug]


def _kind(kind_name: str) -> str:
    if kind_name not in records.KINDS:
        raise NotFound(kind_name)
    return kind_name


def _texts(kind_name: str) -> dict[str, str]:
    return {key: gettext(text) for key, text in KIND_TEXT[kind_name].items()}


def _field_labels() -> dict[str, str]:
    return {name: gettext(text) for name, text in FIELD_LABELS.items()}


# ---------------------------------------------------------------- form values


def form_values(kind_name: str, source: dict) -> dict:
    """Field values as a form shows them (strings, lists of strings, booleans), from a record or a submitted form."""
    kind = records.KINDS[kind_name]
    values: dict = {}
    for name in records.FIELD_NAMES[kind_name]:
        value = source.get(name)
        if name in kind.multi:
            items = value if isinstance(value, list) else ([] if value in (None, "") else [value])
            values[name] = [str(item) for item in items]
        elif name in kind.booleans:
            values[name] = value in (True, 1, "1", "on", "true", "yes")
        else:
            if isinstance(value, list):  # a field sent twice: show the last one
                value = value[-1] if value else None
            if value is None:
                values[name] = ""
            elif name == "occurred_at":
                values[name] = _local_time(value)
            elif isinstance(value, float):
                values[name] = f"{value:.5f}".rstrip("0").rstrip(".")
            else:
                values[name] = str(value)
    return values


def _local_time(value) -> str:
    try:
        return clock.local_input_value(value)
    except (ValueError, OverflowError, TypeError):
        return str(value)  # what was typed, shown back as it was


def _new_values(kind_name: str, deployment: dict) -> dict:
    defaults = {"occurred_at": clock.utcnow(), "place_name": deployment["place_name"]}
    if kind_name == "tension":
        defaults.update(trend="stable", basis="observed")
    return form_values(kind_name, defaults)


def _link_choices(db, kind_name: str, deployment_id: str, chosen: dict) -> dict:
    """Recent tension observations and contacts of the deployment an intervention may point to."""
    if kind_name != "intervention":
        return {}
    choices = {}
    for field, linked_kind in (("tension_id", "tension"), ("contact_id", "contact")):
        rows = records.for_deployment(db, linked_kind, deployment_id, limit=LINK_CHOICES)
        wanted = chosen.get(field)
        if wanted and ids.is_valid_id(wanted) and all(r["id"] != wanted for r in rows):
            extra = records.get(db, linked_kind, wanted)
            if extra is not None and extra["deployment_id"] == deployment_id:
                rows.append(extra)
        choices[field] = rows
    return choices


def _form_context(db, kind_name: str, deployment: dict, values: dict, *, errors=None,
                  record: dict | None = None, record_id: str | None = None, version=None,
                  notice: str | None = None, conflict: dict | None = None) -> dict:
    editing = record is not None
    return {
        "kind": kind_name,
        "slug": KIND_SLUGS[kind_name],
        "texts": _texts(kind_name),
        "F": _field_labels(),
        "deployment": deployment,
        "values": values,
        "errors": errors or {},
        "record": record,
        "editing": editing,
        "record_id": record_id or (None if editing else ids.new_id()),
        "version": version,
        "notice": notice,
        "conflict": conflict,
        "links": _link_choices(db, kind_name, deployment["id"], values),
        "categories": records.KINDS[kind_name].categories,
        "time_summary": _time_summary(values, deployment),
    }


def _time_summary(values: dict, deployment: dict) -> str:
    """'21.11.2026 klo 13.05 · Senaatintori': what the closed time-and-place section holds."""
    try:
        when = i18n.format_datetime(values["occurred_at"]) if values.get("occurred_at") else gettext("now")
    except (ValueError, OverflowError):
        when = values["occurred_at"][:40]
    return f"{when} · {values.get('place_name') or deployment['place_name']}"


async def _submitted(request: Request) -> dict:
    return web.form_dict(await request.form())


def _one_value(raw: dict, name: str) -> str:
    value = raw.pop(name, "")
    if isinstance(value, list):
        value = value[-1] if value else ""
    return str(value or "").strip()


# ---------------------------------------------------------------- deployment page and lists


def _list_data(db, kind_name: str, deployment_id: str, limit: int) -> dict:
    """Newest records of one kind, how many there are in all, and the texts the list shows."""
    return {"kind": kind_name, "rows": records.for_deployment(db, kind_name, deployment_id, limit=limit),
            "total": records.count_for_deployment(db, kind_name, deployment_id), "slug": KIND_SLUGS[kind_name],
            "texts": _texts(kind_name)}


def _versions_with_changes(db, kind_name: str, record_id: str) -> list[dict]:
    versions = records.history(db, kind_name, record_id)  # newest first
    for index, version in enumerate(versions):
        older = versions[index + 1]["data"] if index + 1 < len(versions) else None
        version["changes"] = [] if older is None else [
            (name, older.get(name), version["data"].get(name))
            for name in records.changed_fields(kind_name, older, version["data"])]
    return versions


def _linked(db, record: dict) -> dict:
    linked = {}
    for field, linked_kind in (("tension_id", "tension"), ("contact_id", "contact")):
        if record.get(field):
            linked[field] = records.get(db, linked_kind, record[field])
    return linked


def _display_order(kind_name: str) -> list[str]:
    """What the record is about first, then time, place and notes."""
    common = ["occurred_at", "place_name", "lat", "lon", "notes"]
    return [n for n in records.FIELD_NAMES[kind_name] if n not in common] + common


def _detail_context(db, user, kind_name: str, record: dict) -> dict:
    deployment = access.visible(db, user, record["deployment_id"])
    author = db.execute("SELECT display_name FROM users WHERE id = ?", [record["created_by"]]).fetchone()
    return {
        "kind": kind_name,
        "texts": _texts(kind_name),
        "F": _field_labels(),
        "record": record,
        "author": author[0] if author else "",
        "deployment": deployment,
        "versions": _versions_with_changes(db, kind_name, record["id"]),
        "audit": audit.for_record(db, kind_name, record["id"]),
        "audit_actions": {key: gettext(text) for key, text in AUDIT_ACTIONS.items()},
        "can_edit": access.can_edit(db, user, record, deployment),
        "can_record": access.can_record(db, user, deployment),
        "linked": _linked(db, record),
        "fields": _display_order(kind_name),
        "categories": records.KINDS[kind_name].categories,
        "booleans": records.KINDS[kind_name].booleans,
        "multi": records.KINDS[kind_name].multi,
    }


_FORM = ("pages/records/form.html", "partials/records/_form.html")
_NOT_PUSHED = {"HX-Push-Url": "false"}  # a form shown again with errors keeps the address it was sent from


class DeploymentRecordsController(Controller):
    """A deployment's page, its lists and the capture forms of the three records."""

    path = "/deployments/{deployment_id:str}"
    dependencies = web.DEPENDENCIES

    @get("/", name="deployment")
    async def deployment_page(self, writer: web.AppWriter, request: Request, db: web.DB, user: web.CurrentUser,
                              deployment_id: FromPath[str]) -> Template:
        """A deployment: its facts, buttons for the three records, and the three lists newest first."""
        deployment = access.visible(db, user, deployment_id)
        context = {
            "deployment": deployment,
            "can_record": access.can_record(db, user, deployment),
            "lists": [_list_data(db, kind_name, deployment_id, DEPLOYMENT_PAGE_LIMIT) for kind_name in PAGE_ORDER],
        }
        await web.log_read(writer, user.id, "list", "deployment", deployment_id,
                   **{listing["kind"]: len(listing["rows"]) for listing in context["lists"]})
        return web.render(request, "pages/deployments/detail.html", "partials/records/_overview.html", context)

    @get("/{slug:str}", name="record-list")
    async def record_list(self, writer: web.AppWriter, request: Request, db: web.DB, user: web.CurrentUser,
                          deployment_id: FromPath[str], slug: FromPath[str]) -> Template:
        """One kind of record of a deployment, newest first."""
        kind_name = _kind_from_slug(slug)
        deployment = access.visible(db, user, deployment_id)
        context = {"deployment": deployment, "kind": kind_name,
                   "listing": _list_data(db, kind_name, deployment_id, LIST_LIMIT),
                   "can_record": access.can_record(db, user, deployment)}
        await web.log_read(writer, user.id, "list", "deployment", deployment_id,
                           **{kind_name: len(context["listing"]["rows"])})
        return web.render(request, "pages/records/list.html", "partials/records/_list.html", context)

    @get("/{slug:str}/new", name="record-new")
    async def new_record_form(self, request: Request, db: web.DB, user: web.CurrentUser, deployment_id: FromPath[str],
                              slug: FromPath[str]) -> Template:
        """The capture form; a fresh client-style id on every render so a resend is recognised."""
        kind_name = _kind_from_slug(slug)
        deployment = access.recordable(db, user, deployment_id)
        values = _new_values(kind_name, deployment)
        if kind_name == "intervention":
            for field in ("tension_id", "contact_id"):
                wanted = request.query_params.get(field)
                if wanted and ids.is_valid_id(wanted):
                    values[field] = wanted
        return web.render(request, *_FORM, _form_context(db, kind_name, deployment, values))

    @post("/{slug:str}", name="record-create")
    async def create_record(self, request: Request, db: web.DB, user: web.CurrentUser, deployment_id: FromPath[str],
                            slug: FromPath[str]) -> Template | Redirect:
        """Save a new record: 303 to the deployment, 400 with the errors next to the fields, 409 on an id clash."""
        kind_name = _kind_from_slug(slug)
        raw = await _submitted(request)
        record_id = _one_value(raw, "id") or None
        device_time = _one_value(raw, "device_time") or None
        values = form_values(kind_name, raw)
        try:
            recording.create(db, user, kind_name, deployment_id, raw, record_id=record_id, device_time=device_time)
        except ValidationFailed as exc:
            keep_id = record_id if record_id and ids.is_valid_id(record_id) else None
            context = _form_context(db, kind_name, access.recordable(db, user, deployment_id), values,
                                    errors=exc.errors, record_id=keep_id)
            return web.render(request, *_FORM, context, status=400, headers=_NOT_PUSHED)
        except records.IdConflict:
            notice = gettext("A different record with the same id has already been saved, so nothing was "
                             "overwritten. Check the values below and save again to store them as a new record.")
            context = _form_context(db, kind_name, access.recordable(db, user, deployment_id), values, notice=notice)
            return web.render(request, *_FORM, context, status=409, headers=_NOT_PUSHED)
        return Redirect(f"/deployments/{deployment_id}", status_code=303)


class RecordController(Controller):
    """One record: detail with history and audit trail, edit, delete."""

    path = "/records/{kind_name:str}/{record_id:str}"
    dependencies = web.DEPENDENCIES

    @get("/", name="record-detail")
    async def record_detail(self, writer: web.AppWriter, request: Request, db: web.DB, user: web.CurrentUser,
                            kind_name: FromPath[str], record_id: FromPath[str]) -> Template:
        """One record with its versions (who changed what, when) and its audit trail."""
        kind_name = _kind(kind_name)
        record = records.visible_record(db, user, kind_name, record_id)
        await web.log_read(writer, user.id, "view", kind_name, record["id"])
        return web.render(request, "pages/records/detail.html", "partials/records/_detail.html",
                          _detail_context(db, user, kind_name, record))

    @get("/edit", name="record-edit")
    async def edit_record_form(self, request: Request, db: web.DB, user: web.CurrentUser, kind_name: FromPath[str],
                               record_id: FromPath[str]) -> Template:
        kind_name = _kind(kind_name)
        record, deployment = recording.editable(db, user, kind_name, record_id)
        context = _form_context(db, kind_name, deployment, form_values(kind_name, record),
                                record=record, record_id=record["id"], version=record["version"])
        return web.render(request, *_FORM, context)

    @post("/", name="record-update")
    async def update_record(self, request: Request, db: web.DB, user: web.CurrentUser, kind_name: FromPath[str],
                            record_id: FromPath[str]) -> Template | Redirect:
        """Save an edit based on `version`: 303 to the record, 400 with errors, 409 when someone changed it
        meanwhile."""
        kind_name = _kind(kind_name)
        raw = await _submitted(request)
        raw.pop("id", None)
        raw.pop("device_time", None)
        version_text = _one_value(raw, "version")
        base_version = int(version_text) if version_text.isascii() and version_text.isdigit() and len(version_text) < 10 else -1
        values = form_values(kind_name, raw)
        try:
            recording.update(db, user, kind_name, record_id, raw, base_version=base_version)
        except ValidationFailed as exc:
            record, deployment = recording.editable(db, user, kind_name, record_id)
            context = _form_context(db, kind_name, deployment, values, errors=exc.errors, record=record,
                                    record_id=record_id, version=version_text[:12])
            return web.render(request, *_FORM, context, status=400, headers=_NOT_PUSHED)
        except records.StaleVersion as exc:
            current = exc.current
            conflict = {"current": current, "fields": _display_order(kind_name),
                        "changed": records.changed_fields(kind_name, form_values(kind_name, current), values)}
            notice = gettext("Someone else saved a change to this record while you were editing it. "
                             "Both versions are shown below: nothing has been lost. Saving now keeps your version.")
            deployment = access.visible(db, user, current["deployment_id"])
            context = _form_context(db, kind_name, deployment, values, record=current, record_id=record_id,
                                    version=current["version"], notice=notice, conflict=conflict)
            return web.render(request, *_FORM, context, status=409, headers=_NOT_PUSHED)
        return Redirect(f"/records/{kind_name}/{record_id}", status_code=303)

    @post("/delete", name="record-delete")
    async def delete_record(self, db: web.DB, user: web.CurrentUser, kind_name: FromPath[str], record_id: FromPath[str]) -> Redirect:
        """Soft delete (creator or lead); the versions and the audit trail stay."""
        record = recording.delete(db, user, _kind(kind_name), record_id)
        return Redirect(f"/deployments/{record['deployment_id']}", status_code=303)


ROUTES = [DeploymentRecordsController, RecordController]
